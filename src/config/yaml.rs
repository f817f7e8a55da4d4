//! The YAML that etcd's configuration files use, read without a YAML library: block mappings
//! (nested ones for the transport-security sections), block and flow sequences of scalars,
//! plain, single- and double-quoted scalars, `~`/`null`/empty values, comments and a leading
//! `---`. Anything else (anchors, aliases, tags, block scalars, flow mappings) is refused with
//! the line it is on, rather than read wrongly.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Null,
    /// The text and whether it was quoted (a quoted "true" is a string, not a boolean).
    Scalar(String, bool),
    Sequence(Vec<String>),
    Mapping(Vec<(String, Value)>),
}

/// Nesting deeper than this is not an etcd configuration.
const MAX_DEPTH: usize = 8;

struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

pub fn parse(source: &str) -> Result<Value, String> {
    let mut lines = Vec::new();
    for (index, raw) in source.lines().enumerate() {
        let number = index + 1;
        if raw.contains('\t') && raw.trim_start().len() < raw.len() && raw.starts_with('\t') {
            return Err(format!("line {number}: tabs cannot indent YAML"));
        }
        let text = strip_comment(raw);
        let trimmed = text.trim();
        if trimmed.is_empty() || (lines.is_empty() && trimmed == "---") {
            continue;
        }
        if trimmed == "..." {
            break;
        }
        if trimmed == "---" {
            return Err(format!("line {number}: only one YAML document is read"));
        }
        let indent = text.len() - text.trim_start().len();
        lines.push(Line {
            number,
            indent,
            text: trimmed,
        });
    }
    if lines.is_empty() {
        return Ok(Value::Mapping(Vec::new()));
    }
    let mut at = 0;
    let value = block(&lines, &mut at, lines[0].indent, 0)?;
    if let Some(line) = lines.get(at) {
        return Err(format!("line {}: unexpected indentation", line.number));
    }
    Ok(value)
}

/// A `#` starts a comment at the start of a line or after a space, outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote = None;
    let mut previous = ' ';
    for (at, c) in line.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, '#') if previous == ' ' => return &line[..at],
            _ => {}
        }
        previous = c;
    }
    line
}

/// The block starting at `lines[*at]`, whose lines are indented by `indent`.
fn block(lines: &[Line], at: &mut usize, indent: usize, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err(format!("line {}: nested too deeply", lines[*at].number));
    }
    if lines[*at].text.starts_with("- ") || lines[*at].text == "-" {
        return sequence(lines, at, indent);
    }
    let mut entries: Vec<(String, Value)> = Vec::new();
    while let Some(line) = lines.get(*at) {
        if line.indent < indent {
            break;
        }
        if line.indent > indent {
            return Err(format!("line {}: unexpected indentation", line.number));
        }
        let (key, rest) = split_key(line)?;
        if entries.iter().any(|(k, _)| *k == key) {
            return Err(format!("line {}: key {key:?} appears twice", line.number));
        }
        *at += 1;
        let value = if rest.is_empty() {
            match lines.get(*at) {
                Some(next) if next.indent > indent => block(lines, at, next.indent, depth + 1)?,
                // A sequence may sit at the key's own indentation.
                Some(next) if next.indent == indent && next.text.starts_with('-') => {
                    sequence(lines, at, indent)?
                }
                _ => Value::Null,
            }
        } else {
            inline(rest, line.number)?
        };
        entries.push((key, value));
    }
    Ok(Value::Mapping(entries))
}

fn sequence(lines: &[Line], at: &mut usize, indent: usize) -> Result<Value, String> {
    let mut items = Vec::new();
    while let Some(line) = lines.get(*at) {
        if line.indent != indent || !(line.text.starts_with("- ") || line.text == "-") {
            break;
        }
        let item = line.text[1..].trim();
        match inline(item, line.number)? {
            Value::Scalar(text, _) => items.push(text),
            Value::Null => items.push(String::new()),
            _ => {
                return Err(format!(
                    "line {}: a list item must be a plain value",
                    line.number
                ))
            }
        }
        *at += 1;
    }
    Ok(Value::Sequence(items))
}

fn split_key<'a>(line: &Line<'a>) -> Result<(String, &'a str), String> {
    let text = line.text;
    let (key, rest) = if let Some(quote @ ('\'' | '"')) = text.chars().next() {
        let end = text[1..]
            .find(quote)
            .ok_or_else(|| format!("line {}: unterminated quoted key", line.number))?;
        let rest = text[end + 2..].trim_start();
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("line {}: expected ':' after the key", line.number))?;
        (text[1..end + 1].to_string(), rest)
    } else {
        let colon = text
            .find(": ")
            .or_else(|| text.strip_suffix(':').map(|k| k.len()))
            .ok_or_else(|| format!("line {}: expected 'key: value'", line.number))?;
        (text[..colon].trim().to_string(), &text[colon + 1..])
    };
    Ok((key, rest.trim()))
}

fn inline(text: &str, number: usize) -> Result<Value, String> {
    let refused = |what: &str| Err(format!("line {number}: {what} are not supported here"));
    match text.chars().next() {
        None => Ok(Value::Null),
        Some('[') => {
            let body = text
                .strip_suffix(']')
                .and_then(|t| t.strip_prefix('['))
                .ok_or_else(|| format!("line {number}: unterminated '['"))?;
            let mut items = Vec::new();
            for part in split_flow(body, number)? {
                match scalar(part.trim(), number)? {
                    Value::Scalar(text, _) => items.push(text),
                    Value::Null if part.trim().is_empty() => {}
                    _ => items.push(String::new()),
                }
            }
            Ok(Value::Sequence(items))
        }
        Some('{') => refused("flow mappings"),
        Some('&') | Some('*') => refused("anchors and aliases"),
        Some('!') => refused("tags"),
        Some('|') | Some('>') => refused("block scalars"),
        _ => scalar(text, number),
    }
}

/// The items of a flow sequence's body, split at commas outside quotes.
fn split_flow(body: &str, number: usize) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let (mut quote, mut start) = (None, 0);
    for (at, c) in body.char_indices() {
        match (quote, c) {
            (None, '\'' | '"') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, '[' | '{') => {
                return Err(format!(
                    "line {number}: nested collections are not supported here"
                ))
            }
            (None, ',') => {
                parts.push(&body[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err(format!("line {number}: unterminated quote"));
    }
    parts.push(&body[start..]);
    Ok(parts)
}

fn scalar(text: &str, number: usize) -> Result<Value, String> {
    if let Some(body) = text.strip_prefix('\'') {
        let body = body
            .strip_suffix('\'')
            .ok_or_else(|| format!("line {number}: unterminated quote"))?;
        return Ok(Value::Scalar(body.replace("''", "'"), true));
    }
    if let Some(body) = text.strip_prefix('"') {
        let body = body
            .strip_suffix('"')
            .ok_or_else(|| format!("line {number}: unterminated quote"))?;
        return Ok(Value::Scalar(unescape(body, number)?, true));
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => Ok(Value::Null),
        _ => Ok(Value::Scalar(text.to_string(), false)),
    }
}

fn unescape(body: &str, number: usize) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('/') => out.push('/'),
            Some('0') => out.push('\0'),
            other => {
                return Err(format!(
                    "line {number}: unknown escape \\{}",
                    other.map(String::from).unwrap_or_default()
                ))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> Value {
        Value::Scalar(text.to_string(), false)
    }

    #[test]
    fn reads_etcds_sample_configuration() {
        let source = "\
# This is the configuration file for the etcd server.
name: 'default'
data-dir:
heartbeat-interval: 100
listen-client-urls: http://localhost:2379
initial-cluster-state: 'new'
log-outputs: [stderr]
cipher-suites:
- TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
- \"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\"  # two of them
client-transport-security:
  # Path to the client server TLS cert file.
  cert-file: /etc/etcd/kubernetes.pem
  client-cert-auth: false
  auto-tls: false
";
        let Value::Mapping(entries) = parse(source).unwrap() else {
            panic!("not a mapping");
        };
        let get = |key: &str| entries.iter().find(|(k, _)| k == key).unwrap().1.clone();
        assert_eq!(get("name"), Value::Scalar("default".into(), true));
        assert_eq!(get("data-dir"), Value::Null);
        assert_eq!(get("heartbeat-interval"), scalar("100"));
        assert_eq!(get("log-outputs"), Value::Sequence(vec!["stderr".into()]));
        assert_eq!(
            get("cipher-suites"),
            Value::Sequence(vec![
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".into(),
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".into()
            ])
        );
        assert_eq!(
            get("client-transport-security"),
            Value::Mapping(vec![
                ("cert-file".into(), scalar("/etc/etcd/kubernetes.pem")),
                ("client-cert-auth".into(), scalar("false")),
                ("auto-tls".into(), scalar("false")),
            ])
        );
    }

    #[test]
    fn what_it_does_not_read_is_refused_with_its_line() {
        assert_eq!(
            parse("a: 1\nb: &x 2").unwrap_err(),
            "line 2: anchors and aliases are not supported here"
        );
        assert_eq!(
            parse("a: |\n  text").unwrap_err(),
            "line 1: block scalars are not supported here"
        );
        assert_eq!(
            parse("a: 1\n  b: 2").unwrap_err(),
            "line 2: unexpected indentation"
        );
        assert_eq!(
            parse("a: 1\na: 2").unwrap_err(),
            "line 2: key \"a\" appears twice"
        );
        assert_eq!(
            parse("just text").unwrap_err(),
            "line 1: expected 'key: value'"
        );
    }

    #[test]
    fn fuzz_yaml() {
        let seeds = [
            b"name: 'x'\nlog-outputs: [a, 'b', \"c\"]\npeer-transport-security:\n  cert-file: /c\n  auto-tls: true\nlist:\n- 1\n- '2'\n".to_vec(),
            b"---\nk: \"a\\\\b\\n\" # c\n...\n".to_vec(),
        ];
        crate::fuzz::run("yaml", &seeds, |bytes| {
            let _ = parse(&String::from_utf8_lossy(bytes));
        });
    }
}

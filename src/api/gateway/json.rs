//! JSON text as Go's encoding/json reads it, with its error texts: the gateway answers a
//! malformed body with exactly what etcd's grpc-gateway says ("invalid character 'x' looking
//! for beginning of value", "unexpected EOF"). Numbers keep their text (jsonpb decides later
//! whether it fits the field), objects keep their members in order (the last duplicate wins).

#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// encoding/json's name for the kind of value, as in "cannot unmarshal number into ...".
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "bool",
            Json::Number(_) => "number",
            Json::String(_) => "string",
            Json::Array(_) => "array",
            Json::Object(_) => "object",
        }
    }

    /// The value of an object's member (the last one of that name, as a Go map keeps).
    pub fn member(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().rfind(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

#[derive(Debug, PartialEq)]
pub enum Error {
    /// The input ended inside a value (json.Decoder: "unexpected EOF").
    Truncated,
    /// A syntax error, in Go's words.
    Syntax(String),
}

impl Error {
    /// The message of json.Decoder.Decode (a stream) or json.Unmarshal (a complete text).
    pub fn message(&self, whole_text: bool) -> String {
        match self {
            Error::Truncated if whole_text => "unexpected end of JSON input".to_string(),
            Error::Truncated => "unexpected EOF".to_string(),
            Error::Syntax(message) => message.clone(),
        }
    }
}

/// As Go's scanner: a nesting limit instead of unbounded recursion.
const MAX_DEPTH: usize = 1000;

/// Reads the first value of `input` as json.Decoder.Decode does: leading white space skipped,
/// whatever follows the value left alone. `Ok(None)`: nothing but white space.
pub fn next_value(input: &[u8]) -> Result<Option<(Json, usize)>, Error> {
    let mut reader = Reader { input, at: 0 };
    reader.skip_space();
    if reader.at == input.len() {
        return Ok(None);
    }
    let value = reader.value(0)?;
    Ok(Some((value, reader.at)))
}

/// Reads a complete text as json.Unmarshal does: one value and nothing else but white space.
pub fn whole(input: &[u8]) -> Result<Json, Error> {
    let mut reader = Reader { input, at: 0 };
    reader.skip_space();
    if reader.at == input.len() {
        return Err(Error::Truncated);
    }
    let value = reader.value(0)?;
    reader.skip_space();
    match reader.peek() {
        None => Ok(value),
        Some(c) => Err(invalid(c, "after top-level value")),
    }
}

/// Where a value that arrives in pieces may end: scans each byte once (brackets and strings)
/// and says when a top-level value may be complete, so a stream reader parses a value once it
/// can be whole rather than again after every piece.
#[derive(Default)]
pub struct Boundary {
    scanned: usize,
    depth: usize,
    in_string: bool,
    escaped: bool,
}

impl Boundary {
    /// Scans what `input` gained since the last call; true if a top-level value may now end
    /// within it (a parse is worth trying).
    pub fn may_be_complete(&mut self, input: &[u8]) -> bool {
        let mut complete = false;
        for &c in &input[self.scanned.min(input.len())..] {
            if self.in_string {
                match (self.escaped, c) {
                    (true, _) => self.escaped = false,
                    (false, b'\\') => self.escaped = true,
                    (false, b'"') => {
                        self.in_string = false;
                        complete |= self.depth == 0;
                    }
                    _ => {}
                }
                continue;
            }
            match c {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                // An unmatched closer is a syntax error the parser reports.
                b'}' | b']' => {
                    self.depth = self.depth.saturating_sub(1);
                    complete |= self.depth == 0;
                }
                b' ' | b'\t' | b'\n' | b'\r' => {}
                // A literal or number at the top level.
                _ => complete |= self.depth == 0,
            }
        }
        self.scanned = input.len();
        complete
    }
}

/// Go's quoteChar: how a byte appears in a syntax error.
fn quote_char(c: u8) -> String {
    match c {
        b'\'' => "'\\''".to_string(),
        b'"' => "'\"'".to_string(),
        0x07 => "'\\a'".to_string(),
        0x08 => "'\\b'".to_string(),
        0x0c => "'\\f'".to_string(),
        b'\n' => "'\\n'".to_string(),
        b'\r' => "'\\r'".to_string(),
        b'\t' => "'\\t'".to_string(),
        0x0b => "'\\v'".to_string(),
        0x00..=0x1f | 0x7f => format!("'\\x{c:02x}'"),
        0x80..=0xa0 | 0xad => format!("'\\u{c:04x}'"),
        _ => format!("'{}'", c as char),
    }
}

fn invalid(c: u8, context: &str) -> Error {
    Error::Syntax(format!("invalid character {} {context}", quote_char(c)))
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    /// The next byte, or Truncated at the end of the input.
    fn next(&mut self) -> Result<u8, Error> {
        let c = self.peek().ok_or(Error::Truncated)?;
        self.at += 1;
        Ok(c)
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.at += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, Error> {
        if depth > MAX_DEPTH {
            return Err(Error::Syntax("exceeded max depth".to_string()));
        }
        match self.next()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            b'"' => self.string().map(Json::String),
            b't' => self.literal("true", Json::Bool(true)),
            b'f' => self.literal("false", Json::Bool(false)),
            b'n' => self.literal("null", Json::Null),
            c @ (b'-' | b'0'..=b'9') => self.number(c),
            c => Err(invalid(c, "looking for beginning of value")),
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, Error> {
        for expected in word.bytes().skip(1) {
            let c = self.next()?;
            if c != expected {
                return Err(invalid(
                    c,
                    &format!("in literal {word} (expecting {})", quote_char(expected)),
                ));
            }
        }
        Ok(value)
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.at += 1;
        }
    }

    /// A number ends at the first byte that cannot continue it; at the end of the input a
    /// stream decoder cannot know the number is complete, so that is Truncated.
    fn number(&mut self, first: u8) -> Result<Json, Error> {
        let start = self.at - 1;
        let mut c = first;
        if c == b'-' {
            c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in numeric literal"));
            }
        }
        if c != b'0' {
            self.digits();
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            let c = self.next()?;
            if !c.is_ascii_digit() {
                return Err(invalid(c, "after decimal point in numeric literal"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            let mut c = self.next()?;
            if c == b'+' || c == b'-' {
                c = self.next()?;
            }
            if !c.is_ascii_digit() {
                return Err(invalid(c, "in exponent of numeric literal"));
            }
            self.digits();
        }
        let text = String::from_utf8_lossy(&self.input[start..self.at]).into_owned();
        Ok(Json::Number(text))
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let mut value = 0;
        for _ in 0..4 {
            let c = self.next()?;
            let digit = (c as char)
                .to_digit(16)
                .ok_or_else(|| invalid(c, "in \\u hexadecimal character escape"))?;
            value = value * 16 + digit;
        }
        Ok(value)
    }

    /// The rest of a string after its opening quote, unescaped; invalid UTF-8 and lone
    /// surrogates become U+FFFD as in Go.
    fn string(&mut self) -> Result<String, Error> {
        let mut bytes = Vec::new();
        loop {
            match self.next()? {
                b'"' => return Ok(String::from_utf8_lossy(&bytes).into_owned()),
                b'\\' => {
                    let c = self.next()?;
                    let unescaped = match c {
                        b'"' | b'\\' | b'/' => c as char,
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return Err(invalid(c, "in string escape code")),
                    };
                    bytes.extend_from_slice(unescaped.encode_utf8(&mut [0; 4]).as_bytes());
                }
                c if c < 0x20 => return Err(invalid(c, "in string literal")),
                c => bytes.push(c),
            }
        }
    }

    fn unicode_escape(&mut self) -> Result<char, Error> {
        let first = self.hex4()?;
        if !(0xd800..0xdc00).contains(&first) {
            return Ok(char::from_u32(first).unwrap_or('\u{fffd}'));
        }
        // A high surrogate pairs with an immediately following \u low surrogate.
        if self.input[self.at..].starts_with(b"\\u") {
            let save = self.at;
            self.at += 2;
            let second = self.hex4()?;
            if (0xdc00..0xe000).contains(&second) {
                let code = 0x10000 + ((first - 0xd800) << 10) + (second - 0xdc00);
                return Ok(char::from_u32(code).unwrap_or('\u{fffd}'));
            }
            self.at = save;
        }
        Ok('\u{fffd}')
    }

    fn object(&mut self, depth: usize) -> Result<Json, Error> {
        let mut members = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            match self.next()? {
                b'"' => {}
                c => return Err(invalid(c, "looking for beginning of object key string")),
            }
            let key = self.string()?;
            self.skip_space();
            match self.next()? {
                b':' => {}
                c => return Err(invalid(c, "after object key")),
            }
            self.skip_space();
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.skip_space();
            match self.next()? {
                b',' => self.skip_space(),
                b'}' => return Ok(Json::Object(members)),
                c => return Err(invalid(c, "after object key:value pair")),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, Error> {
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            self.skip_space();
            items.push(self.value(depth + 1)?);
            self.skip_space();
            match self.next()? {
                b',' => {}
                b']' => return Ok(Json::Array(items)),
                c => return Err(invalid(c, "after array element")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        next_value(text.as_bytes()).unwrap_err().message(false)
    }

    #[test]
    fn go_syntax_errors() {
        assert_eq!(
            error("nojson"),
            "invalid character 'o' in literal null (expecting 'u')"
        );
        assert_eq!(
            error("xx"),
            "invalid character 'x' looking for beginning of value"
        );
        assert_eq!(
            error(r#"{"key":"Zm9v",}"#),
            "invalid character '}' looking for beginning of object key string"
        );
        assert_eq!(error(r#"{"key":"Zm9v""#), "unexpected EOF");
        assert_eq!(
            error(r#"{"a" 1}"#),
            "invalid character '1' after object key"
        );
        assert_eq!(
            error(r#"{"a":1 2}"#),
            "invalid character '2' after object key:value pair"
        );
        assert_eq!(error("[1 2]"), "invalid character '2' after array element");
        assert_eq!(error("-x"), "invalid character 'x' in numeric literal");
        assert_eq!(
            error("\"a\nb\""),
            "invalid character '\\n' in string literal"
        );
        assert_eq!(
            error(r#""\q""#),
            "invalid character 'q' in string escape code"
        );
    }

    #[test]
    fn a_boundary_is_seen_only_where_a_value_may_end() {
        let mut boundary = Boundary::default();
        let mut input = br#"{"key":"a}\"b""#.to_vec();
        assert!(!boundary.may_be_complete(&input), "inside the object");
        input.extend_from_slice(b",\"n\":[1]");
        assert!(!boundary.may_be_complete(&input));
        input.push(b'}');
        assert!(boundary.may_be_complete(&input));
        assert!(!Boundary::default().may_be_complete(b"  "));
        assert!(
            Boundary::default().may_be_complete(b"xx"),
            "garbage: let the parser say"
        );
    }

    #[test]
    fn values_and_what_follows() {
        let (value, end) = next_value(br#" {"a":[1,-2.5e3,"x\u00e9"],"b":null} trailing"#)
            .unwrap()
            .unwrap();
        assert_eq!(end, 36);
        assert_eq!(
            value.member("a"),
            Some(&Json::Array(vec![
                Json::Number("1".into()),
                Json::Number("-2.5e3".into()),
                Json::String("xé".into())
            ]))
        );
        assert_eq!(next_value(b"  \n").unwrap(), None);
        assert_eq!(
            whole(b"5 x").unwrap_err().message(true),
            "invalid character 'x' after top-level value"
        );
        assert_eq!(
            whole(b"").unwrap_err().message(true),
            "unexpected end of JSON input"
        );
    }
}

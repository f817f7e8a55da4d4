//! Command-line flags as etcdctl's (cobra + pflag) parse them: `--name=value`, `--name value`,
//! `--bool`, `--bool=false`, `-w json`, `-wjson`, flags anywhere among the arguments, `--` ends
//! flags. Errors use pflag's wording, since users and scripts see them.

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    Int,
    Duration,
    /// A comma-separated list (pflag's StringSlice); repeating the flag appends.
    Strings,
}

/// One flag as etcdctl declares it; `default` is shown in usage as etcdctl shows it.
#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub short: Option<char>,
    pub kind: Kind,
    pub default: &'static str,
    pub usage: &'static str,
}

pub const fn flag(
    name: &'static str,
    kind: Kind,
    default: &'static str,
    usage: &'static str,
) -> Spec {
    Spec {
        name,
        short: None,
        kind,
        default,
        usage,
    }
}

pub const fn short(
    name: &'static str,
    short: char,
    kind: Kind,
    default: &'static str,
    usage: &'static str,
) -> Spec {
    Spec {
        name,
        short: Some(short),
        kind,
        default,
        usage,
    }
}

/// What the command line set: each flag's values (in order) and the positional arguments.
#[derive(Debug, Default)]
pub struct Parsed {
    values: BTreeMap<&'static str, Vec<String>>,
    pub args: Vec<String>,
    /// How many positional arguments came before a `--` (watch's exec form uses it).
    pub before_dash: Option<usize>,
}

impl Parsed {
    pub fn changed(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }

    /// Sets a flag that the command line left unset (etcdctl's ETCDCTL_* environment); a value
    /// the flag cannot take is ignored, as etcdctl ignores it.
    pub fn set_default(&mut self, spec: &'static Spec, value: String) {
        if let Ok(value) = check(spec, spec.name, value) {
            self.values.entry(spec.name).or_insert_with(|| vec![value]);
        }
    }

    fn raw<'a>(&'a self, specs: &[&'static Spec], name: &str) -> (&'static Spec, Option<&'a str>) {
        let spec = specs
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("flag --{name} is not declared for this command"));
        let value = self
            .values
            .get(name)
            .and_then(|v| v.last())
            .map(String::as_str);
        (spec, value)
    }

    pub fn string(&self, specs: &[&'static Spec], name: &str) -> String {
        let (spec, value) = self.raw(specs, name);
        value.unwrap_or(spec.default).to_string()
    }

    pub fn bool(&self, specs: &[&'static Spec], name: &str) -> bool {
        let (spec, value) = self.raw(specs, name);
        value.unwrap_or(spec.default) == "true"
    }

    pub fn int(&self, specs: &[&'static Spec], name: &str) -> i64 {
        let (spec, value) = self.raw(specs, name);
        value
            .unwrap_or(spec.default)
            .parse()
            .expect("validated while parsing")
    }

    pub fn duration(&self, specs: &[&'static Spec], name: &str) -> Duration {
        let (spec, value) = self.raw(specs, name);
        crate::golang::parse_duration(value.unwrap_or(spec.default))
            .expect("validated while parsing")
    }

    pub fn strings(&self, specs: &[&'static Spec], name: &str) -> Vec<String> {
        let spec = specs
            .iter()
            .find(|s| s.name == name)
            .expect("declared flag");
        match self.values.get(name) {
            Some(values) => values.iter().flat_map(|v| split_list(v)).collect(),
            None => split_list(spec.default.trim_matches(['[', ']'])),
        }
    }
}

fn split_list(value: &str) -> Vec<String> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(',').map(str::to_string).collect()
}

/// Parses `args` against `specs`. Errors are pflag's messages.
pub fn parse(specs: &[&'static Spec], args: &[String]) -> Result<Parsed, String> {
    let mut parsed = Parsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            parsed.before_dash = Some(parsed.args.len());
            parsed.args.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((name, value)) => (name, Some(value.to_string())),
                None => (long, None),
            };
            let spec = specs
                .iter()
                .find(|s| s.name == name)
                .ok_or_else(|| format!("unknown flag: --{name}"))?;
            let value = match (inline, spec.kind) {
                (Some(value), _) => value,
                (None, Kind::Bool) => "true".to_string(),
                (None, _) if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                (None, _) => return Err(format!("flag needs an argument: --{name}")),
            };
            set(&mut parsed, spec, &format!("--{name}"), value)?;
        } else if arg.len() > 1 && arg.starts_with('-') {
            let shorts: Vec<char> = arg[1..].chars().collect();
            let mut j = 0;
            while j < shorts.len() {
                let c = shorts[j];
                let spec = specs
                    .iter()
                    .find(|s| s.short == Some(c))
                    .ok_or_else(|| format!("unknown shorthand flag: '{c}' in {arg}"))?;
                let rest: String = shorts[j + 1..].iter().collect();
                let value = if let Some(value) = rest.strip_prefix('=') {
                    j = shorts.len();
                    value.to_string()
                } else if spec.kind == Kind::Bool {
                    j += 1;
                    "true".to_string()
                } else if !rest.is_empty() {
                    j = shorts.len();
                    rest
                } else if i < args.len() {
                    j = shorts.len();
                    i += 1;
                    args[i - 1].clone()
                } else {
                    return Err(format!("flag needs an argument: '{c}' in -{c}"));
                };
                set(&mut parsed, spec, &format!("-{c}, --{}", spec.name), value)?;
            }
        } else {
            parsed.args.push(arg.clone());
        }
    }
    Ok(parsed)
}

fn set(parsed: &mut Parsed, spec: &'static Spec, shown: &str, value: String) -> Result<(), String> {
    let value = check(spec, shown, value)?;
    let values = parsed.values.entry(spec.name).or_default();
    if spec.kind != Kind::Strings {
        values.clear();
    }
    values.push(value);
    Ok(())
}

/// The value as the flag stores it (booleans normalized), or pflag's complaint.
fn check(spec: &Spec, shown: &str, value: String) -> Result<String, String> {
    let invalid = |why: String| format!("invalid argument {value:?} for {shown:?} flag: {why}");
    match spec.kind {
        Kind::Bool => match value.as_str() {
            "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok("true".into()),
            "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok("false".into()),
            _ => Err(invalid(format!(
                "strconv.ParseBool: parsing {value:?}: invalid syntax"
            ))),
        },
        Kind::Int => match value.parse::<i64>() {
            Ok(_) => Ok(value),
            Err(_) => Err(invalid(format!(
                "strconv.ParseInt: parsing {value:?}: invalid syntax"
            ))),
        },
        Kind::Duration => match crate::golang::parse_duration(&value) {
            Ok(_) => Ok(value),
            Err(why) => Err(invalid(why)),
        },
        Kind::String | Kind::Strings => Ok(value),
    }
}

/// The flag list of a usage text, as etcdctl renders it (before tab alignment).
pub fn usage_lines(specs: &[&Spec]) -> String {
    let mut sorted: Vec<&&Spec> = specs.iter().collect();
    sorted.sort_by_key(|s| s.name);
    let mut out = String::new();
    for spec in sorted {
        let mut line = match spec.short {
            Some(c) => format!("  -{c}, --{}", spec.name),
            None => format!("      --{}", spec.name),
        };
        match spec.kind {
            Kind::Bool => line += &format!("[={}]", spec.default),
            Kind::String => line += &format!("={:?}", spec.default),
            _ => line += &format!("={}", spec.default),
        }
        out += &format!("{line}\t{}\n", spec.usage);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    static LIMIT: Spec = flag("limit", Kind::Int, "0", "");
    static PREFIX: Spec = flag("prefix", Kind::Bool, "false", "");
    static OUT: Spec = short("write-out", 'w', Kind::String, "simple", "");
    static EPS: Spec = flag("endpoints", Kind::Strings, "[127.0.0.1:2379]", "");

    fn specs() -> Vec<&'static Spec> {
        vec![&LIMIT, &PREFIX, &OUT, &EPS]
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flags_anywhere_and_double_dash() {
        let p = parse(
            &specs(),
            &strings(&["a", "--limit", "3", "-wjson", "--prefix", "--", "-x"]),
        )
        .unwrap();
        assert_eq!(p.args, ["a", "-x"]);
        assert_eq!(p.int(&specs(), "limit"), 3);
        assert_eq!(p.string(&specs(), "write-out"), "json");
        assert!(p.bool(&specs(), "prefix"));
        assert_eq!(p.strings(&specs(), "endpoints"), ["127.0.0.1:2379"]);
    }

    #[test]
    fn errors_are_pflags() {
        assert_eq!(
            parse(&specs(), &strings(&["--nope"])).unwrap_err(),
            "unknown flag: --nope"
        );
        assert_eq!(
            parse(&specs(), &strings(&["--limit=x"])).unwrap_err(),
            "invalid argument \"x\" for \"--limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax"
        );
        assert_eq!(
            parse(&specs(), &strings(&["--limit"])).unwrap_err(),
            "flag needs an argument: --limit"
        );
        assert_eq!(
            parse(&specs(), &strings(&["-z"])).unwrap_err(),
            "unknown shorthand flag: 'z' in -z"
        );
    }

    #[test]
    fn go_durations() {
        assert_eq!(
            crate::golang::parse_duration("1m30s").unwrap(),
            Duration::from_secs(90)
        );
        assert_eq!(
            crate::golang::parse_duration("250ms").unwrap(),
            Duration::from_millis(250)
        );
        assert!(crate::golang::parse_duration("5").is_err());
    }
}

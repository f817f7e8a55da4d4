//! The command lines of our own subcommands (`etcd pki`, `etcd bench`, `etcdutl migrate`),
//! parsed by argh. etcd's and etcdctl's Go-style flags keep their own parsers (config/flags.rs,
//! ctl/flags.rs); here Go's `--flag=value` spelling is accepted as well, since users of those
//! tools type it.

use argh::FromArgs;
use std::process::ExitCode;

/// `args` (after the subcommand's name) as `T`; help and errors printed as argh words them,
/// and the exit code to end with (0 after --help).
pub fn parse<T: FromArgs>(command: &str, args: &[String]) -> Result<T, ExitCode> {
    let args = split_equals(args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    T::from_args(&[command], &args).map_err(|exit| {
        let text = exit.output.trim_end();
        if exit.status.is_err() {
            eprintln!("{text}");
            ExitCode::FAILURE
        } else {
            println!("{text}");
            ExitCode::SUCCESS
        }
    })
}

/// Go's `--flag=value` as argh's `--flag value`.
fn split_equals(args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for arg in args {
        match arg.strip_prefix("--").and_then(|rest| rest.split_once('=')) {
            Some((flag, value)) => {
                out.push(format!("--{flag}"));
                out.push(value.to_string());
            }
            None => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(FromArgs, Debug, PartialEq)]
    /// a test command
    struct Example {
        /// a value
        #[argh(option)]
        name: String,
        /// a switch
        #[argh(switch)]
        force: bool,
    }

    #[test]
    fn go_spellings_are_accepted() {
        let args = |list: &[&str]| -> Vec<String> { list.iter().map(|s| s.to_string()).collect() };
        let parsed: Example = parse("x", &args(&["--name=a=b", "--force"])).unwrap();
        assert_eq!(
            parsed,
            Example {
                name: "a=b".into(),
                force: true
            }
        );
        assert!(parse::<Example>("x", &args(&["--bogus"])).is_err());
    }
}

//! The etcdutl applet (`etcdutl ...` or `etcd util ...`): the offline commands, on files and
//! data dirs rather than a running cluster: `snapshot restore` and `snapshot status` (the same
//! commands as etcdctl's, run through the etcdctl applet), `version`, and `migrate` (an etcd
//! 3.4 data dir converted into ours in place, `migrate/`).

pub mod migrate;

use crate::ctl::{self, EXIT_ERROR};
use std::process::ExitCode;

/// The commands etcdutl runs through the etcdctl applet.
const OFFLINE: [&str; 3] = ["snapshot restore", "snapshot status", "version"];

/// Entry point for `etcdutl ...` and `etcd util ...`.
pub fn main(args: &[String]) -> ExitCode {
    if args.first().is_some_and(|a| a == "migrate") {
        return migrate::main(&args[1..]);
    }
    match ctl::command_path(args) {
        Some("version") => {
            println!("etcdutl version: {}", crate::version::SERVER_VERSION);
            println!("API version: 3.4");
            ExitCode::SUCCESS
        }
        Some(path) if OFFLINE.contains(&path) => ctl::v3(args),
        _ if matches!(
            args.first().map(String::as_str),
            None | Some("help" | "--help" | "-h")
        ) =>
        {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        _ => {
            let word = args
                .iter()
                .find(|a| !a.starts_with('-'))
                .cloned()
                .unwrap_or_default();
            let error = format!("unknown command {word:?} for \"etcdutl\"");
            eprintln!("Error: {error}\nRun 'etcdutl --help' for usage.\nError: {error}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// etcdutl's root help: its offline commands.
fn usage() -> String {
    let mut text = format!(
        "NAME:\n\tetcdutl - An administrative command line tool for etcd3.\n\nUSAGE:\n\tetcdutl [flags]\n\nVERSION:\n\t{}\n\nAPI VERSION:\n\t3.4\n\n\nCOMMANDS:\n",
        crate::version::SERVER_VERSION
    );
    let mut rows: Vec<(String, &str)> = OFFLINE
        .iter()
        .filter_map(|path| ctl::command_summary(path).map(|short| (path.to_string(), short)))
        .collect();
    rows.push((
        "migrate".into(),
        "Converts a stopped etcd 3.4 member's data dir into this etcd's, in place",
    ));
    rows.sort();
    for (path, short) in rows {
        text += &format!("\t{path}\t{short}\n");
    }
    text += "\nOPTIONS:\n  -h, --help[=false]\thelp for etcdutl\n";
    ctl::tabwriter::align(&text)
}

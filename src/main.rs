//! One binary, several programs (busybox-style): invoked as `etcd` it is the server, as
//! `etcdctl`/`etcdutl` (a link with that name) or as `etcd ctl ...`/`etcd util ...` it is that
//! tool. This file only dispatches.

// The few unsafe blocks (opening the LMDB environment, the terminal's echo, signal handling)
// each carry their own allow and SAFETY note.
#![deny(unsafe_code)]

mod api;
mod apply;
mod auth;
mod bench;
mod bolt;
mod cli;
mod client;
mod config;
mod ctl;
mod discovery;
mod disk;
mod doorbell;
#[cfg(test)]
mod fuzz;
mod golang;
mod grpc_codes;
mod http1;
mod ids;
mod logging;
mod metrics;
mod mvcc;
mod net;
mod pb;
mod peer;
mod pki;
mod raft;
mod runtime;
mod schema;
mod server;
mod status;
mod tls;
mod url;
mod util;
mod v2;
mod version;
mod wal;
mod watch;
mod wire;

use std::collections::BTreeMap;
use std::process::ExitCode;

/// mimalloc rather than musl's malloc (Cargo.toml says why).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let program = args
        .first()
        .map(|p| {
            std::path::Path::new(p)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .unwrap_or_default();
    match (program.as_str(), args.get(1).map(String::as_str)) {
        ("etcdctl", _) => {
            crate::runtime::start(1);
            ctl::main(&args[1..])
        }
        (_, Some("ctl")) => {
            crate::runtime::start(1);
            ctl::main(&args[2..])
        }
        ("etcdutl", _) => util::main(&args[1..]),
        (_, Some("util")) => util::main(&args[2..]),
        (_, Some("bench")) => bench::main(&args[2..]),
        (_, Some("pki")) => pki::main(&args[2..]),
        _ => server(&args[1..]),
    }
}

fn server(args: &[String]) -> ExitCode {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let config = match config::parse(args, &env) {
        Ok(config::Command::Run(config)) => config,
        Ok(config::Command::Version) => {
            print!("{}", version::describe());
            return ExitCode::SUCCESS;
        }
        Ok(config::Command::Help) => {
            print!("{}", config::usage());
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("etcd: {error}");
            return ExitCode::from(1);
        }
    };
    logging::init(config.log_level);
    match server::run(*config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("etcd: {error}");
            ExitCode::from(1)
        }
    }
}

//! The etcdctl applet: etcdctl 3.4's commands, flags, output and exit codes, talking gRPC (v3) or
//! HTTP (the v2-era `cluster-health` and `member list`, with ETCDCTL_API=2) to any etcd.
//!
//! Flow: find the command words among the arguments, parse the rest against that command's flags
//! plus the global ones (ETCDCTL_* fills global flags the command line left unset), run the
//! command. Every failure is an [`Exit`]: etcdctl's "Error: ..." line and exit code.

mod auth;
mod check;
mod commands;
mod concurrency;
mod flags;
mod interrupt;
mod json;
mod kv;
mod lease;
mod manage;
mod member;
mod migrate;
mod mirror;
mod output;
mod prompt;
mod snapshot;
pub mod tabwriter;
mod v2;
mod v2auth;
mod v2backup;
mod v2keys;
mod v2members;

use crate::client::{CallError, Channel, TlsFlags};
use flags::{Parsed, Spec};
use output::Printer;
use std::process::ExitCode;
use std::time::Duration;

/// etcdctl's exit codes (etcdctl/ctlv3/command/error.go).
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_BAD_CONNECTION: u8 = 2;
pub const EXIT_INVALID_INPUT: u8 = 3;
pub const EXIT_BAD_FEATURE: u8 = 4;
pub const EXIT_INTERRUPTED: u8 = 5;
pub const EXIT_BAD_ARGS: u8 = 128;

/// How a command ends when it does not succeed: the message for "Error: ..." (none when the
/// command printed its own) and the exit code.
#[derive(Debug)]
pub struct Exit {
    pub code: u8,
    pub message: Option<String>,
}

pub type Outcome = Result<(), Exit>;

pub fn fail(code: u8, message: impl Into<String>) -> Exit {
    Exit {
        code,
        message: Some(message.into()),
    }
}

/// Exit with `code`, the command having said what went wrong itself.
pub fn quiet(code: u8) -> Exit {
    Exit {
        code,
        message: None,
    }
}

/// Entry point for `etcdctl ...` and `etcd ctl ...`.
pub fn main(args: &[String]) -> ExitCode {
    let api = std::env::var("ETCDCTL_API").unwrap_or_default();
    match api.as_str() {
        // What can only be v2 runs as v2, the old etcdctl's default (the seed's check).
        "" if v2::only_v2(args) => v2::main(args),
        "" | "3" => v3(args),
        "2" => v2::main(args),
        other => {
            eprintln!("unsupported API version {other}");
            ExitCode::from(1)
        }
    }
}

/// The path of the command `args` name ("snapshot restore"), if any.
pub fn command_path(args: &[String]) -> Option<&'static str> {
    commands::find(args).map(|(command, _)| command.path)
}

/// A command's one-line description, as its group's help lists it.
pub fn command_summary(path: &str) -> Option<&'static str> {
    commands::COMMANDS
        .iter()
        .find(|c| c.path == path)
        .map(|c| c.short)
}

/// Runs an etcdctl v3 command (etcdutl runs its offline ones through this).
pub fn v3(args: &[String]) -> ExitCode {
    let Some((command, rest)) = commands::find(args) else {
        match commands::unfound(args) {
            commands::Unfound::Root => print!("{}", commands::root_usage()),
            commands::Unfound::Group(group) => print!("{}", commands::group_usage(group)),
            commands::Unfound::Unknown(word) => {
                // cobra's error and hint, then etcdctl's own report of the same error.
                let error = format!("unknown command {word:?} for \"etcdctl\"");
                eprintln!("Error: {error}\nRun 'etcdctl --help' for usage.\nError: {error}");
                return ExitCode::from(EXIT_ERROR);
            }
        }
        return ExitCode::SUCCESS;
    };
    let specs = command.all_flags();
    let mut parsed = match flags::parse(&specs, &rest) {
        Ok(parsed) => parsed,
        Err(error) => {
            // cobra's order: the error, the usage, then etcdctl's own report of the error.
            eprintln!("Error: {error}");
            print!("{}", commands::usage(command));
            let _ = std::io::Write::flush(&mut std::io::stdout());
            eprintln!("\nError: {error}");
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if parsed.bool(&specs, "help") {
        print!("{}", commands::usage(command));
        return ExitCode::SUCCESS;
    }
    let environment = match command.path {
        "version" => EnvReport::default(),
        path => environment(&mut parsed, path == "watch"),
    };
    let result = Printer::new(&parsed, &specs).and_then(|printer| {
        let mut ctl = Ctl {
            flags: parsed,
            specs,
            out: printer,
            environment: std::sync::Mutex::new(Some(environment)),
        };
        (command.run)(&mut ctl)
    });
    finish(result)
}

fn finish(result: Outcome) -> ExitCode {
    use std::io::Write;
    let _ = std::io::stdout().flush();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(exit) => {
            if let Some(message) = exit.message {
                eprintln!("Error: {message}");
            }
            ExitCode::from(exit.code)
        }
    }
}

/// What reading ETCDCTL_* found to complain about. etcdctl reads the environment when a
/// command first makes its client, after the command checked its arguments, so these are
/// reported then (`Ctl::connect`), not before.
#[derive(Default)]
struct EnvReport {
    warnings: Vec<String>,
    /// A variable for a flag also given on the command line: fatal.
    conflict: Option<String>,
}

/// ETCDCTL_<FLAG> for each global flag the command line did not set. As etcd's pkg/flags: a
/// variable for a flag also given on the command line is fatal, an unknown ETCDCTL_* variable
/// draws a warning.
fn environment(parsed: &mut Parsed, watch: bool) -> EnvReport {
    let env_name = |flag: &str| format!("ETCDCTL_{}", flag.to_uppercase().replace('-', "_"));
    let mut report = EnvReport::default();
    for (name, value) in std::env::vars() {
        let spec = commands::GLOBAL_FLAGS
            .iter()
            .find(|s| env_name(s.name) == name);
        match spec {
            Some(spec) if parsed.changed(spec.name) => {
                report.conflict = Some(format!(
                    "C | pkg/flags: conflicting environment variable {name:?} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)"
                ));
                return report;
            }
            Some(spec) => {
                if !value.is_empty() {
                    parsed.set_default(spec, value);
                }
            }
            None => {
                let watch_variable =
                    name == "ETCDCTL_WATCH_KEY" || name == "ETCDCTL_WATCH_RANGE_END";
                // etcdctl unsets ETCDCTL_API before it reads the environment.
                let api = name == "ETCDCTL_API";
                if name.starts_with("ETCDCTL_") && !api && !(watch && watch_variable) {
                    report.warnings.push(format!(
                        "W | pkg/flags: unrecognized environment variable {name}={value}"
                    ));
                }
            }
        }
    }
    report
}

/// capnslog's time stamp, "2006-01-02 15:04:05.000000" (UTC).
fn log_timestamp() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = now.as_secs();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = crate::golang::civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}.{:06}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        now.subsec_micros()
    )
}

/// A running command: its parsed flags and printer, and the way to the server.
pub struct Ctl {
    pub flags: Parsed,
    pub specs: Vec<&'static Spec>,
    pub out: Printer,
    /// Reported once, when the command first makes a client.
    environment: std::sync::Mutex<Option<EnvReport>>,
}

/// etcdctl's --discovery-srv (v3 and v2): the endpoints the domain's `_etcd-client` SRV records
/// name, http ones only when `insecure` (each one left out is said on stderr, as etcdctl).
fn discovered_endpoints(
    domain: &str,
    service_name: &str,
    insecure: bool,
) -> Result<Vec<String>, String> {
    let found = crate::discovery::client_endpoints(domain, service_name)?;
    Ok(found
        .into_iter()
        .filter(|endpoint| {
            let keep = insecure || !endpoint.starts_with("http://");
            if !keep {
                eprintln!("ignoring discovered insecure endpoint {endpoint:?}");
            }
            keep
        })
        .collect())
}

impl Ctl {
    pub fn args(&self) -> &[String] {
        &self.flags.args
    }

    pub fn bool(&self, name: &str) -> bool {
        self.flags.bool(&self.specs, name)
    }

    pub fn string(&self, name: &str) -> String {
        self.flags.string(&self.specs, name)
    }

    pub fn int(&self, name: &str) -> i64 {
        self.flags.int(&self.specs, name)
    }

    /// The endpoints to use: those --discovery-srv finds (only https ones unless
    /// --insecure-discovery), or else --endpoints, as etcdctl's endpointsFromCmd.
    pub fn endpoints(&self) -> Result<Vec<String>, Exit> {
        let domain = self.string("discovery-srv");
        if !domain.is_empty() {
            let kept = discovered_endpoints(
                &domain,
                &self.string("discovery-srv-name"),
                self.bool("insecure-discovery"),
            )
            .map_err(|e| fail(EXIT_ERROR, e))?;
            if !kept.is_empty() {
                return Ok(kept);
            }
        }
        Ok(self
            .flags
            .strings(&self.specs, "endpoints")
            .iter()
            .map(|e| e.trim().to_string())
            .collect())
    }

    pub fn command_timeout(&self) -> Duration {
        self.flags.duration(&self.specs, "command-timeout")
    }

    /// The TLS settings, or None for plain connections (etcdctl uses TLS once any of --cacert,
    /// --cert, --key is given, or when --insecure-transport=false).
    pub fn tls(&self) -> Result<Option<TlsFlags>, Exit> {
        let mut tls = TlsFlags::default();
        for (name, slot) in [
            ("cacert", &mut tls.ca),
            ("cert", &mut tls.cert),
            ("key", &mut tls.key),
        ] {
            let value = self.string(name);
            if value.is_empty() && self.flags.changed(name) {
                return Err(fail(
                    EXIT_BAD_ARGS,
                    format!("empty string is passed to --{name} option"),
                ));
            }
            if !value.is_empty() {
                *slot = Some(value.into());
            }
        }
        let any = tls.ca.is_some() || tls.cert.is_some() || tls.key.is_some();
        tls.skip_verify = self.bool("insecure-skip-tls-verify");
        Ok((any || !self.bool("insecure-transport")).then_some(tls))
    }

    /// Prints what reading ETCDCTL_* found, the first time a command makes a client.
    fn report_environment(&self) -> Outcome {
        let taken = self.environment.lock().map(|mut e| e.take());
        let Ok(Some(report)) = taken else {
            return Ok(());
        };
        for warning in report.warnings {
            eprintln!("{} {warning}", log_timestamp());
        }
        match report.conflict {
            Some(conflict) => {
                eprintln!("{} {conflict}", log_timestamp());
                Err(quiet(EXIT_ERROR))
            }
            None => Ok(()),
        }
    }

    /// A connection to the first endpoint that answers, tried until the command timeout as
    /// etcdctl's client keeps trying.
    pub fn connect(&self) -> Result<Channel, Exit> {
        let endpoints = self.endpoints()?;
        self.connect_to(&endpoints)
    }

    pub fn connect_to(&self, endpoints: &[String]) -> Result<Channel, Exit> {
        self.report_environment()?;
        let tls = self.tls()?;
        let token = self.credentials()?;
        let deadline = std::time::Instant::now() + self.command_timeout();
        crate::runtime::block_on(async {
            loop {
                for endpoint in endpoints {
                    let plain = TlsFlags::default();
                    let endpoint = match &tls {
                        Some(_) if !endpoint.contains("://") => format!("https://{endpoint}"),
                        _ => endpoint.clone(),
                    };
                    if let Ok(channel) =
                        Channel::connect(&endpoint, tls.as_ref().unwrap_or(&plain)).await
                    {
                        return match &token {
                            Some((user, password)) => {
                                authenticate(channel, user, password, deadline).await
                            }
                            None => Ok(channel),
                        };
                    }
                }
                if std::time::Instant::now() >= deadline {
                    return Err(fail(EXIT_ERROR, "context deadline exceeded"));
                }
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        })
    }

    /// --user name[:password] with --password, as etcdctl reads them (a name alone: the
    /// password is asked for).
    fn credentials(&self) -> Result<Option<(String, String)>, Exit> {
        let user = self.string("user");
        if user.is_empty() {
            return Ok(None);
        }
        let password = self.string("password");
        if !password.is_empty() {
            return Ok(Some((user, password)));
        }
        match user.split_once(':') {
            Some((name, password)) => Ok(Some((name.to_string(), password.to_string()))),
            None => {
                let password =
                    prompt::ask_password().map_err(|e| fail(EXIT_ERROR, e.to_string()))?;
                Ok(Some((user, password)))
            }
        }
    }

    /// One unary call within the command timeout; errors become etcdctl's error text.
    pub fn call<Q: prost::Message, A: prost::Message + Default>(
        &self,
        channel: &Channel,
        path: &str,
        request: &Q,
    ) -> Result<A, Exit> {
        let timeout = self.command_timeout();
        crate::runtime::block_on(async {
            smol::future::or(
                async { channel.unary(path, request).await.map_err(describe) },
                async {
                    smol::Timer::after(timeout).await;
                    Err("context deadline exceeded".to_string())
                },
            )
            .await
        })
        .map_err(|message| fail(EXIT_ERROR, message))
    }

    /// Connects and makes one call: most commands are just this.
    pub fn request<Q: prost::Message, A: prost::Message + Default>(
        &self,
        path: &str,
        request: &Q,
    ) -> Result<A, Exit> {
        let channel = self.connect()?;
        self.call(&channel, path, request)
    }
}

async fn authenticate(
    channel: Channel,
    user: &str,
    password: &str,
    deadline: std::time::Instant,
) -> Result<Channel, Exit> {
    use crate::pb::etcdserverpb::{AuthenticateRequest, AuthenticateResponse};
    let request = AuthenticateRequest {
        name: user.to_string(),
        password: password.to_string(),
    };
    let wait = deadline.saturating_duration_since(std::time::Instant::now());
    let answer: Result<AuthenticateResponse, String> = smol::future::or(
        async {
            channel
                .unary::<_, AuthenticateResponse>("/etcdserverpb.Auth/Authenticate", &request)
                .await
                .map_err(describe)
        },
        async {
            smol::Timer::after(wait).await;
            Err("context deadline exceeded".to_string())
        },
    )
    .await;
    match answer {
        Ok(answer) => Ok(channel.with_token(answer.token)),
        // clientv3 goes on without a token when the server has auth off.
        Err(message) if message == "etcdserver: authentication is not enabled" => Ok(channel),
        Err(message) => Err(fail(EXIT_BAD_CONNECTION, message)),
    }
}

/// The text clientv3 shows for a failed call: etcd's own errors by their message alone, anything
/// else as grpc-go prints a status.
pub fn describe(error: CallError) -> String {
    let known = ["etcdserver: ", "mvcc: ", "auth: ", "lease: "];
    if known.iter().any(|p| error.message.starts_with(p)) {
        return error.message;
    }
    format!(
        "rpc error: code = {} desc = {}",
        code_name(error.code),
        error.message
    )
}

fn code_name(code: u32) -> String {
    crate::grpc_codes::GRPC_CODE_NAMES
        .get(code as usize)
        .map(|n| n.to_string())
        .unwrap_or_else(|| format!("Code({code})"))
}

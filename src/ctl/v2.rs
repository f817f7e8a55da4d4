//! ETCDCTL_API=2: the v2-era commands people still type, `cluster-health` (the seed's check)
//! and `member list`, over HTTP/1.1 (`/v2/members`, `/health`) as etcdctl 3.4's v2 mode does.

use super::flags::{self, flag, short, Kind, Spec};
use crate::client::TlsFlags;
use serde::Deserialize;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

// etcdctl v2's exit codes (etcdctl/ctlv2/command/error.go).
const EXIT_BAD_ARGS: u8 = 1;
const EXIT_SERVER_ERROR: u8 = 4;
const EXIT_CLUSTER_NOT_HEALTHY: u8 = 5;

static FLAGS: &[Spec] = &[
    flag("debug", Kind::Bool, "false", ""),
    flag("no-sync", Kind::Bool, "false", ""),
    short("output", 'o', Kind::String, "simple", ""),
    short("discovery-srv", 'D', Kind::String, "", ""),
    flag("insecure-discovery", Kind::Bool, "false", ""),
    short("peers", 'C', Kind::String, "", ""),
    flag("endpoint", Kind::String, "", ""),
    flag("endpoints", Kind::String, "", ""),
    flag("cert-file", Kind::String, "", ""),
    flag("key-file", Kind::String, "", ""),
    flag("ca-file", Kind::String, "", ""),
    short("username", 'u', Kind::String, "", ""),
    flag("timeout", Kind::Duration, "2s", ""),
    flag("total-timeout", Kind::Duration, "5s", ""),
];

static CLUSTER_HEALTH_FLAGS: &[Spec] = &[short("forever", 'f', Kind::Bool, "false", "")];

const CLUSTER_HEALTH_HELP: &str = "NAME:\n   etcdctl cluster-health - check the health of the etcd cluster\n\nUSAGE:\n   etcdctl cluster-health [command options]  \n\nOPTIONS:\n   --forever, -f  forever check the health every 10 second until CTRL+C\n   \n";

#[derive(Deserialize)]
struct Members {
    members: Vec<Member>,
}

#[derive(Deserialize)]
pub struct Member {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, rename = "peerURLs")]
    pub peer_urls: Vec<String>,
    #[serde(default, rename = "clientURLs")]
    pub client_urls: Vec<String>,
}

#[derive(Deserialize)]
struct HealthAnswer {
    health: serde_json::Value,
}

/// Flags only etcdctl's v2 mode has.
const V2_ONLY_FLAGS: [&str; 8] = [
    "ca-file",
    "cert-file",
    "key-file",
    "peers",
    "C",
    "no-sync",
    "total-timeout",
    "username",
];
/// Commands only etcdctl's v2 mode has.
const V2_ONLY_COMMANDS: [&str; 13] = [
    "cluster-health",
    "ls",
    "mk",
    "mkdir",
    "set",
    "setdir",
    "rm",
    "rmdir",
    "update",
    "updatedir",
    "exec-watch",
    "backup",
    "import",
];
/// Global flags of either mode that take a value as the next word when written without `=`.
const VALUE_FLAGS: [&str; 26] = [
    "endpoints",
    "endpoint",
    "peers",
    "C",
    "ca-file",
    "cert-file",
    "key-file",
    "cacert",
    "cert",
    "key",
    "user",
    "password",
    "username",
    "u",
    "output",
    "o",
    "write-out",
    "w",
    "dial-timeout",
    "command-timeout",
    "timeout",
    "total-timeout",
    "discovery-srv",
    "D",
    "discovery-srv-name",
    "keepalive-time",
];

/// With ETCDCTL_API unset: does this invocation only make sense to etcdctl's v2 mode (a v2-only
/// global flag before the command, or a v2-only command)?
pub fn only_v2(args: &[String]) -> bool {
    let mut words = args.iter();
    while let Some(word) = words.next() {
        let Some(flag) = word.strip_prefix("--").or_else(|| word.strip_prefix('-')) else {
            return V2_ONLY_COMMANDS.contains(&word.as_str());
        };
        let (name, has_value) = match flag.split_once('=') {
            Some((name, _)) => (name, true),
            None => (flag, false),
        };
        if V2_ONLY_FLAGS.contains(&name) {
            return true;
        }
        if !has_value && VALUE_FLAGS.contains(&name) {
            words.next();
        }
    }
    false
}

pub fn main(args: &[String]) -> ExitCode {
    // urfave/cli: global flags come before the command, the command's own flags after it.
    let command_at = global_flags_end(args);
    let specs: Vec<&'static Spec> = FLAGS.iter().collect();
    let parsed = match flags::parse(&specs, &go_flags(&args[..command_at])) {
        Ok(parsed) => parsed,
        Err(error) => {
            let error = go_flag_error(&error);
            println!("Incorrect Usage. {error}\n");
            eprintln!("{error}");
            return ExitCode::from(EXIT_BAD_ARGS);
        }
    };
    let context = match Context::new(&parsed, &specs) {
        Ok(context) => context,
        Err(error) => {
            eprintln!("Error:  {error}");
            return ExitCode::from(EXIT_BAD_ARGS);
        }
    };
    let words: Vec<&str> = args[command_at..].iter().map(String::as_str).collect();
    let (command_flags, help, rest): (&'static [Spec], &str, &[String]) = match words.as_slice() {
        ["cluster-health", ..] => (
            CLUSTER_HEALTH_FLAGS,
            CLUSTER_HEALTH_HELP,
            &args[command_at + 1..],
        ),
        ["member", command, ..] if super::v2members::help(command).is_some() => {
            let help = super::v2members::help(command).unwrap_or_default();
            (&[], help, &args[command_at + 2..])
        }
        ["backup", ..] => return ExitCode::from(super::v2backup::run(&args[command_at + 1..])),
        [group, command, ..] if super::v2auth::serves(group, command) => {
            let code = super::v2auth::run(&context, group, command, &args[command_at + 2..]);
            return ExitCode::from(code);
        }
        [command, ..] if super::v2keys::COMMANDS.contains(command) => {
            let output = parsed.string(&specs, "output");
            let code = super::v2keys::run(&context, &output, command, &args[command_at + 1..]);
            return ExitCode::from(code);
        }
        [] => {
            println!("etcdctl (v2 API): cluster-health, member list/add/remove/update, user, role, auth enable/disable, backup, set, get, mk, mkdir, rm, rmdir, ls, update, updatedir");
            return ExitCode::SUCCESS;
        }
        [other, ..] => {
            eprintln!("etcdctl: the v2 command {other:?} is not part of this applet (cluster-health, the member commands and the key commands are)");
            return ExitCode::from(EXIT_BAD_ARGS);
        }
    };
    ExitCode::from(health_or_members(
        &context,
        &words,
        command_flags,
        help,
        rest,
    ))
}

/// `cluster-health` or a `member` command, with the command's own flags (`rest`).
fn health_or_members(
    context: &Context,
    words: &[&str],
    command_flags: &'static [Spec],
    help: &str,
    rest: &[String],
) -> u8 {
    let command_specs: Vec<&'static Spec> = command_flags.iter().collect();
    let command_parsed = match flags::parse(&command_specs, &go_flags(rest)) {
        Ok(parsed) => parsed,
        Err(error) => {
            let error = go_flag_error(&error);
            print!("Incorrect Usage: {error}\n\n{help}");
            eprintln!("{error}");
            return EXIT_BAD_ARGS;
        }
    };
    if words[0] != "cluster-health" {
        return super::v2members::run(context, words[1], &command_parsed.args);
    }
    let forever = command_parsed.bool(&command_specs, "forever");
    loop {
        let code = cluster_health(context);
        // As etcdctl: only listing the members once is fatal; health is checked again.
        if !forever || code == EXIT_SERVER_ERROR {
            return code;
        }
        print!("\nnext check after 10 second...\n\n");
        std::thread::sleep(std::time::Duration::from_secs(10));
    }
}

/// Where the command starts: the first argument that is neither a flag nor a flag's value.
fn global_flags_end(args: &[String]) -> usize {
    let mut i = 0;
    while i < args.len() {
        let Some(name) = args[i].trim_start_matches('-').split('=').next() else {
            break;
        };
        if !args[i].starts_with('-') {
            break;
        }
        let takes_value = !args[i].contains('=')
            && FLAGS.iter().any(|s| {
                (s.name == name || s.short.map(String::from).as_deref() == Some(name))
                    && s.kind != Kind::Bool
            });
        i += 1 + usize::from(takes_value);
    }
    i.min(args.len())
}

/// Go's flag package takes `-name` as well as `--name`.
pub(super) fn go_flags(args: &[String]) -> Vec<String> {
    // After `--` come arguments for another program (exec-watch's), left as they are.
    let flags_end = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (flags, others) = args.split_at(flags_end);
    flags
        .iter()
        .map(|a| match a.strip_prefix('-') {
            Some(rest)
                if !rest.starts_with('-') && rest.split('=').next().unwrap_or("").len() > 1 =>
            {
                format!("-{a}")
            }
            _ => a.clone(),
        })
        .chain(others.iter().cloned())
        .collect()
}

/// Go's flag package words an unknown flag as "flag provided but not defined: -name".
fn go_flag_error(pflag_error: &str) -> String {
    match pflag_error.strip_prefix("unknown flag: --") {
        Some(name) => format!("flag provided but not defined: -{name}"),
        None => pflag_error.to_string(),
    }
}

/// --discovery-srv (or ETCDCTL_DISCOVERY_SRV): the endpoints the domain's `_etcd-client`
/// SRV records name (ETCDCTL_DISCOVERY_SRV_NAME picks the service name), http ones only with
/// --insecure-discovery, as etcdctl v2's getDomainDiscoveryFlagValue.
fn discovered(parsed: &flags::Parsed, specs: &[&'static Spec]) -> Result<Vec<String>, String> {
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let mut domain = parsed.string(specs, "discovery-srv");
    if domain.is_empty() {
        domain = env("ETCDCTL_DISCOVERY_SRV");
    }
    if domain.is_empty() {
        return Ok(Vec::new());
    }
    let insecure =
        parsed.bool(specs, "insecure-discovery") || !env("ETCDCTL_INSECURE_DISCOVERY").is_empty();
    super::discovered_endpoints(&domain, &env("ETCDCTL_DISCOVERY_SRV_NAME"), insecure)
}

pub struct Context {
    pub endpoints: Vec<String>,
    route: crate::http1::Route,
    timeout: Duration,
    /// --username: the `Authorization: Basic ...` header v2 auth checks.
    basic_auth: Option<String>,
}

impl Context {
    fn new(parsed: &flags::Parsed, specs: &[&'static Spec]) -> Result<Context, String> {
        let from = |flag: &str, env: &str| {
            let value = parsed.string(specs, flag);
            if value.is_empty() {
                std::env::var(env).unwrap_or_default()
            } else {
                value
            }
        };
        let mut endpoints = discovered(parsed, specs)?.join(",");
        for (flag, env) in [
            ("endpoints", "ETCDCTL_ENDPOINTS"),
            ("endpoint", "ETCDCTL_ENDPOINT"),
            ("peers", "ETCDCTL_PEERS"),
        ] {
            if endpoints.is_empty() {
                endpoints = from(flag, env);
            }
        }
        if endpoints.is_empty() {
            endpoints = "http://127.0.0.1:2379,http://127.0.0.1:4001".into();
        }
        let endpoints = endpoints
            .split(',')
            .map(|e| {
                if e.contains("://") {
                    e.to_string()
                } else {
                    format!("http://{e}")
                }
            })
            .collect();
        let ca = from("ca-file", "ETCDCTL_CA_FILE");
        let cert = from("cert-file", "ETCDCTL_CERT_FILE");
        let key = from("key-file", "ETCDCTL_KEY_FILE");
        let tls = if ca.is_empty() && cert.is_empty() && key.is_empty() {
            None
        } else {
            Some(TlsFlags {
                ca: (!ca.is_empty()).then(|| ca.into()),
                cert: (!cert.is_empty()).then(|| cert.into()),
                key: (!key.is_empty()).then(|| key.into()),
                skip_verify: false,
            })
        };
        let mut context = Context::with(endpoints, tls, parsed.duration(specs, "total-timeout"))?;
        let username = from("username", "ETCDCTL_USERNAME");
        if !username.is_empty() {
            let (name, password) = match username.split_once(':') {
                Some((name, password)) => (name.to_string(), password.to_string()),
                None => {
                    let password = super::prompt::ask("Password: ")
                        .map_err(|e| format!("Error reading password: {e}"))?;
                    (username.clone(), password)
                }
            };
            let encoded = crate::golang::base64(format!("{name}:{password}").as_bytes());
            context.basic_auth = Some(format!("Basic {encoded}"));
        }
        Ok(context)
    }

    /// A context for `endpoints` (URLs), over TLS with `tls` if given, each request bounded by
    /// `timeout`.
    pub fn with(
        endpoints: Vec<String>,
        tls: Option<TlsFlags>,
        timeout: Duration,
    ) -> Result<Context, String> {
        let tls = match tls {
            None => None,
            Some(flags) => {
                let mut config = (*flags.client_config()?).clone();
                config.alpn_protocols = vec![b"http/1.1".to_vec()];
                Some(Arc::new(config))
            }
        };
        Ok(Context {
            endpoints,
            route: crate::http1::Route { tls, proxy: None },
            timeout,
            basic_auth: None,
        })
    }

    /// GET `url`: the status and body, or the error as Go's http client words it.
    pub fn get(&self, url: &str) -> Result<(u16, String), String> {
        self.call("GET", url, "")
            .map(|(status, _, body)| (status, body))
    }

    /// One request: status, X-Etcd-Index and body.
    fn call(&self, method: &str, url: &str, form: &str) -> Result<(u16, String, String), String> {
        crate::runtime::block_on(async {
            smol::future::or(self.fetch(method, url, form), async {
                smol::Timer::after(self.timeout).await;
                Err(format!("Get {url:?}: context deadline exceeded"))
            })
            .await
        })
    }

    /// A /v2/keys watch on the first endpoint that answers, for as long as it takes.
    pub fn request_waiting(&self, method: &str, path: &str) -> Result<(String, String), String> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            let url = format!("{}{path}", endpoint.trim_end_matches('/'));
            match crate::runtime::block_on(self.fetch(method, &url, "")) {
                Ok((_, index, body)) => return Ok((index, body)),
                Err(e) => errors.push(e),
            }
        }
        Err(unavailable(&errors))
    }

    /// A /v2/keys request to the first endpoint that answers: X-Etcd-Index and the body.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        form: &str,
    ) -> Result<(String, String), String> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            let url = format!("{}{path}", endpoint.trim_end_matches('/'));
            match self.call(method, &url, form) {
                Ok((_, index, body)) => return Ok((index, body)),
                Err(e) => errors.push(e),
            }
        }
        Err(unavailable(&errors))
    }

    async fn fetch(
        &self,
        method: &str,
        url: &str,
        form: &str,
    ) -> Result<(u16, String, String), String> {
        self.fetch_typed(method, url, "application/x-www-form-urlencoded", form)
            .await
    }

    /// One request whose body (if any) is of `content_type`: status, X-Etcd-Index and body.
    async fn fetch_typed(
        &self,
        method: &str,
        url: &str,
        content_type: &str,
        form: &str,
    ) -> Result<(u16, String, String), String> {
        let request = crate::http1::Request {
            method,
            url,
            content_type,
            body: form,
            authorization: self.basic_auth.as_deref(),
        };
        let answer = crate::http1::send(&request, &self.route).await?;
        Ok((answer.status, answer.etcd_index, answer.body))
    }

    /// A members API request with a JSON body to the first endpoint that answers: the status
    /// and body.
    pub fn send_json(&self, method: &str, path: &str, json: &str) -> Result<(u16, String), String> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            let url = format!("{}{path}", endpoint.trim_end_matches('/'));
            let answer = crate::runtime::block_on(async {
                smol::future::or(
                    self.fetch_typed(method, &url, "application/json", json),
                    async {
                        smol::Timer::after(self.timeout).await;
                        Err(format!("{method} {url:?}: context deadline exceeded"))
                    },
                )
                .await
            });
            match answer {
                Ok((status, _, body)) => return Ok((status, body)),
                Err(e) => errors.push(e),
            }
        }
        Err(unavailable(&errors))
    }

    /// The member list from the first endpoint that gives one.
    pub fn members(&self) -> Result<Vec<Member>, String> {
        let mut errors = Vec::new();
        for endpoint in &self.endpoints {
            let url = format!("{}/v2/members", endpoint.trim_end_matches('/'));
            match self.get(&url) {
                Ok((200, body)) => {
                    return serde_json::from_str::<Members>(&body)
                        .map(|m| m.members)
                        .map_err(|e| e.to_string())
                }
                Ok((status, _)) => return Err(format!("unexpected status code {status}")),
                Err(e) => errors.push(e),
            }
        }
        Err(unavailable(&errors))
    }
}

/// The Go client's error when no endpoint answered.
fn unavailable(errors: &[String]) -> String {
    let detail: Vec<String> = errors
        .iter()
        .enumerate()
        .map(|(i, e)| {
            format!(
                "error #{i}: {}",
                e.split_once(": ").map_or(e.as_str(), |p| p.1)
            )
        })
        .collect();
    format!(
        "client: etcd cluster is unavailable or misconfigured; {}",
        detail.join("; ")
    )
}

fn cluster_health(context: &Context) -> u8 {
    let members = match context.members() {
        Ok(members) => members,
        Err(error) => {
            println!("cluster may be unhealthy: failed to list members");
            eprintln!("Error:  {error}");
            return EXIT_SERVER_ERROR;
        }
    };
    let mut healthy = 0;
    for member in &members {
        if member.client_urls.is_empty() {
            println!(
                "member {} is unreachable: no available published client urls",
                member.id
            );
            continue;
        }
        let mut checked = false;
        for url in &member.client_urls {
            let answer = context.get(&format!("{url}/health")).and_then(|(_, body)| {
                serde_json::from_str::<HealthAnswer>(&body).map_err(|e| e.to_string())
            });
            match answer {
                Err(error) => println!(
                    "failed to check the health of member {} on {url}: {error}",
                    member.id
                ),
                Ok(answer) => {
                    checked = true;
                    let ok = answer.health == serde_json::Value::Bool(true)
                        || answer.health == serde_json::Value::String("true".into());
                    if ok {
                        println!(
                            "member {} is healthy: got healthy result from {url}",
                            member.id
                        );
                        healthy += 1;
                    } else {
                        println!(
                            "member {} is unhealthy: got unhealthy result from {url}",
                            member.id
                        );
                    }
                    break;
                }
            }
        }
        if !checked {
            println!(
                "member {} is unreachable: [{}] are all unreachable",
                member.id,
                member.client_urls.join(" ")
            );
        }
    }
    if healthy == members.len() {
        println!("cluster is healthy");
        0
    } else {
        if healthy == 0 {
            println!("cluster is unavailable");
        } else {
            println!("cluster is degraded");
        }
        EXIT_CLUSTER_NOT_HEALTHY
    }
}

#[cfg(test)]
mod tests {
    use super::only_v2;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn what_only_v2_has_runs_as_v2() {
        for v2 in [
            "--ca-file=/etc/etcd/ca.pem --cert-file=c --key-file=k cluster-health",
            "--ca-file /etc/etcd/ca.pem member list",
            "cluster-health",
            "--endpoints http://127.0.0.1:2379 ls /",
            "-C http://127.0.0.1:2379 member list",
            "--no-sync get foo",
        ] {
            assert!(only_v2(&words(v2)), "{v2}");
        }
        for v3 in [
            "get foo",
            "--endpoints cluster-health get foo",
            "put ls x",
            "--cacert=ca.pem --cert=c --key=k endpoint health",
            "member list",
            "-w json get set",
        ] {
            assert!(!only_v2(&words(v3)), "{v3}");
        }
    }
}

//! Server configuration: etcd's flags in every Go spelling, ETCD_* environment variables and a
//! TOML file, merged with precedence flags > env > file > defaults, then validated so that a bad
//! value is reported as one line naming the flag (or file) before anything touches the disk.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// How a flag takes its value, as Go's `flag` package distinguishes them.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `-flag`, `-flag=true|false`; never consumes the next argument.
    Bool,
    /// `-flag value` or `-flag=value`.
    Value,
}

/// Every flag the server accepts: (name as etcd spells it, kind, help text).
const FLAGS: &[(&str, Kind, &str)] = &[
    ("name", Kind::Value, "Human-readable name for this member."),
    (
        "data-dir",
        Kind::Value,
        "Path to the data directory (default \"${name}.etcd\").",
    ),
    (
        "config-file",
        Kind::Value,
        "Path to a TOML file whose keys are these flag names.",
    ),
    (
        "listen-client-urls",
        Kind::Value,
        "List of URLs to listen on for client traffic.",
    ),
    (
        "advertise-client-urls",
        Kind::Value,
        "List of this member's client URLs to advertise.",
    ),
    (
        "listen-peer-urls",
        Kind::Value,
        "List of URLs to listen on for peer traffic.",
    ),
    (
        "initial-advertise-peer-urls",
        Kind::Value,
        "List of this member's peer URLs to advertise.",
    ),
    (
        "initial-cluster",
        Kind::Value,
        "Initial cluster configuration for bootstrapping (name=url,...).",
    ),
    (
        "initial-cluster-token",
        Kind::Value,
        "Initial cluster token for the cluster during bootstrap.",
    ),
    (
        "initial-cluster-state",
        Kind::Value,
        "Initial cluster state ('new' or 'existing').",
    ),
    (
        "cert-file",
        Kind::Value,
        "Path to the client server TLS cert file.",
    ),
    (
        "key-file",
        Kind::Value,
        "Path to the client server TLS key file.",
    ),
    (
        "trusted-ca-file",
        Kind::Value,
        "Path to the client server TLS trusted CA cert file.",
    ),
    (
        "client-cert-auth",
        Kind::Bool,
        "Require client certificates signed by --trusted-ca-file.",
    ),
    (
        "peer-cert-file",
        Kind::Value,
        "Path to the peer server TLS cert file.",
    ),
    (
        "peer-key-file",
        Kind::Value,
        "Path to the peer server TLS key file.",
    ),
    (
        "peer-trusted-ca-file",
        Kind::Value,
        "Path to the peer server TLS trusted CA file.",
    ),
    (
        "peer-client-cert-auth",
        Kind::Bool,
        "Require peer certificates signed by --peer-trusted-ca-file.",
    ),
    (
        "heartbeat-interval",
        Kind::Value,
        "Time (in milliseconds) of a heartbeat interval.",
    ),
    (
        "election-timeout",
        Kind::Value,
        "Time (in milliseconds) for an election to timeout.",
    ),
    (
        "experimental-watch-progress-notify-interval",
        Kind::Value,
        "Duration of periodic watch progress notifications (default 10m).",
    ),
    (
        "experimental-enable-lease-checkpoint",
        Kind::Bool,
        "Enable to persist lease remaining TTL to prevent indefinite auto-renewal of long lived leases.",
    ),
    (
        "experimental-lease-checkpoint-interval",
        Kind::Value,
        "Duration of time between two lease checkpoints (default 5m).",
    ),
    (
        "snapshot-count",
        Kind::Value,
        "Number of committed transactions to trigger a snapshot to disk.",
    ),
    (
        "max-request-bytes",
        Kind::Value,
        "Maximum client request size in bytes the server will accept.",
    ),
    (
        "max-txn-ops",
        Kind::Value,
        "Maximum number of operations permitted in a transaction.",
    ),
    (
        "quota-backend-bytes",
        Kind::Value,
        "Raise alarms when backend size exceeds the given quota (0 defaults to 2 GiB).",
    ),
    (
        "enable-v2",
        Kind::Bool,
        "Accepted for compatibility; the v2-era endpoints we serve are always on.",
    ),
    (
        "logger",
        Kind::Value,
        "Accepted for compatibility ('capnslog' or 'zap'); logs go to stderr.",
    ),
    (
        "log-outputs",
        Kind::Value,
        "Accepted for compatibility ('default' or 'stderr'); logs go to stderr.",
    ),
    (
        "log-level",
        Kind::Value,
        "Configures log level: debug, info, warn, error.",
    ),
    ("debug", Kind::Bool, "Enable debug-level logging."),
    ("version", Kind::Bool, "Print the version and exit."),
    ("help", Kind::Bool, "Show this help and exit."),
];

const DEFAULT_CLIENT_URL: &str = "http://localhost:2379";
const DEFAULT_PEER_URL: &str = "http://localhost:2380";
/// etcd's default --max-request-bytes: 1.5 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: u64 = 1536 * 1024;
/// etcd's default quota: 2 GiB.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// A configuration problem, printed as one line and turned into a non-zero exit.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn error<T>(message: impl Into<String>) -> Result<T, ConfigError> {
    Err(ConfigError(message.into()))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A member URL: etcd only ever uses scheme://host:port, without a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!("URL scheme must be http or https: {text:?}"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && !port.is_empty() => (host, port),
            _ => {
                return Err(format!(
                    "URL address does not have the form \"host:port\": {text}"
                ))
            }
        };
        if host.contains('/') || port.contains('/') {
            return Err(format!("URL must not have a path: {text}"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("URL has an invalid port: {text}"))?;
        Ok(Url {
            scheme,
            host: host.to_string(),
            port,
        })
    }

    /// The host:port to bind; etcd accepts only IP addresses and `localhost` here.
    pub fn bind_address(&self) -> Result<String, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" {
            return Ok(format!("127.0.0.1:{}", self.port));
        }
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) => Ok(format!("[{ip}]:{}", self.port)),
            Ok(ip) => Ok(format!("{ip}:{}", self.port)),
            Err(_) => Err(format!("expected IP in URL for binding ({self})")),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// Certificate files of one side (clients or peers).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub trusted_ca_file: Option<PathBuf>,
    /// Require a client certificate signed by trusted_ca_file.
    pub client_cert_auth: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClusterState {
    New,
    Existing,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub data_dir: PathBuf,
    pub listen_client_urls: Vec<Url>,
    pub advertise_client_urls: Vec<Url>,
    pub listen_peer_urls: Vec<Url>,
    pub initial_advertise_peer_urls: Vec<Url>,
    /// (member name, peer URL) pairs; a member may appear once per URL.
    pub initial_cluster: Vec<(String, Url)>,
    pub initial_cluster_token: String,
    pub initial_cluster_state: ClusterState,
    pub client_tls: TlsFiles,
    pub peer_tls: TlsFiles,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    pub snapshot_count: u64,
    pub watch_progress_interval: std::time::Duration,
    /// --experimental-enable-lease-checkpoint: how often the leader checkpoints remaining TTLs.
    pub lease_checkpoint_interval: Option<std::time::Duration>,
    pub max_request_bytes: u64,
    pub max_txn_ops: usize,
    pub quota_backend_bytes: u64,
    pub log_level: log::LevelFilter,
}

/// What the command line asks for.
pub enum Command {
    Run(Box<Config>),
    Version,
    Help,
}

pub fn usage() -> String {
    let mut text = String::from("Usage:\n\n  etcd [flags]\n  etcd ctl|util ...\n\nFlags:\n");
    for (name, kind, help) in FLAGS {
        let value = if *kind == Kind::Value { " <value>" } else { "" };
        text.push_str(&format!("  --{name}{value}\n      {help}\n"));
    }
    text.push_str("\nEvery flag can also be set as ETCD_<FLAG> in the environment (ETCD_DATA_DIR for --data-dir)\nor as a key in the --config-file TOML; flags win over the environment, which wins over the file.\n");
    text
}

/// Parses argv (without the program name) and the environment into a validated configuration.
pub fn parse(args: &[String], env: &BTreeMap<String, String>) -> Result<Command, ConfigError> {
    let flags = parse_flags(args)?;
    if flags.contains_key("help") && is_true("help", &flags["help"])? {
        return Ok(Command::Help);
    }
    if flags.contains_key("version") && is_true("version", &flags["version"])? {
        return Ok(Command::Version);
    }
    let env_values = parse_env(env);
    let config_file = flags
        .get("config-file")
        .or_else(|| env_values.get("config-file"))
        .cloned();
    let mut merged = match config_file {
        Some(path) => parse_toml_file(&path)?,
        None => BTreeMap::new(),
    };
    merged.extend(env_values);
    merged.extend(flags);
    Ok(Command::Run(Box::new(build(&merged)?)))
}

fn find_flag(name: &str) -> Option<Kind> {
    FLAGS
        .iter()
        .find(|(flag, _, _)| *flag == name)
        .map(|(_, kind, _)| *kind)
}

fn read_config_file(path: &str) -> Result<String, ConfigError> {
    use std::io::Read;
    let cannot = |e: std::io::Error| ConfigError(format!("--config-file: cannot read {path}: {e}"));
    let file = std::fs::File::open(path).map_err(cannot)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_FILE_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(cannot)?;
    if text.len() as u64 > MAX_CONFIG_FILE_BYTES {
        return error(format!(
            "--config-file {path}: larger than {MAX_CONFIG_FILE_BYTES} bytes; not a configuration file"
        ));
    }
    Ok(text)
}

/// Go's flag syntax: one or two dashes, `=value` or the next argument, booleans never take the
/// next argument, parsing stops at `--`, and a positional argument is an error (as in etcd).
fn parse_flags(args: &[String]) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut values = BTreeMap::new();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        if arg == "--" {
            if let Some(extra) = args.get(index) {
                return error(format!("'{extra}' is not a valid flag"));
            }
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return error(format!("'{arg}' is not a valid flag"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        let name = if name == "h" { "help" } else { name };
        let Some(kind) = find_flag(name) else {
            return error(format!("flag provided but not defined: -{name}"));
        };
        let value = match (kind, inline) {
            (_, Some(value)) => value,
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Value, None) => match args.get(index) {
                Some(next) => {
                    index += 1;
                    next.clone()
                }
                None => return error(format!("flag needs an argument: -{name}")),
            },
        };
        if kind == Kind::Bool {
            is_true(name, &value)?;
        }
        values.insert(name.to_string(), value);
    }
    Ok(values)
}

/// ETCD_DATA_DIR -> data-dir, for every known flag; other ETCD_* variables are warned about.
fn parse_env(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("ETCD_") else {
            continue;
        };
        let name = rest.to_ascii_lowercase().replace('_', "-");
        if find_flag(&name).is_some() && name != "help" && name != "version" {
            values.insert(name, value.clone());
        } else {
            // Configuration is read before the logger starts, so this goes straight to stderr.
            eprintln!("etcd: [WARNING] unrecognized environment variable {key}");
        }
    }
    values
}

/// A configuration file larger than this is not one (say, --config-file /dev/zero).
const MAX_CONFIG_FILE_BYTES: u64 = 1024 * 1024;

fn parse_toml_file(path: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let text = read_config_file(path)?;
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ConfigError(format!("--config-file {path}: {}", e.message()))
    })?;
    let mut values = BTreeMap::new();
    for (key, value) in table {
        if find_flag(&key).is_none() || key == "config-file" || key == "help" || key == "version" {
            return error(format!("--config-file {path}: unknown key '{key}'"));
        }
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let mut parts = Vec::new();
                for item in items {
                    match item {
                        toml::Value::String(s) => parts.push(s),
                        _ => {
                            return error(format!(
                                "--config-file {path}: '{key}' must be a list of strings"
                            ))
                        }
                    }
                }
                parts.join(",")
            }
            _ => {
                return error(format!(
                    "--config-file {path}: '{key}' has an unsupported type"
                ))
            }
        };
        values.insert(key, text);
    }
    Ok(values)
}

/// Go's strconv.ParseBool.
fn is_true(flag: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => error(format!("invalid boolean value {value:?} for -{flag}")),
    }
}

fn parse_urls(flag: &str, value: &str) -> Result<Vec<Url>, ConfigError> {
    let urls: Result<Vec<Url>, String> = value.split(',').map(|u| Url::parse(u.trim())).collect();
    match urls {
        Ok(urls) if !urls.is_empty() => Ok(urls),
        Ok(_) => error(format!("--{flag}: at least one URL is required")),
        Err(e) => error(format!("--{flag}: {e}")),
    }
}

fn parse_number(flag: &str, value: &str) -> Result<u64, ConfigError> {
    value.parse::<u64>().map_err(|_| {
        ConfigError(format!(
            "invalid value {value:?} for flag -{flag}: parse error"
        ))
    })
}

fn parse_initial_cluster(value: &str) -> Result<Vec<(String, Url)>, ConfigError> {
    let mut members = Vec::new();
    for part in value.split(',') {
        let Some((name, url)) = part.split_once('=') else {
            return error(format!("--initial-cluster: {part:?} is not name=URL"));
        };
        let url =
            Url::parse(url.trim()).map_err(|e| ConfigError(format!("--initial-cluster: {e}")))?;
        members.push((name.trim().to_string(), url));
    }
    Ok(members)
}

/// A Go duration ("10m", "1m30s", "250ms"); must be positive.
fn parse_duration(flag: &str, text: &str) -> Result<std::time::Duration, ConfigError> {
    crate::golang::parse_duration(text)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            ConfigError(format!(
                "invalid value {text:?} for flag -{flag}: time: invalid duration {text:?}"
            ))
        })
}

/// Reads and validates the merged flag values into a Config.
fn build(values: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let get = |name: &str| values.get(name).map(String::as_str);
    let flag_bool = |name: &str| get(name).map(|v| is_true(name, v)).unwrap_or(Ok(false));
    let path = |name: &str| get(name).filter(|v| !v.is_empty()).map(PathBuf::from);

    let name = get("name").unwrap_or("default").to_string();
    let data_dir = path("data-dir").unwrap_or_else(|| PathBuf::from(format!("{name}.etcd")));
    let listen_client_urls = parse_urls(
        "listen-client-urls",
        get("listen-client-urls").unwrap_or(DEFAULT_CLIENT_URL),
    )?;
    let advertise_client_urls = parse_urls(
        "advertise-client-urls",
        get("advertise-client-urls").unwrap_or(DEFAULT_CLIENT_URL),
    )?;
    let listen_peer_urls = parse_urls(
        "listen-peer-urls",
        get("listen-peer-urls").unwrap_or(DEFAULT_PEER_URL),
    )?;
    let initial_advertise_peer_urls = parse_urls(
        "initial-advertise-peer-urls",
        get("initial-advertise-peer-urls").unwrap_or(DEFAULT_PEER_URL),
    )?;
    let initial_cluster = match get("initial-cluster") {
        Some(value) => parse_initial_cluster(value)?,
        None => initial_advertise_peer_urls
            .iter()
            .map(|u| (name.clone(), u.clone()))
            .collect(),
    };
    let initial_cluster_state = match get("initial-cluster-state").unwrap_or("new") {
        "new" => ClusterState::New,
        "existing" => ClusterState::Existing,
        other => {
            return error(format!(
            "invalid value {other:?} for flag -initial-cluster-state: must be 'new' or 'existing'"
        ))
        }
    };
    let number = |flag: &str, default: u64| {
        get(flag)
            .map(|v| parse_number(flag, v))
            .unwrap_or(Ok(default))
    };
    let quota_backend_bytes = match number("quota-backend-bytes", 0)? {
        0 => DEFAULT_QUOTA_BACKEND_BYTES,
        quota => quota,
    };
    let log_level = match (flag_bool("debug")?, get("log-level").unwrap_or("info")) {
        (true, _) | (_, "debug") => log::LevelFilter::Debug,
        (_, "info") => log::LevelFilter::Info,
        (_, "warn") => log::LevelFilter::Warn,
        (_, "error" | "panic" | "fatal") => log::LevelFilter::Error,
        (_, other) => return error(format!("invalid value {other:?} for flag -log-level")),
    };
    let client_tls = TlsFiles {
        cert_file: path("cert-file"),
        key_file: path("key-file"),
        trusted_ca_file: path("trusted-ca-file"),
        client_cert_auth: flag_bool("client-cert-auth")?,
    };
    let peer_tls = TlsFiles {
        cert_file: path("peer-cert-file"),
        key_file: path("peer-key-file"),
        trusted_ca_file: path("peer-trusted-ca-file"),
        client_cert_auth: flag_bool("peer-client-cert-auth")?,
    };
    flag_bool("enable-v2")?;
    let config = Config {
        initial_cluster_token: get("initial-cluster-token")
            .unwrap_or("etcd-cluster")
            .to_string(),
        heartbeat_interval_ms: number("heartbeat-interval", 100)?,
        election_timeout_ms: number("election-timeout", 1000)?,
        snapshot_count: number("snapshot-count", 100_000)?,
        watch_progress_interval: match get("experimental-watch-progress-notify-interval") {
            Some(text) => parse_duration("experimental-watch-progress-notify-interval", text)?,
            None => std::time::Duration::from_secs(600),
        },
        lease_checkpoint_interval: match (
            flag_bool("experimental-enable-lease-checkpoint")?,
            get("experimental-lease-checkpoint-interval"),
        ) {
            (false, _) => None,
            (true, None) => Some(std::time::Duration::from_secs(300)),
            // etcd's lessor takes 0 as its default.
            (true, Some(text)) => Some(
                match parse_duration("experimental-lease-checkpoint-interval", text)? {
                    zero if zero.is_zero() => std::time::Duration::from_secs(300),
                    interval => interval,
                },
            ),
        },
        max_request_bytes: number("max-request-bytes", DEFAULT_MAX_REQUEST_BYTES)?,
        max_txn_ops: number("max-txn-ops", 128)? as usize,
        name,
        data_dir,
        listen_client_urls,
        advertise_client_urls,
        listen_peer_urls,
        initial_advertise_peer_urls,
        initial_cluster,
        initial_cluster_state,
        client_tls,
        peer_tls,
        quota_backend_bytes,
        log_level,
    };
    validate(&config)?;
    Ok(config)
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    if config.snapshot_count == 0 {
        return error("--snapshot-count must be greater than 0");
    }
    if config.heartbeat_interval_ms == 0 {
        return error("--heartbeat-interval must be greater than 0");
    }
    if config.election_timeout_ms < 5 * config.heartbeat_interval_ms {
        return error(format!(
            "--election-timeout[{}ms] should be at least as 5 times as --heartbeat-interval[{}ms]",
            config.election_timeout_ms, config.heartbeat_interval_ms
        ));
    }
    for (flag, urls) in [
        ("listen-client-urls", &config.listen_client_urls),
        ("listen-peer-urls", &config.listen_peer_urls),
    ] {
        for url in urls {
            url.bind_address()
                .map_err(|e| ConfigError(format!("--{flag}: {e}")))?;
        }
    }
    let own_urls: Vec<&Url> = config
        .initial_cluster
        .iter()
        .filter(|(member, _)| *member == config.name)
        .map(|(_, url)| url)
        .collect();
    if own_urls.is_empty() {
        return error(format!(
            "--initial-cluster has no entry for this member's --name {:?}",
            config.name
        ));
    }
    let mut own_sorted: Vec<String> = own_urls.iter().map(|u| u.to_string()).collect();
    let mut advertised: Vec<String> = config
        .initial_advertise_peer_urls
        .iter()
        .map(Url::to_string)
        .collect();
    own_sorted.sort();
    advertised.sort();
    if own_sorted != advertised {
        return error(format!(
            "--initial-cluster has {}={} but missing from --initial-advertise-peer-urls={}",
            config.name,
            own_sorted.join(","),
            advertised.join(",")
        ));
    }
    validate_tls("", &config.client_tls, &config.listen_client_urls, "client")?;
    validate_tls("peer-", &config.peer_tls, &config.listen_peer_urls, "peer")?;
    Ok(())
}

/// Cert files named on the command line must be readable now, and an https listener needs them.
fn validate_tls(prefix: &str, tls: &TlsFiles, urls: &[Url], side: &str) -> Result<(), ConfigError> {
    for (flag, file) in [
        ("cert-file", &tls.cert_file),
        ("key-file", &tls.key_file),
        ("trusted-ca-file", &tls.trusted_ca_file),
    ] {
        if let Some(file) = file {
            if let Err(e) = std::fs::File::open(file) {
                return error(format!(
                    "--{prefix}{flag}: cannot read {}: {e}",
                    file.display()
                ));
            }
        }
    }
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return error(format!(
            "--{prefix}cert-file and --{prefix}key-file must be given together"
        ));
    }
    if let Some(url) = urls.iter().find(|u| u.scheme == Scheme::Https) {
        if tls.cert_file.is_none() {
            return error(format!(
                "TLS key/cert (--{prefix}cert-file, --{prefix}key-file) must be provided for {side} url {url} with HTTPS scheme"
            ));
        }
    }
    if tls.client_cert_auth && tls.trusted_ca_file.is_none() {
        return error(format!(
            "--{prefix}client-cert-auth requires --{prefix}trusted-ca-file"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn run(list: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        match parse(&args(list), &env)? {
            Command::Run(config) => Ok(*config),
            _ => panic!("expected a run command"),
        }
    }

    #[test]
    fn go_flag_spellings_are_equivalent() {
        for form in [
            &["--name", "master"][..],
            &["--name=master"],
            &["-name", "master"],
            &["-name=master"],
        ] {
            let mut list = form.to_vec();
            list.extend(["--initial-cluster", "master=http://localhost:2380"]);
            assert_eq!(run(&list, &[]).unwrap().name, "master");
        }
        let flags = parse_flags(&args(&[
            "--client-cert-auth=false",
            "-peer-client-cert-auth",
            "--debug=true",
        ]))
        .unwrap();
        assert_eq!(flags["client-cert-auth"], "false");
        assert_eq!(flags["peer-client-cert-auth"], "true");
        assert_eq!(flags["debug"], "true");
        let error = parse_flags(&args(&["--client-cert-auth=yes"])).unwrap_err();
        assert_eq!(
            error.0,
            "invalid boolean value \"yes\" for -client-cert-auth"
        );
    }

    #[test]
    fn defaults_are_etcds() {
        let config = run(&[], &[]).unwrap();
        assert_eq!(config.name, "default");
        assert_eq!(config.data_dir, PathBuf::from("default.etcd"));
        assert_eq!(
            config.listen_client_urls[0].to_string(),
            "http://localhost:2379"
        );
        assert_eq!(
            config.initial_cluster,
            vec![(
                "default".to_string(),
                Url::parse("http://localhost:2380").unwrap()
            )]
        );
        assert_eq!(config.max_request_bytes, 1_572_864);
        assert_eq!(config.initial_cluster_token, "etcd-cluster");
    }

    #[test]
    fn flags_win_over_environment() {
        let config = run(
            &["--data-dir", "/flag"],
            &[("ETCD_DATA_DIR", "/env"), ("ETCD_MAX_TXN_OPS", "7")],
        )
        .unwrap();
        assert_eq!(config.data_dir, PathBuf::from("/flag"));
        assert_eq!(config.max_txn_ops, 7);
    }

    #[test]
    fn mixed_http_and_https_client_urls_parse() {
        let urls = parse_urls(
            "listen-client-urls",
            "https://10.140.0.2:2379,http://127.0.0.1:2379",
        )
        .unwrap();
        assert_eq!(urls[0].scheme, Scheme::Https);
        assert_eq!(urls[1].to_string(), "http://127.0.0.1:2379");
    }

    #[test]
    fn bad_input_names_the_flag() {
        let unknown = run(&["--no-such-flag"], &[]).unwrap_err();
        assert_eq!(unknown.0, "flag provided but not defined: -no-such-flag");
        let url = run(&["--listen-client-urls", "localhost:2379"], &[]).unwrap_err();
        assert!(
            url.0
                .starts_with("--listen-client-urls: URL scheme must be http or https"),
            "{url}"
        );
        let missing = run(
            &[
                "--cert-file",
                "/nonexistent/cert.pem",
                "--key-file",
                "/nonexistent/key.pem",
            ],
            &[],
        )
        .unwrap_err();
        assert!(
            missing
                .0
                .starts_with("--cert-file: cannot read /nonexistent/cert.pem"),
            "{missing}"
        );
        let positional = run(&["stray"], &[]).unwrap_err();
        assert_eq!(positional.0, "'stray' is not a valid flag");
        let needs = run(&["--name"], &[]).unwrap_err();
        assert_eq!(needs.0, "flag needs an argument: -name");
    }

    #[test]
    fn https_listener_requires_a_certificate() {
        let err = run(&["--listen-client-urls", "https://127.0.0.1:2379"], &[]).unwrap_err();
        assert!(
            err.0.contains("--cert-file, --key-file) must be provided"),
            "{err}"
        );
    }

    #[test]
    fn fuzz_flags_and_environment() {
        // Arguments separated by NUL; a line starting with ETCD_ is an environment variable.
        let seeds = [
            b"--name\0master\0--initial-cluster=master=http://localhost:2380\0--listen-client-urls\0https://10.0.0.1:2379,http://127.0.0.1:2379\0--heartbeat-interval=100\0--election-timeout\x001000".to_vec(),
            b"-snapshot-count=5\0--client-cert-auth\0--cert-file=/x\0--key-file=/y\0ETCD_DATA_DIR=/tmp/x\0ETCD_MAX_TXN_OPS=3".to_vec(),
            b"--experimental-lease-checkpoint-interval=1m30s\0--quota-backend-bytes\x008589934592\0--\0stray".to_vec(),
        ];
        crate::fuzz::run("flags", &seeds, |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let (mut args, mut env) = (Vec::new(), BTreeMap::new());
            for part in text.split('\0') {
                match part
                    .strip_prefix("ETCD_")
                    .and_then(|rest| rest.split_once('='))
                {
                    Some((name, value)) => {
                        env.insert(format!("ETCD_{name}"), value.to_string());
                    }
                    // Files are read by the test of --config-file, not from random paths.
                    None if part.contains("config-file") => {}
                    None => args.push(part.to_string()),
                }
            }
            env.remove("ETCD_CONFIG_FILE");
            let _ = parse(&args, &env);
        });
    }
}

//! Server configuration: etcd 3.4's 80 flags (the table in flags.rs) in every Go spelling,
//! ETCD_* environment variables, and a configuration file (etcd's YAML, or our TOML), then
//! validated so that a bad value is reported as one line naming the flag (or file) before
//! anything touches the disk. Precedence: flags > env > TOML file > defaults; a YAML file, as in
//! etcd, replaces flags and environment altogether.

mod file;
pub mod flags;
mod yaml;

use crate::url::{Scheme, Url};

pub use crate::tls::TlsFiles;
use flags::default_value;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// etcd's default quota: 2 GiB.
pub const DEFAULT_QUOTA_BACKEND_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// HTTP/2 streams per client connection unless --max-concurrent-streams says otherwise (etcd:
/// unlimited); each stream costs a task and buffers.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 4096;
/// etcd's longest election timeout.
const MAX_ELECTION_TIMEOUT_MS: u64 = 50_000;

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
pub enum ClusterState {
    New,
    Existing,
}

/// --auto-compaction-mode with --auto-compaction-retention.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep this much history (time).
    Periodic(Duration),
    /// Keep this many revisions.
    Revision(i64),
}

/// --discovery* flags: how a new cluster finds its members.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Discovery {
    /// An etcd v2 discovery service URL (etcd's --discovery).
    Url { url: String, proxy: Option<String> },
    /// DNS SRV records under a domain (etcd's --discovery-srv, --discovery-srv-name).
    Srv { domain: String, name: String },
}

/// --auth-token, --bcrypt-cost, --auth-token-ttl.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthOptions {
    /// "simple", or "jwt,pub-key=...,priv-key=...,sign-method=..."
    pub token: String,
    pub bcrypt_cost: u32,
    pub token_ttl_s: u64,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub name: String,
    pub data_dir: PathBuf,
    /// --wal-dir: the WAL on its own disk (default: member/wal in the data dir).
    pub wal_dir: Option<PathBuf>,
    pub listen_client_urls: Vec<Url>,
    pub advertise_client_urls: Vec<Url>,
    pub listen_peer_urls: Vec<Url>,
    pub initial_advertise_peer_urls: Vec<Url>,
    /// --listen-metrics-urls: /metrics and /health on listeners of their own.
    pub listen_metrics_urls: Vec<Url>,
    /// (member name, peer URL) pairs; a member may appear once per URL.
    pub initial_cluster: Vec<(String, Url)>,
    pub initial_cluster_token: String,
    pub initial_cluster_state: ClusterState,
    /// --discovery / --discovery-srv: how a new member finds the initial cluster.
    pub discovery: Option<Discovery>,
    pub client_tls: TlsFiles,
    pub peer_tls: TlsFiles,
    /// --cipher-suites, by Go's names (empty: the TLS library's defaults).
    pub cipher_suites: Vec<String>,
    pub heartbeat_interval_ms: u64,
    pub election_timeout_ms: u64,
    /// Fast-forward the election clock at start (etcd's --initial-election-tick-advance).
    pub initial_election_tick_advance: bool,
    pub pre_vote: bool,
    /// Refuse membership changes that would leave too few started members.
    pub strict_reconfig_check: bool,
    pub snapshot_count: u64,
    /// How often applied changes are made durable in the store (a checkpoint), at most.
    pub backend_batch_interval: Duration,
    /// ... or after this many applied entries (0: by time only).
    pub backend_batch_limit: u64,
    pub auto_compaction: Option<AutoCompaction>,
    pub watch_progress_interval: Duration,
    /// --experimental-enable-lease-checkpoint: how often the leader checkpoints remaining TTLs.
    pub lease_checkpoint_interval: Option<Duration>,
    pub max_request_bytes: u64,
    pub max_txn_ops: usize,
    pub max_concurrent_streams: u32,
    pub quota_backend_bytes: u64,
    /// HTTP/2 pings to each client connection (None: off) and how long one may go unanswered.
    pub grpc_keepalive_interval: Option<Duration>,
    pub grpc_keepalive_timeout: Option<Duration>,
    /// Origins allowed by CORS ("*" or empty: any).
    pub cors: Vec<String>,
    /// Host headers a plain-HTTP request may carry ("*" or empty: any).
    pub host_whitelist: Vec<String>,
    #[allow(dead_code)] // Read by the v2 API (issue 17).
    pub enable_v2: bool,
    #[allow(dead_code)] // Read by the auth layer (issue 15).
    pub auth: AuthOptions,
    pub initial_corrupt_check: bool,
    pub corrupt_check_interval: Option<Duration>,
    /// An apply slower than this is logged.
    pub warning_apply_duration: Duration,
    /// Start this member's data as a one-member cluster (etcd's recovery after losing quorum).
    pub force_new_cluster: bool,
    pub log_level: log::LevelFilter,
    /// Flags given that change nothing here, each with why (logged at start).
    pub notes: Vec<String>,
}

/// What the command line asks for.
pub enum Command {
    Run(Box<Config>),
    Version,
    Help,
}

pub fn usage() -> String {
    flags::usage()
}

/// Parses argv (without the program name) and the environment into a validated configuration.
pub fn parse(args: &[String], env: &BTreeMap<String, String>) -> Result<Command, ConfigError> {
    let flags = flags::parse_flags(args)?;
    if flags.contains_key("help") && is_true("help", &flags["help"])? {
        return Ok(Command::Help);
    }
    if flags.contains_key("version") && is_true("version", &flags["version"])? {
        return Ok(Command::Version);
    }
    let env_values = flags::parse_env(env);
    let config_file = flags
        .get("config-file")
        .or_else(|| env_values.get("config-file"))
        .cloned();
    let merged = match config_file {
        Some(path) => {
            let loaded = file::load(&path)?;
            if loaded.format == file::Format::Yaml {
                // etcd's rule for its configuration file.
                eprintln!("etcd: loaded server configuration from {path}; other configuration command line flags and environment variables are ignored");
                loaded.values
            } else {
                let mut merged = loaded.values;
                merged.extend(env_values);
                merged.extend(flags);
                merged
            }
        }
        None => {
            let mut merged = env_values;
            merged.extend(flags);
            merged
        }
    };
    Ok(Command::Run(Box::new(build(&merged)?)))
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

pub fn parse_initial_cluster(value: &str) -> Result<Vec<(String, Url)>, ConfigError> {
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

/// The merged flag values, read through the table's defaults.
struct Values<'a>(&'a BTreeMap<String, String>);

impl Values<'_> {
    fn given(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// The value set, or the flag's default.
    fn text(&self, name: &str) -> &str {
        self.given(name).unwrap_or_else(|| default_value(name))
    }

    fn boolean(&self, name: &str) -> Result<bool, ConfigError> {
        is_true(name, self.text(name))
    }

    fn number(&self, name: &str) -> Result<u64, ConfigError> {
        parse_number(name, self.text(name))
    }

    /// A Go duration, zero allowed (an empty value is zero).
    fn duration(&self, name: &str) -> Result<Duration, ConfigError> {
        match self.text(name) {
            "" => Ok(Duration::ZERO),
            text => crate::golang::parse_duration(text).map_err(|_| {
                ConfigError(format!(
                    "invalid value {text:?} for flag -{name}: parse error"
                ))
            }),
        }
    }

    /// A duration whose zero means "off".
    fn optional_duration(&self, name: &str) -> Result<Option<Duration>, ConfigError> {
        Ok(Some(self.duration(name)?).filter(|d| !d.is_zero()))
    }

    /// A comma-separated URL list of at least one URL.
    fn urls(&self, name: &str) -> Result<Vec<Url>, ConfigError> {
        parse_urls(name, self.text(name))
    }

    /// A comma-separated URL list, empty when the flag is.
    fn optional_urls(&self, name: &str) -> Result<Vec<Url>, ConfigError> {
        match self.text(name) {
            "" => Ok(Vec::new()),
            urls => parse_urls(name, urls),
        }
    }

    fn path(&self, name: &str) -> Option<PathBuf> {
        self.given(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    }

    fn word(&self, name: &str) -> Option<String> {
        self.given(name)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// A comma-separated list, empty items left out.
    fn list(&self, name: &str) -> Vec<String> {
        self.text(name)
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// One of `choices`, as etcd's selective flags take them.
    fn choice(&self, name: &str, choices: &[&str]) -> Result<String, ConfigError> {
        let value = self.text(name);
        if choices.contains(&value) {
            return Ok(value.to_string());
        }
        error(format!(
            "invalid value {value:?} for flag -{name}: valid values are {:?}",
            choices
        ))
    }
}

/// Reads and validates the merged flag values into a Config.
fn build(values: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let v = Values(values);
    refuse_unsupported(&v)?;
    let name = v.text("name").to_string();
    let data_dir = v
        .path("data-dir")
        .unwrap_or_else(|| PathBuf::from(format!("{name}.etcd")));
    let initial_advertise_peer_urls = v.urls("initial-advertise-peer-urls")?;
    let discovery = discovery(&v)?;
    let initial_cluster = initial_cluster(&v, &name, &initial_advertise_peer_urls)?;
    let (listen_client_urls, advertise_client_urls) = client_urls(&v)?;
    let config = Config {
        listen_client_urls,
        advertise_client_urls,
        listen_peer_urls: v.urls("listen-peer-urls")?,
        listen_metrics_urls: v.optional_urls("listen-metrics-urls")?,
        initial_cluster_token: v.text("initial-cluster-token").to_string(),
        initial_cluster_state: cluster_state(&v)?,
        client_tls: tls(&v, "")?,
        peer_tls: tls(&v, "peer-")?,
        cipher_suites: v.list("cipher-suites"),
        heartbeat_interval_ms: v.number("heartbeat-interval")?,
        election_timeout_ms: v.number("election-timeout")?,
        initial_election_tick_advance: v.boolean("initial-election-tick-advance")?,
        pre_vote: v.boolean("pre-vote")?,
        strict_reconfig_check: v.boolean("strict-reconfig-check")?,
        snapshot_count: v.number("snapshot-count")?,
        backend_batch_interval: or_default(
            v.duration("backend-batch-interval")?,
            DEFAULT_BACKEND_BATCH_INTERVAL,
        ),
        backend_batch_limit: or_default(
            v.number("backend-batch-limit")?,
            DEFAULT_BACKEND_BATCH_LIMIT,
        ),
        auto_compaction: auto_compaction(&v)?,
        watch_progress_interval: parse_duration(
            "experimental-watch-progress-notify-interval",
            v.text("experimental-watch-progress-notify-interval"),
        )?,
        lease_checkpoint_interval: lease_checkpoint_interval(&v)?,
        max_request_bytes: v.number("max-request-bytes")?,
        max_txn_ops: v.number("max-txn-ops")? as usize,
        max_concurrent_streams: max_concurrent_streams(&v)?,
        quota_backend_bytes: or_default(
            v.number("quota-backend-bytes")?,
            DEFAULT_QUOTA_BACKEND_BYTES,
        ),
        grpc_keepalive_interval: v.optional_duration("grpc-keepalive-interval")?,
        grpc_keepalive_timeout: v.optional_duration("grpc-keepalive-timeout")?,
        cors: v.list("cors"),
        host_whitelist: v.list("host-whitelist"),
        enable_v2: v.boolean("enable-v2")?,
        auth: auth(&v)?,
        initial_corrupt_check: v.boolean("experimental-initial-corrupt-check")?,
        corrupt_check_interval: v.optional_duration("experimental-corrupt-check-time")?,
        warning_apply_duration: v.duration("experimental-warning-apply-duration")?,
        force_new_cluster: v.boolean("force-new-cluster")?,
        log_level: log_level(&v)?,
        notes: notes(values),
        wal_dir: v.path("wal-dir"),
        name,
        data_dir,
        initial_advertise_peer_urls,
        initial_cluster,
        discovery,
    };
    checked_but_unused(&v)?;
    validate(&config).map(|()| config)
}

/// Flags for parts of etcd this member does not have, where taking them would mislead.
fn refuse_unsupported(v: &Values) -> Result<(), ConfigError> {
    let proxy = v.choice("proxy", &["off", "readonly", "on"])?;
    if proxy != "off" {
        return error(format!(
            "--proxy={proxy}: this etcd has no v2 proxy mode; run the member itself (--proxy=off) or a TCP load balancer"
        ));
    }
    if let Some(prefix) = v.word("experimental-enable-v2v3") {
        return error(format!(
            "--experimental-enable-v2v3={prefix}: not supported: the v2 API is served from its own store (--enable-v2)"
        ));
    }
    Ok(())
}

/// Flags whose values are checked as etcd checks them but change nothing here (their parts
/// do not exist in this member); `notes` says so at start.
fn checked_but_unused(v: &Values) -> Result<(), ConfigError> {
    for flag in [
        "max-snapshots",
        "max-wals",
        "experimental-compaction-batch-limit",
        "proxy-failure-wait",
        "proxy-refresh-interval",
        "proxy-dial-timeout",
        "proxy-write-timeout",
        "proxy-read-timeout",
    ] {
        v.number(flag)?;
    }
    v.duration("grpc-keepalive-min-time")?;
    v.boolean("enable-pprof")?;
    v.choice("metrics", &["basic", "extensive"])?;
    v.choice("discovery-fallback", &["exit", "proxy"])?;
    v.choice("logger", &["capnslog", "zap"])?;
    v.choice(
        "experimental-backend-bbolt-freelist-type",
        &["array", "map"],
    )?;
    Ok(())
}

/// One line per flag given that changes nothing here, and why; logged at start.
fn notes(values_given: &BTreeMap<String, String>) -> Vec<String> {
    const NOTES: &[(&str, &str)] = &[
        (
            "max-snapshots",
            "this member keeps no snapshot files: its store is the snapshot",
        ),
        (
            "max-wals",
            "WAL segments are removed as soon as a store checkpoint holds their entries",
        ),
        (
            "grpc-keepalive-min-time",
            "clients' HTTP/2 pings are not policed",
        ),
        (
            "enable-pprof",
            "there is no Go profiler here; use `perf record -g -p <pid>`",
        ),
        (
            "logger",
            "logs are one line per record on stderr (the journal under systemd)",
        ),
        (
            "log-outputs",
            "logs are one line per record on stderr (the journal under systemd)",
        ),
        (
            "log-package-levels",
            "one --log-level applies to every part",
        ),
        (
            "experimental-backend-bbolt-freelist-type",
            "the store is LMDB, which keeps its own free list",
        ),
        (
            "experimental-compaction-batch-limit",
            "a compaction runs inside one apply transaction",
        ),
        (
            "discovery-fallback",
            "a member whose discovery fails exits (there is no v2 proxy)",
        ),
        ("proxy-failure-wait", "there is no v2 proxy"),
        ("proxy-refresh-interval", "there is no v2 proxy"),
        ("proxy-dial-timeout", "there is no v2 proxy"),
        ("proxy-write-timeout", "there is no v2 proxy"),
        ("proxy-read-timeout", "there is no v2 proxy"),
        ("metrics", "etcd's extensive histograms are not written"),
    ];
    NOTES
        .iter()
        .filter(|(flag, _)| values_given.contains_key(*flag))
        .map(|(flag, why)| format!("--{flag} is accepted and changes nothing here: {why}"))
        .collect()
}

fn tls(v: &Values, prefix: &str) -> Result<TlsFiles, ConfigError> {
    let client_side = prefix.is_empty();
    Ok(TlsFiles {
        cert_file: v.path(&format!("{prefix}cert-file")),
        key_file: v.path(&format!("{prefix}key-file")),
        trusted_ca_file: v.path(&format!("{prefix}trusted-ca-file")),
        client_cert_auth: v.boolean(&format!("{prefix}client-cert-auth"))?,
        crl_file: v.path(&format!(
            "{}crl-file",
            if client_side { "client-" } else { "peer-" }
        )),
        auto_tls: v.boolean(&format!("{prefix}auto-tls"))?,
        allowed_cn: if client_side {
            None
        } else {
            v.word("peer-cert-allowed-cn")
        },
        allowed_hostname: v.word(if client_side {
            "client-cert-allowed-hostname"
        } else {
            "peer-cert-allowed-hostname"
        }),
        skip_client_san_verification: !client_side
            && v.boolean("experimental-peer-skip-client-san-verification")?,
    })
}

fn auto_compaction(v: &Values) -> Result<Option<AutoCompaction>, ConfigError> {
    let mode = v.text("auto-compaction-mode");
    let retention = v.text("auto-compaction-retention");
    if mode != "periodic" && mode != "revision" {
        return error(format!("unknown auto-compaction-mode {mode:?}"));
    }
    // etcd's parseCompactionRetention: a bare number is hours (periodic) or revisions.
    let compaction = match (mode, retention.parse::<i64>()) {
        (_, Ok(0)) => None,
        ("revision", Ok(revisions)) if revisions > 0 => Some(AutoCompaction::Revision(revisions)),
        ("periodic", Ok(hours)) if hours > 0 => Some(AutoCompaction::Periodic(Duration::from_secs(hours as u64 * 3600))),
        ("periodic", Err(_)) => match crate::golang::parse_duration(retention) {
            Ok(zero) if zero.is_zero() => None,
            Ok(period) => Some(AutoCompaction::Periodic(period)),
            Err(e) => return error(format!("error parsing CompactionRetention: {e}")),
        },
        _ => {
            return error(format!(
                "invalid value {retention:?} for flag -auto-compaction-retention: {mode} compaction keeps a positive number of {}",
                if mode == "revision" { "revisions" } else { "hours, or a duration" }
            ))
        }
    };
    Ok(compaction)
}

/// etcd's backend commits applied changes this often (--backend-batch-interval 0)...
const DEFAULT_BACKEND_BATCH_INTERVAL: Duration = Duration::from_millis(100);
/// ...or after this many (--backend-batch-limit 0).
const DEFAULT_BACKEND_BATCH_LIMIT: u64 = 10_000;
/// etcd's lessor checkpoints this often when --experimental-lease-checkpoint-interval is 0.
const DEFAULT_LEASE_CHECKPOINT_INTERVAL: Duration = Duration::from_secs(300);

/// A value whose zero means "etcd's default".
fn or_default<T: Default + PartialEq>(value: T, default: T) -> T {
    if value == T::default() {
        default
    } else {
        value
    }
}

/// --listen-client-urls and --advertise-client-urls (the second is required with the first).
fn client_urls(v: &Values) -> Result<(Vec<Url>, Vec<Url>), ConfigError> {
    let listen = parse_urls("listen-client-urls", v.text("listen-client-urls"))?;
    let advertise = parse_urls("advertise-client-urls", v.text("advertise-client-urls"))?;
    // etcd checks this once the URLs parse.
    if v.given("listen-client-urls").is_some() && v.given("advertise-client-urls").is_none() {
        return error(
            "--advertise-client-urls is required when --listen-client-urls is set explicitly",
        );
    }
    Ok((listen, advertise))
}

/// --initial-cluster; without it, this member alone (also the placeholder --discovery
/// replaces).
fn initial_cluster(
    v: &Values,
    name: &str,
    advertised: &[Url],
) -> Result<Vec<(String, Url)>, ConfigError> {
    match v.given("initial-cluster") {
        Some(value) => parse_initial_cluster(value),
        None => Ok(advertised
            .iter()
            .map(|u| (name.to_string(), u.clone()))
            .collect()),
    }
}

/// --max-concurrent-streams, capped at what HTTP/2 can say (u32).
fn max_concurrent_streams(v: &Values) -> Result<u32, ConfigError> {
    Ok(match v.given("max-concurrent-streams") {
        None => DEFAULT_MAX_CONCURRENT_STREAMS,
        Some(text) => parse_number("max-concurrent-streams", text)?.min(u64::from(u32::MAX)) as u32,
    })
}

fn cluster_state(v: &Values) -> Result<ClusterState, ConfigError> {
    match v.text("initial-cluster-state") {
        "new" => Ok(ClusterState::New),
        "existing" => Ok(ClusterState::Existing),
        other => error(format!(
            "invalid value {other:?} for flag -initial-cluster-state: must be 'new' or 'existing'"
        )),
    }
}

/// How often the leader checkpoints lease TTLs (None: --experimental-enable-lease-checkpoint
/// is off).
fn lease_checkpoint_interval(v: &Values) -> Result<Option<Duration>, ConfigError> {
    if !v.boolean("experimental-enable-lease-checkpoint")? {
        return Ok(None);
    }
    Ok(Some(or_default(
        v.duration("experimental-lease-checkpoint-interval")?,
        DEFAULT_LEASE_CHECKPOINT_INTERVAL,
    )))
}

fn discovery(v: &Values) -> Result<Option<Discovery>, ConfigError> {
    let url = v.word("discovery");
    let srv = v.word("discovery-srv");
    let chosen = [
        url.is_some(),
        srv.is_some(),
        v.given("initial-cluster").is_some(),
    ];
    if chosen.iter().filter(|set| **set).count() > 1 {
        return error("multiple discovery or bootstrap flags are set. Choose one of \"initial-cluster\", \"discovery\" or \"discovery-srv\"");
    }
    Ok(match (url, srv) {
        (Some(url), _) => Some(Discovery::Url {
            url,
            proxy: v.word("discovery-proxy"),
        }),
        (_, Some(domain)) => Some(Discovery::Srv {
            domain,
            name: v.text("discovery-srv-name").to_string(),
        }),
        _ => None,
    })
}

fn auth(v: &Values) -> Result<AuthOptions, ConfigError> {
    let token = v.text("auth-token").to_string();
    let kind = token.split(',').next().unwrap_or_default();
    if kind != "simple" && kind != "jwt" {
        return error(format!("unknown token type: {kind}"));
    }
    let bcrypt_cost = v.number("bcrypt-cost")?;
    if !(4..=31).contains(&bcrypt_cost) {
        return error(format!(
            "invalid value {bcrypt_cost} for flag -bcrypt-cost: valid values are between 4 and 31"
        ));
    }
    Ok(AuthOptions {
        token,
        bcrypt_cost: bcrypt_cost as u32,
        token_ttl_s: v.number("auth-token-ttl")?,
    })
}

fn log_level(v: &Values) -> Result<log::LevelFilter, ConfigError> {
    Ok(match (v.boolean("debug")?, v.text("log-level")) {
        (true, _) | (_, "debug") => log::LevelFilter::Debug,
        (_, "info") => log::LevelFilter::Info,
        (_, "warn") => log::LevelFilter::Warn,
        (_, "error" | "panic" | "fatal") => log::LevelFilter::Error,
        (_, other) => return error(format!("invalid value {other:?} for flag -log-level")),
    })
}

fn validate(config: &Config) -> Result<(), ConfigError> {
    if config.snapshot_count == 0 {
        return error("--snapshot-count must be greater than 0");
    }
    if config.heartbeat_interval_ms == 0 {
        return error("--heartbeat-interval must be >0 (set to 0ms)");
    }
    if config.election_timeout_ms == 0 {
        return error("--election-timeout must be >0 (set to 0ms)");
    }
    if config.election_timeout_ms < 5 * config.heartbeat_interval_ms {
        return error(format!(
            "--election-timeout[{}ms] should be at least as 5 times as --heartbeat-interval[{}ms]",
            config.election_timeout_ms, config.heartbeat_interval_ms
        ));
    }
    if config.election_timeout_ms > MAX_ELECTION_TIMEOUT_MS {
        return error(format!(
            "--election-timeout[{}ms] is too long, and should be set less than {MAX_ELECTION_TIMEOUT_MS}ms",
            config.election_timeout_ms
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
    let client_urls: Vec<Url> = config
        .listen_client_urls
        .iter()
        .chain(&config.listen_metrics_urls)
        .cloned()
        .collect();
    validate_tls("", &config.client_tls, &client_urls, "client")?;
    crate::tls::provider(&config.cipher_suites).map_err(ConfigError)?;
    validate_tls("peer-", &config.peer_tls, &config.listen_peer_urls, "peer")?;
    Ok(())
}

/// Cert files named on the command line must be readable now, and an https listener needs them.
fn validate_tls(prefix: &str, tls: &TlsFiles, urls: &[Url], side: &str) -> Result<(), ConfigError> {
    let crl_flag = if prefix.is_empty() {
        "client-crl-file"
    } else {
        "peer-crl-file"
    };
    for (flag, file) in [
        (format!("{prefix}cert-file"), &tls.cert_file),
        (format!("{prefix}key-file"), &tls.key_file),
        (format!("{prefix}trusted-ca-file"), &tls.trusted_ca_file),
        (crl_flag.to_string(), &tls.crl_file),
    ] {
        if let Some(file) = file {
            if let Err(e) = std::fs::File::open(file) {
                return error(format!("--{flag}: cannot read {}: {e}", file.display()));
            }
        }
    }
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        return error(format!(
            "--{prefix}cert-file and --{prefix}key-file must be given together"
        ));
    }
    if let Some(url) = urls.iter().find(|u| u.scheme == Scheme::Https) {
        if tls.cert_file.is_none() && !tls.auto_tls {
            return error(format!(
                "TLS key/cert (--{prefix}cert-file, --{prefix}key-file) must be provided for {side} url {url} with HTTPS scheme"
            ));
        }
    }
    if tls.client_cert_auth && tls.trusted_ca_file.is_none() && !tls.auto_tls {
        return error(format!(
            "--{prefix}client-cert-auth requires --{prefix}trusted-ca-file"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::flags::parse_flags;
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
        let unadvertised =
            run(&["--listen-client-urls", "http://127.0.0.1:2379"], &[]).unwrap_err();
        assert_eq!(
            unadvertised.0,
            "--advertise-client-urls is required when --listen-client-urls is set explicitly"
        );
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
        let err = run(
            &[
                "--listen-client-urls",
                "https://127.0.0.1:2379",
                "--advertise-client-urls",
                "https://127.0.0.1:2379",
            ],
            &[],
        )
        .unwrap_err();
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

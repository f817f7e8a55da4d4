//! etcd 3.4's server flags as one table (name, how it takes a value, its `etcd --help` group,
//! default as etcd prints it, help text as etcd prints it), the Go flag syntax that reads them,
//! the ETCD_* environment, and `--help` written from the table. Defaults live here only: the
//! configuration reads them through `default_value`.

use super::ConfigError;
use std::collections::BTreeMap;

/// How a flag takes its value, as Go's `flag` package distinguishes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `-flag`, `-flag=true|false`; never consumes the next argument.
    Bool,
    /// `-flag value` or `-flag=value`.
    Value,
}

/// The sections of `etcd --help`, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Member,
    Clustering,
    Security,
    Auth,
    Monitoring,
    Logging,
    Proxy,
    Experimental,
    Unsafe,
    Deprecated,
    /// Flags of ours, or the ones etcd lists above its sections.
    Program,
}

impl Group {
    fn title(self) -> &'static str {
        match self {
            Group::Member => "Member:",
            Group::Clustering => "Clustering:",
            Group::Security => "Security:",
            Group::Auth => "Auth:",
            Group::Monitoring => "Profiling and Monitoring:",
            Group::Logging => "Logging:",
            Group::Proxy => "v2 Proxy (to be deprecated in v4):",
            Group::Experimental => "Experimental feature:",
            Group::Unsafe => "Unsafe feature:",
            Group::Deprecated => "TO BE DEPRECATED:",
            Group::Program => "",
        }
    }
}

pub struct Flag {
    pub name: &'static str,
    pub kind: Kind,
    pub group: Group,
    /// The default as `etcd --help` prints it: quoted ('100'), bare (10) or Go's name for it.
    pub shown_default: &'static str,
    pub help: &'static str,
}

const fn flag(
    name: &'static str,
    kind: Kind,
    group: Group,
    shown_default: &'static str,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        kind,
        group,
        shown_default,
        help,
    }
}

/// Every flag the server accepts: etcd 3.4's, in `etcd --help` order, then our own.
pub const FLAGS: &[Flag] = &[
    flag("name", Kind::Value, Group::Member, "'default'", "Human-readable name for this member."),
    flag("data-dir", Kind::Value, Group::Member, "'${name}.etcd'", "Path to the data directory."),
    flag("wal-dir", Kind::Value, Group::Member, "''", "Path to the dedicated wal directory."),
    flag("snapshot-count", Kind::Value, Group::Member, "'100000'", "Number of committed transactions to trigger a snapshot to disk."),
    flag("heartbeat-interval", Kind::Value, Group::Member, "'100'", "Time (in milliseconds) of a heartbeat interval."),
    flag("election-timeout", Kind::Value, Group::Member, "'1000'", "Time (in milliseconds) for an election to timeout. See tuning documentation for details."),
    flag("initial-election-tick-advance", Kind::Bool, Group::Member, "'true'", "Whether to fast-forward initial election ticks on boot for faster election."),
    flag("listen-peer-urls", Kind::Value, Group::Member, "'http://localhost:2380'", "List of URLs to listen on for peer traffic."),
    flag("listen-client-urls", Kind::Value, Group::Member, "'http://localhost:2379'", "List of URLs to listen on for client traffic."),
    flag("max-snapshots", Kind::Value, Group::Member, "'5'", "Maximum number of snapshot files to retain (0 is unlimited)."),
    flag("max-wals", Kind::Value, Group::Member, "'5'", "Maximum number of wal files to retain (0 is unlimited)."),
    flag("quota-backend-bytes", Kind::Value, Group::Member, "'0'", "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota)."),
    flag("backend-batch-interval", Kind::Value, Group::Member, "''", "BackendBatchInterval is the maximum time before commit the backend transaction."),
    flag("backend-batch-limit", Kind::Value, Group::Member, "'0'", "BackendBatchLimit is the maximum operations before commit the backend transaction."),
    flag("max-txn-ops", Kind::Value, Group::Member, "'128'", "Maximum number of operations permitted in a transaction."),
    flag("max-request-bytes", Kind::Value, Group::Member, "'1572864'", "Maximum client request size in bytes the server will accept."),
    flag("max-concurrent-streams", Kind::Value, Group::Member, "'math.MaxUint32'", "Maximum concurrent streams that each client can open at a time."),
    flag("grpc-keepalive-min-time", Kind::Value, Group::Member, "'5s'", "Minimum duration interval that a client should wait before pinging server."),
    flag("grpc-keepalive-interval", Kind::Value, Group::Member, "'2h'", "Frequency duration of server-to-client ping to check if a connection is alive (0 to disable)."),
    flag("grpc-keepalive-timeout", Kind::Value, Group::Member, "'20s'", "Additional duration of wait before closing a non-responsive connection (0 to disable)."),
    flag("initial-advertise-peer-urls", Kind::Value, Group::Clustering, "'http://localhost:2380'", "List of this member's peer URLs to advertise to the rest of the cluster."),
    flag("initial-cluster", Kind::Value, Group::Clustering, "'default=http://localhost:2380'", "Initial cluster configuration for bootstrapping."),
    flag("initial-cluster-state", Kind::Value, Group::Clustering, "'new'", "Initial cluster state ('new' or 'existing')."),
    flag("initial-cluster-token", Kind::Value, Group::Clustering, "'etcd-cluster'", "Initial cluster token for the etcd cluster during bootstrap.\n    Specifying this can protect you from unintended cross-cluster interaction when running multiple clusters."),
    flag("advertise-client-urls", Kind::Value, Group::Clustering, "'http://localhost:2379'", "List of this member's client URLs to advertise to the public.\n    The client URLs advertised should be accessible to machines that talk to etcd cluster. etcd client libraries parse these URLs to connect to the cluster."),
    flag("discovery", Kind::Value, Group::Clustering, "''", "Discovery URL used to bootstrap the cluster."),
    flag("discovery-fallback", Kind::Value, Group::Clustering, "'proxy'", "Expected behavior ('exit' or 'proxy') when discovery services fails.\n    \"proxy\" supports v2 API only."),
    flag("discovery-proxy", Kind::Value, Group::Clustering, "''", "HTTP proxy to use for traffic to discovery service."),
    flag("discovery-srv", Kind::Value, Group::Clustering, "''", "DNS srv domain used to bootstrap the cluster."),
    flag("discovery-srv-name", Kind::Value, Group::Clustering, "''", "Suffix to the dns srv name queried when bootstrapping."),
    flag("strict-reconfig-check", Kind::Bool, Group::Clustering, "'true'", "Reject reconfiguration requests that would cause quorum loss."),
    flag("pre-vote", Kind::Bool, Group::Clustering, "'false'", "Enable to run an additional Raft election phase."),
    flag("auto-compaction-retention", Kind::Value, Group::Clustering, "'0'", "Auto compaction retention length. 0 means disable auto compaction."),
    flag("auto-compaction-mode", Kind::Value, Group::Clustering, "'periodic'", "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision number based retention."),
    flag("enable-v2", Kind::Bool, Group::Clustering, "'false'", "Accept etcd V2 client requests."),
    flag("cert-file", Kind::Value, Group::Security, "''", "Path to the client server TLS cert file."),
    flag("key-file", Kind::Value, Group::Security, "''", "Path to the client server TLS key file."),
    flag("client-cert-auth", Kind::Bool, Group::Security, "'false'", "Enable client cert authentication."),
    flag("client-crl-file", Kind::Value, Group::Security, "''", "Path to the client certificate revocation list file."),
    flag("client-cert-allowed-hostname", Kind::Value, Group::Security, "''", "Allowed TLS hostname for client cert authentication."),
    flag("trusted-ca-file", Kind::Value, Group::Security, "''", "Path to the client server TLS trusted CA cert file."),
    flag("auto-tls", Kind::Bool, Group::Security, "'false'", "Client TLS using generated certificates."),
    flag("peer-cert-file", Kind::Value, Group::Security, "''", "Path to the peer server TLS cert file."),
    flag("peer-key-file", Kind::Value, Group::Security, "''", "Path to the peer server TLS key file."),
    flag("peer-client-cert-auth", Kind::Bool, Group::Security, "'false'", "Enable peer client cert authentication."),
    flag("peer-trusted-ca-file", Kind::Value, Group::Security, "''", "Path to the peer server TLS trusted CA file."),
    flag("peer-cert-allowed-cn", Kind::Value, Group::Security, "''", "Required CN for client certs connecting to the peer endpoint."),
    flag("peer-cert-allowed-hostname", Kind::Value, Group::Security, "''", "Allowed TLS hostname for inter peer authentication."),
    flag("peer-auto-tls", Kind::Bool, Group::Security, "'false'", "Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided."),
    flag("peer-crl-file", Kind::Value, Group::Security, "''", "Path to the peer certificate revocation list file."),
    flag("cipher-suites", Kind::Value, Group::Security, "''", "Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go)."),
    flag("cors", Kind::Value, Group::Security, "'*'", "Comma-separated whitelist of origins for CORS, or cross-origin resource sharing, (empty or * means allow all)."),
    flag("host-whitelist", Kind::Value, Group::Security, "'*'", "Acceptable hostnames from HTTP client requests, if server is not secure (empty or * means allow all)."),
    flag("auth-token", Kind::Value, Group::Auth, "'simple'", "Specify a v3 authentication token type and its options ('simple' or 'jwt')."),
    flag("bcrypt-cost", Kind::Value, Group::Auth, "10", "Specify the cost / strength of the bcrypt algorithm for hashing auth passwords. Valid values are between 4 and 31."),
    flag("auth-token-ttl", Kind::Value, Group::Auth, "300", "Time (in seconds) of the auth-token-ttl."),
    flag("enable-pprof", Kind::Bool, Group::Monitoring, "'false'", "Enable runtime profiling data via HTTP server. Address is at client URL + \"/debug/pprof/\""),
    flag("metrics", Kind::Value, Group::Monitoring, "'basic'", "Set level of detail for exported metrics, specify 'extensive' to include histogram metrics."),
    flag("listen-metrics-urls", Kind::Value, Group::Monitoring, "''", "List of URLs to listen on for the metrics and health endpoints."),
    flag("logger", Kind::Value, Group::Logging, "'capnslog'", "Specify 'zap' for structured logging or 'capnslog'. [WARN] 'capnslog' will be deprecated in v3.5."),
    flag("log-outputs", Kind::Value, Group::Logging, "'default'", "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or list of comma separated output targets."),
    flag("log-level", Kind::Value, Group::Logging, "'info'", "Configures log level. Only supports debug, info, warn, error, panic, or fatal."),
    flag("proxy", Kind::Value, Group::Proxy, "'off'", "Proxy mode setting ('off', 'readonly' or 'on')."),
    flag("proxy-failure-wait", Kind::Value, Group::Proxy, "5000", "Time (in milliseconds) an endpoint will be held in a failed state."),
    flag("proxy-refresh-interval", Kind::Value, Group::Proxy, "30000", "Time (in milliseconds) of the endpoints refresh interval."),
    flag("proxy-dial-timeout", Kind::Value, Group::Proxy, "1000", "Time (in milliseconds) for a dial to timeout."),
    flag("proxy-write-timeout", Kind::Value, Group::Proxy, "5000", "Time (in milliseconds) for a write to timeout."),
    flag("proxy-read-timeout", Kind::Value, Group::Proxy, "0", "Time (in milliseconds) for a read to timeout."),
    flag("experimental-initial-corrupt-check", Kind::Bool, Group::Experimental, "'false'", "Enable to check data corruption before serving any client/peer traffic."),
    flag("experimental-corrupt-check-time", Kind::Value, Group::Experimental, "'0s'", "Duration of time between cluster corruption check passes."),
    flag("experimental-enable-v2v3", Kind::Value, Group::Experimental, "''", "Serve v2 requests through the v3 backend under a given prefix."),
    flag("experimental-backend-bbolt-freelist-type", Kind::Value, Group::Experimental, "'array'", "ExperimentalBackendFreelistType specifies the type of freelist that boltdb backend uses(array and map are supported types)."),
    flag("experimental-enable-lease-checkpoint", Kind::Bool, Group::Experimental, "'false'", "ExperimentalEnableLeaseCheckpoint enables primary lessor to persist lease remainingTTL to prevent indefinite auto-renewal of long lived leases."),
    flag("experimental-compaction-batch-limit", Kind::Value, Group::Experimental, "1000", "ExperimentalCompactionBatchLimit sets the maximum revisions deleted in each compaction batch."),
    flag("experimental-peer-skip-client-san-verification", Kind::Bool, Group::Experimental, "'false'", "Skip verification of SAN field in client certificate for peer connections."),
    flag("experimental-watch-progress-notify-interval", Kind::Value, Group::Experimental, "'10m'", "Duration of periodical watch progress notification."),
    flag("experimental-warning-apply-duration", Kind::Value, Group::Experimental, "'100ms'", "Warning is generated if requests take more than this duration."),
    flag("force-new-cluster", Kind::Bool, Group::Unsafe, "'false'", "Force to create a new one-member cluster."),
    flag("debug", Kind::Bool, Group::Deprecated, "'false'", "Enable debug-level logging for etcd. [WARN] Will be deprecated in v3.5. Use '--log-level=debug' instead."),
    flag("log-package-levels", Kind::Value, Group::Deprecated, "''", "Specify a particular log level for each etcd package (eg: 'etcdmain=CRITICAL,etcdserver=DEBUG')."),
    flag("config-file", Kind::Value, Group::Program, "''", "Path to the server configuration file: etcd's YAML (etcd.conf.yml) or our TOML, told apart by content.\n    With YAML, as etcd does, other command line flags and environment variables are ignored."),
    flag("version", Kind::Bool, Group::Program, "'false'", "Print the version and exit."),
    flag("help", Kind::Bool, Group::Program, "'false'", "Show this help and exit."),
    // etcd sets this only in its own test harness (embed's LeaseCheckpointInterval); ours takes
    // it as a flag so a checkpoint can be seen without waiting etcd's 5 minutes.
    flag("experimental-lease-checkpoint-interval", Kind::Value, Group::Program, "'5m0s'", "How often the leader checkpoints remaining lease TTLs with --experimental-enable-lease-checkpoint."),
];

pub fn find(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|flag| flag.name == name)
}

/// A flag's default value, from the table: the shown default without its quotes ("" for '').
pub fn default_value(name: &str) -> &'static str {
    let shown = find(name).map_or("", |flag| flag.shown_default);
    shown
        .strip_prefix('\'')
        .and_then(|rest| rest.strip_suffix('\''))
        .unwrap_or(shown)
}

/// `etcd --help`: our two extra commands, then etcd's sections with every flag and its
/// default and help exactly as etcd 3.4 prints them.
pub fn usage() -> String {
    let mut text = String::from(
        "Usage:\n\n  etcd [flags]\n    Start an etcd server.\n\n  etcd --version\n    Show the version of etcd.\n\n  etcd -h | --help\n    Show the help information about etcd.\n\n  etcd --config-file\n    Path to the server configuration file: etcd's YAML (other command line flags and environment variables are then ignored, as etcd does) or our TOML (flags win over ETCD_* variables, which win over the file).\n\n  etcd ctl ... | etcdctl ...\n    The etcdctl applet.\n\n  etcd util ... | etcdutl ...\n    The etcdutl applet.\n\n  etcd pki ... | etcd bench ...\n    The certificate generator and the benchmark.\n\n  --experimental-lease-checkpoint-interval '5m0s'\n    Ours (etcd sets it only in its test harness): how often the leader checkpoints remaining lease TTLs.\n",
    );
    let mut group = Group::Program;
    for flag in FLAGS.iter().filter(|f| f.group != Group::Program) {
        if flag.group != group {
            group = flag.group;
            text.push_str(&format!("\n{}\n", group.title()));
            if group == Group::Deprecated {
                text.push('\n');
            }
        }
        text.push_str(&format!(
            "  --{} {}\n    {}\n",
            flag.name, flag.shown_default, flag.help
        ));
        if flag.group == Group::Unsafe {
            text.push_str("\nCAUTIOUS with unsafe flag! It may break the guarantees given by the consensus protocol!\n");
        }
    }
    text
}

/// Go's flag syntax: one or two dashes, `=value` or the next argument, booleans never take the
/// next argument, parsing stops at `--`, and a positional argument is an error (as in etcd).
pub fn parse_flags(args: &[String]) -> Result<BTreeMap<String, String>, ConfigError> {
    let mut values = BTreeMap::new();
    let mut index = 0;
    while index < args.len() {
        let arg = &args[index];
        index += 1;
        if arg == "--" {
            if let Some(extra) = args.get(index) {
                return super::error(format!("'{extra}' is not a valid flag"));
            }
            break;
        }
        let Some(body) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            return super::error(format!("'{arg}' is not a valid flag"));
        };
        let (name, inline) = match body.split_once('=') {
            Some((name, value)) => (name, Some(value.to_string())),
            None => (body, None),
        };
        let name = if name == "h" { "help" } else { name };
        let Some(flag) = find(name) else {
            return super::error(format!("flag provided but not defined: -{name}"));
        };
        let value = match (flag.kind, inline) {
            (_, Some(value)) => value,
            (Kind::Bool, None) => "true".to_string(),
            (Kind::Value, None) => match args.get(index) {
                Some(next) => {
                    index += 1;
                    next.clone()
                }
                None => return super::error(format!("flag needs an argument: -{name}")),
            },
        };
        if flag.kind == Kind::Bool {
            super::is_true(name, &value)?;
        }
        values.insert(name.to_string(), value);
    }
    Ok(values)
}

/// ETCD_DATA_DIR -> data-dir, for every known flag; other ETCD_* variables are warned about.
pub fn parse_env(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for (key, value) in env {
        let Some(rest) = key.strip_prefix("ETCD_") else {
            continue;
        };
        let name = rest.to_ascii_lowercase().replace('_', "-");
        if find(&name).is_some() && name != "help" && name != "version" {
            values.insert(name, value.clone());
        } else {
            // Configuration is read before the logger starts, so this goes straight to stderr.
            eprintln!("etcd: [WARNING] unrecognized environment variable {key}");
        }
    }
    values
}

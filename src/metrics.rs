//! Process-wide counters and histograms behind /metrics, under etcd's names, help texts, label
//! names and buckets so that etcd's dashboards and alerts read them unchanged. Updates are
//! atomics (labelled families keep one entry per label value); `render` writes Prometheus'
//! text format as the Go client does (families sorted by name, samples by label values).

use crate::schema::{Method, METHODS, METHOD_COUNT};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Counter(AtomicU64);

impl Counter {
    const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

pub struct Gauge(AtomicI64);

impl Gauge {
    pub fn add(&self, n: i64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    pub fn set(&self, n: u64) {
        self.0.store(n as i64, Ordering::Relaxed);
    }
}

/// prometheus.ExponentialBuckets(start, 2, N) with etcd's start values.
pub struct Histogram {
    start_seconds: f64,
    counts: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

const BUCKETS: usize = 16;

impl Histogram {
    const fn new(start_seconds: f64) -> Histogram {
        Histogram {
            start_seconds,
            counts: [const { AtomicU64::new(0) }; BUCKETS],
            sum_nanos: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let mut bound = self.start_seconds;
        for bucket in &self.counts {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
                break;
            }
            bound *= 2.0;
        }
        self.sum_nanos
            .fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the `_bucket`, `_sum` and `_count` samples; `labels` go before `le`.
    fn render(&self, name: &str, labels: &str, buckets: usize, out: &mut String) {
        let mut cumulative = 0;
        let mut bound = self.start_seconds;
        let separator = if labels.is_empty() { "" } else { "," };
        for bucket in &self.counts[..buckets] {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{separator}le=\"{}\"}} {cumulative}",
                go_float(bound)
            );
            bound *= 2.0;
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{name}_bucket{{{labels}{separator}le=\"+Inf\"}} {count}"
        );
        let _ = writeln!(out, "{name}_sum{braces} {}", go_float(sum));
        let _ = writeln!(out, "{name}_count{braces} {count}");
    }
}

/// A float as Go's strconv.FormatFloat(f, 'g', -1, 64) writes small values (what Prometheus'
/// client uses): the shortest form that reads back the same.
fn go_float(value: f64) -> String {
    if value != 0.0 && value.abs() < 1e-4 {
        let text = format!("{value:e}");
        // Go writes the exponent with a sign and at least two digits: 1e-05.
        return match text.split_once("e-") {
            Some((mantissa, exponent)) => format!("{mantissa}e-{exponent:0>2}"),
            None => text,
        };
    }
    format!("{value}")
}

pub static LEADER_CHANGES: Counter = Counter::new();
pub static PROPOSALS_PENDING: Gauge = Gauge(AtomicI64::new(0));
pub static PROPOSALS_FAILED: Counter = Counter::new();
/// Committed entries skipped because they could not be applied (ours; etcd has no such family).
pub static REFUSED_ENTRIES: Counter = Counter::new();
/// 1 while a write waits for disk space (ours).
pub static DISK_FULL: Gauge = Gauge(AtomicI64::new(0));
/// etcd: ExponentialBuckets(0.001, 2, 14) for both disk histograms.
pub static WAL_FSYNC: Histogram = Histogram::new(0.001);
pub static BACKEND_COMMIT: Histogram = Histogram::new(0.001);
const DISK_BUCKETS: usize = 14;

/// Raft traffic with one peer (etcd_network_peer_*), by the peer's member ID.
#[derive(Default)]
pub struct PeerTraffic {
    pub sent_bytes: AtomicU64,
    pub received_bytes: AtomicU64,
    pub sent_failures: AtomicU64,
}

static PEERS: Mutex<BTreeMap<u64, Arc<PeerTraffic>>> = Mutex::new(BTreeMap::new());

/// The traffic counters of peer `id` (created at first use; kept for the process's life, as
/// Prometheus' labelled counters are).
pub fn peer(id: u64) -> Arc<PeerTraffic> {
    PEERS
        .lock()
        .expect("peer metrics lock")
        .entry(id)
        .or_default()
        .clone()
}

/// One gRPC method's counters (go-grpc-prometheus' server metrics).
pub struct GrpcMethod {
    started: Counter,
    /// By gRPC code (0 OK .. 16 Unauthenticated).
    handled: [Counter; 17],
    pub received: Counter,
    pub sent: Counter,
}

impl GrpcMethod {
    const fn new() -> GrpcMethod {
        GrpcMethod {
            started: Counter::new(),
            handled: [const { Counter::new() }; 17],
            received: Counter::new(),
            sent: Counter::new(),
        }
    }

    pub fn started(&self) {
        self.started.add(1);
    }

    /// The call ended with gRPC status `code` (0: OK).
    pub fn handled(&self, code: u32) {
        if let Some(counter) = self.handled.get(code as usize) {
            counter.add(1);
        }
    }
}

/// The counters of every RPC in our schema, in `schema::METHODS` order.
static GRPC_METHODS: [GrpcMethod; METHOD_COUNT] = [const { GrpcMethod::new() }; METHOD_COUNT];

/// The counters of the method at gRPC path `path` ("/etcdserverpb.KV/Range").
pub fn grpc_method(path: &str) -> Option<&'static GrpcMethod> {
    let index = METHODS.iter().position(|m| m.path == path)?;
    Some(&GRPC_METHODS[index])
}

/// What the server reports besides these process-wide metrics, read at render time.
pub struct Snapshot {
    pub has_leader: bool,
    pub is_leader: bool,
    pub is_learner: bool,
    pub committed: u64,
    pub applied: u64,
    pub db_size: u64,
    pub db_in_use: u64,
    pub keys: u64,
    pub compact_revision: i64,
    pub server_version: &'static str,
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn single(out: &mut String, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The families with one unlabelled sample: (name, type, help, value now).
fn single_families(now: &Snapshot) -> [(&'static str, &'static str, &'static str, i64); 14] {
    [
        ("etcd_debugging_mvcc_keys_total", "gauge", "Total number of keys.", now.keys as i64),
        (
            "etcd_debugging_mvcc_compact_revision",
            "gauge",
            "The revision of the last compaction in store.",
            now.compact_revision.max(0),
        ),
        (
            "etcd_mvcc_db_total_size_in_bytes",
            "gauge",
            "Total size of the underlying database physically allocated in bytes.",
            now.db_size as i64,
        ),
        (
            "etcd_mvcc_db_total_size_in_use_in_bytes",
            "gauge",
            "Total size of the underlying database logically in use in bytes.",
            now.db_in_use as i64,
        ),
        (
            "etcd_server_has_leader",
            "gauge",
            "Whether or not a leader exists. 1 is existence, 0 is not.",
            i64::from(now.has_leader),
        ),
        (
            "etcd_server_is_leader",
            "gauge",
            "Whether or not this member is a leader. 1 if is, 0 otherwise.",
            i64::from(now.is_leader),
        ),
        (
            "etcd_server_is_learner",
            "gauge",
            "Whether or not this member is a learner. 1 if is, 0 otherwise.",
            i64::from(now.is_learner),
        ),
        (
            "etcd_server_proposals_committed_total",
            "gauge",
            "The total number of consensus proposals committed.",
            now.committed as i64,
        ),
        (
            "etcd_server_proposals_applied_total",
            "gauge",
            "The total number of consensus proposals applied.",
            now.applied as i64,
        ),
        (
            "etcd_server_proposals_pending",
            "gauge",
            "The current number of pending proposals to commit.",
            PROPOSALS_PENDING.0.load(Ordering::Relaxed),
        ),
        (
            "etcd_server_proposals_failed_total",
            "counter",
            "The total number of failed proposals seen.",
            PROPOSALS_FAILED.get() as i64,
        ),
        (
            "etcd_server_leader_changes_seen_total",
            "counter",
            "The number of leader changes seen.",
            LEADER_CHANGES.get() as i64,
        ),
        (
            "etcdrs_server_apply_refused_entries_total",
            "counter",
            "The total number of committed entries skipped because they could not be applied.",
            REFUSED_ENTRIES.get() as i64,
        ),
        (
            "etcdrs_disk_full",
            "gauge",
            "Whether a write is waiting for disk space. 1 while writes are refused for it, 0 otherwise.",
            DISK_FULL.0.load(Ordering::Relaxed),
        ),
    ]
}

/// The whole /metrics page.
pub fn render(now: &Snapshot) -> String {
    // (family name, its text): sorted by name at the end, as the Go client orders them.
    let mut families: Vec<(&str, String)> = Vec::new();
    let mut add = |name: &'static str, text: String| families.push((name, text));
    for (name, kind, help, value) in single_families(now) {
        let mut text = String::new();
        single(&mut text, name, kind, help, value);
        add(name, text);
    }
    let mut text = String::new();
    family(
        &mut text,
        "etcd_server_version",
        "gauge",
        "Which version is running. 1 for 'server_version' label with current version.",
    );
    let _ = writeln!(
        text,
        "etcd_server_version{{server_version=\"{}\"}} 1",
        now.server_version
    );
    add("etcd_server_version", text);
    for (name, help, histogram) in [
        (
            "etcd_disk_wal_fsync_duration_seconds",
            "The latency distributions of fsync called by WAL.",
            &WAL_FSYNC,
        ),
        (
            "etcd_disk_backend_commit_duration_seconds",
            "The latency distributions of commit called by backend.",
            &BACKEND_COMMIT,
        ),
    ] {
        let mut text = String::new();
        family(&mut text, name, "histogram", help);
        histogram.render(name, "", DISK_BUCKETS, &mut text);
        add(name, text);
    }
    let peers = PEERS.lock().expect("peer metrics lock");
    for (name, help, label, value) in peer_families() {
        // As etcd's labelled counters: a peer appears once something was counted for it, and
        // a family without samples is not written at all.
        let counted: Vec<String> = peers
            .iter()
            .filter(|(_, traffic)| value(traffic) > 0)
            .map(|(id, traffic)| format!("{name}{{{label}=\"{id:x}\"}} {}\n", value(traffic)))
            .collect();
        if !counted.is_empty() {
            let mut text = String::new();
            family(&mut text, name, "counter", help);
            text.push_str(&counted.concat());
            add(name, text);
        }
    }
    drop(peers);
    for (name, help, text) in grpc_families() {
        let mut out = String::new();
        family(&mut out, name, "counter", help);
        out.push_str(&text);
        add(name, out);
    }
    families.sort_by(|a, b| a.0.cmp(b.0));
    families.into_iter().map(|(_, text)| text).collect()
}

type PeerValue = fn(&PeerTraffic) -> u64;

fn peer_families() -> [(&'static str, &'static str, &'static str, PeerValue); 3] {
    [
        (
            "etcd_network_peer_sent_bytes_total",
            "The total number of bytes sent to peers.",
            "To",
            |t| t.sent_bytes.load(Ordering::Relaxed),
        ),
        (
            "etcd_network_peer_received_bytes_total",
            "The total number of bytes received from peers.",
            "From",
            |t| t.received_bytes.load(Ordering::Relaxed),
        ),
        (
            "etcd_network_peer_sent_failures_total",
            "The total number of send failures from peers.",
            "To",
            |t| t.sent_failures.load(Ordering::Relaxed),
        ),
    ]
}

/// go-grpc-prometheus' four server counters, every method listed (handled: with every code).
fn grpc_families() -> [(&'static str, &'static str, String); 4] {
    let labels = |m: &Method| {
        let (service, method) = m.path[1..].split_once('/').expect("/service/method");
        let kind = match (m.client_streams, m.server_streams) {
            (false, false) => "unary",
            (false, true) => "server_stream",
            (true, false) => "client_stream",
            (true, true) => "bidi_stream",
        };
        format!("grpc_method=\"{method}\",grpc_service=\"{service}\",grpc_type=\"{kind}\"")
    };
    // etcd initializes its own services' series at zero; the lock and election services are
    // registered after that, so theirs appear once called, and so does AuthStatus (etcd 3.5's
    // call, which etcd 3.4 does not have).
    const LATER: &str = "/etcdserverpb.Auth/AuthStatus";
    let listed = || {
        METHODS.iter().zip(&GRPC_METHODS).filter(|(m, c)| {
            (m.path.starts_with("/etcdserverpb.") && m.path != LATER) || c.started.get() > 0
        })
    };
    let per_method = |name: &str, value: fn(&GrpcMethod) -> u64| {
        let mut lines: Vec<String> = listed()
            .map(|(m, c)| format!("{name}{{{}}} {}", labels(m), value(c)))
            .collect();
        lines.sort();
        concat_lines(lines)
    };
    let mut handled: Vec<String> = Vec::new();
    for (m, c) in listed() {
        for (code, counter) in crate::grpc_codes::GRPC_CODE_NAMES.iter().zip(&c.handled) {
            handled.push(format!(
                "grpc_server_handled_total{{grpc_code=\"{code}\",{}}} {}",
                labels(m),
                counter.get()
            ));
        }
    }
    handled.sort();
    [
        (
            "grpc_server_handled_total",
            "Total number of RPCs completed on the server, regardless of success or failure.",
            concat_lines(handled),
        ),
        (
            "grpc_server_msg_received_total",
            "Total number of RPC stream messages received on the server.",
            per_method("grpc_server_msg_received_total", |m| m.received.get()),
        ),
        (
            "grpc_server_msg_sent_total",
            "Total number of gRPC stream messages sent by the server.",
            per_method("grpc_server_msg_sent_total", |m| m.sent.get()),
        ),
        (
            "grpc_server_started_total",
            "Total number of RPCs started on the server.",
            per_method("grpc_server_started_total", |m| m.started.get()),
        ),
    ]
}

fn concat_lines(lines: Vec<String>) -> String {
    lines.into_iter().map(|line| line + "\n").collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_as_prometheus_writes_it() {
        let histogram = Histogram::new(0.001);
        histogram.observe(Duration::from_micros(1500));
        histogram.observe(Duration::from_millis(20));
        let mut out = String::new();
        histogram.render("h", "", 3, &mut out);
        assert_eq!(
            out,
            "h_bucket{le=\"0.001\"} 0\nh_bucket{le=\"0.002\"} 1\nh_bucket{le=\"0.004\"} 1\n\
             h_bucket{le=\"+Inf\"} 2\nh_sum 0.0215\nh_count 2\n"
        );
        assert_eq!(go_float(0.0001), "0.0001");
        assert_eq!(go_float(0.00005), "5e-05");
    }
}

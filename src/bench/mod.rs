//! `etcd bench`: a load generator for any etcd v3 server (ours or upstream), in the spirit of
//! etcd's tools/benchmark. N clients share M HTTP/2 connections spread over the endpoints; each
//! client issues one request at a time. Bounded by --total requests and --max-seconds. The
//! watch workload (`watch.rs`) makes the clients watchers of one prefix that writers fill.
//!
//! Prints a human summary and one `RESULT ...` line for scripts (.ci/bench-compare).

use crate::client::{Channel, TlsFlags};
use crate::pb::etcdserverpb::{request_op, PutRequest, RangeRequest, RequestOp, TxnRequest};
use argh::FromArgs;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod watch;

#[derive(FromArgs)]
/// Runs a workload (put, range, txn-put or watch) against etcd v3 servers: N clients, one request in
/// flight each, share M HTTP/2 connections; prints a summary and a RESULT line for scripts.
struct Args {
    /// servers to spread connections over, comma-separated (default 127.0.0.1:2379)
    #[argh(option, default = "String::from(\"127.0.0.1:2379\")")]
    endpoints: String,
    /// CA file (https when given)
    #[argh(option)]
    cacert: Option<std::path::PathBuf>,
    /// client certificate file
    #[argh(option)]
    cert: Option<std::path::PathBuf>,
    /// client key file
    #[argh(option)]
    key: Option<std::path::PathBuf>,
    /// concurrent clients, one request in flight each (default 100)
    #[argh(option, default = "100", from_str_fn(positive))]
    clients: u64,
    /// HTTP/2 connections shared by the clients (default 10)
    #[argh(option, default = "10", from_str_fn(positive))]
    conns: u64,
    /// requests in all (default 10000)
    #[argh(option, default = "10_000", from_str_fn(positive))]
    total: u64,
    /// key size in bytes (default 8)
    #[argh(option, default = "8", from_str_fn(positive))]
    key_size: u64,
    /// value size in bytes (default 256)
    #[argh(option, default = "256", from_str_fn(positive))]
    val_size: u64,
    /// distinct keys (default 100000)
    #[argh(option, default = "100_000", from_str_fn(positive))]
    key_space_size: u64,
    /// range: l (linearizable, default) or s (serializable)
    #[argh(option, default = "false", from_str_fn(serializable))]
    consistency: bool,
    /// stop issuing requests after this many seconds (default 60)
    #[argh(option, default = "60", from_str_fn(positive))]
    max_seconds: u64,
    /// client executor threads (default 2)
    #[argh(option, default = "2", from_str_fn(positive))]
    threads: u64,
    /// name:password: authenticate once; every request carries the token
    #[argh(option, from_str_fn(user))]
    user: Option<(String, String)>,
    /// keys 0, 1, 2, ... in the order requests are issued instead of random ones, so that
    /// --total puts write as many distinct keys
    #[argh(switch)]
    sequential_keys: bool,
    /// put, range, txn-put or watch (--clients watchers of one prefix, each receiving the
    /// --total puts that 10 writers make under it)
    #[argh(positional, from_str_fn(workload))]
    workload: Workload,
}

fn positive(text: &str) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(format!("{text:?} is not a positive number"))
}

fn serializable(text: &str) -> Result<bool, String> {
    match text {
        "l" => Ok(false),
        "s" => Ok(true),
        other => Err(format!("unknown consistency {other:?} (l or s)")),
    }
}

fn user(text: &str) -> Result<(String, String), String> {
    let (name, password) = text
        .split_once(':')
        .ok_or(format!("--user {text:?}: expected name:password"))?;
    Ok((name.to_string(), password.to_string()))
}

fn workload(text: &str) -> Result<Workload, String> {
    match text {
        "put" => Ok(Workload::Put),
        "range" => Ok(Workload::Range),
        "txn-put" => Ok(Workload::TxnPut),
        "watch" => Ok(Workload::Watch),
        other => Err(format!("unknown workload {other:?}")),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Put,
    Range,
    TxnPut,
    Watch,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Range => "range",
            Workload::TxnPut => "txn-put",
            Workload::Watch => "watch",
        }
    }
}

#[derive(Debug)]
struct Options {
    endpoints: Vec<String>,
    tls: TlsFlags,
    clients: usize,
    conns: usize,
    total: usize,
    key_size: usize,
    val_size: usize,
    key_space: u64,
    sequential_keys: bool,
    serializable: bool,
    max_seconds: u64,
    threads: usize,
    workload: Workload,
    /// --user name:password
    user: Option<(String, String)>,
}

impl From<Args> for Options {
    fn from(args: Args) -> Options {
        Options {
            endpoints: args.endpoints.split(',').map(str::to_string).collect(),
            tls: TlsFlags {
                ca: args.cacert,
                cert: args.cert,
                key: args.key,
                ..TlsFlags::default()
            },
            clients: args.clients as usize,
            conns: args.conns as usize,
            total: args.total as usize,
            key_size: args.key_size as usize,
            val_size: args.val_size as usize,
            key_space: args.key_space_size,
            sequential_keys: args.sequential_keys,
            serializable: args.consistency,
            max_seconds: args.max_seconds,
            threads: args.threads as usize,
            workload: args.workload,
            user: args.user,
        }
    }
}

pub fn main(args: &[String]) -> ExitCode {
    let options = match crate::cli::parse::<Args>("etcd bench", args) {
        Ok(args) => Options::from(args),
        Err(exit) => return exit,
    };
    crate::runtime::start(options.threads.saturating_sub(1));
    match crate::runtime::block_on(run(options)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("etcd bench: {e}");
            ExitCode::from(1)
        }
    }
}

/// A small, fast, deterministic generator for keys (no need for cryptographic randomness).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// The key of request number `issued`.
fn key(options: &Options, random: &mut XorShift, issued: usize) -> Vec<u8> {
    let n = match options.sequential_keys {
        true => issued as u64,
        false => random.next() % options.key_space,
    };
    format!("{n:0width$}", width = options.key_size).into_bytes()
}

struct Tally {
    latencies_us: Vec<u32>,
    errors: usize,
    first_error: Option<String>,
}

async fn run(options: Options) -> Result<(), String> {
    let options = Arc::new(options);
    let mut channels = Vec::new();
    for i in 0..options.conns {
        let endpoint = &options.endpoints[i % options.endpoints.len()];
        channels.push(Channel::connect(endpoint, &options.tls).await?);
    }
    if let Some((name, password)) = &options.user {
        use crate::pb::etcdserverpb::{AuthenticateRequest, AuthenticateResponse};
        let request = AuthenticateRequest {
            name: name.clone(),
            password: password.clone(),
        };
        let answer: AuthenticateResponse = channels[0]
            .unary("/etcdserverpb.Auth/Authenticate", &request)
            .await
            .map_err(|e| format!("authenticating as {name}: {}", crate::ctl::describe(e)))?;
        channels = channels
            .into_iter()
            .map(|c| c.with_token(answer.token.clone()))
            .collect();
    }
    let tally = Arc::new(Mutex::new(Tally {
        latencies_us: Vec::with_capacity(options.total),
        errors: 0,
        first_error: None,
    }));
    let elapsed = match options.workload {
        Workload::Watch => watch::run(options.clone(), &channels, tally.clone()).await?,
        _ => requests(options.clone(), &channels, tally.clone()).await,
    };
    let mut tally = tally.lock().expect("tally lock");
    tally.latencies_us.sort_unstable();
    report(&options, &tally, elapsed);
    Ok(())
}

/// The request workloads: each client issues one request at a time until --total were issued.
async fn requests(
    options: Arc<Options>,
    channels: &[Channel],
    tally: Arc<Mutex<Tally>>,
) -> Duration {
    let issued = Arc::new(AtomicUsize::new(0));
    let value = vec![b'v'; options.val_size];
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.max_seconds);
    let mut tasks = Vec::new();
    for client in 0..options.clients {
        let channel = channels[client % channels.len()].clone();
        let (options, issued, tally, value) = (
            options.clone(),
            issued.clone(),
            tally.clone(),
            value.clone(),
        );
        tasks.push(crate::runtime::task(async move {
            let mut random = XorShift(0x9e37_79b9_7f4a_7c15 ^ ((client as u64 + 1) * 0x2545_f491));
            let mut latencies = Vec::new();
            let mut errors = Vec::new();
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= options.total || Instant::now() >= deadline {
                    break;
                }
                let key = key(&options, &mut random, n);
                let begun = Instant::now();
                let result = request(&channel, &options, key, &value).await;
                match result {
                    Ok(()) => latencies.push(begun.elapsed().as_micros() as u32),
                    Err(e) => errors.push(e),
                }
            }
            let mut tally = tally.lock().expect("tally lock");
            tally.latencies_us.extend(latencies);
            tally.errors += errors.len();
            if tally.first_error.is_none() {
                tally.first_error = errors.into_iter().next();
            }
        }));
    }
    for task in tasks {
        task.await;
    }
    started.elapsed()
}

async fn request(
    channel: &Channel,
    options: &Options,
    key: Vec<u8>,
    value: &[u8],
) -> Result<(), String> {
    let put = PutRequest {
        key: key.clone(),
        value: value.to_vec(),
        ..PutRequest::default()
    };
    let result = match options.workload {
        Workload::Put => channel
            .unary::<_, crate::pb::etcdserverpb::PutResponse>("/etcdserverpb.KV/Put", &put)
            .await
            .map(drop),
        Workload::Range => {
            let range = RangeRequest {
                key,
                serializable: options.serializable,
                ..RangeRequest::default()
            };
            channel
                .unary::<_, crate::pb::etcdserverpb::RangeResponse>(
                    "/etcdserverpb.KV/Range",
                    &range,
                )
                .await
                .map(drop)
        }
        Workload::TxnPut => {
            let txn = TxnRequest {
                success: vec![RequestOp {
                    request: Some(request_op::Request::RequestPut(put)),
                }],
                ..TxnRequest::default()
            };
            channel
                .unary::<_, crate::pb::etcdserverpb::TxnResponse>("/etcdserverpb.KV/Txn", &txn)
                .await
                .map(drop)
        }
        Workload::Watch => return Err("watch is not a request workload".to_string()),
    };
    result.map_err(|e| e.to_string())
}

fn percentile_ms(sorted_us: &[u32], fraction: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let position = ((sorted_us.len() as f64 * fraction).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[position - 1]) / 1000.0
}

fn report(options: &Options, tally: &Tally, elapsed: Duration) {
    let done = tally.latencies_us.len();
    let qps = done as f64 / elapsed.as_secs_f64();
    let (p50, p90, p99) = (
        percentile_ms(&tally.latencies_us, 0.50),
        percentile_ms(&tally.latencies_us, 0.90),
        percentile_ms(&tally.latencies_us, 0.99),
    );
    println!(
        "{}: {done} {} ok, {} errors, {} clients over {} connections, {:.2} s",
        options.workload.name(),
        match options.workload {
            Workload::Watch => "events delivered",
            _ => "requests",
        },
        tally.errors,
        options.clients,
        options.conns,
        elapsed.as_secs_f64()
    );
    println!("  qps {qps:.1}");
    println!("  latency p50 {p50:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms");
    if let Some(error) = &tally.first_error {
        println!("  first error: {error}");
    }
    println!(
        "RESULT workload={} clients={} conns={} ok={done} errors={} qps={qps:.1} p50_ms={p50:.2} p90_ms={p90:.2} p99_ms={p99:.2}",
        options.workload.name(),
        options.clients,
        options.conns,
        tally.errors
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<u32> = (1..=100).map(|n| n * 1000).collect();
        assert_eq!(percentile_ms(&sorted, 0.50), 50.0);
        assert_eq!(percentile_ms(&sorted, 0.99), 99.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
    }

    #[test]
    fn flags_in_both_go_spellings() {
        let args: Vec<String> = ["--clients=7", "--conns", "3", "txn-put"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let parse = |args: &[String]| crate::cli::parse::<Args>("etcd bench", args).ok();
        let options = Options::from(parse(&args).unwrap());
        assert_eq!((options.clients, options.conns), (7, 3));
        assert_eq!(options.workload, Workload::TxnPut);
        assert!(parse(&["--clients=0".to_string(), "put".to_string()]).is_none());
    }
}

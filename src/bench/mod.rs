//! `etcd bench`: a load generator for any etcd v3 server (ours or upstream), in the spirit of
//! etcd's tools/benchmark. N clients share M HTTP/2 connections spread over the endpoints; each
//! client issues one request at a time. Bounded by --total requests and --max-seconds.
//!
//! Prints a human summary and one `RESULT ...` line for scripts (.ci/bench-compare).

use crate::client::{Channel, TlsFlags};
use crate::pb::etcdserverpb::{request_op, PutRequest, RangeRequest, RequestOp, TxnRequest};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const USAGE: &str = "usage: etcd bench [flags] put|range|txn-put

flags (etcdctl's spelling for the connection):
  --endpoints=host:port,...   servers to spread connections over (default 127.0.0.1:2379)
  --cacert, --cert, --key     TLS files (https when --cacert is given)
  --clients=N                 concurrent clients, one request in flight each (default 100)
  --conns=M                   HTTP/2 connections shared by the clients (default 10)
  --total=T                   requests in all (default 10000)
  --key-size=8 --val-size=256 --key-space-size=100000
  --consistency=l|s           range: linearizable (default) or serializable
  --max-seconds=60            stop issuing requests after this long
  --threads=2                 client executor threads
  --user=name:password        authenticate once; every request carries the token
";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Workload {
    Put,
    Range,
    TxnPut,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Put => "put",
            Workload::Range => "range",
            Workload::TxnPut => "txn-put",
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
    serializable: bool,
    max_seconds: u64,
    threads: usize,
    workload: Workload,
    /// --user name:password
    user: Option<(String, String)>,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        endpoints: vec!["127.0.0.1:2379".to_string()],
        tls: TlsFlags::default(),
        clients: 100,
        conns: 10,
        total: 10_000,
        key_size: 8,
        val_size: 256,
        key_space: 100_000,
        serializable: false,
        max_seconds: 60,
        threads: 2,
        workload: Workload::Put,
        user: None,
    };
    let mut workload = None;
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            workload = Some(match arg.as_str() {
                "put" => Workload::Put,
                "range" => Workload::Range,
                "txn-put" => Workload::TxnPut,
                other => return Err(format!("unknown workload {other:?}")),
            });
            continue;
        };
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name, value.to_string()),
            None => (
                flag,
                rest.next()
                    .ok_or(format!("flag needs an argument: --{flag}"))?
                    .clone(),
            ),
        };
        let number = |value: &str| {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or(format!("invalid value {value:?} for flag --{name}"))
        };
        match name {
            "endpoints" => options.endpoints = value.split(',').map(str::to_string).collect(),
            "cacert" => options.tls.ca = Some(value.into()),
            "cert" => options.tls.cert = Some(value.into()),
            "key" => options.tls.key = Some(value.into()),
            "clients" => options.clients = number(&value)? as usize,
            "conns" => options.conns = number(&value)? as usize,
            "total" => options.total = number(&value)? as usize,
            "key-size" => options.key_size = number(&value)? as usize,
            "val-size" => options.val_size = number(&value)? as usize,
            "key-space-size" => options.key_space = number(&value)?,
            "max-seconds" => options.max_seconds = number(&value)?,
            "threads" => options.threads = number(&value)? as usize,
            "user" => {
                let (name, password) = value
                    .split_once(':')
                    .ok_or(format!("--user {value:?}: expected name:password"))?;
                options.user = Some((name.to_string(), password.to_string()));
            }
            "consistency" => {
                options.serializable = match value.as_str() {
                    "l" => false,
                    "s" => true,
                    other => return Err(format!("unknown consistency {other:?} (l or s)")),
                }
            }
            other => return Err(format!("unknown flag: --{other}")),
        }
    }
    options.workload = workload.ok_or("no workload given")?;
    Ok(options)
}

pub fn main(args: &[String]) -> ExitCode {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse(args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("etcd bench: {e}\n{USAGE}");
            return ExitCode::from(1);
        }
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

fn key(options: &Options, random: &mut XorShift) -> Vec<u8> {
    let n = random.next() % options.key_space;
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
    let issued = Arc::new(AtomicUsize::new(0));
    let tally = Arc::new(Mutex::new(Tally {
        latencies_us: Vec::with_capacity(options.total),
        errors: 0,
        first_error: None,
    }));
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
            while issued.fetch_add(1, Ordering::Relaxed) < options.total
                && Instant::now() < deadline
            {
                let key = key(&options, &mut random);
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
    let elapsed = started.elapsed();
    let mut tally = tally.lock().expect("tally lock");
    tally.latencies_us.sort_unstable();
    report(&options, &tally, elapsed);
    Ok(())
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
        "{}: {done} requests ok, {} errors, {} clients over {} connections, {:.2} s",
        options.workload.name(),
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
        let options = parse(&args).unwrap();
        assert_eq!((options.clients, options.conns), (7, 3));
        assert_eq!(options.workload, Workload::TxnPut);
        assert!(parse(&["--clients=0".to_string(), "put".to_string()]).is_err());
    }
}

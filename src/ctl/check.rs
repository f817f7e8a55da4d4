//! `check perf`: etcdctl's 60-second write check. Puts 1 KiB values under --prefix at the load
//! model's rate from its number of clients, then judges throughput (at least 90% of the rate),
//! the slowest request (at most 0.5 s) and the spread of latencies (at most 0.1 s), and deletes
//! what it wrote.

use super::{fail, Ctl, Outcome, EXIT_BAD_FEATURE, EXIT_ERROR, EXIT_INVALID_INPUT};
use crate::client::Channel;
use crate::pb::etcdserverpb as pb;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// (puts per second, clients) of etcdctl's load models; every model runs 60 seconds.
fn model(name: &str) -> Option<(u64, usize)> {
    match name {
        "s" | "small" => Some((150, 50)),
        "m" | "medium" => Some((1000, 200)),
        "l" | "large" => Some((8000, 500)),
        "xl" | "xLarge" => Some((15000, 1000)),
        _ => None,
    }
}

const SECONDS: u64 = 60;
/// Connections the clients share (etcdctl opens one per client; HTTP/2 multiplexes ours).
const CONNECTIONS: usize = 8;

#[derive(Default)]
struct Results {
    latencies: Vec<f64>,
    errors: BTreeMap<String, u64>,
}

pub fn perf(ctl: &mut Ctl) -> Outcome {
    let load = ctl.string("load");
    let Some((rate, clients)) = model(&load) else {
        return Err(fail(
            EXIT_BAD_FEATURE,
            format!("unknown load option {load}"),
        ));
    };
    let prefix = ctl.string("prefix");
    let channels: Vec<Channel> = (0..CONNECTIONS)
        .map(|_| ctl.connect())
        .collect::<Result<_, _>>()?;
    let existing: pb::RangeResponse = ctl.call(
        &channels[0],
        "/etcdserverpb.KV/Range",
        &pb::RangeRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: crate::mvcc::prefix_end(prefix.as_bytes()),
            limit: 1,
            ..Default::default()
        },
    )?;
    if !existing.kvs.is_empty() {
        return Err(fail(
            EXIT_INVALID_INPUT,
            format!("prefix {prefix:?} has keys. Delete with etcdctl del --prefix {prefix} first"),
        ));
    }
    let results = Arc::new(Mutex::new(Results::default()));
    let started = Instant::now();
    crate::runtime::block_on(load_keys(
        &prefix, rate, clients, &channels, &results, started,
    ));
    let elapsed = started.elapsed().as_secs_f64();
    clean_up(ctl, &prefix, &channels[0])?;
    let results = results.lock().expect("results lock");
    judge(&results, rate, elapsed)
}

/// Puts 1 KiB values under `prefix` at `rate` a second for SECONDS, from `clients` workers.
async fn load_keys(
    prefix: &str,
    rate: u64,
    clients: usize,
    channels: &[Channel],
    results: &Arc<Mutex<Results>>,
    started: Instant,
) {
    let (work, queue) = smol::channel::bounded::<Vec<u8>>(clients);
    let mut workers = Vec::new();
    for i in 0..clients {
        let (queue, channel, results) = (
            queue.clone(),
            channels[i % CONNECTIONS].clone(),
            results.clone(),
        );
        workers.push(crate::runtime::task(async move {
            while let Ok(key) = queue.recv().await {
                let put = pb::PutRequest {
                    key,
                    value: vec![0; 1024],
                    ..Default::default()
                };
                let sent = Instant::now();
                let answer = channel
                    .unary::<_, pb::PutResponse>("/etcdserverpb.KV/Put", &put)
                    .await;
                let mut results = results.lock().expect("results lock");
                match answer {
                    Ok(_) => results.latencies.push(sent.elapsed().as_secs_f64()),
                    Err(e) => *results.errors.entry(super::describe(e)).or_default() += 1,
                }
            }
        }));
    }
    drop(queue);
    // Keys of 256 bytes after the prefix, as etcdctl's: a random number (Go's PutVarint of
    // a non-negative int64), then zero bytes.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let end = started + Duration::from_secs(SECONDS);
    let mut next = started;
    let mut seed = started.elapsed().as_nanos() as u64 | 1;
    while next < end {
        smol::Timer::at(next).await;
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut key = prefix.as_bytes().to_vec();
        // Zigzag of a non-negative number: twice it.
        crate::schema::put_varint(&mut key, (seed >> 1) << 1);
        key.resize(prefix.len() + 256, 0);
        if work.send(key).await.is_err() {
            break;
        }
        next += interval;
    }
    drop(work);
    for worker in workers {
        worker.await;
    }
}

/// Deletes what the check wrote, then compacts and defragments as asked (etcdctl's
/// --auto-compact and --auto-defrag).
fn clean_up(ctl: &Ctl, prefix: &str, channel: &Channel) -> Outcome {
    let cleanup = pb::DeleteRangeRequest {
        key: prefix.as_bytes().to_vec(),
        range_end: crate::mvcc::prefix_end(prefix.as_bytes()),
        ..Default::default()
    };
    let deleted: pb::DeleteRangeResponse =
        ctl.call(channel, "/etcdserverpb.KV/DeleteRange", &cleanup)?;
    if ctl.bool("auto-compact") {
        let revision = deleted.header.map_or(0, |h| h.revision);
        println!("Compacting with revision {revision}");
        let _: pb::CompactionResponse = ctl.call(
            channel,
            "/etcdserverpb.KV/Compact",
            &pb::CompactionRequest {
                revision,
                physical: true,
            },
        )?;
        println!("Compacted with revision {revision}");
    }
    if ctl.bool("auto-defrag") {
        for endpoint in ctl.endpoints()? {
            println!("Defragmenting {endpoint:?}");
            let channel = ctl.connect_to(std::slice::from_ref(&endpoint))?;
            let _: pb::DefragmentResponse = ctl.call(
                &channel,
                "/etcdserverpb.Maintenance/Defragment",
                &pb::DefragmentRequest::default(),
            )?;
            println!("Defragmented {endpoint:?}");
        }
    }
    Ok(())
}

/// etcdctl's verdict lines; FAIL exits 1.
fn judge(results: &Results, rate: u64, elapsed: f64) -> Outcome {
    let mut ok = true;
    if !results.errors.is_empty() {
        println!("FAIL: too many errors");
        for (error, count) in &results.errors {
            println!("FAIL: ERROR({error}) -> {count}");
        }
        ok = false;
    }
    let rps = results.latencies.len() as f64 / elapsed;
    if rps / rate as f64 <= 0.9 {
        println!("FAIL: Throughput too low: {} writes/s", rps as u64 + 1);
        ok = false;
    } else {
        println!("PASS: Throughput is {} writes/s", rps as u64 + 1);
    }
    let slowest = results.latencies.iter().cloned().fold(0.0, f64::max);
    if slowest > 0.5 {
        println!("Slowest request took too long: {slowest:.6}s");
        ok = false;
    } else {
        println!("PASS: Slowest request took {slowest:.6}s");
    }
    let count = results.latencies.len().max(1) as f64;
    let mean = results.latencies.iter().fold(0.0, |sum, l| sum + l) / count;
    let variance = results
        .latencies
        .iter()
        .fold(0.0, |sum, l| sum + (l - mean) * (l - mean))
        / count;
    let stddev = variance.sqrt();
    if stddev > 0.1 {
        println!("Stddev too high: {stddev:.6}s");
        ok = false;
    } else {
        println!("PASS: Stddev is {stddev:.6}s");
    }
    if ok {
        println!("PASS");
        Ok(())
    } else {
        println!("FAIL");
        Err(super::quiet(EXIT_ERROR))
    }
}

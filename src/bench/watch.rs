//! The watch workload: --clients watch streams on one prefix, spread over the connections, each
//! receiving every one of --total puts that WRITERS writers make under that prefix. Reports the
//! events delivered per second over all watchers and, per event, the time from the put's send
//! to its arrival at a watcher (the send time travels in the value).

use super::{Options, Tally};
use crate::client::{Channel, Duplex};
use crate::pb::etcdserverpb::{
    watch_request, PutRequest, PutResponse, WatchCreateRequest, WatchRequest, WatchResponse,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PREFIX: &[u8] = b"bench-watch/";
/// The end of PREFIX's range: its last byte plus one.
const PREFIX_END: &[u8] = b"bench-watch0";
/// Puts in flight at once, one per writer.
const WRITERS: usize = 10;
/// How long a watch may take to be created before the run is given up.
const CREATE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs the workload; returns the delivery latencies and the time from the first put to the
/// last watcher done.
pub async fn run(
    options: Arc<Options>,
    channels: &[Channel],
    tally: Arc<Mutex<Tally>>,
) -> Result<Duration, String> {
    let mut streams = Vec::with_capacity(options.clients);
    for client in 0..options.clients {
        streams.push(open_watch(&channels[client % channels.len()]).await?);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs(options.max_seconds);
    let mut tasks = Vec::new();
    for stream in streams {
        let (options, tally) = (options.clone(), tally.clone());
        tasks.push(crate::runtime::task(async move {
            let (latencies, received) = receive(&stream, options.total, started, deadline).await;
            let mut tally = tally.lock().expect("tally lock");
            tally.latencies_us.extend(latencies);
            if received < options.total {
                tally.errors += options.total - received;
                tally.first_error.get_or_insert(format!(
                    "a watcher received {received} of {} events",
                    options.total
                ));
            }
        }));
    }
    let issued = Arc::new(AtomicUsize::new(0));
    for writer in 0..WRITERS.min(options.total) {
        let channel = channels[writer % channels.len()].clone();
        let (options, issued, tally) = (options.clone(), issued.clone(), tally.clone());
        crate::runtime::spawn(async move {
            loop {
                let n = issued.fetch_add(1, Ordering::Relaxed);
                if n >= options.total || Instant::now() >= deadline {
                    break;
                }
                if let Err(e) = put(&channel, &options, n, started).await {
                    let mut tally = tally.lock().expect("tally lock");
                    tally.first_error.get_or_insert(e);
                }
            }
        });
    }
    for task in tasks {
        task.await;
    }
    Ok(started.elapsed())
}

async fn open_watch(channel: &Channel) -> Result<Duplex<WatchResponse>, String> {
    let failed = |e| format!("opening a watch: {}", crate::ctl::describe(e));
    let stream = channel
        .duplex::<WatchResponse>("/etcdserverpb.Watch/Watch")
        .map_err(failed)?;
    let create = WatchRequest {
        request_union: Some(watch_request::RequestUnion::CreateRequest(
            WatchCreateRequest {
                key: PREFIX.to_vec(),
                range_end: PREFIX_END.to_vec(),
                ..Default::default()
            },
        )),
    };
    stream.send(&create).await.map_err(failed)?;
    let created = crate::runtime::with_timeout(CREATE_TIMEOUT, async {
        stream
            .responses
            .recv()
            .await
            .map_err(|_| std::io::Error::other("the stream ended"))
    })
    .await
    .map_err(|e| format!("creating a watch: {e}"))?;
    if !created.created || created.canceled {
        return Err(format!("watch not created: {}", created.cancel_reason));
    }
    Ok(stream)
}

/// Reads events until `total` arrived or the deadline; their latencies and how many came.
async fn receive(
    stream: &Duplex<WatchResponse>,
    total: usize,
    started: Instant,
    deadline: Instant,
) -> (Vec<u32>, usize) {
    let mut latencies = Vec::with_capacity(total);
    while latencies.len() < total {
        let left = deadline.saturating_duration_since(Instant::now());
        let next = crate::runtime::with_timeout(left, async {
            stream
                .responses
                .recv()
                .await
                .map_err(|_| std::io::Error::other("the stream ended"))
        });
        let Ok(response) = next.await else {
            break;
        };
        let now = started.elapsed().as_micros() as u64;
        for event in &response.events {
            let sent = event
                .kv
                .as_ref()
                .and_then(|kv| kv.value.get(..8))
                .map_or(now, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
            latencies.push(now.saturating_sub(sent) as u32);
        }
    }
    let received = latencies.len();
    (latencies, received)
}

async fn put(
    channel: &Channel,
    options: &Options,
    n: usize,
    started: Instant,
) -> Result<(), String> {
    let mut key = PREFIX.to_vec();
    key.extend_from_slice(format!("{n:0width$}", width = options.key_size).as_bytes());
    let mut value = (started.elapsed().as_micros() as u64)
        .to_le_bytes()
        .to_vec();
    value.resize(options.val_size.max(8), b'v');
    let request = PutRequest {
        key,
        value,
        ..PutRequest::default()
    };
    channel
        .unary::<_, PutResponse>("/etcdserverpb.KV/Put", &request)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

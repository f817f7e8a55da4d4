//! `make-mirror DEST`: copies the keys under --prefix from the cluster of --endpoints to DEST as
//! they are at one revision, then follows every later change with a watch, one txn per source
//! revision (as etcd's mirror syncer does). Runs until stopped; prints how many keys it has
//! copied every 30 seconds. This is how a cluster moves from etcd to this server (or back).

use super::{describe, fail, Ctl, Exit, Outcome, EXIT_BAD_ARGS, EXIT_ERROR};
use crate::client::{Channel, TlsFlags};
use crate::pb::etcdserverpb as pb;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Keys per Range while copying the base state (etcd's syncer uses the same batch).
const BATCH: i64 = 1000;

pub fn make_mirror(ctl: &mut Ctl) -> Outcome {
    let [destination] = ctl.args() else {
        return Err(fail(
            EXIT_BAD_ARGS,
            "make-mirror takes one destination argument",
        ));
    };
    let destination = destination.clone();
    let prefix = ctl.string("prefix").into_bytes();
    let dest_prefix = dest_prefix(ctl, &prefix)?;
    // Every mirrored key starts with --prefix (the watch and ranges are on it).
    let rename = |key: &[u8]| -> Vec<u8> {
        let rest = key.strip_prefix(prefix.as_slice()).unwrap_or(key);
        [dest_prefix.as_slice(), rest].concat()
    };
    let source = ctl.connect()?;
    let target = connect_destination(ctl, &destination)?;
    let total = Arc::new(AtomicU64::new(0));
    let counter = total.clone();
    std::thread::spawn(move || loop {
        std::thread::sleep(std::time::Duration::from_secs(30));
        println!("{}", counter.load(Ordering::Relaxed));
    });
    let (first_key, range_end) = match prefix.is_empty() {
        true => (vec![0], vec![0]),
        false => (prefix.clone(), crate::mvcc::prefix_end(&prefix)),
    };
    let range = (first_key.as_slice(), range_end.as_slice());
    let revision = copy_base(ctl, (&source, &target), range, &rename, &total)?;
    follow(&source, &target, range, revision + 1, &rename, &total)
}

/// --dest-prefix, or --prefix again unless --no-dest-prefix (the two exclude each other).
fn dest_prefix(ctl: &Ctl, prefix: &[u8]) -> Result<Vec<u8>, Exit> {
    let dest_prefix = ctl.string("dest-prefix").into_bytes();
    let no_dest_prefix = ctl.bool("no-dest-prefix");
    if no_dest_prefix && !dest_prefix.is_empty() {
        return Err(fail(
            EXIT_BAD_ARGS,
            "`--dest-prefix` and `--no-dest-prefix` cannot be set at the same time, choose one",
        ));
    }
    Ok(match !no_dest_prefix && dest_prefix.is_empty() {
        true => prefix.to_vec(),
        false => dest_prefix,
    })
}

/// The base: every key in `(key, range_end)` as of one revision, copied in batches; that
/// revision.
fn copy_base(
    ctl: &Ctl,
    (source, target): (&Channel, &Channel),
    (key, range_end): (&[u8], &[u8]),
    rename: &dyn Fn(&[u8]) -> Vec<u8>,
    total: &AtomicU64,
) -> Result<i64, Exit> {
    let head: pb::RangeResponse = ctl.call(
        source,
        "/etcdserverpb.KV/Range",
        &pb::RangeRequest {
            key: key.to_vec(),
            range_end: range_end.to_vec(),
            limit: 1,
            keys_only: true,
            ..Default::default()
        },
    )?;
    let revision = head.header.map_or(0, |h| h.revision);
    let mut next = key.to_vec();
    loop {
        let page: pb::RangeResponse = ctl.call(
            source,
            "/etcdserverpb.KV/Range",
            &pb::RangeRequest {
                key: next.clone(),
                range_end: range_end.to_vec(),
                limit: BATCH,
                revision,
                ..Default::default()
            },
        )?;
        for kv in &page.kvs {
            let put = pb::PutRequest {
                key: rename(&kv.key),
                value: kv.value.clone(),
                ..Default::default()
            };
            let _: pb::PutResponse = ctl.call(target, "/etcdserverpb.KV/Put", &put)?;
            total.fetch_add(1, Ordering::Relaxed);
        }
        match page.kvs.last() {
            Some(last) if page.more => next = [last.key.as_slice(), &[0]].concat(),
            _ => return Ok(revision),
        }
    }
}

/// Applies the source's changes in `(key, range_end)` from `start` on: the events of one
/// revision as one txn.
fn follow(
    source: &Channel,
    target: &Channel,
    (key, range_end): (&[u8], &[u8]),
    start: i64,
    rename: &dyn Fn(&[u8]) -> Vec<u8>,
    total: &AtomicU64,
) -> Outcome {
    use pb::request_op::Request;
    let stream = source
        .duplex::<pb::WatchResponse>("/etcdserverpb.Watch/Watch")
        .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
    let create = pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key: key.to_vec(),
                range_end: range_end.to_vec(),
                start_revision: start,
                ..Default::default()
            },
        )),
    };
    crate::runtime::block_on(async {
        stream
            .send(&create)
            .await
            .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
        while let Ok(response) = stream.responses.recv().await {
            if response.compact_revision != 0 {
                return Err(fail(
                    EXIT_ERROR,
                    "etcdserver: mvcc: required revision has been compacted",
                ));
            }
            let mut ops: Vec<pb::RequestOp> = Vec::new();
            let mut last_revision = 0;
            for event in &response.events {
                let kv = event.kv.clone().unwrap_or_default();
                if last_revision != 0 && kv.mod_revision > last_revision {
                    commit(target, std::mem::take(&mut ops)).await?;
                }
                last_revision = kv.mod_revision;
                let request = if event.r#type == 1 {
                    Request::RequestDeleteRange(pb::DeleteRangeRequest {
                        key: rename(&kv.key),
                        ..Default::default()
                    })
                } else {
                    Request::RequestPut(pb::PutRequest {
                        key: rename(&kv.key),
                        value: kv.value,
                        ..Default::default()
                    })
                };
                ops.push(pb::RequestOp {
                    request: Some(request),
                });
                total.fetch_add(1, Ordering::Relaxed);
            }
            if !ops.is_empty() {
                commit(target, ops).await?;
            }
        }
        Ok(())
    })
}

/// One source revision's changes as one txn on the destination (inside the watch loop, so
/// awaited rather than run to completion on a nested executor).
async fn commit(target: &Channel, success: Vec<pb::RequestOp>) -> Result<(), Exit> {
    let txn = pb::TxnRequest {
        success,
        ..Default::default()
    };
    target
        .unary::<_, pb::TxnResponse>("/etcdserverpb.KV/Txn", &txn)
        .await
        .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
    Ok(())
}

/// The destination with its own TLS flags (--dest-cacert, --dest-cert, --dest-key).
fn connect_destination(ctl: &Ctl, destination: &str) -> Result<Channel, Exit> {
    let mut tls = TlsFlags::default();
    for (flag, slot) in [
        ("dest-cacert", &mut tls.ca),
        ("dest-cert", &mut tls.cert),
        ("dest-key", &mut tls.key),
    ] {
        let value = ctl.string(flag);
        if !value.is_empty() {
            *slot = Some(value.into());
        }
    }
    let secure = tls.ca.is_some() || tls.cert.is_some() || !ctl.bool("dest-insecure-transport");
    let endpoint = match (secure, destination.contains("://")) {
        (true, false) => format!("https://{destination}"),
        _ => destination.to_string(),
    };
    let deadline = std::time::Instant::now() + ctl.command_timeout();
    crate::runtime::block_on(async {
        loop {
            match Channel::connect(&endpoint, &tls).await {
                Ok(channel) => return Ok(channel),
                Err(_) if std::time::Instant::now() < deadline => {
                    smol::Timer::after(std::time::Duration::from_millis(100)).await;
                }
                Err(_) => return Err(fail(EXIT_ERROR, "context deadline exceeded")),
            }
        }
    })
}

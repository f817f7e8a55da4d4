//! The building blocks of clientv3's concurrency package, run in the server: candidates queue
//! under a prefix by creating `<prefix><lease in hex>` with their lease, and the one whose key
//! was created first holds the lock or the leadership. Used by lock.rs and election.rs.

use super::{kv, Api, Call, Status};
use crate::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::pb::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::pb::etcdserverpb::request_op::Request;
use crate::pb::etcdserverpb::response_op::Response as OpResponse;
use crate::pb::etcdserverpb::{
    Compare, PutRequest, RangeRequest, RequestOp, ResponseHeader, TxnRequest,
};
use crate::pb::mvccpb::KeyValue;

/// `<prefix><lease in hex>`, as concurrency.Mutex and Election name their keys.
pub fn candidate_key(prefix: &[u8], lease: i64) -> Vec<u8> {
    let mut key = prefix.to_vec();
    key.extend_from_slice(format!("{lease:x}").as_bytes());
    key
}

/// A candidate's place in the queue.
pub struct Place {
    /// The create revision of the candidate's key.
    pub revision: i64,
    /// The key as it was, if this lease had queued before (resuming a campaign).
    pub existing: Option<KeyValue>,
}

/// Creates `key` with `value` on `lease` unless it exists; either way, where it stands.
pub async fn enqueue(
    api: &Call<'_>,
    key: &[u8],
    value: &[u8],
    lease: i64,
) -> Result<Place, Status> {
    let txn = TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Create as i32,
            key: key.to_vec(),
            target_union: Some(TargetUnion::CreateRevision(0)),
            ..Compare::default()
        }],
        success: vec![RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.to_vec(),
                value: value.to_vec(),
                lease,
                ..PutRequest::default()
            })),
        }],
        failure: vec![RequestOp {
            request: Some(Request::RequestRange(RangeRequest {
                key: key.to_vec(),
                ..RangeRequest::default()
            })),
        }],
    };
    let answer = kv::txn(api, txn).await?;
    if answer.succeeded {
        return Ok(Place {
            revision: answer.header.as_ref().map_or(0, |h| h.revision),
            existing: None,
        });
    }
    let existing = match answer.responses.first().and_then(|r| r.response.as_ref()) {
        Some(OpResponse::ResponseRange(range)) => range.kvs.first().cloned(),
        _ => None,
    };
    Ok(Place {
        revision: existing.as_ref().map_or(0, |kv| kv.create_revision),
        existing,
    })
}

/// The key under `prefix` created first (`oldest`) or last before `before` (the one to wait on).
async fn in_line(
    api: &Api,
    prefix: &[u8],
    before: Option<i64>,
) -> Result<Option<KeyValue>, Status> {
    let (order, max_create_revision) = match before {
        Some(revision) => (SortOrder::Descend, revision - 1),
        None => (SortOrder::Ascend, 0),
    };
    let answer = kv::range(
        api,
        RangeRequest {
            key: prefix.to_vec(),
            range_end: crate::mvcc::prefix_end(prefix),
            max_create_revision,
            sort_order: order as i32,
            sort_target: SortTarget::Create as i32,
            limit: 1,
            ..RangeRequest::default()
        },
    )
    .await?;
    Ok(answer.kvs.into_iter().next())
}

/// The key under `prefix` created first: the lock holder or the leader.
pub async fn first(api: &Api, prefix: &[u8]) -> Result<Option<KeyValue>, Status> {
    in_line(api, prefix, None).await
}

/// Waits until no key under `prefix` was created before `revision`.
pub async fn wait_turn(api: &Api, prefix: &[u8], revision: i64) -> Result<(), Status> {
    let wake = api.hub.subscribe();
    while in_line(api, prefix, Some(revision)).await?.is_some() {
        let _ = wake.recv().await;
    }
    Ok(())
}

/// The key as it is now, if it still exists (its lease may have expired while waiting).
pub async fn current(
    api: &Api,
    key: &[u8],
) -> Result<(Option<KeyValue>, Option<ResponseHeader>), Status> {
    let answer = kv::range(
        api,
        RangeRequest {
            key: key.to_vec(),
            ..RangeRequest::default()
        },
    )
    .await?;
    Ok((answer.kvs.into_iter().next(), answer.header))
}

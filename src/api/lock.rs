//! The Lock service (etcd's v3lock): a lock is the key `<name>/<lease in hex>` attached to the
//! caller's lease; it is held once no key under `<name>/` was created before it. This is
//! clientv3's concurrency.Mutex run inside the server, as etcd's v3lock server does, with the
//! Hub standing in for the watch on the previous holder's key.

use super::{kv, Api, Code, Status};
use crate::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::pb::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::pb::etcdserverpb::request_op::Request;
use crate::pb::etcdserverpb::response_op::Response as OpResponse;
use crate::pb::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
};
use crate::pb::v3lockpb::{LockRequest, LockResponse, UnlockRequest, UnlockResponse};

/// The end of the range of keys starting with `prefix` (etcd's GetPrefixRangeEnd).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

pub async fn lock(api: &Api, request: LockRequest) -> Result<LockResponse, Status> {
    let mut prefix = request.name.clone();
    prefix.push(b'/');
    let mut key = prefix.clone();
    key.extend_from_slice(format!("{:x}", request.lease).as_bytes());
    // Create our key unless this lease holds it already; learn its create revision.
    let get = RequestOp {
        request: Some(Request::RequestRange(RangeRequest {
            key: key.clone(),
            ..RangeRequest::default()
        })),
    };
    let txn = TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Create as i32,
            key: key.clone(),
            target_union: Some(TargetUnion::CreateRevision(0)),
            ..Compare::default()
        }],
        success: vec![RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.clone(),
                lease: request.lease,
                ..PutRequest::default()
            })),
        }],
        failure: vec![get],
    };
    let created = kv::txn(api, txn).await?;
    let my_revision = if created.succeeded {
        created.header.as_ref().map_or(0, |h| h.revision)
    } else {
        match created.responses.first().and_then(|r| r.response.as_ref()) {
            Some(OpResponse::ResponseRange(range)) => {
                range.kvs.first().map_or(0, |kv| kv.create_revision)
            }
            _ => 0,
        }
    };
    // Wait until no key under the prefix was created before ours.
    let wake = api.hub.subscribe();
    loop {
        let earlier = kv::range(
            api,
            RangeRequest {
                key: prefix.clone(),
                range_end: prefix_end(&prefix),
                max_create_revision: my_revision - 1,
                sort_order: SortOrder::Descend as i32,
                sort_target: SortTarget::Create as i32,
                limit: 1,
                ..RangeRequest::default()
            },
        )
        .await?;
        if earlier.kvs.is_empty() {
            break;
        }
        let _ = wake.recv().await;
    }
    // The lease may have expired while we waited: then the lock is not ours.
    let mine = kv::range(
        api,
        RangeRequest {
            key: key.clone(),
            ..RangeRequest::default()
        },
    )
    .await?;
    if mine.kvs.is_empty() {
        return Err(Status::new(Code::Unknown, "session expired"));
    }
    Ok(LockResponse {
        header: mine.header,
        key,
    })
}

pub async fn unlock(api: &Api, request: UnlockRequest) -> Result<UnlockResponse, Status> {
    let deleted = kv::delete_range(
        api,
        DeleteRangeRequest {
            key: request.key,
            ..DeleteRangeRequest::default()
        },
    )
    .await?;
    Ok(UnlockResponse {
        header: deleted.header,
    })
}

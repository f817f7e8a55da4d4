//! The KV service: Range, Put, DeleteRange, Txn, Compact, validated as etcd's v3rpc/key.go.

use super::{Api, Call, Code, Status};
use crate::apply::{self, Applied, Snapshot};
use crate::mvcc::Store;
use crate::pb::etcdserverpb::request_op::Request;
use crate::pb::etcdserverpb::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    InternalRaftRequest, PutRequest, PutResponse, RangeRequest, RangeResponse, RequestOp,
    TxnRequest, TxnResponse,
};
use std::collections::HashSet;

/// etcd's only rule for a key: it is not empty (its size counts in --max-request-bytes).
fn check_interval(key: &[u8], _range_end: &[u8]) -> Result<(), Status> {
    if key.is_empty() {
        return Err(Status::empty_key());
    }
    Ok(())
}

pub async fn range(api: &Api, request: RangeRequest) -> Result<RangeResponse, Status> {
    check_interval(&request.key, &request.range_end)?;
    if !request.serializable {
        api.refuse_learner()?;
        api.raft.read_barrier().await?;
    }
    let mut response = if request.range_end.is_empty() {
        read_range(&api.store, &request)?
    } else {
        // A range of many keys is read and encoded in one go (a million keys take a second or
        // more): on a blocking thread, so the executor threads, which on 2 CPUs are the main
        // thread alone, keep serving other clients and the peers' heartbeats meanwhile.
        let store = api.store.clone();
        smol::unblock(move || read_range(&store, &request)).await?
    };
    response.header = api.header(response.header.map_or(0, |h| h.revision));
    Ok(response)
}

/// A range read from the store as it is now.
fn read_range(store: &Store, request: &RangeRequest) -> Result<RangeResponse, Status> {
    let snapshot = Snapshot {
        store,
        txn: store.read_txn()?,
    };
    Ok(apply::range(&snapshot, request)?)
}

fn check_put(request: &PutRequest) -> Result<(), Status> {
    check_interval(&request.key, &[])?;
    if request.ignore_value && !request.value.is_empty() {
        return Err(Status::new(
            Code::InvalidArgument,
            "etcdserver: value is provided",
        ));
    }
    if request.ignore_lease && request.lease != 0 {
        return Err(Status::new(
            Code::InvalidArgument,
            "etcdserver: lease is provided",
        ));
    }
    Ok(())
}

pub async fn put(api: &Call<'_>, request: PutRequest) -> Result<PutResponse, Status> {
    check_put(&request)?;
    let request = Box::new(InternalRaftRequest {
        put: Some(request),
        ..Default::default()
    });
    api.propose_expecting(request, expect_applied!(Applied::Put))
        .await
}

pub async fn delete_range(
    api: &Call<'_>,
    request: DeleteRangeRequest,
) -> Result<DeleteRangeResponse, Status> {
    check_interval(&request.key, &request.range_end)?;
    let request = Box::new(InternalRaftRequest {
        delete_range: Some(request),
        ..Default::default()
    });
    api.propose_expecting(request, expect_applied!(Applied::DeleteRange))
        .await
}

/// Txns nested inside a txn, at most. prost decodes messages up to 100 levels deep; each
/// nested txn takes two (TxnRequest, RequestOp) and a proposal wraps the request once more, so
/// a deeper txn would decode here but not when its committed entry is applied. etcd takes up to
/// --max-txn-ops levels; deeper than this we answer as etcd does past its own limit.
pub(crate) const MAX_TXN_NESTING: usize = 48;

pub async fn txn(api: &Call<'_>, request: TxnRequest) -> Result<TxnResponse, Status> {
    check_txn(&request, api.limits.max_txn_ops, MAX_TXN_NESTING)?;
    check_no_duplicate_keys(&request.success)?;
    check_no_duplicate_keys(&request.failure)?;
    let request = Box::new(InternalRaftRequest {
        txn: Some(request),
        ..Default::default()
    });
    api.propose_expecting(request, expect_applied!(Applied::Txn))
        .await
}

pub async fn compact(
    api: &Call<'_>,
    request: CompactionRequest,
) -> Result<CompactionResponse, Status> {
    let request = Box::new(InternalRaftRequest {
        compaction: Some(request),
        ..Default::default()
    });
    api.propose_expecting(request, expect_applied!(Applied::Compaction))
        .await
}

pub(crate) fn too_many_ops() -> Status {
    Status::new(
        Code::InvalidArgument,
        "etcdserver: too many operations in txn request",
    )
}

/// etcd's checkTxnRequest: op counts (a nested txn gets what its parent left of the budget),
/// empty keys, and every op of both branches; `nesting_left`: how many more levels may nest.
fn check_txn(request: &TxnRequest, max_ops: usize, nesting_left: usize) -> Result<(), Status> {
    let ops = request
        .compare
        .len()
        .max(request.success.len())
        .max(request.failure.len());
    if ops > max_ops {
        return Err(too_many_ops());
    }
    for compare in &request.compare {
        check_interval(&compare.key, &compare.range_end)?;
    }
    for op in request.success.iter().chain(&request.failure) {
        match &op.request {
            Some(Request::RequestRange(r)) => check_interval(&r.key, &r.range_end)?,
            Some(Request::RequestPut(r)) => check_put(r)?,
            Some(Request::RequestDeleteRange(r)) => check_interval(&r.key, &r.range_end)?,
            Some(Request::RequestTxn(r)) => {
                let nesting_left = nesting_left.checked_sub(1).ok_or_else(too_many_ops)?;
                check_txn(r, max_ops - ops, nesting_left)?
            }
            None => {
                return Err(Status::new(
                    Code::InvalidArgument,
                    "etcdserver: key not found",
                ))
            }
        }
    }
    Ok(())
}

/// A key interval as etcd's txn check sees it: one key (end empty) or [start, end). Like etcd's
/// interval tree, an end of "\0" (from-key) contains nothing here.
struct Interval {
    start: Vec<u8>,
    end: Vec<u8>,
}

impl Interval {
    fn contains(&self, key: &[u8]) -> bool {
        match self.end.as_slice() {
            [] => key == self.start.as_slice(),
            end => key >= self.start.as_slice() && key < end,
        }
    }
}

fn duplicate_key() -> Status {
    Status::new(
        Code::InvalidArgument,
        "etcdserver: duplicate key given in txn request",
    )
}

/// etcd's checkIntervals: within one branch (and the branches nested in it) no key may be put
/// twice or be both put and deleted; then and else of a nested txn may put the same key.
fn check_no_duplicate_keys(ops: &[RequestOp]) -> Result<(), Status> {
    collect_writes(ops).map(|_| ())
}

fn collect_writes(ops: &[RequestOp]) -> Result<(HashSet<Vec<u8>>, Vec<Interval>), Status> {
    let mut deletes: Vec<Interval> = ops
        .iter()
        .filter_map(|op| match &op.request {
            Some(Request::RequestDeleteRange(d)) => Some(Interval {
                start: d.key.clone(),
                end: d.range_end.clone(),
            }),
            _ => None,
        })
        .collect();
    let mut puts: HashSet<Vec<u8>> = HashSet::new();
    for op in ops {
        let Some(Request::RequestTxn(nested)) = &op.request else {
            continue;
        };
        let (puts_then, deletes_then) = collect_writes(&nested.success)?;
        let (puts_else, deletes_else) = collect_writes(&nested.failure)?;
        for key in &puts_then {
            if puts.contains(key) || deletes.iter().any(|d| d.contains(key)) {
                return Err(duplicate_key());
            }
        }
        for key in &puts_else {
            let clashes = puts.contains(key) && !puts_then.contains(key);
            if clashes || deletes.iter().any(|d| d.contains(key)) {
                return Err(duplicate_key());
            }
        }
        puts.extend(puts_then);
        puts.extend(puts_else);
        deletes.extend(deletes_then);
        deletes.extend(deletes_else);
    }
    for op in ops {
        let Some(Request::RequestPut(put)) = &op.request else {
            continue;
        };
        if !puts.insert(put.key.clone()) || deletes.iter().any(|d| d.contains(&put.key)) {
            return Err(duplicate_key());
        }
    }
    Ok((puts, deletes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// A txn with `nested` txns inside it, one in another, the innermost putting one key.
    fn nested_txn(nested: usize) -> TxnRequest {
        let put = Request::RequestPut(PutRequest {
            key: b"k".to_vec(),
            ..PutRequest::default()
        });
        let mut txn = TxnRequest {
            success: vec![RequestOp { request: Some(put) }],
            ..TxnRequest::default()
        };
        for _ in 0..nested {
            txn = TxnRequest {
                success: vec![RequestOp {
                    request: Some(Request::RequestTxn(txn)),
                }],
                ..TxnRequest::default()
            };
        }
        txn
    }

    #[test]
    fn every_txn_the_api_accepts_decodes_again_at_apply() {
        let deepest = nested_txn(MAX_TXN_NESTING);
        assert_eq!(check_txn(&deepest, 128, MAX_TXN_NESTING), Ok(()));
        let proposal = Box::new(InternalRaftRequest {
            txn: Some(deepest),
            ..InternalRaftRequest::default()
        });
        assert!(InternalRaftRequest::decode(proposal.encode_to_vec().as_slice()).is_ok());
        let deeper = nested_txn(MAX_TXN_NESTING + 1);
        assert_eq!(
            check_txn(&deeper, 128, MAX_TXN_NESTING),
            Err(too_many_ops())
        );
    }

    #[test]
    fn nesting_spends_the_op_budget_as_etcd_counts_it() {
        // etcd takes 127 nested one-op txns at --max-txn-ops 128 and refuses 128; with a
        // budget of 10 it refuses the tenth level.
        assert_eq!(check_txn(&nested_txn(9), 10, MAX_TXN_NESTING), Ok(()));
        assert_eq!(
            check_txn(&nested_txn(10), 10, MAX_TXN_NESTING),
            Err(too_many_ops())
        );
    }

    #[test]
    fn fuzz_txn_requests() {
        let put = |key: &[u8]| RequestOp {
            request: Some(Request::RequestPut(PutRequest {
                key: key.to_vec(),
                value: b"v".to_vec(),
                ..PutRequest::default()
            })),
        };
        let seeds = [
            nested_txn(3).encode_to_vec(),
            TxnRequest {
                compare: vec![crate::pb::etcdserverpb::Compare {
                    key: b"a".to_vec(),
                    range_end: b"b".to_vec(),
                    ..Default::default()
                }],
                success: vec![put(b"a"), put(b"b")],
                failure: vec![RequestOp {
                    request: Some(Request::RequestDeleteRange(DeleteRangeRequest {
                        key: b"a".to_vec(),
                        range_end: vec![0],
                        ..Default::default()
                    })),
                }],
            }
            .encode_to_vec(),
        ];
        crate::fuzz::run("txn requests", &seeds, |bytes| {
            if let Ok(request) = TxnRequest::decode(bytes) {
                if check_txn(&request, 128, MAX_TXN_NESTING).is_ok() {
                    let _ = check_no_duplicate_keys(&request.success);
                    let proposal = Box::new(InternalRaftRequest {
                        txn: Some(request),
                        ..InternalRaftRequest::default()
                    });
                    // What the API accepts must decode again at apply.
                    let encoded = proposal.encode_to_vec();
                    assert!(InternalRaftRequest::decode(encoded.as_slice()).is_ok());
                }
            }
        });
    }
}

//! Txn: compare, then the success or failure ops, nested txns included. As in etcd, every compare
//! on the chosen path is evaluated against the store before any op runs, and every op is checked
//! before the first one changes anything, so a txn either applies whole or not at all.

use super::range::{range, ReadView};
use super::{check_put, delete_range, put};
use crate::mvcc::{KvError, RangeOptions, Writer};
use crate::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::pb::etcdserverpb::request_op::Request;
use crate::pb::etcdserverpb::response_op::Response;
use crate::pb::etcdserverpb::{
    Compare, RequestOp, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use crate::pb::mvccpb::KeyValue;
use std::cmp::Ordering;

pub fn txn(writer: &mut Writer, request: &TxnRequest) -> Result<TxnResponse, KvError> {
    let mut path = Vec::new();
    choose_path(writer, request, &mut path)?;
    let mut cursor = path.iter().copied();
    check_path(writer, request, &mut cursor)?;
    let mut cursor = path.iter().copied();
    execute(writer, request, &mut cursor)
}

/// Records, depth first, whether each txn on the taken path succeeded.
fn choose_path(writer: &Writer, request: &TxnRequest, path: &mut Vec<bool>) -> Result<(), KvError> {
    let mut succeeded = true;
    for compare in &request.compare {
        if !evaluate(writer, compare)? {
            succeeded = false;
            break;
        }
    }
    path.push(succeeded);
    for op in branch(request, succeeded) {
        if let Some(Request::RequestTxn(nested)) = &op.request {
            choose_path(writer, nested, path)?;
        }
    }
    Ok(())
}

fn branch(request: &TxnRequest, succeeded: bool) -> &[RequestOp] {
    if succeeded {
        &request.success
    } else {
        &request.failure
    }
}

fn check_path(
    writer: &Writer,
    request: &TxnRequest,
    path: &mut impl Iterator<Item = bool>,
) -> Result<(), KvError> {
    let succeeded = path.next().expect("a path entry per txn");
    for op in branch(request, succeeded) {
        match &op.request {
            Some(Request::RequestPut(put_request)) => check_put(writer, put_request)?,
            Some(Request::RequestRange(range_request)) if range_request.revision > 0 => {
                let options = RangeOptions {
                    limit: 1,
                    revision: range_request.revision,
                    count_only: true,
                };
                writer.range(&range_request.key, &range_request.range_end, &options)?;
            }
            Some(Request::RequestTxn(nested)) => check_path(writer, nested, path)?,
            _ => {}
        }
    }
    Ok(())
}

fn execute(
    writer: &mut Writer,
    request: &TxnRequest,
    path: &mut impl Iterator<Item = bool>,
) -> Result<TxnResponse, KvError> {
    let succeeded = path.next().expect("a path entry per txn");
    let mut responses = Vec::new();
    for op in branch(request, succeeded) {
        let response = match &op.request {
            Some(Request::RequestRange(r)) => Some(Response::ResponseRange(range(&*writer, r)?)),
            Some(Request::RequestPut(r)) => Some(Response::ResponsePut(put(writer, r)?)),
            Some(Request::RequestDeleteRange(r)) => {
                Some(Response::ResponseDeleteRange(delete_range(writer, r)?))
            }
            Some(Request::RequestTxn(r)) => {
                // etcd leaves a nested txn's header empty.
                let mut nested = execute(writer, r, path)?;
                nested.header = Some(ResponseHeader::default());
                Some(Response::ResponseTxn(nested))
            }
            None => None,
        };
        responses.push(ResponseOp { response });
    }
    Ok(TxnResponse {
        header: None,
        succeeded,
        responses,
    })
}

/// etcd's applyCompare: every key in the compare's range must satisfy it; a missing key compares
/// as zero values, except that a value compare on a missing key always fails.
fn evaluate(view: &impl ReadView, compare: &Compare) -> Result<bool, KvError> {
    let options = RangeOptions {
        limit: 0,
        revision: 0,
        count_only: false,
    };
    let result = view.read(&compare.key, &compare.range_end, &options)?;
    let target = CompareTarget::try_from(compare.target).unwrap_or(CompareTarget::Version);
    if result.kvs.is_empty() {
        return Ok(target != CompareTarget::Value && holds(compare, target, &KeyValue::default()));
    }
    Ok(result.kvs.iter().all(|kv| holds(compare, target, kv)))
}

fn holds(compare: &Compare, target: CompareTarget, kv: &KeyValue) -> bool {
    let number = |value: Option<i64>| value.unwrap_or(0);
    let ordering = match (target, &compare.target_union) {
        (CompareTarget::Value, Some(TargetUnion::Value(value))) => {
            kv.value.as_slice().cmp(value.as_slice())
        }
        (CompareTarget::Value, _) => kv.value.as_slice().cmp(&[]),
        (CompareTarget::Create, union) => kv.create_revision.cmp(&number(match union {
            Some(TargetUnion::CreateRevision(r)) => Some(*r),
            _ => None,
        })),
        (CompareTarget::Mod, union) => kv.mod_revision.cmp(&number(match union {
            Some(TargetUnion::ModRevision(r)) => Some(*r),
            _ => None,
        })),
        (CompareTarget::Version, union) => kv.version.cmp(&number(match union {
            Some(TargetUnion::Version(v)) => Some(*v),
            _ => None,
        })),
        (CompareTarget::Lease, union) => kv.lease.cmp(&number(match union {
            Some(TargetUnion::Lease(l)) => Some(*l),
            _ => None,
        })),
    };
    match CompareResult::try_from(compare.result).unwrap_or(CompareResult::Equal) {
        CompareResult::Equal => ordering == Ordering::Equal,
        CompareResult::NotEqual => ordering != Ordering::Equal,
        CompareResult::Greater => ordering == Ordering::Greater,
        CompareResult::Less => ordering == Ordering::Less,
    }
}

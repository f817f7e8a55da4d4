//! Apply: what a committed request does to the keyspace and what it answers, with etcd's
//! semantics (etcdserver/apply.go). Deterministic: every member computes the same result from
//! the same entry, so an error here (say, a compacted revision) is an answer, not a failure.

mod auth;
pub mod membership;
mod range;
mod txn;

pub use auth::check_range as check_permission_range;

pub use range::{range, Snapshot};

use crate::mvcc::{KvError, Store, Writer};
use crate::pb::etcdserverpb::alarm_request::AlarmAction;
use crate::pb::etcdserverpb::{
    AlarmMember, AlarmRequest, AlarmResponse, AlarmType, CompactionRequest, CompactionResponse,
    DeleteRangeRequest, DeleteRangeResponse, InternalRaftRequest, LeaseGrantRequest,
    LeaseGrantResponse, LeaseRevokeRequest, LeaseRevokeResponse, PutRequest, PutResponse,
    ResponseHeader, TxnResponse,
};
use heed::RwTxn;

/// The answer to one applied client request (its header carries only the revision; the API
/// layer fills in cluster, member and term).
#[derive(Debug)]
pub enum Applied {
    Put(PutResponse),
    DeleteRange(DeleteRangeResponse),
    Txn(TxnResponse),
    Compaction(CompactionResponse),
    /// A member-internal request (attributes, cluster version): nobody waits for an answer.
    Internal,
    /// A membership change took effect.
    Members,
    LeaseGrant(LeaseGrantResponse),
    LeaseRevoke(LeaseRevokeResponse),
    /// A keep-alive through a follower applied: the lease's granted TTL.
    LeaseRenewed(i64),
    Alarm(crate::pb::etcdserverpb::AlarmResponse),
    /// An auth store write applied (its answer is a header only).
    Auth,
    /// A user authenticated; the raft loop completes the token with the entry's index.
    Authenticated(crate::pb::etcdserverpb::AuthenticateResponse),
    /// A v2 keys API write: its event, or etcd's v2 error.
    V2(Box<crate::v2::Answer>),
}

pub type ApplyResult = Result<Applied, KvError>;

pub(crate) fn header(revision: i64) -> Option<ResponseHeader> {
    Some(ResponseHeader {
        revision,
        ..ResponseHeader::default()
    })
}

/// Applies one client or internal request inside the batch's write transaction.
pub fn apply(store: &Store, txn: &mut RwTxn, request: &InternalRaftRequest) -> ApplyResult {
    let alarms = store.alarms(txn)?;
    let raised = |alarm: AlarmType| alarms.iter().any(|(_, a)| *a == alarm as i32);
    if raised(AlarmType::Corrupt) && writes(request) {
        // etcd's corrupt applier: a corrupt cluster takes no more writes.
        return Err(KvError::Corrupt);
    }
    if adds_data(request) && raised(AlarmType::Nospace) {
        // etcd's capped applier: with NOSPACE raised only what frees space applies.
        return Err(KvError::NoSpace);
    }
    auth::check_revision(store, txn, request)?;
    if let Some(alarm) = &request.alarm {
        return apply_alarm(store, txn, alarm).map(Applied::Alarm);
    }
    if auth::is_auth(request) {
        return auth::apply(store, txn, request);
    }
    if let Some(v2) = &request.v2 {
        return crate::v2::apply(store, txn, v2)
            .map(|answer| Applied::V2(Box::new(answer)))
            .map_err(KvError::Storage);
    }
    check_keys(request)?;
    if let Some(put_request) = &request.put {
        return finish_write(store, txn, |w| put(w, put_request)).map(Applied::Put);
    }
    if let Some(delete) = &request.delete_range {
        return finish_write(store, txn, |w| delete_range(w, delete)).map(Applied::DeleteRange);
    }
    if let Some(txn_request) = &request.txn {
        return finish_write(store, txn, |w| txn::txn(w, txn_request)).map(Applied::Txn);
    }
    if let Some(compaction) = &request.compaction {
        return compact(store, txn, compaction).map(Applied::Compaction);
    }
    if let Some(attributes) = &request.member_attributes {
        membership::apply_attributes(store, txn, attributes)?;
        return Ok(Applied::Internal);
    }
    if let Some(grant) = &request.lease_grant {
        return lease_grant(store, txn, grant).map(Applied::LeaseGrant);
    }
    if let Some(revoke) = &request.lease_revoke {
        return finish_write(store, txn, |w| lease_revoke(w, revoke)).map(Applied::LeaseRevoke);
    }
    if let Some(renew) = &request.lease_renew {
        return store
            .lease_ttl(txn, renew.id)?
            .map(Applied::LeaseRenewed)
            .ok_or(KvError::LeaseNotFound);
    }
    if request.lease_checkpoint.is_some() {
        // Remaining TTLs live in the raft thread's lease clock (raft/leases.rs), not the store.
        return Ok(Applied::Internal);
    }
    if let Some(update) = &request.member_peer_urls {
        membership::apply_peer_urls(store, txn, update)?;
        return Ok(Applied::Members);
    }
    if let Some(version) = &request.cluster_version_set {
        store.set_cluster_version(txn, &version.version)?;
        return Ok(Applied::Internal);
    }
    log::warn!("apply: ignoring a request of a kind this member does not know");
    Ok(Applied::Internal)
}

/// Refuses, before anything is written, a request with a key the store cannot hold (an empty
/// one). The API refuses such keys first; a committed entry (from an older build, or damaged)
/// may still carry one, and it must be answered, not make the store fail half-way.
fn check_keys(request: &InternalRaftRequest) -> Result<(), KvError> {
    if let Some(put) = &request.put {
        check_key(&put.key)?;
    }
    if let Some(delete) = &request.delete_range {
        check_key(&delete.key)?;
    }
    if let Some(txn) = &request.txn {
        check_txn_keys(txn)?;
    }
    Ok(())
}

fn check_txn_keys(txn: &crate::pb::etcdserverpb::TxnRequest) -> Result<(), KvError> {
    use crate::pb::etcdserverpb::request_op::Request;
    for compare in &txn.compare {
        check_key(&compare.key)?;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(Request::RequestRange(r)) => check_key(&r.key)?,
            Some(Request::RequestPut(r)) => check_key(&r.key)?,
            Some(Request::RequestDeleteRange(r)) => check_key(&r.key)?,
            Some(Request::RequestTxn(nested)) => check_txn_keys(nested)?,
            None => {}
        }
    }
    Ok(())
}

fn check_key(key: &[u8]) -> Result<(), KvError> {
    if key.is_empty() {
        return Err(KvError::Unapplicable(
            "an empty key cannot be stored".to_string(),
        ));
    }
    Ok(())
}

/// Requests etcd's corrupt applier refuses: everything that changes keys or leases.
fn writes(request: &InternalRaftRequest) -> bool {
    request.put.is_some()
        || request.delete_range.is_some()
        || request.txn.is_some()
        || request.compaction.is_some()
        || request.lease_grant.is_some()
        || request.lease_revoke.is_some()
}

/// Requests etcd refuses while NOSPACE is raised: puts, txns that put, lease grants.
pub fn adds_data(request: &InternalRaftRequest) -> bool {
    request.put.is_some()
        || request.lease_grant.is_some()
        || request.txn.as_ref().is_some_and(|t| {
            t.success.iter().chain(&t.failure).any(|op| {
                matches!(
                    op.request,
                    Some(crate::pb::etcdserverpb::request_op::Request::RequestPut(_))
                        | Some(crate::pb::etcdserverpb::request_op::Request::RequestTxn(_))
                )
            })
        })
}

/// Raises or clears an alarm (replicated, so every member refuses the same writes).
fn apply_alarm(
    store: &Store,
    txn: &mut RwTxn,
    request: &AlarmRequest,
) -> Result<AlarmResponse, KvError> {
    let mut alarms = store.alarms(txn)?;
    let entry = (request.member_id, request.alarm);
    let changed = match AlarmAction::try_from(request.action).unwrap_or(AlarmAction::Get) {
        AlarmAction::Activate if !alarms.contains(&entry) => {
            alarms.push(entry);
            vec![entry]
        }
        AlarmAction::Deactivate if alarms.contains(&entry) => {
            alarms.retain(|a| *a != entry);
            vec![entry]
        }
        _ => Vec::new(),
    };
    store.set_alarms(txn, &alarms)?;
    Ok(AlarmResponse {
        header: header(store.current_revision(txn)?),
        alarms: changed
            .into_iter()
            .map(|(member_id, alarm)| AlarmMember { member_id, alarm })
            .collect(),
    })
}

/// Runs one request in its own Writer; the response header gets the request's final revision.
fn finish_write<T: HasHeader>(
    store: &Store,
    txn: &mut RwTxn,
    body: impl FnOnce(&mut Writer) -> Result<T, KvError>,
) -> Result<T, KvError> {
    let mut writer = Writer::new(store, txn)?;
    let mut response = body(&mut writer)?;
    response.set_revision(writer.finish()?);
    Ok(response)
}

/// A response with etcd's top-level header.
pub trait HasHeader {
    fn header_mut(&mut self) -> &mut Option<ResponseHeader>;

    fn set_revision(&mut self, revision: i64) {
        *self.header_mut() = header(revision);
    }
}

macro_rules! has_header {
    ($($response:ty),*) => {$(
        impl HasHeader for $response {
            fn header_mut(&mut self) -> &mut Option<ResponseHeader> {
                &mut self.header
            }
        }
    )*};
}
has_header!(
    PutResponse,
    DeleteRangeResponse,
    TxnResponse,
    CompactionResponse,
    LeaseGrantResponse,
    LeaseRevokeResponse,
    AlarmResponse
);

/// Checks a put can apply (etcd's checkPut): a lease must exist, ignore_* need the key.
pub(crate) fn check_put(writer: &Writer, request: &PutRequest) -> Result<(), KvError> {
    if request.lease != 0 && !request.ignore_lease && !writer.lease_exists(request.lease)? {
        return Err(KvError::LeaseNotFound);
    }
    if (request.ignore_value || request.ignore_lease) && writer.get(&request.key)?.is_none() {
        return Err(KvError::KeyNotFound);
    }
    Ok(())
}

pub(crate) fn put(writer: &mut Writer, request: &PutRequest) -> Result<PutResponse, KvError> {
    check_put(writer, request)?;
    let previous = if request.ignore_value || request.ignore_lease || request.prev_kv {
        writer.get(&request.key)?
    } else {
        None
    };
    let value = match (&previous, request.ignore_value) {
        (Some(previous), true) => previous.value.clone(),
        _ => request.value.clone(),
    };
    let lease = match (&previous, request.ignore_lease) {
        (Some(previous), true) => previous.lease,
        _ => request.lease,
    };
    writer.put(&request.key, value, lease)?;
    let prev_kv = if request.prev_kv { previous } else { None };
    Ok(PutResponse {
        header: header(writer.view_revision()),
        prev_kv,
    })
}

pub(crate) fn delete_range(
    writer: &mut Writer,
    request: &DeleteRangeRequest,
) -> Result<DeleteRangeResponse, KvError> {
    let deleted = writer.delete_range(&request.key, &request.range_end)?;
    Ok(DeleteRangeResponse {
        header: header(writer.view_revision()),
        deleted: deleted.len() as i64,
        prev_kvs: if request.prev_kv { deleted } else { Vec::new() },
    })
}

fn lease_grant(
    store: &Store,
    txn: &mut RwTxn,
    request: &LeaseGrantRequest,
) -> Result<LeaseGrantResponse, KvError> {
    if store.lease_ttl(txn, request.id)?.is_some() {
        return Err(KvError::LeaseExists);
    }
    store.put_lease(txn, request.id, request.ttl)?;
    Ok(LeaseGrantResponse {
        header: header(store.current_revision(txn)?),
        id: request.id,
        ttl: request.ttl,
        error: String::new(),
    })
}

/// Deletes the lease's keys (all in one revision, as etcd) and the lease.
fn lease_revoke(
    writer: &mut Writer,
    request: &LeaseRevokeRequest,
) -> Result<LeaseRevokeResponse, KvError> {
    let keys = writer
        .lease_keys(request.id)?
        .ok_or(KvError::LeaseNotFound)?;
    for key in keys {
        writer.delete_range(&key, &[])?;
    }
    writer.delete_lease(request.id)?;
    Ok(LeaseRevokeResponse {
        header: header(writer.view_revision()),
    })
}

fn compact(
    store: &Store,
    txn: &mut RwTxn,
    request: &CompactionRequest,
) -> Result<CompactionResponse, KvError> {
    store.compact(txn, request.revision)?;
    Ok(CompactionResponse {
        header: header(store.current_revision(txn)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::{
        request_op, Compare, LeaseRenewRequest, MemberAttributesRequest, RequestOp, TxnRequest,
    };
    use prost::Message;

    #[test]
    fn fuzz_apply_of_committed_requests() {
        let store = crate::mvcc::scratch_store("apply-fuzz", 1 << 30);
        // Some state for the requests to meet: keys, a lease, history.
        let mut txn = store.write_txn().unwrap();
        for (i, key) in [&b"a"[..], b"b", b"c"].iter().enumerate() {
            let request = InternalRaftRequest {
                put: Some(PutRequest {
                    key: key.to_vec(),
                    value: vec![b'v'; i],
                    ..PutRequest::default()
                }),
                ..InternalRaftRequest::default()
            };
            apply(&store, &mut txn, &request).unwrap();
        }
        store.put_lease(&mut txn, 7, 60).unwrap();
        txn.commit().unwrap();
        let request = |r: InternalRaftRequest| r.encode_to_vec();
        let put = |key: &[u8], lease: i64| PutRequest {
            key: key.to_vec(),
            value: b"x".to_vec(),
            lease,
            prev_kv: true,
            ..PutRequest::default()
        };
        let seeds = [
            request(InternalRaftRequest {
                put: Some(put(b"a", 7)),
                ..Default::default()
            }),
            request(InternalRaftRequest {
                delete_range: Some(DeleteRangeRequest {
                    key: b"a".to_vec(),
                    range_end: vec![0],
                    prev_kv: true,
                }),
                ..Default::default()
            }),
            request(InternalRaftRequest {
                txn: Some(TxnRequest {
                    compare: vec![Compare {
                        key: b"b".to_vec(),
                        ..Compare::default()
                    }],
                    success: vec![RequestOp {
                        request: Some(request_op::Request::RequestPut(put(b"b", 0))),
                    }],
                    failure: vec![RequestOp {
                        request: Some(request_op::Request::RequestRange(
                            crate::pb::etcdserverpb::RangeRequest {
                                key: b"a".to_vec(),
                                range_end: b"z".to_vec(),
                                revision: 2,
                                ..Default::default()
                            },
                        )),
                    }],
                }),
                ..Default::default()
            }),
            request(InternalRaftRequest {
                compaction: Some(CompactionRequest {
                    revision: 3,
                    physical: false,
                }),
                ..Default::default()
            }),
            request(InternalRaftRequest {
                lease_revoke: Some(LeaseRevokeRequest { id: 7 }),
                lease_renew: Some(LeaseRenewRequest { id: 7 }),
                ..Default::default()
            }),
            request(InternalRaftRequest {
                lease_grant: Some(LeaseGrantRequest { ttl: 10, id: 8 }),
                ..Default::default()
            }),
            request(InternalRaftRequest {
                alarm: Some(AlarmRequest {
                    action: 1,
                    member_id: 1,
                    alarm: 1,
                }),
                member_attributes: Some(MemberAttributesRequest {
                    member_id: 1,
                    name: "m".into(),
                    client_urls: vec!["http://x".into()],
                }),
                ..Default::default()
            }),
        ];
        crate::fuzz::run("apply", &seeds, |bytes| {
            let Ok(request) = InternalRaftRequest::decode(bytes) else {
                return;
            };
            // Whatever a committed entry holds, applying it answers; only storage may fail.
            let mut txn = store.write_txn().unwrap();
            if let Err(KvError::Storage(e)) = apply(&store, &mut txn, &request) {
                panic!("storage error {e}");
            }
            drop(txn);
        });
    }
}

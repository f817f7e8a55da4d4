//! The Lease service (etcd's v3rpc/lease.go): Grant, Revoke and the lease list go through raft
//! or the store; KeepAlive is a bidirectional stream answered through the leader's lease clock
//! (raft/leases.rs); TimeToLive reads that clock.

use super::grpc::{Gone, StreamWriter};
use super::{Api, Call, Code, Status};
use crate::apply::Applied;
use crate::auth::Access;
use crate::mvcc::{KvError, Store};
use crate::pb::etcdserverpb::{
    InternalRaftRequest, LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveRequest,
    LeaseKeepAliveResponse, LeaseLeasesRequest, LeaseLeasesResponse, LeaseRevokeRequest,
    LeaseRevokeResponse, LeaseStatus, LeaseTimeToLiveRequest, LeaseTimeToLiveResponse,
};
use crate::peer::{Answer, Query};
use smol::channel::Receiver;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// etcd's lease.MaxLeaseTTL.
const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// A new lease ID: this member's low 16 bits, the time, a counter (etcd's idutil scheme), so
/// IDs chosen by different members or runs do not collide; always positive.
fn new_lease_id(member_id: u64) -> i64 {
    static NEXT: OnceLock<AtomicI64> = OnceLock::new();
    let next = NEXT.get_or_init(|| {
        let millis = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        AtomicI64::new((((member_id & 0xffff) << 47) | ((millis & 0x7f_ffff_ffff) << 8)) as i64)
    });
    next.fetch_add(1, Ordering::Relaxed) & i64::MAX
}

/// etcd's minimum TTL: 1.5 election timeouts, in whole seconds rounded up.
fn min_ttl(api: &Call<'_>) -> i64 {
    let millis = api.limits.election_timeout.as_millis() as i64 * 3 / 2;
    (millis + 999) / 1000
}

pub async fn grant(
    api: &Call<'_>,
    request: LeaseGrantRequest,
) -> Result<LeaseGrantResponse, Status> {
    if request.ttl > MAX_LEASE_TTL {
        return Err(Status::new(
            Code::OutOfRange,
            "etcdserver: too large lease TTL",
        ));
    }
    let grant = LeaseGrantRequest {
        id: if request.id == 0 {
            new_lease_id(api.raft.status.member_id)
        } else {
            request.id
        },
        ttl: request.ttl.max(min_ttl(api)),
    };
    let request = Box::new(InternalRaftRequest {
        lease_grant: Some(grant),
        ..InternalRaftRequest::default()
    });
    api.propose_expecting(request, expect_applied!(Applied::LeaseGrant))
        .await
}

pub async fn revoke(
    api: &Call<'_>,
    request: LeaseRevokeRequest,
) -> Result<LeaseRevokeResponse, Status> {
    let request = Box::new(InternalRaftRequest {
        lease_revoke: Some(request),
        ..InternalRaftRequest::default()
    });
    api.propose_expecting(request, expect_applied!(Applied::LeaseRevoke))
        .await
}

pub async fn time_to_live(
    api: &Call<'_>,
    request: LeaseTimeToLiveRequest,
) -> Result<LeaseTimeToLiveResponse, Status> {
    let read = {
        let (store, user) = (api.store.clone(), api.admitted.user.clone());
        let (id, with_keys) = (request.id, request.keys);
        move || lease_and_keys(&store, user.as_deref(), id, with_keys)
    };
    // A lease may hold a million keys: listing them runs on a blocking thread, as multi-key
    // ranges do.
    let LeaseRead {
        granted,
        keys,
        revision,
    } = if request.keys {
        smol::unblock(read).await?
    } else {
        read()?
    };
    let Some(granted) = granted else {
        return Ok(LeaseTimeToLiveResponse {
            header: api.header(revision),
            id: request.id,
            ttl: -1,
            ..LeaseTimeToLiveResponse::default()
        });
    };
    // Only the leader's clock knows (a keep-alive it took did not go through the log): a
    // follower asks it, as etcd's does, and falls back on its own estimate if it cannot.
    let remaining = match api
        .raft
        .ask_leader(Query::LeaseRemaining(request.id))
        .await?
    {
        Some(Ok(Answer::Remaining(remaining))) => remaining,
        _ => api.raft.lease_remaining(request.id).await?,
    }
    .unwrap_or(granted);
    Ok(LeaseTimeToLiveResponse {
        header: api.header(revision),
        id: request.id,
        ttl: remaining,
        granted_ttl: granted,
        keys,
    })
}

/// What TimeToLive reads of a lease in one read transaction.
struct LeaseRead {
    /// The granted TTL; None: no such lease.
    granted: Option<i64>,
    /// The lease's keys the caller may read (etcd 3.4 listed any), if asked for.
    keys: Vec<Vec<u8>>,
    /// The store's revision.
    revision: i64,
}

fn lease_and_keys(
    store: &Store,
    user: Option<&str>,
    id: i64,
    with_keys: bool,
) -> Result<LeaseRead, Status> {
    let txn = store.read_txn()?;
    let granted = store.lease_ttl(&txn, id)?;
    let keys = match (granted, with_keys) {
        (Some(_), true) => store.lease_keys(&txn, id)?,
        _ => Vec::new(),
    };
    let mut readable = Vec::with_capacity(keys.len());
    for key in keys {
        if crate::auth::may(store, &txn, user, Access::Read, &key, &[])? {
            readable.push(key);
        }
    }
    Ok(LeaseRead {
        granted,
        keys: readable,
        revision: store.current_revision(&txn)?,
    })
}

pub async fn leases(api: &Call<'_>, _: LeaseLeasesRequest) -> Result<LeaseLeasesResponse, Status> {
    let txn = api.store.read_txn()?;
    let leases = api
        .store
        .leases(&txn)?
        .into_iter()
        .map(|(id, _)| LeaseStatus { id })
        .collect();
    Ok(LeaseLeasesResponse {
        header: api.header(api.store.current_revision(&txn)?),
        leases,
    })
}

/// The keep-alive stream: one answer per request, TTL 0 for a lease that does not exist.
pub async fn keep_alive(
    api: Arc<Api>,
    _who: crate::auth::Identity,
    requests: Receiver<LeaseKeepAliveRequest>,
    writer: StreamWriter,
) -> Result<(), Gone> {
    while let Ok(request) = requests.recv().await {
        let ttl = match api.raft.lease_keep_alive(request.id).await {
            Ok(Ok(Applied::LeaseRenewed(ttl))) => ttl,
            Ok(Err(KvError::LeaseNotFound)) => 0,
            _ => break, // no leader in time, or stopping: end the stream
        };
        let response = LeaseKeepAliveResponse {
            header: api.header(api.current_revision().unwrap_or(0)),
            id: request.id,
            ttl,
        };
        writer.send(&response).await?;
    }
    Ok(())
}

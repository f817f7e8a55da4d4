//! The client-facing surface: one file per etcd service, gRPC framing in grpc.rs, the plain
//! HTTP endpoints (/health, /version) in http.rs. Handlers validate as etcd's v3rpc layer does,
//! then read the store or go through raft; they never write the store themselves.

/// The `expect` of `Api::propose_expecting`: takes one kind of apply answer out, hands any
/// other back (which is reported as a bug).
macro_rules! expect_applied {
    ($variant:path) => {
        |applied| match applied {
            $variant(response) => Ok(response),
            other => Err(other),
        }
    };
}

mod body;
mod cluster;
mod election;
mod grpc;
mod http;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod queue;
mod status;
mod watch;

pub use body::Body;
pub use grpc::{frame_message, read_frames};
pub use status::{Code, Status};

use crate::apply::{Applied, HasHeader};
use crate::mvcc::Store;
use crate::pb::etcdserverpb::{InternalRaftRequest, ResponseHeader};
use crate::raft::RaftHandle;
use ::http::{Request, Response};
use hyper::body::Incoming;
use prost::Message;
use std::convert::Infallible;
use std::sync::Arc;

/// Request limits and intervals, as etcd's --max-request-bytes, --max-txn-ops and
/// --experimental-watch-progress-notify-interval.
pub struct Limits {
    pub max_request_bytes: usize,
    pub max_txn_ops: usize,
    pub watch_progress_interval: std::time::Duration,
    /// --election-timeout: sets the shortest lease TTL.
    pub election_timeout: std::time::Duration,
    /// --quota-backend-bytes: beyond this the NOSPACE alarm is raised.
    pub quota_bytes: u64,
}

/// Everything a request handler needs.
pub struct Api {
    pub store: Arc<Store>,
    pub raft: RaftHandle,
    pub limits: Limits,
    /// Wakes watch streams after commits.
    pub hub: Arc<crate::watch::Hub>,
    pub size: SizeGauge,
}

/// How stale the store size the quota check uses may be.
const SIZE_MEASURE_INTERVAL_MS: u64 = 100;

/// The store's bytes in use, measured at most every SIZE_MEASURE_INTERVAL_MS: a measurement
/// reads every table's statistics, too much to do for every write.
#[derive(Default)]
pub struct SizeGauge {
    /// Milliseconds since `epoch()` of the last measurement (0: never).
    measured_at_ms: std::sync::atomic::AtomicU64,
    bytes: std::sync::atomic::AtomicU64,
}

impl SizeGauge {
    fn in_use(&self, store: &Store) -> Result<u64, Status> {
        use std::sync::atomic::Ordering;
        static EPOCH: std::sync::LazyLock<std::time::Instant> =
            std::sync::LazyLock::new(std::time::Instant::now);
        let now = EPOCH.elapsed().as_millis() as u64 + 1;
        let last = self.measured_at_ms.load(Ordering::Relaxed);
        if last == 0 || now >= last + SIZE_MEASURE_INTERVAL_MS {
            self.bytes
                .store(store.size_in_use_bytes()?, Ordering::Relaxed);
            self.measured_at_ms.store(now, Ordering::Relaxed);
        }
        Ok(self.bytes.load(Ordering::Relaxed))
    }
}

impl Api {
    /// The header of a top-level response: who answered, in which term, at which revision.
    pub(crate) fn header(&self, revision: i64) -> Option<ResponseHeader> {
        let status = &self.raft.status;
        Some(ResponseHeader {
            cluster_id: status.cluster_id,
            member_id: status.member_id,
            revision,
            raft_term: status.term(),
        })
    }

    fn current_revision(&self) -> Result<i64, Status> {
        let txn = self.store.read_txn()?;
        Ok(self.store.current_revision(&txn)?)
    }

    /// The store outgrew --quota-backend-bytes: raise NOSPACE for this member (as etcd's
    /// quota check does), unless it is raised already.
    async fn raise_no_space(&self) {
        use crate::pb::etcdserverpb::alarm_request::AlarmAction;
        use crate::pb::etcdserverpb::{AlarmRequest, AlarmType};
        let member_id = self.raft.status.member_id;
        let raised = self
            .store
            .read_txn()
            .and_then(|txn| self.store.alarms(&txn))
            .is_ok_and(|alarms| alarms.contains(&(member_id, AlarmType::Nospace as i32)));
        if raised {
            return;
        }
        log::warn!(
            "the store exceeds --quota-backend-bytes ({} bytes); raising the NOSPACE alarm",
            self.limits.quota_bytes
        );
        let alarm = InternalRaftRequest {
            alarm: Some(AlarmRequest {
                action: AlarmAction::Activate as i32,
                member_id,
                alarm: AlarmType::Nospace as i32,
            }),
            ..InternalRaftRequest::default()
        };
        let _ = self.raft.propose(alarm).await;
    }

    /// A learner serves only serializable reads, Status and MemberList (as etcd 3.4).
    fn refuse_learner(&self) -> Result<(), Status> {
        if self.raft.status.is_learner() {
            return Err(Status::new(
                Code::Unavailable,
                "etcdserver: rpc not supported for learner",
            ));
        }
        Ok(())
    }

    /// Replicates a request, takes the answer `expect`s out of what applying it returned, and
    /// gives it this member's header.
    async fn propose_expecting<T: HasHeader>(
        &self,
        request: InternalRaftRequest,
        expect: fn(Applied) -> Result<T, Applied>,
    ) -> Result<T, Status> {
        let applied = self.propose(request).await?;
        let mut response = expect(applied).map_err(unexpected)?;
        let revision = response.header_mut().as_ref().map_or(0, |h| h.revision);
        *response.header_mut() = self.header(revision);
        Ok(response)
    }

    /// Replicates a request and returns what applying it answered.
    async fn propose(&self, request: InternalRaftRequest) -> Result<Applied, Status> {
        if request.encoded_len() > self.limits.max_request_bytes {
            return Err(Status::request_too_large());
        }
        self.refuse_learner()?;
        if crate::apply::adds_data(&request)
            && self.size.in_use(&self.store)? > self.limits.quota_bytes
        {
            self.raise_no_space().await;
            return Err(crate::mvcc::KvError::NoSpace.into());
        }
        Ok(self.raft.propose(request).await??)
    }
}

/// Serves one HTTP request: gRPC by path, anything else as plain HTTP.
pub async fn route(
    api: Arc<Api>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let is_grpc = request
        .headers()
        .get(::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return Ok(http::handle(&api, &request).await);
    }
    let path = request.uri().path().to_string();
    let body = request.into_body();
    if path == "/etcdserverpb.Watch/Watch" {
        return Ok(watch::watch(api, body));
    }
    if path == "/etcdserverpb.Lease/LeaseKeepAlive" {
        return Ok(lease::keep_alive(api, body));
    }
    if path == "/v3electionpb.Election/Observe" {
        return Ok(election::observe(api, body));
    }
    if path == "/etcdserverpb.Maintenance/Snapshot" {
        return Ok(maintenance::snapshot(api, body));
    }
    let api = api.as_ref();
    let response = match path.as_str() {
        "/etcdserverpb.KV/Range" => grpc::unary(api, body, |r| kv::range(api, r)).await,
        "/etcdserverpb.KV/Put" => grpc::unary(api, body, |r| kv::put(api, r)).await,
        "/etcdserverpb.KV/DeleteRange" => {
            grpc::unary(api, body, |r| kv::delete_range(api, r)).await
        }
        "/etcdserverpb.KV/Txn" => grpc::unary(api, body, |r| kv::txn(api, r)).await,
        "/etcdserverpb.KV/Compact" => grpc::unary(api, body, |r| kv::compact(api, r)).await,
        "/etcdserverpb.Maintenance/Status" => {
            grpc::unary(api, body, |r| maintenance::status(api, r)).await
        }
        "/etcdserverpb.Maintenance/HashKV" => {
            grpc::unary(api, body, |r| maintenance::hash_kv(api, r)).await
        }
        "/etcdserverpb.Maintenance/Hash" => {
            grpc::unary(api, body, |r| maintenance::hash(api, r)).await
        }
        "/etcdserverpb.Maintenance/Defragment" => {
            grpc::unary(api, body, |r| maintenance::defragment(api, r)).await
        }
        "/etcdserverpb.Maintenance/Alarm" => {
            grpc::unary(api, body, |r| maintenance::alarm(api, r)).await
        }
        "/etcdserverpb.Maintenance/MoveLeader" => {
            grpc::unary(api, body, |r| maintenance::move_leader(api, r)).await
        }
        "/etcdserverpb.Lease/LeaseGrant" => grpc::unary(api, body, |r| lease::grant(api, r)).await,
        "/etcdserverpb.Lease/LeaseRevoke" => {
            grpc::unary(api, body, |r| lease::revoke(api, r)).await
        }
        "/etcdserverpb.Lease/LeaseTimeToLive" => {
            grpc::unary(api, body, |r| lease::time_to_live(api, r)).await
        }
        "/etcdserverpb.Lease/LeaseLeases" => {
            grpc::unary(api, body, |r| lease::leases(api, r)).await
        }
        "/v3lockpb.Lock/Lock" => grpc::unary(api, body, |r| lock::lock(api, r)).await,
        "/v3lockpb.Lock/Unlock" => grpc::unary(api, body, |r| lock::unlock(api, r)).await,
        "/v3electionpb.Election/Campaign" => {
            grpc::unary(api, body, |r| election::campaign(api, r)).await
        }
        "/v3electionpb.Election/Proclaim" => {
            grpc::unary(api, body, |r| election::proclaim(api, r)).await
        }
        "/v3electionpb.Election/Leader" => {
            grpc::unary(api, body, |r| election::leader(api, r)).await
        }
        "/v3electionpb.Election/Resign" => {
            grpc::unary(api, body, |r| election::resign(api, r)).await
        }
        "/etcdserverpb.Cluster/MemberList" => {
            grpc::unary(api, body, |r| cluster::member_list(api, r)).await
        }
        "/etcdserverpb.Cluster/MemberAdd" => {
            grpc::unary(api, body, |r| cluster::member_add(api, r)).await
        }
        "/etcdserverpb.Cluster/MemberRemove" => {
            grpc::unary(api, body, |r| cluster::member_remove(api, r)).await
        }
        "/etcdserverpb.Cluster/MemberUpdate" => {
            grpc::unary(api, body, |r| cluster::member_update(api, r)).await
        }
        "/etcdserverpb.Cluster/MemberPromote" => {
            grpc::unary(api, body, |r| cluster::member_promote(api, r)).await
        }
        _ => grpc::error_response(&unknown_method(&path)),
    };
    Ok(response)
}

/// An apply answer of the wrong kind: a bug, reported rather than hidden.
fn unexpected(applied: Applied) -> Status {
    Status::new(
        Code::Internal,
        format!("etcdserver: unexpected apply result {applied:?}"),
    )
}

/// grpc-go's answer to a method the server does not register.
fn unknown_method(path: &str) -> Status {
    let mut parts = path.trim_start_matches('/').splitn(2, '/');
    let service = parts.next().unwrap_or_default();
    let method = parts.next().unwrap_or_default();
    if matches!(
        service,
        "etcdserverpb.KV"
            | "etcdserverpb.Maintenance"
            | "etcdserverpb.Cluster"
            | "etcdserverpb.Watch"
            | "etcdserverpb.Lease"
            | "v3lockpb.Lock"
            | "v3electionpb.Election"
    ) {
        Status::new(
            Code::Unimplemented,
            format!("unknown method {method} for service {service}"),
        )
    } else {
        Status::new(Code::Unimplemented, format!("unknown service {service}"))
    }
}

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

mod auth;
mod cluster;
mod election;
mod gateway;
mod grpc;
mod http;
mod kv;
mod lease;
mod lock;
mod maintenance;
mod queue;
mod v2auth;
mod v2keys;
mod v2members;
mod watch;

pub use crate::status::{Code, Status};
pub use crate::wire::Body;
pub use v2keys::expire_keys as expire_v2_keys;

use crate::apply::{Applied, HasHeader};
use crate::mvcc::Store;
use crate::pb::etcdserverpb::{InternalRaftRequest, ResponseHeader};
use crate::raft::RaftHandle;
use ::http::{Request, Response};
use bytes::Bytes;
use grpc::StreamWriter;
use hyper::body::Incoming;
use prost::Message;
use smol::channel::Receiver;
use std::convert::Infallible;
use std::future::Future;
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
    /// --strict-reconfig-check: refuse member changes that would leave too few started members.
    pub strict_reconfig_check: bool,
}

/// Who may use the plain-HTTP endpoints: --cors origins and --host-whitelist hosts (an empty
/// list or "*" allows any).
#[derive(Default)]
pub struct Access {
    pub cors: Vec<String>,
    pub host_whitelist: Vec<String>,
}

impl Access {
    fn allows(list: &[String], name: &str) -> bool {
        list.is_empty() || list.iter().any(|entry| entry == "*" || entry == name)
    }
}

/// Everything a request handler needs.
pub struct Api {
    pub store: Arc<Store>,
    pub raft: RaftHandle,
    pub limits: Limits,
    /// Wakes watch streams after commits.
    pub hub: Arc<crate::watch::Hub>,
    pub size: SizeGauge,
    pub access: Access,
    /// Authentication and access control: every request passes it (see `call`).
    pub gate: crate::auth::Gate,
    /// --enable-v2: the v2 keys API is served.
    pub enable_v2: bool,
}

/// One admitted request's view of the member: what the gate let through (its user and the
/// auth revision it was checked at, stamped on what it proposes).
pub struct Call<'a> {
    api: &'a Api,
    pub admitted: crate::auth::Admitted,
}

impl std::ops::Deref for Call<'_> {
    type Target = Api;
    fn deref(&self) -> &Api {
        self.api
    }
}

impl Call<'_> {
    /// Replicates a request, takes the answer `expect`s out of what applying it returned, and
    /// gives it this member's header.
    async fn propose_expecting<T: HasHeader>(
        &self,
        request: Box<InternalRaftRequest>,
        expect: fn(Applied) -> Result<T, Applied>,
    ) -> Result<T, Status> {
        let applied = self.propose(request).await?;
        let mut response = expect(applied).map_err(unexpected)?;
        let revision = response.header_mut().as_ref().map_or(0, |h| h.revision);
        *response.header_mut() = self.header(revision);
        Ok(response)
    }

    /// Replicates a request stamped with who it is for and the auth revision it was checked
    /// at, and returns what applying it answered.
    async fn propose(&self, mut request: Box<InternalRaftRequest>) -> Result<Applied, Status> {
        let header = request.header.get_or_insert_with(Default::default);
        header.username = self.admitted.user.clone().unwrap_or_default();
        header.auth_revision = self.admitted.revision;
        self.api.propose(request).await
    }
}

/// Committed entries this member may be behind in applying before it refuses new proposals
/// (etcd's maxGapBetweenApplyAndCommitIndex).
const MAX_APPLY_BACKLOG: u64 = 5000;

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
        let alarm = Box::new(InternalRaftRequest {
            alarm: Some(AlarmRequest {
                action: AlarmAction::Activate as i32,
                member_id,
                alarm: AlarmType::Nospace as i32,
            }),
            ..InternalRaftRequest::default()
        });
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

    /// Replicates a request and returns what applying it answered (a client's goes through
    /// `Call::propose`, which stamps it for the auth check at apply).
    async fn propose(&self, request: Box<InternalRaftRequest>) -> Result<Applied, Status> {
        if request.encoded_len() > self.limits.max_request_bytes {
            return Err(Status::request_too_large());
        }
        self.refuse_learner()?;
        let status = &self.raft.status;
        if status.disk.is_full() {
            // Nothing more goes into a log that cannot be written; clientv3 knows this answer.
            return Err(crate::mvcc::KvError::NoSpace.into());
        }
        if status.commit_index() > status.applied_index() + MAX_APPLY_BACKLOG {
            return Err(crate::raft::RaftError::TooManyRequests.into());
        }
        if crate::apply::adds_data(&request)
            && self.size.in_use(&self.store)? > self.limits.quota_bytes
        {
            self.raise_no_space().await;
            return Err(crate::mvcc::KvError::NoSpace.into());
        }
        Ok(self.raft.propose(request).await??)
    }
}

/// Serves one HTTP request: gRPC by path, the JSON gateway under /v3/, anything else as plain
/// HTTP.
/// A --listen-metrics-urls listener's requests: /metrics and /health, as etcd serves there.
pub async fn metrics_route(api: &Api, request: &Request<Incoming>) -> Response<Body> {
    match (request.method().as_str(), request.uri().path()) {
        ("GET", "/metrics" | "/health") => http::handle(api, request).await.map(Body::framed_as_go),
        _ => http::not_found(),
    }
}

/// What a client connection tells about its requests.
#[derive(Clone, Default)]
pub struct Peer {
    /// TLS (the host whitelist guards only plain HTTP, as in etcd).
    pub secure: bool,
    /// The verified client certificate's common name.
    pub common_name: Option<Arc<str>>,
}

/// Unread request bytes read and dropped before the answer goes out, up to this many, as Go's
/// net/http does: a connection closed with a body still arriving is reset, and the reset can
/// destroy the answer in flight before the client reads it.
const DRAINED_BODY_BYTES: usize = 256 * 1024;

/// Reads what is left of a request's body (at most DRAINED_BODY_BYTES), discarding it.
async fn drain(request: Request<Incoming>) {
    let _ = http_body_util::BodyExt::collect(http_body_util::Limited::new(
        request.into_body(),
        DRAINED_BODY_BYTES,
    ))
    .await;
}

/// Who a request says it is: the token in gRPC's `token` metadata or the `Authorization`
/// header (the gateway's, and grpc-gateway's forwarding of it), and the connection's CN.
fn identity<B>(request: &Request<B>, peer: &Peer) -> crate::auth::Identity {
    let headers = request.headers();
    let token = headers
        .get("token")
        .or_else(|| headers.get(::http::header::AUTHORIZATION))
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    crate::auth::Identity {
        token,
        common_name: peer.common_name.clone(),
    }
}

pub async fn route(
    api: Arc<Api>,
    request: Request<Incoming>,
    peer: &Peer,
) -> Result<Response<Body>, Infallible> {
    let who = identity(&request, peer);
    let is_grpc = request
        .headers()
        .get(::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !is_grpc {
        return Ok(route_http(&api, request, peer, &who).await);
    }
    let path = request.uri().path().to_string();
    let body = request.into_body();
    let max_request_bytes = api.limits.max_request_bytes;
    let response = if let Some(stream) = STREAMS.iter().find(|s| s.method == path) {
        (stream.open)(
            api,
            who,
            grpc::read_raw_frames(body, max_request_bytes),
            stream.method,
            None,
        )
    } else {
        match grpc::read_request(body, max_request_bytes).await {
            Ok(request) => match call_unary(&api, &who, &path, &request).await {
                Ok(framed) => grpc::reply_framed(framed),
                Err(status) => grpc::error_response(&status),
            },
            Err(status) => grpc::error_response(&status),
        }
    };
    Ok(response)
}

/// An HTTP/1.1 (or non-gRPC HTTP/2) request: --host-whitelist, then the v2 API, the JSON
/// gateway or /health, /version, /metrics; --cors on the answer.
async fn route_http(
    api: &Arc<Api>,
    request: Request<Incoming>,
    peer: &Peer,
    who: &crate::auth::Identity,
) -> Response<Body> {
    let host = http::hostname(&request);
    if !peer.secure && !Access::allows(&api.access.host_whitelist, &host) {
        return http::host_not_whitelisted(&host);
    }
    let origin = request
        .headers()
        .get(::http::header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let to_gateway =
        gateway::serves(request.uri().path()) && request.method() != ::http::Method::OPTIONS;
    let path = request.uri().path();
    let to_v2 = api.enable_v2
        && (path == v2keys::PREFIX || path.starts_with(&format!("{}/", v2keys::PREFIX)));
    let to_v2_auth = api.enable_v2
        && (path == v2auth::PREFIX || path.starts_with(&format!("{}/", v2auth::PREFIX)));
    let headers = request.headers().clone();
    let credentials = v2auth::Credentials {
        headers: &headers,
        common_name: peer.common_name.as_deref(),
    };
    let mut response = if to_v2 {
        v2keys::handle(api, &credentials, request).await
    } else if to_v2_auth {
        v2auth::handle(api, &credentials, request).await
    } else if api.enable_v2 && v2members::is_change(&request) {
        if v2auth::is_root(api, &credentials).await {
            v2members::handle(api, who, request).await
        } else {
            drain(request).await;
            v2auth::insufficient_credentials(api)
        }
    } else if to_gateway {
        gateway::handle(api.clone(), who, request).await
    } else {
        let response = http::handle(api, &request).await;
        drain(request).await;
        response
    };
    let cors = &api.access.cors;
    if Access::allows(cors, "*") {
        http::allow_origin(response.headers_mut(), "*");
    } else if let Some(origin) = origin.filter(|o| Access::allows(cors, o)) {
        http::allow_origin(response.headers_mut(), &origin);
    }
    response.map(Body::framed_as_go)
}

/// Runs the unary method `method` ("/etcdserverpb.KV/Range") on an encoded request, for gRPC
/// and the JSON gateway alike; the answer is one gRPC frame.
pub(crate) async fn call_unary(
    api: &Api,
    who: &crate::auth::Identity,
    method: &str,
    request: &[u8],
) -> Result<Bytes, Status> {
    let counters = crate::metrics::grpc_method(method);
    if let Some(counters) = counters {
        counters.started();
        counters.received.add(1);
    }
    let result = match dispatch_unary(api, who, method, request).await {
        Ok(answer) => Ok(encode(answer.bytes, answer.frame).await),
        Err(status) => Err(status),
    };
    if let Some(counters) = counters {
        match &result {
            Ok(_) => {
                counters.sent.add(1);
                counters.handled(0);
            }
            Err(status) => counters.handled(status.code as u32),
        }
    }
    result
}

/// Decodes a unary request, lets it pass the gate (or not), runs the handler and returns its
/// answer, to be encoded.
async fn call<'a, Req, Resp, Fut>(
    api: &'a Api,
    who: &crate::auth::Identity,
    request: &[u8],
    handler: impl FnOnce(Call<'a>, Req) -> Fut,
) -> Result<Answer, Status>
where
    Req: Message + Default + crate::auth::Guarded,
    Resp: Message + 'static,
    Fut: Future<Output = Result<Resp, Status>>,
{
    let request = decode_unary::<Req>(request)?;
    let admitted = api.admit(who, &request).await?;
    let call = Call { api, admitted };
    let answer = handler(call, request).await?;
    let bytes = answer.encoded_len();
    Ok(Answer {
        bytes,
        frame: Box::new(move || crate::wire::frame_encoded_len(&answer, bytes)),
    })
}

/// Answers larger than this are encoded on a blocking thread: encoding two of 200 MB (ranges
/// of 200k keys of 1 KB) held the thread for 1.4 s, and on 2 CPUs the executor is that one
/// thread serving every client and peer.
const ENCODE_INLINE_MAX_BYTES: usize = 1024 * 1024;

/// An answer's encoding into its gRPC frame.
type Encoding = Box<dyn FnOnce() -> Bytes + Send>;

/// Runs `encode`, on a blocking thread if the answer is longer than ENCODE_INLINE_MAX_BYTES
/// (one boxed type for every answer, so the hand-off exists once in the binary).
async fn encode(bytes: usize, encode: Encoding) -> Bytes {
    if bytes <= ENCODE_INLINE_MAX_BYTES {
        return encode();
    }
    smol::unblock(encode).await
}

/// A unary handler's answer, not yet encoded: its size, and how to make it one gRPC frame.
struct Answer {
    bytes: usize,
    frame: Encoding,
}

fn decode_unary<Req: Message + Default>(request: &[u8]) -> Result<Req, Status> {
    Req::decode(request).map_err(|e| {
        // Only txns nest; one nested deeper than prost decodes is past etcd's op budget too.
        if e.to_string().contains("recursion limit reached") {
            return kv::too_many_ops();
        }
        Status::new(
            Code::Internal,
            format!("grpc: error unmarshalling request: {e}"),
        )
    })
}

impl Api {
    /// The gate, with etcd's wait for a simple token issued at an entry this member has not
    /// applied yet (the client may have authenticated through another member).
    async fn admit(
        &self,
        who: &crate::auth::Identity,
        request: &impl crate::auth::Guarded,
    ) -> Result<crate::auth::Admitted, Status> {
        let issued_at = who
            .token
            .as_deref()
            .and_then(crate::auth::tokens::issued_at);
        if issued_at.is_some_and(|index| index > self.raft.status.applied_index()) {
            self.raft.read_barrier().await?;
        }
        let need = request.need();
        match self.gate.admit(&self.store, who, &need) {
            Ok(admitted) => Ok(admitted),
            Err(crate::mvcc::KvError::Auth(refusal))
                if matches!(need, crate::auth::Need::Maintenance) =>
            {
                Err(Status::new(Code::Unknown, refusal.go_text()))
            }
            Err(refusal) => Err(refusal.into()),
        }
    }
}

async fn dispatch_unary(
    api: &Api,
    who: &crate::auth::Identity,
    method: &str,
    request: &[u8],
) -> Result<Answer, Status> {
    /// The method's handler behind the gate.
    macro_rules! unary {
        ($handler:path) => {
            call(api, who, request, |call, r| async move {
                $handler(&call, r).await
            })
            .await
        };
    }
    match method {
        "/etcdserverpb.KV/Range" => unary!(kv::range),
        "/etcdserverpb.KV/Put" => unary!(kv::put),
        "/etcdserverpb.KV/DeleteRange" => unary!(kv::delete_range),
        "/etcdserverpb.KV/Txn" => unary!(kv::txn),
        "/etcdserverpb.KV/Compact" => unary!(kv::compact),
        "/etcdserverpb.Maintenance/Status" => unary!(maintenance::status),
        "/etcdserverpb.Maintenance/HashKV" => unary!(maintenance::hash_kv),
        "/etcdserverpb.Maintenance/Hash" => unary!(maintenance::hash),
        "/etcdserverpb.Maintenance/Defragment" => unary!(maintenance::defragment),
        "/etcdserverpb.Maintenance/Alarm" => unary!(maintenance::alarm),
        "/etcdserverpb.Maintenance/MoveLeader" => unary!(maintenance::move_leader),
        "/etcdserverpb.Lease/LeaseGrant" => unary!(lease::grant),
        "/etcdserverpb.Lease/LeaseRevoke" => unary!(lease::revoke),
        "/etcdserverpb.Lease/LeaseTimeToLive" => unary!(lease::time_to_live),
        "/etcdserverpb.Lease/LeaseLeases" => unary!(lease::leases),
        "/v3lockpb.Lock/Lock" => unary!(lock::lock),
        "/v3lockpb.Lock/Unlock" => unary!(lock::unlock),
        "/v3electionpb.Election/Campaign" => unary!(election::campaign),
        "/v3electionpb.Election/Proclaim" => unary!(election::proclaim),
        "/v3electionpb.Election/Leader" => unary!(election::leader),
        "/v3electionpb.Election/Resign" => unary!(election::resign),
        "/etcdserverpb.Cluster/MemberList" => unary!(cluster::member_list),
        "/etcdserverpb.Cluster/MemberAdd" => unary!(cluster::member_add),
        "/etcdserverpb.Cluster/MemberRemove" => unary!(cluster::member_remove),
        "/etcdserverpb.Cluster/MemberUpdate" => unary!(cluster::member_update),
        "/etcdserverpb.Cluster/MemberPromote" => unary!(cluster::member_promote),
        "/etcdserverpb.Auth/Authenticate" => unary!(auth::authenticate),
        "/etcdserverpb.Auth/AuthEnable" => unary!(auth::enable),
        "/etcdserverpb.Auth/AuthDisable" => unary!(auth::disable),
        "/etcdserverpb.Auth/AuthStatus" => unary!(auth::status),
        "/etcdserverpb.Auth/UserAdd" => unary!(auth::user_add),
        "/etcdserverpb.Auth/UserGet" => unary!(auth::user_get),
        "/etcdserverpb.Auth/UserList" => unary!(auth::user_list),
        "/etcdserverpb.Auth/UserDelete" => unary!(auth::user_delete),
        "/etcdserverpb.Auth/UserChangePassword" => unary!(auth::user_change_password),
        "/etcdserverpb.Auth/UserGrantRole" => unary!(auth::user_grant_role),
        "/etcdserverpb.Auth/UserRevokeRole" => unary!(auth::user_revoke_role),
        "/etcdserverpb.Auth/RoleAdd" => unary!(auth::role_add),
        "/etcdserverpb.Auth/RoleGet" => unary!(auth::role_get),
        "/etcdserverpb.Auth/RoleList" => unary!(auth::role_list),
        "/etcdserverpb.Auth/RoleDelete" => unary!(auth::role_delete),
        "/etcdserverpb.Auth/RoleGrantPermission" => unary!(auth::role_grant_permission),
        "/etcdserverpb.Auth/RoleRevokePermission" => unary!(auth::role_revoke_permission),
        _ => Err(unknown_method(method)),
    }
}

/// A streaming method: its gRPC path and how to serve it from a stream of encoded requests
/// (JSON answers when the gateway passes the answer's type name).
pub(crate) struct StreamMethod {
    pub method: &'static str,
    pub open: OpenStream,
}

/// Serves a stream: the member, the encoded requests, the method's gRPC path, the answer's type
/// name for JSON.
type OpenStream = fn(
    Arc<Api>,
    crate::auth::Identity,
    grpc::ClientMessages,
    &'static str,
    Option<&'static str>,
) -> Response<Body>;

pub(crate) static STREAMS: &[StreamMethod] = &[
    StreamMethod {
        method: "/etcdserverpb.Watch/Watch",
        open: |api, who, requests, method, json| {
            open_stream(api, who, requests, method, json, watch::watch)
        },
    },
    StreamMethod {
        method: "/etcdserverpb.Lease/LeaseKeepAlive",
        open: |api, who, requests, method, json| {
            open_stream(api, who, requests, method, json, lease::keep_alive)
        },
    },
    StreamMethod {
        method: "/v3electionpb.Election/Observe",
        open: |api, who, requests, method, json| {
            open_stream(api, who, requests, method, json, election::observe)
        },
    },
    StreamMethod {
        method: "/etcdserverpb.Maintenance/Snapshot",
        open: |api, who, requests, method, json| {
            open_stream(api, who, requests, method, json, maintenance::snapshot)
        },
    },
];

/// Starts a streaming handler on decoded requests that passed the gate; a request that does
/// not decode, or is refused, ends the stream with why.
fn open_stream<Req, Fut>(
    api: Arc<Api>,
    who: crate::auth::Identity,
    requests: grpc::ClientMessages,
    method: &'static str,
    json: Option<&'static str>,
    handler: impl FnOnce(Arc<Api>, crate::auth::Identity, Receiver<Req>, StreamWriter) -> Fut,
) -> Response<Body>
where
    Req: Message + Default + crate::auth::Guarded + Send + 'static,
    Fut: Future<Output = Result<(), grpc::Gone>> + Send + 'static,
{
    let counters = crate::metrics::grpc_method(method);
    let (refusal, refused) = smol::channel::bounded(1);
    let gate = {
        let (api, who) = (api.clone(), who.clone());
        move |request: Req| {
            let (api, who) = (api.clone(), who.clone());
            async move {
                api.admit(&who, &request).await?;
                Ok(request)
            }
        }
    };
    let requests = grpc::decoded::<Req, _, _>(requests, counters, refusal.clone(), gate);
    grpc::server_stream(json, counters, (refusal, refused), |writer| {
        handler(api, who, requests, writer)
    })
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
    let served = crate::schema::METHODS.iter().any(|m| {
        m.path
            .strip_prefix('/')
            .and_then(|rest| rest.strip_prefix(service))
            .is_some_and(|rest| rest.starts_with('/'))
    });
    if served {
        Status::new(
            Code::Unimplemented,
            format!("unknown method {method} for service {service}"),
        )
    } else {
        Status::new(Code::Unimplemented, format!("unknown service {service}"))
    }
}

//! etcd's JSON gateway (grpc-gateway 1.x in etcd 3.4) under /v3/ (and /v3beta/): a POST of a
//! JSON request to a path per method, answered with the JSON of the gRPC answer, or an error
//! body `{"error","message","code"}` with the HTTP status grpc-gateway maps the code to. Watch
//! and lease keep-alive take a stream of JSON requests and answer `{"result":...}` lines.
//! Requests go to the same handlers gRPC calls (`call_unary`, `STREAMS`), as protobuf.

mod json;
mod jsonpb;

use super::{call_unary, grpc, Api, Body, Code, Status, STREAMS};
use crate::auth::Identity;
use crate::schema::{self, Method};
use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::sync::Arc;

/// etcd 3.4's gateway paths (rpc.proto's google.api.http options) and the RPC each calls.
/// HashKV has none there.
static ROUTES: &[(&str, &str)] = &[
    ("/v3/kv/range", "/etcdserverpb.KV/Range"),
    ("/v3/kv/put", "/etcdserverpb.KV/Put"),
    ("/v3/kv/deleterange", "/etcdserverpb.KV/DeleteRange"),
    ("/v3/kv/txn", "/etcdserverpb.KV/Txn"),
    ("/v3/kv/compaction", "/etcdserverpb.KV/Compact"),
    ("/v3/watch", "/etcdserverpb.Watch/Watch"),
    ("/v3/lease/grant", "/etcdserverpb.Lease/LeaseGrant"),
    ("/v3/lease/revoke", "/etcdserverpb.Lease/LeaseRevoke"),
    ("/v3/kv/lease/revoke", "/etcdserverpb.Lease/LeaseRevoke"),
    ("/v3/lease/keepalive", "/etcdserverpb.Lease/LeaseKeepAlive"),
    (
        "/v3/lease/timetolive",
        "/etcdserverpb.Lease/LeaseTimeToLive",
    ),
    (
        "/v3/kv/lease/timetolive",
        "/etcdserverpb.Lease/LeaseTimeToLive",
    ),
    ("/v3/lease/leases", "/etcdserverpb.Lease/LeaseLeases"),
    ("/v3/kv/lease/leases", "/etcdserverpb.Lease/LeaseLeases"),
    ("/v3/cluster/member/add", "/etcdserverpb.Cluster/MemberAdd"),
    (
        "/v3/cluster/member/remove",
        "/etcdserverpb.Cluster/MemberRemove",
    ),
    (
        "/v3/cluster/member/update",
        "/etcdserverpb.Cluster/MemberUpdate",
    ),
    (
        "/v3/cluster/member/list",
        "/etcdserverpb.Cluster/MemberList",
    ),
    (
        "/v3/cluster/member/promote",
        "/etcdserverpb.Cluster/MemberPromote",
    ),
    ("/v3/maintenance/alarm", "/etcdserverpb.Maintenance/Alarm"),
    ("/v3/maintenance/status", "/etcdserverpb.Maintenance/Status"),
    (
        "/v3/maintenance/defragment",
        "/etcdserverpb.Maintenance/Defragment",
    ),
    ("/v3/maintenance/hash", "/etcdserverpb.Maintenance/Hash"),
    (
        "/v3/maintenance/snapshot",
        "/etcdserverpb.Maintenance/Snapshot",
    ),
    (
        "/v3/maintenance/transfer-leadership",
        "/etcdserverpb.Maintenance/MoveLeader",
    ),
    ("/v3/auth/authenticate", "/etcdserverpb.Auth/Authenticate"),
    ("/v3/auth/enable", "/etcdserverpb.Auth/AuthEnable"),
    ("/v3/auth/disable", "/etcdserverpb.Auth/AuthDisable"),
    ("/v3/auth/user/add", "/etcdserverpb.Auth/UserAdd"),
    ("/v3/auth/user/get", "/etcdserverpb.Auth/UserGet"),
    ("/v3/auth/user/list", "/etcdserverpb.Auth/UserList"),
    ("/v3/auth/user/delete", "/etcdserverpb.Auth/UserDelete"),
    (
        "/v3/auth/user/changepw",
        "/etcdserverpb.Auth/UserChangePassword",
    ),
    ("/v3/auth/user/grant", "/etcdserverpb.Auth/UserGrantRole"),
    ("/v3/auth/user/revoke", "/etcdserverpb.Auth/UserRevokeRole"),
    ("/v3/auth/role/add", "/etcdserverpb.Auth/RoleAdd"),
    ("/v3/auth/role/get", "/etcdserverpb.Auth/RoleGet"),
    ("/v3/auth/role/list", "/etcdserverpb.Auth/RoleList"),
    ("/v3/auth/role/delete", "/etcdserverpb.Auth/RoleDelete"),
    (
        "/v3/auth/role/grant",
        "/etcdserverpb.Auth/RoleGrantPermission",
    ),
    (
        "/v3/auth/role/revoke",
        "/etcdserverpb.Auth/RoleRevokePermission",
    ),
    ("/v3/auth/status", "/etcdserverpb.Auth/AuthStatus"),
    ("/v3/lock/lock", "/v3lockpb.Lock/Lock"),
    ("/v3/lock/unlock", "/v3lockpb.Lock/Unlock"),
    ("/v3/election/campaign", "/v3electionpb.Election/Campaign"),
    ("/v3/election/proclaim", "/v3electionpb.Election/Proclaim"),
    ("/v3/election/leader", "/v3electionpb.Election/Leader"),
    ("/v3/election/observe", "/v3electionpb.Election/Observe"),
    ("/v3/election/resign", "/v3electionpb.Election/Resign"),
];

/// Whether a path belongs to the gateway (etcd rewrites /v3beta/ to /v3/).
pub fn serves(path: &str) -> bool {
    path.starts_with("/v3/") || path.starts_with("/v3beta/")
}

pub async fn handle(api: Arc<Api>, who: &Identity, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path();
    let path = match path.strip_prefix("/v3beta/") {
        Some(rest) => format!("/v3/{rest}"),
        None => path.to_string(),
    };
    let Some(route) = ROUTES
        .iter()
        .find(|(http_path, _)| *http_path == path)
        .and_then(|(_, rpc)| schema::method(rpc))
    else {
        return plain(StatusCode::NOT_FOUND, "Not Found\n");
    };
    if request.method() != http::Method::POST {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
    }
    let body = request.into_body();
    if route.client_streams {
        return match read_stream(body, route.request, api.limits.max_request_bytes).await {
            Ok(requests) => open(api, who, route, requests),
            // grpc-gateway reports a first request that does not decode as a plain error.
            Err(status) => error(&Status::new(Code::Unknown, status.message), false),
        };
    }
    let request = match read_whole(body, api.limits.max_request_bytes).await {
        Ok(text) => decode(route.request, &text),
        Err(status) => Err(status),
    };
    let request = match request {
        Ok(request) => request,
        Err(status) => return error(&status, false),
    };
    if route.server_streams {
        let (requests, receiver) = smol::channel::bounded(1);
        let _ = requests.try_send(Ok(request));
        return open(api, who, route, receiver);
    }
    match call_unary(&api, who, route.path, &request).await {
        Ok(framed) => {
            let (type_name, big) = (
                route.response,
                framed.len() > super::ENCODE_INLINE_MAX_BYTES,
            );
            let to_json = move || {
                let mut out = String::new();
                jsonpb::to_json(type_name, &framed[5..], &mut out);
                out
            };
            // As with the gRPC encoding: a big answer (a range of many keys) is written out on
            // a blocking thread, so that it does not hold every other client meanwhile.
            let out = if big {
                smol::unblock(to_json).await
            } else {
                to_json()
            };
            json_response(StatusCode::OK)
                .body(Body::full(out))
                .expect("static response parts")
        }
        Err(status) => error(&status, true),
    }
}

fn open(
    api: Arc<Api>,
    who: &Identity,
    route: &Method,
    requests: grpc::ClientMessages,
) -> Response<Body> {
    let stream = STREAMS
        .iter()
        .find(|s| s.method == route.path)
        .expect("every streaming route is a streaming method");
    (stream.open)(
        api,
        who.clone(),
        requests,
        stream.method,
        Some(route.response),
    )
}

/// One message of an answer stream as the gateway writes it.
pub fn result_line(type_name: &str, encoded: &[u8]) -> Bytes {
    let mut out = String::from("{\"result\":");
    jsonpb::to_json(type_name, encoded, &mut out);
    out.push_str("}\n");
    Bytes::from(out)
}

/// The head of a streamed answer: gRPC's response metadata, forwarded as etcd's gateway does.
pub fn stream_response_builder() -> http::response::Builder {
    json_response(StatusCode::OK)
}

fn json_response(status: StatusCode) -> http::response::Builder {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("grpc-metadata-content-type", "application/grpc")
}

fn plain(status: StatusCode, text: &'static str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .body(Body::full(text))
        .expect("static response parts")
}

/// grpc-gateway's HTTP status for a gRPC code.
fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The error body. `from_server`: the error is the gRPC call's, whose trailer metadata the
/// gateway announces and forwards (so the body is chunked); a request the gateway could not
/// read never reached the server.
fn error(status: &Status, from_server: bool) -> Response<Body> {
    let mut text = String::from("{");
    if !status.message.is_empty() {
        text.push_str("\"error\":");
        crate::golang::json_string(&status.message, &mut text);
        text.push_str(",\"message\":");
        crate::golang::json_string(&status.message, &mut text);
        text.push(',');
    }
    text.push_str(&format!("\"code\":{}}}", status.code as i32));
    let builder = Response::builder()
        .status(http_status(status.code))
        .header("content-type", "application/json");
    if !from_server {
        return builder
            .body(Body::full(text))
            .expect("static response parts");
    }
    let (frames, receiver) = smol::channel::bounded(2);
    let mut trailers = HeaderMap::new();
    trailers.insert(
        "grpc-trailer-content-type",
        HeaderValue::from_static("application/grpc"),
    );
    let _ = frames.try_send(http_body::Frame::data(Bytes::from(text)));
    let _ = frames.try_send(http_body::Frame::trailers(trailers));
    builder
        .header("trailer", "Grpc-Trailer-Content-Type")
        .body(Body::stream(receiver))
        .expect("static response parts")
}

/// The body of a one-request call, refused above what the member would take as protobuf (JSON
/// of bytes is 4/3 of them, plus field names: twice the gRPC limit is plenty).
async fn read_whole(body: Incoming, max_request_bytes: usize) -> Result<Bytes, Status> {
    let limit = 2 * grpc::max_message_bytes(max_request_bytes);
    let mut body = body;
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Status::new(Code::Internal, format!("reading request: {e}")))?;
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
        if buffer.len() > limit {
            return Err(grpc::too_large(buffer.len(), limit));
        }
    }
    Ok(buffer.freeze())
}

/// The first JSON value of `text` as the request type, encoded; no value is an empty request.
fn decode(type_name: &str, text: &[u8]) -> Result<Bytes, Status> {
    match json::next_value(text) {
        Ok(None) => Ok(Bytes::new()),
        Ok(Some((value, _))) => to_request(type_name, &value),
        Err(e) => Err(Status::new(Code::InvalidArgument, e.message(false))),
    }
}

/// A JSON value as the request type, encoded; jsonpb's errors are the client's.
fn to_request(type_name: &str, value: &json::Json) -> Result<Bytes, Status> {
    jsonpb::from_json(type_name, value)
        .map(Bytes::from)
        .map_err(|e| Status::new(Code::InvalidArgument, e))
}

/// A stream of JSON requests: the first is read before answering (an error is the answer);
/// the rest are read as they arrive, until the body ends or one does not decode.
async fn read_stream(
    body: Incoming,
    type_name: &'static str,
    max_request_bytes: usize,
) -> Result<grpc::ClientMessages, Status> {
    let mut reader = JsonStream {
        body,
        buffer: BytesMut::new(),
        boundary: json::Boundary::default(),
        limit: 2 * grpc::max_message_bytes(max_request_bytes),
    };
    let (requests, receiver) = smol::channel::bounded(16);
    match reader.next(type_name).await {
        Some(Ok(first)) => {
            let _ = requests.try_send(Ok(first));
        }
        Some(Err(status)) => return Err(status),
        None => return Ok(receiver),
    }
    crate::runtime::spawn(async move {
        while let Some(Ok(request)) = reader.next(type_name).await {
            // A later request that does not decode ends the client's side quietly, as
            // grpc-gateway's does.
            if requests.send(Ok(request)).await.is_err() {
                return;
            }
        }
    });
    Ok(receiver)
}

struct JsonStream {
    body: Incoming,
    buffer: BytesMut,
    /// Where the value being received may end: it is parsed only then (not after every piece).
    boundary: json::Boundary,
    limit: usize,
}

impl JsonStream {
    /// The next request; None when the body ends.
    async fn next(&mut self, type_name: &str) -> Option<Result<Bytes, Status>> {
        // What is left after the last value may hold whole values already: parse first.
        let mut worth_parsing = true;
        loop {
            if worth_parsing {
                match json::next_value(&self.buffer) {
                    Ok(Some((value, end))) => {
                        let _ = self.buffer.split_to(end);
                        self.boundary = json::Boundary::default();
                        return Some(to_request(type_name, &value));
                    }
                    Err(json::Error::Syntax(message)) => {
                        return Some(Err(Status::new(Code::InvalidArgument, message)))
                    }
                    // Incomplete: read on, scanning the value's bytes only once.
                    Ok(None) | Err(json::Error::Truncated) => {
                        self.boundary.may_be_complete(&self.buffer);
                    }
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.buffer.extend_from_slice(&data);
                    }
                    if self.buffer.len() > self.limit {
                        return Some(Err(grpc::too_large(self.buffer.len(), self.limit)));
                    }
                    worth_parsing = self.boundary.may_be_complete(&self.buffer);
                }
                _ if self.buffer.iter().all(u8::is_ascii_whitespace) => return None,
                _ => return Some(Err(Status::new(Code::InvalidArgument, "unexpected EOF"))),
            }
        }
    }
}

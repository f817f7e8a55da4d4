//! Plain HTTP on the client port, as etcd serves it next to gRPC: /health, /version, the v2-era
//! /v2/members that `ETCDCTL_API=2 etcdctl cluster-health` and `member list` read, /metrics
//! (Prometheus text), and etcd 3.5's /livez and /readyz.

use super::{Api, Body};
use crate::pb::etcdserverpb::Member;
use http::{Request, Response, StatusCode};
use std::time::Duration;

/// etcd's CORS headers (its default --cors is "*"), on every plain HTTP answer of the client
/// port.
pub fn allow_origin(headers: &mut http::HeaderMap, origin: &str) {
    use http::HeaderValue;
    headers.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("accept, content-type, authorization"),
    );
    headers.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("POST, GET, OPTIONS, PUT, DELETE"),
    );
    if let Ok(origin) = HeaderValue::from_str(origin) {
        headers.insert("access-control-allow-origin", origin);
    }
}

/// The host a request is for, without the port (Go's httputil.GetHostname).
pub fn hostname<B>(request: &Request<B>) -> String {
    let host = request
        .uri()
        .host()
        .map(str::to_string)
        .or_else(|| {
            request
                .headers()
                .get(http::header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_default();
    match host.strip_prefix('[').and_then(|rest| rest.split_once(']')) {
        Some((ipv6, _)) => ipv6.to_string(),
        None => host.split(':').next().unwrap_or_default().to_string(),
    }
}

/// etcd's answer to a plain-HTTP request for a host not in --host-whitelist (DNS rebinding,
/// CVE-2018-5702): 421 and its explanation.
pub fn host_not_whitelisted(host: &str) -> Response<Body> {
    static REFUSED: crate::logging::Throttled = crate::logging::Throttled::new();
    REFUSED.warn(|| {
        format!("rejecting HTTP request to prevent DNS rebinding attacks (host {host:?})")
    });
    let text = format!(
        "\netcd received your request, but the Host header was unrecognized.\n\nTo fix this, choose one of the following options:\n- Enable TLS, then any HTTPS request will be allowed.\n- Add the hostname you want to use to the whitelist in settings.\n  - e.g. etcd --host-whitelist {host:?}\n\nThis requirement has been added to help prevent \"DNS Rebinding\" attacks (CVE-2018-5702).\n\n"
    );
    let mut response = Response::new(Body::full(text));
    *response.status_mut() = StatusCode::from_u16(421).expect("421 is a status");
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(
        "x-content-type-options",
        http::HeaderValue::from_static("nosniff"),
    );
    response
}

pub async fn handle<B>(api: &Api, request: &Request<B>) -> Response<Body> {
    match (request.method().as_str(), request.uri().path()) {
        // A CORS preflight, on any path.
        ("OPTIONS", _) => Response::new(Body::empty()),
        ("GET", "/health") => health(api).await,
        ("GET", "/version") => json(
            StatusCode::OK,
            format!(
                "{{\"etcdserver\":\"{}\",\"etcdcluster\":\"{}\"}}",
                crate::version::SERVER_VERSION,
                crate::version::CLUSTER_VERSION
            ),
        ),
        ("GET", "/v2/members" | "/v2/members/") => v2_members(api),
        ("GET", "/livez") => text(StatusCode::OK, "ok\n".to_string()),
        ("GET", "/readyz") => readyz(api).await,
        ("GET", "/metrics") => metrics(api),
        ("GET", "/v2/members/leader") => v2_leader(api),
        ("GET" | "HEAD", "/v2/machines") if api.enable_v2 => v2_machines(api),
        (method, path) if api.enable_v2 && path.starts_with(STATS_PREFIX) => {
            v2_stats(api, method, &path[STATS_PREFIX.len()..])
        }
        _ => not_found(),
    }
}

/// Go's http.NotFound.
pub fn not_found() -> Response<Body> {
    Response::builder()
        .status(StatusCode::NOT_FOUND)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::full("404 page not found\n"))
        .expect("static response parts")
}

/// A string as Go's encoding/json writes it.
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    crate::golang::json_string(text, &mut out);
    out
}

fn json_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", quoted.join(","))
}

/// One member in etcd's v2 shape.
pub(super) fn v2_member(member: &Member) -> String {
    format!(
        "{{\"id\":\"{:x}\",\"name\":{},\"peerURLs\":{},\"clientURLs\":{}}}",
        member.id,
        json_string(&member.name),
        json_strings(&member.peer_ur_ls),
        json_strings(&member.client_ur_ls)
    )
}

pub(super) fn v2_response(api: &Api, status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header(
            "x-etcd-cluster-id",
            format!("{:x}", api.raft.status.cluster_id),
        )
        .body(Body::full(body))
        .expect("static response parts")
}

fn v2_members(api: &Api) -> Response<Body> {
    match api.members() {
        Ok(members) => {
            let list: Vec<String> = members.iter().map(v2_member).collect();
            let body = format!("{{\"members\":[{}]}}\n", list.join(","));
            v2_response(api, StatusCode::OK, body)
        }
        Err(e) => v2_error(api, StatusCode::INTERNAL_SERVER_ERROR, &e.message),
    }
}

/// etcd's /v2/machines: every member's client URLs, sorted, joined by ", ".
fn v2_machines(api: &Api) -> Response<Body> {
    match api.members() {
        Ok(members) => {
            let mut urls: Vec<String> = members.into_iter().flat_map(|m| m.client_ur_ls).collect();
            urls.sort();
            text(StatusCode::OK, urls.join(", "))
        }
        Err(e) => v2_error(api, StatusCode::INTERNAL_SERVER_ERROR, &e.message),
    }
}

const STATS_PREFIX: &str = "/v2/stats/";

/// etcd's /v2/stats/self, /v2/stats/store and /v2/stats/leader (GET only).
fn v2_stats(api: &Api, method: &str, which: &str) -> Response<Body> {
    if !matches!(which, "self" | "store" | "leader") {
        return not_found();
    }
    if method != "GET" {
        return Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header("allow", "GET")
            .header("content-type", "text/plain; charset=utf-8")
            .header("x-content-type-options", "nosniff")
            .body(Body::full("Method Not Allowed\n"))
            .expect("static response parts");
    }
    let members = match api.members() {
        Ok(members) => members,
        Err(e) => return v2_error(api, StatusCode::INTERNAL_SERVER_ERROR, &e.message),
    };
    let own = api.raft.status.member_id;
    let body = match which {
        "store" => crate::v2::stats::json(),
        "self" => {
            let name = members.iter().find(|m| m.id == own).map_or("", |m| &m.name);
            crate::peer::stats::self_json(name, own)
        }
        _ if api.raft.status.leader_id() != own => {
            // etcd's httptypes.HTTPError, without the members API's cluster header.
            let body = format!("{{\"message\":{}}}", json_string("not current leader"));
            return json(StatusCode::FORBIDDEN, body);
        }
        _ => {
            let others: Vec<u64> = members
                .iter()
                .map(|m| m.id)
                .filter(|id| *id != own)
                .collect();
            crate::peer::stats::leader_json(own, &others)
        }
    };
    json(StatusCode::OK, body)
}

fn v2_leader(api: &Api) -> Response<Body> {
    let leader = api.raft.status.leader_id();
    let members = match api.members() {
        Ok(members) => members,
        Err(e) => return v2_error(api, StatusCode::INTERNAL_SERVER_ERROR, &e.message),
    };
    match members.iter().find(|m| leader != 0 && m.id == leader) {
        Some(member) => v2_response(api, StatusCode::OK, format!("{}\n", v2_member(member))),
        None => v2_error(api, StatusCode::SERVICE_UNAVAILABLE, "During election"),
    }
}

fn v2_error(api: &Api, status: StatusCode, message: &str) -> Response<Body> {
    v2_response(
        api,
        status,
        format!("{{\"message\":{}}}\n", json_string(message)),
    )
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::full(body))
        .expect("static response parts")
}

/// Ready to serve: a leader and a quorum round within a second (as /health).
async fn readyz(api: &Api) -> Response<Body> {
    if can_serve(api).await {
        text(StatusCode::OK, "ok\n".to_string())
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no quorum\n".to_string(),
        )
    }
}

/// Prometheus text format, with etcd's metric names for what this member measures.
fn metrics(api: &Api) -> Response<Body> {
    let status = &api.raft.status;
    let (db_size, db_in_use, keys, compact_revision) = match api.store.read_txn() {
        Ok(txn) => (
            api.store.size_bytes().unwrap_or(0),
            api.store.size_in_use_bytes().unwrap_or(0),
            api.store.key_count(&txn).unwrap_or(0),
            api.store.compact_revision(&txn).ok().flatten().unwrap_or(0),
        ),
        Err(_) => (0, 0, 0, 0),
    };
    let leader = status.leader_id();
    let body = crate::metrics::render(&crate::metrics::Snapshot {
        has_leader: leader != 0,
        is_leader: leader == status.member_id,
        is_learner: status.is_learner(),
        committed: status.commit_index(),
        applied: status.applied_index(),
        db_size,
        db_in_use,
        keys,
        compact_revision,
        server_version: crate::version::SERVER_VERSION,
    });
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
        .body(Body::full(body))
        .expect("static response parts")
}

/// How long /health waits for its quorum round (etcd: 1 s for its QGET).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// Healthy when a leader is known and a quorum round completes within a second: etcd 3.4 makes
/// a quorum read through raft, so a member cut off from the majority, or one whose leader has
/// just died, reports unhealthy.
async fn health(api: &Api) -> Response<Body> {
    // etcd 3.4 also reports unhealthy while any alarm is raised; we do while the disk is full.
    let alarmed = api.raft.status.disk.is_full()
        || api
            .store
            .read_txn()
            .and_then(|txn| api.store.alarms(&txn))
            .map_or(true, |alarms| !alarms.is_empty());
    if !alarmed && can_serve(api).await {
        json(StatusCode::OK, "{\"health\":\"true\"}".to_string())
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"health\":\"false\"}".to_string(),
        )
    }
}

/// A leader is known and a quorum round completes within HEALTH_TIMEOUT.
async fn can_serve(api: &Api) -> bool {
    let quorum_read = smol::future::or(async { api.raft.read_barrier().await.is_ok() }, async {
        smol::Timer::after(HEALTH_TIMEOUT).await;
        false
    });
    api.raft.status.leader_id() != 0 && quorum_read.await
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::full(body))
        .expect("static response parts")
}

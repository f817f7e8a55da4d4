//! Plain HTTP on the client port, as etcd serves it next to gRPC: /health, /version, and the
//! v2-era /v2/members that `ETCDCTL_API=2 etcdctl cluster-health` and `member list` read.

use super::{Api, Body};
use crate::pb::etcdserverpb::Member;
use http::{Request, Response, StatusCode};
use std::time::Duration;

pub async fn handle<B>(api: &Api, request: &Request<B>) -> Response<Body> {
    match (request.method().as_str(), request.uri().path()) {
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
        ("GET", "/v2/members/leader") => v2_leader(api),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Body::full("404 page not found\n"))
            .expect("static response parts"),
    }
}

/// A string as Go's encoding/json writes it (HTML characters escaped too).
fn json_string(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json_strings(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| json_string(s)).collect();
    format!("[{}]", quoted.join(","))
}

/// One member in etcd's v2 shape.
fn v2_member(member: &Member) -> String {
    format!(
        "{{\"id\":\"{:x}\",\"name\":{},\"peerURLs\":{},\"clientURLs\":{}}}",
        member.id,
        json_string(&member.name),
        json_strings(&member.peer_ur_ls),
        json_strings(&member.client_ur_ls)
    )
}

fn v2_response(api: &Api, status: StatusCode, body: String) -> Response<Body> {
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

/// How long /health waits for its quorum round (etcd: 1 s for its QGET).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// Healthy when a leader is known and a quorum round completes within a second: etcd 3.4 makes
/// a quorum read through raft, so a member cut off from the majority, or one whose leader has
/// just died, reports unhealthy.
async fn health(api: &Api) -> Response<Body> {
    let quorum_read = smol::future::or(async { api.raft.read_barrier().await.is_ok() }, async {
        smol::Timer::after(HEALTH_TIMEOUT).await;
        false
    });
    if api.raft.status.leader_id() != 0 && quorum_read.await {
        json(StatusCode::OK, "{\"health\":\"true\"}".to_string())
    } else {
        json(
            StatusCode::SERVICE_UNAVAILABLE,
            "{\"health\":\"false\"}".to_string(),
        )
    }
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::full(body))
        .expect("static response parts")
}

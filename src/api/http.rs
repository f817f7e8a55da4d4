//! Plain HTTP on the client port, as etcd serves it next to gRPC: /health and /version.

use super::{Api, Body};
use http::{Request, Response, StatusCode};

pub fn handle<B>(api: &Api, request: &Request<B>) -> Response<Body> {
    match (request.method().as_str(), request.uri().path()) {
        ("GET", "/health") => health(api),
        ("GET", "/version") => json(
            StatusCode::OK,
            format!(
                "{{\"etcdserver\":\"{}\",\"etcdcluster\":\"{}\"}}",
                crate::version::SERVER_VERSION,
                crate::version::CLUSTER_VERSION
            ),
        ),
        _ => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "text/plain; charset=utf-8")
            .body(Body::full("404 page not found\n"))
            .expect("static response parts"),
    }
}

/// Healthy while a leader is known, as etcd's /health.
fn health(api: &Api) -> Response<Body> {
    if api.raft.status.leader_id() != 0 {
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

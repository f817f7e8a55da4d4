//! Membership changes through etcd's v2 members API (--enable-v2), as etcd 3.4's v2http
//! membersHandler answers them: POST /v2/members adds a member, DELETE /v2/members/<id>
//! removes one, PUT /v2/members/<id> changes its peer URLs. They are the Cluster service's
//! changes (api/cluster.rs) with v2's status codes and bodies. The reads (GET) are in http.rs.
//!
//! Unlike etcd, which checks these against its v2 auth only, a member change here passes the
//! v3 gate as the Cluster service's do: with v3 auth enabled it needs root's token.

use super::cluster;
use super::http::{v2_member, v2_response};
use super::{Api, Body, Call, Status};
use crate::mvcc::MemberError;
use crate::pb::etcdserverpb::{MemberAddRequest, MemberRemoveRequest, MemberUpdateRequest};
use http::{Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;

pub const PREFIX: &str = "/v2/members";

/// Does this request change membership through the v2 API?
pub fn is_change<B>(request: &Request<B>) -> bool {
    let path = request.uri().path();
    let under = path == PREFIX || path.starts_with("/v2/members/");
    under && matches!(request.method().as_str(), "POST" | "PUT" | "DELETE")
}

/// etcd's MemberCreateRequest and MemberUpdateRequest.
#[derive(Deserialize)]
struct PeerUrls {
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
}

/// Why a change was not made, as etcd's v2 handler answers it.
enum Refusal {
    /// etcd's httptypes.HTTPError: `{"message":...}` with the status, no trailing newline.
    Http(StatusCode, String),
    /// Go's http.Error for a path without a member ID.
    MethodNotAllowed,
}

impl Refusal {
    fn answer(self, api: &Api) -> Response<Body> {
        match self {
            Refusal::Http(status, message) => {
                let mut body = String::from("{\"message\":");
                crate::golang::json_string(&message, &mut body);
                body.push('}');
                v2_response(api, status, body)
            }
            Refusal::MethodNotAllowed => Response::builder()
                .status(StatusCode::METHOD_NOT_ALLOWED)
                .header("content-type", "text/plain; charset=utf-8")
                .header("x-content-type-options", "nosniff")
                .body(Body::full("Method Not Allowed\n"))
                .expect("static response parts"),
        }
    }

    /// What etcd answers for a change of member `id` the Cluster service refused.
    fn of_change(status: &Status, id: u64) -> Refusal {
        let is = |error: MemberError| Status::from(error).message == status.message;
        let (code, message) = if is(MemberError::IdExists) {
            (StatusCode::CONFLICT, "membership: ID exists".to_string())
        } else if is(MemberError::PeerUrlExists) {
            (
                StatusCode::CONFLICT,
                "membership: peerURL exists".to_string(),
            )
        } else if is(MemberError::NotFound) {
            (StatusCode::NOT_FOUND, format!("No such member: {id:x}"))
        } else {
            log::warn!("v2 member change refused: {}", status.message);
            let message = "Internal Server Error".to_string();
            (StatusCode::INTERNAL_SERVER_ERROR, message)
        };
        Refusal::Http(code, message)
    }
}

/// A change made: 204 with the cluster's ID and nothing else.
fn no_content(api: &Api) -> Response<Body> {
    let mut response = v2_response(api, StatusCode::NO_CONTENT, String::new());
    response.headers_mut().remove(http::header::CONTENT_TYPE);
    response
}

/// The member ID after /v2/members/.
fn member_id(path: &str) -> Result<u64, Refusal> {
    let text = path[PREFIX.len()..].trim_start_matches('/');
    if text.is_empty() {
        return Err(Refusal::MethodNotAllowed);
    }
    u64::from_str_radix(text, 16)
        .map_err(|_| Refusal::Http(StatusCode::NOT_FOUND, format!("No such member: {text}")))
}

/// The JSON body's peer URLs (application/json only, as etcd).
async fn peer_urls(api: &Api, request: Request<Incoming>) -> Result<Vec<String>, Refusal> {
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media_type = match content_type.split_once(';') {
        Some((media, _)) => media.trim().to_ascii_lowercase(),
        None => content_type.to_string(),
    };
    if media_type != "application/json" {
        let message = format!("Bad Content-Type {media_type}, accept application/json");
        return Err(Refusal::Http(StatusCode::UNSUPPORTED_MEDIA_TYPE, message));
    }
    let bad = |message: String| Refusal::Http(StatusCode::BAD_REQUEST, message);
    let limit = api.limits.max_request_bytes;
    let body = http_body_util::Limited::new(request.into_body(), limit)
        .collect()
        .await
        .map_err(|e| bad(e.to_string()))?
        .to_bytes();
    let parsed: PeerUrls = serde_json::from_slice(&body).map_err(|e| bad(e.to_string()))?;
    crate::url::Url::parse_list(&parsed.peer_urls).map_err(bad)
}

pub async fn handle(
    api: &Api,
    who: &crate::auth::Identity,
    request: Request<Incoming>,
) -> Response<Body> {
    match change(api, who, request).await {
        Ok(response) => response,
        Err(refusal) => refusal.answer(api),
    }
}

async fn change(
    api: &Api,
    who: &crate::auth::Identity,
    request: Request<Incoming>,
) -> Result<Response<Body>, Refusal> {
    let path = request.uri().path().to_string();
    match request.method().as_str() {
        "POST" => {
            // As etcd: who may change members is checked before what the change is.
            let call = admit(api, who, &MemberAddRequest::default()).await?;
            let add = MemberAddRequest {
                peer_ur_ls: peer_urls(api, request).await?,
                is_learner: false,
            };
            let added = cluster::member_add(&call, add)
                .await
                .map_err(|status| Refusal::of_change(&status, 0))?;
            let body = format!("{}\n", v2_member(&added.member.unwrap_or_default()));
            Ok(v2_response(api, StatusCode::CREATED, body))
        }
        "DELETE" => {
            let call = admit(api, who, &MemberRemoveRequest::default()).await?;
            let id = member_id(&path)?;
            let remove = MemberRemoveRequest { id };
            cluster::member_remove(&call, remove)
                .await
                .map_err(|status| Refusal::of_change(&status, id))?;
            Ok(no_content(api))
        }
        _ => {
            let call = admit(api, who, &MemberUpdateRequest::default()).await?;
            let id = member_id(&path)?;
            let update = MemberUpdateRequest {
                id,
                peer_ur_ls: peer_urls(api, request).await?,
            };
            cluster::member_update(&call, update)
                .await
                .map_err(|status| Refusal::of_change(&status, id))?;
            Ok(no_content(api))
        }
    }
}

/// The Cluster service's gate, refused as v2 refuses (401 "Insufficient credentials").
async fn admit<'a, R: crate::auth::Guarded>(
    api: &'a Api,
    who: &crate::auth::Identity,
    request: &R,
) -> Result<Call<'a>, Refusal> {
    match api.admit(who, request).await {
        Ok(admitted) => Ok(Call { api, admitted }),
        Err(status) => {
            log::debug!("v2 member change refused at the gate: {}", status.message);
            let message = "Insufficient credentials".to_string();
            Err(Refusal::Http(StatusCode::UNAUTHORIZED, message))
        }
    }
}

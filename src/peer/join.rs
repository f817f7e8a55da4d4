//! Joining a running cluster (`--initial-cluster-state existing`): ask the members named in
//! --initial-cluster who is in the cluster, and find this member (added beforehand with
//! `etcdctl member add`) by its peer URLs, as etcd's GetClusterFromRemotePeers does.

use super::frame::{self, Hello};
use super::sender::open;
use crate::pb::etcdserverpb::{Member, MemberListResponse};
use futures_rustls::rustls::ClientConfig;
use prost::Message as _;
use std::sync::Arc;

/// The cluster ID and members as the first reachable URL reports them.
pub async fn fetch_members(
    tls: Option<&Arc<ClientConfig>>,
    urls: &[String],
) -> Result<(u64, Vec<Member>), String> {
    let mut errors = Vec::new();
    for url in urls {
        match query(tls, url).await {
            Ok(answer) => return Ok(answer),
            Err(e) => errors.push(format!("{url}: {e}")),
        }
    }
    Err(format!(
        "could not retrieve the cluster's members from any peer ({})",
        errors.join("; ")
    ))
}

async fn query(tls: Option<&Arc<ClientConfig>>, url: &str) -> Result<(u64, Vec<Member>), String> {
    let mut stream = open(tls, url, Hello::MEMBERS_QUERY).await?;
    let mut payload = Vec::new();
    match frame::read_frame(&mut stream, &mut payload)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(frame::KIND_MEMBERS) => {}
        other => return Err(format!("unexpected answer {other:?} to a members query")),
    }
    let answer = MemberListResponse::decode(payload.as_slice())
        .map_err(|e| format!("bad members answer: {e}"))?;
    let cluster_id = answer.header.map_or(0, |h| h.cluster_id);
    Ok((cluster_id, answer.members))
}

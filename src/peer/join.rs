//! Joining a running cluster (`--initial-cluster-state existing`): ask the members named in
//! --initial-cluster who is in the cluster, and find this member (added beforehand with
//! `etcdctl member add`) by its peer URLs, as etcd's GetClusterFromRemotePeers does.

use super::frame::{self, Hello};
use super::sender::open;
use crate::pb::etcdserverpb::{Member, MemberListResponse};
use futures_rustls::rustls::ClientConfig;
use prost::Message as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long to keep asking: a member that answers may not have applied the `member add` yet.
const PATIENCE: Duration = Duration::from_secs(10);
const RETRY: Duration = Duration::from_millis(200);

/// The cluster ID, its members, and this member's ID (the member whose peer URLs are
/// `own_urls`, sorted), as the first peer that knows it reports them.
pub async fn find_self(
    tls: Option<&Arc<ClientConfig>>,
    urls: &[String],
    own_urls: &[String],
) -> Result<(u64, Vec<Member>, u64), String> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let mut errors = Vec::new();
        let mut answered = false;
        for url in urls {
            match query(tls, url).await {
                Ok((cluster_id, members)) => {
                    answered = true;
                    let own = members.iter().find(|m| {
                        let mut peer_urls = m.peer_ur_ls.clone();
                        peer_urls.sort();
                        peer_urls == own_urls
                    });
                    if let Some(own) = own {
                        let id = own.id;
                        return Ok((cluster_id, members, id));
                    }
                }
                Err(e) => errors.push(format!("{url}: {e}")),
            }
        }
        if Instant::now() >= deadline {
            return Err(if answered {
                format!(
                    "the cluster has no member with peer URLs {}; add it first with `etcdctl member add`",
                    own_urls.join(",")
                )
            } else {
                format!(
                    "could not retrieve the cluster's members from any peer ({})",
                    errors.join("; ")
                )
            });
        }
        smol::Timer::after(RETRY).await;
    }
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

//! The Cluster service (etcd's v3rpc/member.go): membership as raft configuration changes.
//! Answers carry etcd's cluster header (no revision) and the member list after the change.

use super::{Api, Call, Code, Status};
use crate::apply::membership::{self, MemberError};
use crate::apply::Applied;
use crate::pb::etcdserverpb::{
    InternalRaftRequest, Member, MemberAddRequest, MemberAddResponse, MemberListRequest,
    MemberListResponse, MemberPeerUrlsRequest, MemberPromoteRequest, MemberPromoteResponse,
    MemberRemoveRequest, MemberRemoveResponse, MemberUpdateRequest, MemberUpdateResponse,
    ResponseHeader,
};
use crate::raft::MemberChange;
use crate::url::Url;
use std::time::{SystemTime, UNIX_EPOCH};

impl Api {
    /// etcd's ClusterServer header: cluster, member and term, without a revision.
    fn cluster_header(&self) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            revision: 0,
            ..self.header(0)?
        })
    }

    pub(super) fn members(&self) -> Result<Vec<Member>, Status> {
        let txn = self.store.read_txn()?;
        Ok(membership::list(&self.store, &txn)?)
    }

    async fn change_members(&self, change: MemberChange) -> Result<Vec<Member>, Status> {
        match self.raft.change_members(change).await?? {
            Applied::Members => self.members(),
            other => Err(super::unexpected(other)),
        }
    }
}

/// etcd's types.NewURLs: every URL valid, then sorted.
fn peer_urls(urls: &[String]) -> Result<Vec<String>, Status> {
    let bad_urls = || {
        Status::new(
            Code::InvalidArgument,
            "etcdserver: given member URLs are invalid",
        )
    };
    if urls.is_empty() {
        return Err(bad_urls());
    }
    let mut parsed = Vec::new();
    for url in urls {
        parsed.push(Url::parse(url).map_err(|_| bad_urls())?.to_string());
    }
    parsed.sort();
    Ok(parsed)
}

/// A member counts as started once it has published its name.
fn is_started(member: &Member) -> bool {
    !member.name.is_empty()
}

/// etcd's IsReadyToAddVotingMember (--strict-reconfig-check, on by default): after the add,
/// the started voters must still be a quorum (more than half).
fn ready_to_add_voter(members: &[Member]) -> bool {
    let voters: Vec<&Member> = members.iter().filter(|m| !m.is_learner).collect();
    let total = voters.len() + 1;
    let started = voters.iter().filter(|m| is_started(m)).count();
    (started == 1 && total == 2) || started > total / 2
}

/// etcd's IsReadyToRemoveVotingMember: the started voters left must be a quorum of those left.
fn ready_to_remove_voter(members: &[Member], id: u64) -> bool {
    let remaining: Vec<&Member> = members
        .iter()
        .filter(|m| !m.is_learner && m.id != id)
        .collect();
    let started = remaining.iter().filter(|m| is_started(m)).count();
    started > remaining.len() / 2
}

pub async fn member_list(
    api: &Call<'_>,
    _: MemberListRequest,
) -> Result<MemberListResponse, Status> {
    Ok(MemberListResponse {
        header: api.cluster_header(),
        members: api.members()?,
    })
}

pub async fn member_add(
    api: &Call<'_>,
    request: MemberAddRequest,
) -> Result<MemberAddResponse, Status> {
    let urls = peer_urls(&request.peer_ur_ls)?;
    let strict = api.limits.strict_reconfig_check;
    if strict && !request.is_learner && !ready_to_add_voter(&api.members()?) {
        return Err(MemberError::NotEnoughStarted.into());
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // etcd's NewMember: the URLs, an empty cluster name, then the time, so re-adding the same
    // URLs later gives a new ID.
    let member = Member {
        id: crate::ids::member_id(&urls, &now.to_string()),
        name: String::new(),
        peer_ur_ls: urls,
        client_ur_ls: Vec::new(),
        is_learner: request.is_learner,
    };
    let members = api
        .change_members(MemberChange::Add(member.clone()))
        .await?;
    Ok(MemberAddResponse {
        header: api.cluster_header(),
        member: Some(member),
        members,
    })
}

pub async fn member_remove(
    api: &Call<'_>,
    request: MemberRemoveRequest,
) -> Result<MemberRemoveResponse, Status> {
    let members = api.members()?;
    let is_learner = members.iter().any(|m| m.id == request.id && m.is_learner);
    let strict = api.limits.strict_reconfig_check;
    if strict && !is_learner && !ready_to_remove_voter(&members, request.id) {
        return Err(MemberError::NotEnoughStarted.into());
    }
    let members = api.change_members(MemberChange::Remove(request.id)).await?;
    Ok(MemberRemoveResponse {
        header: api.cluster_header(),
        members,
    })
}

pub async fn member_update(
    api: &Call<'_>,
    request: MemberUpdateRequest,
) -> Result<MemberUpdateResponse, Status> {
    let urls = peer_urls(&request.peer_ur_ls)?;
    let update = Box::new(InternalRaftRequest {
        member_peer_urls: Some(MemberPeerUrlsRequest {
            member_id: request.id,
            peer_urls: urls,
        }),
        ..InternalRaftRequest::default()
    });
    api.propose(update).await?;
    Ok(MemberUpdateResponse {
        header: api.cluster_header(),
        members: api.members()?,
    })
}

pub async fn member_promote(
    api: &Call<'_>,
    request: MemberPromoteRequest,
) -> Result<MemberPromoteResponse, Status> {
    use crate::peer::{Answer, Query};
    // Only the leader knows whether the learner caught up: a follower forwards, as etcd's does.
    match api.raft.ask_leader(Query::Promote(request.id)).await? {
        None => {}
        Some(Ok(Answer::Done)) => {
            // The leader applied it; so has this member once it caught up with the leader.
            api.raft.read_barrier().await?;
            return Ok(MemberPromoteResponse {
                header: api.cluster_header(),
                members: api.members()?,
            });
        }
        Some(Ok(Answer::Refused { code, message })) => {
            return Err(Status::new(Code::from_number(code), message))
        }
        Some(Ok(other)) => {
            return Err(Status::new(
                Code::Internal,
                format!("the leader answered a promotion with {other:?}"),
            ))
        }
        Some(Err(error)) => {
            return Err(Status::new(
                Code::Unavailable,
                format!("etcdserver: asking the leader to promote failed: {error}"),
            ))
        }
    }
    let members = api
        .change_members(MemberChange::Promote(request.id))
        .await?;
    Ok(MemberPromoteResponse {
        header: api.cluster_header(),
        members,
    })
}

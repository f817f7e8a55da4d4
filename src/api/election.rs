//! The Election service (etcd's v3election): candidates queue under `<name>/` (queue.rs); the
//! first created key is the leader. Campaign waits for leadership, Proclaim updates the
//! leader's value while it still leads, Leader and Observe report the leader, Resign steps down.

use super::grpc::{Gone, StreamWriter};
use super::{kv, queue, Api, Call, Code, Status};
use crate::pb::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use crate::pb::etcdserverpb::request_op::Request;
use crate::pb::etcdserverpb::{Compare, DeleteRangeRequest, PutRequest, RequestOp, TxnRequest};
use crate::pb::v3electionpb::{
    CampaignRequest, CampaignResponse, LeaderKey, LeaderRequest, LeaderResponse, ProclaimRequest,
    ProclaimResponse, ResignRequest, ResignResponse,
};
use smol::channel::Receiver;
use std::sync::Arc;

fn prefix(name: &[u8]) -> Vec<u8> {
    let mut prefix = name.to_vec();
    prefix.push(b'/');
    prefix
}

/// `op` if `leader`'s key is still the one it created (so it still leads).
fn while_leading(leader: &LeaderKey, op: Request) -> TxnRequest {
    TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Create as i32,
            key: leader.key.clone(),
            target_union: Some(TargetUnion::CreateRevision(leader.rev)),
            ..Compare::default()
        }],
        success: vec![RequestOp { request: Some(op) }],
        failure: Vec::new(),
    }
}

async fn proclaim_value(
    api: &Call<'_>,
    leader: &LeaderKey,
    value: &[u8],
) -> Result<ProclaimResponse, Status> {
    let put = Request::RequestPut(PutRequest {
        key: leader.key.clone(),
        value: value.to_vec(),
        lease: leader.lease,
        ..PutRequest::default()
    });
    let answer = kv::txn(api, while_leading(leader, put)).await?;
    if !answer.succeeded {
        return Err(Status::new(Code::Unknown, "election: not leader"));
    }
    Ok(ProclaimResponse {
        header: answer.header,
    })
}

pub async fn campaign(
    api: &Call<'_>,
    request: CampaignRequest,
) -> Result<CampaignResponse, Status> {
    let prefix = prefix(&request.name);
    let key = queue::candidate_key(&prefix, request.lease);
    let place = queue::enqueue(api, &key, &request.value, request.lease).await?;
    let leader = LeaderKey {
        name: request.name.clone(),
        key: key.clone(),
        rev: place.revision,
        lease: request.lease,
    };
    // Resuming a campaign with a new value proclaims it, as concurrency.Election does.
    if place.existing.is_some_and(|kv| kv.value != request.value) {
        proclaim_value(api, &leader, &request.value).await?;
    }
    queue::wait_turn(api, &prefix, place.revision).await?;
    let (mine, header) = queue::current(api, &key).await?;
    if mine.is_none() {
        return Err(Status::new(Code::Unknown, "session expired"));
    }
    Ok(CampaignResponse {
        header,
        leader: Some(leader),
    })
}

pub async fn proclaim(
    api: &Call<'_>,
    request: ProclaimRequest,
) -> Result<ProclaimResponse, Status> {
    let leader = request
        .leader
        .ok_or_else(|| Status::new(Code::Unknown, "election: not leader"))?;
    proclaim_value(api, &leader, &request.value).await
}

pub async fn leader(api: &Call<'_>, request: LeaderRequest) -> Result<LeaderResponse, Status> {
    let kv = queue::first(api, &prefix(&request.name))
        .await?
        .ok_or_else(|| Status::new(Code::Unknown, "election: no leader"))?;
    Ok(LeaderResponse {
        header: api.header(api.current_revision()?),
        kv: Some(kv),
    })
}

pub async fn resign(api: &Call<'_>, request: ResignRequest) -> Result<ResignResponse, Status> {
    let Some(leader) = request.leader else {
        return Ok(ResignResponse {
            header: api.header(api.current_revision()?),
        });
    };
    let delete = Request::RequestDeleteRange(DeleteRangeRequest {
        key: leader.key.clone(),
        ..DeleteRangeRequest::default()
    });
    let answer = kv::txn(api, while_leading(&leader, delete)).await?;
    Ok(ResignResponse {
        header: answer.header,
    })
}

/// A stream of the leader: the current one first, then every change of leader or value.
pub async fn observe(
    api: Arc<Api>,
    _who: crate::auth::Identity,
    requests: Receiver<LeaderRequest>,
    writer: StreamWriter,
) -> Result<(), Gone> {
    let Ok(request) = requests.recv().await else {
        return Ok(());
    };
    let prefix = prefix(&request.name);
    let wake = api.hub.subscribe();
    let mut last: Option<(Vec<u8>, i64)> = None;
    loop {
        let Ok(leader) = queue::first(&api, &prefix).await else {
            return Ok(());
        };
        if let Some(kv) = leader {
            let seen = Some((kv.key.clone(), kv.mod_revision));
            if seen != last {
                last = seen;
                let response = LeaderResponse {
                    header: api.header(api.current_revision().unwrap_or(0)),
                    kv: Some(kv),
                };
                writer.send(&response).await?;
            }
        }
        if wake.recv().await.is_err() {
            return Ok(());
        }
    }
}

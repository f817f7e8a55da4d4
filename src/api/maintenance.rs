//! The Maintenance service (Status, MoveLeader so far), answered from this member's own state.

use super::{Api, Status};
use crate::pb::etcdserverpb::{
    MoveLeaderRequest, MoveLeaderResponse, StatusRequest, StatusResponse,
};

pub async fn status(api: &Api, _: StatusRequest) -> Result<StatusResponse, Status> {
    let raft = &api.raft.status;
    Ok(StatusResponse {
        header: api.header(api.current_revision()?),
        version: crate::version::SERVER_VERSION.to_string(),
        db_size: api.store.size_bytes()? as i64,
        leader: raft.leader_id(),
        raft_index: raft.commit_index(),
        raft_term: raft.term(),
        raft_applied_index: raft.applied_index(),
        errors: Vec::new(),
        db_size_in_use: api.store.size_in_use_bytes()? as i64,
        is_learner: raft.is_learner(),
    })
}

/// Hands leadership to another voter; only the leader can (etcd answers "not leader").
pub async fn move_leader(
    api: &Api,
    request: MoveLeaderRequest,
) -> Result<MoveLeaderResponse, Status> {
    api.raft.move_leader(request.target_id).await??;
    Ok(MoveLeaderResponse {
        header: api.header(api.current_revision()?),
    })
}

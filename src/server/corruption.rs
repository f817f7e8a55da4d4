//! etcd's data-inconsistency checks. --experimental-initial-corrupt-check: before serving
//! clients, this member's HashKV at its revision is compared with every reachable peer's at the
//! same revision; a difference (with the same compacted revision) stops the member.
//! --experimental-corrupt-check-time: the leader compares periodically and raises the CORRUPT
//! alarm for a member whose hash differs, after which the cluster refuses writes.

use crate::mvcc::{KvHash, Store};
use crate::pb::etcdserverpb::alarm_request::AlarmAction;
use crate::pb::etcdserverpb::{AlarmRequest, AlarmType, InternalRaftRequest};
use crate::peer::{Answer, Query};
use crate::raft::RaftHandle;
use std::sync::Arc;
use std::time::Duration;

/// Peers whose hash differs from this member's at `revision` (same compacted revision); peers
/// that cannot answer at that revision (compacted, behind, unreachable) are skipped.
async fn mismatches(
    store: &Arc<Store>,
    raft: &RaftHandle,
) -> Result<(i64, KvHash, Vec<(u64, KvHash)>), String> {
    let local_store = store.clone();
    let (revision, local) = smol::unblock(move || local_store.hash_kv_at(0))
        .await
        .map_err(|e| format!("hashing the store: {e}"))?;
    let answers = raft
        .ask_members(Query::HashKv(revision))
        .await
        .map_err(|e| format!("asking the peers: {e:?}"))?;
    let mut differing = Vec::new();
    for (member, answer) in answers {
        match answer {
            Ok(Answer::Hashed(theirs)) if theirs.compact_revision == local.compact_revision => {
                if theirs.hash != local.hash {
                    differing.push((member, theirs));
                }
            }
            Ok(other) => log::info!(
                "corruption check: member {member:x} cannot compare at revision {revision}: {other:?}"
            ),
            Err(error) => log::info!(
                "corruption check: member {member:x} did not answer: {error}"
            ),
        }
    }
    Ok((revision, local, differing))
}

/// --experimental-initial-corrupt-check: Err if a peer's data differs from this member's.
pub async fn initial_check(store: &Arc<Store>, raft: &RaftHandle) -> Result<(), String> {
    let member = raft.status.member_id;
    let (revision, local, differing) = mismatches(store, raft).await?;
    if let Some((peer, theirs)) = differing.first() {
        return Err(format!(
            "--experimental-initial-corrupt-check: member {member:x} found data inconsistency with peers: at revision {revision} its hash is {:x}, member {peer:x}'s is {:x}; refusing to serve",
            local.hash, theirs.hash
        ));
    }
    log::info!(
        "initial corruption check passed at revision {revision} (hash {:x})",
        local.hash
    );
    Ok(())
}

/// --experimental-corrupt-check-time: while this member leads, compare every `interval`; a
/// member whose hash differs gets the CORRUPT alarm.
pub async fn periodic_check(store: Arc<Store>, raft: RaftHandle, interval: Duration) {
    loop {
        smol::Timer::after(interval).await;
        let status = &raft.status;
        if status.leader_id() != status.member_id {
            continue;
        }
        let differing = match mismatches(&store, &raft).await {
            Ok((revision, local, differing)) => {
                for (peer, theirs) in &differing {
                    log::error!(
                        "corruption check: member {peer:x}'s hash at revision {revision} is {:x}, this leader's is {:x}; raising the CORRUPT alarm",
                        theirs.hash, local.hash
                    );
                }
                differing
            }
            Err(error) => {
                log::warn!("corruption check: {error}");
                continue;
            }
        };
        for (peer, _) in differing {
            let alarm = Box::new(InternalRaftRequest {
                alarm: Some(AlarmRequest {
                    action: AlarmAction::Activate as i32,
                    member_id: peer,
                    alarm: AlarmType::Corrupt as i32,
                }),
                ..InternalRaftRequest::default()
            });
            let _ = raft.propose(alarm).await;
        }
    }
}

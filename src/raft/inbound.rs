//! Checks on a peer's raft message before raft-rs steps it. raft-rs trusts its input: a few
//! messages that no correct member sends make it abort the process (a heartbeat committing past
//! the log, an append whose entries skip indexes, an empty proposal, a local-only message type).
//! Such messages are dropped here, and the drop logged (throttled), so a broken or hostile peer
//! cannot stop this member.

use raft::eraftpb::{Message, MessageType};
use raft::storage::MemStorage;
use raft::Raft;

/// Why `message` must not reach raft, or None if raft may step it.
pub fn refusal(raft: &Raft<MemStorage>, message: &Message) -> Option<String> {
    let last_index = raft.raft_log.last_index();
    match message.get_msg_type() {
        // Generated inside a member, never sent: from the network they are forgeries.
        MessageType::MsgHup
        | MessageType::MsgBeat
        | MessageType::MsgUnreachable
        | MessageType::MsgSnapStatus
        | MessageType::MsgCheckQuorum => Some("a local-only message type".to_string()),
        MessageType::MsgPropose if message.entries.is_empty() => {
            Some("a proposal without entries".to_string())
        }
        // raft stamps its term on everything it sends but forwarded proposals and read-index
        // requests; a term of 0 would make raft-rs step back to term 0, and a follower aborts
        // forwarding a proposal or read-index request that carries one.
        MessageType::MsgPropose | MessageType::MsgReadIndex if message.term != 0 => {
            Some("a forwarded request with a term".to_string())
        }
        kind if message.term == 0
            && !matches!(kind, MessageType::MsgPropose | MessageType::MsgReadIndex) =>
        {
            Some("a message without a term".to_string())
        }
        // Only the leader acts on a transfer request; a follower would forward it, term and
        // all, and abort.
        MessageType::MsgTransferLeader if raft.state != raft::StateRole::Leader => {
            Some("a leadership transfer request for a member that does not lead".to_string())
        }
        // A leader sends min(commit, what the follower has acknowledged).
        MessageType::MsgHeartbeat if message.commit > last_index => Some(format!(
            "a heartbeat committing index {} past this member's last index {last_index}",
            message.commit
        )),
        MessageType::MsgAppend => {
            let contiguous = message.entries.iter().enumerate().all(|(offset, entry)| {
                Some(entry.index) == message.index.checked_add(offset as u64 + 1)
            });
            (!contiguous).then(|| {
                format!(
                    "an append whose entries do not follow index {} one by one",
                    message.index
                )
            })
        }
        // Members here never use joint configurations; raft-rs aborts on one it cannot restore.
        MessageType::MsgSnapshot => {
            let metadata = message.get_snapshot().get_metadata();
            if metadata.index == 0 || metadata.term == 0 || metadata.term > message.term {
                // raft-rs reads a term of 0 past its log as matching and commits past its end.
                return Some(format!(
                    "a snapshot at index {} of term {} in a message of term {}",
                    metadata.index, metadata.term, message.term
                ));
            }
            let conf = metadata.get_conf_state();
            (!plausible(conf))
                .then(|| format!("a snapshot with an impossible configuration {conf:?}"))
        }
        // A follower acknowledges only what the leader sent it.
        MessageType::MsgAppendResponse if message.index > last_index => Some(format!(
            "an append response for index {} past this member's last index {last_index}",
            message.index
        )),
        _ => None,
    }
}

/// A configuration raft-rs can restore exactly: some voters, no ID 0, no ID twice, not joint
/// (members here never use joint configurations).
fn plausible(conf: &raft::eraftpb::ConfState) -> bool {
    let ids: Vec<u64> = conf.voters.iter().chain(&conf.learners).copied().collect();
    let distinct: std::collections::HashSet<u64> = ids.iter().copied().collect();
    let joint =
        !conf.voters_outgoing.is_empty() || !conf.learners_next.is_empty() || conf.auto_leave;
    !conf.voters.is_empty() && !distinct.contains(&0) && distinct.len() == ids.len() && !joint
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::Entry;

    fn single_voter() -> Raft<MemStorage> {
        let storage = MemStorage::new_with_conf_state((vec![1], vec![]));
        let config = raft::Config {
            id: 1,
            ..raft::Config::default()
        };
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        Raft::new(&config, storage, &logger).unwrap()
    }

    fn message(kind: MessageType) -> Message {
        let mut message = Message::default();
        message.set_msg_type(kind);
        message.from = 2;
        message.to = 1;
        message
    }

    #[test]
    fn what_raft_would_abort_on_is_refused_and_the_rest_passes() {
        let raft = single_voter();
        let mut heartbeat = message(MessageType::MsgHeartbeat);
        assert!(refusal(&raft, &heartbeat).is_some(), "no term");
        heartbeat.term = 1;
        heartbeat.commit = 1_000_000_000;
        assert!(refusal(&raft, &heartbeat).is_some());
        heartbeat.commit = 0;
        assert!(refusal(&raft, &heartbeat).is_none());

        let mut append = message(MessageType::MsgAppend);
        append.term = 1;
        append.index = 0;
        let entry = |index| Entry {
            index,
            term: 1,
            ..Entry::default()
        };
        append.entries = vec![entry(1), entry(2)].into();
        assert!(refusal(&raft, &append).is_none());
        append.entries = vec![entry(1), entry(3)].into();
        assert!(refusal(&raft, &append).is_some());

        assert!(refusal(&raft, &message(MessageType::MsgPropose)).is_some());
        assert!(refusal(&raft, &message(MessageType::MsgHup)).is_some());
        let mut response = message(MessageType::MsgAppendResponse);
        response.term = 1;
        response.index = 5;
        assert!(refusal(&raft, &response).is_some());
        let mut vote = message(MessageType::MsgRequestVote);
        vote.term = 2;
        assert!(refusal(&raft, &vote).is_none());
    }

    /// Messages from a peer, decoded from any bytes: what passes the checks must not make
    /// raft-rs abort (as leader, follower or candidate, with a log of a few entries).
    #[test]
    fn fuzz_raft_messages() {
        use protobuf::Message as _;
        use raft::eraftpb::{ConfState, Snapshot};
        let entry = |index, term| Entry {
            index,
            term,
            data: b"x".to_vec().into(),
            ..Entry::default()
        };
        let mut seeds = Vec::new();
        for kind in [
            MessageType::MsgAppend,
            MessageType::MsgAppendResponse,
            MessageType::MsgHeartbeat,
            MessageType::MsgHeartbeatResponse,
            MessageType::MsgRequestVote,
            MessageType::MsgRequestPreVote,
            MessageType::MsgSnapshot,
            MessageType::MsgPropose,
            MessageType::MsgReadIndex,
            MessageType::MsgTransferLeader,
            MessageType::MsgTimeoutNow,
        ] {
            let mut m = message(kind);
            m.term = 2;
            m.index = 1;
            m.log_term = 1;
            m.commit = 2;
            m.entries = vec![entry(2, 2), entry(3, 2)].into();
            if kind == MessageType::MsgSnapshot {
                let mut snapshot = Snapshot::default();
                snapshot.mut_metadata().index = 5;
                snapshot.mut_metadata().term = 2;
                snapshot
                    .mut_metadata()
                    .set_conf_state(ConfState::from((vec![1, 2, 3], vec![])));
                m.set_snapshot(snapshot);
            }
            seeds.push(m.write_to_bytes().unwrap());
        }
        let logger = slog::Logger::root(slog::Discard, slog::o!());
        crate::fuzz::run("raft messages", &seeds, |bytes| {
            let Ok(mut message) = Message::parse_from_bytes(bytes) else {
                return;
            };
            // The transport only delivers messages from members, to this member.
            message.from = 2 + message.from % 2;
            message.to = 1;
            for role in 0..3 {
                let storage = MemStorage::new_with_conf_state((vec![1, 2, 3], vec![]));
                storage.wl().append(&[entry(1, 1), entry(2, 1)]).unwrap();
                let config = raft::Config {
                    id: 1,
                    pre_vote: role == 2,
                    check_quorum: true,
                    ..raft::Config::default()
                };
                let mut node = raft::RawNode::new(&config, storage, &logger).unwrap();
                match role {
                    0 => {
                        node.raft.become_candidate();
                        node.raft.become_leader();
                    }
                    1 => node.raft.become_follower(1, 2),
                    _ => node.raft.become_candidate(),
                }
                if refusal(&node.raft, &message).is_none() {
                    let _ = node.step(message.clone());
                    if node.has_ready() {
                        let _ = node.ready();
                    }
                }
            }
        });
    }
}

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
        // A follower acknowledges only what the leader sent it.
        MessageType::MsgAppendResponse if message.index > last_index => Some(format!(
            "an append response for index {} past this member's last index {last_index}",
            message.index
        )),
        _ => None,
    }
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
        heartbeat.commit = 1_000_000_000;
        assert!(refusal(&raft, &heartbeat).is_some());
        heartbeat.commit = 0;
        assert!(refusal(&raft, &heartbeat).is_none());

        let mut append = message(MessageType::MsgAppend);
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
        response.index = 5;
        assert!(refusal(&raft, &response).is_some());
        assert!(refusal(&raft, &message(MessageType::MsgRequestVote)).is_none());
    }
}

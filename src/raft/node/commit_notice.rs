//! When the leader tells followers how far it has committed. raft-rs broadcasts an empty
//! append each time the commit index moves; with `skip_bcast_commit` it leaves that to the
//! next append or heartbeat. One client's puts then cost half the peer messages (no empty
//! append to each follower and no answer to it, each a wake-up of two threads on both
//! ends): every commit rides on the next proposal's append. So that a follower is not left
//! behind when writes stop, a commit that no message has carried to a peer within
//! `COMMIT_NOTICE_DELAY` is broadcast then, as raft-rs would have done at once.

use raft::eraftpb::{Message, MessageType};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a follower may go without hearing of a commit (it applies that much later).
pub const COMMIT_NOTICE_DELAY: Duration = Duration::from_millis(1);

#[derive(Default)]
pub struct CommitNotice {
    /// The highest commit index sent to each peer.
    told: HashMap<u64, u64>,
    /// Followers whose proposals reached this leader, by the last log index when the latest
    /// did: each is told every commit at once until it has heard that far. The follower
    /// answers its client only after it applies, and there may be no next append to wait for.
    proposers: HashMap<u64, u64>,
    /// When the commit index must be broadcast, if some peer has not been told it.
    due: Option<Instant>,
}

impl CommitNotice {
    /// A message went out: the commit index an append or heartbeat carries is told.
    pub fn sent(&mut self, message: &Message) {
        if matches!(
            message.get_msg_type(),
            MessageType::MsgAppend | MessageType::MsgHeartbeat
        ) {
            let told = self.told.entry(message.to).or_default();
            *told = (*told).max(message.commit);
        }
    }

    /// A follower's proposal was appended to this leader's log, which now ends at `last_index`.
    pub fn proposed(&mut self, peer: u64, last_index: u64) {
        let wanted = self.proposers.entry(peer).or_default();
        *wanted = (*wanted).max(last_index);
    }

    /// On the leader after a turn: which of `peers` must be sent `committed` now (an append
    /// each): proposers at once, everyone once a peer has gone `COMMIT_NOTICE_DELAY` without
    /// it. A peer sent an append counts as told (one that cannot take an append now hears it
    /// with the next one, as raft-rs's own broadcast leaves it).
    pub fn owed(&mut self, committed: u64, peers: &[u64], now: Instant) -> Vec<u64> {
        self.proposers.retain(|id, _| peers.contains(id));
        let untold: Vec<u64> = peers
            .iter()
            .copied()
            .filter(|id| self.told.get(id).is_none_or(|&told| told < committed))
            .collect();
        let tell: Vec<u64> = match self.due {
            _ if untold.is_empty() => Vec::new(),
            Some(due) if now >= due => untold.clone(),
            _ => untold
                .iter()
                .copied()
                .filter(|id| self.proposers.contains_key(id))
                .collect(),
        };
        for id in &tell {
            self.told.insert(*id, committed);
        }
        let told = &self.told;
        self.proposers
            .retain(|id, wanted| told.get(id).is_none_or(|told| told < wanted));
        self.due = match self.due {
            _ if untold.len() == tell.len() => None,
            Some(due) if now < due => Some(due),
            _ => Some(now + COMMIT_NOTICE_DELAY),
        };
        tell
    }

    /// When the loop must wake to check again.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// This member does not lead (any more): nothing is owed.
    pub fn forget(&mut self) {
        self.due = None;
        self.told.clear();
        self.proposers.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(to: u64, commit: u64) -> Message {
        let mut message = Message::default();
        message.set_msg_type(MessageType::MsgAppend);
        message.to = to;
        message.commit = commit;
        message
    }

    #[test]
    fn a_commit_carried_to_every_peer_needs_no_broadcast() {
        let mut notice = CommitNotice::default();
        let now = Instant::now();
        notice.sent(&append(2, 7));
        notice.sent(&append(3, 7));
        assert!(notice.owed(7, &[2, 3], now).is_empty());
        assert_eq!(notice.due(), None);
    }

    #[test]
    fn an_untold_commit_is_broadcast_once_after_the_delay() {
        let mut notice = CommitNotice::default();
        let now = Instant::now();
        notice.sent(&append(2, 7));
        notice.sent(&append(3, 6));
        assert!(notice.owed(7, &[2, 3], now).is_empty());
        assert_eq!(notice.due(), Some(now + COMMIT_NOTICE_DELAY));
        let half = now + COMMIT_NOTICE_DELAY / 2;
        assert!(notice.owed(7, &[2, 3], half).is_empty());
        assert_eq!(notice.owed(7, &[2, 3], now + COMMIT_NOTICE_DELAY), vec![3]);
        // Sent: nothing more is owed for this index.
        assert!(notice
            .owed(7, &[2, 3], now + 3 * COMMIT_NOTICE_DELAY)
            .is_empty());
        assert_eq!(notice.due(), None);
    }

    #[test]
    fn a_commit_told_before_the_delay_cancels_the_broadcast() {
        let mut notice = CommitNotice::default();
        let now = Instant::now();
        assert!(notice.owed(4, &[2], now).is_empty());
        let mut heartbeat = append(2, 4);
        heartbeat.set_msg_type(MessageType::MsgHeartbeat);
        notice.sent(&heartbeat);
        assert!(notice.owed(4, &[2], now + COMMIT_NOTICE_DELAY).is_empty());
        assert_eq!(notice.due(), None);
        // A message that carries no commit index tells nothing.
        let mut vote = append(2, 9);
        vote.set_msg_type(MessageType::MsgRequestVote);
        notice.sent(&vote);
        assert!(notice.owed(9, &[2], now).is_empty());
        assert!(notice.due().is_some());
    }

    #[test]
    fn a_proposing_follower_is_told_every_commit_at_once_until_its_entries_commit() {
        let mut notice = CommitNotice::default();
        let now = Instant::now();
        notice.proposed(3, 10);
        // Its proposal is not committed yet: it hears of index 8 at once all the same.
        assert_eq!(notice.owed(8, &[2, 3], now), vec![3]);
        assert_eq!(notice.due(), Some(now + COMMIT_NOTICE_DELAY));
        assert_eq!(notice.owed(10, &[2, 3], now), vec![3]);
        // Told as far as its proposal: from now on it waits like the others.
        assert!(notice.owed(11, &[2, 3], now).is_empty());
        assert_eq!(
            notice.owed(11, &[2, 3], now + COMMIT_NOTICE_DELAY),
            vec![2, 3]
        );
        // A proposer that left the cluster is forgotten.
        notice.proposed(4, 20);
        assert!(notice.owed(12, &[2, 3], now).is_empty());
    }
}

//! Linearizable reads through raft's ReadIndex: every read waiting when a round starts shares
//! that round, and is released once the member has applied up to the confirmed index.

use raft::{RawNode, ReadState, Storage};
use smol::channel::Sender;
use std::time::{Duration, Instant};

/// Answer to a read barrier: Ok once the member's store is at least as new as the leader's
/// commit index at the time of the request.
pub type ReadReply = Sender<Result<(), crate::raft::RaftError>>;

pub struct ReadBatcher {
    /// Reads that arrived since the current round started.
    queued: Vec<ReadReply>,
    /// The round raft is confirming: its context, start time and readers.
    in_flight: Option<(u64, Instant, Vec<ReadReply>)>,
    /// Confirmed rounds waiting for apply to reach their index.
    confirmed: Vec<(u64, Vec<ReadReply>)>,
    next_context: u64,
    /// A round not confirmed within this long is asked again (its message may have been lost).
    retry_after: Duration,
}

impl ReadBatcher {
    pub fn new(retry_after: Duration) -> ReadBatcher {
        ReadBatcher {
            queued: Vec::new(),
            in_flight: None,
            confirmed: Vec::new(),
            next_context: 1,
            retry_after,
        }
    }

    pub fn queue(&mut self, reply: ReadReply) {
        self.queued.push(reply);
    }

    /// Reads waiting for the next round.
    pub fn queued(&self) -> usize {
        self.queued.len()
    }

    /// Starts a round for the queued reads (or repeats a stale one) when a leader is known.
    pub fn start_round<S: Storage>(&mut self, node: &mut RawNode<S>, has_leader: bool) {
        if !has_leader {
            return;
        }
        let stale = matches!(&self.in_flight, Some((_, started, _)) if started.elapsed() > self.retry_after);
        if stale {
            let (_, _, readers) = self.in_flight.take().expect("checked above");
            self.queued.extend(readers);
        }
        if self.in_flight.is_some() || self.queued.is_empty() {
            return;
        }
        let context = self.next_context;
        self.next_context += 1;
        node.read_index(context.to_be_bytes().to_vec());
        self.in_flight = Some((context, Instant::now(), std::mem::take(&mut self.queued)));
    }

    pub fn on_read_states(&mut self, states: &[ReadState]) {
        for state in states {
            let matches = matches!(&self.in_flight, Some((context, _, _)) if state.request_ctx == context.to_be_bytes());
            if matches {
                let (_, _, readers) = self.in_flight.take().expect("checked above");
                self.confirmed.push((state.index, readers));
            }
        }
    }

    /// Whether confirmed reads wait for apply to reach their index.
    pub fn waiting_for_apply(&self) -> bool {
        !self.confirmed.is_empty()
    }

    /// Releases every confirmed round whose index is applied.
    pub fn release(&mut self, applied_index: u64) {
        self.confirmed.retain(|(index, readers)| {
            if *index > applied_index {
                return true;
            }
            for reader in readers {
                let _ = reader.try_send(Ok(()));
            }
            false
        });
    }
}

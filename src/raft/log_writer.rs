//! The WAL on a thread of its own, so that the fdatasync of one batch of new entries overlaps
//! the apply (and store flush) of the previous one. Operations run strictly in the order sent;
//! each Append is reported back by its raft Ready number once it is on disk (raft-rs's async
//! ready: only then may messages that depend on it go out and may raft count it as persisted).
//! Appends that queued up while a sync ran are written together with one sync.

use crate::disk::{DiskSpace, Writer};
use crate::wal::{Wal, WalError};
use raft::eraftpb::{Entry, HardState};
use smol::channel::{Receiver, Sender};
use std::sync::Arc;

pub enum LogOp {
    Append {
        number: u64,
        entries: Vec<Entry>,
        hard_state: Option<HardState>,
    },
    /// The store now holds a leader's snapshot (and is flushed).
    InstallSnapshot {
        index: u64,
        term: u64,
        hard_state: HardState,
    },
    /// The store is flushed through `applied`.
    Compact { applied: u64 },
}

pub enum LogEvent {
    Persisted(u64),
    Failed(String),
}

/// Starts the writer thread; it ends when `ops` closes or a write fails for another reason
/// than a full disk (which it waits out, `disk` telling the rest of the member).
pub fn start(
    mut wal: Wal,
    disk: Arc<DiskSpace>,
) -> Result<(Sender<LogOp>, Receiver<LogEvent>), String> {
    // Unbounded on purpose: the raft thread must never block on its own log; how much can be
    // outstanding is bounded by raft (inflight messages, proposal batch size) and, while the
    // disk is full, by the API refusing writes.
    let (ops, receiver) = smol::channel::unbounded::<LogOp>();
    let (events, event_receiver) = smol::channel::unbounded();
    std::thread::Builder::new()
        .name("wal".to_string())
        .spawn(move || {
            let mut next = None;
            loop {
                let op = match next.take() {
                    Some(op) => op,
                    None => match receiver.recv_blocking() {
                        Ok(op) => op,
                        Err(_) => return,
                    },
                };
                let (op, persisted) = group_appends(op, &receiver, &mut next);
                let result = loop {
                    match run(&mut wal, &op) {
                        Err(e) if e.is_no_space() => {
                            disk.set(Writer::Wal, true);
                            std::thread::sleep(crate::disk::RETRY_INTERVAL);
                        }
                        result => break result,
                    }
                };
                disk.set(Writer::Wal, false);
                if let Err(e) = result {
                    let _ = events.send_blocking(LogEvent::Failed(e.to_string()));
                    return;
                }
                for number in persisted {
                    let _ = events.send_blocking(LogEvent::Persisted(number));
                }
            }
        })
        .map_err(|e| format!("starting the wal thread: {e}"))?;
    Ok((ops, event_receiver))
}

/// Appends queued behind the one about to be written share its write and fdatasync (group
/// commit), at most this many at once.
const MAX_GROUPED_APPENDS: usize = 64;

/// Folds the appends already queued behind `op` into it; returns the operation to run and the
/// Ready numbers it persists. A queued operation of another kind ends the group and is left in
/// `next`, so operations still run in the order sent.
fn group_appends(
    mut op: LogOp,
    queue: &Receiver<LogOp>,
    next: &mut Option<LogOp>,
) -> (LogOp, Vec<u64>) {
    let LogOp::Append {
        number,
        entries,
        hard_state,
    } = &mut op
    else {
        return (op, Vec::new());
    };
    let mut persisted = vec![*number];
    while persisted.len() < MAX_GROUPED_APPENDS {
        match queue.try_recv() {
            Ok(LogOp::Append {
                number: later,
                entries: more,
                hard_state: later_state,
            }) => {
                // A later Ready may replace a tail of the log (a new leader's entries): the
                // written log is what the appends one after another would leave.
                if let Some(first) = more.first() {
                    let kept = entries.partition_point(|entry| entry.index < first.index);
                    entries.truncate(kept);
                    entries.extend(more);
                }
                if later_state.is_some() {
                    *hard_state = later_state;
                }
                persisted.push(later);
            }
            Ok(other) => {
                *next = Some(other);
                break;
            }
            Err(_) => break,
        }
    }
    (op, persisted)
}

/// Does `op`. Safe to repeat after a failure.
fn run(wal: &mut Wal, op: &LogOp) -> Result<(), WalError> {
    match op {
        LogOp::Append {
            entries,
            hard_state,
            ..
        } => wal.append(entries, hard_state.as_ref()),
        LogOp::InstallSnapshot {
            index,
            term,
            hard_state,
        } => wal.install_snapshot(*index, *term, hard_state),
        LogOp::Compact { applied } => wal.compact(*applied),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(indexes: std::ops::RangeInclusive<u64>, term: u64) -> Vec<Entry> {
        indexes
            .map(|index| Entry {
                index,
                term,
                ..Entry::default()
            })
            .collect()
    }

    fn append(number: u64, entries: Vec<Entry>, commit: Option<u64>) -> LogOp {
        LogOp::Append {
            number,
            entries,
            hard_state: commit.map(|commit| HardState {
                commit,
                ..HardState::default()
            }),
        }
    }

    #[test]
    fn queued_appends_are_written_as_one_in_order_and_other_operations_wait_their_turn() {
        let (sender, queue) = smol::channel::unbounded();
        // Ready 8 replaces entry 3 (a new leader's term) and adds 4; the compaction after it
        // and Ready 9 behind that are not part of the group.
        sender
            .try_send(append(8, entries(3..=4, 2), Some(2)))
            .unwrap();
        sender.try_send(LogOp::Compact { applied: 2 }).unwrap();
        sender.try_send(append(9, entries(5..=5, 2), None)).unwrap();
        let mut next = None;
        let first = append(7, entries(1..=3, 1), Some(1));
        let (op, persisted) = group_appends(first, &queue, &mut next);
        assert_eq!(persisted, [7, 8]);
        let LogOp::Append {
            entries,
            hard_state,
            ..
        } = op
        else {
            panic!("the group is an append");
        };
        let written: Vec<(u64, u64)> = entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(written, [(1, 1), (2, 1), (3, 2), (4, 2)]);
        assert_eq!(hard_state.map(|h| h.commit), Some(2));
        assert!(matches!(next, Some(LogOp::Compact { applied: 2 })));

        let (op, persisted) = group_appends(next.take().unwrap(), &queue, &mut next);
        assert!(matches!(op, LogOp::Compact { .. }) && persisted.is_empty());
        let (_, persisted) = group_appends(queue.try_recv().unwrap(), &queue, &mut next);
        assert_eq!(persisted, [9]);
        assert!(next.is_none());
    }
}

//! The WAL on a thread of its own, so that the fdatasync of one batch of new entries overlaps
//! the apply (and store flush) of the previous one. Operations run strictly in the order sent;
//! each Append is reported back by its raft Ready number once it is on disk (raft-rs's async
//! ready: only then may messages that depend on it go out and may raft count it as persisted).

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
            while let Ok(op) = receiver.recv_blocking() {
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
                match result {
                    Ok(Some(number)) => {
                        let _ = events.send_blocking(LogEvent::Persisted(number));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        let _ = events.send_blocking(LogEvent::Failed(e.to_string()));
                        return;
                    }
                }
            }
        })
        .map_err(|e| format!("starting the wal thread: {e}"))?;
    Ok((ops, event_receiver))
}

/// Does `op`; for an append, answers its Ready number. Safe to repeat after a failure.
fn run(wal: &mut Wal, op: &LogOp) -> Result<Option<u64>, WalError> {
    match op {
        LogOp::Append {
            number,
            entries,
            hard_state,
        } => wal
            .append(entries, hard_state.as_ref())
            .map(|()| Some(*number)),
        LogOp::InstallSnapshot {
            index,
            term,
            hard_state,
        } => wal
            .install_snapshot(*index, *term, hard_state)
            .map(|()| None),
        LogOp::Compact { applied } => wal.compact(*applied).map(|()| None),
    }
}

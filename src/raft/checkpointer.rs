//! Store checkpoints (mvcc/checkpoint.rs) written off the raft thread: the raft thread only
//! pins a state and reads its meta pages; this thread flushes the store and records the
//! checkpoint, holding the previous checkpoint's pin until the new one is durable.

use crate::disk::{DiskSpace, Writer};
use crate::mvcc::checkpoint::{Candidate, Pin};
use crate::mvcc::residency::{MapResidency, MAPPED_STORE_LIMIT_BYTES};
use crate::mvcc::Store;
use smol::channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

struct Job {
    candidate: Candidate,
    done: Option<Sender<Result<(), String>>>,
}

pub struct Checkpointer {
    jobs: Sender<Job>,
    /// The applied index of the newest durable checkpoint: the WAL may be compacted up to it.
    pub durable: Arc<AtomicU64>,
    busy: Arc<AtomicBool>,
    failure: Receiver<String>,
}

impl Checkpointer {
    pub fn start(store: Arc<Store>, disk: Arc<DiskSpace>) -> Result<Checkpointer, String> {
        let (jobs, receiver) = smol::channel::unbounded::<Job>();
        let (report_failure, failure) = smol::channel::bounded(1);
        let durable = Arc::new(AtomicU64::new(0));
        let busy = Arc::new(AtomicBool::new(false));
        let (durable_thread, busy_thread) = (durable.clone(), busy.clone());
        std::thread::Builder::new()
            .name("checkpoint".to_string())
            .spawn(move || {
                let mut _held: Option<Pin> = None;
                let mut residency = Some(MapResidency::new(MAPPED_STORE_LIMIT_BYTES));
                while let Ok(job) = receiver.recv_blocking() {
                    let applied = job.candidate.applied;
                    let result = store.write_checkpoint(job.candidate).map(|pin| {
                        // The new checkpoint is durable: the old one's pages may be reused.
                        _held = Some(pin);
                        durable_thread.store(applied, Ordering::Release);
                    });
                    if let Some(Err(e)) = residency.as_mut().map(|r| r.tend(&store)) {
                        log::warn!(
                            "store: cannot release the map's resident pages, no longer trying: {e}"
                        );
                        residency = None;
                    }
                    // Without room the previous checkpoint stays (still pinned, still what a
                    // reboot rewinds to) and a later one is tried.
                    let no_space = matches!(&result, Err(f) if f.no_space);
                    disk.set(Writer::Checkpoint, no_space);
                    busy_thread.store(false, Ordering::Release);
                    let result = result.map_err(|f| f.message);
                    if let Some(done) = job.done {
                        let _ = done.send_blocking(result.clone());
                    }
                    if let Err(e) = result {
                        if !no_space {
                            let _ = report_failure.try_send(e);
                            return;
                        }
                    }
                }
            })
            .map_err(|e| format!("starting the checkpoint thread: {e}"))?;
        Ok(Checkpointer {
            jobs,
            durable,
            busy,
            failure,
        })
    }

    /// True while a checkpoint is being written.
    pub fn is_busy(&self) -> bool {
        self.busy.load(Ordering::Acquire)
    }

    /// Queues a checkpoint without waiting for it.
    pub fn request(&self, candidate: Candidate) -> Result<(), String> {
        self.busy.store(true, Ordering::Release);
        self.jobs
            .try_send(Job {
                candidate,
                done: None,
            })
            .map_err(|_| "the checkpoint thread stopped".to_string())
    }

    /// Writes a checkpoint and waits until it is durable.
    pub fn write_now(&self, candidate: Candidate) -> Result<(), String> {
        let (done, answer) = smol::channel::bounded(1);
        self.busy.store(true, Ordering::Release);
        self.jobs
            .try_send(Job {
                candidate,
                done: Some(done),
            })
            .map_err(|_| "the checkpoint thread stopped".to_string())?;
        answer
            .recv_blocking()
            .map_err(|_| "the checkpoint thread stopped".to_string())?
    }

    /// A failure the thread reported (it stops after one).
    pub fn failure(&self) -> Option<String> {
        self.failure.try_recv().ok()
    }
}

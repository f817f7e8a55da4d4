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

/// How much the checkpoint thread lowers its priority (added to its nice value). Its flush is
/// CPU spent in the kernel's writeback (17% of the members' CPU under put-100 on 3 members); at
/// a lower priority it yields to the threads that answer requests and finishes in their gaps
/// (put-100 on 3 members, two sets of 4 alternations: p99 medians 21 -> 18 and 25.5 -> 22.4
/// ms, better in 6 of 8 pairs, QPS +3-8%). Only durability's bookkeeping waits for it: the WAL
/// holds every acknowledged entry until a checkpoint covers it.
const CHECKPOINT_NICE_INCREMENT: i32 = 10;

/// Raises the calling thread's nice value by `increment` (on Linux, nice(2) changes only the
/// calling thread); returns the new value.
#[allow(unsafe_code)]
fn lower_this_threads_priority(increment: i32) -> std::io::Result<i32> {
    // SAFETY: nice takes no pointer; errno is this thread's own. -1 is also a valid new
    // value, so only errno tells a failure.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::nice(increment)
    };
    let error = std::io::Error::last_os_error();
    if nice == -1 && error.raw_os_error() != Some(0) {
        return Err(error);
    }
    Ok(nice)
}

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
                if let Err(e) = lower_this_threads_priority(CHECKPOINT_NICE_INCREMENT) {
                    log::warn!("checkpoint: cannot lower the thread's priority: {e}");
                }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The nice value of the calling thread (field 19 of /proc/thread-self/stat).
    fn own_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
        // The command name may hold spaces: the fields counted are those after its ')'.
        let after_name = &stat[stat.rfind(')').unwrap() + 2..];
        after_name.split(' ').nth(16).unwrap().parse().unwrap()
    }

    #[test]
    fn a_thread_lowers_its_own_priority_and_no_other() {
        let before = own_nice();
        let (reported, lowered) = std::thread::spawn(|| {
            let reported = lower_this_threads_priority(CHECKPOINT_NICE_INCREMENT).unwrap();
            (reported, own_nice())
        })
        .join()
        .unwrap();
        assert_eq!(lowered, (before + CHECKPOINT_NICE_INCREMENT).min(19));
        assert_eq!(reported, lowered);
        assert_eq!(own_nice(), before);
    }
}

//! A full disk is a condition to wait out, not a reason to stop: the WAL thread, the store's
//! apply and the checkpoints retry what failed for lack of space (nothing is skipped or lost),
//! the API refuses new writes meanwhile, reads and watches go on, and all resume once space is
//! freed. Any other I/O error still stops the member.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a write that failed for lack of space waits before it is tried again.
pub const RETRY_INTERVAL: Duration = Duration::from_millis(250);

const ENOSPC: i32 = 28;
const EDQUOT: i32 = 122;

/// The file system (or a quota) has no room for the write.
pub fn is_no_space(error: &std::io::Error) -> bool {
    matches!(error.raw_os_error(), Some(ENOSPC | EDQUOT))
}

/// The store could not commit for lack of room: on the disk, or in LMDB's memory map.
pub fn is_store_no_space(error: &heed::Error) -> bool {
    use heed::MdbError;
    match error {
        heed::Error::Io(io) => is_no_space(io),
        heed::Error::Mdb(MdbError::MapFull) => true,
        heed::Error::Mdb(MdbError::Other(code)) => matches!(*code, ENOSPC | EDQUOT),
        _ => false,
    }
}

/// The parts of a member that write to disk.
#[derive(Debug, Clone, Copy)]
pub enum Writer {
    Wal,
    Store,
    Checkpoint,
}

/// Which writers are waiting for space; the API refuses writes while any is.
#[derive(Default)]
pub struct DiskSpace {
    waiting: [AtomicBool; 3],
}

impl DiskSpace {
    /// Records whether `writer` is waiting for space, and logs when that changes.
    pub fn set(&self, writer: Writer, waiting: bool) {
        let was = self.waiting[writer as usize].swap(waiting, Ordering::AcqRel);
        if was == waiting {
            return;
        }
        if waiting {
            log::error!(
                "disk full: the {} cannot write; refusing writes, serving reads, retrying every {RETRY_INTERVAL:?} until space is freed",
                name(writer)
            );
        } else {
            log::warn!(
                "disk space available again: the {} wrote what was waiting",
                name(writer)
            );
        }
        crate::metrics::DISK_FULL.set(u64::from(self.is_full()));
    }

    pub fn is_full(&self) -> bool {
        self.waiting.iter().any(|w| w.load(Ordering::Acquire))
    }
}

fn name(writer: Writer) -> &'static str {
    match writer {
        Writer::Wal => "write-ahead log",
        Writer::Store => "store",
        Writer::Checkpoint => "store checkpoint",
    }
}

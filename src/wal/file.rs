//! The one thing the log asks of a segment file, behind a trait so that a test build can put a
//! file in its place that forgets every byte not yet synced at a simulated power loss
//! (`power_loss.rs`): SIGKILL alone keeps the page cache and cannot show a missing fdatasync.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

pub trait SegmentFile: Sized {
    /// Opens the segment at `path` for reading and writing, creating it empty if it is missing.
    fn open(path: &Path) -> io::Result<Self>;
    /// The file's size, records plus zeroed room.
    fn size(&self) -> io::Result<u64>;
    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()>;
    /// fdatasync: every write before it survives a power loss once this returns.
    fn sync_data(&self) -> io::Result<()>;
    fn set_len(&self, len: u64) -> io::Result<()>;
}

impl SegmentFile for File {
    fn open(path: &Path) -> io::Result<File> {
        OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }

    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        std::os::unix::fs::FileExt::write_all_at(self, bytes, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        File::sync_data(self)
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        File::set_len(self, len)
    }
}

//! A leader's snapshot received into a file of the member's snap dir, waiting for raft to
//! install it. raft-rs keeps the MsgSnapshot until the install, so the file travels in the
//! message's `data` (its path's bytes); this type is the one place that reads and writes it.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

pub struct SpooledSnapshot(PathBuf);

impl SpooledSnapshot {
    pub fn new(path: PathBuf) -> SpooledSnapshot {
        SpooledSnapshot(path)
    }

    /// The spool a MsgSnapshot's `data` names.
    pub fn from_data(data: &[u8]) -> SpooledSnapshot {
        SpooledSnapshot(PathBuf::from(std::ffi::OsStr::from_bytes(data)))
    }

    /// What goes into the MsgSnapshot's `data`.
    pub fn to_data(&self) -> Vec<u8> {
        self.0.as_os_str().as_bytes().to_vec()
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Deletes the file: installed, or not wanted (raft refused a stale snapshot).
    pub fn remove(&self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

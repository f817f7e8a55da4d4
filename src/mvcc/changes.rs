//! The event log as watches read it: every change in revision order from the `revisions`
//! table, and the version of a key just before a change (for prev_kv).

use super::keys::{history_key, history_start, Revision};
use super::range::{decode_kv, stored_change};
use super::{KvError, Store};
use crate::pb::mvccpb::KeyValue;
use heed::RoTxn;
use std::ops::Bound;

/// One put or delete; a delete's `kv` holds only the key and its mod revision (as etcd's).
pub struct Change {
    pub revision: Revision,
    pub is_delete: bool,
    pub kv: KeyValue,
}

impl Store {
    /// Changes with main revision from `from` up to `to` (both included), stopping early after
    /// the first whole revision that brings the total past `max_changes`; a revision's changes
    /// are never split.
    pub fn changes(
        &self,
        txn: &RoTxn,
        from: i64,
        to: i64,
        max_changes: usize,
    ) -> Result<Vec<Change>, KvError> {
        let start = Revision { main: from, sub: 0 }.to_bytes();
        let end = Revision {
            main: to.saturating_add(1),
            sub: 0,
        }
        .to_bytes();
        let bounds = (Bound::Included(&start[..]), Bound::Excluded(&end[..]));
        let mut changes: Vec<Change> = Vec::new();
        for item in self.revisions.range(txn, &bounds)? {
            let (key, value) = item?;
            let revision = Revision::from_bytes("revisions", key, key)?;
            let (is_put, kv) = stored_change(key, value)?;
            if changes.len() >= max_changes
                && changes
                    .last()
                    .is_some_and(|c| c.revision.main != revision.main)
            {
                break;
            }
            changes.push(Change {
                revision,
                is_delete: !is_put,
                kv: decode_kv("revisions", key, kv)?,
            });
        }
        Ok(changes)
    }

    /// The live version of `key` just before `revision`, if any.
    pub fn previous(
        &self,
        txn: &RoTxn,
        key: &[u8],
        revision: Revision,
    ) -> Result<Option<KeyValue>, KvError> {
        let stored = super::keys::stored_key(key);
        let lower = history_start(&stored);
        let upper = history_key(&stored, revision);
        let bounds = (Bound::Included(&lower[..]), Bound::Excluded(&upper[..]));
        let Some(item) = self.history.rev_range(txn, &bounds)?.next() else {
            return Ok(None);
        };
        let (history, _) = item?;
        let (_, earlier) = super::keys::split_history_key(history)?;
        let key = earlier.to_bytes();
        let Some(value) = self.revisions.get(txn, &key)? else {
            return Ok(None); // compacted away
        };
        match stored_change(&key, value)? {
            (true, kv) => Ok(Some(decode_kv("revisions", &key, kv)?)),
            (false, _) => Ok(None),
        }
    }
}

/// A member's HashKV at a revision: what the corruption checks compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvHash {
    pub hash: u32,
    pub compact_revision: i64,
    /// The member's current revision when it computed the hash.
    pub current_revision: i64,
}

impl Store {
    /// HashKV at `revision` (0: the current one), refused as etcd refuses a revision that is
    /// compacted or still to come.
    pub fn hash_kv_at(&self, revision: i64) -> Result<(i64, KvHash), KvError> {
        let txn = self.read_txn()?;
        let current = self.current_revision(&txn)?;
        let compacted = self.compact_revision(&txn)?.unwrap_or(0);
        let revision = if revision > 0 { revision } else { current };
        if revision > current {
            return Err(KvError::FutureRevision);
        }
        if revision < compacted {
            return Err(KvError::Compacted);
        }
        let hash = KvHash {
            hash: self.hash_kv(&txn, revision)?,
            compact_revision: compacted,
            current_revision: current,
        };
        Ok((revision, hash))
    }

    /// etcd's HashKV: a CRC32C over every stored change up to `revision` (the whole event log
    /// left after compaction). Members that applied the same entries give the same hash; a
    /// member whose store differs (corruption) does not.
    pub fn hash_kv(&self, txn: &RoTxn, revision: i64) -> Result<u32, KvError> {
        let end = Revision {
            main: revision.saturating_add(1),
            sub: 0,
        }
        .to_bytes();
        let bounds = (Bound::Unbounded, Bound::Excluded(&end[..]));
        let mut crc = 0u32;
        for item in self.revisions.range(txn, &bounds)? {
            let (key, value) = item?;
            crc = crc32c::crc32c_append(crc, key);
            crc = crc32c::crc32c_append(crc, value);
        }
        Ok(crc)
    }
}

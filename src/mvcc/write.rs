//! Writes: one `Writer` per applied request. Every change of a request shares one main revision
//! (the store revision + 1) with increasing sub revisions, as in etcd's storeTxnWrite.

use super::keys::{history_key, split_history_key, stored_key, Revision};
use super::range::{as_slices, decode_kv, Interval};
use super::{
    KvError, RangeOptions, RangeResult, Store, KIND_DELETE, KIND_PUT, META_COMPACT_REVISION,
    META_REVISION,
};
use crate::pb::mvccpb::KeyValue;
use heed::RwTxn;
use prost::Message;

pub struct Writer<'s, 't, 'e> {
    store: &'s Store,
    txn: &'t mut RwTxn<'e>,
    /// The store revision when the request started.
    begin_revision: i64,
    /// Changes made so far; the next change gets this sub revision.
    changes: i64,
}

impl<'s, 't, 'e> Writer<'s, 't, 'e> {
    pub fn new(store: &'s Store, txn: &'t mut RwTxn<'e>) -> Result<Self, KvError> {
        let begin_revision = store.current_revision(txn)?;
        Ok(Writer {
            store,
            txn,
            begin_revision,
            changes: 0,
        })
    }

    /// The revision reads inside this request see: the request's own if it changed anything.
    pub fn view_revision(&self) -> i64 {
        self.begin_revision + i64::from(self.changes > 0)
    }

    fn next_revision(&mut self) -> Revision {
        let revision = Revision {
            main: self.begin_revision + 1,
            sub: self.changes,
        };
        self.changes += 1;
        revision
    }

    pub fn lease_exists(&self, id: i64) -> Result<bool, KvError> {
        Ok(self.store.lease_ttl(self.txn, id)?.is_some())
    }

    /// The keys attached to a lease, or None if it does not exist.
    pub fn lease_keys(&self, id: i64) -> Result<Option<Vec<Vec<u8>>>, KvError> {
        if !self.lease_exists(id)? {
            return Ok(None);
        }
        Ok(Some(self.store.lease_keys(self.txn, id)?))
    }

    pub fn delete_lease(&mut self, id: i64) -> Result<(), KvError> {
        self.store.delete_lease(self.txn, id)
    }

    pub fn get(&self, key: &[u8]) -> Result<Option<KeyValue>, KvError> {
        self.store.live(self.txn, key)
    }

    pub fn range(
        &self,
        key: &[u8],
        range_end: &[u8],
        options: &RangeOptions,
    ) -> Result<RangeResult, KvError> {
        self.store
            .range(self.txn, key, range_end, options, self.view_revision())
    }

    fn record(&mut self, revision: Revision, kind: u8, kv: &KeyValue) -> Result<(), KvError> {
        let mut value = Vec::with_capacity(1 + kv.encoded_len());
        value.push(kind);
        kv.encode(&mut value).expect("a Vec grows as needed");
        // Revisions only grow: each is appended after the newest.
        super::put_last(
            &self.store.revisions,
            self.txn,
            &revision.to_bytes(),
            &value,
        )?;
        self.store
            .history
            .put(self.txn, &history_key(&stored_key(&kv.key), revision), &[])?;
        Ok(())
    }

    /// Stores a new version of `key`; returns it.
    pub fn put(&mut self, key: &[u8], value: Vec<u8>, lease: i64) -> Result<KeyValue, KvError> {
        let previous = self.get(key)?;
        let revision = self.next_revision();
        let kv = KeyValue {
            key: key.to_vec(),
            create_revision: previous
                .as_ref()
                .map_or(revision.main, |p| p.create_revision),
            mod_revision: revision.main,
            version: previous.as_ref().map_or(1, |p| p.version + 1),
            value,
            lease,
        };
        self.store
            .current
            .put(self.txn, &stored_key(key), &revision.to_bytes())?;
        self.record(revision, KIND_PUT, &kv)?;
        let old_lease = previous.as_ref().map_or(0, |p| p.lease);
        self.store.reattach(self.txn, key, old_lease, lease)?;
        Ok(kv)
    }

    /// Deletes every live key in [key, range_end); returns what was deleted.
    pub fn delete_range(&mut self, key: &[u8], range_end: &[u8]) -> Result<Vec<KeyValue>, KvError> {
        let interval = Interval::new(key, range_end);
        if interval.is_empty() {
            return Ok(Vec::new());
        }
        let mut deleted = Vec::new();
        let bounds = interval.stored_bounds();
        for item in self.store.current.range(self.txn, &as_slices(&bounds))? {
            let (stored, live) = item?;
            let kv = decode_kv(
                "revisions",
                stored,
                self.store.live_kv(self.txn, stored, live)?,
            )?;
            if interval.contains(&kv.key) {
                deleted.push(kv);
            }
        }
        // Keys are deleted (and get their sub-revisions) in key order, as etcd does.
        deleted.sort_by(|a, b| a.key.cmp(&b.key));
        for kv in &deleted {
            let revision = self.next_revision();
            let tombstone = KeyValue {
                key: kv.key.clone(),
                mod_revision: revision.main,
                ..KeyValue::default()
            };
            self.store.current.delete(self.txn, &stored_key(&kv.key))?;
            self.record(revision, KIND_DELETE, &tombstone)?;
            self.store.reattach(self.txn, &kv.key, kv.lease, 0)?;
        }
        Ok(deleted)
    }

    /// Ends the request; returns the revision it is answered with.
    pub fn finish(self) -> Result<i64, KvError> {
        let revision = self.view_revision();
        if self.changes > 0 {
            self.store
                .meta
                .put(self.txn, META_REVISION, &(revision as u64).to_be_bytes())?;
        }
        Ok(revision)
    }
}

impl Store {
    /// Drops history below `revision`: for each key only its newest version at or below it
    /// stays, and not even that if it is a deletion. Reads below `revision` then fail.
    pub fn compact(&self, txn: &mut RwTxn, revision: i64) -> Result<(), KvError> {
        if matches!(self.compact_revision(txn)?, Some(done) if revision <= done) {
            return Err(KvError::Compacted);
        }
        if revision > self.current_revision(txn)? {
            return Err(KvError::FutureRevision);
        }
        let mut doomed: Vec<(Vec<u8>, Revision)> = Vec::new();
        let mut group: Vec<(Vec<u8>, Revision)> = Vec::new();
        let flush = |group: &mut Vec<(Vec<u8>, Revision)>,
                     doomed: &mut Vec<(Vec<u8>, Revision)>|
         -> Result<(), KvError> {
            if let Some((_, newest)) = group.last() {
                let (keep_newest, _) = self.change_at(txn, *newest)?;
                let cut = group.len() - usize::from(keep_newest);
                doomed.extend(group.drain(..cut));
            }
            group.clear();
            Ok(())
        };
        for item in self.history.iter(txn)? {
            let (history_key, _) = item?;
            let (key, candidate) = split_history_key(history_key)?;
            if group.first().is_some_and(|(k, _)| *k != key) {
                flush(&mut group, &mut doomed)?;
            }
            if candidate.main <= revision {
                group.push((key, candidate));
            }
        }
        flush(&mut group, &mut doomed)?;
        for (key, old) in doomed {
            self.history.delete(txn, &history_key(&key, old))?;
            self.revisions.delete(txn, &old.to_bytes())?;
        }
        self.meta
            .put(txn, META_COMPACT_REVISION, &(revision as u64).to_be_bytes())?;
        Ok(())
    }
}

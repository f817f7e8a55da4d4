//! Reads: a key range at the current revision (from the `current` table) or at a past revision
//! (from the `history` index and the `revisions` log).

use super::keys::{history_key, history_start, Revision};
use super::{KvError, Store, KIND_PUT};
use crate::pb::mvccpb::KeyValue;
use heed::RoTxn;
use prost::Message;
use std::ops::Bound;

pub struct RangeOptions {
    /// At most this many key-values are returned; 0 means all.
    pub limit: usize,
    /// 0 or less: the revision of the view.
    pub revision: i64,
    /// Count the keys without returning them.
    pub count_only: bool,
}

pub struct RangeResult {
    /// In key order.
    pub kvs: Vec<KeyValue>,
    /// Every key in the range at the revision, whatever the limit.
    pub count: usize,
    /// The newest revision of the view, whatever revision was read (etcd answers so).
    pub revision: i64,
}

/// The key interval of an etcd request: empty range_end is one key, "\0" is every key from `key`
/// on, anything else is [key, range_end).
pub(super) enum Interval<'a> {
    Single(&'a [u8]),
    From(&'a [u8]),
    Between(&'a [u8], &'a [u8]),
}

impl<'a> Interval<'a> {
    pub(super) fn new(key: &'a [u8], range_end: &'a [u8]) -> Interval<'a> {
        match range_end {
            [] => Interval::Single(key),
            [0] => Interval::From(key),
            end => Interval::Between(key, end),
        }
    }

    pub(super) fn bounds(&self) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
        match *self {
            Interval::Single(key) => (Bound::Included(key), Bound::Included(key)),
            Interval::From(key) => (Bound::Included(key), Bound::Unbounded),
            Interval::Between(key, end) => (Bound::Included(key), Bound::Excluded(end)),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(*self, Interval::Between(key, end) if end <= key)
    }
}

/// A stored mvccpb.KeyValue (`table` and `key` say where, for the error).
pub(super) fn decode_kv(table: &str, key: &[u8], bytes: &[u8]) -> Result<KeyValue, heed::Error> {
    KeyValue::decode(bytes)
        .map_err(|e| super::damaged(table, key, &format!("not a key-value: {e}")))
}

/// A value of the `revisions` table: (is it a put, the stored KeyValue's bytes).
pub(super) fn stored_change<'a>(
    key: &[u8],
    value: &'a [u8],
) -> Result<(bool, &'a [u8]), heed::Error> {
    match value.split_first() {
        Some((&KIND_PUT, kv)) => Ok((true, kv)),
        Some((&super::KIND_DELETE, kv)) => Ok((false, kv)),
        _ => Err(super::damaged("revisions", key, "no change kind")),
    }
}

impl Store {
    /// The change stored at `revision`, which the history says exists.
    pub(super) fn change_at<'t>(
        &self,
        txn: &'t RoTxn,
        revision: Revision,
    ) -> Result<(bool, &'t [u8]), heed::Error> {
        let key = revision.to_bytes();
        let value = self.revisions.get(txn, &key)?.ok_or_else(|| {
            super::damaged(
                "revisions",
                &key,
                "missing, though the history points at it",
            )
        })?;
        stored_change(&key, value)
    }
}

impl Store {
    /// Reads [key, range_end) at `options.revision`, as seen by a view whose newest revision is
    /// `view_revision` (the store revision, or a write transaction's own next revision).
    pub fn range(
        &self,
        txn: &RoTxn,
        key: &[u8],
        range_end: &[u8],
        options: &RangeOptions,
        view_revision: i64,
    ) -> Result<RangeResult, KvError> {
        let revision = if options.revision <= 0 {
            view_revision
        } else {
            options.revision
        };
        if revision > view_revision {
            return Err(KvError::FutureRevision);
        }
        if let Some(compacted) = self.compact_revision(txn)? {
            if revision < compacted {
                return Err(KvError::Compacted);
            }
        }
        let interval = Interval::new(key, range_end);
        let mut result = RangeResult {
            kvs: Vec::new(),
            count: 0,
            revision: view_revision,
        };
        if interval.is_empty() {
            return Ok(result);
        }
        let mut take = |table: &str, key: &[u8], value: &[u8]| -> Result<(), heed::Error> {
            result.count += 1;
            if !options.count_only && (options.limit == 0 || result.kvs.len() < options.limit) {
                result.kvs.push(decode_kv(table, key, value)?);
            }
            Ok(())
        };
        if revision == view_revision {
            for item in self.current.range(txn, &interval.bounds())? {
                let (key, value) = item?;
                take("current", key, value)?;
            }
        } else {
            self.for_each_at(txn, &interval, revision, |key, value| {
                take("revisions", key, value)
            })?;
        }
        Ok(result)
    }

    /// Calls `visit` with the stored KeyValue of every key live in `interval` at `revision`.
    fn for_each_at(
        &self,
        txn: &RoTxn,
        interval: &Interval,
        revision: i64,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), heed::Error>,
    ) -> Result<(), KvError> {
        let (start, end) = match *interval {
            Interval::Single(key) => {
                let upper = history_key(key, Revision { main: -1, sub: -1 });
                (history_start(key), Bound::Included(upper))
            }
            Interval::From(key) => (history_start(key), Bound::Unbounded),
            Interval::Between(key, end) => {
                (history_start(key), Bound::Excluded(history_start(end)))
            }
        };
        let bounds = (
            Bound::Included(start.as_slice()),
            end.as_ref().map(Vec::as_slice),
        );
        // History keys arrive grouped by user key, each group in revision order: remember the
        // newest revision at or below `revision` and emit it when the group ends.
        let mut group: Option<(Vec<u8>, Option<Revision>)> = None;
        let mut emit = |best: Option<Revision>| -> Result<(), KvError> {
            if let Some(best) = best {
                if let (true, kv) = self.change_at(txn, best)? {
                    visit(&best.to_bytes(), kv)?;
                }
            }
            Ok(())
        };
        for item in self.history.range(txn, &bounds)? {
            let (history_key, _) = item?;
            let (prefix, revision_bytes) =
                history_key.split_at(history_key.len().saturating_sub(16));
            let candidate = Revision::from_bytes("history", history_key, revision_bytes)?;
            let same_key = matches!(&group, Some((key, _)) if key.as_slice() == prefix);
            if !same_key {
                if let Some((_, best)) = group.take() {
                    emit(best)?;
                }
                group = Some((prefix.to_vec(), None));
            }
            if candidate.main <= revision {
                if let Some((_, best)) = group.as_mut() {
                    *best = Some(candidate);
                }
            }
        }
        if let Some((_, best)) = group {
            emit(best)?;
        }
        Ok(())
    }
}

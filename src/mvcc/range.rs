//! Reads: a key range at the current revision (from the `current` table) or at a past revision
//! (from the `history` index and the `revisions` log).

use super::keys::{
    history_key, history_start, is_long, stored_key, stored_lower_bound, stored_upper_bound,
    Revision, SHORT_KEY_BYTES,
};
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

    /// The stored keys (keys.rs) to scan: they hold every key of the interval, and, for long
    /// keys at its ends, some outside it that `contains` then leaves out.
    pub(super) fn stored_bounds(&self) -> (Vec<u8>, Bound<Vec<u8>>) {
        match *self {
            Interval::Single(key) => {
                let stored = stored_key(key).into_owned();
                (stored.clone(), Bound::Included(stored))
            }
            Interval::From(key) => (stored_lower_bound(key).to_vec(), Bound::Unbounded),
            Interval::Between(key, end) => {
                (stored_lower_bound(key).to_vec(), stored_upper_bound(end))
            }
        }
    }

    pub(super) fn contains(&self, key: &[u8]) -> bool {
        match *self {
            Interval::Single(single) => key == single,
            Interval::From(start) => key >= start,
            Interval::Between(start, end) => key >= start && key < end,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        matches!(*self, Interval::Between(key, end) if end <= key)
    }
}

/// Borrowed bounds for heed's range from owned ones.
pub(super) fn as_slices(bounds: &(Vec<u8>, Bound<Vec<u8>>)) -> (Bound<&[u8]>, Bound<&[u8]>) {
    (
        Bound::Included(bounds.0.as_slice()),
        bounds.1.as_ref().map(Vec::as_slice),
    )
}

/// Puts stored items back in key order. LMDB gives stored keys in byte order, which is key
/// order except among long keys sharing their first bytes (ordered by tag there): those are
/// gathered and sorted by their whole key before they are passed on.
pub(super) struct KeyOrder<'t> {
    /// The first bytes the gathered long keys share.
    prefix: Vec<u8>,
    gathered: Vec<(Vec<u8>, &'t [u8])>,
}

impl<'t> KeyOrder<'t> {
    pub(super) fn new() -> Self {
        KeyOrder {
            prefix: Vec::new(),
            gathered: Vec::new(),
        }
    }

    /// One stored item: its stored key, its whole key (read from the value for a long one),
    /// its value.
    pub(super) fn push(
        &mut self,
        stored: &[u8],
        key: std::borrow::Cow<'_, [u8]>,
        value: &'t [u8],
        visit: &mut impl FnMut(&[u8], &'t [u8]) -> Result<(), KvError>,
    ) -> Result<(), KvError> {
        if !is_long(stored) {
            self.finish(visit)?;
            return visit(&key, value);
        }
        let prefix = &stored[..SHORT_KEY_BYTES];
        if !self.gathered.is_empty() && self.prefix != prefix {
            self.finish(visit)?;
        }
        if self.gathered.is_empty() {
            self.prefix = prefix.to_vec();
        }
        self.gathered.push((key.into_owned(), value));
        Ok(())
    }

    pub(super) fn finish(
        &mut self,
        visit: &mut impl FnMut(&[u8], &'t [u8]) -> Result<(), KvError>,
    ) -> Result<(), KvError> {
        self.gathered.sort_by(|a, b| a.0.cmp(&b.0));
        for (key, value) in self.gathered.drain(..) {
            visit(&key, value)?;
        }
        Ok(())
    }
}

/// The whole key of a stored item whose value is a KeyValue: the stored key itself unless it
/// stands for a long key.
pub(super) fn whole_key<'k>(
    table: &str,
    stored: &'k [u8],
    kv_bytes: &[u8],
) -> Result<std::borrow::Cow<'k, [u8]>, heed::Error> {
    if is_long(stored) {
        Ok(std::borrow::Cow::Owned(
            decode_kv(table, stored, kv_bytes)?.key,
        ))
    } else {
        Ok(std::borrow::Cow::Borrowed(stored))
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
    /// The live version of `key`, if any. A long key's slot holding another key (two keys
    /// whose first bytes and 8-byte tags both agree) is refused rather than taken for it.
    pub(super) fn live(&self, txn: &RoTxn, key: &[u8]) -> Result<Option<KeyValue>, KvError> {
        let stored = stored_key(key);
        let Some(revision) = self.current.get(txn, &stored)? else {
            return Ok(None);
        };
        let kv = decode_kv("revisions", &stored, self.live_kv(txn, &stored, revision)?)?;
        if kv.key != key {
            return Err(KvError::Unapplicable(
                "the key's stored form collides with another key's; it cannot be stored".into(),
            ));
        }
        Ok(Some(kv))
    }

    /// The stored KeyValue of a live key, from its `current` record (`stored`: its stored key,
    /// `revision`: the record's value, the revision of the live version).
    pub(super) fn live_kv<'t>(
        &self,
        txn: &'t RoTxn,
        stored: &[u8],
        revision: &[u8],
    ) -> Result<&'t [u8], heed::Error> {
        let revision = Revision::from_bytes("current", stored, revision)?;
        match self.change_at(txn, revision)? {
            (true, kv) => Ok(kv),
            (false, _) => Err(super::damaged(
                "current",
                stored,
                "a live key whose revision is a deletion",
            )),
        }
    }

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
                "missing, though the history or the live table points at it",
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
        // Counts every key of the interval; returns whether its KeyValue is wanted too.
        let counts = |key: &[u8], result: &mut RangeResult| {
            if !interval.contains(key) {
                return false;
            }
            result.count += 1;
            !options.count_only && (options.limit == 0 || result.kvs.len() < options.limit)
        };
        if revision == view_revision {
            // `current` holds revisions: a KeyValue is read only when it is returned (or, for a
            // long key, to learn the whole key).
            let bounds = interval.stored_bounds();
            let mut order = KeyOrder::new();
            let mut take = |key: &[u8], live: &[u8]| -> Result<(), KvError> {
                if counts(key, &mut result) {
                    let kv = self.live_kv(txn, key, live)?;
                    result.kvs.push(decode_kv("revisions", key, kv)?);
                }
                Ok(())
            };
            for item in self.current.range(txn, &as_slices(&bounds))? {
                let (stored, live) = item?;
                let key = if is_long(stored) {
                    let kv = decode_kv("revisions", stored, self.live_kv(txn, stored, live)?)?;
                    std::borrow::Cow::Owned(kv.key)
                } else {
                    std::borrow::Cow::Borrowed(stored)
                };
                order.push(stored, key, live, &mut take)?;
            }
            order.finish(&mut take)?;
        } else {
            let mut take = |key: &[u8], kv: &[u8]| -> Result<(), KvError> {
                if counts(key, &mut result) {
                    result.kvs.push(decode_kv("revisions", key, kv)?);
                }
                Ok(())
            };
            self.for_each_at(txn, &interval, revision, &mut take)?;
        }
        Ok(result)
    }

    /// Calls `visit` with (key, stored KeyValue) of every key live in `interval` at
    /// `revision`, in key order.
    fn for_each_at<'t>(
        &self,
        txn: &'t RoTxn,
        interval: &Interval,
        revision: i64,
        visit: &mut impl FnMut(&[u8], &'t [u8]) -> Result<(), KvError>,
    ) -> Result<(), KvError> {
        let (start, end) = interval.stored_bounds();
        let start = history_start(&start);
        // An included end stored key (one key, or a long key's group) with all its history.
        let end = match end {
            Bound::Included(last) => {
                Bound::Included(history_key(&last, Revision { main: -1, sub: -1 }))
            }
            Bound::Excluded(end) => Bound::Excluded(history_start(&end)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let bounds = (
            Bound::Included(start.as_slice()),
            end.as_ref().map(Vec::as_slice),
        );
        // History keys arrive grouped by stored key, each group in revision order: remember
        // the newest revision at or below `revision` and pass it on when the group ends.
        let mut group: Option<(Vec<u8>, Option<Revision>)> = None;
        let mut order = KeyOrder::new();
        let mut emit = |stored: &[u8],
                        best: Option<Revision>,
                        order: &mut KeyOrder<'t>|
         -> Result<(), KvError> {
            if let Some(best) = best {
                if let (true, kv) = self.change_at(txn, best)? {
                    let key = whole_key("revisions", stored, kv)?;
                    order.push(stored, key, kv, visit)?;
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
                if let Some((stored, best)) = group.take() {
                    emit(&stored, best, &mut order)?;
                }
                group = Some((prefix.to_vec(), None));
            }
            if candidate.main <= revision {
                if let Some((_, best)) = group.as_mut() {
                    *best = Some(candidate);
                }
            }
        }
        if let Some((stored, best)) = group {
            emit(&stored, best, &mut order)?;
        }
        order.finish(visit)
    }
}

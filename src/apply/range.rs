//! Range with etcd's options: limit (+ `more`), full count, revision filters, sorting, keys_only.

use crate::mvcc::{KvError, RangeOptions, RangeResult, Store, Writer};
use crate::pb::etcdserverpb::range_request::{SortOrder, SortTarget};
use crate::pb::etcdserverpb::{RangeRequest, RangeResponse};
use crate::pb::mvccpb::KeyValue;
use heed::RoTxn;
use std::cmp::Ordering;

/// Something a Range can read: a write transaction's own view, or a read snapshot.
pub trait ReadView {
    fn read(
        &self,
        key: &[u8],
        range_end: &[u8],
        options: &RangeOptions,
    ) -> Result<RangeResult, KvError>;
}

impl ReadView for Writer<'_, '_, '_> {
    fn read(
        &self,
        key: &[u8],
        range_end: &[u8],
        options: &RangeOptions,
    ) -> Result<RangeResult, KvError> {
        self.range(key, range_end, options)
    }
}

/// A consistent read of the store as of one LMDB read transaction.
pub struct Snapshot<'s> {
    pub store: &'s Store,
    pub txn: RoTxn<'s>,
}

impl ReadView for Snapshot<'_> {
    fn read(
        &self,
        key: &[u8],
        range_end: &[u8],
        options: &RangeOptions,
    ) -> Result<RangeResult, KvError> {
        let revision = self.store.current_revision(&self.txn)?;
        self.store
            .range(&self.txn, key, range_end, options, revision)
    }
}

pub fn range(view: &impl ReadView, request: &RangeRequest) -> Result<RangeResponse, KvError> {
    let sort_order = SortOrder::try_from(request.sort_order).unwrap_or(SortOrder::None);
    let sort_target = SortTarget::try_from(request.sort_target).unwrap_or(SortTarget::Key);
    let filtered = request.min_mod_revision != 0
        || request.max_mod_revision != 0
        || request.min_create_revision != 0
        || request.max_create_revision != 0;
    // Sorting and filtering need every key; otherwise read one more than the limit for `more`.
    let limit = if sort_order != SortOrder::None || filtered || request.limit <= 0 {
        0
    } else {
        request.limit as usize + 1
    };
    let options = RangeOptions {
        limit,
        revision: request.revision,
        count_only: request.count_only,
    };
    let result = view.read(&request.key, &request.range_end, &options)?;
    let mut kvs = result.kvs;
    kvs.retain(|kv| keep(request, kv));
    // Results come in key order; other targets sort ascending unless told otherwise.
    let order = match (sort_order, sort_target) {
        (SortOrder::None, SortTarget::Key) => SortOrder::None,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    if order != SortOrder::None {
        kvs.sort_by(|a, b| {
            let ordering = compare(sort_target, a, b);
            if order == SortOrder::Descend {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let mut more = false;
    if request.limit > 0 && kvs.len() > request.limit as usize {
        kvs.truncate(request.limit as usize);
        more = true;
    }
    if request.keys_only {
        for kv in &mut kvs {
            kv.value.clear();
        }
    }
    Ok(RangeResponse {
        header: super::header(result.revision),
        kvs,
        more,
        count: result.count as i64,
    })
}

fn keep(request: &RangeRequest, kv: &KeyValue) -> bool {
    let above = |value: i64, bound: i64| bound == 0 || value >= bound;
    let below = |value: i64, bound: i64| bound == 0 || value <= bound;
    above(kv.mod_revision, request.min_mod_revision)
        && below(kv.mod_revision, request.max_mod_revision)
        && above(kv.create_revision, request.min_create_revision)
        && below(kv.create_revision, request.max_create_revision)
}

fn compare(target: SortTarget, a: &KeyValue, b: &KeyValue) -> Ordering {
    match target {
        SortTarget::Key => a.key.cmp(&b.key),
        SortTarget::Version => a.version.cmp(&b.version),
        SortTarget::Create => a.create_revision.cmp(&b.create_revision),
        SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
        SortTarget::Value => a.value.cmp(&b.value),
    }
}

//! Leases as replicated state: each lease's granted TTL, and which keys are attached to it.
//! When a lease expires is not stored: only the leader keeps that clock (raft/leases.rs).
//!
//! Tables: `leases` (lease ID i64 BE -> granted TTL i64 BE), `lease_keys` (lease ID i64 BE +
//! stored key (keys.rs) -> empty, or the whole key for a long one).

use super::{KvError, Store};
use heed::{RoTxn, RwTxn};
use std::ops::Bound;

fn id_bytes(id: i64) -> [u8; 8] {
    id.to_be_bytes()
}

fn attachment(id: i64, key: &[u8]) -> Vec<u8> {
    let mut bytes = id_bytes(id).to_vec();
    bytes.extend_from_slice(&super::keys::stored_key(key));
    bytes
}

/// What `lease_keys` holds for a key: nothing when the stored key is the key.
fn attachment_value(key: &[u8]) -> &[u8] {
    if super::keys::is_long(&super::keys::stored_key(key)) {
        key
    } else {
        &[]
    }
}

impl Store {
    /// The lease's granted TTL in seconds, if it exists.
    pub fn lease_ttl(&self, txn: &RoTxn, id: i64) -> Result<Option<i64>, KvError> {
        let key = id_bytes(id);
        Ok(self
            .leases
            .get(txn, &key)?
            .map(|ttl| super::stored_u64("leases", &key, ttl).map(|ttl| ttl as i64))
            .transpose()?)
    }

    pub fn put_lease(&self, txn: &mut RwTxn, id: i64, ttl: i64) -> Result<(), KvError> {
        Ok(self.leases.put(txn, &id_bytes(id), &ttl.to_be_bytes())?)
    }

    /// Every lease with its granted TTL, in ID order.
    pub fn leases(&self, txn: &RoTxn) -> Result<Vec<(i64, i64)>, KvError> {
        let mut all = Vec::new();
        for item in self.leases.iter(txn)? {
            let (id, ttl) = item?;
            let parsed = super::stored_u64("leases", id, id);
            all.push((
                parsed.map_err(|_| super::damaged("leases", id, "the key is not a lease ID"))?
                    as i64,
                super::stored_u64("leases", id, ttl)? as i64,
            ));
        }
        Ok(all)
    }

    /// The keys attached to a lease, in key order.
    pub fn lease_keys(&self, txn: &RoTxn, id: i64) -> Result<Vec<Vec<u8>>, KvError> {
        let start = id_bytes(id);
        let end = id
            .checked_add(1)
            .map(id_bytes)
            .map_or(Bound::Unbounded, |e| Bound::Excluded(e.to_vec()));
        let bounds = (Bound::Included(start.to_vec()), end);
        let bounds = (
            bounds.0.as_ref().map(Vec::as_slice),
            bounds.1.as_ref().map(Vec::as_slice),
        );
        let mut keys = Vec::new();
        for item in self.lease_keys.range(txn, &bounds)? {
            let (bytes, whole) = item?;
            let stored = bytes.get(8..).unwrap_or_default();
            keys.push(
                if super::keys::is_long(stored) {
                    whole
                } else {
                    stored
                }
                .to_vec(),
            );
        }
        // Long keys sharing their first bytes are stored in tag order.
        keys.sort();
        Ok(keys)
    }

    /// Removes a lease (its keys must have been deleted already).
    pub fn delete_lease(&self, txn: &mut RwTxn, id: i64) -> Result<(), KvError> {
        for key in self.lease_keys(txn, id)? {
            self.lease_keys.delete(txn, &attachment(id, &key))?;
        }
        self.leases.delete(txn, &id_bytes(id))?;
        Ok(())
    }

    /// Moves `key` from lease `old` to lease `new` (0: none).
    pub(super) fn reattach(
        &self,
        txn: &mut RwTxn,
        key: &[u8],
        old: i64,
        new: i64,
    ) -> Result<(), KvError> {
        if old == new {
            return Ok(());
        }
        if old != 0 {
            self.lease_keys.delete(txn, &attachment(old, key))?;
        }
        if new != 0 {
            self.lease_keys
                .put(txn, &attachment(new, key), attachment_value(key))?;
        }
        Ok(())
    }
}

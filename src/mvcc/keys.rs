//! Byte layouts of the LMDB keys (see ARCHITECTURE.md, "On-disk layout").

/// A store revision: the main revision of a write transaction and the position of the change
/// inside it. Encoded as 16 bytes big endian so that LMDB's byte order is revision order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Revision {
    pub main: i64,
    pub sub: i64,
}

impl Revision {
    pub fn to_bytes(self) -> [u8; 16] {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&(self.main as u64).to_be_bytes());
        bytes[8..].copy_from_slice(&(self.sub as u64).to_be_bytes());
        bytes
    }

    /// The revision in a stored key or value of `table` (`key`: the record's key, for the error).
    pub fn from_bytes(table: &str, key: &[u8], bytes: &[u8]) -> Result<Revision, heed::Error> {
        if bytes.len() != REVISION_BYTES {
            return Err(super::damaged(table, key, "not a 16-byte revision"));
        }
        let (main, sub) = bytes.split_at(8);
        let word = |half: &[u8]| u64::from_be_bytes(half.try_into().unwrap_or_default()) as i64;
        Ok(Revision {
            main: word(main),
            sub: word(sub),
        })
    }
}

/// History index key: the user key followed by the revision, ordered by `HistoryOrder` (user
/// key, then revision), so one LMDB range scan walks keys in order and each key's revisions in
/// revision order, whatever bytes the keys hold.
pub fn history_key(key: &[u8], revision: Revision) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + REVISION_BYTES);
    out.extend_from_slice(key);
    out.extend_from_slice(&revision.to_bytes());
    out
}

/// The lower bound of a key's history (revision 0:0 precedes every stored revision).
pub fn history_start(key: &[u8]) -> Vec<u8> {
    history_key(key, Revision { main: 0, sub: 0 })
}

const REVISION_BYTES: usize = 16;

/// Keys up to this long are stored as they are. A longer key is stored under its first
/// SHORT_KEY_BYTES bytes and an 8-byte tag (the start of its SHA-256), LONG_KEY_BYTES in all,
/// so that with the history table's 16-byte revision it fits LMDB's 511-byte keys; the whole
/// key is in the stored value. Keys sharing their first SHORT_KEY_BYTES bytes sit together
/// (in tag order); readers put them back in key order.
pub const SHORT_KEY_BYTES: usize = 487;
const TAG_BYTES: usize = 8;
pub const LONG_KEY_BYTES: usize = SHORT_KEY_BYTES + TAG_BYTES;

/// The LMDB key a user key is stored under (in `current`, `history`, `lease_keys`).
pub fn stored_key(key: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if key.len() <= SHORT_KEY_BYTES {
        return std::borrow::Cow::Borrowed(key);
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, key);
    let mut stored = Vec::with_capacity(LONG_KEY_BYTES);
    stored.extend_from_slice(&key[..SHORT_KEY_BYTES]);
    stored.extend_from_slice(&digest.as_ref()[..TAG_BYTES]);
    std::borrow::Cow::Owned(stored)
}

/// Whether a stored key stands for a long key (whose whole key is in its value).
pub fn is_long(stored: &[u8]) -> bool {
    stored.len() == LONG_KEY_BYTES
}

/// The stored keys that can hold `key` or keys after it start at its first SHORT_KEY_BYTES.
pub fn stored_lower_bound(key: &[u8]) -> &[u8] {
    &key[..key.len().min(SHORT_KEY_BYTES)]
}

/// The stored-key bound below which every key before `end` lies: `end` itself if it is short,
/// else the whole group of long keys sharing its first bytes (the caller filters).
pub fn stored_upper_bound(end: &[u8]) -> std::ops::Bound<Vec<u8>> {
    if end.len() <= SHORT_KEY_BYTES {
        return std::ops::Bound::Excluded(end.to_vec());
    }
    let mut bound = end[..SHORT_KEY_BYTES].to_vec();
    bound.extend_from_slice(&[0xff; TAG_BYTES]);
    std::ops::Bound::Included(bound)
}

/// Splits a history key into (user key, revision).
pub fn split_history_key(bytes: &[u8]) -> Result<(Vec<u8>, Revision), heed::Error> {
    let (key, revision) = split(bytes);
    Ok((
        key.to_vec(),
        Revision::from_bytes("history", bytes, revision)?,
    ))
}

fn split(bytes: &[u8]) -> (&[u8], &[u8]) {
    bytes.split_at(bytes.len().saturating_sub(REVISION_BYTES))
}

/// Rewrites what a store of the plain-key layout holds under keys now stored otherwise (keys
/// of SHORT_KEY_BYTES + 1 to 495 bytes); returns how many records moved.
pub(super) fn convert_plain_keys(
    store: &super::Store,
    txn: &mut heed::RwTxn,
) -> Result<usize, heed::Error> {
    let mut moved = 0;
    let long_current: Vec<(Vec<u8>, Vec<u8>)> = store
        .current
        .iter(txn)?
        .filter_map(|item| item.ok())
        .filter(|(key, _)| key.len() > SHORT_KEY_BYTES)
        .map(|(key, value)| (key.to_vec(), value.to_vec()))
        .collect();
    for (key, value) in long_current {
        store.current.delete(txn, &key)?;
        store.current.put(txn, &stored_key(&key), &value)?;
        moved += 1;
    }
    let long_history: Vec<Vec<u8>> = store
        .history
        .iter(txn)?
        .filter_map(|item| item.ok())
        .map(|(key, _)| key.to_vec())
        .filter(|key| split(key).0.len() > SHORT_KEY_BYTES)
        .collect();
    for key in long_history {
        let (user_key, revision) = split_history_key(&key)?;
        store.history.delete(txn, &key)?;
        store
            .history
            .put(txn, &history_key(&stored_key(&user_key), revision), &[])?;
        moved += 1;
    }
    let long_attachments: Vec<Vec<u8>> = store
        .lease_keys
        .iter(txn)?
        .filter_map(|item| item.ok())
        .map(|(key, _)| key.to_vec())
        .filter(|key| key.len() > 8 + SHORT_KEY_BYTES)
        .collect();
    for key in long_attachments {
        let (id, user_key) = key.split_at(8);
        let mut moved_key = id.to_vec();
        moved_key.extend_from_slice(&stored_key(user_key));
        store.lease_keys.delete(txn, &key)?;
        store.lease_keys.put(txn, &moved_key, user_key)?;
        moved += 1;
    }
    Ok(moved)
}

/// Rewrites `current` of a store of the `stored-keys/2` layout, whose values were whole
/// KeyValues, to hold each live key's revision (the newest in its history); returns how many
/// keys were rewritten.
pub(super) fn convert_current_values(
    store: &super::Store,
    txn: &mut heed::RwTxn,
) -> Result<usize, heed::Error> {
    let mut live = Vec::new();
    for item in store.current.iter(txn)? {
        let (stored, value) = item?;
        let kv = super::range::decode_kv("current", stored, value)?;
        let (oldest, newest) = (
            history_start(stored),
            history_key(stored, Revision { main: -1, sub: -1 }),
        );
        let bounds = (
            std::ops::Bound::Included(oldest.as_slice()),
            std::ops::Bound::Included(newest.as_slice()),
        );
        let revision = match store.history.rev_range(txn, &bounds)?.next() {
            Some(item) => split_history_key(item?.0)?.1,
            None => {
                return Err(super::damaged(
                    "current",
                    stored,
                    "a live key without history",
                ))
            }
        };
        if revision.main != kv.mod_revision {
            return Err(super::damaged(
                "current",
                stored,
                "the live version is not the newest in the history",
            ));
        }
        live.push((stored.to_vec(), revision));
    }
    for (stored, revision) in &live {
        store.current.put(txn, stored, &revision.to_bytes())?;
    }
    Ok(live.len())
}

/// LMDB's order of the `history` table: by user key, then by revision. (Plain byte order would
/// put "a" + revision among the revisions of "a\0...".)
pub enum HistoryOrder {}

impl heed::Comparator for HistoryOrder {
    fn compare(a: &[u8], b: &[u8]) -> std::cmp::Ordering {
        let ((a_key, a_revision), (b_key, b_revision)) = (split(a), split(b));
        a_key.cmp(b_key).then_with(|| a_revision.cmp(b_revision))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_keys_sort_by_user_key_then_revision() {
        let rev = |main| Revision { main, sub: 0 };
        let mut keys = [
            history_key(b"ab", rev(1)),
            history_key(b"a\0", rev(1)),
            history_key(b"a", rev(9)),
            history_key(b"a", rev(2)),
            history_key(b"b", rev(0)),
        ];
        keys.sort_by(|a, b| <HistoryOrder as heed::Comparator>::compare(a, b));
        let decoded: Vec<(Vec<u8>, i64)> = keys
            .iter()
            .map(|k| split_history_key(k).unwrap())
            .map(|(key, r)| (key, r.main))
            .collect();
        let expected: Vec<(Vec<u8>, i64)> = vec![
            (b"a".to_vec(), 2),
            (b"a".to_vec(), 9),
            (b"a\0".to_vec(), 1),
            (b"ab".to_vec(), 1),
            (b"b".to_vec(), 0),
        ];
        assert_eq!(decoded, expected);
    }
}

//! Byte layouts of the LMDB keys (see ARCHITECTURE.md, "Keyspace on LMDB").

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

    /// The revision in a stored key of `table` (`key`: the whole key, for the error).
    pub fn from_bytes(table: &str, key: &[u8], bytes: &[u8]) -> Result<Revision, heed::Error> {
        if bytes.len() != REVISION_BYTES {
            return Err(super::damaged(table, key, "no revision in the key"));
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

/// The longest user key the store takes: LMDB keys are at most 511 bytes, and a history key is
/// the user key and a 16-byte revision.
pub const MAX_KEY_BYTES: usize = 511 - REVISION_BYTES;

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

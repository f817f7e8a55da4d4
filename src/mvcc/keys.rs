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

    pub fn from_bytes(bytes: &[u8]) -> Revision {
        assert_eq!(bytes.len(), 16, "a revision key is 16 bytes");
        let word = |range: std::ops::Range<usize>| {
            u64::from_be_bytes(bytes[range].try_into().expect("8 bytes")) as i64
        };
        Revision {
            main: word(0..8),
            sub: word(8..16),
        }
    }
}

/// History index key: the user key escaped (0x00 becomes 0x00 0xFF, then a 0x00 0x01
/// terminator) followed by the revision. The escaping keeps user-key order even when one key is
/// a prefix of another, so one LMDB range scan walks keys in order and each key's revisions in
/// revision order.
pub fn history_key(key: &[u8], revision: Revision) -> Vec<u8> {
    let mut out = escaped_key(key);
    out.extend_from_slice(&revision.to_bytes());
    out
}

/// The escaped form of a user key, terminator included: the lower bound of its history.
pub fn escaped_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 18);
    for byte in key {
        out.push(*byte);
        if *byte == 0 {
            out.push(0xff);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
    out
}

/// Splits a history key back into (user key, revision).
pub fn split_history_key(bytes: &[u8]) -> (Vec<u8>, Revision) {
    assert!(
        bytes.len() >= 18,
        "a history key has a terminator and a revision"
    );
    let (escaped, revision) = bytes.split_at(bytes.len() - 16);
    let mut key = Vec::with_capacity(escaped.len());
    let mut index = 0;
    // The escaped form always ends in the 0x00 0x01 terminator, which ends this loop.
    while !(escaped[index] == 0 && escaped[index + 1] == 0x01) {
        key.push(escaped[index]);
        index += if escaped[index] == 0 { 2 } else { 1 };
    }
    (key, Revision::from_bytes(revision))
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
        keys.sort();
        let decoded: Vec<(Vec<u8>, i64)> = keys
            .iter()
            .map(|k| split_history_key(k))
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

//! bbolt files (etcd's backend and the backups `etcdctl snapshot save` writes), read and written
//! here without a bolt library.
//!
//! Layout (bbolt's page.go, db.go, bucket.go), all integers little endian:
//!
//! ```text
//! page      u64 id | u16 flags (1 branch, 2 leaf, 4 meta, 0x10 freelist) | u16 count
//!           | u32 overflow (more pages this one spans) | elements...
//! meta      (pages 0 and 1, after the page header) u32 magic 0xED0CDAED | u32 version 2
//!           | u32 page size | u32 flags | bucket root (u64 root page, u64 sequence)
//!           | u64 freelist page | u64 page count | u64 txid | u64 FNV-1a of the bytes before
//! branch    count x (u32 pos | u32 key size | u64 child page), pos from the element
//! leaf      count x (u32 flags (1: a sub-bucket) | u32 pos | u32 key size | u32 value size)
//! bucket    value of a bucket key: u64 root page | u64 sequence, then, when the root is 0,
//!           the bucket's single leaf page inline
//! freelist  count x u64 page id (count 0xFFFF: the real count is the first u64)
//! ```
//!
//! The newest valid meta page (by txid) is the file's state.

pub mod read;
pub mod write;

pub const MAGIC: u32 = 0xED0C_DAED;
pub const VERSION: u32 = 2;
pub const PAGE_HEADER_BYTES: usize = 16;
pub const BRANCH_ELEMENT_BYTES: usize = 16;
pub const LEAF_ELEMENT_BYTES: usize = 16;
pub const BUCKET_HEADER_BYTES: usize = 16;
/// Where the meta struct's checksum sits in it (the FNV-1a covers what comes before).
pub const META_CHECKSUM_OFFSET: usize = 56;

pub const BRANCH_PAGE: u16 = 0x01;
pub const LEAF_PAGE: u16 = 0x02;
pub const META_PAGE: u16 = 0x04;
pub const FREELIST_PAGE: u16 = 0x10;
/// A leaf element whose value is a sub-bucket.
pub const BUCKET_LEAF: u32 = 0x01;

/// FNV-1a, 64 bits (bbolt's meta checksum).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// Whether `bytes` start like a bolt file (its first meta page).
pub fn looks_like_bolt(bytes: &[u8]) -> bool {
    bytes.len() >= PAGE_HEADER_BYTES + 8
        && u32::from_le_bytes(bytes[16..20].try_into().expect("4 bytes")) == MAGIC
        && u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes")) == VERSION
}

//! The multi-version keyspace on LMDB (heed): live keys, full history by revision, and the
//! member's replicated metadata. The raft apply loop is the only writer; readers open their own
//! short read transactions. Layout and invariants: ARCHITECTURE.md, "On-disk layout".

pub mod auth;
pub mod backend;
mod changes;
pub mod checkpoint;
mod keys;
mod lease;
mod range;
pub mod residency;
pub mod snapshot;
mod write;

pub use changes::{Change, KvHash};
#[cfg(test)]
pub use keys::Revision;
pub use range::{RangeOptions, RangeResult};
pub use write::Writer;

/// The end of the range of keys starting with `prefix` (clientv3.GetPrefixRangeEnd): the
/// prefix with its last byte below 0xff incremented, or "\0" (to the end) if there is none.
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

use heed::types::{Bytes, Str};
use heed::{Database, Env, EnvFlags, EnvOpenOptions, RoTxn, RwTxn};
use std::path::Path;

/// Errors of the keyspace, mapped one-to-one onto etcd's client-visible errors by api/.
#[derive(Debug)]
pub enum KvError {
    Compacted,
    FutureRevision,
    /// ignore_value / ignore_lease on a key that does not exist.
    KeyNotFound,
    LeaseNotFound,
    LeaseExists,
    /// A NOSPACE alarm is raised: writes that add data are refused until it is disarmed.
    NoSpace,
    /// A CORRUPT alarm is raised: writes are refused (etcd's "corrupt cluster").
    Corrupt,
    /// A membership change etcd would refuse.
    Member(MemberError),
    /// A committed entry that this member cannot apply (it is skipped on every member alike).
    Unapplicable(String),
    /// A refusal of the authentication store.
    Auth(auth::AuthError),
    Storage(heed::Error),
}

/// Why a membership change is refused; each is one of etcd's client-visible errors. The member
/// table is replicated state kept here; apply/membership.rs decides the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberError {
    IdExists,
    PeerUrlExists,
    NotFound,
    NotLearner,
    LearnerNotReady,
    TooManyLearners,
    NotEnoughStarted,
    NotLeader,
    BadLeaderTransferee,
}

/// A stored record without the layout this build writes: damage on disk, reported with where
/// it is (a read answers it as a storage error; apply stops the member on it).
pub(crate) fn damaged(table: &str, key: &[u8], what: &str) -> heed::Error {
    let place = if key.is_empty() {
        format!("table {table}")
    } else {
        format!("table {table}, key \"{}\"", key.escape_ascii())
    };
    heed::Error::Decoding(format!("the store is damaged: {place}: {what}").into())
}

/// A stored 8-byte big-endian integer.
pub(crate) fn stored_u64(table: &str, key: &[u8], value: &[u8]) -> Result<u64, heed::Error> {
    value
        .try_into()
        .map(u64::from_be_bytes)
        .map_err(|_| damaged(table, key, &format!("{} bytes where 8 belong", value.len())))
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Storage(heed::Error::Decoding(e)) => write!(f, "{e}"),
            KvError::Storage(e) => write!(f, "{e}"),
            other => write!(f, "{other:?}"),
        }
    }
}

impl From<heed::Error> for KvError {
    fn from(error: heed::Error) -> KvError {
        KvError::Storage(error)
    }
}

/// Temporary files in the store's directory (backups being streamed) start with this.
pub const SCRATCH_PREFIX: &str = "scratch-";

/// LMDB reader slots: one per concurrent read transaction (request handlers, status, snapshots).
const MAX_READERS: u32 = 1024;
/// The size of LMDB's lock file for MAX_READERS slots (a 128-byte header, 64 bytes per slot).
const LOCK_FILE_BYTES: u64 = 128 + 64 * MAX_READERS as u64;

/// LMDB sizes its lock file with ftruncate and writes it through a shared mapping: on a full
/// disk that write faults and kills the process (SIGBUS). Writing the file's bytes first turns
/// a full disk into an error here.
fn reserve_lock_file(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let path = dir.join("lock.mdb");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)?;
    let size = file.metadata()?.len();
    if size < LOCK_FILE_BYTES {
        file.write_all(&vec![0u8; (LOCK_FILE_BYTES - size) as usize])
            .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    }
    Ok(())
}
/// Room in the memory map beyond the quota, so hitting the quota raises an alarm instead of
/// LMDB's MDB_MAP_FULL.
const MAP_HEADROOM_BYTES: u64 = 1024 * 1024 * 1024;

const META_APPLIED_INDEX: &str = "applied_index";
const META_APPLIED_TERM: &str = "applied_term";
const META_REVISION: &str = "revision";
const META_COMPACT_REVISION: &str = "compact_revision";
const META_CONF_STATE: &str = "conf_state";
const META_CLUSTER_VERSION: &str = "cluster_version";
const META_ALARMS: &str = "alarms";
/// The layout of stored keys (keys.rs); absent in stores of the earliest builds, whose history
/// keys were escaped (refused).
const META_FORMAT: &str = "format";
const FORMAT: &[u8] = b"current-revision/3";
/// The layout before `current` held revisions: its values were whole KeyValues (the live value
/// stored a second time next to `revisions`); converted when such a store (or dump) is opened.
const FORMAT_CURRENT_VALUES: &[u8] = b"stored-keys/2";
/// The layout before long keys: every key stored as it is (up to 495 bytes); converted when
/// such a store (or dump) is opened.
const FORMAT_PLAIN_KEYS: &[u8] = b"history-key+revision";

/// Values in the `revisions` table start with this byte: a put or a delete (tombstone).
const KIND_PUT: u8 = 0;
const KIND_DELETE: u8 = 1;

/// Stores a record expected to sort after every key of `table` (revisions as they are made, a
/// dump being loaded) with LMDB's append, which leaves full pages behind instead of splitting
/// them in half as an insert does; a key that does not sort last is inserted the usual way.
fn put_last<C: 'static>(
    table: &Database<Bytes, Bytes, C>,
    txn: &mut RwTxn,
    key: &[u8],
    value: &[u8],
) -> Result<(), heed::Error> {
    match table.put_with_flags(txn, heed::PutFlags::APPEND, key, value) {
        Err(heed::Error::Mdb(heed::MdbError::KeyExist)) => table.put(txn, key, value),
        result => result,
    }
}

pub struct Store {
    env: Env,
    /// The environment's directory (data.mdb, checkpoint).
    dir: std::path::PathBuf,
    /// stored key -> revision (16 bytes) of its live version in `revisions` (absent once
    /// deleted).
    current: Database<Bytes, Bytes>,
    /// keys::history_key(user key, revision) -> empty; every revision of every key.
    history: Database<Bytes, Bytes, keys::HistoryOrder>,
    /// Revision (16 bytes) -> kind byte + mvccpb.KeyValue; the event log that watches replay.
    revisions: Database<Bytes, Bytes>,
    /// member ID (8 bytes BE) -> etcdserverpb.Member.
    members: Database<Bytes, Bytes>,
    /// Named scalars: applied index, revision, compaction, raft conf state.
    /// Also holds the auth store (mvcc/auth.rs) and the v2 key space (src/v2), by key prefix.
    pub(crate) meta: Database<Str, Bytes>,
    /// lease ID (i64 BE) -> granted TTL (i64 BE).
    leases: Database<Bytes, Bytes>,
    /// lease ID (i64 BE) + user key -> empty: the keys attached to each lease.
    lease_keys: Database<Bytes, Bytes>,
}

/// A store in a fresh directory under the system's temp dir, for unit tests
/// (`store-test-<name>-<pid>`; .ci/run clears what a failed run left).
#[cfg(test)]
pub(crate) fn scratch_store(name: &str, quota_bytes: u64) -> Store {
    let dir = std::env::temp_dir().join(format!("store-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    Store::open(&dir, quota_bytes).unwrap()
}

impl Store {
    pub fn open(dir: &Path, quota_bytes: u64) -> Result<Store, heed::Error> {
        std::fs::create_dir_all(dir)?;
        Self::remove_scratch(dir)?;
        reserve_lock_file(dir)?;
        let map_size = (quota_bytes + MAP_HEADROOM_BYTES).next_multiple_of(64 * 1024);
        let mut options = EnvOpenOptions::new();
        options
            .map_size(map_size as usize)
            .max_dbs(16)
            .max_readers(MAX_READERS);
        if let Some(applied) =
            checkpoint::recover(dir).map_err(|e| heed::Error::Io(std::io::Error::other(e)))?
        {
            log::warn!(
                "store: the machine restarted since the last checkpoint; rewound the store to it (applied index {applied}); the WAL replays the rest"
            );
        }
        // SAFETY: the environment is opened once per process (server start-up owns the only
        // Store). NO_SYNC: commits are not flushed; the WAL is the durable record, and
        // checkpoint.rs keeps a power loss from leaving a torn store. NO_TLS: read txns are
        // not tied to threads (the raft thread holds a pinned one next to its own reads).
        #[allow(unsafe_code)]
        let env = unsafe {
            options.flags(EnvFlags::NO_SYNC | EnvFlags::NO_TLS);
            options.open(dir)?
        };
        let mut txn = env.write_txn()?;
        let store = Store {
            current: env.create_database(&mut txn, Some("current"))?,
            history: env
                .database_options()
                .types::<Bytes, Bytes>()
                .key_comparator::<keys::HistoryOrder>()
                .name("history")
                .create(&mut txn)?,
            revisions: env.create_database(&mut txn, Some("revisions"))?,
            members: env.create_database(&mut txn, Some("members"))?,
            meta: env.create_database(&mut txn, Some("meta"))?,
            leases: env.create_database(&mut txn, Some("leases"))?,
            lease_keys: env.create_database(&mut txn, Some("lease_keys"))?,
            env: env.clone(),
            dir: dir.to_path_buf(),
        };
        if store.meta_u64(&txn, META_APPLIED_INDEX)?.is_none() {
            store.meta.put(&mut txn, META_FORMAT, FORMAT)?;
        }
        store
            .check_format(&mut txn)
            .map_err(|e| heed::Error::Io(std::io::Error::other(e)))?;
        txn.commit()?;
        Ok(store)
    }

    /// Converts a store (or a loaded dump) of an earlier layout; refuses one of the earliest.
    fn check_format(&self, txn: &mut RwTxn) -> Result<(), String> {
        let format = self.meta.get(txn, META_FORMAT).map_err(|e| e.to_string())?;
        let format = format.map(<[u8]>::to_vec);
        let convert_keys = match format.as_deref() {
            Some(FORMAT) => return Ok(()),
            Some(FORMAT_CURRENT_VALUES) => false,
            Some(FORMAT_PLAIN_KEYS) => true,
            _ => {
                return Err(format!(
                    "{}: the store was written by an earlier build of this etcd (another history key layout); restore it from a backup made by this build or start a new data dir",
                    self.dir.display()
                ))
            }
        };
        if convert_keys {
            let converted = keys::convert_plain_keys(self, txn).map_err(|e| e.to_string())?;
            log::warn!(
                "{}: converted the store to the long-key layout ({converted} records of keys longer than {} bytes rewritten)",
                self.dir.display(),
                keys::SHORT_KEY_BYTES
            );
        }
        let converted = keys::convert_current_values(self, txn).map_err(|e| e.to_string())?;
        log::warn!(
            "{}: converted the store to the current-revision layout ({converted} live keys now point at their revision instead of holding a copy of their value)",
            self.dir.display()
        );
        self.meta
            .put(txn, META_FORMAT, FORMAT)
            .map_err(|e| e.to_string())
    }

    /// A file next to the store for temporary use (a backup being streamed); its name must
    /// start with SCRATCH_PREFIX, so that what a killed process left is removed at open.
    pub fn scratch_path(&self, name: &str) -> std::path::PathBuf {
        debug_assert!(name.starts_with(SCRATCH_PREFIX));
        self.dir.join(name)
    }

    /// Removes scratch files an earlier process left (it was killed while streaming a backup).
    fn remove_scratch(dir: &Path) -> std::io::Result<()> {
        for item in std::fs::read_dir(dir)? {
            let path = item?.path();
            let is_scratch = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(SCRATCH_PREFIX));
            if is_scratch {
                std::fs::remove_file(&path)?;
            }
        }
        Ok(())
    }

    /// Flushes every commit to disk (for tools that write a store and exit).
    pub fn sync(&self) -> Result<(), heed::Error> {
        self.env.force_sync()
    }

    pub fn read_txn(&self) -> Result<RoTxn<'_>, heed::Error> {
        self.env.read_txn()
    }

    pub fn write_txn(&self) -> Result<RwTxn<'_>, heed::Error> {
        self.env.write_txn()
    }

    pub(crate) fn meta_u64(&self, txn: &RoTxn, name: &str) -> Result<Option<u64>, heed::Error> {
        self.meta
            .get(txn, name)?
            .map(|bytes| stored_u64("meta", name.as_bytes(), bytes))
            .transpose()
    }

    pub(crate) fn put_meta_u64(
        &self,
        txn: &mut RwTxn,
        name: &str,
        value: u64,
    ) -> Result<(), heed::Error> {
        self.meta.put(txn, name, &value.to_be_bytes())
    }

    /// Index of the last raft entry whose effects are in this store.
    pub fn applied_index(&self, txn: &RoTxn) -> Result<u64, heed::Error> {
        Ok(self.meta_u64(txn, META_APPLIED_INDEX)?.unwrap_or(0))
    }

    /// Raft term of the entry at the applied index (0 before anything is applied).
    pub fn applied_term(&self, txn: &RoTxn) -> Result<u64, heed::Error> {
        Ok(self.meta_u64(txn, META_APPLIED_TERM)?.unwrap_or(0))
    }

    pub fn set_applied(&self, txn: &mut RwTxn, index: u64, term: u64) -> Result<(), heed::Error> {
        self.put_meta_u64(txn, META_APPLIED_INDEX, index)?;
        self.put_meta_u64(txn, META_APPLIED_TERM, term)
    }

    /// The store revision: 1 for an empty store, +1 per write transaction that changed a key.
    pub fn current_revision(&self, txn: &RoTxn) -> Result<i64, heed::Error> {
        Ok(self
            .meta_u64(txn, META_REVISION)?
            .map(|r| r as i64)
            .unwrap_or(1))
    }

    /// The revision of the last compaction, if any.
    pub fn compact_revision(&self, txn: &RoTxn) -> Result<Option<i64>, heed::Error> {
        Ok(self.meta_u64(txn, META_COMPACT_REVISION)?.map(|r| r as i64))
    }

    /// The raft configuration as of the applied index (raft's ConfState protobuf).
    pub fn conf_state(&self, txn: &RoTxn) -> Result<Option<Vec<u8>>, heed::Error> {
        Ok(self.meta.get(txn, META_CONF_STATE)?.map(<[u8]>::to_vec))
    }

    pub fn set_conf_state(&self, txn: &mut RwTxn, conf_state: &[u8]) -> Result<(), heed::Error> {
        self.meta.put(txn, META_CONF_STATE, conf_state)
    }

    pub fn cluster_version(&self, txn: &RoTxn) -> Result<Option<String>, heed::Error> {
        Ok(self
            .meta
            .get(txn, META_CLUSTER_VERSION)?
            .map(|v| String::from_utf8_lossy(v).into_owned()))
    }

    pub fn set_cluster_version(&self, txn: &mut RwTxn, version: &str) -> Result<(), heed::Error> {
        self.meta.put(txn, META_CLUSTER_VERSION, version.as_bytes())
    }

    /// The raised alarms as (member ID, alarm type) pairs, in order.
    pub fn alarms(&self, txn: &RoTxn) -> Result<Vec<(u64, i32)>, heed::Error> {
        let Some(bytes) = self.meta.get(txn, META_ALARMS)? else {
            return Ok(Vec::new());
        };
        if bytes.len() % 12 != 0 {
            let what = format!("{} bytes, not a multiple of 12", bytes.len());
            return Err(damaged("meta", META_ALARMS.as_bytes(), &what));
        }
        Ok(bytes
            .chunks_exact(12)
            .map(|c| {
                let (member, alarm) = c.split_at(8);
                (
                    u64::from_be_bytes(member.try_into().unwrap_or_default()),
                    i32::from_be_bytes(alarm.try_into().unwrap_or_default()),
                )
            })
            .collect())
    }

    pub fn set_alarms(&self, txn: &mut RwTxn, alarms: &[(u64, i32)]) -> Result<(), heed::Error> {
        let mut bytes = Vec::with_capacity(alarms.len() * 12);
        for (member, alarm) in alarms {
            bytes.extend_from_slice(&member.to_be_bytes());
            bytes.extend_from_slice(&alarm.to_be_bytes());
        }
        self.meta.put(txn, META_ALARMS, &bytes)
    }

    pub fn member(&self, txn: &RoTxn, id: u64) -> Result<Option<Vec<u8>>, heed::Error> {
        Ok(self
            .members
            .get(txn, &id.to_be_bytes())?
            .map(<[u8]>::to_vec))
    }

    pub fn put_member(&self, txn: &mut RwTxn, id: u64, member: &[u8]) -> Result<(), heed::Error> {
        self.members.put(txn, &id.to_be_bytes(), member)
    }

    pub fn delete_member(&self, txn: &mut RwTxn, id: u64) -> Result<(), heed::Error> {
        self.members.delete(txn, &id.to_be_bytes()).map(|_| ())
    }

    /// Every member's record (etcdserverpb.Member protobuf), in member ID order.
    pub fn members(&self, txn: &RoTxn) -> Result<Vec<Vec<u8>>, heed::Error> {
        self.members
            .iter(txn)?
            .map(|item| item.map(|(_, value)| value.to_vec()))
            .collect()
    }

    /// Live keys (etcd_debugging_mvcc_keys_total).
    pub fn key_count(&self, txn: &RoTxn) -> Result<u64, heed::Error> {
        self.current.len(txn)
    }

    /// Size of the data file, as etcd reports its bolt file size.
    pub fn size_bytes(&self) -> Result<u64, heed::Error> {
        self.env.real_disk_size()
    }

    /// Bytes of pages in use (etcd's dbSizeInUse).
    pub fn size_in_use_bytes(&self) -> Result<u64, heed::Error> {
        self.env.non_free_pages_size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::mvccpb::KeyValue;

    fn store(name: &str) -> Store {
        scratch_store(&format!("mvcc-{name}"), 1 << 20)
    }

    #[test]
    fn scratch_files_a_killed_process_left_are_removed_at_open() {
        let first = store("scratch");
        let left = first.scratch_path(&format!("{SCRATCH_PREFIX}7.tmp"));
        std::fs::write(&left, b"half a backup").unwrap();
        let dir = first.dir.clone();
        drop(first);
        let _again = Store::open(&dir, 1 << 20).unwrap();
        assert!(!left.exists());
        assert!(dir.join("data.mdb").exists());
    }

    fn error_text<T>(result: Result<T, KvError>) -> String {
        match result {
            Ok(_) => "no error".to_string(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn damaged_records_are_errors_that_say_where() {
        let store = store("damaged");
        let mut txn = store.write_txn().unwrap();
        let mut writer = Writer::new(&store, &mut txn).unwrap();
        writer.put(b"key", b"value".to_vec(), 0).unwrap();
        writer.put(b"other", b"value".to_vec(), 0).unwrap();
        writer.finish().unwrap();
        store.current.put(&mut txn, b"key", b"\xff\xff").unwrap();
        store.meta.put(&mut txn, META_REVISION, b"short").unwrap();
        store
            .leases
            .put(&mut txn, &7i64.to_be_bytes(), b"x")
            .unwrap();
        txn.commit().unwrap();
        let txn = store.read_txn().unwrap();
        let options = RangeOptions {
            limit: 0,
            revision: 0,
            count_only: false,
        };
        assert!(
            error_text(store.range(&txn, b"key", b"", &options, 2)).starts_with(
                "the store is damaged: table current, key \"key\": not a 16-byte revision"
            )
        );
        assert_eq!(
            store.current_revision(&txn).unwrap_err().to_string(),
            "error while decoding: the store is damaged: table meta, key \"revision\": 5 bytes where 8 belong"
        );
        assert!(error_text(store.leases(&txn)).contains("table leases"));
    }

    #[test]
    fn records_put_last_out_of_order_are_inserted_all_the_same() {
        let store = store("put-last");
        let mut txn = store.write_txn().unwrap();
        for (key, value) in [("b", "1"), ("c", "2"), ("a", "3"), ("c", "4"), ("d", "5")] {
            put_last(&store.revisions, &mut txn, key.as_bytes(), value.as_bytes()).unwrap();
        }
        txn.commit().unwrap();
        let txn = store.read_txn().unwrap();
        let stored: Vec<(&[u8], &[u8])> = store
            .revisions
            .iter(&txn)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let expected: [(&[u8], &[u8]); 4] =
            [(b"a", b"3"), (b"b", b"1"), (b"c", b"4"), (b"d", b"5")];
        assert_eq!(stored, expected);
    }

    /// Every live key with its version, create and mod revisions and value, read at the latest
    /// revision and at `past`.
    fn live_and_past(store: &Store, past: i64) -> Vec<Vec<KeyValue>> {
        let txn = store.read_txn().unwrap();
        let view = store.current_revision(&txn).unwrap();
        [0, past]
            .iter()
            .map(|&revision| {
                let options = RangeOptions {
                    limit: 0,
                    revision,
                    count_only: false,
                };
                store.range(&txn, b"\0", b"\0", &options, view).unwrap().kvs
            })
            .collect()
    }

    #[test]
    fn a_store_whose_live_table_held_values_is_converted_at_open() {
        let store = store("convert-current");
        let long_key = vec![b'l'; keys::SHORT_KEY_BYTES + 40];
        let mut txn = store.write_txn().unwrap();
        for (key, value) in [
            (&b"a"[..], &b"1"[..]),
            (b"b", b"2"),
            (b"a", b"3"),
            (&long_key, b"4"),
        ] {
            let mut writer = Writer::new(&store, &mut txn).unwrap();
            writer.put(key, value.to_vec(), 0).unwrap();
            writer.finish().unwrap();
        }
        let mut writer = Writer::new(&store, &mut txn).unwrap();
        writer.delete_range(b"b", b"").unwrap();
        writer.put(b"c", b"5".to_vec(), 0).unwrap();
        writer.finish().unwrap();
        txn.commit().unwrap();
        let expected = live_and_past(&store, 3);
        assert_eq!(expected[0].len(), 3, "a, c and the long key are live");
        assert_eq!(expected[1].len(), 2, "a and b were live at revision 3");

        // Back to the earlier layout: each live key's KeyValue in `current`.
        let mut txn = store.write_txn().unwrap();
        let live: Vec<(Vec<u8>, Vec<u8>)> = store
            .current
            .iter(&txn)
            .unwrap()
            .map(|item| {
                let (stored, revision) = item.unwrap();
                let kv = store.live_kv(&txn, stored, revision).unwrap();
                (stored.to_vec(), kv.to_vec())
            })
            .collect();
        for (stored, kv) in &live {
            store.current.put(&mut txn, stored, kv).unwrap();
        }
        store
            .meta
            .put(&mut txn, META_FORMAT, FORMAT_CURRENT_VALUES)
            .unwrap();
        // A store that applied entries (a new one is given this build's layout at open).
        store
            .meta
            .put(&mut txn, META_APPLIED_INDEX, &9u64.to_be_bytes())
            .unwrap();
        txn.commit().unwrap();
        let dir = store.dir.clone();
        drop(store);

        let store = Store::open(&dir, 1 << 20).unwrap();
        assert_eq!(live_and_past(&store, 3), expected);
        let txn = store.read_txn().unwrap();
        assert_eq!(store.meta.get(&txn, META_FORMAT).unwrap(), Some(FORMAT));
        assert_eq!(store.live(&txn, &long_key).unwrap().unwrap().value, b"4");
    }
}

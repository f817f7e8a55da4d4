//! The whole store as one byte stream, for raft snapshots sent to a member that fell behind the
//! log. A dump is read from one LMDB read transaction, so it is the state at exactly one applied
//! index, which the stream itself carries (the `meta` table holds it).
//!
//! Stream: records `u8 table | u32 LE key length | key | u32 LE value length | value`, tables in
//! a fixed order, keys in LMDB order. Integrity is checked by the transport (CRC per stream).
//!
//! A backup (Maintenance.Snapshot, `etcdctl snapshot save`) is a dump padded with zero bytes
//! (table 0 ends the records) to a multiple of 512 bytes, then the SHA-256 of all of that: etcd
//! appends a SHA-256 to its bolt file, and etcdctl checks `size % 512 == 32` before saving.

use super::keys::HistoryOrder;
use super::{Store, META_APPLIED_INDEX};
use heed::types::Bytes;
use heed::{Database, RoTxn, RwTxn};
use std::io::Read;

/// LMDB's key size limit (its default build): a dump record beyond it cannot be loaded.
const MAX_LMDB_KEY_BYTES: usize = 511;

/// The table numbers in a dump.
const TABLES: [u8; 7] = [1, 2, 3, 4, 5, 6, 7];

/// A record of this "table" ends the dump: the padding of a backup.
const PADDING: u8 = 0;
/// Backups are padded to this.
pub const BACKUP_ALIGN: u64 = 512;
pub const SHA256_BYTES: u64 = 32;

/// The zero bytes a backup carries after a dump of `dump_bytes`.
pub fn backup_padding(dump_bytes: u64) -> usize {
    ((BACKUP_ALIGN - dump_bytes % BACKUP_ALIGN) % BACKUP_ALIGN) as usize
}

/// What `snapshot status` reports about a backup.
#[derive(Debug, PartialEq, Eq)]
pub struct BackupStatus {
    pub revision: i64,
    pub keys: u64,
}

/// Reads a backup's records (the SHA-256 trailer already checked and cut off).
pub fn inspect_backup(mut input: impl Read) -> Result<BackupStatus, String> {
    let mut status = BackupStatus {
        revision: 1,
        keys: 0,
    };
    let (mut key, mut value) = (Vec::new(), Vec::new());
    while let Some(table) = next_record(&mut input, &mut key, &mut value)? {
        match table {
            1 => status.keys += 1,
            5 if key == super::META_REVISION.as_bytes() => {
                let bytes: [u8; 8] = value
                    .as_slice()
                    .try_into()
                    .map_err(|_| "the revision in the backup is not 8 bytes".to_string())?;
                status.revision = u64::from_be_bytes(bytes) as i64;
            }
            2..=7 => {}
            other => return Err(format!("unknown table number {other} in the backup")),
        }
    }
    Ok(status)
}

/// Reads a whole dump received from a peer without writing anything: every record is of a
/// known table, the layout is this build's, and the dump holds the store at `index`.
pub fn check_dump(mut input: impl Read, index: u64) -> Result<(), String> {
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let (mut applied, mut format) = (None, None);
    while let Some(table) = next_record(&mut input, &mut key, &mut value)? {
        if key.is_empty() || key.len() > MAX_LMDB_KEY_BYTES {
            return Err(format!(
                "a record of table {table} has a key of {} bytes",
                key.len()
            ));
        }
        match table {
            5 if key == META_APPLIED_INDEX.as_bytes() => applied = Some(value.clone()),
            5 if key == super::META_FORMAT.as_bytes() => format = Some(value.clone()),
            1..=7 => {}
            other => return Err(format!("unknown table number {other} in the snapshot")),
        }
    }
    let known = [
        super::FORMAT,
        super::FORMAT_CURRENT_VALUES,
        super::FORMAT_PLAIN_KEYS,
    ];
    if !format.as_deref().is_some_and(|f| known.contains(&f)) {
        return Err("the snapshot is not in this build's store layout".to_string());
    }
    let applied = applied
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map(u64::from_be_bytes)
        .ok_or("the snapshot has no applied index")?;
    if applied != index {
        return Err(format!(
            "the snapshot holds entry {applied}, but its message says {index}"
        ));
    }
    Ok(())
}

/// The next record of a dump into `key` and `value`: its table number, or None at the end
/// (the end of the input, or the padding of a backup).
fn next_record(
    input: &mut impl Read,
    key: &mut Vec<u8>,
    value: &mut Vec<u8>,
) -> Result<Option<u8>, String> {
    let mut table = [0u8; 1];
    match input.read_exact(&mut table) {
        Ok(()) if table[0] == PADDING => return Ok(None),
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.to_string()),
    }
    read_field(input, key)?;
    read_field(input, value)?;
    Ok(Some(table[0]))
}

/// Where a dump stands: the raft entry it reflects and the raft configuration at that entry.
#[derive(Debug, Clone, Default)]
pub struct DumpPoint {
    pub index: u64,
    pub term: u64,
    pub conf_state: Vec<u8>,
}

/// A table of the dump: byte-ordered, or the history with its own order.
enum Table {
    Plain(Database<Bytes, Bytes>),
    History(Database<Bytes, Bytes, HistoryOrder>),
}

impl Table {
    fn each<E>(
        &self,
        txn: &RoTxn,
        visit: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
    ) -> Result<(), DumpError<E>> {
        match self {
            Table::Plain(table) => each(table, txn, visit),
            Table::History(table) => each(table, txn, visit),
        }
    }

    /// A dump holds each table in its own order, so records are appended.
    fn put(&self, txn: &mut RwTxn, key: &[u8], value: &[u8]) -> Result<(), heed::Error> {
        match self {
            Table::Plain(table) => super::put_last(table, txn, key, value),
            Table::History(table) => super::put_last(table, txn, key, value),
        }
    }

    fn clear(&self, txn: &mut RwTxn) -> Result<(), heed::Error> {
        match self {
            Table::Plain(table) => table.clear(txn),
            Table::History(table) => table.clear(txn),
        }
    }
}

fn each<C, E>(
    table: &Database<Bytes, Bytes, C>,
    txn: &RoTxn,
    mut visit: impl FnMut(&[u8], &[u8]) -> Result<(), E>,
) -> Result<(), DumpError<E>> {
    for item in table.iter(txn).map_err(DumpError::Store)? {
        let (key, value) = item.map_err(DumpError::Store)?;
        visit(key, value).map_err(DumpError::Sink)?;
    }
    Ok(())
}

impl Store {
    fn table(&self, number: u8) -> Option<Table> {
        match number {
            1 => Some(Table::Plain(self.current)),
            2 => Some(Table::History(self.history)),
            3 => Some(Table::Plain(self.revisions)),
            4 => Some(Table::Plain(self.members)),
            5 => Some(Table::Plain(self.meta.remap_key_type::<Bytes>())),
            6 => Some(Table::Plain(self.leases)),
            7 => Some(Table::Plain(self.lease_keys)),
            _ => None,
        }
    }

    /// Which applied index a read transaction sees.
    pub fn dump_point(&self, txn: &RoTxn) -> Result<DumpPoint, heed::Error> {
        Ok(DumpPoint {
            index: self.applied_index(txn)?,
            term: self.applied_term(txn)?,
            conf_state: self.conf_state(txn)?.unwrap_or_default(),
        })
    }

    /// Writes every table through `sink` in chunks of about `chunk_bytes`; stops at the first
    /// error `sink` returns.
    pub fn dump<E>(
        &self,
        txn: &RoTxn,
        chunk_bytes: usize,
        mut sink: impl FnMut(Vec<u8>) -> Result<(), E>,
    ) -> Result<(), DumpError<E>> {
        let mut chunk = Vec::with_capacity(chunk_bytes + 1024);
        for number in TABLES {
            let table = self.table(number).expect("TABLES lists known tables");
            table.each(txn, |key, value| {
                chunk.push(number);
                chunk.extend_from_slice(&(key.len() as u32).to_le_bytes());
                chunk.extend_from_slice(key);
                chunk.extend_from_slice(&(value.len() as u32).to_le_bytes());
                chunk.extend_from_slice(value);
                if chunk.len() >= chunk_bytes {
                    sink(std::mem::take(&mut chunk))?;
                }
                Ok(())
            })?;
        }
        if !chunk.is_empty() {
            sink(chunk).map_err(DumpError::Sink)?;
        }
        Ok(())
    }

    /// Replaces the whole store with a dump, inside the caller's transaction. Returns the applied
    /// index the dump carried.
    pub fn load(&self, txn: &mut RwTxn, mut input: impl Read) -> Result<u64, String> {
        for number in TABLES {
            let table = self.table(number).expect("TABLES lists known tables");
            table.clear(txn).map_err(|e| e.to_string())?;
        }
        let (mut key, mut value) = (Vec::new(), Vec::new());
        while let Some(number) = next_record(&mut input, &mut key, &mut value)? {
            let table = self
                .table(number)
                .ok_or_else(|| format!("unknown table number {number} in snapshot"))?;
            table.put(txn, &key, &value).map_err(|e| e.to_string())?;
        }
        self.check_format(txn)?;
        self.meta_u64(txn, META_APPLIED_INDEX)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "snapshot has no applied index".to_string())
    }
}

fn read_field(input: &mut impl Read, buffer: &mut Vec<u8>) -> Result<(), String> {
    let mut length = [0u8; 4];
    input
        .read_exact(&mut length)
        .map_err(|e| format!("snapshot record cut short: {e}"))?;
    let length = u32::from_le_bytes(length) as usize;
    // Grown as the bytes arrive: a damaged length costs what the input holds, not 4 GiB.
    buffer.clear();
    while buffer.len() < length {
        let start = buffer.len();
        buffer.resize(length.min(start + FIELD_CHUNK_BYTES), 0);
        input
            .read_exact(&mut buffer[start..])
            .map_err(|e| format!("snapshot record cut short: {e}"))?;
    }
    Ok(())
}

/// A record's key or value is read this much at a time.
const FIELD_CHUNK_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub enum DumpError<E> {
    Store(heed::Error),
    Sink(E),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_dumps_and_backups() {
        let store = crate::mvcc::scratch_store("dump-fuzz", 1 << 20);
        let mut txn = store.write_txn().unwrap();
        let mut writer = crate::mvcc::Writer::new(&store, &mut txn).unwrap();
        writer.put(b"key", b"value".to_vec(), 0).unwrap();
        writer.finish().unwrap();
        store.set_applied(&mut txn, 9, 2).unwrap();
        txn.commit().unwrap();
        let mut dump = Vec::new();
        let txn = store.read_txn().unwrap();
        store
            .dump(&txn, 64, |chunk| {
                dump.extend(chunk);
                Ok::<(), ()>(())
            })
            .unwrap();
        drop(txn);
        let mut backup = dump.clone();
        backup.resize(dump.len() + backup_padding(dump.len() as u64), 0);
        crate::fuzz::run("dumps", &[dump, backup], |bytes| {
            let _ = inspect_backup(bytes);
            if check_dump(bytes, 9).is_ok() {
                // A dump that passes the check loads.
                let mut txn = store.write_txn().unwrap();
                store.load(&mut txn, bytes).unwrap();
            }
        });
    }
}

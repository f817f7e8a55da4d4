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
    let mut table = [0u8; 1];
    loop {
        match input.read_exact(&mut table) {
            Ok(()) if table[0] == PADDING => return Ok(status),
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(status),
            Err(e) => return Err(e.to_string()),
        }
        read_field(&mut input, &mut key)?;
        read_field(&mut input, &mut value)?;
        match table[0] {
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

    fn put(&self, txn: &mut RwTxn, key: &[u8], value: &[u8]) -> Result<(), heed::Error> {
        match self {
            Table::Plain(table) => table.put(txn, key, value),
            Table::History(table) => table.put(txn, key, value),
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

    /// How many bytes `dump` writes from `txn`.
    pub fn dump_bytes(&self, txn: &RoTxn) -> Result<u64, heed::Error> {
        let mut total = 0u64;
        for number in TABLES {
            let table = self.table(number).expect("TABLES lists known tables");
            let counted = table.each(txn, |key, value| {
                total += 9 + key.len() as u64 + value.len() as u64;
                Ok::<(), std::convert::Infallible>(())
            });
            if let Err(DumpError::Store(e)) = counted {
                return Err(e);
            }
        }
        Ok(total)
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
        let mut header = [0u8; 5];
        let mut key = Vec::new();
        let mut value = Vec::new();
        loop {
            match input.read_exact(&mut header[..1]) {
                Ok(()) if header[0] == PADDING => break,
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(e.to_string()),
            }
            let table = self
                .table(header[0])
                .ok_or_else(|| format!("unknown table number {} in snapshot", header[0]))?;
            read_field(&mut input, &mut key)?;
            read_field(&mut input, &mut value)?;
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
    buffer.resize(length, 0);
    input
        .read_exact(buffer)
        .map_err(|e| format!("snapshot record cut short: {e}"))
}

#[derive(Debug)]
pub enum DumpError<E> {
    Store(heed::Error),
    Sink(E),
}

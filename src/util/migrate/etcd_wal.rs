//! etcd's write-ahead log, read (never written): the files `<seq>-<index>.wal` (16 hex digits
//! each) of member/wal, in sequence order, each a run of records:
//!
//! ```text
//! u64 LE   length word: the low 56 bits count the record's bytes; when the top bit is set,
//!          bits 56..59 count padding bytes after it (records end on 8-byte boundaries)
//! ...      walpb.Record{type, crc, data}, then the padding
//! ```
//!
//! `crc` is CRC-32C over the data of this and every earlier record, carried from file to file
//! by a CRC record (type 4) at the start of each. A length word of zero is the preallocated
//! end of a file. As etcd's decoder: a record cut short, or failing its CRC, where the rest of
//! its sector is zeros is a torn write and ends the log if it is in the last file; anywhere
//! else it is damage, refused with the file and offset.

use crate::pb::etcdserverpb::Metadata;
use crate::pb::walpb::{Record, Snapshot};
use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use std::path::{Path, PathBuf};

const METADATA: i64 = 1;
const ENTRY: i64 = 2;
const STATE: i64 = 3;
const CRC: i64 = 4;
const SNAPSHOT: i64 = 5;
/// etcd's maxWALEntrySizeLimit: a longer record is damage.
const MAX_RECORD_BYTES: u64 = 10 * 1024 * 1024;
/// etcd's torn-write detection works on sectors of this size.
const SECTOR_BYTES: u64 = 512;

/// What an etcd member's log holds, as etcd's `WAL.ReadAll` returns it.
#[derive(Debug, Default)]
pub struct EtcdLog {
    pub member_id: u64,
    pub cluster_id: u64,
    pub hard_state: HardState,
    /// The log after every overwrite (a later entry at an index replaces the ones from there).
    pub entries: Vec<Entry>,
    /// (index, term) of every raft snapshot the log records.
    pub snapshots: Vec<(u64, u64)>,
}

impl EtcdLog {
    /// The term of the entry at `index`, from the entries or a snapshot taken there.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        let first = self.entries.first().map_or(u64::MAX, |e| e.index);
        if index >= first {
            if let Some(entry) = self.entries.get((index - first) as usize) {
                return Some(entry.term);
            }
        }
        self.snapshots
            .iter()
            .find(|(at, _)| *at == index)
            .map(|(_, term)| *term)
    }
}

/// The `.wal` files of `dir` in sequence order, checked to be one unbroken sequence.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let listing = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for item in listing {
        let path = item.map_err(|e| format!("{}: {e}", dir.display()))?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(stem) = name.strip_suffix(".wal") else {
            continue;
        };
        let parsed = stem
            .split_once('-')
            .filter(|(seq, index)| seq.len() == 16 && index.len() == 16)
            .and_then(|(seq, index)| {
                Some((
                    u64::from_str_radix(seq, 16).ok()?,
                    u64::from_str_radix(index, 16).ok()?,
                ))
            });
        let Some((sequence, _)) = parsed else {
            return Err(format!(
                "{}: not an etcd WAL file name (<seq>-<index>.wal)",
                path.display()
            ));
        };
        files.push((sequence, path));
    }
    files.sort();
    for pair in files.windows(2) {
        if pair[1].0 != pair[0].0 + 1 {
            return Err(format!(
                "{}: WAL files {} and {} are not consecutive; a file is missing",
                dir.display(),
                pair[0].1.display(),
                pair[1].1.display()
            ));
        }
    }
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

/// Reads every record of the log in `dir`.
pub fn read(dir: &Path) -> Result<EtcdLog, String> {
    let files = files(dir)?;
    if files.is_empty() {
        return Err(format!("{}: no etcd WAL files (*.wal)", dir.display()));
    }
    let mut reader = LogReader::default();
    for (number, path) in files.iter().enumerate() {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let is_last = number + 1 == files.len();
        reader
            .file(&bytes, is_last)
            .map_err(|(offset, why)| format!("{} at offset {offset}: {why}", path.display()))?;
    }
    if reader.metadata.is_none() {
        return Err(format!(
            "{}: the log has no metadata record (member and cluster IDs)",
            dir.display()
        ));
    }
    Ok(reader.log)
}

#[derive(Default)]
struct LogReader {
    log: EtcdLog,
    metadata: Option<Vec<u8>>,
    crc: u32,
}

impl LogReader {
    /// One file's records; a torn tail ends a last file. Errors carry the offset.
    fn file(&mut self, bytes: &[u8], is_last: bool) -> Result<(), (u64, String)> {
        let mut offset = 0usize;
        while offset + 8 <= bytes.len() {
            let word = u64::from_le_bytes(bytes[offset..offset + 8].try_into().expect("8"));
            if word == 0 {
                return Ok(()); // preallocated space
            }
            let length = word & !(0xff << 56);
            let padding = if word >> 63 == 1 {
                (word >> 56) & 0x7
            } else {
                0
            };
            let at = offset as u64;
            if length + padding >= MAX_RECORD_BYTES {
                return Err((
                    at,
                    format!("a record of {length} bytes (etcd's limit is {MAX_RECORD_BYTES})"),
                ));
            }
            let start = offset + 8;
            let end = start + (length + padding) as usize;
            let Some(frame) = bytes.get(start..end) else {
                if is_last && torn(bytes, start, end) {
                    return Ok(());
                }
                return Err((at, "the file ends inside a record".to_string()));
            };
            let record = match <Record as prost::Message>::decode(&frame[..length as usize]) {
                Ok(record) => record,
                Err(_) if is_last && torn(bytes, start, end) => return Ok(()),
                Err(e) => return Err((at, format!("not a WAL record: {e}"))),
            };
            if record.r#type == CRC {
                if self.crc != 0 && record.crc != self.crc {
                    return Err((at, format!("CRC mismatch: the log's running CRC is {:08x}, the file carries {:08x}", self.crc, record.crc)));
                }
                self.crc = record.crc;
            } else {
                let crc = crc32c::crc32c_append(self.crc, &record.data);
                if crc != record.crc {
                    if is_last && torn(bytes, start, end) {
                        return Ok(());
                    }
                    return Err((
                        at,
                        format!(
                            "CRC mismatch (record {:08x}, computed {crc:08x})",
                            record.crc
                        ),
                    ));
                }
                self.crc = crc;
                self.record(&record).map_err(|why| (at, why))?;
            }
            offset = end;
        }
        Ok(())
    }

    fn record(&mut self, record: &Record) -> Result<(), String> {
        match record.r#type {
            ENTRY => {
                let entry = Entry::parse_from_bytes(&record.data)
                    .map_err(|e| format!("not a raft entry: {e}"))?;
                self.entry(entry)
            }
            STATE => {
                self.log.hard_state = HardState::parse_from_bytes(&record.data)
                    .map_err(|e| format!("not a raft hard state: {e}"))?;
                Ok(())
            }
            METADATA => {
                if let Some(earlier) = &self.metadata {
                    if *earlier != record.data {
                        return Err("metadata differs from the log's earlier metadata".into());
                    }
                    return Ok(());
                }
                let metadata = <Metadata as prost::Message>::decode(record.data.as_slice())
                    .map_err(|e| format!("not etcd's metadata: {e}"))?;
                self.log.member_id = metadata.node_id;
                self.log.cluster_id = metadata.cluster_id;
                self.metadata = Some(record.data.clone());
                Ok(())
            }
            SNAPSHOT => {
                let snapshot = <Snapshot as prost::Message>::decode(record.data.as_slice())
                    .map_err(|e| format!("not a snapshot record: {e}"))?;
                self.log.snapshots.push((snapshot.index, snapshot.term));
                Ok(())
            }
            other => Err(format!("unexpected record type {other}")),
        }
    }

    /// As etcd's ReadAll: an entry at an index already held replaces it and everything after.
    fn entry(&mut self, entry: Entry) -> Result<(), String> {
        let entries = &mut self.log.entries;
        if let Some(first) = entries.first().map(|e| e.index) {
            if entry.index < first {
                // Before the entries kept so far: an older file's part of the log, overwritten.
                entries.clear();
            } else {
                let keep = (entry.index - first) as usize;
                if keep > entries.len() {
                    return Err(format!(
                        "entry {} follows entry {}: the log has a gap",
                        entry.index,
                        first + entries.len() as u64 - 1
                    ));
                }
                entries.truncate(keep);
            }
        }
        entries.push(entry);
        Ok(())
    }
}

/// etcd's isTornEntry: some 512-byte sector of the record's bytes (as far as the file goes)
/// is all zeros, i.e. the write never reached it.
fn torn(bytes: &[u8], start: usize, end: usize) -> bool {
    let end = end.min(bytes.len());
    if start >= end {
        return true;
    }
    let mut at = start;
    while at < end {
        let sector_end = ((at as u64 / SECTOR_BYTES + 1) * SECTOR_BYTES) as usize;
        let chunk = &bytes[at..sector_end.min(end)];
        if chunk.iter().all(|b| *b == 0) {
            return true;
        }
        at = sector_end;
    }
    false
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A WAL file as etcd writes one: the CRC record, metadata, a snapshot record, then
    /// `records` ((type, data)); padded records; `crc` is the running CRC carried in.
    pub fn etcd_file(crc: &mut u32, metadata: &Metadata, records: &[(i64, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        let write = |record: Record, out: &mut Vec<u8>| {
            let bytes = prost::Message::encode_to_vec(&record);
            let padding = (8 - bytes.len() % 8) % 8;
            let mut word = bytes.len() as u64;
            if padding > 0 {
                word |= (0x80 | padding as u64) << 56;
            }
            out.extend_from_slice(&word.to_le_bytes());
            out.extend_from_slice(&bytes);
            out.extend(std::iter::repeat_n(0u8, padding));
        };
        write(
            Record {
                r#type: CRC,
                crc: *crc,
                data: Vec::new(),
            },
            &mut out,
        );
        let metadata = prost::Message::encode_to_vec(metadata);
        let all = std::iter::once((METADATA, metadata)).chain(records.iter().cloned());
        for (kind, data) in all {
            *crc = crc32c::crc32c_append(*crc, &data);
            write(
                Record {
                    r#type: kind,
                    crc: *crc,
                    data,
                },
                &mut out,
            );
        }
        out.extend(std::iter::repeat_n(0u8, 4096)); // preallocated
        out
    }

    pub fn entry_record(index: u64, term: u64, data: &[u8]) -> (i64, Vec<u8>) {
        let entry = Entry {
            index,
            term,
            data: data.to_vec().into(),
            ..Entry::default()
        };
        (ENTRY, entry.write_to_bytes().unwrap())
    }

    pub fn state_record(term: u64, commit: u64) -> (i64, Vec<u8>) {
        let state = HardState {
            term,
            commit,
            ..Default::default()
        };
        (STATE, state.write_to_bytes().unwrap())
    }

    fn snapshot_record(index: u64, term: u64) -> (i64, Vec<u8>) {
        (
            SNAPSHOT,
            prost::Message::encode_to_vec(&Snapshot { index, term }),
        )
    }

    const METADATA_IDS: Metadata = Metadata {
        node_id: 0x8e9e05c52164694d,
        cluster_id: 0xcdf818194e3a8c32,
    };

    fn write_log(dir: &Path, files: &[Vec<(i64, Vec<u8>)>]) {
        std::fs::create_dir_all(dir).unwrap();
        let mut crc = 0;
        for (i, records) in files.iter().enumerate() {
            let bytes = etcd_file(&mut crc, &METADATA_IDS, records);
            std::fs::write(dir.join(format!("{i:016x}-{:016x}.wal", i * 10)), bytes).unwrap();
        }
    }

    #[test]
    fn a_log_over_two_files_reads_as_etcd_reads_it() {
        let dir = std::env::temp_dir().join(format!("etcd-wal-read-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        write_log(
            &dir,
            &[
                vec![
                    snapshot_record(0, 0),
                    entry_record(1, 1, b"a"),
                    entry_record(2, 1, b"b"),
                    entry_record(3, 1, b"lost"),
                    state_record(1, 2),
                ],
                vec![
                    snapshot_record(2, 1),
                    // A new leader overwrote entry 3.
                    entry_record(3, 2, b"c"),
                    entry_record(4, 2, b"d"),
                    state_record(2, 4),
                ],
            ],
        );
        let log = read(&dir).unwrap();
        assert_eq!(
            (log.member_id, log.cluster_id),
            (0x8e9e05c52164694d, 0xcdf818194e3a8c32)
        );
        let got: Vec<(u64, u64, &[u8])> = log
            .entries
            .iter()
            .map(|e| (e.index, e.term, e.data.as_ref()))
            .collect();
        assert_eq!(
            got,
            vec![(1, 1, &b"a"[..]), (2, 1, b"b"), (3, 2, b"c"), (4, 2, b"d")]
        );
        assert_eq!((log.hard_state.term, log.hard_state.commit), (2, 4));
        assert_eq!(log.term_at(3), Some(2));
        assert_eq!(log.term_at(0), Some(0));
        assert_eq!(log.term_at(9), None);

        // A torn last record (its sector never written) ends the log ...
        let last = dir.join(format!("{:016x}-{:016x}.wal", 1, 10));
        let mut bytes = std::fs::read(&last).unwrap();
        let good = bytes.len() - 4096;
        bytes.truncate(good);
        bytes.extend_from_slice(&(600u64).to_le_bytes());
        bytes.extend(std::iter::repeat_n(0u8, 1024));
        std::fs::write(&last, &bytes).unwrap();
        assert_eq!(read(&dir).unwrap().entries.len(), 4);
        // ... while a damaged record is refused with its place.
        let mut bytes = std::fs::read(&last).unwrap();
        bytes[good - 3] ^= 0xff;
        std::fs::write(&last, &bytes).unwrap();
        let error = read(&dir).unwrap_err();
        assert!(
            error.contains("0000000000000001-000000000000000a.wal at offset"),
            "{error}"
        );
        // A missing file is named.
        std::fs::remove_file(dir.join(format!("{:016x}-{:016x}.wal", 0, 0))).unwrap();
        std::fs::write(dir.join(format!("{:016x}-{:016x}.wal", 3, 30)), b"").unwrap();
        assert!(read(&dir).unwrap_err().contains("not consecutive"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fuzzed_logs_are_refused_or_read_never_panic() {
        let mut crc = 0;
        let seed = etcd_file(
            &mut crc,
            &METADATA_IDS,
            &[entry_record(1, 1, b"x"), state_record(1, 1)],
        );
        crate::fuzz::run("etcd wal", &[seed], |bytes| {
            let mut reader = LogReader::default();
            let _ = reader.file(bytes, true);
        });
    }
}

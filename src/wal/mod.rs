//! The write-ahead log: raft entries and hard states, durable before anything is applied or acked.
//!
//! On disk: `<dir>/<sequence as 16 hex digits>.wal` segments, each a run of records:
//!
//! ```text
//! offset 0  u32 LE  payload length
//!        4  u32 LE  CRC32C of the 4 length bytes (so a damaged length is told from a short file)
//!        8  u32 LE  CRC32C of the type byte followed by the payload
//!       12  u8      record type (1 = raft entry, 2 = raft hard state)
//!       13  ...     payload (protobuf of raft's Entry or HardState)
//! ```
//!
//! Invariants: `append` returns only after fdatasync; on open, a record cut short at the end of the
//! last segment (a torn write) is truncated away, while any damaged record that has data after it
//! is refused with the file name and offset, because skipping it would lose acknowledged writes.

use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

const HEADER_BYTES: usize = 13;
const RECORD_ENTRY: u8 = 1;
const RECORD_HARD_STATE: u8 = 2;
/// A segment is closed and a new one started once it grows past this.
const SEGMENT_SIZE_BYTES: u64 = 64 * 1024 * 1024;
/// No single record may claim to be larger than this; a bigger length is damage, not data.
const MAX_RECORD_BYTES: usize = 256 * 1024 * 1024;

#[derive(Debug)]
pub enum WalError {
    Io(PathBuf, io::Error),
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
}

impl std::fmt::Display for WalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WalError::Io(path, e) => write!(f, "wal: {}: {e}", path.display()),
            WalError::Corrupt {
                file,
                offset,
                reason,
            } => {
                write!(
                    f,
                    "wal: corrupt record in {} at offset {offset}: {reason}; refusing to start",
                    file.display()
                )
            }
        }
    }
}

/// What the log held when it was opened.
#[derive(Default)]
pub struct Replayed {
    /// Contiguous entries; a later record for an index overwrites the earlier tail (raft may
    /// replace uncommitted entries after a leader change).
    pub entries: Vec<Entry>,
    pub hard_state: Option<HardState>,
}

pub struct Wal {
    dir: PathBuf,
    file: File,
    sequence: u64,
    segment_bytes: u64,
    /// Reused encoding buffer so a batch is one write call.
    buffer: Vec<u8>,
}

fn segment_path(dir: &Path, sequence: u64) -> PathBuf {
    dir.join(format!("{sequence:016x}.wal"))
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> WalError + '_ {
    move |e| WalError::Io(path.to_path_buf(), e)
}

fn list_segments(dir: &Path) -> Result<Vec<u64>, WalError> {
    let mut sequences = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let name = entry.map_err(io_error(dir))?.file_name();
        let name = name.to_string_lossy();
        if let Some(hex) = name.strip_suffix(".wal") {
            match u64::from_str_radix(hex, 16) {
                Ok(sequence) => sequences.push(sequence),
                Err(_) => log::warn!("wal: ignoring unexpected file {name} in {}", dir.display()),
            }
        }
    }
    sequences.sort_unstable();
    Ok(sequences)
}

impl Wal {
    /// True when `dir` already holds a log, i.e. this member has been started before.
    pub fn exists(dir: &Path) -> bool {
        list_segments(dir).map(|s| !s.is_empty()).unwrap_or(false)
    }

    /// Opens (creating if needed) the log in `dir` and returns everything it holds.
    pub fn open(dir: &Path) -> Result<(Wal, Replayed), WalError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let sequences = list_segments(dir)?;
        let mut replayed = Replayed::default();
        for (position, sequence) in sequences.iter().enumerate() {
            let is_last = position + 1 == sequences.len();
            read_segment(&segment_path(dir, *sequence), is_last, &mut replayed)?;
        }
        let sequence = sequences.last().copied().unwrap_or(0);
        let path = segment_path(dir, sequence);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        let segment_bytes = file.metadata().map_err(io_error(&path))?.len();
        if sequences.is_empty() {
            sync_dir(dir)?;
        }
        let wal = Wal {
            dir: dir.to_path_buf(),
            file,
            sequence,
            segment_bytes,
            buffer: Vec::new(),
        };
        Ok((wal, replayed))
    }

    /// Appends entries and, if given, the hard state; returns once they are on disk.
    pub fn append(
        &mut self,
        entries: &[Entry],
        hard_state: Option<&HardState>,
    ) -> Result<(), WalError> {
        if entries.is_empty() && hard_state.is_none() {
            return Ok(());
        }
        self.buffer.clear();
        for entry in entries {
            let payload = entry.write_to_bytes().expect("raft entry encodes");
            encode_record(&mut self.buffer, RECORD_ENTRY, &payload);
        }
        if let Some(hard_state) = hard_state {
            let payload = hard_state
                .write_to_bytes()
                .expect("raft hard state encodes");
            encode_record(&mut self.buffer, RECORD_HARD_STATE, &payload);
        }
        let path = segment_path(&self.dir, self.sequence);
        self.file.write_all(&self.buffer).map_err(io_error(&path))?;
        self.file.sync_data().map_err(io_error(&path))?;
        self.segment_bytes += self.buffer.len() as u64;
        if self.segment_bytes >= SEGMENT_SIZE_BYTES {
            self.start_segment()?;
        }
        Ok(())
    }

    fn start_segment(&mut self) -> Result<(), WalError> {
        let path = segment_path(&self.dir, self.sequence + 1);
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        sync_dir(&self.dir)?;
        self.sequence += 1;
        self.segment_bytes = 0;
        Ok(())
    }
}

fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

fn encode_record(buffer: &mut Vec<u8>, record_type: u8, payload: &[u8]) {
    let length = (payload.len() as u32).to_le_bytes();
    let mut payload_crc = crc32c::crc32c(&[record_type]);
    payload_crc = crc32c::crc32c_append(payload_crc, payload);
    buffer.extend_from_slice(&length);
    buffer.extend_from_slice(&crc32c::crc32c(&length).to_le_bytes());
    buffer.extend_from_slice(&payload_crc.to_le_bytes());
    buffer.push(record_type);
    buffer.extend_from_slice(payload);
}

/// Why a record could not be read.
enum Damage {
    /// The file ends inside the record: the write was cut short.
    Short,
    /// The bytes are there but wrong.
    Bad(String),
}

fn decode_record(bytes: &[u8]) -> Result<(u8, &[u8], usize), Damage> {
    if bytes.len() < HEADER_BYTES {
        return Err(Damage::Short);
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[0..4]) != word(4) {
        return Err(Damage::Bad("record length checksum mismatch".to_string()));
    }
    let length = word(0) as usize;
    if length > MAX_RECORD_BYTES {
        return Err(Damage::Bad(format!(
            "record length {length} is larger than any record"
        )));
    }
    let end = HEADER_BYTES + length;
    if bytes.len() < end {
        return Err(Damage::Short);
    }
    let record_type = bytes[12];
    let payload = &bytes[HEADER_BYTES..end];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[record_type]), payload);
    if crc != word(8) {
        return Err(Damage::Bad("record checksum mismatch".to_string()));
    }
    Ok((record_type, payload, end))
}

fn read_segment(path: &Path, is_last: bool, replayed: &mut Replayed) -> Result<(), WalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_error(path))?;
    let mut offset = 0usize;
    while offset < bytes.len() {
        let corrupt = |reason: String| WalError::Corrupt {
            file: path.to_path_buf(),
            offset: offset as u64,
            reason,
        };
        match decode_record(&bytes[offset..]) {
            Ok((record_type, payload, length)) => {
                apply_record(record_type, payload, replayed).map_err(corrupt)?;
                offset += length;
            }
            // Only the very end of the newest segment can hold a torn write: everything after
            // the damage is zero or missing. Anything else is corruption of acknowledged data.
            Err(damage) if is_last && is_torn_tail(&damage, &bytes[offset..]) => {
                log::warn!(
                    "wal: truncating torn record at the end of {} (offset {offset})",
                    path.display()
                );
                let file = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .map_err(io_error(path))?;
                file.set_len(offset as u64)
                    .and_then(|_| file.sync_all())
                    .map_err(io_error(path))?;
                break;
            }
            Err(Damage::Short) => return Err(corrupt("record cut short".to_string())),
            Err(Damage::Bad(reason)) => return Err(corrupt(reason)),
        }
    }
    Ok(())
}

fn is_torn_tail(damage: &Damage, rest: &[u8]) -> bool {
    match damage {
        Damage::Short => true,
        // A preallocated or partly flushed tail reads as zeros after the last good record.
        Damage::Bad(_) => rest.iter().all(|b| *b == 0),
    }
}

fn apply_record(record_type: u8, payload: &[u8], replayed: &mut Replayed) -> Result<(), String> {
    match record_type {
        RECORD_ENTRY => {
            let entry =
                Entry::parse_from_bytes(payload).map_err(|e| format!("bad raft entry: {e}"))?;
            let entries = &mut replayed.entries;
            if let Some(first) = entries.first() {
                if entry.index < first.index {
                    return Err(format!(
                        "entry index {} precedes the log start {}",
                        entry.index, first.index
                    ));
                }
                let keep = (entry.index - first.index) as usize;
                entries.truncate(keep);
            }
            if let Some(last) = entries.last() {
                if entry.index != last.index + 1 {
                    return Err(format!(
                        "entry index {} does not follow {}",
                        entry.index, last.index
                    ));
                }
            }
            entries.push(entry);
        }
        RECORD_HARD_STATE => {
            let state =
                HardState::parse_from_bytes(payload).map_err(|e| format!("bad hard state: {e}"))?;
            replayed.hard_state = Some(state);
        }
        other => return Err(format!("unknown record type {other}")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64, data: &[u8]) -> Entry {
        Entry {
            index,
            term,
            data: data.to_vec().into(),
            ..Default::default()
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wal-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn write_three(dir: &Path) {
        let (mut wal, _) = Wal::open(dir).unwrap();
        for index in 1..=3 {
            wal.append(&[entry(index, 1, b"payload")], None).unwrap();
        }
    }

    #[test]
    fn replays_entries_and_overwrites_a_replaced_tail() {
        let dir = temp_dir("replay");
        let (mut wal, _) = Wal::open(&dir).unwrap();
        wal.append(
            &[entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 1, b"c")],
            None,
        )
        .unwrap();
        let state = HardState {
            term: 2,
            commit: 1,
            ..Default::default()
        };
        wal.append(&[entry(2, 2, b"x")], Some(&state)).unwrap();
        drop(wal);
        let (_, replayed) = Wal::open(&dir).unwrap();
        let got: Vec<(u64, u64)> = replayed.entries.iter().map(|e| (e.index, e.term)).collect();
        assert_eq!(got, vec![(1, 1), (2, 2)]);
        assert_eq!(replayed.hard_state.unwrap().term, 2);
    }

    #[test]
    fn torn_wal_tail_is_truncated() {
        let dir = temp_dir("torn");
        write_three(&dir);
        let path = segment_path(&dir, 0);
        let length = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(length - 3)
            .unwrap();
        let (mut wal, replayed) = Wal::open(&dir).unwrap();
        assert_eq!(replayed.entries.len(), 2);
        wal.append(&[entry(3, 1, b"again")], None).unwrap();
        drop(wal);
        let (_, replayed) = Wal::open(&dir).unwrap();
        assert_eq!(replayed.entries.last().unwrap().data.as_ref(), b"again");
    }

    #[test]
    fn corrupt_record_in_the_middle_is_refused() {
        let dir = temp_dir("corrupt");
        write_three(&dir);
        let path = segment_path(&dir, 0);
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[HEADER_BYTES + 2] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        match Wal::open(&dir) {
            Err(WalError::Corrupt { offset, .. }) => assert_eq!(offset, 0),
            Err(other) => panic!("unexpected error {other}"),
            Ok(_) => panic!("a corrupt record must be refused"),
        }
    }
}

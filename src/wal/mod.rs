//! The write-ahead log: raft entries and hard states, durable before anything is applied or acked.
//!
//! On disk: `<dir>/<sequence as 16 hex digits>.wal` segments, each a run of records:
//!
//! ```text
//! offset 0  u32 LE  payload length
//!        4  u32 LE  CRC32C of the 4 length bytes (so a damaged length is told from a short file)
//!        8  u32 LE  CRC32C of the type byte followed by the payload
//!       12  u8      record type (1 = raft entry, 2 = raft hard state, 3 = snapshot marker)
//!       13  ...     payload (protobuf of raft's Entry or HardState; a snapshot marker is the
//!                   installed snapshot's index and term, u64 LE each)
//! ```
//!
//! Invariants: `append` returns only after fdatasync (but for a hard state that only moves the
//! commit index, which rides along with the next sync, as in etcd); on open, a record cut short
//! at the end of the last segment (a torn write) is truncated away, while any damaged record
//! that has data after it is refused with the file name and offset, because skipping it would
//! lose acknowledged writes.

mod file;
#[cfg(test)]
mod power_loss;

pub use file::SegmentFile;
use protobuf::Message as _;
use raft::eraftpb::{Entry, HardState};
use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::{Path, PathBuf};

const HEADER_BYTES: usize = 13;
/// The length and its checksum, the start of the header.
const LENGTH_BYTES: usize = 8;
const RECORD_ENTRY: u8 = 1;
const RECORD_HARD_STATE: u8 = 2;
const RECORD_SNAPSHOT: u8 = 3;
/// A segment is closed and a new one started once it grows past this.
const SEGMENT_SIZE_BYTES: u64 = 64 * 1024 * 1024;
/// Segments grow by writing zeros ahead of the records, this much at a time, so that appending
/// a record does not change the file's size: fdatasync then flushes only the WAL's own blocks
/// instead of forcing a file-system journal commit (which also waits for the store's writes).
/// The growth is written and synced in the append that needs it, so it is kept small: 8 MiB
/// stalled that append (and every request behind it) 16 ms on an idle disk; with 1 MiB, put-100
/// on 3 members over 60k puts had its p99 at 25-29 ms instead of 32-36 ms.
const PREALLOCATE_BYTES: u64 = 1024 * 1024;
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
    /// Entries handed to `append` that would leave a gap in the log (a bug, never written).
    Gap {
        after: u64,
        first: u64,
    },
}

impl WalError {
    /// The write failed for lack of disk space: worth retrying once space is freed.
    pub fn is_no_space(&self) -> bool {
        matches!(self, WalError::Io(_, e) if crate::disk::is_no_space(e))
    }
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
            WalError::Gap { after, first } => write!(
                f,
                "wal: refusing to append entries from index {first} to a log that ends at {after}"
            ),
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
    /// The last snapshot marker: (index, term) of the snapshot the store was replaced with.
    pub snapshot: Option<(u64, u64)>,
}

/// A closed or open segment and the highest entry index written to it (0 for none).
struct Segment {
    sequence: u64,
    max_index: u64,
}

/// The log, writing its segments through `F` (a real file outside tests).
pub struct Wal<F: SegmentFile = File> {
    dir: PathBuf,
    file: F,
    /// Bytes of the current segment file, records plus the zeroed room ahead of them.
    allocated: u64,
    /// Every segment on disk, oldest first; the last is the one being written.
    segments: Vec<Segment>,
    segment_bytes: u64,
    /// The newest hard state written, rewritten at the head of each new segment.
    hard_state: Option<HardState>,
    /// The current segment still needs that hard state at its head (written with the next
    /// records, so a failed write is simply written again).
    head_pending: bool,
    /// The index of the last entry in the log (or of the snapshot it starts after).
    last_index: u64,
    /// Reused encoding buffer so a batch is one write call.
    buffer: Vec<u8>,
    /// Records were written to the current segment since its last sync.
    unsynced: bool,
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
        Wal::open_with(dir)
    }
}

impl<F: SegmentFile> Wal<F> {
    /// `open`, writing through segment files of type `F`.
    pub fn open_with(dir: &Path) -> Result<(Wal<F>, Replayed), WalError> {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        let sequences = list_segments(dir)?;
        let mut replayed = Replayed::default();
        let mut segments = Vec::new();
        let mut last_data_end = 0;
        for (position, sequence) in sequences.iter().enumerate() {
            let is_last = position + 1 == sequences.len();
            let (max_index, data_end) =
                read_segment(&segment_path(dir, *sequence), is_last, &mut replayed)?;
            last_data_end = data_end;
            segments.push(Segment {
                sequence: *sequence,
                max_index,
            });
        }
        if segments.is_empty() {
            segments.push(Segment {
                sequence: 0,
                max_index: 0,
            });
        }
        let sequence = segments.last().expect("at least one segment").sequence;
        let path = segment_path(dir, sequence);
        let file = F::open(&path).map_err(io_error(&path))?;
        let allocated = file.size().map_err(io_error(&path))?;
        if sequences.is_empty() {
            sync_dir(dir)?;
        }
        let wal = Wal {
            dir: dir.to_path_buf(),
            file,
            allocated,
            segments,
            segment_bytes: last_data_end,
            hard_state: replayed.hard_state.clone(),
            head_pending: false,
            last_index: replayed
                .entries
                .last()
                .map(|e| e.index)
                .or(replayed.snapshot.map(|(index, _)| index))
                .unwrap_or(0),
            buffer: Vec::new(),
            unsynced: false,
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
        // Raft may replace a tail of the log, never skip past its end or leave holes.
        let contiguous = entries.windows(2).all(|w| w[1].index == w[0].index + 1);
        if let Some(first) = entries.first() {
            if !contiguous || (self.last_index > 0 && first.index > self.last_index + 1) {
                return Err(WalError::Gap {
                    after: self.last_index,
                    first: first.index,
                });
            }
        }
        // As etcd's raft.MustSync: new entries, a new term or a new vote must be on disk before
        // anything that depends on them goes out. A hard state that only moves the commit index
        // is written and reaches the disk with the next sync: a member that lost it recovers
        // its commit index from the store's applied index and from the leader.
        let must_sync = !entries.is_empty()
            || self.head_pending
            || hard_state.is_some_and(|new| {
                self.hard_state
                    .as_ref()
                    .is_none_or(|last| last.term != new.term || last.vote != new.vote)
            });
        self.buffer.clear();
        for entry in entries {
            let payload = entry.write_to_bytes().expect("raft entry encodes");
            encode_record(&mut self.buffer, RECORD_ENTRY, &payload);
        }
        if let Some(hard_state) = hard_state {
            self.encode_hard_state(hard_state);
        }
        if let Some(last) = entries.last() {
            let segment = self.segments.last_mut().expect("at least one segment");
            segment.max_index = segment.max_index.max(last.index);
        }
        self.write_buffer(must_sync)?;
        // Only now: an append tried again after a failed write must still see the hard state
        // as new (and sync it).
        if let Some(hard_state) = hard_state {
            self.hard_state = Some(hard_state.clone());
        }
        if let Some(last) = entries.last() {
            self.last_index = last.index;
        }
        if self.segment_bytes >= SEGMENT_SIZE_BYTES {
            self.start_segment()?;
        }
        Ok(())
    }

    /// Drops segments whose entries are all at or below `applied`, which the caller has flushed
    /// to the store. The segment being written is closed first so it can go too.
    pub fn compact(&mut self, applied: u64) -> Result<(), WalError> {
        self.start_segment()?;
        let removable = self.segments[..self.segments.len() - 1]
            .iter()
            .take_while(|segment| segment.max_index <= applied)
            .count();
        self.remove_oldest(removable)
    }

    /// Records that the store now holds a leader's snapshot at (index, term): every earlier
    /// entry is void, and so are the segments holding them.
    pub fn install_snapshot(
        &mut self,
        index: u64,
        term: u64,
        hard_state: &HardState,
    ) -> Result<(), WalError> {
        self.start_segment()?;
        self.buffer.clear();
        let mut marker = index.to_le_bytes().to_vec();
        marker.extend_from_slice(&term.to_le_bytes());
        encode_record(&mut self.buffer, RECORD_SNAPSHOT, &marker);
        self.encode_hard_state(hard_state);
        self.write_buffer(true)?;
        self.hard_state = Some(hard_state.clone());
        self.last_index = index;
        self.remove_oldest(self.segments.len() - 1)
    }

    /// The number of segment files on disk.
    #[cfg(test)]
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn encode_hard_state(&mut self, hard_state: &HardState) {
        let payload = hard_state
            .write_to_bytes()
            .expect("raft hard state encodes");
        encode_record(&mut self.buffer, RECORD_HARD_STATE, &payload);
    }

    /// Writes `buffer` after the segment's records and, with `sync`, syncs it (and everything
    /// written before). Safe to call again after an error: nothing counts as written until the
    /// write (and the sync) succeeded.
    fn write_buffer(&mut self, sync: bool) -> Result<(), WalError> {
        let sequence = self.segments.last().expect("at least one segment").sequence;
        let path = segment_path(&self.dir, sequence);
        let mut records = Vec::new();
        if self.head_pending {
            if let Some(hard_state) = &self.hard_state {
                let payload = hard_state
                    .write_to_bytes()
                    .expect("raft hard state encodes");
                encode_record(&mut records, RECORD_HARD_STATE, &payload);
            }
        }
        let records = if records.is_empty() {
            &self.buffer
        } else {
            records.extend_from_slice(&self.buffer);
            &records
        };
        let end = self.segment_bytes + records.len() as u64;
        if end > self.allocated {
            // Room is made (and made durable) on its own, so that running out of space shows
            // here, before any record is written, and never in the record's own sync.
            let grow = (end - self.allocated).next_multiple_of(PREALLOCATE_BYTES);
            let zeros = vec![0u8; grow as usize];
            self.file
                .write_all_at(&zeros, self.allocated)
                .and_then(|()| self.file.sync_data())
                .map_err(io_error(&path))?;
            self.allocated += grow;
        }
        self.file
            .write_all_at(records, self.segment_bytes)
            .map_err(io_error(&path))?;
        self.unsynced = true;
        if sync {
            self.sync(&path)?;
        }
        self.segment_bytes = end;
        self.head_pending = false;
        Ok(())
    }

    fn sync(&mut self, path: &Path) -> Result<(), WalError> {
        let started = std::time::Instant::now();
        self.file.sync_data().map_err(io_error(path))?;
        crate::metrics::WAL_FSYNC.observe(started.elapsed());
        self.unsynced = false;
        Ok(())
    }

    /// Closes the current segment and starts the next, which begins with the newest hard state.
    fn start_segment(&mut self) -> Result<(), WalError> {
        // What the closed segment holds unsynced (a commit-only hard state) goes to disk first:
        // once later segments exist, a torn record in it would read as damage, not as a tear.
        if self.unsynced {
            let sequence = self.segments.last().expect("at least one segment").sequence;
            self.sync(&segment_path(&self.dir, sequence))?;
        }
        // The closed segment gives back its unused room (if this is lost in a crash, its zero
        // tail reads as the end of its records).
        if self.file.set_len(self.segment_bytes).is_ok() {
            self.allocated = self.segment_bytes;
        }
        let sequence = self.segments.last().expect("at least one segment").sequence + 1;
        let path = segment_path(&self.dir, sequence);
        self.file = F::open(&path).map_err(io_error(&path))?;
        self.allocated = 0;
        sync_dir(&self.dir)?;
        self.segments.push(Segment {
            sequence,
            max_index: 0,
        });
        self.segment_bytes = 0;
        self.head_pending = true;
        self.buffer.clear();
        self.write_buffer(true)
    }

    fn remove_oldest(&mut self, count: usize) -> Result<(), WalError> {
        for segment in self.segments.drain(..count) {
            let path = segment_path(&self.dir, segment.sequence);
            std::fs::remove_file(&path).map_err(io_error(&path))?;
        }
        sync_dir(&self.dir)
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
    /// The bytes are there but wrong; the record claims to end at `end` (0 when its length
    /// itself is damaged).
    Bad { reason: String, end: usize },
}

fn decode_record(bytes: &[u8]) -> Result<(u8, &[u8], usize), Damage> {
    if bytes.len() < HEADER_BYTES {
        return Err(Damage::Short);
    }
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    if crc32c::crc32c(&bytes[0..4]) != word(4) {
        return Err(Damage::Bad {
            reason: "record length checksum mismatch".to_string(),
            end: 0,
        });
    }
    let length = word(0) as usize;
    if length > MAX_RECORD_BYTES {
        return Err(Damage::Bad {
            reason: format!("record length {length} is larger than any record"),
            end: 0,
        });
    }
    let end = HEADER_BYTES + length;
    if bytes.len() < end {
        return Err(Damage::Short);
    }
    let record_type = bytes[12];
    let payload = &bytes[HEADER_BYTES..end];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&[record_type]), payload);
    if crc != word(8) {
        return Err(Damage::Bad {
            reason: "record checksum mismatch".to_string(),
            end,
        });
    }
    Ok((record_type, payload, end))
}

/// Reads one segment into `replayed`; returns the highest entry index it holds and where its
/// records end (zeros after that are room made ahead of time).
fn read_segment(
    path: &Path,
    is_last: bool,
    replayed: &mut Replayed,
) -> Result<(u64, u64), WalError> {
    let mut bytes = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(io_error(path))?;
    let mut offset = 0usize;
    let mut max_index = 0;
    while offset < bytes.len() {
        let corrupt = |reason: String| WalError::Corrupt {
            file: path.to_path_buf(),
            offset: offset as u64,
            reason,
        };
        match decode_record(&bytes[offset..]) {
            Ok((record_type, payload, length)) => {
                apply_record(record_type, payload, replayed).map_err(corrupt)?;
                if record_type == RECORD_ENTRY {
                    let last = replayed.entries.last().map_or(0, |e| e.index);
                    max_index = max_index.max(last);
                }
                offset += length;
            }
            // Zeros where a record would start: the preallocated room after the last record.
            Err(_) if bytes[offset..].iter().all(|b| *b == 0) => break,
            // Only the very end of the newest segment can hold a torn write: nothing but zeros
            // after the damaged record. Anything else is corruption of acknowledged data.
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
            Err(Damage::Bad { reason, .. }) => return Err(corrupt(reason)),
        }
    }
    Ok((max_index, offset as u64))
}

fn is_torn_tail(damage: &Damage, rest: &[u8]) -> bool {
    let zeros = |from: usize| {
        rest.get(from..)
            .is_none_or(|after| after.iter().all(|b| *b == 0))
    };
    match damage {
        Damage::Short => true,
        // The length or its checksum cut short: nothing after them reached the disk. A whole
        // record is never zero from there on: its type byte (offset 12) is 1, 2 or 3.
        Damage::Bad { end: 0, .. } => zeros(LENGTH_BYTES),
        // A record written partly before a crash, then zeros (preallocated or never flushed).
        Damage::Bad { end, .. } => zeros(*end),
    }
}

fn apply_record(record_type: u8, payload: &[u8], replayed: &mut Replayed) -> Result<(), String> {
    match record_type {
        RECORD_ENTRY => {
            let entry =
                Entry::parse_from_bytes(payload).map_err(|e| format!("bad raft entry: {e}"))?;
            if let Some((snapshot_index, _)) = replayed.snapshot {
                if entry.index <= snapshot_index {
                    return Err(format!(
                        "entry index {} is inside the snapshot at {snapshot_index}",
                        entry.index
                    ));
                }
            }
            let entries = &mut replayed.entries;
            if let Some(first) = entries.first() {
                // A new leader's entry replacing a tail that began in a segment compaction has
                // since removed (its entries were applied, the replacement among them):
                // everything read so far was replaced.
                let keep = entry.index.saturating_sub(first.index) as usize;
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
        RECORD_SNAPSHOT => {
            if payload.len() != 16 {
                return Err(format!("snapshot marker of {} bytes", payload.len()));
            }
            let word = |at: usize| u64::from_le_bytes(payload[at..at + 8].try_into().expect("8"));
            replayed.snapshot = Some((word(0), word(8)));
            replayed.entries.clear();
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
    fn a_tail_replaced_across_a_compacted_segment_boundary_replays() {
        let dir = temp_dir("replaced-across");
        let (mut wal, _) = Wal::open(&dir).unwrap();
        let terms = |wal_entries: &[Entry]| -> Vec<(u64, u64)> {
            wal_entries.iter().map(|e| (e.index, e.term)).collect()
        };
        wal.append(
            &[entry(1, 1, b"a"), entry(2, 1, b"b"), entry(3, 1, b"c")],
            None,
        )
        .unwrap();
        // Nothing applied yet: the compaction only closes the segment.
        wal.compact(0).unwrap();
        wal.append(&[entry(4, 1, b"d")], None).unwrap();
        // A new leader replaces 3 and 4; the second segment now holds 4, 3, 4.
        wal.append(&[entry(3, 2, b"x"), entry(4, 2, b"y")], None)
            .unwrap();
        // Applied through 3: the first segment (1..=3) goes.
        wal.compact(3).unwrap();
        drop(wal);
        let (_, replayed) = Wal::open(&dir).unwrap();
        assert_eq!(terms(&replayed.entries), [(3, 2), (4, 2)]);
    }

    #[test]
    fn torn_wal_tail_is_truncated() {
        let dir = temp_dir("torn");
        write_three(&dir);
        let path = segment_path(&dir, 0);
        // The last record's final bytes never reached the disk: zeros, as preallocated.
        let mut bytes = std::fs::read(&path).unwrap();
        let data_end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
        bytes[data_end - 3..data_end].fill(0);
        std::fs::write(&path, &bytes).unwrap();
        let (mut wal, replayed) = Wal::open(&dir).unwrap();
        assert_eq!(replayed.entries.len(), 2);
        wal.append(&[entry(3, 1, b"again")], None).unwrap();
        drop(wal);
        let (_, replayed) = Wal::open(&dir).unwrap();
        assert_eq!(replayed.entries.last().unwrap().data.as_ref(), b"again");
    }

    #[test]
    fn a_header_torn_inside_its_length_checksum_is_truncated() {
        let dir = temp_dir("torn-header");
        write_three(&dir);
        let path = segment_path(&dir, 0);
        // Power went after the first bytes of a fourth record's header (its length) were
        // written: the rest of it is the zeroed room.
        let mut bytes = std::fs::read(&path).unwrap();
        let data_end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
        bytes[data_end..data_end + 6].copy_from_slice(&[0x5f, 0, 0, 0, 0x12, 0x34]);
        std::fs::write(&path, &bytes).unwrap();
        let (_, replayed) = Wal::open(&dir).unwrap();
        assert_eq!(replayed.entries.len(), 3);
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

    #[test]
    fn compaction_drops_applied_segments_and_keeps_the_hard_state() {
        let dir = temp_dir("compact");
        let (mut wal, _) = Wal::open(&dir).unwrap();
        let state = HardState {
            term: 3,
            commit: 2,
            ..Default::default()
        };
        wal.append(&[entry(1, 1, b"a"), entry(2, 1, b"b")], Some(&state))
            .unwrap();
        wal.compact(1).unwrap();
        // The first segment still holds entry 2, which the store has not applied.
        assert_eq!(wal.segment_count(), 2);
        wal.append(&[entry(3, 3, b"c")], None).unwrap();
        wal.compact(2).unwrap();
        assert_eq!(wal.segment_count(), 2);
        drop(wal);
        let (_, replayed) = Wal::open(&dir).unwrap();
        let got: Vec<u64> = replayed.entries.iter().map(|e| e.index).collect();
        assert_eq!(got, vec![3]);
        assert_eq!(replayed.hard_state.unwrap().term, 3);
    }

    #[test]
    fn appends_that_would_leave_a_gap_are_refused() {
        let dir = temp_dir("gap");
        write_three(&dir);
        let (mut wal, _) = Wal::open(&dir).unwrap();
        assert!(matches!(
            wal.append(&[entry(5, 1, b"x")], None),
            Err(WalError::Gap { after: 3, first: 5 })
        ));
        assert!(matches!(
            wal.append(&[entry(4, 1, b"x"), entry(6, 1, b"y")], None),
            Err(WalError::Gap { .. })
        ));
        // Replacing the tail is what raft does after a leader change.
        wal.append(&[entry(2, 2, b"z")], None).unwrap();
        wal.append(&[entry(3, 2, b"w")], None).unwrap();
    }

    #[test]
    fn snapshot_marker_voids_earlier_entries() {
        let dir = temp_dir("snapshot");
        let (mut wal, _) = Wal::open(&dir).unwrap();
        wal.append(&[entry(1, 1, b"a"), entry(2, 1, b"b")], None)
            .unwrap();
        let state = HardState {
            term: 5,
            commit: 10,
            ..Default::default()
        };
        wal.install_snapshot(10, 4, &state).unwrap();
        wal.append(&[entry(11, 5, b"k")], None).unwrap();
        drop(wal);
        let (_, replayed) = Wal::open(&dir).unwrap();
        assert_eq!(replayed.snapshot, Some((10, 4)));
        let got: Vec<u64> = replayed.entries.iter().map(|e| e.index).collect();
        assert_eq!(got, vec![11]);
        assert_eq!(replayed.hard_state.unwrap().commit, 10);
    }

    #[test]
    fn fuzz_wal_segments() {
        let dir = temp_dir("fuzz");
        let (mut wal, _) = Wal::open(&dir).unwrap();
        let state = HardState {
            term: 2,
            vote: 1,
            commit: 2,
            ..Default::default()
        };
        wal.append(&[entry(1, 1, b"a"), entry(2, 2, b"bb")], Some(&state))
            .unwrap();
        wal.install_snapshot(5, 2, &state).unwrap();
        wal.append(&[entry(6, 2, b"c")], None).unwrap();
        drop(wal);
        let seeds: Vec<Vec<u8>> = list_segments(&dir)
            .unwrap()
            .iter()
            .map(|sequence| {
                let bytes = std::fs::read(segment_path(&dir, *sequence)).unwrap();
                let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
                bytes[..(end + 64).min(bytes.len())].to_vec()
            })
            .collect();
        crate::fuzz::run("wal segments", &seeds, |bytes| {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(segment_path(&dir, 1), bytes).unwrap();
            let _ = Wal::open(&dir);
        });
    }
}

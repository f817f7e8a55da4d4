//! Power-loss tests of the log: segment files that keep, beside the real file, the image a disk
//! would hold after losing power (what was there at the last fdatasync), a power cut that can
//! stop a write part way, and a campaign of appends, tail replacements, commit-index moves (not
//! synced), compactions, snapshot markers and crashes that checks every acknowledged entry and
//! hard state after each restart.
//! A crash keeps a random prefix of the unsynced writes (none, some, a torn record, all), as a
//! disk that writes in order but may stop anywhere.
//!
//! The campaign is also run on a disk whose fdatasync keeps nothing (as a log that forgot to
//! sync): it must find lost acknowledged entries there, which is what shows it can fail.
//! POWER_LOSS_SEEDS=N runs N seeds instead of the default two (a long run: `cargo test
//! --release power_loss` with N in the hundreds).

use super::{SegmentFile, Wal};
use crate::fuzz::Dice;
use raft::eraftpb::{Entry, HardState};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

enum Write {
    Bytes(u64, Vec<u8>),
    SetLen(u64),
}

/// One segment as the disk holds it: durable bytes, and writes since the last sync.
struct Image {
    durable: Vec<u8>,
    pending: Vec<Write>,
}

impl Image {
    fn apply(content: &mut Vec<u8>, write: &Write) {
        match write {
            Write::Bytes(offset, bytes) => {
                let end = *offset as usize + bytes.len();
                if content.len() < end {
                    content.resize(end, 0);
                }
                content[*offset as usize..end].copy_from_slice(bytes);
            }
            Write::SetLen(len) => content.resize(*len as usize, 0),
        }
    }
}

/// The disk of one test's WAL directory.
#[derive(Default)]
struct Disk {
    files: BTreeMap<PathBuf, Image>,
    /// Bytes that may still be written before the power goes (None: the power stays on).
    power_left: Option<usize>,
}

static DISKS: Mutex<BTreeMap<PathBuf, Disk>> = Mutex::new(BTreeMap::new());

fn with_dir<T>(dir: &Path, f: impl FnOnce(&mut Disk) -> T) -> T {
    let mut disks = DISKS.lock().unwrap_or_else(|e| e.into_inner());
    f(disks.entry(dir.to_path_buf()).or_default())
}

/// The disk a segment file is on.
fn with_disk<T>(path: &Path, f: impl FnOnce(&mut Disk) -> T) -> T {
    with_dir(path.parent().expect("a segment has a directory"), f)
}

/// A segment file on a simulated disk. With HONEST false, fdatasync returns success and keeps
/// nothing: the disk of a log without fdatasync.
struct SimFile<const HONEST: bool> {
    file: File,
    path: PathBuf,
}

const POWER_LOST: &str = "simulated power loss";

impl<const HONEST: bool> SegmentFile for SimFile<HONEST> {
    fn open(path: &Path) -> io::Result<Self> {
        let file = <File as SegmentFile>::open(path)?;
        let content = std::fs::read(path)?;
        with_disk(path, |disk| {
            disk.files.entry(path.to_path_buf()).or_insert(Image {
                durable: content,
                pending: Vec::new(),
            });
        });
        Ok(SimFile {
            file,
            path: path.to_path_buf(),
        })
    }

    fn size(&self) -> io::Result<u64> {
        self.file.size()
    }

    fn write_all_at(&self, bytes: &[u8], offset: u64) -> io::Result<()> {
        with_disk(&self.path, |disk| {
            let written = match disk.power_left {
                Some(left) => left.min(bytes.len()),
                None => bytes.len(),
            };
            if let Some(left) = &mut disk.power_left {
                *left -= written;
            }
            SegmentFile::write_all_at(&self.file, &bytes[..written], offset)?;
            let image = disk.files.get_mut(&self.path).expect("opened");
            image
                .pending
                .push(Write::Bytes(offset, bytes[..written].to_vec()));
            if written < bytes.len() {
                return Err(io::Error::other(POWER_LOST));
            }
            Ok(())
        })
    }

    fn sync_data(&self) -> io::Result<()> {
        with_disk(&self.path, |disk| {
            if disk.power_left == Some(0) {
                return Err(io::Error::other(POWER_LOST));
            }
            let image = disk.files.get_mut(&self.path).expect("opened");
            if HONEST {
                for write in image.pending.drain(..) {
                    Image::apply(&mut image.durable, &write);
                }
            }
            Ok(())
        })
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        with_disk(&self.path, |disk| {
            if disk.power_left == Some(0) {
                return Err(io::Error::other(POWER_LOST));
            }
            SegmentFile::set_len(&self.file, len)?;
            let image = disk.files.get_mut(&self.path).expect("opened");
            image.pending.push(Write::SetLen(len));
            Ok(())
        })
    }
}

/// The power goes off: every segment under `dir` is left as its durable image plus a random
/// prefix of its unsynced writes (the last kept one possibly torn).
fn power_loss(dir: &Path, dice: &mut Dice) {
    let mut disks = DISKS.lock().unwrap_or_else(|e| e.into_inner());
    let Some(disk) = disks.remove(dir) else {
        return;
    };
    for (path, image) in disk.files {
        if !path.exists() {
            continue; // removed by compaction
        }
        let total: usize = image
            .pending
            .iter()
            .map(|w| match w {
                Write::Bytes(_, bytes) => bytes.len(),
                Write::SetLen(_) => 0,
            })
            .sum();
        let mut budget = dice.below(total + 1);
        let mut content = image.durable;
        for write in &image.pending {
            match write {
                Write::Bytes(offset, bytes) => {
                    let kept = budget.min(bytes.len());
                    Image::apply(&mut content, &Write::Bytes(*offset, bytes[..kept].to_vec()));
                    budget -= kept;
                    if kept < bytes.len() {
                        break;
                    }
                }
                set_len => Image::apply(&mut content, set_len),
            }
        }
        std::fs::write(&path, &content).expect("writing the crashed image");
    }
}

/// What the log has acknowledged and must give back after any crash.
#[derive(Default)]
struct Acked {
    /// Entries after `floor`, contiguous.
    entries: Vec<Entry>,
    /// Entries at or below this may be gone (compacted or voided by a snapshot marker).
    floor: u64,
    hard_state: Option<HardState>,
}

impl Acked {
    fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.floor, |e| e.index)
    }
}

fn payload(dice: &mut Dice, index: u64) -> Vec<u8> {
    // Mostly small entries; now and then a large one, so that segments grow their room.
    let len = match dice.below(40) {
        0 => 256 * 1024 + dice.below(512 * 1024),
        _ => dice.below(3000),
    };
    let mut bytes = index.to_le_bytes().to_vec();
    bytes.extend(dice.next().to_le_bytes());
    bytes.resize(16 + len, index as u8);
    bytes
}

/// An append that failed (the power went during it): it may have taken effect, in part or whole.
#[derive(Default)]
struct Attempted {
    entries: Vec<Entry>,
    hard_state: Option<HardState>,
}

/// Checks a restarted log against what was acknowledged; the first difference, if any.
/// `lazy`: hard states that only moved the commit index, written since the last sync.
fn lost(
    acked: &Acked,
    replayed: &super::Replayed,
    attempted: &Attempted,
    lazy: &[HardState],
) -> Option<String> {
    let by_index: BTreeMap<u64, &Entry> = replayed.entries.iter().map(|e| (e.index, e)).collect();
    let same = |a: &Entry, b: &Entry| a.term == b.term && a.data == b.data;
    // Entries the failed append was replacing may be gone or replaced.
    let replacing = attempted.entries.first().map_or(u64::MAX, |e| e.index);
    for entry in &acked.entries {
        let replaced = attempted.entries.iter().find(|e| e.index == entry.index);
        match by_index.get(&entry.index) {
            None if entry.index >= replacing => {}
            None => return Some(format!("acked entry {} is gone", entry.index)),
            Some(got) if same(got, entry) || replaced.is_some_and(|r| same(got, r)) => {}
            Some(_) => return Some(format!("acked entry {} came back changed", entry.index)),
        }
    }
    let hard_state = replayed.hard_state.as_ref();
    if hard_state != acked.hard_state.as_ref()
        && (attempted.hard_state.is_none() || hard_state != attempted.hard_state.as_ref())
        && !lazy.iter().any(|written| Some(written) == hard_state)
    {
        return Some(format!(
            "hard state {hard_state:?}, acked {:?}",
            acked.hard_state
        ));
    }
    None
}

/// A campaign's state: the simulated disk's directory, the dice, and what the log promised.
struct Campaign {
    dir: std::path::PathBuf,
    dice: Dice,
    acked: Acked,
    term: u64,
    /// The last append that failed (its entries may or may not have survived).
    attempted: Attempted,
    /// Hard states that only moved the commit index, written since the last sync (a crash may
    /// keep any of them, or none).
    lazy: Vec<HardState>,
}

impl Campaign {
    /// An append, sometimes replacing the tail or with a new hard state; sometimes the power
    /// fails part way through (then true: the step ends in a crash).
    fn append<const HONEST: bool>(&mut self, wal: &mut Wal<SimFile<HONEST>>) -> bool {
        let dice = &mut self.dice;
        let cut = dice.below(4) == 0;
        if cut {
            let left = dice.below(8 * 1024);
            with_dir(&self.dir, |disk| disk.power_left = Some(left));
        }
        let acked = &mut self.acked;
        let mut first = acked.last_index() + 1;
        if dice.below(6) == 0 && !acked.entries.is_empty() {
            self.term += 1;
            first -= dice.below(acked.entries.len().min(3)) as u64;
        }
        let term = self.term;
        let entries: Vec<Entry> = (first..first + 1 + dice.below(4) as u64)
            .map(|index| Entry {
                index,
                term,
                data: payload(dice, index).into(),
                ..Default::default()
            })
            .collect();
        let hard_state = (dice.below(2) == 0).then(|| HardState {
            term,
            vote: 1,
            commit: first - 1,
            ..Default::default()
        });
        if wal.append(&entries, hard_state.as_ref()).is_ok() {
            acked.entries.retain(|e| e.index < first);
            acked.entries.extend(entries.iter().cloned());
            // The sync took the commit-only hard states written before along.
            let newest = hard_state.or_else(|| self.lazy.pop());
            if newest.is_some() {
                acked.hard_state = newest;
            }
            self.lazy.clear();
        } else {
            self.attempted = Attempted {
                entries,
                hard_state,
            };
        }
        cut
    }

    /// A hard state that moves only the commit index: written, not synced.
    fn commit<const HONEST: bool>(&mut self, wal: &mut Wal<SimFile<HONEST>>) {
        let Some(newest) = self.lazy.last().or(self.acked.hard_state.as_ref()) else {
            return;
        };
        let hard_state = HardState {
            commit: newest.commit + 1 + self.dice.below(3) as u64,
            ..newest.clone()
        };
        if wal.append(&[], Some(&hard_state)).is_ok() {
            self.lazy.push(hard_state);
        }
    }

    /// A compaction up to some acknowledged index.
    fn compact<const HONEST: bool>(&mut self, wal: &mut Wal<SimFile<HONEST>>) {
        let acked = &mut self.acked;
        let applied = acked.floor + self.dice.below(acked.entries.len() + 1) as u64;
        if wal.compact(applied).is_ok() {
            acked.floor = acked.floor.max(applied);
            acked.entries.retain(|e| e.index > applied);
            // The new segment starts with the newest hard state, synced.
            if let Some(newest) = self.lazy.pop() {
                acked.hard_state = Some(newest);
            }
            self.lazy.clear();
        }
    }

    /// A snapshot marker past the log's end (a snapshot received from a leader).
    fn snapshot<const HONEST: bool>(&mut self, wal: &mut Wal<SimFile<HONEST>>) {
        let index = self.acked.last_index() + 1 + self.dice.below(10) as u64;
        self.term += 1;
        let hard_state = HardState {
            term: self.term,
            commit: index,
            ..Default::default()
        };
        if wal
            .install_snapshot(index, self.term - 1, &hard_state)
            .is_ok()
        {
            self.acked.entries.clear();
            self.acked.floor = index;
            self.acked.hard_state = Some(hard_state);
            self.lazy.clear();
        }
    }

    /// Cuts the power, reopens the log and checks it against what was acknowledged: the
    /// reopened log, or the loss.
    fn crash<const HONEST: bool>(&mut self) -> Result<Wal<SimFile<HONEST>>, String> {
        power_loss(&self.dir, &mut self.dice);
        let (reopened, replayed) = Wal::<SimFile<HONEST>>::open_with(&self.dir)
            .map_err(|e| format!("the log does not open: {e}"))?;
        if let Some(loss) = lost(&self.acked, &replayed, &self.attempted, &self.lazy) {
            return Err(loss);
        }
        // The restarted log is the truth now (an unacknowledged write may have survived).
        let acked = &mut self.acked;
        acked.floor = replayed
            .snapshot
            .map_or(0, |(index, _)| index)
            .max(acked.floor);
        acked.entries = replayed.entries;
        acked.entries.retain(|e| e.index > acked.floor);
        acked.hard_state = replayed.hard_state;
        self.attempted = Attempted::default();
        self.lazy.clear();
        self.term = self.term.max(acked.entries.last().map_or(0, |e| e.term));
        Ok(reopened)
    }
}

/// Runs `steps` random operations with a crash every few; returns the first loss found.
fn campaign<const HONEST: bool>(name: &str, seed: u64, steps: usize) -> Option<String> {
    let dir = std::env::temp_dir().join(format!("wal-power-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut wal, _) = Wal::<SimFile<HONEST>>::open_with(&dir).expect("opening the log");
    let mut campaign = Campaign {
        dir: dir.clone(),
        dice: Dice(seed),
        acked: Acked::default(),
        term: 1,
        attempted: Attempted::default(),
        lazy: Vec::new(),
    };
    let mut result = None;
    for step in 0..steps {
        let crash = match campaign.dice.below(13) {
            0..=7 => campaign.append(&mut wal),
            12 => {
                campaign.commit(&mut wal);
                false
            }
            8 => {
                campaign.compact(&mut wal);
                false
            }
            9 if campaign.dice.below(4) == 0 => {
                campaign.snapshot(&mut wal);
                false
            }
            _ => true,
        };
        if !crash {
            continue;
        }
        drop(wal);
        match campaign.crash::<HONEST>() {
            Ok(reopened) => wal = reopened,
            Err(loss) => {
                result = Some(format!("step {step}: {loss}"));
                break;
            }
        }
    }
    DISKS.lock().unwrap_or_else(|e| e.into_inner()).remove(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

#[test]
fn a_new_term_written_again_after_a_failed_write_is_synced() {
    let dir = std::env::temp_dir().join(format!("wal-power-retry-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (mut wal, _) = Wal::<SimFile<true>>::open_with(&dir).expect("opening the log");
    let hard_state = |term| HardState {
        term,
        vote: 1,
        ..Default::default()
    };
    let first = Entry {
        index: 1,
        term: 1,
        ..Default::default()
    };
    wal.append(&[first], Some(&hard_state(1))).unwrap();
    // The write of a new term fails (as for a full disk), and is tried again.
    with_dir(&dir, |disk| disk.power_left = Some(0));
    assert!(wal.append(&[], Some(&hard_state(2))).is_err());
    with_dir(&dir, |disk| disk.power_left = None);
    wal.append(&[], Some(&hard_state(2))).unwrap();
    drop(wal);
    // The power goes: the disk keeps what was synced, nothing more.
    let disk = DISKS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&dir)
        .expect("the log's disk");
    for (path, image) in disk.files {
        std::fs::write(&path, &image.durable).unwrap();
    }
    let (_, replayed) = Wal::<File>::open_with(&dir).unwrap();
    assert_eq!(replayed.hard_state.map(|h| h.term), Some(2));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seeds per campaign when POWER_LOSS_SEEDS is not set (each about 300 steps, 75 crashes; a
/// few seconds in a debug build, most of it reading the zeroed room of the newest segment).
const DEFAULT_SEEDS: u64 = 2;
const STEPS: usize = 300;

#[test]
fn acknowledged_entries_survive_power_loss() {
    for seed in 1..=crate::fuzz::setting("POWER_LOSS_SEEDS", DEFAULT_SEEDS) {
        if let Some(loss) = campaign::<true>(&format!("honest-{seed}"), seed, STEPS) {
            panic!("seed {seed}: {loss}");
        }
    }
}

#[test]
fn the_campaign_finds_losses_on_a_disk_that_does_not_sync() {
    let seeds = 1..=crate::fuzz::setting("POWER_LOSS_SEEDS", DEFAULT_SEEDS);
    let found = seeds.filter_map(|seed| campaign::<false>(&format!("lying-{seed}"), seed, STEPS));
    assert!(
        found.count() > 0,
        "a log whose fdatasync keeps nothing lost no acknowledged entry"
    );
}

//! Committed entries a follower holds back from its store for a few milliseconds while no one
//! on the member waits for them, so that several are applied in one store transaction.
//!
//! Each store transaction copies the leaf-to-root paths of the trees it changes, and the
//! checkpoint writes every copy back to the disk the WAL shares (mvcc/checkpoint.rs). With one
//! client, a follower applied each put alone: a dozen fresh pages per put, whose write-back
//! queued in front of the WAL syncs of every member. Held and applied together, the puts of a
//! few milliseconds share their pages. Nothing is held while a request, a read or a watch
//! stream of the member could be waiting for it, or while the member leads.

use raft::eraftpb::Entry;
use std::time::{Duration, Instant};

/// The longest a committed entry is held.
pub const MAX_HOLD: Duration = Duration::from_millis(5);
/// The most entries held at once ...
const MAX_HELD_ENTRIES: usize = 256;
/// ... and the most bytes of their data.
const MAX_HELD_BYTES: usize = 4 * 1024 * 1024;

#[derive(Default)]
pub struct HeldEntries {
    entries: Vec<Entry>,
    bytes: usize,
    /// When the oldest held entry was held.
    since: Option<Instant>,
}

impl HeldEntries {
    /// Holds `entries` after those already held, unless that would pass a limit or one of them
    /// changes the membership (applied at once, as raft must hear of it). Returns them if not
    /// held: then they and everything held must be applied now.
    pub fn hold(&mut self, entries: Vec<Entry>, now: Instant) -> Option<Vec<Entry>> {
        let bytes: usize = entries.iter().map(|e| e.data.len()).sum();
        let changes_membership = entries
            .iter()
            .any(|e| e.get_entry_type() != raft::eraftpb::EntryType::EntryNormal);
        if changes_membership
            || self.entries.len() + entries.len() > MAX_HELD_ENTRIES
            || self.bytes + bytes > MAX_HELD_BYTES
        {
            return Some(entries);
        }
        if entries.is_empty() {
            return None;
        }
        self.since.get_or_insert(now);
        self.bytes += bytes;
        self.entries.extend(entries);
        None
    }

    /// Everything held, oldest first, followed by `newer`; nothing is held afterwards.
    pub fn release_with(&mut self, newer: Vec<Entry>) -> Vec<Entry> {
        self.bytes = 0;
        self.since = None;
        let mut all = std::mem::take(&mut self.entries);
        if all.is_empty() {
            return newer;
        }
        all.extend(newer);
        all
    }

    /// When the oldest held entry must be applied; None while nothing is held.
    pub fn due(&self) -> Option<Instant> {
        self.since.map(|since| since + MAX_HOLD)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use raft::eraftpb::EntryType;

    fn entry(index: u64, kind: EntryType, bytes: usize) -> Entry {
        let mut entry = Entry {
            index,
            data: vec![1u8; bytes].into(),
            ..Default::default()
        };
        entry.set_entry_type(kind);
        entry
    }

    fn indexes(entries: &[Entry]) -> Vec<u64> {
        entries.iter().map(|e| e.index).collect()
    }

    #[test]
    fn held_entries_come_back_in_order_before_newer_ones_and_the_clock_restarts() {
        let mut held = HeldEntries::default();
        let start = Instant::now();
        assert!(held
            .hold(vec![entry(1, EntryType::EntryNormal, 10)], start)
            .is_none());
        let later = start + Duration::from_millis(2);
        assert!(held
            .hold(vec![entry(2, EntryType::EntryNormal, 10)], later)
            .is_none());
        assert_eq!(
            held.due(),
            Some(start + MAX_HOLD),
            "the oldest entry sets the deadline"
        );
        let all = held.release_with(vec![entry(3, EntryType::EntryNormal, 10)]);
        assert_eq!(indexes(&all), [1, 2, 3]);
        assert_eq!(held.due(), None, "nothing is held");
        assert!(held
            .hold(vec![entry(4, EntryType::EntryNormal, 10)], later)
            .is_none());
        assert_eq!(held.due(), Some(later + MAX_HOLD));
    }

    #[test]
    fn membership_changes_and_entries_past_a_limit_are_not_held() {
        let mut held = HeldEntries::default();
        let now = Instant::now();
        let change = vec![entry(1, EntryType::EntryConfChange, 10)];
        assert_eq!(indexes(&held.hold(change, now).unwrap()), [1]);
        assert_eq!(held.due(), None, "nothing is held");

        let big = vec![entry(1, EntryType::EntryNormal, MAX_HELD_BYTES)];
        assert!(
            held.hold(big, now).is_none(),
            "exactly the byte limit is held"
        );
        let over = vec![entry(2, EntryType::EntryNormal, 1)];
        assert_eq!(indexes(&held.hold(over, now).unwrap()), [2]);
        assert_eq!(indexes(&held.release_with(Vec::new())), [1]);

        let many: Vec<Entry> = (1..=MAX_HELD_ENTRIES as u64 + 1)
            .map(|i| entry(i, EntryType::EntryNormal, 0))
            .collect();
        assert_eq!(held.hold(many, now).unwrap().len(), MAX_HELD_ENTRIES + 1);
        assert!(held.release_with(Vec::new()).is_empty());
    }
}

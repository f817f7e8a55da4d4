//! --auto-compaction-mode / --auto-compaction-retention, as etcd 3.4's v3compactor does it. Every
//! member samples; only the leader compacts, by proposing a compaction through raft.
//!
//! periodic: the revision is sampled every tenth of min(retention, 1 h); once `retention` has
//! passed since the start (then every min(retention, 1 h) after the last compaction), the
//! oldest sample, taken `retention` ago, is compacted.
//! revision: every 5 minutes, the current revision minus `retention` is compacted (if it moved).

use crate::config::AutoCompaction;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// etcd's revision compactor looks every 5 minutes.
const REVISION_INTERVAL: Duration = Duration::from_secs(300);
const HOUR: Duration = Duration::from_secs(3600);

pub struct Compactor {
    mode: AutoCompaction,
    /// When to sample (periodic) or look (revision) next.
    next_step: Instant,
    /// Periodic: revisions sampled, oldest first, covering the retention.
    samples: VecDeque<i64>,
    last_success: Instant,
    /// Periodic: how long after the last compaction the next is due (the retention at first).
    due_after: Duration,
    /// Revision: the revision last compacted.
    last_compacted: i64,
}

impl Compactor {
    pub fn new(mode: AutoCompaction, now: Instant) -> Compactor {
        let (first_step, due_after) = match mode {
            AutoCompaction::Periodic(period) => (now, period),
            AutoCompaction::Revision(_) => (now + REVISION_INTERVAL, REVISION_INTERVAL),
        };
        Compactor {
            mode,
            next_step: first_step,
            samples: VecDeque::new(),
            last_success: now,
            due_after,
            last_compacted: 0,
        }
    }

    /// Whether `step` has anything to do at `now` (cheap; the caller reads the revision only
    /// then).
    pub fn is_due(&self, now: Instant) -> bool {
        now >= self.next_step
    }

    /// The revision to compact now, if one is due. `revision` is the store's current revision;
    /// `leads` whether this member may compact (the others only sample).
    pub fn step(&mut self, now: Instant, revision: i64, leads: bool) -> Option<i64> {
        if now < self.next_step {
            return None;
        }
        match self.mode {
            AutoCompaction::Periodic(period) => self.periodic(period, now, revision, leads),
            AutoCompaction::Revision(retention) => {
                self.next_step = now + REVISION_INTERVAL;
                let target = revision - retention;
                if !leads || target <= 0 || target == self.last_compacted {
                    return None;
                }
                self.last_compacted = target;
                Some(target)
            }
        }
    }

    fn periodic(
        &mut self,
        period: Duration,
        now: Instant,
        revision: i64,
        leads: bool,
    ) -> Option<i64> {
        let compact_interval = period.min(HOUR);
        let sample_interval = compact_interval / 10;
        let kept = (period.as_nanos() / sample_interval.as_nanos().max(1)) as usize + 1;
        self.next_step = now + sample_interval;
        // As etcd: the samples taken so far decide, then this one joins them.
        let due = leads && now.duration_since(self.last_success) >= self.due_after;
        let target = if due {
            self.samples.front().copied()
        } else {
            None
        };
        if target.is_some() {
            self.due_after = compact_interval;
            self.last_success = now;
        }
        self.samples.push_back(revision);
        while self.samples.len() > kept {
            self.samples.pop_front();
        }
        target
    }

    /// What the mode keeps, for the log.
    pub fn describe(&self) -> String {
        match self.mode {
            AutoCompaction::Periodic(period) => format!("periodic, retention {period:?}"),
            AutoCompaction::Revision(revisions) => {
                format!("revision, retention {revisions} revisions")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_compacts_the_revision_sampled_a_retention_ago() {
        let start = Instant::now();
        let mut compactor =
            Compactor::new(AutoCompaction::Periodic(Duration::from_secs(10)), start);
        let mut compacted = Vec::new();
        // One sample a second, the revision growing by 100 a second, for 30 s.
        for second in 0..=30u64 {
            let now = start + Duration::from_secs(second);
            if let Some(revision) = compactor.step(now, 1 + 100 * second as i64, true) {
                compacted.push((second, revision));
            }
        }
        // First after 10 s with the first sample; then every 10 s, with the oldest of the 11
        // samples kept (etcd's window).
        assert_eq!(compacted, vec![(10, 1), (20, 901), (30, 1901)]);
    }

    #[test]
    fn only_the_leader_compacts_and_a_revision_mode_waits_five_minutes() {
        let start = Instant::now();
        let mut compactor = Compactor::new(AutoCompaction::Revision(100), start);
        assert_eq!(
            compactor.step(start + Duration::from_secs(60), 500, true),
            None
        );
        let later = start + REVISION_INTERVAL;
        assert_eq!(compactor.step(later, 500, false), None);
        let again = later + REVISION_INTERVAL;
        assert_eq!(compactor.step(again, 500, true), Some(400));
        assert_eq!(compactor.step(again + REVISION_INTERVAL, 500, true), None);
    }
}

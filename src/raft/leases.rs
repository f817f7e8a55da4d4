//! When leases expire. Only the leader's clock decides: it proposes a revoke (through raft,
//! so every member deletes the keys in the same revision) once a lease outlives its TTL
//! without a keep-alive. A new leader starts every lease's clock afresh, extended by an
//! election timeout, as etcd's lessor.Promote does, so no lease expires early because
//! leadership moved. Followers keep the same clock from what they apply, as an estimate for
//! TimeToLive. With --experimental-enable-lease-checkpoint the leader replicates remaining TTLs
//! (LeaseCheckpoint) and a new leader starts a checkpointed lease from its remaining TTL, so
//! long leases are not renewed indefinitely by leadership changes; a renewal clears it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct LeaseClock {
    /// Lease ID -> (granted TTL in seconds, expiry).
    leases: HashMap<i64, (i64, Instant)>,
    /// Leases whose revoke was proposed, and when (proposed again if still alive later).
    revoking: HashMap<i64, Instant>,
    /// Remaining TTLs (seconds) from applied checkpoints.
    checkpoints: HashMap<i64, i64>,
}

fn seconds(ttl: i64) -> Duration {
    Duration::from_secs(ttl.max(0) as u64)
}

impl LeaseClock {
    /// A grant or keep-alive: the lease lives `ttl` seconds from now.
    pub fn refresh(&mut self, id: i64, ttl: i64) {
        self.leases.insert(id, (ttl, Instant::now() + seconds(ttl)));
        self.revoking.remove(&id);
        self.checkpoints.remove(&id);
    }

    pub fn forget(&mut self, id: i64) {
        self.leases.remove(&id);
        self.revoking.remove(&id);
        self.checkpoints.remove(&id);
    }

    /// An applied checkpoint: the lease had `remaining` seconds left (0 clears it).
    pub fn checkpoint(&mut self, id: i64, remaining: i64) {
        if remaining > 0 {
            self.checkpoints.insert(id, remaining);
        } else {
            self.checkpoints.remove(&id);
        }
    }

    pub fn has_checkpoint(&self, id: i64) -> bool {
        self.checkpoints.contains_key(&id)
    }

    /// This member became leader: every lease gets its checkpointed remaining TTL, or else
    /// its full TTL, plus `extend`.
    pub fn promote(&mut self, leases: &[(i64, i64)], extend: Duration) {
        let now = Instant::now();
        self.leases = leases
            .iter()
            .map(|&(id, ttl)| {
                let left = self.checkpoints.get(&id).copied().unwrap_or(ttl);
                (id, (ttl, now + seconds(left) + extend))
            })
            .collect();
        self.revoking.clear();
    }

    /// (lease, remaining seconds) of every lease granted for longer than `longer_than`
    /// (etcd checkpoints only those), for the leader's periodic checkpoint.
    pub fn to_checkpoint(&self, longer_than: Duration) -> Vec<(i64, i64)> {
        let mut due: Vec<(i64, i64)> = self
            .leases
            .iter()
            .filter(|(_, (ttl, _))| seconds(*ttl) > longer_than)
            .filter_map(|(id, _)| Some((*id, self.remaining(*id)?)))
            .collect();
        due.sort_unstable();
        due
    }

    /// Leases past their expiry that have no revoke in flight (or one older than `retry`).
    pub fn expired(&mut self, retry: Duration) -> Vec<i64> {
        let now = Instant::now();
        let mut due = Vec::new();
        for (id, (_, expiry)) in &self.leases {
            let in_flight = self
                .revoking
                .get(id)
                .is_some_and(|since| now.duration_since(*since) < retry);
            if *expiry <= now && !in_flight {
                due.push(*id);
            }
        }
        for id in &due {
            self.revoking.insert(*id, now);
        }
        due.sort_unstable();
        due
    }

    /// Whole seconds left, truncated as etcd reports them (None: no such lease here).
    pub fn remaining(&self, id: i64) -> Option<i64> {
        let (ttl, expiry) = self.leases.get(&id)?;
        let left = expiry.saturating_duration_since(Instant::now());
        Some((left.as_secs() as i64).min(*ttl))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_once_and_a_promotion_restarts_the_clock() {
        let mut clock = LeaseClock::default();
        clock.refresh(7, 0);
        assert_eq!(clock.expired(Duration::from_secs(5)), vec![7]);
        assert!(
            clock.expired(Duration::from_secs(5)).is_empty(),
            "revoke in flight"
        );
        clock.promote(&[(7, 10)], Duration::from_secs(1));
        assert!(clock.expired(Duration::from_secs(5)).is_empty());
        assert_eq!(clock.remaining(7), Some(10)); // 11 s left with the extension, capped at the TTL
        clock.forget(7);
        assert_eq!(clock.remaining(7), None);
    }

    #[test]
    fn a_new_leader_starts_a_checkpointed_lease_from_its_remaining_ttl() {
        let mut clock = LeaseClock::default();
        clock.refresh(7, 100);
        clock.refresh(8, 100);
        clock.refresh(9, 5);
        assert_eq!(
            clock.to_checkpoint(Duration::from_secs(10)),
            vec![(7, 99), (8, 99)],
            "short leases are not checkpointed"
        );
        clock.checkpoint(7, 30);
        clock.checkpoint(8, 30);
        clock.refresh(8, 100); // a renewal clears the checkpoint
        assert!(clock.has_checkpoint(7) && !clock.has_checkpoint(8));
        clock.promote(&[(7, 100), (8, 100)], Duration::ZERO);
        assert_eq!(clock.remaining(7), Some(29));
        assert_eq!(clock.remaining(8), Some(99));
    }
}

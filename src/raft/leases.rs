//! When leases expire. Only the leader's clock decides: it proposes a revoke (through raft,
//! so every member deletes the keys in the same revision) once a lease outlives its TTL
//! without a keep-alive. A new leader starts every lease's clock afresh, extended by an
//! election timeout, as etcd's lessor.Promote does, so no lease expires early because
//! leadership moved. Followers keep the same clock from what they apply, as an estimate for
//! TimeToLive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct LeaseClock {
    /// Lease ID -> (granted TTL in seconds, expiry).
    leases: HashMap<i64, (i64, Instant)>,
    /// Leases whose revoke was proposed, and when (proposed again if still alive later).
    revoking: HashMap<i64, Instant>,
}

fn seconds(ttl: i64) -> Duration {
    Duration::from_secs(ttl.max(0) as u64)
}

impl LeaseClock {
    /// A grant or keep-alive: the lease lives `ttl` seconds from now.
    pub fn refresh(&mut self, id: i64, ttl: i64) {
        self.leases.insert(id, (ttl, Instant::now() + seconds(ttl)));
        self.revoking.remove(&id);
    }

    pub fn forget(&mut self, id: i64) {
        self.leases.remove(&id);
        self.revoking.remove(&id);
    }

    /// This member became leader: every lease gets its full TTL plus `extend`.
    pub fn promote(&mut self, leases: &[(i64, i64)], extend: Duration) {
        let now = Instant::now();
        self.leases = leases
            .iter()
            .map(|&(id, ttl)| (id, (ttl, now + seconds(ttl) + extend)))
            .collect();
        self.revoking.clear();
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
}

//! Upkeep on the loop's clock: the leader's lease expiry, store checkpoints, log compaction
//! and --auto-compaction.

use super::*;

impl Node {
    /// The leader restarts lease clocks when it takes over and revokes what has expired.
    pub(super) fn tend_leases(&mut self) -> Result<(), Fatal> {
        let is_leader = self.is_leader();
        if is_leader && !self.was_leader {
            let txn = self.store.read_txn()?;
            let leases = self.store.leases(&txn)?;
            drop(txn);
            self.leases
                .promote(&leases, self.bootstrap.election_timeout);
        }
        self.was_leader = is_leader;
        if !is_leader {
            return Ok(());
        }
        if let Some(interval) = self.bootstrap.lease_checkpoint_interval {
            if Instant::now() >= self.next_lease_checkpoint {
                self.next_lease_checkpoint = Instant::now() + interval;
                let due = self.leases.to_checkpoint(interval);
                self.propose_lease_checkpoints(&due);
            }
        }
        for id in self.leases.expired(2 * self.bootstrap.election_timeout) {
            self.propose_internal(InternalRaftRequest {
                lease_revoke: Some(crate::pb::etcdserverpb::LeaseRevokeRequest { id }),
                ..InternalRaftRequest::default()
            });
        }
        Ok(())
    }

    /// --auto-compaction-*: the compactor samples the revision; when it is due on the leader,
    /// the compaction goes through raft like a client's.
    pub(super) fn auto_compact(&mut self) -> Result<(), Fatal> {
        let now = Instant::now();
        if !self.compactor.as_ref().is_some_and(|c| c.is_due(now)) {
            return Ok(());
        }
        let revision = {
            let txn = self.store.read_txn()?;
            self.store.current_revision(&txn)?
        };
        let leads = self.is_leader();
        let Some(compactor) = self.compactor.as_mut() else {
            return Ok(());
        };
        if let Some(target) = compactor.step(now, revision, leads) {
            log::info!(
                "starting auto compaction at revision {target} ({})",
                compactor.describe()
            );
            self.propose_internal(InternalRaftRequest {
                compaction: Some(crate::pb::etcdserverpb::CompactionRequest {
                    revision: target,
                    physical: false,
                }),
                ..InternalRaftRequest::default()
            });
        }
        Ok(())
    }

    /// Pins the store's state as the next checkpoint.
    pub(super) fn checkpoint_candidate(&mut self) -> Result<Candidate, Fatal> {
        let candidate = self
            .store
            .checkpoint_candidate()
            .map_err(Fatal::Checkpoint)?;
        self.checkpointed_at = Instant::now();
        Ok(candidate)
    }

    /// Checkpoints the store and waits until the checkpoint is durable.
    pub(super) fn checkpoint_now(&mut self) -> Result<(), Fatal> {
        let candidate = self.checkpoint_candidate()?;
        self.checkpointer
            .write_now(candidate)
            .map_err(Fatal::Checkpoint)
    }

    /// Every --backend-batch-interval (or --backend-batch-limit entries) while the store
    /// changes, a checkpoint is handed to the checkpoint thread (one at a time).
    pub(super) fn maybe_checkpoint(&mut self) -> Result<(), Fatal> {
        if let Some(error) = self.checkpointer.failure() {
            return Err(Fatal::Checkpoint(error));
        }
        // Compared with the durable checkpoint, so one that failed for lack of space is tried
        // again.
        let durable = self.checkpointer.durable.load(Ordering::Acquire);
        let applied = self.status.applied_index();
        let due = self.checkpointed_at.elapsed() >= self.bootstrap.checkpoint_interval
            || applied >= durable + self.bootstrap.checkpoint_entries;
        if applied > durable && due && !self.checkpointer.is_busy() {
            let candidate = self.checkpoint_candidate()?;
            self.checkpointer
                .request(candidate)
                .map_err(Fatal::Checkpoint)?;
        }
        Ok(())
    }

    /// Every --snapshot-count applied entries (once a checkpoint holds them): drop the WAL
    /// segments the checkpoint makes redundant and all but the catch-up entries of the
    /// in-memory log.
    pub(super) fn maybe_compact(&mut self) -> Result<(), Fatal> {
        let applied = self
            .checkpointer
            .durable
            .load(std::sync::atomic::Ordering::Acquire);
        if applied < self.compacted_at + self.bootstrap.snapshot_count {
            return Ok(());
        }
        self.log(LogOp::Compact { applied })?;
        let keep = SNAPSHOT_CATCH_UP_ENTRIES.min(self.bootstrap.snapshot_count);
        let first_kept = applied.saturating_sub(keep).max(1);
        self.raw.raft.raft_log.store.wl().compact(first_kept)?;
        log::info!("raft: compacted the log at applied index {applied}; memory keeps entries from {first_kept}");
        self.compacted_at = applied;
        Ok(())
    }
}

//! Apply: committed entries into the store (retried while the disk is full), conf changes
//! handed to raft, a leader's snapshot installed; undecodable entries answered and skipped alike
//! on every member.

use super::*;

/// A waiter's ID and the answer for it.
type EntryAnswer = (u64, Result<Applied, KvError>);

impl Node {
    /// Applies committed entries, in order: behind any that wait for disk space, and kept to be
    /// tried again if the store has no room for them.
    pub(super) fn apply_committed(&mut self, entries: Vec<Entry>) -> Result<(), Fatal> {
        if !self.unapplied.is_empty() {
            self.unapplied.extend(entries);
            return Ok(());
        }
        match self.apply(&entries) {
            Err(Fatal::Store(KvError::Storage(e))) if crate::disk::is_store_no_space(&e) => {
                self.status.disk.set(crate::disk::Writer::Store, true);
                self.unapplied = entries;
                self.apply_retry_at = Instant::now() + crate::disk::RETRY_INTERVAL;
                Ok(())
            }
            result => result,
        }
    }

    /// Whether a request or a linearizable read of this member waits for entries to apply.
    pub(super) fn someone_waits(&self) -> bool {
        !self.waiters.is_empty() || self.reads.waiting_for_apply()
    }

    /// Whether committed entries may be held back (held.rs): on a follower no watch stream
    /// is open on (its requests and reads are checked by the caller).
    fn may_hold(&self) -> bool {
        !self.is_leader() && !self.hub.has_subscribers()
    }

    /// Holds committed entries no one here waits for; what must be applied now instead (with
    /// everything held before it), if anything.
    pub(super) fn hold_committed(&mut self, committed: Vec<Entry>) -> Option<Vec<Entry>> {
        if !self.may_hold() {
            return Some(self.held.release_with(committed));
        }
        let refused = self.held.hold(committed, Instant::now())?;
        Some(self.held.release_with(refused))
    }

    /// When the held entries must be applied (None while nothing is held): at the end of
    /// their hold, or now once someone here could be waiting for them or the member leads.
    pub(super) fn held_due(&self) -> Option<Instant> {
        let end_of_hold = self.held.due()?;
        let may_go_on = !self.someone_waits() && self.may_hold();
        Some(if may_go_on {
            end_of_hold
        } else {
            Instant::now()
        })
    }

    /// Applies the held entries once they are due (`held_due`).
    pub(super) fn apply_held_if_due(&mut self) -> Result<(), Fatal> {
        if self.held_due().is_none_or(|due| Instant::now() < due) {
            return Ok(());
        }
        let held = self.held.release_with(Vec::new());
        self.apply_committed(held)?;
        self.reads.release(self.status.applied_index());
        self.advance_apply();
        Ok(())
    }

    /// Tries the entries that waited for disk space again, once it is time to.
    pub(super) fn retry_unapplied(&mut self) -> Result<(), Fatal> {
        if self.unapplied.is_empty() || Instant::now() < self.apply_retry_at {
            return Ok(());
        }
        let entries = std::mem::take(&mut self.unapplied);
        self.apply_committed(entries)?;
        if self.unapplied.is_empty() {
            self.status.disk.set(crate::disk::Writer::Store, false);
            self.advance_apply();
        }
        Ok(())
    }

    /// Applies committed entries in one store transaction together with the applied index, then
    /// answers the waiting requests and released reads. If the transaction cannot commit,
    /// nothing of it happened (raft's configuration aside, which `conf_given_to_raft` keeps
    /// from being changed twice).
    pub(super) fn apply(&mut self, entries: &[Entry]) -> Result<(), Fatal> {
        let Some((last, last_term)) = entries.last().map(|e| (e.index, e.term)) else {
            return Ok(());
        };
        let applied = self.status.applied_index();
        if entries[0].index != applied + 1 {
            return Err(Fatal::Wal(format!(
                "apply: committed entries start at {}, but the store has applied up to {applied}",
                entries[0].index
            )));
        }
        let store = self.store.clone();
        let mut txn = store.write_txn()?;
        let mut answers = Vec::new();
        for entry in entries {
            let answer = match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => continue,
                EntryType::EntryNormal => self.apply_request(&store, &mut txn, entry)?,
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change_entry(&store, &mut txn, entry)?
                }
            };
            answers.push(answer);
        }
        store.set_applied(&mut txn, last, last_term)?;
        let auth_revision = store.auth_revision(&txn)?;
        let members_changed = answers
            .iter()
            .any(|(_, result)| matches!(result, Ok(Applied::Members)));
        // The answers leave before the commit, so that waking the threads that send them
        // overlaps the commit's page writes; each waits there for the applied index below
        // (RaftHandle::wait_proposal). Should the commit fail, they wait for it to succeed
        // (the entries are applied again, to the same answers) or for their timeout.
        for (id, result) in answers {
            if let Some(reply) = self.waiters.remove(&id) {
                let _ = reply.send(Ok(ProposalAnswer {
                    result,
                    visible_at: last,
                }));
            }
        }
        let started = Instant::now();
        txn.commit()?;
        crate::metrics::BACKEND_COMMIT.observe(started.elapsed());
        self.hub.notify(auth_revision);
        if members_changed {
            self.refresh_peers()?;
        }
        self.status.set_applied_index(last);
        self.reads.release(last);
        Ok(())
    }

    /// One client request applied (an undecodable one refused), auth tokens and the lease
    /// clock brought along: the answer for its waiter.
    fn apply_request(
        &mut self,
        store: &Store,
        txn: &mut heed::RwTxn,
        entry: &Entry,
    ) -> Result<EntryAnswer, Fatal> {
        let request = match decode_request(entry) {
            Ok(request) => request,
            Err((id, refusal)) => return Ok((id, Err(refusal))),
        };
        let started = Instant::now();
        let mut result = apply::apply(store, txn, &request);
        if let Ok(applied @ (Applied::Authenticated(_) | Applied::Auth)) = &mut result {
            let auth_revision = store.auth_revision(txn)?;
            let token = match applied {
                Applied::Authenticated(response) => Some(&mut response.token),
                _ => None,
            };
            self.tokens
                .after_apply(entry.index, auth_revision, &request, token);
        }
        self.report_apply(entry.index, &request, &result, started.elapsed());
        if let Err(KvError::Storage(e)) = result {
            return Err(Fatal::Store(KvError::Storage(e)));
        }
        self.track_leases(&request, &result);
        let id = request.header.map(|h| h.id).unwrap_or(0);
        Ok((id, result))
    }

    /// The lease clock follows what an applied request did to leases.
    fn track_leases(&mut self, request: &InternalRaftRequest, result: &Result<Applied, KvError>) {
        match result {
            Ok(Applied::LeaseGrant(grant)) => self.leases.refresh(grant.id, grant.ttl),
            Ok(Applied::LeaseRenewed(ttl)) => {
                if let Some(renew) = &request.lease_renew {
                    self.leases.refresh(renew.id, *ttl);
                }
            }
            Ok(Applied::Internal) => {
                let checkpoints = request.lease_checkpoint.iter();
                for checkpoint in checkpoints.flat_map(|c| &c.checkpoints) {
                    self.leases
                        .checkpoint(checkpoint.id, checkpoint.remaining_ttl);
                }
            }
            Ok(Applied::LeaseRevoke(_)) | Err(KvError::LeaseNotFound) => {
                if let Some(revoke) = &request.lease_revoke {
                    self.leases.forget(revoke.id);
                }
            }
            _ => {}
        }
    }

    /// A membership change: checked against the member table (a refused one is applied by
    /// raft as a no-op, as etcd does), handed to raft once, recorded with raft's new
    /// configuration in the same transaction.
    fn apply_conf_change_entry(
        &mut self,
        store: &Store,
        txn: &mut heed::RwTxn,
        entry: &Entry,
    ) -> Result<EntryAnswer, Fatal> {
        let mut change = decode_conf_change(entry);
        let verdict = membership::validate_conf_change(store, txn, &change);
        if let Err(KvError::Storage(e)) = verdict {
            return Err(Fatal::Store(KvError::Storage(e)));
        }
        if verdict.is_err() {
            change.node_id = 0;
        }
        let conf_state = if entry.index > self.conf_given_to_raft {
            self.conf_given_to_raft = entry.index;
            self.raw.apply_conf_change(&change)?
        } else {
            self.raw.raft.prs().conf().to_conf_state()
        };
        store.set_conf_state(
            txn,
            &conf_state.write_to_bytes().expect("conf state encodes"),
        )?;
        self.raw.raft.raft_log.store.wl().set_conf_state(conf_state);
        if verdict.is_ok() {
            membership::apply_conf_change(store, txn, &change)?;
        }
        if change.get_change_type() == ConfChangeType::RemoveNode
            && change.node_id == self.bootstrap.member_id
        {
            self.removed_at = Some(Instant::now());
        }
        Ok((change.id, verdict.map(|()| Applied::Members)))
    }

    /// Replaces the store with a leader's snapshot (spooled by the transport), then makes the
    /// WAL and raft's log start after it.
    pub(super) fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Fatal> {
        let metadata = snapshot.get_metadata();
        let spooled = SpooledSnapshot::from_data(&snapshot.data);
        let path = spooled.path().display().to_string();
        let file = std::fs::File::open(spooled.path())
            .map_err(|e| Fatal::Wal(format!("opening received snapshot {path}: {e}")))?;
        let store = self.store.clone();
        let mut txn = store.write_txn()?;
        let index = store
            .load(&mut txn, std::io::BufReader::new(file))
            .map_err(|e| Fatal::Wal(format!("received snapshot {path}: {e}")))?;
        if index != metadata.index {
            return Err(Fatal::Wal(format!(
                "received snapshot {path} holds entry {index}, not {}",
                metadata.index
            )));
        }
        let auth_revision = store.auth_revision(&txn)?;
        txn.commit()?;
        self.hub.notify(auth_revision);
        self.checkpoint_now()?;
        self.log(LogOp::InstallSnapshot {
            index: metadata.index,
            term: metadata.term,
            hard_state: self.raw.raft.hard_state(),
        })?;
        self.raw
            .raft
            .raft_log
            .store
            .wl()
            .apply_snapshot(snapshot.clone())?;
        spooled.remove();
        self.status.set_applied_index(metadata.index);
        self.compacted_at = metadata.index;
        self.refresh_peers()?;
        log::info!(
            "raft: installed a snapshot at index {} (term {})",
            metadata.index,
            metadata.term
        );
        Ok(())
    }

    /// What etcd logs about an applied request: a compaction done, an apply slower than
    /// --experimental-warning-apply-duration.
    pub(super) fn report_apply(
        &self,
        index: u64,
        request: &InternalRaftRequest,
        result: &apply::ApplyResult,
        took: Duration,
    ) {
        if let (Some(compaction), Ok(_)) = (&request.compaction, result) {
            log::info!(
                "compacted the store at revision {} (took {took:?})",
                compaction.revision
            );
        }
        let expected = self.bootstrap.warning_apply_duration;
        if !expected.is_zero() && took > expected {
            log::warn!(
                "apply request took too long: entry {index} took {took:?}, expected duration {expected:?}"
            );
        }
    }
}

/// The request in a normal entry, or, for one that cannot be decoded (a client's request that
/// only decodes at the API, a damaged or foreign entry), the refusal its proposer gets. Every
/// member decodes the same bytes the same way, so every member skips it alike.
pub(super) fn decode_request(entry: &Entry) -> Result<InternalRaftRequest, (u64, KvError)> {
    InternalRaftRequest::decode(entry.data.as_ref()).map_err(|error| {
        crate::metrics::REFUSED_ENTRIES.add(1);
        log::warn!(
            "apply: entry {} is not a request this member can apply ({error}); skipped, its proposer is answered with an error",
            entry.index
        );
        (
            proposer_id(&entry.data),
            KvError::Unapplicable(format!("the request could not be decoded: {error}")),
        )
    })
}

/// The header ID of an encoded InternalRaftRequest that does not decode as a whole, read
/// without descending into its other fields (0 when even that fails).
pub(super) fn proposer_id(data: &[u8]) -> u64 {
    use crate::schema::{decode, fields_of, Value};
    let fields = fields_of("etcdserverpb.InternalRaftRequest");
    let Some(header) = fields.iter().position(|f| f.name == "header") else {
        return 0;
    };
    match decode(fields, data).swap_remove(header).pop() {
        Some(Value::Bytes(bytes)) => RequestHeader::decode(bytes).map_or(0, |h| h.id),
        _ => 0,
    }
}

/// The conf change in an entry; one that cannot be decoded, and the joint changes (V2) this
/// member never proposes, become an empty change, which raft applies as a no-op (as etcd
/// applies a refused change).
pub(super) fn decode_conf_change(entry: &Entry) -> ConfChange {
    let decoded = match entry.get_entry_type() {
        EntryType::EntryConfChange => {
            ConfChange::parse_from_bytes(&entry.data).map_err(|e| e.to_string())
        }
        _ => Err("joint configuration changes are not supported".to_string()),
    };
    decoded.unwrap_or_else(|error| {
        crate::metrics::REFUSED_ENTRIES.add(1);
        log::warn!(
            "apply: entry {} is not a configuration change this member can apply ({error}); applied as a no-op",
            entry.index
        );
        ConfChange::default()
    })
}

//! The raft thread: start-up (bootstrap or recovery from the WAL and the store) and the Ready
//! loop, in raft-rs's order so it can be checked step by step against its examples. Start-up,
//! command intake, apply and upkeep are in the child modules.

mod commit_notice;
mod committed;
mod held;
mod intake;
mod start;
mod upkeep;

pub use start::start;

use super::checkpointer::Checkpointer;
use super::compactor::Compactor;
use super::inbound;
use super::leases::LeaseClock;
use super::log_writer::{self, LogEvent, LogOp};
use super::logger::raft_logger;
use super::reads::ReadBatcher;
use super::{
    Command, Inbox, MemberChange, ProposalAnswer, ProposalReply, RaftError, RaftHandle, RaftStatus,
};
use crate::apply::membership;
use crate::apply::{self, Applied};
use crate::doorbell::Doorbell;
use crate::mvcc::checkpoint::Candidate;
use crate::mvcc::MemberError;
use crate::mvcc::{KvError, Store};
use crate::pb::etcdserverpb::{
    ClusterVersionSetRequest, InternalRaftRequest, Member, MemberAttributesRequest, RequestHeader,
};
use crate::peer::{Answer, PeerEvent, Query, SpooledSnapshot, Transport};
use crate::wal::{Replayed, Wal};
use crate::watch::Hub;
use commit_notice::CommitNotice;
use held::HeldEntries;
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeType, ConfState, Entry, EntryType, Message, MessageType, Snapshot,
};
use raft::storage::MemStorage;
use raft::{RawNode, SnapshotStatus, StateRole};
use smol::channel::{Receiver, Sender};
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Commands handled per loop turn before the Ready is processed: the batch one fdatasync covers.
const MAX_COMMANDS_PER_TURN: usize = 1024;
/// Entries kept in memory below a compaction so a slightly slow follower catches up from the
/// log rather than from a snapshot (etcd's SnapshotCatchUpEntries); never more than
/// --snapshot-count.
const SNAPSHOT_CATCH_UP_ENTRIES: u64 = 5000;
/// Requests (and membership changes) that may wait for a leader to be known; beyond this they
/// are answered "no leader" at once.
const MAX_WAITING_FOR_LEADER: usize = 4096;
/// Bytes of proposed entries the leader lets wait for commitment (raft-rs drops proposals
/// beyond it; they are answered "too many requests").
const MAX_UNCOMMITTED_BYTES: u64 = 256 * 1024 * 1024;
/// Bytes of entries in one raft message: a round's proposals (a single larger request goes
/// alone) and raft's appends to a follower (max_size_per_msg).
const MAX_MESSAGE_ENTRY_BYTES: usize = 1024 * 1024;
/// Bytes of committed entries handed to one apply (one store transaction).
const MAX_COMMITTED_BYTES_PER_READY: u64 = 16 * 1024 * 1024;

/// Who this member is and how a new cluster starts.
pub struct Bootstrap {
    pub member_id: u64,
    pub cluster_id: u64,
    /// The initial members; used only when the data dir is new.
    pub initial_members: Vec<Member>,
    /// Joining a running cluster: the log starts empty and the leader fills it.
    pub join: bool,
    pub name: String,
    pub client_urls: Vec<String>,
    pub heartbeat_interval: Duration,
    pub election_timeout: Duration,
    /// Applied entries between log compactions (--snapshot-count).
    pub snapshot_count: u64,
    /// --experimental-enable-lease-checkpoint: the leader replicates remaining TTLs this often.
    pub lease_checkpoint_interval: Option<Duration>,
    /// --pre-vote.
    pub pre_vote: bool,
    /// --initial-election-tick-advance: a new cluster's members elect a leader one tick after
    /// starting instead of a whole election timeout.
    pub initial_election_tick_advance: bool,
    /// --backend-batch-interval and --backend-batch-limit: the store is checkpointed (made
    /// durable) this often while it changes, or after this many applied entries.
    pub checkpoint_interval: Duration,
    pub checkpoint_entries: u64,
    /// --auto-compaction-mode and --auto-compaction-retention.
    pub auto_compaction: Option<crate::config::AutoCompaction>,
    /// --experimental-warning-apply-duration: an apply slower than this is logged.
    pub warning_apply_duration: Duration,
    /// --force-new-cluster: start this member's data as a one-member cluster.
    pub force_new_cluster: bool,
}

struct Node {
    raw: RawNode<MemStorage>,
    /// The WAL writer.
    log: log_writer::LogWriter,
    /// The WAL thread's reports.
    log_events: Receiver<LogEvent>,
    /// Readies this thread wrote to the WAL itself (log_writer.rs), reported after the turn
    /// (or within it, before an apply no one here waits for).
    persisted_here: Vec<u64>,
    /// The turn reported appends of its own: another turn follows.
    persisted_in_turn: bool,
    /// What this thread sleeps on: channel sends and readable peer streams.
    bell: Arc<Doorbell>,
    /// The peers' raft streams this thread reads itself (peer/incoming.rs), by epoll key.
    incoming: crate::peer::IncomingStreams,
    /// Keys of incoming streams with something to read, not yet read.
    readable: Vec<u64>,
    /// Messages to send once the Ready with that number is on disk.
    awaiting_persist: Vec<(u64, Vec<Message>)>,
    store: Arc<Store>,
    status: Arc<RaftStatus>,
    /// Requests proposed by this member, by header ID, waiting for their apply.
    waiters: HashMap<u64, ProposalReply>,
    /// Proposals waiting for the next proposal round (or for a leader to be known); boxed as
    /// they arrive, since an InternalRaftRequest is 1.2 KB and would be copied at every move.
    #[allow(clippy::vec_box)]
    unproposed: Vec<Box<InternalRaftRequest>>,
    unproposed_changes: Vec<ConfChange>,
    /// MoveLeader requests waiting for their target to lead.
    transfers: Vec<(u64, Sender<Result<(), KvError>>)>,
    /// When this member saw its own removal applied; it stops one election timeout later, so
    /// that the answer to the removal and the final messages still go out.
    removed_at: Option<Instant>,
    next_request_id: u64,
    reads: ReadBatcher,
    bootstrap: Bootstrap,
    /// This process has proposed its name and client URLs (etcd's publish).
    published: bool,
    /// The term in which this member, as leader, last proposed the cluster version.
    version_proposed_term: u64,
    transport: Transport,
    /// The applied index of the last log compaction.
    compacted_at: u64,
    checkpointer: Checkpointer,
    /// Wakes watch streams after each commit.
    hub: Arc<Hub>,
    /// Simple tokens: issued and ended as auth entries apply, on every member.
    tokens: Arc<crate::auth::Tokens>,
    leases: LeaseClock,
    /// When the leader next replicates remaining TTLs (with lease checkpointing on).
    next_lease_checkpoint: Instant,
    /// Whether this member led at the last look (a new leader restarts the lease clocks).
    was_leader: bool,
    /// When the last checkpoint was requested.
    checkpointed_at: Instant,
    /// Committed entries waiting for disk space to be applied, oldest first; while any wait,
    /// newer ones queue behind them.
    unapplied: Vec<Entry>,
    /// When to try applying `unapplied` again.
    apply_retry_at: Instant,
    /// Committed entries a follower holds back while no one here waits for them (held.rs).
    held: HeldEntries,
    /// The last conf-change entry handed to raft: a retried apply does not hand it twice.
    conf_given_to_raft: u64,
    /// --auto-compaction-*: samples revisions; the leader proposes compactions.
    compactor: Option<Compactor>,
    /// What the followers have been told of the leader's commit index.
    commit_notice: CommitNotice,
}

#[derive(Debug)]
enum Fatal {
    Wal(String),
    Store(KvError),
    Checkpoint(String),
    Raft(raft::Error),
}

impl std::fmt::Display for Fatal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fatal::Wal(message) => write!(f, "log: {message}"),
            Fatal::Store(error) => write!(f, "store: {error}"),
            Fatal::Checkpoint(error) => write!(f, "checkpoint: {error}"),
            Fatal::Raft(error) => write!(f, "raft: {error}"),
        }
    }
}

impl From<KvError> for Fatal {
    fn from(e: KvError) -> Fatal {
        Fatal::Store(e)
    }
}

impl From<heed::Error> for Fatal {
    fn from(e: heed::Error) -> Fatal {
        Fatal::Store(KvError::Storage(e))
    }
}

impl From<raft::Error> for Fatal {
    fn from(e: raft::Error) -> Fatal {
        Fatal::Raft(e)
    }
}

/// Why the raft loop ended without an error.
enum Stop {
    /// The command channel closed (the process is shutting down).
    Closed,
    /// This member's removal was applied.
    Removed,
}

/// What one look at the raft thread's channels found.
enum Taken {
    Nothing,
    Something,
    /// The command channel closed (the process is shutting down).
    Closed,
}

impl Node {
    /// The loop, on the raft thread: it takes what arrived on its channels, or sleeps until
    /// one rings `bell` or the next tick is due.
    fn run(
        mut self,
        commands: Receiver<Command>,
        peer_events: Receiver<PeerEvent>,
    ) -> Result<Stop, Fatal> {
        let tick_interval = self.bootstrap.heartbeat_interval;
        let mut next_tick = Instant::now() + tick_interval;
        loop {
            match self.take_waiting(&commands, &peer_events)? {
                Taken::Closed => return Ok(Stop::Closed),
                Taken::Nothing if Instant::now() < self.wake_at(next_tick) => {
                    let bell = self.bell.clone();
                    bell.wait_until(self.wake_at(next_tick), &mut self.readable);
                    continue;
                }
                Taken::Nothing | Taken::Something => {}
            }
            // Tick by the clock, not by what woke the thread: a steady stream of commands must
            // not starve heartbeats and elections.
            if Instant::now() >= next_tick {
                self.raw.tick();
                next_tick = Instant::now() + tick_interval;
                self.waiters.retain(|_, reply| !reply.is_canceled());
            }
            if let Some(stop) = self.turn()? {
                return Ok(stop);
            }
            // Appends this thread wrote itself are reported (unless the turn did) after the
            // writer thread's earlier reports; the next turn applies what they let commit.
            while self.report_own_appends()? | std::mem::take(&mut self.persisted_in_turn) {
                if let Some(stop) = self.turn()? {
                    return Ok(stop);
                }
            }
        }
    }

    /// Takes what is waiting: all WAL news, and up to one batch of commands, of peer events
    /// and of what the peers' streams hold, so one fdatasync covers them.
    fn take_waiting(
        &mut self,
        commands: &Receiver<Command>,
        peer_events: &Receiver<PeerEvent>,
    ) -> Result<Taken, Fatal> {
        let mut taken = self.take_log_events()?;
        taken |= self.read_incoming();
        for _ in 0..MAX_COMMANDS_PER_TURN {
            match commands.try_recv() {
                Ok(command) => self.handle(command),
                Err(smol::channel::TryRecvError::Empty) => break,
                Err(smol::channel::TryRecvError::Closed) => return Ok(Taken::Closed),
            }
            taken = true;
        }
        for _ in 0..MAX_COMMANDS_PER_TURN {
            match peer_events.try_recv() {
                Ok(event) => self.on_peer_event(event),
                Err(_) => break,
            }
            taken = true;
        }
        Ok(if taken {
            Taken::Something
        } else {
            Taken::Nothing
        })
    }

    /// Reports the appends this thread wrote itself, after every report the WAL thread sent
    /// before them; whether there were any.
    fn report_own_appends(&mut self) -> Result<bool, Fatal> {
        if self.persisted_here.is_empty() {
            return Ok(false);
        }
        self.take_log_events()?;
        for number in std::mem::take(&mut self.persisted_here) {
            self.on_log_event(LogEvent::Persisted(number))?;
        }
        Ok(true)
    }

    /// Handles every report the WAL thread has sent so far; whether there was any.
    fn take_log_events(&mut self) -> Result<bool, Fatal> {
        let mut taken = false;
        loop {
            let received = self.log_events.try_recv();
            match received {
                Ok(event) => self.on_log_event(event)?,
                Err(smol::channel::TryRecvError::Empty) => return Ok(taken),
                Err(smol::channel::TryRecvError::Closed) => {
                    return Err(Fatal::Wal("the wal thread stopped".into()))
                }
            }
            taken = true;
        }
    }

    /// One turn of the loop after its intake: proposals, read rounds, the Ready, then upkeep;
    /// a stop once this member has been removed for an election timeout.
    fn turn(&mut self) -> Result<Option<Stop>, Fatal> {
        self.propose_pending();
        let has_leader = self.raw.raft.leader_id != 0;
        self.reads.start_round(&mut self.raw, has_leader);
        self.retry_unapplied()?;
        self.apply_held_if_due()?;
        // Before the Ready, so a follower waiting to answer its client hears of the commit
        // before this member spends its time applying it: the two apply side by side.
        self.tell_commit();
        self.on_ready()?;
        self.tend_leases()?;
        self.auto_compact()?;
        self.maybe_checkpoint()?;
        self.maybe_compact()?;
        self.answer_transfers();
        let removed = self
            .removed_at
            .is_some_and(|at| at.elapsed() > self.bootstrap.election_timeout);
        Ok(removed.then_some(Stop::Removed))
    }

    /// When the loop must wake without news: the next tick, an owed commit broadcast, or the
    /// held entries' due time (now once a watch stream has opened: subscribing rang the bell).
    fn wake_at(&self, next_tick: Instant) -> Instant {
        [self.commit_notice.due(), self.held_due()]
            .into_iter()
            .flatten()
            .fold(next_tick, Instant::min)
    }

    /// The leader tells a proposing follower its commit index at once, and everyone once a
    /// peer has gone `COMMIT_NOTICE_DELAY` without hearing it (commit_notice.rs). The appends
    /// go out with the next Ready.
    fn tell_commit(&mut self) {
        if !self.is_leader() {
            self.commit_notice.forget();
            return;
        }
        let own = self.bootstrap.member_id;
        let peers: Vec<u64> = self
            .raw
            .raft
            .prs()
            .iter()
            .map(|(id, _)| *id)
            .filter(|id| *id != own)
            .collect();
        // This turn's appends, still in raft's outbox, carry the commit index too.
        for message in &self.raw.raft.msgs {
            self.commit_notice.sent(message);
        }
        let committed = self.raw.raft.raft_log.committed;
        let tell = self.commit_notice.owed(committed, &peers, Instant::now());
        for peer in tell {
            self.raw.raft.send_append(peer);
        }
    }

    fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// A Ready reached the disk: raft may count its entries, and what waited for them goes out.
    fn on_log_event(&mut self, event: LogEvent) -> Result<(), Fatal> {
        match event {
            // 7. The persisted half of the Ready (raft-rs's on_persist_ready): the WAL
            // thread's fdatasync covered every Ready up to `number`; their messages go out.
            LogEvent::Persisted(number) => {
                self.raw.on_persist_ready(number);
                let position = self
                    .awaiting_persist
                    .iter()
                    .position(|(n, _)| *n > number)
                    .unwrap_or(self.awaiting_persist.len());
                let ready: Vec<_> = self.awaiting_persist.drain(..position).collect();
                for (_, messages) in ready {
                    self.send(messages);
                }
                self.advance_apply();
                Ok(())
            }
            LogEvent::Failed(error) => Err(Fatal::Wal(error)),
        }
    }

    /// Tells raft how far the store has applied. A just-installed snapshot counts only once
    /// raft knows it persisted (after the WAL thread's report).
    fn advance_apply(&mut self) {
        let log = &self.raw.raft.raft_log;
        let target = self.status.applied_index().min(log.persisted);
        if target > log.applied {
            self.raw.advance_apply_to(target);
        }
    }

    fn log(&mut self, op: LogOp) -> Result<(), Fatal> {
        if let Some(number) = self.log.submit(op).map_err(Fatal::Wal)? {
            self.persisted_here.push(number);
        }
        Ok(())
    }

    /// Reads the peers' streams that have something (asking epoll unless the last sleep told);
    /// whether any had.
    fn read_incoming(&mut self) -> bool {
        if self.incoming.is_empty() {
            return false;
        }
        let mut readable = std::mem::take(&mut self.readable);
        if readable.is_empty() {
            self.bell.ready(&mut readable);
        }
        let taken = !readable.is_empty();
        let mut messages = Vec::new();
        for key in readable.drain(..) {
            let Some(stream) = self.incoming.get_mut(key) else {
                continue;
            };
            let result = stream.read(&mut messages);
            let from = stream.from();
            for message in messages.drain(..) {
                self.on_peer_message(message);
            }
            let end = match result {
                Ok(true) => continue,
                Ok(false) => None,
                Err(e) => Some(e),
            };
            if let Some(stream) = self.incoming.remove(key) {
                self.bell.unwatch(stream.socket());
            }
            match end {
                None => log::debug!("raft: the stream from {from:x} ended"),
                Some(e) => {
                    static BROKEN: crate::logging::Throttled = crate::logging::Throttled::new();
                    BROKEN.warn(|| format!("raft: dropped the stream from {from:x}: {e}"));
                }
            }
        }
        self.readable = readable;
        taken
    }

    /// Starts reading a peer's admitted stream on this thread (displacing the oldest of that
    /// peer's streams beyond peer::incoming::MAX_STREAMS_PER_PEER).
    fn adopt_stream(&mut self, stream: crate::peer::IncomingStream) {
        let from = stream.from();
        let (key, displaced) = self.incoming.add(stream);
        for old in displaced {
            self.bell.unwatch(old.socket());
            log::info!("raft: a newer stream from {from:x} replaced an older one");
        }
        let Some(stream) = self.incoming.get(key) else {
            return;
        };
        match self.bell.watch(stream.socket(), key) {
            // It may hold whole frames already, or have bytes waiting that epoll reported
            // before it was watched.
            Ok(()) => self.readable.push(key),
            Err(e) => {
                log::warn!("raft: cannot watch the stream from {from:x}: {e}");
                self.incoming.remove(key);
            }
        }
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Message(message) => self.on_peer_message(*message),
            PeerEvent::Stream(stream) => self.adopt_stream(*stream),
            PeerEvent::Unreachable(id) => self.raw.report_unreachable(id),
            PeerEvent::Query { query, reply } => self.answer_query(query, reply),
            PeerEvent::SnapshotSent { to, ok } => {
                let status = if ok {
                    SnapshotStatus::Finish
                } else {
                    SnapshotStatus::Failure
                };
                self.raw.report_snapshot(to, status);
            }
        }
    }

    /// A peer's message into raft, unless raft must not take it (inbound.rs).
    fn on_peer_message(&mut self, message: Message) {
        let spooled = (message.get_msg_type() == MessageType::MsgSnapshot)
            .then(|| message.get_snapshot().data.clone());
        let discard = |data: &[u8]| SpooledSnapshot::from_data(data).remove();
        let (from, kind) = (message.from, message.get_msg_type());
        if let Some(reason) = inbound::refusal(&self.raw.raft, &message) {
            static DROPPED: crate::logging::Throttled = crate::logging::Throttled::new();
            DROPPED.warn(|| format!("raft: dropped {kind:?} from {from:x}: {reason}"));
            if let Some(data) = spooled {
                discard(&data);
            }
            return;
        }
        if let Err(e) = self.raw.step(message) {
            log::debug!("raft: dropped {kind:?} from {from:x}: {e}");
        } else if kind == MessageType::MsgPropose && self.is_leader() {
            let last_index = self.raw.raft.raft_log.last_index();
            self.commit_notice.proposed(from, last_index);
        }
        // A snapshot raft did not take (it was stale) is not needed.
        if let Some(data) = spooled {
            let pending = self.raw.raft.raft_log.unstable.snapshot.as_ref();
            if pending.map(|s| &s.data) != Some(&data) {
                discard(&data);
            }
        }
    }

    /// Points the transport at the members the store knows.
    fn refresh_peers(&mut self) -> Result<(), KvError> {
        let txn = self.store.read_txn()?;
        let mut peers = membership::peer_urls(&self.store, &txn)?;
        if peers.is_empty() {
            // Before the bootstrap entries are applied, the initial cluster is the membership.
            peers = self
                .bootstrap
                .initial_members
                .iter()
                .map(|m| (m.id, m.peer_ur_ls.clone()))
                .collect();
        }
        self.transport.set_members(&peers);
        Ok(())
    }

    /// One pass of raft-rs's Ready protocol.
    fn on_ready(&mut self) -> Result<(), Fatal> {
        if !self.raw.has_ready() {
            return Ok(());
        }
        let mut ready = self.raw.ready();
        // 1. Send messages (to peers; a single-member cluster has none).
        self.send(ready.take_messages());
        // 2. Install a snapshot: only a member receiving one from a leader gets here.
        if !ready.snapshot().is_empty() {
            let held = self.held.release_with(Vec::new());
            self.apply_committed(held)?;
            self.install_snapshot(ready.snapshot())?;
        }
        // 3. Apply committed entries (raft-rs hands out only what is on our disk too): now if
        // a request or read of this member waits for them, else after the append below.
        let committed = ready.take_committed_entries();
        self.reads.on_read_states(ready.read_states());
        let apply_later = if self.someone_waits() {
            let all = self.held.release_with(committed);
            self.apply_committed(all)?;
            None
        } else {
            Some(committed)
        };
        // 4 + 5. New entries and the hard state go to raft's log now and to the WAL: through
        // its thread, whose fdatasync overlaps the next apply, or, while that thread is idle,
        // written here (log_writer.rs).
        let entries = ready.take_entries();
        let hard_state = ready.hs().cloned();
        {
            let storage = self.raw.raft.raft_log.store.clone();
            let mut core = storage.wl();
            core.append(&entries)?;
            if let Some(hard_state) = &hard_state {
                core.set_hardstate(hard_state.clone());
            }
        }
        // 6. Messages that must wait for the append go out once it is reported on disk
        // (by the WAL thread, or after this turn when this thread wrote it).
        let number = ready.number();
        self.awaiting_persist
            .push((number, ready.take_persisted_messages()));
        self.raw.advance_append_async(ready);
        self.log(LogOp::Append {
            number,
            entries,
            hard_state,
        })?;
        if let Some(committed) = apply_later {
            // No one here waits for the apply, but the leader waits for this member's
            // acknowledgement of the append: it leaves first, and the apply (one store
            // transaction) overlaps the leader's commit instead of delaying it.
            self.persisted_in_turn |= self.report_own_appends()?;
            if let Some(due) = self.hold_committed(committed) {
                self.apply_committed(due)?;
            }
        }
        // Reads: ReadIndex answers (raft-rs's read states) release the linearizable reads
        // waiting on them once this member has applied that far.
        self.reads.release(self.status.applied_index());
        self.advance_apply();
        self.publish_status();
        Ok(())
    }

    fn send(&mut self, messages: Vec<Message>) {
        for message in messages {
            self.commit_notice.sent(&message);
            let (to, is_snapshot) = (
                message.to,
                message.get_msg_type() == MessageType::MsgSnapshot,
            );
            if !self.transport.send(message) {
                if is_snapshot {
                    self.raw.report_snapshot(to, SnapshotStatus::Failure);
                } else {
                    self.raw.report_unreachable(to);
                }
            }
        }
    }

    fn publish_status(&self) {
        let raft = &self.raw.raft;
        self.status.term.store(raft.term, Ordering::Release);
        let previous = self.status.leader_id.swap(raft.leader_id, Ordering::AcqRel);
        // As etcd counts: every time a leader other than the last one known is seen.
        if raft.leader_id != 0 && raft.leader_id != previous {
            crate::metrics::LEADER_CHANGES.add(1);
            if raft.leader_id == self.bootstrap.member_id {
                crate::peer::stats::became_leader(raft.leader_id);
            }
        }
        self.status
            .commit_index
            .store(raft.raft_log.committed, Ordering::Release);
        let is_learner = raft
            .prs()
            .conf()
            .learners()
            .contains(&self.bootstrap.member_id);
        self.status.is_learner.store(is_learner, Ordering::Release);
    }
}

//! The raft thread: start-up (bootstrap or recovery from the WAL and the store) and the Ready
//! loop, in raft-rs's order so it can be checked step by step against its examples.

use super::checkpointer::Checkpointer;
use super::compactor::Compactor;
use super::inbound;
use super::leases::LeaseClock;
use super::log_writer::{self, LogEvent, LogOp};
use super::logger::raft_logger;
use super::reads::ReadBatcher;
use super::{Command, MemberChange, ProposalReply, RaftError, RaftHandle, RaftStatus};
use crate::apply::membership;
use crate::apply::{self, Applied};
use crate::mvcc::checkpoint::Candidate;
use crate::mvcc::MemberError;
use crate::mvcc::{KvError, Store};
use crate::pb::etcdserverpb::{
    ClusterVersionSetRequest, InternalRaftRequest, Member, MemberAttributesRequest, RequestHeader,
};
use crate::peer::{Answer, PeerEvent, Query, Transport};
use crate::wal::{Replayed, Wal};
use crate::watch::Hub;
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
    /// The WAL writer thread's queue.
    log: Sender<LogOp>,
    /// Messages to send once the Ready with that number is on disk.
    awaiting_persist: Vec<(u64, Vec<Message>)>,
    store: Arc<Store>,
    status: Arc<RaftStatus>,
    /// Requests proposed by this member, by header ID, waiting for their apply.
    waiters: HashMap<u64, ProposalReply>,
    /// Proposals that arrived while no leader was known.
    unproposed: Vec<InternalRaftRequest>,
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
    /// The last conf-change entry handed to raft: a retried apply does not hand it twice.
    conf_given_to_raft: u64,
    /// --auto-compaction-*: samples revisions; the leader proposes compactions.
    compactor: Option<Compactor>,
}

/// Opens the WAL (writing the bootstrap entries on a new data dir), rebuilds raft's state and
/// starts the raft thread.
pub fn start(
    wal_dir: &Path,
    store: Arc<Store>,
    bootstrap: Bootstrap,
    transport: Transport,
    peer_events: Receiver<PeerEvent>,
    hub: Arc<Hub>,
    tokens: Arc<crate::auth::Tokens>,
) -> Result<RaftHandle, String> {
    let is_new = !Wal::exists(wal_dir);
    let applied = store
        .read_txn()
        .and_then(|txn| store.applied_index(&txn))
        .map_err(|e| format!("reading the store: {e}"))?;
    if is_new && applied > 0 {
        // Bootstrapping again would rewind raft below what the store already holds.
        return Err(format!(
            "{} has no log, but the store has applied up to entry {applied}: the WAL was removed or moved; refusing to start",
            wal_dir.display()
        ));
    }
    let (mut wal, mut replayed) = Wal::open(wal_dir).map_err(|e| e.to_string())?;
    if is_new && !bootstrap.join {
        let entries = membership::bootstrap_entries(&bootstrap.initial_members);
        let hard_state = raft::eraftpb::HardState {
            term: 1,
            commit: entries.len() as u64,
            ..Default::default()
        };
        wal.append(&entries, Some(&hard_state))
            .map_err(|e| e.to_string())?;
        replayed = Replayed {
            entries,
            hard_state: Some(hard_state),
            snapshot: None,
        };
    }
    if !is_new && bootstrap.force_new_cluster {
        super::recovery::force_new_cluster(&mut wal, &mut replayed, &store, bootstrap.member_id)?;
    }
    let (storage, applied) =
        rebuild_storage(&store, replayed).map_err(|e| format!("recovering raft state: {e}"))?;
    let election_tick = (bootstrap.election_timeout.as_millis()
        / bootstrap.heartbeat_interval.as_millis()) as usize;
    let config = raft::Config {
        id: bootstrap.member_id,
        election_tick,
        heartbeat_tick: 1,
        applied,
        max_size_per_msg: 1024 * 1024,
        max_inflight_msgs: 256,
        max_uncommitted_size: MAX_UNCOMMITTED_BYTES,
        max_committed_size_per_ready: MAX_COMMITTED_BYTES_PER_READY,
        pre_vote: bootstrap.pre_vote,
        check_quorum: true,
        ..raft::Config::default()
    };
    config
        .validate()
        .map_err(|e| format!("raft configuration: {e}"))?;
    let mut raw = RawNode::new(&config, storage, &raft_logger())
        .map_err(|e| format!("starting raft: {e}"))?;
    let voters = raw
        .raft
        .prs()
        .conf()
        .voters()
        .ids()
        .iter()
        .collect::<Vec<u64>>();
    if voters == [bootstrap.member_id] {
        // A single voter needs no election timeout to know it wins (etcd does the same).
        raw.campaign().map_err(|e| format!("starting raft: {e}"))?;
    } else if is_new && !bootstrap.join && bootstrap.initial_election_tick_advance {
        // A new cluster has no leader to hear from: elect one a tick after starting. (etcd
        // also advances on restart; here a restarting member waits, so it never disrupts a
        // running leader it has not heard from yet.)
        for _ in 1..election_tick {
            raw.tick();
        }
    }
    let status = Arc::new(RaftStatus {
        member_id: bootstrap.member_id,
        cluster_id: bootstrap.cluster_id,
        ..RaftStatus::default()
    });
    status.applied_index.store(applied, Ordering::Release);
    let (handle, commands) = RaftHandle::new(status.clone(), bootstrap.election_timeout);
    let (log, log_events) = log_writer::start(wal, status.disk.clone())?;
    let checkpointer = Checkpointer::start(store.clone(), status.disk.clone())?;
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let compactor = bootstrap
        .auto_compaction
        .map(|mode| Compactor::new(mode, Instant::now()));
    let node = Node {
        raw,
        log,
        awaiting_persist: Vec::new(),
        store,
        status,
        waiters: HashMap::new(),
        unproposed: Vec::new(),
        unproposed_changes: Vec::new(),
        transfers: Vec::new(),
        removed_at: None,
        // etcd's ID scheme: the member's low 16 bits, then time, so IDs from different members
        // and different runs do not collide.
        next_request_id: ((bootstrap.member_id & 0xffff) << 48)
            | ((started_ms & 0xff_ffff_ffff) << 8),
        reads: ReadBatcher::new(bootstrap.election_timeout),
        bootstrap,
        published: false,
        version_proposed_term: 0,
        transport,
        compacted_at: applied,
        checkpointer,
        hub,
        tokens,
        leases: LeaseClock::default(),
        next_lease_checkpoint: Instant::now(),
        was_leader: false,
        checkpointed_at: Instant::now(),
        unapplied: Vec::new(),
        apply_retry_at: Instant::now(),
        conf_given_to_raft: 0,
        compactor,
    };
    let mut node = node;
    node.checkpoint_now()
        .map_err(|e| format!("checkpointing the store: {e}"))?;
    node.refresh_peers()
        .map_err(|e| format!("reading the members: {e:?}"))?;
    std::thread::Builder::new()
        .name("raft".to_string())
        .spawn(
            move || match smol::block_on(node.run(commands, peer_events, log_events)) {
                Err(error) => {
                    log::error!("raft: stopping the member: {error}");
                    std::process::exit(1);
                }
                Ok(Stop::Removed) => {
                    log::warn!("the member has been permanently removed from the cluster; exiting");
                    std::process::exit(0);
                }
                Ok(Stop::Closed) => {}
            },
        )
        .map_err(|e| format!("starting the raft thread: {e}"))?;
    Ok(handle)
}

/// raft's in-memory log: the store is the snapshot (its applied index, term and configuration),
/// the WAL's entries after it are the log; plus the WAL's hard state.
fn rebuild_storage(store: &Store, replayed: Replayed) -> Result<(MemStorage, u64), String> {
    let storage_error = |e: heed::Error| format!("reading the store: {e}");
    let txn = store.read_txn().map_err(storage_error)?;
    let applied = store.applied_index(&txn).map_err(storage_error)?;
    let applied_term = store.applied_term(&txn).map_err(storage_error)?;
    let conf_state = match store.conf_state(&txn).map_err(storage_error)? {
        Some(bytes) => ConfState::parse_from_bytes(&bytes)
            .map_err(|e| format!("the store's raft configuration is not valid: {e}"))?,
        None => ConfState::from((membership::bootstrap_voters(&replayed.entries), vec![])),
    };
    drop(txn);
    if let Some((index, _)) = replayed.snapshot {
        if index > applied {
            return Err(format!(
                "the WAL records a snapshot at entry {index} but the store has applied only {applied}"
            ));
        }
    }
    let entries: Vec<Entry> = replayed
        .entries
        .into_iter()
        .filter(|e| e.index > applied)
        .collect();
    if let Some(first) = entries.first() {
        if first.index != applied + 1 {
            return Err(format!(
                "the WAL's entries start at {} but the store has applied only up to {applied}",
                first.index
            ));
        }
    }
    let storage = MemStorage::new();
    if applied == 0 {
        storage.initialize_with_conf_state(conf_state);
    } else {
        let mut snapshot = Snapshot::default();
        let metadata = snapshot.mut_metadata();
        metadata.index = applied;
        metadata.term = applied_term;
        metadata.set_conf_state(conf_state);
        storage
            .wl()
            .apply_snapshot(snapshot)
            .map_err(|e| format!("rebuilding the raft log: {e}"))?;
    }
    let mut hard_state = replayed.hard_state.unwrap_or_default();
    // The hard state's commit index is persisted lazily; what the store applied was committed.
    hard_state.commit = hard_state.commit.max(applied);
    hard_state.term = hard_state.term.max(applied_term);
    {
        let mut core = storage.wl();
        core.append(&entries)
            .map_err(|e| format!("rebuilding the raft log: {e}"))?;
        core.set_hardstate(hard_state);
    }
    Ok((storage, applied))
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

enum Wake {
    Command(Command),
    Peer(PeerEvent),
    Log(LogEvent),
    Tick,
    Closed,
}

impl Node {
    async fn run(
        mut self,
        commands: Receiver<Command>,
        peer_events: Receiver<PeerEvent>,
        log_events: Receiver<LogEvent>,
    ) -> Result<Stop, Fatal> {
        let tick_interval = self.bootstrap.heartbeat_interval;
        let mut next_tick = Instant::now() + tick_interval;
        loop {
            let wake = smol::future::or(
                async {
                    commands
                        .recv()
                        .await
                        .map(Wake::Command)
                        .unwrap_or(Wake::Closed)
                },
                smol::future::or(
                    async {
                        match peer_events.recv().await {
                            Ok(event) => Wake::Peer(event),
                            Err(_) => smol::future::pending().await,
                        }
                    },
                    smol::future::or(
                        async {
                            match log_events.recv().await {
                                Ok(event) => Wake::Log(event),
                                Err(_) => {
                                    Wake::Log(LogEvent::Failed("the wal thread stopped".into()))
                                }
                            }
                        },
                        async {
                            smol::Timer::at(next_tick).await;
                            Wake::Tick
                        },
                    ),
                ),
            )
            .await;
            match wake {
                Wake::Closed => return Ok(Stop::Closed),
                Wake::Tick => {}
                Wake::Command(command) => self.handle(command),
                Wake::Peer(event) => self.on_peer_event(event),
                Wake::Log(event) => self.on_log_event(event)?,
            }
            while let Ok(event) = log_events.try_recv() {
                self.on_log_event(event)?;
            }
            // Take what else is waiting, up to one batch of each, so one fdatasync covers it.
            for _ in 1..MAX_COMMANDS_PER_TURN {
                match commands.try_recv() {
                    Ok(command) => self.handle(command),
                    Err(_) => break,
                }
            }
            for _ in 1..MAX_COMMANDS_PER_TURN {
                match peer_events.try_recv() {
                    Ok(event) => self.on_peer_event(event),
                    Err(_) => break,
                }
            }
            // Tick by the clock, not by which future won: a steady stream of commands must not
            // starve heartbeats and elections.
            if Instant::now() >= next_tick {
                self.raw.tick();
                next_tick = Instant::now() + tick_interval;
                self.waiters.retain(|_, reply| !reply.is_closed());
            }
            self.propose_pending();
            let has_leader = self.raw.raft.leader_id != 0;
            self.reads.start_round(&mut self.raw, has_leader);
            self.retry_unapplied()?;
            self.on_ready()?;
            self.tend_leases()?;
            self.auto_compact()?;
            self.maybe_checkpoint()?;
            self.maybe_compact()?;
            self.answer_transfers();
            if self
                .removed_at
                .is_some_and(|at| at.elapsed() > self.bootstrap.election_timeout)
            {
                return Ok(Stop::Removed);
            }
        }
    }

    fn lease_keep_alive(&mut self, id: i64, reply: ProposalReply) {
        if !self.is_leader() {
            // Only the leader's clock counts: the renewal travels to it through the log.
            let request = InternalRaftRequest {
                lease_renew: Some(crate::pb::etcdserverpb::LeaseRenewRequest { id }),
                ..InternalRaftRequest::default()
            };
            self.handle(Command::Propose {
                request: Box::new(request),
                reply,
            });
            return;
        }
        let ttl = self
            .store
            .read_txn()
            .map_err(KvError::from)
            .and_then(|txn| self.store.lease_ttl(&txn, id));
        let answer = match ttl {
            Ok(Some(ttl)) => {
                if self.leases.has_checkpoint(id) {
                    // The others would start it from the old remaining TTL: clear theirs too.
                    self.propose_lease_checkpoints(&[(id, 0)]);
                }
                self.leases.refresh(id, ttl);
                Ok(Applied::LeaseRenewed(ttl))
            }
            Ok(None) => Err(KvError::LeaseNotFound),
            Err(e) => Err(e),
        };
        let _ = reply.try_send(Ok(answer));
    }

    /// The leader restarts lease clocks when it takes over and revokes what has expired.
    fn tend_leases(&mut self) -> Result<(), Fatal> {
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

    /// What etcd logs about an applied request: a compaction done, an apply slower than
    /// --experimental-warning-apply-duration.
    fn report_apply(
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

    /// --auto-compaction-*: the compactor samples the revision; when it is due on the leader,
    /// the compaction goes through raft like a client's.
    fn auto_compact(&mut self) -> Result<(), Fatal> {
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

    /// A follower's forwarded question; only the leader answers it.
    fn answer_query(&mut self, query: Query, reply: Sender<Answer>) {
        let refused = |error: KvError| {
            let status = crate::status::Status::from(error);
            Answer::Refused {
                code: status.code as u32,
                message: status.message,
            }
        };
        if !self.is_leader() {
            let _ = reply.try_send(refused(KvError::Member(MemberError::NotLeader)));
            return;
        }
        match query {
            Query::LeaseRemaining(id) => {
                let _ = reply.try_send(Answer::Remaining(self.leases.remaining(id)));
            }
            // The peer listener answers these from the store itself.
            Query::HashKv(_) => {
                let _ = reply.try_send(Answer::Refused {
                    code: crate::status::Code::Unimplemented as u32,
                    message: "HashKV queries are answered by the peer listener".to_string(),
                });
            }
            Query::Promote(id) => {
                let (applied, outcome) = smol::channel::bounded(1);
                self.handle(Command::ChangeMembers {
                    change: MemberChange::Promote(id),
                    reply: applied,
                });
                // Not applied in time (leadership lost): the asker has given up too.
                let applied_in_time =
                    smol::future::or(async move { outcome.recv().await.ok() }, async {
                        smol::Timer::after(crate::peer::ANSWER_TIMEOUT).await;
                        None
                    });
                crate::runtime::spawn(async move {
                    let answer = match applied_in_time.await {
                        Some(Ok(Ok(_))) => Answer::Done,
                        Some(Ok(Err(error))) => refused(error),
                        Some(Err(_)) | None => refused(KvError::Member(MemberError::NotLeader)),
                    };
                    let _ = reply.send(answer).await;
                });
            }
        }
    }

    /// Replicates remaining TTLs, in etcd's batches of at most 1000 leases.
    fn propose_lease_checkpoints(&mut self, remaining: &[(i64, i64)]) {
        use crate::pb::etcdserverpb::{LeaseCheckpoint, LeaseCheckpointRequest};
        for batch in remaining.chunks(1000) {
            let checkpoints = batch
                .iter()
                .map(|&(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
                .collect();
            self.propose_internal(InternalRaftRequest {
                lease_checkpoint: Some(LeaseCheckpointRequest { checkpoints }),
                ..InternalRaftRequest::default()
            });
        }
    }

    fn answer_transfers(&mut self) {
        let leader = self.raw.raft.leader_id;
        self.transfers.retain(|(target, reply)| {
            if *target == leader {
                let _ = reply.try_send(Ok(()));
                return false;
            }
            !reply.is_closed()
        });
    }

    fn is_leader(&self) -> bool {
        self.raw.raft.state == StateRole::Leader
    }

    /// Turns a membership request into a conf change, or answers it with etcd's refusal.
    fn conf_change(&self, change: MemberChange) -> Result<ConfChange, KvError> {
        let mut conf_change = ConfChange::default();
        match change {
            MemberChange::Add(member) => {
                conf_change.set_change_type(if member.is_learner {
                    ConfChangeType::AddLearnerNode
                } else {
                    ConfChangeType::AddNode
                });
                conf_change.node_id = member.id;
                conf_change.context = member.encode_to_vec().into();
            }
            MemberChange::Remove(id) => {
                conf_change.set_change_type(ConfChangeType::RemoveNode);
                conf_change.node_id = id;
            }
            MemberChange::Promote(id) => {
                let txn = self.store.read_txn()?;
                let members = membership::list(&self.store, &txn)?;
                let member = members
                    .iter()
                    .find(|m| m.id == id)
                    .ok_or(KvError::Member(MemberError::NotFound))?;
                if !member.is_learner {
                    return Err(KvError::Member(MemberError::NotLearner));
                }
                if !self.is_leader() {
                    return Err(KvError::Member(MemberError::NotLeader));
                }
                // etcd's isLearnerReady: the learner has 90% of what the leader has.
                let progress = self.raw.raft.prs();
                let leader_match = progress
                    .get(self.bootstrap.member_id)
                    .map_or(0, |p| p.matched);
                let learner_match = progress.get(id).map_or(0, |p| p.matched);
                if (learner_match as f64) < leader_match as f64 * 0.9 {
                    return Err(KvError::Member(MemberError::LearnerNotReady));
                }
                conf_change.set_change_type(ConfChangeType::AddNode);
                conf_change.node_id = id;
                let promoted = crate::pb::etcdserverpb::Member {
                    is_learner: false,
                    ..member.clone()
                };
                conf_change.context = promoted.encode_to_vec().into();
            }
        }
        Ok(conf_change)
    }

    fn move_leader(&mut self, target: u64, reply: Sender<Result<(), KvError>>) {
        if !self.is_leader() {
            let _ = reply.try_send(Err(KvError::Member(MemberError::NotLeader)));
            return;
        }
        if !self.raw.raft.prs().conf().voters().contains(target) {
            let _ = reply.try_send(Err(KvError::Member(MemberError::BadLeaderTransferee)));
            return;
        }
        if target != self.bootstrap.member_id {
            self.raw.transfer_leader(target);
        }
        self.transfers.push((target, reply));
    }

    /// A Ready reached the disk: raft may count its entries, and what waited for them goes out.
    fn on_log_event(&mut self, event: LogEvent) -> Result<(), Fatal> {
        match event {
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

    fn log(&self, op: LogOp) -> Result<(), Fatal> {
        self.log
            .try_send(op)
            .map_err(|_| Fatal::Wal("the wal thread stopped".into()))
    }

    fn on_peer_event(&mut self, event: PeerEvent) {
        match event {
            PeerEvent::Message(message) => {
                let spooled = (message.get_msg_type() == MessageType::MsgSnapshot)
                    .then(|| message.get_snapshot().data.clone());
                let (from, kind) = (message.from, message.get_msg_type());
                if let Some(reason) = inbound::refusal(&self.raw.raft, &message) {
                    static DROPPED: crate::logging::Throttled = crate::logging::Throttled::new();
                    DROPPED.warn(|| format!("raft: dropped {kind:?} from {from:x}: {reason}"));
                    if let Some(data) = spooled {
                        let _ = std::fs::remove_file(String::from_utf8_lossy(&data).as_ref());
                    }
                    return;
                }
                if let Err(e) = self.raw.step(*message) {
                    log::debug!("raft: dropped {kind:?} from {from:x}: {e}");
                }
                // A snapshot raft did not take (it was stale) is not needed.
                if let Some(data) = spooled {
                    let pending = self.raw.raft.raft_log.unstable.snapshot.as_ref();
                    if pending.map(|s| &s.data) != Some(&data) {
                        let _ = std::fs::remove_file(String::from_utf8_lossy(&data).as_ref());
                    }
                }
            }
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

    /// Pins the store's state as the next checkpoint.
    fn checkpoint_candidate(&mut self) -> Result<Candidate, Fatal> {
        let candidate = self
            .store
            .checkpoint_candidate()
            .map_err(Fatal::Checkpoint)?;
        self.checkpointed_at = Instant::now();
        Ok(candidate)
    }

    /// Checkpoints the store and waits until the checkpoint is durable.
    fn checkpoint_now(&mut self) -> Result<(), Fatal> {
        let candidate = self.checkpoint_candidate()?;
        self.checkpointer
            .write_now(candidate)
            .map_err(Fatal::Checkpoint)
    }

    /// Every --backend-batch-interval (or --backend-batch-limit entries) while the store
    /// changes, a checkpoint is handed to the checkpoint thread (one at a time).
    fn maybe_checkpoint(&mut self) -> Result<(), Fatal> {
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
    fn maybe_compact(&mut self) -> Result<(), Fatal> {
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

    /// Replaces the store with a leader's snapshot (spooled by the transport), then makes the
    /// WAL and raft's log start after it.
    fn install_snapshot(&mut self, snapshot: &Snapshot) -> Result<(), Fatal> {
        let metadata = snapshot.get_metadata();
        let path = String::from_utf8_lossy(&snapshot.data).into_owned();
        let file = std::fs::File::open(&path)
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
        txn.commit()?;
        self.hub.notify();
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
        let _ = std::fs::remove_file(&path);
        self.status
            .applied_index
            .store(metadata.index, Ordering::Release);
        self.compacted_at = metadata.index;
        self.refresh_peers()?;
        log::info!(
            "raft: installed a snapshot at index {} (term {})",
            metadata.index,
            metadata.term
        );
        Ok(())
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Propose { mut request, reply } => {
                if let Some(refusal) = self.refuse_waiting(self.unproposed.len()) {
                    let _ = reply.try_send(Err(refusal));
                    return;
                }
                let id = self.next_request_id;
                self.next_request_id += 1;
                request.header = Some(RequestHeader {
                    id,
                    ..RequestHeader::default()
                });
                self.waiters.insert(id, reply);
                self.unproposed.push(*request);
            }
            Command::ReadBarrier { reply } => {
                if let Some(refusal) = self.refuse_waiting(self.reads.queued()) {
                    let _ = reply.try_send(Err(refusal));
                    return;
                }
                self.reads.queue(reply)
            }
            Command::ChangeMembers { change, reply } => match self.conf_change(change) {
                Ok(_) if self.refuse_waiting(self.unproposed_changes.len()).is_some() => {
                    let _ = reply.try_send(Err(RaftError::NoLeader));
                }
                Ok(mut conf_change) => {
                    conf_change.id = self.next_request_id;
                    self.next_request_id += 1;
                    self.waiters.insert(conf_change.id, reply);
                    self.unproposed_changes.push(conf_change);
                }
                Err(refusal) => {
                    let _ = reply.try_send(Ok(Err(refusal)));
                }
            },
            Command::AskLeader { query, reply } => {
                let leader = self.raw.raft.leader_id;
                let asking = (leader != 0 && !self.is_leader())
                    .then(|| self.transport.ask(leader, query))
                    .flatten();
                match asking {
                    Some(asking) => crate::runtime::spawn(async move {
                        let _ = reply.send(Some(asking.await)).await;
                    }),
                    None => {
                        let _ = reply.try_send(None);
                    }
                }
            }
            Command::AskMembers { query, reply } => {
                let askings: Vec<_> = self
                    .transport
                    .member_ids()
                    .into_iter()
                    .filter_map(|id| {
                        self.transport
                            .ask(id, query.clone())
                            .map(|asking| (id, asking))
                    })
                    .map(|(id, asking)| (id, crate::runtime::task(asking)))
                    .collect();
                crate::runtime::spawn(async move {
                    let mut answers = Vec::new();
                    for (id, asking) in askings {
                        answers.push((id, asking.await));
                    }
                    let _ = reply.send(answers).await;
                });
            }
            Command::MoveLeader { target, reply } => self.move_leader(target, reply),
            Command::LeaseKeepAlive { id, reply } => self.lease_keep_alive(id, reply),
            Command::LeaseRemaining { id, reply } => {
                let _ = reply.try_send(self.leases.remaining(id));
            }
        }
    }

    /// Whether one more request may join `waiting` others: while no leader is known they wait
    /// for one, up to MAX_WAITING_FOR_LEADER.
    fn refuse_waiting(&self, waiting: usize) -> Option<RaftError> {
        (self.raw.raft.leader_id == 0 && waiting >= MAX_WAITING_FOR_LEADER)
            .then_some(RaftError::NoLeader)
    }

    /// A proposal raft dropped: it waits again during a leadership transfer; otherwise the
    /// leader has as much uncommitted as it takes, and the proposer hears so.
    fn dropped(&mut self, request: InternalRaftRequest) {
        if self.raw.raft.lead_transferee.is_some() || self.raw.raft.leader_id == 0 {
            self.unproposed.push(request);
            return;
        }
        let id = request.header.map_or(0, |h| h.id);
        if let Some(reply) = self.waiters.remove(&id) {
            let _ = reply.try_send(Err(RaftError::TooManyRequests));
        }
    }

    /// Once there is a leader: proposes what waited for one, and etcd's start-up proposals
    /// (this member's attributes, the cluster version).
    fn propose_pending(&mut self) {
        if self.raw.raft.leader_id == 0 {
            return;
        }
        if !self.published {
            let attributes = MemberAttributesRequest {
                member_id: self.bootstrap.member_id,
                name: self.bootstrap.name.clone(),
                client_urls: self.bootstrap.client_urls.clone(),
            };
            self.published = self.propose_internal(InternalRaftRequest {
                member_attributes: Some(attributes),
                ..InternalRaftRequest::default()
            });
        }
        let term = self.raw.raft.term;
        if self.raw.raft.state == StateRole::Leader && self.version_proposed_term != term {
            let has_version = self
                .store
                .read_txn()
                .and_then(|txn| self.store.cluster_version(&txn))
                .ok()
                .flatten();
            if has_version.is_none() {
                let version = ClusterVersionSetRequest {
                    version: crate::version::CLUSTER_VERSION.to_string(),
                };
                if self.propose_internal(InternalRaftRequest {
                    cluster_version_set: Some(version),
                    ..InternalRaftRequest::default()
                }) {
                    self.version_proposed_term = term;
                }
            } else {
                self.version_proposed_term = term;
            }
        }
        let unproposed = std::mem::take(&mut self.unproposed);
        for request in unproposed {
            let data = request.encode_to_vec();
            if self.raw.propose(vec![], data).is_err() {
                self.dropped(request);
            }
        }
        let unproposed = std::mem::take(&mut self.unproposed_changes);
        for change in unproposed {
            if self
                .raw
                .propose_conf_change(vec![], change.clone())
                .is_err()
            {
                self.unproposed_changes.push(change);
            }
        }
    }

    fn propose_internal(&mut self, mut request: InternalRaftRequest) -> bool {
        request.header = Some(RequestHeader {
            id: self.next_request_id,
            ..RequestHeader::default()
        });
        self.next_request_id += 1;
        self.raw.propose(vec![], request.encode_to_vec()).is_ok()
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
            self.install_snapshot(ready.snapshot())?;
        }
        // 3. Apply committed entries (raft-rs hands out only what is on our disk too).
        self.apply_committed(ready.take_committed_entries())?;
        // 4 + 5. New entries and the hard state go to raft's log now and to the WAL thread,
        // whose fdatasync overlaps the next apply.
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
        self.reads.on_read_states(ready.read_states());
        self.reads.release(self.status.applied_index());
        // 6. Messages that must wait for the append go out once the WAL thread reports it;
        // every Ready goes through the thread so that reports stay in order.
        let number = ready.number();
        self.awaiting_persist
            .push((number, ready.take_persisted_messages()));
        self.raw.advance_append_async(ready);
        self.log(LogOp::Append {
            number,
            entries,
            hard_state,
        })?;
        self.advance_apply();
        self.publish_status();
        Ok(())
    }

    fn send(&mut self, messages: Vec<Message>) {
        for message in messages {
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

    /// Applies committed entries, in order: behind any that wait for disk space, and kept to be
    /// tried again if the store has no room for them.
    fn apply_committed(&mut self, entries: Vec<Entry>) -> Result<(), Fatal> {
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

    /// Tries the entries that waited for disk space again, once it is time to.
    fn retry_unapplied(&mut self) -> Result<(), Fatal> {
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
    fn apply(&mut self, entries: &[Entry]) -> Result<(), Fatal> {
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
        let mut membership_changed = false;
        let store = self.store.clone();
        let mut txn = store.write_txn()?;
        let mut answers = Vec::new();
        for entry in entries {
            match entry.get_entry_type() {
                EntryType::EntryNormal if entry.data.is_empty() => {}
                EntryType::EntryNormal => {
                    let request = match decode_request(entry) {
                        Ok(request) => request,
                        Err((id, refusal)) => {
                            answers.push((id, Err(refusal)));
                            continue;
                        }
                    };
                    let started = Instant::now();
                    let mut result = apply::apply(&store, &mut txn, &request);
                    if let Ok(applied @ (Applied::Authenticated(_) | Applied::Auth)) = &mut result {
                        let auth_revision = store.auth_revision(&txn)?;
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
                    match &result {
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
                    if matches!(result, Ok(Applied::Members)) {
                        membership_changed = true;
                    }
                    let id = request.header.map(|h| h.id).unwrap_or(0);
                    answers.push((id, result));
                }
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    let mut change = decode_conf_change(entry);
                    let verdict = membership::validate_conf_change(&store, &txn, &change);
                    if let Err(KvError::Storage(e)) = verdict {
                        return Err(Fatal::Store(KvError::Storage(e)));
                    }
                    if verdict.is_err() {
                        // Refused: raft applies it as a no-op, as etcd does.
                        change.node_id = 0;
                    }
                    let conf_state = if entry.index > self.conf_given_to_raft {
                        self.conf_given_to_raft = entry.index;
                        self.raw.apply_conf_change(&change)?
                    } else {
                        self.raw.raft.prs().conf().to_conf_state()
                    };
                    store.set_conf_state(
                        &mut txn,
                        &conf_state.write_to_bytes().expect("conf state encodes"),
                    )?;
                    self.raw.raft.raft_log.store.wl().set_conf_state(conf_state);
                    if verdict.is_ok() {
                        membership::apply_conf_change(&store, &mut txn, &change)?;
                        membership_changed = true;
                    }
                    if change.get_change_type() == ConfChangeType::RemoveNode
                        && change.node_id == self.bootstrap.member_id
                    {
                        self.removed_at = Some(Instant::now());
                    }
                    answers.push((change.id, verdict.map(|()| Applied::Members)));
                }
            }
        }
        store.set_applied(&mut txn, last, last_term)?;
        let started = Instant::now();
        txn.commit()?;
        crate::metrics::BACKEND_COMMIT.observe(started.elapsed());
        self.hub.notify();
        self.status.applied_index.store(last, Ordering::Release);
        if membership_changed {
            self.refresh_peers()?;
        }
        for (id, result) in answers {
            if let Some(reply) = self.waiters.remove(&id) {
                let _ = reply.try_send(Ok(result));
            }
        }
        self.reads.release(last);
        Ok(())
    }
}

/// The request in a normal entry, or, for one that cannot be decoded (a client's request that
/// only decodes at the API, a damaged or foreign entry), the refusal its proposer gets. Every
/// member decodes the same bytes the same way, so every member skips it alike.
fn decode_request(entry: &Entry) -> Result<InternalRaftRequest, (u64, KvError)> {
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
fn proposer_id(data: &[u8]) -> u64 {
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
fn decode_conf_change(entry: &Entry) -> ConfChange {
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

//! Start-up: the WAL opened (the bootstrap entries written on a new data dir), raft's
//! state rebuilt from the store and the WAL, and the raft thread started.

use super::*;

/// Opens the WAL (writing the bootstrap entries on a new data dir), rebuilds raft's state and
/// starts the raft thread.
pub fn start(
    wal_dir: &Path,
    store: Arc<Store>,
    bootstrap: Bootstrap,
    transport: Transport,
    inbox: Inbox,
    hub: Arc<Hub>,
    tokens: Arc<crate::auth::Tokens>,
) -> Result<RaftHandle, String> {
    let Inbox { peer_events, bell } = inbox;
    hub.ring_on_subscribe(bell.clone());
    let is_new = !Wal::exists(wal_dir);
    let (wal, replayed) = open_log(wal_dir, &store, &bootstrap, is_new)?;
    let (storage, applied) =
        rebuild_storage(&store, replayed).map_err(|e| format!("recovering raft state: {e}"))?;
    let raw = raw_node(&bootstrap, storage, applied, is_new)?;
    let status = Arc::new(RaftStatus {
        member_id: bootstrap.member_id,
        cluster_id: bootstrap.cluster_id,
        ..RaftStatus::default()
    });
    status.set_applied_index(applied);
    let (handle, commands) = RaftHandle::new(status.clone(), bootstrap.election_timeout, &bell);
    let (log, log_events) = log_writer::start(wal, status.disk.clone(), &bell)?;
    let checkpointer = Checkpointer::start(store.clone(), status.disk.clone())?;
    let started_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let compactor = bootstrap
        .auto_compaction
        .map(|mode| Compactor::new(mode, Instant::now()));
    let mut node = Node {
        raw,
        log,
        log_events,
        persisted_here: Vec::new(),
        persisted_in_turn: false,
        bell,
        incoming: Default::default(),
        readable: Vec::new(),
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
        held: Default::default(),
        conf_given_to_raft: 0,
        compactor,
        commit_notice: CommitNotice::default(),
    };
    node.checkpoint_now()
        .map_err(|e| format!("checkpointing the store: {e}"))?;
    node.refresh_peers()
        .map_err(|e| format!("reading the members: {e:?}"))?;
    spawn_raft_thread(node, commands, peer_events)?;
    Ok(handle)
}

/// Opens the WAL: on a new data dir it first writes the bootstrap entries (a new cluster's
/// members), with --force-new-cluster it rewrites the log for a one-member cluster.
fn open_log(
    wal_dir: &Path,
    store: &Store,
    bootstrap: &Bootstrap,
    is_new: bool,
) -> Result<(Wal, Replayed), String> {
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
        crate::raft::recovery::force_new_cluster(
            &mut wal,
            &mut replayed,
            store,
            bootstrap.member_id,
        )?;
    }
    Ok((wal, replayed))
}

/// raft-rs's node over the rebuilt log, with our limits; a lone voter campaigns at once, a new
/// cluster's members elect a leader a tick after starting (--initial-election-tick-advance).
fn raw_node(
    bootstrap: &Bootstrap,
    storage: MemStorage,
    applied: u64,
    is_new: bool,
) -> Result<RawNode<MemStorage>, String> {
    let election_tick = (bootstrap.election_timeout.as_millis()
        / bootstrap.heartbeat_interval.as_millis()) as usize;
    let config = raft::Config {
        id: bootstrap.member_id,
        election_tick,
        heartbeat_tick: 1,
        applied,
        max_size_per_msg: MAX_MESSAGE_ENTRY_BYTES as u64,
        max_inflight_msgs: 256,
        max_uncommitted_size: MAX_UNCOMMITTED_BYTES,
        max_committed_size_per_ready: MAX_COMMITTED_BYTES_PER_READY,
        pre_vote: bootstrap.pre_vote,
        check_quorum: true,
        // The leader tells followers of commits itself (commit_notice.rs).
        skip_bcast_commit: true,
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
    Ok(raw)
}

/// The raft thread: runs the node until it stops; a fatal error or this member's removal ends
/// the process.
fn spawn_raft_thread(
    node: Node,
    commands: Receiver<Command>,
    peer_events: Receiver<PeerEvent>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("raft".to_string())
        .spawn(move || match node.run(commands, peer_events) {
            Err(error) => {
                log::error!("raft: stopping the member: {error}");
                std::process::exit(1);
            }
            Ok(Stop::Removed) => {
                log::warn!("the member has been permanently removed from the cluster; exiting");
                std::process::exit(0);
            }
            Ok(Stop::Closed) => {}
        })
        .map(drop)
        .map_err(|e| format!("starting the raft thread: {e}"))
}

/// raft's in-memory log: the store is the snapshot (its applied index, term and configuration),
/// the WAL's entries after it are the log; plus the WAL's hard state.
pub(super) fn rebuild_storage(
    store: &Store,
    replayed: Replayed,
) -> Result<(MemStorage, u64), String> {
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

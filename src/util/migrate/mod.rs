//! `etcd util migrate --data-dir DIR [--wal-dir WAL] [--name NAME]`: a stopped etcd 3.4
//! member's data dir (member/snap/db, member/wal) becomes this etcd's, in place, keeping the
//! member ID, cluster ID, members, alarms, every key with its revisions, leases, the
//! compaction, and the raft log past what the store holds:
//!
//! 1. etcd's backend (bolt) is read into a new store, which has then applied up to etcd's
//!    consistent index; etcd's WAL (etcd_wal.rs) gives the term there, the hard state, the
//!    member and cluster IDs, and the entries after that index, rewritten where the two differ
//!    (entries.rs) into a new WAL.
//! 2. All of it is written next to the original (DIR.migrating, WAL.migrating), synced and
//!    given the original's owner; only then is the original renamed to DIR.etcd-backup (and
//!    WAL.etcd-backup) and the new one put in its place. A failure before that (no space, a
//!    damaged file) removes what was written and leaves the original as it was.
//!
//! The member must be stopped: a member still holding its backend's lock is refused.

mod entries;
mod etcd_wal;

use crate::mvcc::Store;
use crate::server::identity::{self, Identity};
use crate::wal::Wal;
use argh::FromArgs;
use raft::eraftpb::HardState;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The new store's map: at least this (etcd's largest suggested quota), more for a larger
/// backend (this store keeps a key's history in more than one table).
const MIN_MAP_BYTES: u64 = 8 << 30;
const MAP_BYTES_PER_BACKEND_BYTE: u64 = 4;

#[derive(FromArgs, Debug)]
/// Turns a stopped etcd 3.4 member's data dir into this etcd's, in place; the original is kept
/// as DATA_DIR.etcd-backup. Start the member afterwards with the same flags as before.
struct Options {
    /// the etcd member's --data-dir
    #[argh(option)]
    data_dir: PathBuf,
    /// the etcd member's --wal-dir, if it had one
    #[argh(option)]
    wal_dir: Option<PathBuf>,
    /// the member's --name (default: the name it published to its cluster)
    #[argh(option)]
    name: Option<String>,
}

pub fn main(args: &[String]) -> ExitCode {
    let options: Options = match crate::cli::parse("etcdutl migrate", args) {
        Ok(options) => options,
        Err(exit) => return exit,
    };
    match migrate(&options) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `path` with `suffix` appended to its last component (DIR -> DIR.etcd-backup).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Where the migration reads and writes.
struct Plan {
    data_dir: PathBuf,
    etcd_db: PathBuf,
    etcd_wal: PathBuf,
    /// --wal-dir, absolute, when the WAL is outside the data dir.
    wal_dir: Option<PathBuf>,
    staging: PathBuf,
    staging_wal: Option<PathBuf>,
}

impl Plan {
    fn new(options: &Options) -> Result<Plan, String> {
        let data_dir = std::path::absolute(&options.data_dir)
            .map_err(|e| format!("--data-dir {}: {e}", options.data_dir.display()))?;
        let member = identity::member_dir(&data_dir);
        if member.join("identity").exists() {
            return Err(format!(
                "{} is already this etcd's data dir; nothing to migrate",
                data_dir.display()
            ));
        }
        let etcd_db = member.join("snap").join("db");
        if !etcd_db.is_file() {
            return Err(format!(
                "{} has no member/snap/db: not an etcd 3.4 data dir",
                data_dir.display()
            ));
        }
        let wal_dir = match &options.wal_dir {
            Some(dir) => Some(
                std::path::absolute(dir)
                    .map_err(|e| format!("--wal-dir {}: {e}", dir.display()))?,
            ),
            None => None,
        };
        let etcd_wal = wal_dir.clone().unwrap_or_else(|| member.join("wal"));
        if !etcd_wal.is_dir() {
            return Err(format!(
                "{} does not exist: give the member's --wal-dir if it had one",
                etcd_wal.display()
            ));
        }
        let mut originals = vec![data_dir.clone()];
        originals.extend(wal_dir.clone());
        for original in &originals {
            let backup = beside(original, ".etcd-backup");
            if backup.exists() {
                return Err(format!(
                    "{} already exists (an earlier migration?); move it away first",
                    backup.display()
                ));
            }
        }
        Ok(Plan {
            staging: beside(&data_dir, ".migrating"),
            staging_wal: wal_dir.as_ref().map(|dir| beside(dir, ".migrating")),
            data_dir,
            etcd_db,
            etcd_wal,
            wal_dir,
        })
    }

    /// Where the new WAL is written before it takes the original's place.
    fn new_wal(&self) -> PathBuf {
        match &self.staging_wal {
            Some(dir) => dir.clone(),
            None => identity::member_dir(&self.staging).join("wal"),
        }
    }

    fn remove_staging(&self) {
        for dir in std::iter::once(&self.staging).chain(&self.staging_wal) {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn migrate(options: &Options) -> Result<String, String> {
    let plan = Plan::new(options)?;
    // A running etcd holds an exclusive lock on its backend (bolt's flock).
    let db = std::fs::File::open(&plan.etcd_db)
        .map_err(|e| format!("{}: {e}", plan.etcd_db.display()))?;
    if db.try_lock().is_err() {
        return Err(format!(
            "{} is locked: etcd is still running on {}; stop it first",
            plan.etcd_db.display(),
            plan.data_dir.display()
        ));
    }
    plan.remove_staging(); // what an interrupted migration left
    let written = write_staging(&plan, options);
    let summary = match written {
        Ok(summary) => summary,
        Err(error) => {
            plan.remove_staging();
            return Err(error);
        }
    };
    swap_in(&plan)?;
    Ok(summary)
}

/// What the new store holds, once written.
struct Staged {
    identity: Identity,
    imported: crate::mvcc::backend::Imported,
    members: usize,
    applied: u64,
    applied_term: u64,
}

/// Writes the new data dir (and WAL dir) beside the original; a summary of what it holds.
fn write_staging(plan: &Plan, options: &Options) -> Result<String, String> {
    let log = etcd_wal::read(&plan.etcd_wal)?;
    let staged = write_store(plan, options, &log)?;
    identity::create(&plan.staging, &staged.identity)?;
    let (tail, rewritten) = write_log_tail(plan, &log, staged.applied, staged.applied_term)?;
    give_owner(&plan.data_dir, &plan.staging)?;
    if let (Some(original), Some(staging)) = (&plan.wal_dir, &plan.staging_wal) {
        give_owner(original, staging)?;
    }
    let Staged {
        identity,
        imported,
        applied,
        applied_term,
        ..
    } = staged;
    Ok(format!(
        "migrated {} (member {:x} {:?} of cluster {:x}, {} members): {} keys at revision {}, {} leases, applied up to entry {applied} (term {applied_term}), {tail} entries after it ({} configuration changes and {} publications rewritten, {} v2 requests kept and not applied); the original is in {}",
        plan.data_dir.display(),
        identity.member_id,
        identity.name,
        identity.cluster_id,
        staged.members,
        imported.keys,
        imported.revision,
        imported.leases,
        rewritten.conf_changes,
        rewritten.published,
        rewritten.v2_kept,
        beside(&plan.data_dir, ".etcd-backup").display()
    ))
}

/// The new store: etcd's backend imported, its members' raft configuration and the applied
/// index (with its term, from the WAL) recorded; the member's identity, named by --name or by
/// what it published.
fn write_store(plan: &Plan, options: &Options, log: &etcd_wal::EtcdLog) -> Result<Staged, String> {
    let backend =
        std::fs::read(&plan.etcd_db).map_err(|e| format!("{}: {e}", plan.etcd_db.display()))?;
    let bolt = crate::bolt::read::Bolt::open(&backend)
        .map_err(|e| format!("{}: {e}", plan.etcd_db.display()))?;
    let map_bytes = MIN_MAP_BYTES.max(backend.len() as u64 * MAP_BYTES_PER_BACKEND_BYTE);
    let store_error = |e: heed::Error| format!("writing the new store: {e}");
    // A member's data dir is its own user's alone (0700), as etcd makes it.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(identity::member_dir(&plan.staging))
        .map_err(|e| format!("{}: {e}", plan.staging.display()))?;
    let store_dir = identity::member_dir(&plan.staging).join("kv");
    let store = Store::open(&store_dir, map_bytes).map_err(store_error)?;
    let mut txn = store.write_txn().map_err(store_error)?;
    let imported = store.import_etcd(&mut txn, &bolt)?;
    let members = store.import_etcd_cluster(&mut txn, &bolt)?;
    let applied = imported.consistent_index;
    let applied_term = log.term_at(applied).ok_or_else(|| {
        format!(
            "{}: the backend has applied entry {applied}, which the WAL does not hold; the data dir is incomplete",
            plan.etcd_wal.display()
        )
    })?;
    let own = members.iter().find(|m| m.id == log.member_id);
    let name = match (&options.name, own) {
        (Some(name), _) => name.clone(),
        (None, Some(member)) if !member.name.is_empty() => member.name.clone(),
        _ => {
            return Err(format!(
                "member {:x} never published a name in this data dir; give its --name",
                log.member_id
            ))
        }
    };
    // With no members yet (the backend never committed the bootstrap), the configuration
    // comes from the log's bootstrap entries, as for a new member of ours.
    if !members.is_empty() {
        let conf_state = crate::apply::membership::conf_state_bytes(&members);
        store
            .set_conf_state(&mut txn, &conf_state)
            .map_err(store_error)?;
    }
    store
        .set_applied(&mut txn, applied, applied_term)
        .map_err(store_error)?;
    txn.commit().map_err(store_error)?;
    store.sync().map_err(store_error)?;
    Ok(Staged {
        identity: Identity {
            name,
            member_id: log.member_id,
            cluster_id: log.cluster_id,
            wal_dir: plan.wal_dir.clone(),
        },
        imported,
        members: members.len(),
        applied,
        applied_term,
    })
}

/// The new WAL: etcd's entries after the applied one, rewritten for us, and its hard state;
/// how many entries, and what was rewritten.
fn write_log_tail(
    plan: &Plan,
    log: &etcd_wal::EtcdLog,
    applied: u64,
    applied_term: u64,
) -> Result<(usize, entries::Rewritten), String> {
    let mut rewritten = entries::Rewritten::default();
    let tail: Vec<_> = log
        .entries
        .iter()
        .filter(|e| e.index > applied)
        .map(|e| entries::rewrite(e.clone(), &mut rewritten))
        .collect::<Result<_, _>>()?;
    if let Some(first) = tail.first() {
        if first.index != applied + 1 {
            return Err(format!(
                "{}: the WAL's entries resume at {} after the backend's {applied}; the data dir is incomplete",
                plan.etcd_wal.display(),
                first.index
            ));
        }
    }
    let last = tail.last().map_or(applied, |e| e.index);
    let hard_state = HardState {
        term: log.hard_state.term.max(applied_term),
        vote: log.hard_state.vote,
        commit: log.hard_state.commit.clamp(applied, last),
        ..HardState::default()
    };
    let (mut wal, _) = Wal::open(&plan.new_wal()).map_err(|e| e.to_string())?;
    wal.append(&tail, Some(&hard_state))
        .map_err(|e| e.to_string())?;
    Ok((tail.len(), rewritten))
}

/// Everything under `tree` owned as `original` is (a migration runs as root, etcd as etcd).
fn give_owner(original: &Path, tree: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    let owner = std::fs::metadata(original).map_err(|e| format!("{}: {e}", original.display()))?;
    let chown = |path: &Path| {
        std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid())).map_err(|e| {
            format!(
                "{}: giving it {}'s owner: {e}",
                path.display(),
                original.display()
            )
        })
    };
    let mut pending = vec![tree.to_path_buf()];
    while let Some(path) = pending.pop() {
        chown(&path)?;
        if path.is_dir() {
            for item in std::fs::read_dir(&path).map_err(|e| format!("{}: {e}", path.display()))? {
                pending.push(item.map_err(|e| format!("{}: {e}", path.display()))?.path());
            }
        }
    }
    Ok(())
}

/// The originals become *.etcd-backup, the new dirs take their names; the WAL dir first, so
/// the data dir (whose identity names the WAL dir) is the last to change.
fn swap_in(plan: &Plan) -> Result<(), String> {
    let mut swaps = Vec::new();
    if let (Some(original), Some(staging)) = (&plan.wal_dir, &plan.staging_wal) {
        swaps.push((original, staging));
    }
    swaps.push((&plan.data_dir, &plan.staging));
    for (original, staging) in swaps {
        let backup = beside(original, ".etcd-backup");
        let rename = |from: &Path, to: &Path| {
            std::fs::rename(from, to)
                .map_err(|e| format!("renaming {} to {}: {e}", from.display(), to.display()))
        };
        rename(original, &backup)?;
        rename(staging, original)?;
        if let Some(parent) = original.parent() {
            std::fs::File::open(parent)
                .and_then(|dir| dir.sync_all())
                .map_err(|e| format!("{}: {e}", parent.display()))?;
        }
    }
    Ok(())
}

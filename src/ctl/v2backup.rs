//! ETCDCTL_API=2 `backup --data-dir DIR --backup-dir BACKUP [--wal-dir W] [--backup-wal-dir BW]`:
//! a copy of a stopped member's data dir that starts as a new one-member cluster, as etcdctl
//! 3.4's backup makes one: the member keeps its name and peer URLs, gets new member and
//! cluster IDs (so the copy can never join the cluster it came from), and holds every v2 key,
//! v3 key, lease and user. etcd wants such a copy started with --force-new-cluster; ours
//! starts either way.
//!
//! Unlike etcd's (which may read a running member's v2 data), this one needs the member
//! stopped: the data dir is locked while it runs. A running member's backup is `snapshot save`.
//! --with-v3 is accepted; v2 and v3 data live in one store here, so the v3 keys always come.

use super::flags::{self, flag, Kind, Spec};
use crate::server::identity;
use std::path::{Path, PathBuf};

static FLAGS: &[Spec] = &[
    flag("data-dir", Kind::String, "", ""),
    flag("wal-dir", Kind::String, "", ""),
    flag("backup-dir", Kind::String, "", ""),
    flag("backup-wal-dir", Kind::String, "", ""),
    flag("with-v3", Kind::Bool, "false", ""),
];

/// The dump is collected in chunks of this size.
const CHUNK_BYTES: usize = 1 << 20;
/// The source store's map: at least this (the store may have grown past the default quota).
const MIN_MAP_BYTES: u64 = 8 << 30;

pub fn run(args: &[String]) -> u8 {
    let specs: Vec<&'static Spec> = FLAGS.iter().collect();
    let parsed = match flags::parse(&specs, &super::v2::go_flags(args)) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("Error:  {error}");
            return 1;
        }
    };
    let dir = |name: &str| parsed.string(&specs, name);
    match backup(
        &dir("data-dir"),
        &dir("wal-dir"),
        &dir("backup-dir"),
        &dir("backup-wal-dir"),
    ) {
        Ok(()) => 0,
        Err(error) => {
            eprintln!("backup: {error}");
            1
        }
    }
}

fn backup(
    data_dir: &str,
    wal_dir: &str,
    backup_dir: &str,
    backup_wal_dir: &str,
) -> Result<(), String> {
    if data_dir.is_empty() || backup_dir.is_empty() {
        return Err("--data-dir and --backup-dir are required".into());
    }
    let data_dir = Path::new(data_dir);
    if Path::new(backup_dir).join("member").exists() {
        return Err(format!("--backup-dir {backup_dir} already holds a member"));
    }
    let own = identity::load(data_dir)?
        .ok_or_else(|| format!("--data-dir {}: no member's data dir", data_dir.display()))?;
    let _stopped = identity::lock(data_dir)
        .map_err(|e| format!("{e} (back up a running member with `etcdctl snapshot save`)"))?;
    let (dump, peer_urls) = dump(data_dir, wal_dir, &own)?;
    let token = format!(
        "backup-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let cluster: Vec<String> = peer_urls
        .iter()
        .map(|u| format!("{}={u}", own.name))
        .collect();
    let flags = [
        ("--name", own.name.clone()),
        ("--data-dir", backup_dir.to_string()),
        ("--initial-cluster", cluster.join(",")),
        ("--initial-cluster-token", token),
        ("--initial-advertise-peer-urls", peer_urls.join(",")),
        ("--wal-dir", backup_wal_dir.to_string()),
    ];
    let args: Vec<String> = flags.iter().map(|(f, v)| format!("{f}={v}")).collect();
    let config = match crate::config::parse(&args, &Default::default()) {
        Ok(crate::config::Command::Run(config)) => config,
        Ok(_) => return Err("unexpected backup flags".into()),
        Err(error) => return Err(error.to_string()),
    };
    let written = super::snapshot::write_restored(&config, &dump);
    if written.is_err() {
        let _ = std::fs::remove_dir_all(backup_dir);
        if !backup_wal_dir.is_empty() {
            let _ = std::fs::remove_dir_all(backup_wal_dir);
        }
    }
    written
}

/// The member's store as a dump, and its peer URLs; refused when the store has not applied
/// everything its WAL committed (the dump would miss those entries).
fn dump(
    data_dir: &Path,
    wal_dir: &str,
    own: &identity::Identity,
) -> Result<(Vec<u8>, Vec<String>), String> {
    let member_dir = identity::member_dir(data_dir);
    let kv = member_dir.join("kv");
    let size = std::fs::metadata(kv.join("data.mdb")).map_or(0, |m| m.len());
    let store_error = |e: heed::Error| format!("{}: {e}", kv.display());
    let store = crate::mvcc::Store::open(&kv, MIN_MAP_BYTES.max(size * 2)).map_err(store_error)?;
    let wal_dir = match (wal_dir, &own.wal_dir) {
        ("", Some(recorded)) => recorded.clone(),
        ("", None) => member_dir.join("wal"),
        (given, _) => PathBuf::from(given),
    };
    let (_, replayed) =
        crate::wal::Wal::open(&wal_dir).map_err(|e| format!("{}: {e}", wal_dir.display()))?;
    let txn = store.read_txn().map_err(store_error)?;
    let applied = store.applied_index(&txn).map_err(store_error)?;
    let committed = replayed.hard_state.map_or(0, |h| h.commit);
    if committed > applied {
        return Err(format!(
            "the store has applied up to index {applied} of the {committed} its WAL committed; start the member once and stop it, then back it up"
        ));
    }
    let mut peer_urls = Vec::new();
    for bytes in store.members(&txn).map_err(store_error)? {
        let member: crate::pb::etcdserverpb::Member = prost::Message::decode(bytes.as_slice())
            .map_err(|e| format!("{}: a member record: {e}", kv.display()))?;
        if member.id == own.member_id {
            peer_urls = member.peer_ur_ls;
        }
    }
    if peer_urls.is_empty() {
        return Err(format!(
            "{}: no peer URLs recorded for this member",
            kv.display()
        ));
    }
    let mut dump = Vec::new();
    store
        .dump(&txn, CHUNK_BYTES, |chunk| {
            dump.extend_from_slice(&chunk);
            Ok::<(), std::convert::Infallible>(())
        })
        .map_err(|e| match e {
            crate::mvcc::snapshot::DumpError::Store(e) => store_error(e),
            crate::mvcc::snapshot::DumpError::Sink(never) => match never {},
        })?;
    Ok((dump, peer_urls))
}

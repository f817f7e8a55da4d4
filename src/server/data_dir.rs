//! A member's data dir as this program lays it out: `member/identity`, `member/kv` (the
//! store), `member/snap`, and the WAL (`member/wal`, or --wal-dir as the identity records).
//! Both ways a data dir comes to be go through `open`: a member's first start (its log then
//! begins with the new cluster's membership entries, written by raft's start) and a restore
//! (`restore`: the store filled from a backup, the new cluster's members written beside it,
//! and a log that begins after the backup's last entry). One function, so the two layouts
//! cannot drift apart again (a restore's --wal-dir once went where no start looked).

use super::identity::{self, Identity};
use crate::config::Config;
use crate::mvcc::Store;
use std::path::PathBuf;

/// An open data dir.
pub struct DataDir {
    pub member_dir: PathBuf,
    pub store: Store,
    /// Where the WAL is (or will be).
    pub wal_dir: PathBuf,
}

/// Opens the data dir `config` names as `identity`; a new one (`is_new`) gets its identity
/// recorded first.
pub fn open(config: &Config, identity: &Identity, is_new: bool) -> Result<DataDir, String> {
    if is_new {
        identity::create(&config.data_dir, identity)?;
    }
    let member_dir = identity::member_dir(&config.data_dir);
    let kv = member_dir.join("kv");
    let store = Store::open(&kv, config.quota_backend_bytes)
        .map_err(|e| format!("opening {}: {e}", kv.display()))?;
    Ok(DataDir {
        member_dir,
        store,
        wal_dir: identity::wal_dir(config),
    })
}

/// Creates the data dir of a member of the new cluster `config` describes (--name,
/// --initial-cluster, --initial-advertise-peer-urls, --wal-dir) from a backup: `fill` loads
/// the backup into the store and returns the index of the last entry it holds. The backup's
/// members and alarms give way to the new cluster's members; raft starts from the store as
/// from a snapshot at that index.
pub fn restore(
    config: &Config,
    fill: impl FnOnce(&Store, &mut heed::RwTxn) -> Result<u64, String>,
) -> Result<(), String> {
    let (own, is_new) = identity::resolve(config)?;
    if !is_new {
        return Err(format!("data-dir {:?} exists", config.data_dir.display()));
    }
    let data_dir = open(config, &own, true)?;
    let store = &data_dir.store;
    let store_error = |e: heed::Error| format!("writing the restored store: {e}");
    let members = identity::initial_members(config);
    let mut txn = store.write_txn().map_err(store_error)?;
    let applied = fill(store, &mut txn)?;
    let term = store.applied_term(&txn).map_err(store_error)?.max(1);
    let old: Vec<u64> = store
        .members(&txn)
        .map_err(store_error)?
        .iter()
        .filter_map(|bytes| {
            <crate::pb::etcdserverpb::Member as prost::Message>::decode(bytes.as_slice()).ok()
        })
        .map(|m| m.id)
        .collect();
    for id in old {
        store.delete_member(&mut txn, id).map_err(store_error)?;
    }
    for member in &members {
        store
            .put_member(&mut txn, member.id, &prost::Message::encode_to_vec(member))
            .map_err(store_error)?;
    }
    store.set_alarms(&mut txn, &[]).map_err(store_error)?;
    let conf_state = crate::apply::membership::conf_state_bytes(&members);
    store
        .set_conf_state(&mut txn, &conf_state)
        .map_err(store_error)?;
    txn.commit().map_err(store_error)?;
    store.sync().map_err(store_error)?;
    let (mut wal, _) = crate::wal::Wal::open(&data_dir.wal_dir).map_err(|e| e.to_string())?;
    let hard_state = raft::eraftpb::HardState {
        term,
        commit: applied,
        ..Default::default()
    };
    wal.append(&[], Some(&hard_state))
        .map_err(|e| e.to_string())
}

//! --force-new-cluster: a member whose cluster lost quorum for good starts its data as a
//! one-member cluster, as etcd does it: entries not committed are dropped, and conf changes
//! removing every other member are appended and committed, so applying them (with the rest of
//! the committed log) leaves this member the only voter, with every key, the same member and
//! cluster IDs, and the same revisions.

use crate::mvcc::Store;
use crate::wal::{Replayed, Wal};
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfState, Entry, EntryType};

/// Rewrites the log for a forced one-member start (nothing to do if this member already is
/// alone); `replayed` becomes what raft starts from.
pub fn force_new_cluster(
    wal: &mut Wal,
    replayed: &mut Replayed,
    store: &Store,
    member_id: u64,
) -> Result<(), String> {
    let mut hard_state = replayed.hard_state.clone().unwrap_or_default();
    let store_error = |e: heed::Error| format!("reading the store: {e}");
    let txn = store.read_txn().map_err(store_error)?;
    let applied = store.applied_index(&txn).map_err(store_error)?;
    hard_state.commit = hard_state.commit.max(applied);
    let conf_state = store.conf_state(&txn).map_err(store_error)?;
    drop(txn);
    // Entries past the commit index were never agreed on; the committed ones may change the
    // membership still.
    replayed.entries.retain(|e| e.index <= hard_state.commit);
    let members = members_after(conf_state, &replayed.entries)?;
    let others: Vec<u64> = members.into_iter().filter(|id| *id != member_id).collect();
    if others.is_empty() {
        return Ok(());
    }
    let last = replayed
        .entries
        .last()
        .map_or(hard_state.commit, |e| e.index);
    let removals = removals(&others, last + 1, hard_state.term);
    hard_state.commit = last + removals.len() as u64;
    log::warn!(
        "--force-new-cluster: removing members {} from the configuration; this member will be the only one",
        others
            .iter()
            .map(|id| format!("{id:x}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    wal.append(&removals, Some(&hard_state))
        .map_err(|e| e.to_string())?;
    replayed.entries.extend(removals);
    replayed.hard_state = Some(hard_state);
    Ok(())
}

/// The voters and learners of the store's configuration (`conf_state`), changed by the
/// configuration entries among `entries`.
fn members_after(conf_state: Option<Vec<u8>>, entries: &[Entry]) -> Result<Vec<u64>, String> {
    let mut members: Vec<u64> = match conf_state {
        Some(bytes) => {
            let conf = ConfState::parse_from_bytes(&bytes)
                .map_err(|e| format!("the store's raft configuration is not valid: {e}"))?;
            conf.voters.iter().chain(&conf.learners).copied().collect()
        }
        None => Vec::new(),
    };
    for entry in entries {
        if entry.get_entry_type() != EntryType::EntryConfChange {
            continue;
        }
        let Ok(change) = ConfChange::parse_from_bytes(&entry.data) else {
            continue;
        };
        match change.get_change_type() {
            ConfChangeType::RemoveNode => members.retain(|id| *id != change.node_id),
            _ if change.node_id != 0 && !members.contains(&change.node_id) => {
                members.push(change.node_id)
            }
            _ => {}
        }
    }
    Ok(members)
}

/// Entries removing each of `others`, from index `first` on, in `term`.
fn removals(others: &[u64], first: u64, term: u64) -> Vec<Entry> {
    others
        .iter()
        .enumerate()
        .map(|(offset, id)| {
            let mut change = ConfChange::default();
            change.set_change_type(ConfChangeType::RemoveNode);
            change.node_id = *id;
            let mut entry = Entry::default();
            entry.set_entry_type(EntryType::EntryConfChange);
            entry.index = first + offset as u64;
            entry.term = term;
            entry.data = change.write_to_bytes().expect("conf change encodes").into();
            entry
        })
        .collect()
}

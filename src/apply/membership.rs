//! Cluster membership as replicated state: the bootstrap conf-change entries (as etcd writes them:
//! one ConfChangeAddNode per initial member, term 1, indexes 1..n) and the `members` table they
//! and later attribute updates fill.

pub use crate::mvcc::MemberError;
use crate::mvcc::{KvError, Store};
use crate::pb::etcdserverpb::{Member, MemberAttributesRequest, MemberPeerUrlsRequest};
use bytes::Bytes;
use heed::{RoTxn, RwTxn};
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};

/// etcd 3.4 allows one learner at a time.
const MAX_LEARNERS: usize = 1;

fn refuse<T>(error: MemberError) -> Result<T, KvError> {
    Err(KvError::Member(error))
}

/// Every member, in member ID order.
pub fn list(store: &Store, txn: &RoTxn) -> Result<Vec<Member>, KvError> {
    store
        .members(txn)?
        .iter()
        .map(|bytes| stored_member(bytes))
        .collect()
}

/// A record of the members table.
fn stored_member(bytes: &[u8]) -> Result<Member, KvError> {
    Member::decode(bytes).map_err(|e| {
        let what = format!("not a member: {e}");
        KvError::Storage(crate::mvcc::damaged("members", &[], &what))
    })
}

/// etcd's ValidateConfigurationChange, run at apply so every member decides the same. A
/// refused change is applied to raft as a no-op.
pub fn validate_conf_change(
    store: &Store,
    txn: &RoTxn,
    change: &ConfChange,
) -> Result<(), KvError> {
    let members = list(store, txn)?;
    let existing = members.iter().find(|m| m.id == change.node_id);
    match change.get_change_type() {
        ConfChangeType::AddNode | ConfChangeType::AddLearnerNode => {
            let member = Member::decode(change.context.as_ref()).map_err(|e| {
                KvError::Unapplicable(format!("the member in a configuration change: {e}"))
            })?;
            let is_promotion = change.get_change_type() == ConfChangeType::AddNode
                && existing.is_some_and(|m| m.is_learner);
            if is_promotion {
                return Ok(());
            }
            if existing.is_some() {
                return refuse(MemberError::IdExists);
            }
            let url_taken = members
                .iter()
                .any(|m| m.peer_ur_ls.iter().any(|u| member.peer_ur_ls.contains(u)));
            if url_taken {
                return refuse(MemberError::PeerUrlExists);
            }
            if member.is_learner && members.iter().filter(|m| m.is_learner).count() >= MAX_LEARNERS
            {
                return refuse(MemberError::TooManyLearners);
            }
            Ok(())
        }
        ConfChangeType::RemoveNode if existing.is_none() => refuse(MemberError::NotFound),
        ConfChangeType::RemoveNode => Ok(()),
    }
}

/// MemberUpdate: a member's new peer URLs.
pub fn apply_peer_urls(
    store: &Store,
    txn: &mut RwTxn,
    update: &MemberPeerUrlsRequest,
) -> Result<(), KvError> {
    let members = list(store, txn)?;
    let Some(member) = members.iter().find(|m| m.id == update.member_id) else {
        return refuse(MemberError::NotFound);
    };
    let url_taken = members.iter().any(|m| {
        m.id != update.member_id && m.peer_ur_ls.iter().any(|u| update.peer_urls.contains(u))
    });
    if url_taken {
        return refuse(MemberError::PeerUrlExists);
    }
    let updated = Member {
        peer_ur_ls: update.peer_urls.clone(),
        ..member.clone()
    };
    store.put_member(txn, updated.id, &updated.encode_to_vec())?;
    Ok(())
}

/// The first log entries of a new cluster: members sorted by ID, each added by a conf change.
pub fn bootstrap_entries(members: &[Member]) -> Vec<Entry> {
    let mut sorted = members.to_vec();
    sorted.sort_by_key(|m| m.id);
    sorted
        .iter()
        .enumerate()
        .map(|(position, member)| {
            let mut change = ConfChange::default();
            change.set_change_type(ConfChangeType::AddNode);
            change.node_id = member.id;
            change.context = Bytes::from(member.encode_to_vec());
            let mut entry = Entry::default();
            entry.set_entry_type(EntryType::EntryConfChange);
            entry.term = 1;
            entry.index = position as u64 + 1;
            entry.data = Bytes::from(change.write_to_bytes().expect("conf change encodes"));
            entry
        })
        .collect()
}

/// The voters named by bootstrap entries, for a member whose store has not applied them yet.
pub fn bootstrap_voters(entries: &[Entry]) -> Vec<u64> {
    entries
        .iter()
        .filter(|e| e.get_entry_type() == EntryType::EntryConfChange)
        .filter_map(|e| ConfChange::parse_from_bytes(&e.data).ok())
        .filter(|c| c.get_change_type() == ConfChangeType::AddNode)
        .map(|c| c.node_id)
        .collect()
}

/// Records the membership effect of an applied conf change.
pub fn apply_conf_change(
    store: &Store,
    txn: &mut RwTxn,
    change: &ConfChange,
) -> Result<(), KvError> {
    match change.get_change_type() {
        ConfChangeType::AddNode | ConfChangeType::AddLearnerNode if !change.context.is_empty() => {
            let member = Member::decode(change.context.as_ref()).map_err(|e| {
                KvError::Unapplicable(format!("the member in a configuration change: {e}"))
            })?;
            let merged = match store.member(txn, member.id)? {
                // Promotion of a learner: the record stays, only the flag changes.
                Some(bytes) => Member {
                    is_learner: member.is_learner,
                    ..stored_member(&bytes)?
                },
                None => member,
            };
            store.put_member(txn, merged.id, &merged.encode_to_vec())?;
        }
        ConfChangeType::RemoveNode => store.delete_member(txn, change.node_id)?,
        _ => {}
    }
    Ok(())
}

/// The raft configuration `members` make (learners as learners), encoded as the store keeps it.
pub fn conf_state_bytes(members: &[Member]) -> Vec<u8> {
    let voters = members.iter().filter(|m| !m.is_learner).map(|m| m.id);
    let learners = members.iter().filter(|m| m.is_learner).map(|m| m.id);
    let conf_state =
        raft::eraftpb::ConfState::from((voters.collect::<Vec<_>>(), learners.collect::<Vec<_>>()));
    conf_state
        .write_to_bytes()
        .expect("a raft configuration always encodes")
}

/// Every member's ID and peer URLs, for the transport.
pub fn peer_urls(store: &Store, txn: &RoTxn) -> Result<Vec<(u64, Vec<String>)>, KvError> {
    Ok(list(store, txn)?
        .into_iter()
        .map(|member| (member.id, member.peer_ur_ls))
        .collect())
}

/// A member published its name and client URLs.
pub fn apply_attributes(
    store: &Store,
    txn: &mut RwTxn,
    attributes: &MemberAttributesRequest,
) -> Result<(), KvError> {
    let Some(bytes) = store.member(txn, attributes.member_id)? else {
        log::warn!(
            "apply: attributes for unknown member {:x}",
            attributes.member_id
        );
        return Ok(());
    };
    let mut member = stored_member(&bytes)?;
    member.name = attributes.name.clone();
    member.client_ur_ls = attributes.client_urls.clone();
    store.put_member(txn, member.id, &member.encode_to_vec())?;
    Ok(())
}

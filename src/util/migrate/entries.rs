//! etcd's raft entries as this member applies them. v3 requests (InternalRaftRequest) are the
//! same bytes in both. What differs is rewritten, so that every member migrating its own log
//! rewrites the same entries the same way:
//!
//! - conf changes: etcd's members are JSON in the context (membership.Member), ours protobuf;
//!   etcd numbers "add learner" 3 where raft-rs numbers it 2; etcd's "update" (2) changes only
//!   peer URLs, which this member applies as a MemberPeerUrlsRequest (raft-rs has no update);
//! - etcd's v2 requests publishing member attributes (`PUT /0/members/<id>/attributes`) and the
//!   cluster version (`PUT /0/version`) become the v3-style requests this member applies. Other
//!   v2 requests (etcd's v2 key space) are kept as they are; this member skips them at apply.

use crate::mvcc::backend::member_from_json;
use crate::pb::etcdserverpb::{
    ClusterVersionSetRequest, InternalRaftRequest, MemberAttributesRequest, MemberPeerUrlsRequest,
    Request,
};
use crate::pb::raftpb::{ConfChange as EtcdConfChange, ConfChangeType as EtcdType};
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, Entry, EntryType};
use serde::Deserialize;

/// How many entries of each kind were rewritten.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rewritten {
    pub conf_changes: u64,
    pub published: u64,
    /// v2 requests kept as they are: this member does not apply them.
    pub v2_kept: u64,
}

/// `Entry` as this member applies it; counts what it rewrote in `rewritten`.
pub fn rewrite(mut entry: Entry, rewritten: &mut Rewritten) -> Result<Entry, String> {
    let at = |why: String| format!("entry {}: {why}", entry.index);
    match entry.get_entry_type() {
        EntryType::EntryNormal => {
            if entry.data.is_empty() || InternalRaftRequest::decode(entry.data.as_ref()).is_ok() {
                return Ok(entry);
            }
            let Ok(request) = Request::decode(entry.data.as_ref()) else {
                return Ok(entry); // not etcd's either: the apply answers it as unapplicable
            };
            match v2_publish(&request).map_err(at)? {
                Some(internal) => {
                    entry.data = internal.encode_to_vec().into();
                    rewritten.published += 1;
                }
                None => rewritten.v2_kept += 1,
            }
            Ok(entry)
        }
        EntryType::EntryConfChange => {
            let change = EtcdConfChange::decode(entry.data.as_ref())
                .map_err(|e| at(format!("not a configuration change: {e}")))?;
            let (kind, data) = conf_change(&change).map_err(at)?;
            entry.set_entry_type(kind);
            entry.data = data.into();
            rewritten.conf_changes += 1;
            Ok(entry)
        }
        EntryType::EntryConfChangeV2 => Err(at(
            "a joint-consensus configuration change, which etcd 3.4 never writes".to_string(),
        )),
    }
}

/// The entry (type and data) this member applies for etcd's conf change.
fn conf_change(change: &EtcdConfChange) -> Result<(EntryType, Vec<u8>), String> {
    let member = || member_from_json(&change.context);
    let (kind, context) = match EtcdType::try_from(change.r#type) {
        Ok(EtcdType::ConfChangeAddNode) => (ConfChangeType::AddNode, member()?.encode_to_vec()),
        Ok(EtcdType::ConfChangeAddLearnerNode) => {
            (ConfChangeType::AddLearnerNode, member()?.encode_to_vec())
        }
        Ok(EtcdType::ConfChangeRemoveNode) => (ConfChangeType::RemoveNode, Vec::new()),
        Ok(EtcdType::ConfChangeUpdateNode) => {
            let update = InternalRaftRequest {
                member_peer_urls: Some(MemberPeerUrlsRequest {
                    member_id: change.node_id,
                    peer_urls: member()?.peer_ur_ls,
                }),
                ..InternalRaftRequest::default()
            };
            return Ok((EntryType::EntryNormal, update.encode_to_vec()));
        }
        Err(_) => {
            return Err(format!(
                "unknown configuration change type {}",
                change.r#type
            ))
        }
    };
    let mut ours = ConfChange {
        id: change.id,
        node_id: change.node_id,
        context: context.into(),
        ..ConfChange::default()
    };
    ours.set_change_type(kind);
    let data = ours
        .write_to_bytes()
        .map_err(|e| format!("encoding a configuration change: {e}"))?;
    Ok((EntryType::EntryConfChange, data))
}

/// etcd's v2 publish of member attributes or of the cluster version, as ours; None for any
/// other v2 request.
fn v2_publish(request: &Request) -> Result<Option<InternalRaftRequest>, String> {
    #[derive(Deserialize)]
    struct Attributes {
        #[serde(default)]
        name: String,
        #[serde(rename = "clientURLs", default)]
        client_urls: Option<Vec<String>>,
    }
    if request.method != "PUT" {
        return Ok(None);
    }
    if request.path == "/0/version" {
        return Ok(Some(InternalRaftRequest {
            cluster_version_set: Some(ClusterVersionSetRequest {
                version: request.val.clone(),
            }),
            ..InternalRaftRequest::default()
        }));
    }
    let member = request
        .path
        .strip_prefix("/0/members/")
        .and_then(|rest| rest.strip_suffix("/attributes"))
        .and_then(|id| u64::from_str_radix(id, 16).ok());
    let Some(member_id) = member else {
        return Ok(None);
    };
    let attributes: Attributes = serde_json::from_str(&request.val)
        .map_err(|e| format!("member attributes are not etcd's JSON: {e}"))?;
    Ok(Some(InternalRaftRequest {
        member_attributes: Some(MemberAttributesRequest {
            member_id,
            name: attributes.name,
            client_urls: attributes.client_urls.unwrap_or_default(),
        }),
        ..InternalRaftRequest::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::Member;

    fn entry(kind: EntryType, data: Vec<u8>) -> Entry {
        let mut entry = Entry::default();
        entry.set_entry_type(kind);
        entry.index = 7;
        entry.term = 2;
        entry.data = data.into();
        entry
    }

    #[test]
    fn etcds_conf_changes_and_publishes_become_ours() {
        let mut counts = Rewritten::default();
        let json =
            br#"{"id":10276657743932975437,"peerURLs":["http://127.0.0.2:2380"],"isLearner":true}"#;
        let add_learner = EtcdConfChange {
            id: 5,
            r#type: EtcdType::ConfChangeAddLearnerNode as i32,
            node_id: 10276657743932975437,
            context: json.to_vec(),
        };
        let ours = rewrite(
            entry(EntryType::EntryConfChange, add_learner.encode_to_vec()),
            &mut counts,
        )
        .unwrap();
        let change = ConfChange::parse_from_bytes(&ours.data).unwrap();
        assert_eq!(change.get_change_type(), ConfChangeType::AddLearnerNode);
        let member = Member::decode(change.context.as_ref()).unwrap();
        assert_eq!(
            (member.id, member.is_learner, member.peer_ur_ls),
            (
                10276657743932975437,
                true,
                vec!["http://127.0.0.2:2380".to_string()]
            )
        );
        assert_eq!((ours.index, ours.term), (7, 2));

        let update = EtcdConfChange {
            r#type: EtcdType::ConfChangeUpdateNode as i32,
            node_id: 3,
            context: br#"{"id":3,"peerURLs":["http://127.0.0.9:2380"],"name":"n"}"#.to_vec(),
            ..EtcdConfChange::default()
        };
        let ours = rewrite(
            entry(EntryType::EntryConfChange, update.encode_to_vec()),
            &mut counts,
        )
        .unwrap();
        assert_eq!(ours.get_entry_type(), EntryType::EntryNormal);
        let request = InternalRaftRequest::decode(ours.data.as_ref()).unwrap();
        assert_eq!(
            request.member_peer_urls.unwrap().peer_urls,
            vec!["http://127.0.0.9:2380"]
        );

        let publish = Request {
            method: "PUT".into(),
            path: "/0/members/8e9e05c52164694d/attributes".into(),
            val: r#"{"name":"master","clientURLs":["https://127.0.0.2:2379"]}"#.into(),
            ..Request::default()
        };
        let ours = rewrite(
            entry(EntryType::EntryNormal, publish.encode_to_vec()),
            &mut counts,
        )
        .unwrap();
        let attributes = InternalRaftRequest::decode(ours.data.as_ref())
            .unwrap()
            .member_attributes
            .unwrap();
        assert_eq!(
            (attributes.member_id, attributes.name.as_str()),
            (0x8e9e05c52164694d, "master")
        );

        let v2_key = Request {
            method: "PUT".into(),
            path: "/1/foo".into(),
            val: "bar".into(),
            ..Request::default()
        };
        let kept = rewrite(
            entry(EntryType::EntryNormal, v2_key.encode_to_vec()),
            &mut counts,
        )
        .unwrap();
        assert_eq!(kept.data.as_ref(), v2_key.encode_to_vec().as_slice());
        assert_eq!(
            counts,
            Rewritten {
                conf_changes: 2,
                published: 1,
                v2_kept: 1
            }
        );
    }

    #[test]
    fn a_damaged_member_in_a_conf_change_is_named() {
        let add = EtcdConfChange {
            r#type: EtcdType::ConfChangeAddNode as i32,
            node_id: 3,
            context: b"{not json".to_vec(),
            ..EtcdConfChange::default()
        };
        let error = rewrite(
            entry(EntryType::EntryConfChange, add.encode_to_vec()),
            &mut Rewritten::default(),
        )
        .unwrap_err();
        assert!(
            error.starts_with("entry 7: not etcd's member JSON"),
            "{error}"
        );
    }
}

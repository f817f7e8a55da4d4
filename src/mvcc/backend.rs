//! etcd 3.4's backend layout (its bolt file: a member's `member/snap/db`, and the backups
//! `etcdctl snapshot save` writes), read into this store and written from it:
//!
//! ```text
//! key              revision (u64 BE main | '_' | u64 BE sub, + 't' for a deletion) -> mvccpb.KeyValue
//! meta             consistent_index -> u64 BE; scheduledCompactRev, finishedCompactRev -> revision
//! lease            lease ID (i64 BE) -> leasepb.Lease
//! members          member ID (hex) -> JSON {"id","peerURLs","isLearner","name","clientURLs"}
//! members_removed  member ID (hex) -> "removed"
//! cluster          clusterVersion -> "3.4.0"
//! alarm            etcdserverpb.AlarmMember -> empty
//! auth             authEnabled -> 1 byte, authRevision -> u64 BE; authUsers, authRoles by name
//! ```

use super::keys::{history_key, stored_key, Revision};
use super::{KvError, Store, KIND_DELETE, KIND_PUT};
use crate::bolt::read::{Bolt, Root};
use crate::bolt::write::BoltWriter;
use crate::pb::authpb::{Role, User};
use crate::pb::etcdserverpb::{AlarmMember, Member};
use crate::pb::leasepb::Lease;
use crate::pb::mvccpb::KeyValue;
use heed::{RoTxn, RwTxn};
use prost::Message;
use std::io::{Seek, Write};

/// etcd's revision key: main and sub big endian around '_', a trailing 't' for a deletion.
fn revision_key(revision: Revision, deletion: bool) -> Vec<u8> {
    let mut key = Vec::with_capacity(18);
    key.extend_from_slice(&(revision.main as u64).to_be_bytes());
    key.push(b'_');
    key.extend_from_slice(&(revision.sub as u64).to_be_bytes());
    if deletion {
        key.push(b't');
    }
    key
}

/// (revision, is a deletion) of an etcd revision key.
fn parse_revision_key(key: &[u8]) -> Option<(Revision, bool)> {
    let deletion = match key.len() {
        17 => false,
        18 if key[17] == b't' => true,
        _ => return None,
    };
    (key[8] == b'_').then(|| {
        let main = u64::from_be_bytes(key[..8].try_into().expect("8 bytes")) as i64;
        let sub = u64::from_be_bytes(key[9..17].try_into().expect("8 bytes")) as i64;
        (Revision { main, sub }, deletion)
    })
}

/// What an etcd backend held besides the keys.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Imported {
    pub consistent_index: u64,
    pub revision: i64,
    pub compact_revision: Option<i64>,
    pub keys: u64,
    pub leases: u64,
}

/// The roots of an etcd file's buckets, by name.
fn bucket<'a>(buckets: &[(&'a [u8], Root<'a>)], name: &str) -> Option<Root<'a>> {
    buckets
        .iter()
        .find(|(n, _)| *n == name.as_bytes())
        .map(|(_, root)| *root)
}

fn meta_revision(bytes: &[u8]) -> Option<i64> {
    parse_revision_key(bytes).map(|(r, _)| r.main)
}

impl Store {
    /// Loads an etcd backend into this (empty) store, in the caller's transaction: every
    /// revision of every key with its history, the live keys, leases and their keys, the
    /// compaction, and the applied index (its consistent_index). Members, alarms and the
    /// cluster version are not taken (a restore names the members; the rest is rebuilt).
    pub fn import_etcd(&self, txn: &mut RwTxn, bolt: &Bolt) -> Result<Imported, String> {
        let buckets = bolt.buckets()?;
        self.import_auth(txn, bolt, &buckets)?;
        let storage = |e: heed::Error| format!("writing the store: {e}");
        let mut imported = Imported::default();
        let key_bucket =
            bucket(&buckets, "key").ok_or("the backup has no key bucket: not an etcd backend")?;
        bolt.each(key_bucket, &mut |key, value| {
            let (revision, deletion) = parse_revision_key(key).ok_or_else(|| {
                format!(
                    "key bucket: {:?} is not a revision",
                    key.escape_ascii().to_string()
                )
            })?;
            let mut kv = KeyValue::decode(value)
                .map_err(|e| format!("key bucket: revision {}: {e}", revision.main))?;
            self.import_change(txn, revision, deletion, &mut kv)
                .map_err(|e| e.to_string())?;
            imported.revision = imported.revision.max(revision.main);
            Ok(())
        })?;
        if let Some(meta) = bucket(&buckets, "meta") {
            bolt.each(meta, &mut |key, value| {
                match key {
                    b"consistent_index" if value.len() == 8 => {
                        imported.consistent_index =
                            u64::from_be_bytes(value.try_into().expect("8"));
                    }
                    b"finishedCompactRev" => imported.compact_revision = meta_revision(value),
                    _ => {}
                }
                Ok(())
            })?;
        }
        if let Some(leases) = bucket(&buckets, "lease") {
            bolt.each(leases, &mut |_, value| {
                let lease = Lease::decode(value).map_err(|e| format!("lease bucket: {e}"))?;
                self.put_lease(txn, lease.id, lease.ttl)
                    .map_err(|e| e.to_string())?;
                imported.leases += 1;
                Ok(())
            })?;
        }
        imported.revision = imported
            .revision
            .max(imported.compact_revision.unwrap_or(0))
            .max(1);
        self.meta
            .put(
                txn,
                super::META_REVISION,
                &(imported.revision as u64).to_be_bytes(),
            )
            .map_err(storage)?;
        if let Some(compacted) = imported.compact_revision {
            self.meta
                .put(
                    txn,
                    super::META_COMPACT_REVISION,
                    &(compacted as u64).to_be_bytes(),
                )
                .map_err(storage)?;
        }
        imported.keys = self.attach_live_keys(txn).map_err(|e| e.to_string())?;
        self.set_applied(txn, imported.consistent_index, 1)
            .map_err(storage)?;
        Ok(imported)
    }

    /// Users, roles, the enabled flag and the auth revision of an etcd backend.
    fn import_auth(
        &self,
        txn: &mut RwTxn,
        bolt: &Bolt,
        buckets: &[(&[u8], Root)],
    ) -> Result<(), String> {
        let storage = |e: heed::Error| format!("writing the store: {e}");
        if let Some(auth) = bucket(buckets, "auth") {
            bolt.each(auth, &mut |key, value| match key {
                b"authEnabled" => self.set_auth_enabled(txn, value == [1]).map_err(storage),
                b"authRevision" if value.len() == 8 => {
                    let revision = u64::from_be_bytes(value.try_into().expect("8"));
                    self.set_auth_revision(txn, revision.max(1))
                        .map_err(storage)
                }
                _ => Ok(()),
            })?;
        }
        if let Some(users) = bucket(buckets, "authUsers") {
            bolt.each(users, &mut |_, value| {
                let user = User::decode(value).map_err(|e| format!("authUsers bucket: {e}"))?;
                self.put_user(txn, &user).map_err(storage)
            })?;
        }
        if let Some(roles) = bucket(buckets, "authRoles") {
            bolt.each(roles, &mut |_, value| {
                let role = Role::decode(value).map_err(|e| format!("authRoles bucket: {e}"))?;
                self.put_role(txn, &role).map_err(storage)
            })?;
        }
        Ok(())
    }

    /// The cluster an etcd member's backend records, into this store: its members, alarms and
    /// cluster version (what a migrated member keeps, where a restore names a new cluster).
    pub fn import_etcd_cluster(&self, txn: &mut RwTxn, bolt: &Bolt) -> Result<Vec<Member>, String> {
        let storage = |e: heed::Error| format!("writing the store: {e}");
        let buckets = bolt.buckets()?;
        let mut members = Vec::new();
        if let Some(bucket) = bucket(&buckets, "members") {
            bolt.each(bucket, &mut |key, json| {
                let member = member_from_json(json)
                    .map_err(|e| format!("members bucket: {}: {e}", key.escape_ascii()))?;
                members.push(member);
                Ok(())
            })?;
        }
        for member in &members {
            self.put_member(txn, member.id, &member.encode_to_vec())
                .map_err(storage)?;
        }
        let mut alarms = Vec::new();
        if let Some(bucket) = bucket(&buckets, "alarm") {
            bolt.each(bucket, &mut |key, _| {
                let alarm = AlarmMember::decode(key).map_err(|e| format!("alarm bucket: {e}"))?;
                alarms.push((alarm.member_id, alarm.alarm));
                Ok(())
            })?;
        }
        self.set_alarms(txn, &alarms).map_err(storage)?;
        if let Some(bucket) = bucket(&buckets, "cluster") {
            let mut version = None;
            bolt.each(bucket, &mut |key, value| {
                if key == b"clusterVersion" {
                    version = Some(String::from_utf8_lossy(value).into_owned());
                }
                Ok(())
            })?;
            if let Some(version) = version {
                self.set_cluster_version(txn, &version).map_err(storage)?;
            }
        }
        Ok(members)
    }

    /// One revision of an etcd backend: into the event log and the history; the live table
    /// follows (a deletion removes the key).
    fn import_change(
        &self,
        txn: &mut RwTxn,
        revision: Revision,
        deletion: bool,
        kv: &mut KeyValue,
    ) -> Result<(), KvError> {
        if deletion {
            // etcd stores a deletion as the bare key; this store keeps its revision too.
            *kv = KeyValue {
                key: std::mem::take(&mut kv.key),
                mod_revision: revision.main,
                ..KeyValue::default()
            };
        }
        let mut value = vec![if deletion { KIND_DELETE } else { KIND_PUT }];
        kv.encode(&mut value).expect("a Vec grows as needed");
        // An etcd backend's key bucket is read in revision order.
        super::put_last(&self.revisions, txn, &revision.to_bytes(), &value)?;
        let stored = stored_key(&kv.key);
        self.history
            .put(txn, &history_key(&stored, revision), &[])?;
        if deletion {
            self.current.delete(txn, &stored)?;
        } else {
            self.current.put(txn, &stored, &revision.to_bytes())?;
        }
        Ok(())
    }

    /// Attaches every live key with a lease to it; returns how many keys are live.
    fn attach_live_keys(&self, txn: &mut RwTxn) -> Result<u64, KvError> {
        let mut leased = Vec::new();
        let mut live = 0;
        for item in self.current.iter(txn)? {
            let (stored, revision) = item?;
            let kv = self.live_kv(txn, stored, revision)?;
            let kv = super::range::decode_kv("revisions", stored, kv)?;
            live += 1;
            if kv.lease != 0 {
                leased.push((kv.key, kv.lease));
            }
        }
        for (key, lease) in leased {
            self.reattach(txn, &key, 0, lease)?;
        }
        Ok(live)
    }

    /// Writes this store as an etcd 3.4 backend: what `etcdctl snapshot status` and `etcdctl
    /// snapshot restore` (and etcd itself) read. Buckets in bolt's (name) order.
    pub fn export_etcd<W: Write + Seek>(&self, txn: &RoTxn, out: W) -> Result<(W, u64), String> {
        let mut bolt = BoltWriter::new(out).map_err(write_error)?;
        bolt.begin_bucket(b"alarm").map_err(write_error)?;
        let mut alarms: Vec<Vec<u8>> = self
            .alarms(txn)
            .map_err(read_error)?
            .iter()
            .map(|&(member_id, alarm)| AlarmMember { member_id, alarm }.encode_to_vec())
            .collect();
        alarms.sort();
        alarms.dedup();
        for alarm in alarms {
            bolt.put(&alarm, &[]).map_err(write_error)?;
        }
        self.export_auth(txn, &mut bolt)?;
        bolt.begin_bucket(b"cluster").map_err(write_error)?;
        if let Some(version) = self.cluster_version(txn).map_err(read_error)? {
            bolt.put(b"clusterVersion", version.as_bytes())
                .map_err(write_error)?;
        }
        self.export_keys(txn, &mut bolt)?;
        bolt.begin_bucket(b"lease").map_err(write_error)?;
        let leases = self
            .leases(txn)
            .map_err(|e| format!("reading the store: {e}"))?;
        for (id, ttl) in leases {
            let lease = Lease {
                id,
                ttl,
                remaining_ttl: 0,
            };
            bolt.put(&id.to_be_bytes(), &lease.encode_to_vec())
                .map_err(write_error)?;
        }
        self.export_members(txn, &mut bolt)?;
        let applied = self.export_meta(txn, &mut bolt)?;
        bolt.finish(applied.max(1)).map_err(write_error)
    }

    /// The `auth`, `authRoles` and `authUsers` buckets.
    fn export_auth<W: Write + Seek>(
        &self,
        txn: &RoTxn,
        bolt: &mut BoltWriter<W>,
    ) -> Result<(), String> {
        bolt.begin_bucket(b"auth").map_err(write_error)?;
        let enabled = self.auth_enabled(txn).map_err(read_error)?;
        bolt.put(b"authEnabled", &[u8::from(enabled)])
            .map_err(write_error)?;
        let revision = self.auth_revision(txn).map_err(read_error)?;
        bolt.put(b"authRevision", &revision.to_be_bytes())
            .map_err(write_error)?;
        bolt.begin_bucket(b"authRoles").map_err(write_error)?;
        for role in self.roles(txn).map_err(read_error)? {
            bolt.put(&role.name, &role.encode_to_vec())
                .map_err(write_error)?;
        }
        bolt.begin_bucket(b"authUsers").map_err(write_error)?;
        for user in self.users(txn).map_err(read_error)? {
            bolt.put(&user.name, &user.encode_to_vec())
                .map_err(write_error)?;
        }
        Ok(())
    }

    /// The `key` bucket: every revision's change, a deletion as etcd stores it (the bare key
    /// under a tombstone-marked revision).
    fn export_keys<W: Write + Seek>(
        &self,
        txn: &RoTxn,
        bolt: &mut BoltWriter<W>,
    ) -> Result<(), String> {
        bolt.begin_bucket(b"key").map_err(write_error)?;
        for item in self.revisions.iter(txn).map_err(read_error)? {
            let (key, value) = item.map_err(read_error)?;
            let revision = Revision::from_bytes("revisions", key, key).map_err(read_error)?;
            let (is_put, kv) = super::range::stored_change(key, value).map_err(read_error)?;
            let kv = if is_put {
                kv.to_vec()
            } else {
                let kv = super::range::decode_kv("revisions", key, kv).map_err(read_error)?;
                KeyValue {
                    key: kv.key,
                    ..KeyValue::default()
                }
                .encode_to_vec()
            };
            bolt.put(&revision_key(revision, !is_put), &kv)
                .map_err(write_error)?;
        }
        Ok(())
    }

    /// The `members` bucket (etcd's JSON, by hex ID) and an empty `members_removed`.
    fn export_members<W: Write + Seek>(
        &self,
        txn: &RoTxn,
        bolt: &mut BoltWriter<W>,
    ) -> Result<(), String> {
        bolt.begin_bucket(b"members").map_err(write_error)?;
        let mut members: Vec<(String, String)> = Vec::new();
        for bytes in self.members(txn).map_err(read_error)? {
            let member =
                Member::decode(bytes.as_slice()).map_err(|e| format!("a stored member: {e}"))?;
            members.push((format!("{:x}", member.id), member_json(&member)));
        }
        members.sort();
        for (id, json) in members {
            bolt.put(id.as_bytes(), json.as_bytes())
                .map_err(write_error)?;
        }
        bolt.begin_bucket(b"members_removed").map_err(write_error)
    }

    /// The `meta` bucket: the applied index (returned) and the compaction point.
    fn export_meta<W: Write + Seek>(
        &self,
        txn: &RoTxn,
        bolt: &mut BoltWriter<W>,
    ) -> Result<u64, String> {
        bolt.begin_bucket(b"meta").map_err(write_error)?;
        let applied = self.applied_index(txn).map_err(read_error)?;
        bolt.put(b"consistent_index", &applied.to_be_bytes())
            .map_err(write_error)?;
        if let Some(compacted) = self.compact_revision(txn).map_err(read_error)? {
            let revision = revision_key(
                Revision {
                    main: compacted,
                    sub: 0,
                },
                false,
            );
            bolt.put(b"finishedCompactRev", &revision)
                .map_err(write_error)?;
            bolt.put(b"scheduledCompactRev", &revision)
                .map_err(write_error)?;
        }
        Ok(applied)
    }
}

fn write_error(e: std::io::Error) -> String {
    format!("writing the backup: {e}")
}

fn read_error(e: heed::Error) -> String {
    format!("reading the store: {e}")
}

/// A member as etcd's membership package writes it in JSON (the `members` bucket, conf change
/// contexts).
#[derive(serde::Deserialize)]
struct EtcdMember {
    id: u64,
    #[serde(rename = "peerURLs", default)]
    peer_urls: Vec<String>,
    #[serde(rename = "isLearner", default)]
    is_learner: bool,
    #[serde(default)]
    name: String,
    #[serde(rename = "clientURLs", default)]
    client_urls: Option<Vec<String>>,
}

/// etcd's JSON of a member, as this member's record.
pub fn member_from_json(json: &[u8]) -> Result<Member, String> {
    let member: EtcdMember =
        serde_json::from_slice(json).map_err(|e| format!("not etcd's member JSON: {e}"))?;
    Ok(Member {
        id: member.id,
        name: member.name,
        peer_ur_ls: member.peer_urls,
        client_ur_ls: member.client_urls.unwrap_or_default(),
        is_learner: member.is_learner,
    })
}

/// A member as etcd's membership store writes it (encoding/json of membership.Member).
fn member_json(member: &Member) -> String {
    let strings = |list: &[String]| {
        let mut out = String::from("[");
        for (i, item) in list.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            crate::golang::json_string(item, &mut out);
        }
        out.push(']');
        out
    };
    let mut json = format!(
        "{{\"id\":{},\"peerURLs\":{}",
        member.id,
        strings(&member.peer_ur_ls)
    );
    if member.is_learner {
        json.push_str(",\"isLearner\":true");
    }
    if !member.name.is_empty() {
        json.push_str(",\"name\":");
        crate::golang::json_string(&member.name, &mut json);
    }
    if !member.client_ur_ls.is_empty() {
        json.push_str(&format!(
            ",\"clientURLs\":{}",
            strings(&member.client_ur_ls)
        ));
    }
    json.push('}');
    json
}

/// `etcdctl snapshot status` of an etcd backend: (hash, revision, total keys, total size), as
/// etcdctl computes them (a CRC-32C over every bucket's name and key-values).
pub fn etcd_status(bolt: &Bolt) -> Result<(u32, i64, u64, u64), String> {
    let mut crc = 0u32;
    let (mut revision, mut keys) = (0i64, 0u64);
    for (name, root) in bolt.buckets()? {
        crc = crc32c::crc32c_append(crc, name);
        let is_key_bucket = name == b"key";
        bolt.each(root, &mut |key, value| {
            crc = crc32c::crc32c_append(crc, key);
            crc = crc32c::crc32c_append(crc, value);
            if is_key_bucket {
                if let Some((r, _)) = parse_revision_key(key) {
                    revision = r.main;
                }
            }
            keys += 1;
            Ok(())
        })?;
    }
    Ok((crc, revision, keys, bolt.size()))
}

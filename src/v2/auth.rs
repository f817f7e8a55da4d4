//! etcd 3.4's v2 auth (its v2auth package): users with bcrypt passwords and roles, roles with
//! read and write key patterns (`/foo` exactly, `/foo*` a prefix), the implicit `root` role,
//! the `guest` role for requests without credentials, and the switch. Separate from v3 auth,
//! as in etcd.
//!
//! Stored in the `meta` table next to the v2 tree: `v2a/users/<name>` and `v2a/roles/<name>`
//! hold etcd's JSON records, `v2a/enabled` "true" or "false". Changes are V2Requests with the
//! methods AUTH_CREATE (refused if the record exists), AUTH_UPDATE and AUTH_DELETE (refused if
//! it does not) and AUTH_PUT (either way), applied through raft like v2 key writes; the rules (merges, duplicate
//! grants, root and guest) are decided by the API before proposing, as etcd's v2auth does.

use super::{V2Error, KEY_NOT_FOUND, NODE_EXIST};
use crate::mvcc::Store;
use crate::pb::etcdserverpb::V2Request;
use heed::{RoTxn, RwTxn};
use serde::{Deserialize, Serialize};

pub const ROOT: &str = "root";
pub const GUEST: &str = "guest";
const PREFIX: &str = "v2a";
const ENABLED: &str = "/enabled";

/// A user record (etcd's v2auth.User). Lists are Options: Go writes a nil slice as null and
/// an empty one as [], and etcd's "not updated" check tells them apart.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct User {
    pub user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPatterns {
    #[serde(default)]
    pub read: Option<Vec<String>>,
    #[serde(default)]
    pub write: Option<Vec<String>>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Permissions {
    #[serde(default)]
    pub kv: KeyPatterns,
}

impl Permissions {
    pub fn is_empty(permissions: &Option<Permissions>) -> bool {
        permissions.as_ref().is_none_or(|p| {
            p.kv.read.as_ref().is_none_or(Vec::is_empty)
                && p.kv.write.as_ref().is_none_or(Vec::is_empty)
        })
    }
}

/// A role record (etcd's v2auth.Role).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct Role {
    pub role: String,
    #[serde(default)]
    pub permissions: Permissions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<Permissions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke: Option<Permissions>,
}

/// A refusal as etcd's v2auth words it: the HTTP status and "auth: ..." message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
}

pub fn refuse<T>(status: u16, message: impl std::fmt::Display) -> Result<T, Refusal> {
    Err(Refusal {
        status,
        message: format!("auth: {message}"),
    })
}

/// Everyone may do anything with every key (the root role, and the guest role at enable).
fn everything() -> Permissions {
    Permissions {
        kv: KeyPatterns {
            read: Some(vec!["/*".into()]),
            write: Some(vec!["/*".into()]),
        },
    }
}

pub fn root_role() -> Role {
    Role {
        role: ROOT.into(),
        permissions: everything(),
        ..Role::default()
    }
}

pub fn guest_role() -> Role {
    Role {
        role: GUEST.into(),
        permissions: everything(),
        ..Role::default()
    }
}

/// etcd's simpleMatch: `pattern*` is a prefix, anything else the key itself.
fn matches(pattern: &str, key: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => key.starts_with(prefix),
        None => key == pattern,
    }
}

impl Role {
    fn patterns(&self, write: bool) -> &[String] {
        let list = if write {
            &self.permissions.kv.write
        } else {
            &self.permissions.kv.read
        };
        list.as_deref().unwrap_or_default()
    }

    /// May this role read (or write) `key` — and, `recursive`, everything under it (then only
    /// a prefix pattern covers it, as etcd's prefixMatch)?
    pub fn may(&self, key: &str, write: bool, recursive: bool) -> bool {
        if self.role == ROOT {
            return true;
        }
        self.patterns(write).iter().any(|pattern| {
            (!recursive || pattern.ends_with('*')) && !pattern.is_empty() && matches(pattern, key)
        })
    }

    /// etcd's Role.merge: the grants added (a duplicate refused), then the revokes removed (an
    /// ungranted one ignored); both lists then sorted and never null.
    pub fn merged(&self, change: &Role) -> Result<Role, Refusal> {
        let mut out = Role {
            role: self.role.clone(),
            permissions: self.permissions.clone(),
            ..Role::default()
        };
        if let Some(grant) = &change.grant {
            let kv = &mut out.permissions.kv;
            for (list, added, what) in [
                (&mut kv.read, &grant.kv.read, "read"),
                (&mut kv.write, &grant.kv.write, "write"),
            ] {
                let mut set: Vec<String> = list.take().unwrap_or_default();
                for pattern in added.as_deref().unwrap_or_default() {
                    if set.contains(pattern) {
                        return refuse(
                            409,
                            format!("Granting duplicate {what} permission {pattern}"),
                        );
                    }
                    set.push(pattern.clone());
                }
                set.sort();
                *list = Some(set);
            }
        }
        if let Some(revoke) = &change.revoke {
            let kv = &mut out.permissions.kv;
            for (list, removed) in [
                (&mut kv.read, &revoke.kv.read),
                (&mut kv.write, &revoke.kv.write),
            ] {
                let mut set: Vec<String> = list.take().unwrap_or_default();
                set.retain(|p| !removed.as_deref().unwrap_or_default().contains(p));
                set.sort();
                *list = Some(set);
            }
        }
        Ok(out)
    }
}

impl User {
    pub fn has_role(&self, role: &str) -> bool {
        self.roles
            .as_deref()
            .unwrap_or_default()
            .iter()
            .any(|r| r == role)
    }

    /// etcd's attachRootRole: the user named root always has the root role.
    fn with_root_role(mut self) -> User {
        if self.user == ROOT && !self.has_role(ROOT) {
            self.roles.get_or_insert_with(Vec::new).push(ROOT.into());
        }
        self
    }

    /// etcd's User.merge, with the password already hashed by the caller (`hashed`): roles
    /// granted (a duplicate refused) and revoked (an ungranted one refused), then sorted.
    pub fn merged(&self, change: &User, hashed: Option<String>) -> Result<User, Refusal> {
        let mut roles: Vec<String> = self.roles.clone().unwrap_or_default();
        for role in change.grant.as_deref().unwrap_or_default() {
            if roles.contains(role) {
                return refuse(
                    409,
                    format!("Granting duplicate role {role} for user {}", change.user),
                );
            }
            roles.push(role.clone());
        }
        for role in change.revoke.as_deref().unwrap_or_default() {
            let Some(at) = roles.iter().position(|r| r == role) else {
                return refuse(
                    409,
                    format!("Revoking ungranted role {role} for user {}", change.user),
                );
            };
            roles.remove(at);
        }
        roles.sort();
        Ok(User {
            user: self.user.clone(),
            password: hashed.unwrap_or_else(|| self.password.clone()),
            roles: Some(roles),
            ..User::default()
        })
    }
}

fn damaged(key: &str, e: impl std::fmt::Display) -> heed::Error {
    crate::mvcc::damaged("meta", key.as_bytes(), &e.to_string())
}

type Result<T, E = heed::Error> = std::result::Result<T, E>;

impl Store {
    fn v2_auth_record<T: for<'a> Deserialize<'a>>(
        &self,
        txn: &RoTxn,
        path: &str,
    ) -> Result<Option<T>> {
        let key = format!("{PREFIX}{path}");
        match self.meta.get(txn, &key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(bytes)
                .map(Some)
                .map_err(|e| damaged(&key, e)),
        }
    }

    pub fn v2_auth_enabled(&self, txn: &RoTxn) -> Result<bool> {
        Ok(self.v2_auth_record::<bool>(txn, ENABLED)?.unwrap_or(false))
    }

    /// A user (the root user with the root role, as etcd reads it).
    pub fn v2_user(&self, txn: &RoTxn, name: &str) -> Result<Option<User>> {
        Ok(self
            .v2_auth_record::<User>(txn, &format!("/users/{name}"))?
            .map(User::with_root_role))
    }

    /// A role; `root` always exists.
    pub fn v2_role(&self, txn: &RoTxn, name: &str) -> Result<Option<Role>> {
        if name == ROOT {
            return Ok(Some(root_role()));
        }
        self.v2_auth_record(txn, &format!("/roles/{name}"))
    }

    /// The names under `/users/` or `/roles/`, sorted.
    pub fn v2_auth_names(&self, txn: &RoTxn, kind: &str) -> Result<Vec<String>> {
        let prefix = format!("{PREFIX}/{kind}/");
        let mut names = Vec::new();
        for entry in self.meta.prefix_iter(txn, &prefix)? {
            let (key, _) = entry?;
            names.push(key[prefix.len()..].to_string());
        }
        Ok(names)
    }
}

/// The change to propose: write a record at `path` (`/users/NAME`, `/roles/NAME`, `/enabled`).
pub fn request(method: &str, path: &str, record: &impl Serialize) -> V2Request {
    V2Request {
        method: method.into(),
        path: path.into(),
        value: serde_json::to_string(record).expect("auth records encode"),
        ..V2Request::default()
    }
}

pub fn is_auth(request: &V2Request) -> bool {
    request.method.starts_with("AUTH_")
}

/// Applies an auth record change. A missing or existing record refuses it with v2's
/// KEY_NOT_FOUND or NODE_EXIST (the API words those as etcd's v2auth does).
pub fn apply(store: &Store, txn: &mut RwTxn, request: &V2Request) -> Result<super::Answer> {
    let key = format!("{PREFIX}{}", request.path);
    let exists = store.meta.get(txn, &key)?.is_some();
    let refusal = |code| V2Error {
        code,
        cause: request.path.clone(),
        index: 0,
    };
    match (request.method.as_str(), exists) {
        ("AUTH_CREATE", true) => return Ok(Err(refusal(NODE_EXIST))),
        ("AUTH_UPDATE" | "AUTH_DELETE", false) => return Ok(Err(refusal(KEY_NOT_FOUND))),
        ("AUTH_DELETE", true) => store.meta.delete(txn, &key).map(drop)?,
        ("AUTH_CREATE" | "AUTH_UPDATE" | "AUTH_PUT", _) => {
            store.meta.put(txn, &key, request.value.as_bytes())?
        }
        (other, _) => {
            return Ok(Err(V2Error {
                code: 210,
                cause: format!("unknown method {other}"),
                index: 0,
            }))
        }
    }
    Ok(Ok(super::Event {
        action: request.method.clone(),
        node: super::Shown::plain(&request.path, super::Node::default()),
        prev: None,
        index: 0,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(read: &[&str], write: &[&str]) -> Role {
        let list = |l: &[&str]| Some(l.iter().map(|s| s.to_string()).collect());
        Role {
            role: "r".into(),
            permissions: Permissions {
                kv: KeyPatterns {
                    read: list(read),
                    write: list(write),
                },
            },
            ..Role::default()
        }
    }

    #[test]
    fn patterns_match_as_etcds() {
        let r = role(&["/foo", "/bar*"], &["/bar/x"]);
        assert!(r.may("/foo", false, false));
        assert!(!r.may("/foo/a", false, false));
        assert!(
            !r.may("/foo", false, true),
            "an exact pattern covers no subtree"
        );
        assert!(r.may("/bar/a", false, true));
        assert!(r.may("/bar/x", true, false));
        assert!(!r.may("/bar/y", true, false));
        assert!(root_role().may("/anything", true, true));
    }

    #[test]
    fn merges_refuse_duplicates_and_sort() {
        let r = role(&["/b"], &[]);
        let change = Role {
            role: "r".into(),
            grant: Some(role(&["/a"], &["/w"]).permissions),
            ..Role::default()
        };
        let merged = r.merged(&change).unwrap();
        assert_eq!(
            merged.permissions.kv.read,
            Some(vec!["/a".into(), "/b".into()])
        );
        let again = merged.merged(&change).unwrap_err();
        assert_eq!(again.message, "auth: Granting duplicate read permission /a");
        let user = User {
            user: "u".into(),
            roles: Some(vec!["x".into()]),
            ..User::default()
        };
        let revoke = User {
            user: "u".into(),
            revoke: Some(vec!["y".into()]),
            ..User::default()
        };
        assert_eq!(
            user.merged(&revoke, None).unwrap_err().message,
            "auth: Revoking ungranted role y for user u"
        );
    }
}

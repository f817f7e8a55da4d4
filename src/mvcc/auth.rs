//! The authentication store's replicated state: users, roles, the enabled flag and the auth
//! revision, kept in the `meta` table beside the member's other metadata (so raft snapshots and
//! backups carry them with no table of their own). Values are etcd's authpb.User and
//! authpb.Role, as in etcd's authUsers and authRoles buckets.
//!
//! Keys: `auth_enabled` (1 byte), `auth_revision` (u64 BE), `auth_user/NAME`, `auth_role/NAME`.

use super::{damaged, Store};
use crate::pb::authpb::{Role, User};
use heed::{RoTxn, RwTxn};
use prost::Message;

const ENABLED: &str = "auth_enabled";
const REVISION: &str = "auth_revision";
const USER_PREFIX: &str = "auth_user/";
const ROLE_PREFIX: &str = "auth_role/";

/// The longest user or role name: the name is part of an LMDB key (511 bytes at most).
pub const MAX_NAME_BYTES: usize = 255;

/// Refusals of the authentication store, each one of etcd's client-visible auth errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    RootUserNotExist,
    RootRoleNotExist,
    UserAlreadyExist,
    UserEmpty,
    UserNotFound,
    RoleAlreadyExist,
    RoleNotFound,
    RoleEmpty,
    AuthFailed,
    /// A password given for a user added with no password (etcd answers it untranslated).
    NoPasswordUser,
    PermissionDenied,
    RoleNotGranted,
    PermissionNotGranted,
    AuthNotEnabled,
    InvalidAuthToken,
    InvalidAuthMgmt,
    AuthOldRevision,
    /// A user or role name longer than MAX_NAME_BYTES (etcd has no limit).
    NameTooLong,
    /// A permission whose range end sorts before its key.
    InvalidRange,
}

impl AuthError {
    /// etcd's auth package text for the refusals a gate can make (what etcd 3.4's
    /// maintenance server answers untranslated).
    pub fn go_text(self) -> &'static str {
        match self {
            AuthError::UserEmpty => "auth: user name is empty",
            AuthError::UserNotFound => "auth: user not found",
            AuthError::InvalidAuthToken => "auth: invalid auth token",
            AuthError::AuthOldRevision => "auth: revision in header is old",
            _ => "auth: permission denied",
        }
    }
}

impl Store {
    pub fn auth_enabled(&self, txn: &RoTxn) -> Result<bool, heed::Error> {
        Ok(self.meta.get(txn, ENABLED)? == Some(&[1][..]))
    }

    pub fn set_auth_enabled(&self, txn: &mut RwTxn, enabled: bool) -> Result<(), heed::Error> {
        self.meta.put(txn, ENABLED, &[u8::from(enabled)])
    }

    /// The auth revision: 1 for a store that never changed its auth state (as etcd's, which
    /// commits revision 1 when it first opens), +1 per change.
    pub fn auth_revision(&self, txn: &RoTxn) -> Result<u64, heed::Error> {
        Ok(self.meta_u64(txn, REVISION)?.unwrap_or(1))
    }

    pub fn bump_auth_revision(&self, txn: &mut RwTxn) -> Result<u64, heed::Error> {
        let next = self.auth_revision(txn)? + 1;
        self.put_meta_u64(txn, REVISION, next)?;
        Ok(next)
    }

    /// Sets the revision (a backup's, taken over as it is).
    pub fn set_auth_revision(&self, txn: &mut RwTxn, revision: u64) -> Result<(), heed::Error> {
        self.put_meta_u64(txn, REVISION, revision)
    }

    pub fn user(&self, txn: &RoTxn, name: &str) -> Result<Option<User>, heed::Error> {
        self.auth_record(txn, &format!("{USER_PREFIX}{name}"))
    }

    pub fn role(&self, txn: &RoTxn, name: &str) -> Result<Option<Role>, heed::Error> {
        self.auth_record(txn, &format!("{ROLE_PREFIX}{name}"))
    }

    /// All users, in name order.
    pub fn users(&self, txn: &RoTxn) -> Result<Vec<User>, heed::Error> {
        self.auth_records(txn, USER_PREFIX)
    }

    /// All roles, in name order.
    pub fn roles(&self, txn: &RoTxn) -> Result<Vec<Role>, heed::Error> {
        self.auth_records(txn, ROLE_PREFIX)
    }

    pub fn put_user(&self, txn: &mut RwTxn, user: &User) -> Result<(), heed::Error> {
        let key = format!("{USER_PREFIX}{}", String::from_utf8_lossy(&user.name));
        self.meta.put(txn, &key, &user.encode_to_vec())
    }

    pub fn put_role(&self, txn: &mut RwTxn, role: &Role) -> Result<(), heed::Error> {
        let key = format!("{ROLE_PREFIX}{}", String::from_utf8_lossy(&role.name));
        self.meta.put(txn, &key, &role.encode_to_vec())
    }

    pub fn delete_user(&self, txn: &mut RwTxn, name: &str) -> Result<bool, heed::Error> {
        self.meta.delete(txn, &format!("{USER_PREFIX}{name}"))
    }

    pub fn delete_role(&self, txn: &mut RwTxn, name: &str) -> Result<bool, heed::Error> {
        self.meta.delete(txn, &format!("{ROLE_PREFIX}{name}"))
    }

    fn auth_record<M: Message + Default>(
        &self,
        txn: &RoTxn,
        key: &str,
    ) -> Result<Option<M>, heed::Error> {
        let Some(bytes) = self.meta.get(txn, key)? else {
            return Ok(None);
        };
        M::decode(bytes)
            .map(Some)
            .map_err(|e| damaged("meta", key.as_bytes(), &e.to_string()))
    }

    fn auth_records<M: Message + Default>(
        &self,
        txn: &RoTxn,
        prefix: &str,
    ) -> Result<Vec<M>, heed::Error> {
        let mut records = Vec::new();
        for entry in self.meta.prefix_iter(txn, prefix)? {
            let (key, bytes) = entry?;
            let record =
                M::decode(bytes).map_err(|e| damaged("meta", key.as_bytes(), &e.to_string()))?;
            records.push(record);
        }
        Ok(records)
    }
}

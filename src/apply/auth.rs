//! Applying the authentication store's writes, with etcd 3.4's rules (auth/store.go): which
//! changes are refused and with what, role lists kept sorted, permissions sorted by key.
//! Passwords arrive hashed (the proposing member ran bcrypt); every change bumps the auth
//! revision, auth enable included (etcd does not bump there; we do, so a request checked while
//! auth was off can never apply after it was turned on).

use super::Applied;
use crate::auth::ROOT;
use crate::mvcc::auth::{AuthError, MAX_NAME_BYTES};
use crate::mvcc::{KvError, Store};
use crate::pb::authpb::{Permission, Role, User, UserAddOptions};
use crate::pb::etcdserverpb::{AuthenticateResponse, InternalRaftRequest};
use heed::RwTxn;

fn refuse<T>(error: AuthError) -> Result<T, KvError> {
    Err(KvError::Auth(error))
}

fn check_name(name: &str, empty: AuthError) -> Result<(), KvError> {
    if name.is_empty() {
        return refuse(empty);
    }
    if name.len() > MAX_NAME_BYTES {
        return refuse(AuthError::NameTooLong);
    }
    Ok(())
}

fn user(store: &Store, txn: &RwTxn, name: &str) -> Result<User, KvError> {
    store
        .user(txn, name)?
        .ok_or(KvError::Auth(AuthError::UserNotFound))
}

fn role(store: &Store, txn: &RwTxn, name: &str) -> Result<Role, KvError> {
    store
        .role(txn, name)?
        .ok_or(KvError::Auth(AuthError::RoleNotFound))
}

/// True if `request` is one of the auth store's writes.
pub fn is_auth(request: &InternalRaftRequest) -> bool {
    request.auth_enable.is_some()
        || request.auth_disable.is_some()
        || request.authenticate.is_some()
        || request.auth_user_add.is_some()
        || request.auth_user_delete.is_some()
        || request.auth_user_change_password.is_some()
        || request.auth_user_grant_role.is_some()
        || request.auth_user_revoke_role.is_some()
        || request.auth_role_add.is_some()
        || request.auth_role_delete.is_some()
        || request.auth_role_grant_permission.is_some()
        || request.auth_role_revoke_permission.is_some()
}

/// What an auth write did.
enum Done {
    /// The auth store changed: its revision moves on.
    Changed,
    /// A no-op etcd accepts (enable when enabled, granting a role held).
    Unchanged,
    /// An Authenticate entry (the raft loop issues the token).
    Authenticated,
}

/// Applies an auth write; `Applied::Auth` when it changed something or was a no-op etcd
/// accepts, `Applied::Authenticated` (the token is filled in by the raft loop).
pub fn apply(store: &Store, txn: &mut RwTxn, r: &InternalRaftRequest) -> Result<Applied, KvError> {
    let enabled = store.auth_enabled(txn)?;
    let done = if r.auth_enable.is_some() || r.auth_disable.is_some() {
        switch(store, txn, r.auth_enable.is_some(), enabled)?
    } else if let Some(a) = &r.authenticate {
        if !enabled {
            return refuse(AuthError::AuthNotEnabled);
        }
        match store.user(txn, &a.name)? {
            Some(u) if !u.options.is_some_and(|o| o.no_password) => Done::Authenticated,
            _ => return refuse(AuthError::AuthFailed),
        }
    } else if let Some(done) = user_write(store, txn, r, enabled)? {
        done
    } else {
        role_write(store, txn, r, enabled)?
    };
    match done {
        Done::Authenticated => Ok(Applied::Authenticated(AuthenticateResponse::default())),
        Done::Unchanged => Ok(Applied::Auth),
        Done::Changed => {
            store.bump_auth_revision(txn)?;
            Ok(Applied::Auth)
        }
    }
}

/// AuthEnable (root must exist and hold the root role) and AuthDisable.
fn switch(store: &Store, txn: &mut RwTxn, enable: bool, enabled: bool) -> Result<Done, KvError> {
    if enable == enabled {
        return Ok(Done::Unchanged);
    }
    if enable {
        let Some(root) = store.user(txn, ROOT)? else {
            return refuse(AuthError::RootUserNotExist);
        };
        if !crate::auth::has_root(&root) {
            return refuse(AuthError::RootRoleNotExist);
        }
    }
    store.set_auth_enabled(txn, enable)?;
    log::info!(
        "auth: {} authentication",
        if enable { "enabled" } else { "disabled" }
    );
    Ok(Done::Changed)
}

/// The user writes: add, delete, change password, grant and revoke a role (None: `r` is none
/// of them).
fn user_write(
    store: &Store,
    txn: &mut RwTxn,
    r: &InternalRaftRequest,
    enabled: bool,
) -> Result<Option<Done>, KvError> {
    if let Some(add) = &r.auth_user_add {
        check_name(&add.name, AuthError::UserEmpty)?;
        if store.user(txn, &add.name)?.is_some() {
            return refuse(AuthError::UserAlreadyExist);
        }
        let options = add.options.unwrap_or(UserAddOptions { no_password: false });
        let password = if options.no_password {
            Vec::new()
        } else {
            add.hashed_password.as_bytes().to_vec()
        };
        let user = User {
            name: add.name.as_bytes().to_vec(),
            password,
            roles: Vec::new(),
            options: Some(options),
        };
        store.put_user(txn, &user)?;
    } else if let Some(delete) = &r.auth_user_delete {
        if enabled && delete.name == ROOT {
            return refuse(AuthError::InvalidAuthMgmt);
        }
        user(store, txn, &delete.name)?;
        store.delete_user(txn, &delete.name)?;
    } else if let Some(change) = &r.auth_user_change_password {
        let mut updated = user(store, txn, &change.name)?;
        updated.password = change.hashed_password.as_bytes().to_vec();
        store.put_user(txn, &updated)?;
    } else if let Some(grant) = &r.auth_user_grant_role {
        let mut updated = user(store, txn, &grant.user)?;
        if grant.role != ROOT {
            role(store, txn, &grant.role)?;
        }
        match updated.roles.binary_search(&grant.role) {
            Ok(_) => return Ok(Some(Done::Unchanged)),
            Err(at) => updated.roles.insert(at, grant.role.clone()),
        }
        store.put_user(txn, &updated)?;
    } else if let Some(revoke) = &r.auth_user_revoke_role {
        if enabled && revoke.name == ROOT && revoke.role == ROOT {
            return refuse(AuthError::InvalidAuthMgmt);
        }
        let mut updated = user(store, txn, &revoke.name)?;
        let before = updated.roles.len();
        updated.roles.retain(|r| *r != revoke.role);
        if updated.roles.len() == before {
            return refuse(AuthError::RoleNotGranted);
        }
        store.put_user(txn, &updated)?;
    } else {
        return Ok(None);
    }
    Ok(Some(Done::Changed))
}

/// The role writes: add, delete (taken from every user too), grant and revoke a permission.
fn role_write(
    store: &Store,
    txn: &mut RwTxn,
    r: &InternalRaftRequest,
    enabled: bool,
) -> Result<Done, KvError> {
    if let Some(add) = &r.auth_role_add {
        check_name(&add.name, AuthError::RoleEmpty)?;
        if store.role(txn, &add.name)?.is_some() {
            return refuse(AuthError::RoleAlreadyExist);
        }
        let role = Role {
            name: add.name.as_bytes().to_vec(),
            key_permission: Vec::new(),
        };
        store.put_role(txn, &role)?;
    } else if let Some(delete) = &r.auth_role_delete {
        if enabled && delete.role == ROOT {
            return refuse(AuthError::InvalidAuthMgmt);
        }
        role(store, txn, &delete.role)?;
        store.delete_role(txn, &delete.role)?;
        for mut holder in store.users(txn)? {
            let before = holder.roles.len();
            holder.roles.retain(|r| *r != delete.role);
            if holder.roles.len() != before {
                store.put_user(txn, &holder)?;
            }
        }
    } else if let Some(grant) = &r.auth_role_grant_permission {
        let mut updated = role(store, txn, &grant.name)?;
        let Some(perm) = &grant.perm else {
            return refuse(AuthError::InvalidRange);
        };
        check_range(perm)?;
        let at = updated.key_permission.partition_point(|p| p.key < perm.key);
        let existing = updated.key_permission[at..]
            .iter_mut()
            .take_while(|p| p.key == perm.key)
            .find(|p| p.range_end == perm.range_end);
        match existing {
            Some(existing) => existing.perm_type = perm.perm_type,
            None => updated.key_permission.insert(at, perm.clone()),
        }
        store.put_role(txn, &updated)?;
    } else if let Some(revoke) = &r.auth_role_revoke_permission {
        let mut updated = role(store, txn, &revoke.role)?;
        let before = updated.key_permission.len();
        updated
            .key_permission
            .retain(|p| p.key != revoke.key || p.range_end != revoke.range_end);
        if updated.key_permission.len() == before {
            return refuse(AuthError::PermissionNotGranted);
        }
        store.put_role(txn, &updated)?;
    }
    Ok(Done::Changed)
}

/// A permission's range must not end before it starts ("\0" and empty ends excepted).
pub fn check_range(perm: &Permission) -> Result<(), KvError> {
    let end = &perm.range_end;
    if !end.is_empty() && end[..] != [0] && end[..] <= perm.key[..] {
        return refuse(AuthError::InvalidRange);
    }
    Ok(())
}

/// Refuses an entry whose checks were made at an older auth revision than the store's now
/// (entries with no revision are the members' own: lease expiry, compaction, alarms).
pub fn check_revision(
    store: &Store,
    txn: &RwTxn,
    request: &InternalRaftRequest,
) -> Result<(), KvError> {
    let checked_at = request.header.as_ref().map_or(0, |h| h.auth_revision);
    if checked_at != 0 && store.auth_enabled(txn)? && checked_at < store.auth_revision(txn)? {
        return refuse(AuthError::AuthOldRevision);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::apply as apply_entry;
    use super::*;
    use crate::pb::etcdserverpb::*;

    fn store() -> Store {
        crate::mvcc::scratch_store("apply-auth", 1 << 24)
    }

    fn entry(checked_at: u64, build: impl FnOnce(&mut InternalRaftRequest)) -> InternalRaftRequest {
        let mut request = InternalRaftRequest {
            header: Some(RequestHeader {
                username: "root".into(),
                auth_revision: checked_at,
                ..Default::default()
            }),
            ..Default::default()
        };
        build(&mut request);
        request
    }

    /// Applies an entry checked at the store's auth revision now.
    fn apply_now(
        store: &Store,
        txn: &mut RwTxn,
        build: impl FnOnce(&mut InternalRaftRequest),
    ) -> Result<Applied, KvError> {
        let checked_at = store.auth_revision(txn).unwrap();
        apply_entry(store, txn, &entry(checked_at, build))
    }

    fn refusal(result: Result<Applied, KvError>) -> AuthError {
        match result {
            Err(KvError::Auth(e)) => e,
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn a_request_checked_before_a_role_change_is_refused_after_it() {
        let store = store();
        let mut txn = store.write_txn().unwrap();
        let at = |txn: &RwTxn| store.auth_revision(txn).unwrap();
        let enable = |r: &mut InternalRaftRequest| r.auth_enable = Some(AuthEnableRequest {});
        assert_eq!(
            refusal(apply_now(&store, &mut txn, enable)),
            AuthError::RootUserNotExist
        );
        let root = |r: &mut InternalRaftRequest| {
            r.auth_user_add = Some(AuthUserAddRequest {
                name: "root".into(),
                hashed_password: "$2a$04$x".into(),
                ..Default::default()
            })
        };
        apply_now(&store, &mut txn, root).unwrap();
        assert_eq!(
            refusal(apply_now(&store, &mut txn, enable)),
            AuthError::RootRoleNotExist
        );
        let grant = |r: &mut InternalRaftRequest| {
            r.auth_user_grant_role = Some(AuthUserGrantRoleRequest {
                user: "root".into(),
                role: "root".into(),
            })
        };
        apply_now(&store, &mut txn, grant).unwrap();
        apply_now(&store, &mut txn, enable).unwrap();
        // A put checked now, and a role added before it applies.
        let checked_at = at(&txn);
        let put = entry(checked_at, |r| {
            r.put = Some(PutRequest {
                key: b"k".to_vec(),
                ..Default::default()
            })
        });
        let role = |r: &mut InternalRaftRequest| {
            r.auth_role_add = Some(AuthRoleAddRequest { name: "r".into() })
        };
        apply_entry(&store, &mut txn, &entry(checked_at, role)).unwrap();
        assert_eq!(
            refusal(apply_entry(&store, &mut txn, &put)),
            AuthError::AuthOldRevision
        );
        assert!(
            store.current_revision(&txn).unwrap() == 1,
            "nothing was written"
        );
        // The members' own entries carry no revision and always apply.
        let internal = InternalRaftRequest {
            put: Some(PutRequest {
                key: b"k".to_vec(),
                ..Default::default()
            }),
            ..Default::default()
        };
        apply_entry(&store, &mut txn, &internal).unwrap();
        // Root keeps its role and its user while auth is on.
        let revoke = |r: &mut InternalRaftRequest| {
            r.auth_user_revoke_role = Some(AuthUserRevokeRoleRequest {
                name: "root".into(),
                role: "root".into(),
            })
        };
        assert_eq!(
            refusal(apply_now(&store, &mut txn, revoke)),
            AuthError::InvalidAuthMgmt
        );
        let backwards = |r: &mut InternalRaftRequest| {
            r.auth_role_grant_permission = Some(AuthRoleGrantPermissionRequest {
                name: "r".into(),
                perm: Some(Permission {
                    key: b"z".to_vec(),
                    range_end: b"a".to_vec(),
                    perm_type: 0,
                }),
            })
        };
        let before = at(&txn);
        assert_eq!(
            refusal(apply_entry(&store, &mut txn, &entry(before, backwards))),
            AuthError::InvalidRange
        );
        assert_eq!(at(&txn), before, "a refused change changes nothing");
    }
}

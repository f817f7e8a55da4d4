//! The Auth service (etcd 3.4's, plus 3.5's AuthStatus). Passwords are hashed and checked here,
//! on the request's task pool and never on the raft thread; what is proposed carries the hash,
//! never the password. Reads of users and roles wait for a ReadIndex round, as etcd's go
//! through raft.

use super::{Api, Call, Status};
use crate::apply::Applied;
use crate::mvcc::auth::{AuthError, MAX_NAME_BYTES};
use crate::pb::etcdserverpb::*;

/// How often Authenticate tries again when the auth store changed between the password check
/// and the apply (etcd's loop has no bound).
const AUTHENTICATE_ATTEMPTS: usize = 3;

fn refused(error: AuthError) -> Status {
    Status::from(error)
}

/// bcrypt at --bcrypt-cost, on a blocking thread (10 is ~50 ms of CPU).
async fn hash(api: &Api, password: &str) -> Result<String, Status> {
    let (password, cost) = (password.to_string(), api.gate.bcrypt_cost);
    smol::unblock(move || bcrypt::hash_with_result(password, cost))
        .await
        .map(|hashed| hashed.format_for_version(bcrypt::Version::TwoA))
        .map_err(|e| Status::new(super::Code::InvalidArgument, format!("etcdserver: {e}")))
}

fn check_name(name: &str, empty: AuthError) -> Result<(), Status> {
    if name.is_empty() {
        return Err(refused(empty));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(refused(AuthError::NameTooLong));
    }
    Ok(())
}

/// Proposes an auth store write; the answer is a header at the current revision.
async fn write(
    call: &Call<'_>,
    request: Box<InternalRaftRequest>,
) -> Result<Option<ResponseHeader>, Status> {
    match call.propose(request).await? {
        Applied::Auth => Ok(call.header(call.current_revision()?)),
        other => Err(super::unexpected(other)),
    }
}

/// A linearizable read of the auth store: after a ReadIndex round.
async fn read_txn(api: &Api) -> Result<heed::RoTxn<'_>, Status> {
    api.refuse_learner()?;
    api.raft.read_barrier().await?;
    Ok(api.store.read_txn()?)
}

pub async fn authenticate(
    call: &Call<'_>,
    request: AuthenticateRequest,
) -> Result<AuthenticateResponse, Status> {
    for _ in 0..AUTHENTICATE_ATTEMPTS {
        let (user, checked_at) = {
            let txn = read_txn(call).await?;
            if !call.store.auth_enabled(&txn)? {
                return Err(refused(AuthError::AuthNotEnabled));
            }
            let user = call.store.user(&txn, &request.name)?;
            (user, call.store.auth_revision(&txn)?)
        };
        let Some(user) = user else {
            return Err(refused(AuthError::AuthFailed));
        };
        if user.options.is_some_and(|o| o.no_password) {
            return Err(refused(AuthError::NoPasswordUser));
        }
        let (password, hashed) = (request.password.clone(), user.password.clone());
        let matches = smol::unblock(move || {
            std::str::from_utf8(&hashed)
                .ok()
                .is_some_and(|hashed| bcrypt::verify(password, hashed).unwrap_or(false))
        })
        .await;
        if !matches {
            log::info!("auth: invalid password for user {:?}", request.name);
            return Err(refused(AuthError::AuthFailed));
        }
        let proposal = Box::new(InternalRaftRequest {
            header: Some(RequestHeader {
                username: request.name.clone(),
                auth_revision: checked_at,
                ..Default::default()
            }),
            authenticate: Some(InternalAuthenticateRequest {
                name: request.name.clone(),
                password: String::new(),
                simple_token: crate::auth::tokens::new_prefix(),
            }),
            ..Default::default()
        });
        match call.api.propose(proposal).await {
            Ok(Applied::Authenticated(mut response)) => {
                if response.token.is_empty() {
                    // A JWT member given only the public key (etcd's verify-only mode).
                    return Err(Status::new(
                        super::Code::Unknown,
                        "auth: token signing attempted with verify-only key",
                    ));
                }
                response.header = call.header(call.current_revision()?);
                return Ok(response);
            }
            Ok(other) => return Err(super::unexpected(other)),
            Err(status) if status == refused(AuthError::AuthOldRevision) => {
                log::info!("auth: the auth store changed while a password was checked; again");
            }
            Err(status) => return Err(status),
        }
    }
    Err(refused(AuthError::AuthOldRevision))
}

pub async fn enable(call: &Call<'_>, _: AuthEnableRequest) -> Result<AuthEnableResponse, Status> {
    let request = Box::new(InternalRaftRequest {
        auth_enable: Some(AuthEnableRequest {}),
        ..Default::default()
    });
    let header = write(call, request).await?;
    Ok(AuthEnableResponse { header })
}

pub async fn disable(
    call: &Call<'_>,
    _: AuthDisableRequest,
) -> Result<AuthDisableResponse, Status> {
    let request = Box::new(InternalRaftRequest {
        auth_disable: Some(AuthDisableRequest {}),
        ..Default::default()
    });
    let header = write(call, request).await?;
    Ok(AuthDisableResponse { header })
}

pub async fn status(api: &Api, _: AuthStatusRequest) -> Result<AuthStatusResponse, Status> {
    let txn = read_txn(api).await?;
    Ok(AuthStatusResponse {
        header: api.header(api.store.current_revision(&txn)?),
        enabled: api.store.auth_enabled(&txn)?,
        auth_revision: api.store.auth_revision(&txn)?,
    })
}

pub async fn user_add(
    call: &Call<'_>,
    mut request: AuthUserAddRequest,
) -> Result<AuthUserAddResponse, Status> {
    check_name(&request.name, AuthError::UserEmpty)?;
    let no_password = request.options.is_some_and(|o| o.no_password);
    if !no_password {
        request.hashed_password = hash(call, &request.password).await?;
    }
    request.password.clear();
    let request = Box::new(InternalRaftRequest {
        auth_user_add: Some(request),
        ..Default::default()
    });
    let header = write(call, request).await?;
    Ok(AuthUserAddResponse { header })
}

pub async fn user_change_password(
    call: &Call<'_>,
    mut request: AuthUserChangePasswordRequest,
) -> Result<AuthUserChangePasswordResponse, Status> {
    request.hashed_password = hash(call, &request.password).await?;
    request.password.clear();
    let request = Box::new(InternalRaftRequest {
        auth_user_change_password: Some(request),
        ..Default::default()
    });
    let header = write(call, request).await?;
    Ok(AuthUserChangePasswordResponse { header })
}

/// Auth writes whose request is proposed as it came.
macro_rules! plain_write {
    ($name:ident, $request:ty, $response:ident, $field:ident) => {
        pub async fn $name(call: &Call<'_>, request: $request) -> Result<$response, Status> {
            let request = Box::new(InternalRaftRequest {
                $field: Some(request),
                ..Default::default()
            });
            let header = write(call, request).await?;
            Ok($response { header })
        }
    };
}

plain_write!(
    user_delete,
    AuthUserDeleteRequest,
    AuthUserDeleteResponse,
    auth_user_delete
);
plain_write!(
    user_grant_role,
    AuthUserGrantRoleRequest,
    AuthUserGrantRoleResponse,
    auth_user_grant_role
);
plain_write!(
    user_revoke_role,
    AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse,
    auth_user_revoke_role
);
plain_write!(
    role_delete,
    AuthRoleDeleteRequest,
    AuthRoleDeleteResponse,
    auth_role_delete
);
plain_write!(
    role_revoke_permission,
    AuthRoleRevokePermissionRequest,
    AuthRoleRevokePermissionResponse,
    auth_role_revoke_permission
);

pub async fn role_add(
    call: &Call<'_>,
    request: AuthRoleAddRequest,
) -> Result<AuthRoleAddResponse, Status> {
    check_name(&request.name, AuthError::RoleEmpty)?;
    let request = Box::new(InternalRaftRequest {
        auth_role_add: Some(request),
        ..Default::default()
    });
    let header = write(call, request).await?;
    Ok(AuthRoleAddResponse { header })
}

pub async fn role_grant_permission(
    call: &Call<'_>,
    request: AuthRoleGrantPermissionRequest,
) -> Result<AuthRoleGrantPermissionResponse, Status> {
    if let Some(perm) = &request.perm {
        crate::apply::check_permission_range(perm)?;
    }
    let request = Box::new(InternalRaftRequest {
        auth_role_grant_permission: Some(request),
        ..Default::default()
    });
    let header = write(call, request).await?;
    Ok(AuthRoleGrantPermissionResponse { header })
}

pub async fn user_get(
    api: &Api,
    request: AuthUserGetRequest,
) -> Result<AuthUserGetResponse, Status> {
    let txn = read_txn(api).await?;
    let user = api.store.user(&txn, &request.name)?;
    let user = user.ok_or_else(|| refused(AuthError::UserNotFound))?;
    Ok(AuthUserGetResponse {
        header: api.header(api.store.current_revision(&txn)?),
        roles: user.roles,
    })
}

pub async fn user_list(api: &Api, _: AuthUserListRequest) -> Result<AuthUserListResponse, Status> {
    let txn = read_txn(api).await?;
    let users = api.store.users(&txn)?;
    Ok(AuthUserListResponse {
        header: api.header(api.store.current_revision(&txn)?),
        users: users
            .into_iter()
            .map(|u| String::from_utf8_lossy(&u.name).into_owned())
            .collect(),
    })
}

pub async fn role_get(
    api: &Api,
    request: AuthRoleGetRequest,
) -> Result<AuthRoleGetResponse, Status> {
    let txn = read_txn(api).await?;
    let role = api.store.role(&txn, &request.role)?;
    let role = role.ok_or_else(|| refused(AuthError::RoleNotFound))?;
    Ok(AuthRoleGetResponse {
        header: api.header(api.store.current_revision(&txn)?),
        perm: role.key_permission,
    })
}

pub async fn role_list(api: &Api, _: AuthRoleListRequest) -> Result<AuthRoleListResponse, Status> {
    let txn = read_txn(api).await?;
    let roles = api.store.roles(&txn)?;
    Ok(AuthRoleListResponse {
        header: api.header(api.store.current_revision(&txn)?),
        roles: roles
            .into_iter()
            .map(|r| String::from_utf8_lossy(&r.name).into_owned())
            .collect(),
    })
}

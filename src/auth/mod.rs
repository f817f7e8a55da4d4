//! Authentication and access control, between api/ (which decodes a request) and raft/ (which
//! orders it): every unary request and every stream message passes `Gate::admit` with the
//! `Need` its type declares (rules.rs; a request type without one does not compile into the
//! method table). What the gate saw is stamped on a proposal (`Admitted`: user, auth
//! revision); apply refuses the entry if the auth state changed between check and apply
//! ("revision of auth store is old"), so a check is never acted on with stale roles.
//!
//! Users and roles are replicated (mvcc/auth.rs, applied by apply/auth.rs); tokens are
//! per-member memory (tokens.rs), as in etcd.

pub mod jwt;
mod perms;
mod rules;
pub mod tokens;

pub use perms::{covered, Access};
pub use rules::Guarded;
pub use tokens::Tokens;

use crate::mvcc::auth::AuthError;
use crate::mvcc::{KvError, Store};
use crate::pb::authpb::User;
use heed::RoTxn;
use std::borrow::Cow;
use std::sync::Arc;

/// The role that may do anything, and the user that must hold it before auth is enabled.
pub const ROOT: &str = "root";

/// One access to a key range: (access, key, range_end), etcd's range convention.
pub type KeyAccess<'a> = (Access, Cow<'a, [u8]>, Cow<'a, [u8]>);

/// What a request needs from its caller once auth is enabled.
#[derive(Debug)]
pub enum Need<'a> {
    /// Nothing: Authenticate itself, and watch streams (each create is checked on its own).
    Nobody,
    /// Any existing user.
    User,
    /// The root role.
    Root,
    /// The root role, for the calls etcd 3.4 checks in its maintenance server, which answers
    /// its refusals untranslated (code Unknown, "auth: ...").
    Maintenance,
    /// Each access on each (key, range_end), etcd's range convention.
    Keys(Vec<KeyAccess<'a>>),
    /// Write on every key attached to the lease.
    LeaseKeys(i64),
    /// The named user themself (UserGet), or root.
    SelfOrRoot(&'a str),
    /// A holder of the named role (RoleGet), or root.
    RoleOrRoot(&'a str),
}

/// Who a request says it comes from: a token (gRPC `token` / `authorization` metadata, the
/// gateway's Authorization header) and the verified client certificate's common name.
#[derive(Debug, Clone, Default)]
pub struct Identity {
    pub token: Option<String>,
    pub common_name: Option<Arc<str>>,
}

/// A request that passed the gate: its user (if any) and the auth revision it was checked at.
#[derive(Debug, Clone, Default)]
pub struct Admitted {
    pub user: Option<String>,
    pub revision: u64,
}

/// --auth-token simple, --auth-token-ttl, --client-cert-auth, --bcrypt-cost.
pub struct Gate {
    pub tokens: Arc<Tokens>,
    /// With --client-cert-auth, a request without a token is the certificate's CN (etcd).
    pub client_cert_auth: bool,
    pub bcrypt_cost: u32,
}

pub fn has_root(user: &User) -> bool {
    user.roles.iter().any(|r| r == ROOT)
}

impl Gate {
    /// The user a request names: a token's, else (with --client-cert-auth) the certificate's.
    /// A token that is not live is refused whether or not auth is enabled, as in etcd.
    pub fn user(&self, who: &Identity) -> Result<Option<String>, AuthError> {
        if let Some(token) = who.token.as_deref().filter(|t| !t.is_empty()) {
            return match self.tokens.user(token) {
                Some(user) => Ok(Some(user)),
                None => Err(AuthError::InvalidAuthToken),
            };
        }
        Ok(self
            .client_cert_auth
            .then(|| who.common_name.as_deref().map(str::to_string))
            .flatten())
    }

    /// Lets a request through, or says why not.
    pub fn admit(&self, store: &Store, who: &Identity, need: &Need) -> Result<Admitted, KvError> {
        let user = self.user(who).map_err(KvError::Auth)?;
        let txn = store.read_txn()?;
        let admitted = Admitted {
            revision: store.auth_revision(&txn)?,
            user,
        };
        if !store.auth_enabled(&txn)? || matches!(need, Need::Nobody) {
            return Ok(admitted);
        }
        let Some(name) = admitted.user.as_deref() else {
            return Err(KvError::Auth(AuthError::UserEmpty));
        };
        let Some(user) = store.user(&txn, name)? else {
            let refusal = match need {
                Need::Root | Need::Maintenance => AuthError::UserNotFound,
                _ => AuthError::PermissionDenied,
            };
            return Err(KvError::Auth(refusal));
        };
        if has_root(&user) || permitted(store, &txn, &user, need)? {
            Ok(admitted)
        } else {
            Err(KvError::Auth(AuthError::PermissionDenied))
        }
    }
}

/// Whether a non-root user may do what `need` asks.
fn permitted(store: &Store, txn: &RoTxn, user: &User, need: &Need) -> Result<bool, KvError> {
    Ok(match need {
        Need::Nobody | Need::User => true,
        Need::Root | Need::Maintenance => false,
        Need::SelfOrRoot(name) => user.name == name.as_bytes(),
        Need::RoleOrRoot(role) => user.roles.iter().any(|r| r == role),
        Need::Keys(accesses) => {
            let roles = roles_of(store, txn, user)?;
            accesses
                .iter()
                .all(|(access, key, end)| covered(&roles, *access, key, end))
        }
        Need::LeaseKeys(lease) => {
            let roles = roles_of(store, txn, user)?;
            store
                .lease_keys(txn, *lease)?
                .iter()
                .all(|key| covered(&roles, Access::Write, key, &[]))
        }
    })
}

fn roles_of(
    store: &Store,
    txn: &RoTxn,
    user: &User,
) -> Result<Vec<crate::pb::authpb::Role>, KvError> {
    let mut roles = Vec::with_capacity(user.roles.len());
    for name in &user.roles {
        roles.extend(store.role(txn, name)?);
    }
    Ok(roles)
}

/// Whether `user` may read `key` (LeaseTimeToLive lists only such keys; watches are
/// re-checked with it after roles change). True while auth is disabled.
pub fn may(
    store: &Store,
    txn: &RoTxn,
    user: Option<&str>,
    access: Access,
    key: &[u8],
    range_end: &[u8],
) -> Result<bool, KvError> {
    if !store.auth_enabled(txn)? {
        return Ok(true);
    }
    let Some(user) = user
        .map(|name| store.user(txn, name))
        .transpose()?
        .flatten()
    else {
        return Ok(false);
    };
    if has_root(&user) {
        return Ok(true);
    }
    let need = Need::Keys(vec![(access, Cow::Borrowed(key), Cow::Borrowed(range_end))]);
    permitted(store, txn, &user, &need)
}

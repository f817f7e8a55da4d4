//! etcd 3.4's v2 auth over HTTP (--enable-v2): /v2/auth/enable, /v2/auth/users[/NAME],
//! /v2/auth/roles[/NAME] with etcd's rules, status codes and bodies, and the checks the other
//! v2 handlers make once it is enabled: who a request is (HTTP basic auth, or with
//! --client-cert-auth the certificate's CN) and whether its roles (or, without credentials,
//! the guest role) cover the key. The records and their storage are src/v2/auth.rs.
//!
//! Passwords are bcrypt-hashed (cost 10, etcd's DefaultCost) off the executor; a password
//! that checked out once is remembered (by its SHA-256 and the stored hash) so that a v2
//! client sending basic auth on every request does not cost a bcrypt round each time.

use super::http::v2_response;
use super::{Api, Body};
use crate::apply::Applied;
use crate::pb::etcdserverpb::InternalRaftRequest;
use crate::v2::auth::{self as v2auth, refuse, Refusal, Role, User, GUEST, ROOT};
use crate::v2::{KEY_NOT_FOUND, NODE_EXIST};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Serialize;
use std::collections::BTreeSet;
use std::sync::Mutex;

pub const PREFIX: &str = "/v2/auth";
/// etcd's bcrypt.DefaultCost.
const BCRYPT_COST: u32 = 10;
/// Passwords remembered as checked, before the memory starts over.
const CHECKED_PASSWORDS: usize = 1024;
/// The largest user or role record a request may send.
const MAX_RECORD_BYTES: usize = 64 * 1024;

/// Who a request is, as v2 auth tells: its basic auth header and the connection's CN.
pub struct Credentials<'a> {
    pub headers: &'a HeaderMap,
    pub common_name: Option<&'a str>,
}

type Answer = Result<Response<Body>, Refusal>;

fn storage(e: impl std::fmt::Display) -> Refusal {
    log::warn!("v2 auth: reading the store failed: {e}");
    Refusal {
        status: 500,
        message: "Internal Server Error".into(),
    }
}

/// etcd's httptypes.HTTPError body.
fn refusal_response(api: &Api, refusal: &Refusal) -> Response<Body> {
    let mut body = String::from("{\"message\":");
    crate::golang::json_string(&refusal.message, &mut body);
    body.push('}');
    let status = StatusCode::from_u16(refusal.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    v2_response(api, status, body)
}

/// The 401 etcd's v2 handlers answer without the credentials they need.
pub fn insufficient_credentials(api: &Api) -> Response<Body> {
    let refusal = Refusal {
        status: 401,
        message: "Insufficient credentials".into(),
    };
    let mut response = refusal_response(api, &refusal);
    response.headers_mut().remove("x-etcd-cluster-id");
    response
}

fn json_line(api: &Api, status: u16, value: &impl Serialize) -> Response<Body> {
    let body = format!(
        "{}\n",
        serde_json::to_string(value).expect("records encode")
    );
    v2_response(api, StatusCode::from_u16(status).expect("a status"), body)
}

fn empty(api: &Api) -> Response<Body> {
    v2_response(api, StatusCode::OK, String::new())
}

/// Go's http.Error after allowMethod.
fn method_not_allowed(allowed: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::METHOD_NOT_ALLOWED)
        .header("allow", allowed)
        .header("content-type", "text/plain; charset=utf-8")
        .header("x-content-type-options", "nosniff")
        .body(Body::full("Method Not Allowed\n"))
        .expect("static response parts")
}

fn enabled(api: &Api) -> Result<bool, Refusal> {
    let txn = api.store.read_txn().map_err(storage)?;
    api.store.v2_auth_enabled(&txn).map_err(storage)
}

fn user(api: &Api, name: &str) -> Result<Option<User>, Refusal> {
    let txn = api.store.read_txn().map_err(storage)?;
    api.store.v2_user(&txn, name).map_err(storage)
}

fn role(api: &Api, name: &str) -> Result<Option<Role>, Refusal> {
    let txn = api.store.read_txn().map_err(storage)?;
    api.store.v2_role(&txn, name).map_err(storage)
}

/// (stored hash, SHA-256 of the password) pairs that checked out.
fn checked_passwords() -> std::sync::MutexGuard<'static, BTreeSet<(String, Vec<u8>)>> {
    static CHECKED: Mutex<BTreeSet<(String, Vec<u8>)>> = Mutex::new(BTreeSet::new());
    CHECKED.lock().unwrap_or_else(|p| p.into_inner())
}

/// Does `password` match `user`'s hash?
async fn password_matches(user: &User, password: &str) -> bool {
    let digest = ring::digest::digest(&ring::digest::SHA256, password.as_bytes());
    let remembered = (user.password.clone(), digest.as_ref().to_vec());
    if checked_passwords().contains(&remembered) {
        return true;
    }
    let (password, hash) = (password.to_string(), user.password.clone());
    let matches = smol::unblock(move || bcrypt::verify(password, &hash).unwrap_or(false)).await;
    if matches {
        let mut checked = checked_passwords();
        if checked.len() >= CHECKED_PASSWORDS {
            checked.clear();
        }
        checked.insert(remembered);
    }
    matches
}

/// The user a request's `Authorization: Basic` header names and proves (None: no such
/// header, or it does not check out).
async fn basic_auth_user(api: &Api, headers: &HeaderMap) -> Option<User> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = crate::golang::base64_decode(encoded.trim().as_bytes()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (name, password) = text.split_once(':')?;
    let found = user(api, name).ok()??;
    password_matches(&found, password).await.then_some(found)
}

/// The user a request is: basic auth if it sends it; else, with --client-cert-auth, the
/// user named by the certificate's CN. Ok(None): no user (anonymous).
async fn who(api: &Api, credentials: &Credentials<'_>) -> Result<Option<User>, ()> {
    if credentials
        .headers
        .contains_key(http::header::AUTHORIZATION)
    {
        return basic_auth_user(api, credentials.headers)
            .await
            .map(Some)
            .ok_or(());
    }
    if api.gate.client_cert_auth {
        if let Some(name) = credentials.common_name {
            return Ok(user(api, name).ok().flatten());
        }
    }
    Ok(None)
}

/// etcd's hasRootAccess: anyone while v2 auth is off; else a user with the root role.
pub async fn is_root(api: &Api, credentials: &Credentials<'_>) -> bool {
    if !enabled(api).unwrap_or(true) {
        return true;
    }
    matches!(who(api, credentials).await, Ok(Some(user)) if user.has_role(ROOT))
}

/// etcd's hasKeyPrefixAccess: may this request read (or write) `key` — with `recursive`,
/// everything under it?
pub async fn may_access_key(
    api: &Api,
    credentials: &Credentials<'_>,
    key: &str,
    recursive: bool,
    write: bool,
) -> bool {
    if !enabled(api).unwrap_or(true) {
        return true;
    }
    let user = match who(api, credentials).await {
        Err(()) => return false,
        Ok(Some(user)) => user,
        // Without credentials, the guest role decides (never recursively, as in etcd).
        Ok(None) => {
            return role(api, GUEST)
                .ok()
                .flatten()
                .is_some_and(|guest| guest.may(key, write, false))
        }
    };
    user.roles
        .as_deref()
        .unwrap_or_default()
        .iter()
        .any(|name| {
            role(api, name)
                .ok()
                .flatten()
                .is_some_and(|role| role.may(key, write, recursive))
        })
}

/// Serves a request under /v2/auth.
pub async fn handle(
    api: &Api,
    credentials: &Credentials<'_>,
    request: Request<Incoming>,
) -> Response<Body> {
    match serve(api, credentials, request).await {
        Ok(response) => response,
        Err(refusal) => refusal_response(api, &refusal),
    }
}

async fn serve(api: &Api, credentials: &Credentials<'_>, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_string();
    let method = request.method().as_str().to_string();
    let rest = &path[PREFIX.len()..];
    if rest == "/enable" {
        if !matches!(method.as_str(), "GET" | "PUT" | "DELETE") {
            return Ok(method_not_allowed("GET,PUT,DELETE"));
        }
        // etcd's hasWriteRootAccess: anyone may ask whether auth is on.
        if method != "GET" && !is_root(api, credentials).await {
            return Ok(insufficient_credentials(api));
        }
        return enable(api, &method).await;
    }
    // etcd's ServeMux: /users and /roles, and path.Clean of what is under them.
    let kind = ["users", "roles"]
        .into_iter()
        .find(|kind| rest == format!("/{kind}") || rest.starts_with(&format!("/{kind}/")));
    let Some(kind) = kind else {
        return Ok(super::http::not_found());
    };
    let pieces: Vec<String> = crate::v2::clean(rest)
        .split('/')
        .map(str::to_string)
        .collect();
    let name = match pieces.len() {
        2 => None,
        3 => Some(pieces[2].clone()),
        _ => return refuse(400, "Invalid path").map_err(plain),
    };
    let allowed = if name.is_some() {
        "GET,PUT,DELETE"
    } else {
        "GET"
    };
    if !allowed.split(',').any(|m| m == method) {
        return Ok(method_not_allowed(allowed));
    }
    if !is_root(api, credentials).await {
        return Ok(insufficient_credentials(api));
    }
    match (kind, name) {
        ("users", None) => all_users(api),
        (_, None) => all_roles(api),
        ("users", Some(name)) => match method.as_str() {
            "GET" => get_user(api, &name),
            "PUT" => put_user(api, &name, read_record(request).await?).await,
            _ => delete_user(api, &name).await,
        },
        (_, Some(name)) => match method.as_str() {
            "GET" => {
                let found = role(api, &name)?;
                let found = found.ok_or_else(|| missing_role(&name, "does not exist."))?;
                Ok(json_line(api, 200, &found))
            }
            "PUT" => put_role(api, &name, read_record(request).await?).await,
            _ => delete_role(api, &name).await,
        },
    }
}

/// A refusal whose message is not in etcd's "auth: " form (the handlers' own).
fn plain(mut refusal: Refusal) -> Refusal {
    refusal.message = refusal.message.trim_start_matches("auth: ").to_string();
    refusal
}

fn invalid_json() -> Refusal {
    Refusal {
        status: 400,
        message: "Invalid JSON in request body.".into(),
    }
}

async fn read_record(request: Request<Incoming>) -> Result<Vec<u8>, Refusal> {
    http_body_util::Limited::new(request.into_body(), MAX_RECORD_BYTES)
        .collect()
        .await
        .map(|body| body.to_bytes().to_vec())
        .map_err(|_| invalid_json())
}

/// Replicates an auth record change; KEY_NOT_FOUND and NODE_EXIST come back as themselves.
async fn propose(api: &Api, change: crate::pb::etcdserverpb::V2Request) -> Result<(), u32> {
    let proposal = Box::new(InternalRaftRequest {
        v2: Some(change),
        ..Default::default()
    });
    match api.propose(proposal).await {
        Ok(Applied::V2(answer)) => match *answer {
            Ok(_) => Ok(()),
            Err(error) => Err(error.code),
        },
        Ok(other) => {
            log::warn!("v2 auth: unexpected apply result {other:?}");
            Err(300)
        }
        Err(status) => {
            log::warn!("v2 auth: proposing a change failed: {}", status.message);
            Err(300)
        }
    }
}

fn internal() -> Refusal {
    Refusal {
        status: 500,
        message: "Internal Server Error".into(),
    }
}

/// Waits until this member has applied everything committed before the request (etcd reads
/// the record it changes with a quorum read).
async fn caught_up(api: &Api) -> Result<(), Refusal> {
    api.raft.read_barrier().await.map_err(|_| internal())
}

async fn enable(api: &Api, method: &str) -> Answer {
    let on = enabled(api)?;
    match method {
        "GET" => {
            #[derive(Serialize)]
            struct Enabled {
                enabled: bool,
            }
            Ok(json_line(api, 200, &Enabled { enabled: on }))
        }
        "PUT" => {
            caught_up(api).await?;
            if enabled(api)? {
                return refuse(409, "already enabled");
            }
            if user(api, ROOT)?.is_none() {
                return refuse(409, "No root user available, please create one");
            }
            if role(api, GUEST)?.is_none() {
                log::info!("v2 auth: no guest role; creating the default one");
                create_role(api, &v2auth::guest_role()).await?;
            }
            set_enabled(api, true).await
        }
        _ => {
            caught_up(api).await?;
            if !enabled(api)? {
                return refuse(409, "already disabled");
            }
            set_enabled(api, false).await
        }
    }
}

async fn set_enabled(api: &Api, on: bool) -> Answer {
    propose(api, v2auth::request("AUTH_PUT", "/enabled", &on))
        .await
        .map_err(|_| internal())?;
    log::info!("v2 auth: {}", if on { "enabled" } else { "disabled" });
    Ok(empty(api))
}

/// etcd's userWithRoles: a user (without its password) and the roles it has that exist.
#[derive(Serialize)]
struct UserWithRoles {
    user: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    roles: Vec<Role>,
}

fn with_roles(api: &Api, found: User, skip_missing: bool) -> Result<UserWithRoles, Refusal> {
    let mut roles = Vec::new();
    for name in found.roles.as_deref().unwrap_or_default() {
        match role(api, name)? {
            Some(role) => roles.push(role),
            None if skip_missing => {}
            None => return Err(missing_role(name, "does not exist.")),
        }
    }
    Ok(UserWithRoles {
        user: found.user,
        roles,
    })
}

fn all_users(api: &Api) -> Answer {
    #[derive(Serialize)]
    struct Users {
        users: Option<Vec<UserWithRoles>>,
    }
    let names = {
        let txn = api.store.read_txn().map_err(storage)?;
        api.store.v2_auth_names(&txn, "users").map_err(storage)?
    };
    let mut users = Vec::new();
    for name in names {
        let found = user(api, &name)?.ok_or_else(|| missing_user(&name, "does not exist."))?;
        users.push(with_roles(api, found, true)?);
    }
    let users = (!users.is_empty()).then_some(users);
    Ok(json_line(api, 200, &Users { users }))
}

fn all_roles(api: &Api) -> Answer {
    #[derive(Serialize)]
    struct Roles {
        roles: Vec<Role>,
    }
    let mut names = {
        let txn = api.store.read_txn().map_err(storage)?;
        api.store.v2_auth_names(&txn, "roles").map_err(storage)?
    };
    names.push(ROOT.into());
    names.sort();
    let mut roles = Vec::new();
    for name in names {
        roles.push(role(api, &name)?.ok_or_else(|| missing_role(&name, "does not exist."))?);
    }
    Ok(json_line(api, 200, &Roles { roles }))
}

fn missing_user(name: &str, how: &str) -> Refusal {
    Refusal {
        status: 404,
        message: format!("auth: User {name} {how}"),
    }
}

fn missing_role(name: &str, how: &str) -> Refusal {
    Refusal {
        status: 404,
        message: format!("auth: Role {name} {how}"),
    }
}

fn get_user(api: &Api, name: &str) -> Answer {
    let found = user(api, name)?.ok_or_else(|| missing_user(name, "does not exist."))?;
    Ok(json_line(api, 200, &with_roles(api, found, false)?))
}

async fn hash(password: &str) -> Result<String, Refusal> {
    let password = password.to_string();
    smol::unblock(move || bcrypt::hash_with_result(password, BCRYPT_COST))
        .await
        .map(|hashed| hashed.format_for_version(bcrypt::Version::TwoA))
        .map_err(|_| internal())
}

fn has_any(list: &Option<Vec<String>>) -> bool {
    list.as_ref().is_some_and(|l| !l.is_empty())
}

/// etcd's PUT /v2/auth/users/NAME: create (with roles, or without if new), or change the
/// password, grant or revoke roles.
async fn put_user(api: &Api, name: &str, body: Vec<u8>) -> Answer {
    let change: User = serde_json::from_slice(&body).map_err(|_| invalid_json())?;
    if change.user != name {
        return refuse(400, "User JSON name does not match the name in the URL").map_err(plain);
    }
    caught_up(api).await?;
    let (mut out, created) = if !has_any(&change.grant) && !has_any(&change.revoke) {
        if has_any(&change.roles) {
            // etcd answers 200 even though this creates the user.
            (create_user(api, change).await?, false)
        } else if user(api, name)?.is_some() {
            (update_user(api, &change).await?, false)
        } else {
            (create_user(api, change).await?, true)
        }
    } else {
        if has_any(&change.roles) {
            return refuse(400, "User JSON contains both roles and grant/revoke").map_err(plain);
        }
        (update_user(api, &change).await?, false)
    };
    out.password.clear();
    out.grant = out.grant.filter(|g| !g.is_empty());
    out.revoke = out.revoke.filter(|r| !r.is_empty());
    Ok(json_line(api, if created { 201 } else { 200 }, &out))
}

async fn create_user(api: &Api, mut new: User) -> Result<User, Refusal> {
    if new.user == ROOT && !new.has_role(ROOT) {
        new.roles.get_or_insert_with(Vec::new).push(ROOT.into());
    }
    if new.password.is_empty() {
        let name = &new.user;
        return refuse(
            400,
            format!("Cannot create user {name} with an empty password"),
        );
    }
    new.password = hash(&new.password).await?;
    let record = User {
        grant: None,
        revoke: None,
        ..new.clone()
    };
    let path = format!("/users/{}", new.user);
    match propose(api, v2auth::request("AUTH_CREATE", &path, &record)).await {
        Ok(()) => Ok(new),
        Err(NODE_EXIST) => refuse(409, format!("User {} already exists.", new.user)),
        Err(_) => Err(internal()),
    }
}

async fn update_user(api: &Api, change: &User) -> Result<User, Refusal> {
    let old =
        user(api, &change.user)?.ok_or_else(|| missing_user(&change.user, "does not exist."))?;
    let hashed = match change.password.as_str() {
        "" => None,
        password => Some(hash(password).await?),
    };
    let new = old.merged(change, hashed)?;
    if new == old {
        return refuse(
            400,
            "User not updated. Use grant/revoke/password to update the user.",
        );
    }
    let path = format!("/users/{}", change.user);
    match propose(api, v2auth::request("AUTH_UPDATE", &path, &new)).await {
        Ok(()) => Ok(new),
        Err(KEY_NOT_FOUND) => Err(missing_user(&change.user, "doesn't exist.")),
        Err(_) => Err(internal()),
    }
}

async fn delete_user(api: &Api, name: &str) -> Answer {
    caught_up(api).await?;
    if enabled(api)? && name == ROOT {
        return refuse(403, "Cannot delete root user while auth is enabled.");
    }
    let path = format!("/users/{name}");
    match propose(api, v2auth::request("AUTH_DELETE", &path, &())).await {
        Ok(()) => Ok(empty(api)),
        Err(KEY_NOT_FOUND) => Err(missing_user(name, "does not exist")),
        Err(_) => Err(internal()),
    }
}

fn root_is_fixed() -> Refusal {
    Refusal {
        status: 403,
        message: format!("auth: Cannot modify role {ROOT}: is root role."),
    }
}

async fn create_role(api: &Api, new: &Role) -> Result<(), Refusal> {
    if new.role == ROOT {
        return Err(root_is_fixed());
    }
    let path = format!("/roles/{}", new.role);
    match propose(api, v2auth::request("AUTH_CREATE", &path, new)).await {
        Ok(()) => Ok(()),
        Err(NODE_EXIST) => refuse(409, format!("Role {} already exists.", new.role)),
        Err(_) => Err(internal()),
    }
}

/// etcd's PUT /v2/auth/roles/NAME: create it (with its permissions), or grant and revoke.
async fn put_role(api: &Api, name: &str, body: Vec<u8>) -> Answer {
    let change: Role = serde_json::from_slice(&body).map_err(|_| invalid_json())?;
    if change.role != name {
        return refuse(400, "Role JSON name does not match the name in the URL").map_err(plain);
    }
    caught_up(api).await?;
    use v2auth::Permissions;
    if Permissions::is_empty(&change.grant) && Permissions::is_empty(&change.revoke) {
        create_role(api, &change).await?;
        return Ok(json_line(api, 201, &change));
    }
    if !Permissions::is_empty(&Some(change.permissions.clone())) {
        return refuse(400, "Role JSON contains both permissions and grant/revoke").map_err(plain);
    }
    if name == ROOT {
        return Err(root_is_fixed());
    }
    let old = role(api, name)?.ok_or_else(|| missing_role(name, "does not exist."))?;
    let new = old.merged(&change)?;
    if new == old {
        return refuse(
            400,
            "Role not updated. Use grant/revoke to update the role.",
        );
    }
    let path = format!("/roles/{name}");
    match propose(api, v2auth::request("AUTH_UPDATE", &path, &new)).await {
        Ok(()) => Ok(json_line(api, 200, &new)),
        Err(KEY_NOT_FOUND) => Err(missing_role(name, "doesn't exist.")),
        Err(_) => Err(internal()),
    }
}

async fn delete_role(api: &Api, name: &str) -> Answer {
    if name == ROOT {
        return Err(root_is_fixed());
    }
    caught_up(api).await?;
    let path = format!("/roles/{name}");
    match propose(api, v2auth::request("AUTH_DELETE", &path, &())).await {
        Ok(()) => Ok(empty(api)),
        Err(KEY_NOT_FOUND) => Err(missing_role(name, "doesn't exist.")),
        Err(_) => Err(internal()),
    }
}

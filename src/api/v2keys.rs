//! etcd's v2 keys API under /v2/keys (--enable-v2), as etcd 3.4's v2http serves it: GET
//! (recursive, sorted, quorum, wait with waitIndex), PUT (value, dir, ttl, refresh, prevExist,
//! prevValue, prevIndex), POST (in-order keys), DELETE (dir, recursive, prevValue, prevIndex);
//! writes go through raft, errors are etcd's v2 error bodies, and every answer carries
//! X-Etcd-Cluster-Id, X-Etcd-Index, X-Raft-Index and X-Raft-Term.

use super::{Api, Body};
use crate::apply::Applied;
use crate::pb::etcdserverpb::{InternalRaftRequest, V2Request};
use crate::v2::{self, Event, V2Error};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::collections::HashMap;
use std::sync::Arc;

/// The v2 API's path prefix.
pub const PREFIX: &str = "/v2/keys";

fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// `%xx` and (in forms) `+` decoded; None if an escape is malformed.
fn unescape(text: &str, plus_is_space: bool) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(at + 1..at + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                at += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                at += 1;
            }
            b => {
                out.push(b);
                at += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// Go's url.ParseQuery into the first value of each name.
fn parse_form(text: &str, form: &mut HashMap<String, String>) -> Result<(), ()> {
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = unescape(name, true).ok_or(())?;
        let value = unescape(value, true).ok_or(())?;
        form.entry(name).or_insert(value);
    }
    Ok(())
}

fn request_error(code: u32, cause: &str) -> V2Error {
    V2Error {
        code,
        cause: cause.to_string(),
        index: 0,
    }
}

/// A form's boolean ("" is false), or etcd's 209 for anything strconv.ParseBool refuses.
fn boolean(form: &HashMap<String, String>, name: &str) -> Result<bool, V2Error> {
    match form.get(name).map(String::as_str) {
        None | Some("") => Ok(false),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(_) => Err(request_error(209, &format!("invalid value for {name:?}"))),
    }
}

fn number(form: &HashMap<String, String>, name: &str, code: u32) -> Result<Option<u64>, V2Error> {
    match form.get(name).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|_| request_error(code, &format!("invalid value for {name:?}"))),
    }
}

fn respond(api: &Api, status: u16, body: String, etcd_index: u64) -> Response<Body> {
    let raft = &api.raft.status;
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-etcd-cluster-id", format!("{:x}", raft.cluster_id))
        .header("x-etcd-index", etcd_index.to_string())
        .header("x-raft-index", raft.applied_index().to_string())
        .header("x-raft-term", raft.term().to_string())
        .body(Body::full(body))
        .expect("valid response parts")
}

fn answer_error(api: &Api, error: &V2Error) -> Response<Body> {
    respond(api, error.status(), v2::json::error(error), error.index)
}

pub async fn handle(
    api: &Arc<Api>,
    credentials: &super::v2auth::Credentials<'_>,
    request: Request<Incoming>,
) -> Response<Body> {
    match serve(api, credentials, request).await {
        Ok(response) => response,
        Err(error) => answer_error(api, &error),
    }
}

async fn serve(
    api: &Arc<Api>,
    credentials: &super::v2auth::Credentials<'_>,
    request: Request<Incoming>,
) -> Result<Response<Body>, V2Error> {
    let raw_path = request.uri().path()[PREFIX.len()..].to_string();
    let key = v2::clean(&unescape(&raw_path, false).ok_or(request_error(210, "invalid path"))?);
    if key.len() > v2::MAX_PATH_BYTES {
        return Err(request_error(209, "key is too long"));
    }
    let mut form = HashMap::new();
    if let Some(query) = request.uri().query() {
        parse_form(query, &mut form).map_err(|()| request_error(210, ""))?;
    }
    let method = request.method().as_str().to_string();
    if method != "GET" && method != "HEAD" {
        let limit = api.limits.max_request_bytes;
        let body = http_body_util::Limited::new(request.into_body(), limit)
            .collect()
            .await
            .map_err(|_| request_error(210, "the form is too large"))?
            .to_bytes();
        let text = std::str::from_utf8(&body).map_err(|_| request_error(210, ""))?;
        parse_form(text, &mut form).map_err(|()| request_error(210, ""))?;
    }
    // etcd checks v2 auth on the path as sent, once the request parsed.
    let writes = method != "GET" && method != "HEAD";
    let recursive = boolean(&form, "recursive")?;
    if !super::v2auth::may_access_key(api, credentials, &raw_path, recursive, writes).await {
        return Err(V2Error {
            code: v2::UNAUTHORIZED,
            cause: "Insufficient credentials".into(),
            index: 0,
        });
    }
    match method.as_str() {
        "GET" | "HEAD" => get(api, &key, &form).await,
        "PUT" | "POST" | "DELETE" => write(api, &method, &key, &form).await,
        _ => Ok(Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header("allow", "GET, HEAD, POST, PUT, DELETE")
            .body(Body::full("Method Not Allowed\n"))
            .expect("static response parts")),
    }
}

fn storage(e: impl std::fmt::Display) -> V2Error {
    request_error(300, &e.to_string())
}

async fn get(
    api: &Arc<Api>,
    key: &str,
    form: &HashMap<String, String>,
) -> Result<Response<Body>, V2Error> {
    let recursive = boolean(form, "recursive")?;
    let sorted = boolean(form, "sorted")?;
    let wait = boolean(form, "wait")?;
    if boolean(form, "quorum")? {
        api.raft
            .read_barrier()
            .await
            .map_err(|e| storage(super::Status::from(e).message))?;
    }
    if wait {
        let since = number(form, "waitIndex", 203)?;
        let stream = boolean(form, "stream")?;
        return watch(api, key, recursive, since, stream).await;
    }
    let read_shown = {
        let (api, key) = (api.clone(), key.to_string());
        move || {
            read(&api, &key, recursive, sorted)
                .map(|(event, index)| (v2::json::event(&event, now_ns()), index))
        }
    };
    // A recursive get may walk a whole tree: on a blocking thread, as multi-key ranges are.
    let found = if recursive {
        smol::unblock(read_shown).await
    } else {
        read_shown()
    };
    v2::stats::count(v2::stats::Operation::Get, found.is_ok());
    let (json, index) = found?;
    Ok(respond(api, 200, json, index))
}

/// A node (with its children if `recursive`) as a "get" event, and the store's index.
fn read(api: &Api, key: &str, recursive: bool, sorted: bool) -> Result<(Event, u64), V2Error> {
    let txn = api.store.read_txn().map_err(storage)?;
    let index = api.store.v2_index(&txn).map_err(storage)?;
    let node = if key == "/" {
        // The root is not stored: a directory without indexes.
        v2::Node {
            dir: true,
            value: String::new(),
            created: 0,
            modified: 0,
            expire_ns: None,
        }
    } else {
        v2::lookup(&api.store, &txn, key).map_err(storage)??
    };
    let shown = v2::show(&api.store, &txn, key, node, recursive, sorted).map_err(storage)?;
    let event = Event {
        action: "get".to_string(),
        node: shown,
        prev: None,
        index,
    };
    Ok((event, index))
}

/// Does `event` concern a watch on `key`?
fn concerns(event: &Event, key: &str, recursive: bool) -> bool {
    let path = &event.node.key;
    let under = |dir: &str, path: &str| {
        let dir = format!("{}/", dir.trim_end_matches('/'));
        path.starts_with(&dir)
    };
    let removed_dir = matches!(event.action.as_str(), "delete" | "expire")
        && event.prev.as_ref().is_some_and(|p| p.node.dir);
    path == key || (recursive && under(key, path)) || (removed_dir && under(path, key))
}

/// The next event at or after `*next` that concerns `key`, waiting for one if need be; `*next`
/// moves past it.
async fn next_event(
    api: &Api,
    key: &str,
    recursive: bool,
    next: &mut u64,
    wake: &smol::channel::Receiver<()>,
) -> Result<Event, V2Error> {
    /// Events read from the history per look.
    const BATCH: usize = 100;
    loop {
        {
            let txn = api.store.read_txn().map_err(storage)?;
            let current = api.store.v2_index(&txn).map_err(storage)?;
            let oldest = current.saturating_sub(v2::EVENT_HISTORY - 1).max(1);
            if *next < oldest && current >= v2::EVENT_HISTORY {
                return Err(V2Error {
                    code: v2::EVENT_INDEX_CLEARED,
                    cause: format!("the requested history has been cleared [{oldest}/{next}]"),
                    index: current,
                });
            }
            let events = api.store.v2_events(&txn, *next, BATCH).map_err(storage)?;
            if let Some(found) = events.iter().find(|e| concerns(e, key, recursive)) {
                *next = found.index + 1;
                return Ok(found.clone());
            }
            if let Some(last) = events.last() {
                *next = last.index + 1;
                if events.len() == BATCH {
                    continue;
                }
            }
        }
        if wake.recv().await.is_err() {
            return Err(request_error(300, "the member is stopping"));
        }
    }
}

/// A wait for the first event at or after `since` (default: the next) that concerns `key`;
/// with `stream`, every such event as it comes, on one response, until the client goes.
async fn watch(
    api: &Arc<Api>,
    key: &str,
    recursive: bool,
    since: Option<u64>,
    stream: bool,
) -> Result<Response<Body>, V2Error> {
    let wake = api.hub.subscribe();
    let watcher = v2::stats::Watcher::new();
    let start = {
        let txn = api.store.read_txn().map_err(storage)?;
        api.store.v2_index(&txn).map_err(storage)?
    };
    let mut next = since.unwrap_or(start + 1);
    if !stream {
        let event = next_event(api, key, recursive, &mut next, &wake).await?;
        return Ok(respond(api, 200, v2::json::event(&event, now_ns()), start));
    }
    /// Events queued for a slow stream reader before the watch waits for it.
    const QUEUED_EVENTS: usize = 16;
    let (frames, receiver) = smol::channel::bounded(QUEUED_EVENTS);
    let (api_for_task, key) = (api.clone(), key.to_string());
    crate::runtime::spawn(async move {
        let (api, _counted) = (api_for_task, watcher);
        while let Ok(event) = next_event(&api, &key, recursive, &mut next, &wake).await {
            let json = v2::json::event(&event, now_ns());
            if frames.send(Frame::data(Bytes::from(json))).await.is_err() {
                return; // the client went away
            }
        }
    });
    let mut response = respond(api, 200, String::new(), start);
    *response.body_mut() = Body::stream(receiver);
    Ok(response)
}

async fn write(
    api: &Api,
    method: &str,
    key: &str,
    form: &HashMap<String, String>,
) -> Result<Response<Body>, V2Error> {
    let prev_exist = match form.get("prevExist").map(String::as_str) {
        None | Some("") => None,
        Some(_) => Some(boolean(form, "prevExist")?),
    };
    let prev_value = form.get("prevValue").cloned();
    if prev_value.as_deref() == Some("") {
        return Err(request_error(201, "\"prevValue\" cannot be empty"));
    }
    let prev_index = number(form, "prevIndex", 203)?.unwrap_or(0);
    let ttl = number(form, "ttl", 202)?;
    let refresh = boolean(form, "refresh")?;
    let value = form.get("value").cloned().unwrap_or_default();
    if refresh {
        if !value.is_empty() {
            return Err(request_error(211, "A value was provided on a refresh"));
        }
        if ttl.is_none() {
            return Err(request_error(212, "No TTL value set"));
        }
    }
    let request = V2Request {
        method: method.to_string(),
        path: key.to_string(),
        value,
        dir: boolean(form, "dir")?,
        prev_value: prev_value.unwrap_or_default(),
        prev_index,
        prev_exist,
        ttl: ttl.map(|t| t.min(i64::MAX as u64) as i64),
        recursive: boolean(form, "recursive")?,
        refresh,
        time: now_ns(),
    };
    let proposal = Box::new(InternalRaftRequest {
        v2: Some(request),
        ..Default::default()
    });
    match api.propose(proposal).await.map(|applied| match applied {
        Applied::V2(answer) => Ok(*answer),
        other => Err(other),
    }) {
        Ok(Ok(Ok(event))) => {
            let created =
                event.action == "create" || (event.action == "set" && event.prev.is_none());
            let status = if created { 201 } else { 200 };
            let body = if boolean(form, "noValueOnSuccess")? {
                "{}\n".to_string()
            } else {
                v2::json::event(&event, now_ns())
            };
            Ok(respond(api, status, body, event.index))
        }
        Ok(Ok(Err(error))) => Err(error),
        Ok(Err(other)) => Err(storage(format!("unexpected apply result {other:?}"))),
        Err(status) => Err(request_error(300, &status.message)),
    }
}

/// The leader's part in TTLs: once the soonest expiry has passed, a SYNC entry carries its
/// clock to every member, which removes what expired by then (etcd's SYNC every 500 ms).
pub async fn expire_keys(api: std::sync::Arc<Api>) {
    const INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);
    loop {
        smol::Timer::after(INTERVAL).await;
        let status = &api.raft.status;
        if status.leader_id() != status.member_id {
            continue;
        }
        let due = api
            .store
            .read_txn()
            .and_then(|txn| v2::expiry_due(&api.store, &txn, now_ns()))
            .unwrap_or(false);
        if due {
            let sync = Box::new(InternalRaftRequest {
                v2: Some(V2Request {
                    method: "SYNC".to_string(),
                    time: now_ns(),
                    ..Default::default()
                }),
                ..Default::default()
            });
            let _ = api.propose(sync).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_v2_forms_and_paths() {
        let seeds = [
            b"value=a%20b+c&ttl=5&prevExist=true".to_vec(),
            b"/dir/%E2%82%AC/../x".to_vec(),
        ];
        crate::fuzz::run("v2 forms", &seeds, |bytes| {
            let text = String::from_utf8_lossy(bytes);
            let mut form = HashMap::new();
            if parse_form(&text, &mut form).is_ok() {
                let _ = boolean(&form, "dir");
                let _ = number(&form, "ttl", 202);
            }
            if let Some(path) = unescape(&text, false) {
                let clean = v2::clean(&path);
                assert!(clean.starts_with('/') && !clean.contains("/../"), "{clean}");
            }
        });
    }
}

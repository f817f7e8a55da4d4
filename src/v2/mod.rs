//! etcd's v2 key space (--enable-v2): a tree of directories and files with TTLs, its own index,
//! and the last EVENT_HISTORY events for watches, kept in the store's `meta` table so raft
//! snapshots, backups and restarts keep it. Semantics follow etcd 3.4's v2store: which writes
//! are refused with which error code, what each action returns, hidden `_` keys, in-order keys.
//!
//! Keys: `v2_index` (u64 BE), `v2n<path>` (a node, JSON), `v2e/<index, 20 digits>` (an event),
//! `v2x/<expiry ns, 20 digits><path>` (empty: the nodes with a TTL, soonest first).

pub mod auth;
pub mod json;
pub mod stats;

use crate::mvcc::Store;
use crate::pb::etcdserverpb::V2Request;
use heed::{RoTxn, RwTxn};
use serde::{Deserialize, Serialize};

/// Events kept for watches with a waitIndex (etcd's EventHistory capacity).
pub const EVENT_HISTORY: u64 = 1000;
/// The longest key path: it is part of an LMDB key (511 bytes at most).
pub const MAX_PATH_BYTES: usize = 400;

const INDEX: &str = "v2_index";
const NODE: &str = "v2n";
const EVENT: &str = "v2e/";
const EXPIRY: &str = "v2x/";

fn expiry_key(expire_ns: i64, path: &str) -> String {
    format!("{EXPIRY}{:020}{path}", expire_ns.max(0))
}

/// A stored node.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Node {
    pub dir: bool,
    #[serde(default)]
    pub value: String,
    pub created: u64,
    pub modified: u64,
    /// Unix nanoseconds; None: permanent.
    #[serde(default)]
    pub expire_ns: Option<i64>,
}

/// A node as an answer shows it: its path and, for a listed directory, its children.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Shown {
    pub key: String,
    pub node: Node,
    /// None: not listed; Some: the directory's (visible) children.
    pub children: Option<Vec<Shown>>,
    /// Files show their value (a deleted node's event does not).
    pub with_value: bool,
}

impl Shown {
    /// A node by itself: not listed, its value shown.
    fn plain(path: &str, node: Node) -> Shown {
        Shown {
            key: path.to_string(),
            node,
            children: None,
            with_value: true,
        }
    }
}

/// What a v2 request did.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Event {
    pub action: String,
    pub node: Shown,
    pub prev: Option<Shown>,
    /// The v2 index after the event (X-Etcd-Index).
    pub index: u64,
}

/// etcd's v2 error: code, its message, the cause, the index when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V2Error {
    pub code: u32,
    pub cause: String,
    pub index: u64,
}

pub const KEY_NOT_FOUND: u32 = 100;
pub const TEST_FAILED: u32 = 101;
pub const NOT_FILE: u32 = 102;
pub const NOT_DIR: u32 = 104;
pub const NODE_EXIST: u32 = 105;
pub const ROOT_READ_ONLY: u32 = 107;
pub const DIR_NOT_EMPTY: u32 = 108;
pub const UNAUTHORIZED: u32 = 110;
pub const EVENT_INDEX_CLEARED: u32 = 401;

impl V2Error {
    pub fn message(&self) -> &'static str {
        match self.code {
            KEY_NOT_FOUND => "Key not found",
            TEST_FAILED => "Compare failed",
            NOT_FILE => "Not a file",
            NOT_DIR => "Not a directory",
            NODE_EXIST => "Key already exists",
            ROOT_READ_ONLY => "Root is read only",
            DIR_NOT_EMPTY => "Directory not empty",
            UNAUTHORIZED => "The request requires user authentication",
            EVENT_INDEX_CLEARED => "The event in requested index is outdated and cleared",
            200 => "Value is Required in POST form",
            201 => "PrevValue is Required in POST form",
            202 => "The given TTL in POST form is not a number",
            203 => "The given index in POST form is not a number",
            209 => "Invalid field",
            210 => "Invalid POST form",
            211 => "Value provided on refresh",
            212 => "A TTL must be provided on refresh",
            _ => "Raft Internal Error",
        }
    }

    /// The HTTP status etcd answers it with.
    pub fn status(&self) -> u16 {
        match self.code {
            KEY_NOT_FOUND => 404,
            UNAUTHORIZED => 401,
            NOT_FILE | DIR_NOT_EMPTY => 403,
            TEST_FAILED | NODE_EXIST => 412,
            300 | 301 => 500,
            _ => 400,
        }
    }
}

/// etcd's path.Clean("/" + key).
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(at) => &path[..at],
    }
}

fn hidden(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .is_some_and(|name| name.starts_with('_'))
}

type Result<T> = std::result::Result<T, heed::Error>;

fn damaged(key: &str, e: impl std::fmt::Display) -> heed::Error {
    crate::mvcc::damaged("meta", key.as_bytes(), &e.to_string())
}

impl Store {
    pub fn v2_index(&self, txn: &RoTxn) -> Result<u64> {
        self.meta_u64(txn, INDEX).map(|i| i.unwrap_or(0))
    }

    pub fn v2_node(&self, txn: &RoTxn, path: &str) -> Result<Option<Node>> {
        let key = format!("{NODE}{path}");
        match self.meta.get(txn, &key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(bytes)
                .map(Some)
                .map_err(|e| damaged(&key, e)),
        }
    }

    /// Writes a node, keeping the expiry index in step.
    fn v2_put(&self, txn: &mut RwTxn, path: &str, node: &Node) -> Result<()> {
        if let Some(old) = self.v2_node(txn, path)?.and_then(|old| old.expire_ns) {
            self.meta.delete(txn, &expiry_key(old, path))?;
        }
        if let Some(at) = node.expire_ns {
            self.meta.put(txn, &expiry_key(at, path), &[])?;
        }
        let bytes = serde_json::to_vec(node).expect("a node encodes");
        self.meta.put(txn, &format!("{NODE}{path}"), &bytes)
    }

    /// Removes a node and everything under it.
    fn v2_remove(&self, txn: &mut RwTxn, path: &str) -> Result<()> {
        let mut gone = self.v2_subtree(txn, path)?;
        if let Some(node) = self.v2_node(txn, path)? {
            gone.push((path.to_string(), node));
        }
        for (at, node) in gone {
            if let Some(expire) = node.expire_ns {
                self.meta.delete(txn, &expiry_key(expire, &at))?;
            }
            self.meta.delete(txn, &format!("{NODE}{at}"))?;
        }
        Ok(())
    }

    /// (expiry, path) of the nodes with a TTL, soonest first, up to `until_ns` (inclusive),
    /// at most `limit`.
    fn v2_expiring(&self, txn: &RoTxn, until_ns: i64, limit: usize) -> Result<Vec<(i64, String)>> {
        let mut out = Vec::new();
        for entry in self.meta.prefix_iter(txn, EXPIRY)? {
            let (key, _) = entry?;
            let rest = &key[EXPIRY.len()..];
            let at: i64 = rest
                .get(..20)
                .and_then(|d| d.parse().ok())
                .ok_or_else(|| damaged(key, "not an expiry key"))?;
            if at > until_ns || out.len() >= limit {
                break;
            }
            out.push((at, rest[20..].to_string()));
        }
        Ok(out)
    }

    /// (path, node) of everything under `dir`, in key order.
    pub fn v2_subtree(&self, txn: &RoTxn, dir: &str) -> Result<Vec<(String, Node)>> {
        let prefix = format!("{NODE}{}/", dir.trim_end_matches('/'));
        let mut out = Vec::new();
        for entry in self.meta.prefix_iter(txn, &prefix)? {
            let (key, bytes) = entry?;
            let node = serde_json::from_slice(bytes).map_err(|e| damaged(key, e))?;
            out.push((key[NODE.len()..].to_string(), node));
        }
        Ok(out)
    }

    /// The events from index `since` on (at most `limit`).
    pub fn v2_events(&self, txn: &RoTxn, since: u64, limit: usize) -> Result<Vec<Event>> {
        let mut out = Vec::new();
        let start = format!("{EVENT}{since:020}");
        let range = (
            std::ops::Bound::Included(start.as_str()),
            std::ops::Bound::Unbounded,
        );
        for entry in self.meta.range(txn, &range)? {
            let (key, bytes) = entry?;
            if !key.starts_with(EVENT) || out.len() >= limit {
                break;
            }
            out.push(serde_json::from_slice(bytes).map_err(|e| damaged(key, e))?);
        }
        Ok(out)
    }

    fn v2_record(&self, txn: &mut RwTxn, event: &Event) -> Result<()> {
        let bytes = serde_json::to_vec(event).expect("an event encodes");
        self.meta
            .put(txn, &format!("{EVENT}{:020}", event.index), &bytes)?;
        if event.index > EVENT_HISTORY {
            let old = format!("{EVENT}{:020}", event.index - EVENT_HISTORY);
            self.meta.delete(txn, &old)?;
        }
        self.put_meta_u64(txn, INDEX, event.index)
    }
}

/// A node shown with its children listed (recursively or one level), hidden ones left out.
pub fn show(
    store: &Store,
    txn: &RoTxn,
    path: &str,
    node: Node,
    recursive: bool,
    sorted: bool,
) -> Result<Shown> {
    let mut shown = Shown::plain(path, node);
    if shown.node.dir {
        let subtree = store.v2_subtree(txn, path)?;
        shown.children = Some(list(&subtree, path, recursive));
        if sorted {
            sort(shown.children.as_mut().expect("listed"));
        }
    }
    Ok(shown)
}

fn sort(children: &mut [Shown]) {
    children.sort_by(|a, b| a.key.cmp(&b.key));
    for child in children {
        if let Some(grandchildren) = &mut child.children {
            sort(grandchildren);
        }
    }
}

/// The direct children of `dir` in `subtree`, hidden ones left out; a child directory shows
/// its own children only if `recursive` (etcd's NodeExtern.Repr). Each level scans the
/// subtree: a recursive listing costs directories × nodes, fine at v2's sizes.
fn list(subtree: &[(String, Node)], dir: &str, recursive: bool) -> Vec<Shown> {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    subtree
        .iter()
        .filter(|(path, _)| {
            path.strip_prefix(&prefix)
                .is_some_and(|rest| !rest.contains('/'))
                && !hidden(path)
        })
        .map(|(path, node)| Shown {
            key: path.clone(),
            node: node.clone(),
            children: (node.dir && recursive).then(|| list(subtree, path, true)),
            with_value: true,
        })
        .collect()
}

/// etcd's internalGet: the node at `path`, or why not as etcd words it (the first missing
/// component is the one named; a file on the way is "not a directory").
pub fn lookup(
    store: &Store,
    txn: &RoTxn,
    path: &str,
) -> Result<std::result::Result<Node, V2Error>> {
    let index = store.v2_index(txn)?;
    let mut at = 0;
    loop {
        let end = path[at + 1..].find('/').map_or(path.len(), |i| at + 1 + i);
        let prefix = &path[..end];
        match store.v2_node(txn, prefix)? {
            None => {
                return Ok(Err(V2Error {
                    code: KEY_NOT_FOUND,
                    cause: prefix.to_string(),
                    index,
                }))
            }
            Some(node) if end == path.len() => return Ok(Ok(node)),
            Some(node) if !node.dir => {
                return Ok(Err(V2Error {
                    code: NOT_DIR,
                    cause: prefix.to_string(),
                    index,
                }))
            }
            Some(_) => at = end,
        }
    }
}

fn error(code: u32, cause: impl Into<String>, index: u64) -> std::result::Result<Event, V2Error> {
    Err(V2Error {
        code,
        cause: cause.into(),
        index,
    })
}

/// What applying a v2 write answers: an event, or etcd's error for it.
pub type Answer = std::result::Result<Event, V2Error>;

fn expire_ns(request: &V2Request) -> Option<i64> {
    request.ttl.filter(|ttl| *ttl > 0).map(|ttl| {
        request
            .time
            .saturating_add(ttl.saturating_mul(1_000_000_000))
    })
}

/// Applies a v2 write. Storage errors stop apply (as any other); v2 refusals are answers.
pub fn apply(store: &Store, txn: &mut RwTxn, request: &V2Request) -> Result<Answer> {
    if auth::is_auth(request) {
        return auth::apply(store, txn, request);
    }
    let index = store.v2_index(txn)?;
    if request.method == "SYNC" {
        expire(store, txn, request.time)?;
        return Ok(error(0, "", store.v2_index(txn)?));
    }
    let path = clean(&request.path);
    let existing = store.v2_node(txn, &path)?;
    let answer = match request.method.as_str() {
        "POST" => {
            let path = format!("{}/{:020}", path.trim_end_matches('/'), index + 1);
            create(store, txn, &path, request, None, "create")?
        }
        "PUT" => put(store, txn, &path, request, existing)?,
        "DELETE" => delete(store, txn, &path, request, existing)?,
        other => error(210, format!("unknown method {other}"), index),
    };
    if let Ok(event) = &answer {
        store.v2_record(txn, event)?;
    }
    stats::count(operation(request), answer.is_ok());
    Ok(answer)
}

/// What etcd's v2 applier makes of a write (apply_v2.go's Put and Delete).
fn operation(r: &V2Request) -> stats::Operation {
    use stats::Operation;
    let compare = r.prev_index > 0 || !r.prev_value.is_empty();
    match (r.method.as_str(), r.prev_exist) {
        ("POST", _) | ("PUT", Some(false)) => Operation::Create,
        ("PUT", Some(true)) if !compare => Operation::Update,
        ("PUT", _) if compare => Operation::CompareAndSwap,
        ("DELETE", _) if compare => Operation::CompareAndDelete,
        ("DELETE", _) => Operation::Delete,
        _ => Operation::Set,
    }
}

fn put(
    store: &Store,
    txn: &mut RwTxn,
    path: &str,
    r: &V2Request,
    existing: Option<Node>,
) -> Result<Answer> {
    let index = store.v2_index(txn)?;
    let compare = r.prev_index > 0 || !r.prev_value.is_empty();
    match (r.prev_exist, existing) {
        (Some(false), Some(_)) => Ok(error(NODE_EXIST, path, index)),
        (Some(false), None) => create(store, txn, path, r, None, "create"),
        (Some(true), None) | (None, None) if compare || r.prev_exist == Some(true) => {
            Ok(Err(lookup(store, txn, path)?.err().unwrap_or(V2Error {
                code: KEY_NOT_FOUND,
                cause: path.to_string(),
                index,
            })))
        }
        (_, Some(node)) if compare => compare_and_swap(store, txn, path, r, node),
        (Some(true), Some(node)) => update(store, txn, path, r, node),
        (_, existing) => {
            if path == "/" {
                return Ok(error(ROOT_READ_ONLY, "/", index));
            }
            if existing.as_ref().is_some_and(|n| n.dir) {
                return Ok(error(NOT_FILE, path, index));
            }
            create(store, txn, path, r, existing, "set")
        }
    }
}

/// Creates `path` (its missing parents as directories), replacing `existing` (a file).
fn create(
    store: &Store,
    txn: &mut RwTxn,
    path: &str,
    r: &V2Request,
    existing: Option<Node>,
    action: &str,
) -> Result<Answer> {
    let index = store.v2_index(txn)?;
    if path == "/" {
        return Ok(error(ROOT_READ_ONLY, "/", index));
    }
    if action == "create" && store.v2_node(txn, path)?.is_some() {
        return Ok(error(NODE_EXIST, path, index));
    }
    // Every ancestor must be a directory (created as one if missing).
    let mut ancestors = Vec::new();
    let mut at = parent(path);
    while at != "/" {
        ancestors.push(at.to_string());
        at = parent(at);
    }
    let next = index + 1;
    for ancestor in ancestors.iter().rev() {
        match store.v2_node(txn, ancestor)? {
            Some(node) if !node.dir => return Ok(error(NOT_DIR, ancestor.clone(), index)),
            Some(_) => {}
            None => {
                let dir = Node {
                    dir: true,
                    value: String::new(),
                    created: next,
                    modified: next,
                    expire_ns: None,
                };
                store.v2_put(txn, ancestor, &dir)?;
            }
        }
    }
    let node = Node {
        dir: r.dir,
        value: if r.dir {
            String::new()
        } else {
            r.value.clone()
        },
        created: next,
        modified: next,
        expire_ns: expire_ns(r),
    };
    store.v2_put(txn, path, &node)?;
    let prev = existing.map(|node| Shown::plain(path, node));
    Ok(Ok(Event {
        action: action.to_string(),
        node: Shown::plain(path, node),
        prev,
        index: next,
    }))
}

/// The cause of a failed compare, as etcd words it.
fn compare_failure(node: &Node, prev_value: &str, prev_index: u64) -> Option<String> {
    let value_ok = prev_value.is_empty() || prev_value == node.value;
    let index_ok = prev_index == 0 || prev_index == node.modified;
    match (value_ok, index_ok) {
        (true, true) => None,
        (false, true) => Some(format!("[{prev_value} != {}]", node.value)),
        (true, false) => Some(format!("[{prev_index} != {}]", node.modified)),
        (false, false) => Some(format!(
            "[{prev_value} != {}] [{prev_index} != {}]",
            node.value, node.modified
        )),
    }
}

fn compare_and_swap(
    store: &Store,
    txn: &mut RwTxn,
    path: &str,
    r: &V2Request,
    node: Node,
) -> Result<Answer> {
    let index = store.v2_index(txn)?;
    if node.dir {
        return Ok(error(NOT_FILE, path, index));
    }
    if let Some(cause) = compare_failure(&node, &r.prev_value, r.prev_index) {
        return Ok(error(TEST_FAILED, cause, index));
    }
    replace(store, txn, path, r, node, "compareAndSwap")
}

fn update(store: &Store, txn: &mut RwTxn, path: &str, r: &V2Request, node: Node) -> Result<Answer> {
    let index = store.v2_index(txn)?;
    if node.dir && !r.value.is_empty() {
        return Ok(error(NOT_FILE, path, index));
    }
    replace(store, txn, path, r, node, "update")
}

/// A new value (or only a new TTL, with refresh) for an existing node.
fn replace(
    store: &Store,
    txn: &mut RwTxn,
    path: &str,
    r: &V2Request,
    old: Node,
    action: &str,
) -> Result<Answer> {
    let next = store.v2_index(txn)? + 1;
    let mut node = old.clone();
    if !r.refresh && !node.dir {
        node.value = r.value.clone();
    }
    node.modified = next;
    node.expire_ns = expire_ns(r);
    store.v2_put(txn, path, &node)?;
    Ok(Ok(Event {
        action: action.to_string(),
        node: Shown::plain(path, node),
        prev: Some(Shown::plain(path, old)),
        index: next,
    }))
}

fn delete(
    store: &Store,
    txn: &mut RwTxn,
    path: &str,
    r: &V2Request,
    existing: Option<Node>,
) -> Result<Answer> {
    let index = store.v2_index(txn)?;
    if path == "/" {
        return Ok(error(ROOT_READ_ONLY, "/", index));
    }
    let Some(node) = existing else {
        return Ok(Err(lookup(store, txn, path)?.err().unwrap_or(V2Error {
            code: KEY_NOT_FOUND,
            cause: path.to_string(),
            index,
        })));
    };
    let compare = r.prev_index > 0 || !r.prev_value.is_empty();
    let action = if compare {
        if node.dir {
            return Ok(error(NOT_FILE, path, index));
        }
        if let Some(cause) = compare_failure(&node, &r.prev_value, r.prev_index) {
            return Ok(error(TEST_FAILED, cause, index));
        }
        "compareAndDelete"
    } else {
        if node.dir {
            if !r.dir && !r.recursive {
                return Ok(error(NOT_FILE, path, index));
            }
            let subtree = store.v2_subtree(txn, path)?;
            if !subtree.is_empty() && !r.recursive {
                return Ok(error(DIR_NOT_EMPTY, path, index));
            }
        }
        "delete"
    };
    store.v2_remove(txn, path)?;
    Ok(Ok(removed(path, node, action, index + 1)))
}

/// The event of a removed node: the node without its value, the previous one with it.
fn removed(path: &str, node: Node, action: &str, next: u64) -> Event {
    let mut gone = node.clone();
    gone.modified = next;
    gone.expire_ns = None;
    Event {
        action: action.to_string(),
        node: Shown {
            key: path.to_string(),
            node: gone,
            children: None,
            with_value: false,
        },
        prev: Some(Shown::plain(path, node)),
        index: next,
    }
}

/// Removes every node whose TTL ran out by `now_ns` (one "expire" event each).
fn expire(store: &Store, txn: &mut RwTxn, now_ns: i64) -> Result<()> {
    for (_, path) in store.v2_expiring(txn, now_ns, usize::MAX)? {
        let Some(node) = store.v2_node(txn, &path)? else {
            continue; // under a directory that expired first
        };
        store.v2_remove(txn, &path)?;
        let event = removed(&path, node, "expire", store.v2_index(txn)? + 1);
        store.v2_record(txn, &event)?;
        stats::expired(1);
    }
    Ok(())
}

/// Whether a node's TTL has run out by `now_ns` (the leader then proposes a SYNC).
pub fn expiry_due(store: &Store, txn: &RoTxn, now_ns: i64) -> Result<bool> {
    Ok(!store.v2_expiring(txn, now_ns, 1)?.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(
        store: &Store,
        method: &str,
        path: &str,
        build: impl FnOnce(&mut V2Request),
    ) -> Answer {
        let mut request = V2Request {
            method: method.into(),
            path: path.into(),
            time: 1_000_000_000_000,
            ..Default::default()
        };
        build(&mut request);
        let mut txn = store.write_txn().unwrap();
        let answer = apply(store, &mut txn, &request).unwrap();
        txn.commit().unwrap();
        answer
    }

    fn expiring(store: &Store) -> Vec<String> {
        let txn = store.read_txn().unwrap();
        let all = store.v2_expiring(&txn, i64::MAX, usize::MAX).unwrap();
        all.into_iter().map(|(_, path)| path).collect()
    }

    #[test]
    fn ttls_are_indexed_and_forgotten_with_their_nodes() {
        let store = crate::mvcc::scratch_store("v2", 1 << 24);
        write(&store, "PUT", "/a", |r| r.ttl = Some(5)).unwrap();
        write(&store, "PUT", "/d/b", |r| r.ttl = Some(9)).unwrap();
        assert_eq!(expiring(&store), ["/a", "/d/b"]);
        // A write without a TTL makes the key permanent.
        write(&store, "PUT", "/a", |r| r.value = "v".into()).unwrap();
        assert_eq!(expiring(&store), ["/d/b"]);
        // Removing a directory removes its children's expiries.
        write(&store, "DELETE", "/d", |r| r.recursive = true).unwrap();
        assert!(expiring(&store).is_empty());
        // A SYNC past an expiry removes the key with an "expire" event.
        write(&store, "PUT", "/t", |r| r.ttl = Some(1)).unwrap();
        let sync = |time| {
            write(&store, "SYNC", "", |r| r.time = time).unwrap_err();
        };
        sync(1_000_000_000_000);
        assert_eq!(expiring(&store), ["/t"]);
        sync(1_001_000_000_000);
        assert!(expiring(&store).is_empty());
        let txn = store.read_txn().unwrap();
        let last = store.v2_events(&txn, 1, 100).unwrap().pop().unwrap();
        assert_eq!(
            (last.action.as_str(), last.node.key.as_str()),
            ("expire", "/t")
        );
    }
}

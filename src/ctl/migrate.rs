//! `migrate`: the v2 keys into the v3 keyspace, for users leaving v2. Each v2 file (not the
//! directories, not the hidden `_` keys) becomes the v3 key of its path with its value; keys
//! with a TTL become permanent, or are left out with --no-ttl, as etcdctl 3.4's migrate does.
//! --transformer runs etcdctl's transformer protocol: the v2 nodes as JSON on its stdin, and
//! on its stdout the v3 KeyValues to write, each as an 8-byte little-endian length and the
//! protobuf.
//!
//! Unlike etcdctl 3.4's, which rewrites a stopped member's data dir (--data-dir) behind raft's
//! back, this one reads the v2 keys from a running cluster (--endpoints, --enable-v2) and
//! writes them with txns, so every member gets the same keys at the same revisions.

use super::v2::Context;
use super::{fail, Ctl, Exit, Outcome, EXIT_BAD_ARGS, EXIT_ERROR};
use crate::pb::etcdserverpb as pb;
use crate::pb::mvccpb::KeyValue;
use prost::Message;
use serde_json::Value;
use std::io::{Read, Write};

/// Puts per txn: etcd's default --max-txn-ops.
const TXN_OPS: usize = 128;
/// Key and value bytes per txn, well under etcd's default --max-request-bytes (1.5 MiB).
const TXN_BYTES: usize = 1 << 20;
/// The largest KeyValue a transformer may send.
const MAX_TRANSFORMED: u64 = 64 << 20;

pub fn migrate(ctl: &mut Ctl) -> Outcome {
    for offline in ["data-dir", "wal-dir"] {
        if !ctl.string(offline).is_empty() {
            return Err(fail(
                EXIT_BAD_ARGS,
                format!("migrate --{offline}: rewriting a stopped member's data dir can leave members with different keys; this etcdctl migrates a running cluster's v2 keys through raft instead: run `etcdctl migrate --endpoints=...` against members started with --enable-v2"),
            ));
        }
    }
    let transformer = ctl.string("transformer");
    if transformer.is_empty() {
        println!("using default transformer");
    }
    let root = v2_tree(ctl)?;
    let mut nodes = Vec::new();
    flatten(root, &mut nodes);
    if ctl.bool("no-ttl") {
        nodes.retain(|node| node["ttl"].as_i64().unwrap_or(0) == 0);
    }
    let kvs = if transformer.is_empty() {
        nodes.iter().filter_map(transform).collect()
    } else {
        run_transformer(&transformer, &nodes).map_err(|e| {
            println!("failed to transform keys");
            fail(EXIT_ERROR, e)
        })?
    };
    write(ctl, kvs)?;
    println!("finished transforming keys");
    Ok(())
}

/// The whole v2 tree (a quorum read), from the first endpoint that serves it.
fn v2_tree(ctl: &Ctl) -> Result<Value, Exit> {
    let tls = ctl.tls()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoints = ctl
        .endpoints()?
        .into_iter()
        .map(|e| {
            if e.contains("://") {
                e
            } else {
                format!("{scheme}://{e}")
            }
        })
        .collect();
    let context =
        Context::with(endpoints, tls, ctl.command_timeout()).map_err(|e| fail(EXIT_ERROR, e))?;
    let mut errors = Vec::new();
    for endpoint in &context.endpoints {
        let url = format!(
            "{}/v2/keys/?recursive=true&sorted=true&quorum=true",
            endpoint.trim_end_matches('/')
        );
        match context.get(&url) {
            Ok((200, body)) => {
                let answer: Value = serde_json::from_str(&body)
                    .map_err(|e| fail(EXIT_ERROR, format!("{url}: {e}")))?;
                return Ok(answer["node"].clone());
            }
            Ok((404, _)) => {
                errors.push(format!(
                    "{endpoint} does not serve the v2 keys API (start it with --enable-v2)"
                ));
            }
            Ok((status, body)) => errors.push(format!("{endpoint}: {status} {}", body.trim())),
            Err(e) => errors.push(e),
        }
    }
    Err(fail(
        EXIT_ERROR,
        format!("reading the v2 keys: {}", errors.join("; ")),
    ))
}

/// Every node, parents before their children, as etcdctl's writeKeys lists them: the root
/// as "/", directories without their children.
fn flatten(mut node: Value, out: &mut Vec<Value>) {
    let children = node
        .as_object_mut()
        .and_then(|fields| fields.remove("nodes"))
        .and_then(|nodes| match nodes {
            Value::Array(children) => Some(children),
            _ => None,
        })
        .unwrap_or_default();
    if node.get("key").is_none() {
        node["key"] = Value::from("/");
    }
    out.push(node);
    for child in children {
        flatten(child, out);
    }
}

/// etcdctl's default transformer: a file becomes its key and value; directories are dropped.
fn transform(node: &Value) -> Option<KeyValue> {
    if node["dir"].as_bool() == Some(true) {
        return None;
    }
    Some(KeyValue {
        key: node["key"].as_str().unwrap_or("").as_bytes().to_vec(),
        value: node["value"].as_str().unwrap_or("").as_bytes().to_vec(),
        version: 1,
        ..KeyValue::default()
    })
}

/// Feeds the nodes to the transformer program and reads back the KeyValues it makes of them.
fn run_transformer(program: &str, nodes: &[Value]) -> Result<Vec<KeyValue>, String> {
    let mut child = std::process::Command::new(program)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input: Vec<u8> = nodes
        .iter()
        .flat_map(|n| n.to_string().into_bytes())
        .collect();
    // Written on a thread of its own: the program may answer before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut kvs = Vec::new();
    loop {
        let mut length = [0u8; 8];
        match stdout.read_exact(&mut length) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(format!("reading {program}'s output: {e}")),
        }
        let length = u64::from_le_bytes(length);
        if length > MAX_TRANSFORMED {
            let _ = child.kill();
            return Err(format!(
                "{program} sent a key-value of {length} bytes (at most {MAX_TRANSFORMED})"
            ));
        }
        let mut bytes = vec![0; length as usize];
        stdout
            .read_exact(&mut bytes)
            .map_err(|e| format!("reading {program}'s output: {e}"))?;
        kvs.push(KeyValue::decode(bytes.as_slice()).map_err(|e| format!("{program}: {e}"))?);
    }
    let _ = writer.join();
    let status = child.wait().map_err(|e| format!("{program}: {e}"))?;
    if !status.success() {
        return Err(format!("{program}: {status}"));
    }
    Ok(kvs)
}

/// Puts the keys with as few txns as the limits allow.
fn write(ctl: &Ctl, kvs: Vec<KeyValue>) -> Outcome {
    let channel = ctl.connect()?;
    let mut batch: Vec<pb::RequestOp> = Vec::new();
    let mut bytes = 0;
    let mut kvs = kvs.into_iter().peekable();
    while let Some(kv) = kvs.next() {
        bytes += kv.key.len() + kv.value.len();
        batch.push(pb::RequestOp {
            request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                key: kv.key,
                value: kv.value,
                lease: kv.lease,
                ..Default::default()
            })),
        });
        let next_bytes = kvs.peek().map_or(0, |kv| kv.key.len() + kv.value.len());
        if batch.len() == TXN_OPS || bytes + next_bytes > TXN_BYTES || kvs.peek().is_none() {
            let txn = pb::TxnRequest {
                success: std::mem::take(&mut batch),
                ..Default::default()
            };
            let _: pb::TxnResponse = ctl.call(&channel, "/etcdserverpb.KV/Txn", &txn)?;
            bytes = 0;
        }
    }
    Ok(())
}

//! The v2 API's JSON, as etcd's encoding/json writes its Event and NodeExtern: fields in
//! declaration order, empty ones left out, Go's string escaping, expirations in RFC 3339 with
//! nanoseconds and the TTL in whole seconds rounded up.

use super::{Event, Shown, V2Error};
use crate::golang::{json_string, rfc3339_nano};

/// A node as etcd's NodeExtern, TTLs measured at `now_ns`.
fn node(shown: &Shown, now_ns: i64, out: &mut String) {
    out.push('{');
    let mut first = true;
    let mut field = |name: &str, out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
    };
    if shown.key != "/" {
        field("key", out);
        json_string(&shown.key, out);
    }
    let n = &shown.node;
    if !n.dir && shown.with_value {
        field("value", out);
        json_string(&n.value, out);
    }
    if n.dir {
        field("dir", out);
        out.push_str("true");
    }
    if let Some(expire) = n.expire_ns {
        field("expiration", out);
        out.push('"');
        out.push_str(&rfc3339_nano(expire));
        out.push('"');
        let left = expire - now_ns;
        let ttl = left.div_euclid(1_000_000_000) + i64::from(left.rem_euclid(1_000_000_000) > 0);
        if ttl != 0 {
            field("ttl", out);
            out.push_str(&ttl.to_string());
        }
    }
    if let Some(children) = shown.children.as_ref().filter(|c| !c.is_empty()) {
        field("nodes", out);
        out.push('[');
        for (i, child) in children.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            node(child, now_ns, out);
        }
        out.push(']');
    }
    if n.modified != 0 {
        field("modifiedIndex", out);
        out.push_str(&n.modified.to_string());
    }
    if n.created != 0 {
        field("createdIndex", out);
        out.push_str(&n.created.to_string());
    }
    out.push('}');
}

/// An event as etcd's json.Encoder writes it (a newline after).
pub fn event(event: &Event, now_ns: i64) -> String {
    let mut out = String::from("{\"action\":");
    json_string(&event.action, &mut out);
    out.push_str(",\"node\":");
    node(&event.node, now_ns, &mut out);
    if let Some(prev) = &event.prev {
        out.push_str(",\"prevNode\":");
        node(prev, now_ns, &mut out);
    }
    out.push_str("}\n");
    out
}

/// etcd's v2 error body.
pub fn error(error: &V2Error) -> String {
    let mut out = format!("{{\"errorCode\":{},\"message\":", error.code);
    json_string(error.message(), &mut out);
    if !error.cause.is_empty() {
        out.push_str(",\"cause\":");
        json_string(&error.cause, &mut out);
    }
    out.push_str(&format!(",\"index\":{}}}\n", error.index));
    out
}

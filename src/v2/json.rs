//! The v2 API's JSON, as etcd's encoding/json writes its Event and NodeExtern: fields in
//! declaration order, empty ones left out, Go's string escaping, expirations in RFC 3339 with
//! nanoseconds and the TTL in whole seconds rounded up.

use super::{Event, Shown, V2Error};
use crate::golang::json_string;

/// Unix nanoseconds as Go's time.RFC3339Nano in UTC (trailing zeros of the fraction dropped).
pub fn rfc3339_nano(unix_ns: i64) -> String {
    let seconds = unix_ns.div_euclid(1_000_000_000);
    let nanos = unix_ns.rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let in_day = seconds.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        in_day / 3600,
        in_day % 3600 / 60,
        in_day % 60
    );
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_go_writes_them() {
        assert_eq!(rfc3339_nano(0), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nano(1_795_993_754_914_111_900),
            "2026-11-29T23:09:14.9141119Z"
        );
        assert_eq!(
            rfc3339_nano(951_782_400_000_000_000),
            "2000-02-29T00:00:00Z"
        );
    }
}

//! JSON as etcdctl prints it: Go's encoding/json applied to etcd's generated structs. Fields in
//! declaration order under their proto names, zero values left out (`omitempty`), 64-bit integers
//! as plain numbers, bytes in base64, enums as numbers, a oneof as `"Name":{"field":...}`.
//! Works from the encoded message and the schema (src/schema.rs), so one printer serves every
//! response type.

pub use crate::golang::{base64, json_string as string};
use crate::schema::{decode, fields_of, is_zero, Field, Kind, Value};
use prost::Message;

/// `message` as Go's json.Marshal prints the etcd struct named `type_name` (e.g.
/// "etcdserverpb.RangeResponse").
pub fn to_json<M: Message>(type_name: &str, message: &M) -> String {
    let mut out = String::new();
    object(type_name, &message.encode_to_vec(), &mut out);
    out
}

/// The members of a message object, without the braces (for structs that embed one).
pub fn members<M: Message>(type_name: &str, message: &M) -> String {
    let mut out = String::new();
    object(type_name, &message.encode_to_vec(), &mut out);
    out[1..out.len() - 1].to_string()
}

fn object(type_name: &str, bytes: &[u8], out: &mut String) {
    let fields = fields_of(type_name);
    let values = decode(fields, bytes);
    out.push('{');
    let mut first = true;
    let mut oneofs_done: Vec<&str> = Vec::new();
    for (i, field) in fields.iter().enumerate() {
        if let Some(oneof) = field.oneof {
            if oneofs_done.contains(&oneof) {
                continue;
            }
            oneofs_done.push(oneof);
            separator(&mut first, out);
            string(oneof, out);
            out.push(':');
            // The member of the oneof that is set, if any.
            let set = fields
                .iter()
                .enumerate()
                .rfind(|(j, f)| f.oneof == Some(oneof) && !values[*j].is_empty());
            match set {
                Some((j, f)) => {
                    // The wrapper struct's field has no json tag: Go's field name.
                    out.push('{');
                    string(f.go_name, out);
                    out.push(':');
                    scalar_or_message(f, values[j].last().expect("non-empty"), out);
                    out.push('}');
                }
                None => out.push_str("null"),
            }
            continue;
        }
        let present = &values[i];
        if present.is_empty() {
            continue;
        }
        if field.repeated {
            separator(&mut first, out);
            string(field.name, out);
            out.push_str(":[");
            for (k, value) in present.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                scalar_or_message(field, value, out);
            }
            out.push(']');
            continue;
        }
        let value = present.last().expect("non-empty");
        if is_zero(field.kind, value) {
            continue;
        }
        separator(&mut first, out);
        string(field.name, out);
        out.push(':');
        scalar_or_message(field, value, out);
    }
    out.push('}');
}

fn separator(first: &mut bool, out: &mut String) {
    if !*first {
        out.push(',');
    }
    *first = false;
}

/// Enums are numbers to encoding/json; 64-bit integers are plain numbers.
fn scalar_or_message(field: &Field, value: &Value, out: &mut String) {
    match (field.kind, value) {
        (Kind::Bool, Value::Varint(v)) => out.push_str(if *v != 0 { "true" } else { "false" }),
        (Kind::Enum, Value::Varint(v)) => out.push_str(&(*v as i32).to_string()),
        (Kind::Int64, Value::Varint(v)) => out.push_str(&(*v as i64).to_string()),
        (Kind::Uint32, Value::Varint(v)) => out.push_str(&(*v as u32).to_string()),
        (Kind::Uint64, Value::Varint(v)) => out.push_str(&v.to_string()),
        (Kind::String, Value::Bytes(b)) => string(&String::from_utf8_lossy(b), out),
        (Kind::Bytes, Value::Bytes(b)) => {
            out.push('"');
            out.push_str(&base64(b));
            out.push('"');
        }
        (Kind::Message, Value::Bytes(b)) => object(field.type_name, b, out),
        _ => out.push_str("null"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::{RangeResponse, ResponseHeader, ResponseOp, TxnResponse};
    use crate::pb::mvccpb::KeyValue;

    #[test]
    fn range_response_as_etcdctl_prints_it() {
        let response = RangeResponse {
            header: Some(ResponseHeader {
                cluster_id: 14841639068965178418,
                member_id: 10276657743932975437,
                revision: 2,
                raft_term: 2,
            }),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 2,
                version: 1,
                value: b"bar".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        assert_eq!(
            to_json("etcdserverpb.RangeResponse", &response),
            r#"{"header":{"cluster_id":14841639068965178418,"member_id":10276657743932975437,"revision":2,"raft_term":2},"kvs":[{"key":"Zm9v","create_revision":2,"mod_revision":2,"version":1,"value":"YmFy"}],"count":1}"#
        );
    }

    #[test]
    fn oneof_and_empty_messages() {
        let response = TxnResponse {
            header: Some(ResponseHeader::default()),
            succeeded: true,
            responses: vec![ResponseOp {
                response: Some(crate::pb::etcdserverpb::response_op::Response::ResponsePut(
                    Default::default(),
                )),
            }],
        };
        assert_eq!(
            to_json("etcdserverpb.TxnResponse", &response),
            r#"{"header":{},"succeeded":true,"responses":[{"Response":{"ResponsePut":{}}}]}"#
        );
    }
}

//! Messages as etcd 3.4's gateway writes and reads them: golang/protobuf 1.3's jsonpb with
//! grpc-gateway's settings (OrigName, no defaults, unknown fields allowed). Out: proto field
//! names, 64-bit integers as strings, enums by name, bytes in base64, zero scalars and empty
//! lists left out, a oneof as its set member. In: proto or lowerCamel names, integers as
//! numbers or strings, enums by name or number, null as absent; type errors in encoding/json's
//! words. Both directions work on encoded protobuf through the schema (src/schema.rs).

use super::json::{self, Json};
use crate::golang::{base64, base64_decode, json_string};
use crate::schema::{decode, enum_of, fields_of, is_zero, put_varint, Field, Kind, Value};

/// The encoded message of type `type_name` as jsonpb prints it.
pub fn to_json(type_name: &str, bytes: &[u8], out: &mut String) {
    let fields = fields_of(type_name);
    let values = decode(fields, bytes);
    out.push('{');
    let mut first = true;
    for (field, present) in fields.iter().zip(&values) {
        let Some(last) = present.last() else { continue };
        // A oneof's set member is printed whatever its value; other scalars only when not zero.
        if !field.repeated && field.oneof.is_none() && is_zero(field.kind, last) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        json_string(field.name, out);
        out.push(':');
        if field.repeated {
            out.push('[');
            for (k, value) in present.iter().enumerate() {
                if k > 0 {
                    out.push(',');
                }
                value_to_json(field, value, out);
            }
            out.push(']');
        } else {
            value_to_json(field, last, out);
        }
    }
    out.push('}');
}

fn value_to_json(field: &Field, value: &Value, out: &mut String) {
    match (field.kind, value) {
        (Kind::Bool, Value::Varint(v)) => out.push_str(if *v != 0 { "true" } else { "false" }),
        (Kind::Uint32, Value::Varint(v)) => out.push_str(&(*v as u32).to_string()),
        (Kind::Int64, Value::Varint(v)) => out.push_str(&format!("\"{}\"", *v as i64)),
        (Kind::Uint64, Value::Varint(v)) => out.push_str(&format!("\"{v}\"")),
        (Kind::Enum, Value::Varint(v)) => {
            let number = *v as i32;
            match enum_of(field.type_name)
                .values
                .iter()
                .find(|(n, _)| *n == number)
            {
                Some((_, name)) => json_string(name, out),
                None => out.push_str(&number.to_string()),
            }
        }
        (Kind::String, Value::Bytes(b)) => json_string(&String::from_utf8_lossy(b), out),
        (Kind::Bytes, Value::Bytes(b)) => {
            out.push('"');
            out.push_str(&base64(b));
            out.push('"');
        }
        (Kind::Message, Value::Bytes(b)) => to_json(field.type_name, b, out),
        _ => out.push_str("null"),
    }
}

/// A JSON value read as the message `type_name`, encoded as protobuf.
pub fn from_json(type_name: &str, value: &Json) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    message(type_name, value, &mut out)?;
    Ok(out)
}

fn type_error(value: &Json, go_type: &str) -> String {
    format!(
        "json: cannot unmarshal {} into Go value of type {go_type}",
        value.kind()
    )
}

fn message(type_name: &str, value: &Json, out: &mut Vec<u8>) -> Result<(), String> {
    let Json::Object(_) = value else {
        return Err(type_error(value, "map[string]json.RawMessage"));
    };
    let fields = fields_of(type_name);
    // jsonpb sets the plain fields in declaration order, then the oneofs.
    let plain = fields.iter().filter(|f| f.oneof.is_none());
    let oneof_members = fields.iter().filter(|f| f.oneof.is_some());
    for field in plain.chain(oneof_members) {
        // Both names are accepted; with both present the camelCase one wins.
        let Some(input) = value
            .member(field.json_name)
            .or_else(|| value.member(field.name))
        else {
            continue;
        };
        if *input == Json::Null {
            continue;
        }
        if field.repeated {
            let Json::Array(items) = input else {
                return Err(type_error(input, "[]json.RawMessage"));
            };
            for item in items.iter().filter(|item| **item != Json::Null) {
                field_value(field, item, out)?;
            }
        } else {
            field_value(field, input, out)?;
        }
    }
    Ok(())
}

/// Appends one occurrence of `field`.
fn field_value(field: &Field, input: &Json, out: &mut Vec<u8>) -> Result<(), String> {
    match field.kind {
        Kind::Message => {
            let mut nested = Vec::new();
            message(field.type_name, input, &mut nested)?;
            length_delimited(field.number, &nested, out);
        }
        Kind::String => match input {
            Json::String(s) => length_delimited(field.number, s.as_bytes(), out),
            other => return Err(type_error(other, "string")),
        },
        Kind::Bytes => match input {
            Json::String(s) => length_delimited(field.number, &base64_decode(s.as_bytes())?, out),
            other => return Err(type_error(other, "[]uint8")),
        },
        Kind::Bool => match input {
            Json::Bool(b) => varint_field(field.number, u64::from(*b), out),
            other => return Err(type_error(other, "bool")),
        },
        Kind::Enum => {
            let known = enum_of(field.type_name);
            let go_name = known.go_name;
            let number = match input {
                Json::String(name) => known
                    .values
                    .iter()
                    .find(|(_, n)| n == name)
                    .map(|(number, _)| i64::from(*number))
                    .ok_or_else(|| format!("unknown value {name:?} for enum {go_name}"))?,
                other => integer(other, go_name, i64::from(i32::MIN), i64::from(i32::MAX))?,
            };
            varint_field(field.number, number as u64, out);
        }
        Kind::Int64 => {
            let n = integer(input, "int64", i64::MIN, i64::MAX)?;
            varint_field(field.number, n as u64, out);
        }
        Kind::Uint32 => {
            let n = unsigned(input, "uint32", u64::from(u32::MAX))?;
            varint_field(field.number, n, out);
        }
        Kind::Uint64 => {
            let n = unsigned(input, "uint64", u64::MAX)?;
            varint_field(field.number, n, out);
        }
    }
    Ok(())
}

/// The number an integer field holds: jsonpb drops the quotes of a string and reads the rest
/// as JSON, so "5" is 5 and "x" a syntax error.
fn number_text(input: &Json, go_type: &str) -> Result<String, String> {
    let unquoted;
    let value = match input {
        Json::String(text) => {
            unquoted = json::whole(text.as_bytes()).map_err(|e| e.message(true))?;
            &unquoted
        }
        other => other,
    };
    match value {
        Json::Number(text) => Ok(text.clone()),
        other => Err(type_error(other, go_type)),
    }
}

fn out_of_range(text: &str, go_type: &str) -> String {
    format!("json: cannot unmarshal number {text} into Go value of type {go_type}")
}

fn integer(input: &Json, go_type: &str, min: i64, max: i64) -> Result<i64, String> {
    let text = number_text(input, go_type)?;
    text.parse::<i64>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| out_of_range(&text, go_type))
}

fn unsigned(input: &Json, go_type: &str, max: u64) -> Result<u64, String> {
    let text = number_text(input, go_type)?;
    text.parse::<u64>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| out_of_range(&text, go_type))
}

fn varint_field(number: u32, value: u64, out: &mut Vec<u8>) {
    put_varint(out, u64::from(number) << 3);
    put_varint(out, value);
}

fn length_delimited(number: u32, bytes: &[u8], out: &mut Vec<u8>) {
    put_varint(out, (u64::from(number) << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::etcdserverpb::{range_request::SortOrder, RangeRequest};
    use prost::Message;

    fn request(text: &str) -> Result<RangeRequest, String> {
        let value = json::whole(text.as_bytes()).unwrap();
        let bytes = from_json("etcdserverpb.RangeRequest", &value)?;
        Ok(RangeRequest::decode(bytes.as_slice()).unwrap())
    }

    #[test]
    fn reads_requests_as_jsonpb() {
        let r = request(r#"{"key":"Zm9v","rangeEnd":"AA==","limit":"5","sort_order":"DESCEND","serializable":true}"#)
            .unwrap();
        assert_eq!(r.key, b"foo");
        assert_eq!(r.range_end, b"\0");
        assert_eq!(r.limit, 5);
        assert_eq!(r.sort_order, SortOrder::Descend as i32);
        assert!(r.serializable);
        assert_eq!(
            request(r#"{"key":null,"sort_order":2}"#)
                .unwrap()
                .sort_order,
            2
        );
    }

    #[test]
    fn type_errors_in_go_words() {
        let cases = [
            (
                r#"{"limit":true}"#,
                "json: cannot unmarshal bool into Go value of type int64",
            ),
            (
                r#"{"limit":1.5}"#,
                "json: cannot unmarshal number 1.5 into Go value of type int64",
            ),
            (
                r#"{"serializable":"true"}"#,
                "json: cannot unmarshal string into Go value of type bool",
            ),
            (
                r#"{"key":123}"#,
                "json: cannot unmarshal number into Go value of type []uint8",
            ),
            (r#"{"key":"Zm9v!"}"#, "illegal base64 data at input byte 4"),
            (
                r#"[1]"#,
                "json: cannot unmarshal array into Go value of type map[string]json.RawMessage",
            ),
            (
                r#"{"sort_order":"BAD"}"#,
                r#"unknown value "BAD" for enum etcdserverpb.RangeRequest_SortOrder"#,
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(request(text).unwrap_err(), expected, "{text}");
        }
    }

    #[test]
    fn writes_responses_as_jsonpb() {
        use crate::pb::etcdserverpb::{RangeResponse, ResponseHeader};
        use crate::pb::mvccpb::KeyValue;
        let response = RangeResponse {
            header: Some(ResponseHeader {
                cluster_id: 14103426938022177914,
                member_id: 6905422019201466877,
                revision: 3,
                raft_term: 2,
            }),
            kvs: vec![KeyValue {
                key: b"foo".to_vec(),
                create_revision: 2,
                mod_revision: 3,
                version: 2,
                value: b"baz".to_vec(),
                lease: 0,
            }],
            more: false,
            count: 1,
        };
        let mut out = String::new();
        to_json(
            "etcdserverpb.RangeResponse",
            &response.encode_to_vec(),
            &mut out,
        );
        // As etcd 3.4's gateway answered the same request.
        assert_eq!(
            out,
            r#"{"header":{"cluster_id":"14103426938022177914","member_id":"6905422019201466877","revision":"3","raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}],"count":"1"}"#
        );
    }

    #[test]
    fn fuzz_gateway_json_requests() {
        let seeds = [
            br#"{"key":"Zm9v","rangeEnd":"AA==","limit":"5","sort_order":"DESCEND","serializable":true}"#.to_vec(),
            br#"{"compare":[{"key":"YQ==","target":"VALUE","result":"EQUAL","value":"dg=="}],"success":[{"request_put":{"key":"YQ==","value":"dg==","lease":"7"}},{"request_txn":{"success":[{"request_delete_range":{"key":"YQ=="}}]}}]}"#.to_vec(),
            br#"{"create_request":{"key":"YQ==","range_end":"AA==","start_revision":"3","filters":["NOPUT"],"prev_kv":true,"watch_id":"9"}}"#.to_vec(),
            br#"[1, -2.5e3, "\u00e9\n", null, true, {"a": [{}]}]"#.to_vec(),
        ];
        let types = [
            "etcdserverpb.RangeRequest",
            "etcdserverpb.TxnRequest",
            "etcdserverpb.WatchRequest",
            "etcdserverpb.PutRequest",
            "etcdserverpb.LeaseGrantRequest",
            "etcdserverpb.MemberAddRequest",
            "v3electionpb.CampaignRequest",
        ];
        crate::fuzz::run("gateway json", &seeds, |bytes| {
            let _ = json::next_value(bytes);
            let Ok(value) = json::whole(bytes) else {
                return;
            };
            for type_name in types {
                if let Ok(encoded) = from_json(type_name, &value) {
                    // What the reader accepts, the writer prints back.
                    let mut out = String::new();
                    to_json(type_name, &encoded, &mut out);
                }
            }
        });
    }
}

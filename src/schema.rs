//! Our wire schema at run time: each message's fields in declaration order and each enum's
//! names, extracted from proto/ by build.rs. With it one printer (or reader) handles every etcd
//! message from its encoded bytes: the etcdctl applet's JSON (Go's encoding/json) and the
//! gateway's JSON (grpc-gateway's jsonpb) both walk messages through `decode`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Bool,
    String,
    Bytes,
    Message,
    Enum,
    Int64,
    Uint32,
    Uint64,
}

impl Kind {
    /// Carried as a varint on the wire (and packed when repeated).
    pub fn is_varint(self) -> bool {
        matches!(
            self,
            Kind::Bool | Kind::Enum | Kind::Int64 | Kind::Uint32 | Kind::Uint64
        )
    }
}

#[derive(Debug)]
pub struct Field {
    pub number: u32,
    /// The name in the .proto file (jsonpb's OrigName, encoding/json's tag).
    pub name: &'static str,
    /// protoc's lowerCamelCase name, which jsonpb also accepts on input.
    pub json_name: &'static str,
    /// The Go struct field's name (CamelCase), which a oneof member is printed under.
    pub go_name: &'static str,
    pub kind: Kind,
    pub repeated: bool,
    /// The message or enum type of the field, fully qualified ("mvccpb.KeyValue").
    pub type_name: &'static str,
    pub oneof: Option<&'static str>,
}

pub struct Enum {
    pub name: &'static str,
    /// Go's name of the enum type ("etcdserverpb.RangeRequest_SortOrder").
    pub go_name: &'static str,
    pub values: &'static [(i32, &'static str)],
}

/// An RPC of one of our services.
pub struct Method {
    /// "/etcdserverpb.KV/Range"
    pub path: &'static str,
    pub request: &'static str,
    pub response: &'static str,
    pub client_streams: bool,
    pub server_streams: bool,
}

include!(concat!(env!("OUT_DIR"), "/schema.rs"));

pub fn method(path: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.path == path)
}

pub fn fields_of(type_name: &str) -> &'static [Field] {
    MESSAGES
        .iter()
        .find(|(name, _)| *name == type_name)
        .map(|(_, fields)| *fields)
        .unwrap_or_else(|| panic!("{type_name} is not in the schema"))
}

pub fn enum_of(type_name: &str) -> &'static Enum {
    ENUMS
        .iter()
        .find(|e| e.name == type_name)
        .unwrap_or_else(|| panic!("enum {type_name} is not in the schema"))
}

/// One field occurrence on the wire.
pub enum Value<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

/// The values of each of `fields` found in `bytes` (same indexes), in wire order; unknown
/// fields are skipped, packed repeated scalars unpacked. Decoding stops at malformed input.
pub fn decode<'a>(fields: &[Field], bytes: &'a [u8]) -> Vec<Vec<Value<'a>>> {
    let mut values: Vec<Vec<Value>> = fields.iter().map(|_| Vec::new()).collect();
    let mut input = bytes;
    while !input.is_empty() {
        let Some(key) = varint(&mut input) else { break };
        let (number, wire) = ((key >> 3) as u32, key & 7);
        let value = match wire {
            0 => varint(&mut input).map(Value::Varint),
            2 => varint(&mut input).and_then(|len| {
                let len = len as usize;
                (len <= input.len()).then(|| {
                    let (data, rest) = input.split_at(len);
                    input = rest;
                    Value::Bytes(data)
                })
            }),
            1 => skip(&mut input, 8),
            5 => skip(&mut input, 4),
            _ => None,
        };
        let Some(value) = value else { break };
        if let Some(i) = fields.iter().position(|f| f.number == number) {
            let field = &fields[i];
            match value {
                Value::Bytes(mut packed) if field.repeated && field.kind.is_varint() => {
                    while let Some(v) = varint(&mut packed) {
                        values[i].push(Value::Varint(v));
                    }
                }
                value if field.repeated => values[i].push(value),
                value => values[i] = vec![value],
            }
        }
    }
    values
}

/// A proto3 zero value (0, false, empty string or bytes), which both JSON mappings leave out; a
/// message that is present counts as set even when empty.
pub fn is_zero(kind: Kind, value: &Value) -> bool {
    match (kind, value) {
        (Kind::Message, _) => false,
        (_, Value::Varint(v)) => *v == 0,
        (_, Value::Bytes(b)) => b.is_empty(),
    }
}

pub fn varint(input: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn skip<'a>(input: &mut &'a [u8], n: usize) -> Option<Value<'a>> {
    (input.len() >= n).then(|| {
        *input = &input[n..];
        Value::Varint(0)
    })
}

/// Appends a protobuf varint.
pub fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

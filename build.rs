//! Compiles our etcd wire schema (proto/) with protox, a pure-Rust protobuf compiler, so that
//! building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/rpc.proto",
        "proto/raft_internal.proto",
        "proto/lock.proto",
        "proto/election.proto",
        "proto/lease.proto",
        "proto/etcdserver.proto",
        "proto/raftpb.proto",
        "proto/wal.proto",
    ];
    for file in std::fs::read_dir("proto")? {
        println!("cargo:rerun-if-changed={}", file?.path().display());
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    write_json_schema(&descriptors)?;
    prost_build::Config::new().compile_fds(descriptors)?;
    let git_revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BUILD_GIT_REVISION={git_revision}");
    println!("cargo:rustc-env=BUILD_TARGET={}", std::env::var("TARGET")?);
    println!("cargo:rerun-if-changed=.git/HEAD");
    Ok(())
}

/// Writes `schema.rs`: each message's fields in declaration order and each enum's value names,
/// which is what the JSON printers and the gateway's JSON reader need to turn any etcd message
/// into JSON and back (src/schema.rs).
fn write_json_schema(set: &prost_types::FileDescriptorSet) -> std::io::Result<()> {
    use prost_types::field_descriptor_proto::{Label, Type};
    let mut out = String::from("pub static MESSAGES: &[(&str, &[Field])] = &[\n");
    let mut enums = String::from("pub static ENUMS: &[Enum] = &[\n");
    for file in &set.file {
        let package = file.package();
        let mut add_enum =
            |path: &str, go_name: &str, values: &[prost_types::EnumValueDescriptorProto]| {
                let values: Vec<String> = values
                    .iter()
                    .map(|v| format!("({}, \"{}\")", v.number(), v.name()))
                    .collect();
                enums += &format!(
                    "    Enum {{ name: \"{package}.{path}\", go_name: \"{package}.{go_name}\", values: &[{}] }},\n",
                    values.join(", ")
                );
            };
        for e in &file.enum_type {
            add_enum(e.name(), e.name(), &e.value);
        }
        for message in &file.message_type {
            for e in &message.enum_type {
                // Go names a nested enum Message_Enum.
                let path = format!("{}.{}", message.name(), e.name());
                add_enum(&path, &format!("{}_{}", message.name(), e.name()), &e.value);
            }
            out += &format!("    (\"{package}.{}\", &[\n", message.name());
            for field in &message.field {
                let kind = match field.r#type() {
                    Type::Bool => "Bool",
                    Type::String => "String",
                    Type::Bytes => "Bytes",
                    Type::Message => "Message",
                    Type::Enum => "Enum",
                    Type::Int64 => "Int64",
                    Type::Uint32 => "Uint32",
                    Type::Uint64 => "Uint64",
                    other => panic!("json schema: field type {other:?} is not used by etcd"),
                };
                // Go names a oneof's interface field after the oneof, in CamelCase.
                let oneof = field
                    .oneof_index
                    .map(|i| camel_case(message.oneof_decl[i as usize].name()));
                out += &format!(
                    "        Field {{ number: {}, name: \"{}\", json_name: \"{}\", go_name: \"{}\", kind: Kind::{kind}, repeated: {}, type_name: \"{}\", oneof: {:?} }},\n",
                    field.number(),
                    field.name(),
                    field.json_name(),
                    camel_case(field.name()),
                    field.label() == Label::Repeated,
                    field.type_name().trim_start_matches('.'),
                    oneof,
                );
            }
            out += "    ]),\n";
        }
    }
    out += "];\n";
    enums += "];\n";
    // Each RPC: its path, request and answer types, and whether each side streams.
    let mut methods = String::from("pub static METHODS: &[Method] = &[\n");
    for file in &set.file {
        for service in &file.service {
            for method in &service.method {
                methods += &format!(
                    "    Method {{ path: \"/{}.{}/{}\", request: \"{}\", response: \"{}\", client_streams: {}, server_streams: {} }},\n",
                    file.package(),
                    service.name(),
                    method.name(),
                    method.input_type().trim_start_matches('.'),
                    method.output_type().trim_start_matches('.'),
                    method.client_streaming(),
                    method.server_streaming(),
                );
            }
        }
    }
    methods += "];\n";
    methods += &format!(
        "pub const METHOD_COUNT: usize = {};\n",
        methods.matches("Method {").count()
    );
    let path = std::path::Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("schema.rs");
    std::fs::write(path, out + &enums + &methods)
}

fn camel_case(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect()
}

//! etcdctl's five output formats (`--write-out`): simple, json, fields, table, protobuf. Each
//! response type prints as etcdctl 3.4's printer for it does; a format etcdctl has no printer
//! for fails the same way, after the request was made, as in etcdctl.

use super::flags::{Parsed, Spec};
use super::json::{self, to_json};
use super::{fail, Exit, Outcome, EXIT_BAD_FEATURE};
use crate::pb::etcdserverpb as pb;
use crate::pb::mvccpb::KeyValue;
use prost::Message;
use std::io::Write;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Simple,
    Json,
    Fields,
    Table,
    Protobuf,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Simple => "simple",
            Format::Json => "json",
            Format::Fields => "fields",
            Format::Table => "table",
            Format::Protobuf => "protobuf",
        }
    }
}

/// One endpoint's answer to `endpoint health`.
pub struct Health {
    pub endpoint: String,
    pub healthy: bool,
    pub took: String,
    pub error: String,
}

pub struct Printer {
    pub format: Format,
    hex: bool,
    /// `get --print-value-only`.
    pub value_only: bool,
}

fn unsupported(format: Format) -> Exit {
    fail(
        EXIT_BAD_FEATURE,
        format!("{} not supported as output format", format.name()),
    )
}

impl Printer {
    pub fn new(flags: &Parsed, specs: &[&'static Spec]) -> Result<Printer, Exit> {
        let format = match flags.string(specs, "write-out").as_str() {
            "simple" => Format::Simple,
            "json" => Format::Json,
            "fields" => Format::Fields,
            "table" => Format::Table,
            "protobuf" => Format::Protobuf,
            _ => return Err(fail(EXIT_BAD_FEATURE, "unsupported output format")),
        };
        Ok(Printer {
            format,
            hex: flags.bool(specs, "hex"),
            value_only: false,
        })
    }

    /// The json/protobuf printers print the response message itself.
    pub(crate) fn message<M: Message>(&self, type_name: &str, message: &M) -> Outcome {
        match self.format {
            Format::Json => println!("{}", to_json(type_name, message)),
            Format::Protobuf => {
                let _ = std::io::stdout().write_all(&message.encode_to_vec());
            }
            format => return Err(unsupported(format)),
        }
        Ok(())
    }

    fn kv(&self, kv: &KeyValue) {
        let (key, value) = if self.hex {
            (hex(&kv.key), hex(&kv.value))
        } else {
            (
                String::from_utf8_lossy(&kv.key).into_owned(),
                String::from_utf8_lossy(&kv.value).into_owned(),
            )
        };
        if !self.value_only {
            println!("{key}");
        }
        println!("{value}");
    }

    fn fields_kv(prefix: &str, kv: &KeyValue) {
        println!("\"{prefix}Key\" : {}", go_quote(&kv.key));
        println!("\"{prefix}CreateRevision\" : {}", kv.create_revision);
        println!("\"{prefix}ModRevision\" : {}", kv.mod_revision);
        println!("\"{prefix}Version\" : {}", kv.version);
        println!("\"{prefix}Value\" : {}", go_quote(&kv.value));
        println!("\"{prefix}Lease\" : {}", kv.lease);
    }

    fn fields_header(header: &Option<pb::ResponseHeader>) {
        let h = header.unwrap_or_default();
        println!("\"ClusterID\" : {}", h.cluster_id);
        println!("\"MemberID\" : {}", h.member_id);
        println!("\"Revision\" : {}", h.revision);
        println!("\"RaftTerm\" : {}", h.raft_term);
    }

    pub fn get(&self, r: &pb::RangeResponse) -> Outcome {
        match self.format {
            Format::Simple => r.kvs.iter().for_each(|kv| self.kv(kv)),
            Format::Fields => {
                Self::fields_header(&r.header);
                r.kvs.iter().for_each(|kv| Self::fields_kv("", kv));
                println!("\"More\" : {}", r.more);
                println!("\"Count\" : {}", r.count);
            }
            _ => return self.message("etcdserverpb.RangeResponse", r),
        }
        Ok(())
    }

    pub fn put(&self, r: &pb::PutResponse) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("OK");
                if let Some(prev) = &r.prev_kv {
                    self.kv(prev);
                }
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                if let Some(prev) = &r.prev_kv {
                    Self::fields_kv("Prev", prev);
                }
            }
            _ => return self.message("etcdserverpb.PutResponse", r),
        }
        Ok(())
    }

    pub fn del(&self, r: &pb::DeleteRangeResponse) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("{}", r.deleted);
                r.prev_kvs.iter().for_each(|kv| self.kv(kv));
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"Deleted\" : {}", r.deleted);
                r.prev_kvs.iter().for_each(|kv| Self::fields_kv("Prev", kv));
            }
            _ => return self.message("etcdserverpb.DeleteRangeResponse", r),
        }
        Ok(())
    }

    pub fn txn(&self, r: &pb::TxnResponse) -> Outcome {
        use pb::response_op::Response;
        match self.format {
            Format::Simple => {
                println!("{}", if r.succeeded { "SUCCESS" } else { "FAILURE" });
                for op in &r.responses {
                    println!();
                    match &op.response {
                        Some(Response::ResponseRange(r)) => self.get(r)?,
                        Some(Response::ResponsePut(r)) => self.put(r)?,
                        Some(Response::ResponseDeleteRange(r)) => self.del(r)?,
                        other => println!("unexpected response {other:?}"),
                    }
                }
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"Succeeded\" : {}", r.succeeded);
                for op in &r.responses {
                    match &op.response {
                        Some(Response::ResponseRange(r)) => self.get(r)?,
                        Some(Response::ResponsePut(r)) => self.put(r)?,
                        Some(Response::ResponseDeleteRange(r)) => self.del(r)?,
                        other => println!("\"Unknown\" : {:?}", format!("{other:?}")),
                    }
                }
            }
            _ => return self.message("etcdserverpb.TxnResponse", r),
        }
        Ok(())
    }

    pub fn watch(&self, r: &pb::WatchResponse) -> Outcome {
        let event_type = |t: i32| if t == 1 { "DELETE" } else { "PUT" };
        match self.format {
            Format::Simple => {
                for e in &r.events {
                    println!("{}", event_type(e.r#type));
                    if let Some(prev) = &e.prev_kv {
                        self.kv(prev);
                    }
                    self.kv(e.kv.as_ref().unwrap_or(&KeyValue::default()));
                }
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                for e in &r.events {
                    println!("\"Type\" : {}", event_type(e.r#type));
                    if let Some(prev) = &e.prev_kv {
                        Self::fields_kv("Prev", prev);
                    }
                    Self::fields_kv("", e.kv.as_ref().unwrap_or(&KeyValue::default()));
                }
            }
            Format::Json => {
                // clientv3.WatchResponse: Header, Events, CompactRevision, Canceled, Created.
                let header =
                    json::to_json("etcdserverpb.ResponseHeader", &r.header.unwrap_or_default());
                let events: Vec<String> = r
                    .events
                    .iter()
                    .map(|e| json::to_json("mvccpb.Event", e))
                    .collect();
                let events = if events.is_empty() {
                    "null".to_string()
                } else {
                    format!("[{}]", events.join(","))
                };
                println!(
                    "{{\"Header\":{header},\"Events\":{events},\"CompactRevision\":{},\"Canceled\":{},\"Created\":{}}}",
                    r.compact_revision, r.canceled, r.created
                );
            }
            Format::Protobuf => {
                let message = pb::WatchResponse {
                    header: r.header,
                    events: r.events.clone(),
                    compact_revision: r.compact_revision,
                    canceled: r.canceled,
                    created: r.created,
                    ..Default::default()
                };
                let _ = std::io::stdout().write_all(&message.encode_to_vec());
            }
            Format::Table => return Err(unsupported(self.format)),
        }
        Ok(())
    }

    pub fn grant(&self, r: &pb::LeaseGrantResponse) -> Outcome {
        match self.format {
            Format::Simple => println!("lease {:016x} granted with TTL({}s)", r.id, r.ttl),
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"ID\" : {}", r.id);
                println!("\"TTL\" : {}", r.ttl);
            }
            Format::Json => {
                let error = json_string(&r.error);
                println!(
                    "{}",
                    embedded_header(
                        &r.header,
                        &[format!(
                            "\"ID\":{},\"TTL\":{},\"Error\":{error}",
                            r.id, r.ttl
                        )]
                    )
                );
            }
            format => return Err(marshal_unsupported(format, "LeaseGrantResponse")),
        }
        Ok(())
    }

    pub fn revoke(&self, id: i64, r: &pb::LeaseRevokeResponse) -> Outcome {
        match self.format {
            Format::Simple => println!("lease {id:016x} revoked"),
            Format::Fields => Self::fields_header(&r.header),
            _ => return self.message("etcdserverpb.LeaseRevokeResponse", r),
        }
        Ok(())
    }

    pub fn keep_alive(&self, r: &pb::LeaseKeepAliveResponse) -> Outcome {
        match self.format {
            Format::Simple => println!("lease {:016x} keepalived with TTL({})", r.id, r.ttl),
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"ID\" : {}", r.id);
                println!("\"TTL\" : {}", r.ttl);
            }
            Format::Json => println!(
                "{}",
                embedded_header(&r.header, &[format!("\"ID\":{},\"TTL\":{}", r.id, r.ttl)])
            ),
            format => return Err(marshal_unsupported(format, "LeaseKeepAliveResponse")),
        }
        Ok(())
    }

    pub fn time_to_live(&self, r: &pb::LeaseTimeToLiveResponse, with_keys: bool) -> Outcome {
        match self.format {
            Format::Simple => {
                if r.granted_ttl == 0 && r.ttl == -1 {
                    println!("lease {:016x} already expired", r.id);
                    return Ok(());
                }
                let mut text = format!(
                    "lease {:016x} granted with TTL({}s), remaining({}s)",
                    r.id, r.granted_ttl, r.ttl
                );
                if with_keys {
                    let keys: Vec<String> = r
                        .keys
                        .iter()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    text += &format!(", attached keys([{}])", keys.join(" "));
                }
                println!("{text}");
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                println!("\"ID\" : {}", r.id);
                println!("\"TTL\" : {}", r.ttl);
                println!("\"GrantedTTL\" : {}", r.granted_ttl);
                for key in &r.keys {
                    println!("\"Key\" : {}", go_quote(key));
                }
            }
            Format::Json => {
                let keys = if r.keys.is_empty() {
                    "null".to_string()
                } else {
                    let keys: Vec<String> = r
                        .keys
                        .iter()
                        .map(|k| format!("\"{}\"", json::base64(k)))
                        .collect();
                    format!("[{}]", keys.join(","))
                };
                println!(
                    "{}",
                    embedded_header(
                        &r.header,
                        &[format!(
                            "\"id\":{},\"ttl\":{},\"granted-ttl\":{},\"keys\":{keys}",
                            r.id, r.ttl, r.granted_ttl
                        )]
                    )
                );
            }
            format => return Err(marshal_unsupported(format, "LeaseTimeToLiveResponse")),
        }
        Ok(())
    }

    pub fn leases(&self, r: &pb::LeaseLeasesResponse) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("found {} leases", r.leases.len());
                for lease in &r.leases {
                    println!("{:016x}", lease.id);
                }
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                for lease in &r.leases {
                    println!("\"ID\" : {}", lease.id);
                }
            }
            Format::Json => {
                let leases: Vec<String> = r
                    .leases
                    .iter()
                    .map(|l| format!("{{\"id\":{}}}", l.id))
                    .collect();
                println!(
                    "{}",
                    embedded_header(&r.header, &[format!("\"leases\":[{}]", leases.join(","))])
                );
            }
            format => return Err(marshal_unsupported(format, "LeaseLeasesResponse")),
        }
        Ok(())
    }

    pub fn member_list(&self, r: &pb::MemberListResponse) -> Outcome {
        let (header, rows) = member_table(r);
        match self.format {
            Format::Simple => rows.iter().for_each(|row| println!("{}", row.join(", "))),
            Format::Table => print!("{}", table(&header, &rows)),
            Format::Fields => {
                Self::fields_header(&r.header);
                for m in &r.members {
                    println!("\"ID\" : {}", m.id);
                    println!("\"Name\" : {}", go_quote(m.name.as_bytes()));
                    for url in &m.peer_ur_ls {
                        println!("\"PeerURL\" : {}", go_quote(url.as_bytes()));
                    }
                    for url in &m.client_ur_ls {
                        println!("\"ClientURL\" : {}", go_quote(url.as_bytes()));
                    }
                    println!("\"IsLearner\" : {}", m.is_learner);
                    println!();
                }
            }
            _ => return self.message("etcdserverpb.MemberListResponse", r),
        }
        Ok(())
    }

    /// member add/remove/update/promote: simple prints `verb`, json/protobuf the response.
    pub fn member_change<M: Message>(
        &self,
        verb: &str,
        id: u64,
        cluster_id: u64,
        type_name: &str,
        r: &M,
    ) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("Member {id:16x} {verb} cluster {cluster_id:16x}");
                Ok(())
            }
            Format::Json | Format::Protobuf => self.message(type_name, r),
            format => Err(unsupported(format)),
        }
    }

    pub fn endpoint_health(&self, list: &[Health]) -> Outcome {
        match self.format {
            Format::Simple => {
                for h in list {
                    if h.error.is_empty() {
                        eprintln!(
                            "{} is healthy: successfully committed proposal: took = {}",
                            h.endpoint, h.took
                        );
                    } else {
                        eprintln!(
                            "{} is unhealthy: failed to commit proposal: {}",
                            h.endpoint, h.error
                        );
                    }
                }
            }
            Format::Json => {
                let items: Vec<String> = list
                    .iter()
                    .map(|h| {
                        let mut item = format!(
                            "{{\"endpoint\":{},\"health\":{},\"took\":{}",
                            json_string(&h.endpoint),
                            h.healthy,
                            json_string(&h.took)
                        );
                        if !h.error.is_empty() {
                            item += &format!(",\"error\":{}", json_string(&h.error));
                        }
                        item + "}"
                    })
                    .collect();
                println!("[{}]", items.join(","));
            }
            Format::Fields => {
                for h in list {
                    println!("\"Endpoint\" : {}", go_quote(h.endpoint.as_bytes()));
                    println!("\"Health\" : {}", h.healthy);
                    println!("\"Took\" : {}", h.took);
                    println!("\"Error\" : {}", h.error);
                    println!();
                }
            }
            Format::Table => {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|h| {
                        vec![
                            h.endpoint.clone(),
                            h.healthy.to_string(),
                            h.took.clone(),
                            h.error.clone(),
                        ]
                    })
                    .collect();
                print!("{}", table(&["endpoint", "health", "took", "error"], &rows));
            }
            Format::Protobuf => return Err(unsupported(self.format)),
        }
        Ok(())
    }

    pub fn endpoint_status(&self, list: &[(String, pb::StatusResponse)]) -> Outcome {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|(endpoint, s)| {
                let member = s.header.as_ref().map_or(0, |h| h.member_id);
                vec![
                    endpoint.clone(),
                    format!("{member:x}"),
                    s.version.clone(),
                    humanize_bytes(s.db_size as u64),
                    (s.leader == member).to_string(),
                    s.is_learner.to_string(),
                    s.raft_term.to_string(),
                    s.raft_index.to_string(),
                    s.raft_applied_index.to_string(),
                    s.errors.join(", "),
                ]
            })
            .collect();
        match self.format {
            Format::Simple => rows.iter().for_each(|row| println!("{}", row.join(", "))),
            Format::Table => {
                let header = [
                    "endpoint",
                    "ID",
                    "version",
                    "db size",
                    "is leader",
                    "is learner",
                    "raft term",
                    "raft index",
                    "raft applied index",
                    "errors",
                ];
                print!("{}", table(&header, &rows));
            }
            Format::Json => {
                let items: Vec<String> = list
                    .iter()
                    .map(|(endpoint, s)| {
                        format!(
                            "{{\"Endpoint\":{},\"Status\":{}}}",
                            json_string(endpoint),
                            to_json("etcdserverpb.StatusResponse", s)
                        )
                    })
                    .collect();
                println!("[{}]", items.join(","));
            }
            Format::Fields => {
                for (endpoint, s) in list {
                    Self::fields_header(&s.header);
                    println!("\"Version\" : {}", go_quote(s.version.as_bytes()));
                    println!("\"DBSize\" : {}", s.db_size);
                    println!("\"Leader\" : {}", s.leader);
                    println!("\"IsLearner\" : {}", s.is_learner);
                    println!("\"RaftIndex\" : {}", s.raft_index);
                    println!("\"RaftTerm\" : {}", s.raft_term);
                    println!("\"RaftAppliedIndex\" : {}", s.raft_applied_index);
                    println!("\"Errors\" : [{}]", s.errors.join(" "));
                    println!("\"Endpoint\" : {}", go_quote(endpoint.as_bytes()));
                    println!();
                }
            }
            Format::Protobuf => return Err(unsupported(self.format)),
        }
        Ok(())
    }

    pub fn endpoint_hashkv(&self, list: &[(String, pb::HashKvResponse)]) -> Outcome {
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|(endpoint, h)| vec![endpoint.clone(), h.hash.to_string()])
            .collect();
        match self.format {
            Format::Simple => rows.iter().for_each(|row| println!("{}", row.join(", "))),
            Format::Table => print!("{}", table(&["endpoint", "hash"], &rows)),
            Format::Json => {
                let items: Vec<String> = list
                    .iter()
                    .map(|(endpoint, h)| {
                        format!(
                            "{{\"Endpoint\":{},\"HashKV\":{}}}",
                            json_string(endpoint),
                            to_json("etcdserverpb.HashKVResponse", h)
                        )
                    })
                    .collect();
                println!("[{}]", items.join(","));
            }
            Format::Fields => {
                for (endpoint, h) in list {
                    Self::fields_header(&h.header);
                    println!("\"Endpoint\" : {}", go_quote(endpoint.as_bytes()));
                    println!("\"Hash\" : {}", h.hash);
                    println!();
                }
            }
            Format::Protobuf => return Err(unsupported(self.format)),
        }
        Ok(())
    }

    pub fn move_leader(&self, leader: u64, target: u64, r: &pb::MoveLeaderResponse) -> Outcome {
        match self.format {
            Format::Simple => {
                println!("Leadership transferred from {leader:x} to {target:x}");
                Ok(())
            }
            Format::Json | Format::Protobuf => self.message("etcdserverpb.MoveLeaderResponse", r),
            format => Err(unsupported(format)),
        }
    }

    pub fn alarm(&self, r: &pb::AlarmResponse) -> Outcome {
        let name = |alarm: i32| match alarm {
            1 => "NOSPACE",
            2 => "CORRUPT",
            _ => "NONE",
        };
        match self.format {
            Format::Simple => {
                for a in &r.alarms {
                    println!("&{{MemberID:{} Alarm:{}}}", a.member_id, name(a.alarm));
                }
            }
            Format::Fields => {
                Self::fields_header(&r.header);
                for a in &r.alarms {
                    println!("\"MemberID\" : {}", a.member_id);
                    println!("\"AlarmType\" : {}", name(a.alarm));
                    println!();
                }
            }
            _ => return self.message("etcdserverpb.AlarmResponse", r),
        }
        Ok(())
    }

    /// Auth commands whose simple output is one sentence and whose fields output is the header.
    pub fn auth_done<M: Message>(
        &self,
        sentence: &str,
        header: &Option<pb::ResponseHeader>,
        type_name: &str,
        r: &M,
    ) -> Outcome {
        match self.format {
            Format::Simple => println!("{sentence}"),
            Format::Fields => Self::fields_header(header),
            _ => return self.message(type_name, r),
        }
        Ok(())
    }

    /// `user list` / `role list`: one name per line.
    pub fn names<M: Message>(
        &self,
        names: &[String],
        header: &Option<pb::ResponseHeader>,
        type_name: &str,
        r: &M,
    ) -> Outcome {
        match self.format {
            Format::Simple => names.iter().for_each(|n| println!("{n}")),
            Format::Fields if type_name.contains("Role") => {
                Self::fields_header(header);
                let quoted: Vec<String> = names.iter().map(|n| go_quote(n.as_bytes())).collect();
                println!("\"Roles\" : {}", quoted.join(" "));
            }
            Format::Json | Format::Protobuf => return self.message(type_name, r),
            format => return Err(unsupported(format)),
        }
        Ok(())
    }
}

fn marshal_unsupported(format: Format, type_name: &str) -> Exit {
    match format {
        Format::Protobuf => fail(
            EXIT_BAD_FEATURE,
            format!("marshal unsupported for type clientv3.{type_name}"),
        ),
        format => unsupported(format),
    }
}

/// A clientv3 struct that embeds *pb.ResponseHeader: the header's fields promoted to the top.
fn embedded_header(header: &Option<pb::ResponseHeader>, rest: &[String]) -> String {
    let mut parts = Vec::new();
    if let Some(h) = header {
        let members = json::members("etcdserverpb.ResponseHeader", h);
        if !members.is_empty() {
            parts.push(members);
        }
    }
    parts.extend(rest.iter().cloned());
    format!("{{{}}}", parts.join(","))
}

fn json_string(text: &str) -> String {
    let mut out = String::new();
    json::string(text, &mut out);
    out
}

/// printKV's --hex form: every byte as \xNN.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
}

/// Go's %q of a string.
pub fn go_quote(bytes: &[u8]) -> String {
    let mut out = String::from("\"");
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    out.push_str(&format!("\\x{:02x}", c as u32))
                }
                c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// go-humanize's Bytes: SI units, one decimal below 10.
pub fn humanize_bytes(size: u64) -> String {
    if size < 10 {
        return format!("{size} B");
    }
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let exponent = ((size as f64).ln() / 1000f64.ln()).floor() as usize;
    let value = size as f64 / 1000f64.powi(exponent as i32);
    let rounded = (value * 10.0 + 0.5).floor() / 10.0;
    if rounded < 10.0 {
        format!("{rounded:.1} {}", units[exponent])
    } else {
        format!("{rounded:.0} {}", units[exponent])
    }
}

/// Go's time.Duration String(), e.g. "1.234567ms".
pub fn go_duration(d: std::time::Duration) -> String {
    let nanos = d.as_nanos();
    let trim = |s: String| -> String {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        }
    };
    if nanos < 1_000 {
        format!("{nanos}ns")
    } else if nanos < 1_000_000 {
        trim(format!("{:.3}", nanos as f64 / 1e3)) + "µs"
    } else if nanos < 1_000_000_000 {
        trim(format!("{:.6}", nanos as f64 / 1e6)) + "ms"
    } else {
        trim(format!("{:.9}", nanos as f64 / 1e9)) + "s"
    }
}

fn member_table(r: &pb::MemberListResponse) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let header = vec![
        "ID",
        "Status",
        "Name",
        "Peer Addrs",
        "Client Addrs",
        "Is Learner",
    ];
    let rows = r
        .members
        .iter()
        .map(|m| {
            vec![
                format!("{:x}", m.id),
                if m.name.is_empty() {
                    "unstarted"
                } else {
                    "started"
                }
                .to_string(),
                m.name.clone(),
                m.peer_ur_ls.join(","),
                m.client_ur_ls.join(","),
                m.is_learner.to_string(),
            ]
        })
        .collect();
    (header, rows)
}

/// olekukonko/tablewriter as etcdctl uses it: upper-case centered headers, right-aligned cells.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let border: String = widths
        .iter()
        .map(|w| format!("+{}", "-".repeat(w + 2)))
        .collect::<String>()
        + "+\n";
    let mut out = border.clone();
    for (h, w) in header.iter().zip(&widths) {
        let title = h.to_uppercase();
        let gap = w - title.chars().count();
        let left = gap / 2;
        out += &format!("| {}{}{} ", " ".repeat(left), title, " ".repeat(gap - left));
    }
    out += "|\n";
    out += &border;
    for row in rows {
        for (cell, w) in row.iter().zip(&widths) {
            out += &format!("| {cell:>w$} ");
        }
        out += "|\n";
    }
    out += &border;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_formatting() {
        assert_eq!(go_duration(std::time::Duration::from_micros(1500)), "1.5ms");
        assert_eq!(
            go_duration(std::time::Duration::from_nanos(2_000_000_000)),
            "2s"
        );
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(1_234_567), "1.2 MB");
        assert_eq!(go_quote(b"a\"b\n\x01"), "\"a\\\"b\\n\\x01\"");
    }
}

//! etcdctl's five output formats (`--write-out`): simple, json, fields, table, protobuf, and
//! what their printers share (a key-value's lines, the fields header, table drawing, the
//! errors of a format a response has no printer for). Each command's printer lives beside the
//! command (`impl Printer` in kv.rs, lease.rs, member.rs, manage.rs, auth.rs), printing as
//! etcdctl 3.4's printer for that response does; a format etcdctl has no printer for fails
//! the same way, after the request was made, as in etcdctl.

use super::flags::{Parsed, Spec};
use super::json::{self, to_json};
use super::{fail, Exit, Outcome, EXIT_BAD_FEATURE};
use crate::golang::go_quote;
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
    pub(super) hex: bool,
    /// `get --print-value-only`.
    pub value_only: bool,
}

pub(super) fn unsupported(format: Format) -> Exit {
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

    pub(super) fn kv(&self, kv: &KeyValue) {
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

    pub(super) fn fields_kv(prefix: &str, kv: &KeyValue) {
        println!("\"{prefix}Key\" : {}", go_quote(&kv.key));
        println!("\"{prefix}CreateRevision\" : {}", kv.create_revision);
        println!("\"{prefix}ModRevision\" : {}", kv.mod_revision);
        println!("\"{prefix}Version\" : {}", kv.version);
        println!("\"{prefix}Value\" : {}", go_quote(&kv.value));
        println!("\"{prefix}Lease\" : {}", kv.lease);
    }

    pub(super) fn fields_header(header: &Option<pb::ResponseHeader>) {
        let h = header.unwrap_or_default();
        println!("\"ClusterID\" : {}", h.cluster_id);
        println!("\"MemberID\" : {}", h.member_id);
        println!("\"Revision\" : {}", h.revision);
        println!("\"RaftTerm\" : {}", h.raft_term);
    }
}

pub(super) fn marshal_unsupported(format: Format, type_name: &str) -> Exit {
    match format {
        Format::Protobuf => fail(
            EXIT_BAD_FEATURE,
            format!("marshal unsupported for type clientv3.{type_name}"),
        ),
        format => unsupported(format),
    }
}

/// A clientv3 struct that embeds *pb.ResponseHeader: the header's fields promoted to the top.
pub(super) fn embedded_header(header: &Option<pb::ResponseHeader>, rest: &[String]) -> String {
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

pub(super) fn json_string(text: &str) -> String {
    let mut out = String::new();
    json::string(text, &mut out);
    out
}

/// printKV's --hex form: every byte as \xNN.
pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("\\x{b:02x}")).collect()
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

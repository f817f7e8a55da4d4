//! Key-value commands: get, put, del, txn, compaction, watch.

use super::commands::{DEL_FLAGS, PUT_FLAGS};
use super::flags::{self, Parsed, Spec};
use super::{describe, fail, quiet, Ctl, Exit, Outcome, EXIT_BAD_ARGS, EXIT_BAD_FEATURE};
use super::{EXIT_ERROR, EXIT_INVALID_INPUT};
use crate::golang::go_quote;
use crate::mvcc::prefix_end;
use crate::pb::etcdserverpb as pb;
use pb::range_request::{SortOrder, SortTarget};
use std::io::{BufRead, Read};

/// key and range_end from the arguments and --prefix/--from-key, as getGetOp/getDelOp.
fn key_range(args: &[String], prefix: bool, from_key: bool) -> Result<(Vec<u8>, Vec<u8>), Exit> {
    if prefix && from_key {
        return Err(fail(
            EXIT_BAD_ARGS,
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let mut key = args[0].as_bytes().to_vec();
    let mut range_end = Vec::new();
    if args.len() > 1 {
        if prefix || from_key {
            return Err(fail(
                EXIT_BAD_ARGS,
                "too many arguments, only accept one argument when `--prefix` or `--from-key` is set",
            ));
        }
        range_end = args[1].as_bytes().to_vec();
    }
    if prefix {
        if key.is_empty() {
            key = vec![0];
            range_end = vec![0];
        } else {
            range_end = prefix_end(&key);
        }
    }
    if from_key {
        if key.is_empty() {
            key = vec![0];
        }
        range_end = vec![0];
    }
    Ok((key, range_end))
}

fn get_request(parsed: &Parsed, specs: &[&'static Spec]) -> Result<pb::RangeRequest, Exit> {
    let args = &parsed.args;
    if args.is_empty() {
        return Err(fail(
            EXIT_BAD_ARGS,
            "get command needs one argument as key and an optional argument as range_end",
        ));
    }
    let prefix = parsed.bool(specs, "prefix");
    let from_key = parsed.bool(specs, "from-key");
    if prefix && from_key {
        return Err(fail(
            EXIT_BAD_ARGS,
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ));
    }
    let consistency = parsed.string(specs, "consistency");
    let serializable = match consistency.as_str() {
        "s" => true,
        "l" => false,
        other => {
            return Err(fail(
                EXIT_BAD_FEATURE,
                format!("unknown consistency flag {other:?}"),
            ))
        }
    };
    let (key, range_end) = key_range(args, prefix, from_key)?;
    let (order, target) = sort(parsed, specs)?;
    Ok(pb::RangeRequest {
        key,
        range_end,
        limit: parsed.int(specs, "limit"),
        revision: parsed.int(specs, "rev").max(0),
        sort_order: order as i32,
        sort_target: target as i32,
        serializable,
        keys_only: parsed.bool(specs, "keys-only"),
        ..Default::default()
    })
}

/// --order and --sort-by as clientv3.WithSort turns them into a request's sort fields.
fn sort(parsed: &Parsed, specs: &[&'static Spec]) -> Result<(SortOrder, SortTarget), Exit> {
    let order_text = parsed.string(specs, "order");
    let order = match order_text.to_uppercase().as_str() {
        "ASCEND" => SortOrder::Ascend,
        "DESCEND" => SortOrder::Descend,
        "" => SortOrder::None,
        _ => {
            return Err(fail(
                EXIT_BAD_FEATURE,
                format!("bad sort order {order_text}"),
            ))
        }
    };
    let target_text = parsed.string(specs, "sort-by");
    let target = match target_text.to_uppercase().as_str() {
        "CREATE" => SortTarget::Create,
        "KEY" | "" => SortTarget::Key,
        "MODIFY" => SortTarget::Mod,
        "VALUE" => SortTarget::Value,
        "VERSION" => SortTarget::Version,
        _ => {
            return Err(fail(
                EXIT_BAD_FEATURE,
                format!("bad sort target {target_text}"),
            ))
        }
    };
    // Sorting by key ascending is what the server does anyway; a target other than the key
    // with no order means ascending.
    let order = match (target, order) {
        (SortTarget::Key, SortOrder::Ascend) => SortOrder::None,
        (target, SortOrder::None) if target != SortTarget::Key => SortOrder::Ascend,
        (_, order) => order,
    };
    Ok((order, target))
}

pub fn get(ctl: &mut Ctl) -> Outcome {
    let request = get_request(&ctl.flags, &ctl.specs)?;
    let response: pb::RangeResponse = ctl.request("/etcdserverpb.KV/Range", &request)?;
    if ctl.bool("print-value-only") {
        if ctl.out.format != super::output::Format::Simple {
            return Err(fail(
                EXIT_BAD_ARGS,
                "print-value-only is only for `--write-out=simple`",
            ));
        }
        ctl.out.value_only = true;
    }
    ctl.out.get(&response)
}

/// `stdin`: whether a missing value may be read from standard input (not inside a txn, whose
/// lines etcdctl has already read ahead, so it finds nothing there).
fn put_request(
    parsed: &Parsed,
    specs: &[&'static Spec],
    stdin: bool,
) -> Result<pb::PutRequest, Exit> {
    let args = &parsed.args;
    let needs = || {
        fail(
            EXIT_BAD_ARGS,
            "put command needs 1 argument and input from stdin or 2 arguments",
        )
    };
    if args.is_empty() {
        return Err(needs());
    }
    let ignore_value = parsed.bool(specs, "ignore-value");
    if ignore_value && args.len() > 1 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "put command needs only 1 argument when 'ignore-value' is set",
        ));
    }
    let value = if ignore_value {
        Vec::new()
    } else if let Some(value) = args.get(1) {
        value.as_bytes().to_vec()
    } else {
        let mut input = Vec::new();
        if stdin {
            let _ = std::io::stdin().read_to_end(&mut input);
        }
        if input.is_empty() {
            return Err(needs());
        }
        input
    };
    let lease_text = parsed.string(specs, "lease");
    let lease = i64::from_str_radix(&lease_text, 16).map_err(|_| {
        fail(
            EXIT_BAD_ARGS,
            format!(
                "bad lease ID (strconv.ParseInt: parsing {lease_text:?}: invalid syntax), expecting ID in Hex"
            ),
        )
    })?;
    Ok(pb::PutRequest {
        key: args[0].as_bytes().to_vec(),
        value,
        lease,
        prev_kv: parsed.bool(specs, "prev-kv"),
        ignore_value,
        ignore_lease: parsed.bool(specs, "ignore-lease"),
    })
}

pub fn put(ctl: &mut Ctl) -> Outcome {
    let request = put_request(&ctl.flags, &ctl.specs, true)?;
    let response: pb::PutResponse = ctl.request("/etcdserverpb.KV/Put", &request)?;
    ctl.out.put(&response)
}

fn del_request(parsed: &Parsed, specs: &[&'static Spec]) -> Result<pb::DeleteRangeRequest, Exit> {
    let args = &parsed.args;
    if args.is_empty() || args.len() > 2 {
        return Err(fail(
            EXIT_BAD_ARGS,
            "del command needs one argument as key and an optional argument as range_end",
        ));
    }
    let (key, range_end) = key_range(
        args,
        parsed.bool(specs, "prefix"),
        parsed.bool(specs, "from-key"),
    )?;
    Ok(pb::DeleteRangeRequest {
        key,
        range_end,
        prev_kv: parsed.bool(specs, "prev-kv"),
    })
}

pub fn del(ctl: &mut Ctl) -> Outcome {
    let request = del_request(&ctl.flags, &ctl.specs)?;
    let response: pb::DeleteRangeResponse =
        ctl.request("/etcdserverpb.KV/DeleteRange", &request)?;
    ctl.out.del(&response)
}

pub fn compaction(ctl: &mut Ctl) -> Outcome {
    let args = ctl.args();
    if args.len() != 1 {
        return Err(fail(EXIT_BAD_ARGS, "compaction command needs 1 argument"));
    }
    let revision: i64 = args[0].parse().map_err(|_| {
        fail(
            EXIT_ERROR,
            format!("strconv.ParseInt: parsing {:?}: invalid syntax", args[0]),
        )
    })?;
    let request = pb::CompactionRequest {
        revision,
        physical: ctl.bool("physical"),
    };
    let _: pb::CompactionResponse = ctl.request("/etcdserverpb.KV/Compact", &request)?;
    println!("compacted revision {revision}");
    Ok(())
}

pub fn txn(ctl: &mut Ctl) -> Outcome {
    if !ctl.args().is_empty() {
        return Err(fail(EXIT_BAD_ARGS, "txn command does not accept argument"));
    }
    let interactive = ctl.bool("interactive");
    let prompt = |text: &str| {
        if interactive {
            println!("{text}");
        }
    };
    let channel = ctl.connect()?;
    let mut input = std::io::stdin().lock();
    prompt("compares:");
    let mut compare = Vec::new();
    for line in read_section(&mut input)? {
        compare.push(parse_compare(&line).map_err(|e| fail(EXIT_INVALID_INPUT, e))?);
    }
    prompt("success requests (get, put, del):");
    let success = read_ops(&mut input)?;
    prompt("failure requests (get, put, del):");
    let failure = read_ops(&mut input)?;
    let request = pb::TxnRequest {
        compare,
        success,
        failure,
    };
    let response: pb::TxnResponse = ctl.call(&channel, "/etcdserverpb.KV/Txn", &request)?;
    ctl.out.txn(&response)
}

/// Lines up to the next empty line; the input ending first is an error, as in etcdctl.
fn read_section(input: &mut impl BufRead) -> Result<Vec<String>, Exit> {
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        let read = input
            .read_line(&mut line)
            .map_err(|e| fail(EXIT_INVALID_INPUT, e.to_string()))?;
        if read == 0 || !line.ends_with('\n') {
            return Err(fail(EXIT_INVALID_INPUT, "EOF"));
        }
        let line = line.trim();
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line.to_string());
    }
}

fn read_ops(input: &mut impl BufRead) -> Result<Vec<pb::RequestOp>, Exit> {
    read_section(input)?
        .iter()
        .map(|line| parse_op(line))
        .collect()
}

/// `put k v`, `get k --prefix`, `del k` inside a txn: the command's own flags apply.
fn parse_op(line: &str) -> Result<pb::RequestOp, Exit> {
    use pb::request_op::Request;
    let args = argify(line)?;
    let invalid = || fail(EXIT_INVALID_INPUT, format!("invalid txn request: {line}"));
    if args.len() < 2 {
        return Err(fail(
            EXIT_INVALID_INPUT,
            format!("invalid txn compare request: {line}"),
        ));
    }
    let specs_of = |flags: &'static [&'static Spec]| -> Vec<&'static Spec> {
        flags
            .iter()
            .copied()
            .chain(std::iter::once(&HELP))
            .collect()
    };
    let request = match args[0].as_str() {
        "put" => {
            let specs = specs_of(PUT_FLAGS);
            let parsed = flags::parse(&specs, &args[1..]).map_err(|_| invalid())?;
            Request::RequestPut(put_request(&parsed, &specs, false)?)
        }
        "get" => {
            let command = super::commands::COMMANDS
                .iter()
                .find(|c| c.path == "get")
                .expect("get is a command");
            let specs = specs_of(command.flags);
            let parsed = flags::parse(&specs, &args[1..]).map_err(|_| invalid())?;
            Request::RequestRange(get_request(&parsed, &specs)?)
        }
        "del" => {
            let specs = specs_of(DEL_FLAGS);
            let parsed = flags::parse(&specs, &args[1..]).map_err(|_| invalid())?;
            Request::RequestDeleteRange(del_request(&parsed, &specs)?)
        }
        _ => return Err(invalid()),
    };
    Ok(pb::RequestOp {
        request: Some(request),
    })
}

static HELP: Spec = flags::short("help", 'h', flags::Kind::Bool, "false", "");

/// etcdctl's argify: whitespace-separated words, "double-quoted" (Go escapes) or 'single-quoted'.
fn argify(line: &str) -> Result<Vec<String>, Exit> {
    let mut args = Vec::new();
    let mut rest = line.trim_start();
    while !rest.is_empty() {
        if rest.starts_with('"') {
            let (text, after) = go_unquote(rest).map_err(|e| fail(EXIT_INVALID_INPUT, e))?;
            args.push(text);
            rest = after;
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').unwrap_or(quoted.len());
            args.push(quoted[..end].to_string());
            rest = quoted.get(end + 1..).unwrap_or("");
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            args.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    Ok(args)
}

/// A Go double-quoted string at the start of `text`: its value and the text after it.
fn go_unquote(text: &str) -> Result<(String, &str), String> {
    let mut chars = text.char_indices();
    if chars.next().map(|(_, c)| c) != Some('"') {
        return Err("expected a quoted string".into());
    }
    let mut out = Vec::<u8>::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((String::from_utf8_lossy(&out).into_owned(), &text[i + 1..])),
            '\\' => {
                let (_, e) = chars.next().ok_or("invalid syntax")?;
                match e {
                    'n' => out.push(b'\n'),
                    't' => out.push(b'\t'),
                    'r' => out.push(b'\r'),
                    'a' => out.push(7),
                    'b' => out.push(8),
                    'f' => out.push(12),
                    'v' => out.push(11),
                    '\\' => out.push(b'\\'),
                    '"' => out.push(b'"'),
                    '\'' => out.push(b'\''),
                    'x' => {
                        let hex: String = (0..2)
                            .filter_map(|_| chars.next().map(|(_, c)| c))
                            .collect();
                        out.push(u8::from_str_radix(&hex, 16).map_err(|_| "invalid syntax")?);
                    }
                    _ => return Err("invalid syntax".into()),
                }
            }
            c => {
                let mut buffer = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buffer).as_bytes());
            }
        }
    }
    Err("unexpected EOF".into())
}

/// `target("key") op "value"`, e.g. `mod("k") > "0"`, `val("k") = "v"`.
fn parse_compare(line: &str) -> Result<pb::Compare, String> {
    use pb::compare::{CompareResult, CompareTarget, TargetUnion};
    let malformed = || format!("malformed comparison: {line}");
    let (target, rest) = line.split_once('(').ok_or_else(malformed)?;
    let (key, rest) = go_unquote(rest).map_err(|_| malformed())?;
    let rest = rest.strip_prefix(')').ok_or_else(malformed)?.trim_start();
    let (op, rest) = rest.split_once(char::is_whitespace).ok_or_else(malformed)?;
    let (value, _) = go_unquote(rest.trim_start()).map_err(|_| malformed())?;
    let result = match op {
        "=" | "==" => CompareResult::Equal,
        "!=" => CompareResult::NotEqual,
        "<" => CompareResult::Less,
        ">" => CompareResult::Greater,
        _ => return Err(format!("malformed comparison: {line} (unknown op {op})")),
    };
    let number = || {
        value
            .parse::<i64>()
            .map_err(|_| format!("invalid txn compare request: {line}"))
    };
    let (target, union) = match target {
        "ver" | "version" => (CompareTarget::Version, TargetUnion::Version(number()?)),
        "c" | "create" => (
            CompareTarget::Create,
            TargetUnion::CreateRevision(number()?),
        ),
        "m" | "mod" => (CompareTarget::Mod, TargetUnion::ModRevision(number()?)),
        "val" | "value" => (CompareTarget::Value, TargetUnion::Value(value.into_bytes())),
        "lease" => (CompareTarget::Lease, TargetUnion::Lease(number()?)),
        other => {
            return Err(format!(
                "malformed comparison: {line} (unknown target {other})"
            ))
        }
    };
    Ok(pb::Compare {
        result: result as i32,
        target: target as i32,
        key: key.into_bytes(),
        range_end: Vec::new(),
        target_union: Some(union),
    })
}

pub fn watch(ctl: &mut Ctl) -> Outcome {
    if ctl.bool("interactive") {
        return watch_interactive(ctl);
    }
    let (watch_args, exec): (Vec<String>, Vec<String>) = match ctl.flags.before_dash {
        Some(n) if n > 0 => (ctl.args()[..n].to_vec(), ctl.args()[n..].to_vec()),
        _ => (ctl.args().to_vec(), Vec::new()),
    };
    let env_key = std::env::var("ETCDCTL_WATCH_KEY").unwrap_or_default();
    let env_range = std::env::var("ETCDCTL_WATCH_RANGE_END").unwrap_or_default();
    let mut watch_args = watch_args;
    if watch_args.is_empty() && !env_key.is_empty() {
        watch_args.push(env_key);
        if !env_range.is_empty() {
            watch_args.push(env_range);
        }
    }
    let create = watch_request(&ctl.flags, &ctl.specs, &watch_args)?;
    let channel = ctl.connect()?;
    crate::runtime::block_on(async {
        let stream = channel
            .duplex::<pb::WatchResponse>("/etcdserverpb.Watch/Watch")
            .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
        stream
            .send(&create)
            .await
            .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
        while let Ok(response) = stream.responses.recv().await {
            if show_watch_response(ctl, &response)? {
                run_for_events(&exec, &response)?;
            }
            if response.canceled {
                break;
            }
        }
        report_stream_error(&stream);
        Err(fail(
            super::EXIT_INTERRUPTED,
            "watch is canceled by the server",
        ))
    })
}

/// The create request for `key [range_end]` with --prefix, --rev and --prev-kv.
fn watch_request(
    parsed: &Parsed,
    specs: &[&'static Spec],
    args: &[String],
) -> Result<pb::WatchRequest, Exit> {
    if args.is_empty() || args.len() > 2 {
        return Err(fail(EXIT_BAD_ARGS, "bad number of arguments"));
    }
    let prefix = parsed.bool(specs, "prefix");
    if args.len() == 2 && prefix {
        return Err(fail(
            EXIT_BAD_ARGS,
            "`range_end` and `--prefix` are mutually exclusive",
        ));
    }
    let key = args[0].as_bytes().to_vec();
    let range_end = match (&args.get(1), prefix) {
        (Some(end), _) => end.as_bytes().to_vec(),
        (None, true) if key.is_empty() => vec![0],
        (None, true) => prefix_end(&key),
        (None, false) => Vec::new(),
    };
    Ok(pb::WatchRequest {
        request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
            pb::WatchCreateRequest {
                key,
                range_end,
                start_revision: parsed.int(specs, "rev"),
                prev_kv: parsed.bool(specs, "prev-kv"),
                ..Default::default()
            },
        )),
    })
}

/// A watch stream the server ended with an error: clientv3 hands the watcher a canceled
/// response carrying it, which etcdctl prints.
fn report_stream_error(stream: &crate::client::Duplex<pb::WatchResponse>) {
    if let Some(error) = stream.error() {
        eprintln!("watch was canceled ({})", describe(error));
    }
}

/// Prints one watch response as etcdctl does; false for the creation notice, which clientv3
/// keeps to itself.
fn show_watch_response(ctl: &Ctl, response: &pb::WatchResponse) -> Result<bool, Exit> {
    if response.created && response.events.is_empty() && !response.canceled {
        return Ok(false);
    }
    if response.canceled {
        let reason = if response.compact_revision > 0 {
            "etcdserver: mvcc: required revision has been compacted".to_string()
        } else {
            response.cancel_reason.clone()
        };
        eprintln!("watch was canceled ({reason})");
    }
    let header_revision = response.header.as_ref().map_or(0, |h| h.revision);
    if response.events.is_empty()
        && !response.canceled
        && response.compact_revision == 0
        && header_revision != 0
    {
        println!("progress notify: {header_revision}");
    }
    ctl.out.watch(response)?;
    Ok(true)
}

/// `watch -i`: lines from standard input, `watch key [range_end] [--prefix --rev N --prev-kv]`
/// or `progress`, all on one watch stream; the input ending is an error, as in etcdctl.
fn watch_interactive(ctl: &Ctl) -> Outcome {
    enum Next {
        Line(Option<String>),
        Response(Option<pb::WatchResponse>),
    }
    let channel = ctl.connect()?;
    let (lines, input) = smol::channel::unbounded();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if lines.send_blocking(line).is_err() {
                return;
            }
        }
    });
    let command = super::commands::COMMANDS
        .iter()
        .find(|c| c.path == "watch")
        .expect("watch is a command");
    let specs: Vec<&'static Spec> = command.flags.iter().copied().chain([&HELP]).collect();
    crate::runtime::block_on(async {
        let stream = channel
            .duplex::<pb::WatchResponse>("/etcdserverpb.Watch/Watch")
            .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
        loop {
            let next = smol::future::or(async { Next::Line(input.recv().await.ok()) }, async {
                Next::Response(stream.responses.recv().await.ok())
            })
            .await;
            let line = match next {
                Next::Response(Some(response)) => {
                    show_watch_response(ctl, &response)?;
                    continue;
                }
                Next::Response(None) => {
                    report_stream_error(&stream);
                    return Err(fail(
                        super::EXIT_INTERRUPTED,
                        "watch is canceled by the server",
                    ));
                }
                Next::Line(None) => {
                    return Err(fail(
                        EXIT_INVALID_INPUT,
                        "Error reading watch request line: EOF",
                    ))
                }
                Next::Line(Some(line)) => line,
            };
            if let Some(request) = interactive_request(&line, &specs)? {
                stream
                    .send(&request)
                    .await
                    .map_err(|e| fail(EXIT_ERROR, describe(e)))?;
            }
        }
    })
}

/// One line of `watch -i`: a request to send, or None after saying why the line is not one
/// (as etcdctl, which keeps reading).
fn interactive_request(
    line: &str,
    specs: &[&'static Spec],
) -> Result<Option<pb::WatchRequest>, Exit> {
    let words = argify(line)?;
    let invalid = |why: &str| {
        eprintln!("Invalid command{why}");
        Ok(None)
    };
    match words.first().map(String::as_str) {
        None => invalid(&format!(": {line} (watch and progress supported)")),
        Some("progress") => Ok(Some(pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::ProgressRequest(
                pb::WatchProgressRequest {},
            )),
        })),
        Some("watch") if words.len() < 2 => {
            invalid(&format!(" {line} (command type or key is not provided)"))
        }
        Some("watch") => {
            let parsed = flags::parse(specs, &words[1..]).map_err(|e| fail(EXIT_BAD_ARGS, e))?;
            match watch_request(&parsed, specs, &parsed.args) {
                Ok(request) => Ok(Some(request)),
                Err(e) => invalid(&format!(" {line} ({})", e.message.unwrap_or_default())),
            }
        }
        Some(_) => invalid(&format!(" {line} (only support watch)")),
    }
}

/// `watch key -- command args`: the command runs once per event with ETCD_WATCH_* set.
fn run_for_events(exec: &[String], response: &pb::WatchResponse) -> Outcome {
    let Some((program, args)) = exec.split_first() else {
        return Ok(());
    };
    let revision = response.header.as_ref().map_or(0, |h| h.revision);
    for event in &response.events {
        let kv = event.kv.clone().unwrap_or_default();
        let kind = if event.r#type == 1 { "DELETE" } else { "PUT" };
        let status = std::process::Command::new(program)
            .args(args)
            .env("ETCD_WATCH_REVISION", revision.to_string())
            .env("ETCD_WATCH_EVENT_TYPE", format!("\"{kind}\""))
            .env("ETCD_WATCH_KEY", go_quote(&kv.key))
            .env("ETCD_WATCH_VALUE", go_quote(&kv.value))
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            let quoted: Vec<String> = exec.iter().map(|a| go_quote(a.as_bytes())).collect();
            let why = match status {
                Ok(s) => format!("{s}"),
                Err(e) => e.to_string(),
            };
            eprintln!("command [{}] error ({why})", quoted.join(" "));
            return Err(quiet(EXIT_ERROR));
        }
    }
    Ok(())
}

use super::json;
use super::output::{unsupported, Format};
use crate::pb::mvccpb::KeyValue;
use prost::Message;
use std::io::Write;

/// etcdctl 3.4's printers for these commands (the formats: output.rs).
impl super::output::Printer {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txn_compare_grammar() {
        let c = parse_compare(r#"mod("key1") > "0""#).unwrap();
        assert_eq!(c.key, b"key1");
        assert!(parse_compare("nonsense").is_err());
        assert_eq!(argify(r#"put k "a b""#).unwrap(), ["put", "k", "a b"]);
        assert_eq!(prefix_end(b"a\xff"), b"b");
    }
}

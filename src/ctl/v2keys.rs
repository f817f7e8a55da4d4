//! ETCDCTL_API=2's key commands (set, get, mk, mkdir, rm, rmdir, ls, update, updatedir) over
//! /v2/keys, printing what etcdctl 3.4's v2 mode prints in its simple, extended and json
//! outputs, and its errors ("Error:  100: Key not found (/a) [7]", exit 4).

use super::flags::{self, flag, short, Kind, Parsed, Spec};
use super::v2::Context;
use crate::golang::query_escape;
use serde_json::Value;

const EXIT_BAD_ARGS: u8 = 1;
const EXIT_SERVER_ERROR: u8 = 4;

static TTL: &[Spec] = &[flag("ttl", Kind::Int, "0", "")];
static NONE: &[Spec] = &[];
static SET: &[Spec] = &[
    flag("ttl", Kind::Int, "0", ""),
    flag("swap-with-value", Kind::String, "", ""),
    flag("swap-with-index", Kind::Int, "0", ""),
];
static MK: &[Spec] = &[
    flag("in-order", Kind::Bool, "false", ""),
    flag("ttl", Kind::Int, "0", ""),
];
static RM: &[Spec] = &[
    flag("dir", Kind::Bool, "false", ""),
    short("recursive", 'r', Kind::Bool, "false", ""),
    flag("with-value", Kind::String, "", ""),
    flag("with-index", Kind::Int, "0", ""),
];
static LS: &[Spec] = &[
    flag("sort", Kind::Bool, "false", ""),
    short("recursive", 'r', Kind::Bool, "false", ""),
    short("p", 'p', Kind::Bool, "false", ""),
    short("quorum", 'q', Kind::Bool, "false", ""),
];
static GET: &[Spec] = &[
    flag("sort", Kind::Bool, "false", ""),
    short("quorum", 'q', Kind::Bool, "false", ""),
];

/// The commands this module serves.
pub const COMMANDS: [&str; 11] = [
    "set",
    "get",
    "mk",
    "mkdir",
    "rm",
    "rmdir",
    "ls",
    "update",
    "updatedir",
    "watch",
    "exec-watch",
];

static WATCH: &[Spec] = &[
    short("forever", 'f', Kind::Bool, "false", ""),
    flag("after-index", Kind::Int, "0", ""),
    short("recursive", 'r', Kind::Bool, "false", ""),
];
static EXEC_WATCH: &[Spec] = &[
    flag("after-index", Kind::Int, "0", ""),
    short("recursive", 'r', Kind::Bool, "false", ""),
];

/// A node as Go's v2 client marshals it (client.Node).
fn node_json(node: &Value, out: &mut String) {
    out.push_str("{\"key\":");
    crate::golang::json_string(node["key"].as_str().unwrap_or(""), out);
    if node["dir"].as_bool() == Some(true) {
        out.push_str(",\"dir\":true");
    }
    out.push_str(",\"value\":");
    crate::golang::json_string(node["value"].as_str().unwrap_or(""), out);
    out.push_str(",\"nodes\":");
    match node["nodes"].as_array() {
        Some(nodes) => {
            out.push('[');
            for (i, child) in nodes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                node_json(child, out);
            }
            out.push(']');
        }
        None => out.push_str("null"),
    }
    let number = |name: &str| node[name].as_u64().unwrap_or(0);
    out.push_str(&format!(
        ",\"createdIndex\":{},\"modifiedIndex\":{}",
        number("createdIndex"),
        number("modifiedIndex")
    ));
    if let Some(expiration) = node["expiration"].as_str() {
        out.push_str(&format!(",\"expiration\":\"{expiration}\""));
    }
    if let Some(ttl) = node["ttl"].as_i64().filter(|t| *t != 0) {
        out.push_str(&format!(",\"ttl\":{ttl}"));
    }
    out.push('}');
}

/// etcdctl's printResponseKey.
fn print_response(output: &str, answer: &Value, index: &str) {
    let node = &answer["node"];
    let prev = &answer["prevNode"];
    let action = answer["action"].as_str().unwrap_or("");
    let value = |n: &Value| n["value"].as_str().unwrap_or("").to_string();
    match output {
        "extended" => {
            println!("Key: {}", node["key"].as_str().unwrap_or(""));
            println!(
                "Created-Index: {}",
                node["createdIndex"].as_u64().unwrap_or(0)
            );
            println!(
                "Modified-Index: {}",
                node["modifiedIndex"].as_u64().unwrap_or(0)
            );
            if !prev.is_null() {
                println!("PrevNode.Value: {}", value(prev));
            }
            println!("TTL: {}", node["ttl"].as_i64().unwrap_or(0));
            println!("Index: {index}");
            if action != "delete" {
                println!();
                println!("{}", value(node));
            }
        }
        "json" => {
            let mut out = String::from("{\"action\":");
            crate::golang::json_string(action, &mut out);
            out.push_str(",\"node\":");
            node_json(node, &mut out);
            out.push_str(",\"prevNode\":");
            if prev.is_null() {
                out.push_str("null");
            } else {
                node_json(prev, &mut out);
            }
            out.push('}');
            println!("{out}");
        }
        _ if action != "delete" => println!("{}", value(node)),
        _ => println!("PrevNode.Value: {}", value(prev)),
    }
}

fn print_tree(node: &Value, slash: bool) {
    let key = node["key"].as_str().unwrap_or("");
    if node["dir"].as_bool() == Some(true) && slash {
        println!("{key}/");
    } else {
        println!("{key}");
    }
    for child in node["nodes"].as_array().into_iter().flatten() {
        print_tree(child, slash);
    }
}

/// Prints a v2 error answer as etcdctl does; true if `answer` was one.
fn print_error(answer: &Value) -> bool {
    let Some(code) = answer["errorCode"].as_u64() else {
        return false;
    };
    // etcdctl 3.4 prints this form whatever --output says.
    eprintln!(
        "Error:  {code}: {} ({}) [{}]",
        answer["message"].as_str().unwrap_or(""),
        answer["cause"].as_str().unwrap_or(""),
        answer["index"].as_u64().unwrap_or(0)
    );
    true
}

/// The next change of `key` (of anything under it if `recursive`) at or after `*next` (the
/// next one if None), with the X-Etcd-Index it came with; `*next` moves past it. An error is
/// printed as etcdctl prints it and answered with its exit code.
fn next_change(
    context: &Context,
    key: &str,
    recursive: bool,
    next: &mut Option<u64>,
) -> Result<(String, Value), u8> {
    let key_path = if key.starts_with('/') {
        key.to_string()
    } else {
        format!("/{key}")
    };
    let mut path = format!("/v2/keys{key_path}?wait=true");
    if recursive {
        path.push_str("&recursive=true");
    }
    if let Some(index) = next {
        path.push_str(&format!("&waitIndex={index}"));
    }
    let answer = context
        .request_waiting("GET", &path)
        .and_then(|(index, text)| {
            serde_json::from_str::<Value>(&text)
                .map(|answer| (index, answer))
                .map_err(|_| text.trim_end().to_string())
        });
    let (index, answer) = answer.map_err(|error| {
        eprintln!("Error:  {error}");
        EXIT_SERVER_ERROR
    })?;
    if print_error(&answer) {
        return Err(EXIT_SERVER_ERROR);
    }
    *next = Some(answer["node"]["modifiedIndex"].as_u64().unwrap_or(0) + 1);
    Ok((index, answer))
}

/// etcdctl's --after-index: None (the next change) or the index after it.
fn after_index(parsed: &flags::Parsed, specs: &[&'static Spec]) -> Option<u64> {
    match parsed.int(specs, "after-index") {
        0 => None,
        after => Some(after as u64 + 1),
    }
}

/// `watch KEY`: waits for the next change (after --after-index), prints it, and with
/// --forever goes on from the index after it; directory events are skipped.
fn watch(
    context: &Context,
    output: &str,
    key: &str,
    parsed: &flags::Parsed,
    specs: &[&'static Spec],
) -> u8 {
    let recursive = parsed.bool(specs, "recursive");
    let forever = parsed.bool(specs, "forever");
    let mut next = after_index(parsed, specs);
    loop {
        let (index, answer) = match next_change(context, key, recursive, &mut next) {
            Ok(change) => change,
            Err(code) => return code,
        };
        let node = &answer["node"];
        if node["dir"].as_bool() == Some(true) {
            continue;
        }
        if recursive {
            println!(
                "[{}] {}",
                answer["action"].as_str().unwrap_or(""),
                node["key"].as_str().unwrap_or("")
            );
        }
        print_response(output, &answer, &index);
        if !forever {
            return 0;
        }
    }
}

/// `exec-watch KEY -- COMMAND [ARGS...]`: runs the command (without waiting for it) on every
/// change of the key, with ETCD_WATCH_ACTION, _MODIFIED_INDEX, _KEY and _VALUE in its
/// environment, until interrupted or the watch fails.
fn exec_watch(context: &Context, parsed: &flags::Parsed, specs: &[&'static Spec]) -> u8 {
    // etcdctl's arguments as etcd 3.4's urfave/cli (v1.20) leaves them: `--` kept where it
    // was. (Debian's etcdctl links a newer urfave/cli that moves it first, so that there the
    // key is always taken from the end and `exec-watch KEY -- COMMAND` watches the command.)
    let mut args = parsed.args.clone();
    if let Some(at) = parsed.before_dash {
        args.insert(at, "--".into());
    }
    if args.len() < 2 {
        eprintln!("Error:  key and command to exec required");
        return EXIT_BAD_ARGS;
    }
    let separated = args.iter().skip(1).any(|a| a == "--");
    let (key, command) = if separated {
        (args[0].clone(), args[2..].to_vec())
    } else {
        // etcdctl's rule without a `--`: the key is the last argument.
        let (key, command) = args.split_last().expect("two or more arguments");
        (key.clone(), command.to_vec())
    };
    let recursive = parsed.bool(specs, "recursive");
    let mut next = after_index(parsed, specs);
    loop {
        let answer = match next_change(context, &key, recursive, &mut next) {
            Ok((_, answer)) => answer,
            Err(code) => return code,
        };
        let node = &answer["node"];
        let text = |value: &Value| value.as_str().unwrap_or("").to_string();
        if node["dir"].as_bool() == Some(true) {
            eprintln!("Ignored dir {} change", text(&node["key"]));
            continue;
        }
        let Some((program, program_args)) = command.split_first() else {
            eprint!("exec: no command");
            return EXIT_BAD_ARGS;
        };
        let started = std::process::Command::new(program)
            .args(program_args)
            .env("ETCD_WATCH_ACTION", text(&answer["action"]))
            .env(
                "ETCD_WATCH_MODIFIED_INDEX",
                node["modifiedIndex"].as_u64().unwrap_or(0).to_string(),
            )
            .env("ETCD_WATCH_KEY", text(&node["key"]))
            .env("ETCD_WATCH_VALUE", text(&node["value"]))
            .spawn();
        match started {
            // Reaped on a thread of its own; the watch goes on meanwhile, as etcdctl's does.
            Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
            Err(error) => {
                // Go's os/exec words.
                if error.kind() == std::io::ErrorKind::NotFound && !program.contains('/') {
                    eprint!("exec: {program:?}: executable file not found in $PATH");
                } else {
                    eprint!("fork/exec {program}: {}", crate::http1::os_error(&error));
                }
                return EXIT_BAD_ARGS;
            }
        }
    }
}

/// Runs a key command; the exit code etcdctl gives.
pub fn run(context: &Context, output: &str, command: &str, args: &[String]) -> u8 {
    let specs: &'static [Spec] = match command {
        "set" => SET,
        "mk" => MK,
        "rm" => RM,
        "rmdir" => NONE,
        "ls" => LS,
        "get" => GET,
        "watch" => WATCH,
        "exec-watch" => EXEC_WATCH,
        _ => TTL,
    };
    let specs: Vec<&'static Spec> = specs.iter().collect();
    let parsed = match flags::parse(&specs, &super::v2::go_flags(args)) {
        Ok(parsed) => parsed,
        Err(error) => {
            eprintln!("Error:  {error}");
            return EXIT_BAD_ARGS;
        }
    };
    if command == "exec-watch" {
        return exec_watch(context, &parsed, &specs);
    }
    let positional = &parsed.args;
    let key = positional.first().cloned();
    let needs_value = matches!(command, "set" | "mk" | "update");
    let Some(key) = key.or_else(|| (command == "ls").then(|| "/".to_string())) else {
        eprintln!("Error:  {command}: key required");
        return EXIT_BAD_ARGS;
    };
    if command == "watch" {
        return watch(context, output, &key, &parsed, &specs);
    }
    let value = positional.get(1).cloned();
    if needs_value && value.is_none() {
        eprintln!("Error:  {command}: value required");
        return EXIT_BAD_ARGS;
    }
    let value = value.unwrap_or_default();
    let (method, query, body) = request(command, &parsed, &specs, &value);
    let path = key_path(&key, &query);
    let (index, text) = match context.request(method, &path, &body.join("&")) {
        Ok(answer) => answer,
        Err(error) => {
            eprintln!("Error:  {error}");
            return EXIT_SERVER_ERROR;
        }
    };
    let Ok(answer) = serde_json::from_str::<Value>(&text) else {
        eprintln!("Error:  {}", text.trim_end());
        return EXIT_SERVER_ERROR;
    };
    if print_error(&answer) {
        return EXIT_SERVER_ERROR;
    }
    let with_slash = command == "ls" && parsed.bool(&specs, "p");
    show(command, output, &answer, &index, with_slash)
}

/// The v2 request a key command makes: method, query parameters and form body.
fn request(
    command: &str,
    parsed: &Parsed,
    specs: &[&'static Spec],
    value: &str,
) -> (&'static str, Vec<String>, Vec<String>) {
    let mut query: Vec<String> = Vec::new();
    let mut body: Vec<String> = Vec::new();
    if specs.iter().any(|s| s.name == "ttl") && parsed.int(specs, "ttl") > 0 {
        query.push(format!("ttl={}", parsed.int(specs, "ttl")));
    }
    let method = match command {
        "set" | "mk" | "mkdir" | "update" | "updatedir" => {
            write_request(command, parsed, specs, &mut query)
        }
        "rm" | "rmdir" => delete_request(command, parsed, specs, &mut query),
        _ => read_request(command, parsed, specs, &mut query),
    };
    if matches!(command, "set" | "mk" | "update") {
        body.push(format!("value={}", query_escape(value)));
    }
    (method, query, body)
}

/// set, mk, mkdir, update, updatedir: their method and conditions.
fn write_request(
    command: &str,
    parsed: &Parsed,
    specs: &[&'static Spec],
    query: &mut Vec<String>,
) -> &'static str {
    let string = |name: &str| parsed.string(specs, name);
    match command {
        "set" => {
            if !string("swap-with-value").is_empty() {
                query.push(format!(
                    "prevValue={}",
                    query_escape(&string("swap-with-value"))
                ));
            }
            if parsed.int(specs, "swap-with-index") > 0 {
                query.push(format!(
                    "prevIndex={}",
                    parsed.int(specs, "swap-with-index")
                ));
            }
            "PUT"
        }
        "mk" if parsed.bool(specs, "in-order") => "POST",
        "mk" => {
            query.push("prevExist=false".into());
            "PUT"
        }
        "mkdir" => {
            query.extend(["dir=true".to_string(), "prevExist=false".to_string()]);
            "PUT"
        }
        "update" => {
            query.push("prevExist=true".into());
            "PUT"
        }
        _ => {
            query.extend(["dir=true".to_string(), "prevExist=true".to_string()]);
            "PUT"
        }
    }
}

/// rm, rmdir: DELETE with their conditions.
fn delete_request(
    command: &str,
    parsed: &Parsed,
    specs: &[&'static Spec],
    query: &mut Vec<String>,
) -> &'static str {
    if command == "rmdir" {
        query.push("dir=true".into());
        return "DELETE";
    }
    if parsed.bool(specs, "dir") {
        query.push("dir=true".into());
    }
    if parsed.bool(specs, "recursive") {
        query.push("recursive=true".into());
    }
    let with_value = parsed.string(specs, "with-value");
    if !with_value.is_empty() {
        query.push(format!("prevValue={}", query_escape(&with_value)));
    }
    if parsed.int(specs, "with-index") > 0 {
        query.push(format!("prevIndex={}", parsed.int(specs, "with-index")));
    }
    "DELETE"
}

/// get, ls: GET with sorting, recursion (ls) and quorum reads.
fn read_request(
    command: &str,
    parsed: &Parsed,
    specs: &[&'static Spec],
    query: &mut Vec<String>,
) -> &'static str {
    if parsed.bool(specs, "sort") {
        query.push("sorted=true".into());
    }
    if command == "ls" && parsed.bool(specs, "recursive") {
        query.push("recursive=true".into());
    }
    if parsed.bool(specs, "quorum") {
        query.push("quorum=true".into());
    }
    "GET"
}

/// /v2/keys/KEY?QUERY, each path segment form-escaped as etcdctl's client does.
fn key_path(key: &str, query: &[String]) -> String {
    format!(
        "/v2/keys{}{}{}",
        if key.starts_with('/') { "" } else { "/" },
        key.split('/')
            .map(query_escape)
            .collect::<Vec<_>>()
            .join("/"),
        if query.is_empty() {
            String::new()
        } else {
            format!("?{}", query.join("&"))
        }
    )
}

/// Prints a successful answer as etcdctl does for `command`; the exit code.
fn show(command: &str, output: &str, answer: &Value, index: &str, with_slash: bool) -> u8 {
    let is_dir = answer["node"]["dir"].as_bool() == Some(true);
    match command {
        "get" if is_dir => {
            eprintln!(
                "{}: is a directory",
                answer["node"]["key"].as_str().unwrap_or("")
            );
            return EXIT_BAD_ARGS;
        }
        "ls" if output == "simple" => {
            if !is_dir {
                println!("{}", answer["node"]["key"].as_str().unwrap_or(""));
            }
            for child in answer["node"]["nodes"].as_array().into_iter().flatten() {
                print_tree(child, with_slash);
            }
        }
        "mkdir" | "updatedir" if output == "simple" => {}
        "rm" | "rmdir" if is_dir && output == "simple" => {}
        _ => print_response(output, answer, index),
    }
    0
}

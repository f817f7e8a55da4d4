//! The v2 keys API (--enable-v2): the same curl requests and Debian's `ETCDCTL_API=2 etcdctl`
//! commands against Debian's etcd 3.4 and against ours give the same status codes and bodies
//! once indexes and times are masked (etcd's v2 index also counts its own member
//! publications); watches, TTL expiry and in-order keys; a 3-member cluster where a follower
//! serves what the leader wrote and the data outlives a restart; without --enable-v2 nothing
//! is served under /v2/keys.

use crate::common;

use common::{our_binary, start_member, temp_dir, wait_until, Member, DEBIAN_ETCD};
use regex::Regex;
use std::path::Path;
use std::time::Duration;

/// (method, path under /v2/keys, form body) in order; `WATCH path` waits in the background
/// for the next event on the path (from the next index on, so the write after it cannot slip
/// in first) and is answered by the step after it.
const STEPS: &[(&str, &str, &str)] = &[
    ("PUT", "/foo", "value=bar"),
    ("PUT", "/foo", "value=baz"),
    ("GET", "/foo", ""),
    ("GET", "/nothing", ""),
    ("PUT", "/dir/a", "value=1"),
    ("PUT", "/dir/b", "value=2"),
    ("PUT", "/dir/_hidden", "value=h"),
    ("GET", "/dir/_hidden", ""),
    ("GET", "/dir?sorted=true", ""),
    ("GET", "/dir?recursive=true&sorted=true", ""),
    ("GET", "/?sorted=true", ""),
    ("PUT", "/dir/a/x", "value=1"),
    ("PUT", "/dir", "value=v"),
    ("PUT", "/foo?prevExist=false", "value=x"),
    ("PUT", "/new?prevExist=true", "value=x"),
    ("PUT", "/foo?prevValue=nope", "value=x"),
    ("PUT", "/foo?prevValue=baz", "value=x"),
    ("PUT", "/foo?prevIndex=1", "value=y"),
    ("PUT", "/foo", "prevExist=true&value=z"),
    ("PUT", "/d2", "dir=true"),
    ("PUT", "/d2", "dir=true"),
    ("PUT", "/d2/inner/deep", "value=d"),
    ("GET", "/d2?recursive=true", ""),
    ("DELETE", "/d2", ""),
    ("DELETE", "/d2?dir=true", ""),
    ("DELETE", "/dir", ""),
    ("DELETE", "/dir?dir=true", ""),
    ("DELETE", "/dir?recursive=true", ""),
    ("GET", "/dir", ""),
    ("DELETE", "/foo?prevValue=bad", ""),
    ("DELETE", "/foo?prevIndex=2", ""),
    ("DELETE", "/foo?prevValue=z", ""),
    ("DELETE", "/", ""),
    ("PUT", "/", "value=x"),
    ("POST", "/queue", "value=one"),
    ("POST", "/queue", "value=two"),
    ("GET", "/queue?sorted=true", ""),
    ("GET", "/foo?recursive=maybe", ""),
    ("PUT", "/t?ttl=abc", "value=1"),
    ("PUT", "/t?prevIndex=x", "value=1"),
    ("PUT", "/t", "prevValue="),
    ("PUT", "/t", "refresh=true&value=1"),
    ("PUT", "/t", "refresh=true"),
    ("PUT", "/t2", "value=1&ttl=100"),
    ("PUT", "/t2", "refresh=true&ttl=200&prevExist=true"),
    ("PUT", "/unicode", "value=gr%C3%BC%C3%9Fe+%3C%26%3E"),
    ("GET", "/unicode", ""),
    ("WATCH", "/w", ""),
    ("PUT", "/w", "value=seen"),
    ("GET", "/w?wait=true&waitIndex=1", ""),
    ("PATCH", "/w", ""),
];

/// A request under /v2/keys: its body, then its status on a line of its own.
fn curl(endpoint: &str, method: &str, path: &str, body: &str) -> String {
    let url = format!("{endpoint}/v2/keys{path}");
    let (status, answer) = common::curl(&url, method, &[], body);
    format!("{answer}\n{status}\n")
}

/// Indexes and times differ between any two servers (etcd's v2 index counts its own writes).
fn mask(text: &str) -> String {
    let rules = [
        (r#""(modifiedIndex|createdIndex|index)":\d+"#, "\"$1\":N"),
        (r#""expiration":"[^"]*""#, "\"expiration\":\"T\""),
        (r#""ttl":\d+"#, "\"ttl\":S"),
        (r"\d{20}", "QUEUEKEY"),
        (r"\[(\d+) != (\d+)\]", "[I != J]"),
        // etcdctl's error lines end in the index; its extended output names them.
        (r"\) \[\d+\]", ") [N]"),
        (r"(?m)^(Created-Index|Modified-Index|Index): \d+$", "$1: N"),
    ];
    let mut text = text.to_string();
    for (pattern, replacement) in rules {
        text = Regex::new(pattern)
            .unwrap()
            .replace_all(&text, replacement)
            .into_owned();
    }
    text
}

fn transcript(endpoint: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut watching: Option<std::thread::JoinHandle<String>> = None;
    for (method, path, body) in STEPS {
        if *method == "WATCH" {
            // From the next index: the write after it cannot slip in before the watch.
            let from = next_index(endpoint);
            let path = format!("{path}?wait=true&waitIndex={from}");
            let endpoint = endpoint.to_string();
            watching = Some(std::thread::spawn(move || {
                curl(&endpoint, "GET", &path, "")
            }));
            continue;
        }
        seen.push(format!(
            "{method} {path} {body}\n{}",
            mask(&curl(endpoint, method, path, body))
        ));
        if let Some(watch) = watching.take() {
            seen.push(format!("watch answer\n{}", mask(&watch.join().unwrap())));
        }
    }
    seen
}

/// Debian's etcdctl in v2 mode (or our applet, `etcd ctl`, with `ours`).
pub fn etcdctl_v2(endpoint: &str, args: &[&str], ours: bool) -> String {
    let binary = our_binary().display().to_string();
    let mut all = if ours {
        vec!["ctl".to_string()]
    } else {
        Vec::new()
    };
    all.extend(["--endpoints".to_string(), endpoint.to_string()]);
    all.extend(args.iter().map(|a| a.to_string()));
    let program = if ours {
        binary.as_str()
    } else {
        common::DEBIAN_ETCDCTL
    };
    let out = common::run(program, &all, &[("ETCDCTL_API", "2")], None);
    format!(
        "$ etcdctl {}\nexit {:?}\n{}{}",
        args.join(" "),
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const ETCDCTL_STEPS: &[&[&str]] = &[
    &["set", "/ctl/a", "1"],
    &["get", "/ctl/a"],
    &["mk", "/ctl/a", "2"],
    &["mk", "/ctl/b", "2"],
    &["update", "/ctl/a", "3"],
    &["update", "/ctl/none", "3"],
    &["mkdir", "/ctl/d"],
    &["ls", "--sort", "/ctl"],
    &["ls", "--sort", "-r", "-p", "/"],
    &["set", "--swap-with-value", "3", "/ctl/a", "4"],
    &["set", "--swap-with-value", "x", "/ctl/a", "5"],
    &["-o", "json", "get", "/ctl/a"],
    &["-o", "extended", "get", "/ctl/b"],
    &["rm", "/ctl/b"],
    &["rm", "/ctl/d"],
    &["rmdir", "/ctl/d"],
    &["rm", "--recursive", "/ctl"],
    &["get", "/ctl/a"],
    &["mk", "--in-order", "/ctl/q", "job"],
    &["-o", "json", "ls", "/ctl/q"],
    &["get", "/ctl"],
    &["rm", "--recursive", "/ctl"],
    &["rm", "/nothing"],
    &["-o", "json", "rm", "/nothing"],
    &["set", "/k", "with space & more"],
    &["-o", "json", "get", "/k"],
    &["rm", "--with-value", "no", "/k"],
    &["rm", "--with-value", "with space & more", "/k"],
    // Watches that the history answers at once.
    &["watch", "--after-index", "1", "/ctl/a"],
    &["watch", "-r", "--after-index", "1", "/ctl"],
    &["-o", "extended", "watch", "--after-index", "1", "/k"],
];

#[test]
fn v2_keys_answer_as_etcd_3_4() {
    let dir = temp_dir("v2keys");
    let v2 = ["--enable-v2"];
    let etcd = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.233",
        &dir.join("etcd"),
        &v2,
    );
    let ours = start_member(&our_binary(), "127.0.0.234", &dir.join("ours"), &v2);
    let expected = transcript(&etcd.client_url);
    let actual = transcript(&ours.client_url);
    common::assert_same_transcripts(&expected, &actual, "ours");
    let machines = |member: &Member| {
        let url = format!("{}/v2/machines", member.client_url);
        let out = common::run("curl", &["-s".into(), "-i".into(), url], &[], None);
        let text = String::from_utf8_lossy(&out.stdout).replace(&member.client_url, "ENDPOINT");
        let status = text.lines().next().unwrap_or("").trim_end().to_string();
        (status, text.rsplit("\r\n").next().unwrap_or("").to_string())
    };
    assert_eq!(machines(&ours), machines(&etcd));
    let mask_ctl = |text: String| mask(&text);
    let run = |endpoint: &str, applet: bool| -> Vec<String> {
        ETCDCTL_STEPS
            .iter()
            .map(|args| mask_ctl(etcdctl_v2(endpoint, args, applet)))
            .collect()
    };
    let expected = run(&etcd.client_url, false);
    common::assert_same_transcripts(&expected, &run(&ours.client_url, false), "ours");
    // Our applet in v2 mode prints what Debian's etcdctl prints.
    common::assert_same_transcripts(&expected, &run(&ours.client_url, true), "our applet");
}

/// The v2 index after the last write a member has applied, plus one.
fn next_index(endpoint: &str) -> u64 {
    let answer = curl(endpoint, "GET", "/no-such-key", "");
    let at = answer.find("\"index\":").expect("an error with an index") + 8;
    let digits: String = answer[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse::<u64>().expect("an index") + 1
}

#[test]
fn keys_expire_replicate_and_outlive_a_restart() {
    let dir = temp_dir("v2keys-cluster");
    let ips = ["127.0.0.235", "127.0.0.236", "127.0.0.237"];
    let mut members: Vec<Member> =
        common::start_cluster(&our_binary(), &ips, &dir, &["--enable-v2"]);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    // A write through one member is read with quorum through the others.
    assert!(curl(&urls[0], "PUT", "/k", "value=v").ends_with("\n201\n"));
    for url in &urls[1..] {
        let read = curl(url, "GET", "/k?quorum=true", "");
        assert!(
            read.contains("\"value\":\"v\"") && read.ends_with("\n200\n"),
            "{read}"
        );
    }
    // A follower's watch sees a write made elsewhere (from the index it started at, so the
    // write cannot slip in before the watch is registered).
    let from = next_index(&urls[2]);
    let watcher = {
        let (url, path) = (
            urls[2].clone(),
            format!("/watched?wait=true&waitIndex={from}"),
        );
        std::thread::spawn(move || curl(&url, "GET", &path, ""))
    };
    curl(&urls[1], "PUT", "/watched", "value=w");
    let seen = watcher.join().unwrap();
    assert!(
        seen.contains("\"action\":\"set\"") && seen.contains("\"value\":\"w\""),
        "{seen}"
    );
    // A streaming watch on a follower gets every change, one JSON line each.
    let from = next_index(&urls[2]);
    let streaming = {
        let url = urls[2].clone();
        std::thread::spawn(move || {
            let out = std::process::Command::new("curl")
                .args(["-s", "-N", "--max-time", "3"])
                .arg(format!(
                    "{url}/v2/keys/s?wait=true&stream=true&waitIndex={from}"
                ))
                .output()
                .expect("curl runs");
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
    };
    curl(&urls[0], "PUT", "/s", "value=one");
    curl(&urls[1], "PUT", "/s", "value=two");
    let lines = streaming.join().unwrap();
    // Each line's node (the first "value"; a prevNode follows it).
    let values: Vec<String> = lines
        .lines()
        .map(|l| {
            let at = l.find("\"value\":\"").map_or(0, |at| at + 9);
            l[at..].split('"').next().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(values, ["one", "two"], "{lines}");
    // A key with a TTL is removed on every member once it runs out, with an expire event.
    curl(&urls[0], "PUT", "/short", "value=s&ttl=1");
    for url in &urls {
        wait_until("the key to expire", Duration::from_secs(10), || {
            curl(url, "GET", "/short", "").ends_with("\n404\n")
        });
    }
    let history = curl(&urls[1], "GET", "/short?wait=true&waitIndex=1", "");
    assert!(history.contains("\"action\":\"set\""), "{history}");
    // Restarted, a member keeps the v2 keys.
    members[1].stop();
    members[1].restart();
    let read = curl(&urls[1], "GET", "/k", "");
    assert!(read.contains("\"value\":\"v\""), "{read}");
}

#[test]
fn without_enable_v2_nothing_is_served_under_v2_keys() {
    let dir = temp_dir("v2keys-off");
    let member = start_member(&our_binary(), "127.0.0.238", &dir, &[]);
    let answer = curl(&member.client_url, "PUT", "/k", "value=v");
    assert!(answer.ends_with("\n404\n"), "{answer}");
}

#[test]
fn python_etcd_session_gives_what_it_gives_against_etcd() {
    let dir = temp_dir("v2keys-python");
    let v2 = ["--enable-v2"];
    let etcd = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.239",
        &dir.join("etcd"),
        &v2,
    );
    let ours = start_member(&our_binary(), "127.0.0.240", &dir.join("ours"), &v2);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python_etcd_session.py");
    let session = |ip: &str| {
        let args = [
            script.display().to_string(),
            ip.to_string(),
            "2379".to_string(),
        ];
        let out = common::run("/usr/bin/python3", &args, &[], None);
        assert!(out.status.success(), "{out:?}");
        mask(&String::from_utf8_lossy(&out.stdout))
    };
    let expected = session("127.0.0.239");
    assert!(expected.contains("locked True"), "{expected}");
    assert_eq!(session("127.0.0.240"), expected);
    // Both members stay up until here (dropping one stops it).
    let _ = (&etcd, &ours);
}

#[test]
fn a_follower_far_behind_gets_the_v2_keys_in_a_snapshot() {
    let dir = temp_dir("v2keys-snapshot");
    let ips = ["127.0.0.242", "127.0.0.243", "127.0.0.244"];
    let extra = ["--enable-v2", "--snapshot-count", "100"];
    let members: Vec<Member> = common::start_cluster(&our_binary(), &ips, &dir, &extra);
    let writer = &members[0].client_url;
    members[2].signal("STOP");
    const KEYS: usize = 50;
    for i in 0..KEYS {
        // While member 2 is frozen (perhaps the leader), a write waits for the others' leader.
        wait_until("a v2 write", Duration::from_secs(10), || {
            let answer = curl(
                writer,
                "PUT",
                &format!("/many/{i:04}"),
                &format!("value={i}"),
            );
            answer.ends_with("\n201\n") || answer.ends_with("\n200\n")
        });
    }
    // Enough v3 writes after them that the log the frozen member needs is compacted away
    // (a leader keeps some thousands of entries for slow followers).
    let bench = common::run(
        &our_binary().display().to_string(),
        &[
            "bench".into(),
            format!(
                "--endpoints={}",
                ips[0..2]
                    .iter()
                    .map(|ip| format!("{ip}:2379"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            "--total=8000".into(),
            "--clients=50".into(),
            "--conns=5".into(),
            "--max-seconds=60".into(),
            "put".into(),
        ],
        &[],
        None,
    );
    assert!(bench.status.success(), "{bench:?}");
    members[2].signal("CONT");
    let last = format!("/many/{:04}", KEYS - 1);
    wait_until(
        "the frozen member to catch up",
        Duration::from_secs(30),
        || {
            curl(&members[2].client_url, "GET", &last, "")
                .contains(&format!("\"value\":\"{}\"", KEYS - 1))
        },
    );
    wait_until("a snapshot install", Duration::from_secs(10), || {
        members[2].log_text().contains("installed a snapshot")
    });
    let listing = curl(&members[2].client_url, "GET", "/many?sorted=true", "");
    assert_eq!(
        listing.matches("\"key\":\"/many/").count(),
        KEYS,
        "{listing}"
    );
}

#[test]
fn exec_watch_runs_the_command_on_every_change() {
    let dir = temp_dir("v2keys-exec-watch");
    let member = start_member(
        &our_binary(),
        "127.0.0.241",
        &dir.join("data"),
        &["--enable-v2"],
    );
    let endpoint = member.client_url.as_str();
    let log = dir.join("changes.log");
    // --after-index 0 means "from the next change on", which would race with the writes
    // below; one write first makes the index the watch starts after non-zero.
    curl(endpoint, "PUT", "/before", "value=0");
    let from = next_index(endpoint) - 1;
    let script = format!(
        "echo \"$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE\" >> {}",
        log.display()
    );
    let after = from.to_string();
    let mut watcher = std::process::Command::new(our_binary())
        .args(["ctl", "--endpoints", endpoint, "exec-watch", "-r"])
        .args(["--after-index", &after, "/ew", "--", "sh", "-c", &script])
        .env("ETCDCTL_API", "2")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the applet starts");
    for (method, path, body) in [
        ("PUT", "/ew/a", "value=1"),
        ("PUT", "/ew/d", "dir=true"),
        ("PUT", "/ew/b", "value=two words"),
        ("DELETE", "/ew/a", ""),
    ] {
        curl(endpoint, method, path, body);
    }
    let lines = || -> Vec<String> {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        lines.sort();
        lines
    };
    wait_until(
        "a command per change of a key",
        Duration::from_secs(10),
        || lines().len() >= 3,
    );
    let _ = watcher.kill();
    let output = watcher.wait_with_output().expect("the applet ends");
    // The commands run concurrently, so their lines come in any order.
    assert_eq!(
        lines(),
        ["delete /ew/a ", "set /ew/a 1", "set /ew/b two words"]
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr, "Ignored dir /ew/d change\n");
    // Without a command there is nothing to run.
    let out = common::run(
        our_binary().to_str().unwrap(),
        &[
            "ctl".into(),
            "--endpoints".into(),
            endpoint.into(),
            "exec-watch".into(),
            "/ew".into(),
        ],
        &[("ETCDCTL_API", "2")],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "Error:  key and command to exec required\n"
    );
}

/// The v3 keys and values under `/` (Debian's etcdctl), one `key=value` per line.
fn v3_keys(endpoint: &str) -> String {
    let out = common::etcdctl(endpoint, &[], &["get", "--prefix", "/"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines
        .chunks(2)
        .map(|pair| pair.join("="))
        .collect::<Vec<_>>()
        .join("\n")
}

/// etcdctl's transformer protocol, in Python: JSON nodes in, length-prefixed KeyValue
/// protobufs out; this one keeps files under /m/ only and upper-cases their values.
const TRANSFORMER: &str = r#"#!/usr/bin/python3
import json, struct, sys
text = sys.stdin.read()
decoder, at = json.JSONDecoder(), 0
def field(number, data):
    return bytes([number << 3 | 2, len(data)]) + data
while at < len(text):
    node, at = decoder.raw_decode(text, at)
    if node.get("dir") or not node["key"].startswith("/m/"):
        continue
    kv = field(1, node["key"].encode()) + field(5, node.get("value", "").upper().encode())
    sys.stdout.buffer.write(struct.pack("<q", len(kv)) + kv)
"#;

#[test]
fn migrate_moves_the_v2_keys_into_v3_as_etcdctl_does() {
    let dir = temp_dir("v2keys-migrate");
    let v2 = ["--enable-v2"];
    let mut etcd = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.231",
        &dir.join("etcd"),
        &v2,
    );
    let ours = start_member(&our_binary(), "127.0.0.232", &dir.join("ours"), &v2);
    for member in [&etcd, &ours] {
        for (path, body) in [
            ("/m/a", "value=1"),
            ("/m/d/b", "value=two words"),
            ("/m/_hidden", "value=h"),
            ("/m/empty", "dir=true"),
            ("/other", "value=o"),
            ("/m/t?ttl=300", "value=temporary"),
        ] {
            curl(&member.client_url, "PUT", path, body);
        }
    }
    // etcd's migrate rewrites its stopped member's data dir; ours writes through the cluster.
    etcd.stop();
    let data_dir = dir.join("etcd").display().to_string();
    let offline = common::run(
        common::DEBIAN_ETCDCTL,
        &[
            "migrate".into(),
            "--no-ttl".into(),
            "--data-dir".into(),
            data_dir,
        ],
        &[("ETCDCTL_API", "3")],
        None,
    );
    assert!(offline.status.success(), "{offline:?}");
    etcd.restart();
    let migrated = common::our_etcdctl(&ours.client_url, &[], &["migrate", "--no-ttl"], None);
    // etcd's migrate also logs its store rebuild (JSON lines) on stdout.
    let said = |out: &std::process::Output| -> String {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.starts_with('{'))
            .map(|l| format!("{l}\n"))
            .collect()
    };
    assert_eq!(said(&migrated), said(&offline));
    assert_eq!(v3_keys(&ours.client_url), v3_keys(&etcd.client_url));
    assert_eq!(
        v3_keys(&ours.client_url),
        "/m/a=1\n/m/d/b=two words\n/other=o"
    );
    // With a transformer, what it makes of the nodes is written.
    let script = dir.join("transformer.py");
    std::fs::write(&script, TRANSFORMER).unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let transformer = script.display().to_string();
    let migrated = common::our_etcdctl(
        &ours.client_url,
        &[],
        &["migrate", "--transformer", &transformer],
        None,
    );
    assert!(migrated.status.success(), "{migrated:?}");
    assert_eq!(
        v3_keys(&ours.client_url),
        "/m/a=1\n/m/d/b=TWO WORDS\n/m/t=TEMPORARY\n/other=o"
    );
}

#[test]
fn backup_makes_a_stopped_members_data_a_new_one_member_cluster() {
    let dir = temp_dir("v2keys-backup");
    let data_dir = dir.join("data");
    let mut member = start_member(&our_binary(), "127.0.0.213", &data_dir, &["--enable-v2"]);
    let endpoint = member.client_url.clone();
    curl(&endpoint, "PUT", "/v2k", "value=two");
    let put = common::etcdctl(&endpoint, &[], &["put", "v3k", "three"], None);
    assert!(put.status.success(), "{put:?}");
    let id = |endpoint: &str| -> String {
        let out = common::etcdctl(endpoint, &[], &["member", "list"], None);
        String::from_utf8_lossy(&out.stdout)
            .split(',')
            .next()
            .unwrap_or("")
            .to_string()
    };
    let original = id(&endpoint);
    let backup_dir = dir.join("backup");
    let backup = |data_dir: &Path| {
        let args: Vec<String> = vec![
            "ctl".into(),
            "backup".into(),
            "--data-dir".into(),
            data_dir.display().to_string(),
            "--backup-dir".into(),
            backup_dir.display().to_string(),
        ];
        common::run(
            our_binary().to_str().unwrap(),
            &args,
            &[("ETCDCTL_API", "2")],
            None,
        )
    };
    // A running member's data dir is refused, untouched.
    let refused = backup(&data_dir);
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(String::from_utf8_lossy(&refused.stderr).contains("is in use by another process"));
    assert!(!backup_dir.exists());
    member.stop();
    let made = backup(&data_dir);
    assert!(made.status.success(), "{made:?}");
    // The copy starts, as etcd's must, with --force-new-cluster: one member, new IDs, all data.
    let mut copy = start_member(
        &our_binary(),
        "127.0.0.213",
        &backup_dir,
        &["--enable-v2", "--force-new-cluster"],
    );
    assert_ne!(id(&endpoint), original);
    let get = common::etcdctl(&endpoint, &[], &["get", "v3k", "--print-value-only"], None);
    assert_eq!(String::from_utf8_lossy(&get.stdout), "three\n");
    assert!(curl(&endpoint, "GET", "/v2k", "").contains("\"value\":\"two\""));
    copy.stop();
}

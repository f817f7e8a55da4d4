//! The etcdctl applet against Debian's etcdctl 3.4: every invocation in `TABLE` runs as Debian's
//! `etcdctl` and as our applet (a link named `etcdctl` to our binary), each against a freshly
//! started server that has seen exactly the same invocations before, for both servers (Debian's
//! etcd and ours). stdout, stderr and the exit code must be equal once what legitimately differs
//! between two runs is masked: lease and added-member IDs (random per run), timings, database
//! sizes and grpc-go's timestamped retry log lines.
//!
//! Table syntax, one invocation per line: optional `VAR=value` environment words, the etcdctl
//! arguments ('single quotes' group words), optional ` <<< stdin` (with \n escapes). A leading
//! `~` runs the command for 1.5 s and then kills it (watch runs until interrupted); a leading `%`
//! compares the output's lines, and their items split at `,` and `=`, in any order (members are listed in ID
//! order, and an added member's ID is random per run). `{L1}` is the
//! run's first granted lease ID in hex, `{M1}` the first added member's ID, `{ADDR}` the server's
//! address and `{TMP}` a directory for files.

use crate::common;

use common::{our_binary, single_member_args, temp_dir, Member, DEBIAN_ETCD, DEBIAN_ETCDCTL};
use regex::Regex;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TABLE: &str = r#"
# key-value: every output format
put foo bar
put foo bar -w json
put foo bar2 --prev-kv
put foo bar3 --prev-kv -w json
put foo bar4 --prev-kv -w fields
put foo bar5 -w protobuf
put foo bar6 -w table
put a 1
put b 2
put c 3
put 'key with space' 'value with space'
put foo/1 x
put foo/2 y
put foo/3 z
put unicode 'grüße <&> "quoted"'
get foo
get foo -w json
get foo -w fields
get foo -w protobuf
get foo -w table
get foo -w yaml
get unicode -w json
get unicode -w fields
get foo --prefix
get foo --prefix -w json
get foo/ --prefix --limit=2
get foo/ --prefix --limit=2 -w json
get foo/ --prefix --limit 1 -w fields
get foo/ --prefix --keys-only
get foo/ --prefix --keys-only -w json
get foo/ --prefix --print-value-only
get foo/ --prefix --print-value-only -w json
get foo/ --prefix --sort-by=MODIFY --order=DESCEND
get foo/ --prefix --sort-by=VALUE --order=DESCEND -w json
get foo/ --prefix --sort-by=CREATE
get foo/ --prefix --sort-by=version --order=ascend
get foo/ --prefix --order=DESCEND
get foo/ --prefix --sort-by=KEY
get foo/ --prefix --sort-by=bogus
get foo/ --prefix --order=sideways
get a --from-key
get a --from-key --keys-only -w json
get a c
get a c -w fields
get '' --prefix --keys-only
get '' --from-key --limit 1
get foo --rev=2
get foo --rev=3 -w json
get foo --rev=1000
get foo --consistency=s
get foo --consistency=x
get missing
get missing -w json
get missing -w fields
--hex get foo
get foo --hex -w fields
get foo --prefix --from-key
get foo bar --prefix
get
get foo --limit=abc
get --nope foo
get foo -x
-w json get foo
get -wjson foo
put
put nokey --ignore-value
put foo --ignore-value
put foo v --ignore-value
put foo newv --ignore-lease
put stdinkey <<< from stdin\n
get stdinkey
put foo v --lease=zz
put foo v --lease=1234
put -- dashed -value
get dashed
del missing
del a
del b -w json
del foo/1 --prev-kv
del foo/ --prefix --prev-kv -w json
del c d
del
del a b c
del x --prefix --from-key
del dashed -w fields
put foo/4 w
put foo/5 v
# transactions
txn <<< mod("foo") > "0"\n\nput foo txnv\n\nput foo elsev\n\n
txn -w json <<< value("foo") = "txnv"\n\nget foo\nput foo2 t2\n\n\n
txn -w fields <<< ver("foo") = "1"\n\n\ndel foo2\nget foo --prefix\n\n
txn <<< val("foo") = "nope"\n\nget foo\n\nget foo/ --prefix --keys-only\ndel foo/5 --prev-kv\n\n
txn -w protobuf <<< create("foo") != "0"\n\nget foo\n\n\n
txn <<< c("foo") < "100"\nm("foo") > "1"\n\nput foo both\n\n\n
txn <<< bogus\n\n\n\n
txn <<< weird("foo") = "1"\n\n\n\n
txn <<< mod("foo") > "x"\n\n\n\n
txn <<< \n\nlist foo\n\n\n
txn <<< \n\nput foo\n\n\n
txn <<< mod("foo") > "0"
txn extra <<< \n\n\n
txn -i <<< mod("foo") > "0"\n\nget foo\n\nget a\n\n
# watch replays history from a revision, then runs until killed
~watch foo --rev=1
~watch foo/ --prefix --rev=1 --prev-kv
~watch foo --rev=2 -w json
~watch a c --rev=1 -w fields
~watch foo --rev=2 --hex
~watch foo/2 --rev=1 -- printenv ETCD_WATCH_KEY ETCD_WATCH_VALUE ETCD_WATCH_EVENT_TYPE
watch a b --prefix
watch
watch -i <<< bogus\n\nwatch\n
# compaction
compaction 3
compaction 3
compaction 1
compaction abc
compaction
compaction 100000
compaction --physical 4
get foo --rev=2
get foo --rev=2 -w json
watch foo --rev=1
# (history hashes before leases: a lease ID is random and part of the history)
endpoint hashkv
endpoint hashkv -w json
endpoint hashkv --rev=5 -w table
endpoint hashkv --cluster -w fields
# backups (the file is compared in tests/snapshot.rs)
snapshot save {TMP}/backup.db
snapshot save
snapshot save {TMP}/other.db --endpoints={ADDR},{ADDR}
# leases
lease grant 600
lease grant 600 -w json
lease grant 600 -w fields
lease grant abc
lease grant
put leased v --lease={L1}
get leased -w json
get leased -w fields
lease timetolive {L1}
lease timetolive {L1} --keys
lease timetolive {L1} --keys -w json
lease timetolive {L1} -w fields
lease timetolive abc
lease timetolive 1234
lease timetolive 1234 -w json
lease keep-alive --once {L1}
lease keep-alive --once {L1} -w json
lease keep-alive --once {L1} -w fields
lease keep-alive --once 1234
lease keep-alive --once zz
lease keep-alive
put leased v2 --ignore-lease
lease revoke {L2}
lease revoke {L3} -w json
lease revoke {L2}
lease revoke zz
lease list
lease list -w json
lease list -w fields
lease revoke {L1}
get leased
lease list
# membership
member list
member list -w json
member list -w fields
member list -w table
member list -w protobuf
member add
member add n2
member add n2 http://127.0.0.99:2380
%member add n2 --peer-urls=http://127.0.0.99:2380 --learner
%member list
%member list -w table
%member list -w fields
member promote {M1}
member update {M1} --peer-urls=http://127.0.0.98:2380
member update {M1}
member update zz --peer-urls=http://127.0.0.98:2380
%member list -w fields
member remove {M1}
member remove {M1}
member remove zz
member remove
member promote 1234
# endpoints and maintenance
endpoint health
endpoint health -w json
endpoint health -w table
endpoint health -w fields
endpoint health --cluster
endpoint status
endpoint status -w json
endpoint status -w table
endpoint status --cluster -w fields
endpoint status -w protobuf
endpoint health --endpoints=127.0.0.1:1 --command-timeout=1s
get foo --endpoints=127.0.0.1:1 --command-timeout=1s
alarm list
alarm list -w json
alarm disarm
alarm disarm -w json
alarm list extra
defrag
defrag --cluster
move-leader zz
move-leader
version
lease grant 600 -w table
# lock and elect (a session's lease ID is random: keys name/<ID> are masked)
lock mylock echo locked
lock mylock -- printenv ETCD_LOCK_REV
lock mylock -- sh -c 'exit 3'
lock
~lock held
~elect myelection proposal
# (the killed sessions' leases would expire at a moment that depends on timing: delete now)
del held --prefix
del myelection --prefix
elect myelection
elect -l myelection proposal
elect
# check perf's refusals (the 60-second run itself is in tests/check_perf.rs)
check perf --load=bogus
put /etcdctl-check-perf/x y
check perf
del /etcdctl-check-perf/x
# usage text
lease grant --help
member list -h
endpoint status --bogus
put --bogus=1
no-such-command
--endpoints=127.0.0.1:1 no-such-command
member
lease nosuch
snapshot
# auth (users and roles; auth stays disabled here: tests/auth.rs enables it)
user list
role list
user add alice:secret
user get alice
role add reader
role get reader
user grant-role alice reader
user get alice
user revoke-role alice reader
role list -w json
role delete reader
user delete alice
user add
role add writer
role grant-permission writer readwrite foo
role grant-permission writer read k1 k5
role grant-permission writer write p --prefix
role grant-permission writer read '' --from-key
role grant-permission writer bogus foo
role grant-permission writer read k1 k5 --prefix
role grant-permission writer
role get writer
role get writer -w json
user add bob --interactive=false <<< secret\n
user passwd bob --interactive=false <<< newsecret\n
user grant-role bob writer
user get bob --detail
role revoke-permission writer foo
role revoke-permission writer k1 k5
role revoke-permission writer p --prefix
role revoke-permission writer
role get writer
user delete bob
role delete writer
# credentials: a name alone asks for the password (auth is off here, so any will do)
--user=root get foo <<< secret\n
--user=root:secret get foo
--user=root --password=secret get foo
--user=root get foo
# environment
ETCDCTL_WRITE_OUT=json get foo
ETCDCTL_HEX=true get foo
ETCDCTL_WRITE_OUT=fields member list
ETCDCTL_API=3 get foo
ETCDCTL_API=4 get foo
ETCDCTL_ENDPOINTS={ADDR} get foo --endpoints={ADDR}
ETCDCTL_NONSENSE=1 get foo
ETCDCTL_ENDPOINTS={ADDR} get --endpoints={ADDR}
ETCDCTL_NONSENSE=1 put onlykey
ETCDCTL_NONSENSE=1 snapshot status
ETCDCTL_DIAL_TIMEOUT=bogus get foo
ETCDCTL_COMMAND_TIMEOUT=3s get foo
ETCDCTL_API=2 member list --endpoints=http://{ADDR}
ETCDCTL_API=2 cluster-health --endpoints=http://{ADDR}
ETCDCTL_API=2 --endpoints=http://{ADDR} cluster-health
ETCDCTL_API=2 --endpoints=http://{ADDR} member list
ETCDCTL_API=2 ETCDCTL_ENDPOINTS=http://{ADDR} cluster-health
ETCDCTL_API=2 ETCDCTL_ENDPOINTS= ETCDCTL_PEERS=http://{ADDR} member list
# delete everything at the end
del '' --from-key
get '' --prefix -w json
"#;

struct Row {
    line: String,
    env: Vec<(String, String)>,
    args: Vec<String>,
    stdin: Option<String>,
    kill_after: Option<Duration>,
    any_order: bool,
}

fn rows() -> Vec<Row> {
    TABLE
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (body, kill_after) = match line.strip_prefix('~') {
                Some(rest) => (rest, Some(Duration::from_millis(1500))),
                None => (line, None),
            };
            let (body, any_order) = match body.strip_prefix('%') {
                Some(rest) => (rest, true),
                None => (body, false),
            };
            let (command, stdin) = match body.split_once(" <<< ") {
                Some((command, input)) => (command, Some(input.replace("\\n", "\n"))),
                None => (body, None),
            };
            let mut env = Vec::new();
            let mut args = Vec::new();
            for word in split_words(command) {
                let is_env = args.is_empty()
                    && word.split_once('=').is_some_and(|(k, _)| {
                        k.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                    });
                if is_env {
                    let (k, v) = word.split_once('=').unwrap();
                    env.push((k.to_string(), v.to_string()));
                } else {
                    args.push(word);
                }
            }
            Row {
                line: line.to_string(),
                env,
                args,
                stdin,
                kill_after,
                any_order,
            }
        })
        .collect()
}

/// Whitespace-separated words; 'single quotes' group (and may be empty).
fn split_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut rest = text.trim_start();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('\'') {
            let end = quoted.find('\'').expect("closing quote");
            words.push(quoted[..end].to_string());
            rest = &quoted[end + 1..];
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            words.push(rest[..end].to_string());
            rest = &rest[end..];
        }
        rest = rest.trim_start();
    }
    words
}

/// What one invocation printed, masked.
#[derive(PartialEq, Eq)]
struct Seen {
    stdout: Vec<u8>,
    stderr: String,
    code: Option<i32>,
}

impl std::fmt::Debug for Seen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\n--- stdout ---\n{}--- stderr ---\n{}",
            self.code,
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        )
    }
}

/// IDs a run discovered (lease and member IDs are random), with their placeholders.
#[derive(Default)]
struct Ids {
    leases: Vec<i64>,
    members: Vec<u64>,
}

impl Ids {
    fn learn(&mut self, row: &Row, stdout: &str) {
        let first_word = row.args.iter().find(|a| !a.starts_with('-'));
        if first_word.map(String::as_str) == Some("lease")
            && row.args.contains(&"grant".to_string())
        {
            let hex = Regex::new(r"lease ([0-9a-f]{16}) granted").unwrap();
            let decimal = Regex::new(r#""ID"\s?:\s?(\d+)"#).unwrap();
            if let Some(c) = hex.captures(stdout) {
                self.leases.push(i64::from_str_radix(&c[1], 16).unwrap());
            } else if let Some(c) = decimal.captures(stdout) {
                self.leases.push(c[1].parse().unwrap());
            }
        }
        let added = Regex::new(r"Member\s+([0-9a-f]+) added").unwrap();
        if let Some(c) = added.captures(stdout) {
            self.members.push(u64::from_str_radix(&c[1], 16).unwrap());
        }
    }

    fn substitute(&self, arg: &str, address: &str, dir: &Path) -> String {
        let mut arg = arg
            .replace("{ADDR}", address)
            .replace("{TMP}", &dir.display().to_string());
        for (i, id) in self.leases.iter().enumerate() {
            arg = arg.replace(&format!("{{L{}}}", i + 1), &format!("{id:x}"));
        }
        for (i, id) in self.members.iter().enumerate() {
            arg = arg.replace(&format!("{{M{}}}", i + 1), &format!("{id:x}"));
        }
        arg
    }

    fn mask(&self, text: &str) -> String {
        let mut text = text.to_string();
        for (i, id) in self.leases.iter().enumerate() {
            for form in [format!("{id:016x}"), format!("{id:x}"), id.to_string()] {
                text = text.replace(&form, &format!("<L{}>", i + 1));
            }
        }
        for (i, id) in self.members.iter().enumerate() {
            for form in [format!("{id:x}"), id.to_string()] {
                text = text.replace(&form, &format!("<M{}>", i + 1));
            }
        }
        text
    }
}

fn mask_text(ids: &Ids, text: &str) -> String {
    let text = ids.mask(text);
    let rules = [
        // grpc-go's retry warnings and zap's progress lines (timestamps, random client ids).
        (r#"(?m)^\{"level":.*\n"#, ""),
        (r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6} ", "<TS> "),
        (r"took = [0-9.]+(ns|µs|ms|s)", "took = <T>"),
        // A lock's or election's key ends in its session's random lease ID.
        (r"(?m)^(\w+)/[0-9a-f]{8,16}$", "$1/<ID>"),
        // "Member %16x": the padding depends on the random ID's length.
        (r"Member +<M", "Member <M"),
        (r#""took":"[^"]*""#, r#""took":"<T>""#),
        (r#""Took" : \S+"#, r#""Took" : <T>"#),
        (r"\| +[0-9.]+(ns|µs|ms|s) +\|", "| <T> |"),
        (r"\d+(\.\d+)? [kMG]?B\b", "<SIZE>"),
        (r#""dbSize(InUse)?":\d+"#, r#""dbSize":<SIZE>"#),
        (r#""DBSize" : \d+"#, r#""DBSize" : <SIZE>"#),
        (r"remaining\(\d+s\)", "remaining(<N>s)"),
        (r#""ttl":\d+"#, r#""ttl":<N>"#),
        (r#""TTL" : \d+"#, r#""TTL" : <N>"#),
    ];
    let mut text = common::masked(&text, &rules);
    // Masked table cells no longer line up: compare tables without their padding.
    if text.contains("+-") {
        text = Regex::new(r"-+")
            .unwrap()
            .replace_all(&text, "-")
            .into_owned();
        text = Regex::new(r" +")
            .unwrap()
            .replace_all(&text, " ")
            .into_owned();
    }
    text
}

/// After a command that never exits has printed the lines the reference printed, how long it
/// may take to print one too many before it is stopped.
const EXTRA_LINE_GRACE: Duration = Duration::from_millis(250);

/// Runs `program` for `row`. A command that never exits (a watch, a held lock) is stopped
/// after the row's window, or, given `expected_lines` (what the reference printed in that
/// window), once it has printed that many lines and a grace period has passed.
fn invoke(
    program: &Path,
    row: &Row,
    args: &[String],
    env: &[(String, String)],
    expected_lines: Option<usize>,
) -> std::process::Output {
    let mut child = Command::new(program)
        .args(args)
        .env_remove("ETCDCTL_API")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(if row.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()));
    if let Some(input) = &row.stdin {
        // A tool may exit (e.g. on an error) before it reads all of its input; that is
        // what a user piping into it sees too, so a closed pipe is not a failure here.
        let written = child.stdin.take().unwrap().write_all(input.as_bytes());
        if let Err(e) = written {
            assert_eq!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe,
                "writing stdin: {e}"
            );
        }
    }
    let Some(limit) = row.kill_after else {
        return child.wait_with_output().unwrap();
    };
    let mut stdout = child.stdout.take().unwrap();
    let printed = Arc::new(Mutex::new(Vec::new()));
    let reader = {
        let printed = printed.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buffer) {
                printed.lock().unwrap().extend_from_slice(&buffer[..n]);
            }
        })
    };
    let enough = || {
        let lines = printed
            .lock()
            .unwrap()
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        expected_lines.is_some_and(|expected| lines >= expected)
    };
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline && child.try_wait().unwrap().is_none() && !enough() {
        std::thread::sleep(Duration::from_millis(20));
    }
    if enough() {
        std::thread::sleep(EXTRA_LINE_GRACE);
    }
    let _ = child.kill();
    let mut output = child.wait_with_output().unwrap();
    reader.join().unwrap();
    output.stdout = std::mem::take(&mut *printed.lock().unwrap());
    output
}

/// Starts a fresh server (`program`) on `ip` and runs the whole table with `tool`.
/// `reference`: the reference tool's results, whose line counts end our never-exiting rows.
fn run_table(
    server: &Path,
    ip: &str,
    tool: &Path,
    dir: &Path,
    reference: Option<&[Seen]>,
) -> Vec<Seen> {
    let data_dir = dir.join(format!(
        "data-{}",
        tool.display().to_string().replace('/', "_")
    ));
    let _ = std::fs::remove_dir_all(&data_dir);
    let mut args = single_member_args("ctl", ip, 2379, 2380, &data_dir, "http");
    // etcd 3.4 serves the v2 members API (etcdctl's v2 cluster-health) only with this.
    args.push("--enable-v2=true".into());
    let mut member = Member::start(server, args, &format!("http://{ip}:2379"), &data_dir);
    let address = format!("{ip}:2379");
    let mut ids = Ids::default();
    let mut seen = Vec::new();
    for (i, row) in rows().into_iter().enumerate() {
        let args: Vec<String> = row
            .args
            .iter()
            .map(|a| ids.substitute(a, &address, dir))
            .collect();
        // The endpoint comes from the environment unless the row names one (etcdctl refuses both).
        let mut env = Vec::new();
        if !args.iter().any(|a| a.starts_with("--endpoints")) {
            env.push(("ETCDCTL_ENDPOINTS".to_string(), address.clone()));
        }
        env.extend(
            row.env
                .iter()
                .map(|(k, v)| (k.clone(), ids.substitute(v, &address, dir))),
        );
        // A reference that printed nothing in its window gives ours the whole window too.
        let expected_lines = reference
            .map(|seen| seen[i].stdout.iter().filter(|b| **b == b'\n').count())
            .filter(|lines| *lines > 0);
        let output = invoke(tool, &row, &args, &env, expected_lines);
        ids.learn(&row, &String::from_utf8_lossy(&output.stdout));
        let binary = output.stdout.contains(&0) || row.args.iter().any(|a| a == "protobuf");
        let stdout = if binary {
            output.stdout
        } else {
            let text = mask_text(&ids, &String::from_utf8_lossy(&output.stdout));
            if row.any_order {
                let text = text.replace('"', "");
                let mut items: Vec<&str> = text.split(['\n', ',', '=']).collect();
                items.sort_unstable();
                items.join("\n").into_bytes()
            } else {
                text.into_bytes()
            }
        };
        seen.push(Seen {
            stdout,
            stderr: mask_text(&ids, &String::from_utf8_lossy(&output.stderr)),
            code: output.status.code(),
        });
    }
    member.kill();
    seen
}

fn our_etcdctl(dir: &Path) -> PathBuf {
    let link = dir.join("etcdctl");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(our_binary(), &link).unwrap();
    link
}

fn compare(server: &Path, ip: &str, name: &str) {
    let dir = temp_dir(&format!("ctl-diff-{name}"));
    let ours = our_etcdctl(&dir);
    let expected = run_table(server, ip, Path::new(DEBIAN_ETCDCTL), &dir, None);
    let actual = run_table(server, ip, &ours, &dir, Some(&expected));
    let rows = rows();
    assert!(
        rows.len() >= 150,
        "the table has {} invocations",
        rows.len()
    );
    let succeeded = expected.iter().filter(|s| s.code == Some(0)).count();
    assert!(
        succeeded >= 100,
        "only {succeeded} invocations succeeded with Debian's etcdctl: the server did not serve"
    );
    let mut differences = Vec::new();
    for ((row, want), got) in rows.iter().zip(&expected).zip(&actual) {
        if want != got {
            differences.push(format!(
                "=== etcdctl {}\n--- Debian's etcdctl: {want:?}--- ours: {got:?}",
                row.line
            ));
        }
    }
    let summary: BTreeMap<&str, usize> =
        [("rows", rows.len()), ("differ", differences.len())].into();
    assert!(
        differences.is_empty(),
        "{summary:?} against {name}:\n{}",
        differences.join("\n")
    );
}

#[test]
fn applet_prints_what_etcdctl_prints_against_our_server() {
    compare(&our_binary(), "127.0.0.91", "ours");
}

#[test]
fn applet_prints_what_etcdctl_prints_against_debian_etcd() {
    compare(Path::new(DEBIAN_ETCD), "127.0.0.92", "debian");
}

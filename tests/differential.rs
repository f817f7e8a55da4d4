//! Differential tests: the same Debian `etcdctl` (API v3) commands against Debian's etcd 3.4 and
//! against ours, each started fresh on its own loopback address. Outputs (stdout, stderr, exit
//! code) must be equal once what legitimately differs is masked: member and cluster IDs, the
//! endpoint URL, database sizes, timings, and the client library's timestamped retry logs.

use crate::common;

use common::{assert_same_transcripts, etcdctl, our_binary, start_member, temp_dir, DEBIAN_ETCD};
use regex::Regex;
use std::path::Path;

/// (arguments, standard input) of each step; both servers see the same sequence.
fn script() -> Vec<(Vec<String>, Option<String>)> {
    let big_value = "x".repeat(1_600_000);
    let huge_value = "y".repeat(2_600_000);
    let steps: Vec<(&str, Option<&str>)> = vec![
        ("put foo bar", None),
        ("put foo bar -w json", None),
        ("get foo", None),
        ("get foo -w json", None),
        ("put foo2 baz", None),
        ("put foo3 qux --prev-kv", None),
        ("put foo3 quux --prev-kv -w json", None),
        ("get foo --prefix", None),
        ("get foo --prefix -w json", None),
        ("get foo --prefix --limit 2 -w json", None),
        ("get foo --prefix --limit 1", None),
        ("get foo --prefix --keys-only", None),
        ("get foo --prefix --count-only -w json", None),
        ("get foo --prefix --sort-by=MODIFY --order=DESCEND", None),
        ("get foo --prefix --sort-by=VALUE --order=ASCEND", None),
        (
            "get foo --prefix --sort-by=CREATE --order=DESCEND -w json",
            None,
        ),
        ("get foo --prefix --sort-by=KEY --order=DESCEND", None),
        ("get foo --prefix --sort-by=VERSION", None),
        ("get foo --from-key", None),
        ("get a --from-key -w json", None),
        ("get foo foo3", None),
        ("get foo foo3 -w json", None),
        ("get foo --rev=2", None),
        ("get foo --rev=2 -w json", None),
        ("get foo --prefix --print-value-only", None),
        ("get foo --consistency=s -w json", None),
        ("get nothing -w json", None),
        ("get foo -w fields", None),
        ("get foo --prefix -w table", None),
        ("put foo3 --ignore-value", None),
        ("get foo3 -w json", None),
        ("put foo3 other --ignore-lease -w json", None),
        ("put nokey --ignore-value", None),
        ("put nokey v --ignore-lease", None),
        ("put foo bar --lease=1234", None),
        ("put fromstdin", Some("value from stdin")),
        ("get fromstdin", None),
        ("put big", Some(&big_value)),
        ("put huge", Some(&huge_value)),
        ("put foo bar -w fields", None),
        ("--hex get foo", None),
        ("del foo2", None),
        ("del foo2 -w json", None),
        ("put a 1", None),
        ("put b 2", None),
        ("put c 3", None),
        ("del a c -w json", None),
        ("get \"\" --prefix --keys-only", None),
        ("del foo --prefix --prev-kv -w json", None),
        ("put x 1", None),
        (
            "txn",
            Some("value(\"x\") = \"1\"\n\nput x 2\nget x\n\nput x 3\n\n"),
        ),
        (
            "txn -w json",
            Some("value(\"x\") = \"1\"\n\nput x 4\n\nput y 5\nget x\n\n"),
        ),
        (
            "txn -w json",
            Some("mod(\"x\") > \"0\"\nversion(\"x\") = \"2\"\n\nget x\n\n\n"),
        ),
        (
            "txn",
            Some("create(\"x\") < \"100\"\n\ndel x\n\nput x never\n\n"),
        ),
        (
            "txn -w json",
            Some("value(\"missing\") != \"a\"\n\nput m 1\n\nput m 2\n\n"),
        ),
        ("txn", Some("\nput d 1\nput d 2\n\n\n")),
        ("txn", Some("\ndel d\nput d 2\n\n\n")),
        (
            "txn -w fields",
            Some("version(\"y\") = \"1\"\n\nget y\nput z 1\n\n\n"),
        ),
        ("get \"\" --from-key -w json", None),
        // Watches replaying history (etcdctl keeps watching; the step stops it after a while).
        ("watch foo --rev=1 --prev-kv", None),
        ("watch foo --prefix --rev=1 -w json", None),
        ("watch x --rev=1 -w fields", None),
        ("watch d --rev=1 --prev-kv", None),
        ("watch \"\" --from-key --rev=40", None),
        // Leases: $LEASE is the ID the last `lease grant` printed.
        ("lease grant 100", None),
        ("put lk v --lease=$LEASE", None),
        ("get lk -w json", None),
        ("lease timetolive $LEASE --keys", None),
        ("lease timetolive $LEASE --keys -w json", None),
        ("lease keep-alive --once $LEASE", None),
        ("lease list", None),
        ("lease revoke $LEASE", None),
        ("get lk", None),
        ("lease list", None),
        ("lease timetolive 1234", None),
        ("lease revoke 1234", None),
        ("lease keep-alive --once 1234", None),
        ("lease grant 0 -w json", None),
        // clientv3's concurrency package over our KV, Watch and Lease.
        ("lock mylock echo held", None),
        ("watch-for-a-while elect myelection alice", None),
        ("compaction 3", None),
        ("compaction 3", None),
        ("compaction 1000", None),
        ("get y --rev=2", None),
        ("get y --rev=1000", None),
        ("get y --rev=3 -w json", None),
        ("watch y --rev=2", None),
        ("watch y --rev=3 -w json", None),
        ("compaction --physical 5", None),
        ("get y -w json", None),
        ("endpoint status -w json", None),
        ("endpoint health", None),
        ("endpoint hashkv", None),
        ("endpoint hashkv -w json", None),
        ("defrag", None),
        ("alarm list", None),
        ("alarm disarm", None),
    ];
    steps
        .into_iter()
        .map(|(line, input)| (split_words(line), input.map(str::to_string)))
        .collect()
}

/// Splits a command line on spaces, keeping "" as an empty argument.
pub fn split_words(line: &str) -> Vec<String> {
    line.split(' ')
        .map(|word| {
            if word == "\"\"" {
                String::new()
            } else {
                word.to_string()
            }
        })
        .collect()
}

/// What may differ between two correct servers, replaced by placeholders.
fn mask(text: &str, endpoint: &str) -> String {
    let retry_log = Regex::new(r#"(?m)^\{"level":"warn".*\n?"#).unwrap();
    let text = retry_log.replace_all(text, "");
    let text = text.replace(endpoint, "ENDPOINT");
    let rules = [
        (
            r#""(cluster_id|member_id|leader|dbSize|dbSizeInUse|ID|id|lease)":\d+"#,
            "\"$1\":ID",
        ),
        // A lease's remaining seconds depend on when the command ran.
        (r"remaining\(\d+s\)", "remaining(Ns)"),
        (r#""ttl":\d+,"granted-ttl""#, "\"ttl\":N,\"granted-ttl\""),
        (
            r#""(ClusterID|MemberID|Leader|DBSize)" : \d+"#,
            "\"$1\" : ID",
        ),
        (r"took = [0-9.]+[µnm]?s", "took = T"),
        // Hashes are over each server's own storage layout.
        (r#""hash":\d+"#, "\"hash\":HASH"),
        (r"(?m)^ENDPOINT, \d+$", "ENDPOINT, HASH"),
        (r"\b[0-9a-f]{16}\b", "HEXID"),
        // Election keys end in the campaigner's lease ID, in hex without leading zeros.
        (r"myelection/[0-9a-f]+", "myelection/LEASE"),
    ];
    common::masked(&text, &rules)
}

fn transcript(endpoint: &str, tls: &[String]) -> Vec<String> {
    transcript_of(endpoint, tls, &script())
}

/// Runs `steps` (arguments, standard input) in order with Debian's etcdctl; `$LEASE` in an
/// argument is the last lease a step granted.
pub fn transcript_of(
    endpoint: &str,
    tls: &[String],
    steps: &[(Vec<String>, Option<String>)],
) -> Vec<String> {
    let granted = Regex::new(r"lease ([0-9a-f]{16}) granted").unwrap();
    let mut lease = String::new();
    steps
        .iter()
        .map(|(args, input)| {
            let args: Vec<String> = args.iter().map(|a| a.replace("$LEASE", &lease)).collect();
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let output = if args[0] == "watch" {
                watch_for_a_while(endpoint, &args)
            } else if args[0] == "watch-for-a-while" {
                watch_for_a_while(endpoint, &args[1..])
            } else {
                etcdctl(endpoint, tls, &args, input.as_deref())
            };
            let stdout = String::from_utf8_lossy(&output.stdout);
            if let Some(id) = granted.captures(&stdout) {
                lease = id[1].to_string();
            }
            format!(
                "$ etcdctl {}\nexit: {:?}\nstdout:\n{}stderr:\n{}",
                if lease.is_empty() {
                    args.join(" ")
                } else {
                    args.join(" ").replace(&lease, "LEASE")
                },
                output.status.code(),
                mask(&String::from_utf8_lossy(&output.stdout), endpoint),
                mask(&String::from_utf8_lossy(&output.stderr), endpoint),
            )
        })
        .collect()
}

/// `etcdctl watch` (and `elect`) never end by themselves: run them under timeout(1), long
/// enough to print every event of a history replay (or the leadership won).
fn watch_for_a_while(endpoint: &str, args: &[&str]) -> std::process::Output {
    let mut all: Vec<String> = vec![
        "2".into(),
        common::DEBIAN_ETCDCTL.into(),
        "--endpoints".into(),
        endpoint.into(),
    ];
    all.extend(args.iter().map(|a| a.to_string()));
    common::run("timeout", &all, &[("ETCDCTL_API", "3")], None)
}

#[test]
fn etcdctl_v3_kv_commands_answer_as_etcd_3_4() {
    let dir = temp_dir("differential");
    let reference = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.21",
        &dir.join("debian"),
        &[],
    );
    let ours = start_member(&our_binary(), "127.0.0.22", &dir.join("ours"), &[]);
    let expected = transcript(&reference.client_url, &[]);
    let actual = transcript(&ours.client_url, &[]);
    assert!(
        expected.len() >= 60,
        "the script must keep at least 60 commands"
    );
    assert_same_transcripts(&expected, &actual, "ours");
}

//! The seed's cluster run twice on the same addresses, certificates and flags: first Debian's
//! etcd 3.4 (with --enable-v2, which etcd needs for the v2-era check), then ours (which serves it
//! with the seed's flags as they are). Same URLs and token give the same member and cluster IDs,
//! so the outputs of Debian's etcdctl must be equal byte for byte, apart from values that
//! depend on timing (raft term and index, which member leads) and the database size. Each
//! command also runs through our etcdctl applet (`etcd ctl`, TLS flags and all), whose output
//! must equal Debian etcdctl's against the same server at the same moment.

use crate::common;

use common::seed::Seed;
use common::{etcdctl, our_binary, our_etcdctl, temp_dir, DEBIAN_ETCD};
use regex::Regex;
use std::path::Path;

const IPS: [&str; 3] = ["127.0.0.7", "127.0.0.8", "127.0.0.9"];
const LOCAL_PORTS: [u16; 3] = [32377, 32378, 32379];

/// (label, stdout, exit code) of each command.
type Transcript = Vec<(String, String, Option<i32>)>;

fn mask(text: &str) -> String {
    let rules = [
        (r#""raft_term":\d+"#, r#""raft_term":T"#),
        (r#""raft_index":\d+"#, r#""raft_index":I"#),
        (r#""raftIndex":\d+"#, r#""raftIndex":I"#),
        (r#""raftTerm":\d+"#, r#""raftTerm":T"#),
        (r#""RaftTerm" : \d+"#, r#""RaftTerm" : T"#),
        (r#""raftAppliedIndex":\d+"#, r#""raftAppliedIndex":I"#),
        (r#""revision":\d+"#, r#""revision":R"#),
        (r#""leader":\d+"#, r#""leader":L"#),
        (r#""dbSize":\d+"#, r#""dbSize":S"#),
        (r#""dbSizeInUse":\d+"#, r#""dbSizeInUse":S"#),
        (r"isLeader=(true|false)", "isLeader=?"),
    ];
    common::masked(text, &rules)
}

fn transcript(seed: &Seed, program: &Path, tag: &str, extra: &[&str]) -> Transcript {
    let mut members = seed.start(program, tag, extra);
    let mut out = Transcript::new();
    // `output` is Debian etcdctl's, `applet` ours for the same command.
    let mut record = |label: &str, output: std::process::Output, applet: std::process::Output| {
        let took = Regex::new(r"took = \S+").unwrap();
        // `endpoint health` lists members as their answers arrive: in any order.
        let text = |bytes: &[u8]| {
            let text = took
                .replace_all(&String::from_utf8_lossy(bytes), "took = T")
                .into_owned();
            let mut lines: Vec<&str> = text.lines().collect();
            if label.starts_with("endpoint health") {
                lines.sort_unstable();
            }
            lines.join("\n")
        };
        assert_eq!(
            (
                text(&applet.stdout),
                text(&applet.stderr),
                applet.status.code()
            ),
            (
                text(&output.stdout),
                text(&output.stderr),
                output.status.code()
            ),
            "`{label}` through our applet (left) and Debian's etcdctl (right)"
        );
        out.push((
            label.to_string(),
            mask(&String::from_utf8_lossy(&output.stdout)),
            output.status.code(),
        ));
    };
    let first = seed.client_url(0);
    let all = (0..3)
        .map(|i| seed.client_url(i))
        .collect::<Vec<_>>()
        .join(",");
    let tls = seed.v3_tls();
    let v2 = |args: &[&str]| {
        (
            seed.etcdctl_v2(&first, args),
            seed.our_etcdctl_v2(&first, args),
        )
    };
    let v3 = |endpoints: &str, args: &[&str]| {
        (
            etcdctl(endpoints, &tls, args, None),
            our_etcdctl(endpoints, &tls, args, None),
        )
    };
    let (theirs, ours) = v2(&["cluster-health"]);
    record("v2 cluster-health", theirs, ours);
    let (theirs, ours) = v2(&["member", "list"]);
    record("v2 member list", theirs, ours);
    for format in ["simple", "table", "json", "fields"] {
        let (theirs, ours) = v3(&first, &["member", "list", "-w", format]);
        record(&format!("member list -w {format}"), theirs, ours);
    }
    let (theirs, ours) = v3(&first, &["endpoint", "status", "--cluster", "-w", "json"]);
    record("endpoint status --cluster -w json", theirs, ours);
    let (theirs, ours) = v3(&all, &["endpoint", "health", "--cluster"]);
    record("endpoint health --cluster", theirs, ours);
    // Which member leads is timing; make it master in both runs, then stop a follower.
    let leader_of = |status: &str| {
        Regex::new(r#""leader":(\d+)"#)
            .unwrap()
            .captures(status)
            .map(|c| c[1].to_string())
    };
    let status = etcdctl(&first, &tls, &["endpoint", "status", "-w", "json"], None);
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    let master = Regex::new(r#""member_id":(\d+)"#)
        .unwrap()
        .captures(&status)
        .unwrap()[1]
        .to_string();
    let leader = leader_of(&status).unwrap();
    if leader != master {
        let leader_index = (0..3)
            .find(|i| {
                let s = etcdctl(
                    &seed.client_url(*i),
                    &tls,
                    &["endpoint", "status", "-w", "json"],
                    None,
                );
                String::from_utf8_lossy(&s.stdout).contains(&format!("\"member_id\":{leader},"))
            })
            .unwrap();
        let master_hex = format!("{:x}", master.parse::<u64>().unwrap());
        let moved = etcdctl(
            &seed.client_url(leader_index),
            &tls,
            &["move-leader", &master_hex],
            None,
        );
        assert!(
            moved.status.success(),
            "{}",
            String::from_utf8_lossy(&moved.stderr)
        );
    }
    members[2].kill();
    let (theirs, ours) = v2(&["cluster-health"]);
    record("v2 cluster-health, node2 down", theirs, ours);
    out
}

#[test]
fn member_and_health_output_matches_debian_etcd() {
    let dir = temp_dir("cluster-compare");
    let seed = Seed::new(&dir, IPS, LOCAL_PORTS, &[]);
    let theirs = transcript(&seed, Path::new(DEBIAN_ETCD), "debian", &["--enable-v2"]);
    let ours = transcript(&seed, &our_binary(), "ours", &[]);
    // The v2 check must have worked against Debian's etcd too, or the comparison proves nothing.
    assert_eq!(theirs[0].2, Some(0), "{}", theirs[0].1);
    for (expected, got) in theirs.iter().zip(&ours) {
        assert_eq!(
            got, expected,
            "`{}` differs (left: ours, right: Debian's etcd)",
            expected.0
        );
    }
}

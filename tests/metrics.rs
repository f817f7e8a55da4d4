//! /metrics on a follower of a 3-member cluster, ours next to Debian's etcd 3.4 doing the same
//! work: every family we publish exists in etcd's page with the same HELP and TYPE, every
//! sample name and label set we write is one etcd writes, and the values say what happened
//! (a leader seen, WAL fsyncs and store commits timed, bytes exchanged with the leader, the
//! put and the gateway read counted as gRPC calls).

use crate::common;

use common::{etcdctl, start_cluster, temp_dir, Member, DEBIAN_ETCD};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

fn string_field(answer: &str, name: &str) -> Option<String> {
    Regex::new(&format!(r#""{name}":"([^"]*)""#))
        .unwrap()
        .captures(answer)
        .map(|c| c[1].to_string())
}

/// A follower and the leader's ID in hex, as members report them.
fn follower(members: &[Member]) -> (&Member, String) {
    let mut found = None;
    common::wait_until(
        "a follower that knows its leader",
        std::time::Duration::from_secs(10),
        || {
            found = members.iter().find_map(|m| {
                let status = common::post_gateway(m, "maintenance/status", "{}");
                let leader: u64 = string_field(&status, "leader")?.parse().ok()?;
                let me: u64 = string_field(&status, "member_id")?.parse().ok()?;
                (leader != 0 && leader != me).then(|| (m, format!("{leader:x}")))
            });
            found.is_some()
        },
    );
    found.unwrap()
}

/// The same work on both clusters: a put through a follower (gRPC), a read through its gateway.
fn work_and_scrape(members: &[Member]) -> (String, String) {
    let (member, leader) = follower(members);
    let put = etcdctl(&member.client_url, &[], &["put", "metrics-key", "v"], None);
    assert!(put.status.success(), "{put:?}");
    let range = common::post_gateway(member, "kv/range", r#"{"key":"bWV0cmljcy1rZXk="}"#);
    assert!(range.contains("\"count\":\"1\""), "{range}");
    let page = Command::new("curl")
        .args(["-s", "--max-time", "5"])
        .arg(format!("{}/metrics", member.client_url))
        .output()
        .expect("curl runs");
    let page = String::from_utf8_lossy(&page.stdout).into_owned();
    (page, leader)
}

/// HELP and TYPE of each family.
fn families(page: &str) -> BTreeMap<String, (String, String)> {
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    for line in page.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.into()).or_default().0 = help.into();
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.into()).or_default().1 = kind.into();
        }
    }
    out
}

/// Each sample's name and labels (member IDs masked) with its value.
fn samples(page: &str) -> BTreeMap<String, f64> {
    let id = Regex::new(r#"(To|From)="[0-9a-f]+""#).unwrap();
    page.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.rsplit_once(' '))
        .map(|(key, value)| {
            (
                id.replace_all(key, "$1=\"ID\"").into_owned(),
                value.parse().unwrap_or(f64::NAN),
            )
        })
        .collect()
}

#[test]
fn a_followers_metrics_use_etcds_names_and_count_what_happened() {
    let dir = temp_dir("metrics");
    std::fs::create_dir_all(dir.join("ours")).unwrap();
    std::fs::create_dir_all(dir.join("debian")).unwrap();
    let ours = common::start_plain_cluster(
        &["127.0.0.106", "127.0.0.107", "127.0.0.108"],
        &dir.join("ours"),
    );
    let reference = start_cluster(
        Path::new(DEBIAN_ETCD),
        &["127.0.0.109", "127.0.0.110", "127.0.0.111"],
        &dir.join("debian"),
        &[],
    );
    let (page, leader) = work_and_scrape(&ours);
    let (etcd_page, _) = work_and_scrape(&reference);

    let etcd_families = families(&etcd_page);
    let our_families = families(&page);
    for name in [
        "etcd_server_has_leader",
        "etcd_server_leader_changes_seen_total",
        "etcd_server_proposals_committed_total",
        "etcd_server_proposals_applied_total",
        "etcd_server_proposals_pending",
        "etcd_server_proposals_failed_total",
        "etcd_disk_wal_fsync_duration_seconds",
        "etcd_disk_backend_commit_duration_seconds",
        "etcd_mvcc_db_total_size_in_bytes",
        "etcd_debugging_mvcc_keys_total",
        "etcd_network_peer_sent_bytes_total",
        "etcd_network_peer_received_bytes_total",
        "grpc_server_started_total",
        "grpc_server_handled_total",
    ] {
        assert!(our_families.contains_key(name), "we do not publish {name}");
    }
    // Families of our own (what etcd does not count) carry the etcdrs_ prefix.
    let ours_only = |name: &str| name.starts_with("etcdrs_");
    for (name, help_and_type) in our_families.iter().filter(|(name, _)| !ours_only(name)) {
        assert_eq!(
            Some(help_and_type),
            etcd_families.get(name),
            "family {name}"
        );
    }
    let etcd_samples = samples(&etcd_page);
    let our_samples = samples(&page);
    for key in our_samples.keys().filter(|key| !ours_only(key)) {
        assert!(
            etcd_samples.contains_key(key),
            "etcd writes no sample {key}"
        );
    }

    let value = |key: &str| {
        *our_samples
            .get(key)
            .unwrap_or_else(|| panic!("no sample {key} in:\n{page}"))
    };
    assert_eq!(value("etcd_server_has_leader"), 1.0);
    assert_eq!(value("etcd_server_is_leader"), 0.0);
    assert!(value("etcd_server_leader_changes_seen_total") >= 1.0);
    assert!(value("etcd_disk_wal_fsync_duration_seconds_count") > 0.0);
    assert!(value("etcd_disk_backend_commit_duration_seconds_count") > 0.0);
    assert_eq!(value("etcd_debugging_mvcc_keys_total"), 1.0);
    assert_eq!(value("etcd_server_proposals_pending"), 0.0);
    assert!(page.contains(&format!(
        "etcd_network_peer_sent_bytes_total{{To=\"{leader}\"}}"
    )));
    assert!(value("etcd_network_peer_sent_bytes_total{To=\"ID\"}") > 0.0);
    assert!(value("etcd_network_peer_received_bytes_total{From=\"ID\"}") > 0.0);
    let put = r#"grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary""#;
    assert_eq!(value(&format!("grpc_server_started_total{{{put}}}")), 1.0);
    assert_eq!(
        value(&format!(
            "grpc_server_handled_total{{grpc_code=\"OK\",{put}}}"
        )),
        1.0
    );
    let range = r#"grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary""#;
    assert!(value(&format!("grpc_server_started_total{{{range}}}")) >= 1.0);
}

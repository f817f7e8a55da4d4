//! `etcdctl check perf` through our applet against our server: the 60-second small load, its
//! verdict lines, and the check's keys deleted and compacted away afterwards. Whether the
//! verdict is PASS depends on the machine, so only its form is asserted.

mod common;

use common::{etcdctl, our_binary, our_etcdctl, single_member_args, temp_dir, Member};
use regex::Regex;

#[test]
fn check_perf_runs_its_load_and_cleans_up() {
    let dir = temp_dir("check-perf");
    let data_dir = dir.join("member");
    let args = single_member_args("perf", "127.0.0.95", 2379, 2380, &data_dir, "http");
    let _member = Member::start(&our_binary(), args, "http://127.0.0.95:2379", &data_dir);
    let endpoint = "127.0.0.95:2379";
    let out = our_etcdctl(endpoint, &[], &["check", "perf", "--auto-compact"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let form = Regex::new(
        r"(?s)^Compacting with revision (\d+)\nCompacted with revision (\d+)\n(PASS|FAIL): Throughput (is|too low:) (\d+) writes/s\n.*(PASS|FAIL)\n$",
    )
    .unwrap();
    let parts = form
        .captures(&text)
        .unwrap_or_else(|| panic!("unexpected output:\n{text}"));
    assert_eq!(&parts[1], &parts[2]);
    // About 150 puts a second for 60 seconds were made (each a revision), then one delete.
    let revision: i64 = parts[1].parse().unwrap();
    assert!(
        revision > 1000,
        "only {revision} revisions: the load did not run"
    );
    assert_eq!(
        out.status.code(),
        Some(if &parts[6] == "PASS" { 0 } else { 1 })
    );
    let count = etcdctl(
        endpoint,
        &[],
        &["get", "/etcdctl-check-perf/", "--prefix", "--keys-only"],
        None,
    );
    assert!(count.stdout.is_empty(), "the check's keys are deleted");
}

//! `etcdctl check perf` against our server, run by our applet and by Debian's etcdctl (whose
//! keys are 256 bytes of mostly zero bytes after the prefix): the 60-second small load, its
//! verdict lines, and the check's keys deleted and compacted away afterwards. Whether the
//! verdict is PASS depends on the machine, so only its form is asserted.

use crate::common;

use common::{etcdctl, our_binary, our_etcdctl, single_member_args, temp_dir, Member};
use regex::Regex;
use std::process::Output;

#[test]
fn check_perf_runs_its_load_and_cleans_up() {
    let dir = temp_dir("check-perf");
    let data_dir = dir.join("member");
    let args = single_member_args("perf", "127.0.0.95", 2379, 2380, &data_dir, "http");
    let _member = Member::start(&our_binary(), args, "http://127.0.0.95:2379", &data_dir);
    let endpoint = "127.0.0.95:2379";
    let check = ["check", "perf", "--auto-compact"];
    let ours = assert_ran_and_cleaned_up(endpoint, 0, our_etcdctl(endpoint, &[], &check, None));
    assert_ran_and_cleaned_up(endpoint, ours, etcdctl(endpoint, &[], &check, None));
}

/// Checks a run that started at `revision`; returns the revision it compacted at.
fn assert_ran_and_cleaned_up(endpoint: &str, revision: i64, out: Output) -> i64 {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // etcdctl first draws its progress bar on stdout (our applet draws none).
    let text = match text.find("Compacting with revision") {
        Some(start) => text[start..].to_string(),
        None => text,
    };
    let form = Regex::new(
        r"(?s)^Compacting with revision (\d+)\nCompacted with revision (\d+)\n(PASS|FAIL): Throughput (is|too low:) (\d+) writes/s\n.*(PASS|FAIL)\n$",
    )
    .unwrap();
    let parts = form
        .captures(&text)
        .unwrap_or_else(|| panic!("unexpected output:\n{text}"));
    assert_eq!(&parts[1], &parts[2]);
    // About 150 puts a second for 60 seconds were made (each a revision), then one delete.
    let compacted: i64 = parts[1].parse().unwrap();
    assert!(
        compacted - revision > 1000,
        "only {} revisions: the load did not run:\n{text}{}",
        compacted - revision,
        String::from_utf8_lossy(&out.stderr)
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
    compacted
}

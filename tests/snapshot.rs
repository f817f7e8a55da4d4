//! Backups: Maintenance.Snapshot saved by Debian's etcdctl and by our applet (the same bytes),
//! read back by `snapshot status`, and a damaged file refused.

mod common;

use common::{etcdctl, our_binary, our_etcdctl, single_member_args, temp_dir, Member};
use regex::Regex;

#[test]
fn snapshot_save_and_status() {
    let dir = temp_dir("snapshot");
    let data_dir = dir.join("member");
    let args = single_member_args("backup", "127.0.0.86", 2379, 2380, &data_dir, "http");
    let _member = Member::start(&our_binary(), args, "http://127.0.0.86:2379", &data_dir);
    let endpoint = "127.0.0.86:2379";
    for i in 0..200 {
        let value = format!("value-{i}-{}", "x".repeat(i));
        let out = etcdctl(
            endpoint,
            &[],
            &["put", &format!("key/{i:03}"), &value],
            None,
        );
        assert!(out.status.success());
    }
    let out = etcdctl(endpoint, &[], &["del", "key/1", "--prefix"], None);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "100\n");

    let theirs = dir.join("debian.db");
    let ours = dir.join("ours.db");
    let saved = etcdctl(
        endpoint,
        &[],
        &["snapshot", "save", &theirs.display().to_string()],
        None,
    );
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let saved = our_etcdctl(
        endpoint,
        &[],
        &["snapshot", "save", &ours.display().to_string()],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&saved.stdout),
        format!("Snapshot saved at {}\n", ours.display())
    );
    let (their_bytes, our_bytes) = (
        std::fs::read(&theirs).unwrap(),
        std::fs::read(&ours).unwrap(),
    );
    assert_eq!(their_bytes, our_bytes, "both clients saved the same stream");
    assert_eq!(
        our_bytes.len() % 512,
        32,
        "etcd's layout: padded, then a SHA-256"
    );

    let header = etcdctl(endpoint, &[], &["get", "nothing", "-w", "json"], None);
    let revision = Regex::new(r#""revision":(\d+)"#)
        .unwrap()
        .captures(&String::from_utf8_lossy(&header.stdout))
        .unwrap()[1]
        .to_string();
    let status = our_etcdctl(
        endpoint,
        &[],
        &[
            "snapshot",
            "status",
            &ours.display().to_string(),
            "-w",
            "json",
        ],
        None,
    );
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert!(
        status.contains(&format!(
            "\"revision\":{revision},\"totalKey\":100,\"totalSize\":{}}}",
            our_bytes.len()
        )),
        "{status}"
    );

    let mut damaged = our_bytes.clone();
    damaged[100] ^= 1;
    std::fs::write(&ours, &damaged).unwrap();
    let status = our_etcdctl(
        endpoint,
        &[],
        &["snapshot", "status", &ours.display().to_string()],
        None,
    );
    assert_eq!(status.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&status.stderr),
        "Error: snapshot file integrity check failed (sha256 mismatch)\n"
    );
}

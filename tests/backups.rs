//! Moving between etcd and ours through backups, both ways: a backup of a Debian etcd 3.4
//! cluster (`etcdctl snapshot save`, a bolt file) restored with our etcdutl into a 3-member
//! cluster of ours, and a backup of our cluster restored with Debian's etcdctl into Debian's
//! etcd. Either way the new cluster serves every key with its create and mod revisions,
//! versions and leases, the same revision, refuses reads below the compaction, and takes the
//! next write at the next revision. python-etcd3's own snapshot check passes against ours.

use crate::common::{
    self, etcdctl, initial_cluster, our_binary, revision, run, start_cluster, temp_dir,
    DEBIAN_ETCD, DEBIAN_ETCDCTL,
};
use std::path::Path;

/// Writes, deletes, leases with keys, a txn and a compaction; returns the revision compacted.
fn workload(endpoint: &str) -> i64 {
    for i in 0..150 {
        let put = etcdctl(
            endpoint,
            &[],
            &["put", &format!("k/{i:03}"), &format!("v{i}")],
            None,
        );
        assert!(put.status.success(), "{put:?}");
    }
    for i in 0..30 {
        let put = etcdctl(endpoint, &[], &["put", &format!("k/{i:03}"), "again"], None);
        assert!(put.status.success());
    }
    let del = etcdctl(endpoint, &[], &["del", "k/1", "--prefix"], None);
    assert!(del.status.success());
    common::leased_keys(endpoint, 5);
    let txn = etcdctl(
        endpoint,
        &[],
        &["txn"],
        Some("value(\"k/000\") = \"again\"\n\nput txn/a 1\nput txn/b 2\n\n\n"),
    );
    assert!(String::from_utf8_lossy(&txn.stdout).starts_with("SUCCESS"));
    let compact_at = revision(endpoint) - 20;
    let compact = etcdctl(
        endpoint,
        &[],
        &["compaction", &compact_at.to_string()],
        None,
    );
    assert!(compact.status.success(), "{compact:?}");
    let put = etcdctl(endpoint, &[], &["put", "k/000", "after-compaction"], None);
    assert!(put.status.success());
    compact_at
}

fn assert_next_write_takes(endpoint: &str, next: i64) {
    let put = etcdctl(endpoint, &[], &["put", "next", "write", "-w", "json"], None);
    let text = String::from_utf8_lossy(&put.stdout);
    assert!(text.contains(&format!("\"revision\":{next},")), "{put:?}");
}

/// What a cluster serves: every key with its revisions, versions and lease; the leases with
/// their granted TTLs; whether a read below `compacted` is refused.
fn served(endpoint: &str, compacted: i64) -> (String, Vec<String>, bool) {
    let out = etcdctl(endpoint, &[], &["get", "", "--prefix", "-w", "json"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let keys = text[text.find("\"kvs\"").expect("keys")..].to_string();
    let leases = etcdctl(endpoint, &[], &["lease", "list"], None);
    let granted: Vec<String> = String::from_utf8_lossy(&leases.stdout)
        .lines()
        .skip(1)
        .map(|id| {
            let ttl = etcdctl(endpoint, &[], &["lease", "timetolive", id], None);
            let text = String::from_utf8_lossy(&ttl.stdout).into_owned();
            text.split(", remaining")
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let old = etcdctl(
        endpoint,
        &[],
        &["get", "k/000", &format!("--rev={}", compacted - 1)],
        None,
    );
    let refused =
        String::from_utf8_lossy(&old.stderr).contains("required revision has been compacted");
    (keys, granted, refused)
}

fn save(endpoint: &str, file: &Path, program: &[&str]) {
    let mut args: Vec<String> = program[1..].iter().map(|s| s.to_string()).collect();
    args.extend([
        format!("--endpoints={endpoint}"),
        "snapshot".into(),
        "save".into(),
        file.display().to_string(),
    ]);
    let out = run(program[0], &args, &[("ETCDCTL_API", "3")], None);
    assert!(out.status.success(), "{out:?}");
}

/// Restores `backup` with `restore` (a program and its leading arguments) into `dir` as the
/// data dirs of a cluster on `ips` laid out as `start_cluster` starts one.
fn restore_cluster(restore: &[&str], backup: &Path, dir: &Path, ips: &[&str]) {
    let cluster = initial_cluster(ips);
    for (i, ip) in ips.iter().enumerate() {
        let mut args: Vec<String> = restore[1..].iter().map(|s| s.to_string()).collect();
        args.extend([
            "snapshot".into(),
            "restore".into(),
            backup.display().to_string(),
            format!("--name=m{i}"),
            format!("--data-dir={}", dir.join(format!("m{i}")).display()),
            format!("--initial-cluster={cluster}"),
            format!("--initial-advertise-peer-urls=http://{ip}:2380"),
        ]);
        let out = run(restore[0], &args, &[("ETCDCTL_API", "3")], None);
        assert!(out.status.success(), "{out:?}");
    }
}

#[test]
fn an_etcd_clusters_backup_restores_into_ours() {
    let dir = temp_dir("backups-from-etcd");
    let source = start_cluster(
        Path::new(DEBIAN_ETCD),
        &["127.0.0.185", "127.0.0.186", "127.0.0.187"],
        &dir.join("etcd"),
        &[],
    );
    let endpoint = &source[0].client_url;
    let compacted = workload(endpoint);
    let backup = dir.join("etcd.db");
    save(endpoint, &backup, &[DEBIAN_ETCDCTL]);
    let expected = served(endpoint, compacted);
    let expected_revision = revision(endpoint);
    let ips = ["127.0.0.188", "127.0.0.189", "127.0.0.190"];
    let binary = our_binary().display().to_string();
    restore_cluster(&[&binary, "util"], &backup, &dir.join("ours"), &ips);
    let ours = start_cluster(&our_binary(), &ips, &dir.join("ours"), &[]);
    for member in &ours {
        assert_eq!(
            served(&member.client_url, compacted),
            expected,
            "{}",
            member.client_url
        );
        assert_eq!(revision(&member.client_url), expected_revision);
    }
    assert_next_write_takes(&ours[1].client_url, expected_revision + 1);
}

#[test]
fn our_clusters_backup_restores_into_etcd() {
    let dir = temp_dir("backups-to-etcd");
    let source = crate::common::start_plain_cluster(
        &["127.0.0.191", "127.0.0.192", "127.0.0.193"],
        &dir.join("ours"),
    );
    let endpoint = &source[1].client_url;
    let compacted = workload(endpoint);
    let (theirs, ours) = (dir.join("debian.db"), dir.join("ours.db"));
    save(endpoint, &theirs, &[DEBIAN_ETCDCTL]);
    let binary = our_binary().display().to_string();
    save(endpoint, &ours, &[&binary, "ctl"]);
    assert_eq!(
        std::fs::read(&theirs).unwrap(),
        std::fs::read(&ours).unwrap()
    );
    let expected = served(endpoint, compacted);
    let expected_revision = revision(endpoint);
    let status = run(
        DEBIAN_ETCDCTL,
        &[
            "snapshot".into(),
            "status".into(),
            theirs.display().to_string(),
            "-w".into(),
            "json".into(),
        ],
        &[("ETCDCTL_API", "3")],
        None,
    );
    assert!(
        String::from_utf8_lossy(&status.stdout)
            .contains(&format!("\"revision\":{expected_revision},")),
        "{status:?}"
    );
    restore_cluster(
        &[DEBIAN_ETCDCTL],
        &theirs,
        &dir.join("etcd"),
        &["127.0.0.194"],
    );
    let etcd = start_cluster(
        Path::new(DEBIAN_ETCD),
        &["127.0.0.194"],
        &dir.join("etcd"),
        &[],
    );
    assert_eq!(served(&etcd[0].client_url, compacted), expected);
    assert_eq!(revision(&etcd[0].client_url), expected_revision);
    assert_next_write_takes(&etcd[0].client_url, expected_revision + 1);
}

#[test]
fn python_etcd3s_snapshot_check_passes_against_ours() {
    let dir = temp_dir("backups-python");
    let member = crate::common::start_member(&our_binary(), "127.0.0.195", &dir.join("data"), &[]);
    let put = etcdctl(&member.client_url, &[], &["put", "k", "v"], None);
    assert!(put.status.success());
    // python-etcd3's test_snapshot: Etcd3Client.snapshot into a file, then etcdctl reads it.
    let file = dir.join("python.db");
    let script = format!(
        "import etcd3\nclient = etcd3.client(host='127.0.0.195', port=2379)\nwith open({:?}, 'wb') as f:\n    client.snapshot(f)\n",
        file.display().to_string()
    );
    let python = run("/usr/bin/python3", &["-c".into(), script], &[], None);
    assert!(python.status.success(), "{python:?}");
    let status = run(
        DEBIAN_ETCDCTL,
        &[
            "snapshot".into(),
            "status".into(),
            file.display().to_string(),
        ],
        &[("ETCDCTL_API", "3")],
        None,
    );
    assert!(status.status.success(), "{status:?}");
}

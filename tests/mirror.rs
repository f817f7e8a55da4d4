//! `etcdctl make-mirror` both ways: through our applet from Debian's etcd to ours (how a live
//! cluster moves over), and through Debian's etcdctl from ours to Debian's etcd (the way back):
//! the keys under the prefix as they were, then every later put and delete, under the
//! destination prefix.

use crate::common;

use common::{
    etcdctl, our_binary, single_member_args, temp_dir, wait_until, Member, DEBIAN_ETCD,
    DEBIAN_ETCDCTL,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// `key=value` lines of every key under `prefix` at `endpoint`.
fn keys(endpoint: &str, prefix: &str) -> Vec<String> {
    let out = etcdctl(endpoint, &[], &["get", prefix, "--prefix"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    lines.chunks(2).map(|kv| kv.join("=")).collect()
}

#[test]
fn make_mirror_copies_then_follows() {
    let ours = our_binary().display().to_string();
    mirror_copies_then_follows(
        "mirror-in",
        (Path::new(DEBIAN_ETCD), "127.0.0.93"),
        (&our_binary(), "127.0.0.94"),
        &[&ours, "ctl"],
    );
}

#[test]
fn make_mirror_from_ours_to_etcd_copies_then_follows() {
    mirror_copies_then_follows(
        "mirror-out",
        (&our_binary(), "127.0.0.196"),
        (Path::new(DEBIAN_ETCD), "127.0.0.197"),
        &[DEBIAN_ETCDCTL],
    );
}

/// A member of `from` mirrored into a member of `to` (each a program and its address) by
/// `mirror` (a program and its leading arguments).
fn mirror_copies_then_follows(name: &str, from: (&Path, &str), to: (&Path, &str), mirror: &[&str]) {
    let dir = temp_dir(name);
    let source_dir = dir.join("source");
    let target_dir = dir.join("target");
    let source_args = single_member_args("src", from.1, 2379, 2380, &source_dir, "http");
    let source_url = format!("http://{}:2379", from.1);
    let _source = Member::start(from.0, source_args, &source_url, &source_dir);
    let target_args = single_member_args("dst", to.1, 2379, 2380, &target_dir, "http");
    let target_url = format!("http://{}:2379", to.1);
    let _target = Member::start(to.0, target_args, &target_url, &target_dir);
    let (source, target) = (&source_url[7..], &target_url[7..]);
    // 1,500 keys (more than one of the mirror's 1,000-key batches), 100 per txn.
    for batch in 0..15 {
        let puts: String = (batch * 100..batch * 100 + 100)
            .map(|i| format!("put app/{i:04} v{i}\n"))
            .collect();
        let put = etcdctl(source, &[], &["txn"], Some(&format!("\n{puts}\n\n")));
        assert!(
            put.status.success(),
            "{}",
            String::from_utf8_lossy(&put.stderr)
        );
    }
    etcdctl(source, &[], &["put", "other/x", "not mirrored"], None);

    let mut mirror = Command::new(mirror[0])
        .args(&mirror[1..])
        .args([
            "--endpoints",
            source,
            "make-mirror",
            "--prefix=app/",
            "--dest-prefix=moved/",
            &target_url,
        ])
        .env("ETCDCTL_API", "3")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let expected = |changes: &[String]| -> Vec<String> {
        let mut want: Vec<String> = keys(source, "app/")
            .iter()
            .map(|kv| kv.replacen("app/", "moved/", 1))
            .collect();
        want.extend(changes.iter().cloned());
        want
    };
    // The base state (more than one batch of 1000 keys).
    wait_until("the base copy", Duration::from_secs(60), || {
        keys(target, "moved/") == expected(&[])
    });
    // Later changes follow.
    etcdctl(source, &[], &["put", "app/0001", "changed"], None);
    etcdctl(source, &[], &["del", "app/0002"], None);
    let txn = "\nput app/new n\ndel app/0003\n\n\n";
    etcdctl(source, &[], &["txn"], Some(txn));
    wait_until("the changes", Duration::from_secs(30), || {
        keys(target, "moved/") == expected(&[])
    });
    let copied = keys(target, "moved/");
    assert!(copied.contains(&"moved/0001=changed".to_string()));
    assert!(copied.contains(&"moved/new=n".to_string()));
    assert!(!copied.iter().any(|kv| kv.starts_with("moved/0002=")));
    assert!(
        keys(target, "other/").is_empty(),
        "only the prefix is mirrored"
    );
    assert_eq!(
        mirror.try_wait().unwrap(),
        None,
        "make-mirror keeps following"
    );
    let _ = mirror.kill();
    let _ = mirror.wait();
}

//! `etcdctl make-mirror` through our applet, from Debian's etcd to ours (how a cluster moves
//! over): the keys under the prefix as they were, then every later put and delete, under the
//! destination prefix.

use crate::common;

use common::{etcdctl, our_binary, single_member_args, temp_dir, wait_until, Member, DEBIAN_ETCD};
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
    let dir = temp_dir("mirror");
    let source_dir = dir.join("source");
    let target_dir = dir.join("target");
    let source_args = single_member_args("src", "127.0.0.93", 2379, 2380, &source_dir, "http");
    let _source = Member::start(
        Path::new(DEBIAN_ETCD),
        source_args,
        "http://127.0.0.93:2379",
        &source_dir,
    );
    let target_args = single_member_args("dst", "127.0.0.94", 2379, 2380, &target_dir, "http");
    let _target = Member::start(
        &our_binary(),
        target_args,
        "http://127.0.0.94:2379",
        &target_dir,
    );
    let (source, target) = ("127.0.0.93:2379", "127.0.0.94:2379");
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

    let mut mirror = Command::new(our_binary())
        .args([
            "ctl",
            "--endpoints",
            source,
            "make-mirror",
            "--prefix=app/",
            "--dest-prefix=moved/",
            "http://127.0.0.94:2379",
        ])
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

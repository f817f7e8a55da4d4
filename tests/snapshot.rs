//! Backups: Maintenance.Snapshot saved by Debian's etcdctl and by our applet (the same bytes, an
//! etcd bolt file and its SHA-256), read back by `snapshot status` (what Debian's etcdctl
//! prints for it, in every output format), a damaged file refused at restore as etcdctl refuses
//! it, and a backup restored with `etcdutl snapshot restore` into a new 3-member cluster that
//! has every key, the revision and the HashKV of the source (one member restored with its WAL
//! in a --wal-dir of its own, started with the same flag).

use crate::common;

use common::{
    etcdctl, our_binary, our_etcdctl, revision, run, single_member_args, temp_dir, Member,
};
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

    for format in ["simple", "json", "table", "fields"] {
        let path = ours.display().to_string();
        let args = ["snapshot", "status", path.as_str(), "-w", format];
        let (theirs, mine) = (
            etcdctl(endpoint, &[], &args, None),
            our_etcdctl(endpoint, &[], &args, None),
        );
        assert!(
            theirs.status.success(),
            "Debian's etcdctl reads our backup: {theirs:?}"
        );
        assert_eq!(
            (String::from_utf8_lossy(&mine.stdout), mine.status.code()),
            (
                String::from_utf8_lossy(&theirs.stdout),
                theirs.status.code()
            ),
            "snapshot status -w {format}"
        );
    }

    restore_into_new_cluster(&dir, &ours, endpoint);

    // A flipped byte: both tools refuse to restore it, with the same words.
    let mut damaged = our_bytes.clone();
    damaged[our_bytes.len() / 2] ^= 1;
    std::fs::write(&ours, &damaged).unwrap();
    let refused = |program: &[&str]| {
        let mut args: Vec<String> = program[1..].iter().map(|s| s.to_string()).collect();
        args.extend([
            "snapshot".to_string(),
            "restore".into(),
            ours.display().to_string(),
            format!(
                "--data-dir={}",
                dir.join(format!("refused-{}", program.len())).display()
            ),
        ]);
        let out = run(program[0], &args, &[("ETCDCTL_API", "3")], None);
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
                .to_string(),
        )
    };
    let binary = our_binary().display().to_string();
    let theirs = refused(&[common::DEBIAN_ETCDCTL]);
    assert!(
        theirs.1.starts_with("Error: expected sha256 ["),
        "{theirs:?}"
    );
    assert_eq!(refused(&[&binary, "ctl"]), theirs);
}

const RESTORED: [&str; 3] = ["127.0.0.87", "127.0.0.88", "127.0.0.89"];

/// Restores `backup` into three new members (as etcdutl, through a link of that name), starts
/// them and compares what they serve with the source member.
fn restore_into_new_cluster(dir: &std::path::Path, backup: &std::path::Path, source: &str) {
    let etcdutl = dir.join("etcdutl");
    std::os::unix::fs::symlink(our_binary(), &etcdutl).unwrap();
    let cluster = RESTORED
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("r{i}=http://{ip}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    let mut members = Vec::new();
    // The last member keeps its WAL on a disk of its own, as a unit with --wal-dir would.
    let wal_dir = dir.join("r2-wal");
    let wal_flag = format!("--wal-dir={}", wal_dir.display());
    for (i, ip) in RESTORED.iter().enumerate() {
        let data_dir = dir.join(format!("r{i}"));
        let mut restore: Vec<String> = [
            "snapshot".to_string(),
            "restore".into(),
            backup.display().to_string(),
            format!("--name=r{i}"),
            format!("--data-dir={}", data_dir.display()),
            format!("--initial-cluster={cluster}"),
            "--initial-cluster-token=restored".into(),
            format!("--initial-advertise-peer-urls=http://{ip}:2380"),
        ]
        .into();
        if i == 2 {
            restore.push(wal_flag.clone());
        }
        let out = run(&etcdutl.display().to_string(), &restore, &[], None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Restoring over an existing data dir is refused.
        let again = run(&etcdutl.display().to_string(), &restore, &[], None);
        assert_eq!(
            String::from_utf8_lossy(&again.stderr),
            format!(
                "Error: data-dir {:?} exists\n",
                data_dir.display().to_string()
            )
        );
        let mut args = single_member_args(&format!("r{i}"), ip, 2379, 2380, &data_dir, "http");
        let at = args.iter().position(|a| a == "--initial-cluster").unwrap();
        args[at + 1] = cluster.clone();
        args.extend(["--initial-cluster-token".to_string(), "restored".into()]);
        if i == 2 {
            let segments = std::fs::read_dir(&wal_dir).map(|d| d.count()).unwrap_or(0);
            assert!(segments > 0, "the restored WAL is in --wal-dir");
            args.push(wal_flag.clone());
        }
        members.push(Member::spawn(
            &our_binary(),
            args,
            &format!("http://{ip}:2379"),
            &data_dir,
        ));
    }
    for member in &mut members {
        member.wait_healthy();
    }
    let keys = |endpoint: &str| {
        let out = etcdctl(endpoint, &[], &["get", "", "--prefix", "-w", "json"], None);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // Everything after the header: the keys with their revisions, and the count.
        text[text.find("\"kvs\"").expect("keys in the answer")..].to_string()
    };
    let expected = keys(source);
    // HashKV: the same history, hence the same hash (how members are checked for corruption).
    let hash = |endpoint: &str| {
        let rev = revision(source);
        let out = etcdctl(
            endpoint,
            &[],
            &[
                "endpoint",
                "hashkv",
                "--rev",
                &rev.to_string(),
                "-w",
                "json",
            ],
            None,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        Regex::new(r#""hash":(\d+)"#)
            .unwrap()
            .captures(&text)
            .unwrap_or_else(|| panic!("no hash from {endpoint}: {text}"))[1]
            .to_string()
    };
    let expected_hash = hash(source);
    for ip in RESTORED {
        assert_eq!(
            hash(&format!("{ip}:2379")),
            expected_hash,
            "HashKV of the restored {ip}"
        );
    }
    for ip in RESTORED {
        let endpoint = format!("{ip}:2379");
        assert_eq!(
            keys(&endpoint),
            expected,
            "keys served by the restored {ip}"
        );
        assert_eq!(
            revision(&endpoint),
            revision(source),
            "revision of the restored {ip}"
        );
    }
    let members = etcdctl(
        &format!("{}:2379", RESTORED[0]),
        &[],
        &["member", "list"],
        None,
    );
    let listed = String::from_utf8_lossy(&members.stdout).into_owned();
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(
        listed.contains(", started, r1, http://127.0.0.88:2380, http://127.0.0.88:2379, false"),
        "{listed}"
    );
    // The new cluster takes writes after the restored revision.
    let put = etcdctl(
        &format!("{}:2379", RESTORED[2]),
        &[],
        &["put", "after", "restore", "-w", "json"],
        None,
    );
    let next = revision(source) + 1;
    assert!(String::from_utf8_lossy(&put.stdout).contains(&format!("\"revision\":{next},")));
}

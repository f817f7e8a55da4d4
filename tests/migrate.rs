//! The seed's upgrade: a 3-member Debian etcd 3.4 cluster holding 10,000 keys is stopped, each
//! member's data dir is migrated with `etcd util migrate`, and our binary starts with the very
//! same flags: the same cluster and member IDs, every key with its revisions, the leases, and
//! the cluster takes the next write at the next revision. One member is killed with entries
//! in its WAL past what its backend holds (and a member update among them): nothing is lost.
//! Before that: our member refuses the unconverted etcd data dir naming the command, and the
//! migration refuses a data dir etcd still runs on.

use crate::common::{
    self, etcdctl, fill, our_binary, revision, run, spawn_cluster_member, start_cluster, temp_dir,
    wait_until, Member, SmallDisk, DEBIAN_ETCD,
};
use std::path::Path;
use std::time::Duration;

const IPS: [&str; 3] = ["127.0.0.200", "127.0.0.201", "127.0.0.202"];

/// `count` keys, 100 puts per txn, from `first` on.
fn put_keys(endpoint: &str, first: usize, count: usize) {
    for batch in (first..first + count).step_by(100) {
        let puts: String = (batch..(batch + 100).min(first + count))
            .map(|i| format!("put key/{i:05} value-{i}\n"))
            .collect();
        let txn = etcdctl(endpoint, &[], &["txn"], Some(&format!("\n{puts}\n\n")));
        assert!(txn.status.success(), "{txn:?}");
    }
}

/// Every key with its revisions and versions (the answer after its header), and the revision.
fn everything(endpoint: &str, consistency: &str) -> (String, i64) {
    let out = etcdctl(
        endpoint,
        &[],
        &[
            "get",
            "",
            "--prefix",
            "-w",
            "json",
            &format!("--consistency={consistency}"),
        ],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text
        .find("\"kvs\"")
        .unwrap_or_else(|| panic!("no keys from {endpoint}: {out:?}"));
    let header = &text[..at];
    let revision = header
        .split("\"revision\":")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|digits| digits.parse().ok())
        .expect("a revision in the header");
    (text[at..].to_string(), revision)
}

/// `member list -w json` without its header's member ID and raft term: the cluster ID and
/// every member as the cluster describes it.
fn members(endpoint: &str) -> String {
    let out = etcdctl(endpoint, &[], &["member", "list", "-w", "json"], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let cluster = text.split("\"member_id\"").next().unwrap().to_string();
    let list = &text[text.find("\"members\"").expect("members")..];
    format!("{cluster}{list}")
}

fn migrate(data_dir: &Path) -> std::process::Output {
    let binary = our_binary().display().to_string();
    run(
        &binary,
        &[
            "util".into(),
            "migrate".into(),
            format!("--data-dir={}", data_dir.display()),
        ],
        &[],
        None,
    )
}

#[test]
fn an_etcd_clusters_data_dirs_migrate_in_place_with_nothing_lost() {
    let dir = temp_dir("migrate");
    let cluster_dir = dir.join("cluster");
    let mut etcd = start_cluster(Path::new(DEBIAN_ETCD), &IPS, &cluster_dir, &[]);
    let endpoint = &etcd[0].client_url.clone();
    put_keys(endpoint, 0, 5_000);
    let lease = common::leased_keys(endpoint, 3);
    let del = etcdctl(endpoint, &[], &["del", "key/0001", "--prefix"], None);
    assert!(del.status.success());
    let compact = etcdctl(
        endpoint,
        &[],
        &["compaction", &(revision(endpoint) - 10).to_string()],
        None,
    );
    assert!(compact.status.success(), "{compact:?}");

    // The third member's backend stops committing: what follows is only in its WAL.
    etcd[2].stop();
    etcd[2].add_args(&[
        "--backend-batch-interval",
        "1h",
        "--backend-batch-limit",
        "1000000000",
    ]);
    etcd[2].restart();
    put_keys(&etcd[2].client_url.clone(), 5_000, 5_000);
    let m1 = etcdctl(endpoint, &[], &["member", "list"], None);
    let m1_id = String::from_utf8_lossy(&m1.stdout)
        .lines()
        .find(|line| line.contains(", m1,"))
        .and_then(|line| line.split(',').next())
        .expect("m1 listed")
        .to_string();
    let update = etcdctl(
        endpoint,
        &[],
        &[
            "member",
            "update",
            &m1_id,
            "--peer-urls=http://127.0.0.201:2380",
        ],
        None,
    );
    assert!(update.status.success(), "{update:?}");
    put_keys(endpoint, 10_000, 100);
    let (expected, expected_revision) = everything(endpoint, "l");
    let expected_members = members(endpoint);
    wait_until(
        "the third member to apply everything",
        Duration::from_secs(30),
        || everything(&etcd[2].client_url, "s").1 == expected_revision,
    );

    // Not while etcd runs.
    let running = migrate(&etcd[0].data_dir);
    assert!(
        String::from_utf8_lossy(&running.stderr).contains("etcd is still running"),
        "{running:?}"
    );
    etcd[2].kill();
    etcd[0].stop();
    etcd[1].stop();
    drop(etcd);

    // Ours refuses etcd's data dir as it is, naming the command.
    let unconverted = spawn_cluster_member(&our_binary(), &IPS, 0, &cluster_dir, &[]);
    let refused = wait_for_exit(unconverted);
    assert!(
        refused.contains("etcd util migrate --data-dir"),
        "{refused}"
    );

    for i in 0..3 {
        let data_dir = cluster_dir.join(format!("m{i}"));
        let out = migrate(&data_dir);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{out:?}");
        assert!(data_dir
            .with_extension("etcd-backup")
            .join("member/snap/db")
            .exists());
        if i == 2 {
            let after: u64 = text
                .split(" entries after it")
                .next()
                .and_then(|head| head.rsplit(' ').next())
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("{text}"));
            assert!(after >= 50, "the killed member's WAL tail: {text}");
            assert!(text.contains("1 configuration changes"), "{text}");
        }
    }

    let ours = start_cluster(&our_binary(), &IPS, &cluster_dir, &[]);
    assert_eq!(members(&ours[0].client_url), expected_members);
    for member in &ours {
        wait_until("every key on every member", Duration::from_secs(30), || {
            everything(&member.client_url, "s") == (expected.clone(), expected_revision)
        });
        assert_eq!(
            everything(&member.client_url, "l"),
            (expected.clone(), expected_revision)
        );
    }
    let leases = etcdctl(&ours[2].client_url, &[], &["lease", "list"], None);
    assert!(
        String::from_utf8_lossy(&leases.stdout).contains(&lease),
        "{leases:?}"
    );
    let put = etcdctl(
        &ours[2].client_url,
        &[],
        &["put", "after", "migration", "-w", "json"],
        None,
    );
    let next = format!("\"revision\":{},", expected_revision + 1);
    assert!(
        String::from_utf8_lossy(&put.stdout).contains(&next),
        "{put:?}"
    );
}

/// Waits for a member that is expected to refuse to start; its log.
fn wait_for_exit(mut member: Member) -> String {
    wait_until("the member to exit", Duration::from_secs(20), || {
        member.child.as_mut().unwrap().try_wait().unwrap().is_some()
    });
    member.log_text()
}

#[test]
fn a_member_with_a_wal_dir_migrates_both_dirs() {
    let dir = temp_dir("migrate-wal-dir");
    let (data_dir, wal_dir) = (dir.join("data"), dir.join("wal"));
    let wal_flag = ["--wal-dir", wal_dir.to_str().unwrap()];
    let mut etcd =
        crate::common::start_member(Path::new(DEBIAN_ETCD), "127.0.0.203", &data_dir, &wal_flag);
    put_keys(&etcd.client_url, 0, 300);
    let (expected, expected_revision) = everything(&etcd.client_url, "l");
    etcd.stop();
    let binary = our_binary().display().to_string();
    let without = migrate(&data_dir);
    assert!(
        String::from_utf8_lossy(&without.stderr).contains("give the member's --wal-dir"),
        "{without:?}"
    );
    let args = [
        "util",
        "migrate",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--wal-dir",
        wal_dir.to_str().unwrap(),
    ];
    let out = run(&binary, &args.map(String::from), &[], None);
    assert!(out.status.success(), "{out:?}");
    assert!(dir.join("wal.etcd-backup").is_dir() && dir.join("data.etcd-backup").is_dir());
    let ours = crate::common::start_member(&our_binary(), "127.0.0.203", &data_dir, &wal_flag);
    assert_eq!(
        everything(&ours.client_url, "l"),
        (expected, expected_revision)
    );
}

#[test]
fn without_room_for_the_new_data_dir_the_original_stays_as_it_was() {
    let dir = temp_dir("migrate-no-room");
    let Some(disk) = SmallDisk::mount(&dir.join("disk"), "200m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data_dir = disk.0.join("etcd");
    let mut etcd =
        crate::common::start_member(Path::new(DEBIAN_ETCD), "127.0.0.204", &data_dir, &[]);
    put_keys(&etcd.client_url, 0, 300);
    let (expected, expected_revision) = everything(&etcd.client_url, "l");
    etcd.stop();
    let listing = |dir: &Path| {
        let out = run(
            "find",
            &[
                dir.display().to_string(),
                "-printf".into(),
                "%p %s\\n".into(),
            ],
            &[],
            None,
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let before = listing(&disk.0);
    let filler = disk.0.join("filler");
    fill(&filler);
    let full = migrate(&data_dir);
    assert!(!full.status.success());
    assert!(
        String::from_utf8_lossy(&full.stderr).contains("No space left on device"),
        "{full:?}"
    );
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        listing(&disk.0),
        before,
        "the original, and nothing beside it"
    );
    let out = migrate(&data_dir);
    assert!(out.status.success(), "{out:?}");
    let ours = crate::common::start_member(&our_binary(), "127.0.0.204", &data_dir, &[]);
    assert_eq!(
        everything(&ours.client_url, "l"),
        (expected, expected_revision)
    );
}

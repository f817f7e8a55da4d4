//! Durability: acknowledged writes survive SIGKILL with the same revisions; a torn WAL tail is
//! truncated on start; a damaged record in the middle of the WAL stops the member with a message
//! naming the file and offset, and the data dir is left as it was.

use crate::common;

use common::{our_binary, single_member_args, temp_dir, Member};
use etcd_client::{Client, GetOptions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PUTS: usize = 1000;

fn start(ip: &str, dir: &Path) -> Member {
    let args = single_member_args("durable", ip, 2379, 2380, dir, "http");
    Member::start(&our_binary(), args, &format!("http://{ip}:2379"), dir)
}

/// Every key under "k/" with (value, mod revision), as the cluster has it.
async fn snapshot(endpoint: &str) -> BTreeMap<String, (String, i64)> {
    keys_under_k(endpoint, GetOptions::new().with_prefix()).await
}

/// Every key under "k/" with (value, mod revision), read from `endpoint` alone without asking
/// the leader (a serializable read: what that member has applied).
async fn applied_snapshot(endpoint: &str) -> BTreeMap<String, (String, i64)> {
    keys_under_k(
        endpoint,
        GetOptions::new().with_prefix().with_serializable(),
    )
    .await
}

async fn keys_under_k(endpoint: &str, options: GetOptions) -> BTreeMap<String, (String, i64)> {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let response = client.get("k/", Some(options)).await.unwrap();
    response
        .kvs()
        .iter()
        .map(|kv| {
            (
                kv.key_str().unwrap().to_string(),
                (kv.value_str().unwrap().to_string(), kv.mod_revision()),
            )
        })
        .collect()
}

fn wal_segments(data_dir: &Path) -> Vec<PathBuf> {
    let mut segments: Vec<PathBuf> = std::fs::read_dir(data_dir.join("member/wal"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "wal"))
        .collect();
    segments.sort();
    segments
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_puts_survive_sigkill() {
    let dir = temp_dir("durability");
    let mut member = start("127.0.0.41", &dir.join("data"));
    let endpoint = member.client_url.clone();
    let mut ledger = BTreeMap::new();
    let mut client = Client::connect([endpoint.as_str()], None).await.unwrap();
    for i in 0..PUTS {
        let key = format!("k/{i:04}");
        let value = format!("value-{i}");
        let response = client.put(key.clone(), value.clone(), None).await.unwrap();
        ledger.insert(key, (value, response.header().unwrap().revision()));
    }
    member.kill();
    member.restart();
    assert_eq!(
        snapshot(&endpoint).await,
        ledger,
        "every acknowledged put, with its revision"
    );

    // A write cut short at the end of the log (its last bytes never reached the disk, which
    // reads as zeros in the preallocated segment): the member starts and keeps every earlier
    // write.
    member.kill();
    let last = wal_segments(&member.data_dir).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let data_end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    bytes[data_end - 3..data_end].fill(0);
    std::fs::write(&last, &bytes).unwrap();
    member.restart();
    assert!(
        member.log_text().contains("truncating torn record"),
        "{}",
        member.log_text()
    );
    let after_torn = snapshot(&endpoint).await;
    assert_eq!(
        after_torn, ledger,
        "the torn record was not one of the acknowledged puts"
    );
}

#[test]
fn corrupt_record_in_the_middle_of_the_wal_is_refused() {
    let dir = temp_dir("corrupt-wal");
    let data_dir = dir.join("data");
    let mut member = start("127.0.0.42", &data_dir);
    let put = common::etcdctl(&member.client_url, &[], &["put", "a", "1"], None);
    assert!(put.status.success());
    member.kill();
    let segment = wal_segments(&data_dir).pop().unwrap();
    let mut bytes = std::fs::read(&segment).unwrap();
    let offset = 40; // inside the first record's payload, with records after it
    bytes[offset] ^= 0xff;
    std::fs::write(&segment, &bytes).unwrap();

    let args = single_member_args("durable", "127.0.0.42", 2379, 2380, &data_dir, "http");
    let output = std::process::Command::new(our_binary())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let message = format!(
        "wal: corrupt record in {} at offset 0: record checksum mismatch",
        segment.display()
    );
    assert!(stderr.contains(&message), "{stderr}");
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        bytes,
        "the WAL must be left as it was"
    );
}

/// A key longer than LMDB's 511-byte keys (stored under a prefix and a tag, keys.rs) is
/// taken, as etcd takes it, and is still there, whole, after SIGKILL and a restart.
#[test]
fn long_key_is_stored_and_survives_sigkill() {
    let dir = temp_dir("long-key");
    let mut member = start("127.0.0.43", &dir.join("data"));
    let long_key = "k".repeat(600);
    let put = common::etcdctl(&member.client_url, &[], &["put", &long_key, "v"], None);
    assert_eq!(String::from_utf8_lossy(&put.stdout), "OK\n");
    let txn_input = format!("value(\"{long_key}\") = \"v\"\n\nput a 1\n\n\n");
    let txn = common::etcdctl(&member.client_url, &[], &["txn"], Some(&txn_input));
    assert_eq!(String::from_utf8_lossy(&txn.stdout), "SUCCESS\n\nOK\n");
    member.kill();
    member.restart();
    let get = common::etcdctl(&member.client_url, &[], &["get", &long_key], None);
    assert_eq!(
        String::from_utf8_lossy(&get.stdout),
        format!("{long_key}\nv\n")
    );
    let get = common::etcdctl(
        &member.client_url,
        &[],
        &["get", "a", "--print-value-only"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&get.stdout), "1\n");
}

/// A data dir whose WAL was removed must not be bootstrapped again over the store it has.
#[test]
fn removed_wal_is_refused_and_nothing_is_rewritten() {
    let dir = temp_dir("removed-wal");
    let data_dir = dir.join("data");
    let mut member = start("127.0.0.44", &data_dir);
    let put = common::etcdctl(&member.client_url, &[], &["put", "a", "1"], None);
    assert!(put.status.success());
    member.kill();
    let wal_dir = data_dir.join("member/wal");
    std::fs::rename(&wal_dir, dir.join("wal-elsewhere")).unwrap();

    let args = single_member_args("durable", "127.0.0.44", 2379, 2380, &data_dir, "http");
    let output = std::process::Command::new(our_binary())
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{} has no log, but the store has applied up to entry",
            wal_dir.display()
        )),
        "{stderr}"
    );
    assert!(!wal_dir.exists(), "no new WAL may be written");
}

/// Waits (at most 30 s) until the member at `endpoint` has applied exactly `ledger`.
async fn wait_applied(endpoint: &str, ledger: &BTreeMap<String, (String, i64)>, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let applied = applied_snapshot(endpoint).await;
        if &applied == ledger {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: the member at {endpoint} applied {} of {} puts",
            applied.len(),
            ledger.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A follower no one reads from holds committed entries back for a few milliseconds and
/// applies them together (raft/node/held.rs). A user sees none of it: a linearizable read
/// through the follower right after a put sees the put; with no one asking, the follower still
/// applies every put, in order and with the leader's revisions; and killed right after a burst
/// of puts, it comes back with all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_applies_every_put_in_order_whether_or_not_someone_reads_it() {
    let ips = ["127.0.0.60", "127.0.0.61", "127.0.0.62"];
    let dir = temp_dir("follower-apply");
    let mut members = common::start_plain_cluster(&ips, &dir);
    let mut leader = None;
    for (i, member) in members.iter().enumerate() {
        let mut client = Client::connect([member.client_url.as_str()], None)
            .await
            .unwrap();
        let status = client.status().await.unwrap();
        if status.leader() == status.header().unwrap().member_id() {
            leader = Some(i);
        }
    }
    let leader = leader.expect("a leader");
    let follower = (leader + 1) % members.len();
    let follower_url = members[follower].client_url.clone();
    let mut writer = Client::connect([members[leader].client_url.as_str()], None)
        .await
        .unwrap();
    let mut reader = Client::connect([follower_url.as_str()], None)
        .await
        .unwrap();
    let mut ledger = BTreeMap::new();
    for i in 0..300 {
        let key = format!("k/{i:04}");
        let value = format!("value-{i}");
        let put = writer.put(key.clone(), value.clone(), None).await.unwrap();
        let revision = put.header().unwrap().revision();
        ledger.insert(key.clone(), (value.clone(), revision));
        if i < 100 {
            let read = reader.get(key.clone(), None).await.unwrap();
            let kv = &read.kvs()[0];
            assert_eq!(
                (kv.value_str().unwrap(), kv.mod_revision()),
                (value.as_str(), revision),
                "a linearizable read through the follower right after the put of {key}"
            );
        }
    }
    wait_applied(&follower_url, &ledger, "no one reading").await;

    for i in 300..500 {
        let key = format!("k/{i:04}");
        let value = format!("value-{i}");
        let put = writer.put(key.clone(), value.clone(), None).await.unwrap();
        ledger.insert(key, (value, put.header().unwrap().revision()));
    }
    members[follower].kill();
    members[follower].restart();
    wait_applied(&follower_url, &ledger, "killed right after the puts").await;
}

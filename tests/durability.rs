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

/// Every key under "k/" with (value, mod revision).
async fn snapshot(endpoint: &str) -> BTreeMap<String, (String, i64)> {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let response = client
        .get("k/", Some(GetOptions::new().with_prefix()))
        .await
        .unwrap();
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

//! A member's resident memory follows what it is using, not the size of its data: after a
//! client wrote and read back 120 MB of values, the member's file-backed RSS (the store's map)
//! falls back under the store's limit once the next write is checkpointed.

use crate::common;

use common::{our_binary, start_member, temp_dir};
use etcd_client::Client;
use std::time::Duration;

const VALUES: usize = 120;
const VALUE_BYTES: usize = 1_000_000;
/// The store's limit on its resident map (64 MB) plus room for the binary's own text.
const RSS_FILE_CEILING_KB: u64 = 80 * 1024;

fn rss_file_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("RssFile:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no RssFile in {status}"))
}

#[tokio::test(flavor = "current_thread")]
async fn reading_a_large_store_does_not_leave_it_resident() {
    let dir = temp_dir("memory");
    let member = start_member(&our_binary(), "127.0.0.149", &dir, &[]);
    let mut client = Client::connect([member.client_url.as_str()], None)
        .await
        .unwrap();
    for i in 0..VALUES {
        let value = vec![b'a' + (i % 26) as u8; VALUE_BYTES];
        client
            .put(format!("big/{i:03}"), value, None)
            .await
            .unwrap();
    }
    // Every value read back comes through the store's map.
    for i in 0..VALUES {
        let answer = client.get(format!("big/{i:03}"), None).await.unwrap();
        let value = answer.kvs()[0].value();
        assert_eq!(value.len(), VALUE_BYTES);
        assert!(
            value.iter().all(|&b| b == b'a' + (i % 26) as u8),
            "value {i}"
        );
    }
    let data_file = dir.join("member/kv/data.mdb");
    let store_kb = std::fs::metadata(&data_file).unwrap().len() / 1024;
    assert!(
        store_kb > RSS_FILE_CEILING_KB + 32 * 1024,
        "store of {store_kb} kB"
    );
    client.put("after-reads", "1", None).await.unwrap();
    common::wait_until(
        "file-backed RSS under the store's limit",
        Duration::from_secs(10),
        || rss_file_kb(member.pid()) < RSS_FILE_CEILING_KB,
    );
    // The values are still there, read through the map again.
    let answer = client.get("big/007", None).await.unwrap();
    assert_eq!(answer.kvs()[0].value(), vec![b'h'; VALUE_BYTES]);
}

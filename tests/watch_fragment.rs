//! Watch `fragment`: with --max-request-bytes 4096 (so answers are split at 4096 + 512 KiB), a
//! replay of 200 values of 3000 bytes is split into parts below the limit when the watch asks
//! for fragments, and sent whole when it does not; the parts (events per response, through the
//! etcd-client crate) are the same as Debian's etcd 3.4 sends.

use crate::common;

use common::{our_binary, start_member, temp_dir, DEBIAN_ETCD};
use etcd_client::{Client, WatchOptions};
use std::path::Path;
use std::time::Duration;

const KEYS: usize = 200;

/// Events per response of a watch replaying every put, with and without `fragment`.
async fn parts(endpoint: &str) -> (Vec<usize>, Vec<usize>) {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let first = client.put("f/0", "x".repeat(3000), None).await.unwrap();
    let start = first.header().unwrap().revision();
    for i in 1..KEYS {
        client
            .put(format!("f/{i}"), "x".repeat(3000), None)
            .await
            .unwrap();
    }
    let mut counts = Vec::new();
    for options in [WatchOptions::new().with_fragment(), WatchOptions::new()] {
        let options = options.with_prefix().with_start_revision(start);
        let (mut watcher, mut stream) = client.watch("f/", Some(options)).await.unwrap();
        let mut per_response = Vec::new();
        let collect = async {
            while per_response.iter().sum::<usize>() < KEYS {
                let response = stream.message().await.unwrap().expect("the watch goes on");
                if !response.events().is_empty() {
                    per_response.push(response.events().len());
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), collect)
            .await
            .expect("every event arrives");
        watcher.cancel().await.unwrap();
        counts.push(per_response);
    }
    (counts.remove(0), counts.remove(0))
}

#[tokio::test(flavor = "current_thread")]
async fn large_replays_are_fragmented_as_etcd_fragments_them() {
    let dir = temp_dir("watch-fragment");
    let reference = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.112",
        &dir.join("debian"),
        &["--max-request-bytes", "4096"],
    );
    let ours = start_member(
        &our_binary(),
        "127.0.0.113",
        &dir.join("ours"),
        &["--max-request-bytes", "4096"],
    );
    let (etcd_fragmented, etcd_whole) = parts(&reference.client_url).await;
    let (fragmented, whole) = parts(&ours.client_url).await;
    assert!(
        etcd_fragmented.len() > 1,
        "etcd split the replay: {etcd_fragmented:?}"
    );
    assert_eq!(fragmented, etcd_fragmented, "fragments");
    assert_eq!(whole, etcd_whole, "without fragment");
    assert_eq!(whole, [KEYS]);
}

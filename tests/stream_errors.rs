//! A client stream message the member cannot take: etcd 3.4 refuses a watch request above its
//! message limit (--max-request-bytes plus grpc's 512 KiB) and ends the watch stream with
//! ResourceExhausted; ours must end it the same way (rather than leave the client waiting for
//! an answer that never comes). Through the etcd-client crate, against Debian's etcd and ours.

use crate::common;

use common::{our_binary, start_member, temp_dir, DEBIAN_ETCD};
use etcd_client::Client;
use std::path::Path;
use std::time::Duration;

/// The status a watch of a 600 KiB key ends with: (gRPC code, message).
async fn refusal(endpoint: &str) -> (i32, String) {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let key = "k".repeat(600 * 1024);
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        let (_watcher, mut stream) = client.watch(key, None).await?;
        stream.message().await
    })
    .await
    .expect("the member answers");
    match answer {
        Err(etcd_client::Error::GRpcStatus(status)) => {
            (status.code() as i32, status.message().to_string())
        }
        other => panic!("the watch was not refused: {other:?}"),
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_oversized_watch_request_ends_the_stream_as_etcd_ends_it() {
    let dir = temp_dir("stream-errors");
    let reference = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.121",
        &dir.join("debian"),
        &["--max-request-bytes", "1024"],
    );
    let ours = start_member(
        &our_binary(),
        "127.0.0.122",
        &dir.join("ours"),
        &["--max-request-bytes", "1024"],
    );
    let expected = refusal(&reference.client_url).await;
    assert_eq!(expected.0, 8, "ResourceExhausted: {expected:?}");
    assert_eq!(refusal(&ours.client_url).await, expected);
}

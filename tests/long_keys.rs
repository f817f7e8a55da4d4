//! Keys longer than LMDB's 511-byte keys, as etcd takes them (up to --max-request-bytes):
//! puts, gets, ranges (keys sharing their first 487 bytes among them, where the store keeps
//! them by tag and must put them back in key order), limits, txns, deletes, reads at past
//! revisions, a watch replay and a compaction, through the etcd-client crate against Debian's
//! etcd 3.4 and ours: the same keys, revisions and versions in the same order.

use crate::common::{our_binary, start_member, temp_dir, DEBIAN_ETCD};
use etcd_client::{Client, Compare, CompareOp, GetOptions, Txn, TxnOp, WatchOptions};
use std::path::Path;

/// The keys: short ones, one exactly 487 bytes, and long ones of 488 B to 1 MiB, several
/// sharing their first 487 bytes.
fn keys() -> Vec<Vec<u8>> {
    let shared: Vec<u8> = [b"L".to_vec(), vec![b'x'; 486]].concat();
    let with = |tail: &[u8]| [shared.clone(), tail.to_vec()].concat();
    vec![
        with(&[b'b'; 9]),
        with(&vec![b'a'; 4096 - 487]),
        shared.clone(),
        with(&[b'a'; 9]),
        with(b"c"),
        with(&vec![b'a'; 65536 - 487]),
        [
            b"L".to_vec(),
            vec![b'x'; 485],
            b"y".to_vec(),
            vec![b'z'; 600],
        ]
        .concat(),
        with(&vec![0u8; 1024 * 1024 - 487]),
        b"L".to_vec(),
        b"M".to_vec(),
    ]
}

/// (key, create, mod, version, value) of what a read returns.
type Listing = Vec<(Vec<u8>, i64, i64, i64, Vec<u8>)>;

async fn list(client: &mut Client, key: &[u8], options: GetOptions) -> Listing {
    let answer = client.get(key.to_vec(), Some(options)).await.unwrap();
    answer
        .kvs()
        .iter()
        .map(|kv| {
            (
                kv.key().to_vec(),
                kv.create_revision(),
                kv.mod_revision(),
                kv.version(),
                kv.value().to_vec(),
            )
        })
        .collect()
}

async fn transcript(endpoint: &str) -> Vec<String> {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let keys = keys();
    let mut out = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let put = client
            .put(key.clone(), format!("v{i}"), None)
            .await
            .unwrap();
        out.push(format!(
            "put {} at {}",
            key.len(),
            put.header().unwrap().revision()
        ));
    }
    let after_puts = client
        .get("L", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    let prefix = || GetOptions::new().with_prefix();
    let summary = |listing: &Listing| {
        listing
            .iter()
            .map(|(k, c, m, v, value)| (k.len(), k.last().copied(), *c, *m, *v, value.clone()))
            .collect::<Vec<_>>()
    };
    out.push(format!(
        "prefix {:?}",
        summary(&list(&mut client, b"L", prefix()).await)
    ));
    out.push(format!(
        "limit {:?}",
        summary(&list(&mut client, b"L", prefix().with_limit(3)).await)
    ));
    out.push(format!(
        "count {:?}",
        list(&mut client, b"L", prefix().with_count_only())
            .await
            .len()
    ));
    let between = GetOptions::new().with_range(keys[5].clone());
    out.push(format!(
        "between {:?}",
        summary(&list(&mut client, &keys[3], between).await)
    ));
    for key in &keys {
        out.push(format!(
            "get {:?}",
            summary(&list(&mut client, key, GetOptions::new()).await)
        ));
    }
    // A txn comparing one long key's value and putting another.
    let txn = Txn::new()
        .when([Compare::value(keys[1].clone(), CompareOp::Equal, "v1")])
        .and_then([TxnOp::put(keys[0].clone(), "txn", None)]);
    out.push(format!(
        "txn {}",
        client.txn(txn).await.unwrap().succeeded()
    ));
    client.delete(keys[3].clone(), None).await.unwrap();
    client.delete(keys[4].clone(), None).await.unwrap();
    let now = list(&mut client, b"L", prefix()).await;
    out.push(format!("after deletes {:?}", summary(&now)));
    let past = list(&mut client, b"L", prefix().with_revision(after_puts)).await;
    out.push(format!("at {after_puts} {:?}", summary(&past)));
    // Every event from the start, then a compaction.
    let options = WatchOptions::new().with_prefix().with_start_revision(1);
    let (_watcher, mut stream) = client.watch("L", Some(options)).await.unwrap();
    let mut events = Vec::new();
    while events.len() < keys.len() - 1 + 3 {
        let response = stream.message().await.unwrap().unwrap();
        for event in response.events() {
            let kv = event.kv().unwrap();
            events.push((
                kv.key().len(),
                kv.mod_revision(),
                format!("{:?}", event.event_type()),
            ));
        }
    }
    out.push(format!("events {events:?}"));
    client.compact(after_puts, None).await.unwrap();
    let compacted = client
        .get("L", Some(prefix().with_revision(after_puts - 1)))
        .await;
    out.push(format!(
        "below the compaction {:?}",
        compacted.err().map(|e| e.to_string())
    ));
    let kept = list(&mut client, b"L", prefix().with_revision(after_puts)).await;
    out.push(format!("at the compaction {:?}", summary(&kept)));
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_of_any_length_work_as_in_etcd() {
    let dir = temp_dir("long-keys");
    let reference = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.180",
        &dir.join("debian"),
        &[],
    );
    let ours = start_member(&our_binary(), "127.0.0.181", &dir.join("ours"), &[]);
    let expected = transcript(&reference.client_url).await;
    let got = transcript(&ours.client_url).await;
    for (want, have) in expected.iter().zip(&got) {
        assert_eq!(have, want);
    }
    assert_eq!(got.len(), expected.len());
}

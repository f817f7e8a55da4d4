//! Keys with zero bytes and keys that are prefixes of others, through the etcd-client crate,
//! against Debian's etcd 3.4 and ours: current reads and reads at past revisions (which walk
//! the history) list the same keys with the same revisions, and a 495-byte key of zero bytes
//! (etcdctl check perf's keys are 276 bytes, mostly zeros) is stored.

use crate::common;

use common::{our_binary, start_member, temp_dir, DEBIAN_ETCD};
use etcd_client::{Client, GetOptions};
use std::path::Path;

type Listing = Vec<(Vec<u8>, i64, i64)>;

/// (key, create revision, mod revision) of every key under "a" at `revision` (0: now).
async fn list(client: &mut Client, revision: i64) -> Listing {
    let answer = client
        .get(
            "a",
            Some(GetOptions::new().with_prefix().with_revision(revision)),
        )
        .await
        .unwrap();
    answer
        .kvs()
        .iter()
        .map(|kv| (kv.key().to_vec(), kv.create_revision(), kv.mod_revision()))
        .collect()
}

async fn transcript(endpoint: &str) -> Vec<Listing> {
    let mut client = Client::connect([endpoint], None).await.unwrap();
    let mut long = b"a".to_vec();
    long.resize(495, 0);
    let keys: Vec<Vec<u8>> = vec![
        b"ab".to_vec(),
        b"a".to_vec(),
        b"a\0".to_vec(),
        b"a\0\0".to_vec(),
        b"a\0b".to_vec(),
        long,
        b"a\xff".to_vec(),
    ];
    let mut listings = Vec::new();
    for key in &keys {
        client.put(key.clone(), "1", None).await.unwrap();
    }
    let after_puts = client
        .get("a", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision();
    for key in keys.iter().step_by(2) {
        client.put(key.clone(), "2", None).await.unwrap();
    }
    client.delete(b"a\0".to_vec(), None).await.unwrap();
    client.delete(b"a".to_vec(), None).await.unwrap();
    for revision in [0, after_puts, after_puts + 2, after_puts + 4] {
        listings.push(list(&mut client, revision).await);
    }
    listings
}

#[tokio::test(flavor = "current_thread")]
async fn zero_bytes_and_prefix_keys_read_as_in_etcd_now_and_at_past_revisions() {
    let dir = temp_dir("binary-keys");
    let reference = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.117",
        &dir.join("debian"),
        &[],
    );
    let ours = start_member(&our_binary(), "127.0.0.118", &dir.join("ours"), &[]);
    let expected = transcript(&reference.client_url).await;
    assert_eq!(expected[1].len(), 7, "every key was listed: {expected:?}");
    assert_eq!(transcript(&ours.client_url).await, expected);
}

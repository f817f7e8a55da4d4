//! Leases on a 3-member cluster of ours (127.0.0.74-76) through the etcd-client crate: kept
//! alive through a follower, then left to expire while the leader is SIGKILLed mid-TTL. The key
//! must outlive the old leader (a new leader restarts the clock, never cutting it short) and
//! must go once the TTL has passed without keep-alives. With lease checkpointing
//! (127.0.0.114-116) a new leader instead honours the remaining TTL the old one replicated.

use crate::common;

use common::{start_cluster, start_plain_cluster, temp_dir, wait_until};
use etcd_client::{Client, PutOptions};
use std::time::{Duration, Instant};

const IPS: [&str; 3] = ["127.0.0.74", "127.0.0.75", "127.0.0.76"];
const TTL: i64 = 6;

async fn client(ip: &str) -> Client {
    Client::connect([format!("http://{ip}:2379")], None)
        .await
        .unwrap()
}

/// The index of the member that leads.
async fn leader_of(ips: &[&str]) -> usize {
    let mut probe = client(ips[0]).await;
    let leader_id = probe.status().await.unwrap().leader();
    for (i, ip) in ips.iter().enumerate() {
        let mut c = client(ip).await;
        if c.status().await.unwrap().header().unwrap().member_id() == leader_id {
            return i;
        }
    }
    panic!("no member is the leader {leader_id:x}");
}

/// Waits until one of `ips` reports itself leader (etcdctl endpoint status's IS LEADER).
fn wait_for_leader(ips: &[&str]) {
    let endpoints: Vec<String> = ips.iter().map(|ip| format!("{ip}:2379")).collect();
    wait_until("a new leader", Duration::from_secs(30), || {
        let status = std::process::Command::new(common::DEBIAN_ETCDCTL)
            .args(["--endpoints", &endpoints.join(","), "endpoint", "status"])
            .env("ETCDCTL_API", "3")
            .output()
            .unwrap();
        String::from_utf8_lossy(&status.stdout).contains(", true, false,")
    });
}

/// Polls until `key` is gone; how long after `since` that was.
async fn gone_after(
    client: &mut Client,
    key: &str,
    since: Instant,
    patience: Duration,
) -> Duration {
    let deadline = Instant::now() + patience;
    while Instant::now() < deadline {
        if client.get(key, None).await.unwrap().kvs().is_empty() {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{key} never expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_outlives_a_killed_leader_and_expires_after_its_ttl() {
    let dir = temp_dir("lease-cluster");
    let mut members = start_plain_cluster(&IPS, &dir);
    let leader = leader_of(&IPS).await;
    let follower = IPS[(leader + 1) % 3];
    let survivor = IPS[(leader + 2) % 3];

    let mut through_follower = client(follower).await;
    let lease = through_follower.lease_grant(TTL, None).await.unwrap();
    assert_eq!(lease.ttl(), TTL);
    through_follower
        .put(
            "leased",
            "v",
            Some(PutOptions::new().with_lease(lease.id())),
        )
        .await
        .unwrap();
    // Keep-alives through a follower reach the leader's clock.
    let (mut keeper, mut answers) = through_follower.lease_keep_alive(lease.id()).await.unwrap();
    for _ in 0..3 {
        keeper.keep_alive().await.unwrap();
        let answer = answers.message().await.unwrap().unwrap();
        assert_eq!(answer.ttl(), TTL);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    drop(keeper);
    // A keep-alive at the leader restarts only the leader's clock; a follower asked for the
    // time to live forwards the question to the leader, as etcd's does, so it reports the
    // restarted TTL rather than what its own clock has left (4 s by now).
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut through_leader = client(IPS[leader]).await;
    let (mut keeper, mut answers) = through_leader.lease_keep_alive(lease.id()).await.unwrap();
    keeper.keep_alive().await.unwrap();
    answers.message().await.unwrap().unwrap();
    let last_keep_alive = Instant::now();
    drop(keeper);
    let asked_follower = through_follower
        .lease_time_to_live(lease.id(), None)
        .await
        .unwrap();
    assert!(
        asked_follower.ttl() >= TTL - 1,
        "a follower reported {} s left right after a keep-alive at the leader",
        asked_follower.ttl()
    );

    // Kill the leader a third into the TTL; the rest elect a new one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    members[leader].kill();
    let mut survivors = client(survivor).await;
    wait_for_leader(&[follower, survivor]);
    // The old leader died before the TTL ran out, and a new leader restarts the clock: however
    // long the election took, the key is still there.
    let got = survivors.get("leased", None).await.unwrap();
    assert_eq!(got.kvs().len(), 1, "the key went with the old leader");
    let time_to_live = survivors
        .lease_time_to_live(lease.id(), None)
        .await
        .unwrap();
    assert_eq!(time_to_live.granted_ttl(), TTL);
    assert!(time_to_live.ttl() > 0, "a new leader restarts the clock");

    // No more keep-alives: the key goes, and not before the TTL has run out.
    let gone_after = gone_after(
        &mut survivors,
        "leased",
        last_keep_alive,
        Duration::from_secs(30),
    )
    .await;
    assert!(
        gone_after >= Duration::from_secs(TTL as u64),
        "expired after {gone_after:?}, before its {TTL} s TTL"
    );
    let listed = survivors.leases().await.unwrap();
    assert!(listed.leases().iter().all(|l| l.id() != lease.id()));
}

const CHECKPOINTED_IPS: [&str; 3] = ["127.0.0.114", "127.0.0.115", "127.0.0.116"];
const LONG_TTL: u64 = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_lease_checkpoints_a_new_leader_keeps_the_remaining_ttl() {
    let dir = temp_dir("lease-checkpoint");
    let mut members = start_cluster(
        &common::our_binary(),
        &CHECKPOINTED_IPS,
        &dir,
        &[
            "--experimental-enable-lease-checkpoint",
            "--experimental-lease-checkpoint-interval",
            "1s",
        ],
    );
    let leader = leader_of(&CHECKPOINTED_IPS).await;
    let survivors: Vec<&str> = (1..3).map(|k| CHECKPOINTED_IPS[(leader + k) % 3]).collect();
    let mut through_survivor = client(survivors[0]).await;
    let granted_at = Instant::now();
    let lease = through_survivor
        .lease_grant(LONG_TTL as i64, None)
        .await
        .unwrap();
    through_survivor
        .put(
            "checkpointed",
            "v",
            Some(PutOptions::new().with_lease(lease.id())),
        )
        .await
        .unwrap();
    // A quarter into the TTL (the leader has checkpointed every second), the leader dies.
    tokio::time::sleep(Duration::from_secs(LONG_TTL / 4)).await;
    members[leader].kill();
    wait_for_leader(&survivors);
    // Without checkpoints the new leader would restart the full TTL (gone at about 50 s);
    // with them the lease ends when it would have under the old leader (about 40 s).
    let gone = gone_after(
        &mut through_survivor,
        "checkpointed",
        granted_at,
        Duration::from_secs(2 * LONG_TTL),
    )
    .await;
    assert!(
        gone >= Duration::from_secs(LONG_TTL - 1),
        "expired after {gone:?}, before its {LONG_TTL} s TTL"
    );
    assert!(
        gone < Duration::from_secs(LONG_TTL + LONG_TTL / 4 - 3),
        "expired after {gone:?}: the new leader restarted the TTL instead of keeping what remained"
    );
}

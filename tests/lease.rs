//! Leases on a 3-member cluster of ours (127.0.0.74-76) through the etcd-client crate: kept
//! alive through a follower, then left to expire while the leader is SIGKILLed mid-TTL. The key
//! must outlive the old leader (a new leader restarts the clock, never cutting it short) and
//! must go once the TTL has passed without keep-alives.

mod common;

use common::{start_plain_cluster, temp_dir, wait_until};
use etcd_client::{Client, PutOptions};
use std::time::{Duration, Instant};

const IPS: [&str; 3] = ["127.0.0.74", "127.0.0.75", "127.0.0.76"];
const TTL: i64 = 6;

async fn client(ip: &str) -> Client {
    Client::connect([format!("http://{ip}:2379")], None)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_outlives_a_killed_leader_and_expires_after_its_ttl() {
    let dir = temp_dir("lease-cluster");
    let mut members = start_plain_cluster(&IPS, &dir);
    let mut probe = client(IPS[0]).await;
    let leader_id = probe.status().await.unwrap().leader();
    let mut leader = None;
    for (i, ip) in IPS.iter().enumerate() {
        let mut c = client(ip).await;
        if c.status().await.unwrap().header().unwrap().member_id() == leader_id {
            leader = Some(i);
        }
    }
    let leader = leader.unwrap();
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
    keeper.keep_alive().await.unwrap();
    answers.message().await.unwrap().unwrap();
    let last_keep_alive = Instant::now();
    drop(keeper);

    // Kill the leader a third into the TTL; the rest elect a new one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    members[leader].kill();
    let mut survivors = client(survivor).await;
    wait_until("a new leader", Duration::from_secs(30), || {
        let status = std::process::Command::new(common::DEBIAN_ETCDCTL)
            .args([
                "--endpoints",
                &format!("{follower}:2379,{survivor}:2379"),
                "endpoint",
                "status",
            ])
            .env("ETCDCTL_API", "3")
            .output()
            .unwrap();
        String::from_utf8_lossy(&status.stdout).contains(", true, false,")
    });
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
    let mut gone_after = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if survivors
            .get("leased", None)
            .await
            .unwrap()
            .kvs()
            .is_empty()
        {
            gone_after = Some(last_keep_alive.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let gone_after = gone_after.expect("the lease never expired");
    assert!(
        gone_after >= Duration::from_secs(TTL as u64),
        "expired after {gone_after:?}, before its {TTL} s TTL"
    );
    let listed = survivors.leases().await.unwrap();
    assert!(listed.leases().iter().all(|l| l.id() != lease.id()));
}

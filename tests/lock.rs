//! The v3lock and v3election gRPC services through the etcd-client crate (which calls them
//! directly, unlike etcdctl's client-side concurrency package): a second locker waits until the
//! first unlocks; a lock with an unknown lease is refused with etcd's error; a second candidate
//! waits while the leader proclaims, and leads once it resigns, as an observer sees. And
//! `etcdctl lock` (Debian's and our applet) exits once its session cannot be kept alive.

use crate::common;

use common::{our_binary, single_member_args, temp_dir, Member};
use etcd_client::{Client, LockOptions};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const IP: &str = "127.0.0.83";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_locker_waits_for_the_first() {
    let dir = temp_dir("lock");
    let data = dir.join("data");
    let args = single_member_args("lock", IP, 2379, 2380, &data, "http");
    let _member = Member::start(&our_binary(), args, &format!("http://{IP}:2379"), &data);
    let endpoint = format!("http://{IP}:2379");
    let mut first = Client::connect([endpoint.as_str()], None).await.unwrap();
    let lease_a = first.lease_grant(30, None).await.unwrap().id();
    let held = first
        .lock("job", Some(LockOptions::new().with_lease(lease_a)))
        .await
        .unwrap();
    assert_eq!(held.key(), format!("job/{lease_a:x}").as_bytes());

    let released = Arc::new(AtomicBool::new(false));
    let mut second = Client::connect([endpoint.as_str()], None).await.unwrap();
    let lease_b = second.lease_grant(30, None).await.unwrap().id();
    let released_seen = released.clone();
    let waiter = tokio::spawn(async move {
        let got = second
            .lock("job", Some(LockOptions::new().with_lease(lease_b)))
            .await
            .unwrap();
        assert!(
            released_seen.load(Ordering::Acquire),
            "the second locker got the lock while the first held it"
        );
        got.key().to_vec()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!waiter.is_finished(), "the second locker must wait");
    released.store(true, Ordering::Release);
    first.unlock(held.key()).await.unwrap();
    let second_key = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the second locker gets the lock once it is free")
        .unwrap();
    assert_eq!(second_key, format!("job/{lease_b:x}").into_bytes());

    let refused = first
        .lock("job", Some(LockOptions::new().with_lease(0x1234)))
        .await
        .unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("etcdserver: requested lease not found"),
        "{refused}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn election_leader_proclaim_observe_resign() {
    use etcd_client::{CampaignResponse, ResignOptions};
    let ip = "127.0.0.84";
    let dir = temp_dir("election");
    let data = dir.join("data");
    let args = single_member_args("election", ip, 2379, 2380, &data, "http");
    let _member = Member::start(&our_binary(), args, &format!("http://{ip}:2379"), &data);
    let endpoint = format!("http://{ip}:2379");
    let mut alice = Client::connect([endpoint.as_str()], None).await.unwrap();
    let mut bob = Client::connect([endpoint.as_str()], None).await.unwrap();
    assert!(alice
        .leader("jobs")
        .await
        .unwrap_err()
        .to_string()
        .contains("election: no leader"));

    let lease_a = alice.lease_grant(30, None).await.unwrap().id();
    let won: CampaignResponse = alice.campaign("jobs", "alice", lease_a).await.unwrap();
    let leader_key = won.leader().unwrap().clone();
    assert_eq!(leader_key.key(), format!("jobs/{lease_a:x}").as_bytes());
    let mut observer = bob.observe("jobs").await.unwrap();
    let seen = observer.message().await.unwrap().unwrap();
    assert_eq!(seen.kv().unwrap().value(), b"alice");

    // Bob campaigns and waits while Alice leads; Alice proclaims a new value meanwhile.
    let lease_b = bob.lease_grant(30, None).await.unwrap().id();
    let mut bob_campaigner = Client::connect([endpoint.as_str()], None).await.unwrap();
    let bob_wins =
        tokio::spawn(async move { bob_campaigner.campaign("jobs", "bob", lease_b).await });
    alice
        .proclaim(
            "alice-2",
            Some(etcd_client::ProclaimOptions::new().with_leader(leader_key.clone())),
        )
        .await
        .unwrap();
    let seen = observer.message().await.unwrap().unwrap();
    assert_eq!(seen.kv().unwrap().value(), b"alice-2");
    assert!(!bob_wins.is_finished(), "bob must wait while alice leads");
    alice
        .resign(Some(ResignOptions::new().with_leader(leader_key)))
        .await
        .unwrap();
    let bob_won = tokio::time::timeout(Duration::from_secs(10), bob_wins)
        .await
        .expect("bob leads once alice resigns")
        .unwrap()
        .unwrap();
    assert_eq!(
        bob_won.leader().unwrap().key(),
        format!("jobs/{lease_b:x}").as_bytes()
    );
    let seen = observer.message().await.unwrap().unwrap();
    assert_eq!(seen.kv().unwrap().value(), b"bob");
    let now = alice.leader("jobs").await.unwrap();
    assert_eq!(now.kv().unwrap().value(), b"bob");
}

/// `etcdctl lock NAME` holding a lock (--ttl 3) whose server dies: once no keep-alive was
/// answered within the TTL the session is over, and Debian's etcdctl and our applet both report
/// it and exit 1 (they must not keep claiming a lock they may have lost).
#[test]
fn lock_holders_exit_when_their_session_expires() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const SESSION_IP: &str = "127.0.0.119";
    let dir = temp_dir("lock-session");
    let data = dir.join("data");
    let args = single_member_args("lock", SESSION_IP, 2379, 2380, &data, "http");
    let mut member = Member::start(
        &our_binary(),
        args,
        &format!("http://{SESSION_IP}:2379"),
        &data,
    );
    let endpoint = format!("{SESSION_IP}:2379");
    let holder = |program: &str, prefix: &[&str], name: &str| {
        let mut child = Command::new(program)
            .args(prefix)
            .args(["--endpoints", &endpoint, "lock", name, "--ttl", "3"])
            .env("ETCDCTL_API", "3")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The first line printed is the lock's key: it is held. The rest of stdout is read
        // on (a closed pipe would kill the holder with SIGPIPE).
        let (lines, first) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let _ = lines.send(line.unwrap_or_default());
            }
        });
        let line = first
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_default();
        assert!(line.starts_with(name), "{program} printed {line:?}");
        child
    };
    let ours = our_binary();
    let holders = [
        holder(common::DEBIAN_ETCDCTL, &[], "debian-held"),
        holder(ours.to_str().unwrap(), &["ctl"], "ours-held"),
    ];
    member.kill();
    for mut child in holders {
        common::wait_until("the holder to exit", Duration::from_secs(30), || {
            child.try_wait().unwrap().is_some()
        });
        let output = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(
            stderr.lines().last(),
            Some("Error: session expired"),
            "{stderr}"
        );
    }
}

/// Ctrl-C on `etcdctl lock NAME` or `etcdctl elect NAME PROPOSAL` releases what it holds
/// before it exits (etcdctl unlocks or resigns): the next locker or candidate gets it at once,
/// long before the session lease (60 s here) would run out. Debian's etcdctl and our applet.
#[test]
fn interrupted_holders_release_at_once() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    const HOLD_IP: &str = "127.0.0.120";
    let dir = temp_dir("lock-interrupted");
    let data = dir.join("data");
    let args = single_member_args("lock", HOLD_IP, 2379, 2380, &data, "http");
    let _member = Member::start(
        &our_binary(),
        args,
        &format!("http://{HOLD_IP}:2379"),
        &data,
    );
    let endpoint = format!("{HOLD_IP}:2379");
    let ours = our_binary();
    let tools: [(&str, &[&str]); 2] = [
        (common::DEBIAN_ETCDCTL, &[]),
        (ours.to_str().unwrap(), &["ctl"]),
    ];
    for (program, prefix) in tools {
        for (command, name, extra) in [
            ("lock", "held", vec!["--ttl", "60"]),
            ("elect", "vote", vec!["first"]),
        ] {
            let name = format!("{name}-{}", prefix.len());
            let mut holder = Command::new(program)
                .args(prefix)
                .args(["--endpoints", &endpoint, command, &name])
                .args(&extra)
                .env("ETCDCTL_API", "3")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            // The first line is the key: held. The rest is drained (a closed pipe would kill
            // the holder with SIGPIPE).
            let (lines, printed) = std::sync::mpsc::channel();
            let stdout = holder.stdout.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let _ = lines.send(line.unwrap_or_default());
                }
            });
            let first = printed
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_default();
            assert!(
                first.starts_with(&name),
                "{program} {command} printed {first:?}"
            );
            common::run("kill", &["-INT".into(), holder.id().to_string()], &[], None);
            let status = holder.wait().unwrap();
            assert_eq!(status.code(), Some(0), "{program} {command} after Ctrl-C");
            // The next one gets it now (Debian's etcdctl as the next holder).
            let next = match command {
                "lock" => vec!["lock", name.as_str(), "--", "true"],
                _ => vec!["elect", name.as_str(), "second"],
            };
            let mut waiter = Command::new(common::DEBIAN_ETCDCTL)
                .args(["--endpoints", &endpoint])
                .args(&next)
                .env("ETCDCTL_API", "3")
                .stdout(Stdio::piped())
                .spawn()
                .unwrap();
            let (got, seen) = std::sync::mpsc::channel();
            let stdout = waiter.stdout.take().unwrap();
            std::thread::spawn(move || {
                let mut reader = BufReader::new(stdout);
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let _ = got.send(line);
                // Drained until the waiter is killed.
                let _ = std::io::copy(&mut reader, &mut std::io::sink());
            });
            let line = seen.recv_timeout(Duration::from_secs(20));
            let _ = waiter.kill();
            let _ = waiter.wait();
            if command == "elect" {
                let line = line.expect("the second candidate leads");
                assert!(line.starts_with(&name), "{line:?}");
            } else {
                // `lock NAME -- true` prints nothing; it ends once it got the lock.
                assert!(line.is_ok(), "the second locker got the lock");
            }
        }
    }
}

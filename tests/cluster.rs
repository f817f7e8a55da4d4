//! The seed's three-member cluster, ours, over mutual TLS on 127.0.0.2-4 (stand-ins for
//! 10.140.0.2-4): the seed's cluster-health check, replication across members, losing the leader,
//! a frozen follower catching up from a snapshot, a learner joining, promoted, taking the
//! leadership, a member removed, a peer with a foreign certificate refused. A ledger of every
//! acknowledged write is checked on every member at the end.

use crate::common;

use common::certs;
use common::seed::{self, Seed, NAMES};
use common::{etcdctl, our_binary, temp_dir, wait_until, Member};
use etcd_client::{Certificate, Client, ConnectOptions, GetOptions, Identity, TlsOptions};
use std::collections::BTreeMap;
use std::process::Output;
use std::time::Duration;

const IPS: [&str; 3] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"];
const LOCAL_PORTS: [u16; 3] = [32372, 32373, 32374];
const LEARNER_IP: &str = "127.0.0.5";
const LEARNER_LOCAL_PORT: u16 = 32375;
const INTRUDER_IP: &str = "127.0.0.6";
/// Small, so a frozen follower falls behind the leader's compacted log within the test.
const SNAPSHOT_COUNT: &str = "100";

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn describe(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    )
}

struct Cluster {
    seed: Seed,
    /// Client URL and process of each running member, by name.
    members: BTreeMap<String, (String, Member)>,
    ledger: BTreeMap<String, String>,
}

impl Cluster {
    fn tls(&self) -> Vec<String> {
        self.seed.v3_tls()
    }

    fn ctl(&self, url: &str, args: &[&str]) -> Output {
        etcdctl(url, &self.tls(), args, None)
    }

    /// (member ID, is leader) as `etcdctl endpoint status` reports it, if the member answers.
    fn status(&self, url: &str) -> Option<(String, bool)> {
        let output = self.ctl(url, &["endpoint", "status"]);
        let line = stdout(&output);
        let fields: Vec<&str> = line.trim().split(", ").collect();
        (output.status.success() && fields.len() >= 6)
            .then(|| (fields[1].to_string(), fields[4] == "true"))
    }

    fn leader(&self) -> Option<String> {
        self.members
            .iter()
            .find(|(_, (url, _))| self.status(url).is_some_and(|(_, leader)| leader))
            .map(|(name, _)| name.clone())
    }

    fn wait_leader(&self) -> String {
        let mut leader = None;
        wait_until("a leader", Duration::from_secs(30), || {
            leader = self.leader();
            leader.is_some()
        });
        leader.unwrap()
    }

    fn url(&self, name: &str) -> String {
        self.members[name].0.clone()
    }

    async fn client(&self, name: &str) -> Client {
        let pki = &self.seed.pki;
        let tls = TlsOptions::new()
            .ca_certificate(Certificate::from_pem(std::fs::read(&pki.ca).unwrap()))
            .identity(Identity::from_pem(
                std::fs::read(&pki.client_cert).unwrap(),
                std::fs::read(&pki.client_key).unwrap(),
            ));
        let options = ConnectOptions::new()
            .with_tls(tls)
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(Duration::from_secs(10));
        Client::connect([self.url(name)], Some(options))
            .await
            .unwrap()
    }

    /// `count` puts through `name`, `workers` at a time; every acknowledged one goes in the ledger.
    async fn write(&mut self, name: &str, prefix: &str, count: usize, workers: usize) {
        let mut tasks = Vec::new();
        for worker in 0..workers {
            let mut client = self.client(name).await;
            let prefix = prefix.to_string();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for n in (worker..count).step_by(workers) {
                    let key = format!("ledger/{prefix}/{n:05}");
                    let value = format!("{prefix}-{n}");
                    client.put(key.clone(), value.clone(), None).await.unwrap();
                    acked.push((key, value));
                }
                acked
            }));
        }
        for task in tasks {
            self.ledger.extend(task.await.unwrap());
        }
    }

    /// The value of `key` as `name` serves it from its own store (no quorum round).
    fn local_value(&self, name: &str, key: &str) -> Option<String> {
        let output = self.ctl(
            &self.url(name),
            &["get", key, "--consistency=s", "--print-value-only"],
        );
        let value = stdout(&output);
        (output.status.success() && !value.is_empty()).then(|| value.trim_end().to_string())
    }

    fn wait_caught_up(&self, name: &str, key: &str) {
        let expected = self.ledger.get(key).cloned();
        wait_until(
            &format!("{name} to have {key}"),
            Duration::from_secs(60),
            || self.local_value(name, key) == expected,
        );
    }

    /// Every member holds exactly the ledger under ledger/, read linearizably.
    async fn check_ledger(&self) {
        for name in self.members.keys() {
            let mut client = self.client(name).await;
            let answer = client
                .get("ledger/", Some(GetOptions::new().with_prefix()))
                .await
                .unwrap();
            let held: BTreeMap<String, String> = answer
                .kvs()
                .iter()
                .map(|kv| {
                    (
                        kv.key_str().unwrap().to_string(),
                        kv.value_str().unwrap().to_string(),
                    )
                })
                .collect();
            assert_eq!(
                held.len(),
                self.ledger.len(),
                "{name} lost or invented keys"
            );
            assert!(held == self.ledger, "{name} differs from the ledger");
        }
    }
}

/// The seed's own check, verbatim apart from paths and addresses.
fn check_cluster_health(cluster: &Cluster) {
    let output = cluster
        .seed
        .etcdctl_v2(&cluster.seed.client_url(0), &["cluster-health"]);
    let mut expected: Vec<(String, String)> = (0..3)
        .map(|i| (cluster.seed.member_id(i), cluster.seed.client_url(i)))
        .collect();
    expected.sort();
    let mut lines: Vec<String> = expected
        .iter()
        .map(|(id, url)| format!("member {id} is healthy: got healthy result from {url}"))
        .collect();
    lines.push("cluster is healthy".to_string());
    assert_eq!(
        stdout(&output),
        lines.join("\n") + "\n",
        "{}",
        describe(&output)
    );
    assert_eq!(output.status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_cluster_replicates_survives_and_reconfigures() {
    let dir = temp_dir("cluster");
    let seed = Seed::new(&dir, IPS, LOCAL_PORTS, &[LEARNER_IP]);
    // The member IDs the seed's own output shows follow from the URLs and token alone.
    assert_eq!(seed::member_id("10.140.0.2"), "faabc16c3c835e9b");
    assert_eq!(seed::member_id("10.140.0.3"), "818a156c77978609");
    assert_eq!(seed::member_id("10.140.0.4"), "97a1672c4a2124ea");
    let started = seed.start(&our_binary(), "ours", &["--snapshot-count", SNAPSHOT_COUNT]);
    let mut cluster = Cluster {
        members: NAMES
            .iter()
            .zip(started)
            .enumerate()
            .map(|(i, (name, member))| (name.to_string(), (seed.client_url(i), member)))
            .collect(),
        seed,
        ledger: BTreeMap::new(),
    };

    check_cluster_health(&cluster);

    // A write through each member is read back linearizably through the next one.
    for (i, name) in NAMES.iter().enumerate() {
        cluster.write(name, &format!("via-{name}"), 1, 1).await;
        let key = format!("ledger/via-{name}/00000");
        let reader = cluster.url(NAMES[(i + 1) % 3]);
        let output = cluster.ctl(&reader, &["get", &key, "--print-value-only"]);
        assert_eq!(
            stdout(&output),
            format!("via-{name}-0\n"),
            "{}",
            describe(&output)
        );
    }

    // With one member down the seed's check reports it, as etcdctl does against etcd.
    let leader = cluster.wait_leader();
    let follower = NAMES.iter().find(|n| **n != leader).unwrap().to_string();
    let index = NAMES.iter().position(|n| *n == follower).unwrap();
    cluster.members.get_mut(&follower).unwrap().1.kill();
    let output = cluster.seed.etcdctl_v2(
        &cluster.seed.client_url((index + 1) % 3),
        &["cluster-health"],
    );
    let text = stdout(&output);
    let id = cluster.seed.member_id(index);
    let url = cluster.seed.client_url(index);
    assert!(
        text.contains(&format!(
            "member {id} is unreachable: [{url}] are all unreachable\n"
        )),
        "{}",
        describe(&output)
    );
    assert!(
        text.ends_with("cluster is degraded\n"),
        "{}",
        describe(&output)
    );
    assert_eq!(output.status.code(), Some(5), "{}", describe(&output));
    cluster.members.get_mut(&follower).unwrap().1.restart();

    // SIGKILL the leader: the others elect a new one and keep taking writes; the old leader
    // comes back and catches up.
    let old_leader = cluster.wait_leader();
    cluster.members.get_mut(&old_leader).unwrap().1.kill();
    let (_, (_, old_process)) = cluster.members.remove_entry(&old_leader).unwrap();
    let new_leader = cluster.wait_leader();
    assert_ne!(new_leader, old_leader);
    cluster.write(&new_leader, "after-kill", 50, 2).await;
    let mut old_process = old_process;
    old_process.restart();
    let old_url = cluster
        .seed
        .client_url(NAMES.iter().position(|n| *n == old_leader).unwrap());
    cluster
        .members
        .insert(old_leader.clone(), (old_url, old_process));
    cluster.wait_caught_up(&old_leader, "ledger/after-kill/00049");

    // Freeze a follower while the leader writes and compacts far past it: it catches up from a
    // snapshot sent over the peer transport.
    let leader = cluster.wait_leader();
    let frozen = cluster
        .members
        .keys()
        .find(|n| **n != leader)
        .unwrap()
        .clone();
    cluster.members[&frozen].1.signal("STOP");
    cluster.write(&leader, "while-frozen", 1200, 8).await;
    cluster.members[&frozen].1.signal("CONT");
    cluster.wait_caught_up(&frozen, "ledger/while-frozen/01199");
    // The data becomes readable a moment before the member logs the install.
    wait_until(
        &format!("{frozen} to log a snapshot install"),
        Duration::from_secs(10),
        || {
            cluster.members[&frozen]
                .1
                .log_text()
                .contains("installed a snapshot")
        },
    );

    // A peer whose certificate another CA signed is refused by --peer-client-cert-auth.
    let intruder_dir = dir.join("intruder");
    std::fs::create_dir_all(&intruder_dir).unwrap();
    let foreign = certs::make(&intruder_dir, &[INTRUDER_IP]);
    let leader_url = cluster.url(&leader);
    let output = common::run(
        common::our_binary().to_str().unwrap(),
        &[
            "--name".into(),
            "intruder".into(),
            "--data-dir".into(),
            intruder_dir.join("data").display().to_string(),
            "--listen-client-urls".into(),
            format!("http://{INTRUDER_IP}:2379"),
            "--advertise-client-urls".into(),
            format!("http://{INTRUDER_IP}:2379"),
            "--listen-peer-urls".into(),
            format!("https://{INTRUDER_IP}:2380"),
            "--initial-advertise-peer-urls".into(),
            format!("https://{INTRUDER_IP}:2380"),
            "--initial-cluster".into(),
            format!(
                "master=https://{}:2380,intruder=https://{INTRUDER_IP}:2380",
                IPS[0]
            ),
            "--initial-cluster-state".into(),
            "existing".into(),
            "--peer-cert-file".into(),
            foreign.server_cert.display().to_string(),
            "--peer-key-file".into(),
            foreign.server_key.display().to_string(),
            "--peer-trusted-ca-file".into(),
            cluster.seed.pki.ca.display().to_string(),
        ],
        &[],
        None,
    );
    assert_eq!(output.status.code(), Some(1), "{}", describe(&output));
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("could not retrieve the cluster's members from any peer"),
        "{}",
        describe(&output)
    );
    assert!(
        !intruder_dir.join("data").exists(),
        "a refused member must not create its data dir"
    );

    // A learner joins, catches up, is promoted, takes the leadership; then a member is removed.
    let learner_peer = format!("https://{LEARNER_IP}:2380");
    let output = cluster.ctl(
        &leader_url,
        &[
            "member",
            "add",
            "node3",
            "--learner",
            "--peer-urls",
            &learner_peer,
        ],
    );
    assert!(output.status.success(), "{}", describe(&output));
    let learner_id = stdout(&output)
        .split_whitespace()
        .nth(1)
        .unwrap()
        .to_string();
    let learner_cluster = format!("{},node3={learner_peer}", cluster.seed.initial_cluster());
    let learner_dir = dir.join("ours-node3");
    let args = cluster.seed.member_args(
        "node3",
        LEARNER_IP,
        &format!("http://127.0.0.1:{LEARNER_LOCAL_PORT}"),
        &learner_cluster,
        "existing",
        &learner_dir,
    );
    let learner = Member::spawn(
        &our_binary(),
        args,
        &format!("http://127.0.0.1:{LEARNER_LOCAL_PORT}"),
        &learner_dir,
    );
    cluster.members.insert(
        "node3".to_string(),
        (format!("https://{LEARNER_IP}:2379"), learner),
    );
    cluster.wait_caught_up("node3", "ledger/while-frozen/01199");
    let status = stdout(&cluster.ctl(&cluster.url("node3"), &["endpoint", "status"]));
    assert!(
        status.contains(", false, true, "),
        "not a learner: {status}"
    );

    // Only the leader can tell whether the learner is in sync: ask a follower, which forwards
    // to the leader as etcd's does, until the leader agrees.
    wait_until("the learner's promotion", Duration::from_secs(30), || {
        let leader = cluster.wait_leader();
        let follower = ["master", "node1", "node2"]
            .into_iter()
            .find(|name| *name != leader)
            .unwrap();
        let output = cluster.ctl(&cluster.url(follower), &["member", "promote", &learner_id]);
        output.status.success()
    });
    let listing = stdout(&cluster.ctl(&leader_url, &["member", "list"]));
    assert!(
        listing.contains(&format!(
            "{learner_id}, started, node3, {learner_peer}, https://{LEARNER_IP}:2379, false"
        )),
        "{listing}"
    );

    let leader = cluster.wait_leader();
    let output = cluster.ctl(&cluster.url(&leader), &["move-leader", &learner_id]);
    assert!(output.status.success(), "{}", describe(&output));
    assert_eq!(cluster.wait_leader(), "node3");
    cluster.write("node3", "new-leader", 20, 2).await;

    let removed = cluster
        .members
        .keys()
        .find(|n| **n != "node3")
        .unwrap()
        .clone();
    let removed_id = cluster.status(&cluster.url(&removed)).unwrap().0;
    let output = cluster.ctl(&cluster.url("node3"), &["member", "remove", &removed_id]);
    assert!(output.status.success(), "{}", describe(&output));
    let (_, mut removed_member) = cluster.members.remove(&removed).unwrap();
    wait_until(
        "the removed member to exit",
        Duration::from_secs(20),
        || {
            removed_member
                .child
                .as_mut()
                .unwrap()
                .try_wait()
                .unwrap()
                .is_some()
        },
    );
    let listing = stdout(&cluster.ctl(&cluster.url("node3"), &["member", "list"]));
    assert_eq!(listing.lines().count(), 3, "{listing}");
    assert!(!listing.contains(&removed_id), "{listing}");
    cluster.write("node3", "after-remove", 20, 2).await;

    cluster.check_ledger().await;

    // Every member's keyspace hashes the same at the same revision.
    let endpoints = cluster
        .members
        .values()
        .map(|(url, _)| url.clone())
        .collect::<Vec<_>>()
        .join(",");
    let output = cluster.ctl(&endpoints, &["endpoint", "hashkv"]);
    let text = stdout(&output);
    let hashes: std::collections::BTreeSet<&str> = text
        .lines()
        .filter_map(|line| line.rsplit(", ").next())
        .collect();
    assert_eq!(text.lines().count(), 3, "{}", describe(&output));
    assert_eq!(hashes.len(), 1, "members disagree: {text}");
}

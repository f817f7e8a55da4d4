//! Every flag of etcd 3.4 (the list read from Debian's `etcd --help` at test time), in every
//! place a flag can be given, and the behaviour of the ones that change what a member does:
//! auto-compaction, --wal-dir, --force-new-cluster, --listen-metrics-urls, auto TLS, revocation
//! lists, an allowed peer CN, the corruption checks, and etcd's YAML configuration file.

use crate::common::certs::Ca;
use crate::common::{
    self, etcdctl, http_get, our_binary, single_member_args, start_cluster, temp_dir, wait_until,
    Member, DEBIAN_ETCD,
};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// (flag, default as `etcd --help` prints it, help lines) for every flag Debian's etcd lists.
fn etcd_flags() -> Vec<(String, String, Vec<String>)> {
    let output = Command::new(DEBIAN_ETCD).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    let mut flags: Vec<(String, String, Vec<String>)> = Vec::new();
    let (mut in_flags, mut in_block) = (false, false);
    for line in text.lines() {
        if line == "Member:" {
            in_flags = true;
        }
        if !in_flags {
            continue;
        }
        if let Some(rest) = line.strip_prefix("  --") {
            let (name, default) = rest.split_once(' ').unwrap_or((rest, ""));
            flags.push((name.to_string(), default.to_string(), Vec::new()));
            in_block = true;
        } else if let (true, Some(help)) = (in_block, line.strip_prefix("    ")) {
            if let Some(flag) = flags.last_mut() {
                flag.2.push(help.to_string());
            }
        } else {
            in_block = false;
        }
    }
    assert!(
        flags.len() >= 80,
        "read {} flags from etcd --help",
        flags.len()
    );
    flags
}

/// A value for `flag` that a one-member cluster on this test's addresses starts with: the
/// default etcd prints, except where that default names a place this test must not use.
fn value_for(flag: &str, default: &str, dir: &Path) -> String {
    let plain = default.trim_matches('\'');
    match flag {
        "data-dir" => dir.join("data").display().to_string(),
        "wal-dir" => dir.join("wal").display().to_string(),
        "max-concurrent-streams" => "4294967295".into(),
        "listen-peer-urls" | "initial-advertise-peer-urls" => "http://127.0.0.160:2380".into(),
        "listen-client-urls" | "advertise-client-urls" => "http://127.0.0.160:2379".into(),
        "initial-cluster" => "default=http://127.0.0.160:2380".into(),
        _ => plain.to_string(),
    }
}

/// Starts our member with `extra` flags (and `env`) on 127.0.0.160; whether it became healthy,
/// and its log.
fn starts_with(dir: &Path, extra: &[String], env: &[(String, String)]) -> (bool, String) {
    let _ = std::fs::remove_dir_all(dir.join("data"));
    let _ = std::fs::remove_dir_all(dir.join("wal"));
    let mut args = single_member_args(
        "default",
        "127.0.0.160",
        2379,
        2380,
        &dir.join("data"),
        "http",
    );
    args.extend(extra.iter().cloned());
    let log = dir.join("member.log");
    let mut child = Command::new(our_binary())
        .args(&args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut healthy = false;
    while Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if http_get("127.0.0.160:2379", "/health").is_some_and(|b| b.contains("\"true\"")) {
            healthy = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    (healthy, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn every_etcd_flag_is_accepted_as_a_flag_an_environment_variable_and_a_file_key() {
    let dir = temp_dir("flags-table");
    let flags = etcd_flags();
    let mut refused = Vec::new();
    for (flag, default, _) in &flags {
        let value = value_for(flag, default, &dir);
        let (healthy, log) = starts_with(&dir, &[format!("--{flag}={value}")], &[]);
        if !healthy {
            refused.push(format!("--{flag}={value}: {log}"));
        }
    }
    assert!(
        refused.is_empty(),
        "{} flags not taken:\n{}",
        refused.len(),
        refused.join("\n")
    );
    // All at once, as ETCD_* variables, and as keys of a TOML file.
    let skip = [
        "name",
        "data-dir",
        "listen-client-urls",
        "advertise-client-urls",
        "listen-peer-urls",
        "initial-advertise-peer-urls",
        "initial-cluster",
    ];
    let given: Vec<(String, String)> = flags
        .iter()
        .filter(|(flag, _, _)| !skip.contains(&flag.as_str()))
        .map(|(flag, default, _)| (flag.clone(), value_for(flag, default, &dir)))
        .collect();
    let env: Vec<(String, String)> = given
        .iter()
        .map(|(flag, value)| {
            (
                format!("ETCD_{}", flag.to_uppercase().replace('-', "_")),
                value.clone(),
            )
        })
        .collect();
    let (healthy, log) = starts_with(&dir, &[], &env);
    assert!(healthy, "every flag as ETCD_*: {log}");
    assert!(!log.contains("unrecognized environment variable"), "{log}");
    let toml: String = given
        .iter()
        .map(|(flag, value)| format!("{flag} = {value:?}\n"))
        .collect();
    std::fs::write(dir.join("etcd.toml"), toml).unwrap();
    let file = format!("--config-file={}", dir.join("etcd.toml").display());
    let (healthy, log) = starts_with(&dir, &[file], &[]);
    assert!(healthy, "every flag as a TOML key: {log}");
}

#[test]
fn help_lists_every_flag_with_etcds_default_and_help_text() {
    let ours = Command::new(our_binary()).arg("--help").output().unwrap();
    assert!(ours.status.success());
    let ours = String::from_utf8(ours.stdout).unwrap();
    for (flag, default, help) in etcd_flags() {
        let block = format!("  --{flag} {default}\n    {}\n", help.join("\n    "));
        assert!(ours.contains(&block), "our --help lacks\n{block}");
    }
}

/// A line of `etcdctl member list` with the member's ID and this test's IPs masked.
fn member_line(endpoint: &str, ip: &str) -> String {
    let output = etcdctl(endpoint, &[], &["member", "list"], None);
    let text = String::from_utf8_lossy(&output.stdout).replace(ip, "IP");
    text.split_once(", ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or(text)
}

#[test]
fn etcds_yaml_configuration_starts_our_member_as_it_starts_etcd() {
    let dir = temp_dir("flags-yaml");
    let yaml = |ip: &str, data: &Path| {
        format!(
            "# etcd.conf.yml as etcd documents it\nname: 'node1'\ndata-dir: {}\nsnapshot-count: 10000\nheartbeat-interval: 100\nelection-timeout: 1000\nlisten-peer-urls: http://{ip}:2380\nlisten-client-urls: http://{ip}:2379\ninitial-advertise-peer-urls: http://{ip}:2380\nadvertise-client-urls: http://{ip}:2379\ninitial-cluster: node1=http://{ip}:2380\ninitial-cluster-token: 'etcd-cluster-yaml'\ninitial-cluster-state: 'new'\nstrict-reconfig-check: true\nenable-v2: false\nauto-compaction-mode: periodic\nauto-compaction-retention: \"1\"\nlog-outputs: [stderr]\nclient-transport-security:\n  client-cert-auth: false\n  auto-tls: false\npeer-transport-security:\n  client-cert-auth: false\n",
            data.display()
        )
    };
    std::fs::write(
        dir.join("etcd.yml"),
        yaml("127.0.0.161", &dir.join("etcd-data")),
    )
    .unwrap();
    std::fs::write(
        dir.join("ours.yml"),
        yaml("127.0.0.162", &dir.join("our-data")),
    )
    .unwrap();
    let start = |program: &Path, file: &str, ip: &str| {
        let args = vec![
            "--config-file".to_string(),
            dir.join(file).display().to_string(),
        ];
        Member::start(
            program,
            args,
            &format!("http://{ip}:2379"),
            &dir.join(file).with_extension("dir"),
        )
    };
    let reference = start(Path::new(DEBIAN_ETCD), "etcd.yml", "127.0.0.161");
    let ours = start(&our_binary(), "ours.yml", "127.0.0.162");
    assert_eq!(
        member_line(&ours.client_url, "127.0.0.162"),
        member_line(&reference.client_url, "127.0.0.161")
    );
    assert!(dir.join("our-data/member").exists());
}

#[test]
fn periodic_auto_compaction_compacts_what_etcd_compacts() {
    let dir = temp_dir("flags-compaction");
    let flags = [
        "--auto-compaction-mode",
        "periodic",
        "--auto-compaction-retention",
        "2s",
    ];
    let reference = common::start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.163",
        &dir.join("etcd"),
        &flags,
    );
    let ours = common::start_member(&our_binary(), "127.0.0.164", &dir.join("ours"), &flags);
    for member in [&reference, &ours] {
        for i in 0..10 {
            let put = etcdctl(
                &member.client_url,
                &[],
                &["put", &format!("k{i}"), "v"],
                None,
            );
            assert!(put.status.success());
        }
    }
    // Quiet for longer than the retention: both compact at the last revision written (11),
    // so a read at revision 10 is refused and one at 11 is not.
    let compacted = |member: &Member| {
        let old = etcdctl(&member.client_url, &[], &["get", "k0", "--rev=10"], None);
        String::from_utf8_lossy(&old.stderr).contains("required revision has been compacted")
    };
    for member in [&reference, &ours] {
        wait_until("an auto compaction", Duration::from_secs(30), || {
            compacted(member)
        });
        let at_11 = etcdctl(
            &member.client_url,
            &[],
            &["get", "k9", "--rev=11", "--print-value-only"],
            None,
        );
        assert_eq!(String::from_utf8_lossy(&at_11.stdout).trim(), "v");
    }
    assert!(
        ours.log_text()
            .contains("starting auto compaction at revision 11"),
        "{}",
        ours.log_text()
    );
    let metrics = http_get("127.0.0.164:2379", "/metrics").unwrap();
    assert!(
        metrics.contains("etcd_debugging_mvcc_compact_revision 11\n"),
        "{metrics}"
    );
}

/// How many keys start with `prefix`, as the member answers.
fn key_count(member: &Member, prefix: &str) -> usize {
    let keys = etcdctl(
        &member.client_url,
        &[],
        &["get", prefix, "--prefix", "--keys-only"],
        None,
    );
    assert!(keys.status.success(), "{keys:?}");
    String::from_utf8_lossy(&keys.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .count()
}

#[test]
fn wal_dir_keeps_the_log_elsewhere_through_sigkill_and_is_required_after() {
    let dir = temp_dir("flags-wal-dir");
    let wal = dir.join("wal-disk");
    let wal_flag = format!("--wal-dir={}", wal.display());
    let data = dir.join("data");
    let mut args = single_member_args("walled", "127.0.0.165", 2379, 2380, &data, "http");
    args.push(wal_flag.clone());
    let mut member = Member::start(
        &our_binary(),
        args.clone(),
        "http://127.0.0.165:2379",
        &data,
    );
    for i in 0..50 {
        let put = etcdctl(
            &member.client_url,
            &[],
            &["put", &format!("w{i}"), "v"],
            None,
        );
        assert!(put.status.success());
    }
    assert!(
        std::fs::read_dir(&wal).unwrap().count() > 0,
        "the WAL is in --wal-dir"
    );
    assert!(!data.join("member/wal").exists(), "and not in the data dir");
    member.kill();
    member.restart();
    assert_eq!(key_count(&member, "w"), 50);
    member.kill();
    let without = common::run(
        our_binary().to_str().unwrap(),
        &single_member_args("walled", "127.0.0.165", 2379, 2380, &data, "http"),
        &[],
        None,
    );
    let stderr = String::from_utf8_lossy(&without.stderr);
    assert_eq!(without.status.code(), Some(1));
    assert!(stderr.contains("keeps its WAL with --wal-dir"), "{stderr}");
}

#[test]
fn force_new_cluster_brings_a_lost_clusters_data_back_on_one_member() {
    let dir = temp_dir("flags-force-new");
    let ips = ["127.0.0.166", "127.0.0.167", "127.0.0.168"];
    let mut members = common::start_plain_cluster(&ips, &dir);
    for i in 0..100 {
        let put = etcdctl(
            &members[i % 3].client_url,
            &[],
            &["put", &format!("f{i}"), "v"],
            None,
        );
        assert!(put.status.success());
    }
    for member in &mut members {
        member.kill();
    }
    // Two members are lost for good; the third starts alone with its data.
    let mut survivor = members.remove(0);
    drop(members);
    survivor.add_args(&["--force-new-cluster"]);
    survivor.restart();
    let list = etcdctl(&survivor.client_url, &[], &["member", "list"], None);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout).lines().count(),
        1,
        "{list:?}"
    );
    assert_eq!(key_count(&survivor, "f"), 100);
    let put = etcdctl(&survivor.client_url, &[], &["put", "after", "v"], None);
    assert!(put.status.success(), "{put:?}");
    // Started again without the flag, it stays a one-member cluster.
    survivor.kill();
    survivor.remove_args(&["--force-new-cluster"]);
    survivor.restart();
    let put = etcdctl(&survivor.client_url, &[], &["put", "again", "v"], None);
    assert!(put.status.success(), "{put:?}");
}

#[test]
fn metrics_on_their_own_listener_and_nothing_else_there() {
    let dir = temp_dir("flags-metrics-url");
    let member = common::start_member(
        &our_binary(),
        "127.0.0.169",
        &dir.join("data"),
        &["--listen-metrics-urls", "http://127.0.0.169:2381"],
    );
    let metrics = http_get("127.0.0.169:2381", "/metrics").unwrap();
    assert!(metrics.contains("etcd_server_has_leader 1"), "{metrics}");
    let health = http_get("127.0.0.169:2381", "/health").unwrap();
    assert!(health.contains("\"health\":\"true\""), "{health}");
    assert_eq!(
        http_get("127.0.0.169:2381", "/version").unwrap(),
        "404 page not found\n"
    );
    assert!(http_get(&member.client_url[7..], "/version")
        .unwrap()
        .contains("etcdserver"));
}

#[test]
fn auto_tls_encrypts_clients_and_peers_without_certificate_files() {
    let dir = temp_dir("flags-auto-tls");
    let ips = ["127.0.0.170", "127.0.0.171", "127.0.0.172"];
    let cluster = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("a{i}=https://{ip}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    let members: Vec<Member> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let args: Vec<String> = [
                format!("--name=a{i}"),
                format!("--data-dir={}", dir.join(format!("a{i}")).display()),
                format!("--listen-client-urls=https://{ip}:2379"),
                format!("--advertise-client-urls=https://{ip}:2379"),
                format!("--listen-peer-urls=https://{ip}:2380"),
                format!("--initial-advertise-peer-urls=https://{ip}:2380"),
                format!("--initial-cluster={cluster}"),
                "--auto-tls".into(),
                "--peer-auto-tls".into(),
            ]
            .to_vec();
            Member::spawn(
                &our_binary(),
                args,
                &format!("https://{ip}:2379"),
                &dir.join(format!("a{i}")),
            )
        })
        .collect();
    let insecure = [
        "--insecure-skip-tls-verify".to_string(),
        "--insecure-transport=false".to_string(),
    ];
    wait_until(
        "a TLS cluster with auto certificates",
        Duration::from_secs(30),
        || {
            let health = etcdctl(
                &members[0].client_url,
                &insecure,
                &["endpoint", "health"],
                None,
            );
            health.status.success()
        },
    );
    let put = etcdctl(
        &members[1].client_url,
        &insecure,
        &["put", "k", "tls"],
        None,
    );
    assert!(put.status.success(), "{put:?}");
    let get = etcdctl(
        &members[2].client_url,
        &insecure,
        &["get", "k", "--print-value-only"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), "tls");
    // A client that verifies cannot: the certificate is self-signed.
    let verifying = etcdctl(&members[0].client_url, &[], &["get", "k"], None);
    assert!(!verifying.status.success());
}

#[test]
fn a_revoked_client_certificate_is_refused() {
    let dir = temp_dir("flags-crl");
    let ca = Ca::new(&dir);
    let (server_cert, server_key) = ca.issue("server", &["127.0.0.173", "localhost"], "server", 1);
    let (good_cert, good_key) = ca.issue("good", &[], "good", 2);
    let (bad_cert, bad_key) = ca.issue("revoked", &[], "revoked", 3);
    let crl = ca.revoke(&[3]);
    let path = |p: &Path| p.display().to_string();
    let mut args = single_member_args("crl", "127.0.0.173", 2379, 2380, &dir.join("data"), "https");
    args.extend([
        format!("--cert-file={}", path(&server_cert)),
        format!("--key-file={}", path(&server_key)),
        format!("--trusted-ca-file={}", path(&ca.file)),
        "--client-cert-auth".into(),
        format!("--client-crl-file={}", path(&crl)),
    ]);
    let member = Member::start(
        &our_binary(),
        args,
        "https://127.0.0.173:2379",
        &dir.join("data"),
    );
    let tls = |cert: &Path, key: &Path| {
        vec![
            format!("--cacert={}", path(&ca.file)),
            format!("--cert={}", path(cert)),
            format!("--key={}", path(key)),
        ]
    };
    let good = etcdctl(
        &member.client_url,
        &tls(&good_cert, &good_key),
        &["put", "k", "v"],
        None,
    );
    assert!(good.status.success(), "{good:?}");
    let bad = etcdctl(
        &member.client_url,
        &tls(&bad_cert, &bad_key),
        &["put", "k", "v"],
        None,
    );
    assert!(!bad.status.success(), "a revoked certificate was accepted");
}

#[test]
fn a_peer_whose_certificate_cn_is_not_allowed_is_refused() {
    let dir = temp_dir("flags-peer-cn");
    let ca = Ca::new(&dir);
    let ips = ["127.0.0.174", "127.0.0.175", "127.0.0.176"];
    let cluster = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("p{i}=https://{ip}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    // p0 and p1 carry the allowed CN; p2 does not.
    let mut members: Vec<Member> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let cn = if i == 2 { "intruder" } else { "etcd-peer" };
            let (cert, key) = ca.issue(&format!("p{i}"), &[ip], cn, 10 + i as u64);
            let args: Vec<String> = [
                format!("--name=p{i}"),
                format!("--data-dir={}", dir.join(format!("p{i}")).display()),
                format!("--listen-client-urls=http://{ip}:2379"),
                format!("--advertise-client-urls=http://{ip}:2379"),
                format!("--listen-peer-urls=https://{ip}:2380"),
                format!("--initial-advertise-peer-urls=https://{ip}:2380"),
                format!("--initial-cluster={cluster}"),
                format!("--peer-cert-file={}", cert.display()),
                format!("--peer-key-file={}", key.display()),
                format!("--peer-trusted-ca-file={}", ca.file.display()),
                "--peer-client-cert-auth".into(),
                "--peer-cert-allowed-cn=etcd-peer".into(),
            ]
            .to_vec();
            Member::spawn(
                &our_binary(),
                args,
                &format!("http://{ip}:2379"),
                &dir.join(format!("p{i}")),
            )
        })
        .collect();
    members[0].wait_healthy();
    members[1].wait_healthy();
    let put = etcdctl(&members[0].client_url, &[], &["put", "k", "v"], None);
    assert!(put.status.success());
    // p2's connections are refused at the TLS handshake.
    wait_until("p2 refused", Duration::from_secs(20), || {
        let logs = members[0].log_text() + &members[1].log_text();
        logs.contains("CommonName authentication failed")
    });
    members[2].kill();
}

/// Changes the value stored at `revision` in a stopped member's store: what a flipped bit on
/// its disk would do.
fn corrupt_store(data_dir: &Path, revision: i64) {
    let env = unsafe {
        heed::EnvOpenOptions::new()
            .max_dbs(16)
            .map_size(3 << 30)
            .open(data_dir.join("member/kv"))
            .unwrap()
    };
    let mut txn = env.write_txn().unwrap();
    let revisions: heed::Database<heed::types::Bytes, heed::types::Bytes> =
        env.open_database(&txn, Some("revisions")).unwrap().unwrap();
    let mut key = (revision as u64).to_be_bytes().to_vec();
    key.extend_from_slice(&0u64.to_be_bytes());
    let mut value = revisions.get(&txn, &key).unwrap().unwrap().to_vec();
    let last = value.len() - 1;
    value[last] ^= 0x01;
    revisions.put(&mut txn, &key, &value).unwrap();
    txn.commit().unwrap();
}

#[test]
fn corruption_is_found_before_serving_and_raises_corrupt_while_running() {
    let dir = temp_dir("flags-corrupt");
    let ips = ["127.0.0.177", "127.0.0.178", "127.0.0.179"];
    let mut members = start_cluster(
        &our_binary(),
        &ips,
        &dir,
        &["--experimental-corrupt-check-time=1s"],
    );
    for i in 0..20 {
        let put = etcdctl(
            &members[0].client_url,
            &[],
            &["put", &format!("c{i}"), "value"],
            None,
        );
        assert!(put.status.success());
    }
    wait_until("every member applied", Duration::from_secs(10), || {
        members.iter().all(|m| {
            let get = etcdctl(
                &m.client_url,
                &[],
                &["get", "c19", "--consistency=s", "--print-value-only"],
                None,
            );
            String::from_utf8_lossy(&get.stdout).trim() == "value"
        })
    });
    // A follower's store changes on disk while it is stopped.
    let leader = etcdctl(
        &members[0].client_url,
        &[],
        &["endpoint", "status", "--cluster"],
        None,
    );
    let leader_text = String::from_utf8_lossy(&leader.stdout).into_owned();
    let victim = (0..3)
        .find(|i| {
            leader_text
                .lines()
                .any(|l| l.contains(ips[*i]) && l.contains(", false, false,"))
        })
        .unwrap();
    members[victim].kill();
    corrupt_store(&members[victim].data_dir, 10);
    // With the initial check it refuses to serve.
    members[victim].add_args(&["--experimental-initial-corrupt-check"]);
    members[victim].launch();
    wait_until(
        "the corrupted member to exit",
        Duration::from_secs(30),
        || {
            members[victim]
                .child
                .as_mut()
                .unwrap()
                .try_wait()
                .unwrap()
                .is_some()
        },
    );
    assert!(
        members[victim]
            .log_text()
            .contains("found data inconsistency with peers"),
        "{}",
        members[victim].log_text()
    );
    // Without it, it serves; the leader's periodic check raises CORRUPT and writes stop.
    members[victim].remove_args(&["--experimental-initial-corrupt-check"]);
    members[victim].launch();
    let healthy = (victim + 1) % 3;
    wait_until("the CORRUPT alarm", Duration::from_secs(30), || {
        let alarms = etcdctl(&members[healthy].client_url, &[], &["alarm", "list"], None);
        String::from_utf8_lossy(&alarms.stdout).contains("alarm:CORRUPT")
    });
    let put = etcdctl(&members[healthy].client_url, &[], &["put", "k", "v"], None);
    assert!(
        String::from_utf8_lossy(&put.stderr).contains("etcdserver: corrupt cluster"),
        "{put:?}"
    );
}

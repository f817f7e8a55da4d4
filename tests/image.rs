//! image/build.sh: one rootfs overlay per node of the seed's cluster description, with the
//! binary, the multicall links, the systemd unit, the sysusers entry, the seed's certificate
//! layout and a per-node etcd.toml; the same inputs give byte-identical tarballs, and each
//! node's etcd.toml is read by our binary as its --config-file.

use crate::common;

use common::{our_binary, run, temp_dir};
use std::path::Path;

/// The shipped artifact (.ci/run builds it before the tests).
fn release_binary() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/x86_64-unknown-linux-musl/release/etcd")
}

fn build(out: &Path, pki: &Path) -> std::process::Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("image/build.sh");
    run(
        "bash",
        &[
            script.display().to_string(),
            "--pki".into(),
            pki.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ],
        &[("BIN", release_binary().to_str().unwrap())],
        None,
    )
}

#[test]
fn seed_images_hold_the_seed_layout_and_are_reproducible() {
    let dir = temp_dir("image");
    let pki = dir.join("pki");
    let made = run(
        our_binary().to_str().unwrap(),
        &[
            "pki".into(),
            "init".into(),
            "--dir".into(),
            pki.display().to_string(),
            "--node".into(),
            "master=10.140.0.2".into(),
            "--node".into(),
            "node1=10.140.0.3".into(),
            "--node".into(),
            "node2=10.140.0.4".into(),
        ],
        &[],
        None,
    );
    assert!(made.status.success());
    let first = build(&dir.join("a"), &pki);
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let second = build(&dir.join("b"), &pki);
    assert!(second.status.success());
    for node in ["master", "node1", "node2"] {
        let tarball = format!("{node}.tar.gz");
        let a = std::fs::read(dir.join("a").join(&tarball)).unwrap();
        let b = std::fs::read(dir.join("b").join(&tarball)).unwrap();
        assert!(
            a == b,
            "{tarball} differs between two builds of the same inputs"
        );
    }

    let listing = run(
        "tar",
        &[
            "-tvzf".into(),
            dir.join("a/node1.tar.gz").display().to_string(),
        ],
        &[],
        None,
    );
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let entry = |path: &str| {
        listing
            .lines()
            .find(|l| l.ends_with(path) || l.contains(&format!("{path} -> ")))
            .unwrap_or_else(|| panic!("{path} missing from:\n{listing}"))
            .to_string()
    };
    assert!(entry("./").starts_with("drwxr-xr-x 0/0"), "{listing}");
    assert!(entry("./usr/bin/etcd").starts_with("-rwxr-xr-x 0/0"));
    assert!(entry("./usr/bin/etcdctl").ends_with("./usr/bin/etcdctl -> etcd"));
    assert!(entry("./usr/bin/etcdutl").ends_with("./usr/bin/etcdutl -> etcd"));
    assert!(entry("./etc/systemd/system/etcd.service").starts_with("-rw-r--r-- 0/0"));
    assert!(entry("./usr/lib/sysusers.d/etcd.conf").starts_with("-rw-r--r-- 0/0"));
    assert!(entry("./etc/etcd/ca.pem").starts_with("-rw-r--r-- 0/0"));
    assert!(entry("./etc/etcd/kubernetes.pem").starts_with("-rw-r--r-- 0/0"));
    assert!(entry("./etc/etcd/kubernetes-key.pem").starts_with("-rw------- 2379/2379"));
    assert!(entry("./var/lib/etcd/").starts_with("drwx------ 2379/2379"));

    let extract = dir.join("node1-root");
    std::fs::create_dir_all(&extract).unwrap();
    let unpacked = run(
        "tar",
        &[
            "-xzf".into(),
            dir.join("a/node1.tar.gz").display().to_string(),
            "-C".into(),
            extract.display().to_string(),
        ],
        &[],
        None,
    );
    assert!(unpacked.status.success());
    let unit = std::fs::read_to_string(extract.join("etc/systemd/system/etcd.service")).unwrap();
    for line in [
        "Type=notify",
        "User=etcd",
        "ExecStart=/usr/bin/etcd --config-file /etc/etcd/etcd.toml",
        "Restart=on-failure",
        "RestartSec=5",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/etcd",
    ] {
        assert!(unit.lines().any(|l| l == line), "unit lacks {line:?}");
    }
    // The unit is hardened: systemd's own exposure score, at most 2.0 ("OK").
    let analysis = run(
        "systemd-analyze",
        &[
            "security".into(),
            "--offline=true".into(),
            extract
                .join("etc/systemd/system/etcd.service")
                .display()
                .to_string(),
        ],
        &[],
        None,
    );
    let report = String::from_utf8_lossy(&analysis.stdout);
    let score: f64 = report
        .lines()
        .find_map(|l| l.split("exposure level for etcd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    assert!(score <= 2.0, "exposure {score}:\n{report}");
    let toml = std::fs::read_to_string(extract.join("etc/etcd/etcd.toml")).unwrap();
    assert!(toml.contains("name = \"node1\""));
    assert!(toml.contains("listen-peer-urls = \"https://10.140.0.3:2380\""));
    assert!(toml.contains("initial-cluster = \"master=https://10.140.0.2:2380,node1=https://10.140.0.3:2380,node2=https://10.140.0.4:2380\""));
    // Our binary reads the file as its configuration: it gets as far as loading the
    // certificates from /etc/etcd (absent on this machine), without binding 10.x or touching
    // the data dir given on the command line.
    let data = dir.join("data");
    let started = run(
        our_binary().to_str().unwrap(),
        &[
            "--config-file".into(),
            extract.join("etc/etcd/etcd.toml").display().to_string(),
            "--data-dir".into(),
            data.display().to_string(),
        ],
        &[],
        None,
    );
    let stderr = String::from_utf8_lossy(&started.stderr);
    assert_eq!(started.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("/etc/etcd/kubernetes.pem"), "{stderr}");
    assert!(!data.exists());
}

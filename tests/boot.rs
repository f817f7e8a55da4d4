//! The appliance boots: a minimal Debian root (debootstrap, cached in /var/cache/etcd-boot)
//! with a node image from `image/build.sh` unpacked over it, booted with systemd under
//! `systemd-nspawn --private-network` (no network but the container's own loopback). The image's
//! etcd.service must reach `active` — it is Type=notify, so only once the server sent READY=1 —
//! and `etcdctl endpoint health` inside (our applet, through the image's /usr/bin/etcdctl link,
//! with the image's certificates) must pass, and so must the seed's own check typed as the seed
//! prints it (no ETCDCTL_API: v2-only flags make it v2, as the old etcdctl's default was). A one-shot unit ordered after etcd.service records
//! both and powers the container off.
//!
//! The node's address is 127.0.0.2 inside the container: the seed's layout also listens on
//! http://127.0.0.1:2379, so the node's own address must be another loopback one.

use crate::common;

use common::{run, temp_dir};
use std::path::{Path, PathBuf};
use std::process::Command;

const CACHE: &str = "/var/cache/etcd-boot/rootfs";

const CHECK_UNIT: &str = "[Unit]
Description=boot test: is etcd serving?
After=etcd.service
Requires=etcd.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c '{ systemctl is-active etcd; /usr/bin/etcdctl --endpoints=https://127.0.0.2:2379 --cacert=/etc/etcd/ca.pem --cert=/etc/etcd/kubernetes.pem --key=/etc/etcd/kubernetes-key.pem endpoint health 2>&1; echo exit=$?; /usr/bin/etcdctl --ca-file=/etc/etcd/ca.pem --cert-file=/etc/etcd/kubernetes.pem --key-file=/etc/etcd/kubernetes-key.pem cluster-health 2>&1; echo exit=$?; } > /result/out 2>&1; systemctl poweroff'

[Install]
WantedBy=multi-user.target
";

/// The cached minimal Debian root with systemd, made once per machine (about 90 s).
fn debian_root() -> PathBuf {
    let cache = PathBuf::from(CACHE);
    if cache.join("sbin/init").exists() {
        return cache;
    }
    let building = cache.with_extension(format!("building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    std::fs::create_dir_all(cache.parent().unwrap()).unwrap();
    let out = run(
        "debootstrap",
        &[
            "--variant=minbase".into(),
            "--include=systemd,systemd-sysv,dbus".into(),
            "bookworm".into(),
            building.display().to_string(),
            "http://deb.debian.org/debian".into(),
        ],
        &[],
        None,
    );
    assert!(
        out.status.success(),
        "debootstrap failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&building, &cache).unwrap();
    cache
}

fn shell(command: &str) {
    let status = Command::new("sh").args(["-c", command]).status().unwrap();
    assert!(status.success(), "{command}");
}

#[test]
fn node_image_boots_under_systemd_and_serves() {
    let base = debian_root();
    let dir = temp_dir("boot");
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::write(
        dir.join("cluster.toml"),
        "token = \"boot-test\"\n\n[[node]]\nname = \"boot\"\nip = \"127.0.0.2\"\n",
    )
    .unwrap();
    let build = Command::new("bash")
        .arg(repo.join("image/build.sh"))
        .args(["--cluster", &dir.join("cluster.toml").display().to_string()])
        .args(["--out", &dir.join("out").display().to_string()])
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "{}",
        String::from_utf8_lossy(&build.stderr)
    );
    let root = dir.join("root");
    shell(&format!("cp -a {} {}", base.display(), root.display()));
    shell(&format!(
        "tar -xzf {} -C {}",
        dir.join("out/boot.tar.gz").display(),
        root.display()
    ));
    let units = root.join("etc/systemd/system");
    std::fs::write(units.join("boot-check.service"), CHECK_UNIT).unwrap();
    let wants = units.join("multi-user.target.wants");
    std::fs::create_dir_all(&wants).unwrap();
    for unit in ["etcd.service", "boot-check.service"] {
        std::os::unix::fs::symlink(format!("/etc/systemd/system/{unit}"), wants.join(unit))
            .unwrap();
    }
    let result = dir.join("result");
    std::fs::create_dir_all(&result).unwrap();

    // No D-Bus or machined on the host: --register=no --keep-unit.
    let boot = run(
        "timeout",
        &[
            "300".into(),
            "systemd-nspawn".into(),
            "--quiet".into(),
            "--boot".into(),
            "--register=no".into(),
            "--keep-unit".into(),
            "--private-network".into(),
            "--console=pipe".into(),
            format!("--directory={}", root.display()),
            format!("--bind={}:/result", result.display()),
        ],
        &[],
        None,
    );
    let recorded = std::fs::read_to_string(result.join("out")).unwrap_or_else(|_| {
        panic!(
            "the container recorded nothing (exit {:?}):\n{}\n{}",
            boot.status.code(),
            String::from_utf8_lossy(&boot.stdout),
            String::from_utf8_lossy(&boot.stderr)
        )
    });
    let lines: Vec<&str> = recorded.lines().collect();
    assert_eq!(lines.first(), Some(&"active"), "{recorded}");
    assert!(
        lines.iter().any(|l| l.starts_with(
            "https://127.0.0.2:2379 is healthy: successfully committed proposal: took = "
        )),
        "{recorded}"
    );
    // The seed's check, verbatim: one member here, so one member line and the verdict.
    let verdict = lines.iter().position(|l| *l == "cluster is healthy");
    let verdict = verdict.unwrap_or_else(|| panic!("{recorded}"));
    assert!(
        lines[verdict - 1].starts_with("member ")
            && lines[verdict - 1]
                .ends_with(" is healthy: got healthy result from https://127.0.0.2:2379"),
        "{recorded}"
    );
    assert_eq!(lines.get(verdict + 1), Some(&"exit=0"), "{recorded}");
    assert_eq!(
        lines.iter().filter(|l| **l == "exit=0").count(),
        2,
        "{recorded}"
    );
    // The member's data is where the unit allows it to write, owned by the etcd user.
    use std::os::unix::fs::MetadataExt;
    let data = std::fs::metadata(root.join("var/lib/etcd/member")).unwrap();
    assert_eq!(data.uid(), 2379);
    let _ = std::fs::remove_dir_all(&root);
}

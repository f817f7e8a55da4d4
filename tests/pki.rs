//! `etcd pki init`: the seed's certificate layout made by our binary. The certificates verify
//! with openssl, serve mutual TLS for clients and peers for Debian's etcd and for ours, and
//! existing keys are not overwritten without --force.

use crate::common;

use common::{etcdctl, our_binary, our_etcdctl, run, temp_dir, Member, DEBIAN_ETCD};
use std::path::{Path, PathBuf};

fn pki_init(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "pki".to_string(),
        "init".into(),
        "--dir".into(),
        dir.display().to_string(),
        "--node".into(),
        "master=127.0.0.81".into(),
        "--node".into(),
        "node1=127.0.0.82".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    run(our_binary().to_str().unwrap(), &args, &[], None)
}

/// A one-member cluster with the seed's TLS flags on `ip`, certificates from `etc`.
fn start_tls(program: &Path, ip: &str, etc: &Path, data: &Path) -> Member {
    let file = |name: &str| etc.join(name).display().to_string();
    let args: Vec<String> = [
        "--name",
        "master",
        "--data-dir",
        &data.display().to_string(),
        "--cert-file",
        &file("kubernetes.pem"),
        "--key-file",
        &file("kubernetes-key.pem"),
        "--peer-cert-file",
        &file("kubernetes.pem"),
        "--peer-key-file",
        &file("kubernetes-key.pem"),
        "--trusted-ca-file",
        &file("ca.pem"),
        "--peer-trusted-ca-file",
        &file("ca.pem"),
        "--peer-client-cert-auth",
        "--client-cert-auth",
        "--listen-client-urls",
        &format!("https://{ip}:2379"),
        "--advertise-client-urls",
        &format!("https://{ip}:2379"),
        "--listen-peer-urls",
        &format!("https://{ip}:2380"),
        "--initial-advertise-peer-urls",
        &format!("https://{ip}:2380"),
        "--initial-cluster",
        &format!("master=https://{ip}:2380"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Member::start(program, args, &format!("https://{ip}:2379"), data)
}

fn tls_flags(etc: &Path) -> Vec<String> {
    let file = |name: &str| etc.join(name).display().to_string();
    vec![
        format!("--cacert={}", file("ca.pem")),
        format!("--cert={}", file("kubernetes.pem")),
        format!("--key={}", file("kubernetes-key.pem")),
    ]
}

/// `etcd pki client NAME --dir DIR`.
fn pki_client(dir: &Path, name: &str) -> std::process::Output {
    run(
        &our_binary().display().to_string(),
        &[
            "pki".into(),
            "client".into(),
            name.into(),
            "--dir".into(),
            dir.display().to_string(),
        ],
        &[],
        None,
    )
}

/// `openssl verify` of DIR/`certificate` against DIR/ca.pem.
fn openssl_verify(dir: &Path, certificate: &str) {
    let verify = run(
        "openssl",
        &[
            "verify".into(),
            "-CAfile".into(),
            dir.join("ca.pem").display().to_string(),
            dir.join(certificate).display().to_string(),
        ],
        &[],
        None,
    );
    assert!(
        verify.status.success(),
        "{certificate}: {}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn pki_certificates_verify_and_serve_mutual_tls_for_etcd_and_ours() {
    let dir = temp_dir("pki");
    let etc = dir.join("etc");
    let made = pki_init(&etc, &[]);
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    for (name, mode) in [
        ("ca.pem", 0o644),
        ("ca-key.pem", 0o600),
        ("kubernetes.pem", 0o644),
        ("kubernetes-key.pem", 0o600),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(etc.join(name)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode, "{name}");
    }
    openssl_verify(&etc, "kubernetes.pem");

    // A client certificate of its own (CN=admin), from the same CA.
    let client = pki_client(&etc, "admin");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    let subject = run(
        "openssl",
        &[
            "x509".into(),
            "-noout".into(),
            "-subject".into(),
            "-in".into(),
            etc.join("admin.pem").display().to_string(),
        ],
        &[],
        None,
    );
    assert_eq!(
        String::from_utf8_lossy(&subject.stdout).trim(),
        "subject=CN = admin"
    );
    openssl_verify(&etc, "admin.pem");
    let admin_tls = vec![
        format!("--cacert={}", etc.join("ca.pem").display()),
        format!("--cert={}", etc.join("admin.pem").display()),
        format!("--key={}", etc.join("admin-key.pem").display()),
    ];

    for (program, ip, tag) in [
        (our_binary(), "127.0.0.81", "ours"),
        (PathBuf::from(DEBIAN_ETCD), "127.0.0.82", "debian"),
    ] {
        let member = start_tls(&program, ip, &etc, &dir.join(tag));
        // The admin certificate authenticates our etcdctl applet to both servers.
        let health = our_etcdctl(
            &member.client_url,
            &admin_tls,
            &["endpoint", "health"],
            None,
        );
        assert!(
            health.status.success(),
            "{tag}: {}",
            String::from_utf8_lossy(&health.stderr)
        );
        let put = etcdctl(
            &member.client_url,
            &tls_flags(&etc),
            &["put", "k", tag],
            None,
        );
        assert!(
            put.status.success(),
            "{tag}: {}",
            String::from_utf8_lossy(&put.stderr)
        );
        let get = etcdctl(
            &member.client_url,
            &tls_flags(&etc),
            &["get", "k", "--print-value-only"],
            None,
        );
        assert_eq!(String::from_utf8_lossy(&get.stdout), format!("{tag}\n"));
    }

    let client_again = pki_client(&etc, "admin");
    assert!(String::from_utf8_lossy(&client_again.stderr).contains("admin.pem exists"));

    let again = pki_init(&etc, &[]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("refusing to overwrite keys (use --force)")
    );
    let ca_before = std::fs::read(etc.join("ca.pem")).unwrap();
    let forced = pki_init(&etc, &["--force"]);
    assert!(forced.status.success());
    assert_ne!(
        std::fs::read(etc.join("ca.pem")).unwrap(),
        ca_before,
        "--force makes a new CA"
    );
}

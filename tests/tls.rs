//! Client TLS: the etcd-client crate and Debian's etcdctl over https with client certificates
//! made in the test; with --client-cert-auth a client without a certificate is refused.

use crate::common;

use common::certs::{self, Pki};
use common::{etcdctl, our_binary, single_member_args, temp_dir, Member};
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, Identity, TlsOptions, Txn, TxnOp,
};

const IP: &str = "127.0.0.31";

fn start_tls_member(ip: &str, dir: &std::path::Path, pki: &Pki) -> Member {
    let mut args = single_member_args("tls", ip, 2379, 2380, &dir.join("data"), "https");
    for (flag, path) in [
        ("--cert-file", &pki.server_cert),
        ("--key-file", &pki.server_key),
        ("--trusted-ca-file", &pki.ca),
    ] {
        args.push(flag.to_string());
        args.push(path.display().to_string());
    }
    args.push("--client-cert-auth".to_string());
    Member::start(
        &our_binary(),
        args,
        &format!("https://{ip}:2379"),
        &dir.join("data"),
    )
}

fn tls_options(pki: &Pki, with_identity: bool) -> ConnectOptions {
    let mut tls =
        TlsOptions::new().ca_certificate(Certificate::from_pem(std::fs::read(&pki.ca).unwrap()));
    if with_identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&pki.client_cert).unwrap(),
            std::fs::read(&pki.client_key).unwrap(),
        ));
    }
    ConnectOptions::new()
        .with_tls(tls)
        .with_connect_timeout(std::time::Duration::from_secs(5))
        .with_timeout(std::time::Duration::from_secs(10))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_client_crate_over_mutual_tls() {
    let dir = temp_dir("tls");
    let pki = certs::make(&dir, &[IP]);
    let member = start_tls_member(IP, &dir, &pki);
    let endpoint = member.client_url.clone();

    let mut client = Client::connect([endpoint.as_str()], Some(tls_options(&pki, true)))
        .await
        .unwrap();
    let put = client.put("greeting", "hello", None).await.unwrap();
    assert_eq!(put.header().unwrap().revision(), 2);
    let got = client.get("greeting", None).await.unwrap();
    assert_eq!(got.kvs()[0].value_str().unwrap(), "hello");
    assert_eq!(got.kvs()[0].create_revision(), 2);

    let txn = Txn::new()
        .when([Compare::value("greeting", CompareOp::Equal, "hello")])
        .and_then([TxnOp::put("greeting", "bye", None)])
        .or_else([TxnOp::delete("greeting", None)]);
    let answer = client.txn(txn).await.unwrap();
    assert!(answer.succeeded());
    assert_eq!(
        client.get("greeting", None).await.unwrap().kvs()[0]
            .value_str()
            .unwrap(),
        "bye"
    );
    let deleted = client.delete("greeting", None).await.unwrap();
    assert_eq!(deleted.deleted(), 1);
    let status = client.status().await.unwrap();
    assert_eq!(status.version(), "3.4.23");
    assert_eq!(status.leader(), status.header().unwrap().member_id());

    // The server demands a client certificate: without one, no request gets through.
    let refused = match Client::connect([endpoint.as_str()], Some(tls_options(&pki, false))).await {
        Err(_) => true,
        Ok(mut anonymous) => anonymous.get("greeting", None).await.is_err(),
    };
    assert!(refused, "a client without a certificate must be refused");
}

#[test]
fn debian_etcdctl_over_mutual_tls() {
    let dir = temp_dir("tls-etcdctl");
    let pki = certs::make(&dir, &["127.0.0.32"]);
    let member = start_tls_member("127.0.0.32", &dir, &pki);
    let tls: Vec<String> = vec![
        format!("--cacert={}", pki.ca.display()),
        format!("--cert={}", pki.client_cert.display()),
        format!("--key={}", pki.client_key.display()),
    ];
    let put = etcdctl(&member.client_url, &tls, &["put", "k", "v"], None);
    assert_eq!(
        String::from_utf8_lossy(&put.stdout),
        "OK\n",
        "{}",
        String::from_utf8_lossy(&put.stderr)
    );
    let get = etcdctl(&member.client_url, &tls, &["get", "k"], None);
    assert_eq!(String::from_utf8_lossy(&get.stdout), "k\nv\n");
    let health = etcdctl(&member.client_url, &tls, &["endpoint", "health"], None);
    // etcdctl 3.4 prints the health line on stderr.
    let health_text = String::from_utf8_lossy(&health.stderr);
    assert!(
        health_text.starts_with("https://127.0.0.32:2379 is healthy"),
        "{health_text}"
    );
    assert_eq!(health.status.code(), Some(0));
    let anonymous = etcdctl(&member.client_url, &tls[..1], &["get", "k"], None);
    assert_eq!(
        anonymous.status.code(),
        Some(1),
        "no client certificate must fail"
    );
}

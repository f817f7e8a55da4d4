//! Readiness: with $NOTIFY_SOCKET set, a member sends systemd READY=1 only once it can serve.
//! The first member of a 3-member cluster (127.0.0.77-79) alone has no quorum and stays silent
//! (and /readyz says so); once its peers start it says READY=1, and at that moment it answers
//! /health, /readyz and /livez as ready and /metrics with etcd's metric names.

use crate::common;

use common::{http_get, our_binary, temp_dir, Member};
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

const IPS: [&str; 3] = ["127.0.0.77", "127.0.0.78", "127.0.0.79"];

fn args(i: usize, dir: &std::path::Path) -> Vec<String> {
    let cluster = IPS
        .iter()
        .enumerate()
        .map(|(n, ip)| format!("n{n}=http://{ip}:2380"))
        .collect::<Vec<_>>()
        .join(",");
    let ip = IPS[i];
    [
        "--name".to_string(),
        format!("n{i}"),
        "--data-dir".into(),
        dir.join(format!("n{i}")).display().to_string(),
        "--listen-client-urls".into(),
        format!("http://{ip}:2379"),
        "--advertise-client-urls".into(),
        format!("http://{ip}:2379"),
        "--listen-peer-urls".into(),
        format!("http://{ip}:2380"),
        "--initial-advertise-peer-urls".into(),
        format!("http://{ip}:2380"),
        "--initial-cluster".into(),
        cluster,
    ]
    .to_vec()
}

#[test]
fn ready_is_sent_only_once_the_member_can_serve() {
    let dir = temp_dir("notify");
    let socket_path = dir.join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    let log = std::fs::File::create(dir.join("n0.log")).unwrap();
    let mut first = KillOnDrop(
        Command::new(our_binary())
            .args(args(0, &dir))
            .env("NOTIFY_SOCKET", &socket_path)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap(),
    );

    // Alone, the member cannot serve: no READY=1 (two election timeouts and more).
    socket
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buffer = [0u8; 256];
    let early = socket.recv(&mut buffer);
    assert!(early.is_err(), "READY=1 sent without a quorum");
    assert!(first.0.try_wait().unwrap().is_none(), "the member exited");
    let address = format!("{}:2379", IPS[0]);
    assert_eq!(http_get(&address, "/livez").as_deref(), Some("ok\n"));
    assert_eq!(
        http_get(&address, "/readyz").as_deref(),
        Some("not ready: no quorum\n")
    );

    let _peers: Vec<Member> = (1..3)
        .map(|i| {
            let data = dir.join(format!("n{i}"));
            Member::spawn(
                &our_binary(),
                args(i, &dir),
                &format!("http://{}:2379", IPS[i]),
                &data,
            )
        })
        .collect();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let length = socket
        .recv(&mut buffer)
        .expect("READY=1 once the peers are up");
    assert_eq!(&buffer[..length], b"READY=1\n");
    // /health makes a quorum round with a 1 s limit, which a loaded machine can miss right
    // after the election: ready means it answers true soon, not on the first try.
    common::wait_until(
        "/health true after READY=1",
        Duration::from_secs(10),
        || {
            http_get(&address, "/health")
                .unwrap_or_default()
                .contains("\"health\":\"true\"")
        },
    );
    assert_eq!(http_get(&address, "/readyz").as_deref(), Some("ok\n"));
    let put = common::etcdctl(&format!("http://{address}"), &[], &["put", "k", "v"], None);
    assert!(put.status.success());
    let metrics = http_get(&address, "/metrics").unwrap_or_default();
    for line in [
        "etcd_server_has_leader 1",
        "etcd_debugging_mvcc_keys_total 1",
        "# TYPE etcd_mvcc_db_total_size_in_bytes gauge",
        "etcd_server_version{server_version=\"3.4.23\"} 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no {line:?} in:\n{metrics}"
        );
    }
}

/// The member started by hand (to give it $NOTIFY_SOCKET) is killed however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

//! The NOSPACE alarm: past --quota-backend-bytes writes that add data fail with etcd's
//! "database space exceeded", the alarm is listed (and shown by endpoint status, and makes
//! /health false), deletes and compaction still work, and after `alarm disarm` writes succeed.

use crate::common;

use common::{etcdctl, http_get, our_binary, single_member_args, temp_dir, Member};

const IP: &str = "127.0.0.85";

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn nospace_alarm_refuses_writes_until_disarmed() {
    let dir = temp_dir("alarm");
    let data = dir.join("data");
    let mut args = single_member_args("alarm", IP, 2379, 2380, &data, "http");
    args.push("--quota-backend-bytes=300000".into());
    let member = Member::start(&our_binary(), args, &format!("http://{IP}:2379"), &data);
    let url = member.client_url.clone();
    let value = "v".repeat(60_000);
    let mut refused = None;
    for i in 0..20 {
        let put = etcdctl(&url, &[], &["put", &format!("big/{i}"), &value], None);
        if !put.status.success() {
            refused = Some(put);
            break;
        }
    }
    let refused = refused.expect("the quota must stop writes");
    assert!(
        stderr(&refused).contains("Error: etcdserver: mvcc: database space exceeded"),
        "{}",
        stderr(&refused)
    );
    let alarms = stdout(&etcdctl(&url, &[], &["alarm", "list"], None));
    assert!(
        alarms.starts_with("memberID:") && alarms.contains(" alarm:NOSPACE"),
        "{alarms}"
    );
    let status = stdout(&etcdctl(
        &url,
        &[],
        &["endpoint", "status", "-w", "json"],
        None,
    ));
    assert!(status.contains("alarm:NOSPACE"), "{status}");
    let health = http_get(&format!("{IP}:2379"), "/health").unwrap_or_default();
    assert!(health.contains("\"health\":\"false\""), "{health}");
    // Small writes are refused too while the alarm is raised; deletes are not.
    let small = etcdctl(&url, &[], &["put", "x", "y"], None);
    assert!(stderr(&small).contains("database space exceeded"));
    let deleted = etcdctl(&url, &[], &["del", "big/", "--prefix"], None);
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let revision = stdout(&etcdctl(&url, &[], &["get", "x", "-w", "json"], None));
    let revision: String = revision
        .split("\"revision\":")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    assert!(etcdctl(&url, &[], &["compaction", &revision], None)
        .status
        .success());
    assert!(etcdctl(&url, &[], &["defrag"], None).status.success());
    let disarmed = stdout(&etcdctl(&url, &[], &["alarm", "disarm"], None));
    assert!(disarmed.contains("alarm:NOSPACE"), "{disarmed}");
    assert_eq!(stdout(&etcdctl(&url, &[], &["alarm", "list"], None)), "");
    let put = etcdctl(&url, &[], &["put", "x", "y"], None);
    assert_eq!(stdout(&put), "OK\n", "{}", stderr(&put));
}

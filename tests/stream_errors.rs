//! A stream the server ends with an error status: etcd 3.4 refuses a watch request above its
//! message limit and ends the watch stream with ResourceExhausted, and so must ours (rather
//! than leave the client waiting). Debian's etcdctl and our applet, against Debian's etcd and
//! against ours, must all report it the same way: the server's error, then "watch is canceled
//! by the server", exit 5.

mod common;

use common::{etcdctl, our_binary, our_etcdctl, single_member_args, temp_dir, Member, DEBIAN_ETCD};
use std::path::Path;

#[test]
fn a_watch_stream_ended_by_the_server_reports_its_error_as_etcdctl_does() {
    let dir = temp_dir("stream-errors");
    let start = |program: &Path, ip: &str, name: &str| {
        let data = dir.join(name);
        let mut args = single_member_args("default", ip, 2379, 2380, &data, "http");
        args.extend(["--max-request-bytes".to_string(), "1024".to_string()]);
        Member::start(program, args, &format!("http://{ip}:2379"), &data)
    };
    let reference = start(Path::new(DEBIAN_ETCD), "127.0.0.121", "debian");
    let ours = start(&our_binary(), "127.0.0.122", "ours");
    // Above --max-request-bytes plus grpc's 512 KiB allowance.
    let key = "k".repeat(600 * 1024);
    let run = |output: std::process::Output| {
        let stderr = String::from_utf8_lossy(&output.stderr);
        // grpc-go's and zap's own log lines (timestamped JSON) are not etcdctl's output.
        let lines: Vec<String> = stderr
            .lines()
            .filter(|line| !line.starts_with('{'))
            .map(str::to_string)
            .collect();
        (output.status.code(), lines)
    };
    let expected = run(etcdctl(&reference.client_url, &[], &["watch", &key], None));
    assert_eq!(expected.0, Some(5), "{expected:?}");
    assert!(
        expected.1.iter().any(|l| l.contains("ResourceExhausted")),
        "{expected:?}"
    );
    for (what, output) in [
        (
            "our applet, etcd",
            our_etcdctl(&reference.client_url, &[], &["watch", &key], None),
        ),
        (
            "etcdctl, our server",
            etcdctl(&ours.client_url, &[], &["watch", &key], None),
        ),
        (
            "our applet, our server",
            our_etcdctl(&ours.client_url, &[], &["watch", &key], None),
        ),
    ] {
        assert_eq!(run(output), expected, "{what}");
    }
}

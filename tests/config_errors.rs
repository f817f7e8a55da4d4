//! Bad configuration: one line naming the flag or file, exit code 1, and the data dir untouched.

use crate::common;

use common::{our_binary, single_member_args, temp_dir, Member};
use std::path::Path;
use std::process::Command;

fn run_with(args: &[String]) -> (Option<i32>, String) {
    let output = Command::new(our_binary()).args(args).output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Names, sizes and contents of every file under `dir`.
fn fingerprint(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push((path.display().to_string(), std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn bad_flags_name_the_problem_and_touch_nothing() {
    let dir = temp_dir("config-errors");
    let data_dir = dir.join("never-created");
    let data = data_dir.display().to_string();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (args(&["--data-dir", &data, "--bogus"]), "etcd: flag provided but not defined: -bogus"),
        (
            args(&["--data-dir", &data, "--listen-client-urls", "127.0.0.1:2379"]),
            "etcd: --listen-client-urls: URL scheme must be http or https: \"127.0.0.1:2379\"",
        ),
        (
            args(&["--data-dir", &data, "--listen-client-urls", "http://example.com:2379", "--advertise-client-urls", "http://example.com:2379"]),
            "etcd: --listen-client-urls: expected IP in URL for binding (http://example.com:2379)",
        ),
        (
            args(&["--data-dir", &data, "--cert-file", "/nonexistent/kubernetes.pem", "--key-file", "/nonexistent/key.pem"]),
            "etcd: --cert-file: cannot read /nonexistent/kubernetes.pem: No such file or directory (os error 2)",
        ),
        (
            args(&["--data-dir", &data, "--listen-client-urls", "https://127.0.0.1:2379", "--advertise-client-urls", "https://127.0.0.1:2379"]),
            "etcd: TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:2379 with HTTPS scheme",
        ),
        (args(&["--data-dir", &data, "--heartbeat-interval", "fast"]), "etcd: invalid value \"fast\" for flag -heartbeat-interval: parse error"),
        (args(&["--data-dir", &data, "--initial-cluster-state", "old"]), "etcd: invalid value \"old\" for flag -initial-cluster-state: must be 'new' or 'existing'"),
        (args(&["--data-dir", &data, "stray"]), "etcd: 'stray' is not a valid flag"),
        (
            args(&["--data-dir", &data, "--listen-client-urls", "http://127.0.0.1:2379"]),
            "etcd: --advertise-client-urls is required when --listen-client-urls is set explicitly",
        ),
        (args(&["--data-dir", &data, "--auto-compaction-mode", "hourly"]), "etcd: unknown auto-compaction-mode \"hourly\""),
        (args(&["--data-dir", &data, "--proxy", "on"]), "etcd: --proxy=on: this etcd has no v2 proxy mode; run the member itself (--proxy=off) or a TCP load balancer"),
    ];
    for (arguments, expected) in cases {
        let (code, stderr) = run_with(&arguments);
        assert_eq!(code, Some(1), "{arguments:?}: {stderr}");
        assert_eq!(stderr, format!("{expected}\n"), "{arguments:?}");
        assert!(!data_dir.exists(), "{arguments:?} created the data dir");
    }
}

#[test]
fn data_dir_of_another_member_is_refused() {
    let dir = temp_dir("config-other-member");
    let data_dir = dir.join("data");
    let flags = single_member_args("master", "127.0.0.51", 2379, 2380, &data_dir, "http");
    let mut member = Member::start(&our_binary(), flags, "http://127.0.0.51:2379", &data_dir);
    member.kill();
    let before = fingerprint(&data_dir);
    let other = single_member_args("node1", "127.0.0.51", 2379, 2380, &data_dir, "http");
    let (code, stderr) = run_with(&other);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.starts_with(&format!(
            "etcd: --data-dir {} belongs to member \"master\" (",
            data_dir.display()
        )),
        "{stderr}"
    );
    assert!(stderr.ends_with("), not to --name \"node1\"\n"), "{stderr}");
    assert_eq!(
        fingerprint(&data_dir),
        before,
        "the data dir must be left as it was"
    );
}

#[test]
fn toml_file_and_environment_configure_the_member() {
    let dir = temp_dir("config-file");
    let data_dir = dir.join("data");
    let file = dir.join("etcd.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"fromfile\"\ndata-dir = \"{}\"\nlisten-client-urls = [\"http://127.0.0.52:2379\"]\nadvertise-client-urls = \"http://127.0.0.52:2379\"\nlisten-peer-urls = \"http://127.0.0.52:2380\"\ninitial-advertise-peer-urls = \"http://127.0.0.52:2380\"\ninitial-cluster = \"fromenv=http://127.0.0.52:2380\"\nheartbeat-interval = 50\n",
            data_dir.display()
        ),
    )
    .unwrap();
    let log = dir.join("member.log");
    // The flag names the file; the environment (ETCD_NAME) overrides the file's name, which the
    // member records in its data dir.
    let mut child = Command::new(our_binary())
        .args(["--config-file", &file.display().to_string()])
        .env("ETCD_NAME", "fromenv")
        .env("ETCD_ELECTION_TIMEOUT", "500")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while common::http_get("127.0.0.52:2379", "/health").is_none_or(|b| !b.contains("true")) {
        assert!(
            std::time::Instant::now() < deadline,
            "{}",
            std::fs::read_to_string(&log).unwrap()
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let identity = std::fs::read_to_string(data_dir.join("member/identity")).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(identity.starts_with("name=fromenv\n"), "{identity}");

    std::fs::write(&file, "name = \"x\"\nno-such-key = 1\n").unwrap();
    let (code, stderr) = run_with(&args(&["--config-file", &file.display().to_string()]));
    assert_eq!(code, Some(1));
    assert_eq!(
        stderr,
        format!(
            "etcd: --config-file {}: unknown key 'no-such-key'\n",
            file.display()
        )
    );
}

#[test]
fn a_data_dir_in_use_is_refused_and_its_member_keeps_serving() {
    let dir = temp_dir("config-data-dir-in-use");
    let data_dir = dir.join("data");
    let flags = single_member_args("master", "127.0.0.143", 2379, 2380, &data_dir, "http");
    let member = Member::start(&our_binary(), flags, "http://127.0.0.143:2379", &data_dir);
    let put = common::etcdctl(&member.client_url, &[], &["put", "k", "v"], None);
    assert!(put.status.success(), "{put:?}");
    // The same member's data dir again, on other addresses (a second unit, a manual start).
    let twin = single_member_args("master", "127.0.0.144", 2379, 2380, &data_dir, "http");
    let (code, stderr) = run_with(&twin);
    assert_eq!(code, Some(1), "{stderr}");
    assert_eq!(
        stderr,
        format!(
            "etcd: data dir {0} is in use by another process ({0}/lock is locked); stop it first\n",
            data_dir.display()
        )
    );
    let get = common::etcdctl(
        &member.client_url,
        &[],
        &["get", "k", "--print-value-only"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&get.stdout), "v\n");
}

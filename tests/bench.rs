//! `etcd bench` against a member of ours: the request workloads finish with every request
//! answered, --sequential-keys writes as many distinct keys as puts, and the watch workload
//! delivers every put to every watcher.

use crate::common::{etcdctl, our_binary, run, single_member_args, temp_dir, Member};

fn bench(endpoint: &str, flags: &[&str]) -> String {
    let mut args = vec!["bench".to_string(), format!("--endpoints={endpoint}")];
    args.extend(flags.iter().map(|f| f.to_string()));
    let out = run(&our_binary().display().to_string(), &args, &[], None);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    stdout
        .lines()
        .find(|line| line.starts_with("RESULT "))
        .unwrap_or_else(|| panic!("no RESULT line: {stdout}"))
        .to_string()
}

#[test]
fn bench_workloads_do_what_they_say() {
    let dir = temp_dir("bench");
    let data_dir = dir.join("member");
    let args = single_member_args("bench", "127.0.0.214", 2379, 2380, &data_dir, "http");
    let _member = Member::start(&our_binary(), args, "http://127.0.0.214:2379", &data_dir);
    let endpoint = "127.0.0.214:2379";

    let put = bench(
        endpoint,
        &[
            "--clients=4",
            "--conns=2",
            "--total=40",
            "--sequential-keys",
            "put",
        ],
    );
    assert!(put.contains(" ok=40 errors=0 "), "{put}");
    let keys = etcdctl(endpoint, &[], &["get", "", "--prefix", "--keys-only"], None);
    let keys = String::from_utf8_lossy(&keys.stdout).into_owned();
    assert_eq!(
        keys.lines().filter(|line| !line.is_empty()).count(),
        40,
        "40 sequential puts are 40 distinct keys: {keys}"
    );

    let watch = bench(
        endpoint,
        &["--clients=6", "--conns=2", "--total=25", "watch"],
    );
    assert!(
        watch.starts_with("RESULT workload=watch clients=6 conns=2 ok=150 errors=0 "),
        "every watcher receives every put: {watch}"
    );
}

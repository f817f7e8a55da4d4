//! The JSON gateway (/v3/...) differentially: the same curl requests go to Debian's etcd 3.4,
//! to our single member, and to a follower of our 3-member cluster; status lines, headers and
//! bodies must be equal once what differs between any two clusters is masked (IDs, terms,
//! sizes, hashes, the address). Covers every gateway path of issue 5 including the watch
//! stream (history replay, a live event, cancel, a compacted start) and the lease keep-alive
//! stream, malformed JSON and type errors (Go's error texts), and wrong methods and paths.

use crate::common;

use common::{
    assert_same_transcripts, our_binary, start_member, start_plain_cluster, temp_dir, wait_until,
};
use regex::Regex;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

/// (path under /v3/, request body) in order; every server sees the same sequence.
const STEPS: &[(&str, &str)] = &[
    ("kv/put", r#"{"key":"Zm9v","value":"YmFy"}"#),
    ("kv/put", r#"{"key":"Zm9v","value":"YmF6","prev_kv":true}"#),
    ("kv/put", r#"{"key":"Zm9vMg==","value":"MQ=="}"#),
    ("kv/range", r#"{"key":"Zm9v"}"#),
    (
        "kv/range",
        r#"{"key":"Zm9v","range_end":"Zm9w","sort_order":"DESCEND","sort_target":"KEY"}"#,
    ),
    (
        "kv/range",
        r#"{"key":"Zm9v","rangeEnd":"AA==","count_only":true}"#,
    ),
    (
        "kv/range",
        r#"{"key":"Zm9v","range_end":"Zm9w","limit":"1","keys_only":true}"#,
    ),
    ("kv/range", r#"{"key":"Zm9v","revision":2}"#),
    ("kv/range", r#"{"key":"Zm9v","revision":100}"#),
    ("kv/range", r#"{"key":"bm9uZQ=="}"#),
    ("kv/range", r#"{}"#),
    ("kv/range", ""),
    ("kv/range", r#"{"key":"Zm9v","serializable":true} trailing"#),
    // Malformed requests: Go's decoder and jsonpb's words.
    ("kv/range", "nojson"),
    ("kv/range", r#"{"key":"Zm9v",}"#),
    ("kv/range", r#"{"key":"Zm9v""#),
    ("kv/range", r#"[1]"#),
    ("kv/range", r#"{"key":123}"#),
    ("kv/range", r#"{"key":"Zm9v!"}"#),
    ("kv/range", r#"{"key":"Zm9"}"#),
    ("kv/range", r#"{"key":"Zm9v","limit":true}"#),
    ("kv/range", r#"{"key":"Zm9v","limit":1.5}"#),
    ("kv/range", r#"{"key":"Zm9v","sort_order":"BAD"}"#),
    ("kv/range", r#"{"key":"Zm9v","serializable":"yes"}"#),
    ("kv/txn", r#"{"success":5}"#),
    ("kv/txn", r#"{"success":[{"request_put":5}]}"#),
    (
        "kv/txn",
        r#"{"compare":[{"key":"Zm9v","result":"EQUAL","target":"VALUE","value":"YmF6"}],"success":[{"request_range":{"key":"Zm9v"}},{"request_put":{"key":"YQ==","value":"Yg=="}}],"failure":[{"request_delete_range":{"key":"Zm9v"}}]}"#,
    ),
    (
        "kv/txn",
        r#"{"compare":[{"key":"Zm9v","result":"GREATER","target":"CREATE","create_revision":"1"}],"success":[{"request_txn":{}}]}"#,
    ),
    (
        "kv/txn",
        r#"{"compare":[{"key":"YQ==","result":"LESS","target":"MOD","mod_revision":1}],"failure":[{"request_delete_range":{"key":"YQ==","prev_kv":true}}]}"#,
    ),
    ("kv/deleterange", r#"{"key":"Zm9vMg==","prev_kv":true}"#),
    ("kv/deleterange", r#"{"key":"bm9uZQ=="}"#),
    // Watch: a replay of history with prev_kv; a progress request and a cancel.
    (
        "watch",
        r#"{"create_request":{"key":"Zm9v","range_end":"Zm9w","start_revision":2,"prev_kv":true}}"#,
    ),
    (
        "watch",
        r#"{"create_request":{"key":"bm9uZQ=="}} {"progress_request":{}} {"cancel_request":{"watch_id":0}}"#,
    ),
    ("watch", "xx"),
    (
        "watch",
        r#"{"create_request":{"key":"Zm9v","filters":["NOPUT"],"start_revision":1}}"#,
    ),
    // Leases.
    ("lease/grant", r#"{"TTL":60,"ID":7}"#),
    ("lease/grant", r#"{"TTL":60,"ID":7}"#),
    ("kv/put", r#"{"key":"bGVhc2Vk","value":"dg==","lease":7}"#),
    ("kv/put", r#"{"key":"bGVhc2Vk","value":"dg==","lease":"8"}"#),
    ("lease/timetolive", r#"{"ID":7,"keys":true}"#),
    ("kv/lease/timetolive", r#"{"ID":"9"}"#),
    ("lease/leases", "{}"),
    ("kv/lease/leases", "{}"),
    ("lease/keepalive", r#"{"ID":7}"#),
    ("lease/keepalive", r#"{"ID":9}"#),
    ("lease/revoke", r#"{"ID":7}"#),
    ("kv/lease/revoke", r#"{"ID":7}"#),
    ("kv/range", r#"{"key":"bGVhc2Vk"}"#),
    // Compaction, then a watch from before it.
    ("kv/compaction", r#"{"revision":3}"#),
    ("kv/compaction", r#"{"revision":3}"#),
    ("kv/range", r#"{"key":"Zm9v","revision":2}"#),
    (
        "watch",
        r#"{"create_request":{"key":"Zm9v","start_revision":1}}"#,
    ),
    // Maintenance, auth, lock and election.
    ("maintenance/status", "{}"),
    ("maintenance/alarm", "{}"),
    ("maintenance/hash", "{}"),
    ("maintenance/defragment", "{}"),
    ("auth/authenticate", r#"{"name":"root","password":"x"}"#),
    // Users and roles with auth off (tests/auth.rs turns it on).
    ("auth/user/add", r#"{"name":"gw","password":"pw"}"#),
    ("auth/user/add", r#"{"name":"gw","password":"pw"}"#),
    ("auth/user/add", r#"{"name":"","password":"pw"}"#),
    ("auth/user/add", r#"{"name":5}"#),
    ("auth/user/get", r#"{"name":"gw"}"#),
    ("auth/user/get", r#"{"name":"nobody"}"#),
    ("auth/role/add", r#"{"name":"gwrole"}"#),
    ("auth/role/add", r#"{"name":""}"#),
    (
        "auth/role/grant",
        r#"{"name":"gwrole","perm":{"permType":"READWRITE","key":"Zm9v","range_end":"Zm9w"}}"#,
    ),
    (
        "auth/role/grant",
        r#"{"name":"nosuch","perm":{"key":"Zm9v"}}"#,
    ),
    ("auth/role/get", r#"{"role":"gwrole"}"#),
    ("auth/user/grant", r#"{"user":"gw","role":"gwrole"}"#),
    ("auth/user/get", r#"{"name":"gw"}"#),
    ("auth/user/list", "{}"),
    ("auth/role/list", "{}"),
    ("auth/user/changepw", r#"{"name":"gw","password":"new"}"#),
    ("auth/user/revoke", r#"{"name":"gw","role":"gwrole"}"#),
    ("auth/user/revoke", r#"{"name":"gw","role":"gwrole"}"#),
    (
        "auth/role/revoke",
        r#"{"role":"gwrole","key":"Zm9v","range_end":"Zm9w"}"#,
    ),
    ("auth/role/revoke", r#"{"role":"gwrole","key":"Zm9v"}"#),
    ("auth/role/delete", r#"{"role":"gwrole"}"#),
    ("auth/user/delete", r#"{"name":"gw"}"#),
    ("auth/user/delete", r#"{"name":"gw"}"#),
    ("auth/enable", "{}"),
    ("auth/disable", "{}"),
    ("election/leader", r#"{"name":"ZWxlY3Rpb24="}"#),
    // Paths and methods the gateway does not serve.
    ("maintenance/hashkv", "{}"),
    ("nothing", "{}"),
    ("GET kv/range", ""),
];

/// Requests whose stream stays open (watch): curl gives up after this long, by which time a
/// replay from history has long been written.
const STREAM_SECONDS: &str = "2";

fn curl(endpoint: &str, path: &str, body: &str) -> String {
    let (method, path) = match path.split_once(' ') {
        Some((method, path)) => (method, path),
        None => ("POST", path),
    };
    let url = format!("{endpoint}/v3/{path}");
    let mut args = vec![
        "-s",
        "-i",
        "-N",
        "-X",
        method,
        "-H",
        "TE: trailers",
        "--max-time",
        STREAM_SECONDS,
    ];
    if method == "POST" {
        args.extend(["--data-binary", body]);
    }
    args.push(&url);
    let output = Command::new("curl")
        .args(&args)
        .output()
        .expect("curl runs");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An answer with what differs between correct servers masked: header names' case and order,
/// Date, lengths, cluster/member/lease IDs, terms, sizes, indexes, hashes, remaining TTLs.
fn mask(answer: &str, endpoint: &str) -> String {
    let answer = answer.replace('\r', "").replace(endpoint, "ENDPOINT");
    let (head, body) = answer.split_once("\n\n").unwrap_or((&answer, ""));
    let mut lines = head.lines();
    let status = lines.next().unwrap_or_default().to_string();
    let mut headers: Vec<String> = lines
        .filter_map(|line| line.split_once(": "))
        .filter(|(name, _)| !name.eq_ignore_ascii_case("date"))
        .map(|(name, value)| {
            let name = name.to_ascii_lowercase();
            let value = if name == "content-length" { "N" } else { value };
            format!("{name}: {value}")
        })
        .collect();
    headers.sort();
    format!("{status}\n{}\n\n{}", headers.join("\n"), mask_body(body))
}

fn mask_body(body: &str) -> String {
    let rules = [
        (r#""(cluster_id|member_id|leader)":"\d+""#, "\"$1\":\"ID\""),
        (r#""ID":"\d{6,}""#, "\"ID\":\"ID\""),
        (r#""raft_term":"\d+""#, "\"raft_term\":\"T\""),
        (
            r#""(dbSize|dbSizeInUse|raftIndex|raftTerm|raftAppliedIndex)":"\d+""#,
            "\"$1\":\"N\"",
        ),
        (r#""hash":\d+"#, "\"hash\":H"),
        (
            r#""TTL":"\d+","grantedTTL""#,
            "\"TTL\":\"N\",\"grantedTTL\"",
        ),
        (r#""TTL":"(59|60)"\}\}"#, "\"TTL\":\"N\"}}"),
        (r"127\.0\.0\.\d+", "IP"),
        // The trailer's name as sent (HTTP field names are case-insensitive).
        (
            r"(?i)grpc-trailer-content-type: ",
            "grpc-trailer-content-type: ",
        ),
    ];
    common::masked(body, &rules)
}

/// A watch that is open before a write: curl's first line (created) is awaited, then a put
/// through the gateway, then its event.
fn live_watch(endpoint: &str) -> String {
    let url = format!("{endpoint}/v3/watch");
    let mut child = Command::new("curl")
        .args(["-s", "-N", "--max-time", "20", "--data-binary"])
        .arg(r#"{"create_request":{"key":"bGl2ZQ=="}}"#)
        .arg(&url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let created = lines.next().and_then(Result::ok).unwrap_or_default();
    let put = curl(endpoint, "kv/put", r#"{"key":"bGl2ZQ==","value":"MQ=="}"#);
    let event = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    format!(
        "{}\n{}\n{}\n",
        mask_body(&created),
        mask(&put, endpoint),
        mask_body(&event)
    )
}

fn transcript(endpoint: &str) -> Vec<String> {
    let mut out: Vec<String> = STEPS
        .iter()
        .map(|(path, body)| {
            format!(
                "$ {path} {body}\n{}",
                mask(&curl(endpoint, path, body), endpoint)
            )
        })
        .collect();
    out.push(format!("live watch\n{}", live_watch(endpoint)));
    out
}

/// The `"name":"value"` string fields of a gateway answer.
fn string_field(answer: &str, name: &str) -> Option<String> {
    Regex::new(&format!(r#""{name}":"([^"]*)""#))
        .unwrap()
        .captures(answer)
        .map(|c| c[1].to_string())
}

#[test]
fn gateway_answers_as_etcd_3_4_on_a_single_member_and_on_a_follower() {
    let dir = temp_dir("gateway");
    let reference = start_member(
        Path::new(common::DEBIAN_ETCD),
        "127.0.0.101",
        &dir.join("debian"),
        &[],
    );
    let ours = start_member(&our_binary(), "127.0.0.102", &dir.join("ours"), &[]);
    let expected = transcript(&reference.client_url);
    assert!(
        expected.len() >= 60,
        "the script must keep at least 60 requests"
    );
    // The reference really answered: data, errors and streams.
    let all = expected.join("\n");
    for seen in [
        "\"kvs\":[{",
        "HTTP/1.1 400",
        "\"events\":[{",
        "\"compact_revision\":\"3\"",
    ] {
        assert!(all.contains(seen), "etcd's answers lack {seen}:\n{all}");
    }
    assert_same_transcripts(&expected, &transcript(&ours.client_url), "ours");

    // The same requests through a follower of a 3-member cluster.
    let ips = ["127.0.0.103", "127.0.0.104", "127.0.0.105"];
    std::fs::create_dir_all(dir.join("cluster")).unwrap();
    let members = start_plain_cluster(&ips, &dir.join("cluster"));
    let mut follower = None;
    wait_until(
        "a leader that a member reports",
        Duration::from_secs(10),
        || {
            follower = members.iter().find(|m| {
                let status = curl(&m.client_url, "maintenance/status", "{}");
                let leader = string_field(&status, "leader");
                leader.is_some() && leader != string_field(&status, "member_id")
            });
            follower.is_some()
        },
    );
    let follower = follower.unwrap();
    let members_answer = curl(&follower.client_url, "cluster/member/list", "{}");
    assert_eq!(
        members_answer.matches("\"peerURLs\"").count(),
        3,
        "{members_answer}"
    );
    assert_same_transcripts(&expected, &transcript(&follower.client_url), "our follower");
}

/// A range answer over 1 MiB is written out as JSON on a blocking thread (api/gateway): the
/// same bytes as etcd's all the same, chunked as Go sends an answer longer than 2 KiB (as is
/// /metrics).
#[test]
fn a_range_answer_over_a_mebibyte_is_etcds_json_and_long_answers_go_chunked() {
    let dir = temp_dir("gateway-big");
    let reference = start_member(
        Path::new(common::DEBIAN_ETCD),
        "127.0.0.56",
        &dir.join("debian"),
        &[],
    );
    let ours = start_member(&our_binary(), "127.0.0.57", &dir.join("ours"), &[]);
    // Three values of 480,000 bytes ("abc" over and over: base64 "YWJj"), under keys big1..3.
    let value = "YWJj".repeat(160_000);
    let answer = |endpoint: &str| {
        for key in ["YmlnMQ==", "YmlnMg==", "YmlnMw=="] {
            let body = dir.join("put.json");
            std::fs::write(&body, format!(r#"{{"key":"{key}","value":"{value}"}}"#)).unwrap();
            let put = curl(endpoint, "kv/put", &format!("@{}", body.display()));
            assert!(put.starts_with("HTTP/1.1 200"), "{put}");
        }
        let range = curl(endpoint, "kv/range", r#"{"key":"Ymln","range_end":"Ymlo"}"#);
        mask(&range, endpoint)
    };
    let expected = answer(&reference.client_url);
    assert_eq!(
        expected.matches(&value).count(),
        3,
        "etcd's answer holds the three values"
    );
    let got = answer(&ours.client_url);
    let differs_at = expected
        .bytes()
        .zip(got.bytes())
        .position(|(want, have)| want != have);
    assert!(
        expected.len() == got.len() && differs_at.is_none(),
        "our answer ({} bytes) differs from etcd's ({} bytes) at byte {differs_at:?}: ours {:?}, etcd {:?}",
        got.len(),
        expected.len(),
        &got[..got.len().min(400)],
        &expected[..expected.len().min(400)],
    );
    for member in [&reference, &ours] {
        let url = format!("{}/metrics", member.client_url);
        let head = Command::new("curl")
            .args(["-s", "-D", "-", "-o", "/dev/null", &url])
            .output()
            .expect("curl runs");
        let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
        assert!(
            head.contains("transfer-encoding: chunked") && !head.contains("content-length"),
            "{url}:\n{head}"
        );
    }
}

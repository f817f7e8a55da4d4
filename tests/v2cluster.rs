//! The v2 API's cluster side (--enable-v2): /v2/members changes and /v2/stats answer as
//! Debian's etcd 3.4 answers them (the refusals compared against etcd itself; changes made
//! on a 3-member cluster of ours, where Debian's `ETCDCTL_API=2 etcdctl member ...` and our
//! applet print the same), and the stats say who leads, who follows and what clients did.

use crate::common;

use common::{curl, our_binary, start_cluster, start_member, temp_dir, DEBIAN_ETCD};
use std::path::Path;

/// Member IDs, names, times and counts differ between any two servers.
fn mask(text: &str) -> String {
    common::masked(
        text,
        &[
            (r#""(id|leader|name)":"[^"]*""#, "\"$1\":\"X\""),
            (r#""(startTime|uptime)":"[^"]*""#, "\"$1\":\"T\""),
            (r#"":\d+"#, "\":N"),
        ],
    )
}

/// curl's options for a JSON body.
const JSON: [&str; 2] = ["-H", "content-type: application/json"];

/// Refused member changes, as (method, path, curl options, body).
const REFUSED_CHANGES: &[(&str, &str, &[&str], &str)] = &[
    ("POST", "/v2/members", &[], "peerURLs=x"),
    ("POST", "/v2/members", &JSON, "{}"),
    ("POST", "/v2/members", &JSON, r#"{"peerURLs":["foo"]}"#),
    (
        "POST",
        "/v2/members",
        &["-H", "content-type: application/json; charset=utf-8"],
        r#"{"peerURLs":["http://127.0.0.1"]}"#,
    ),
    ("DELETE", "/v2/members/", &[], ""),
    ("DELETE", "/v2/members/zz", &[], ""),
    ("DELETE", "/v2/members/1234", &[], ""),
    (
        "PUT",
        "/v2/members/1234",
        &JSON,
        r#"{"peerURLs":["http://127.0.0.250:2380"]}"#,
    ),
    ("PUT", "/v2/members/1234", &[], "x"),
    ("POST", "/v2/stats/self", &[], ""),
    ("GET", "/v2/stats/other", &[], ""),
];

fn refusals(client_url: &str) -> Vec<String> {
    REFUSED_CHANGES
        .iter()
        .map(|(method, path, headers, body)| {
            let (status, answer) = curl(&format!("{client_url}{path}"), method, headers, body);
            format!("{method} {path} {body}\n{status}\n{answer}")
        })
        .collect()
}

fn stats(client_url: &str, which: &str) -> (u16, String) {
    curl(&format!("{client_url}/v2/stats/{which}"), "GET", &[], "")
}

/// A JSON field's raw value (the text after `"name":` up to the next comma or brace).
fn field<'a>(json: &'a str, name: &str) -> &'a str {
    let key = format!("\"{name}\":");
    let at = json.find(&key).map_or(json.len(), |at| at + key.len());
    let rest = &json[at..];
    let end = rest.find([',', '}']).unwrap_or(rest.len());
    rest[..end].trim_matches('"')
}

#[test]
fn members_and_stats_answer_as_etcd_3_4() {
    let dir = temp_dir("v2cluster");
    let v2 = ["--enable-v2"];
    let etcd = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.245",
        &dir.join("etcd"),
        &v2,
    );
    let ours = start_member(&our_binary(), "127.0.0.246", &dir.join("ours"), &v2);
    common::assert_same_transcripts(
        &refusals(&etcd.client_url),
        &refusals(&ours.client_url),
        "ours",
    );
    // A one-member cluster's stats: the same fields, its member leading itself.
    for which in ["self", "store", "leader"] {
        let (etcd_status, etcd_stats) = stats(&etcd.client_url, which);
        let (status, ours_stats) = stats(&ours.client_url, which);
        assert_eq!(status, etcd_status, "{which}");
        assert_eq!(mask(&ours_stats), mask(&etcd_stats), "{which}");
    }
    let (_, own) = stats(&ours.client_url, "self");
    assert_eq!(field(&own, "state"), "StateLeader", "{own}");
    assert_eq!(field(&own, "leader"), field(&own, "id"), "{own}");
}

/// The v2 key writes and reads a client makes, and what /v2/stats/store then counts.
#[test]
fn store_stats_count_what_clients_did() {
    let dir = temp_dir("v2cluster-store");
    let member = start_member(&our_binary(), "127.0.0.247", &dir, &["--enable-v2"]);
    let keys = format!("{}/v2/keys", member.client_url);
    let form = &["-H", "content-type: application/x-www-form-urlencoded"];
    let steps = [
        ("PUT", "/a", "value=1", 201),
        ("PUT", "/a", "value=2", 200),
        ("PUT", "/a?prevExist=false", "value=3", 412),
        ("PUT", "/b?prevExist=false", "value=3", 201),
        ("PUT", "/a?prevValue=nope", "value=4", 412),
        ("PUT", "/a?prevValue=2", "value=4", 200),
        ("PUT", "/a?prevExist=true", "value=5", 200),
        ("PUT", "/none?prevExist=true", "value=5", 404),
        ("POST", "/q", "value=job", 201),
        ("GET", "/a", "", 200),
        ("GET", "/none", "", 404),
        ("DELETE", "/b?prevValue=3", "", 200),
        ("DELETE", "/a", "", 200),
        ("DELETE", "/a", "", 404),
    ];
    for (method, path, body, status) in steps {
        let (got, answer) = curl(&format!("{keys}{path}"), method, form, body);
        assert_eq!(got, status, "{method} {path}: {answer}");
    }
    let (_, counted) = stats(&member.client_url, "store");
    let expected = [
        ("getsSuccess", "1"),
        ("getsFail", "1"),
        ("setsSuccess", "2"),
        ("createSuccess", "2"),
        ("createFail", "1"),
        ("compareAndSwapSuccess", "1"),
        ("compareAndSwapFail", "1"),
        ("updateSuccess", "1"),
        ("updateFail", "1"),
        ("compareAndDeleteSuccess", "1"),
        ("deleteSuccess", "1"),
        ("deleteFail", "1"),
        ("watchers", "0"),
    ];
    for (name, value) in expected {
        assert_eq!(field(&counted, name), value, "{name} in {counted}");
    }
}

/// Adds, changes and removes a member that never starts; what each step printed, with the
/// new member's ID (time-dependent) masked.
fn membership_session(endpoint: &str, ours: bool) -> Vec<String> {
    let run = |args: &[&str]| crate::v2keys::etcdctl_v2(endpoint, args, ours);
    let mut seen = vec![run(&["member", "add", "extra", "http://127.0.0.250:2380"])];
    let listed = run(&["member", "list"]);
    let added = listed
        .lines()
        .find_map(|l| l.strip_suffix("[unstarted]: peerURLs=http://127.0.0.250:2380"))
        .unwrap_or_else(|| panic!("the new member is listed as unstarted: {listed}"))
        .to_string();
    seen.push(listed);
    for args in [
        &["member", "update", &added, "http://127.0.0.251:2380"][..],
        &["member", "update", &added, "http://127.0.0.248:2380"],
        &["member", "update", "1234", "http://127.0.0.252:2380"],
        &["member", "update", &added, "foo"],
        &["member", "add", "again", "http://127.0.0.251:2380"],
        &["member", "remove", "m1"],
        &["member", "remove", &added],
        &["member", "remove", &added],
        &["member", "list", "extra"],
        &["member", "add", "--bogus", "x"],
    ] {
        seen.push(run(args));
    }
    seen.push(run(&["member", "list"]));
    // Lists come in member ID order, and the new member's ID differs between the sessions.
    let sorted = |text: &String| {
        let mut lines: Vec<String> = text
            .lines()
            .map(|line| match line.strip_prefix("ETCD_INITIAL_CLUSTER=") {
                Some(list) => {
                    let mut members: Vec<&str> = list.trim_matches('"').split(',').collect();
                    members.sort_unstable();
                    format!("ETCD_INITIAL_CLUSTER={}", members.join(","))
                }
                None => line.to_string(),
            })
            .collect();
        lines[2..].sort_unstable();
        lines.join("\n")
    };
    seen.iter()
        .map(|s| sorted(&s.replace(&added, "NEW")))
        .collect()
}

#[test]
fn members_change_through_v2_and_stats_follow_the_leader() {
    let dir = temp_dir("v2cluster-3");
    let ips = ["127.0.0.248", "127.0.0.249", "127.0.0.253"];
    let members = start_cluster(&our_binary(), &ips, &dir, &["--enable-v2"]);
    let urls: Vec<String> = members.iter().map(|m| m.client_url.clone()).collect();
    // Member changes through a follower or the leader alike: Debian's etcdctl and our applet
    // print the same.
    let expected = membership_session(&urls[1], false);
    let actual = membership_session(&urls[1], true);
    common::assert_same_transcripts(&expected, &actual, "our applet");
    // Exactly one member says it leads; the others follow it, and only it has leader stats,
    // with every other member as a follower it has sent appends to.
    let selves: Vec<String> = urls.iter().map(|u| stats(u, "self").1).collect();
    let leading: Vec<&String> = selves
        .iter()
        .filter(|s| field(s, "state") == "StateLeader")
        .collect();
    assert_eq!(leading.len(), 1, "{selves:?}");
    let leader_id = field(leading[0], "id");
    for (url, own) in urls.iter().zip(&selves) {
        assert_eq!(field(own, "leader"), leader_id, "{own}");
        let (status, answer) = stats(url, "leader");
        if field(own, "id") == leader_id {
            assert_eq!(status, 200, "{answer}");
            for other in &selves {
                let id = field(other, "id");
                if id != leader_id {
                    let entry = format!("\"{id}\":{{\"latency\":");
                    assert!(answer.contains(&entry), "{id} in {answer}");
                }
            }
            assert_ne!(field(own, "sendAppendRequestCnt"), "0", "{own}");
        } else {
            assert_eq!(
                (status, answer.as_str()),
                (403, "{\"message\":\"not current leader\"}")
            );
            assert_ne!(field(own, "recvAppendRequestCnt"), "0", "{own}");
        }
    }
}

#[test]
fn with_v3_auth_enabled_only_root_changes_members_through_v2() {
    let dir = temp_dir("v2cluster-auth");
    let member = start_member(&our_binary(), "127.0.0.254", &dir, &["--enable-v2"]);
    let endpoint = member.client_url.as_str();
    for args in [&["user", "add", "root:pw"][..], &["auth", "enable"]] {
        let out = common::etcdctl(endpoint, &[], args, None);
        assert!(out.status.success(), "{args:?}: {out:?}");
    }
    // Adding a member to a one-member cluster would leave it without quorum: root's changes
    // here are ones the Cluster service refuses after the gate let them through.
    let members = format!("{endpoint}/v2/members");
    let add = r#"{"peerURLs":["http://127.0.0.250"]}"#;
    let refused = (
        401,
        "{\"message\":\"Insufficient credentials\"}".to_string(),
    );
    assert_eq!(curl(&members, "POST", &JSON, add), refused);
    assert_eq!(curl(&format!("{members}/1234"), "DELETE", &[], ""), refused);
    let answer = common::post_gateway(
        &member,
        "auth/authenticate",
        r#"{"name":"root","password":"pw"}"#,
    );
    let authorization = format!("Authorization: {}", field(&answer, "token"));
    let (status, body) = curl(
        &members,
        "POST",
        &[JSON[0], JSON[1], "-H", &authorization],
        add,
    );
    assert_eq!(status, 400, "{body}");
    let (status, body) = curl(
        &format!("{members}/1234"),
        "DELETE",
        &["-H", &authorization],
        "",
    );
    assert_eq!(
        (status, body.as_str()),
        (404, "{\"message\":\"No such member: 1234\"}")
    );
}

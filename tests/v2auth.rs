//! etcd 3.4's v2 auth (--enable-v2): the same requests to /v2/auth, /v2/keys and /v2/members
//! with and without HTTP basic auth, to Debian's etcd and to ours, give the same status codes
//! and bodies (users, roles, grants, the guest role, root's rules, refusals); and Debian's
//! `ETCDCTL_API=2 etcdctl` user/role/auth commands print the same against both.

use crate::common;

use common::{our_binary, start_member, temp_dir, DEBIAN_ETCD};
use std::path::Path;

/// (basic auth "user:password" or "", method, path, JSON or form body).
const STEPS: &[(&str, &str, &str, &str)] = &[
    ("", "GET", "/v2/auth/enable", ""),
    ("", "PUT", "/v2/auth/enable", ""),
    ("", "GET", "/v2/auth/users", ""),
    ("", "GET", "/v2/auth/roles", ""),
    ("", "PUT", "/v2/auth/users/root", r#"{"user":"root"}"#),
    (
        "",
        "PUT",
        "/v2/auth/users/root",
        r#"{"user":"root","password":"rootpw"}"#,
    ),
    (
        "",
        "PUT",
        "/v2/auth/users/root",
        r#"{"user":"other","password":"x"}"#,
    ),
    ("", "PUT", "/v2/auth/users/root", "{bad json"),
    ("", "GET", "/v2/auth/users/root", ""),
    ("", "PUT", "/v2/auth/roles/reader", r#"{"role":"reader"}"#),
    ("", "PUT", "/v2/auth/roles/reader", r#"{"role":"reader"}"#),
    ("", "GET", "/v2/auth/roles/reader", ""),
    (
        "",
        "PUT",
        "/v2/auth/roles/reader",
        r#"{"role":"reader","grant":{"kv":{"read":["/pub/*","/one"],"write":[]}}}"#,
    ),
    (
        "",
        "PUT",
        "/v2/auth/roles/reader",
        r#"{"role":"reader","grant":{"kv":{"read":["/one"]}}}"#,
    ),
    (
        "",
        "PUT",
        "/v2/auth/roles/reader",
        r#"{"role":"reader","revoke":{"kv":{"read":["/nothing"]}}}"#,
    ),
    (
        "",
        "PUT",
        "/v2/auth/roles/reader",
        r#"{"role":"reader","permissions":{"kv":{"read":["/x"]}},"grant":{"kv":{"read":["/y"]}}}"#,
    ),
    ("", "PUT", "/v2/auth/roles/root", r#"{"role":"root"}"#),
    ("", "DELETE", "/v2/auth/roles/root", ""),
    ("", "GET", "/v2/auth/roles/nope", ""),
    ("", "DELETE", "/v2/auth/roles/nope", ""),
    (
        "",
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","password":"apw"}"#,
    ),
    ("", "PUT", "/v2/auth/users/alice", r#"{"user":"alice"}"#),
    (
        "",
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","grant":["reader"]}"#,
    ),
    (
        "",
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","grant":["reader"]}"#,
    ),
    (
        "",
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","revoke":["nope"]}"#,
    ),
    (
        "",
        "PUT",
        "/v2/auth/users/alice",
        r#"{"user":"alice","roles":["x"],"grant":["y"]}"#,
    ),
    ("", "PUT", "/v2/auth/users/alice", r#"{"user":"alice"}"#),
    ("", "GET", "/v2/auth/users/alice", ""),
    (
        "",
        "PUT",
        "/v2/auth/users/bob",
        r#"{"user":"bob","password":"bpw","roles":["reader","ghost"]}"#,
    ),
    ("", "GET", "/v2/auth/users/bob", ""),
    ("", "GET", "/v2/auth/users", ""),
    ("", "GET", "/v2/auth/roles", ""),
    ("", "DELETE", "/v2/auth/users/bob", ""),
    ("", "DELETE", "/v2/auth/users/bob", ""),
    ("", "GET", "/v2/auth/users/bob", ""),
    ("", "GET", "/v2/auth/users/a/b", ""),
    ("", "POST", "/v2/auth/users", ""),
    ("", "PUT", "/v2/keys/pub/a", "value=1"),
    ("", "PUT", "/v2/keys/one", "value=1"),
    ("", "PUT", "/v2/keys/secret", "value=s"),
    ("", "PUT", "/v2/auth/enable", ""),
    ("", "PUT", "/v2/auth/enable", ""),
    ("", "GET", "/v2/auth/enable", ""),
    // Enabled: anonymous requests are the guest role's (everything, until it changes).
    ("", "GET", "/v2/keys/secret", ""),
    ("", "GET", "/v2/auth/users", ""),
    ("root:wrong", "GET", "/v2/auth/users", ""),
    ("root:rootpw", "GET", "/v2/auth/roles/guest", ""),
    (
        "root:rootpw",
        "PUT",
        "/v2/auth/roles/guest",
        r#"{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}"#,
    ),
    ("", "GET", "/v2/keys/secret", ""),
    ("", "PUT", "/v2/keys/secret", "value=x"),
    ("alice:apw", "GET", "/v2/keys/pub/a", ""),
    ("alice:apw", "GET", "/v2/keys/pub?recursive=true", ""),
    ("alice:apw", "GET", "/v2/keys/one", ""),
    ("alice:apw", "GET", "/v2/keys/one?recursive=true", ""),
    ("alice:apw", "GET", "/v2/keys/secret", ""),
    ("alice:apw", "PUT", "/v2/keys/pub/a", "value=2"),
    ("alice:bad", "GET", "/v2/keys/pub/a", ""),
    ("alice:apw", "GET", "/v2/auth/users", ""),
    ("alice:apw", "PUT", "/v2/auth/enable", ""),
    (
        "alice:apw",
        "POST",
        "/v2/members",
        r#"{"peerURLs":["http://127.0.0.250:2380"]}"#,
    ),
    ("root:rootpw", "GET", "/v2/keys/secret", ""),
    ("root:rootpw", "DELETE", "/v2/auth/users/root", ""),
    ("root:rootpw", "DELETE", "/v2/auth/enable", ""),
    ("", "DELETE", "/v2/auth/enable", ""),
    ("", "GET", "/v2/keys/secret", ""),
];

/// A step's answer as "body\nstatus".
fn curl(endpoint: &str, (user, method, path, body): (&str, &str, &str, &str)) -> String {
    let mut options = Vec::new();
    if !user.is_empty() {
        options.extend(["-u", user]);
    }
    if body.starts_with('{') {
        options.extend(["-H", "content-type: application/json"]);
    }
    let (status, answer) = common::curl(&format!("{endpoint}{path}"), method, &options, body);
    format!("{answer}\n{status}")
}

/// Indexes and times differ between any two servers.
fn mask(text: &str) -> String {
    common::masked(
        text,
        &[(r#""(modifiedIndex|createdIndex|index)":\d+"#, "\"$1\":N")],
    )
}

fn transcript(endpoint: &str) -> Vec<String> {
    STEPS
        .iter()
        .map(|step| {
            let (user, method, path, body) = *step;
            format!(
                "{user} {method} {path} {body}\n{}",
                mask(&curl(endpoint, *step))
            )
        })
        .collect()
}

#[test]
fn v2_auth_answers_as_etcd_3_4() {
    let dir = temp_dir("v2auth");
    let v2 = ["--enable-v2"];
    let etcd = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.229",
        &dir.join("etcd"),
        &v2,
    );
    let ours = start_member(&our_binary(), "127.0.0.230", &dir.join("ours"), &v2);
    let expected = transcript(&etcd.client_url);
    let actual = transcript(&ours.client_url);
    common::assert_same_transcripts(&expected, &actual, "ours");
}

/// ETCDCTL_API=2 commands of a v2 auth life cycle, with --username where the step needs it.
const CTL_STEPS: &[&[&str]] = &[
    &["set", "/pub/a", "1"],
    &["auth", "enable"],
    &["user", "add", "root:rootpw"],
    &["user", "add", "alice:apw"],
    &["user", "add", "alice:other"],
    &["user", "list"],
    &["user", "get", "root"],
    &["user", "get"],
    &["role", "add", "reader"],
    &["role", "add", "reader"],
    &["role", "grant", "reader", "--path", "/pub/*", "--read"],
    &["role", "grant", "reader", "--path", "/pub/*", "--read"],
    &["role", "grant", "reader", "--path", "pub"],
    &["role", "grant", "reader", "--path", "/x"],
    &[
        "role", "grant", "reader", "--path", "/x", "--read", "--write",
    ],
    &["role", "grant", "reader", "--path", "/w", "-rw"],
    &["role", "get", "reader"],
    &["role", "list"],
    &["user", "grant", "alice", "--roles", "reader"],
    &["user", "grant", "alice"],
    &["user", "get", "alice"],
    &["user", "revoke", "alice", "--roles", "nope"],
    &["auth", "enable"],
    &["--username", "root:rootpw", "user", "list"],
    &["user", "list"],
    &["role", "list"],
    &["--username", "alice:apw", "get", "/pub/a"],
    &["--username", "alice:apw", "set", "/pub/a", "2"],
    &["--username", "alice:wrong", "get", "/pub/a"],
    &[
        "--username",
        "root:rootpw",
        "role",
        "revoke",
        "reader",
        "--path",
        "/pub/*",
        "--read",
    ],
    &["--username", "root:rootpw", "role", "remove", "reader"],
    &["--username", "root:rootpw", "user", "remove", "alice"],
    &["--username", "root:rootpw", "user", "remove", "alice"],
    &["--username", "root:rootpw", "auth", "disable"],
    &["auth", "disable"],
    &["user", "get", "nobody"],
    &["role", "get", "nobody"],
];

fn ctl_session(endpoint: &str, ours: bool) -> Vec<String> {
    CTL_STEPS
        .iter()
        .map(|args| crate::v2keys::etcdctl_v2(endpoint, args, ours))
        .map(|text| mask(&text))
        .collect()
}

#[test]
fn etcdctl_v2_user_role_and_auth_commands_print_as_against_etcd() {
    let dir = temp_dir("v2auth-ctl");
    let v2 = ["--enable-v2"];
    let etcd = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.208",
        &dir.join("etcd"),
        &v2,
    );
    let ours = start_member(&our_binary(), "127.0.0.209", &dir.join("ours"), &v2);
    let applet = start_member(&our_binary(), "127.0.0.210", &dir.join("applet"), &v2);
    let expected = ctl_session(&etcd.client_url, false);
    common::assert_same_transcripts(&expected, &ctl_session(&ours.client_url, false), "ours");
    common::assert_same_transcripts(
        &expected,
        &ctl_session(&applet.client_url, true),
        "our applet",
    );
}

#[test]
fn certificate_common_names_are_v2_users_under_mutual_tls_as_in_etcd() {
    let dir = temp_dir("v2auth-cn");
    let ca = common::certs::Ca::new(&dir);
    let ips = ["127.0.0.211", "127.0.0.212"];
    let (server_cert, server_key) = ca.issue("server", &ips, "etcd server", 1);
    let root = ca.issue("root", &[], "root", 2);
    let kubernetes = ca.issue("kubernetes", &[], "kubernetes", 3);
    let start = |program: &Path, ip: &str, name: &str| {
        let data = dir.join(name);
        let mut args = common::single_member_args(name, ip, 2379, 2380, &data, "https");
        for (flag, path) in [
            ("--cert-file", &server_cert),
            ("--key-file", &server_key),
            ("--trusted-ca-file", &ca.file),
        ] {
            args.push(flag.to_string());
            args.push(path.display().to_string());
        }
        args.extend(["--client-cert-auth".into(), "--enable-v2".into()]);
        common::Member::start(program, args, &format!("https://{ip}:2379"), &data)
    };
    let as_root = [
        (
            "PUT",
            "/v2/auth/users/root",
            r#"{"user":"root","password":"pw"}"#,
        ),
        (
            "PUT",
            "/v2/auth/users/kubernetes",
            r#"{"user":"kubernetes","password":"k"}"#,
        ),
        ("PUT", "/v2/auth/roles/kube", r#"{"role":"kube"}"#),
        (
            "PUT",
            "/v2/auth/roles/kube",
            r#"{"role":"kube","grant":{"kv":{"read":["/registry/*"],"write":["/registry/*"]}}}"#,
        ),
        (
            "PUT",
            "/v2/auth/users/kubernetes",
            r#"{"user":"kubernetes","grant":["kube"]}"#,
        ),
        ("PUT", "/v2/keys/registry/a", "value=1"),
        ("PUT", "/v2/keys/other", "value=1"),
        ("PUT", "/v2/auth/enable", ""),
        (
            "PUT",
            "/v2/auth/roles/guest",
            r#"{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}"#,
        ),
        ("GET", "/v2/auth/users", ""),
    ];
    let as_kubernetes = [
        ("GET", "/v2/keys/registry/a", ""),
        ("PUT", "/v2/keys/registry/b", "value=2"),
        ("GET", "/v2/keys/other", ""),
        ("PUT", "/v2/keys/other", "value=2"),
        ("GET", "/v2/auth/users", ""),
        (
            "POST",
            "/v2/members",
            r#"{"peerURLs":["http://127.0.0.250:2380"]}"#,
        ),
    ];
    let curl_as = |url: &str,
                   (cert, key): &(std::path::PathBuf, std::path::PathBuf),
                   step: (&str, &str, &str)| {
        let (method, path, body) = step;
        let (ca, cert, key) = (ca.file.display(), cert.display(), key.display());
        let (ca, cert, key) = (ca.to_string(), cert.to_string(), key.to_string());
        let mut options = vec!["--cacert", &ca, "--cert", &cert, "--key", &key];
        if body.starts_with('{') {
            options.extend(["-H", "content-type: application/json"]);
        }
        let (status, answer) = common::curl(&format!("{url}{path}"), method, &options, body);
        format!("{method} {path}\n{}", mask(&format!("{answer}\n{status}")))
    };
    let run = |program: &Path, ip: &str, name: &str| -> Vec<String> {
        let member = start(program, ip, name);
        let url = member.client_url.clone();
        let mut seen: Vec<String> = as_root.iter().map(|s| curl_as(&url, &root, *s)).collect();
        seen.extend(as_kubernetes.iter().map(|s| curl_as(&url, &kubernetes, *s)));
        seen
    };
    let expected = run(Path::new(DEBIAN_ETCD), ips[0], "debian");
    let actual = run(&our_binary(), ips[1], "ours");
    assert!(
        expected.iter().any(|t| t.ends_with("\n401")),
        "the certificate's user must meet a refusal: {expected:?}"
    );
    common::assert_same_transcripts(&expected, &actual, "ours");
}

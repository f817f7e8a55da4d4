//! Authentication and access control, as a user meets them: Debian's etcdctl against Debian's
//! etcd 3.4 and against ours with the same user/role/permission life cycle (same output), the
//! checks etcd 3.4 missed (each refused by ours), CN users under mutual TLS, token expiry,
//! the JSON gateway with a token, and a 3-member cluster where roles change on the leader.

use crate::common;
use crate::differential::{split_words, transcript_of};

use common::{assert_same_transcripts, etcdctl, our_binary, start_member, temp_dir, DEBIAN_ETCD};
use std::path::Path;
use std::time::Duration;

const ROOT: &str = "--user=root:rootpw";
const ALICE: &str = "--user=alice:apw";

/// The life cycle both servers see, one etcdctl invocation per line (` <<< ` starts stdin).
const SCRIPT: &str = r#"
auth enable
user add root:rootpw
auth enable
put k v
--user=root:rootpw put k v
--user=root:wrong get k
--user=nobody:x get k
--user=root:rootpw user add alice:apw
--user=root:rootpw user add alice:apw
--user=root:rootpw user add nopw --no-password
--user=nopw:x get k
--user=root:rootpw role add ro
--user=root:rootpw role add ro
--user=root:rootpw role add wo
--user=root:rootpw role add rw
--user=root:rootpw role grant-permission ro read k
--user=root:rootpw role grant-permission ro read pre/ --prefix
--user=root:rootpw role grant-permission wo write w/ --prefix
--user=root:rootpw role grant-permission rw readwrite rw/ --prefix
--user=root:rootpw role grant-permission nosuch read k
--user=root:rootpw user grant-role alice ro
--user=root:rootpw user grant-role alice nosuch
--user=root:rootpw user grant-role nosuch ro
--user=root:rootpw put pre/1 one
--user=alice:apw get k
--user=alice:apw put k v2
--user=alice:apw get pre/ --prefix
--user=alice:apw get pre --prefix
--user=alice:apw get '' --from-key
--user=alice:apw put pre/2 two
--user=root:rootpw user grant-role alice wo
--user=alice:apw put w/1 x
--user=alice:apw get w/1
--user=alice:apw del w/1
--user=alice:apw put w/1 y
--user=alice:apw del w/ --prefix --prev-kv
--user=alice:apw txn <<< value("k") = "v"\n\nput w/2 t\n\nput w/3 f\n\n
--user=alice:apw txn <<< value("k") = "v"\n\nput k nope\n\n\n
--user=alice:apw txn <<< value("w/2") = "t"\n\nput w/4 x\n\n\n
--user=root:rootpw user get alice
--user=root:rootpw user get alice --detail
--user=alice:apw user get alice
--user=alice:apw user get root
--user=alice:apw role get ro
--user=alice:apw role get rw
--user=alice:apw user list
--user=alice:apw role list
--user=alice:apw user add mallory:x
--user=alice:apw role grant-permission ro readwrite '' --from-key
--user=alice:apw auth disable
--user=alice:apw defrag
--user=alice:apw lease grant 100
--user=root:rootpw role revoke-permission ro k
--user=root:rootpw role revoke-permission ro k
--user=alice:apw get k
--user=root:rootpw user revoke-role alice ro
--user=root:rootpw user revoke-role alice ro
--user=root:rootpw role delete wo
--user=root:rootpw role delete wo
--user=root:rootpw user get alice
--user=root:rootpw role list
--user=root:rootpw user list
--user=root:rootpw user passwd alice --interactive=false <<< newpw\n
--user=alice:apw get w/1
--user=alice:newpw user get alice
--user=root:rootpw user delete root
--user=root:rootpw user revoke-role root root
--user=root:rootpw role delete root
--user=root:rootpw user delete alice
--user=root:rootpw user delete alice
--user=root:rootpw auth disable
get k
--user=root:rootpw get k
user list
role get ro
user delete root
auth enable
"#;

fn steps() -> Vec<(Vec<String>, Option<String>)> {
    SCRIPT
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (command, input) = match line.split_once(" <<< ") {
                Some((command, input)) => (command, Some(input.replace("\\n", "\n"))),
                None => (line, None),
            };
            let words = split_words(command)
                .into_iter()
                .map(|w| if w == "''" { String::new() } else { w })
                .collect();
            (words, input)
        })
        .collect()
}

/// A cheap bcrypt cost keeps the script fast on both servers.
const FAST_HASH: &[&str] = &["--bcrypt-cost", "4"];

#[test]
fn etcdctl_auth_life_cycle_answers_as_etcd_3_4() {
    let dir = temp_dir("auth-differential");
    let reference = start_member(
        Path::new(DEBIAN_ETCD),
        "127.0.0.205",
        &dir.join("debian"),
        FAST_HASH,
    );
    let ours = start_member(&our_binary(), "127.0.0.206", &dir.join("ours"), FAST_HASH);
    let steps = steps();
    let expected = transcript_of(&reference.client_url, &[], &steps);
    let actual = transcript_of(&ours.client_url, &[], &steps);
    let refused = expected
        .iter()
        .filter(|t| t.contains("permission denied"))
        .count();
    assert!(
        refused >= 10,
        "the script must exercise refusals ({refused})"
    );
    assert_same_transcripts(&expected, &actual, "ours");
}

fn ok(output: &std::process::Output) -> String {
    assert!(
        output.status.success(),
        "etcdctl failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn refused(output: &std::process::Output) -> String {
    assert!(
        !output.status.success(),
        "etcdctl succeeded where it must be refused: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Root, a user `alice` with read-write on `a/` only, and then auth enabled (so a member that
/// cannot sign tokens can be set up too).
fn set_up_alice(endpoint: &str) {
    for args in [
        vec!["user", "add", "root:rootpw"],
        vec!["user", "add", "alice:apw"],
        vec!["role", "add", "a"],
        vec![
            "role",
            "grant-permission",
            "a",
            "readwrite",
            "a/",
            "--prefix",
        ],
        vec!["user", "grant-role", "alice", "a"],
        vec!["auth", "enable"],
    ] {
        ok(&etcdctl(endpoint, &[], &args, None));
    }
}

/// A token from the gateway's /v3/auth/authenticate.
fn authenticate(member: &common::Member, name: &str, password: &str) -> String {
    let body = format!(r#"{{"name":"{name}","password":"{password}"}}"#);
    let answer = common::post_gateway(member, "auth/authenticate", &body);
    let json: serde_json::Value = serde_json::from_str(&answer).expect(&answer);
    json["token"].as_str().expect(&answer).to_string()
}

#[test]
fn the_holes_etcd_3_4_had_are_closed() {
    let dir = temp_dir("auth-holes");
    let member = start_member(&our_binary(), "127.0.0.207", &dir, FAST_HASH);
    let endpoint = &member.client_url;
    set_up_alice(endpoint);
    let as_alice = |args: &[&str], stdin: Option<&str>| {
        let mut all = vec![ALICE];
        all.extend_from_slice(args);
        etcdctl(endpoint, &[], &all, stdin)
    };
    ok(&as_alice(&["put", "a/1", "mine"], None));
    ok(&etcdctl(endpoint, &[], &[ROOT, "put", "secret", "s"], None));
    // Through the gateway: a token reads what alice may, and not a byte more.
    let token = authenticate(&member, "alice", "apw");
    let mine =
        common::post_gateway_with_token(&member, "kv/range", r#"{"key":"YS8x"}"#, Some(&token));
    assert!(mine.contains("\"value\":\"bWluZQ==\""), "{mine}");
    let theirs =
        common::post_gateway_with_token(&member, "kv/range", r#"{"key":"c2VjcmV0"}"#, Some(&token));
    assert!(
        theirs.contains("permission denied") && theirs.contains("\"code\":7"),
        "{theirs}"
    );
    let forged =
        common::post_gateway_with_token(&member, "kv/range", r#"{"key":"YS8x"}"#, Some("abc.1"));
    assert!(forged.contains("invalid auth token"), "{forged}");
    // A nested txn writing outside alice's range.
    let nested = r#"{"success":[{"request_txn":{"success":[{"request_put":{"key":"c2VjcmV0","value":"eA=="}}]}}]}"#;
    let token = authenticate(&member, "alice", "apw");
    let gateway = common::post_gateway_with_token(&member, "kv/txn", nested, Some(&token));
    assert!(gateway.contains("permission denied"), "{gateway}");
    let secret = ok(&etcdctl(endpoint, &[], &[ROOT, "get", "secret"], None));
    assert!(secret.ends_with("s\n"), "{secret}");
    // An open-ended watch (range_end "\0") from a/ on reaches past alice's prefix.
    let watch = r#"{"create_request":{"key":"YS8=","range_end":"AA=="}}"#;
    let said = common::post_gateway_with_token(&member, "watch", watch, Some(&token));
    assert!(
        said.contains("\"canceled\":true") && said.contains("permission denied"),
        "{said}"
    );
    let anonymous = common::post_gateway_with_token(&member, "watch", watch, None);
    assert!(
        anonymous.contains("\"canceled\":true") && anonymous.contains("user name is empty"),
        "{anonymous}"
    );
    let own = r#"{"create_request":{"key":"YS8=","range_end":"YTA="}}"#;
    let said = common::post_gateway_with_token(&member, "watch", own, Some(&token));
    assert!(
        said.contains("\"created\":true") && !said.contains("canceled"),
        "{said}"
    );
    // A lease's keys: only the readable ones are listed.
    let lease = ok(&etcdctl(
        endpoint,
        &[],
        &[ROOT, "lease", "grant", "100"],
        None,
    ));
    let id = lease.split_whitespace().nth(1).unwrap().to_string();
    ok(&etcdctl(
        endpoint,
        &[],
        &[ROOT, "put", "secret2", "s", "--lease", &id],
        None,
    ));
    ok(&etcdctl(
        endpoint,
        &[],
        &[ROOT, "put", "a/leased", "s", "--lease", &id],
        None,
    ));
    let ttl = ok(&as_alice(&["lease", "timetolive", &id, "--keys"], None));
    assert!(
        ttl.contains("a/leased") && !ttl.contains("secret2"),
        "{ttl}"
    );
    // Revoking the lease would delete a key alice may not write.
    assert!(refused(&as_alice(&["lease", "revoke", &id], None)).contains("permission denied"));
    // A watch whose range a role change makes unreadable is canceled.
    let mut watching = std::process::Command::new("curl")
        .args(["-s", "-N", "--max-time", "10", "-X", "POST", "-H"])
        .arg(format!("Authorization: {token}"))
        .args([
            "--data-binary",
            r#"{"create_request":{"key":"YS8=","range_end":"YTA="}}"#,
        ])
        .arg(format!("{}/v3/watch", member.client_url))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl runs");
    let mut lines = std::io::BufReader::new(watching.stdout.take().unwrap());
    let mut created = String::new();
    std::io::BufRead::read_line(&mut lines, &mut created).unwrap();
    assert!(created.contains("\"created\":true"), "{created}");
    ok(&etcdctl(
        endpoint,
        &[],
        &[ROOT, "role", "revoke-permission", "a", "a/", "--prefix"],
        None,
    ));
    let mut canceled = String::new();
    std::io::BufRead::read_line(&mut lines, &mut canceled).unwrap();
    let _ = watching.kill();
    let _ = watching.wait();
    assert!(
        canceled.contains("\"canceled\":true") && canceled.contains("permission denied"),
        "{canceled}"
    );
    ok(&etcdctl(
        endpoint,
        &[],
        &[
            ROOT,
            "role",
            "grant-permission",
            "a",
            "readwrite",
            "a/",
            "--prefix",
        ],
        None,
    ));
    // etcdctl 3.5's `auth status`, through our applet.
    let status = common::our_etcdctl(endpoint, &[], &[ROOT, "auth", "status"], None);
    let status = ok(&status);
    assert!(
        status.starts_with("Authentication Status: true\nAuthRevision: "),
        "{status}"
    );
    // Root-only calls.
    for args in [
        vec!["member", "add", "x", "--peer-urls=http://127.0.0.250:2380"],
        vec!["defrag"],
        vec!["snapshot", "save", "/dev/null"],
        vec!["compaction", "1"],
        vec!["endpoint", "hashkv"],
        vec!["move-leader", "1"],
    ] {
        let output = as_alice(&args, None);
        assert!(!output.status.success(), "{args:?} succeeded");
        let why = String::from_utf8_lossy(&output.stderr);
        assert!(why.contains("permission denied"), "{args:?}: {why}");
    }
    // etcdctl disarms only raised alarms; the call itself, as alice, through the gateway.
    let disarm = r#"{"action":"DEACTIVATE","alarm":"NOSPACE"}"#;
    let said = common::post_gateway_with_token(&member, "maintenance/alarm", disarm, Some(&token));
    assert!(said.contains("permission denied"), "{said}");
    // Without credentials even status and member list are refused.
    for args in [
        vec!["member", "list"],
        vec!["endpoint", "status"],
        vec!["lease", "grant", "10"],
    ] {
        let why = refused(&etcdctl(endpoint, &[], &args, None));
        assert!(why.contains("user name is empty"), "{args:?}: {why}");
    }
    // Malformed auth requests: clear errors, nothing changes.
    let root_token = authenticate(&member, "root", "rootpw");
    let as_root = |path: &str, body: &str| {
        common::post_gateway_with_token(&member, path, body, Some(&root_token))
    };
    let empty_user = as_root("auth/user/add", r#"{"name":"","password":"x"}"#);
    assert!(empty_user.contains("user name is empty"), "{empty_user}");
    let empty_role = as_root("auth/role/add", r#"{"name":""}"#);
    assert!(empty_role.contains("role name is empty"), "{empty_role}");
    let huge = format!(r#"{{"name":"big","password":"{}"}}"#, "p".repeat(10 << 20));
    let huge_password = as_root("auth/user/add", &huge);
    assert!(
        huge_password.contains("larger than max"),
        "{}",
        &huge_password[..huge_password.len().min(300)]
    );
    let long_name = format!(r#"{{"name":"{}"}}"#, "r".repeat(300));
    assert!(as_root("auth/role/add", &long_name).contains("name is too long"));
    let users = ok(&etcdctl(endpoint, &[], &[ROOT, "user", "list"], None));
    assert_eq!(users, "alice\nroot\n");
    // A permission whose range ends before it starts is refused and changes nothing.
    let why = refused(&etcdctl(
        endpoint,
        &[],
        &[ROOT, "role", "grant-permission", "a", "read", "z", "b"],
        None,
    ));
    assert!(why.contains("range end sorts before the key"), "{why}");
    let role = ok(&etcdctl(endpoint, &[], &[ROOT, "role", "get", "a"], None));
    assert!(!role.contains("[z, b)"), "{role}");
}

/// Runs `lines` (one etcdctl invocation each) against `endpoint` with `tls`.
fn transcript_lines(endpoint: &str, tls: &[String], lines: &[&str]) -> Vec<String> {
    let steps: Vec<(Vec<String>, Option<String>)> =
        lines.iter().map(|l| (split_words(l), None)).collect();
    transcript_of(endpoint, tls, &steps)
}

#[test]
fn certificate_common_names_are_users_under_mutual_tls_as_in_etcd() {
    let dir = temp_dir("auth-cn");
    let ca = common::certs::Ca::new(&dir);
    let ips = ["127.0.0.215", "127.0.0.216"];
    let (server_cert, server_key) = ca.issue("server", &ips, "etcd server", 1);
    let root = ca.issue("root", &[], "root", 2);
    let kubernetes = ca.issue("kubernetes", &[], "kubernetes", 3);
    let tls_of = |(cert, key): &(std::path::PathBuf, std::path::PathBuf)| -> Vec<String> {
        vec![
            format!("--cacert={}", ca.file.display()),
            format!("--cert={}", cert.display()),
            format!("--key={}", key.display()),
        ]
    };
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
        args.extend([
            "--client-cert-auth".into(),
            "--bcrypt-cost".into(),
            "4".into(),
        ]);
        common::Member::start(program, args, &format!("https://{ip}:2379"), &data)
    };
    let setup = [
        "user add root:rootpw",
        "user add kubernetes --no-password",
        "role add kube",
        "role grant-permission kube readwrite /registry/ --prefix",
        "user grant-role kubernetes kube",
        "auth enable",
        "user list",
    ];
    let as_kubernetes = [
        "put /registry/pods/a x",
        "get /registry/ --prefix",
        "get /registry --prefix",
        "put /other x",
        "user list",
        "user get kubernetes",
        "role get kube",
        "--user=root:rootpw user list",
        "--user=kubernetes:x get /registry/pods/a",
    ];
    let run = |program: &Path, ip: &str, name: &str| {
        let member = start(program, ip, name);
        let mut seen = transcript_lines(&member.client_url, &tls_of(&root), &setup);
        seen.extend(transcript_lines(
            &member.client_url,
            &tls_of(&kubernetes),
            &as_kubernetes,
        ));
        seen
    };
    let expected = run(Path::new(DEBIAN_ETCD), ips[0], "debian");
    let actual = run(&our_binary(), ips[1], "ours");
    assert!(
        expected.iter().any(|t| t.contains("permission denied")),
        "the certificate's user must meet a refusal"
    );
    assert_same_transcripts(&expected, &actual, "ours");
}

#[test]
fn tokens_expire_after_the_ttl_unless_used_on_etcd_and_ours() {
    let dir = temp_dir("auth-ttl");
    for (program, ip, name) in [
        (Path::new(DEBIAN_ETCD), "127.0.0.217", "debian"),
        (our_binary().as_path(), "127.0.0.218", "ours"),
    ] {
        let member = start_member(
            program,
            ip,
            &dir.join(name),
            &["--auth-token-ttl", "2", "--bcrypt-cost", "4"],
        );
        set_up_alice(&member.client_url);
        let token = authenticate(&member, "alice", "apw");
        let read = || {
            common::post_gateway_with_token(&member, "kv/range", r#"{"key":"YS8x"}"#, Some(&token))
        };
        // Used every second, the token outlives its 2 s TTL...
        for _ in 0..4 {
            let answer = read();
            assert!(answer.contains("\"header\""), "{name}: {answer}");
            std::thread::sleep(std::time::Duration::from_secs(1));
        }
        // ...and left alone past it (etcd sweeps once a second), it is gone.
        std::thread::sleep(std::time::Duration::from_secs(4));
        let late = read();
        assert!(late.contains("invalid auth token"), "{name}: {late}");
    }
}

/// Restores `backup` with `program` (and its leading arguments) as the one member m0 on `ip`.
fn restore_single(program: &[&str], backup: &Path, dir: &Path, ip: &str) {
    let mut args: Vec<String> = program[1..].iter().map(|s| s.to_string()).collect();
    args.extend([
        "snapshot".into(),
        "restore".into(),
        backup.display().to_string(),
        "--name=m0".into(),
        format!("--data-dir={}", dir.join("m0").display()),
        format!("--initial-cluster={}", common::initial_cluster(&[ip])),
        format!("--initial-advertise-peer-urls=http://{ip}:2380"),
    ]);
    let out = common::run(program[0], &args, &[("ETCDCTL_API", "3")], None);
    assert!(out.status.success(), "{out:?}");
}

fn save_as_root(endpoint: &str, backup: &Path) {
    let args: Vec<String> = vec![
        format!("--endpoints={endpoint}"),
        ROOT.into(),
        "snapshot".into(),
        "save".into(),
        backup.display().to_string(),
    ];
    let out = common::run(common::DEBIAN_ETCDCTL, &args, &[("ETCDCTL_API", "3")], None);
    assert!(out.status.success(), "{out:?}");
}

/// Alice may read a/1 and nothing outside a/; without credentials nothing is served.
fn assert_alice_confined(endpoint: &str) {
    assert_eq!(
        ok(&etcdctl(endpoint, &[], &[ALICE, "get", "a/1"], None)),
        "a/1\nmine\n"
    );
    assert!(
        refused(&etcdctl(endpoint, &[], &[ALICE, "put", "b", "x"], None))
            .contains("permission denied")
    );
    assert!(refused(&etcdctl(endpoint, &[], &["get", "a/1"], None)).contains("user name is empty"));
}

#[test]
fn roles_reach_every_member_and_survive_restarts_and_backups_both_ways() {
    let dir = temp_dir("auth-cluster");
    let ips = ["127.0.0.220", "127.0.0.221", "127.0.0.222"];
    let mut members = common::start_cluster(&our_binary(), &ips, &dir.join("ours"), FAST_HASH);
    let first = members[0].client_url.clone();
    set_up_alice(&first);
    ok(&etcdctl(&first, &[], &[ALICE, "put", "a/1", "mine"], None));
    let alice_reads = |endpoint: &str| etcdctl(endpoint, &[], &[ALICE, "get", "a/1"], None);
    for member in &members {
        common::wait_until(
            "alice to read on every member",
            Duration::from_secs(10),
            || alice_reads(&member.client_url).status.success(),
        );
    }
    // A token issued through one member works on the others.
    let token = authenticate(&members[0], "alice", "apw");
    let read =
        common::post_gateway_with_token(&members[2], "kv/range", r#"{"key":"YS8x"}"#, Some(&token));
    assert!(read.contains("bWluZQ=="), "{read}");
    // A role taken away on one member takes effect on every member.
    let revoke = [ROOT, "user", "revoke-role", "alice", "a"];
    ok(&etcdctl(&members[1].client_url, &[], &revoke, None));
    for member in &members {
        common::wait_until(
            "alice to be refused on every member",
            Duration::from_secs(10),
            || {
                let out = alice_reads(&member.client_url);
                String::from_utf8_lossy(&out.stderr).contains("permission denied")
            },
        );
    }
    ok(&etcdctl(
        &first,
        &[],
        &[ROOT, "user", "grant-role", "alice", "a"],
        None,
    ));
    // A restarted member keeps users and roles.
    members[2].stop();
    members[2].restart();
    common::wait_until(
        "alice to read on the restarted member",
        Duration::from_secs(10),
        || alice_reads(&members[2].client_url).status.success(),
    );
    assert_alice_confined(&members[2].client_url);
    // Our backup into Debian's etcd: users, roles and the switch come along.
    let ours_db = dir.join("ours.db");
    save_as_root(&first, &ours_db);
    restore_single(
        &[common::DEBIAN_ETCDCTL],
        &ours_db,
        &dir.join("etcd"),
        "127.0.0.223",
    );
    let etcd = common::start_cluster(
        Path::new(DEBIAN_ETCD),
        &["127.0.0.223"],
        &dir.join("etcd"),
        &[],
    );
    assert_alice_confined(&etcd[0].client_url);
    // And Debian's backup of that into ours.
    let etcd_db = dir.join("etcd.db");
    save_as_root(&etcd[0].client_url, &etcd_db);
    let binary = our_binary().display().to_string();
    restore_single(
        &[&binary, "util"],
        &etcd_db,
        &dir.join("back"),
        "127.0.0.224",
    );
    let back = common::start_cluster(&our_binary(), &["127.0.0.224"], &dir.join("back"), &[]);
    assert_alice_confined(&back[0].client_url);
    // The first cluster's token means nothing to another cluster.
    let elsewhere =
        common::post_gateway_with_token(&back[0], "kv/range", r#"{"key":"YS8x"}"#, Some(&token));
    assert!(elsewhere.contains("invalid auth token"), "{elsewhere}");
}

#[test]
fn jwt_tokens_verify_on_a_member_that_did_not_sign_them() {
    let dir = temp_dir("auth-jwt");
    std::fs::create_dir_all(&dir).unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let (private, public) = (dir.join("jwt.pem"), dir.join("jwt-pub.pem"));
    std::fs::write(&private, key.serialize_pem()).unwrap();
    std::fs::write(&public, key.public_key_pem()).unwrap();
    let signing = format!(
        "jwt,pub-key={},priv-key={},sign-method=ES256,ttl=10m",
        public.display(),
        private.display()
    );
    let verifying = format!("jwt,pub-key={},sign-method=ES256", public.display());
    // Member 0 signs, member 1 holds only the public key (etcd's verify-only mode).
    let ips = ["127.0.0.225", "127.0.0.226"];
    let mut members: Vec<common::Member> = [&signing, &verifying]
        .iter()
        .enumerate()
        .map(|(i, token)| {
            let extra = ["--auth-token", token.as_str(), "--bcrypt-cost", "4"];
            common::spawn_cluster_member(&our_binary(), &ips, i, &dir, &extra)
        })
        .collect();
    for member in &mut members {
        member.wait_healthy();
    }
    let (signer, verifier) = (&members[0], &members[1]);
    ok(&etcdctl(
        &signer.client_url,
        &[],
        &["put", "a/1", "mine"],
        None,
    ));
    set_up_alice(&signer.client_url);
    let token = authenticate(signer, "alice", "apw");
    assert_eq!(token.split('.').count(), 3, "{token}");
    let range = |member: &common::Member, token: &str| {
        common::post_gateway_with_token(member, "kv/range", r#"{"key":"YS8x"}"#, Some(token))
    };
    for member in [signer, verifier] {
        let answer = range(member, &token);
        assert!(
            answer.contains("bWluZQ=="),
            "{}: {answer}",
            member.client_url
        );
    }
    let refused = common::post_gateway(
        verifier,
        "auth/authenticate",
        r#"{"name":"alice","password":"apw"}"#,
    );
    assert!(refused.contains("verify-only key"), "{refused}");
    // The same token with its claims changed (root instead of alice) is nobody's.
    let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
    let claims = r#"{"exp":99999999999,"revision":1,"username":"root"}"#;
    parts[1] = base64_url(claims.as_bytes());
    let forged = parts.join(".");
    for member in [signer, verifier] {
        let answer = range(member, &forged);
        assert!(
            answer.contains("invalid auth token"),
            "{}: {answer}",
            member.client_url
        );
    }
}

/// base64url without padding, as JWTs are written.
fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, b| (n << 8) | u32::from(*b)) << (8 * (3 - chunk.len()));
        for k in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
        }
    }
    out
}

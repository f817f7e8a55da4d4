//! --discovery and --discovery-srv: a new cluster finds its members through etcd's v2
//! discovery protocol (Debian's etcd 3.4 with --enable-v2 is the discovery service) or through
//! DNS SRV records (a DNS stand-in on 127.0.0.127:53, made the members' name server with a
//! mount namespace of their own: `unshare --mount` and a bind-mounted /etc/resolv.conf).
//!
//! Addresses: 127.0.0.123 (discovery service), 124-126 (the cluster), 128 (latecomers; the
//! HTTP proxy on port 3128), 127 (DNS stand-in), 145-147 (the SRV cluster).

use crate::common::{self, curl, etcdctl, our_binary, Member, DEBIAN_ETCD};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SERVICE: &str = "127.0.0.123";
const CLUSTER: [&str; 3] = ["127.0.0.124", "127.0.0.125", "127.0.0.126"];
const LATECOMER: &str = "127.0.0.128";

/// How long a member that must refuse to start may take to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags for member `name` on `ip` (client port 2379, peer port 2380), bootstrapped with
/// `bootstrap` instead of --initial-cluster.
fn member_args(name: &str, ip: &str, data_dir: &Path, bootstrap: &[&str]) -> Vec<String> {
    let mut args = common::single_member_args(name, ip, 2379, 2380, data_dir, "http");
    let initial_cluster = args.len() - 2;
    assert_eq!(args[initial_cluster], "--initial-cluster");
    args.truncate(initial_cluster);
    args.extend(bootstrap.iter().map(|s| s.to_string()));
    args
}

/// Runs `program` expecting it to refuse to start: its exit status and everything it printed.
fn refused_start(program: &Path, args: &[String]) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + EXIT_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{} did not exit in {EXIT_TIMEOUT:?}", program.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

/// The line saying why a start failed, without etcd's log prefix.
fn join_error(log: &str) -> String {
    log.lines()
        .find_map(|line| {
            line.find("failed to join discovery cluster")
                .map(|at| &line[at..])
        })
        .unwrap_or_else(|| panic!("no join error in:\n{log}"))
        .split("): ")
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_string()
}

/// A fresh discovery token on the service for a cluster of `size`: its URL.
fn new_token(token: &str, size: usize) -> String {
    let url = format!("http://{SERVICE}:2379/v2/keys/discovery/{token}");
    let (status, body) = curl(
        &format!("{url}/_config/size"),
        "PUT",
        &[],
        &format!("value={size}"),
    );
    assert_eq!(status, 201, "{body}");
    url
}

/// `program`'s three members bootstrapped through `url` (member 1 through the HTTP proxy at
/// `proxy`): their `member list` (ID, name, peer URL lines, sorted), once all are healthy.
fn bootstrap(program: &Path, url: &str, proxy: &str, dir: &Path) -> (Vec<Member>, Vec<String>) {
    let mut members = spawn_members(program, url, proxy, dir);
    let list = member_list(&mut members);
    (members, list)
}

/// The three members of [`bootstrap`], started without waiting for them.
fn spawn_members(program: &Path, url: &str, proxy: &str, dir: &Path) -> Vec<Member> {
    CLUSTER
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let data_dir = dir.join(format!("m{i}"));
            let mut bootstrap = vec!["--discovery", url];
            if i == 1 {
                bootstrap.extend(["--discovery-proxy", proxy]);
            }
            let args = member_args(&format!("m{i}"), ip, &data_dir, &bootstrap);
            Member::spawn(program, args, &format!("http://{ip}:2379"), &data_dir)
        })
        .collect()
}

/// The members' `member list` lines (ID, name, peer URL; sorted) once all are healthy.
fn member_list(members: &mut [Member]) -> Vec<String> {
    for member in members.iter_mut() {
        member.wait_healthy();
    }
    // Names appear once each member has published its own.
    let mut lines = Vec::new();
    common::wait_until("three named members", Duration::from_secs(10), || {
        let list = etcdctl(&members[0].client_url, &[], &["member", "list"], None);
        lines = String::from_utf8_lossy(&list.stdout)
            .lines()
            .map(|line| {
                let fields: Vec<&str> = line.split(", ").collect();
                format!("{} {} {}", fields[0], fields[2], fields[3])
            })
            .collect();
        lines.sort();
        lines.len() == 3 && lines.iter().all(|l| !l.contains("  "))
    });
    lines
}

#[test]
fn discovery_url_bootstraps_a_cluster_as_etcd_does() {
    let dir = common::temp_dir("discovery-url");
    let mut service = common::start_member(
        Path::new(DEBIAN_ETCD),
        SERVICE,
        &dir.join("service"),
        &["--enable-v2"],
    );

    // Debian's etcd and ours, one after the other with the same token and URLs: same IDs.
    let proxy = HttpProxy::start();
    let url = new_token("shared", 3);
    let (etcd_members, etcd_list) = bootstrap(
        Path::new(DEBIAN_ETCD),
        &url,
        PROXY_ADDRESS,
        &dir.join("etcd"),
    );
    drop(etcd_members);
    let etcd_via_proxy = proxy.take_requests();
    let (status, body) = curl(&format!("{url}?recursive=true"), "DELETE", &[], "");
    assert_eq!(status, 200, "{body}");
    new_token("shared", 3);
    // Ours start while the service is down: they back off and retry until it is back.
    service.kill();
    let mut members = spawn_members(&our_binary(), &url, PROXY_ADDRESS, &dir.join("ours"));
    common::wait_until("a member backing off", Duration::from_secs(10), || {
        members.iter().any(|m| m.log_text().contains("retrying in"))
    });
    service.restart();
    let our_list = member_list(&mut members);
    assert_eq!(our_list, etcd_list, "member IDs, names and peer URLs");
    assert_eq!(our_list.len(), 3);
    // --discovery-proxy: member 1 talked to the service through the proxy, as etcd's did (the
    // proxy records each connection's first request line).
    let ours_via_proxy = proxy.take_requests();
    for requests in [&etcd_via_proxy, &ours_via_proxy] {
        assert!(
            requests
                .iter()
                .any(|r| r.contains(" http://127.0.0.123:2379/v2/keys/discovery/shared")),
            "{requests:?}"
        );
    }

    // The cluster serves, and each member registered its name=peer-url.
    let put = etcdctl(&members[0].client_url, &[], &["put", "found", "yes"], None);
    assert!(put.status.success(), "{put:?}");
    let get = etcdctl(
        &members[2].client_url,
        &[],
        &["get", "found", "--print-value-only"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&get.stdout), "yes\n");
    let (_, registrations) = curl(&url, "GET", &[], "");
    for (i, ip) in CLUSTER.iter().enumerate() {
        let value = format!("\"value\":\"m{i}=http://{ip}:2380\"");
        assert!(registrations.contains(&value), "{registrations}");
    }

    // A member whose port is taken exits before registering: the token stays usable.
    let latecomer_dir = dir.join("latecomer");
    let busy = new_token("busy", 3);
    let taken = TcpListener::bind(format!("{LATECOMER}:2379")).unwrap();
    let args = member_args("m3", LATECOMER, &latecomer_dir, &["--discovery", &busy]);
    let (started, log) = refused_start(&our_binary(), &args);
    drop(taken);
    assert!(!started, "{log}");
    assert!(log.contains(&format!("{LATECOMER}:2379")), "{log}");
    let (_, registrations) = curl(&busy, "GET", &[], "");
    assert!(!registrations.contains("m3="), "{registrations}");

    // A fourth member finds the cluster full and exits without creating its data dir.
    let args = member_args("m3", LATECOMER, &latecomer_dir, &["--discovery", &url]);
    let (started, log) = refused_start(&our_binary(), &args);
    assert!(!started, "{log}");
    assert_eq!(
        join_error(&log),
        "failed to join discovery cluster (discovery: cluster is full"
    );
    assert!(
        !latecomer_dir.exists(),
        "the refused member created its data dir"
    );

    // A restart from the data dir ignores the token; one whose data dir is gone is a duplicate.
    members[0].kill();
    members[0].restart();
    assert!(members[0].log_text().contains("discovery token ignored"));
    members[2].kill();
    std::fs::remove_dir_all(&members[2].data_dir).unwrap();
    let args = member_args(
        "m2",
        CLUSTER[2],
        &members[2].data_dir,
        &["--discovery", &url],
    );
    let (started, log) = refused_start(&our_binary(), &args);
    assert!(!started, "{log}");
    assert!(
        log.contains("failed to join discovery cluster (discovery: found duplicate id): member \"m2\" has previously registered"),
        "{log}"
    );

    // A token without a size: the service's refusal, in etcd 3.4's words.
    let missing = format!("http://{SERVICE}:2379/v2/keys/discovery/nosize");
    let mut errors = Vec::new();
    for program in [Path::new(DEBIAN_ETCD), &our_binary()] {
        let data_dir = dir.join("nosize");
        let args = member_args("m3", LATECOMER, &data_dir, &["--discovery", &missing]);
        let (started, log) = refused_start(program, &args);
        assert!(!started, "{log}");
        errors.push(join_error(&log));
        let _ = std::fs::remove_dir_all(&data_dir);
    }
    assert_eq!(errors[1], errors[0]);
    assert!(
        errors[0].contains("100: Key not found (/discovery/nosize)"),
        "{}",
        errors[0]
    );
}

const PROXY_ADDRESS: &str = "127.0.0.128:3128";

/// An HTTP forward proxy on 127.0.0.128:3128 until dropped: takes absolute-form requests,
/// relays each connection to the URL's host and records the request lines it saw.
struct HttpProxy {
    requests: Arc<std::sync::Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
}

impl HttpProxy {
    fn start() -> HttpProxy {
        let listener = TcpListener::bind(PROXY_ADDRESS).unwrap();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, stopped) = (requests.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let seen = seen.clone();
                        std::thread::spawn(move || relay(client, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        HttpProxy { requests, stop }
    }

    fn take_requests(&self) -> Vec<String> {
        std::mem::take(&mut self.requests.lock().unwrap())
    }
}

impl Drop for HttpProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One proxied connection: the request line's absolute URL becomes a path on a connection to
/// its host; then bytes flow both ways until either side closes.
fn relay(client: TcpStream, seen: &std::sync::Mutex<Vec<String>>) {
    client.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    seen.lock().unwrap().push(line.trim_end().to_string());
    let mut parts = line.splitn(3, ' ');
    let (method, target, version) = (
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
        parts.next().unwrap_or(""),
    );
    let Some(rest) = target.strip_prefix("http://") else {
        return;
    };
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let Ok(mut upstream) = TcpStream::connect(host) else {
        return;
    };
    let head = format!(
        "{method} {} {version}",
        if path.is_empty() { "/" } else { path }
    );
    if upstream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let mut answer = upstream.try_clone().unwrap();
    let mut back = client;
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut answer, &mut back);
        let _ = back.shutdown(std::net::Shutdown::Both);
    });
    let _ = std::io::copy(&mut reader, &mut upstream);
    let _ = upstream.shutdown(std::net::Shutdown::Write);
}

/// A DNS server for the test's zone, on 127.0.0.127:53 until dropped: answers SRV and A
/// questions from it and says NXDOMAIN to everything else.
struct DnsStandIn {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

const DNS_ADDRESS: &str = "127.0.0.127:53";

/// What the stand-in knows: SRV names with their targets, and hosts with their addresses.
struct Zone {
    srv: Vec<(&'static str, Vec<(String, u16)>)>,
    hosts: Vec<(String, [u8; 4])>,
}

impl DnsStandIn {
    fn start(zone: Zone) -> DnsStandIn {
        let socket = UdpSocket::bind(DNS_ADDRESS).expect("binding port 53 (tests run as root)");
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            while !stopped.load(Ordering::Relaxed) {
                if let Ok((n, from)) = socket.recv_from(&mut buffer) {
                    if let Some(answer) = dns_answer(&buffer[..n], &zone) {
                        let _ = socket.send_to(&answer, from);
                    }
                }
            }
        });
        DnsStandIn {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for DnsStandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The question's name (uncompressed, as queries are) and where the question ends.
fn question_name(query: &[u8]) -> Option<(String, usize)> {
    let mut at = 12;
    let mut name = String::new();
    loop {
        let length = *query.get(at)? as usize;
        at += 1;
        if length == 0 {
            return Some((name, at + 4));
        }
        name.push_str(std::str::from_utf8(query.get(at..at + length)?).ok()?);
        name.push('.');
        at += length;
    }
}

fn dns_answer(query: &[u8], zone: &Zone) -> Option<Vec<u8>> {
    let (name, end) = question_name(query)?;
    let kind = u16::from_be_bytes([query[end - 4], query[end - 3]]);
    let mut answer = query[..end].to_vec();
    answer[8..12].fill(0);
    let host = zone
        .hosts
        .iter()
        .find(|(host, _)| name.eq_ignore_ascii_case(&format!("{host}.")));
    let targets = zone
        .srv
        .iter()
        .find(|(srv, _)| name.eq_ignore_ascii_case(srv))
        .map(|(_, targets)| targets);
    let mut records: Vec<(u16, Vec<u8>)> = Vec::new();
    match (kind, host, targets) {
        (1, Some((_, ip)), _) => records.push((1, ip.to_vec())),
        (33, _, Some(targets)) => {
            for (host, port) in targets {
                let mut data = vec![0, 10, 0, 10];
                data.extend_from_slice(&port.to_be_bytes());
                for label in host.split('.') {
                    data.push(label.len() as u8);
                    data.extend_from_slice(label.as_bytes());
                }
                data.push(0);
                records.push((33, data));
            }
        }
        // A host without records of this type (AAAA): no data, but the name exists.
        (_, Some(_), _) => {}
        _ => {
            answer[2..4].copy_from_slice(&(0x8180u16 | 3).to_be_bytes());
            answer[6..8].fill(0);
            return Some(answer);
        }
    }
    answer[2..4].copy_from_slice(&0x8180u16.to_be_bytes());
    answer[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
    for (kind, data) in records {
        answer.extend_from_slice(&[0xC0, 12]);
        answer.extend_from_slice(&kind.to_be_bytes());
        answer.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
        answer.extend_from_slice(&(data.len() as u16).to_be_bytes());
        answer.extend_from_slice(&data);
    }
    Some(answer)
}

/// `program` in a mount namespace whose /etc/resolv.conf names the DNS stand-in and whose
/// /etc/hosts names the SRV targets: the command line that runs it.
fn in_namespace(
    dir: &Path,
    program: &Path,
    args: Vec<String>,
) -> (std::path::PathBuf, Vec<String>) {
    let resolv = dir.join("resolv.conf");
    let hosts = dir.join("hosts");
    let script = format!(
        "mount --bind {} /etc/resolv.conf && mount --bind {} /etc/hosts && exec \"$0\" \"$@\"",
        resolv.display(),
        hosts.display()
    );
    let mut wrapped = vec![
        "--mount".to_string(),
        "sh".into(),
        "-c".into(),
        script,
        program.display().to_string(),
    ];
    wrapped.extend(args);
    ("unshare".into(), wrapped)
}

#[test]
fn discovery_srv_bootstraps_from_dns_records() {
    let dir = common::temp_dir("discovery-srv");
    let ips = ["127.0.0.145", "127.0.0.146", "127.0.0.147"];
    std::fs::write(
        dir.join("resolv.conf"),
        "nameserver 127.0.0.127\noptions timeout:1\n",
    )
    .unwrap();
    let hosts: String = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| format!("{ip} m{i}.srv.test\n"))
        .collect();
    std::fs::write(dir.join("hosts"), format!("127.0.0.1 localhost\n{hosts}")).unwrap();
    let targets = |port: u16| (0..3).map(|i| (format!("m{i}.srv.test"), port)).collect();
    // SRV targets carry their trailing dot to clients, which /etc/hosts does not match (glibc):
    // the hosts have A records too.
    let _dns = DnsStandIn::start(Zone {
        srv: vec![
            ("_etcd-server._tcp.srv.test.", targets(2380)),
            ("_etcd-client._tcp.srv.test.", targets(2379)),
        ],
        hosts: (0..3)
            .map(|i| (format!("m{i}.srv.test"), [127, 0, 0, 145 + i as u8]))
            .collect(),
    });

    let mut members: Vec<Member> = ips
        .iter()
        .enumerate()
        .map(|(i, ip)| {
            let data_dir = dir.join(format!("m{i}"));
            let args = member_args(
                &format!("m{i}"),
                ip,
                &data_dir,
                &["--discovery-srv", "srv.test"],
            );
            let (program, args) = in_namespace(&dir, &our_binary(), args);
            Member::spawn(&program, args, &format!("http://{ip}:2379"), &data_dir)
        })
        .collect();
    for member in &mut members {
        member.wait_healthy();
    }
    // Every member knows the others by the records' names; each has published its own name.
    common::wait_until(
        "every member published its name",
        Duration::from_secs(10),
        || {
            let list = etcdctl(&members[1].client_url, &[], &["member", "list"], None);
            let text = String::from_utf8_lossy(&list.stdout).into_owned();
            (0..3).all(|i| {
                text.contains(&format!(
                    "m{i}, http://m{i}.srv.test:2380, http://{}:2379",
                    ips[i]
                ))
            })
        },
    );
    let put = etcdctl(&members[0].client_url, &[], &["put", "srv", "ok"], None);
    assert!(put.status.success(), "{put:?}");
    let get = etcdctl(
        &members[2].client_url,
        &[],
        &["get", "srv", "--print-value-only"],
        None,
    );
    assert_eq!(String::from_utf8_lossy(&get.stdout), "ok\n");

    // etcdctl --discovery-srv (v3, and v2's cluster-health) finds the client URLs in
    // `_etcd-client` records: Debian's and ours print the same, found or not.
    for (api, args) in [
        ("3", "--discovery-srv srv.test get srv"),
        ("3", "--discovery-srv nothing.test get srv"),
        (
            "2",
            "--discovery-srv srv.test --insecure-discovery cluster-health",
        ),
    ] {
        let outputs: Vec<_> = [Path::new(common::DEBIAN_ETCDCTL), &our_binary()]
            .into_iter()
            .map(|program| {
                let mut line: Vec<String> = match program == our_binary() {
                    true => vec!["ctl".into()],
                    false => Vec::new(),
                };
                line.extend(args.split(' ').map(String::from));
                let (wrapper, line) = in_namespace(&dir, program, line);
                let out = common::run(
                    wrapper.to_str().unwrap(),
                    &line,
                    &[("ETCDCTL_API", api)],
                    None,
                );
                (
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout).into_owned(),
                    String::from_utf8_lossy(&out.stderr).into_owned(),
                )
            })
            .collect();
        assert_eq!(
            outputs[1], outputs[0],
            "ETCDCTL_API={api} {args}: ours, then etcdctl's"
        );
        let (_, stdout, stderr) = &outputs[0];
        match args.split(' ').nth(1) {
            Some("nothing.test") => assert!(
                stderr.starts_with("Error: dns lookup errors: lookup _etcd-client-ssl._tcp.nothing.test on 127.0.0.127:53: no such host and "),
                "{stderr}"
            ),
            _ if api == "3" => assert_eq!(stdout, "srv\nok\n"),
            _ => assert!(stdout.ends_with("cluster is healthy\n"), "{stdout}"),
        }
    }

    // A domain without records, and records that do not name this member: clear refusals.
    let latecomer = dir.join("latecomer");
    for (domain, expected) in [
        (
            "nothing.test",
            "error querying DNS SRV records for _etcd-server-ssl lookup _etcd-server-ssl._tcp.nothing.test on 127.0.0.127:53: no such host",
        ),
        ("srv.test", "cannot find local etcd member \"m3\" in SRV records"),
    ] {
        let args = member_args("m3", LATECOMER, &latecomer, &["--discovery-srv", domain]);
        let (program, args) = in_namespace(&dir, &our_binary(), args);
        let (started, log) = refused_start(Path::new(&program), &args);
        assert!(!started, "{log}");
        assert!(log.contains(expected), "expected {expected:?} in:\n{log}");
        assert!(!latecomer.exists());
    }
}

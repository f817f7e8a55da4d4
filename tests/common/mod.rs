//! Shared test harness: real processes on loopback addresses, real clients.
//!
//! Every test picks its own 127.0.0.x address (and ports) so tests can run in parallel without
//! colliding, and waits on conditions (a port answering /health) rather than sleeping.

pub mod certs;
pub mod seed;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a member may take to become healthy before a test fails.
const START_TIMEOUT: Duration = Duration::from_secs(20);

pub fn our_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_etcd"))
}

/// Debian's etcd 3.4 (package etcd-server), the reference implementation.
pub const DEBIAN_ETCD: &str = "/usr/bin/etcd";
/// Debian's etcdctl 3.4 (package etcd-client).
pub const DEBIAN_ETCDCTL: &str = "/usr/bin/etcdctl";

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("etcd-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One server process (ours or Debian's) that is killed when dropped.
pub struct Member {
    pub child: Option<Child>,
    pub client_url: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    program: PathBuf,
    args: Vec<String>,
}

/// Flags for a one-member cluster named `name` on `ip` with the given ports.
pub fn single_member_args(
    name: &str,
    ip: &str,
    client_port: u16,
    peer_port: u16,
    data_dir: &Path,
    scheme: &str,
) -> Vec<String> {
    let client = format!("{scheme}://{ip}:{client_port}");
    let peer = format!("http://{ip}:{peer_port}");
    vec![
        "--name".into(),
        name.into(),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen-client-urls".into(),
        client.clone(),
        "--advertise-client-urls".into(),
        client,
        "--listen-peer-urls".into(),
        peer.clone(),
        "--initial-advertise-peer-urls".into(),
        peer.clone(),
        "--initial-cluster".into(),
        format!("{name}={peer}"),
    ]
}

/// `program` (ours or Debian's etcd) as a one-member cluster named "default" on `ip` (ports
/// 2379/2380), with `extra` flags; returns once it is healthy.
pub fn start_member(program: &Path, ip: &str, dir: &Path, extra: &[&str]) -> Member {
    let mut args = single_member_args("default", ip, 2379, 2380, dir, "http");
    args.extend(extra.iter().map(|s| s.to_string()));
    Member::start(program, args, &format!("http://{ip}:2379"), dir)
}

/// Fails with every entry of `ours` that differs from the reference's (transcripts of the same
/// steps, already masked).
pub fn assert_same_transcripts(reference: &[String], ours: &[String], what: &str) {
    assert_eq!(reference.len(), ours.len(), "transcript lengths");
    let differences: Vec<String> = reference
        .iter()
        .zip(ours)
        .filter(|(want, got)| want != got)
        .map(|(want, got)| format!("--- {what} ---\n{got}\n--- etcd 3.4 ---\n{want}"))
        .collect();
    assert!(
        differences.is_empty(),
        "{} of {} steps differ:\n{}",
        differences.len(),
        reference.len(),
        differences.join("\n")
    );
}

impl Member {
    pub fn start(program: &Path, args: Vec<String>, client_url: &str, data_dir: &Path) -> Member {
        let mut member = Member::spawn(program, args, client_url, data_dir);
        member.wait_healthy();
        member
    }

    /// Starts the process without waiting for it (a cluster member is healthy only once a
    /// quorum runs).
    pub fn spawn(program: &Path, args: Vec<String>, client_url: &str, data_dir: &Path) -> Member {
        let log = data_dir.with_extension("log");
        let mut member = Member {
            child: None,
            client_url: client_url.to_string(),
            data_dir: data_dir.to_path_buf(),
            log,
            program: program.to_path_buf(),
            args,
        };
        member.launch();
        member
    }

    /// Starts the process again with the same flags (after kill) and waits for it to be healthy.
    pub fn restart(&mut self) {
        self.launch();
        self.wait_healthy();
    }

    /// Starts the process again with the same flags (after kill), without waiting.
    pub fn launch(&mut self) {
        if let Some(parent) = self.log.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        self.child = Some(child);
    }

    /// Flags for the next launch.
    pub fn add_args(&mut self, extra: &[&str]) {
        self.args.extend(extra.iter().map(|s| s.to_string()));
    }

    pub fn remove_args(&mut self, gone: &[&str]) {
        self.args.retain(|a| !gone.contains(&a.as_str()));
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("member is running").id()
    }

    /// SIGSTOP / SIGCONT: the process freezes with its sockets open, like a stalled VM.
    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    pub fn wait_healthy(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let address = self.client_url.split("://").nth(1).unwrap().to_string();
        let is_tls = self.client_url.starts_with("https");
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!(
                    "{} exited with {status} before becoming healthy:\n{}",
                    self.program.display(),
                    self.log_text()
                );
            }
            let healthy = if is_tls {
                TcpStream::connect(&address).is_ok()
            } else {
                http_get(&address, "/health").is_some_and(|b| b.contains("\"health\":\"true\""))
            };
            if healthy {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not healthy in {START_TIMEOUT:?}:\n{}",
                self.client_url,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, as systemd stops a unit; waits for the process to exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            send_signal(child.id(), "TERM");
            let _ = child.wait();
        }
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([format!("-{signal}"), pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A plain HTTP/1.1 GET; the body, or None if the server did not answer.
pub fn http_get(address: &str, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(address).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response
        .split_once("\r\n\r\n")
        .map(|(_, body)| body.to_string())
}

/// POSTs `body` to the JSON gateway's /v3/`path` on `member` (curl); the answer's body.
pub fn post_gateway(member: &Member, path: &str, body: &str) -> String {
    post_gateway_with_token(member, path, body, None)
}

/// POST to the gateway with an `Authorization` header holding an auth token.
pub fn post_gateway_with_token(
    member: &Member,
    path: &str,
    body: &str,
    token: Option<&str>,
) -> String {
    // The body goes through stdin: it may be larger than an argument may be.
    let mut curl = Command::new("curl");
    curl.args(["-s", "--max-time", "5", "-X", "POST", "--data-binary", "@-"]);
    if let Some(token) = token {
        curl.args(["-H", &format!("Authorization: {token}")]);
    }
    let mut child = curl
        .arg(format!("{}/v3/{path}", member.client_url))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs");
    let mut stdin = child.stdin.take().expect("piped");
    let body = body.to_string();
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        // The server may answer and close before reading it all.
        let _ = stdin.write_all(body.as_bytes());
    });
    let output = child.wait_with_output().expect("curl runs");
    let _ = writer.join();
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// `curl -X METHOD [options] [-d body] url` (options are curl's own: headers, -u, TLS files):
/// the HTTP status and the body.
pub fn curl(url: &str, method: &str, options: &[&str], body: &str) -> (u16, String) {
    let mut args: Vec<String> = [
        "-s",
        "--max-time",
        "10",
        "-w",
        "\n%{http_code}",
        "-X",
        method,
    ]
    .iter()
    .chain(options)
    .map(|a| a.to_string())
    .collect();
    if !body.is_empty() {
        args.extend(["-d".into(), body.into()]);
    }
    args.push(url.into());
    let out = run("curl", &args, &[], None);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').expect("curl printed the status");
    (status.parse().unwrap_or(0), body.to_string())
}

/// Runs a program with optional stdin, returning its output (never hangs: etcdctl has its own
/// dial and command timeouts).
pub fn run(program: &str, args: &[String], envs: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .envs(envs.iter().copied())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {program}: {e}"));
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// `text` with every (regex, replacement) rule applied in turn: what differs between two
/// correct runs replaced by placeholders before transcripts are compared.
pub fn masked(text: &str, rules: &[(&str, &str)]) -> String {
    let mut text = text.to_string();
    for (pattern, replacement) in rules {
        text = regex::Regex::new(pattern)
            .unwrap()
            .replace_all(&text, *replacement)
            .into_owned();
    }
    text
}

/// Polls `condition` every 50 ms until it holds; fails the test with `what` after `timeout`.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Debian's etcdctl (API v3) against `endpoint`.
pub fn etcdctl(endpoint: &str, tls: &[String], args: &[&str], stdin: Option<&str>) -> Output {
    etcdctl_program(&[DEBIAN_ETCDCTL], endpoint, tls, args, stdin)
}

/// Our etcdctl applet, invoked as `etcd ctl ...`, with the same arguments as [`etcdctl`].
pub fn our_etcdctl(endpoint: &str, tls: &[String], args: &[&str], stdin: Option<&str>) -> Output {
    let binary = our_binary().display().to_string();
    etcdctl_program(&[&binary, "ctl"], endpoint, tls, args, stdin)
}

fn etcdctl_program(
    program: &[&str],
    endpoint: &str,
    tls: &[String],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    let mut all: Vec<String> = program[1..].iter().map(|s| s.to_string()).collect();
    all.extend([
        "--endpoints".to_string(),
        endpoint.to_string(),
        "--dial-timeout=3s".into(),
        "--command-timeout=5s".into(),
    ]);
    all.extend(tls.iter().cloned());
    all.extend(args.iter().map(|s| s.to_string()));
    run(program[0], &all, &[("ETCDCTL_API", "3")], stdin)
}

/// Our binary as a cluster of plain-HTTP members on `ips` (ports 2379/2380), members named
/// m0, m1, ...; returns once every member is healthy.
pub fn start_plain_cluster(ips: &[&str], dir: &Path) -> Vec<Member> {
    start_cluster(&our_binary(), ips, dir, &[])
}

/// Member `i` of the cluster [`start_cluster`] starts, spawned without waiting for it.
pub fn spawn_cluster_member(
    program: &Path,
    ips: &[&str],
    i: usize,
    dir: &Path,
    extra: &[&str],
) -> Member {
    let data_dir = dir.join(format!("m{i}"));
    let client = format!("http://{}:2379", ips[i]);
    let peer = format!("http://{}:2380", ips[i]);
    let mut args: Vec<String> = vec![
        "--name".into(),
        format!("m{i}"),
        "--data-dir".into(),
        data_dir.display().to_string(),
        "--listen-client-urls".into(),
        client.clone(),
        "--advertise-client-urls".into(),
        client.clone(),
        "--listen-peer-urls".into(),
        peer.clone(),
        "--initial-advertise-peer-urls".into(),
        peer,
        "--initial-cluster".into(),
        initial_cluster(ips),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    Member::spawn(program, args, &client, &data_dir)
}

/// `--initial-cluster` for members m0, m1, ... on `ips` (peer port 2380), as
/// [`start_cluster`] names them.
pub fn initial_cluster(ips: &[&str]) -> String {
    ips.iter()
        .enumerate()
        .map(|(i, ip)| format!("m{i}=http://{ip}:2380"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Grants a lease of an hour and puts `count` keys `leased/<i>` with it; the lease's ID (hex).
pub fn leased_keys(endpoint: &str, count: usize) -> String {
    let grant = etcdctl(endpoint, &[], &["lease", "grant", "3600"], None);
    let lease = String::from_utf8_lossy(&grant.stdout)
        .split_whitespace()
        .nth(1)
        .expect("a lease ID")
        .to_string();
    for i in 0..count {
        let key = format!("leased/{i}");
        let put = etcdctl(endpoint, &[], &["put", &key, "x", "--lease", &lease], None);
        assert!(put.status.success(), "{put:?}");
    }
    lease
}

/// The store's revision in the header of a read from `endpoint` (Debian's etcdctl).
pub fn revision(endpoint: &str) -> i64 {
    let out = etcdctl(endpoint, &[], &["get", "nothing", "-w", "json"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    let at = text
        .find("\"revision\":")
        .expect("a header with a revision")
        + 11;
    let digits: String = text[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().expect("a revision")
}

/// `program` (ours or Debian's etcd) as a cluster as [`start_plain_cluster`] describes, each
/// member also given `extra` flags.
pub fn start_cluster(program: &Path, ips: &[&str], dir: &Path, extra: &[&str]) -> Vec<Member> {
    let mut members: Vec<Member> = (0..ips.len())
        .map(|i| spawn_cluster_member(program, ips, i, dir, extra))
        .collect();
    for member in &mut members {
        member.wait_healthy();
    }
    members
}

/// A small tmpfs mounted for one test, unmounted when dropped (None when this process may not
/// mount, i.e. is not root).
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    pub fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(dir).unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .ok()?;
        status.success().then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Fills the file system holding `path` with one file, to the last byte it takes.
pub fn fill(path: &Path) {
    let mut file = std::fs::File::create(path).unwrap();
    let block = vec![0u8; 1 << 20];
    while file.write_all(&block).is_ok() {}
    let mut byte = [0u8; 1];
    while file.write_all(&byte).is_ok() {
        byte[0] = 1;
    }
}

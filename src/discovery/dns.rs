//! DNS SRV lookups for --discovery-srv, as Go's resolver makes them: the name servers of
//! /etc/resolv.conf (127.0.0.1 and ::1 when it lists none), each asked in turn over UDP, over
//! TCP when the UDP answer is truncated, `options timeout:` and `attempts:` honoured. Only SRV
//! records are asked for here; their targets are resolved by the system resolver.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

const RESOLV_CONF: &str = "/etc/resolv.conf";
const DNS_PORT: u16 = 53;
/// resolv.conf's limit (MAXNS): later nameserver lines are ignored.
const MAX_NAME_SERVERS: usize = 3;
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const DEFAULT_ATTEMPTS: u32 = 2;
/// The largest UDP answer read (we send no EDNS option, so servers answer in 512 bytes).
const MAX_UDP_ANSWER_BYTES: usize = 4096;
/// Compression pointers followed in one name before the answer is called malformed.
const MAX_POINTER_HOPS: usize = 32;
/// A name's limit in RFC 1035.
const MAX_NAME_BYTES: usize = 255;

const TYPE_SRV: u16 = 33;
const CLASS_IN: u16 = 1;
const FLAG_ANSWER: u16 = 0x8000;
const FLAG_TRUNCATED: u16 = 0x0200;
const FLAG_RECURSION_DESIRED: u16 = 0x0100;
const RCODE_NAME_ERROR: u16 = 3;

/// One SRV record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// The target host, with the trailing dot DNS names carry.
    pub target: String,
}

/// What resolv.conf says about asking name servers.
#[derive(Debug, PartialEq)]
struct ResolvConf {
    servers: Vec<SocketAddr>,
    timeout: Duration,
    attempts: u32,
}

fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut conf = ResolvConf {
        servers: Vec::new(),
        timeout: DEFAULT_TIMEOUT,
        attempts: DEFAULT_ATTEMPTS,
    };
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                if let Some(ip) = words.next().and_then(|w| w.parse::<IpAddr>().ok()) {
                    if conf.servers.len() < MAX_NAME_SERVERS {
                        conf.servers.push(SocketAddr::new(ip, DNS_PORT));
                    }
                }
            }
            Some("options") => {
                for option in words {
                    if let Some(n) = option.strip_prefix("timeout:").and_then(|n| n.parse().ok()) {
                        conf.timeout = Duration::from_secs(u64::max(n, 1));
                    }
                    if let Some(n) = option
                        .strip_prefix("attempts:")
                        .and_then(|n| n.parse().ok())
                    {
                        conf.attempts = u32::max(n, 1);
                    }
                }
            }
            _ => {}
        }
    }
    if conf.servers.is_empty() {
        conf.servers = vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DNS_PORT),
            SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), DNS_PORT),
        ];
    }
    conf
}

/// The SRV records of `_service._proto.domain`, lowest priority first (then heaviest first).
/// Errors read as Go's: "lookup NAME on SERVER: no such host".
pub fn lookup_srv(service: &str, proto: &str, domain: &str) -> Result<Vec<Srv>, String> {
    let name = format!("_{service}._{proto}.{}", domain.trim_end_matches('.'));
    let conf = parse_resolv_conf(&std::fs::read_to_string(RESOLV_CONF).unwrap_or_default());
    let query = encode_query(&name, query_id())?;
    let mut last_error = String::new();
    for _ in 0..conf.attempts {
        for server in &conf.servers {
            let failed = |why: &str| format!("lookup {name} on {server}: {why}");
            let answer = match ask(server, &query, conf.timeout) {
                Ok(answer) => answer,
                Err(e) => {
                    last_error = failed(&e);
                    continue;
                }
            };
            match parse_answer(&answer, &query) {
                Ok(Some(records)) => return Ok(records),
                Ok(None) => return Err(failed("no such host")),
                Err(e) => last_error = failed(&e),
            }
        }
    }
    Err(last_error)
}

/// A query ID nobody can predict from outside (answers carrying another are dropped).
fn query_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    hasher.finish() as u16
}

/// One exchange with `server`: UDP, then TCP if the UDP answer was truncated.
fn ask(server: &SocketAddr, query: &[u8], timeout: Duration) -> Result<Vec<u8>, String> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => "i/o timeout".to_string(),
        _ => crate::http1::os_error(&e),
    };
    let socket = UdpSocket::bind(local).map_err(io)?;
    socket.connect(server).map_err(io)?;
    socket.send(query).map_err(io)?;
    let mut buffer = vec![0u8; MAX_UDP_ANSWER_BYTES];
    // One deadline for the exchange, however many stray datagrams arrive before the answer.
    let deadline = std::time::Instant::now() + timeout;
    let answer = loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err("i/o timeout".into());
        }
        socket.set_read_timeout(Some(left)).map_err(io)?;
        let n = socket.recv(&mut buffer).map_err(io)?;
        // An answer to another query (or garbage) is not ours: keep waiting for ours.
        if n >= 2 && buffer[..2] == query[..2] {
            break buffer[..n].to_vec();
        }
    };
    if u16::from_be_bytes([answer[2], answer[3]]) & FLAG_TRUNCATED == 0 {
        return Ok(answer);
    }
    let mut tcp = TcpStream::connect_timeout(server, timeout).map_err(io)?;
    tcp.set_read_timeout(Some(timeout)).map_err(io)?;
    let mut framed = (query.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    tcp.write_all(&framed).map_err(io)?;
    let mut length = [0u8; 2];
    tcp.read_exact(&mut length).map_err(io)?;
    let mut answer = vec![0u8; u16::from_be_bytes(length) as usize];
    tcp.read_exact(&mut answer).map_err(io)?;
    Ok(answer)
}

fn encode_query(name: &str, id: u16) -> Result<Vec<u8>, String> {
    let mut query = Vec::with_capacity(name.len() + 18);
    query.extend_from_slice(&id.to_be_bytes());
    query.extend_from_slice(&FLAG_RECURSION_DESIRED.to_be_bytes());
    query.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // one question, no records
    if name.len() + 2 > MAX_NAME_BYTES {
        return Err(format!("lookup {name}: the name is longer than DNS allows"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("lookup {name}: no such host"));
        }
        query.push(label.len() as u8);
        query.extend_from_slice(label.as_bytes());
    }
    query.push(0);
    query.extend_from_slice(&TYPE_SRV.to_be_bytes());
    query.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(query)
}

/// Reads 16 bits at `at`.
fn u16_at(message: &[u8], at: usize) -> Result<u16, String> {
    message
        .get(at..at + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "cannot unmarshal DNS message".to_string())
}

/// The (possibly compressed) name at `at`, and where the bytes after it start.
fn read_name(message: &[u8], mut at: usize) -> Result<(String, usize), String> {
    let malformed = || "cannot unmarshal DNS message".to_string();
    let mut name = String::new();
    let mut end = None;
    for _ in 0..MAX_POINTER_HOPS {
        loop {
            let length = *message.get(at).ok_or_else(malformed)? as usize;
            if length == 0 {
                if name.is_empty() {
                    name.push('.');
                }
                return Ok((name, end.unwrap_or(at + 1)));
            }
            if length & 0xC0 == 0xC0 {
                let pointer = u16_at(message, at)? as usize & 0x3FFF;
                end.get_or_insert(at + 2);
                at = pointer;
                break;
            }
            if length > 63 {
                return Err(malformed());
            }
            let label = message.get(at + 1..at + 1 + length).ok_or_else(malformed)?;
            name.push_str(&String::from_utf8_lossy(label));
            name.push('.');
            if name.len() > MAX_NAME_BYTES {
                return Err(malformed());
            }
            at += 1 + length;
        }
    }
    Err(malformed())
}

/// The SRV records of an answer to `query`, lowest priority first (then heaviest first); None
/// when the name does not exist or has none.
fn parse_answer(message: &[u8], query: &[u8]) -> Result<Option<Vec<Srv>>, String> {
    let flags = u16_at(message, 2)?;
    if message[..2] != query[..2] || flags & FLAG_ANSWER == 0 {
        return Err("cannot unmarshal DNS message".into());
    }
    match flags & 0x000F {
        0 => {}
        RCODE_NAME_ERROR => return Ok(None),
        _ => return Err("server misbehaving".into()),
    }
    let questions = u16_at(message, 4)?;
    let answers = u16_at(message, 6)?;
    let mut at = 12;
    for _ in 0..questions {
        at = read_name(message, at)?.1 + 4;
    }
    let mut records = Vec::new();
    for _ in 0..answers {
        at = read_name(message, at)?.1;
        let kind = u16_at(message, at)?;
        let class = u16_at(message, at + 2)?;
        let length = u16_at(message, at + 8)? as usize;
        let data = at + 10;
        if message.len() < data + length {
            return Err("cannot unmarshal DNS message".into());
        }
        if kind == TYPE_SRV && class == CLASS_IN {
            records.push(Srv {
                priority: u16_at(message, data)?,
                weight: u16_at(message, data + 2)?,
                port: u16_at(message, data + 4)?,
                target: read_name(message, data + 6)?.0,
            });
        }
        at = data + length;
    }
    records.sort_by_key(|r| (r.priority, u16::MAX - r.weight));
    Ok((!records.is_empty()).then_some(records))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer to `query` carrying `records` (targets compressed against the question).
    fn answer(query: &[u8], rcode: u16, records: &[(u16, u16, u16, &str)]) -> Vec<u8> {
        let mut message = query.to_vec();
        message[2..4].copy_from_slice(&(FLAG_ANSWER | rcode).to_be_bytes());
        message[6..8].copy_from_slice(&(records.len() as u16).to_be_bytes());
        for (priority, weight, port, target) in records {
            message.extend_from_slice(&[0xC0, 12]); // the question's name
            message.extend_from_slice(&TYPE_SRV.to_be_bytes());
            message.extend_from_slice(&CLASS_IN.to_be_bytes());
            message.extend_from_slice(&[0, 0, 0, 60]);
            let mut data = Vec::new();
            for n in [priority, weight, port] {
                data.extend_from_slice(&n.to_be_bytes());
            }
            for label in target.split('.').filter(|l| !l.is_empty()) {
                data.push(label.len() as u8);
                data.extend_from_slice(label.as_bytes());
            }
            data.push(0);
            message.extend_from_slice(&(data.len() as u16).to_be_bytes());
            message.extend_from_slice(&data);
        }
        message
    }

    #[test]
    fn resolv_conf_servers_and_options() {
        let conf = parse_resolv_conf(
            "# comment\nsearch example.com\nnameserver 127.0.0.53\nnameserver ::1\nnameserver bogus\noptions ndots:2 timeout:1 attempts:4\n",
        );
        assert_eq!(
            conf.servers,
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(conf.timeout, Duration::from_secs(1));
        assert_eq!(conf.attempts, 4);
        let empty = parse_resolv_conf("");
        assert_eq!(empty.servers.len(), 2, "Go's defaults: 127.0.0.1 and ::1");
        assert_eq!(empty.timeout, DEFAULT_TIMEOUT);
    }

    #[test]
    fn answers_parse_and_sort() {
        let query = encode_query("_etcd-server._tcp.example.com", 7).unwrap();
        let message = answer(
            &query,
            0,
            &[
                (10, 0, 2380, "b.example.com"),
                (0, 5, 2381, "a.example.com"),
            ],
        );
        let records = parse_answer(&message, &query).unwrap().unwrap();
        assert_eq!(records[1].target, "b.example.com.");
        assert_eq!(records[0].port, 2381);
        assert_eq!(
            parse_answer(&answer(&query, RCODE_NAME_ERROR, &[]), &query).unwrap(),
            None
        );
        assert_eq!(parse_answer(&answer(&query, 0, &[]), &query).unwrap(), None);
        assert_eq!(
            parse_answer(&answer(&query, 2, &[]), &query).unwrap_err(),
            "server misbehaving"
        );
    }

    #[test]
    fn malformed_answers_are_errors() {
        let query = encode_query("_etcd-server._tcp.example.com", 7).unwrap();
        let good = answer(&query, 0, &[(0, 0, 2380, "a.example.com")]);
        // Every truncation of a good answer is an error or a shorter answer, never a panic.
        for end in 0..good.len() {
            let _ = parse_answer(&good[..end], &query);
        }
        // A pointer to itself loops: refused after MAX_POINTER_HOPS.
        assert!(read_name(&[0xC0, 0], 0).is_err());
        // Label lengths over 63 are reserved bits, not lengths.
        assert!(read_name(&[0x40, b'a', 0], 0).is_err());
        // Another query's answer is not ours.
        let other = encode_query("_etcd-server._tcp.example.com", 8).unwrap();
        assert!(parse_answer(&good, &other).is_err());
        assert!(encode_query(&format!("{}.com", "a".repeat(64)), 1).is_err());
    }

    #[test]
    fn stray_datagrams_do_not_extend_the_wait() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = server.local_addr().unwrap();
        let query = encode_query("_etcd-server._tcp.example.com", 7).unwrap();
        let stray = answer(
            &encode_query("_etcd-server._tcp.example.com", 8).unwrap(),
            0,
            &[],
        );
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        // Strays every 10 ms for up to 5 s: a wait that each of them restarted would outlast
        // them all.
        let sender = std::thread::spawn(move || {
            let mut buffer = [0u8; 512];
            let (_, from) = server.recv_from(&mut buffer).unwrap();
            for _ in 0..500 {
                if stopped.load(Ordering::Relaxed) {
                    return false;
                }
                let _ = server.send_to(&stray, from);
                std::thread::sleep(Duration::from_millis(10));
            }
            true
        });
        let result = ask(&address, &query, Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        assert_eq!(result, Err("i/o timeout".to_string()));
        assert!(
            !sender.join().unwrap(),
            "the wait lasted as long as the strays came"
        );
    }
}

//! The fault campaign (issue 13): three members on loopback, clients doing puts, reads and
//! compare-and-set txns on a few keys and two-key txns, watchers on every member, while a
//! nemesis kills (SIGKILL), pauses (SIGSTOP/SIGCONT) and partitions (iptables on the peer
//! port) members, the leader among them. Afterwards:
//! - every key's history must be linearizable (tests/linearizability.rs);
//! - every acknowledged put must be in the event log at its revision with its value;
//! - every watcher, reconnecting wherever it can from the revision after the last it saw,
//!   must have received exactly the event log: in order, each event once, each revision whole.
//!
//! CI runs it for FAULT_CAMPAIGN_SECONDS (default 30); set it higher for a long run.

use crate::common::{our_binary, temp_dir, Member};
use crate::linearizability::{self, Kind, Op};
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, EventType, Txn, TxnOp, WatchOptions,
};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const IPS: [&str; 3] = ["127.0.0.150", "127.0.0.151", "127.0.0.152"];
const KEYS: usize = 16;
const CLIENTS: usize = 6;
/// Operations per client at most (the run also ends by time).
const MAX_OPS_PER_CLIENT: usize = 20_000;
/// A client's request without an answer after this is of unknown outcome.
const OP_TIMEOUT: Duration = Duration::from_secs(2);
/// Pause between one client's operations, so histories stay checkable.
const THINK_TIME: Duration = Duration::from_millis(15);

fn campaign_seconds() -> u64 {
    std::env::var("FAULT_CAMPAIGN_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(30)
}

fn endpoint(i: usize) -> String {
    format!("http://{}:2379", IPS[i])
}

/// A small deterministic generator (xorshift), one per task.
struct Dice(u64);

impl Dice {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// What the clients saw.
#[derive(Default)]
struct Record {
    ops: Vec<Op>,
    /// (key, value, revision) of every put the cluster acknowledged.
    acked: Vec<(String, String, i64)>,
    indeterminate: usize,
}

fn micros(start: Instant) -> u64 {
    start.elapsed().as_micros() as u64
}

async fn connect(endpoints: &[String]) -> Option<Client> {
    let options = ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(1))
        .with_timeout(OP_TIMEOUT);
    Client::connect(endpoints, Some(options)).await.ok()
}

/// What one operation came to, when it answered.
enum Answer {
    /// An operation on one register, and the revision of the write it made (if it wrote).
    Register(Kind, Option<i64>),
    /// The two-key txn (watched, not checked for linearizability).
    Pair,
}

/// One random operation of client `id` on `key`: 4 in 10 puts, 4 in 10 reads, 1 in 10 a
/// compare-and-set from the value just read, 1 in 10 a txn putting two keys at once.
async fn operate(
    c: &mut Client,
    roll: usize,
    key: &str,
    value: &str,
) -> Result<Answer, etcd_client::Error> {
    let revision =
        |header: Option<&etcd_client::ResponseHeader>| header.map_or(0, |h| h.revision());
    match roll {
        0..=3 => {
            let put = c.put(key, value, None).await?;
            Ok(Answer::Register(
                Kind::Write(value.to_string()),
                Some(revision(put.header())),
            ))
        }
        4..=7 => {
            let get = c.get(key, None).await?;
            let seen = get
                .kvs()
                .first()
                .map(|kv| kv.value_str().unwrap().to_string());
            Ok(Answer::Register(Kind::Read(seen), None))
        }
        8 => {
            let get = c.get(key, None).await?;
            let from = get
                .kvs()
                .first()
                .map(|kv| kv.value_str().unwrap().to_string())
                .unwrap_or_default();
            let txn = Txn::new()
                .when([Compare::value(key, CompareOp::Equal, from.clone())])
                .and_then([TxnOp::put(key, value, None)]);
            let answer = c.txn(txn).await?;
            let applied = answer.succeeded();
            let kind = Kind::Cas {
                from,
                to: value.to_string(),
                applied,
            };
            Ok(Answer::Register(
                kind,
                applied.then(|| revision(answer.header())),
            ))
        }
        _ => {
            let txn = Txn::new().and_then([
                TxnOp::put("fc/pair/a", value, None),
                TxnOp::put("fc/pair/b", value, None),
            ]);
            c.txn(txn).await?;
            Ok(Answer::Pair)
        }
    }
}

/// One client: random operations on random keys until `stop`.
async fn client(id: usize, start: Instant, stop: Arc<AtomicBool>, record: Arc<Mutex<Record>>) {
    let endpoints: Vec<String> = (0..3).map(|i| endpoint((i + id) % 3)).collect();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15 ^ ((id as u64 + 1) * 0x1000_0001));
    let mut client = None;
    for n in 0..MAX_OPS_PER_CLIENT {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        tokio::time::sleep(THINK_TIME).await;
        if client.is_none() {
            client = connect(&endpoints).await;
        }
        let Some(c) = client.as_mut() else { continue };
        let key = format!("fc/k{}", dice.below(KEYS));
        let value = format!("c{id}-{n}");
        let roll = dice.below(10);
        let invoked = micros(start);
        let answer = tokio::time::timeout(OP_TIMEOUT, operate(c, roll, &key, &value)).await;
        let returned = micros(start);
        let mut record = record.lock().unwrap();
        match answer {
            Ok(Ok(Answer::Pair)) => {}
            Ok(Ok(Answer::Register(kind, written))) => {
                if let Some(revision) = written {
                    record.acked.push((key.clone(), value, revision));
                }
                record.ops.push(Op {
                    key,
                    invoked,
                    returned: Some(returned),
                    kind,
                });
            }
            // No answer, or an error: a write may have happened or not, at any moment from
            // its invocation on. A compare-and-set whose outcome is unknown is recorded the
            // same way (a looser model: it can only hide a violation, never invent one).
            Ok(Err(_)) | Err(_) => {
                record.indeterminate += 1;
                if roll <= 3 || roll == 8 {
                    record.ops.push(Op {
                        key,
                        invoked,
                        returned: None,
                        kind: Kind::Write(value),
                    });
                }
                client = None;
            }
        }
    }
}

/// One event as a watcher (or the log) delivers it: (revision, key, value or None if deleted).
type Event = (i64, String, Option<String>);

/// One watcher: from revision 1, reconnecting to the next member after any error, from the
/// revision after the last it saw. Returns every response's events, in arrival order.
async fn watcher(first: usize, stop: Arc<AtomicBool>, until: Arc<Mutex<i64>>) -> Vec<Vec<Event>> {
    let mut responses: Vec<Vec<Event>> = Vec::new();
    let mut next = 1;
    let mut member = first;
    loop {
        let done = stop.load(Ordering::Relaxed) && next > *until.lock().unwrap();
        if done {
            return responses;
        }
        let Some(mut client) = connect(&[endpoint(member)]).await else {
            member = (member + 1) % 3;
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let options = WatchOptions::new().with_prefix().with_start_revision(next);
        let Ok((_watcher, mut stream)) = client.watch("fc/", Some(options)).await else {
            member = (member + 1) % 3;
            continue;
        };
        loop {
            let message = tokio::time::timeout(Duration::from_millis(500), stream.message()).await;
            match message {
                Ok(Ok(Some(response))) => {
                    let events: Vec<Event> = response
                        .events()
                        .iter()
                        .map(|e| {
                            let kv = e.kv().unwrap();
                            let value = (e.event_type() == EventType::Put)
                                .then(|| kv.value_str().unwrap().to_string());
                            (kv.mod_revision(), kv.key_str().unwrap().to_string(), value)
                        })
                        .collect();
                    if let Some((revision, _, _)) = events.last() {
                        next = revision + 1;
                    }
                    if !events.is_empty() {
                        responses.push(events);
                    }
                    if response.canceled() {
                        break;
                    }
                }
                // Quiet: check whether the run is over and everything arrived.
                Err(_) if stop.load(Ordering::Relaxed) && next > *until.lock().unwrap() => {
                    return responses;
                }
                Err(_) => {}
                Ok(_) => break,
            }
        }
        member = (member + 1) % 3;
    }
}

/// iptables rules that cut one member's peer traffic off from the others (only where this
/// process may change the firewall).
struct Firewall {
    rules: Vec<Vec<String>>,
}

impl Firewall {
    fn available() -> Result<(), String> {
        let listed = std::process::Command::new("iptables")
            .args(["-w", "-L", "INPUT", "-n"])
            .output()
            .map_err(|e| format!("iptables: {e}"))?;
        if listed.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&listed.stderr).trim().to_string())
        }
    }

    fn isolate(member: usize) -> Firewall {
        let mut rules = Vec::new();
        for other in (0..3).filter(|&o| o != member) {
            for (from, to) in [(member, other), (other, member)] {
                rules.push(
                    [
                        "INPUT", "-p", "tcp", "-s", IPS[from], "-d", IPS[to], "--dport", "2380",
                        "-j", "DROP",
                    ]
                    .iter()
                    .map(|s| s.to_string())
                    .collect(),
                );
            }
        }
        for rule in &rules {
            let status = std::process::Command::new("iptables")
                .args(["-w", "-I"])
                .args(rule)
                .status()
                .unwrap();
            assert!(status.success(), "iptables -I {rule:?}");
        }
        Firewall { rules }
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        for rule in &self.rules {
            let _ = std::process::Command::new("iptables")
                .args(["-w", "-D"])
                .args(rule)
                .status();
        }
    }
}

/// The index of the member that leads, as the first member that answers says.
fn leader(members: &[Member]) -> Option<usize> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        for (i, _) in members.iter().enumerate() {
            let Some(mut client) = connect(&[endpoint(i)]).await else {
                continue;
            };
            let Ok(status) = client.status().await else {
                continue;
            };
            let leader = status.leader();
            for j in 0..3 {
                let Some(mut c) = connect(&[endpoint(j)]).await else {
                    continue;
                };
                if c.status().await.ok()?.header()?.member_id() == leader {
                    return Some(j);
                }
            }
        }
        None
    })
}

#[derive(Default, Debug)]
struct Faults {
    kills: usize,
    pauses: usize,
    partitions: usize,
}

/// Kills, pauses and partitions members until `deadline`, one fault at a time, each healed
/// before the next.
fn nemesis(members: &mut [Member], deadline: Instant, partitions: bool) -> Faults {
    let mut dice = Dice(0x2545_f491_4f6c_dd1d);
    let mut faults = Faults::default();
    while Instant::now() + Duration::from_secs(6) < deadline {
        std::thread::sleep(Duration::from_secs(1));
        let victim = match dice.below(2) {
            0 => leader(members).unwrap_or(0),
            _ => dice.below(3),
        };
        match dice.below(if partitions { 3 } else { 2 }) {
            0 => {
                members[victim].kill();
                std::thread::sleep(Duration::from_secs(2));
                members[victim].restart();
                faults.kills += 1;
            }
            1 => {
                members[victim].signal("STOP");
                std::thread::sleep(Duration::from_secs(3));
                members[victim].signal("CONT");
                faults.pauses += 1;
            }
            _ => {
                let cut = Firewall::isolate(victim);
                std::thread::sleep(Duration::from_secs(4));
                drop(cut);
                faults.partitions += 1;
            }
        }
    }
    faults
}

/// Problems in what one watcher received, compared with the event log.
fn watch_violations(responses: &[Vec<Event>], log: &[Event]) -> Vec<String> {
    let mut problems = Vec::new();
    let received: Vec<&Event> = responses.iter().flatten().collect();
    for pair in received.windows(2) {
        let ((r0, k0, _), (r1, k1, _)) = (pair[0], pair[1]);
        if (r1, k1) <= (r0, k0) {
            problems.push(format!(
                "out of order or repeated: ({r0}, {k0}) then ({r1}, {k1})"
            ));
        }
    }
    // Atomic: a revision's events all in one response.
    let mut home: HashMap<i64, usize> = HashMap::new();
    for (n, response) in responses.iter().enumerate() {
        for (revision, _, _) in response {
            if *home.entry(*revision).or_insert(n) != n {
                problems.push(format!("revision {revision} split across responses"));
            }
        }
    }
    let received: Vec<Event> = received.into_iter().cloned().collect();
    if received != log {
        let first_difference = received
            .iter()
            .zip(log)
            .position(|(a, b)| a != b)
            .unwrap_or(received.len().min(log.len()));
        problems.push(format!(
            "{} events received, {} in the log; first difference at {first_difference}: {:?} vs {:?}",
            received.len(),
            log.len(),
            received.get(first_difference),
            log.get(first_difference)
        ));
    }
    problems
}

#[test]
fn histories_stay_linearizable_and_watches_whole_under_kills_pauses_and_partitions() {
    let seconds = campaign_seconds();
    let dir = temp_dir("fault-campaign");
    let mut members = crate::common::start_cluster(&our_binary(), &IPS, &dir, &[]);
    let partitions = match Firewall::available() {
        Ok(()) => true,
        Err(reason) => {
            eprintln!("fault campaign: partitions skipped: iptables is not usable here ({reason})");
            false
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let record = Arc::new(Mutex::new(Record::default()));
    let final_revision = Arc::new(Mutex::new(i64::MAX));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| runtime.spawn(client(id, start, stop.clone(), record.clone())))
        .collect();
    let watchers: Vec<_> = (0..3)
        .map(|first| runtime.spawn(watcher(first, stop.clone(), final_revision.clone())))
        .collect();

    let faults = nemesis(
        &mut members,
        start + Duration::from_secs(seconds),
        partitions,
    );
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        runtime.block_on(client).unwrap();
    }
    // Every member up and caught up; the last revision is what every watcher must reach.
    for member in &mut members {
        member.wait_healthy();
    }
    let last = runtime.block_on(async {
        let mut client = connect(&[endpoint(0)]).await.unwrap();
        client
            .put("fc/end", "end", None)
            .await
            .unwrap()
            .header()
            .unwrap()
            .revision()
    });
    *final_revision.lock().unwrap() = last;
    let log: Vec<Event> = runtime.block_on(async {
        let mut client = connect(&[endpoint(0)]).await.unwrap();
        let options = WatchOptions::new().with_prefix().with_start_revision(1);
        let (_w, mut stream) = client.watch("fc/", Some(options)).await.unwrap();
        let mut log = Vec::new();
        while log.last().is_none_or(|(r, _, _): &Event| *r < last) {
            let response = stream.message().await.unwrap().unwrap();
            for e in response.events() {
                let kv = e.kv().unwrap();
                let value =
                    (e.event_type() == EventType::Put).then(|| kv.value_str().unwrap().to_string());
                log.push((kv.mod_revision(), kv.key_str().unwrap().to_string(), value));
            }
        }
        log
    });
    let watched: Vec<Vec<Vec<Event>>> = watchers
        .into_iter()
        .map(|w| {
            runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(60), w).await })
                .expect("every watcher catches up")
                .unwrap()
        })
        .collect();

    let record = record.lock().unwrap();
    let by_revision: BTreeMap<i64, Vec<&Event>> =
        log.iter().fold(BTreeMap::new(), |mut map, event| {
            map.entry(event.0).or_default().push(event);
            map
        });
    let lost: Vec<&(String, String, i64)> = record
        .acked
        .iter()
        .filter(|(key, value, revision)| {
            !by_revision.get(revision).is_some_and(|events| {
                events
                    .iter()
                    .any(|(_, k, v)| k == key && v.as_deref() == Some(value.as_str()))
            })
        })
        .collect();
    let mut violations = Vec::new();
    for k in 0..KEYS {
        let key = format!("fc/k{k}");
        let ops: Vec<Op> = record
            .ops
            .iter()
            .filter(|o| o.key == key)
            .cloned()
            .collect();
        if !linearizability::linearizable(&ops) {
            violations.push(key);
        }
    }
    let watch_problems: Vec<String> = watched
        .iter()
        .enumerate()
        .flat_map(|(i, responses)| {
            watch_violations(responses, &log)
                .into_iter()
                .map(move |p| format!("watcher {i}: {p}"))
        })
        .collect();
    let ok = record.ops.iter().filter(|o| o.returned.is_some()).count();
    eprintln!(
        "fault campaign ({seconds} s, {faults:?}): {} ops, {ok} ok, {} indeterminate, {} linearizability violations, {} lost acked writes, {} events in the log, {} watch problems",
        record.ops.len(),
        record.indeterminate,
        violations.len(),
        lost.len(),
        log.len(),
        watch_problems.len()
    );
    assert!(violations.is_empty(), "not linearizable: {violations:?}");
    assert!(lost.is_empty(), "acknowledged writes lost: {lost:?}");
    assert!(watch_problems.is_empty(), "{watch_problems:#?}");
    assert!(
        ok >= 100,
        "too few operations completed ({ok}) for the run to mean anything"
    );
    assert!(
        faults.kills + faults.pauses + faults.partitions >= 2,
        "{faults:?}"
    );
    drop(members);
}

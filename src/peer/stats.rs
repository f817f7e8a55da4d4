//! etcd's v2-era raft statistics (its v2stats package), served at /v2/stats/self and
//! /v2/stats/leader: how many appends (MsgApp) this member sent and received and their recent
//! rates, which leader it follows and since when, and, as leader, how long writing an append
//! to each follower took. The peer streams and the raft loop record; api/http.rs renders.

use crate::golang::{format_duration, json_float, json_string, rfc3339_nano, ZERO_TIME};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// etcd's statsQueue: rates are measured over the last this many appends...
const RATE_SAMPLES: usize = 200;
/// ...and are zero once the newest is older than this.
const RATE_HORIZON: Duration = Duration::from_secs(1);

/// Recent appends: when and how large.
struct Rate {
    samples: VecDeque<(Instant, usize)>,
    bytes: usize,
}

impl Rate {
    const fn new() -> Rate {
        Rate {
            samples: VecDeque::new(),
            bytes: 0,
        }
    }

    fn insert(&mut self, size: usize) {
        if self.samples.len() == RATE_SAMPLES {
            if let Some((_, old)) = self.samples.pop_front() {
                self.bytes -= old;
            }
        }
        self.samples.push_back((Instant::now(), size));
        self.bytes += size;
    }

    /// Appends and bytes per second over the window (etcd's statsQueue.Rate). One sample has
    /// no duration: etcd divides by zero there (and its JSON encoding then fails); ours is 0.
    fn per_second(&mut self) -> (f64, f64) {
        let (Some(front), Some(back)) = (self.samples.front(), self.samples.back()) else {
            return (0.0, 0.0);
        };
        if back.0.elapsed() > RATE_HORIZON {
            *self = Rate::new();
            return (0.0, 0.0);
        }
        let seconds = back.0.duration_since(front.0).as_secs_f64();
        if seconds == 0.0 {
            return (0.0, 0.0);
        }
        (
            self.samples.len() as f64 / seconds,
            self.bytes as f64 / seconds,
        )
    }
}

/// One follower as the leader sees it (etcd's FollowerStats); latencies in milliseconds.
struct Follower {
    current: f64,
    average: f64,
    average_square: f64,
    standard_deviation: f64,
    minimum: f64,
    maximum: f64,
    fail: u64,
    success: u64,
}

impl Default for Follower {
    fn default() -> Self {
        Follower {
            current: 0.0,
            average: 0.0,
            average_square: 0.0,
            standard_deviation: 0.0,
            // etcd starts the minimum at 1<<63 so that the first sample replaces it.
            minimum: (1u64 << 63) as f64,
            maximum: 0.0,
            fail: 0,
            success: 0,
        }
    }
}

impl Follower {
    fn succeeded(&mut self, took: Duration) {
        let n = self.success as f64;
        let total = n * self.average;
        let total_square = n * self.average_square;
        self.success += 1;
        self.current = took.as_nanos() as f64 / 1_000_000.0;
        self.maximum = self.maximum.max(self.current);
        self.minimum = self.minimum.min(self.current);
        let n = self.success as f64;
        self.average = (total + self.current) / n;
        self.average_square = (total_square + self.current * self.current) / n;
        self.standard_deviation = (self.average_square - self.average * self.average)
            .max(0.0)
            .sqrt();
    }

    fn json(&self) -> String {
        format!(
            "{{\"latency\":{{\"current\":{},\"average\":{},\"standardDeviation\":{},\"minimum\":{},\"maximum\":{}}},\"counts\":{{\"fail\":{},\"success\":{}}}}}",
            json_float(self.current),
            json_float(self.average),
            json_float(self.standard_deviation),
            json_float(self.minimum),
            json_float(self.maximum),
            self.fail,
            self.success
        )
    }
}

struct Stats {
    /// etcd's ServerStats.State: leader once it sent an append or won an election, follower
    /// once it received one.
    is_leader: bool,
    leader: u64,
    leader_since: Option<SystemTime>,
    received: u64,
    sent: u64,
    receive_rate: Rate,
    send_rate: Rate,
    followers: BTreeMap<u64, Follower>,
}

static STATS: Mutex<Stats> = Mutex::new(Stats {
    is_leader: false,
    leader: 0,
    leader_since: None,
    received: 0,
    sent: 0,
    receive_rate: Rate::new(),
    send_rate: Rate::new(),
    followers: BTreeMap::new(),
});
static STARTED: OnceLock<SystemTime> = OnceLock::new();

fn stats() -> std::sync::MutexGuard<'static, Stats> {
    // The counters stay usable even if a holder panicked; they are statistics only.
    STATS
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Marks the member's start (the "startTime" of /v2/stats/self).
pub fn started() {
    STARTED.get_or_init(SystemTime::now);
}

/// This member won an election.
pub fn became_leader(member_id: u64) {
    let mut stats = stats();
    become_leader(&mut stats, member_id);
}

fn become_leader(stats: &mut Stats, member_id: u64) {
    if !stats.is_leader {
        stats.is_leader = true;
        stats.leader = member_id;
        stats.leader_since = Some(SystemTime::now());
    }
}

/// An append of `size` bytes arrived from `leader`.
pub fn received_append(leader: u64, size: usize) {
    let mut stats = stats();
    stats.is_leader = false;
    if stats.leader != leader {
        stats.leader = leader;
        stats.leader_since = Some(SystemTime::now());
    }
    stats.receive_rate.insert(size);
    stats.received += 1;
}

/// An append of `size` bytes is being sent by this member (`member_id`).
pub fn sent_append(member_id: u64, size: usize) {
    let mut stats = stats();
    become_leader(&mut stats, member_id);
    stats.send_rate.insert(size);
    stats.sent += 1;
}

/// Writing a message to `follower`'s stream took `took`.
pub fn follower_written(follower: u64, took: Duration) {
    stats()
        .followers
        .entry(follower)
        .or_default()
        .succeeded(took);
}

/// A message for `follower` could not be sent.
pub fn follower_failed(follower: u64) {
    stats().followers.entry(follower).or_default().fail += 1;
}

fn unix_ns(time: SystemTime) -> i64 {
    time.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// /v2/stats/self (etcd's ServerStats JSON; the rates are left out when zero, as there).
pub fn self_json(name: &str, member_id: u64) -> String {
    let mut stats = stats();
    let started = STARTED
        .get()
        .map_or(ZERO_TIME.to_string(), |t| rfc3339_nano(unix_ns(*t)));
    let (leader_start, uptime) = match stats.leader_since {
        Some(since) => (
            rfc3339_nano(unix_ns(since)),
            format_duration(since.elapsed().unwrap_or_default()),
        ),
        // Go's time.Since of the zero time saturates.
        None => (ZERO_TIME.to_string(), format_duration(Duration::MAX)),
    };
    let leader = if stats.leader == 0 {
        String::new()
    } else {
        format!("{:x}", stats.leader)
    };
    let state = if stats.is_leader {
        "StateLeader"
    } else {
        "StateFollower"
    };
    let mut out = String::from("{\"name\":");
    json_string(name, &mut out);
    out.push_str(&format!(
        ",\"id\":\"{member_id:x}\",\"state\":\"{state}\",\"startTime\":\"{started}\",\"leaderInfo\":{{\"leader\":\"{leader}\",\"uptime\":\"{uptime}\",\"startTime\":\"{leader_start}\"}},\"recvAppendRequestCnt\":{}",
        stats.received
    ));
    let rate = |out: &mut String, name: &str, value: f64| {
        if value != 0.0 {
            out.push_str(&format!(",\"{name}\":{}", json_float(value)));
        }
    };
    let (packets, bytes) = stats.receive_rate.per_second();
    rate(&mut out, "recvPkgRate", packets);
    rate(&mut out, "recvBandwidthRate", bytes);
    out.push_str(&format!(",\"sendAppendRequestCnt\":{}", stats.sent));
    let (packets, bytes) = stats.send_rate.per_second();
    rate(&mut out, "sendPkgRate", packets);
    rate(&mut out, "sendBandwidthRate", bytes);
    out.push('}');
    out
}

/// /v2/stats/leader: every other member of the cluster as a follower of this one.
pub fn leader_json(member_id: u64, others: &[u64]) -> String {
    let stats = stats();
    let fresh = Follower::default();
    let followers: Vec<String> = others
        .iter()
        .map(|id| {
            let follower = stats.followers.get(id).unwrap_or(&fresh);
            format!("\"{id:x}\":{}", follower.json())
        })
        .collect();
    format!(
        "{{\"leader\":\"{member_id:x}\",\"followers\":{{{}}}}}",
        followers.join(",")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follower_latency_is_etcds_running_statistics() {
        let mut follower = Follower::default();
        follower.succeeded(Duration::from_millis(2));
        follower.succeeded(Duration::from_millis(4));
        assert_eq!(follower.success, 2);
        assert_eq!(follower.current, 4.0);
        assert_eq!(follower.minimum, 2.0);
        assert_eq!(follower.maximum, 4.0);
        assert_eq!(follower.average, 3.0);
        assert_eq!(follower.standard_deviation, 1.0);
    }

    #[test]
    fn rates_cover_the_recent_window_only() {
        let mut rate = Rate::new();
        assert_eq!(rate.per_second(), (0.0, 0.0));
        for _ in 0..RATE_SAMPLES + 10 {
            rate.insert(100);
        }
        assert_eq!(rate.samples.len(), RATE_SAMPLES);
        assert_eq!(rate.bytes, RATE_SAMPLES * 100);
    }
}

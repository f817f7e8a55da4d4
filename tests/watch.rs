//! Watches on a 3-member cluster of ours (127.0.0.71-73), through the etcd-client crate: six
//! watchers, two on each member, while writes with deletes go through every member and a
//! compaction happens; each watcher must see every event exactly once, in revision order. One
//! watcher stops halfway and a new one resumes at its last revision + 1 on another member: the
//! two together see everything. On one member (127.0.0.148), progress notifications keep
//! coming at their interval, before and after events.

use crate::common;

use common::temp_dir;
use etcd_client::{Client, EventType, WatchOptions};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const IPS: [&str; 3] = ["127.0.0.71", "127.0.0.72", "127.0.0.73"];
const WRITES: usize = 3000;

type Seen = Arc<Mutex<Vec<(i64, String, bool)>>>;

async fn client(ip: &str) -> Client {
    Client::connect([format!("http://{ip}:2379")], None)
        .await
        .unwrap()
}

/// Starts a watcher on `ip` from `start`; returns what it sees, its newest revision seen, and
/// its task (which ends when the watch is canceled or the test ends).
async fn spawn_watcher(ip: &str, start: i64) -> (Seen, Arc<AtomicI64>, etcd_client::Watcher) {
    let mut client = client(ip).await;
    let (watcher, mut stream) = client
        .watch(
            "w/",
            Some(WatchOptions::new().with_prefix().with_start_revision(start)),
        )
        .await
        .unwrap();
    let seen: Seen = Arc::default();
    let newest = Arc::new(AtomicI64::new(start - 1));
    let (seen_task, newest_task) = (seen.clone(), newest.clone());
    tokio::spawn(async move {
        let _client = client;
        while let Ok(Some(response)) = stream.message().await {
            assert!(
                response.compact_revision() == 0,
                "a watcher that keeps up must not be compacted away"
            );
            for event in response.events() {
                let kv = event.kv().unwrap();
                seen_task.lock().unwrap().push((
                    kv.mod_revision(),
                    kv.key_str().unwrap().to_string(),
                    event.event_type() == EventType::Delete,
                ));
                newest_task.store(kv.mod_revision(), Ordering::Release);
            }
        }
    });
    (seen, newest, watcher)
}

async fn wait_for(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_watcher_sees_every_event_once_in_order() {
    let dir = temp_dir("watch-cluster");
    let _members = common::start_plain_cluster(&IPS, &dir);
    let mut writers = Vec::new();
    for ip in IPS {
        writers.push(client(ip).await);
    }
    let start = writers[0]
        .get("w/", None)
        .await
        .unwrap()
        .header()
        .unwrap()
        .revision()
        + 1;
    let mut watchers = Vec::new();
    for ip in IPS.iter().chain(IPS.iter()) {
        watchers.push(spawn_watcher(ip, start).await);
    }

    let mut expected: Vec<(i64, String, bool)> = Vec::new();
    let mut resumed = None;
    for i in 0..WRITES {
        let key = format!("w/{:02}", i % 40);
        let writer = &mut writers[i % 3];
        if i % 7 == 3 {
            let deleted = writer.delete(key.clone(), None).await.unwrap();
            if deleted.deleted() > 0 {
                expected.push((deleted.header().unwrap().revision(), key, true));
            }
        } else {
            let put = writer
                .put(key.clone(), format!("v{i}"), None)
                .await
                .unwrap();
            expected.push((put.header().unwrap().revision(), key, false));
        }
        if i == WRITES / 2 {
            // Compact below what every watcher has already seen.
            let target = expected[expected.len() / 2].0;
            wait_for("watchers to pass the compaction point", || {
                watchers
                    .iter()
                    .all(|(_, newest, _)| newest.load(Ordering::Acquire) >= target)
            })
            .await;
            writers[1].compact(target, None).await.unwrap();
            // The first watcher stops here; another resumes after it on another member.
            let (_, newest, watcher) = &mut watchers[0];
            watcher.cancel().await.unwrap();
            let last = newest.load(Ordering::Acquire);
            resumed = Some((last, spawn_watcher(IPS[2], last + 1).await));
        }
    }
    let last = expected.last().unwrap().0;
    wait_for("every watcher to reach the last revision", || {
        watchers[1..]
            .iter()
            .all(|(_, newest, _)| newest.load(Ordering::Acquire) == last)
    })
    .await;
    for (n, (seen, _, _)) in watchers.iter().enumerate().skip(1) {
        assert!(
            *seen.lock().unwrap() == expected,
            "watcher {n} saw {} events, expected {}",
            seen.lock().unwrap().len(),
            expected.len()
        );
    }
    let (stopped_at, (rest, rest_newest, _)) = resumed.unwrap();
    wait_for("the resumed watcher to reach the last revision", || {
        rest_newest.load(Ordering::Acquire) == last
    })
    .await;
    let mut joined: Vec<_> = watchers[0]
        .0
        .lock()
        .unwrap()
        .iter()
        .filter(|(revision, _, _)| *revision <= stopped_at)
        .cloned()
        .collect();
    joined.extend(rest.lock().unwrap().iter().cloned());
    assert!(
        joined == expected,
        "stopped + resumed watcher missed or repeated events"
    );
}

/// The stream's next message; it must come within a few progress intervals (the deadline only
/// bounds a hang).
async fn next_message(stream: &mut etcd_client::WatchStream) -> etcd_client::WatchResponse {
    tokio::time::timeout(Duration::from_secs(10), stream.message())
        .await
        .expect("a watch message within 10 s")
        .unwrap()
        .expect("the watch stream stays open")
}

/// A watch that asks for progress notifications gets one every
/// --experimental-watch-progress-notify-interval while nothing changes, each at the store's
/// revision, before and after an event arrives; a watch on the same stream that did not ask
/// gets its event and nothing else. Both share one stream, so the server's answers arrive in
/// the order it sent them: a notification wrongly sent to the second watch would arrive before
/// the first watch's next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_notifications_keep_coming_at_the_interval() {
    const IP: &str = "127.0.0.148";
    let dir = temp_dir("watch-progress");
    let _member = common::start_member(
        &common::our_binary(),
        IP,
        &dir,
        &["--experimental-watch-progress-notify-interval", "200ms"],
    );
    let mut client = client(IP).await;
    let first = client.put("p/a", "1", None).await.unwrap();
    let at_start = first.header().unwrap().revision();
    let options = WatchOptions::new().with_prefix();
    let (mut watches, mut stream) = client
        .watch("p/", Some(options.clone().with_progress_notify()))
        .await
        .unwrap();
    let notified = watches.watch_id();
    watches.watch("p/", Some(options)).await.unwrap();

    // Until the second watch is created and the first had three notifications after that.
    let mut quiet = None;
    let mut notifications = 0;
    while quiet.is_none() || notifications < 3 {
        let message = next_message(&mut stream).await;
        if message.created() {
            quiet = Some(message.watch_id());
            continue;
        }
        assert_eq!(message.watch_id(), notified, "{message:?}");
        assert!(message.events().is_empty(), "{message:?}");
        assert_eq!(message.header().unwrap().revision(), at_start);
        notifications += usize::from(quiet.is_some());
    }
    let quiet = quiet.unwrap();

    let second = client.put("p/b", "2", None).await.unwrap();
    let at_put = second.header().unwrap().revision();
    let (mut events, mut notifications) = (Vec::new(), 0);
    while notifications < 3 {
        let message = next_message(&mut stream).await;
        if !message.events().is_empty() {
            let kv = message.events()[0].kv().unwrap();
            events.push((
                message.watch_id(),
                message.events().len(),
                kv.mod_revision(),
            ));
            continue;
        }
        // A notification says every event up to its revision was sent: one sent before the
        // event is at the old revision.
        assert_eq!(message.watch_id(), notified, "{message:?}");
        if events.is_empty() {
            assert_eq!(message.header().unwrap().revision(), at_start);
            continue;
        }
        assert_eq!(message.header().unwrap().revision(), at_put);
        notifications += 1;
    }
    assert_eq!(events, [(notified, 1, at_put), (quiet, 1, at_put)]);
}

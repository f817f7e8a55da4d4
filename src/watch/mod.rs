//! Watches: a `Hub` that wakes every watch stream after the store commits, and `Watcher`, which
//! turns the store's event log (mvcc/changes.rs) into the events one watch asked for, a step at
//! a time (`Watcher::step`); api/watch.rs speaks the protocol around them. Every
//! watcher reads the log at its own pace from its next revision, so events arrive in revision
//! order, once each, with no gaps, a revision never split, and a slow watcher never holds up
//! writes (it simply reads further back, as etcd's unsynced watchers do). After a commit,
//! every caught-up watcher of every stream needs the same changes: the first to step reads them
//! from the log and the others share that read (`Hub::changes`).

use crate::mvcc::{Change, KvError, Store};
use crate::pb::etcdserverpb::watch_create_request::FilterType;
use crate::pb::etcdserverpb::WatchCreateRequest;
use crate::pb::mvccpb::{event::EventType, Event, KeyValue};
use bytes::Bytes;
use heed::RoTxn;
use smol::channel::{Receiver, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Watches one stream may hold; a create beyond this is answered created and canceled.
pub const MAX_WATCHERS_PER_STREAM: usize = 10_000;
/// Changes read from the log per step, so a far-behind watcher does not hold a read
/// transaction (and LMDB pages) for long; whole revisions are never split.
const CHANGES_PER_STEP: usize = 1000;

/// What one step of a watcher's catch-up found.
pub enum Catchup {
    /// The watcher has seen every revision up to the store's current one.
    CaughtUp,
    /// The revision it needs next was compacted away (the store's compacted revision): the
    /// watch ends.
    Compacted(i64),
    /// Its next events, read with the store at revision `current`.
    Events { current: i64, events: Vec<Event> },
    /// Every change of a shared read, as the `events` field of a WatchResponse, encoded once
    /// for every watcher that wants them all (see `SharedChanges::encoded_events`).
    EncodedEvents { current: i64, events: Bytes },
}

/// Wakes watch streams when the store has new revisions.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<Vec<Sender<()>>>,
    /// The auth revision the last commit left (0 before this process's first commit), so that
    /// a woken stream learns whether its watchers' permissions need checking again without a
    /// read transaction of its own.
    auth_revision: AtomicU64,
    /// The last changes read from the log, for the watchers that need the same.
    last_read: Mutex<Option<Arc<SharedChanges>>>,
    /// The raft thread's bell, rung by every new subscriber: a follower may be holding
    /// committed entries back (raft/node/held.rs) only while no one watches.
    raft_bell: OnceLock<Arc<crate::doorbell::Doorbell>>,
}

/// Changes read from the log from revision `from` with the store at revision `current`.
struct SharedChanges {
    from: i64,
    current: i64,
    changes: Vec<Change>,
    encoded_events: OnceLock<Bytes>,
}

/// The most key and value bytes a shared read may hold to be kept for other watchers.
const MAX_SHARED_READ_BYTES: usize = 4 * 1024 * 1024;

/// WatchResponse.events' field number (rpc.proto), its highest: encoded events go last.
const WATCH_RESPONSE_EVENTS_FIELD: u32 = 11;

impl SharedChanges {
    /// Every change as WatchResponse's `events` field encodes it (without previous values),
    /// encoded by the first watcher that asks.
    fn encoded_events(&self) -> Bytes {
        let encode = || {
            let mut out = Vec::new();
            for change in &self.changes {
                let event = event(change, None);
                prost::encoding::message::encode(WATCH_RESPONSE_EVENTS_FIELD, &event, &mut out);
            }
            Bytes::from(out)
        };
        self.encoded_events.get_or_init(encode).clone()
    }
}

fn event(change: &Change, prev_kv: Option<KeyValue>) -> Event {
    let kind = if change.is_delete {
        EventType::Delete
    } else {
        EventType::Put
    };
    Event {
        r#type: kind as i32,
        kv: Some(change.kv.clone()),
        prev_kv,
    }
}

impl Hub {
    /// A wake-up channel; several notifications before the receiver looks collapse into one.
    pub fn subscribe(&self) -> Receiver<()> {
        let (sender, receiver) = smol::channel::bounded(1);
        self.subscribers.lock().expect("hub lock").push(sender);
        if let Some(bell) = self.raft_bell.get() {
            bell.ring();
        }
        receiver
    }

    /// Has every later `subscribe` ring `bell`.
    pub fn ring_on_subscribe(&self, bell: Arc<crate::doorbell::Doorbell>) {
        let _ = self.raft_bell.set(bell);
    }

    /// Called after every store commit that may have added revisions, with the auth revision
    /// the store holds after it.
    pub fn notify(&self, auth_revision: u64) {
        self.auth_revision.store(auth_revision, Ordering::Release);
        let mut subscribers = self.subscribers.lock().expect("hub lock");
        subscribers.retain(|s| !s.is_closed());
        for subscriber in subscribers.iter() {
            let _ = subscriber.try_send(());
        }
    }

    /// Whether any watch stream could be waiting for the next commit.
    pub fn has_subscribers(&self) -> bool {
        let subscribers = self.subscribers.lock().expect("hub lock");
        subscribers.iter().any(|s| !s.is_closed())
    }

    /// The auth revision as of the last commit; None before this process committed anything.
    pub fn auth_revision(&self) -> Option<u64> {
        Some(self.auth_revision.load(Ordering::Acquire)).filter(|&revision| revision != 0)
    }

    /// `Store::changes(txn, from, current, CHANGES_PER_STEP)`, `txn` seeing revision `current`:
    /// read once for all watchers. The log up to `current` never changes (a compaction only
    /// removes revisions below the compacted one, which a step never asks for), so what one
    /// transaction read at `current` is what another would.
    fn changes(
        &self,
        store: &Store,
        txn: &RoTxn,
        from: i64,
        current: i64,
    ) -> Result<Arc<SharedChanges>, KvError> {
        let last_read = self.last_read.lock().expect("hub lock").clone();
        if let Some(read) = last_read.filter(|r| r.from == from && r.current == current) {
            return Ok(read);
        }
        let read = Arc::new(SharedChanges {
            from,
            current,
            changes: store.changes(txn, from, current, CHANGES_PER_STEP)?,
            encoded_events: OnceLock::new(),
        });
        let bytes: usize = (read.changes.iter())
            .map(|c| c.kv.key.len() + c.kv.value.len())
            .sum();
        // A big read (a far-behind watcher's catch-up) is not kept: the hub would hold it, and
        // its encoding, until the next read.
        if bytes <= MAX_SHARED_READ_BYTES {
            *self.last_read.lock().expect("hub lock") = Some(read.clone());
        }
        Ok(read)
    }
}

/// One watch on a stream.
pub struct Watcher {
    pub id: i64,
    key: Vec<u8>,
    /// Empty: the single key; [0]: every key from `key` on; otherwise [key, range_end).
    range_end: Vec<u8>,
    /// The first revision this watcher has not yet looked at.
    pub next_revision: i64,
    prev_kv: bool,
    no_put: bool,
    no_delete: bool,
    pub progress_notify: bool,
    /// Split answers larger than --max-request-bytes into fragments (WatchCreateRequest.fragment).
    pub fragment: bool,
}

impl Watcher {
    /// What the watcher reads: (key, range_end), etcd's range convention.
    pub fn range(&self) -> (&[u8], &[u8]) {
        (&self.key, &self.range_end)
    }

    /// `current` is the store revision now: a watch without a start revision begins after it.
    pub fn new(id: i64, request: &WatchCreateRequest, current: i64) -> Watcher {
        // etcd: an empty key means the smallest key, \0.
        let key = if request.key.is_empty() {
            vec![0]
        } else {
            request.key.clone()
        };
        let filters = &request.filters;
        Watcher {
            id,
            key,
            range_end: request.range_end.clone(),
            next_revision: if request.start_revision > 0 {
                request.start_revision
            } else {
                current + 1
            },
            prev_kv: request.prev_kv,
            no_put: filters.contains(&(FilterType::Noput as i32)),
            no_delete: filters.contains(&(FilterType::Nodelete as i32)),
            progress_notify: request.progress_notify,
            fragment: request.fragment,
        }
    }

    fn matches(&self, key: &[u8]) -> bool {
        match self.range_end.as_slice() {
            [] => key == self.key.as_slice(),
            [0] => key >= self.key.as_slice(),
            end => key >= self.key.as_slice() && key < end,
        }
    }

    /// One step towards the store's current revision: up to CHANGES_PER_STEP changes read
    /// from the event log in one read transaction, skipping revisions with nothing for this
    /// watcher, until there are events to send or none are left.
    pub fn step(&mut self, store: &Store, hub: &Hub) -> Result<Catchup, KvError> {
        let txn = store.read_txn()?;
        let current = store.current_revision(&txn)?;
        let compacted = store.compact_revision(&txn)?;
        loop {
            if self.next_revision > current {
                return Ok(Catchup::CaughtUp);
            }
            if let Some(compact) = compacted.filter(|c| self.next_revision < *c) {
                return Ok(Catchup::Compacted(compact));
            }
            let read = hub.changes(store, &txn, self.next_revision, current)?;
            let changes = &read.changes;
            let wants_all = !self.prev_kv
                && !self.fragment
                && !changes.is_empty()
                && changes.iter().all(|change| self.wants(change));
            let found = if wants_all {
                Some(Catchup::EncodedEvents {
                    current,
                    events: read.encoded_events(),
                })
            } else {
                let events = self.events(store, &txn, changes)?;
                (!events.is_empty()).then_some(Catchup::Events { current, events })
            };
            self.next_revision = match changes.last() {
                Some(last) if changes.len() >= CHANGES_PER_STEP => last.revision.main + 1,
                _ => current + 1,
            };
            if let Some(found) = found {
                return Ok(found);
            }
        }
    }

    /// The events among `changes` this watcher wants, in order.
    fn events(
        &self,
        store: &Store,
        txn: &RoTxn,
        changes: &[Change],
    ) -> Result<Vec<Event>, KvError> {
        let mut events = Vec::new();
        for change in changes.iter().filter(|change| self.wants(change)) {
            let prev_kv = if self.prev_kv {
                store.previous(txn, &change.kv.key, change.revision)?
            } else {
                None
            };
            events.push(event(change, prev_kv));
        }
        Ok(events)
    }

    /// Is `change` one of this watcher's events?
    fn wants(&self, change: &Change) -> bool {
        let filtered = if change.is_delete {
            self.no_delete
        } else {
            self.no_put
        };
        change.revision.main >= self.next_revision && self.matches(&change.kv.key) && !filtered
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mvcc::Revision;
    use crate::pb::etcdserverpb::{ResponseHeader, WatchResponse};
    use crate::wire::{frame_message, frame_with_tail};
    use prost::Message;

    #[test]
    fn a_new_subscriber_rings_the_raft_thread() {
        let hub = Hub::default();
        let _before = hub.subscribe();
        let bell = Arc::new(crate::doorbell::Doorbell::new().unwrap());
        hub.ring_on_subscribe(bell.clone());
        assert!(!bell.is_rung(), "setting the bell does not ring it");
        let _watch = hub.subscribe();
        assert!(bell.is_rung(), "a new subscriber rings the raft thread");
    }

    fn change(main: i64, sub: i64, key: &[u8], is_delete: bool) -> Change {
        Change {
            revision: Revision { main, sub },
            is_delete,
            kv: KeyValue {
                key: key.to_vec(),
                value: if is_delete {
                    Vec::new()
                } else {
                    vec![b'v'; 300]
                },
                create_revision: 4,
                mod_revision: main,
                version: 2,
                lease: 0,
            },
        }
    }

    fn put(store: &Store, key: &[u8], value_bytes: usize) {
        let mut txn = store.write_txn().unwrap();
        let mut writer = crate::mvcc::Writer::new(store, &mut txn).unwrap();
        writer.put(key, vec![b'v'; value_bytes], 0).unwrap();
        writer.finish().unwrap();
        txn.commit().unwrap();
    }

    /// Watchers stepping from the same revision at the same store revision share one read and
    /// one encoding; one that wants previous values gets its own events; a big read is not kept.
    #[test]
    fn reads_are_shared_unless_big() {
        let store = crate::mvcc::scratch_store("watch-shared", 64 << 20);
        let hub = Hub::default();
        let watch = |prev_kv| WatchCreateRequest {
            key: b"a".to_vec(),
            prev_kv,
            ..WatchCreateRequest::default()
        };
        let (mut first, mut second) = (
            Watcher::new(0, &watch(false), 1),
            Watcher::new(1, &watch(false), 1),
        );
        let mut with_previous = Watcher::new(2, &watch(true), 1);
        put(&store, b"a", 10);
        put(&store, b"a", 20);
        let encoded = |watcher: &mut Watcher| match watcher.step(&store, &hub).unwrap() {
            Catchup::EncodedEvents { current, events } => (current, events),
            _ => panic!("encoded events expected"),
        };
        let (current, events) = encoded(&mut first);
        assert_eq!(current, 3);
        assert_eq!(encoded(&mut second), (3, events.clone()));
        assert_eq!(
            events.as_ptr(),
            encoded_events_now(&hub).as_ptr(),
            "one encoding"
        );
        match with_previous.step(&store, &hub).unwrap() {
            Catchup::Events { current: 3, events } => {
                let previous = events[1].prev_kv.as_ref().expect("a previous value");
                assert_eq!(previous.value.len(), 10);
            }
            _ => panic!("events with previous values expected"),
        }
        assert!(matches!(
            first.step(&store, &hub).unwrap(),
            Catchup::CaughtUp
        ));

        put(&store, b"a", MAX_SHARED_READ_BYTES);
        let (current, _) = encoded(&mut first);
        assert_eq!(current, 4);
        assert!(
            hub.last_read.lock().unwrap().as_ref().unwrap().current == 3,
            "big read kept"
        );
    }

    fn encoded_events_now(hub: &Hub) -> Bytes {
        hub.last_read
            .lock()
            .unwrap()
            .as_ref()
            .unwrap()
            .encoded_events()
    }

    /// A response and its events encoded apart are the bytes prost makes of the whole.
    #[test]
    fn encoded_events_make_the_watch_response_prost_makes() {
        let shared = SharedChanges {
            from: 5,
            current: 6,
            changes: vec![
                change(5, 0, b"a", false),
                change(5, 1, b"b", true),
                change(6, 0, b"c", false),
            ],
            encoded_events: OnceLock::new(),
        };
        let head = WatchResponse {
            header: Some(ResponseHeader {
                cluster_id: 1,
                member_id: 2,
                revision: 6,
                raft_term: 3,
            }),
            watch_id: 7,
            ..WatchResponse::default()
        };
        let whole = WatchResponse {
            events: shared.changes.iter().map(|c| event(c, None)).collect(),
            ..head.clone()
        };
        assert_eq!(whole.events[1].r#type, EventType::Delete as i32);
        let apart = frame_with_tail(&head, head.encoded_len(), &shared.encoded_events());
        assert_eq!(apart, frame_message(&whole));
    }
}

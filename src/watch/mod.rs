//! Watches: a `Hub` that wakes every watch stream after the store commits, and `Watcher`, which
//! turns the store's event log (mvcc/changes.rs) into the events one watch asked for. Every
//! watcher reads the log at its own pace from its next revision, so events arrive in revision
//! order, once each, with no gaps, a revision never split, and a slow watcher never holds up
//! writes (it simply reads further back, as etcd's unsynced watchers do).

use crate::mvcc::{Change, KvError, Store};
use crate::pb::etcdserverpb::watch_create_request::FilterType;
use crate::pb::etcdserverpb::WatchCreateRequest;
use crate::pb::mvccpb::{event::EventType, Event};
use heed::RoTxn;
use smol::channel::{Receiver, Sender};
use std::sync::Mutex;

/// Wakes watch streams when the store has new revisions.
#[derive(Default)]
pub struct Hub {
    subscribers: Mutex<Vec<Sender<()>>>,
}

impl Hub {
    /// A wake-up channel; several notifications before the receiver looks collapse into one.
    pub fn subscribe(&self) -> Receiver<()> {
        let (sender, receiver) = smol::channel::bounded(1);
        self.subscribers.lock().expect("hub lock").push(sender);
        receiver
    }

    /// Called after every store commit that may have added revisions.
    pub fn notify(&self) {
        let mut subscribers = self.subscribers.lock().expect("hub lock");
        subscribers.retain(|s| !s.is_closed());
        for subscriber in subscribers.iter() {
            let _ = subscriber.try_send(());
        }
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

    /// The events among `changes` this watcher wants, in order.
    pub fn events(
        &self,
        store: &Store,
        txn: &RoTxn,
        changes: &[Change],
    ) -> Result<Vec<Event>, KvError> {
        let mut events = Vec::new();
        for change in changes {
            if change.revision.main < self.next_revision || !self.matches(&change.kv.key) {
                continue;
            }
            if (change.is_delete && self.no_delete) || (!change.is_delete && self.no_put) {
                continue;
            }
            let prev_kv = if self.prev_kv {
                store.previous(txn, &change.kv.key, change.revision)?
            } else {
                None
            };
            let kind = if change.is_delete {
                EventType::Delete
            } else {
                EventType::Put
            };
            events.push(Event {
                r#type: kind as i32,
                kv: Some(change.kv.clone()),
                prev_kv,
            });
        }
        Ok(events)
    }
}

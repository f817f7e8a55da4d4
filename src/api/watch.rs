//! The Watch service: one bidirectional gRPC stream carries any number of watches. Requests
//! (create, cancel, progress) are read from the request body as they arrive; responses are
//! written to a streamed response body. After each store commit the Hub wakes the stream and
//! every watcher catches up from the event log. Behaviour follows etcd 3.4's
//! v3rpc/watch.go: IDs from 0 per stream, a `created` answer with the current revision, a
//! compacted start revision answered by `canceled` with `compact_revision`, progress answers
//! with watch ID -1.

use super::grpc::{Gone, StreamWriter};
use super::Api;
use crate::auth::{Access, Identity, Need};
use crate::mvcc::KvError;
use crate::pb::etcdserverpb::watch_request::RequestUnion;
use crate::pb::etcdserverpb::{WatchRequest, WatchResponse};
use crate::watch::{Catchup, Watcher, MAX_WATCHERS_PER_STREAM};
use bytes::Bytes;
use smol::channel::Receiver;
use std::sync::Arc;
use std::time::Instant;

/// etcd's clientv3.InvalidWatchID: the ID of answers that belong to no watch.
const NO_WATCH: i64 = -1;

pub async fn watch(
    api: Arc<Api>,
    who: crate::auth::Identity,
    requests: Receiver<WatchRequest>,
    writer: StreamWriter,
) -> Result<(), Gone> {
    let checked_at = auth_revision(&api);
    let mut stream = Stream {
        api,
        who,
        checked_at,
        writer,
        watchers: Vec::new(),
        next_id: 0,
    };
    stream.serve(requests).await
}

/// The store's auth revision now: as the last commit left it, else read from the store (0 if
/// it cannot be read: every watcher is then rechecked).
fn auth_revision(api: &Api) -> u64 {
    api.hub.auth_revision().unwrap_or_else(|| {
        api.store
            .read_txn()
            .and_then(|txn| api.store.auth_revision(&txn))
            .unwrap_or(0)
    })
}

struct Stream {
    api: Arc<Api>,
    /// Who opened the stream: each create is checked for read access on its whole range.
    who: Identity,
    /// The auth revision the watchers were last checked at: after a change, each is checked
    /// again and canceled if its user may no longer read its range.
    checked_at: u64,
    writer: StreamWriter,
    watchers: Vec<Watcher>,
    next_id: i64,
}

enum Step {
    Request(Option<WatchRequest>),
    Committed,
    Progress,
}

impl Stream {
    async fn serve(&mut self, requests: Receiver<WatchRequest>) -> Result<(), Gone> {
        let mut client_sends = true;
        let wake = self.api.hub.subscribe();
        let interval = self.api.limits.watch_progress_interval;
        // One timer for the stream, moved on after each notification: a timer made anew on every
        // wake-up is registered with (and removed from) the reactor every time, which wakes the
        // reactor's thread once per stream per commit.
        let mut progress = smol::Timer::at(Instant::now() + interval);
        loop {
            let step = smol::future::or(
                async {
                    if !client_sends {
                        return std::future::pending().await;
                    }
                    Step::Request(requests.recv().await.ok())
                },
                smol::future::or(
                    async {
                        let _ = wake.recv().await;
                        Step::Committed
                    },
                    async {
                        (&mut progress).await;
                        Step::Progress
                    },
                ),
            )
            .await;
            match step {
                // The client closed its side: its watches go on (as etcd's recvLoop ends
                // without an error) until it goes away.
                Step::Request(None) => client_sends = false,
                Step::Request(Some(request)) => self.handle(request).await?,
                Step::Committed => self.recheck().await?,
                Step::Progress => {
                    progress.set_at(Instant::now() + interval);
                    // Caught up first: a notification tells the client it has every event up
                    // to its revision.
                    self.catch_up().await?;
                    self.notify_progress().await?;
                    continue;
                }
            }
            self.catch_up().await?;
        }
    }

    async fn send(&self, response: WatchResponse) -> Result<(), Gone> {
        self.writer.send(&response).await
    }

    fn revision(&self) -> i64 {
        self.api.current_revision().unwrap_or(0)
    }

    /// May the stream's caller read (key, range_end)? Why not, as etcd's cancel reason.
    fn permitted(&self, key: &[u8], range_end: &[u8]) -> Result<(), String> {
        let need = Need::Keys(vec![(Access::Read, key.into(), range_end.into())]);
        match self.api.gate.admit(&self.api.store, &self.who, &need) {
            Ok(_) => Ok(()),
            Err(refusal) => Err(super::Status::from(refusal).message),
        }
    }

    /// After an auth change, cancels the watchers whose range the caller may no longer read.
    async fn recheck(&mut self) -> Result<(), Gone> {
        let revision = auth_revision(&self.api);
        if revision == self.checked_at {
            return Ok(());
        }
        self.checked_at = revision;
        let mut position = 0;
        while position < self.watchers.len() {
            let (key, range_end) = self.watchers[position].range();
            match self.permitted(key, range_end) {
                Ok(()) => position += 1,
                Err(reason) => {
                    let watcher = self.watchers.remove(position);
                    self.send(WatchResponse {
                        header: self.api.header(self.revision()),
                        watch_id: watcher.id,
                        canceled: true,
                        cancel_reason: reason,
                        ..WatchResponse::default()
                    })
                    .await?;
                }
            }
        }
        Ok(())
    }

    async fn handle(&mut self, request: WatchRequest) -> Result<(), Gone> {
        match request.request_union {
            Some(RequestUnion::CreateRequest(create)) => self.create(create).await,
            Some(RequestUnion::CancelRequest(cancel)) => {
                let before = self.watchers.len();
                self.watchers.retain(|w| w.id != cancel.watch_id);
                if self.watchers.len() == before {
                    return Ok(()); // etcd answers nothing for an unknown ID
                }
                self.send(WatchResponse {
                    header: self.api.header(self.revision()),
                    watch_id: cancel.watch_id,
                    canceled: true,
                    ..WatchResponse::default()
                })
                .await
            }
            Some(RequestUnion::ProgressRequest(_)) => {
                self.send(WatchResponse {
                    header: self.api.header(self.revision()),
                    watch_id: NO_WATCH,
                    ..WatchResponse::default()
                })
                .await
            }
            None => Ok(()),
        }
    }

    /// A new watcher (refused when not permitted, its ID taken, or the stream is full); the
    /// created answer either way.
    async fn create(
        &mut self,
        create: crate::pb::etcdserverpb::WatchCreateRequest,
    ) -> Result<(), Gone> {
        let current = self.revision();
        if let Err(reason) = self.permitted(&create.key, &create.range_end) {
            return self
                .send(WatchResponse {
                    header: self.api.header(current),
                    watch_id: NO_WATCH,
                    created: true,
                    canceled: true,
                    cancel_reason: reason,
                    ..WatchResponse::default()
                })
                .await;
        }
        let requested = create.watch_id;
        let duplicate = requested != 0 && self.watchers.iter().any(|w| w.id == requested);
        let refusal = if duplicate {
            "mvcc: duplicate watch ID provided on the WatchStream".to_string()
        } else if self.watchers.len() >= MAX_WATCHERS_PER_STREAM {
            format!(
                "etcdserver: too many watches on this stream (at most {MAX_WATCHERS_PER_STREAM})"
            )
        } else {
            String::new()
        };
        let refused = !refusal.is_empty();
        let id = if refused {
            NO_WATCH
        } else if requested != 0 {
            requested
        } else {
            while self.watchers.iter().any(|w| w.id == self.next_id) {
                self.next_id += 1;
            }
            self.next_id
        };
        if !refused {
            self.watchers.push(Watcher::new(id, &create, current));
        }
        self.send(WatchResponse {
            header: self.api.header(current),
            watch_id: id,
            created: true,
            canceled: refused,
            cancel_reason: refusal,
            ..WatchResponse::default()
        })
        .await
    }

    /// The periodic progress notification, for watchers that asked for it (all are caught up
    /// at this point).
    async fn notify_progress(&self) -> Result<(), Gone> {
        let current = self.revision();
        for watcher in self.watchers.iter().filter(|w| w.progress_notify) {
            // What the watcher has been sent up to (a watch that starts in the future: now).
            let revision = (watcher.next_revision - 1).min(current);
            self.send(WatchResponse {
                header: self.api.header(revision),
                watch_id: watcher.id,
                ..WatchResponse::default()
            })
            .await?;
        }
        Ok(())
    }

    /// Brings every watcher up to the store's current revision.
    async fn catch_up(&mut self) -> Result<(), Gone> {
        let mut position = 0;
        while position < self.watchers.len() {
            match self.step(position) {
                Ok(Some((response, encoded_events))) => {
                    let canceled = response.canceled;
                    if self.watchers[position].fragment {
                        // etcd's limit here is the request limit plus grpc's allowance (a
                        // fragmenting watcher never gets encoded events).
                        let limit =
                            super::grpc::max_message_bytes(self.api.limits.max_request_bytes);
                        for part in fragments(response, limit) {
                            self.send(part).await?;
                        }
                    } else {
                        self.writer
                            .send_with_tail(&response, &encoded_events)
                            .await?;
                    }
                    if canceled {
                        self.watchers.remove(position);
                    }
                }
                Ok(None) => position += 1,
                Err(e) => {
                    log::error!("watch: reading the event log: {e:?}");
                    return Err(Gone);
                }
            }
        }
        Ok(())
    }

    /// One step of watcher `position`: the next response to send, with its events when they
    /// come encoded already (`Catchup::EncodedEvents`), or None once it is caught up.
    fn step(&mut self, position: usize) -> Result<Option<(WatchResponse, Bytes)>, KvError> {
        let watcher = &mut self.watchers[position];
        let mut encoded_events = Bytes::new();
        let response = match watcher.step(&self.api.store, &self.api.hub)? {
            Catchup::CaughtUp => return Ok(None),
            // etcd's compacted answer comes from no revision: its header has 0.
            Catchup::Compacted(compact_revision) => WatchResponse {
                header: self.api.header(0),
                watch_id: watcher.id,
                compact_revision,
                canceled: true,
                ..WatchResponse::default()
            },
            Catchup::Events { current, events } => WatchResponse {
                header: self.api.header(current),
                watch_id: watcher.id,
                events,
                ..WatchResponse::default()
            },
            Catchup::EncodedEvents { current, events } => {
                encoded_events = events;
                WatchResponse {
                    header: self.api.header(current),
                    watch_id: watcher.id,
                    ..WatchResponse::default()
                }
            }
        };
        Ok(Some((response, encoded_events)))
    }
}

/// etcd's sendFragments: an answer of at least `limit` bytes with two or more events goes out
/// in parts of under `limit` bytes (a single event may exceed it), each marked `fragment` but
/// the last.
fn fragments(response: WatchResponse, limit: usize) -> Vec<WatchResponse> {
    use prost::Message;
    if response.encoded_len() < limit || response.events.len() < 2 {
        return vec![response];
    }
    let mut parts = Vec::new();
    let mut events = response.events.into_iter().peekable();
    let template = WatchResponse {
        events: Vec::new(),
        fragment: true,
        ..response
    };
    while events.peek().is_some() {
        let mut part = template.clone();
        while let Some(event) = events.peek() {
            part.events.push(event.clone());
            if part.events.len() > 1 && part.encoded_len() >= limit {
                part.events.pop();
                break;
            }
            events.next();
        }
        part.fragment = events.peek().is_some();
        parts.push(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::mvccpb::{Event, KeyValue};

    fn event(value_bytes: usize) -> Event {
        Event {
            kv: Some(KeyValue {
                key: b"k".to_vec(),
                value: vec![b'v'; value_bytes],
                ..KeyValue::default()
            }),
            ..Event::default()
        }
    }

    #[test]
    fn large_answers_are_fragmented_as_etcd_does() {
        let response = WatchResponse {
            watch_id: 3,
            events: vec![event(400), event(400), event(400), event(2000)],
            ..WatchResponse::default()
        };
        let parts = fragments(response.clone(), 1000);
        let sizes: Vec<usize> = parts.iter().map(|p| p.events.len()).collect();
        // Two 400-byte events fit under 1000 bytes; a third would not; the 2000-byte event
        // goes alone.
        assert_eq!(sizes, [2, 1, 1]);
        let flags: Vec<bool> = parts.iter().map(|p| p.fragment).collect();
        assert_eq!(flags, [true, true, false]);
        assert!(parts.iter().all(|p| p.watch_id == 3));
        let events: Vec<Event> = parts.into_iter().flat_map(|p| p.events).collect();
        assert_eq!(events, response.events);
        // Small answers, and single events, go whole.
        assert_eq!(fragments(response.clone(), 1 << 20).len(), 1);
        let single = WatchResponse {
            events: vec![event(5000)],
            ..WatchResponse::default()
        };
        assert_eq!(fragments(single, 1000).len(), 1);
    }
}

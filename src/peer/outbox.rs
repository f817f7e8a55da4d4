//! One peer's outgoing raft messages, shared by the raft thread and the peer's stream task
//! (sender.rs). When nothing is queued or unsent, the raft thread encodes a message and writes
//! it to the socket itself, without blocking: a lone request's append and its acknowledgement
//! then leave at once instead of waiting for the executor thread to be woken and scheduled
//! (put-1 traces on 2 CPUs: 85-125 us per hand-off, two on a write's critical path). Everything
//! else waits in the queue for the task, which also dials, flushes what the socket did not take
//! and reconnects.
//!
//! Order: the task takes queued messages only while it holds the wire, and the raft thread, the
//! only producer, writes directly only while it holds the wire and the queue is empty, so the
//! stream carries messages in the order raft sent them.

use super::frame;
use crate::metrics::PeerTraffic;
use atomic_waker::AtomicWaker;
use futures_rustls::rustls::ClientConnection;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use smol::Async;
use std::collections::VecDeque;
use std::io::{self, Write as _};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

/// A connected stream to the peer, written without blocking: bytes the socket did not take yet
/// stay buffered here (in rustls for TLS).
pub(super) struct Wire {
    socket: Arc<Async<TcpStream>>,
    session: Session,
}

enum Session {
    /// Unsent bytes from `sent` on.
    Plain {
        unsent: Vec<u8>,
        sent: usize,
    },
    Tls(Box<ClientConnection>),
}

impl Wire {
    pub(super) fn plain(socket: Arc<Async<TcpStream>>) -> Wire {
        let session = Session::Plain {
            unsent: Vec::new(),
            sent: 0,
        };
        Wire { socket, session }
    }

    pub(super) fn tls(socket: Arc<Async<TcpStream>>, mut connection: ClientConnection) -> Wire {
        // The queue bounds what is buffered; rustls must take every frame whole.
        connection.set_buffer_limit(None);
        let session = Session::Tls(Box::new(connection));
        Wire { socket, session }
    }

    /// Adds encoded frames behind what is unsent.
    fn push(&mut self, frames: &[u8]) -> io::Result<()> {
        match &mut self.session {
            Session::Plain { unsent, .. } => {
                unsent.extend_from_slice(frames);
                Ok(())
            }
            Session::Tls(connection) => connection.writer().write_all(frames),
        }
    }

    fn has_unsent(&self) -> bool {
        match &self.session {
            Session::Plain { unsent, sent } => *sent < unsent.len(),
            Session::Tls(connection) => connection.wants_write(),
        }
    }

    /// Writes what the socket takes now: Ok(true) once nothing is unsent, Ok(false) when the
    /// socket would block.
    fn write_now(&mut self) -> io::Result<bool> {
        let mut socket = self.socket.get_ref();
        loop {
            let written = match &mut self.session {
                Session::Plain { unsent, sent } if *sent < unsent.len() => {
                    socket.write(&unsent[*sent..]).inspect(|&n| *sent += n)
                }
                Session::Plain { unsent, sent } => {
                    unsent.clear();
                    *sent = 0;
                    return Ok(true);
                }
                Session::Tls(connection) if connection.wants_write() => {
                    connection.write_tls(&mut socket)
                }
                Session::Tls(_) => return Ok(true),
            };
            match written {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Appends one message as a frame to `frames`.
fn encode(message: &Message, frames: &mut Vec<u8>) -> io::Result<()> {
    let size = message.compute_size() as usize;
    frames.reserve(frame::FRAME_HEADER_BYTES + size);
    frames.push(frame::KIND_MESSAGE);
    frames.extend_from_slice(&(size as u32).to_le_bytes());
    message.write_to_vec(frames).map_err(io::Error::other)
}

/// Bytes of frames the task encodes before handing them to the wire in one piece (so TLS seals
/// them in few records, as a buffered writer did).
const BATCH_BYTES: usize = 64 * 1024;

/// What the task found on one pass over the outbox.
pub(super) enum Pass {
    /// Everything queued is written; wait for more.
    Idle,
    /// The socket would not take everything: wait until it is writable.
    Blocked(Arc<Async<TcpStream>>),
    /// The wire is gone (the raft thread's write to it failed, and it said why).
    Lost,
    /// The raft thread let go of this peer: the task ends.
    Closed,
}

pub(super) struct Outbox {
    peer_id: u64,
    traffic: Arc<PeerTraffic>,
    /// At most `capacity` messages waiting for the task.
    queue: Mutex<VecDeque<Message>>,
    capacity: usize,
    /// None while the task dials (or after the wire broke).
    wire: Mutex<Option<Wire>>,
    /// Set with each nudge to the task; cleared when the task wakes for it.
    nudged: AtomicBool,
    closed: AtomicBool,
    task: AtomicWaker,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Never poisoned in the server (panic = abort); a test's panic need not cascade.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Outbox {
    pub(super) fn new(peer_id: u64, capacity: usize) -> Outbox {
        Outbox {
            peer_id,
            traffic: crate::metrics::peer(peer_id),
            queue: Mutex::new(VecDeque::new()),
            capacity,
            wire: Mutex::new(None),
            nudged: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            task: AtomicWaker::new(),
        }
    }

    fn nudge(&self) {
        self.nudged.store(true, Ordering::Release);
        self.task.wake();
    }

    /// The raft thread's send: written now when the wire is free and nothing waits before it,
    /// else queued for the task. False if it cannot be sent (the queue is full, or writing it
    /// failed): raft then counts the peer unreachable.
    pub(super) fn send(&self, message: Message) -> bool {
        if let Some(sent) = self.write_directly(&message) {
            return sent;
        }
        let mut queue = lock(&self.queue);
        if queue.len() >= self.capacity {
            return false;
        }
        queue.push_back(message);
        drop(queue);
        self.nudge();
        true
    }

    /// Writes `message` on the raft thread if the wire is connected, not held by the task, with
    /// nothing unsent and nothing queued (whether it was sent); None if it is to be queued.
    fn write_directly(&self, message: &Message) -> Option<bool> {
        if message.get_msg_type() == MessageType::MsgSnapshot {
            return None;
        }
        let Ok(mut held) = self.wire.try_lock() else {
            return None;
        };
        let wire = held.as_mut()?;
        if wire.has_unsent() || !lock(&self.queue).is_empty() {
            return None;
        }
        let started = Instant::now();
        let mut frames = Vec::new();
        let written = encode(message, &mut frames)
            .and_then(|()| wire.push(&frames))
            .and_then(|()| wire.write_now());
        match written {
            Ok(all) => {
                self.count_sent(message, frames.len(), started);
                if !all {
                    self.nudge();
                }
                Some(true)
            }
            Err(e) => {
                log::warn!("peer {:x}: stream lost: {e}", self.peer_id);
                *held = None;
                drop(held);
                self.count_failed();
                self.nudge();
                Some(false)
            }
        }
    }

    fn count_sent(&self, message: &Message, bytes: usize, started: Instant) {
        self.traffic
            .sent_bytes
            .fetch_add(bytes as u64, Ordering::Relaxed);
        if message.get_msg_type() == MessageType::MsgAppend {
            super::stats::follower_written(self.peer_id, started.elapsed());
        }
    }

    pub(super) fn count_failed(&self) {
        self.traffic.sent_failures.fetch_add(1, Ordering::Relaxed);
        super::stats::follower_failed(self.peer_id);
    }

    /// The raft thread lets go of this peer (removed, or the member stops).
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.nudge();
    }

    /// Waits until the raft thread nudges the task.
    pub(super) async fn nudged(&self) {
        futures_lite::future::poll_fn(|cx| {
            self.task.register(cx.waker());
            if self.nudged.swap(false, Ordering::AcqRel) {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        })
        .await
    }

    /// Hands the task's new connection to the outbox.
    pub(super) fn attach(&self, wire: Wire) {
        *lock(&self.wire) = Some(wire);
    }

    /// The task's connection failed: the raft thread stops writing to it.
    pub(super) fn detach(&self) {
        *lock(&self.wire) = None;
    }

    /// Takes the next queued message (while dialing, to report it undeliverable).
    pub(super) fn take_queued(&self) -> Option<Message> {
        lock(&self.queue).pop_front()
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// One pass of the task: writes what is queued (snapshots go to `snapshots`, to be sent on
    /// connections of their own) and what the socket did not take.
    pub(super) fn pass(&self, snapshots: &mut Vec<Message>) -> io::Result<Pass> {
        let mut held = lock(&self.wire);
        let Some(wire) = held.as_mut() else {
            return Ok(Pass::Lost);
        };
        let mut frames = Vec::new();
        loop {
            let next = lock(&self.queue).pop_front();
            let Some(message) = next else { break };
            if message.get_msg_type() == MessageType::MsgSnapshot {
                snapshots.push(message);
                continue;
            }
            let start = frames.len();
            let started = Instant::now();
            encode(&message, &mut frames)?;
            self.count_sent(&message, frames.len() - start, started);
            if frames.len() >= BATCH_BYTES {
                wire.push(&frames)?;
                frames.clear();
                if !wire.write_now()? {
                    return Ok(Pass::Blocked(wire.socket.clone()));
                }
            }
        }
        wire.push(&frames)?;
        if !wire.write_now()? {
            return Ok(Pass::Blocked(wire.socket.clone()));
        }
        drop(held);
        Ok(if self.is_closed() {
            Pass::Closed
        } else {
            Pass::Idle
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Outbox, Pass, Wire};
    use raft::eraftpb::{Message, MessageType};
    use smol::Async;
    use std::io::Read as _;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;

    fn message(index: u64) -> Message {
        let mut message = Message::default();
        message.set_msg_type(MessageType::MsgAppend);
        message.to = 2;
        message.index = index;
        message
    }

    /// The frames a peer reads, decoded back to the messages' indexes.
    fn received(bytes: &[u8]) -> Vec<u64> {
        use protobuf::Message as _;
        let mut indexes = Vec::new();
        let mut rest = bytes;
        while !rest.is_empty() {
            assert_eq!(rest[0], super::frame::KIND_MESSAGE);
            let length = u32::from_le_bytes(rest[1..5].try_into().unwrap()) as usize;
            let message = Message::parse_from_bytes(&rest[5..5 + length]).unwrap();
            indexes.push(message.index);
            rest = &rest[5 + length..];
        }
        indexes
    }

    fn connected_pair() -> (Arc<Async<TcpStream>>, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (Arc::new(Async::new(client).unwrap()), server)
    }

    #[test]
    fn direct_writes_and_queued_messages_reach_the_peer_in_order() {
        let outbox = Outbox::new(2, 16);
        // Not connected yet: queued.
        assert!(outbox.send(message(1)));
        let (socket, mut peer) = connected_pair();
        outbox.attach(Wire::plain(socket));
        // Something is queued: the next one queues behind it rather than overtaking it.
        assert!(outbox.send(message(2)));
        let mut snapshots = Vec::new();
        assert!(matches!(outbox.pass(&mut snapshots).unwrap(), Pass::Idle));
        // Nothing queued or unsent: written by the caller at once.
        assert!(outbox.send(message(3)));
        assert!(outbox.take_queued().is_none());
        outbox.close();
        assert!(matches!(outbox.pass(&mut snapshots).unwrap(), Pass::Closed));
        drop(outbox);
        let mut bytes = Vec::new();
        peer.read_to_end(&mut bytes).unwrap();
        assert_eq!(received(&bytes), vec![1, 2, 3]);
        assert!(snapshots.is_empty());
    }

    #[test]
    fn a_full_queue_refuses_and_snapshots_are_left_to_the_task() {
        let outbox = Outbox::new(2, 2);
        let mut snapshot = message(9);
        snapshot.set_msg_type(MessageType::MsgSnapshot);
        assert!(outbox.send(message(1)));
        assert!(outbox.send(snapshot));
        assert!(
            !outbox.send(message(3)),
            "a third message exceeds the queue"
        );
        let (socket, mut peer) = connected_pair();
        outbox.attach(Wire::plain(socket));
        let mut snapshots = Vec::new();
        assert!(matches!(outbox.pass(&mut snapshots).unwrap(), Pass::Idle));
        assert_eq!(snapshots.len(), 1);
        outbox.detach();
        drop(outbox);
        let mut bytes = Vec::new();
        peer.read_to_end(&mut bytes).unwrap();
        assert_eq!(received(&bytes), vec![1]);
    }

    #[test]
    fn a_failed_direct_write_drops_the_wire_and_tells_the_task() {
        let outbox = Outbox::new(2, 16);
        let (socket, peer) = connected_pair();
        outbox.attach(Wire::plain(socket));
        // The peer goes away: its kernel answers the next write with a reset, and the writes
        // after that fail.
        drop(peer);
        let mut sent = true;
        for index in 0..100 {
            sent = outbox.send(message(index));
            if !sent {
                break;
            }
        }
        assert!(!sent, "writes to a reset connection fail");
        assert!(matches!(outbox.pass(&mut Vec::new()).unwrap(), Pass::Lost));
    }
}

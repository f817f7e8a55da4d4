//! A peer's admitted raft stream, read by the raft thread itself: the receiver (receiver.rs)
//! checks the hello and delivers the first message on the executor, then hands the socket and
//! its TLS state over; the raft thread watches the socket on its doorbell's epoll and decodes
//! whole frames as they arrive. A message from a peer then wakes the raft thread directly
//! instead of an executor thread that wakes it in turn (one thread hand-off less each way on a
//! write's critical path). Snapshots and questions keep connections of their own on the
//! executor.

use super::frame;
use crate::metrics::PeerTraffic;
use futures_rustls::rustls::ServerConnection;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::collections::HashMap;
use std::io::{self, Read as _};
use std::net::TcpStream;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Bytes read from one stream per call, so one busy peer cannot hold up the raft thread (the
/// socket stays readable and is read again on the next turn).
const READ_BUDGET_BYTES: usize = 1024 * 1024;
/// Bytes asked of the socket (or of rustls) per read.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// A decode buffer that grew beyond this for one large frame is given back once empty.
const RETAINED_BUFFER_BYTES: usize = 4 * 1024 * 1024;

pub struct IncomingStream {
    /// The peer the hello named.
    from: u64,
    /// This member.
    to: u64,
    socket: TcpStream,
    tls: Option<Box<ServerConnection>>,
    /// Plaintext received and not yet decoded into whole frames.
    unread: Vec<u8>,
    /// Where each read lands first.
    chunk: Box<[u8]>,
    traffic: Arc<PeerTraffic>,
}

impl IncomingStream {
    /// `unread`: plaintext the receiver had buffered past the first message.
    pub(super) fn new(
        from: u64,
        to: u64,
        socket: TcpStream,
        tls: Option<ServerConnection>,
        unread: Vec<u8>,
    ) -> io::Result<IncomingStream> {
        socket.set_nonblocking(true)?;
        Ok(IncomingStream {
            from,
            to,
            socket,
            tls: tls.map(Box::new),
            unread,
            chunk: vec![0u8; READ_CHUNK_BYTES].into_boxed_slice(),
            traffic: crate::metrics::peer(from),
        })
    }

    pub fn from(&self) -> u64 {
        self.from
    }

    pub fn socket(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }

    /// Reads what has arrived (up to a budget) and appends every whole message to `messages`;
    /// false once the peer closed the stream. Err when it broke or the peer sent what a raft
    /// stream may not carry. Either way the caller then drops it (the peer dials again).
    pub fn read(&mut self, messages: &mut Vec<Message>) -> Result<bool, String> {
        let ended = self.receive().map_err(|e| e.to_string())?;
        self.decode(messages)?;
        Ok(!ended)
    }

    /// Moves received plaintext into `unread`; true once the peer has closed the stream.
    fn receive(&mut self) -> io::Result<bool> {
        let mut budget = READ_BUDGET_BYTES;
        while budget > 0 {
            let read = match &mut self.tls {
                None => (&self.socket).read(&mut self.chunk),
                Some(tls) => read_tls(tls, &self.socket, &mut self.chunk),
            };
            match read {
                Ok(0) => return Ok(true),
                Ok(n) => {
                    self.unread.extend_from_slice(&self.chunk[..n]);
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Decodes the whole frames in `unread`; a partial one waits for the rest.
    fn decode(&mut self, messages: &mut Vec<Message>) -> Result<(), String> {
        let mut at = 0;
        while let Some((kind, payload)) = whole_frame(&self.unread[at..])? {
            let length = frame::FRAME_HEADER_BYTES + payload.len();
            self.traffic
                .received_bytes
                .fetch_add(length as u64, Ordering::Relaxed);
            messages.push(self.message(kind, payload)?);
            at += length;
        }
        self.unread.drain(..at);
        if self.unread.is_empty() && self.unread.capacity() > RETAINED_BUFFER_BYTES {
            self.unread = Vec::new();
        }
        Ok(())
    }

    fn message(&self, kind: u8, payload: &[u8]) -> Result<Message, String> {
        if kind != frame::KIND_MESSAGE {
            return Err(format!("unexpected frame kind {kind} on a raft stream"));
        }
        let message =
            Message::parse_from_bytes(payload).map_err(|e| format!("bad raft message: {e}"))?;
        if message.from != self.from || message.to != self.to {
            return Err(format!(
                "message from {:x} to {:x} on the stream of {:x}",
                message.from, message.to, self.from
            ));
        }
        match message.get_msg_type() {
            MessageType::MsgSnapshot => {
                return Err("a snapshot on a raft stream (snapshots have their own)".into())
            }
            MessageType::MsgAppend => super::stats::received_append(message.from, payload.len()),
            _ => {}
        }
        Ok(message)
    }
}

/// Raft streams from one peer read at once. A peer has one raft stream at a time (it dials again
/// only after losing one); a newer one displaces the oldest beyond this, so streams left
/// half-open cannot pile up.
pub const MAX_STREAMS_PER_PEER: usize = 2;

/// The raft streams the raft thread reads, by the key it watches each under.
#[derive(Default)]
pub struct IncomingStreams {
    streams: HashMap<u64, IncomingStream>,
    next_key: u64,
}

impl IncomingStreams {
    /// Adds `stream` under a new key; also gives back the streams it displaced, for the
    /// caller to stop watching before they close.
    pub fn add(&mut self, stream: IncomingStream) -> (u64, Vec<IncomingStream>) {
        let from = stream.from;
        let mut same_peer: Vec<u64> = (self.streams.iter())
            .filter(|(_, s)| s.from == from)
            .map(|(key, _)| *key)
            .collect();
        same_peer.sort_unstable();
        let excess = (same_peer.len() + 1).saturating_sub(MAX_STREAMS_PER_PEER);
        let displaced = (same_peer.into_iter().take(excess))
            .filter_map(|key| self.streams.remove(&key))
            .collect();
        let key = self.next_key;
        self.next_key += 1;
        self.streams.insert(key, stream);
        (key, displaced)
    }

    pub fn get_mut(&mut self, key: u64) -> Option<&mut IncomingStream> {
        self.streams.get_mut(&key)
    }

    pub fn get(&self, key: u64) -> Option<&IncomingStream> {
        self.streams.get(&key)
    }

    pub fn remove(&mut self, key: u64) -> Option<IncomingStream> {
        self.streams.remove(&key)
    }

    pub fn is_empty(&self) -> bool {
        self.streams.is_empty()
    }
}

/// One TLS read: records from the socket into rustls, then its plaintext out. Ok(0) once the
/// peer closed (with or without close_notify).
fn read_tls(tls: &mut ServerConnection, socket: &TcpStream, chunk: &mut [u8]) -> io::Result<usize> {
    loop {
        match tls.reader().read(chunk) {
            Ok(n) => return Ok(n),
            // A closed socket without close_notify: ended as well.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
        let mut reader = socket;
        if tls.read_tls(&mut reader)? == 0 {
            return Ok(0);
        }
        tls.process_new_packets().map_err(io::Error::other)?;
    }
}

/// The first whole frame in `bytes`: kind and payload, None if it has not all arrived.
fn whole_frame(bytes: &[u8]) -> Result<Option<(u8, &[u8])>, String> {
    let Some(header) = bytes.get(..frame::FRAME_HEADER_BYTES) else {
        return Ok(None);
    };
    let length = u32::from_le_bytes(header[1..].try_into().expect("4 bytes")) as usize;
    if length > frame::MAX_FRAME_BYTES {
        return Err(format!("a frame of {length} bytes is over the limit"));
    }
    Ok(bytes
        .get(frame::FRAME_HEADER_BYTES..frame::FRAME_HEADER_BYTES + length)
        .map(|payload| (header[0], payload)))
}

#[cfg(test)]
mod tests {
    use super::IncomingStream;
    use protobuf::Message as _;
    use raft::eraftpb::{Message, MessageType};
    use std::io::Write as _;
    use std::net::{TcpListener, TcpStream};

    fn frame_of(message: &Message) -> Vec<u8> {
        let payload = message.write_to_bytes().unwrap();
        let mut frame = vec![super::frame::KIND_MESSAGE];
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&payload);
        frame
    }

    fn heartbeat(from: u64, to: u64, term: u64) -> Message {
        let mut message = Message::default();
        message.set_msg_type(MessageType::MsgHeartbeat);
        (message.from, message.to, message.term) = (from, to, term);
        message
    }

    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        (peer, ours)
    }

    /// Reads until `count` messages came, or the stream fails.
    fn read_messages(stream: &mut IncomingStream, count: usize) -> Result<Vec<Message>, String> {
        let mut messages = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while messages.len() < count && std::time::Instant::now() < deadline {
            stream.read(&mut messages)?;
        }
        Ok(messages)
    }

    #[test]
    fn frames_split_anywhere_arrive_whole_and_in_order_after_what_was_buffered() {
        let (mut peer, ours) = pair();
        let first = frame_of(&heartbeat(2, 1, 1));
        let second = frame_of(&heartbeat(2, 1, 2));
        let third = frame_of(&heartbeat(2, 1, 3));
        // The receiver had read the first frame and half of the second.
        let mut buffered = first.clone();
        buffered.extend_from_slice(&second[..3]);
        let mut stream = IncomingStream::new(2, 1, ours, None, buffered).unwrap();
        peer.write_all(&second[3..]).unwrap();
        peer.write_all(&third[..7]).unwrap();
        let got = read_messages(&mut stream, 2).unwrap();
        assert_eq!(got.iter().map(|m| m.term).collect::<Vec<_>>(), vec![1, 2]);
        peer.write_all(&third[7..]).unwrap();
        drop(peer);
        let mut rest = Vec::new();
        while stream.read(&mut rest).unwrap() {}
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].term, 3);
    }

    #[test]
    fn a_peers_newest_streams_displace_its_oldest_beyond_the_limit() {
        use super::{IncomingStreams, MAX_STREAMS_PER_PEER};
        let mut streams = IncomingStreams::default();
        let mut sockets = Vec::new();
        let mut add = |streams: &mut IncomingStreams, from: u64| {
            let (peer, ours) = pair();
            sockets.push(peer);
            let (key, displaced) =
                streams.add(IncomingStream::new(from, 1, ours, None, Vec::new()).unwrap());
            (key, displaced.iter().map(|s| s.from()).collect::<Vec<_>>())
        };
        let (first, _) = add(&mut streams, 2);
        let (other_peer, _) = add(&mut streams, 3);
        for _ in 1..MAX_STREAMS_PER_PEER {
            assert_eq!(add(&mut streams, 2).1, Vec::<u64>::new());
        }
        let (newest, displaced) = add(&mut streams, 2);
        assert_eq!(displaced, vec![2], "the oldest stream from 2 makes room");
        assert!(streams.get(first).is_none());
        assert!(
            streams.get(other_peer).is_some(),
            "other peers' streams stay"
        );
        assert!(streams.get(newest).is_some());
    }

    #[test]
    fn what_a_raft_stream_may_not_carry_ends_it_with_the_reason() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (frame_of(&heartbeat(3, 1, 1)), "on the stream of 2"),
            (frame_of(&heartbeat(2, 9, 1)), "to 9"),
            (
                vec![super::super::frame::KIND_QUERY, 0, 0, 0, 0],
                "unexpected frame kind",
            ),
            (vec![1, 0xff, 0xff, 0xff, 0x7f], "over the limit"),
            (vec![1, 3, 0, 0, 0, 0xff, 0xff, 0xff], "bad raft message"),
            (
                {
                    let mut snapshot = heartbeat(2, 1, 1);
                    snapshot.set_msg_type(MessageType::MsgSnapshot);
                    frame_of(&snapshot)
                },
                "snapshot",
            ),
        ];
        for (bytes, reason) in cases {
            let (mut peer, ours) = pair();
            let mut stream = IncomingStream::new(2, 1, ours, None, Vec::new()).unwrap();
            peer.write_all(&bytes).unwrap();
            let error = read_messages(&mut stream, 1).unwrap_err();
            assert!(error.contains(reason), "{error:?} should name {reason:?}");
        }
    }
}

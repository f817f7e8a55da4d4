//! Raft traffic between members: one outgoing stream per peer, written by the raft thread itself
//! when nothing waits before a message and otherwise by its own task from a bounded queue
//! (`outbox.rs`, `sender.rs`), and a listener accepting the other members' streams
//! (`receiver.rs`). Snapshots travel on a connection of their own so heartbeats keep flowing.
//! Wire format: `frame.rs`.

mod frame;
mod incoming;
mod join;
mod outbox;
mod query;
mod receiver;
mod sender;
mod spool;
pub mod stats;

pub use incoming::{IncomingStream, IncomingStreams};
pub use join::find_self;
pub use query::{Answer, Query, ANSWER_TIMEOUT};
pub use receiver::{bind, serve, PeerListener};
pub use spool::SpooledSnapshot;

use futures_rustls::rustls::ClientConfig;
use raft::eraftpb::Message;
use smol::channel::Sender;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Messages waiting for one peer's stream; beyond this the peer counts as unreachable and raft
/// slows down to probing it.
const PEER_QUEUE_LENGTH: usize = 4096;

/// What the transport tells the raft thread.
pub enum PeerEvent {
    /// A message from a peer. For MsgSnapshot, `snapshot.data` is the path of the received dump.
    Message(Box<Message>),
    /// A peer's admitted raft stream, for the raft thread to read from now on.
    Stream(Box<IncomingStream>),
    /// A message to this peer could not be sent.
    Unreachable(u64),
    /// A snapshot stream to this peer ended (`ok`: the peer received all of it).
    SnapshotSent { to: u64, ok: bool },
    /// A peer's question for this member (as leader), to be answered on `reply`.
    Query { query: Query, reply: Sender<Answer> },
}

/// A piece of a peer snapshot as this member's state produces it.
pub enum Dumped {
    /// Where the dump stands (raft index, term, configuration): comes first.
    Point(crate::mvcc::snapshot::DumpPoint),
    Chunk(Vec<u8>),
    Failed(String),
}

/// What the transport asks of this member's own state. The server hands it in (over the
/// store), so peer/ never opens the store itself.
pub trait LocalState: Send + Sync {
    /// The member list, for a member asking how to join.
    fn members(&self) -> Result<Vec<crate::pb::etcdserverpb::Member>, String>;
    /// HashKV at `revision`, for a peer's corruption check (blocking).
    fn hash_kv(&self, revision: i64) -> Answer;
    /// The whole state for a snapshot (blocking, run on a thread of its own): the point, then
    /// chunks of at most `chunk_bytes`, sent to `out` until it is closed.
    fn dump(&self, chunk_bytes: usize, out: &Sender<Dumped>);
}

/// What both directions of the transport share.
pub struct PeerContext {
    pub cluster_id: u64,
    pub member_id: u64,
    /// TLS for dialing peers at https URLs (None if every peer URL is http).
    pub client_tls: Option<Arc<ClientConfig>>,
    /// This member's state: snapshots, HashKV and the member list for peers.
    pub state: Arc<dyn LocalState>,
    pub events: crate::runtime::ToThread<PeerEvent>,
    /// Where received snapshots are spooled before raft installs them.
    pub snapshot_dir: PathBuf,
    /// The members the transport talks to (as the raft thread last set them): streams from
    /// anyone else are refused, as etcd refuses a sender it does not know.
    pub members: std::sync::RwLock<std::collections::HashSet<u64>>,
}

impl PeerContext {
    pub fn is_member(&self, id: u64) -> bool {
        self.members
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .contains(&id)
    }
}

struct Peer {
    urls: Vec<String>,
    /// Woken through an atomic waker, not smol's event listener: that wakes the stream's task
    /// with its list locked, and the executor thread, running it at once, blocked on that lock
    /// until the raft thread let go.
    outbox: Arc<outbox::Outbox>,
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.outbox.close();
    }
}

/// The raft thread's side: hands messages to the peers' queues.
pub struct Transport {
    context: Arc<PeerContext>,
    peers: HashMap<u64, Peer>,
}

impl Transport {
    pub fn new(context: Arc<PeerContext>) -> Transport {
        Transport {
            context,
            peers: HashMap::new(),
        }
    }

    /// Makes the set of streams match the cluster's members (ID, peer URLs); this member is
    /// skipped. A removed member's stream ends when its outbox is closed.
    pub fn set_members(&mut self, members: &[(u64, Vec<String>)]) {
        *self
            .context
            .members
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) =
            members.iter().map(|(id, _)| *id).collect();
        let own = self.context.member_id;
        self.peers.retain(|id, peer| {
            members
                .iter()
                .any(|(m, urls)| m == id && *urls == peer.urls)
        });
        for (id, urls) in members {
            if *id == own || self.peers.contains_key(id) {
                continue;
            }
            let outbox = Arc::new(outbox::Outbox::new(*id, PEER_QUEUE_LENGTH));
            crate::runtime::spawn(sender::run(
                self.context.clone(),
                *id,
                urls.clone(),
                outbox.clone(),
            ));
            self.peers.insert(
                *id,
                Peer {
                    urls: urls.clone(),
                    outbox,
                },
            );
        }
    }

    /// The other members this transport talks to.
    pub fn member_ids(&self) -> Vec<u64> {
        self.peers.keys().copied().collect()
    }

    /// Asks peer `to` a question (None: no such peer); the future runs on its own task.
    pub fn ask(
        &self,
        to: u64,
        query: Query,
    ) -> Option<impl std::future::Future<Output = Result<Answer, String>> + Send + 'static> {
        let urls = self.peers.get(&to)?.urls.clone();
        let context = self.context.clone();
        Some(async move { query::ask(&context, to, &urls, &query).await })
    }

    /// Sends a message, or queues it; false if it cannot be sent (unknown peer, its queue is
    /// full, or writing it failed).
    pub fn send(&mut self, message: Message) -> bool {
        match self.peers.get_mut(&message.to) {
            Some(peer) => {
                if message.get_msg_type() == raft::eraftpb::MessageType::MsgAppend {
                    use protobuf::Message as _;
                    stats::sent_append(self.context.member_id, message.compute_size() as usize);
                }
                peer.outbox.send(message)
            }
            None => false,
        }
    }
}

//! The consensus member: one thread owns raft-rs's RawNode and the store's only writer; the WAL
//! is written by a thread of its own (`log_writer.rs`) and LMDB flushed by another
//! (`checkpointer.rs`), both fed by the raft thread. The rest of the process talks to it through
//! a bounded channel (`RaftHandle`) and reads its progress from `RaftStatus`.

mod checkpointer;
mod compactor;
mod inbound;
mod leases;
mod log_writer;
mod logger;
mod node;
mod reads;
mod recovery;

pub use node::{start, Bootstrap};

use crate::apply::ApplyResult;
use crate::doorbell::Doorbell;
use crate::mvcc::KvError;
use crate::pb::etcdserverpb::{InternalRaftRequest, Member};
use crate::runtime::ToThread;
use crate::status::{Code, Status};
use smol::channel::{Receiver, Sender};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Peer messages waiting for the raft thread; peer readers wait when it is full.
const PEER_EVENT_QUEUE_LENGTH: usize = 4096;

/// The raft thread's end of the peers' channel, and the bell that every channel into the
/// thread (peer events, commands, WAL reports) rings.
pub struct Inbox {
    peer_events: Receiver<crate::peer::PeerEvent>,
    bell: Arc<Doorbell>,
}

/// The peers' channel into the raft thread, and the raft thread's end for `start`.
pub fn inbox() -> Result<(ToThread<crate::peer::PeerEvent>, Inbox), String> {
    let bell = Arc::new(Doorbell::new().map_err(|e| format!("the raft thread's epoll: {e}"))?);
    let (peer_events, receiver) = crate::runtime::to_thread(&bell, Some(PEER_EVENT_QUEUE_LENGTH));
    let inbox = Inbox {
        peer_events: receiver,
        bell,
    };
    Ok((peer_events, inbox))
}

/// How many commands may wait for the raft thread before senders are made to wait.
const COMMAND_QUEUE_LENGTH: usize = 4096;
/// How long a client request may wait for raft before it is answered with a timeout: etcd's
/// default request timeout (5 s) plus two election timeouts, as etcd computes it.
const REQUEST_TIMEOUT_BASE: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RaftError {
    /// The request was not applied in time (etcd: "etcdserver: request timed out").
    Timeout,
    /// The raft thread has stopped (etcd: "etcdserver: server stopped").
    Stopped,
    /// No leader is known and as many requests as may wait for one are waiting.
    NoLeader,
    /// More is waiting for raft (or for apply) than this member takes on.
    TooManyRequests,
}

/// Where the answer to a proposal goes once it is applied (or raft refused it).
/// A oneshot: one answer per proposal, with no queue and no listener list to set up per request.
pub type ProposalReply = futures_channel::oneshot::Sender<Result<ProposalAnswer, RaftError>>;

/// A proposal's outcome, which may leave the raft thread before the store transaction that
/// holds it commits (committed.rs): the request's answer waits until the member's applied
/// index reaches `visible_at`, so no client learns of a write a read here could still miss.
pub struct ProposalAnswer {
    pub result: ApplyResult,
    /// The log index of the entry that was applied (0: nothing to wait for).
    pub visible_at: u64,
}

impl ProposalAnswer {
    /// An answer with nothing applied behind it (a refusal, a leader's lease renewal).
    pub fn now(result: ApplyResult) -> ProposalAnswer {
        ProposalAnswer {
            result,
            visible_at: 0,
        }
    }
}

/// The outcome an answer carries, once reads on this member can see it.
pub async fn once_visible(
    status: &RaftStatus,
    answer: Result<ProposalAnswer, RaftError>,
) -> Result<ApplyResult, RaftError> {
    let answer = answer?;
    status.applied_through(answer.visible_at).await;
    Ok(answer.result)
}

pub enum Command {
    /// Replicate and apply a request; the answer comes once it is applied on this member.
    Propose {
        request: Box<InternalRaftRequest>,
        reply: ProposalReply,
    },
    /// Wait until this member has applied everything committed when the read arrived.
    ReadBarrier { reply: reads::ReadReply },
    /// Change the raft configuration; the answer comes once the change is applied here.
    ChangeMembers {
        change: MemberChange,
        reply: ProposalReply,
    },
    /// Keep a lease alive: the leader restarts its clock; a follower proposes a renewal.
    LeaseKeepAlive { id: i64, reply: ProposalReply },
    /// Seconds a lease has left by this member's clock (None: unknown lease).
    LeaseRemaining { id: i64, reply: Sender<Option<i64>> },
    /// Forward a question to the leader (None: this member leads, or no leader is known).
    AskLeader {
        query: crate::peer::Query,
        reply: Sender<Option<Result<crate::peer::Answer, String>>>,
    },
    /// Ask every other member (each on a connection of its own); the answers by member ID.
    AskMembers {
        query: crate::peer::Query,
        reply: Sender<Vec<(u64, Result<crate::peer::Answer, String>)>>,
    },
    /// Hand leadership to another voter (this member must be the leader).
    MoveLeader {
        target: u64,
        reply: Sender<Result<(), KvError>>,
    },
}

/// A change of the raft configuration, as etcd's Cluster service asks for it.
pub enum MemberChange {
    /// A new voter or (with `is_learner`) learner.
    Add(Member),
    Remove(u64),
    /// A learner becomes a voter; only the leader can tell whether it has caught up.
    Promote(u64),
}

/// What the raft thread publishes about itself, read without locks by request handlers.
#[derive(Default)]
pub struct RaftStatus {
    pub member_id: u64,
    pub cluster_id: u64,
    term: AtomicU64,
    leader_id: AtomicU64,
    commit_index: AtomicU64,
    applied_index: AtomicU64,
    /// Notified whenever the applied index moves.
    applied_moved: event_listener::Event,
    is_learner: AtomicBool,
    /// Which writers wait for disk space (the API refuses writes meanwhile).
    pub disk: Arc<crate::disk::DiskSpace>,
}

impl RaftStatus {
    pub fn term(&self) -> u64 {
        self.term.load(Ordering::Acquire)
    }
    pub fn leader_id(&self) -> u64 {
        self.leader_id.load(Ordering::Acquire)
    }
    pub fn commit_index(&self) -> u64 {
        self.commit_index.load(Ordering::Acquire)
    }
    pub fn applied_index(&self) -> u64 {
        self.applied_index.load(Ordering::Acquire)
    }
    /// Publishes a new applied index (the store has committed it) to those waiting for it.
    pub fn set_applied_index(&self, index: u64) {
        self.applied_index.store(index, Ordering::Release);
        self.applied_moved.notify(usize::MAX);
    }
    /// Waits until the applied index reaches `index`.
    pub async fn applied_through(&self, index: u64) {
        while self.applied_index() < index {
            let listener = self.applied_moved.listen();
            // Checked again once listening, so a move in between is not missed.
            if self.applied_index() >= index {
                return;
            }
            listener.await;
        }
    }
    pub fn is_learner(&self) -> bool {
        self.is_learner.load(Ordering::Acquire)
    }
}

#[derive(Clone)]
pub struct RaftHandle {
    commands: ToThread<Command>,
    pub status: Arc<RaftStatus>,
    request_timeout: Duration,
}

impl RaftHandle {
    fn new(
        status: Arc<RaftStatus>,
        election_timeout: Duration,
        bell: &Arc<Doorbell>,
    ) -> (RaftHandle, Receiver<Command>) {
        let (commands, receiver) = crate::runtime::to_thread(bell, Some(COMMAND_QUEUE_LENGTH));
        let request_timeout = REQUEST_TIMEOUT_BASE + 2 * election_timeout;
        (
            RaftHandle {
                commands,
                status,
                request_timeout,
            },
            receiver,
        )
    }

    async fn wait<T>(&self, command: Command, answer: Receiver<T>) -> Result<T, RaftError> {
        self.wait_for(command, async move { answer.recv().await.ok() })
            .await
    }

    /// Sends `command` and waits (at most the request timeout) for `answer`, which is None
    /// when the raft thread dropped the command's reply.
    async fn wait_for<T>(
        &self,
        command: Command,
        answer: impl std::future::Future<Output = Option<T>>,
    ) -> Result<T, RaftError> {
        self.commands
            .send(command)
            .await
            .map_err(|_| RaftError::Stopped)?;
        let timeout = async {
            smol::Timer::after(self.request_timeout).await;
            Err(RaftError::Timeout)
        };
        smol::future::or(async { answer.await.ok_or(RaftError::Stopped) }, timeout).await
    }

    /// A proposal's round trip: the raft thread answers through a oneshot.
    async fn wait_proposal(
        &self,
        command: impl FnOnce(ProposalReply) -> Command,
    ) -> Result<ApplyResult, RaftError> {
        let (reply, answer) = futures_channel::oneshot::channel();
        let status = self.status.clone();
        self.wait_for(command(reply), async move {
            Some(once_visible(&status, answer.await.ok()?).await)
        })
        .await?
    }

    /// Proposes `request` and waits for it to be applied on this member.
    pub async fn propose(
        &self,
        request: Box<InternalRaftRequest>,
    ) -> Result<ApplyResult, RaftError> {
        use crate::metrics::{PROPOSALS_FAILED, PROPOSALS_PENDING};
        PROPOSALS_PENDING.add(1);
        let result = self
            .wait_proposal(|reply| Command::Propose { request, reply })
            .await;
        PROPOSALS_PENDING.add(-1);
        if result.is_err() {
            PROPOSALS_FAILED.add(1);
        }
        result
    }

    /// Changes the membership and waits for the change to be applied on this member.
    pub async fn change_members(&self, change: MemberChange) -> Result<ApplyResult, RaftError> {
        self.wait_proposal(|reply| Command::ChangeMembers { change, reply })
            .await
    }

    /// Moves leadership to `target` and waits until it leads.
    pub async fn move_leader(&self, target: u64) -> Result<Result<(), KvError>, RaftError> {
        let (reply, answer) = smol::channel::bounded(1);
        self.wait(Command::MoveLeader { target, reply }, answer)
            .await
    }

    /// Keeps a lease alive; answers its granted TTL.
    pub async fn lease_keep_alive(&self, id: i64) -> Result<ApplyResult, RaftError> {
        self.wait_proposal(|reply| Command::LeaseKeepAlive { id, reply })
            .await
    }

    /// The leader's answer to `query`; None when this member is the leader or none is known.
    pub async fn ask_leader(
        &self,
        query: crate::peer::Query,
    ) -> Result<Option<Result<crate::peer::Answer, String>>, RaftError> {
        let (reply, answer) = smol::channel::bounded(1);
        self.wait(Command::AskLeader { query, reply }, answer).await
    }

    /// Every other member's answer to `query`.
    pub async fn ask_members(
        &self,
        query: crate::peer::Query,
    ) -> Result<Vec<(u64, Result<crate::peer::Answer, String>)>, RaftError> {
        let (reply, answer) = smol::channel::bounded(1);
        self.wait(Command::AskMembers { query, reply }, answer)
            .await
    }

    pub async fn lease_remaining(&self, id: i64) -> Result<Option<i64>, RaftError> {
        let (reply, answer) = smol::channel::bounded(1);
        self.wait(Command::LeaseRemaining { id, reply }, answer)
            .await
    }

    /// Waits until a linearizable read may be served from this member's store.
    pub async fn read_barrier(&self) -> Result<(), RaftError> {
        let (reply, answer) = smol::channel::bounded(1);
        self.wait(Command::ReadBarrier { reply }, answer).await?
    }
}

impl From<RaftError> for Status {
    fn from(error: RaftError) -> Status {
        match error {
            RaftError::Timeout => Status::new(Code::Unavailable, "etcdserver: request timed out"),
            RaftError::Stopped => Status::new(Code::Unavailable, "etcdserver: server stopped"),
            RaftError::NoLeader => Status::new(Code::Unavailable, "etcdserver: no leader"),
            RaftError::TooManyRequests => {
                Status::new(Code::ResourceExhausted, "etcdserver: too many requests")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::RaftStatus;
    use smol::future::poll_once;

    /// An answer that left the raft thread ahead of its commit is held until the applied
    /// index reaches its entry, and no longer.
    #[test]
    fn an_answer_waits_for_the_applied_index_to_reach_its_entry() {
        smol::block_on(async {
            let status = RaftStatus::default();
            status.set_applied_index(6);
            assert!(poll_once(status.applied_through(0)).await.is_some());
            assert!(poll_once(status.applied_through(6)).await.is_some());
            let mut waiting = Box::pin(status.applied_through(8));
            assert!(poll_once(&mut waiting).await.is_none());
            status.set_applied_index(7);
            assert!(poll_once(&mut waiting).await.is_none(), "7 is not 8");
            status.set_applied_index(9);
            assert!(poll_once(&mut waiting).await.is_some());
        });
    }
}

//! Command intake: requests, membership changes, leader transfers and forwarded questions
//! turned into proposals, queued while no leader is known and refused past their limits.

use super::*;

impl Node {
    pub(super) fn handle(&mut self, command: Command) {
        match command {
            Command::Propose { request, reply } => self.take_proposal(request, reply),
            Command::ReadBarrier { reply } => {
                if let Some(refusal) = self.refuse_waiting(self.reads.queued()) {
                    let _ = reply.try_send(Err(refusal));
                    return;
                }
                self.reads.queue(reply)
            }
            Command::ChangeMembers { change, reply } => match self.conf_change(change) {
                Ok(_) if self.refuse_waiting(self.unproposed_changes.len()).is_some() => {
                    let _ = reply.send(Err(RaftError::NoLeader));
                }
                Ok(mut conf_change) => {
                    conf_change.id = self.next_request_id;
                    self.next_request_id += 1;
                    self.waiters.insert(conf_change.id, reply);
                    self.unproposed_changes.push(conf_change);
                }
                Err(refusal) => {
                    let _ = reply.send(Ok(ProposalAnswer::now(Err(refusal))));
                }
            },
            Command::AskLeader { query, reply } => self.ask_leader(query, reply),
            Command::AskMembers { query, reply } => self.ask_members(query, reply),
            Command::MoveLeader { target, reply } => self.move_leader(target, reply),
            Command::LeaseKeepAlive { id, reply } => self.lease_keep_alive(id, reply),
            Command::LeaseRemaining { id, reply } => {
                let _ = reply.try_send(self.leases.remaining(id));
            }
        }
    }

    /// A request to replicate: numbered, its waiter kept, queued for the next proposal round.
    fn take_proposal(&mut self, mut request: Box<InternalRaftRequest>, reply: ProposalReply) {
        if let Some(refusal) = self.refuse_waiting(self.unproposed.len()) {
            let _ = reply.send(Err(refusal));
            return;
        }
        let id = self.next_request_id;
        self.next_request_id += 1;
        request.header = Some(RequestHeader {
            id,
            ..RequestHeader::default()
        });
        self.waiters.insert(id, reply);
        self.unproposed.push(request);
    }

    /// Forwards `query` to the leader; None when this member leads or no leader is known.
    fn ask_leader(
        &mut self,
        query: crate::peer::Query,
        reply: Sender<Option<Result<crate::peer::Answer, String>>>,
    ) {
        let leader = self.raw.raft.leader_id;
        let asking = (leader != 0 && !self.is_leader())
            .then(|| self.transport.ask(leader, query))
            .flatten();
        match asking {
            Some(asking) => crate::runtime::spawn(async move {
                let _ = reply.send(Some(asking.await)).await;
            }),
            None => {
                let _ = reply.try_send(None);
            }
        }
    }

    /// Asks every other member at once; the answers by member ID, when all have come.
    fn ask_members(
        &mut self,
        query: crate::peer::Query,
        reply: Sender<Vec<(u64, Result<crate::peer::Answer, String>)>>,
    ) {
        let askings: Vec<_> = self
            .transport
            .member_ids()
            .into_iter()
            .filter_map(|id| {
                self.transport
                    .ask(id, query.clone())
                    .map(|asking| (id, asking))
            })
            .map(|(id, asking)| (id, crate::runtime::task(asking)))
            .collect();
        crate::runtime::spawn(async move {
            let mut answers = Vec::new();
            for (id, asking) in askings {
                answers.push((id, asking.await));
            }
            let _ = reply.send(answers).await;
        });
    }

    /// Whether one more request may join `waiting` others: while no leader is known they wait
    /// for one, up to MAX_WAITING_FOR_LEADER.
    pub(super) fn refuse_waiting(&self, waiting: usize) -> Option<RaftError> {
        (self.raw.raft.leader_id == 0 && waiting >= MAX_WAITING_FOR_LEADER)
            .then_some(RaftError::NoLeader)
    }

    /// A proposal raft dropped: it waits again during a leadership transfer; otherwise the
    /// leader has as much uncommitted as it takes, and the proposer hears so.
    pub(super) fn dropped(&mut self, request: Box<InternalRaftRequest>) {
        if self.raw.raft.lead_transferee.is_some() || self.raw.raft.leader_id == 0 {
            self.unproposed.push(request);
            return;
        }
        let id = request.header.map_or(0, |h| h.id);
        if let Some(reply) = self.waiters.remove(&id) {
            let _ = reply.send(Err(RaftError::TooManyRequests));
        }
    }

    /// Once there is a leader: proposes what waited for one, and etcd's start-up proposals
    /// (this member's attributes, the cluster version).
    pub(super) fn propose_pending(&mut self) {
        if self.raw.raft.leader_id == 0 {
            return;
        }
        if !self.published {
            let attributes = MemberAttributesRequest {
                member_id: self.bootstrap.member_id,
                name: self.bootstrap.name.clone(),
                client_urls: self.bootstrap.client_urls.clone(),
            };
            self.published = self.propose_internal(InternalRaftRequest {
                member_attributes: Some(attributes),
                ..InternalRaftRequest::default()
            });
        }
        let term = self.raw.raft.term;
        if self.raw.raft.state == StateRole::Leader && self.version_proposed_term != term {
            let has_version = self
                .store
                .read_txn()
                .and_then(|txn| self.store.cluster_version(&txn))
                .ok()
                .flatten();
            if has_version.is_none() {
                let version = ClusterVersionSetRequest {
                    version: crate::version::CLUSTER_VERSION.to_string(),
                };
                if self.propose_internal(InternalRaftRequest {
                    cluster_version_set: Some(version),
                    ..InternalRaftRequest::default()
                }) {
                    self.version_proposed_term = term;
                }
            } else {
                self.version_proposed_term = term;
            }
        }
        let unproposed = std::mem::take(&mut self.unproposed);
        let (mut requests, mut entries, mut bytes) = (Vec::new(), Vec::new(), 0);
        for request in unproposed {
            let data = request.encode_to_vec();
            if !entries.is_empty() && bytes + data.len() > MAX_MESSAGE_ENTRY_BYTES {
                self.propose_batch(std::mem::take(&mut requests), std::mem::take(&mut entries));
                bytes = 0;
            }
            bytes += data.len();
            entries.push(Entry {
                data: data.into(),
                ..Entry::default()
            });
            requests.push(request);
        }
        if !entries.is_empty() {
            self.propose_batch(requests, entries);
        }
        let unproposed = std::mem::take(&mut self.unproposed_changes);
        for change in unproposed {
            if self
                .raw
                .propose_conf_change(vec![], change.clone())
                .is_err()
            {
                self.unproposed_changes.push(change);
            }
        }
    }

    /// Proposes `entries` (the encoded `requests`) as one message: the leader appends them at
    /// once and sends each follower one append for all of them, and a follower forwards them
    /// to the leader in one message, where a proposal each meant a message each. raft takes or
    /// drops the batch whole.
    #[allow(clippy::vec_box)]
    fn propose_batch(&mut self, requests: Vec<Box<InternalRaftRequest>>, entries: Vec<Entry>) {
        let mut message = Message::default();
        message.set_msg_type(MessageType::MsgPropose);
        message.from = self.raw.raft.id;
        message.set_entries(entries.into());
        if self.raw.step(message).is_err() {
            for request in requests {
                self.dropped(request);
            }
        }
    }

    pub(super) fn propose_internal(&mut self, mut request: InternalRaftRequest) -> bool {
        request.header = Some(RequestHeader {
            id: self.next_request_id,
            ..RequestHeader::default()
        });
        self.next_request_id += 1;
        self.raw.propose(vec![], request.encode_to_vec()).is_ok()
    }

    /// Turns a membership request into a conf change, or answers it with etcd's refusal.
    pub(super) fn conf_change(&self, change: MemberChange) -> Result<ConfChange, KvError> {
        let mut conf_change = ConfChange::default();
        match change {
            MemberChange::Add(member) => {
                conf_change.set_change_type(if member.is_learner {
                    ConfChangeType::AddLearnerNode
                } else {
                    ConfChangeType::AddNode
                });
                conf_change.node_id = member.id;
                conf_change.context = member.encode_to_vec().into();
            }
            MemberChange::Remove(id) => {
                conf_change.set_change_type(ConfChangeType::RemoveNode);
                conf_change.node_id = id;
            }
            MemberChange::Promote(id) => {
                let txn = self.store.read_txn()?;
                let members = membership::list(&self.store, &txn)?;
                let member = members
                    .iter()
                    .find(|m| m.id == id)
                    .ok_or(KvError::Member(MemberError::NotFound))?;
                if !member.is_learner {
                    return Err(KvError::Member(MemberError::NotLearner));
                }
                if !self.is_leader() {
                    return Err(KvError::Member(MemberError::NotLeader));
                }
                // etcd's isLearnerReady: the learner has 90% of what the leader has.
                let progress = self.raw.raft.prs();
                let leader_match = progress
                    .get(self.bootstrap.member_id)
                    .map_or(0, |p| p.matched);
                let learner_match = progress.get(id).map_or(0, |p| p.matched);
                if (learner_match as f64) < leader_match as f64 * 0.9 {
                    return Err(KvError::Member(MemberError::LearnerNotReady));
                }
                conf_change.set_change_type(ConfChangeType::AddNode);
                conf_change.node_id = id;
                let promoted = crate::pb::etcdserverpb::Member {
                    is_learner: false,
                    ..member.clone()
                };
                conf_change.context = promoted.encode_to_vec().into();
            }
        }
        Ok(conf_change)
    }

    pub(super) fn move_leader(&mut self, target: u64, reply: Sender<Result<(), KvError>>) {
        if !self.is_leader() {
            let _ = reply.try_send(Err(KvError::Member(MemberError::NotLeader)));
            return;
        }
        if !self.raw.raft.prs().conf().voters().contains(target) {
            let _ = reply.try_send(Err(KvError::Member(MemberError::BadLeaderTransferee)));
            return;
        }
        if target != self.bootstrap.member_id {
            self.raw.transfer_leader(target);
        }
        self.transfers.push((target, reply));
    }

    /// A follower's forwarded question; only the leader answers it.
    pub(super) fn answer_query(&mut self, query: Query, reply: Sender<Answer>) {
        let refused = |error: KvError| {
            let status = crate::status::Status::from(error);
            Answer::Refused {
                code: status.code as u32,
                message: status.message,
            }
        };
        if !self.is_leader() {
            let _ = reply.try_send(refused(KvError::Member(MemberError::NotLeader)));
            return;
        }
        match query {
            Query::LeaseRemaining(id) => {
                let _ = reply.try_send(Answer::Remaining(self.leases.remaining(id)));
            }
            // The peer listener answers these from the store itself.
            Query::HashKv(_) => {
                let _ = reply.try_send(Answer::Refused {
                    code: crate::status::Code::Unimplemented as u32,
                    message: "HashKV queries are answered by the peer listener".to_string(),
                });
            }
            Query::Promote(id) => {
                let (applied, outcome) = futures_channel::oneshot::channel();
                self.handle(Command::ChangeMembers {
                    change: MemberChange::Promote(id),
                    reply: applied,
                });
                // Not applied in time (leadership lost): the asker has given up too.
                let status = self.status.clone();
                let applied_in_time = smol::future::or(
                    async move { Some(crate::raft::once_visible(&status, outcome.await.ok()?).await) },
                    async {
                        smol::Timer::after(crate::peer::ANSWER_TIMEOUT).await;
                        None
                    },
                );
                crate::runtime::spawn(async move {
                    let answer = match applied_in_time.await {
                        Some(Ok(Ok(_))) => Answer::Done,
                        Some(Ok(Err(error))) => refused(error),
                        Some(Err(_)) | None => refused(KvError::Member(MemberError::NotLeader)),
                    };
                    let _ = reply.send(answer).await;
                });
            }
        }
    }

    pub(super) fn answer_transfers(&mut self) {
        let leader = self.raw.raft.leader_id;
        self.transfers.retain(|(target, reply)| {
            if *target == leader {
                let _ = reply.try_send(Ok(()));
                return false;
            }
            !reply.is_closed()
        });
    }

    pub(super) fn lease_keep_alive(&mut self, id: i64, reply: ProposalReply) {
        if !self.is_leader() {
            // Only the leader's clock counts: the renewal travels to it through the log.
            let request = InternalRaftRequest {
                lease_renew: Some(crate::pb::etcdserverpb::LeaseRenewRequest { id }),
                ..InternalRaftRequest::default()
            };
            self.handle(Command::Propose {
                request: Box::new(request),
                reply,
            });
            return;
        }
        let ttl = self
            .store
            .read_txn()
            .map_err(KvError::from)
            .and_then(|txn| self.store.lease_ttl(&txn, id));
        let answer = match ttl {
            Ok(Some(ttl)) => {
                if self.leases.has_checkpoint(id) {
                    // The others would start it from the old remaining TTL: clear theirs too.
                    self.propose_lease_checkpoints(&[(id, 0)]);
                }
                self.leases.refresh(id, ttl);
                Ok(Applied::LeaseRenewed(ttl))
            }
            Ok(None) => Err(KvError::LeaseNotFound),
            Err(e) => Err(e),
        };
        let _ = reply.send(Ok(ProposalAnswer::now(answer)));
    }

    /// Replicates remaining TTLs, in etcd's batches of at most 1000 leases.
    pub(super) fn propose_lease_checkpoints(&mut self, remaining: &[(i64, i64)]) {
        use crate::pb::etcdserverpb::{LeaseCheckpoint, LeaseCheckpointRequest};
        for batch in remaining.chunks(1000) {
            let checkpoints = batch
                .iter()
                .map(|&(id, remaining_ttl)| LeaseCheckpoint { id, remaining_ttl })
                .collect();
            self.propose_internal(InternalRaftRequest {
                lease_checkpoint: Some(LeaseCheckpointRequest { checkpoints }),
                ..InternalRaftRequest::default()
            });
        }
    }
}

//! The Maintenance service: Status, MoveLeader, Hash, HashKV, Defragment, Alarm and Snapshot,
//! answered from this member's own state.

use super::grpc::{Gone, StreamWriter};
use super::{Api, Call, Code, Status};
use crate::mvcc::KvHash;
use crate::pb::etcdserverpb::{
    AlarmRequest, AlarmResponse, DefragmentRequest, DefragmentResponse, HashKvRequest,
    HashKvResponse, HashRequest, HashResponse, MoveLeaderRequest, MoveLeaderResponse,
    SnapshotRequest, SnapshotResponse, StatusRequest, StatusResponse,
};
use smol::channel::Receiver;
use std::sync::Arc;

pub async fn status(api: &Call<'_>, _: StatusRequest) -> Result<StatusResponse, Status> {
    let raft = &api.raft.status;
    Ok(StatusResponse {
        header: api.header(api.current_revision()?),
        version: crate::version::SERVER_VERSION.to_string(),
        db_size: api.store.size_bytes()? as i64,
        leader: raft.leader_id(),
        raft_index: raft.commit_index(),
        raft_term: raft.term(),
        raft_applied_index: raft.applied_index(),
        // etcd lists raised alarms here, in protobuf text form.
        errors: {
            let txn = api.store.read_txn()?;
            api.store
                .alarms(&txn)?
                .into_iter()
                .map(|(member, alarm)| {
                    let name = crate::pb::etcdserverpb::AlarmType::try_from(alarm)
                        .map_or("NONE", |a| a.as_str_name());
                    format!("memberID:{member} alarm:{name} ")
                })
                .collect()
        },
        db_size_in_use: api.store.size_in_use_bytes()? as i64,
        is_learner: raft.is_learner(),
    })
}

/// Hands leadership to another voter; only the leader can (etcd answers "not leader").
pub async fn move_leader(
    api: &Call<'_>,
    request: MoveLeaderRequest,
) -> Result<MoveLeaderResponse, Status> {
    api.raft.move_leader(request.target_id).await??;
    // etcd answers MoveLeader, Defragment and Alarm without a header.
    Ok(MoveLeaderResponse::default())
}

/// The hash of this member's keyspace at a revision (0: now), to compare members.
pub async fn hash_kv(api: &Call<'_>, request: HashKvRequest) -> Result<HashKvResponse, Status> {
    let hashed = hash_kv_at(api, request.revision).await?;
    Ok(HashKvResponse {
        header: api.header(hashed.current_revision),
        hash: hashed.hash,
        compact_revision: hashed.compact_revision,
    })
}

pub async fn hash(api: &Call<'_>, _: HashRequest) -> Result<HashResponse, Status> {
    let hashed = hash_kv_at(api, 0).await?;
    Ok(HashResponse {
        header: api.header(hashed.current_revision),
        hash: hashed.hash,
    })
}

/// The keyspace hashed at `revision` (0: now), on a blocking thread, as multi-key ranges
/// (`kv::range`): it reads the whole keyspace.
async fn hash_kv_at(api: &Call<'_>, revision: i64) -> Result<KvHash, Status> {
    let store = api.store.clone();
    let (_, hashed) = smol::unblock(move || store.hash_kv_at(revision)).await?;
    Ok(hashed)
}

/// LMDB reuses freed pages in place, so there is nothing to rewrite; answered as etcd answers a
/// finished defragmentation.
pub async fn defragment(_: &Call<'_>, _: DefragmentRequest) -> Result<DefragmentResponse, Status> {
    Ok(DefragmentResponse::default())
}

/// Alarms: listed from the store; raised and cleared through raft (every member then refuses
/// the same writes). NOSPACE is raised by the quota check in `Api::propose`.
pub async fn alarm(api: &Call<'_>, request: AlarmRequest) -> Result<AlarmResponse, Status> {
    use crate::pb::etcdserverpb::alarm_request::AlarmAction;
    use crate::pb::etcdserverpb::{AlarmMember, InternalRaftRequest};
    if request.action == AlarmAction::Get as i32 {
        let txn = api.store.read_txn()?;
        let alarms = api
            .store
            .alarms(&txn)?
            .into_iter()
            .map(|(member_id, alarm)| AlarmMember { member_id, alarm })
            .collect();
        return Ok(AlarmResponse {
            header: None,
            alarms,
        });
    }
    let request = Box::new(InternalRaftRequest {
        alarm: Some(request),
        ..InternalRaftRequest::default()
    });
    let applied = api.propose(request).await?;
    let mut response =
        expect_applied!(crate::apply::Applied::Alarm)(applied).map_err(super::unexpected)?;
    response.header = None;
    Ok(response)
}

/// Bytes of the store per Snapshot message (etcd sends 32 KiB).
const SNAPSHOT_MESSAGE_BYTES: usize = 32 * 1024;

/// What the dumping thread hands the stream.
enum Dumped {
    Start { total: u64, revision: i64 },
    Chunk(Vec<u8>),
    Failed(String),
}

/// A backup file being streamed; removed when dropped.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes the store, as of one read transaction, as an etcd backend (mvcc/backend.rs) into a
/// scratch file next to it, then sends the file in messages; returns when all is sent or the
/// client went away.
fn export_backup(
    store: &crate::mvcc::Store,
    chunks: &smol::channel::Sender<Dumped>,
) -> Result<(), String> {
    use std::io::Read;
    static SEQUENCE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let sequence = SEQUENCE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch =
        Scratch(store.scratch_path(&format!("{}{sequence}.tmp", crate::mvcc::SCRATCH_PREFIX)));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&scratch.0)
        .map_err(|e| format!("{}: {e}", scratch.0.display()))?;
    let (revision, mut file, total) = {
        let txn = store.read_txn().map_err(|e| e.to_string())?;
        let revision = store.current_revision(&txn).map_err(|e| e.to_string())?;
        let (file, total) = store.export_etcd(&txn, std::io::BufWriter::new(file))?;
        let file = file.into_inner().map_err(|e| e.to_string())?;
        (revision, file, total)
    };
    use std::io::Seek;
    file.seek(std::io::SeekFrom::Start(0))
        .map_err(|e| e.to_string())?;
    if chunks
        .send_blocking(Dumped::Start { total, revision })
        .is_err()
    {
        return Ok(());
    }
    let mut left = total;
    while left > 0 {
        let mut chunk = vec![0u8; SNAPSHOT_MESSAGE_BYTES.min(left as usize)];
        file.read_exact(&mut chunk)
            .map_err(|e| format!("{}: {e}", scratch.0.display()))?;
        left -= chunk.len() as u64;
        if chunks.send_blocking(Dumped::Chunk(chunk)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// Maintenance.Snapshot streams served at once by a member.
const MAX_SNAPSHOT_STREAMS: usize = 4;
static SNAPSHOT_STREAMS: smol::lock::Semaphore = smol::lock::Semaphore::new(MAX_SNAPSHOT_STREAMS);

/// Maintenance.Snapshot: a consistent copy of this member's store as a backup in etcd's format
/// (mvcc/backend.rs, then its SHA-256 as etcd appends it), read from one LMDB read transaction
/// on a thread of its own.
pub async fn snapshot(
    api: Arc<Api>,
    _who: crate::auth::Identity,
    requests: Receiver<SnapshotRequest>,
    writer: StreamWriter,
) -> Result<(), Gone> {
    use crate::mvcc::snapshot::{backup_padding, SHA256_BYTES};
    // The request has no fields; wait for it so a client that sends nothing gets nothing.
    if requests.recv().await.is_err() {
        return Ok(());
    }
    // Each stream reads the store on a thread of its own, from a read transaction that keeps
    // the pages it sees from being reused: a few at a time.
    let Some(_slot) = SNAPSHOT_STREAMS.try_acquire() else {
        return Err(writer.refuse(Status::new(
            Code::ResourceExhausted,
            format!("etcdserver: too many snapshots in progress on this member (at most {MAX_SNAPSHOT_STREAMS}); try again when one has finished"),
        )));
    };
    let store = api.store.clone();
    let received = crate::runtime::produce_on_thread(move |chunks| {
        if let Err(error) = export_backup(&store, chunks) {
            let _ = chunks.send_blocking(Dumped::Failed(error));
        }
    });
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let (mut remaining, mut revision, mut dumped) = (0u64, 0i64, 0u64);
    while let Ok(part) = received.recv().await {
        let blob = match part {
            Dumped::Start {
                total,
                revision: at,
            } => {
                remaining = total + backup_padding(total) as u64 + SHA256_BYTES;
                revision = at;
                continue;
            }
            Dumped::Chunk(blob) => blob,
            Dumped::Failed(error) => {
                log::error!("snapshot: reading the store failed: {error}");
                return Err(super::grpc::Gone);
            }
        };
        digest.update(&blob);
        dumped += blob.len() as u64;
        remaining -= blob.len() as u64;
        writer
            .send(&SnapshotResponse {
                header: api.header(revision),
                remaining_bytes: remaining,
                blob,
            })
            .await?;
    }
    let mut tail = vec![0u8; backup_padding(dumped)];
    digest.update(&tail);
    tail.extend_from_slice(digest.finish().as_ref());
    writer
        .send(&SnapshotResponse {
            header: api.header(revision),
            remaining_bytes: 0,
            blob: tail,
        })
        .await?;
    // The slot is free again only once the client has read the backup.
    writer.delivered().await;
    Ok(())
}

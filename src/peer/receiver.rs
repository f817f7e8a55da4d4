//! The peer listener: accepts the other members' raft streams (TLS with the peer certificates
//! when the URL is https; with --peer-client-cert-auth a peer without a certificate signed by
//! --peer-trusted-ca-file fails the handshake), checks the hello, then hands the first message
//! and the stream itself to the raft thread, which reads the rest (incoming.rs). A snapshot
//! dump is spooled to a file that raft installs.

use super::frame::{self, Hello, HELLO_BYTES, MAGIC};
use super::incoming::IncomingStream;
use super::{PeerContext, PeerEvent};
use crate::pb::etcdserverpb::{MemberListResponse, ResponseHeader};
use crate::url::Url;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls::{ServerConfig, ServerConnection};
use futures_rustls::TlsAcceptor;
use prost::Message as _;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A TLS handshake and hello slower than this is dropped.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Open peer connections per listener (each member keeps a raft stream, and opens a snapshot
/// or query connection now and then); more wait in the kernel's accept queue.
const MAX_PEER_CONNECTIONS: usize = 256;

/// Refused peers, written at most every few seconds (anyone can knock on a peer port).
static REFUSED: crate::logging::Throttled = crate::logging::Throttled::new();

pub struct PeerListener {
    url: Url,
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

pub async fn bind(url: &Url, tls: Option<Arc<ServerConfig>>) -> Result<PeerListener, String> {
    let (tcp, tls) = crate::net::bind_socket(url, tls, "peer-").await?;
    Ok(PeerListener {
        url: url.clone(),
        tcp,
        tls,
    })
}

pub async fn serve(listener: PeerListener, context: Arc<PeerContext>) {
    log::info!("serving peer traffic on {}", listener.url);
    let permits = Arc::new(smol::lock::Semaphore::new(MAX_PEER_CONNECTIONS));
    loop {
        let permit = permits.acquire_arc().await;
        match listener.tcp.accept().await {
            Ok((stream, address)) => {
                let context = context.clone();
                let tls = listener.tls.clone();
                crate::runtime::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = connection(stream, tls, &context).await {
                        REFUSED.warn(|| format!("peer connection from {address}: {e}"));
                    }
                });
            }
            Err(e) => {
                log::warn!("accept on {}: {e}", listener.url);
                smol::Timer::after(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn hello_timeout<T>(
    future: impl std::future::Future<Output = std::io::Result<T>>,
) -> Result<T, String> {
    crate::runtime::with_timeout(HELLO_TIMEOUT, future)
        .await
        .map_err(|e| e.to_string())
}

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    context: &PeerContext,
) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    match tls {
        Some(acceptor) => {
            let stream = hello_timeout(acceptor.accept(stream))
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            raft_stream(stream, context).await
        }
        None => raft_stream(stream, context).await,
    }
}

async fn raft_stream<S>(mut stream: S, context: &PeerContext) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + IntoParts,
{
    let mut hello = [0u8; HELLO_BYTES];
    hello_timeout(stream.read_exact(&mut hello)).await?;
    if &hello[..8] != MAGIC {
        return Err("not a raft stream (bad magic)".into());
    }
    let hello = Hello::decode(hello[8..].try_into().expect("24 bytes"));
    if hello == Hello::MEMBERS_QUERY {
        return answer_members_query(stream, context).await;
    }
    admit(&mut stream, context, &hello).await?;
    receive_frames(stream, context, &hello).await
}

/// Answers a stream's hello: accepted, or refused (and the stream ended) for a member of
/// another cluster, a message for another member, or a sender outside this cluster.
async fn admit<S>(stream: &mut S, context: &PeerContext, hello: &Hello) -> Result<(), String>
where
    S: AsyncWrite + Unpin,
{
    let answer = if hello.cluster_id != context.cluster_id {
        frame::OTHER_CLUSTER
    } else if hello.to != context.member_id {
        frame::OTHER_MEMBER
    } else if !context.is_member(hello.from) {
        frame::NOT_MEMBER
    } else {
        frame::ACCEPTED
    };
    hello_timeout(async {
        stream.write_all(&[answer]).await?;
        stream.flush().await
    })
    .await?;
    if answer == frame::OTHER_CLUSTER {
        return Err(format!(
            "member {:x} belongs to cluster {:x}, not to {:x}; refused",
            hello.from, hello.cluster_id, context.cluster_id
        ));
    }
    if answer == frame::OTHER_MEMBER {
        return Err(format!(
            "member {:x} addressed member {:x}, but this is {:x}; refused",
            hello.from, hello.to, context.member_id
        ));
    }
    if answer == frame::NOT_MEMBER {
        return Err(format!(
            "{:x} is not a member of cluster {:x} (as this member knows it); refused",
            hello.from, context.cluster_id
        ));
    }
    Ok(())
}

/// The frames of an admitted stream: a snapshot (its chunks spooled), one query that is
/// answered and ends the stream, or raft messages: the first is delivered here, and the stream
/// is handed to the raft thread to read from then on (incoming.rs).
async fn receive_frames<S>(stream: S, context: &PeerContext, hello: &Hello) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + IntoParts,
{
    let mut reader = futures_lite::io::BufReader::new(stream);
    let mut payload = Vec::new();
    let traffic = crate::metrics::peer(hello.from);
    loop {
        let Some(kind) = frame::read_frame(&mut reader, &mut payload)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let bytes = (frame::FRAME_HEADER_BYTES + payload.len()) as u64;
        traffic.received_bytes.fetch_add(bytes, Ordering::Relaxed);
        if kind == frame::KIND_QUERY {
            return answer_query(reader.get_mut(), context, &payload).await;
        }
        if kind != frame::KIND_MESSAGE {
            return Err(format!("unexpected frame kind {kind}"));
        }
        let mut message =
            Message::parse_from_bytes(&payload).map_err(|e| format!("bad raft message: {e}"))?;
        if message.from != hello.from || message.to != context.member_id {
            return Err(format!(
                "message from {:x} to {:x} on the stream of {:x}",
                message.from, message.to, hello.from
            ));
        }
        if message.get_msg_type() == MessageType::MsgSnapshot {
            let spooled = receive_snapshot(&mut reader, &mut payload, context, &message).await?;
            message.mut_snapshot().data = spooled.to_data().into();
            deliver(context, message).await?;
            let inner = reader.get_mut();
            inner
                .write_all(&[frame::ACCEPTED])
                .await
                .map_err(|e| e.to_string())?;
            inner.flush().await.map_err(|e| e.to_string())?;
            continue;
        }
        if message.get_msg_type() == MessageType::MsgAppend {
            super::stats::received_append(message.from, payload.len());
        }
        deliver(context, message).await?;
        // What the reader buffered past this frame is the raft thread's to decode.
        let buffered = reader.buffer().to_vec();
        let (socket, tls) = reader
            .into_inner()
            .into_parts()
            .ok_or("the stream's socket could not be handed to the raft thread")?;
        let incoming = IncomingStream::new(hello.from, context.member_id, socket, tls, buffered)
            .map_err(|e| e.to_string())?;
        return context
            .events
            .send(PeerEvent::Stream(Box::new(incoming)))
            .await
            .map_err(|_| "the raft thread has stopped".to_string());
    }
}

/// An accepted stream as the raft thread reads it: the socket, out of the executor's reactor,
/// and the TLS state (None for plain TCP).
trait IntoParts {
    fn into_parts(self) -> Option<(std::net::TcpStream, Option<ServerConnection>)>;
}

impl IntoParts for TcpStream {
    fn into_parts(self) -> Option<(std::net::TcpStream, Option<ServerConnection>)> {
        let socket: Arc<smol::Async<std::net::TcpStream>> = self.into();
        let socket = Arc::try_unwrap(socket).ok()?.into_inner().ok()?;
        Some((socket, None))
    }
}

impl IntoParts for futures_rustls::server::TlsStream<TcpStream> {
    fn into_parts(self) -> Option<(std::net::TcpStream, Option<ServerConnection>)> {
        let (tcp, tls) = self.into_inner();
        let (socket, _) = tcp.into_parts()?;
        Some((socket, Some(tls)))
    }
}

/// A follower's question (peer/query.rs), answered on the stream it came on: HashKV by this
/// member's own store, the rest by the raft thread (the leader's).
async fn answer_query<W>(
    writer: &mut W,
    context: &PeerContext,
    payload: &[u8],
) -> Result<(), String>
where
    W: AsyncWrite + Unpin,
{
    let query = super::query::Query::decode(payload)?;
    let answer = match query {
        super::query::Query::HashKv(revision) => {
            // Any member answers from its own store, off the executor's threads.
            let state = context.state.clone();
            smol::unblock(move || state.hash_kv(revision)).await
        }
        query => {
            let (reply, answer) = smol::channel::bounded(1);
            context
                .events
                .send(PeerEvent::Query { query, reply })
                .await
                .map_err(|_| "the raft thread has stopped".to_string())?;
            smol::future::or(async { answer.recv().await.ok() }, async {
                smol::Timer::after(super::query::ANSWER_TIMEOUT).await;
                None
            })
            .await
            .ok_or_else(|| "the raft thread gave no answer to a peer's query".to_string())?
        }
    };
    super::query::answer(writer, &answer)
        .await
        .map_err(|e| e.to_string())
}

async fn answer_members_query<S>(mut stream: S, context: &PeerContext) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let members = context.state.members()?;
    let answer = MemberListResponse {
        header: Some(ResponseHeader {
            cluster_id: context.cluster_id,
            member_id: context.member_id,
            ..ResponseHeader::default()
        }),
        members,
    };
    hello_timeout(async {
        stream.write_all(&[frame::ACCEPTED]).await?;
        frame::write_frame(&mut stream, frame::KIND_MEMBERS, &answer.encode_to_vec()).await?;
        stream.flush().await?;
        stream.close().await
    })
    .await
}

async fn deliver(context: &PeerContext, message: Message) -> Result<(), String> {
    context
        .events
        .send(PeerEvent::Message(Box::new(message)))
        .await
        .map_err(|_| "the raft thread has stopped".to_string())
}

/// Distinguishes concurrent spool files.
static SPOOL_SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Reads a dump into a spool file and checks its CRC and contents.
async fn receive_snapshot<R: AsyncRead + Unpin>(
    reader: &mut R,
    payload: &mut Vec<u8>,
    context: &PeerContext,
    message: &Message,
) -> Result<super::SpooledSnapshot, String> {
    let index = message.get_snapshot().get_metadata().index;
    smol::fs::create_dir_all(&context.snapshot_dir)
        .await
        .map_err(|e| format!("{}: {e}", context.snapshot_dir.display()))?;
    let sequence = SPOOL_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let path = context
        .snapshot_dir
        .join(format!("{index:016x}-{sequence}.spool"));
    let traffic = crate::metrics::peer(message.from);
    let mut result = spool(reader, payload, &path, &traffic).await;
    if result.is_ok() {
        // Raft takes a snapshot as soon as it sees the message: what it would install must be
        // a whole, matching dump, or a bad peer could make the install fail half-way.
        let file = path.clone();
        result = smol::unblock(move || {
            let reader =
                std::fs::File::open(&file).map_err(|e| format!("{}: {e}", file.display()))?;
            crate::mvcc::snapshot::check_dump(std::io::BufReader::new(reader), index)
        })
        .await
        .map_err(|e| format!("snapshot from member {:x} refused: {e}", message.from));
    }
    if result.is_err() {
        let _ = smol::fs::remove_file(&path).await;
    }
    result?;
    log::info!(
        "received snapshot at index {index} from member {:x}",
        message.from
    );
    Ok(super::SpooledSnapshot::new(path))
}

async fn spool<R: AsyncRead + Unpin>(
    reader: &mut R,
    payload: &mut Vec<u8>,
    path: &std::path::Path,
    traffic: &crate::metrics::PeerTraffic,
) -> Result<(), String> {
    let file_error = |e: std::io::Error| format!("{}: {e}", path.display());
    let mut file = smol::fs::File::create(path).await.map_err(file_error)?;
    let mut crc = 0u32;
    loop {
        let kind = frame::read_frame(reader, payload)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the snapshot stream ended early")?;
        traffic.received_bytes.fetch_add(
            (frame::FRAME_HEADER_BYTES + payload.len()) as u64,
            Ordering::Relaxed,
        );
        match kind {
            frame::KIND_SNAPSHOT_CHUNK => {
                crc = crc32c::crc32c_append(crc, payload);
                file.write_all(payload).await.map_err(file_error)?;
            }
            frame::KIND_SNAPSHOT_END => {
                let expected = payload
                    .as_slice()
                    .try_into()
                    .map(u32::from_le_bytes)
                    .map_err(|_| "bad snapshot end frame".to_string())?;
                if expected != crc {
                    return Err("snapshot checksum mismatch".into());
                }
                file.flush().await.map_err(file_error)?;
                file.sync_all().await.map_err(file_error)?;
                return Ok(());
            }
            other => return Err(format!("unexpected frame kind {other} in a snapshot")),
        }
    }
}

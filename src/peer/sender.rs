//! One peer's outgoing raft stream: connect (TLS when the peer URL is https), say hello, then
//! write queued messages in batches with one flush each. On any failure the stream is dropped,
//! queued messages are reported unreachable, and the connection is retried with capped back-off.

use super::frame::{self, Hello};
use super::{Dumped, PeerContext, PeerEvent};
use crate::metrics::PeerTraffic;
use crate::runtime::with_timeout;
use crate::url::{Scheme, Url};
use futures_channel::mpsc::{Receiver, TryRecvError};
use futures_lite::io::BufWriter;
use futures_lite::StreamExt as _;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls::ClientConfig;
use futures_rustls::TlsConnector;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Message, MessageType};
use rustls_pki_types::ServerName;
use smol::io::{AsyncRead, AsyncWrite};
use smol::net::TcpStream;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

const DIAL_TIMEOUT: Duration = Duration::from_secs(1);
const BACKOFF_START: Duration = Duration::from_millis(50);
const BACKOFF_CAP: Duration = Duration::from_secs(1);
/// Snapshot dumps are cut into chunks of this size.
const SNAPSHOT_CHUNK_BYTES: usize = 1024 * 1024;

pub(super) trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}
pub(super) type BoxedStream = Pin<Box<dyn Stream>>;

pub async fn run(
    context: Arc<PeerContext>,
    peer_id: u64,
    urls: Vec<String>,
    mut queue: Receiver<Message>,
) {
    let mut backoff = BACKOFF_START;
    let mut reported_down = false;
    loop {
        match connect(&context, peer_id, &urls).await {
            Ok(stream) => {
                if reported_down {
                    log::info!("peer {peer_id:x}: stream connected again");
                }
                reported_down = false;
                backoff = BACKOFF_START;
                match pump(&context, peer_id, &urls, stream, &mut queue).await {
                    // The queue closed: the peer was removed, or the member is stopping.
                    Ok(()) => return,
                    Err(e) => log::warn!("peer {peer_id:x}: stream lost: {e}"),
                }
            }
            Err(e) => {
                if !reported_down {
                    log::warn!("peer {peer_id:x}: cannot reach {urls:?}: {e}");
                    reported_down = true;
                }
                if discard_queued(&context, &mut queue).await == Queue::Closed {
                    return;
                }
                let wait = smol::Timer::after(backoff);
                backoff = (backoff * 2).min(BACKOFF_CAP);
                wait.await;
            }
        }
    }
}

#[derive(PartialEq)]
enum Queue {
    Open,
    Closed,
}

/// Messages for a peer that cannot be reached are dropped; raft learns it and probes later.
async fn discard_queued(context: &PeerContext, queue: &mut Receiver<Message>) -> Queue {
    loop {
        match queue.try_recv() {
            Ok(message) => report_failure(context, &message).await,
            Err(TryRecvError::Closed) => return Queue::Closed,
            Err(TryRecvError::Empty) => return Queue::Open,
        }
    }
}

async fn report_failure(context: &PeerContext, message: &Message) {
    crate::metrics::peer(message.to)
        .sent_failures
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    super::stats::follower_failed(message.to);
    let event = if message.get_msg_type() == MessageType::MsgSnapshot {
        PeerEvent::SnapshotSent {
            to: message.to,
            ok: false,
        }
    } else {
        PeerEvent::Unreachable(message.to)
    };
    let _ = context.events.send(event).await;
}

/// Dials the peer's URLs in order and completes the hello.
pub(super) async fn connect(
    context: &PeerContext,
    peer_id: u64,
    urls: &[String],
) -> Result<BoxedStream, String> {
    let mut last_error = "no peer URL".to_string();
    for text in urls {
        match dial(context, peer_id, text).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last_error = format!("{text}: {e}"),
        }
    }
    Err(last_error)
}

async fn dial(context: &PeerContext, peer_id: u64, text: &str) -> Result<BoxedStream, String> {
    let hello = Hello {
        cluster_id: context.cluster_id,
        from: context.member_id,
        to: peer_id,
    };
    open(context.client_tls.as_ref(), text, hello).await
}

/// TCP (and TLS for https) to one peer URL, then the hello and its answer.
pub(super) async fn open(
    tls: Option<&Arc<ClientConfig>>,
    text: &str,
    hello: Hello,
) -> Result<BoxedStream, String> {
    let url = Url::parse(text)?;
    let address = format!("{}:{}", url.host, url.port);
    let tcp = with_timeout(DIAL_TIMEOUT, TcpStream::connect(address.as_str()))
        .await
        .map_err(|e| format!("dial: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut stream: BoxedStream = match url.scheme {
        Scheme::Http => Box::pin(tcp),
        Scheme::Https => {
            let config = tls
                .cloned()
                .ok_or("https peer URL, but this member has no peer TLS configured")?;
            let host = url.host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
            let tls = with_timeout(DIAL_TIMEOUT, TlsConnector::from(config).connect(name, tcp))
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            Box::pin(tls)
        }
    };
    let mut answer = [0u8; 1];
    with_timeout(DIAL_TIMEOUT, async {
        stream.write_all(&hello.encode()).await?;
        stream.flush().await?;
        stream.read_exact(&mut answer).await
    })
    .await
    .map_err(|e| format!("hello: {e}"))?;
    match answer[0] {
        frame::ACCEPTED => Ok(stream),
        frame::OTHER_CLUSTER => Err(format!(
            "the member there is not in cluster {:x} (check --initial-cluster-token and --initial-cluster)",
            hello.cluster_id
        )),
        frame::OTHER_MEMBER => Err(format!("the member there is not {:x}", hello.to)),
        frame::NOT_MEMBER => Err(format!(
            "the member there does not know {:x} as a member of the cluster (yet)",
            hello.from
        )),
        other => Err(format!("unexpected answer {other} to hello")),
    }
}

/// Writes queued messages until the queue closes or the stream fails.
async fn pump(
    context: &Arc<PeerContext>,
    peer_id: u64,
    urls: &[String],
    stream: BoxedStream,
    queue: &mut Receiver<Message>,
) -> io::Result<()> {
    let mut writer = BufWriter::new(stream);
    let traffic = crate::metrics::peer(peer_id);
    while let Some(message) = queue.next().await {
        let mut next = Some(message);
        while let Some(message) = next.take() {
            if message.get_msg_type() == MessageType::MsgSnapshot {
                crate::runtime::spawn(send_snapshot(
                    context.clone(),
                    peer_id,
                    urls.to_vec(),
                    message,
                ));
            } else {
                let started = std::time::Instant::now();
                if let Err(e) = write_message(&mut writer, &traffic, &message).await {
                    report_failure(context, &message).await;
                    return Err(e);
                }
                if message.get_msg_type() == MessageType::MsgAppend {
                    super::stats::follower_written(peer_id, started.elapsed());
                }
            }
            next = queue.try_recv().ok();
        }
        writer.flush().await?;
    }
    Ok(())
}

async fn write_message<W: AsyncWrite + Unpin>(
    writer: &mut W,
    traffic: &PeerTraffic,
    message: &Message,
) -> io::Result<()> {
    let payload = message.write_to_bytes().map_err(io::Error::other)?;
    write_counted(writer, traffic, frame::KIND_MESSAGE, &payload).await
}

/// Writes a frame and counts its bytes as sent to the peer.
async fn write_counted<W: AsyncWrite + Unpin>(
    writer: &mut W,
    traffic: &PeerTraffic,
    kind: u8,
    payload: &[u8],
) -> io::Result<()> {
    frame::write_frame(writer, kind, payload).await?;
    let bytes = (frame::FRAME_HEADER_BYTES + payload.len()) as u64;
    traffic
        .sent_bytes
        .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

/// Streams a snapshot on a connection of its own and reports how it went to raft.
async fn send_snapshot(
    context: Arc<PeerContext>,
    peer_id: u64,
    urls: Vec<String>,
    message: Message,
) {
    let result = match connect(&context, peer_id, &urls).await {
        Ok(stream) => stream_snapshot(&context, stream, message).await,
        Err(e) => Err(e),
    };
    if let Err(e) = &result {
        log::warn!("peer {peer_id:x}: sending a snapshot failed: {e}");
    }
    let event = PeerEvent::SnapshotSent {
        to: peer_id,
        ok: result.is_ok(),
    };
    let _ = context.events.send(event).await;
}

/// The store is dumped from one read transaction on a blocking thread; raft's snapshot metadata
/// is replaced with the index that transaction sees, which is at least what raft asked for.
async fn stream_snapshot(
    context: &PeerContext,
    stream: BoxedStream,
    mut message: Message,
) -> Result<(), String> {
    let state = context.state.clone();
    let received =
        crate::runtime::produce_on_thread(move |chunks| state.dump(SNAPSHOT_CHUNK_BYTES, chunks));
    let mut writer = BufWriter::new(stream);
    let traffic = crate::metrics::peer(message.to);
    let io_error = |e: io::Error| e.to_string();
    let mut crc = 0u32;
    while let Ok(item) = received.recv().await {
        match item {
            Dumped::Point(point) => {
                let conf_state = ConfState::parse_from_bytes(&point.conf_state)
                    .map_err(|e| format!("the store's raft configuration: {e}"))?;
                let metadata = message.mut_snapshot().mut_metadata();
                metadata.index = point.index;
                metadata.term = point.term;
                metadata.set_conf_state(conf_state);
                log::info!(
                    "peer {:x}: sending snapshot at index {} (term {})",
                    message.to,
                    point.index,
                    point.term
                );
                write_message(&mut writer, &traffic, &message)
                    .await
                    .map_err(io_error)?;
            }
            Dumped::Chunk(chunk) => {
                crc = crc32c::crc32c_append(crc, &chunk);
                write_counted(&mut writer, &traffic, frame::KIND_SNAPSHOT_CHUNK, &chunk)
                    .await
                    .map_err(io_error)?;
            }
            Dumped::Failed(e) => return Err(format!("reading the store: {e}")),
        }
    }
    write_counted(
        &mut writer,
        &traffic,
        frame::KIND_SNAPSHOT_END,
        &crc.to_le_bytes(),
    )
    .await
    .map_err(io_error)?;
    writer.flush().await.map_err(io_error)?;
    // The receiver answers once the whole dump is checked and handed to its raft.
    let mut answer = [0u8; 1];
    writer
        .into_inner()
        .read_exact(&mut answer)
        .await
        .map_err(|e| format!("waiting for the receiver: {e}"))?;
    match answer[0] {
        frame::ACCEPTED => Ok(()),
        other => Err(format!("the receiver refused the snapshot ({other})")),
    }
}

//! One peer's outgoing raft stream: connect (TLS when the peer URL is https), say hello, hand the
//! connection to the peer's outbox (outbox.rs), then write what the raft thread queues there and
//! what the socket did not take at once. On any failure the stream is dropped, queued messages
//! are reported unreachable, and the connection is retried with capped back-off.

use super::frame::{self, Hello};
use super::outbox::{Outbox, Pass, Wire};
use super::{Dumped, PeerContext, PeerEvent};
use crate::metrics::PeerTraffic;
use crate::runtime::with_timeout;
use crate::url::{Scheme, Url};
use futures_lite::io::BufWriter;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::client::TlsStream;
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

pub async fn run(context: Arc<PeerContext>, peer_id: u64, urls: Vec<String>, outbox: Arc<Outbox>) {
    let mut backoff = BACKOFF_START;
    let mut reported_down = false;
    while !outbox.is_closed() {
        match connect_parts(&context, peer_id, &urls).await {
            Ok(opened) => {
                if reported_down {
                    log::info!("peer {peer_id:x}: stream connected again");
                }
                reported_down = false;
                backoff = BACKOFF_START;
                outbox.attach(opened.into_wire());
                let pumped = pump(&context, peer_id, &urls, &outbox).await;
                outbox.detach();
                match pumped {
                    // The raft thread let go: the peer was removed, or the member is stopping.
                    Ok(()) => return,
                    Err(Some(e)) => log::warn!("peer {peer_id:x}: stream lost: {e}"),
                    // Lost on the raft thread's write, which said why.
                    Err(None) => {}
                }
            }
            Err(e) => {
                if !reported_down {
                    log::warn!("peer {peer_id:x}: cannot reach {urls:?}: {e}");
                    reported_down = true;
                }
                // Messages for a peer that cannot be reached are dropped; raft learns it and
                // probes later.
                while let Some(message) = outbox.take_queued() {
                    outbox.count_failed();
                    report_failure(&context, &message).await;
                }
                let wait = smol::Timer::after(backoff);
                backoff = (backoff * 2).min(BACKOFF_CAP);
                wait.await;
            }
        }
    }
}

/// Writes what the raft thread queues until it lets go of the peer (Ok) or the stream fails
/// (Err; None when the raft thread's own write failed and it reported that).
async fn pump(
    context: &Arc<PeerContext>,
    peer_id: u64,
    urls: &[String],
    outbox: &Outbox,
) -> Result<(), Option<io::Error>> {
    loop {
        let mut snapshots = Vec::new();
        let pass = outbox.pass(&mut snapshots);
        for message in snapshots {
            crate::runtime::spawn(send_snapshot(
                context.clone(),
                peer_id,
                urls.to_vec(),
                message,
            ));
        }
        match pass {
            Ok(Pass::Idle) => outbox.nudged().await,
            Ok(Pass::Blocked(socket)) => socket.writable().await.map_err(Some)?,
            Ok(Pass::Closed) => return Ok(()),
            Ok(Pass::Lost) => return Err(None),
            Err(e) => {
                outbox.count_failed();
                let _ = context.events.send(PeerEvent::Unreachable(peer_id)).await;
                return Err(Some(e));
            }
        }
    }
}

async fn report_failure(context: &PeerContext, message: &Message) {
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
    connect_parts(context, peer_id, urls)
        .await
        .map(Opened::boxed)
}

async fn connect_parts(
    context: &PeerContext,
    peer_id: u64,
    urls: &[String],
) -> Result<Opened, String> {
    let hello = Hello {
        cluster_id: context.cluster_id,
        from: context.member_id,
        to: peer_id,
    };
    let mut last_error = "no peer URL".to_string();
    for text in urls {
        match open_parts(context.client_tls.as_ref(), text, hello).await {
            Ok(opened) => return Ok(opened),
            Err(e) => last_error = format!("{text}: {e}"),
        }
    }
    Err(last_error)
}

/// A stream to a peer after its hello was accepted.
enum Opened {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Opened {
    fn boxed(self) -> BoxedStream {
        match self {
            Opened::Plain(tcp) => Box::pin(tcp),
            Opened::Tls(tls) => Box::pin(*tls),
        }
    }

    /// The socket and TLS state, for writes without an executor (outbox.rs).
    fn into_wire(self) -> Wire {
        match self {
            Opened::Plain(tcp) => Wire::plain(tcp.into()),
            Opened::Tls(tls) => {
                let (tcp, connection) = tls.into_inner();
                Wire::tls(tcp.into(), connection)
            }
        }
    }
}

/// TCP (and TLS for https) to one peer URL, then the hello and its answer.
pub(super) async fn open(
    tls: Option<&Arc<ClientConfig>>,
    text: &str,
    hello: Hello,
) -> Result<BoxedStream, String> {
    open_parts(tls, text, hello).await.map(Opened::boxed)
}

async fn open_parts(
    tls: Option<&Arc<ClientConfig>>,
    text: &str,
    hello: Hello,
) -> Result<Opened, String> {
    let url = Url::parse(text)?;
    let address = format!("{}:{}", url.host, url.port);
    let tcp = with_timeout(DIAL_TIMEOUT, TcpStream::connect(address.as_str()))
        .await
        .map_err(|e| format!("dial: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let mut opened = match url.scheme {
        Scheme::Http => Opened::Plain(tcp),
        Scheme::Https => {
            let config = tls
                .cloned()
                .ok_or("https peer URL, but this member has no peer TLS configured")?;
            let host = url.host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
            let tls = with_timeout(DIAL_TIMEOUT, TlsConnector::from(config).connect(name, tcp))
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            Opened::Tls(Box::new(tls))
        }
    };
    let answer = match &mut opened {
        Opened::Plain(tcp) => greet(tcp, hello).await,
        Opened::Tls(tls) => greet(tls.as_mut(), hello).await,
    }
    .map_err(|e| format!("hello: {e}"))?;
    match answer {
        frame::ACCEPTED => Ok(opened),
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

/// Sends the hello and reads the one-byte answer.
async fn greet<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, hello: Hello) -> io::Result<u8> {
    let mut answer = [0u8; 1];
    with_timeout(DIAL_TIMEOUT, async {
        stream.write_all(&hello.encode()).await?;
        stream.flush().await?;
        stream.read_exact(&mut answer).await
    })
    .await?;
    Ok(answer[0])
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

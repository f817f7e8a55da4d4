//! Client listeners: TCP (plain or TLS) on each URL, then HTTP/2 (gRPC) or HTTP/1.1 (/health,
//! /version) on the same port, chosen by ALPN under TLS and by the HTTP/2 preface in the clear.

use super::authority::{AuthorityFix, MAX_REWRITTEN_FRAME_BYTES};
use crate::api::{self, Api};
use crate::runtime::with_timeout;
use crate::url::Url;
use futures_rustls::rustls::ServerConfig;
use futures_rustls::TlsAcceptor;
use smol::channel::{Receiver, Sender};
use smol::io::{AsyncRead, AsyncWrite};
use smol::lock::Semaphore;
use smol::net::{TcpListener, TcpStream};
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Open connections per listener; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 8192;
/// Connections per listener that have not yet sent a whole first request (TLS handshakes,
/// prefaces, request headers under way). A new connection beyond this closes the oldest such
/// one, so clients that never finish a request cannot keep new ones (/health) out.
const MAX_UNPROVEN_CONNECTIONS: usize = 1024;
/// A TLS handshake or first request byte slower than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// An HTTP/1.1 request's headers (and an idle keep-alive connection's next request) must
/// arrive within this.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Back-off after a failed accept (say, out of file descriptors), doubled up to the cap.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_CAP: Duration = Duration::from_secs(1);
/// HTTP/2 header block limit (decoded): gRPC requests carry a few short headers; this keeps
/// one request from costing more than a moment of CPU.
const MAX_HEADER_LIST_BYTES: u32 = 64 * 1024;

pub struct Listener {
    url: Url,
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
    http2: Http2Options,
    /// A --listen-metrics-urls listener: /metrics and /health only.
    metrics_only: bool,
}

/// HTTP/2 settings from the flags: --max-concurrent-streams (one gRPC call per stream),
/// --grpc-keepalive-interval and --grpc-keepalive-timeout (pings to each connection).
#[derive(Clone, Copy)]
pub struct Http2Options {
    pub max_concurrent_streams: u32,
    pub keepalive_interval: Option<Duration>,
    pub keepalive_timeout: Option<Duration>,
}

pub async fn bind(
    url: &Url,
    tls: Option<Arc<ServerConfig>>,
    http2: Http2Options,
    metrics_only: bool,
) -> Result<Listener, String> {
    let (tcp, tls) = crate::net::bind_socket(url, tls, "").await?;
    Ok(Listener {
        url: url.clone(),
        tcp,
        tls,
        http2,
        metrics_only,
    })
}

pub async fn serve(listener: Listener, api: Arc<Api>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let unproven = Arc::new(Unproven::default());
    let mut backoff = ACCEPT_BACKOFF_START;
    let what = if listener.metrics_only {
        "metrics and health"
    } else {
        "client requests"
    };
    log::info!("serving {what} on {}", listener.url);
    loop {
        let permit = permits.acquire_arc().await;
        match listener.tcp.accept().await {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF_START;
                let api = api.clone();
                let tls = listener.tls.clone();
                let settings = Settings {
                    http2: listener.http2,
                    metrics_only: listener.metrics_only,
                };
                let (admission, evicted) = unproven.admit();
                crate::runtime::spawn(async move {
                    let _permit = permit;
                    let served = connection(stream, tls, api, admission.clone(), settings);
                    let evicted = async {
                        match evicted.recv().await {
                            Ok(()) => Err("closed to make room for a newer connection".to_string()),
                            // Proven: it stays.
                            Err(_) => std::future::pending().await,
                        }
                    };
                    if let Err(e) = smol::future::or(served, evicted).await {
                        log::debug!("client connection: {e}");
                    }
                    admission.prove();
                });
            }
            Err(e) => {
                log::warn!("accept on {}: {e}; retrying in {backoff:?}", listener.url);
                smol::Timer::after(backoff).await;
                backoff = (backoff * 2).min(ACCEPT_BACKOFF_CAP);
            }
        }
    }
}

/// The connections of one listener that have not yet sent a whole first request, oldest first.
#[derive(Default)]
struct Unproven {
    next_id: std::sync::atomic::AtomicU64,
    /// (connection ID, where to tell the connection to close; dropped unsent once it proved
    /// itself).
    waiting: Mutex<VecDeque<(u64, Sender<()>)>>,
}

/// One connection's place among the unproven; `prove` takes it out (once its first request
/// arrived, or when it ends).
#[derive(Clone)]
struct Admission {
    unproven: Arc<Unproven>,
    id: u64,
    proven: Arc<AtomicBool>,
}

impl Unproven {
    /// Registers a new connection, closing the oldest unproven one if there are too many; the
    /// receiver gets a message if this connection is to close that way.
    fn admit(self: &Arc<Self>) -> (Admission, Receiver<()>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (evict, evicted) = smol::channel::bounded(1);
        let mut waiting = self.waiting.lock().unwrap_or_else(|p| p.into_inner());
        if waiting.len() >= MAX_UNPROVEN_CONNECTIONS {
            if let Some((_, oldest)) = waiting.pop_front() {
                let _ = oldest.try_send(());
            }
        }
        waiting.push_back((id, evict));
        let admission = Admission {
            unproven: self.clone(),
            id,
            proven: Arc::new(AtomicBool::new(false)),
        };
        (admission, evicted)
    }
}

impl Admission {
    fn prove(&self) {
        if self.proven.swap(true, Ordering::Relaxed) {
            return;
        }
        let mut waiting = self
            .unproven
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(position) = waiting.iter().position(|(id, _)| *id == self.id) {
            waiting.remove(position);
        }
    }
}

/// What a listener's connections are served with.
#[derive(Clone, Copy)]
struct Settings {
    http2: Http2Options,
    metrics_only: bool,
}

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    api: Arc<Api>,
    admission: Admission,
    settings: Settings,
) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    match tls {
        Some(acceptor) => {
            let stream = with_timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let session = stream.get_ref().1;
            let is_h2 = session.alpn_protocol() == Some(b"h2");
            // Only a verified certificate is ever here: rustls refuses the others.
            let common_name = session
                .peer_certificates()
                .and_then(|chain| chain.first())
                .and_then(|cert| crate::tls::x509::common_name(cert))
                .map(Arc::from);
            let connection = Connection {
                api,
                admission,
                settings,
                peer: api::Peer {
                    secure: true,
                    common_name,
                },
            };
            connection.serve(Box::new(stream), is_h2).await
        }
        None => {
            let (stream, is_h2) = with_timeout(HANDSHAKE_TIMEOUT, sniff(stream))
                .await
                .map_err(|e| e.to_string())?;
            let connection = Connection {
                api,
                admission,
                settings,
                peer: api::Peer::default(),
            };
            connection.serve(Box::new(stream), is_h2).await
        }
    }
}

/// HTTP/2 with prior knowledge starts with "PRI * HTTP/2.0"; no HTTP/1 method starts with "PRI".
/// Reads (never polls) until the first bytes tell, and hands them back in front of the stream.
async fn sniff(mut stream: TcpStream) -> std::io::Result<(Rewound<TcpStream>, bool)> {
    use futures_lite::AsyncReadExt;
    let mut start = Vec::with_capacity(3);
    let mut byte = [0u8; 1];
    while start.len() < 3 && b"PRI".starts_with(&start) {
        if stream.read(&mut byte).await? == 0 {
            break;
        }
        start.push(byte[0]);
    }
    let is_h2 = start == b"PRI";
    Ok((Rewound::new(start, stream), is_h2))
}

/// A stream whose first bytes were read already and are given out again first.
struct Rewound<S> {
    start: Vec<u8>,
    given: usize,
    inner: S,
}

impl<S> Rewound<S> {
    fn new(start: Vec<u8>, inner: S) -> Self {
        Rewound {
            start,
            given: 0,
            inner,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Rewound<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if this.given < this.start.len() {
            let count = buf.len().min(this.start.len() - this.given);
            buf[..count].copy_from_slice(&this.start[this.given..this.given + count]);
            this.given += count;
            return Poll::Ready(Ok(count));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Rewound<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A client's byte stream, plain or TLS.
trait ClientStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> ClientStream for S {}

/// One accepted client connection, past TLS and protocol detection.
struct Connection {
    api: Arc<Api>,
    admission: Admission,
    settings: Settings,
    peer: api::Peer,
}

impl Connection {
    /// One instantiation of hyper's connection code serves plain and TLS streams alike (a
    /// boxed stream: one indirect call per read or write, against hundreds of KB of code).
    async fn serve(self, stream: Box<dyn ClientStream>, is_h2: bool) -> Result<(), String> {
        let Connection {
            api,
            admission,
            settings,
            peer,
        } = self;
        let http2 = settings.http2;
        let service = hyper::service::service_fn(move |request| {
            admission.prove();
            let api = api.clone();
            let peer = peer.clone();
            // Boxed: hyper moves the service future into its stream task and the executor
            // moves it again; a request's future is a few KB, a box is a pointer.
            Box::pin(async move {
                if settings.metrics_only {
                    return Ok(api::metrics_route(&api, &request).await);
                }
                api::route(api, request, &peer).await
            })
        });
        let result = if is_h2 {
            let mut builder =
                hyper::server::conn::http2::Builder::new(crate::runtime::HyperExecutor);
            builder
                .timer(smol_hyper::rt::SmolTimer::new())
                .max_concurrent_streams(http2.max_concurrent_streams)
                .max_frame_size(MAX_REWRITTEN_FRAME_BYTES as u32)
                .max_header_list_size(MAX_HEADER_LIST_BYTES)
                .keep_alive_interval(http2.keepalive_interval)
                // grpc-go sends no Date header.
                .auto_date_header(false);
            if let Some(timeout) = http2.keepalive_timeout {
                builder.keep_alive_timeout(timeout);
            }
            super::coalesce::serve_coalesced(AuthorityFix::new(stream), |io| {
                builder.serve_connection(smol_hyper::rt::FuturesIo::new(io), service)
            })
            .await
        } else {
            let io = smol_hyper::rt::FuturesIo::new(stream);
            hyper::server::conn::http1::Builder::new()
                .timer(smol_hyper::rt::SmolTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(io, service)
                .await
        };
        result.map_err(|e| e.to_string())
    }
}

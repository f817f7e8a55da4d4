//! Client listeners: TCP (plain or TLS) on each URL, then HTTP/2 (gRPC) or HTTP/1.1 (/health,
//! /version) on the same port, chosen by ALPN under TLS and by the HTTP/2 preface in the clear.

use super::authority::AuthorityFix;
use crate::api::{self, Api};
use crate::config::{Scheme, Url};
use crate::runtime::with_timeout;
use futures_rustls::rustls::ServerConfig;
use futures_rustls::TlsAcceptor;
use smol::io::{AsyncRead, AsyncWrite};
use smol::lock::Semaphore;
use smol::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::Duration;

/// Open connections per listener; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 8192;
/// A TLS handshake or first request byte slower than this is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Back-off after a failed accept (say, out of file descriptors), doubled up to the cap.
const ACCEPT_BACKOFF_START: Duration = Duration::from_millis(10);
const ACCEPT_BACKOFF_CAP: Duration = Duration::from_secs(1);
/// HTTP/2 streams per connection: one gRPC call each; clients multiplex many calls per connection.
const MAX_CONCURRENT_STREAMS: u32 = 4096;

pub struct Listener {
    url: Url,
    tcp: TcpListener,
    tls: Option<TlsAcceptor>,
}

/// Binds `url` and, for https, prepares the TLS acceptor (`flag_prefix`: "" for clients,
/// "peer-" for peers, to name the missing flags).
pub async fn bind_socket(
    url: &Url,
    tls: Option<Arc<ServerConfig>>,
    flag_prefix: &str,
) -> Result<(TcpListener, Option<TlsAcceptor>), String> {
    let address = url.bind_address()?;
    let tcp = TcpListener::bind(address.as_str())
        .await
        .map_err(|e| format!("listen tcp {address}: bind: {e}"))?;
    let tls = match url.scheme {
        Scheme::Https => Some(TlsAcceptor::from(tls.ok_or(format!(
            "{url}: https needs --{flag_prefix}cert-file and --{flag_prefix}key-file"
        ))?)),
        Scheme::Http => None,
    };
    Ok((tcp, tls))
}

pub async fn bind(url: &Url, tls: Option<Arc<ServerConfig>>) -> Result<Listener, String> {
    let (tcp, tls) = bind_socket(url, tls, "").await?;
    Ok(Listener {
        url: url.clone(),
        tcp,
        tls,
    })
}

pub async fn serve(listener: Listener, api: Arc<Api>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut backoff = ACCEPT_BACKOFF_START;
    log::info!("serving client requests on {}", listener.url);
    loop {
        let permit = permits.acquire_arc().await;
        match listener.tcp.accept().await {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF_START;
                let api = api.clone();
                let tls = listener.tls.clone();
                crate::runtime::spawn(async move {
                    let _permit = permit;
                    if let Err(e) = connection(stream, tls, api).await {
                        log::debug!("client connection: {e}");
                    }
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

async fn connection(
    stream: TcpStream,
    tls: Option<TlsAcceptor>,
    api: Arc<Api>,
) -> Result<(), String> {
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    match tls {
        Some(acceptor) => {
            let stream = with_timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                .await
                .map_err(|e| format!("TLS handshake: {e}"))?;
            let is_h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
            serve_http(stream, is_h2, api).await
        }
        None => {
            let is_h2 = with_timeout(HANDSHAKE_TIMEOUT, starts_with_h2_preface(&stream))
                .await
                .map_err(|e| e.to_string())?;
            serve_http(stream, is_h2, api).await
        }
    }
}

/// HTTP/2 with prior knowledge starts with "PRI * HTTP/2.0"; no HTTP/1 method starts with "PRI".
async fn starts_with_h2_preface(stream: &TcpStream) -> std::io::Result<bool> {
    let mut buffer = [0u8; 3];
    loop {
        let read = stream.peek(&mut buffer).await?;
        if read == 0 {
            return Ok(false);
        }
        if read >= 3 || !b"PRI".starts_with(&buffer[..read]) {
            return Ok(&buffer[..read] == b"PRI");
        }
        smol::Timer::after(Duration::from_millis(1)).await;
    }
}

async fn serve_http<S>(stream: S, is_h2: bool, api: Arc<Api>) -> Result<(), String>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request| api::route(api.clone(), request));
    let result = if is_h2 {
        let io = smol_hyper::rt::FuturesIo::new(AuthorityFix::new(stream));
        hyper::server::conn::http2::Builder::new(crate::runtime::HyperExecutor)
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .serve_connection(io, service)
            .await
    } else {
        let io = smol_hyper::rt::FuturesIo::new(stream);
        hyper::server::conn::http1::Builder::new()
            .serve_connection(io, service)
            .await
    };
    result.map_err(|e| e.to_string())
}

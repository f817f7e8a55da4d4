//! A gRPC client for etcd's API over one HTTP/2 connection (plain or TLS with ALPN h2), for the
//! applets that talk to a server (`etcd bench`, and the etcdctl applet to come). One `Channel`
//! multiplexes any number of concurrent calls.

use crate::tls::AcceptAnyServer;
use crate::wire::{Body, FrameError};
use bytes::{Buf, Bytes, BytesMut};
use futures_rustls::rustls::crypto::ring;
use futures_rustls::rustls::{ClientConfig, RootCertStore};
use futures_rustls::TlsConnector;
use http::{Request, Uri};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::client::conn::http2::SendRequest;
use prost::Message;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use smol::net::TcpStream;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Responses larger than etcd's default gRPC receive limit are not expected.
const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024 * 1024 - 1;

/// A failed call: the gRPC status code and message, or a transport error (code 14,
/// Unavailable, as grpc-go reports a broken connection).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallError {
    pub code: u32,
    pub message: String,
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rpc error: code = {} desc = {}", self.code, self.message)
    }
}

fn unavailable(message: impl std::fmt::Display) -> CallError {
    CallError {
        code: 14,
        message: message.to_string(),
    }
}

/// etcdctl's TLS flags: --cacert, --cert, --key.
#[derive(Debug, Clone, Default)]
pub struct TlsFlags {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    /// --insecure-skip-tls-verify: accept any server certificate.
    pub skip_verify: bool,
}

impl TlsFlags {
    /// The client TLS configuration these flags describe (ALPN h2, as grpc-go offers).
    pub fn client_config(&self) -> Result<Arc<ClientConfig>, String> {
        let provider = Arc::new(ring::default_provider());
        let versions = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS: {e}"))?;
        let builder = if self.skip_verify {
            versions
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnyServer(provider)))
        } else {
            let mut roots = RootCertStore::empty();
            let ca = self
                .ca
                .as_ref()
                .ok_or("--cacert is required for https endpoints")?;
            for certificate in CertificateDer::pem_file_iter(ca)
                .map_err(|e| format!("--cacert {}: {e}", ca.display()))?
            {
                let certificate =
                    certificate.map_err(|e| format!("--cacert {}: {e}", ca.display()))?;
                roots
                    .add(certificate)
                    .map_err(|e| format!("--cacert {}: {e}", ca.display()))?;
            }
            versions.with_root_certificates(roots)
        };
        let mut config = match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain: Result<Vec<_>, _> = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| format!("--cert {}: {e}", cert.display()))?
                    .collect();
                let chain = chain.map_err(|e| format!("--cert {}: {e}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|e| format!("--key {}: {e}", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| format!("--cert/--key: {e}"))?
            }
            (None, None) => builder.with_no_client_auth(),
            _ => return Err("--cert and --key must be given together".into()),
        };
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Arc::new(config))
    }
}

#[derive(Clone)]
pub struct Channel {
    sender: SendRequest<Body>,
    authority: String,
    /// The auth token sent with every call once the user authenticated.
    token: Option<String>,
}

/// An open bidirectional stream (Watch, LeaseKeepAlive): send requests, receive responses.
pub struct Duplex<A> {
    requests: smol::channel::Sender<Frame<Bytes>>,
    pub responses: smol::channel::Receiver<A>,
    /// How the stream ended, if not cleanly: its grpc-status, or why it could not run.
    ended: Arc<Mutex<Option<CallError>>>,
}

impl<A> Duplex<A> {
    /// Once `responses` is closed: the error the stream ended with (None: it ended cleanly).
    pub fn error(&self) -> Option<CallError> {
        self.ended.lock().expect("stream status lock").clone()
    }

    pub async fn send(&self, message: &impl Message) -> Result<(), CallError> {
        self.requests
            .send(Frame::data(crate::wire::frame_message(message)))
            .await
            .map_err(|_| unavailable("stream closed"))
    }
}

impl Channel {
    /// Connects to `endpoint` (`host:port`, `http://host:port` or `https://host:port`).
    pub async fn connect(endpoint: &str, tls: &TlsFlags) -> Result<Channel, String> {
        let (secure, authority) = match endpoint.split_once("://") {
            Some(("https", rest)) => (true, rest),
            Some(("http", rest)) => (false, rest),
            Some((scheme, _)) => {
                return Err(format!("unsupported scheme {scheme:?} in {endpoint}"))
            }
            None => (tls.ca.is_some(), endpoint),
        };
        let authority = authority.trim_end_matches('/').to_string();
        let tcp = TcpStream::connect(authority.as_str())
            .await
            .map_err(|e| format!("dial tcp {authority}: {e}"))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let builder = hyper::client::conn::http2::Builder::new(crate::runtime::HyperExecutor);
        let sender = if secure {
            let host = authority
                .rsplit_once(':')
                .map_or(authority.as_str(), |(host, _)| host)
                .trim_start_matches('[')
                .trim_end_matches(']');
            let name = ServerName::try_from(host.to_string()).map_err(|e| e.to_string())?;
            let stream = TlsConnector::from(tls.client_config()?)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS handshake with {authority}: {e}"))?;
            let (sender, connection) = builder
                .handshake(smol_hyper::rt::FuturesIo::new(stream))
                .await
                .map_err(|e| format!("HTTP/2 handshake with {authority}: {e}"))?;
            crate::runtime::spawn(connection);
            sender
        } else {
            let (sender, connection) = builder
                .handshake(smol_hyper::rt::FuturesIo::new(tcp))
                .await
                .map_err(|e| format!("HTTP/2 handshake with {authority}: {e}"))?;
            crate::runtime::spawn(connection);
            sender
        };
        Ok(Channel {
            sender,
            authority,
            token: None,
        })
    }

    pub fn with_token(self, token: String) -> Channel {
        Channel {
            token: Some(token),
            ..self
        }
    }

    fn request(&self, path: &str, body: Body) -> Result<Request<Body>, CallError> {
        let uri: Uri = format!("http://{}{path}", self.authority)
            .parse()
            .map_err(|e| unavailable(format!("bad path {path}: {e}")))?;
        let mut request = Request::post(uri)
            .header("content-type", "application/grpc")
            .header("te", "trailers");
        if let Some(token) = &self.token {
            request = request.header("token", token.as_str());
        }
        Ok(request.body(body).expect("static request parts"))
    }

    /// Opens a bidirectional stream, e.g. `duplex("/etcdserverpb.Watch/Watch")`. Returns at
    /// once: grpc-go servers send the response headers only with the first response, which
    /// comes only after the first request.
    pub fn duplex<A: Message + Default + Send + 'static>(
        &self,
        path: &str,
    ) -> Result<Duplex<A>, CallError> {
        let (requests, frames) = smol::channel::bounded(16);
        let http_request = self.request(path, Body::stream(frames))?;
        let (responses, receiver) = smol::channel::bounded(16);
        let mut sender = self.sender.clone();
        let ended = Arc::new(Mutex::new(None));
        let record = ended.clone();
        crate::runtime::spawn(async move {
            let result = match send(&mut sender, http_request).await {
                Ok(body) => receive(body, &responses).await,
                Err(error) => Err(error),
            };
            if let Err(error) = result {
                *record.lock().expect("stream status lock") = Some(error);
            }
        });
        Ok(Duplex {
            requests,
            responses: receiver,
            ended,
        })
    }

    /// One unary call, e.g. `unary("/etcdserverpb.KV/Put", &request)`.
    pub async fn unary<Q: Message, A: Message + Default>(
        &self,
        path: &str,
        request: &Q,
    ) -> Result<A, CallError> {
        let framed = crate::wire::frame_message(request);
        let http_request = self.request(path, Body::full(framed))?;
        let body = send(&mut self.sender.clone(), http_request).await?;
        let collected = body.collect().await.map_err(unavailable)?;
        if let Some(error) = collected.trailers().and_then(status_of) {
            return Err(error);
        }
        let mut data: Bytes = collected.to_bytes();
        if data.len() < 5 {
            return Err(unavailable("response has no message"));
        }
        data.advance(5);
        A::decode(data).map_err(|e| CallError {
            code: 13,
            message: format!("bad response: {e}"),
        })
    }
}

/// Sends a call; its response body, or the error of a trailers-only answer (the status in the
/// headers) or of the connection.
async fn send(
    sender: &mut SendRequest<Body>,
    request: Request<Body>,
) -> Result<hyper::body::Incoming, CallError> {
    sender.ready().await.map_err(unavailable)?;
    let response = sender.send_request(request).await.map_err(unavailable)?;
    let (parts, body) = response.into_parts();
    match status_of(&parts.headers) {
        Some(error) => Err(error),
        None => Ok(body),
    }
}

/// Decodes a response stream's messages into `responses` until it ends; its trailers' status
/// is the result.
async fn receive<A: Message + Default>(
    mut body: hyper::body::Incoming,
    responses: &smol::channel::Sender<A>,
) -> Result<(), CallError> {
    let mut buffer = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(unavailable)?;
        let data = match frame.into_data() {
            Ok(data) => data,
            Err(frame) => match frame.trailers_ref().and_then(status_of) {
                Some(error) => return Err(error),
                None => continue,
            },
        };
        buffer.extend_from_slice(&data);
        loop {
            let message = match crate::wire::next_message(&mut buffer, MAX_RESPONSE_BYTES) {
                Ok(Some(message)) => message,
                Ok(None) => break,
                Err(FrameError::TooLarge { length, max }) => {
                    return Err(CallError {
                        code: 8,
                        message: format!(
                            "grpc: received message larger than max ({length} vs. {max})"
                        ),
                    })
                }
                Err(FrameError::Compressed) => {
                    return Err(CallError {
                        code: 13,
                        message: "grpc: a compressed response, and no compressor was negotiated"
                            .into(),
                    })
                }
            };
            let decoded = A::decode(message).map_err(|e| CallError {
                code: 13,
                message: format!("bad response: {e}"),
            })?;
            if responses.send(decoded).await.is_err() {
                return Ok(()); // nobody listens any more
            }
        }
    }
    Ok(())
}

/// The error a `grpc-status` header or trailer reports (None for OK or absent).
fn status_of(headers: &http::HeaderMap) -> Option<CallError> {
    let code: u32 = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    if code == 0 {
        return None;
    }
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(CallError { code, message })
}

/// grpc-message is percent-encoded.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(byte) = u8::from_str_radix(&text[i + 1..i + 3], 16) {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

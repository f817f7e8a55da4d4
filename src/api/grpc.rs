//! gRPC over HTTP/2: a request is one length-prefixed protobuf message (1 flag byte, 4-byte big
//! endian length); the answer is one such message followed by `grpc-status` trailers, or, for an
//! error, a trailers-only response.

use crate::metrics::GrpcMethod;
use crate::status::Status;
use crate::wire::{
    announced_length, frame_with_tail, next_message, Body, FrameError, PREFIX_BYTES,
};
use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, CONTENT_TYPE};
use http::{HeaderMap, HeaderValue, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use prost::Message;
use std::future::Future;

// Names and values every answer carries, made once: a header given as text is parsed (and
// its value copied) on every response.
const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
const APPLICATION_GRPC: HeaderValue = HeaderValue::from_static("application/grpc");
const STATUS_OK: HeaderValue = HeaderValue::from_static("0");

/// grpc-go's allowance above etcd's --max-request-bytes for the envelope of a request.
const OVERHEAD_BYTES: usize = 512 * 1024;

/// Reads the single message of a unary request (its encoded bytes), refusing one larger than
/// the member accepts.
pub async fn read_request(body: Incoming, max_request_bytes: usize) -> Result<Bytes, Status> {
    let max_message_bytes = max_message_bytes(max_request_bytes);
    let mut body = body;
    let mut received = Received::Nothing;
    while let Some(frame) = body.frame().await {
        let frame = frame
            .map_err(|e| Status::new(super::Code::Internal, format!("reading request: {e}")))?;
        if let Ok(data) = frame.into_data() {
            received.add(data);
        }
        let seen = received.bytes();
        if let Some(length) = announced_length(seen, max_message_bytes).map_err(frame_refusal)? {
            // Bytes after the one message are refused as they arrive, not collected.
            if seen.len() > PREFIX_BYTES + length {
                return Err(length_mismatch());
            }
        }
    }
    let seen = received.bytes();
    let Some(length) = announced_length(seen, max_message_bytes).map_err(frame_refusal)? else {
        return Err(Status::new(
            super::Code::Internal,
            "grpc: request has no message",
        ));
    };
    if seen.len() != PREFIX_BYTES + length {
        return Err(length_mismatch());
    }
    Ok(received.into_bytes().slice(PREFIX_BYTES..))
}

/// A request body as it arrives: most come in one DATA frame, which is kept as it is; only a
/// body in several frames is copied together.
enum Received {
    Nothing,
    One(Bytes),
    Many(BytesMut),
}

impl Received {
    fn add(&mut self, data: Bytes) {
        *self = match std::mem::replace(self, Received::Nothing) {
            Received::Nothing => Received::One(data),
            Received::One(first) => {
                let mut joined = BytesMut::with_capacity(first.len() + data.len());
                joined.extend_from_slice(&first);
                joined.extend_from_slice(&data);
                Received::Many(joined)
            }
            Received::Many(mut joined) => {
                joined.extend_from_slice(&data);
                Received::Many(joined)
            }
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Received::Nothing => &[],
            Received::One(data) => data,
            Received::Many(joined) => joined,
        }
    }

    fn into_bytes(self) -> Bytes {
        match self {
            Received::Nothing => Bytes::new(),
            Received::One(data) => data,
            Received::Many(joined) => joined.freeze(),
        }
    }
}

/// The status a request whose framing is refused ends with.
fn frame_refusal(error: FrameError) -> Status {
    match error {
        FrameError::Compressed => compressed(),
        FrameError::TooLarge { length, max } => too_large(length, max),
    }
}

fn length_mismatch() -> Status {
    Status::new(
        super::Code::Internal,
        "grpc: request length does not match its frame",
    )
}

/// grpc-go's answer to a request message above the server's limit.
pub fn too_large(length: usize, max_message_bytes: usize) -> Status {
    Status::new(
        super::Code::ResourceExhausted,
        format!("grpc: received message larger than max ({length} vs. {max_message_bytes})"),
    )
}

fn compressed() -> Status {
    Status::new(
        super::Code::Unimplemented,
        "grpc: compressed requests are not supported",
    )
}

/// The largest request message a member takes: --max-request-bytes plus grpc-go's allowance.
pub fn max_message_bytes(max_request_bytes: usize) -> usize {
    max_request_bytes + OVERHEAD_BYTES
}

/// The client of a server stream went away: nothing more to send.
pub struct Gone;

/// Where a server-streaming handler writes its messages: gRPC frames, or for the JSON gateway
/// one `{"result":...}` line per message of the named type.
pub struct StreamWriter {
    frames: smol::channel::Sender<http_body::Frame<Bytes>>,
    json: Option<&'static str>,
    counters: Option<&'static GrpcMethod>,
    /// Where the handler says with which status the call ends (see `refuse`).
    refusal: smol::channel::Sender<Status>,
}

impl StreamWriter {
    pub async fn send(&self, message: &impl Message) -> Result<(), Gone> {
        self.send_with_tail(message, &[]).await
    }

    /// Sends `message` followed by `tail`: fields encoded already, numbered above every field
    /// set in `message` (see `frame_with_tail`).
    pub async fn send_with_tail(&self, message: &impl Message, tail: &[u8]) -> Result<(), Gone> {
        let data = match self.json {
            None => frame_with_tail(message, message.encoded_len(), tail),
            Some(type_name) => {
                let mut encoded = message.encode_to_vec();
                encoded.extend_from_slice(tail);
                super::gateway::result_line(type_name, &encoded)
            }
        };
        self.frames
            .send(http_body::Frame::data(data))
            .await
            .map_err(|_| Gone)?;
        if let Some(counters) = self.counters {
            counters.sent.add(1);
        }
        Ok(())
    }

    /// Waits until every message sent has been taken by the connection (or the client went
    /// away): a handler that holds a resource for its stream (a snapshot slot) holds it until
    /// the client has read what it was sent, not only until it was queued.
    pub async fn delivered(&self) {
        while !self.frames.is_empty() && !self.frames.is_closed() {
            smol::Timer::after(DELIVERY_POLL_INTERVAL).await;
        }
    }

    /// Ends the call with `status` (the handler returns the Gone this gives).
    pub fn refuse(&self, status: Status) -> Gone {
        let _ = self.refusal.try_send(status);
        Gone
    }
}

/// How often `StreamWriter::delivered` looks whether the client has read its queued answers.
const DELIVERY_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// Answers queued for a slow client before the handler waits for it.
const QUEUED_MESSAGES: usize = 64;

/// A server-streaming answer: the handler `produce` makes runs on the executor and writes
/// messages; when it ends with Ok a gRPC stream closes with grpc-status 0. `json`: the answer
/// is the gateway's stream of JSON lines, each a message of that type.
pub fn server_stream<F>(
    json: Option<&'static str>,
    counters: Option<&'static GrpcMethod>,
    (refusal, refused): (
        smol::channel::Sender<Status>,
        smol::channel::Receiver<Status>,
    ),
    produce: impl FnOnce(StreamWriter) -> F,
) -> Response<Body>
where
    F: Future<Output = Result<(), Gone>> + Send + 'static,
{
    let (frames, receiver) = smol::channel::bounded(QUEUED_MESSAGES);
    let handler = produce(StreamWriter {
        frames: frames.clone(),
        json,
        counters,
        refusal,
    });
    if let Some(counters) = counters {
        counters.started();
    }
    crate::runtime::spawn(async move {
        let ended = stream_end(handler, refused).await;
        let code = match &ended {
            Ok(()) => 0,
            Err(Some(status)) => status.code as u32,
            // A client that went away: grpc-go reports the call Canceled.
            Err(None) => 1,
        };
        if let Some(counters) = counters {
            counters.handled(code);
        }
        if json.is_some() {
            return;
        }
        let mut trailers = HeaderMap::new();
        match ended {
            Ok(()) => {
                trailers.insert(GRPC_STATUS, STATUS_OK);
            }
            Err(Some(status)) => status_headers(&mut trailers, &status),
            Err(None) => return,
        }
        let _ = frames.send(http_body::Frame::trailers(trailers)).await;
    });
    let response = match json {
        None => response_builder(),
        Some(_) => super::gateway::stream_response_builder(),
    };
    response
        .body(Body::stream(receiver))
        .expect("static response parts")
}

/// How a server stream ended: fine, with a status, or (None) because the client went away.
/// The handler ends it, or the client's requests do (`refused`: one that the member cannot
/// take ends the call with that status, as grpc-go's Recv error does).
async fn stream_end(
    handler: impl Future<Output = Result<(), Gone>>,
    refused: smol::channel::Receiver<Status>,
) -> Result<(), Option<Status>> {
    smol::future::or(
        async {
            // A handler that refused the call said with which status; one that ended because
            // the requests stopped ends with why they stopped (a refused or undecodable
            // request is reported before its channel closes).
            match handler.await {
                Ok(()) => refused
                    .try_recv()
                    .map_or(Ok(()), |status| Err(Some(status))),
                Err(Gone) => Err(refused.try_recv().ok()),
            }
        },
        async {
            match refused.recv().await {
                Ok(status) => Err(Some(status)),
                Err(_) => std::future::pending().await,
            }
        },
    )
    .await
}

/// A client stream's messages as they arrive, or why the member stopped reading it.
pub type ClientMessages = smol::channel::Receiver<Result<Bytes, Status>>;

/// Encoded messages decoded as they arrive; the first that does not decode, or a refused one,
/// ends the stream and is reported on `refused`.
pub fn decoded<M, Admit, Admitting>(
    encoded: ClientMessages,
    counters: Option<&'static GrpcMethod>,
    refused: smol::channel::Sender<Status>,
    admit: Admit,
) -> smol::channel::Receiver<M>
where
    M: Message + Default + Send + 'static,
    Admit: Fn(M) -> Admitting + Send + 'static,
    Admitting: std::future::Future<Output = Result<M, Status>> + Send,
{
    let (messages, receiver) = smol::channel::bounded(1);
    crate::runtime::spawn(async move {
        while let Ok(bytes) = encoded.recv().await {
            let decoded = bytes.and_then(|bytes| {
                M::decode(bytes).map_err(|e| {
                    Status::new(
                        super::Code::Internal,
                        format!("grpc: failed to unmarshal the received message {e}"),
                    )
                })
            });
            let admitted = match decoded {
                Ok(message) => admit(message).await,
                Err(status) => Err(status),
            };
            let message = match admitted {
                Ok(message) => message,
                Err(status) => {
                    let _ = refused.try_send(status);
                    return;
                }
            };
            if let Some(counters) = counters {
                counters.received.add(1);
            }
            if messages.send(message).await.is_err() {
                return;
            }
        }
    });
    receiver
}

/// The encoded messages of a client stream, as they arrive; a compressed or oversized message
/// ends it with the status grpc-go answers.
pub fn read_raw_frames(body: Incoming, max_request_bytes: usize) -> ClientMessages {
    let (messages, receiver) = smol::channel::bounded(16);
    let max_message_bytes = max_message_bytes(max_request_bytes);
    crate::runtime::spawn(async move {
        let mut body = body;
        let mut buffer = BytesMut::new();
        while let Some(Ok(frame)) = body.frame().await {
            let Ok(data) = frame.into_data() else {
                continue;
            };
            buffer.extend_from_slice(&data);
            loop {
                let message = match next_message(&mut buffer, max_message_bytes) {
                    Ok(Some(message)) => Ok(message),
                    Ok(None) => break,
                    Err(refusal) => Err(frame_refusal(refusal)),
                };
                let refused = message.is_err();
                if messages.send(message).await.is_err() || refused {
                    return;
                }
            }
        }
    });
    receiver
}

/// gRPC's percent-encoding of grpc-message: printable ASCII except '%' passes through.
fn encode_grpc_message(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for byte in message.bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn status_headers(headers: &mut HeaderMap, status: &Status) {
    headers.insert(GRPC_STATUS, HeaderValue::from(status.code as u32));
    if let Ok(message) = HeaderValue::from_str(&encode_grpc_message(&status.message)) {
        headers.insert(GRPC_MESSAGE, message);
    }
}

fn response_builder() -> http::response::Builder {
    Response::builder()
        .status(200)
        .header(CONTENT_TYPE, APPLICATION_GRPC)
}

pub fn error_response(status: &Status) -> Response<Body> {
    let mut response = response_builder()
        .body(Body::empty())
        .expect("static response parts");
    status_headers(response.headers_mut(), status);
    response
}

/// A unary answer already framed (see `frame_message`), then grpc-status 0.
pub fn reply_framed(framed: Bytes) -> Response<Body> {
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert(GRPC_STATUS, STATUS_OK);
    response_builder()
        .body(Body::with_trailers(framed, trailers))
        .expect("static response parts")
}

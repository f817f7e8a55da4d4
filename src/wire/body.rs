//! The response body of every HTTP exchange we answer: a complete buffer, optionally followed by
//! trailers (how gRPC sends its status), or a stream of frames fed through a channel (gRPC
//! server streams such as Watch).

use bytes::Bytes;
use futures_lite::Stream;
use http::HeaderMap;
use http_body::{Frame, SizeHint};
use smol::channel::Receiver;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Go's net/http holds this much of a handler's answer before it sends the head: an answer
/// that fits goes with its Content-Length, a longer one chunked (bufferBeforeChunkingSize).
const GO_CHUNKING_BUFFER_BYTES: usize = 2048;

#[derive(Default)]
pub struct Body {
    data: Option<Bytes>,
    trailers: Option<HeaderMap>,
    /// Frames produced by a task; the body ends when the sender is dropped.
    stream: Option<Pin<Box<Receiver<Frame<Bytes>>>>>,
    /// The length is not announced (HTTP/1.1 then sends the body chunked).
    length_unannounced: bool,
}

impl Body {
    pub fn empty() -> Body {
        Body::default()
    }

    pub fn full(data: impl Into<Bytes>) -> Body {
        Body {
            data: Some(data.into()),
            ..Body::default()
        }
    }

    pub fn with_trailers(data: Bytes, trailers: HeaderMap) -> Body {
        Body {
            data: Some(data),
            trailers: Some(trailers),
            ..Body::default()
        }
    }

    /// The body as etcd's Go server frames an HTTP/1.1 answer: its length announced only if
    /// it is at most GO_CHUNKING_BUFFER_BYTES long, chunked otherwise.
    pub fn framed_as_go(mut self) -> Body {
        let length = self.data.as_ref().map_or(0, Bytes::len);
        self.length_unannounced |= length > GO_CHUNKING_BUFFER_BYTES;
        self
    }

    pub fn stream(frames: Receiver<Frame<Bytes>>) -> Body {
        Body {
            stream: Some(Box::pin(frames)),
            ..Body::default()
        }
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(frames) = self.stream.as_mut() {
            return match frames.as_mut().poll_next(context) {
                Poll::Ready(Some(frame)) => Poll::Ready(Some(Ok(frame))),
                Poll::Ready(None) => {
                    self.stream = None;
                    Poll::Ready(None)
                }
                Poll::Pending => Poll::Pending,
            };
        }
        if let Some(data) = self.data.take() {
            return Poll::Ready(Some(Ok(Frame::data(data))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none() && self.trailers.is_none() && self.stream.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.stream.is_some() || self.length_unannounced {
            return SizeHint::default();
        }
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}

//! Write coalescing for a client's HTTP/2 connection. The h2 crate writes a DATA frame of 1 KiB
//! or more on its own, as two writes (frame head, then payload), and flushes after each: a watch
//! stream's answer cost two `sendto`s (under TLS, two records) per stream and commit. Here
//! hyper's writes only fill a buffer, and the buffer goes to the socket once the connection's
//! task has done everything it could in one poll: every frame queued by then, from every stream
//! of the connection, leaves in one write.
//!
//! The socket is shared (one lock, never contended: the I/O object and the draining future run
//! in the same task) between hyper's I/O object and the future that drives the connection.

use smol::io::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

/// Bytes buffered before a write waits for the socket: the most one connection holds unsent
/// beyond what the kernel takes.
const MAX_BUFFERED_BYTES: usize = 64 * 1024;
/// A buffer starts with this much room, and keeps at most this much once drained: an idle
/// connection holds no more than h2's own write buffer.
const RETAINED_CAPACITY: usize = 16 * 1024;

struct Shared<S> {
    stream: S,
    buffered: Vec<u8>,
    /// The error a drain met: every later write and flush fails with it.
    failed: Option<(io::ErrorKind, String)>,
}

impl<S: AsyncWrite + Unpin> Shared<S> {
    /// Writes the buffer to the stream and flushes it (TLS records the stream still holds).
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some((kind, message)) = &self.failed {
            return Poll::Ready(Err(io::Error::new(*kind, message.clone())));
        }
        let mut written = 0;
        let result = loop {
            if written == self.buffered.len() {
                break Pin::new(&mut self.stream).poll_flush(cx);
            }
            match Pin::new(&mut self.stream).poll_write(cx, &self.buffered[written..]) {
                Poll::Ready(Ok(0)) => break Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => written += n,
                Poll::Ready(Err(e)) => break Poll::Ready(Err(e)),
                Poll::Pending => break Poll::Pending,
            }
        };
        self.buffered.drain(..written);
        if self.buffered.is_empty() && self.buffered.capacity() > RETAINED_CAPACITY {
            self.buffered = Vec::new();
        }
        if let Poll::Ready(Err(e)) = &result {
            self.failed = Some((e.kind(), e.to_string()));
        }
        result
    }
}

/// The I/O object hyper gets: reads go to the stream, writes to the buffer.
pub struct Coalescing<S> {
    shared: Arc<Mutex<Shared<S>>>,
}

impl<S> Coalescing<S> {
    fn shared(&self) -> MutexGuard<'_, Shared<S>> {
        self.shared.lock().expect("coalescing lock")
    }
}

/// Runs `serve` (hyper's connection future) on `stream` with its writes coalesced; after each
/// poll of the connection, what it wrote goes to the socket.
pub async fn serve_coalesced<S, F, T>(stream: S, serve: impl FnOnce(Coalescing<S>) -> F) -> T
where
    S: AsyncWrite + Unpin,
    F: Future<Output = T>,
{
    let shared = Arc::new(Mutex::new(Shared {
        stream,
        buffered: Vec::new(),
        failed: None,
    }));
    let mut connection = std::pin::pin!(serve(Coalescing {
        shared: shared.clone()
    }));
    std::future::poll_fn(|cx| {
        let polled = connection.as_mut().poll(cx);
        let mut shared = shared.lock().expect("coalescing lock");
        if !shared.buffered.is_empty() {
            // A failure is kept for the connection's next write, which ends it; a full socket
            // wakes this task when it drains.
            let _ = shared.drain(cx);
        }
        polled
    })
    .await
}

impl<S: AsyncRead + Unpin> AsyncRead for Coalescing<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.shared().stream).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Coalescing<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut shared = self.shared();
        if shared.buffered.len() >= MAX_BUFFERED_BYTES || shared.failed.is_some() {
            std::task::ready!(shared.drain(cx))?;
        }
        if shared.buffered.capacity() == 0 {
            // At once, rather than growing from a few bytes by doubling on every poll.
            shared.buffered.reserve(RETAINED_CAPACITY);
        }
        let room = MAX_BUFFERED_BYTES.saturating_sub(shared.buffered.len());
        let taken = buf.len().min(room);
        shared.buffered.extend_from_slice(&buf[..taken]);
        Poll::Ready(Ok(taken))
    }

    /// Flushing waits only for a full buffer: the rest goes when the connection's poll ends.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = self.shared();
        if shared.buffered.len() >= MAX_BUFFERED_BYTES || shared.failed.is_some() {
            return shared.drain(cx);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut shared = self.shared();
        std::task::ready!(shared.drain(cx))?;
        Pin::new(&mut shared.stream).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use smol::io::{AsyncReadExt, AsyncWriteExt};

    /// Writes made within one poll of the connection reach the socket as one write, after it.
    #[test]
    fn writes_of_one_poll_leave_together() {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let client = smol::net::TcpStream::connect(address).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            let mut first_poll = true;
            let sent = serve_coalesced(client, |mut io| async move {
                io.write_all(b"head").await.unwrap();
                io.write_all(&[b'x'; 3000]).await.unwrap();
                io.flush().await.unwrap();
                // Nothing has reached the peer yet: the poll has not ended.
                let mut probe = [0u8; 1];
                let early = smol::future::poll_once(server.read(&mut probe)).await;
                assert!(early.is_none(), "bytes left before the poll ended");
                // End this poll once, so the buffer drains.
                smol::future::poll_fn(|cx| {
                    if std::mem::take(&mut first_poll) {
                        cx.waker().wake_by_ref();
                        Poll::Pending
                    } else {
                        Poll::Ready(())
                    }
                })
                .await;
                let mut received = vec![0u8; 3004];
                server.read_exact(&mut received).await.unwrap();
                io.close().await.unwrap();
                received
            })
            .await;
            assert_eq!(&sent[..4], b"head");
            assert!(sent[4..].iter().all(|&b| b == b'x'));
        });
    }

    /// More than the buffer holds is written while the poll goes on, in order, and close
    /// drains the rest.
    #[test]
    fn a_full_buffer_is_written_inline_and_close_drains() {
        smol::block_on(async {
            let listener = smol::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let reader = smol::spawn(async move {
                let (mut server, _) = listener.accept().await.unwrap();
                let mut all = Vec::new();
                server.read_to_end(&mut all).await.unwrap();
                all
            });
            let client = smol::net::TcpStream::connect(address).await.unwrap();
            let expected: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
            let to_send = expected.clone();
            serve_coalesced(client, |mut io| async move {
                for chunk in to_send.chunks(7000) {
                    io.write_all(chunk).await.unwrap();
                }
                io.close().await.unwrap();
            })
            .await;
            assert_eq!(reader.await, expected);
        });
    }
}

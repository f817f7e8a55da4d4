//! The process's async executor: a fixed number of threads running one smol Executor, shared by
//! the server's listeners and peers and by the client applets. The raft thread is separate.

use std::future::Future;
use std::sync::{LazyLock, Once};

static EXECUTOR: LazyLock<smol::Executor<'static>> = LazyLock::new(smol::Executor::new);
static STARTED: Once = Once::new();

/// Starts `threads` executor threads (once per process; later calls do nothing).
pub fn start(threads: usize) {
    STARTED.call_once(|| {
        for _ in 0..threads {
            std::thread::spawn(|| smol::block_on(EXECUTOR.run(smol::future::pending::<()>())));
        }
    });
}

/// Runs `future` on the executor.
pub fn spawn(future: impl Future<Output = impl Send + 'static> + Send + 'static) {
    EXECUTOR.spawn(future).detach();
}

/// Runs `future` on the executor and hands back its task to await.
pub fn task<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> smol::Task<T> {
    EXECUTOR.spawn(future)
}

/// Pieces of a dump waiting to be sent, per dump: the reader runs ahead of the network by this
/// much at most.
const DUMP_QUEUE_LENGTH: usize = 4;

/// Runs `produce` on a thread of its own and returns what it sends, a few pieces ahead of the
/// reader: for work that holds one LMDB read transaction for long (a backup, a peer snapshot)
/// and must not block the executor's threads. `produce` stops when its sends fail (the reader
/// went away).
pub fn produce_on_thread<T: Send + 'static>(
    produce: impl FnOnce(&smol::channel::Sender<T>) + Send + 'static,
) -> smol::channel::Receiver<T> {
    let (sender, receiver) = smol::channel::bounded(DUMP_QUEUE_LENGTH);
    std::thread::spawn(move || produce(&sender));
    receiver
}

/// Runs `future` on the calling thread, which also helps run spawned tasks.
pub fn block_on<T>(future: impl Future<Output = T>) -> T {
    smol::block_on(EXECUTOR.run(future))
}

/// `future`, or a TimedOut error once `limit` has passed.
pub async fn with_timeout<T>(
    limit: std::time::Duration,
    future: impl Future<Output = std::io::Result<T>>,
) -> std::io::Result<T> {
    smol::future::or(future, async {
        smol::Timer::after(limit).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "timed out",
        ))
    })
    .await
}

/// Hands hyper's background tasks (HTTP/2 connections and streams) to the executor.
#[derive(Clone, Copy)]
pub struct HyperExecutor;

impl<F> hyper::rt::Executor<F> for HyperExecutor
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn execute(&self, future: F) {
        spawn(future);
    }
}

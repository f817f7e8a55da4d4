//! The process's async executor: threads (as many as the CPUs allow) running one smol Executor,
//! shared by the server's listeners and peers and by the client applets. The raft thread is
//! separate.

use crate::doorbell::Doorbell;
use std::future::Future;
use std::sync::{Arc, LazyLock, Once};

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

/// Most executor threads a server starts besides its main thread, however many CPUs it sees.
const MAX_SERVER_EXECUTOR_THREADS: usize = 63;

/// The executor threads a server starts besides its main thread, which runs the executor too:
/// all executor threads together get one CPU fewer than the process may use, as the raft thread,
/// which every write passes through in turn, needs one to itself. On 2 CPUs that is the main
/// thread alone: three threads polling one executor there spent more CPU waking each other than
/// on requests (put-1 on 3 members: 1.47 ms of CPU per put against 1.07 ms with one).
/// `GOMAXPROCS`, the CPUs Go's runtime (and so etcd) uses, replaces the CPUs counted when it is
/// a positive number; otherwise it is ignored, as Go's runtime ignores it.
pub fn server_executor_threads(available_cpus: usize, gomaxprocs: Option<&str>) -> usize {
    let cpus = gomaxprocs
        .and_then(|value| value.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(available_cpus);
    cpus.saturating_sub(2).min(MAX_SERVER_EXECUTOR_THREADS)
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

/// The sending half of a channel into the thread that answers `bell`.
pub struct ToThread<T> {
    channel: smol::channel::Sender<T>,
    bell: Arc<Doorbell>,
}

impl<T> Clone for ToThread<T> {
    fn clone(&self) -> Self {
        ToThread {
            channel: self.channel.clone(),
            bell: self.bell.clone(),
        }
    }
}

/// A channel into the thread that answers `bell`, holding at most `capacity` messages (None:
/// unbounded); a full one makes `send` wait.
pub fn to_thread<T>(
    bell: &Arc<Doorbell>,
    capacity: Option<usize>,
) -> (ToThread<T>, smol::channel::Receiver<T>) {
    let (channel, receiver) = match capacity {
        Some(capacity) => smol::channel::bounded(capacity),
        None => smol::channel::unbounded(),
    };
    let bell = bell.clone();
    (ToThread { channel, bell }, receiver)
}

impl<T> ToThread<T> {
    pub async fn send(&self, message: T) -> Result<(), smol::channel::SendError<T>> {
        let sent = self.channel.send(message).await;
        self.bell.ring();
        sent
    }

    pub fn send_blocking(&self, message: T) -> Result<(), smol::channel::SendError<T>> {
        let sent = self.channel.send_blocking(message);
        self.bell.ring();
        sent
    }
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

#[cfg(test)]
mod tests {
    use super::{server_executor_threads, to_thread, Doorbell};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_send_wakes_the_thread_answering_the_bell() {
        let bell = Arc::new(Doorbell::new().unwrap());
        let (sender, receiver) = to_thread::<u32>(&bell, Some(1));
        let (answered, ready) = std::sync::mpsc::channel();
        let far = Instant::now() + Duration::from_secs(60);
        let thread_bell = bell.clone();
        let thread = std::thread::spawn(move || {
            answered.send(()).unwrap();
            let mut got = Vec::new();
            while got.len() < 2 {
                match receiver.try_recv() {
                    Ok(value) => got.push(value),
                    Err(_) => thread_bell.wait_until(far, &mut Vec::new()),
                }
            }
            got
        });
        ready.recv().unwrap();
        sender.send_blocking(1).unwrap();
        smol::block_on(sender.send(2)).unwrap();
        assert_eq!(thread.join().unwrap(), vec![1, 2]);
    }

    #[test]
    fn a_server_leaves_one_cpu_to_raft_and_counts_its_main_thread() {
        assert_eq!(server_executor_threads(1, None), 0);
        assert_eq!(server_executor_threads(2, None), 0);
        assert_eq!(server_executor_threads(4, None), 2);
        assert_eq!(server_executor_threads(1000, None), 63);
    }

    #[test]
    fn gomaxprocs_replaces_the_cpus_counted_when_it_is_a_positive_number() {
        assert_eq!(server_executor_threads(2, Some("8")), 6);
        assert_eq!(server_executor_threads(16, Some(" 3 ")), 1);
        for ignored in ["0", "-4", "", "many", "2.5"] {
            assert_eq!(
                server_executor_threads(16, Some(ignored)),
                14,
                "{ignored:?}"
            );
        }
    }
}

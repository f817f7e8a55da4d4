//! How a thread of its own (the raft thread) sleeps until something arrives for it: a send on a
//! channel into it (`runtime::to_thread` rings the bell after every send), or bytes on a socket
//! it reads itself (a peer's raft stream, peer/incoming.rs). The thread sleeps in epoll_wait
//! on an epoll instance of its own that holds an eventfd (the bell) and those sockets, so a
//! peer's message wakes it directly instead of waking an executor thread that then wakes it.
//!
//! A ring costs a syscall only while the thread sleeps: otherwise it just marks the bell, and
//! the thread's next wait returns at once. Waiting in a smol channel's `recv` instead, the thread
//! was woken by the channel's event listener while the sender still held the listener list's
//! lock; on a busy CPU the woken thread ran at once, blocked on that lock, and slept again until
//! the sender, now descheduled, let go (put-1 traces on 2 CPUs).

#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

const AWAKE: u8 = 0;
const ASLEEP: u8 = 1;
const RUNG: u8 = 2;

/// The epoll key of the bell's own eventfd; watched sockets use any other.
const BELL_KEY: u64 = u64::MAX;
/// Ready sockets taken from one epoll_wait.
const MAX_EVENTS: usize = 64;

pub struct Doorbell {
    epoll: OwnedFd,
    bell: OwnedFd,
    state: AtomicU8,
}

/// A raw fd a syscall just returned, owned from here on.
fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by the kernel as a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl Doorbell {
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: plain syscalls creating new descriptors, checked by `owned`.
        let epoll = owned(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        let bell = owned(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
        let doorbell = Doorbell {
            epoll,
            bell,
            state: AtomicU8::new(AWAKE),
        };
        doorbell.control(libc::EPOLL_CTL_ADD, doorbell.bell.as_raw_fd(), BELL_KEY)?;
        Ok(doorbell)
    }

    fn control(&self, op: libc::c_int, fd: libc::c_int, key: u64) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: key,
        };
        // SAFETY: both descriptors are open (the epoll one is ours, `fd` borrowed by the
        // caller) and `event` is a valid epoll_event for the duration of the call.
        let result = unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut event) };
        if result < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Wakes the thread (a ring before it sleeps makes that sleep return at once).
    pub fn ring(&self) {
        if self.state.swap(RUNG, Ordering::AcqRel) == ASLEEP {
            let one = 1u64.to_ne_bytes();
            // SAFETY: writes 8 bytes from a live buffer to our own eventfd. It cannot fail
            // but by overflowing the counter, which a drained eventfd never reaches.
            unsafe { libc::write(self.bell.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        }
    }

    /// Whether the bell was rung since the thread last woke.
    #[cfg(test)]
    pub fn is_rung(&self) -> bool {
        self.state.load(Ordering::Acquire) == RUNG
    }

    /// Wakes the thread when `socket` has something to read (level-triggered): its key then
    /// comes out of `wait_until` or `ready`. The caller unwatches it before closing it.
    pub fn watch(&self, socket: BorrowedFd<'_>, key: u64) -> io::Result<()> {
        assert_ne!(key, BELL_KEY, "the bell's own key");
        self.control(libc::EPOLL_CTL_ADD, socket.as_raw_fd(), key)
    }

    pub fn unwatch(&self, socket: BorrowedFd<'_>) {
        // Fails only if it was not watched; closing it would remove it anyway.
        let _ = self.control(libc::EPOLL_CTL_DEL, socket.as_raw_fd(), 0);
    }

    /// Sleeps until rung, until a watched socket is readable, or until `deadline` (or
    /// spuriously: callers check what arrived); the keys of readable sockets go to `ready`.
    pub fn wait_until(&self, deadline: Instant, ready: &mut Vec<u64>) {
        if self
            .state
            .compare_exchange(AWAKE, ASLEEP, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Rung since the last wait.
            self.state.store(AWAKE, Ordering::Release);
            return self.collect(0, ready);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        // Rounded up: waking a little late is harmless, waking early spins.
        let millis = left.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32;
        self.collect(millis, ready);
        self.state.store(AWAKE, Ordering::Release);
    }

    /// The keys of watched sockets readable now, without sleeping.
    pub fn ready(&self, ready: &mut Vec<u64>) {
        self.collect(0, ready);
    }

    fn collect(&self, timeout_ms: i32, ready: &mut Vec<u64>) {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        // SAFETY: `events` is a live buffer of MAX_EVENTS entries for the kernel to fill.
        let count = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                timeout_ms,
            )
        };
        // A negative count is EINTR: a spurious wake-up.
        for event in events.iter().take(count.max(0) as usize) {
            match event.u64 {
                BELL_KEY => self.drain_bell(),
                key => ready.push(key),
            }
        }
    }

    fn drain_bell(&self) {
        let mut count = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a live 8-byte buffer from our own nonblocking
        // eventfd (EAGAIN when another wait drained it first).
        unsafe {
            libc::read(
                self.bell.as_raw_fd(),
                count.as_mut_ptr().cast(),
                count.len(),
            )
        };
    }
}

#[cfg(test)]
mod tests {
    use super::Doorbell;
    use std::io::Write as _;
    use std::os::fd::AsFd as _;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn a_ring_wakes_a_sleeper_and_one_before_the_sleep_cuts_it_short() {
        let bell = Arc::new(Doorbell::new().unwrap());
        let far = Instant::now() + Duration::from_secs(60);
        bell.ring();
        let mut ready = Vec::new();
        bell.wait_until(far, &mut ready);
        assert!(ready.is_empty());
        let ringer = bell.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            ringer.ring();
        });
        let started = Instant::now();
        bell.wait_until(far, &mut ready);
        assert!(started.elapsed() < Duration::from_secs(30));
        assert!(ready.is_empty(), "a ring is not a socket");
        thread.join().unwrap();
    }

    #[test]
    fn a_watched_socket_with_bytes_to_read_wakes_the_sleeper_with_its_key() {
        let bell = Doorbell::new().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        bell.watch(server.as_fd(), 7).unwrap();
        let mut ready = Vec::new();
        bell.ready(&mut ready);
        assert!(ready.is_empty(), "nothing to read yet");
        client.write_all(b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        // A wait may end early (a signal): wait again until the key comes or the deadline.
        while ready.is_empty() && Instant::now() < deadline {
            bell.wait_until(deadline, &mut ready);
        }
        assert_eq!(ready, vec![7]);
        bell.unwatch(server.as_fd());
        ready.clear();
        bell.ready(&mut ready);
        assert!(ready.is_empty(), "unwatched");
        // A deadline in the past returns at once.
        bell.wait_until(Instant::now(), &mut ready);
    }
}

//! Ctrl-C (SIGINT) and SIGTERM as an event a command can wait for, as Go's signal.Notify gives
//! etcdctl: `lock` and `elect` then release what they hold (the lock key, the leadership)
//! before exiting instead of leaving it until the session lease runs out.

use std::sync::atomic::{AtomicI32, Ordering};

/// The write end of the pipe the handler signals through (-1 until installed).
static PIPE: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; one byte from a static buffer.
        #[allow(unsafe_code)]
        unsafe {
            libc::write(fd, [1u8].as_ptr().cast(), 1);
        }
    }
}

/// From now on SIGINT and SIGTERM no longer end the process; each arrives on the returned
/// channel instead.
pub fn watch() -> std::io::Result<smol::channel::Receiver<()>> {
    let mut fds = [0; 2];
    // No safe wrapper for pipe(2) and sigaction(2) in the crates linked here.
    #[allow(unsafe_code)]
    // SAFETY: pipe fills the two-element array; the handler only calls write(2) on a pipe
    // that stays open for the life of the process.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        PIPE.store(fds[1], Ordering::Relaxed);
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        action.sa_flags = libc::SA_RESTART;
        for signal in [libc::SIGINT, libc::SIGTERM] {
            if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    let (sender, receiver) = smol::channel::bounded(1);
    let read_fd = fds[0];
    std::thread::spawn(move || {
        let mut byte = [0u8; 1];
        loop {
            // SAFETY: reads one byte into a local buffer from the pipe this thread owns.
            #[allow(unsafe_code)]
            let read = unsafe { libc::read(read_fd, byte.as_mut_ptr().cast(), 1) };
            if read == 1 {
                let _ = sender.try_send(());
            } else if read == 0
                || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted
            {
                return;
            }
        }
    });
    Ok(receiver)
}

//! A minimal `log` backend: one line per record on stderr, as a unit's journal wants it.

use std::io::Write;

struct StderrLogger;

impl log::Log for StderrLogger {
    fn enabled(&self, metadata: &log::Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) {
            let level = match record.level() {
                log::Level::Error => "E",
                log::Level::Warn => "W",
                log::Level::Info => "I",
                log::Level::Debug | log::Level::Trace => "D",
            };
            let _ = writeln!(
                std::io::stderr().lock(),
                "{level} | {}: {}",
                record.target(),
                record.args()
            );
        }
    }

    fn flush(&self) {}
}

pub fn init(level: log::LevelFilter) {
    static LOGGER: StderrLogger = StderrLogger;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(level);
    }
}

/// A warning that outside input can trigger at any rate (a refused peer, a dropped message):
/// written at most once per interval, with how many were held back since.
pub struct Throttled {
    last_written: std::sync::Mutex<Option<std::time::Instant>>,
    held_back: std::sync::atomic::AtomicU64,
}

/// How often one throttled warning may be written.
const THROTTLE_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

impl Throttled {
    pub const fn new() -> Throttled {
        Throttled {
            last_written: std::sync::Mutex::new(None),
            held_back: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn warn(&self, message: impl FnOnce() -> String) {
        use std::sync::atomic::Ordering;
        let now = std::time::Instant::now();
        let mut last = self
            .last_written
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if last.is_some_and(|at| now.duration_since(at) < THROTTLE_INTERVAL) {
            self.held_back.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(now);
        drop(last);
        match self.held_back.swap(0, Ordering::Relaxed) {
            0 => log::warn!("{}", message()),
            n => log::warn!("{} ({n} more like it in the last interval)", message()),
        }
    }
}

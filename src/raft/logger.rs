//! raft-rs logs through slog; this drain forwards its records to the `log` facade we use.

use slog::{Drain, OwnedKVList, Record};

struct LogDrain;

impl Drain for LogDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record, _: &OwnedKVList) -> Result<(), slog::Never> {
        let level = match record.level() {
            slog::Level::Critical | slog::Level::Error => log::Level::Error,
            slog::Level::Warning => log::Level::Warn,
            slog::Level::Info => log::Level::Info,
            slog::Level::Debug | slog::Level::Trace => log::Level::Debug,
        };
        log::log!(target: "raft", level, "{}", record.msg());
        Ok(())
    }
}

pub fn raft_logger() -> slog::Logger {
    slog::Logger::root(LogDrain, slog::o!())
}

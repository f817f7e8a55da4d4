//! The v2 store's operation counts (etcd's v2store Stats), served at /v2/stats/store: each
//! member counts the writes it applies and the reads and watches it serves itself, from zero at
//! start. etcd's counts include its own internal use of the v2 store (membership, auth
//! checks); ours count only what clients asked.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a v2 operation was, as etcd's store classifies it.
#[derive(Clone, Copy)]
pub enum Operation {
    Get,
    Set,
    Delete,
    Update,
    Create,
    CompareAndSwap,
    CompareAndDelete,
}

/// Success and failure counts per operation, in `Operation` order.
static COUNTS: [[AtomicU64; 2]; 7] = [const { [const { AtomicU64::new(0) }; 2] }; 7];
static EXPIRED: AtomicU64 = AtomicU64::new(0);
static WATCHERS: AtomicU64 = AtomicU64::new(0);

pub fn count(operation: Operation, succeeded: bool) {
    COUNTS[operation as usize][usize::from(!succeeded)].fetch_add(1, Ordering::Relaxed);
}

pub fn expired(n: u64) {
    EXPIRED.fetch_add(n, Ordering::Relaxed);
}

/// A waiting watch, counted from creation until dropped.
pub struct Watcher(());

impl Watcher {
    pub fn new() -> Watcher {
        WATCHERS.fetch_add(1, Ordering::Relaxed);
        Watcher(())
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        WATCHERS.fetch_sub(1, Ordering::Relaxed);
    }
}

/// etcd's Stats JSON, fields in its order.
pub fn json() -> String {
    let get = |operation: Operation, failed: bool| {
        COUNTS[operation as usize][usize::from(failed)].load(Ordering::Relaxed)
    };
    let fields = [
        ("getsSuccess", get(Operation::Get, false)),
        ("getsFail", get(Operation::Get, true)),
        ("setsSuccess", get(Operation::Set, false)),
        ("setsFail", get(Operation::Set, true)),
        ("deleteSuccess", get(Operation::Delete, false)),
        ("deleteFail", get(Operation::Delete, true)),
        ("updateSuccess", get(Operation::Update, false)),
        ("updateFail", get(Operation::Update, true)),
        ("createSuccess", get(Operation::Create, false)),
        ("createFail", get(Operation::Create, true)),
        (
            "compareAndSwapSuccess",
            get(Operation::CompareAndSwap, false),
        ),
        ("compareAndSwapFail", get(Operation::CompareAndSwap, true)),
        (
            "compareAndDeleteSuccess",
            get(Operation::CompareAndDelete, false),
        ),
        (
            "compareAndDeleteFail",
            get(Operation::CompareAndDelete, true),
        ),
        ("expireCount", EXPIRED.load(Ordering::Relaxed)),
        ("watchers", WATCHERS.load(Ordering::Relaxed)),
    ];
    let body: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("\"{name}\":{value}"))
        .collect();
    format!("{{{}}}", body.join(","))
}

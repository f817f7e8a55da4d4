//! A linearizability checker for a history of operations on independent registers (one per
//! key): Wing and Gong's search with Lowe's memoization (the algorithm of Knossos and
//! Porcupine). Keys are checked one by one, which is sound because every operation touches one
//! key. An operation whose outcome is unknown (a timeout, a dropped connection) may have taken
//! effect at any moment after it was invoked, or never.

use std::collections::HashSet;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// put(value)
    Write(String),
    /// get, which returned this value (None: no key).
    Read(Option<String>),
    /// txn: if value == from then put(to); `applied` is what the txn answered.
    Cas {
        from: String,
        to: String,
        applied: bool,
    },
}

/// One operation of one client: when it was invoked and when it returned (None: it never
/// answered, or answered with an error that leaves its outcome unknown).
#[derive(Clone, Debug)]
pub struct Op {
    pub key: String,
    pub invoked: u64,
    pub returned: Option<u64>,
    pub kind: Kind,
}

/// The register's value after `op` if `op` can take effect on `state` and answer what it
/// answered; None if it cannot.
fn step(state: &Option<String>, op: &Op) -> Option<Option<String>> {
    let known = op.returned.is_some();
    match &op.kind {
        Kind::Write(value) => Some(Some(value.clone())),
        Kind::Read(seen) => (seen == state).then(|| state.clone()),
        Kind::Cas { from, to, applied } => {
            let holds = state.as_deref() == Some(from.as_str());
            match (holds, *applied || !known) {
                (true, true) => Some(Some(to.clone())),
                // An unknown CAS that did not apply changed nothing: the same as skipping it.
                (false, false) => Some(state.clone()),
                _ => None,
            }
        }
    }
}

/// Whether the operations on one key (from an initially absent key) are linearizable.
pub fn linearizable(ops: &[Op]) -> bool {
    assert!(ops.len() <= 4096, "history too long to check");
    let mut search = Search {
        ops,
        seen: HashSet::new(),
    };
    search.run(vec![0u64; ops.len().div_ceil(64)], None)
}

struct Search<'a> {
    ops: &'a [Op],
    /// (set of linearized ops, register value) pairs already explored.
    seen: HashSet<(Vec<u64>, Option<String>)>,
}

impl Search<'_> {
    fn run(&mut self, done: Vec<u64>, state: Option<String>) -> bool {
        let pending = |i: usize| done[i / 64] & (1 << (i % 64)) == 0;
        // Every operation that returned must be linearized; unknown ones may be left out.
        if (0..self.ops.len()).all(|i| !pending(i) || self.ops[i].returned.is_none()) {
            return true;
        }
        if !self.seen.insert((done.clone(), state.clone())) {
            return false;
        }
        // Only an operation invoked before the earliest pending return can go next.
        let frontier = (0..self.ops.len())
            .filter(|&i| pending(i))
            .filter_map(|i| self.ops[i].returned)
            .min()
            .unwrap_or(u64::MAX);
        for i in 0..self.ops.len() {
            if !pending(i) || self.ops[i].invoked > frontier {
                continue;
            }
            if let Some(next) = step(&state, &self.ops[i]) {
                let mut after = done.clone();
                after[i / 64] |= 1 << (i % 64);
                if self.run(after, next) {
                    return true;
                }
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(invoked: u64, returned: Option<u64>, kind: Kind) -> Op {
        Op {
            key: "k".into(),
            invoked,
            returned,
            kind,
        }
    }
    fn write(v: &str) -> Kind {
        Kind::Write(v.into())
    }
    fn read(v: Option<&str>) -> Kind {
        Kind::Read(v.map(String::from))
    }
    fn cas(from: &str, to: &str, applied: bool) -> Kind {
        Kind::Cas {
            from: from.into(),
            to: to.into(),
            applied,
        }
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // Two overlapping writes; reads after both see one of them, consistently.
        let history = [
            op(0, Some(10), write("a")),
            op(1, Some(9), write("b")),
            op(11, Some(12), read(Some("a"))),
            op(13, Some(14), read(Some("a"))),
        ];
        assert!(linearizable(&history));
        // A read overlapping a write may see the old or the new value.
        let history = [
            op(0, Some(1), write("a")),
            op(2, Some(10), write("b")),
            op(3, Some(4), read(Some("a"))),
            op(5, Some(6), read(Some("b"))),
        ];
        assert!(linearizable(&history));
    }

    #[test]
    fn a_stale_read_is_a_violation() {
        let history = [op(0, Some(1), write("a")), op(2, Some(3), read(None))];
        assert!(!linearizable(&history));
        let history = [
            op(0, Some(1), write("a")),
            op(2, Some(3), write("b")),
            op(4, Some(5), read(Some("a"))),
        ];
        assert!(!linearizable(&history));
    }

    #[test]
    fn reads_may_not_go_back_in_time() {
        let history = [
            op(0, Some(100), write("b")),
            op(1, Some(2), read(Some("b"))),
            op(3, Some(4), read(None)),
        ];
        assert!(!linearizable(&history));
    }

    #[test]
    fn two_cas_from_one_value_cannot_both_apply() {
        let history = [
            op(0, Some(1), write("a")),
            op(2, Some(3), cas("a", "b", true)),
            op(4, Some(5), cas("a", "c", true)),
        ];
        assert!(!linearizable(&history));
        let history = [
            op(0, Some(1), write("a")),
            op(2, Some(3), cas("a", "b", true)),
            op(4, Some(5), cas("a", "c", false)),
            op(6, Some(7), read(Some("b"))),
        ];
        assert!(linearizable(&history));
    }

    #[test]
    fn an_unknown_outcome_may_have_happened_or_not() {
        // A timed-out write seen later: it happened.
        let history = [
            op(0, None, write("a")),
            op(5, Some(6), read(Some("a"))),
            op(7, Some(8), read(Some("a"))),
        ];
        assert!(linearizable(&history));
        // ...or never seen: it did not.
        let history = [op(0, None, write("a")), op(5, Some(6), read(None))];
        assert!(linearizable(&history));
        // But it cannot happen before it was invoked.
        let history = [op(0, Some(1), read(Some("a"))), op(5, None, write("a"))];
        assert!(!linearizable(&history));
        // Nor be seen, unseen and seen again.
        let history = [
            op(0, None, write("a")),
            op(1, Some(2), read(Some("a"))),
            op(3, Some(4), read(None)),
        ];
        assert!(!linearizable(&history));
    }
}

//! A mutation fuzzer for the parsers that read outside input (the WAL reader, request decoding
//! and validation, apply, the gateway's JSON, peer frames and raft messages, backups, flags).
//! Each target is a unit test next to the code it exercises and calls `run` with a few valid
//! inputs as seeds; `run` feeds it mutations of them (bit flips, byte changes, insertions,
//! deletions, repeats, splices, truncations, boundary numbers) from a fixed-seed generator, so
//! a failure repeats. A panic fails the test with the input that caused it, in hex.
//!
//! CI runs FUZZ_DEFAULT_INPUTS per target; a long run sets FUZZ_INPUTS (e.g. 1000000) and
//! FUZZ_SEED, best with `cargo test --release -- fuzz`.

/// Inputs per target when FUZZ_INPUTS is not set: a few seconds in a debug build.
const FUZZ_DEFAULT_INPUTS: u64 = 3_000;
/// Mutated inputs are kept below this size.
const MAX_INPUT_BYTES: usize = 64 * 1024;

/// A number from the environment, for longer runs of randomized tests.
pub fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small seeded random generator, so that every run of a randomized test repeats.
pub struct Dice(pub u64);

impl Dice {
    pub fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that often sit on a boundary: empty and full lengths, varint continuation, signs.
const INTERESTING: [u8; 10] = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x0a, 0x12, 0x22, b'{', b'"'];

fn mutate(dice: &mut Dice, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=dice.below(4) {
        let len = input.len();
        match dice.below(9) {
            0 if len > 0 => {
                let at = dice.below(len);
                input[at] ^= 1 << dice.below(8);
            }
            1 if len > 0 => {
                let at = dice.below(len);
                input[at] = INTERESTING[dice.below(INTERESTING.len())];
            }
            2 => {
                let at = dice.below(len + 1);
                let count = 1 + dice.below(8);
                let bytes: Vec<u8> = (0..count).map(|_| dice.next() as u8).collect();
                input.splice(at..at, bytes);
            }
            3 if len > 0 => {
                let at = dice.below(len);
                let end = (at + 1 + dice.below(16)).min(len);
                input.drain(at..end);
            }
            4 if len > 0 => {
                // Repeat a piece: nesting, long lists.
                let at = dice.below(len);
                let end = (at + 1 + dice.below(32)).min(len);
                let piece = input[at..end].to_vec();
                for _ in 0..=dice.below(8) {
                    input.splice(at..at, piece.iter().copied());
                }
            }
            5 => {
                let other = &seeds[dice.below(seeds.len())];
                let at = dice.below(len + 1);
                let from = dice.below(other.len() + 1);
                input.truncate(at);
                input.extend_from_slice(&other[from..]);
            }
            6 if len > 0 => input.truncate(dice.below(len)),
            7 if len >= 4 => {
                // A 32-bit length or number set to something extreme.
                let at = dice.below(len - 3);
                let value = [0u32, 1, 0x7fff_ffff, 0xffff_ffff, 1 << 24][dice.below(5)];
                input[at..at + 4].copy_from_slice(&value.to_le_bytes());
            }
            _ => {}
        }
    }
    input.truncate(MAX_INPUT_BYTES);
}

/// Feeds `target` the seeds, then mutations of them; panics with the failing input.
pub fn run(name: &str, seeds: &[Vec<u8>], mut target: impl FnMut(&[u8])) {
    let inputs = setting("FUZZ_INPUTS", FUZZ_DEFAULT_INPUTS);
    let mut dice = Dice(setting("FUZZ_SEED", 1) ^ name.len() as u64);
    let seeds: Vec<Vec<u8>> = if seeds.is_empty() {
        vec![Vec::new()]
    } else {
        seeds.to_vec()
    };
    let mut last = seeds[0].clone();
    for n in 0..inputs {
        let mut input = if n < seeds.len() as u64 {
            seeds[n as usize].clone()
        } else if dice.below(4) == 0 {
            // Sometimes keep mutating the last input, to go further from the seeds.
            last.clone()
        } else {
            seeds[dice.below(seeds.len())].clone()
        };
        if n >= seeds.len() as u64 {
            mutate(&mut dice, &seeds, &mut input);
        }
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let hex: String = input.iter().map(|b| format!("{b:02x}")).collect();
            panic!("fuzz target {name}: input {n} panicked ({message}):\n{hex}");
        }
        last = input;
    }
}

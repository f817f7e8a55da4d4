//! The shipped artifact: one static, stripped x86_64 musl executable within the size budget.
//! `.ci/run` builds it first with `cargo build --release --target x86_64-unknown-linux-musl`.

use std::path::Path;

const ARTIFACT: &str = "target/x86_64-unknown-linux-musl/release/etcd";
/// The finished product (server and every applet) must fit in 8 MB.
const SIZE_BUDGET_BYTES: u64 = 8 * 1000 * 1000;
const PT_INTERP: u32 = 3;

/// ELF64 program header types, read straight from the file.
fn program_header_types(elf: &[u8]) -> Vec<u32> {
    assert_eq!(&elf[..4], b"\x7fELF", "not an ELF file");
    assert_eq!(elf[4], 2, "not a 64-bit ELF file");
    let word = |at: usize, size: usize| {
        let mut bytes = [0u8; 8];
        bytes[..size].copy_from_slice(&elf[at..at + size]);
        u64::from_le_bytes(bytes)
    };
    let table = word(0x20, 8) as usize;
    let entry_size = word(0x36, 2) as usize;
    let count = word(0x38, 2) as usize;
    (0..count)
        .map(|i| word(table + i * entry_size, 4) as u32)
        .collect()
}

#[test]
fn release_binary_is_static_and_within_budget() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(ARTIFACT);
    let elf = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; build it with `cargo build --release --target x86_64-unknown-linux-musl`",
            path.display()
        )
    });
    assert!(
        !program_header_types(&elf).contains(&PT_INTERP),
        "the release binary asks for a dynamic loader"
    );
    let size = elf.len() as u64;
    println!("release binary: {size} bytes");
    assert!(
        size <= SIZE_BUDGET_BYTES,
        "{size} bytes is over the {SIZE_BUDGET_BYTES}-byte budget"
    );
    let file = std::process::Command::new("file")
        .arg(&path)
        .output()
        .expect("`file` is installed by .ci/run");
    let description = String::from_utf8_lossy(&file.stdout);
    assert!(
        description.contains("statically linked") || description.contains("static-pie linked"),
        "{description}"
    );
    assert!(
        description.contains("stripped") && !description.contains("not stripped"),
        "{description}"
    );
    let version = std::process::Command::new(&path)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&version.stdout).contains("x86_64-unknown-linux-musl"));
}

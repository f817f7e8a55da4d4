//! Compiles our etcd wire schema (proto/) with protox, a pure-Rust protobuf compiler, so that
//! building needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/rpc.proto",
        "proto/raft_internal.proto",
        "proto/lock.proto",
        "proto/election.proto",
    ];
    for file in std::fs::read_dir("proto")? {
        println!("cargo:rerun-if-changed={}", file?.path().display());
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    let git_revision = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=BUILD_GIT_REVISION={git_revision}");
    println!("cargo:rustc-env=BUILD_TARGET={}", std::env::var("TARGET")?);
    println!("cargo:rerun-if-changed=.git/HEAD");
    Ok(())
}

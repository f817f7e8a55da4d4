//! Versions this binary reports.

/// The etcd server version whose API and answers we reproduce (Debian's etcd 3.4 is the
/// reference the tests compare against); clients read it from Status and /version.
pub const SERVER_VERSION: &str = "3.4.23";
/// The cluster version a 3.4 cluster reports.
pub const CLUSTER_VERSION: &str = "3.4.0";

/// `etcd --version`: what clients see, then what this build is.
pub fn describe() -> String {
    format!(
        "etcd Version: {SERVER_VERSION}\nGit SHA: {}\nBuild: etcd-in-one-binary {} ({})\nAPI version: 3.4\n",
        env!("BUILD_GIT_REVISION"),
        env!("CARGO_PKG_VERSION"),
        env!("BUILD_TARGET"),
    )
}

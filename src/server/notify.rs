//! systemd's readiness protocol (Type=notify): once this member can serve — it has a leader and
//! its own start-up announcement (name and client URLs) has been applied, which needs a quorum,
//! as etcd's ReadyNotify does — send READY=1 to $NOTIFY_SOCKET. Without that variable, nothing.

use crate::mvcc::Store;
use crate::raft::RaftStatus;
use std::sync::Arc;
use std::time::Duration;

/// How often readiness is looked at until it is reached.
const POLL: Duration = Duration::from_millis(50);

pub async fn when_ready(store: Arc<Store>, status: Arc<RaftStatus>) {
    let Some(socket) = std::env::var_os("NOTIFY_SOCKET") else {
        return;
    };
    while !is_ready(&store, &status) {
        smol::Timer::after(POLL).await;
    }
    match send(&socket, b"READY=1\n") {
        Ok(()) => log::info!("told systemd the member is ready"),
        Err(e) => log::warn!("NOTIFY_SOCKET {}: {e}", socket.to_string_lossy()),
    }
}

fn is_ready(store: &Store, status: &RaftStatus) -> bool {
    if status.leader_id() == 0 {
        return false;
    }
    let Ok(txn) = store.read_txn() else {
        return false;
    };
    crate::apply::membership::list(store, &txn)
        .map(|members| {
            members
                .iter()
                .any(|m| m.id == status.member_id && !m.name.is_empty())
        })
        .unwrap_or(false)
}

/// One datagram to the socket; a leading '@' names an abstract socket, as systemd uses.
fn send(socket: &std::ffi::OsStr, message: &[u8]) -> std::io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::net::{SocketAddr, UnixDatagram};
    let bytes = socket.as_bytes();
    let address = match bytes.strip_prefix(b"@") {
        Some(name) => SocketAddr::from_abstract_name(name)?,
        None => SocketAddr::from_pathname(std::path::Path::new(socket))?,
    };
    UnixDatagram::unbound()?.send_to_addr(message, &address)?;
    Ok(())
}

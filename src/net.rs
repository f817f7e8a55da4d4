//! Binding a listener's URL: its TCP socket and, for https, the TLS acceptor; shared by the
//! client listeners (server/listener.rs) and the peer listener (peer/receiver.rs).

use crate::url::{Scheme, Url};
use futures_rustls::rustls::ServerConfig;
use futures_rustls::TlsAcceptor;
use smol::net::TcpListener;
use std::sync::Arc;

/// Binds `url` and, for https, prepares the TLS acceptor (`flag_prefix`: "" for clients,
/// "peer-" for peers, to name the missing flags).
pub async fn bind_socket(
    url: &Url,
    tls: Option<Arc<ServerConfig>>,
    flag_prefix: &str,
) -> Result<(TcpListener, Option<TlsAcceptor>), String> {
    let address = url.bind_address()?;
    let tcp = TcpListener::bind(address.as_str())
        .await
        .map_err(|e| format!("listen tcp {address}: bind: {e}"))?;
    let tls = match url.scheme {
        Scheme::Https => Some(TlsAcceptor::from(tls.ok_or(format!(
            "{url}: https needs --{flag_prefix}cert-file and --{flag_prefix}key-file"
        ))?)),
        Scheme::Http => None,
    };
    Ok((tcp, tls))
}

//! A small HTTP/1.1 client: one request per connection, plain or TLS, directly or through an
//! HTTP proxy (absolute-form requests for http URLs, a CONNECT tunnel for https ones, as Go's
//! http.Transport does). Used by the etcdctl applet's v2 commands and by --discovery. Errors
//! are worded as Go's http client words them ("Get \"url\": dial tcp ...: connection refused").

use bytes::Bytes;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use futures_rustls::rustls::ClientConfig;
use http_body_util::{BodyExt, Full};
use std::sync::Arc;

/// The longest answer to a proxy's CONNECT we read before giving up on it.
const MAX_CONNECT_ANSWER_BYTES: usize = 8192;

/// The longest response body read; a v2 answer or a discovery directory is far smaller.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// One request.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a str,
    /// The body's content type (only sent with a body).
    pub content_type: &'a str,
    pub body: &'a str,
    /// An `Authorization` header value.
    pub authorization: Option<&'a str>,
}

/// What came back.
pub struct Answer {
    pub status: u16,
    /// The X-Etcd-Index header ("0" when absent).
    pub etcd_index: String,
    pub body: String,
}

/// Where the request goes: the TLS configuration for https URLs, and an HTTP proxy if any.
#[derive(Clone, Default)]
pub struct Route {
    pub tls: Option<Arc<ClientConfig>>,
    /// host:port of an HTTP proxy.
    pub proxy: Option<String>,
}

/// The text Go gives a failed connect, e.g. "connection refused".
pub fn os_error(error: &std::io::Error) -> String {
    match error.kind() {
        std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => error
            .to_string()
            .split(" (os error")
            .next()
            .unwrap_or("")
            .to_lowercase(),
    }
}

/// Sends `request` along `route`.
pub async fn send(request: &Request<'_>, route: &Route) -> Result<Answer, String> {
    let url = request.url;
    let failed = |why: String| format!("Get {url:?}: {why}");
    let uri: http::Uri = url.parse().map_err(|e| format!("parse {url:?}: {e}"))?;
    let host = uri.host().unwrap_or("").to_string();
    let secure = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let address = format!("{host}:{port}");
    let dial = route.proxy.as_deref().unwrap_or(&address);
    let mut tcp = smol::net::TcpStream::connect(dial)
        .await
        .map_err(|e| failed(format!("dial tcp {dial}: connect: {}", os_error(&e))))?;
    // Through a proxy, a plain request names the whole URL; an https one tunnels.
    let target = match (&route.proxy, secure) {
        (Some(_), false) => url.to_string(),
        _ => uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
    };
    if route.proxy.is_some() && secure {
        tunnel(&mut tcp, &address).await.map_err(failed)?;
    }
    let mut builder = http::Request::builder()
        .method(request.method)
        .uri(target)
        .header("host", address.as_str());
    if !request.body.is_empty() {
        builder = builder.header("content-type", request.content_type);
    }
    if let Some(credentials) = request.authorization {
        builder = builder.header("authorization", credentials);
    }
    let message = builder
        .body(Full::new(Bytes::from(request.body.to_string())))
        .map_err(|e| failed(e.to_string()))?;
    let response = if secure {
        let config = route
            .tls
            .clone()
            .ok_or_else(|| failed("x509: certificate signed by unknown authority".into()))?;
        let name =
            rustls_pki_types::ServerName::try_from(host).map_err(|e| failed(e.to_string()))?;
        let stream = futures_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| failed(e.to_string()))?;
        exchange(stream, message).await
    } else {
        exchange(tcp, message).await
    }
    .map_err(failed)?;
    let status = response.status().as_u16();
    let etcd_index = response
        .headers()
        .get("x-etcd-index")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("0")
        .to_string();
    let body = http_body_util::Limited::new(response.into_body(), MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?
        .to_bytes();
    Ok(Answer {
        status,
        etcd_index,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// Asks the proxy on `tcp` for a tunnel to `address` (CONNECT) and reads its answer.
async fn tunnel(tcp: &mut smol::net::TcpStream, address: &str) -> Result<(), String> {
    let ask = format!("CONNECT {address} HTTP/1.1\r\nHost: {address}\r\n\r\n");
    tcp.write_all(ask.as_bytes())
        .await
        .map_err(|e| format!("proxyconnect tcp: {}", os_error(&e)))?;
    let mut answer = Vec::new();
    let mut byte = [0u8; 1];
    // Byte by byte: whatever follows the blank line belongs to the TLS handshake.
    while !answer.ends_with(b"\r\n\r\n") {
        if answer.len() >= MAX_CONNECT_ANSWER_BYTES {
            return Err("proxyconnect tcp: the proxy's answer to CONNECT is too long".into());
        }
        match tcp.read(&mut byte).await {
            Ok(0) => return Err("proxyconnect tcp: unexpected EOF".into()),
            Ok(_) => answer.push(byte[0]),
            Err(e) => return Err(format!("proxyconnect tcp: {}", os_error(&e))),
        }
    }
    let status_line = String::from_utf8_lossy(&answer);
    let status_line = status_line.lines().next().unwrap_or("");
    match status_line.split(' ').nth(1) {
        Some("200") => Ok(()),
        _ => Err(status_line
            .split_once(' ')
            .map_or(status_line, |(_, status)| status)
            .to_string()),
    }
}

/// One HTTP/1.1 request on `stream`.
async fn exchange<S>(
    stream: S,
    request: http::Request<Full<Bytes>>,
) -> Result<http::Response<hyper::body::Incoming>, String>
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::Builder::new()
        .handshake(smol_hyper::rt::FuturesIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    crate::runtime::spawn(connection);
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A proxy on a free loopback port that reads the CONNECT and answers `answer`.
    fn proxy_answering(answer: Vec<u8>) -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            if let Ok((mut client, _)) = listener.accept() {
                // The whole request first: closing with some of it unread would reset.
                let mut request = Vec::new();
                let mut byte = [0u8; 1];
                while !request.ends_with(b"\r\n\r\n") && client.read(&mut byte).unwrap_or(0) == 1 {
                    request.push(byte[0]);
                }
                let _ = client.write_all(&answer);
            }
        });
        address
    }

    fn connect_through(proxy: &str) -> Result<(), String> {
        smol::block_on(async {
            let mut tcp = smol::net::TcpStream::connect(proxy).await.unwrap();
            tunnel(&mut tcp, "discovery.example:443").await
        })
    }

    #[test]
    fn a_proxys_answer_to_connect_is_read_and_checked() {
        let ok = proxy_answering(b"HTTP/1.1 200 Connection established\r\n\r\n".to_vec());
        assert_eq!(connect_through(&ok), Ok(()));
        let refused = proxy_answering(b"HTTP/1.1 403 Forbidden\r\nX: y\r\n\r\n".to_vec());
        assert_eq!(connect_through(&refused), Err("403 Forbidden".into()));
        let cut = proxy_answering(b"HTTP/1.1 200 OK\r\n".to_vec());
        assert_eq!(
            connect_through(&cut),
            Err("proxyconnect tcp: unexpected EOF".into())
        );
        let endless = proxy_answering(vec![b'x'; MAX_CONNECT_ANSWER_BYTES + 10]);
        assert_eq!(
            connect_through(&endless),
            Err("proxyconnect tcp: the proxy's answer to CONNECT is too long".into())
        );
    }
}

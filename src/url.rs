//! A member URL as etcd takes them: scheme://host:port, http or https, no path.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    Http,
    Https,
}

/// A member URL: etcd only ever uses scheme://host:port, without a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: Scheme,
    pub host: String,
    pub port: u16,
}

impl Url {
    pub fn parse(text: &str) -> Result<Url, String> {
        let (scheme, rest) = if let Some(rest) = text.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else if let Some(rest) = text.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else {
            return Err(format!("URL scheme must be http or https: {text:?}"));
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && !port.is_empty() => (host, port),
            _ => {
                return Err(format!(
                    "URL address does not have the form \"host:port\": {text}"
                ))
            }
        };
        if host.contains('/') || port.contains('/') {
            return Err(format!("URL must not have a path: {text}"));
        }
        let port = port
            .parse::<u16>()
            .map_err(|_| format!("URL has an invalid port: {text}"))?;
        Ok(Url {
            scheme,
            host: host.to_string(),
            port,
        })
    }

    /// A list of member URLs as etcd's types.NewURLs checks it (its words for the common
    /// mistakes), normalized.
    pub fn parse_list(urls: &[String]) -> Result<Vec<String>, String> {
        if urls.is_empty() {
            return Err("no valid URLs given".into());
        }
        urls.iter()
            .map(|url| {
                let url = url.trim();
                let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
                if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
                    return Err(format!(
                        "URL scheme must be http, https, unix, or unixs: {url}"
                    ));
                }
                Url::parse(url).map(|u| u.to_string())
            })
            .collect()
    }

    /// The host:port to bind; etcd accepts only IP addresses and `localhost` here.
    pub fn bind_address(&self) -> Result<String, String> {
        let host = self.host.trim_start_matches('[').trim_end_matches(']');
        if host == "localhost" {
            return Ok(format!("127.0.0.1:{}", self.port));
        }
        match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V6(ip)) => Ok(format!("[{ip}]:{}", self.port)),
            Ok(ip) => Ok(format!("{ip}:{}", self.port)),
            Err(_) => Err(format!("expected IP in URL for binding ({self})")),
        }
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

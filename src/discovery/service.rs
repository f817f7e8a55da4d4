//! --discovery URL: etcd's v2 discovery protocol, spoken to any etcd v2 keys API (a private
//! etcd with --enable-v2, or a public discovery service). The URL's path is the token: its
//! `_config/size` key says how many members the cluster starts with; each member creates
//! `<token>/<member id in hex>` holding its `name=peer-url` pairs (refused if it exists), then
//! waits until `size` members are registered. The first `size` registrations, oldest first,
//! are the initial cluster; a member registering later finds the cluster full.

use crate::http1::{self, Request, Route};
use serde::Deserialize;
use std::time::Duration;

/// etcd's client.DefaultRequestTimeout: each request except the waits.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Backoff after an unreachable service doubles per retry up to 2^8 s, as etcd's does.
const MAX_BACKOFF_DOUBLINGS: u32 = 8;

// etcd's v2discovery errors, word for word (the text users search for).
pub const ERR_INVALID_URL: &str = "discovery: invalid URL";
pub const ERR_BAD_SIZE_KEY: &str = "discovery: size key is bad";
pub const ERR_DUPLICATE_ID: &str = "discovery: found duplicate id";
pub const ERR_DUPLICATE_NAME: &str = "discovery: found duplicate name";
pub const ERR_FULL_CLUSTER: &str = "discovery: cluster is full";
pub const ERR_BAD_ENDPOINT: &str = "discovery: bad discovery endpoint";

/// The v2 error code of a create that found its key (etcd's client.ErrorCodeNodeExist).
const CODE_NODE_EXIST: u64 = 105;

#[derive(Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
struct Node {
    key: String,
    #[serde(default)]
    value: String,
    #[serde(default)]
    nodes: Vec<Node>,
    #[serde(default)]
    created_index: u64,
    #[serde(default)]
    modified_index: u64,
}

/// A v2 keys answer: a node, or an error code.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    node: Option<Node>,
    error_code: Option<u64>,
    #[serde(default)]
    message: String,
    #[serde(default)]
    cause: String,
    #[serde(default)]
    index: u64,
}

/// What the service holds: the registrations (oldest first), the cluster size, and the index
/// to wait after.
type Registrations = (Vec<Node>, usize, u64);

/// Why a request failed: the service's refusal, or no answer at all (retried after a backoff).
enum Failure {
    Refused(String),
    Unreachable(String),
}

/// The last path element, as Go's path.Base.
fn base(key: &str) -> &str {
    key.trim_end_matches('/').rsplit('/').next().unwrap_or("")
}

struct Discovery {
    /// scheme://host:port of the service.
    endpoint: String,
    /// The URL's path: the directory of this cluster's registrations.
    token: String,
    self_key: String,
    route: Route,
    retries: u32,
}

impl Discovery {
    /// One v2 keys request; `wait` requests have no deadline.
    fn call(
        &self,
        method: &str,
        key: &str,
        query: &str,
        form: &str,
    ) -> Result<(u64, Node), Failure> {
        let url = format!("{}{key}?{query}", self.endpoint);
        let request = Request {
            method,
            url: &url,
            content_type: "application/x-www-form-urlencoded",
            body: form,
            authorization: None,
        };
        let answer = crate::runtime::block_on(async {
            let send = http1::send(&request, &self.route);
            if query.contains("wait=true") {
                return send.await;
            }
            smol::future::or(send, async {
                smol::Timer::after(REQUEST_TIMEOUT).await;
                Err(format!("{method} {url:?}: context deadline exceeded"))
            })
            .await
        })
        .map_err(Failure::Unreachable)?;
        let reply: Reply = serde_json::from_str(&answer.body)
            .map_err(|_| Failure::Refused(ERR_BAD_ENDPOINT.into()))?;
        match (reply.error_code, reply.node) {
            (None, Some(node)) => Ok((answer.etcd_index.parse().unwrap_or(0), node)),
            (Some(CODE_NODE_EXIST), _) => Err(Failure::Refused(ERR_DUPLICATE_ID.into())),
            // Go's client.Error text. etcd 3.4 meant to say ERR_SIZE_NOT_FOUND for a missing
            // size key but never matches that error's type, so users see this; so do ours.
            (Some(code), _) => Err(Failure::Refused(format!(
                "{code}: {} ({}) [{}]",
                reply.message, reply.cause, reply.index
            ))),
            (None, None) => Err(Failure::Refused(ERR_BAD_ENDPOINT.into())),
        }
    }

    /// Sleeps before another try after the service did not answer, doubling each time.
    fn back_off(&mut self, step: &str, why: &str) {
        self.retries += 1;
        let wait = Duration::from_secs(1 << self.retries.min(MAX_BACKOFF_DOUBLINGS));
        log::warn!(
            "discovery: {step}: error connecting to {}, retrying in {wait:?}: {why}",
            self.endpoint
        );
        std::thread::sleep(wait);
    }

    /// The cluster size, the registrations (oldest first, at most `size` when this member is
    /// not among the first `size`) and the index to wait after.
    fn check_cluster(&mut self) -> Result<Registrations, String> {
        loop {
            match self.registrations() {
                Err(Failure::Unreachable(why)) => self.back_off("cluster status check", &why),
                Err(Failure::Refused(why)) => return Err(why),
                Ok(found) => return found,
            }
        }
    }

    fn registrations(&self) -> Result<Result<Registrations, String>, Failure> {
        let size_key = format!("{}/_config/size", self.token.trim_end_matches('/'));
        let (_, size) = self.call(
            "GET",
            &size_key,
            "quorum=false&recursive=false&sorted=false",
            "",
        )?;
        let size: usize = match size.value.parse() {
            Ok(size) => size,
            Err(_) => return Ok(Err(ERR_BAD_SIZE_KEY.into())),
        };
        let (index, directory) = self.call(
            "GET",
            &self.token,
            "quorum=false&recursive=false&sorted=false",
            "",
        )?;
        let mut nodes: Vec<Node> = directory
            .nodes
            .into_iter()
            .filter(|n| base(&n.key) != "_config")
            .collect();
        nodes.sort_by_key(|n| n.created_index);
        for (i, node) in nodes.iter().enumerate() {
            if base(&node.key) == base(&self.self_key) {
                break;
            }
            if i + 1 >= size {
                return Ok(Err(ERR_FULL_CLUSTER.into()));
            }
        }
        Ok(Ok((nodes, size, index)))
    }

    /// Registers this member (`name=url` pairs); refused if the key exists.
    fn create_self(&self, contents: &str) -> Result<(), String> {
        let form = format!("value={}", crate::golang::query_escape(contents));
        let (_, node) = self
            .call("PUT", &self.self_key, "prevExist=false", &form)
            .map_err(|(Failure::Refused(why) | Failure::Unreachable(why))| why)?;
        // Waits until the registration is visible on the server we talk to, as etcd does.
        let query = format!("wait=true&waitIndex={}", node.created_index);
        self.call("GET", &self.self_key, &query, "")
            .map(drop)
            .map_err(|(Failure::Refused(why) | Failure::Unreachable(why))| why)
    }

    /// Waits until `size` members are registered, watching the directory after `index`; when
    /// the service stops answering, backs off and starts over from what it holds then.
    fn wait_nodes(&mut self, found: Registrations) -> Result<Vec<Node>, String> {
        let mut found = found;
        loop {
            match self.watch_for_more(found) {
                Ok(nodes) => return Ok(nodes),
                Err(Failure::Refused(why)) => return Err(why),
                Err(Failure::Unreachable(why)) => {
                    self.back_off("waiting for other nodes", &why);
                    found = self.check_cluster()?;
                }
            }
        }
    }

    fn watch_for_more(
        &self,
        (mut nodes, size, index): Registrations,
    ) -> Result<Vec<Node>, Failure> {
        nodes.truncate(size);
        for node in &nodes {
            log::info!("discovery: found peer {} in the cluster", base(&node.key));
        }
        let mut next = index + 1;
        while nodes.len() < size {
            log::info!(
                "discovery: found {} peer(s), waiting for {} more",
                nodes.len(),
                size - nodes.len()
            );
            let query = format!("wait=true&recursive=true&waitIndex={next}");
            let (_, node) = self.call("GET", &self.token, &query, "")?;
            log::info!("discovery: found peer {} in the cluster", base(&node.key));
            next = node.modified_index + 1;
            nodes.push(node);
        }
        log::info!("discovery: found {} needed peer(s)", nodes.len());
        Ok(nodes)
    }
}

/// The route to the service: its TLS roots (the system's, as Go's default transport) and
/// --discovery-proxy, which may omit its http:// as etcd allows.
fn route(url: &str, proxy: Option<&str>) -> Result<Route, String> {
    let tls = match url.starts_with("https://") {
        true => Some(crate::tls::system_client_config()?),
        false => None,
    };
    let proxy = match proxy {
        None => None,
        Some(text) => {
            let text = match text.contains("://") {
                true => text.to_string(),
                false => format!("http://{text}"),
            };
            let uri: http::Uri = text
                .parse()
                .map_err(|e| format!("invalid proxy address {text:?}: {e}"))?;
            let host = uri
                .host()
                .ok_or_else(|| format!("invalid proxy address {text:?}"))?;
            Some(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
        }
    };
    Ok(Route { tls, proxy })
}

/// Registers this member (ID `member_id`, registration `contents`) with the discovery service
/// at `url` and waits for the rest: the initial cluster as `name=url,...`.
pub fn join_cluster(
    url: &str,
    proxy: Option<&str>,
    member_id: u64,
    contents: &str,
) -> Result<String, String> {
    let uri: http::Uri = url.parse().map_err(|_| ERR_INVALID_URL.to_string())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(ERR_INVALID_URL.into());
    };
    let token = uri.path().to_string();
    let mut discovery = Discovery {
        endpoint: format!("{scheme}://{authority}"),
        self_key: format!("{}/{member_id:x}", token.trim_end_matches('/')),
        token,
        route: route(url, proxy)?,
        retries: 0,
    };
    discovery.check_cluster()?;
    discovery.create_self(contents)?;
    let found = discovery.check_cluster()?;
    // Exactly the cluster's size (the last count the service gave).
    let all = discovery.wait_nodes(found)?;
    let values: Vec<&str> = all.iter().map(|n| n.value.as_str()).collect();
    let cluster = values.join(",");
    let members =
        crate::config::parse_initial_cluster(&cluster).map_err(|_| ERR_INVALID_URL.to_string())?;
    let mut names: Vec<&String> = members.iter().map(|(name, _)| name).collect();
    names.sort();
    names.dedup();
    if names.len() != all.len() {
        return Err(ERR_DUPLICATE_NAME.into());
    }
    Ok(cluster)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values() {
        assert_eq!(base("/discovery/abc/8e9e05c52164694d"), "8e9e05c52164694d");
        assert_eq!(base("/discovery/abc/_config/"), "_config");
        assert_eq!(
            crate::golang::query_escape("m1=http://127.0.0.1:2380,m1=http://[::1]:2380"),
            "m1%3Dhttp%3A%2F%2F127.0.0.1%3A2380%2Cm1%3Dhttp%3A%2F%2F%5B%3A%3A1%5D%3A2380"
        );
    }

    #[test]
    fn proxies_as_etcd_reads_them() {
        let proxy = |text: &str| route("http://127.0.0.1:2379/x", Some(text)).map(|r| r.proxy);
        assert_eq!(proxy("127.0.0.9:3128"), Ok(Some("127.0.0.9:3128".into())));
        assert_eq!(
            proxy("http://proxy.example"),
            Ok(Some("proxy.example:80".into()))
        );
        assert!(proxy("http://").is_err());
    }

    #[test]
    fn bad_urls_are_refused_before_any_request() {
        for url in ["", "no-scheme/path", "http://"] {
            assert_eq!(
                join_cluster(url, None, 1, "m=http://127.0.0.1:2380").unwrap_err(),
                ERR_INVALID_URL,
                "{url:?}"
            );
        }
    }
}

//! --discovery-srv: the initial cluster from DNS SRV records, as etcd builds it. Records of
//! `_etcd-server-ssl[-NAME]._tcp.DOMAIN` give https peers and `_etcd-server[-NAME]._tcp.DOMAIN`
//! http ones; a record whose target resolves to one of this member's advertised peer addresses
//! is this member (named --name), every other one gets a placeholder name ("0", "1", ...)
//! until that member publishes its own. Peer URLs keep the record's host name, so member IDs
//! are the ones etcd derives from the same records.

use super::dns;
use crate::config::Config;
use crate::url::{Scheme, Url};
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};

/// The first address `host_port` resolves to (IPv4 first, as Go's ResolveTCPAddr prefers).
fn resolve(host_port: &str) -> Result<SocketAddr, String> {
    let addresses: Vec<SocketAddr> = host_port
        .to_socket_addrs()
        .map_err(|e| format!("lookup {host_port}: {e}"))?
        .collect();
    addresses
        .iter()
        .find(|a| a.is_ipv4())
        .or(addresses.first())
        .copied()
        .ok_or_else(|| format!("lookup {host_port}: no such host"))
}

/// The members the SRV records under `domain` name, as (name, peer URL) pairs.
pub fn initial_cluster(
    config: &Config,
    domain: &str,
    service_name: &str,
) -> Result<Vec<(String, Url)>, String> {
    let suffix = match service_name {
        "" => String::new(),
        name => format!("-{name}"),
    };
    let mut own = HashMap::new();
    for url in &config.initial_advertise_peer_urls {
        own.insert(resolve(&format!("{}:{}", url.host, url.port))?, url);
    }
    let mut cluster = Vec::new();
    let mut errors = Vec::new();
    let mut placeholder = 0;
    for (scheme, service) in [
        (Scheme::Https, format!("etcd-server-ssl{suffix}")),
        (Scheme::Http, format!("etcd-server{suffix}")),
    ] {
        let records = match dns::lookup_srv(&service, "tcp", domain) {
            Ok(records) => records,
            Err(e) => {
                errors.push(format!("error querying DNS SRV records for _{service} {e}"));
                continue;
            }
        };
        for record in records {
            let host = record.target.trim_end_matches('.');
            let address = match resolve(&format!("{host}:{}", record.port)) {
                Ok(address) => address,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            let url = Url {
                scheme,
                host: host.to_string(),
                port: record.port,
            };
            let name = match own.get(&address) {
                Some(advertised) if advertised.scheme != scheme => {
                    return Err(format!(
                        "bootstrap at {url} from DNS for {service} has scheme mismatch with expected peer {advertised}"
                    ))
                }
                Some(_) => config.name.clone(),
                None => {
                    placeholder += 1;
                    (placeholder - 1).to_string()
                }
            };
            log::info!("got bootstrap from DNS for etcd-server: {name}={url}");
            cluster.push((name, url));
        }
    }
    if cluster.is_empty() {
        return Err(errors.join("; "));
    }
    if !cluster.iter().any(|(name, _)| *name == config.name) {
        return Err(format!(
            "cannot find local etcd member {:?} in SRV records",
            config.name
        ));
    }
    Ok(cluster)
}

/// etcdctl's --discovery-srv: the client URLs that the records of
/// `_etcd-client-ssl[-NAME]._tcp.DOMAIN` (https) and `_etcd-client[-NAME]._tcp.DOMAIN` (http)
/// name, as etcd's srv.GetClient lists them (targets keep their trailing dot); an error only
/// when neither lookup succeeds.
pub fn client_endpoints(domain: &str, service_name: &str) -> Result<Vec<String>, String> {
    let service = |base: &str| match service_name {
        "" => base.to_string(),
        name => format!("{base}-{name}"),
    };
    let mut endpoints = Vec::new();
    let mut errors = Vec::new();
    for (scheme, service) in [
        ("https", service("etcd-client-ssl")),
        ("http", service("etcd-client")),
    ] {
        match dns::lookup_srv(&service, "tcp", domain) {
            Ok(records) => endpoints.extend(
                records
                    .iter()
                    .map(|r| format!("{scheme}://{}:{}", r.target, r.port)),
            ),
            Err(e) => errors.push(e),
        }
    }
    match errors.as_slice() {
        [https, http] => Err(format!("dns lookup errors: {https} and {http}")),
        _ => Ok(endpoints),
    }
}

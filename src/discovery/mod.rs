//! How a new member learns its initial cluster when --discovery (etcd's v2 discovery protocol,
//! `service`) or --discovery-srv (DNS SRV records, `srv` over `dns`) stands in for
//! --initial-cluster. Asked once, before the data dir is created; a member restarting from its
//! data ignores both, as etcd does.

mod dns;
mod service;
mod srv;

pub use srv::client_endpoints;

use crate::config::{Config, Discovery};

/// This member's registration: its `name=peer-url` pairs, sorted (etcd's URLsMap.String).
fn registration(config: &Config) -> String {
    let mut pairs: Vec<String> = config
        .initial_advertise_peer_urls
        .iter()
        .map(|url| format!("{}={url}", config.name))
        .collect();
    pairs.sort();
    pairs.join(",")
}

/// What etcd tells the operator after a failed join, by cause.
fn join_failure(config: &Config, url: &str, error: String) -> String {
    let failed = format!("failed to join discovery cluster ({error})");
    match error.as_str() {
        service::ERR_DUPLICATE_ID => format!(
            "{failed}: member {:?} has previously registered with discovery service token ({url}), but no valid cluster configuration is in the data dir ({}); check the data dir if the previous bootstrap succeeded, or use a new discovery token if it failed",
            config.name,
            config.data_dir.display()
        ),
        service::ERR_DUPLICATE_NAME => format!(
            "{failed}: a member with a duplicated name has registered with discovery service token ({url}); check (cURL) the token for details, and do not reuse a discovery token: generate a new one to bootstrap the cluster"
        ),
        service::ERR_FULL_CLUSTER => format!(
            "{failed}: --discovery-fallback proxy has nothing to fall back to (this etcd has no v2 proxy), so the member exits"
        ),
        _ => format!(
            "{failed}: discovery token {url} was used, but the cluster failed to bootstrap; generate a new discovery token and try again"
        ),
    }
}

/// Replaces the placeholder --initial-cluster (this member alone) with the members discovery
/// finds; --discovery also makes its URL the cluster token, as etcd does.
pub fn find_members(config: &mut Config, discovery: &Discovery) -> Result<(), String> {
    match discovery {
        Discovery::Url { url, proxy } => {
            let own: Vec<String> = config
                .initial_advertise_peer_urls
                .iter()
                .map(ToString::to_string)
                .collect();
            let member_id = crate::ids::member_id(&own, url);
            let cluster =
                service::join_cluster(url, proxy.as_deref(), member_id, &registration(config))
                    .map_err(|e| join_failure(config, url, e))?;
            let members = crate::config::parse_initial_cluster(&cluster)
                .map_err(|e| join_failure(config, url, e.0))?;
            let mut urls: Vec<String> = members.iter().map(|(_, u)| u.to_string()).collect();
            urls.sort();
            if urls.windows(2).any(|pair| pair[0] == pair[1]) {
                return Err(format!("discovery cluster {cluster} has duplicate url"));
            }
            config.initial_cluster = members;
            config.initial_cluster_token = url.clone();
        }
        Discovery::Srv { domain, name } => {
            config.initial_cluster = srv::initial_cluster(config, domain, name)?;
        }
    }
    let found: Vec<String> = config
        .initial_cluster
        .iter()
        .map(|(name, url)| format!("{name}={url}"))
        .collect();
    log::info!("discovery: initial cluster {}", found.join(","));
    Ok(())
}

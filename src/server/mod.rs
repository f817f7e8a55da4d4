//! The daemon: start-up in an order that touches the disk only after every check has passed,
//! then serving until the process is stopped. Acknowledged writes are in the WAL, so a stop at
//! any moment (SIGTERM, SIGKILL) loses nothing that was answered.

mod authority;
mod coalesce;
mod corruption;
pub mod data_dir;
pub mod identity;
mod listener;
mod notify;
mod peer_state;

use crate::api::{Api, Limits};
use crate::config::{ClusterState, Config};
use crate::mvcc::Store;
use crate::peer::{self, PeerContext, Transport};
use crate::raft::{self, Bootstrap, RaftHandle};
use crate::runtime::{self, spawn};
use crate::url::Scheme;
use futures_rustls::rustls::crypto::CryptoProvider;
use futures_rustls::rustls::{ClientConfig, ServerConfig};
use std::sync::Arc;
use std::time::Duration;

/// Snapshots half received when the process stopped are useless: raft asks again.
fn remove_spooled_snapshots(dir: &std::path::Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.path().extension().is_some_and(|e| e == "spool") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The running cluster a joining member was added to, asked through the other members' peer
/// URLs in --initial-cluster; this member is found there by its advertised peer URLs.
async fn find_cluster(
    config: &Config,
    tls: Option<&Arc<futures_rustls::rustls::ClientConfig>>,
) -> Result<(u64, Vec<crate::pb::etcdserverpb::Member>, u64), String> {
    let others: Vec<String> = config
        .initial_cluster
        .iter()
        .filter(|(name, _)| *name != config.name)
        .map(|(_, url)| url.to_string())
        .collect();
    if others.is_empty() {
        return Err("--initial-cluster-state existing: --initial-cluster names no other member to join through".into());
    }
    let mut own: Vec<String> = config
        .initial_advertise_peer_urls
        .iter()
        .map(ToString::to_string)
        .collect();
    own.sort();
    peer::find_self(tls, &others, &own)
        .await
        .map_err(|e| format!("--initial-cluster-state existing: {e}"))
}

/// The member's TLS configurations, each present when its side uses https.
struct TlsConfigs {
    client: Option<Arc<ServerConfig>>,
    peer_server: Option<Arc<ServerConfig>>,
    peer_client: Option<Arc<ClientConfig>>,
}

/// Listen URLs' hosts, without IPv6 brackets (names for an auto-TLS certificate).
fn hosts(urls: &[crate::url::Url]) -> Vec<String> {
    urls.iter()
        .map(|u| {
            u.host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string()
        })
        .collect()
}

/// Whether this member speaks TLS with peers: its peer listeners or an initial member is https.
fn peer_https(config: &Config) -> bool {
    config
        .listen_peer_urls
        .iter()
        .chain(config.initial_cluster.iter().map(|(_, url)| url))
        .any(|u| u.scheme == Scheme::Https)
}

/// The TLS client this member dials its peers with (None when no peer URL is https).
fn peer_client_tls(
    config: &Config,
    provider: &Arc<CryptoProvider>,
) -> Result<Option<Arc<ClientConfig>>, String> {
    if !peer_https(config) {
        return Ok(None);
    }
    crate::tls::peer_client_config(&config.peer_tls, &hosts(&config.listen_peer_urls), provider)
        .map(Some)
}

fn tls_configs(config: &Config) -> Result<TlsConfigs, String> {
    let provider = crate::tls::provider(&config.cipher_suites)?;
    let client_https = config
        .listen_client_urls
        .iter()
        .chain(&config.listen_metrics_urls)
        .any(|u| u.scheme == Scheme::Https);
    let client = match client_https {
        true => Some(crate::tls::server_config(
            &config.client_tls,
            "",
            &hosts(&config.listen_client_urls),
            &provider,
        )?),
        false => None,
    };
    let peer_server = match peer_https(config) {
        true => Some(crate::tls::server_config(
            &config.peer_tls,
            "peer-",
            &hosts(&config.listen_peer_urls),
            &provider,
        )?),
        false => None,
    };
    Ok(TlsConfigs {
        client,
        peer_server,
        peer_client: peer_client_tls(config, &provider)?,
    })
}

/// Binds every client, metrics and peer URL (before touching the data dir, so that a taken
/// port refuses the start without side effects).
fn bind_all(
    config: &Config,
    tls: &TlsConfigs,
) -> Result<(Vec<listener::Listener>, Vec<peer::PeerListener>), String> {
    smol::block_on(async {
        let mut listeners = Vec::new();
        let http2 = listener::Http2Options {
            max_concurrent_streams: config.max_concurrent_streams,
            keepalive_interval: config.grpc_keepalive_interval,
            keepalive_timeout: config.grpc_keepalive_timeout,
        };
        for url in &config.listen_client_urls {
            listeners.push(listener::bind(url, tls.client.clone(), http2, false).await?);
        }
        for url in &config.listen_metrics_urls {
            listeners.push(listener::bind(url, tls.client.clone(), http2, true).await?);
        }
        let mut peer_listeners = Vec::new();
        for url in &config.listen_peer_urls {
            peer_listeners.push(peer::bind(url, tls.peer_server.clone()).await?);
        }
        Ok((listeners, peer_listeners))
    })
}

/// What the raft thread needs to know about this member and its cluster's start.
fn bootstrap(
    config: &Config,
    identity: &identity::Identity,
    initial_members: Vec<crate::pb::etcdserverpb::Member>,
    join: bool,
) -> Bootstrap {
    Bootstrap {
        member_id: identity.member_id,
        cluster_id: identity.cluster_id,
        initial_members,
        join,
        name: config.name.clone(),
        client_urls: config
            .advertise_client_urls
            .iter()
            .map(ToString::to_string)
            .collect(),
        heartbeat_interval: Duration::from_millis(config.heartbeat_interval_ms),
        election_timeout: Duration::from_millis(config.election_timeout_ms),
        snapshot_count: config.snapshot_count,
        lease_checkpoint_interval: config.lease_checkpoint_interval,
        pre_vote: config.pre_vote,
        initial_election_tick_advance: config.initial_election_tick_advance,
        checkpoint_interval: config.backend_batch_interval,
        checkpoint_entries: config.backend_batch_limit,
        auto_compaction: config.auto_compaction,
        warning_apply_duration: config.warning_apply_duration,
        force_new_cluster: config.force_new_cluster,
    }
}

/// The auth tokens this member issues and accepts (--auth-token, --auth-token-ttl).
fn tokens(config: &Config) -> Result<Arc<crate::auth::Tokens>, String> {
    let jwt = match config.auth.token.strip_prefix("jwt") {
        Some(options) => Some(crate::auth::jwt::Jwt::from_options(options)?),
        None => None,
    };
    Ok(Arc::new(crate::auth::Tokens::new(
        Duration::from_secs(config.auth.token_ttl_s),
        jwt,
    )))
}

/// The API every client listener serves, with the limits and access rules of `config`.
fn api(
    config: &Config,
    store: Arc<Store>,
    raft: RaftHandle,
    hub: Arc<crate::watch::Hub>,
    tokens: Arc<crate::auth::Tokens>,
) -> Arc<Api> {
    Arc::new(Api {
        store,
        raft,
        limits: Limits {
            max_request_bytes: config.max_request_bytes as usize,
            max_txn_ops: config.max_txn_ops,
            watch_progress_interval: config.watch_progress_interval,
            election_timeout: Duration::from_millis(config.election_timeout_ms),
            quota_bytes: config.quota_backend_bytes,
            strict_reconfig_check: config.strict_reconfig_check,
        },
        hub,
        size: Default::default(),
        access: crate::api::Access {
            cors: config.cors.clone(),
            host_whitelist: config.host_whitelist.clone(),
        },
        gate: crate::auth::Gate {
            tokens,
            client_cert_auth: config.client_tls.client_cert_auth,
            bcrypt_cost: config.auth.bcrypt_cost,
        },
        enable_v2: config.enable_v2,
    })
}

/// The tasks beside the listeners: v2 TTL expiry, the corruption checks, systemd's READY=1.
fn start_background(config: &Config, api: &Arc<Api>) -> Result<(), String> {
    if config.enable_v2 {
        spawn(crate::api::expire_v2_keys(api.clone()));
    }
    if config.initial_corrupt_check {
        runtime::block_on(corruption::initial_check(&api.store, &api.raft))?;
    }
    if let Some(interval) = config.corrupt_check_interval {
        spawn(corruption::periodic_check(
            api.store.clone(),
            api.raft.clone(),
            interval,
        ));
    }
    spawn(notify::when_ready(
        api.store.clone(),
        api.raft.status.clone(),
    ));
    Ok(())
}

/// --discovery / --discovery-srv: the initial cluster of a member starting a new cluster with
/// a data dir yet to create; ignored (as etcd) once the data dir exists. Whether it asked.
fn discover_members(config: &mut Config) -> Result<bool, String> {
    let Some(discovery) = config.discovery.clone() else {
        return Ok(false);
    };
    if identity::load(&config.data_dir)?.is_some() {
        log::warn!(
            "discovery token ignored since a cluster has already been initialized; data dir {}",
            config.data_dir.display()
        );
        return Ok(false);
    }
    if config.initial_cluster_state != ClusterState::New {
        return Ok(false);
    }
    crate::discovery::find_members(config, &discovery)?;
    Ok(true)
}

pub fn run(mut config: Config) -> Result<(), String> {
    crate::peer::stats::started();
    for note in &config.notes {
        log::warn!("{note}");
    }
    let gomaxprocs = std::env::var("GOMAXPROCS").ok();
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    runtime::start(runtime::server_executor_threads(
        cpus,
        gomaxprocs.as_deref(),
    ));
    let mut tls = tls_configs(&config)?;
    // Ports first: a taken one refuses the start before discovery registers this member (a
    // registration cannot be taken back; its next start would be a duplicate).
    let (listeners, peer_listeners) = bind_all(&config, &tls)?;
    if discover_members(&mut config)? {
        // The peers it found may be reached over https.
        let provider = crate::tls::provider(&config.cipher_suites)?;
        tls.peer_client = peer_client_tls(&config, &provider)?;
    }
    let (mut identity, is_new) = identity::resolve(&config)?;
    let join = is_new && config.initial_cluster_state == ClusterState::Existing;
    let initial_members = if join {
        let (cluster_id, members, own) =
            smol::block_on(find_cluster(&config, tls.peer_client.as_ref()))?;
        identity.member_id = own;
        identity.cluster_id = cluster_id;
        members
    } else {
        identity::initial_members(&config)
    };
    // Before the first write to the data dir (and after everything that may refuse to start
    // without touching it).
    let _data_dir_lock = identity::lock(&config.data_dir)?;
    let data_dir::DataDir {
        member_dir,
        store,
        wal_dir,
    } = data_dir::open(&config, &identity, is_new)?;
    let store = Arc::new(store);
    let (peer_events, raft_inbox) = raft::inbox()?;
    let snapshot_dir = member_dir.join("snap");
    remove_spooled_snapshots(&snapshot_dir);
    let peer_context = Arc::new(PeerContext {
        cluster_id: identity.cluster_id,
        member_id: identity.member_id,
        client_tls: tls.peer_client,
        state: store.clone(),
        events: peer_events,
        snapshot_dir,
        members: Default::default(),
    });
    let hub = Arc::new(crate::watch::Hub::default());
    let tokens = tokens(&config)?;
    let raft = raft::start(
        &wal_dir,
        store.clone(),
        bootstrap(&config, &identity, initial_members, join),
        Transport::new(peer_context.clone()),
        raft_inbox,
        hub.clone(),
        tokens.clone(),
    )?;
    for peer_listener in peer_listeners {
        spawn(peer::serve(peer_listener, peer_context.clone()));
    }
    log::info!(
        "member {} ({:x}) of cluster {:x} started; data dir {}",
        identity.name,
        identity.member_id,
        identity.cluster_id,
        config.data_dir.display()
    );
    let api = api(&config, store, raft, hub, tokens);
    start_background(&config, &api)?;
    for client_listener in listeners {
        spawn(listener::serve(client_listener, api.clone()));
    }
    runtime::block_on(smol::future::pending::<()>());
    Ok(())
}

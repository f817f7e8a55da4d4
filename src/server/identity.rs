//! Which member a data dir belongs to. Written once when the member is created, checked on every
//! start before anything in the data dir is opened, so a unit pointed at another member's data
//! stops with a clear error instead of joining raft under the wrong identity.
//!
//! `<data-dir>/member/identity`: lines `name=...`, `member_id=<hex>`, `cluster_id=<hex>`, and
//! `wal_dir=<absolute path>` when the WAL lives outside the data dir (--wal-dir).

use crate::config::Config;
use crate::ids;
use crate::pb::etcdserverpb::Member;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub member_id: u64,
    pub cluster_id: u64,
    /// --wal-dir as given when the data dir was created (None: member/wal inside it).
    pub wal_dir: Option<PathBuf>,
}

/// Where this member's WAL is: --wal-dir, or member/wal in the data dir.
pub fn wal_dir(config: &Config) -> PathBuf {
    config
        .wal_dir
        .clone()
        .unwrap_or_else(|| member_dir(&config.data_dir).join("wal"))
}

/// --wal-dir as recorded: absolute, so a later start from another working directory matches.
fn recorded_wal_dir(config: &Config) -> Option<PathBuf> {
    config
        .wal_dir
        .as_ref()
        .map(|dir| std::path::absolute(dir).unwrap_or_else(|_| dir.clone()))
}

pub fn member_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("member")
}

fn identity_file(data_dir: &Path) -> PathBuf {
    member_dir(data_dir).join("identity")
}

/// The initial members named by --initial-cluster, with etcd's IDs.
pub fn initial_members(config: &Config) -> Vec<Member> {
    let mut members: Vec<Member> = Vec::new();
    for (name, url) in &config.initial_cluster {
        match members.iter_mut().find(|m| m.name == *name) {
            Some(member) => member.peer_ur_ls.push(url.to_string()),
            None => members.push(Member {
                name: name.clone(),
                peer_ur_ls: vec![url.to_string()],
                ..Member::default()
            }),
        }
    }
    for member in &mut members {
        member.id = ids::member_id(&member.peer_ur_ls, &config.initial_cluster_token);
    }
    members
}

/// Holds the data dir for this process: an exclusive lock on `<data-dir>/lock`, released when
/// the file is dropped (or the process ends). Two members on one data dir would each write its
/// WAL and store as if alone; etcd guards against it with locks on its WAL and backend. (Beside
/// `member/`, not in it: a start that fails before the identity is written leaves no member
/// dir behind.)
pub fn lock(data_dir: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(|e| format!("--data-dir {}: {e}", data_dir.display()))?;
    let path = data_dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "data dir {} is in use by another process ({} is locked); stop it first",
            data_dir.display(),
            path.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("locking {}: {e}", path.display())),
    }
}

/// The identity the data dir records, or None for a data dir this member has yet to create.
pub fn load(data_dir: &Path) -> Result<Option<Identity>, String> {
    let path = identity_file(data_dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if member_dir(data_dir).join("snap").join("db").exists() {
                return Err(format!(
                    "data dir {0} is an etcd data dir (member/snap/db); convert it once, with etcd stopped: etcd util migrate --data-dir {0} (add --wal-dir if the member has one)",
                    data_dir.display()
                ));
            }
            if member_dir(data_dir).exists() {
                return Err(format!(
                    "data dir {}: {} exists but has no identity file; it was not created by this program",
                    data_dir.display(),
                    member_dir(data_dir).display()
                ));
            }
            return Ok(None);
        }
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let field = |key: &str| {
        text.lines()
            .find_map(|line| {
                line.strip_prefix(key)
                    .and_then(|rest| rest.strip_prefix('='))
            })
            .ok_or_else(|| format!("{}: missing {key}", path.display()))
    };
    let hex = |key: &str| {
        field(key).and_then(|value| {
            u64::from_str_radix(value, 16).map_err(|e| format!("{}: {key}: {e}", path.display()))
        })
    };
    Ok(Some(Identity {
        name: field("name")?.to_string(),
        member_id: hex("member_id")?,
        cluster_id: hex("cluster_id")?,
        wal_dir: field("wal_dir").ok().map(PathBuf::from),
    }))
}

/// The identity this start runs as: the recorded one (which must be this --name's), or a new one
/// derived from the initial cluster as etcd derives it.
pub fn resolve(config: &Config) -> Result<(Identity, bool), String> {
    if let Some(identity) = load(&config.data_dir)? {
        if identity.name != config.name {
            return Err(format!(
                "--data-dir {} belongs to member {:?} ({:x}), not to --name {:?}",
                config.data_dir.display(),
                identity.name,
                identity.member_id,
                config.name
            ));
        }
        let wanted = recorded_wal_dir(config);
        if identity.wal_dir != wanted {
            let place = |dir: &Option<PathBuf>| match dir {
                Some(dir) => format!("--wal-dir {}", dir.display()),
                None => "no --wal-dir (member/wal in the data dir)".to_string(),
            };
            return Err(format!(
                "--data-dir {} keeps its WAL with {}, but this start has {}; start it with the WAL where it is",
                config.data_dir.display(),
                place(&identity.wal_dir),
                place(&wanted)
            ));
        }
        return Ok((identity, false));
    }
    let members = initial_members(config);
    let own = members
        .iter()
        .find(|m| m.name == config.name)
        .expect("config validation checked the member is listed");
    let member_ids: Vec<u64> = members.iter().map(|m| m.id).collect();
    Ok((
        Identity {
            name: config.name.clone(),
            member_id: own.id,
            cluster_id: ids::cluster_id(&member_ids),
            wal_dir: recorded_wal_dir(config),
        },
        true,
    ))
}

/// Creates the data dir (0700, as etcd) and records the identity durably.
pub fn create(data_dir: &Path, identity: &Identity) -> Result<(), String> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let member = member_dir(data_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&member)
        .map_err(|e| format!("--data-dir {}: {e}", data_dir.display()))?;
    let path = identity_file(data_dir);
    let temporary = path.with_extension("tmp");
    let mut text = format!(
        "name={}\nmember_id={:x}\ncluster_id={:x}\n",
        identity.name, identity.member_id, identity.cluster_id
    );
    if let Some(dir) = &identity.wal_dir {
        text.push_str(&format!("wal_dir={}\n", dir.display()));
    }
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temporary, &path)?;
        std::fs::File::open(&member)?.sync_all()
    };
    write().map_err(|e| format!("{}: {e}", path.display()))
}

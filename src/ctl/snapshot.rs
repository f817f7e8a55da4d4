//! `snapshot save` (Maintenance.Snapshot into a file, written as etcdctl writes it: `.part`,
//! checked, fsynced, renamed), `snapshot status` and `snapshot restore`. A backup is etcd's
//! bolt file with a SHA-256 trailer (what etcd and this server stream); backups made by earlier
//! builds of this server (the store's dump, mvcc/snapshot.rs) are still read. The two are told
//! apart by content.

use super::output::Format;
use super::{fail, Ctl, Outcome, EXIT_BAD_ARGS, EXIT_ERROR, EXIT_INTERRUPTED};
use crate::mvcc::snapshot::{inspect_backup, BACKUP_ALIGN, SHA256_BYTES};
use crate::pb::etcdserverpb as pb;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

pub fn save(ctl: &mut Ctl) -> Outcome {
    let [path] = ctl.args() else {
        return Err(fail(EXIT_BAD_ARGS, "snapshot save expects one argument"));
    };
    let path = path.clone();
    let endpoints = ctl.endpoints()?;
    if endpoints.len() != 1 {
        return Err(fail(
            EXIT_INTERRUPTED,
            format!(
                "snapshot must be requested to one selected node, not multiple [{}]",
                endpoints.join(" ")
            ),
        ));
    }
    let part = format!("{path}.part");
    let result = download(ctl, &part).and_then(|size| {
        std::fs::rename(&part, &path)
            .map_err(|e| format!("could not rename {part} to {path} ({e})"))
            .map(|()| size)
    });
    let _ = std::fs::remove_file(&part);
    result.map_err(|message| fail(EXIT_INTERRUPTED, message))?;
    println!("Snapshot saved at {path}");
    Ok(())
}

/// Streams the backup into `part`; its size once checked and on disk.
fn download(ctl: &Ctl, part: &str) -> Result<u64, String> {
    let channel = ctl.connect().map_err(|e| e.message.unwrap_or_default())?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(part)
        .map_err(|e| format!("could not open {part} ({e})"))?;
    let stream = channel
        .duplex::<pb::SnapshotResponse>("/etcdserverpb.Maintenance/Snapshot")
        .map_err(super::describe)?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut held = Vec::new(); // the last 32 bytes seen: the trailer once the stream ends
    let mut size = 0u64;
    crate::runtime::block_on(async {
        stream
            .send(&pb::SnapshotRequest {})
            .await
            .map_err(super::describe)?;
        while let Ok(response) = stream.responses.recv().await {
            held.extend_from_slice(&response.blob);
            let settled = held.len().saturating_sub(SHA256_BYTES as usize);
            digest.update(&held[..settled]);
            held.drain(..settled);
            file.write_all(&response.blob)
                .map_err(|e| format!("writing {part}: {e}"))?;
            size += response.blob.len() as u64;
        }
        // The server's error, as etcdctl reports it, rather than a short file's.
        match stream.error() {
            Some(error) => Err(super::describe(error)),
            None => Ok(()),
        }
    })?;
    if size % BACKUP_ALIGN != SHA256_BYTES {
        return Err(format!("sha256 checksum not found [bytes: {size}]"));
    }
    if digest.finish().as_ref() != held.as_slice() {
        return Err("sha256 checksum mismatch: the snapshot stream was cut or damaged".into());
    }
    file.sync_all().map_err(|e| format!("fsync {part}: {e}"))?;
    Ok(size)
}

pub fn status(ctl: &mut Ctl) -> Outcome {
    let [path] = ctl.args() else {
        return Err(fail(
            EXIT_BAD_ARGS,
            "snapshot status requires exactly one argument",
        ));
    };
    let data = std::fs::read(path).map_err(|e| fail(EXIT_ERROR, format!("{path}: {e}")))?;
    if crate::bolt::looks_like_bolt(&data) {
        let status = crate::bolt::read::Bolt::open(&data)
            .and_then(|bolt| crate::mvcc::backend::etcd_status(&bolt))
            .map_err(|e| {
                fail(
                    EXIT_ERROR,
                    format!("snapshot file integrity check failed: {path}: {e}"),
                )
            })?;
        let (hash, revision, keys, size) = status;
        return print_status(ctl, hash, revision, keys, size);
    }
    let body = check_backup(&data).map_err(|e| fail(EXIT_ERROR, e))?;
    let status = inspect_backup(body).map_err(|e| fail(EXIT_ERROR, format!("{path}: {e}")))?;
    let hash = crc32c::crc32c(body);
    let size = data.len() as u64;
    print_status(ctl, hash, status.revision, status.keys, size)
}

/// A backup without its SHA-256 trailer, checked as etcdctl checks it: the trailer must be
/// there and match, unless --skip-hash-check (then it is cut off if it is there).
fn backup_body(data: &[u8], skip_hash_check: bool) -> Result<&[u8], String> {
    let has_hash = data.len() as u64 % BACKUP_ALIGN == SHA256_BYTES;
    match (has_hash, skip_hash_check) {
        (true, true) => Ok(&data[..data.len() - SHA256_BYTES as usize]),
        (false, true) => Ok(data),
        (false, false) => Err("snapshot missing hash but --skip-hash-check=false".to_string()),
        (true, false) => {
            let (body, trailer) = data.split_at(data.len() - SHA256_BYTES as usize);
            let digest = ring::digest::digest(&ring::digest::SHA256, body);
            if digest.as_ref() != trailer {
                // Go's %v of a byte slice: [1 2 3].
                let go = |bytes: &[u8]| {
                    let items: Vec<String> = bytes.iter().map(u8::to_string).collect();
                    format!("[{}]", items.join(" "))
                };
                return Err(format!(
                    "expected sha256 {}, got {}",
                    go(trailer),
                    go(digest.as_ref())
                ));
            }
            Ok(body)
        }
    }
}

/// Our earlier backup format without its trailer, once the trailer matches.
fn check_backup(data: &[u8]) -> Result<&[u8], String> {
    let size = data.len() as u64;
    if size % BACKUP_ALIGN != SHA256_BYTES {
        return Err(format!(
            "not a backup made by this etcd: sha256 checksum not found [bytes: {size}]"
        ));
    }
    let (body, trailer) = data.split_at(data.len() - SHA256_BYTES as usize);
    if ring::digest::digest(&ring::digest::SHA256, body).as_ref() != trailer {
        return Err("snapshot file integrity check failed (sha256 mismatch)".into());
    }
    Ok(body)
}

/// etcdctl's DBStatus printers: hash, revision, total keys, total size.
fn print_status(ctl: &Ctl, hash: u32, revision: i64, keys: u64, size: u64) -> Outcome {
    let human = crate::golang::humanize_bytes(size);
    match ctl.out.format {
        Format::Simple => println!("{hash:x}, {revision}, {keys}, {human}"),
        Format::Json => println!(
            "{{\"hash\":{hash},\"revision\":{revision},\"totalKey\":{keys},\"totalSize\":{size}}}"
        ),
        Format::Fields => {
            println!("\"Hash\" : {hash}");
            println!("\"Revision\" : {revision}");
            println!("\"Keys\" : {keys}");
            println!("\"Size\" : {size}");
        }
        Format::Table => {
            let row = vec![
                format!("{hash:x}"),
                revision.to_string(),
                keys.to_string(),
                human,
            ];
            print!(
                "{}",
                super::output::table(&["hash", "revision", "total keys", "total size"], &[row])
            );
        }
        Format::Protobuf => {
            return Err(fail(
                super::EXIT_BAD_FEATURE,
                "protobuf not supported as output format",
            ))
        }
    }
    Ok(())
}

/// `snapshot restore FILE`: a new data dir holding the backup's keys, revision and leases, as
/// the first state of a new cluster given by --initial-cluster (every member restores the same
/// file with its own --name and --initial-advertise-peer-urls).
pub fn restore(ctl: &mut Ctl) -> Outcome {
    let [path] = ctl.args() else {
        return Err(fail(
            EXIT_BAD_ARGS,
            "snapshot restore requires exactly one argument",
        ));
    };
    let name = ctl.string("name");
    let data_dir = match ctl.string("data-dir") {
        dir if dir.is_empty() => format!("{name}.etcd"),
        dir => dir,
    };
    if std::path::Path::new(&data_dir).exists() {
        return Err(fail(EXIT_ERROR, format!("data-dir {data_dir:?} exists")));
    }
    let data = std::fs::read(path).map_err(|e| fail(EXIT_ERROR, format!("{path}: {e}")))?;
    let body = backup_body(&data, ctl.bool("skip-hash-check")).map_err(|e| fail(EXIT_ERROR, e))?;
    // The cluster flags mean what they mean to the server: let its parser check them.
    let flags = [
        ("--name", name.clone()),
        ("--data-dir", data_dir.clone()),
        ("--initial-cluster", ctl.string("initial-cluster")),
        (
            "--initial-cluster-token",
            ctl.string("initial-cluster-token"),
        ),
        (
            "--initial-advertise-peer-urls",
            ctl.string("initial-advertise-peer-urls"),
        ),
        ("--wal-dir", ctl.string("wal-dir")),
    ];
    let args: Vec<String> = flags.iter().map(|(f, v)| format!("{f}={v}")).collect();
    let config = match crate::config::parse(&args, &Default::default()) {
        Ok(crate::config::Command::Run(config)) => config,
        Ok(_) => return Err(fail(EXIT_BAD_ARGS, "unexpected restore flags")),
        Err(error) => return Err(fail(EXIT_BAD_ARGS, error.to_string())),
    };
    let written = write_restored(&config, body);
    if let Err(error) = written {
        let _ = std::fs::remove_dir_all(&data_dir);
        return Err(fail(EXIT_ERROR, error));
    }
    Ok(())
}

/// A new data dir for `config`'s member holding `backup` (an etcd bolt file or our dump).
pub(super) fn write_restored(config: &crate::config::Config, backup: &[u8]) -> Result<(), String> {
    crate::server::data_dir::restore(config, |store, txn| {
        if crate::bolt::looks_like_bolt(backup) {
            let bolt = crate::bolt::read::Bolt::open(backup)?;
            Ok(store.import_etcd(txn, &bolt)?.consistent_index)
        } else {
            store.load(txn, backup)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_is_checked_before_it_is_read() {
        let body = vec![0u8; 512];
        let mut data = body.clone();
        data.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, &body).as_ref());
        assert!(check_backup(&data).is_ok());
        data[3] = 1;
        assert!(check_backup(&data).unwrap_err().contains("sha256 mismatch"));
        assert!(check_backup(&data[..100])
            .unwrap_err()
            .contains("checksum not found"));
    }
}

//! Keeps the store's memory map from holding the whole data file resident.
//!
//! LMDB reads through a shared read-only map of `data.mdb`. Every commit writes its pages
//! copy-on-write to new places in the file and the next commit reads them back through the map,
//! so over a long load nearly every page of the file gets faulted into this process once and
//! stays mapped: after 1M puts the map held the whole 460 MB file while the B-trees' hot pages
//! are a few MB. Those pages are the kernel's page cache either way; mapped, they count as this
//! process's RSS and are the last the kernel reclaims. Past a limit the map is told to drop its
//! pages (`MADV_DONTNEED` on a shared file map only unmaps them: the file's contents stay in the
//! page cache and the next read faults them back in).

use super::checkpoint::DATA_FILE;
use super::Store;

/// Growth of resident file-backed memory (in practice the store's map) after which the map's
/// pages are dropped.
pub const MAPPED_STORE_LIMIT_BYTES: u64 = 64 << 20;

/// This process's resident file-backed and shared memory in bytes (`/proc/self/statm`'s third
/// field, in pages).
fn resident_shared_bytes() -> std::io::Result<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm")?;
    let pages: u64 = statm
        .split_whitespace()
        .nth(2)
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("unexpected /proc/self/statm: {statm:?}")))?;
    // SAFETY: sysconf has no preconditions.
    #[allow(unsafe_code)]
    let page_size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Ok(pages * page_size.max(4096) as u64)
}

/// The address ranges `/proc/self/maps` lists for `file` (an absolute, canonical path).
fn mappings_of(file: &std::path::Path) -> std::io::Result<Vec<(usize, usize)>> {
    let maps = std::fs::read_to_string("/proc/self/maps")?;
    let file = file.to_string_lossy();
    let mut ranges = Vec::new();
    for line in maps.lines() {
        // start-end perms offset dev inode path (the path may hold spaces)
        let mut fields = line.splitn(6, ' ');
        let range = fields.next().unwrap_or_default();
        if fields.nth(4).map(str::trim_start) != Some(&*file) {
            continue;
        }
        let parsed = range
            .split_once('-')
            .and_then(|(start, end)| {
                Some((
                    usize::from_str_radix(start, 16).ok()?,
                    usize::from_str_radix(end, 16).ok()?,
                ))
            })
            .ok_or_else(|| {
                std::io::Error::other(format!("unexpected /proc/self/maps line: {line:?}"))
            })?;
        ranges.push(parsed);
    }
    Ok(ranges)
}

/// When to drop the map's pages: once the process's resident file-backed memory has grown by
/// more than the limit since the last release. The first look releases, so the baseline is
/// what stays resident without the map (this binary's own text above all); counting growth
/// keeps that out of the limit, however large the binary.
pub struct MapResidency {
    limit_bytes: u64,
    baseline: Option<u64>,
}

impl MapResidency {
    pub fn new(limit_bytes: u64) -> MapResidency {
        MapResidency {
            limit_bytes,
            baseline: None,
        }
    }

    /// Releases the store's map if it is time to; returns whether it did.
    pub fn tend(&mut self, store: &Store) -> std::io::Result<bool> {
        if let Some(baseline) = self.baseline {
            if resident_shared_bytes()? <= baseline.saturating_add(self.limit_bytes) {
                return Ok(false);
            }
        }
        store.release_mapped_pages()?;
        self.baseline = Some(resident_shared_bytes()?);
        Ok(true)
    }
}

impl Store {
    /// Drops the map's resident pages.
    fn release_mapped_pages(&self) -> std::io::Result<()> {
        // LMDB does not tell where it mapped the file (mdb_env_info's address is only set
        // for a fixed map), so the kernel's list of mappings does.
        let data_file = std::fs::canonicalize(self.dir.join(DATA_FILE))?;
        let ranges = mappings_of(&data_file)?;
        if ranges.is_empty() {
            return Err(std::io::Error::other(format!(
                "{} is not mapped",
                data_file.display()
            )));
        }
        for (start, end) in ranges {
            // SAFETY: the range is LMDB's read-only shared map of the data file, alive as long
            // as `self.env`. MADV_DONTNEED on a shared file map only removes the page table
            // entries; readers that touch a page afterwards fault the same file contents back
            // in.
            #[allow(unsafe_code)]
            let result = unsafe {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED)
            };
            if result != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropping_the_maps_pages_keeps_every_value_readable() {
        let store = crate::mvcc::scratch_store("residency", 1 << 30);
        let dir = store.dir.clone();
        let value = vec![7u8; 2000];
        for chunk in 0..20 {
            let mut txn = store.env.write_txn().unwrap();
            for i in 0..500 {
                let key = format!("key-{chunk:02}-{i:04}");
                store.current.put(&mut txn, key.as_bytes(), &value).unwrap();
            }
            txn.commit().unwrap();
        }
        let txn = store.env.read_txn().unwrap();
        let read_all = || {
            let mut count = 0;
            for item in store.current.iter(&txn).unwrap() {
                let (_, stored) = item.unwrap();
                assert_eq!(stored, &value[..]);
                count += 1;
            }
            count
        };
        assert_eq!(read_all(), 10_000);
        // About 20 MB of the file is mapped now; the first look releases it.
        let mut residency = MapResidency::new(8 << 20);
        let mapped = resident_shared_bytes().unwrap();
        assert!(residency.tend(&store).unwrap());
        let released = resident_shared_bytes().unwrap();
        assert!(
            released + (8 << 20) < mapped,
            "resident file-backed bytes {mapped} -> {released}"
        );
        // Without growth past the limit nothing is released.
        assert!(!residency.tend(&store).unwrap());
        // The reads after it fault the same pages back in: 20 MB of growth, released again.
        assert_eq!(read_all(), 10_000);
        assert!(residency.tend(&store).unwrap());
        drop(txn);
        drop(store);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Writing a bolt file in one pass: each bucket's leaf pages as its keys arrive (in order),
//! then its branch pages, then the root bucket's tree, an empty freelist, and last the two meta
//! pages at the start of the file. Every page is in a tree or is the freelist, so bolt's
//! consistency check (`tx.Check`, which `etcdctl snapshot status` runs) finds nothing.

use super::*;
use std::io::{Seek, SeekFrom, Write};

/// bbolt's page size on this platform (the OS page size; etcd's files use it).
pub const PAGE_SIZE: usize = 4096;

pub struct BoltWriter<W: Write + Seek> {
    out: W,
    next_page: u64,
    bucket: Option<OpenBucket>,
    /// (name, root page) of every finished bucket.
    finished: Vec<(Vec<u8>, u64)>,
}

/// The bucket being written.
#[derive(Default)]
struct OpenBucket {
    name: Vec<u8>,
    /// The leaf being filled.
    leaf: Leaf,
    /// (first key, page) of each leaf written.
    leaves: Vec<(Vec<u8>, u64)>,
}

#[derive(Default)]
struct Leaf {
    /// (flags, key, value)
    items: Vec<(u32, Vec<u8>, Vec<u8>)>,
    bytes: usize,
}

impl Leaf {
    fn fits(&self, key: &[u8], value: &[u8]) -> bool {
        self.items.is_empty()
            || PAGE_HEADER_BYTES + self.bytes + LEAF_ELEMENT_BYTES + key.len() + value.len()
                <= PAGE_SIZE
    }
}

impl<W: Write + Seek> BoltWriter<W> {
    pub fn new(mut out: W) -> std::io::Result<Self> {
        // Pages 0 and 1 (the metas) are written last; make room for them.
        out.write_all(&vec![0u8; 2 * PAGE_SIZE])?;
        Ok(BoltWriter {
            out,
            next_page: 2,
            bucket: None,
            finished: Vec::new(),
        })
    }

    pub fn begin_bucket(&mut self, name: &[u8]) -> std::io::Result<()> {
        self.end_bucket()?;
        self.bucket = Some(OpenBucket {
            name: name.to_vec(),
            ..OpenBucket::default()
        });
        Ok(())
    }

    /// Adds a key-value to the open bucket; keys must come in increasing order.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        self.put_item(0, key, value)
    }

    fn put_item(&mut self, flags: u32, key: &[u8], value: &[u8]) -> std::io::Result<()> {
        let Some(OpenBucket { leaf, .. }) = &mut self.bucket else {
            return Err(std::io::Error::other("bolt: a key outside any bucket"));
        };
        if let Some((_, last, _)) = leaf.items.last() {
            if key <= last.as_slice() {
                return Err(std::io::Error::other("bolt: keys out of order"));
            }
        }
        if !leaf.fits(key, value) {
            self.flush_leaf()?;
        }
        let Some(OpenBucket { leaf, .. }) = &mut self.bucket else {
            unreachable!("checked above");
        };
        leaf.bytes += LEAF_ELEMENT_BYTES + key.len() + value.len();
        leaf.items.push((flags, key.to_vec(), value.to_vec()));
        Ok(())
    }

    fn flush_leaf(&mut self) -> std::io::Result<()> {
        let Some(OpenBucket { leaf, leaves, .. }) = &mut self.bucket else {
            return Ok(());
        };
        if leaf.items.is_empty() && !leaves.is_empty() {
            return Ok(());
        }
        let leaf = std::mem::take(leaf);
        let mut body = Vec::with_capacity(leaf.bytes);
        let mut data = Vec::new();
        let element_bytes = leaf.items.len() * LEAF_ELEMENT_BYTES;
        for (index, (flags, key, value)) in leaf.items.iter().enumerate() {
            let element_at = index * LEAF_ELEMENT_BYTES;
            let pos = element_bytes - element_at + data.len();
            body.extend_from_slice(&flags.to_le_bytes());
            body.extend_from_slice(&(pos as u32).to_le_bytes());
            body.extend_from_slice(&(key.len() as u32).to_le_bytes());
            body.extend_from_slice(&(value.len() as u32).to_le_bytes());
            data.extend_from_slice(key);
            data.extend_from_slice(value);
        }
        body.extend_from_slice(&data);
        let first_key = leaf
            .items
            .first()
            .map(|(_, k, _)| k.clone())
            .unwrap_or_default();
        let id = self.write_page(LEAF_PAGE, leaf.items.len(), &body)?;
        if let Some(OpenBucket { leaves, .. }) = &mut self.bucket {
            leaves.push((first_key, id));
        }
        Ok(())
    }

    /// Writes one page (with overflow pages if the body needs them); returns its id.
    fn write_page(&mut self, flags: u16, count: usize, body: &[u8]) -> std::io::Result<u64> {
        let id = self.next_page;
        let pages = (PAGE_HEADER_BYTES + body.len()).div_ceil(PAGE_SIZE).max(1);
        let mut page = Vec::with_capacity(pages * PAGE_SIZE);
        page.extend_from_slice(&id.to_le_bytes());
        page.extend_from_slice(&flags.to_le_bytes());
        page.extend_from_slice(&(count.min(0xffff) as u16).to_le_bytes());
        page.extend_from_slice(&((pages - 1) as u32).to_le_bytes());
        page.extend_from_slice(body);
        page.resize(pages * PAGE_SIZE, 0);
        self.out.write_all(&page)?;
        self.next_page += pages as u64;
        Ok(id)
    }

    /// Closes the open bucket: its branch pages above the leaves; records its root.
    fn end_bucket(&mut self) -> std::io::Result<()> {
        if self.bucket.is_none() {
            return Ok(());
        }
        self.flush_leaf()?;
        let Some(OpenBucket {
            name,
            leaves: mut level,
            ..
        }) = self.bucket.take()
        else {
            return Ok(());
        };
        while level.len() > 1 {
            level = self.branch_level(&level)?;
        }
        self.finished.push((name, level[0].1));
        Ok(())
    }

    /// One level of branch pages over `children` (first key, page); returns that level's.
    fn branch_level(
        &mut self,
        children: &[(Vec<u8>, u64)],
    ) -> std::io::Result<Vec<(Vec<u8>, u64)>> {
        let mut level = Vec::new();
        let mut start = 0;
        while start < children.len() {
            let mut end = start;
            let mut bytes = PAGE_HEADER_BYTES;
            while end < children.len()
                && (end == start
                    || bytes + BRANCH_ELEMENT_BYTES + children[end].0.len() <= PAGE_SIZE)
            {
                bytes += BRANCH_ELEMENT_BYTES + children[end].0.len();
                end += 1;
            }
            let group = &children[start..end];
            let element_bytes = group.len() * BRANCH_ELEMENT_BYTES;
            let (mut body, mut keys) = (Vec::new(), Vec::new());
            for (index, (key, page)) in group.iter().enumerate() {
                let pos = element_bytes - index * BRANCH_ELEMENT_BYTES + keys.len();
                body.extend_from_slice(&(pos as u32).to_le_bytes());
                body.extend_from_slice(&(key.len() as u32).to_le_bytes());
                body.extend_from_slice(&page.to_le_bytes());
                keys.extend_from_slice(key);
            }
            body.extend_from_slice(&keys);
            let id = self.write_page(BRANCH_PAGE, group.len(), &body)?;
            level.push((group[0].0.clone(), id));
            start = end;
        }
        Ok(level)
    }

    /// Writes the root bucket, the freelist and the metas; returns the file's size in bytes.
    pub fn finish(mut self, txid: u64) -> std::io::Result<(W, u64)> {
        self.end_bucket()?;
        let mut buckets = std::mem::take(&mut self.finished);
        buckets.sort();
        self.bucket = Some(OpenBucket::default());
        for (name, root) in &buckets {
            let mut header = root.to_le_bytes().to_vec();
            header.extend_from_slice(&0u64.to_le_bytes());
            self.put_item(BUCKET_LEAF, name, &header)?;
        }
        self.flush_leaf()?;
        let Some(OpenBucket {
            leaves: mut level, ..
        }) = self.bucket.take()
        else {
            unreachable!("the root bucket is open");
        };
        while level.len() > 1 {
            level = self.branch_level(&level)?;
        }
        let root = level[0].1;
        let freelist = self.write_page(FREELIST_PAGE, 0, &[])?;
        let page_count = self.next_page;
        for (id, txid) in [(0u64, txid), (1, txid.saturating_sub(1))] {
            let mut meta = Vec::with_capacity(META_CHECKSUM_OFFSET + 8);
            meta.extend_from_slice(&MAGIC.to_le_bytes());
            meta.extend_from_slice(&VERSION.to_le_bytes());
            meta.extend_from_slice(&(PAGE_SIZE as u32).to_le_bytes());
            meta.extend_from_slice(&0u32.to_le_bytes());
            meta.extend_from_slice(&root.to_le_bytes());
            meta.extend_from_slice(&0u64.to_le_bytes());
            meta.extend_from_slice(&freelist.to_le_bytes());
            meta.extend_from_slice(&page_count.to_le_bytes());
            meta.extend_from_slice(&txid.to_le_bytes());
            let checksum = fnv1a64(&meta);
            meta.extend_from_slice(&checksum.to_le_bytes());
            let mut page = id.to_le_bytes().to_vec();
            page.extend_from_slice(&META_PAGE.to_le_bytes());
            page.extend_from_slice(&0u16.to_le_bytes());
            page.extend_from_slice(&0u32.to_le_bytes());
            page.extend_from_slice(&meta);
            self.out.seek(SeekFrom::Start(id * PAGE_SIZE as u64))?;
            self.out.write_all(&page)?;
        }
        self.out
            .seek(SeekFrom::Start(page_count * PAGE_SIZE as u64))?;
        self.out.flush()?;
        Ok((self.out, page_count * PAGE_SIZE as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::super::read::Bolt;
    use super::*;

    #[test]
    fn what_is_written_reads_back_in_order() {
        let mut writer = BoltWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
        writer.begin_bucket(b"key").unwrap();
        let keys: Vec<Vec<u8>> = (0..3000u32).map(|i| i.to_be_bytes().to_vec()).collect();
        for key in &keys {
            writer.put(key, &[7u8; 100]).unwrap();
        }
        writer.put(b"\xff\xff", &vec![1u8; 20_000]).unwrap();
        writer.begin_bucket(b"meta").unwrap();
        writer
            .put(b"consistent_index", &9u64.to_be_bytes())
            .unwrap();
        writer.begin_bucket(b"empty").unwrap();
        let (cursor, size) = writer.finish(5).unwrap();
        let bytes = cursor.into_inner();
        assert_eq!(bytes.len() as u64, size);
        let bolt = Bolt::open(&bytes).unwrap();
        assert_eq!(bolt.size(), size);
        let buckets = bolt.buckets().unwrap();
        let names: Vec<&[u8]> = buckets.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, vec![&b"empty"[..], b"key", b"meta"]);
        let mut read = Vec::new();
        bolt.each(buckets[1].1, &mut |k, v| {
            read.push((k.to_vec(), v.len()));
            Ok(())
        })
        .unwrap();
        assert_eq!(read.len(), 3001);
        assert!(read.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(read.last().unwrap().1, 20_000);
    }

    #[test]
    fn a_damaged_file_is_refused_naming_the_page() {
        let mut writer = BoltWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
        writer.begin_bucket(b"key").unwrap();
        for i in 0..500u32 {
            writer.put(&i.to_be_bytes(), &[1; 50]).unwrap();
        }
        let (cursor, _) = writer.finish(1).unwrap();
        let mut bytes = cursor.into_inner();
        // Page 3's header claims to be another page.
        bytes[3 * PAGE_SIZE] = 99;
        let bolt = Bolt::open(&bytes).unwrap();
        let error = bolt
            .buckets()
            .and_then(|b| bolt.each(b[0].1, &mut |_, _| Ok(())))
            .unwrap_err();
        assert!(error.starts_with("page 3:"), "{error}");
        assert!(Bolt::open(&bytes[..100]).is_err());
    }

    #[test]
    fn a_file_cut_inside_its_first_meta_page_is_refused() {
        // Found by the fuzzer's long run: a bolt header that ends right after its version.
        let mut bytes = vec![0u8; 25];
        bytes[16..20].copy_from_slice(&MAGIC.to_le_bytes());
        bytes[20..24].copy_from_slice(&VERSION.to_le_bytes());
        let refused = Bolt::open(&bytes).err().unwrap_or_default();
        assert!(refused.contains("ends inside its meta page"), "{refused}");
    }

    #[test]
    fn fuzz_bolt_files() {
        let mut writer = BoltWriter::new(std::io::Cursor::new(Vec::new())).unwrap();
        writer.begin_bucket(b"key").unwrap();
        for i in 0..300u32 {
            writer.put(&i.to_be_bytes(), &[i as u8; 30]).unwrap();
        }
        writer.begin_bucket(b"meta").unwrap();
        writer.put(b"m", b"v").unwrap();
        let (cursor, _) = writer.finish(3).unwrap();
        let seed = cursor.into_inner();
        crate::fuzz::run("bolt", &[seed], |bytes| {
            if let Ok(bolt) = Bolt::open(bytes) {
                if let Ok(buckets) = bolt.buckets() {
                    for (_, root) in buckets {
                        let _ = bolt.each(root, &mut |_, _| Ok(()));
                    }
                }
            }
        });
    }
}

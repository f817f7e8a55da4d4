//! Reading a bolt file (read only). Every page, element and length is checked against the file
//! before it is used: a damaged file is refused with a message naming the page.

use super::*;
use std::collections::HashSet;

/// Pages nested deeper than this are not a B+tree bolt writes.
const MAX_TREE_DEPTH: usize = 64;

pub struct Bolt<'a> {
    data: &'a [u8],
    page_size: usize,
    root: u64,
    /// Pages in use (the meta's high-water mark).
    page_count: u64,
}

/// Where a bucket's tree starts: a page, or a leaf page inline in its parent's value.
#[derive(Clone, Copy)]
pub enum Root<'a> {
    Page(u64),
    Inline(&'a [u8]),
}

fn word32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

fn word64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

/// A meta page's fields, if it is a valid one: (root, page count, txid, page size).
fn meta(page: &[u8]) -> Option<(u64, u64, u64, usize)> {
    let meta = page.get(PAGE_HEADER_BYTES..PAGE_HEADER_BYTES + META_CHECKSUM_OFFSET + 8)?;
    let valid = word32(meta, 0) == MAGIC
        && word32(meta, 4) == VERSION
        && word64(meta, META_CHECKSUM_OFFSET) == fnv1a64(&meta[..META_CHECKSUM_OFFSET]);
    valid.then(|| {
        (
            word64(meta, 16),
            word64(meta, 40),
            word64(meta, 48),
            word32(meta, 8) as usize,
        )
    })
}

impl<'a> Bolt<'a> {
    pub fn open(data: &'a [u8]) -> Result<Bolt<'a>, String> {
        if !looks_like_bolt(data) {
            return Err("not a bolt file (no bolt meta page at its start)".to_string());
        }
        let Some(page_size) = data.get(PAGE_HEADER_BYTES + 8..PAGE_HEADER_BYTES + 12) else {
            return Err(format!(
                "page 0: the file ends inside its meta page ({} bytes)",
                data.len()
            ));
        };
        let page_size = word32(page_size, 0) as usize;
        if !page_size.is_power_of_two() || !(512..=65536).contains(&page_size) {
            return Err(format!(
                "page 0: page size {page_size} is not one bolt uses"
            ));
        }
        let metas = [0, 1].map(|id| {
            data.get(id * page_size..(id + 1) * page_size)
                .and_then(meta)
        });
        let (root, page_count, _, _) = metas
            .iter()
            .flatten()
            .max_by_key(|(_, _, txid, _)| *txid)
            .copied()
            .ok_or("pages 0 and 1: neither meta page is valid (magic, version or checksum)")?;
        if (page_count as u128) * (page_size as u128) > data.len() as u128 {
            return Err(format!(
                "the meta page says {page_count} pages of {page_size} bytes, but the file has {} bytes",
                data.len()
            ));
        }
        Ok(Bolt {
            data,
            page_size,
            root,
            page_count,
        })
    }

    /// The bytes in use: what bolt's Tx.Size reports.
    pub fn size(&self) -> u64 {
        self.page_count * self.page_size as u64
    }

    /// A page with its overflow, checked to lie inside the file.
    fn page(&self, id: u64) -> Result<&'a [u8], String> {
        if id < 2 || id >= self.page_count {
            return Err(format!(
                "page {id}: outside the {} pages in use",
                self.page_count
            ));
        }
        let start = id as usize * self.page_size;
        let header = &self.data[start..start + PAGE_HEADER_BYTES];
        if word64(header, 0) != id {
            return Err(format!(
                "page {id}: its header says it is page {}",
                word64(header, 0)
            ));
        }
        let overflow = word32(header, 12) as u64;
        if id + overflow >= self.page_count {
            return Err(format!(
                "page {id}: its {overflow} overflow pages run past the end"
            ));
        }
        Ok(&self.data[start..start + (overflow as usize + 1) * self.page_size])
    }

    /// The top-level buckets, in key order: (name, root).
    pub fn buckets(&self) -> Result<Vec<(&'a [u8], Root<'a>)>, String> {
        let mut buckets = Vec::new();
        self.walk(Root::Page(self.root), &mut |key, value, flags| {
            if flags & BUCKET_LEAF != 0 {
                buckets.push((key, bucket_root(value)?));
            }
            Ok(())
        })?;
        Ok(buckets)
    }

    /// The key-values of a bucket, in key order (nested buckets are skipped: etcd has none).
    pub fn each(
        &self,
        root: Root<'a>,
        visit: &mut impl FnMut(&'a [u8], &'a [u8]) -> Result<(), String>,
    ) -> Result<(), String> {
        self.walk(root, &mut |key, value, flags| {
            if flags & BUCKET_LEAF == 0 {
                visit(key, value)?;
            }
            Ok(())
        })
    }

    fn walk(
        &self,
        root: Root<'a>,
        visit: &mut impl FnMut(&'a [u8], &'a [u8], u32) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut seen = HashSet::new();
        match root {
            Root::Page(id) => self.walk_page(id, 0, &mut seen, visit),
            Root::Inline(page) => leaf_elements(page, "an inline bucket", visit),
        }
    }

    fn walk_page(
        &self,
        id: u64,
        depth: usize,
        seen: &mut HashSet<u64>,
        visit: &mut impl FnMut(&'a [u8], &'a [u8], u32) -> Result<(), String>,
    ) -> Result<(), String> {
        if depth > MAX_TREE_DEPTH {
            return Err(format!(
                "page {id}: the tree is deeper than {MAX_TREE_DEPTH} levels"
            ));
        }
        if !seen.insert(id) {
            return Err(format!("page {id}: reached twice in one tree"));
        }
        let page = self.page(id)?;
        let flags = u16::from_le_bytes([page[8], page[9]]);
        let count = u16::from_le_bytes([page[10], page[11]]) as usize;
        match flags {
            BRANCH_PAGE => {
                for index in 0..count {
                    let at = PAGE_HEADER_BYTES + index * BRANCH_ELEMENT_BYTES;
                    let element = page
                        .get(at..at + BRANCH_ELEMENT_BYTES)
                        .ok_or_else(|| format!("page {id}: element {index} past the page"))?;
                    self.walk_page(word64(element, 8), depth + 1, seen, visit)?;
                }
                Ok(())
            }
            LEAF_PAGE => leaf_elements(page, &format!("page {id}"), visit),
            other => Err(format!(
                "page {id}: flags {other:#x} where a branch or leaf page belongs"
            )),
        }
    }
}

/// The elements of a leaf page (`what` names it in errors).
fn leaf_elements<'a>(
    page: &'a [u8],
    what: &str,
    visit: &mut impl FnMut(&'a [u8], &'a [u8], u32) -> Result<(), String>,
) -> Result<(), String> {
    if page.len() < PAGE_HEADER_BYTES {
        return Err(format!("{what}: shorter than a page header"));
    }
    let flags = u16::from_le_bytes([page[8], page[9]]);
    if flags != LEAF_PAGE {
        return Err(format!(
            "{what}: flags {flags:#x} where a leaf page belongs"
        ));
    }
    let count = u16::from_le_bytes([page[10], page[11]]) as usize;
    for index in 0..count {
        let at = PAGE_HEADER_BYTES + index * LEAF_ELEMENT_BYTES;
        let element = page
            .get(at..at + LEAF_ELEMENT_BYTES)
            .ok_or_else(|| format!("{what}: element {index} past the page"))?;
        let (kind, pos, key_size, value_size) = (
            word32(element, 0),
            word32(element, 4) as usize,
            word32(element, 8) as usize,
            word32(element, 12) as usize,
        );
        let key_start = at + pos;
        let range = key_start
            .checked_add(key_size)
            .and_then(|key_end| Some((key_end, key_end.checked_add(value_size)?)));
        let Some((key_end, value_end)) = range.filter(|(_, end)| *end <= page.len()) else {
            return Err(format!(
                "{what}: element {index}'s key and value run past the page"
            ));
        };
        visit(&page[key_start..key_end], &page[key_end..value_end], kind)?;
    }
    Ok(())
}

fn bucket_root(value: &[u8]) -> Result<Root<'_>, String> {
    if value.len() < BUCKET_HEADER_BYTES {
        return Err("a bucket value shorter than a bucket header".to_string());
    }
    match word64(value, 0) {
        0 => Ok(Root::Inline(&value[BUCKET_HEADER_BYTES..])),
        root => Ok(Root::Page(root)),
    }
}

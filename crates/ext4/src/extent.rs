//! Extent tree nodes: decoding a node (the 60-byte root in `i_block` or a tree block),
//! encoding nodes with their checksum tail, and list operations on the flat, sorted
//! extent list that `fs` rebuilds the tree from.
//!
//! Design: the filesystem reads the whole tree of a file into a sorted `Vec<Extent>`, edits
//! that list, and writes the tree back (reusing the old tree blocks). This is simpler to
//! get right than in-place B-tree splits and costs little because files written by this
//! crate are allocated in long contiguous runs, so their lists stay short.

use crate::bytes::{le16, le32, set_le16, set_le32};
use crate::crc32c::crc32c;
use crate::error::{Error, Result};
use alloc::vec::Vec;

pub const MAGIC: u16 = 0xF30A;
/// Longest initialized extent.
pub const MAX_LEN: u32 = 32768;
/// Deepest tree accepted when reading (the kernel's limit is 5).
pub const MAX_DEPTH: u16 = 5;

/// One mapping of `len` logical blocks starting at `lblk` to physical blocks at `pblk`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extent {
    pub lblk: u32,
    pub len: u32,
    pub pblk: u64,
    /// Preallocated but unwritten: reads as zeros.
    pub uninit: bool,
}

impl Extent {
    pub fn end(&self) -> u64 {
        self.lblk as u64 + self.len as u64
    }
}

/// A decoded node.
pub enum Node {
    Leaf(Vec<Extent>),
    /// (first logical block, child block) pairs.
    Index(Vec<(u32, u64)>),
}

/// Writes an empty depth-0 header into a 60-byte root.
pub fn init_root(root: &mut [u8]) {
    root.fill(0);
    set_le16(root, 0, MAGIC);
    set_le16(root, 2, 0);
    set_le16(root, 4, 4);
    set_le16(root, 6, 0);
}

/// Decodes a node; `buf` is the root (60 bytes) or a whole tree block. Returns the depth too.
pub fn decode(buf: &[u8]) -> Result<(u16, Node)> {
    if buf.len() < 12 || le16(buf, 0) != MAGIC {
        return Err(Error::Corrupt("bad extent header magic"));
    }
    let entries = le16(buf, 2) as usize;
    let max = le16(buf, 4) as usize;
    let depth = le16(buf, 6);
    if entries > max || 12 + max * 12 > buf.len() {
        return Err(Error::Corrupt("extent header entry count out of range"));
    }
    if depth > MAX_DEPTH {
        return Err(Error::Corrupt("extent tree too deep"));
    }
    if depth == 0 {
        let mut v = Vec::with_capacity(entries);
        for i in 0..entries {
            let o = 12 + i * 12;
            let raw_len = le16(buf, o + 4) as u32;
            let (len, uninit) = if raw_len > MAX_LEN {
                (raw_len - MAX_LEN, true)
            } else {
                (raw_len, false)
            };
            if len == 0 {
                return Err(Error::Corrupt("zero-length extent"));
            }
            let pblk = le32(buf, o + 8) as u64 | (le16(buf, o + 6) as u64) << 32;
            v.push(Extent {
                lblk: le32(buf, o),
                len,
                pblk,
                uninit,
            });
        }
        Ok((0, Node::Leaf(v)))
    } else {
        let mut v = Vec::with_capacity(entries);
        for i in 0..entries {
            let o = 12 + i * 12;
            let child = le32(buf, o + 4) as u64 | (le16(buf, o + 8) as u64) << 32;
            v.push((le32(buf, o), child));
        }
        Ok((depth, Node::Index(v)))
    }
}

/// Entries that fit in a tree block of `block_size` bytes (after the header, before the tail).
pub fn block_capacity(block_size: usize) -> usize {
    (block_size - 12) / 12
}

fn write_header(buf: &mut [u8], entries: usize, max: usize, depth: u16) {
    set_le16(buf, 0, MAGIC);
    set_le16(buf, 2, entries as u16);
    set_le16(buf, 4, max as u16);
    set_le16(buf, 6, depth);
    set_le32(buf, 8, 0);
}

/// Encodes a leaf node into `buf` (root or block) with capacity `max`.
pub fn encode_leaf(buf: &mut [u8], max: usize, extents: &[Extent]) {
    buf.fill(0);
    write_header(buf, extents.len(), max, 0);
    for (i, e) in extents.iter().enumerate() {
        let o = 12 + i * 12;
        set_le32(buf, o, e.lblk);
        let raw_len = if e.uninit { e.len + MAX_LEN } else { e.len };
        set_le16(buf, o + 4, raw_len as u16);
        set_le16(buf, o + 6, (e.pblk >> 32) as u16);
        set_le32(buf, o + 8, e.pblk as u32);
    }
}

/// Encodes an index node into `buf` with capacity `max` at `depth`.
pub fn encode_index(buf: &mut [u8], max: usize, depth: u16, entries: &[(u32, u64)]) {
    buf.fill(0);
    write_header(buf, entries.len(), max, depth);
    for (i, (lblk, child)) in entries.iter().enumerate() {
        let o = 12 + i * 12;
        set_le32(buf, o, *lblk);
        set_le32(buf, o + 4, *child as u32);
        set_le16(buf, o + 8, (*child >> 32) as u16);
    }
}

/// Offset of the checksum tail in a tree block.
fn tail_offset(block_size: usize) -> usize {
    12 + block_capacity(block_size) * 12
}

pub fn seal_block(buf: &mut [u8], inode_seed: u32) {
    let t = tail_offset(buf.len());
    let c = crc32c(inode_seed, &buf[..t]);
    set_le32(buf, t, c);
}

pub fn verify_block(buf: &[u8], inode_seed: u32) -> bool {
    let max = le16(buf, 4) as usize;
    let t = 12 + max * 12;
    t + 4 <= buf.len() && crc32c(inode_seed, &buf[..t]) == le32(buf, t)
}

/// Sorts and merges physically and logically contiguous neighbours.
pub fn normalize(list: &mut Vec<Extent>) {
    list.sort_by_key(|e| e.lblk);
    let mut out: Vec<Extent> = Vec::with_capacity(list.len());
    for e in list.drain(..) {
        if let Some(last) = out.last_mut() {
            let max = if e.uninit { MAX_LEN - 1 } else { MAX_LEN };
            if last.uninit == e.uninit
                && last.end() == e.lblk as u64
                && last.pblk + last.len as u64 == e.pblk
                && last.len + e.len <= max
            {
                last.len += e.len;
                continue;
            }
        }
        out.push(e);
    }
    *list = out;
}

/// Marks `len` blocks from logical block `from` of the unwritten extent `e` (an entry of
/// `list`) written, splitting `e` into at most three pieces so the rest stays unwritten.
/// Only the blocks a write covered are converted, so writing into a large preallocated
/// extent costs the data written, not the whole extent.
pub fn mark_written(list: &mut Vec<Extent>, e: Extent, from: u32, len: u32) {
    let Some(i) = list.iter().position(|x| *x == e) else {
        return;
    };
    // In u64: an extent may end exactly at logical block 2^32.
    let (start, end) = (e.lblk as u64, e.end());
    let from = (from as u64).max(start);
    let to = (from + len as u64).min(end);
    if to <= from {
        return;
    }
    let piece = |lo: u64, hi: u64, uninit: bool| Extent {
        lblk: lo as u32,
        len: (hi - lo) as u32,
        pblk: e.pblk + (lo - start),
        uninit,
    };
    let mut pieces = Vec::with_capacity(3);
    if from > start {
        pieces.push(piece(start, from, true));
    }
    pieces.push(piece(from, to, false));
    if to < end {
        pieces.push(piece(to, end, true));
    }
    list.splice(i..=i, pieces);
    normalize(list);
}

/// Finds the extent containing logical block `lblk` (list sorted, non-overlapping).
pub fn find(list: &[Extent], lblk: u32) -> Option<&Extent> {
    let i = list.partition_point(|e| e.end() <= lblk as u64);
    list.get(i).filter(|e| e.lblk <= lblk)
}

/// Removes every mapping at or beyond logical block `from` and returns the physical runs
/// that became unused as (start, count).
pub fn cut_from(list: &mut Vec<Extent>, from: u32) -> Vec<(u64, u64)> {
    let mut freed = Vec::new();
    list.retain_mut(|e| {
        if e.lblk >= from {
            freed.push((e.pblk, e.len as u64));
            false
        } else if e.end() > from as u64 {
            let keep = from - e.lblk;
            freed.push((e.pblk + keep as u64, (e.len - keep) as u64));
            e.len = keep;
            true
        } else {
            true
        }
    });
    freed
}

/// Checks that a decoded list is sorted, non-overlapping and inside 32-bit logical space.
pub fn validate(list: &[Extent], blocks_count: u64) -> Result<()> {
    let mut prev_end = 0u64;
    for e in list {
        if (e.lblk as u64) < prev_end {
            return Err(Error::Corrupt("overlapping or unsorted extents"));
        }
        if e.end() > 1u64 << 32 {
            return Err(Error::Corrupt("extent beyond logical block limit"));
        }
        if e.pblk == 0 || e.pblk.saturating_add(e.len as u64) > blocks_count {
            return Err(Error::Corrupt("extent points outside the filesystem"));
        }
        prev_end = e.end();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(lblk: u32, len: u32, pblk: u64) -> Extent {
        Extent {
            lblk,
            len,
            pblk,
            uninit: false,
        }
    }

    #[test]
    fn merge_and_cut() {
        let mut l = alloc::vec![ext(10, 5, 200), ext(0, 10, 100), ext(15, 1, 205)];
        normalize(&mut l);
        assert_eq!(l, alloc::vec![ext(0, 10, 100), ext(10, 6, 200)]);
        assert_eq!(find(&l, 12).map(|e| e.pblk), Some(200));
        assert!(find(&l, 16).is_none());
        let freed = cut_from(&mut l, 12);
        assert_eq!(freed, alloc::vec![(202, 4)]);
        assert_eq!(l, alloc::vec![ext(0, 10, 100), ext(10, 2, 200)]);
    }

    #[test]
    fn mark_written_splits_only_the_written_part() {
        let un = |lblk, len, pblk| Extent {
            lblk,
            len,
            pblk,
            uninit: true,
        };
        let mut l = alloc::vec![ext(0, 5, 100), un(5, 100, 105)];
        mark_written(&mut l, un(5, 100, 105), 50, 10);
        assert_eq!(
            l,
            alloc::vec![
                ext(0, 5, 100),
                un(5, 45, 105),
                ext(50, 10, 150),
                un(60, 45, 160)
            ]
        );
        // The written head of an unwritten extent merges with the written extent before it.
        let mut l = alloc::vec![ext(0, 5, 100), un(5, 100, 105)];
        mark_written(&mut l, un(5, 100, 105), 5, 3);
        assert_eq!(l, alloc::vec![ext(0, 8, 100), un(8, 97, 108)]);
        // The whole extent, and a range reaching past its end, leave nothing unwritten.
        let mut l = alloc::vec![un(5, 10, 105)];
        mark_written(&mut l, un(5, 10, 105), 5, 50);
        assert_eq!(l, alloc::vec![ext(5, 10, 105)]);
        // An extent that ends at the last logical block the format can address.
        let top = un(u32::MAX - 9, 10, 500);
        let mut l = alloc::vec![top];
        mark_written(&mut l, top, u32::MAX - 1, 2);
        assert_eq!(
            l,
            alloc::vec![un(u32::MAX - 9, 8, 500), ext(u32::MAX - 1, 2, 508)]
        );
    }

    #[test]
    fn encode_decode_round_trip() {
        let mut buf = alloc::vec![0u8; 1024];
        let l = alloc::vec![
            ext(0, 3, 77),
            Extent {
                lblk: 9,
                len: 4,
                pblk: 1 << 33,
                uninit: true
            }
        ];
        encode_leaf(&mut buf, block_capacity(1024), &l);
        seal_block(&mut buf, 5);
        assert!(verify_block(&buf, 5));
        match decode(&buf).unwrap() {
            (0, Node::Leaf(d)) => assert_eq!(d, l),
            _ => panic!("wrong node kind"),
        }
        buf[20] ^= 1;
        assert!(!verify_block(&buf, 5));
    }
}

//! Block maps: the ext2/ext3 layout that ext4 keeps for inodes without the extents flag.
//! `i_block` holds 12 direct block pointers and the roots of a single, a double and a triple
//! indirect tree; each indirect block is an array of 32-bit block numbers (0: a hole). Part
//! of `impl Ext4`.
//!
//! Design: as with extent trees (see `extent`), a map is read into the flat, sorted extent
//! list the rest of the crate works on and written back from that list, so reading,
//! writing, truncating and freeing are shared with extent files. Writing reuses each old
//! indirect block in the same position of the tree and puts it into the transaction only
//! when its pointers change, so appending to a large file costs the blocks that change, not
//! the whole map. New inodes are block-mapped only on filesystems without the `extent`
//! feature (ext2, ext3); elsewhere an old block-mapped file stays block-mapped, as Linux
//! leaves it. Indirect blocks have no checksum, even with metadata_csum.

use crate::bytes::{le32, set_le32};
use crate::error::{Error, Result};
use crate::extent::{self, Extent};
use crate::fs::Ext4;
use crate::inode::Inode;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use blockdev::BlockDevice;

/// Direct pointers in `i_block`; the single, double and triple indirect roots follow.
const DIRECT: u64 = 12;

/// One indirect block's place in the tree: its height (1: points at data blocks) and the
/// first logical block it covers. Unique per block in a map.
type Slot = (u8, u64);

impl<D: BlockDevice> Ext4<D> {
    /// Block pointers per indirect block.
    fn pointers_per_block(&self) -> u64 {
        self.sb.block_size as u64 / 4
    }

    /// First logical block covered by root `r` (0: single, 1: double, 2: triple indirect),
    /// and how many it covers.
    fn root_range(&self, r: usize) -> (u64, u64) {
        let p = self.pointers_per_block();
        match r {
            0 => (DIRECT, p),
            1 => (DIRECT + p, p * p),
            _ => (DIRECT + p + p * p, p * p * p),
        }
    }

    /// Logical blocks a block map can address (capped at the 2^32 every file is limited to).
    pub(crate) fn blockmap_limit(&self) -> u64 {
        let (start, len) = self.root_range(2);
        (start + len).min(1 << 32)
    }

    /// The map of `inode` as a sorted extent list, and its indirect blocks.
    pub(crate) fn load_blockmap(&mut self, inode: &Inode) -> Result<(Vec<Extent>, Vec<u64>)> {
        let (list, slots) = self.walk_blockmap(inode)?;
        Ok((list, slots.into_values().collect()))
    }

    /// Reads the whole map: extents plus every indirect block by its slot.
    fn walk_blockmap(&mut self, inode: &Inode) -> Result<(Vec<Extent>, BTreeMap<Slot, u64>)> {
        let bad = |what| Error::CorruptInode {
            kind: "block-mapped",
            ino: inode.ino,
            what,
        };
        let ib = inode.i_block().to_vec();
        let mut list: Vec<Extent> = Vec::new();
        let mut slots = BTreeMap::new();
        let mut mapped = 0u64;
        for i in 0..DIRECT {
            let p = le32(&ib, i as usize * 4) as u64;
            if p != 0 {
                push_block(&mut list, i, p);
                mapped += 1;
            }
        }
        let p = self.pointers_per_block();
        // Depth-first over (block, height, first logical block); at most 3 levels deep, and
        // never more blocks than the filesystem has, whatever the pointers say.
        let mut stack: Vec<(u64, u8, u64)> = Vec::new();
        for r in (0..3).rev() {
            let root = le32(&ib, (DIRECT as usize + r) * 4) as u64;
            if root != 0 {
                stack.push((root, r as u8 + 1, self.root_range(r).0));
            }
        }
        while let Some((blk, height, first)) = stack.pop() {
            if blk < self.sb.first_data_block || blk >= self.sb.blocks_count {
                return Err(bad("indirect block outside the filesystem"));
            }
            slots.insert((height, first), blk);
            if slots.len() as u64 > self.sb.blocks_count {
                return Err(bad("indirect tree larger than the filesystem"));
            }
            let b = self.read_meta(blk)?;
            let span = p.pow(height as u32 - 1);
            let mut children = Vec::new();
            for k in 0..p {
                let ptr = le32(&b, k as usize * 4) as u64;
                if ptr == 0 {
                    continue;
                }
                let lblk = first + k * span;
                if lblk >= 1 << 32 {
                    return Err(bad("block map beyond the logical block limit"));
                }
                if height == 1 {
                    push_block(&mut list, lblk, ptr);
                    mapped += 1;
                    if mapped > self.sb.blocks_count {
                        return Err(bad("maps more blocks than the filesystem has"));
                    }
                } else {
                    children.push((ptr, height - 1, lblk));
                }
            }
            // Pushed in reverse so the list comes out sorted by logical block.
            stack.extend(children.into_iter().rev());
        }
        extent::validate(&list, self.sb.blocks_count)
            .map_err(|_| bad("block pointer outside the filesystem"))?;
        Ok((list, slots))
    }

    /// Writes `list` as `inode`'s block map (the inode still holds the old map), reusing old
    /// indirect blocks by slot, and sets i_blocks. All new indirect blocks are allocated
    /// before anything is written, so a full disk leaves the old map untouched.
    pub(crate) fn store_blockmap(&mut self, inode: &mut Inode, list: &[Extent]) -> Result<()> {
        let limit = self.blockmap_limit();
        for e in list {
            if e.uninit {
                return Err(Error::UnsupportedInode(
                    "unwritten extent in a block-mapped file",
                ));
            }
            if e.end() > limit {
                return Err(Error::FileTooLarge);
            }
            if e.pblk + e.len as u64 > 1 << 32 {
                return Err(Error::UnsupportedInode(
                    "block-mapped file beyond block 2^32",
                ));
            }
        }
        let (_, old) = self.walk_blockmap(inode)?;
        let p = self.pointers_per_block();
        // The pointers every needed indirect block will hold, by slot; a pointer to a child
        // indirect block is a placeholder until every slot has a block.
        const CHILD: u32 = u32::MAX;
        let mut nodes: BTreeMap<Slot, Vec<u32>> = BTreeMap::new();
        let mut direct = [0u32; DIRECT as usize];
        let mut roots = [None::<Slot>; 3];
        for e in list {
            for k in 0..e.len as u64 {
                let lblk = e.lblk as u64 + k;
                let pblk = (e.pblk + k) as u32;
                if let Some(d) = direct.get_mut(lblk as usize) {
                    *d = pblk;
                    continue;
                }
                let r = (0..3)
                    .rev()
                    .find(|&r| lblk >= self.root_range(r).0)
                    .unwrap_or(0);
                let mut slot = (r as u8 + 1, self.root_range(r).0);
                roots[r] = Some(slot);
                // Down from the root: at height h each pointer covers p^(h-1) blocks.
                loop {
                    let (height, first) = slot;
                    let span = p.pow(height as u32 - 1);
                    let idx = ((lblk - first) / span) as usize;
                    let node = nodes
                        .entry(slot)
                        .or_insert_with(|| alloc::vec![0; p as usize]);
                    let ptr = node
                        .get_mut(idx)
                        .ok_or(Error::Corrupt("block map index out of range"))?;
                    if height == 1 {
                        *ptr = pblk;
                        break;
                    }
                    *ptr = CHILD;
                    slot = (height - 1, first + idx as u64 * span);
                }
            }
        }
        // A block for every slot: the old one in that place, or a fresh one (all allocated
        // before anything is written).
        let goal = list.first().map(|e| e.pblk).unwrap_or(0);
        let mut blocks: BTreeMap<Slot, u64> = BTreeMap::new();
        let mut fresh = Vec::new();
        for slot in nodes.keys() {
            if let Some(&b) = old.get(slot) {
                blocks.insert(*slot, b);
                continue;
            }
            let got = self.alloc_blocks(goal, 1);
            if let Ok((b, _)) = got {
                fresh.push(b);
                blocks.insert(*slot, b);
            }
            let failed = match got {
                Err(e) => Some(e),
                Ok((b, _)) if b >= 1 << 32 => Some(Error::UnsupportedInode(
                    "block-mapped file beyond block 2^32",
                )),
                Ok(_) => None,
            };
            if let Some(e) = failed {
                for b in fresh {
                    self.free_blocks(b, 1)?;
                }
                return Err(e);
            }
        }
        let bs = self.sb.block_size;
        for (&(height, first), ptrs) in &nodes {
            let mut buf = alloc::vec![0u8; bs];
            let span = p.pow(height as u32 - 1);
            for (idx, &ptr) in ptrs.iter().enumerate() {
                let v = if height > 1 && ptr == CHILD {
                    let child = (height - 1, first + idx as u64 * span);
                    blocks.get(&child).copied().unwrap_or(0) as u32
                } else {
                    ptr
                };
                set_le32(&mut buf, idx * 4, v);
            }
            let blk = *blocks
                .get(&(height, first))
                .ok_or(Error::Corrupt("indirect block without a block"))?;
            let reused = old.get(&(height, first)) == Some(&blk);
            // An unchanged indirect block stays out of the transaction.
            if !(reused && self.with_meta(blk, |b| b == buf.as_slice())?) {
                self.write_meta(blk, buf);
            }
        }
        for (slot, b) in &old {
            if !nodes.contains_key(slot) {
                self.free_blocks(*b, 1)?;
            }
        }
        let ib = inode.i_block_mut();
        ib.fill(0);
        for (i, &d) in direct.iter().enumerate() {
            set_le32(ib, i * 4, d);
        }
        for (r, root) in roots.iter().enumerate() {
            if let Some(b) = root.and_then(|slot| blocks.get(&slot)) {
                set_le32(ib, (DIRECT as usize + r) * 4, *b as u32);
            }
        }
        let data: u64 = list.iter().map(|e| e.len as u64).sum();
        let acl = u64::from(inode.file_acl() != 0);
        inode.set_fs_blocks(data + nodes.len() as u64 + acl, bs);
        Ok(())
    }
}

/// Appends logical block `lblk` at `pblk` to a sorted list, extending the last extent when
/// both are contiguous.
fn push_block(list: &mut Vec<Extent>, lblk: u64, pblk: u64) {
    if let Some(last) = list.last_mut()
        && last.end() == lblk
        && last.pblk + last.len as u64 == pblk
        && last.len < extent::MAX_LEN
    {
        last.len += 1;
        return;
    }
    list.push(Extent {
        lblk: lblk as u32,
        len: 1,
        pblk,
        uninit: false,
    });
}

//! Block and inode allocation over the group bitmaps: building the bitmap of a group that
//! is still BLOCK_UNINIT/INODE_UNINIT, keeping descriptor counters, flags, itable_unused and
//! bitmap checksums in step, and holding back blocks freed by the open transaction (they
//! may not be reused before it commits — see `fs`). Part of `impl Ext4`.

use crate::error::{Error, Result};
use crate::fs::BitmapKind;
use crate::fs::Ext4;
use crate::inode::{self, Inode};
use crate::superblock::gd;
use alloc::vec::Vec;
use blockdev::BlockDevice;

impl<D: BlockDevice> Ext4<D> {
    // ----- allocation -------------------------------------------------------------------

    pub(crate) fn is_freed(&self, blk: u64) -> bool {
        self.freed
            .range(..=blk)
            .next_back()
            .is_some_and(|(&s, &n)| blk < s + n)
    }

    /// The block bitmap of group `g`, built in memory if the group is still BLOCK_UNINIT.
    pub(crate) fn block_bitmap(&mut self, g: u32) -> Result<Vec<u8>> {
        let bs = self.sb.block_size;
        let d = self.desc(g).to_vec();
        if gd::flags(&d) & gd::BG_BLOCK_UNINIT != 0 {
            let mut bm = alloc::vec![0u8; bs];
            let first = self.sb.group_first_block(g);
            let n = self.sb.blocks_in_group(g) as u64;
            let mark = |blk: u64, bm: &mut Vec<u8>| {
                if blk >= first && blk < first + n {
                    let i = (blk - first) as usize;
                    bm[i / 8] |= 1 << (i % 8);
                }
            };
            if self.sb.has_super(g) {
                let reserved = crate::bytes::le16(&self.sb.raw, 0xCE) as u64;
                let meta = 1 + self.sb.gdt_blocks() + reserved;
                for b in first..first + meta {
                    mark(b, &mut bm);
                }
            }
            let itb =
                (self.sb.inodes_per_group as u64 * self.sb.inode_size as u64).div_ceil(bs as u64);
            for g2 in 0..self.sb.group_count {
                let d2 = self.desc(g2);
                let (bb, ib, it) = (
                    gd::block_bitmap(&self.sb, d2),
                    gd::inode_bitmap(&self.sb, d2),
                    gd::inode_table(&self.sb, d2),
                );
                mark(bb, &mut bm);
                mark(ib, &mut bm);
                for b in it..it + itb {
                    mark(b, &mut bm);
                }
            }
            for i in n as usize..bs * 8 {
                bm[i / 8] |= 1 << (i % 8);
            }
            return Ok(bm);
        }
        let blk = gd::block_bitmap(&self.sb, &d);
        let in_txn = self.dirty.contains_key(&blk);
        let bm = self.read_meta(blk)?;
        if self.sb.csum && !in_txn {
            let len = self.sb.blocks_per_group as usize / 8;
            let c = crate::crc32c::crc32c(self.sb.csum_seed, &bm[..len]);
            let want = gd::block_bitmap_csum(&self.sb, &d);
            let ok = if self.sb.desc_size >= 64 {
                c == want
            } else {
                c as u16 as u32 == want
            };
            if !ok {
                return Err(Error::BadChecksum("block bitmap"));
            }
        }
        Ok(bm)
    }

    /// Puts group `g`'s edited block bitmap into the transaction. Its checksum in the
    /// descriptor is computed once at commit ([`Self::seal_bitmaps`]), not on every
    /// allocation: a sequential write allocates once per call.
    pub(crate) fn store_block_bitmap(&mut self, g: u32, bm: Vec<u8>) {
        let blk = gd::block_bitmap(&self.sb, self.desc(g));
        self.edit_desc(g, |_, d| {
            let f = gd::flags(d) & !gd::BG_BLOCK_UNINIT;
            gd::set_flags(d, f);
        });
        self.write_meta(blk, bm);
        if self.sb.csum {
            self.stale_bitmap_csums.insert((g, BitmapKind::Block));
        }
    }

    /// Allocates up to `max` contiguous blocks near `goal`; returns (first block, count).
    pub(crate) fn alloc_blocks(&mut self, goal: u64, max: u32) -> Result<(u64, u32)> {
        let groups = self.sb.group_count;
        let goal = if goal < self.sb.first_data_block || goal >= self.sb.blocks_count {
            self.sb.first_data_block
        } else {
            goal
        };
        let goal_group =
            ((goal - self.sb.first_data_block) / self.sb.blocks_per_group as u64) as u32;
        for k in 0..=groups {
            let g = (goal_group + k) % groups;
            if gd::free_blocks(&self.sb, self.desc(g)) == 0 {
                continue;
            }
            let first = self.sb.group_first_block(g);
            let n = self.sb.blocks_in_group(g) as usize;
            let mut bm = self.block_bitmap(g)?;
            let start = if k == 0 { (goal - first) as usize } else { 0 };
            let free_at = |bm: &[u8], i: usize, this: &Self| {
                bm[i / 8] & (1 << (i % 8)) == 0 && !this.is_freed(first + i as u64)
            };
            let mut found = None;
            let mut i = start;
            // k == groups revisits the goal group from its start (the part before `goal`).
            let limit = if k == groups {
                (goal - first) as usize
            } else {
                n
            };
            let i_start = if k == groups { 0 } else { i };
            i = i_start;
            while i < limit {
                if i % 8 == 0 && bm[i / 8] == 0xFF {
                    i += 8;
                    continue;
                }
                if free_at(&bm, i, self) {
                    found = Some(i);
                    break;
                }
                i += 1;
            }
            let Some(s) = found else { continue };
            let mut len = 0usize;
            while s + len < n && len < max as usize && free_at(&bm, s + len, self) {
                bm[(s + len) / 8] |= 1 << ((s + len) % 8);
                len += 1;
            }
            self.store_block_bitmap(g, bm);
            self.edit_desc(g, |sb, d| {
                let f = gd::free_blocks(sb, d).saturating_sub(len as u32);
                gd::set_free_blocks(sb, d, f);
            });
            let total = self.sb.free_blocks().saturating_sub(len as u64);
            self.sb.set_free_blocks(total);
            return Ok((first + s as u64, len as u32));
        }
        Err(Error::NoSpace)
    }

    /// Frees `count` blocks from `start` (they stay unusable until the next commit).
    pub(crate) fn free_blocks(&mut self, start: u64, count: u64) -> Result<()> {
        let mut blk = start;
        let end = start
            .checked_add(count)
            .ok_or(Error::Corrupt("block range overflow"))?;
        if start < self.sb.first_data_block || end > self.sb.blocks_count {
            return Err(Error::Corrupt("freeing blocks outside the filesystem"));
        }
        while blk < end {
            let g = ((blk - self.sb.first_data_block) / self.sb.blocks_per_group as u64) as u32;
            let first = self.sb.group_first_block(g);
            let gend = (first + self.sb.blocks_in_group(g) as u64).min(end);
            let mut bm = self.block_bitmap(g)?;
            let mut n = 0u32;
            for b in blk..gend {
                let i = (b - first) as usize;
                if bm[i / 8] & (1 << (i % 8)) != 0 {
                    bm[i / 8] &= !(1 << (i % 8));
                    n += 1;
                }
            }
            self.forget_cached(blk, gend - blk);
            self.store_block_bitmap(g, bm);
            self.edit_desc(g, |sb, d| {
                let f = gd::free_blocks(sb, d) + n;
                gd::set_free_blocks(sb, d, f);
            });
            let total = self.sb.free_blocks() + n as u64;
            self.sb.set_free_blocks(total);
            blk = gend;
        }
        self.freed.insert(start, count);
        Ok(())
    }

    pub(crate) fn inode_bitmap(&mut self, g: u32) -> Result<Vec<u8>> {
        let bs = self.sb.block_size;
        let ipg = self.sb.inodes_per_group as usize;
        let d = self.desc(g).to_vec();
        if gd::flags(&d) & gd::BG_INODE_UNINIT != 0 {
            let mut bm = alloc::vec![0u8; bs];
            for i in ipg..bs * 8 {
                bm[i / 8] |= 1 << (i % 8);
            }
            return Ok(bm);
        }
        let blk = gd::inode_bitmap(&self.sb, &d);
        let in_txn = self.dirty.contains_key(&blk);
        let bm = self.read_meta(blk)?;
        if self.sb.csum && !in_txn {
            let c = crate::crc32c::crc32c(self.sb.csum_seed, &bm[..ipg / 8]);
            let want = gd::inode_bitmap_csum(&self.sb, &d);
            let ok = if self.sb.desc_size >= 64 {
                c == want
            } else {
                c as u16 as u32 == want
            };
            if !ok {
                return Err(Error::BadChecksum("inode bitmap"));
            }
        }
        Ok(bm)
    }

    /// Puts group `g`'s edited inode bitmap into the transaction (checksum at commit, as
    /// for block bitmaps).
    pub(crate) fn store_inode_bitmap(&mut self, g: u32, bm: Vec<u8>) {
        let blk = gd::inode_bitmap(&self.sb, self.desc(g));
        self.edit_desc(g, |_, d| {
            let f = gd::flags(d) & !gd::BG_INODE_UNINIT;
            gd::set_flags(d, f);
        });
        self.write_meta(blk, bm);
        if self.sb.csum {
            self.stale_bitmap_csums.insert((g, BitmapKind::Inode));
        }
    }

    /// Writes the checksums of the bitmaps stored since the last commit into their group
    /// descriptors. Those bitmaps are all in the transaction, so none is read from disk.
    pub(crate) fn seal_bitmaps(&mut self) -> Result<()> {
        for (g, kind) in core::mem::take(&mut self.stale_bitmap_csums) {
            let d = self.desc(g);
            let (blk, len) = match kind {
                BitmapKind::Block => (
                    gd::block_bitmap(&self.sb, d),
                    self.sb.blocks_per_group as usize / 8,
                ),
                BitmapKind::Inode => (
                    gd::inode_bitmap(&self.sb, d),
                    self.sb.inodes_per_group as usize / 8,
                ),
            };
            let seed = self.sb.csum_seed;
            let c = self.with_meta(blk, |bm| {
                bm.get(..len).map(|b| crate::crc32c::crc32c(seed, b))
            })?;
            let c = c.ok_or(Error::Corrupt("bitmap longer than a block"))?;
            self.edit_desc(g, |sb, d| match kind {
                BitmapKind::Block => gd::set_block_bitmap_csum(sb, d, c),
                BitmapKind::Inode => gd::set_inode_bitmap_csum(sb, d, c),
            });
        }
        Ok(())
    }

    pub(crate) fn alloc_inode(&mut self, goal_group: u32, is_dir: bool) -> Result<u32> {
        let groups = self.sb.group_count;
        let ipg = self.sb.inodes_per_group;
        for k in 0..groups {
            let g = (goal_group + k) % groups;
            if gd::free_inodes(&self.sb, self.desc(g)) == 0 {
                continue;
            }
            let mut bm = self.inode_bitmap(g)?;
            let lowest = if g == 0 { self.sb.first_ino - 1 } else { 0 };
            let Some(i) = (lowest..ipg).find(|&i| bm[i as usize / 8] & (1 << (i % 8)) == 0) else {
                continue;
            };
            bm[i as usize / 8] |= 1 << (i % 8);
            self.store_inode_bitmap(g, bm);
            self.edit_desc(g, |sb, d| {
                let f = gd::free_inodes(sb, d).saturating_sub(1);
                gd::set_free_inodes(sb, d, f);
                if is_dir {
                    let u = gd::used_dirs(sb, d) + 1;
                    gd::set_used_dirs(sb, d, u);
                }
                let unused = gd::itable_unused(sb, d);
                if i >= ipg - unused.min(ipg) {
                    gd::set_itable_unused(sb, d, ipg - i - 1);
                }
            });
            let f = self.sb.free_inodes().saturating_sub(1);
            self.sb.set_free_inodes(f);
            return Ok(g * ipg + i + 1);
        }
        Err(Error::NoSpace)
    }

    pub(crate) fn free_inode(&mut self, ino: u32, is_dir: bool) -> Result<()> {
        let g = (ino - 1) / self.sb.inodes_per_group;
        let i = ((ino - 1) % self.sb.inodes_per_group) as usize;
        let mut bm = self.inode_bitmap(g)?;
        if bm[i / 8] & (1 << (i % 8)) == 0 {
            return Err(Error::Corrupt("freeing an inode that is not in use"));
        }
        bm[i / 8] &= !(1 << (i % 8));
        self.store_inode_bitmap(g, bm);
        self.edit_desc(g, |sb, d| {
            let f = gd::free_inodes(sb, d) + 1;
            gd::set_free_inodes(sb, d, f);
            if is_dir {
                let u = gd::used_dirs(sb, d).saturating_sub(1);
                gd::set_used_dirs(sb, d, u);
            }
        });
        let f = self.sb.free_inodes() + 1;
        self.sb.set_free_inodes(f);
        Ok(())
    }

    pub(crate) fn new_inode(&mut self, near: u32, mode: u16) -> Result<Inode> {
        let is_dir = mode & inode::S_IFMT == inode::S_IFDIR;
        let goal = (near.max(1) - 1) / self.sb.inodes_per_group;
        let ino = self.alloc_inode(goal, is_dir)?;
        self.next_generation = self
            .next_generation
            .wrapping_mul(1_103_515_245)
            .wrapping_add(12345);
        let extra = self.sb.want_extra_isize.max(32);
        // Without the extent feature (ext2, ext3) new files are block-mapped.
        let extents = self.sb.incompat & crate::superblock::INCOMPAT_EXTENTS != 0;
        Ok(Inode::new(
            ino,
            self.sb.inode_size,
            mode,
            self.now,
            extra,
            self.next_generation,
            extents,
        ))
    }
}

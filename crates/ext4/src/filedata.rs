//! File contents: loading and rewriting extent trees (block maps are read and written into
//! the same flat extent list by `blockmap`), reading (holes and unwritten extents read as
//! zeros), writing with block allocation in long contiguous runs, truncation and freeing an
//! inode's blocks. Data blocks go straight to the device (ordered mode), one transfer per
//! contiguous run; only the tree and inode go through the transaction. Writing into an
//! unwritten (preallocated) extent converts just the blocks written, splitting the extent.
//! Part of `impl Ext4`.

use crate::error::{Error, Result};
use crate::extent::{self, Extent, Node};
use crate::fs::Ext4;
use crate::inode::{self, Inode};
use alloc::vec::Vec;
use blockdev::BlockDevice;

impl<D: BlockDevice> Ext4<D> {
    // ----- extent trees -----------------------------------------------------------------

    /// The file's extents (sorted) and the tree blocks holding them (extent tree blocks,
    /// or the indirect blocks of a block map).
    pub(crate) fn load_extents(&mut self, inode: &Inode) -> Result<(Vec<Extent>, Vec<u64>)> {
        let flags = inode.flags();
        if flags & inode::EXT4_INLINE_DATA_FL != 0 {
            return Err(Error::UnsupportedInode("inline data"));
        }
        if flags & inode::EXT4_EXTENTS_FL == 0 {
            if !inode.has_block_map() || inode.i_block().iter().all(|&b| b == 0) {
                return Ok((Vec::new(), Vec::new()));
            }
            return self.load_blockmap(inode);
        }
        let seed = inode.csum_seed(self.sb.csum_seed);
        let mut list = Vec::new();
        let mut tree = Vec::new();
        let (depth, node) = extent::decode(inode.i_block())?;
        let mut stack: Vec<(u16, Node)> = alloc::vec![(depth, node)];
        while let Some((depth, node)) = stack.pop() {
            match node {
                Node::Leaf(mut v) => {
                    list.append(&mut v);
                    // Every extent maps at least one block of the filesystem.
                    if list.len() as u64 > self.sb.blocks_count {
                        return Err(Error::Corrupt("more extents than filesystem blocks"));
                    }
                }
                Node::Index(children) => {
                    for (_, child) in children.into_iter().rev() {
                        if tree.len() as u64 >= self.sb.blocks_count {
                            return Err(Error::Corrupt("extent tree too large"));
                        }
                        let b = self.read_meta(child)?;
                        if self.sb.csum && !self.is_verified(child, seed) {
                            if !extent::verify_block(&b, seed) {
                                return Err(Error::BadChecksum("extent block"));
                            }
                            self.mark_verified(child, seed);
                        }
                        let (d, n) = extent::decode(&b)?;
                        if d + 1 != depth {
                            return Err(Error::Corrupt("extent tree depth mismatch"));
                        }
                        tree.push(child);
                        stack.push((d, n));
                    }
                }
            }
        }
        extent::validate(&list, self.sb.blocks_count)?;
        Ok((list, tree))
    }

    /// Writes `list` back as the inode's tree, reusing `old_tree` blocks, and sets i_blocks.
    /// A block-mapped inode keeps its layout (its old indirect blocks are found by position,
    /// not from `old_tree`).
    pub(crate) fn store_extents(
        &mut self,
        inode: &mut Inode,
        list: &[Extent],
        old_tree: Vec<u64>,
    ) -> Result<()> {
        if inode.flags() & inode::EXT4_EXTENTS_FL == 0 {
            return self.store_blockmap(inode, list);
        }
        let bs = self.sb.block_size;
        let seed = inode.csum_seed(self.sb.csum_seed);
        // Count the tree blocks first and allocate them all before writing anything, so a
        // full disk leaves the old tree untouched.
        let cap = extent::block_capacity(bs);
        let mut needed = 0usize;
        if list.len() > 4 {
            let mut nodes = list.len().div_ceil(cap);
            needed += nodes;
            while nodes > 4 {
                nodes = nodes.div_ceil(cap);
                needed += nodes;
            }
        }
        let mut blocks = old_tree;
        let mut fresh: Vec<u64> = Vec::new();
        let goal = list.first().map(|e| e.pblk).unwrap_or(0);
        while blocks.len() + fresh.len() < needed {
            match self.alloc_blocks(goal, 1) {
                Ok((b, _)) => fresh.push(b),
                Err(e) => {
                    for b in fresh {
                        self.free_blocks(b, 1)?;
                    }
                    return Err(e);
                }
            }
        }
        blocks.extend(fresh);
        let mut used_tree = 0u64;
        if list.len() <= 4 {
            extent::encode_leaf(inode.i_block_mut(), 4, list);
        } else {
            let mut level: Vec<(u32, u64)> = Vec::new();
            for chunk in list.chunks(cap) {
                let blk = blocks
                    .pop()
                    .ok_or(Error::Corrupt("extent tree block count"))?;
                let mut buf = alloc::vec![0u8; bs];
                extent::encode_leaf(&mut buf, cap, chunk);
                extent::seal_block(&mut buf, seed);
                self.write_meta(blk, buf);
                used_tree += 1;
                level.push((chunk[0].lblk, blk));
            }
            let mut depth = 1u16;
            while level.len() > 4 {
                let mut next = Vec::new();
                for chunk in level.chunks(cap) {
                    let blk = blocks
                        .pop()
                        .ok_or(Error::Corrupt("extent tree block count"))?;
                    let mut buf = alloc::vec![0u8; bs];
                    extent::encode_index(&mut buf, cap, depth, chunk);
                    extent::seal_block(&mut buf, seed);
                    self.write_meta(blk, buf);
                    used_tree += 1;
                    next.push((chunk[0].0, blk));
                }
                level = next;
                depth += 1;
            }
            extent::encode_index(inode.i_block_mut(), 4, depth, &level);
        }
        for b in blocks {
            self.free_blocks(b, 1)?;
        }
        let data: u64 = list.iter().map(|e| e.len as u64).sum();
        let acl = u64::from(inode.file_acl() != 0);
        inode.set_fs_blocks(data + used_tree + acl, bs);
        Ok(())
    }

    /// The most logical blocks `inode`'s layout can address.
    pub(crate) fn max_blocks(&self, inode: &Inode) -> u64 {
        if inode.flags() & inode::EXT4_EXTENTS_FL != 0 {
            1 << 32
        } else {
            self.blockmap_limit()
        }
    }

    /// Empties the block map or extent root of an inode being freed.
    pub(crate) fn clear_map(&self, inode: &mut Inode) {
        if inode.flags() & inode::EXT4_EXTENTS_FL != 0 {
            extent::init_root(inode.i_block_mut());
        } else {
            inode.i_block_mut().fill(0);
        }
    }

    // ----- file data --------------------------------------------------------------------

    pub(crate) fn read_data(
        &mut self,
        inode: &Inode,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        let size = inode.size();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let n = (buf.len() as u64).min(size - offset) as usize;
        let (list, _) = self.load_extents(inode)?;
        let bs = self.sb.block_size as u64;
        let mut done = 0usize;
        let mut scratch = Vec::new();
        while done < n {
            let pos = offset + done as u64;
            let lblk = u32::try_from(pos / bs).map_err(|_| Error::FileTooLarge)?;
            let in_block = (pos % bs) as usize;
            match extent::find(&list, lblk) {
                Some(e) if !e.uninit => {
                    let run_blocks = e.end() - lblk as u64;
                    let pblk = e.pblk + (lblk - e.lblk) as u64;
                    let avail = (run_blocks * bs) as usize - in_block;
                    let want = avail.min(n - done);
                    if in_block == 0 && want >= bs as usize {
                        let whole = want / bs as usize * bs as usize;
                        self.dev_read(pblk, &mut buf[done..done + whole])?;
                        done += whole;
                    } else {
                        scratch.resize(bs as usize, 0);
                        self.dev_read(pblk, &mut scratch)?;
                        let take = (bs as usize - in_block).min(n - done);
                        buf[done..done + take].copy_from_slice(&scratch[in_block..in_block + take]);
                        done += take;
                    }
                }
                other => {
                    // A hole (or unwritten extent) reads as zeros up to the next mapping.
                    let hole_end = match other {
                        Some(e) => e.end() * bs,
                        None => {
                            let i = list.partition_point(|e| e.lblk <= lblk);
                            list.get(i).map(|e| e.lblk as u64 * bs).unwrap_or(u64::MAX)
                        }
                    };
                    let take = ((hole_end - pos) as usize).min(n - done);
                    buf[done..done + take].fill(0);
                    done += take;
                }
            }
        }
        Ok(n)
    }

    /// Reads block `pblk`, overlays `data` at `at`, writes it back.
    pub(crate) fn patch_block(
        &mut self,
        pblk: u64,
        at: usize,
        data: &[u8],
        existing: bool,
    ) -> Result<()> {
        let mut b = alloc::vec![0u8; self.sb.block_size];
        if existing {
            self.dev_read(pblk, &mut b)?;
        }
        b[at..at + data.len()].copy_from_slice(data);
        self.dev_write(pblk, &b)
    }

    pub(crate) fn write_data(&mut self, inode: &mut Inode, offset: u64, data: &[u8]) -> Result<()> {
        let bs = self.sb.block_size as u64;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(Error::FileTooLarge)?;
        if end > self.max_blocks(inode) * bs {
            return Err(Error::FileTooLarge);
        }
        let old_size = inode.size();
        if offset > old_size {
            self.zero_tail(inode, old_size)?;
        }
        if data.is_empty() {
            return Ok(());
        }
        let (mut list, tree) = self.load_extents(inode)?;
        let mut new_runs: Vec<(u64, u64)> = Vec::new();
        let mut written_end = offset;
        let result = self.write_runs(
            inode,
            &mut list,
            &mut new_runs,
            &mut written_end,
            offset,
            data,
            old_size,
        );
        if written_end == offset && result.is_err() {
            // Nothing landed: give back what was allocated and leave the inode untouched.
            for (p, n) in new_runs {
                self.free_blocks(p, n)?;
            }
            return result;
        }
        if let Err(e) = self.store_extents(inode, &list, tree) {
            for (p, n) in new_runs {
                self.free_blocks(p, n)?;
            }
            return Err(e);
        }
        if written_end > old_size {
            inode.set_size(written_end);
        }
        inode.touch(self.now);
        self.write_inode(inode)?;
        result
    }

    /// The block-mapping and data-writing loop of [`Self::write_data`]. Records newly
    /// allocated runs and how far data was written, so a failure part-way (a full disk)
    /// leaves metadata that describes exactly what is on disk.
    #[allow(
        clippy::too_many_arguments,
        reason = "internal helper sharing write_data's state"
    )]
    pub(crate) fn write_runs(
        &mut self,
        inode: &Inode,
        list: &mut Vec<Extent>,
        new_runs: &mut Vec<(u64, u64)>,
        written_end: &mut u64,
        offset: u64,
        data: &[u8],
        old_size: u64,
    ) -> Result<()> {
        let bs = self.sb.block_size as u64;
        let end = offset + data.len() as u64;
        let first = offset / bs;
        let last = (end - 1) / bs;
        let mut lblk = first;
        while lblk <= last {
            let l32 = lblk as u32;
            // `unwritten`: the run lies in this unwritten extent and becomes written once the
            // data is on disk.
            let (pblk, run, existing, unwritten) = match extent::find(list, l32).copied() {
                Some(e) => {
                    let run = (e.end().min(last + 1)) - lblk;
                    // An unwritten extent's blocks hold garbage: partly written blocks are
                    // zero-filled around the data instead of read back (`existing` false).
                    let unwritten = e.uninit.then_some(e);
                    (e.pblk + (l32 - e.lblk) as u64, run, !e.uninit, unwritten)
                }
                None => {
                    let i = list.partition_point(|e| e.lblk < l32);
                    let next = list.get(i).map(|e| e.lblk as u64).unwrap_or(u64::MAX);
                    let want = (next.min(last + 1) - lblk).min(extent::MAX_LEN as u64) as u32;
                    let goal = match i.checked_sub(1).and_then(|k| list.get(k)) {
                        Some(p) => p.pblk + p.len as u64 + (l32 - p.lblk - p.len) as u64,
                        None => {
                            let g = (inode.ino - 1) / self.sb.inodes_per_group;
                            self.sb.group_first_block(g)
                        }
                    };
                    let (p, got) = self.alloc_blocks(goal, want)?;
                    self.forget_cached(p, got as u64);
                    new_runs.push((p, got as u64));
                    list.push(Extent {
                        lblk: l32,
                        len: got,
                        pblk: p,
                        uninit: false,
                    });
                    extent::normalize(list);
                    (p, got as u64, false, None)
                }
            };
            // Bytes of `data` that fall in blocks [lblk, lblk + run).
            let run_start = lblk * bs;
            let run_end = (lblk + run) * bs;
            let ws = offset.max(run_start);
            let we = end.min(run_end);
            let mut pos = ws;
            while pos < we {
                let blk_i = (pos - run_start) / bs;
                let in_block = (pos % bs) as usize;
                let src = (pos - offset) as usize;
                if in_block == 0 && we - pos >= bs {
                    let whole = ((we - pos) / bs) * bs;
                    self.dev_write(pblk + blk_i, &data[src..src + whole as usize])?;
                    pos += whole;
                } else {
                    let take = ((bs as usize - in_block) as u64).min(we - pos) as usize;
                    let keep_old = existing && (pos - in_block as u64) < old_size;
                    self.patch_block(pblk + blk_i, in_block, &data[src..src + take], keep_old)?;
                    pos += take as u64;
                }
            }
            if let Some(e) = unwritten {
                extent::mark_written(list, e, lblk as u32, run as u32);
            }
            *written_end = we;
            lblk += run;
        }
        Ok(())
    }

    /// Zeroes the bytes after `size` in the block that holds it, so a later extension of
    /// the file reads zeros there.
    pub(crate) fn zero_tail(&mut self, inode: &Inode, size: u64) -> Result<()> {
        let bs = self.sb.block_size as u64;
        let in_block = (size % bs) as usize;
        if in_block == 0 {
            return Ok(());
        }
        let (list, _) = self.load_extents(inode)?;
        let lblk = u32::try_from(size / bs).map_err(|_| Error::FileTooLarge)?;
        if let Some(e) = extent::find(&list, lblk).filter(|e| !e.uninit) {
            let pblk = e.pblk + (lblk - e.lblk) as u64;
            let zeros = alloc::vec![0u8; bs as usize - in_block];
            self.patch_block(pblk, in_block, &zeros, true)?;
        }
        Ok(())
    }

    pub(crate) fn truncate_inode(&mut self, inode: &mut Inode, size: u64) -> Result<()> {
        let bs = self.sb.block_size as u64;
        let old = inode.size();
        if size > self.max_blocks(inode) * bs {
            return Err(Error::FileTooLarge);
        }
        if size < old {
            let (mut list, tree) = self.load_extents(inode)?;
            let keep = u32::try_from(size.div_ceil(bs)).map_err(|_| Error::FileTooLarge)?;
            let freed = extent::cut_from(&mut list, keep);
            for (s, n) in freed {
                self.free_blocks(s, n)?;
            }
            self.store_extents(inode, &list, tree)?;
        } else if size > old {
            self.zero_tail(inode, old)?;
        } else {
            // Same size: nothing changes, so the times stay (as in Linux).
            return Ok(());
        }
        inode.set_size(size);
        inode.touch(self.now);
        self.write_inode(inode)
    }

    /// Drops one link; frees the inode and its blocks when none remain.
    pub(crate) fn drop_link(&mut self, ino: u32) -> Result<()> {
        let mut node = self.read_inode(ino)?;
        let is_dir = node.is_dir();
        let links = node.links();
        let remaining = if is_dir { 0 } else { links.saturating_sub(1) };
        if remaining > 0 {
            // A link count change is an inode change: ctime only.
            node.set_links(remaining);
            node.set_time(inode::Stamp::Change, self.now);
            return self.write_inode(&mut node);
        }
        let (list, tree) = self.load_extents(&node)?;
        for e in &list {
            self.free_blocks(e.pblk, e.len as u64)?;
        }
        for b in tree {
            self.free_blocks(b, 1)?;
        }
        let acl = node.file_acl();
        if acl != 0 {
            self.release_xattr_block(acl)?;
        }
        self.clear_map(&mut node);
        node.set_size(0);
        node.set_links(0);
        node.set_fs_blocks(0, self.sb.block_size);
        node.set_dtime(self.now);
        self.write_inode(&mut node)?;
        self.free_inode(ino, is_dir)
    }

    /// Drops one reference to an extended-attribute block, freeing it at zero.
    pub(crate) fn release_xattr_block(&mut self, blk: u64) -> Result<()> {
        let mut b = self.read_meta(blk)?;
        if crate::bytes::le32(&b, 0) != 0xEA02_0000 {
            return Err(Error::Corrupt("bad xattr block magic"));
        }
        let refs = crate::bytes::le32(&b, 4);
        if refs <= 1 {
            return self.free_blocks(blk, 1);
        }
        crate::bytes::set_le32(&mut b, 4, refs - 1);
        if self.sb.csum {
            crate::bytes::set_le32(&mut b, 0x10, 0);
            let c = crate::crc32c::crc32c(self.sb.csum_seed, &blk.to_le_bytes());
            let c = crate::crc32c::crc32c(c, &b);
            crate::bytes::set_le32(&mut b, 0x10, c);
        }
        self.write_meta(blk, b);
        Ok(())
    }
}

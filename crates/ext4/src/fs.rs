//! [`Ext4`]: a mounted filesystem over a [`BlockDevice`] — mount (with journal replay), path
//! lookup, reading, and journaled writes.
//!
//! How writes stay crash-safe: metadata blocks (bitmaps, descriptors, superblock, inode
//! tables, directory and extent blocks) are only changed in memory (`dirty`) until
//! [`Ext4::sync`] commits them as one jbd2 transaction, then writes them home (checkpoint)
//! and marks the journal empty. File data goes straight to its blocks *before* the commit
//! (ordered mode). Blocks freed in a transaction are not reused until it has committed, so
//! data written for new files never lands on blocks the committed state still uses; that
//! is what makes write-new-then-rename atomic across a crash.
//!
//! Neighbours: `superblock` (geometry, descriptors), `inode`, `extent`, `dir`, `journal`.

use crate::dir;
use crate::error::{Error, Result};
use crate::extent::{self, Extent, Node};
use crate::inode::{self, Inode};
use crate::journal::JournalSb;
use crate::superblock::{self as sbm, Superblock, gd};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use blockdev::BlockDevice;

/// Clean metadata blocks kept in memory (dirty ones are bounded by the journal size).
const CACHE_LIMIT: usize = 4096;
/// Longest path walk or `..` chain accepted before declaring a directory loop.
const MAX_WALK: usize = 4096;

/// What kind of object an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// `stat` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub ino: u32,
    pub kind: FileKind,
    pub mode: u16,
    pub size: u64,
    pub links: u16,
    pub mtime: u32,
}

/// One directory entry (without `.` and `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    pub name: Vec<u8>,
    pub ino: u32,
    pub kind: FileKind,
}

/// Filesystem-wide figures (`df`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsStats {
    pub block_size: usize,
    pub blocks: u64,
    pub free_blocks: u64,
    pub inodes: u32,
    pub free_inodes: u32,
}

struct Journal {
    sb: JournalSb,
    map: Vec<Extent>,
}

/// A mounted ext4 filesystem.
pub struct Ext4<D: BlockDevice> {
    dev: D,
    sb: Superblock,
    gdt: Vec<u8>,
    gdt_dirty: BTreeSet<u64>,
    sb_dirty: bool,
    cache: BTreeMap<u64, Vec<u8>>,
    dirty: BTreeMap<u64, Vec<u8>>,
    /// Block ranges (start -> count) freed by the open transaction: not reusable until commit.
    freed: BTreeMap<u64, u64>,
    journal: Option<Journal>,
    writable: bool,
    now: u32,
    next_generation: u32,
    dev_per_block: u64,
}

fn kind_of(mode: u16) -> FileKind {
    match mode & inode::S_IFMT {
        inode::S_IFREG => FileKind::File,
        inode::S_IFDIR => FileKind::Directory,
        inode::S_IFLNK => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn kind_of_ft(ft: u8) -> FileKind {
    match ft {
        dir::FT_REG => FileKind::File,
        dir::FT_DIR => FileKind::Directory,
        7 => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

fn valid_name(name: &[u8]) -> Result<()> {
    if name.is_empty()
        || name.len() > 255
        || name.contains(&b'/')
        || name.contains(&0)
        || name == b"."
        || name == b".."
    {
        return Err(Error::InvalidName);
    }
    Ok(())
}

/// Splits an absolute path into components (empty components and `.` are dropped).
fn components(path: &str) -> Result<Vec<&[u8]>> {
    if !path.starts_with('/') {
        return Err(Error::InvalidPath);
    }
    let parts: Vec<&[u8]> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(|c| c.as_bytes())
        .collect();
    if parts.len() > MAX_WALK {
        return Err(Error::InvalidPath);
    }
    Ok(parts)
}

impl<D: BlockDevice> Ext4<D> {
    /// Mounts read-write, replaying a dirty journal first. Fails if the image has features
    /// that this crate cannot keep consistent when writing.
    pub fn mount(dev: D) -> Result<Self> {
        Self::open(dev, true)
    }

    /// Mounts read-only; a dirty journal is replayed in memory only (the device is untouched).
    pub fn mount_read_only(dev: D) -> Result<Self> {
        Self::open(dev, false)
    }

    fn open(mut dev: D, writable: bool) -> Result<Self> {
        let dbs = dev.block_size();
        if dbs == 0 || dbs > 65536 || !dbs.is_power_of_two() {
            return Err(Error::BadSuperblock("device block size unusable"));
        }
        let first_lba = 1024 / dbs as u64;
        let span = 2048usize.div_ceil(dbs) * dbs - first_lba as usize * dbs;
        let mut head = alloc::vec![0u8; span];
        dev.read_blocks(first_lba, &mut head)?;
        let off = 1024 - first_lba as usize * dbs;
        let sb = Superblock::parse(&head[off..off + 1024])?;
        if sb.block_size < dbs {
            return Err(Error::BadSuperblock(
                "filesystem block smaller than device block",
            ));
        }
        let dev_per_block = (sb.block_size / dbs) as u64;
        if sb.blocks_count.saturating_mul(dev_per_block) > dev.num_blocks() {
            return Err(Error::BadSuperblock(
                "filesystem larger than the device (truncated image?)",
            ));
        }
        if writable {
            let ro = sb.ro_compat & !sbm::RO_COMPAT_WRITABLE;
            if ro != 0 {
                return Err(Error::UnsupportedFeature {
                    which: "ro_compat (for writing)",
                    bits: ro,
                });
            }
        }
        let mut fs = Ext4 {
            dev,
            sb,
            gdt: Vec::new(),
            gdt_dirty: BTreeSet::new(),
            sb_dirty: false,
            cache: BTreeMap::new(),
            dirty: BTreeMap::new(),
            freed: BTreeMap::new(),
            journal: None,
            writable,
            now: 0,
            next_generation: 0,
            dev_per_block,
        };
        fs.now = fs.sb.write_time();
        fs.next_generation = fs.now ^ 0x5EED_0000;
        fs.load_gdt()?;
        if fs.sb.compat & sbm::COMPAT_HAS_JOURNAL != 0 {
            if fs.sb.journal_inum == 0 {
                // External journals live on another device; nothing here can replay them.
                if writable {
                    return Err(Error::UnsupportedFeature {
                        which: "external journal",
                        bits: 0,
                    });
                }
            } else {
                fs.open_journal()?;
            }
        } else if writable && fs.sb.incompat & sbm::INCOMPAT_RECOVER != 0 {
            return Err(Error::Journal("recovery flag set but no journal"));
        }
        Ok(fs)
    }

    fn load_gdt(&mut self) -> Result<()> {
        let bs = self.sb.block_size;
        let n = self.sb.gdt_blocks();
        let mut gdt = alloc::vec![0u8; n as usize * bs];
        let start = self.sb.first_data_block + 1;
        if start + n > self.sb.blocks_count {
            return Err(Error::BadSuperblock("group descriptors past the end"));
        }
        for i in 0..n {
            let b = self.read_meta(start + i)?;
            gdt[i as usize * bs..(i as usize + 1) * bs].copy_from_slice(&b);
        }
        gdt.truncate(self.sb.group_count as usize * self.sb.desc_size);
        self.gdt = gdt;
        let itable_blocks =
            (self.sb.inodes_per_group as u64 * self.sb.inode_size as u64).div_ceil(bs as u64);
        for g in 0..self.sb.group_count {
            let d = self.desc(g);
            if !gd::verify(&self.sb, g, d) {
                return Err(Error::BadChecksum("group descriptor"));
            }
            let (bb, ib, it) = (
                gd::block_bitmap(&self.sb, d),
                gd::inode_bitmap(&self.sb, d),
                gd::inode_table(&self.sb, d),
            );
            let n = self.sb.blocks_count;
            if bb == 0
                || bb >= n
                || ib == 0
                || ib >= n
                || it == 0
                || it.saturating_add(itable_blocks) > n
            {
                return Err(Error::Corrupt(
                    "group descriptor points outside the filesystem",
                ));
            }
        }
        Ok(())
    }

    fn open_journal(&mut self) -> Result<()> {
        let ji = self.read_inode(self.sb.journal_inum)?;
        let (map, _) = self.load_extents(&ji)?;
        let j0 = extent::find(&map, 0).ok_or(Error::Journal("journal inode has no block 0"))?;
        let sbuf = self.read_meta(j0.pblk)?;
        let jsb = JournalSb::parse(&sbuf, self.sb.block_size)?;
        let mapped: u64 = map.iter().map(|e| e.len as u64).sum();
        if (jsb.maxlen as u64) > mapped {
            return Err(Error::Journal("journal longer than its inode"));
        }
        self.journal = Some(Journal { sb: jsb, map });
        self.replay()?;
        if self.writable {
            let (csum, is64) = (self.sb.csum, self.sb.is_64bit());
            if let Some(j) = self.journal.as_mut() {
                j.sb.configure_for_writing(csum, is64);
                let seq = j.sb.sequence;
                let block = j.sb.encode(0, seq);
                let p = self.jblock(0)?;
                self.dev_write(p, &block)?;
                self.dev.flush()?;
            }
        }
        Ok(())
    }

    fn jblock(&self, n: u32) -> Result<u64> {
        let j = self.journal.as_ref().ok_or(Error::Journal("no journal"))?;
        let e = extent::find(&j.map, n).ok_or(Error::Journal("journal block not mapped"))?;
        Ok(e.pblk + (n - e.lblk) as u64)
    }

    fn replay(&mut self) -> Result<()> {
        let Some(j) = self.journal.as_ref() else {
            return Ok(());
        };
        let jsb = j.sb.clone();
        if jsb.start == 0 {
            if self.writable && self.sb.incompat & sbm::INCOMPAT_RECOVER != 0 {
                self.sb.set_recover(false);
                self.write_sb_home(false)?;
                self.dev.flush()?;
            }
            return Ok(());
        }
        let bs = self.sb.block_size;
        let (blocks, next_seq) = jsb.scan(|n| {
            let p = self.jblock(n)?;
            let mut b = alloc::vec![0u8; bs];
            self.dev_read(p, &mut b)?;
            Ok(b)
        })?;
        for rb in &blocks {
            if rb.target >= self.sb.blocks_count {
                return Err(Error::Journal("replayed block outside the filesystem"));
            }
            let p = self.jblock(rb.journal_block)?;
            let mut b = alloc::vec![0u8; bs];
            self.dev_read(p, &mut b)?;
            if rb.escaped {
                JournalSb::unescape(&mut b);
            }
            if self.writable {
                self.dev_write(rb.target, &b)?;
            } else {
                self.cache.remove(&rb.target);
                self.dirty.insert(rb.target, b);
            }
        }
        // The replayed superblock and descriptors supersede what was read at mount.
        let (sblk, soff) = self.sb_location();
        let sbuf = self.read_meta(sblk)?;
        let mut sb = Superblock::parse(&sbuf[soff..soff + 1024])?;
        if sb.block_size != bs || sb.blocks_count != self.sb.blocks_count {
            return Err(Error::Journal("replayed superblock changes the geometry"));
        }
        self.cache.clear();
        if self.writable {
            self.dev.flush()?;
            if let Some(j) = self.journal.as_mut() {
                let block = j.sb.encode(0, next_seq);
                let p = self.jblock(0)?;
                self.dev_write(p, &block)?;
            }
            self.dev.flush()?;
            sb.set_recover(false);
            self.sb = sb;
            self.write_sb_home(false)?;
            self.dev.flush()?;
        } else {
            self.sb = sb;
        }
        self.load_gdt()
    }

    // ----- raw block access -------------------------------------------------------------

    fn dev_read(&mut self, blk: u64, buf: &mut [u8]) -> Result<()> {
        let n = (buf.len() / self.sb.block_size) as u64;
        if blk.checked_add(n).is_none_or(|e| e > self.sb.blocks_count) {
            return Err(Error::Corrupt("block number out of range"));
        }
        Ok(self.dev.read_blocks(blk * self.dev_per_block, buf)?)
    }

    fn dev_write(&mut self, blk: u64, buf: &[u8]) -> Result<()> {
        let n = (buf.len() / self.sb.block_size) as u64;
        if blk.checked_add(n).is_none_or(|e| e > self.sb.blocks_count) {
            return Err(Error::Corrupt("block number out of range"));
        }
        Ok(self.dev.write_blocks(blk * self.dev_per_block, buf)?)
    }

    /// A metadata block as the open transaction sees it.
    fn read_meta(&mut self, blk: u64) -> Result<Vec<u8>> {
        if let Some(b) = self.dirty.get(&blk) {
            return Ok(b.clone());
        }
        if let Some(b) = self.cache.get(&blk) {
            return Ok(b.clone());
        }
        let mut b = alloc::vec![0u8; self.sb.block_size];
        self.dev_read(blk, &mut b)?;
        if self.cache.len() >= CACHE_LIMIT
            && let Some(k) = self.cache.keys().next().copied()
        {
            self.cache.remove(&k);
        }
        self.cache.insert(blk, b.clone());
        Ok(b)
    }

    fn write_meta(&mut self, blk: u64, data: Vec<u8>) {
        self.cache.remove(&blk);
        self.dirty.insert(blk, data);
    }

    fn check_writable(&self) -> Result<()> {
        if self.writable {
            Ok(())
        } else {
            Err(Error::ReadOnly)
        }
    }

    // ----- superblock and descriptors ---------------------------------------------------

    fn sb_location(&self) -> (u64, usize) {
        let bs = self.sb.block_size as u64;
        (1024 / bs, (1024 % bs) as usize)
    }

    fn sb_block(&mut self, recover: bool) -> Result<(u64, Vec<u8>)> {
        let (blk, off) = self.sb_location();
        let mut b = self.read_meta(blk)?;
        let mut sb = self.sb.clone();
        sb.set_recover(recover);
        b[off..off + 1024].copy_from_slice(sb.finalize());
        Ok((blk, b))
    }

    fn write_sb_home(&mut self, recover: bool) -> Result<()> {
        let (blk, b) = self.sb_block(recover)?;
        self.dev_write(blk, &b)?;
        self.cache.insert(blk, b);
        Ok(())
    }

    fn desc(&self, g: u32) -> &[u8] {
        let ds = self.sb.desc_size;
        let o = g as usize * ds;
        self.gdt.get(o..o + ds).unwrap_or(&[])
    }

    /// Edits descriptor `g` and reseals it.
    fn edit_desc(&mut self, g: u32, f: impl FnOnce(&Superblock, &mut [u8])) {
        let ds = self.sb.desc_size;
        let o = g as usize * ds;
        if let Some(d) = self.gdt.get_mut(o..o + ds) {
            f(&self.sb, d);
            gd::seal(&self.sb, g, d);
        }
        self.gdt_dirty.insert(o as u64 / self.sb.block_size as u64);
        self.sb_dirty = true;
    }

    // ----- inodes -----------------------------------------------------------------------

    fn inode_location(&self, ino: u32) -> Result<(u64, usize)> {
        if ino == 0 || ino > self.sb.inodes_count {
            return Err(Error::Corrupt("inode number out of range"));
        }
        let g = (ino - 1) / self.sb.inodes_per_group;
        let idx = ((ino - 1) % self.sb.inodes_per_group) as u64;
        let byte = idx * self.sb.inode_size as u64;
        let table = gd::inode_table(&self.sb, self.desc(g));
        let bs = self.sb.block_size as u64;
        Ok((table + byte / bs, (byte % bs) as usize))
    }

    fn read_inode(&mut self, ino: u32) -> Result<Inode> {
        let (blk, off) = self.inode_location(ino)?;
        let b = self.read_meta(blk)?;
        let inode = Inode {
            ino,
            raw: b[off..off + self.sb.inode_size].to_vec(),
        };
        if self.sb.csum && !inode.verify_csum(self.sb.csum_seed) {
            return Err(Error::BadChecksum("inode"));
        }
        Ok(inode)
    }

    fn write_inode(&mut self, inode: &mut Inode) -> Result<()> {
        if self.sb.csum {
            inode.seal(self.sb.csum_seed);
        }
        let (blk, off) = self.inode_location(inode.ino)?;
        let mut b = self.read_meta(blk)?;
        b[off..off + self.sb.inode_size].copy_from_slice(&inode.raw);
        self.write_meta(blk, b);
        Ok(())
    }

    // ----- extent trees -----------------------------------------------------------------

    /// The file's extents (sorted) and the tree blocks holding them.
    fn load_extents(&mut self, inode: &Inode) -> Result<(Vec<Extent>, Vec<u64>)> {
        let flags = inode.flags();
        if flags & inode::EXT4_INLINE_DATA_FL != 0 {
            return Err(Error::UnsupportedInode("inline data"));
        }
        if flags & inode::EXT4_EXTENTS_FL == 0 {
            if inode.i_block().iter().all(|&b| b == 0) {
                return Ok((Vec::new(), Vec::new()));
            }
            return Err(Error::UnsupportedInode("block-mapped (non-extent) file"));
        }
        let seed = inode.csum_seed(self.sb.csum_seed);
        let mut list = Vec::new();
        let mut tree = Vec::new();
        let (depth, node) = extent::decode(inode.i_block())?;
        let mut stack: Vec<(u16, Node)> = alloc::vec![(depth, node)];
        while let Some((depth, node)) = stack.pop() {
            match node {
                Node::Leaf(mut v) => list.append(&mut v),
                Node::Index(children) => {
                    for (_, child) in children.into_iter().rev() {
                        if tree.len() as u64 >= self.sb.blocks_count {
                            return Err(Error::Corrupt("extent tree too large"));
                        }
                        let b = self.read_meta(child)?;
                        if self.sb.csum && !extent::verify_block(&b, seed) {
                            return Err(Error::BadChecksum("extent block"));
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
    fn store_extents(
        &mut self,
        inode: &mut Inode,
        list: &[Extent],
        old_tree: Vec<u64>,
    ) -> Result<()> {
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
        let f = inode.flags() | inode::EXT4_EXTENTS_FL;
        inode.set_flags(f);
        Ok(())
    }

    // ----- allocation -------------------------------------------------------------------

    fn is_freed(&self, blk: u64) -> bool {
        self.freed
            .range(..=blk)
            .next_back()
            .is_some_and(|(&s, &n)| blk < s + n)
    }

    /// The block bitmap of group `g`, built in memory if the group is still BLOCK_UNINIT.
    fn block_bitmap(&mut self, g: u32) -> Result<Vec<u8>> {
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

    fn store_block_bitmap(&mut self, g: u32, bm: Vec<u8>) {
        let len = self.sb.blocks_per_group as usize / 8;
        let c = crate::crc32c::crc32c(self.sb.csum_seed, &bm[..len]);
        let blk = gd::block_bitmap(&self.sb, self.desc(g));
        let csum = self.sb.csum;
        self.edit_desc(g, |sb, d| {
            if csum {
                gd::set_block_bitmap_csum(sb, d, c);
            }
            let f = gd::flags(d) & !gd::BG_BLOCK_UNINIT;
            gd::set_flags(d, f);
        });
        self.write_meta(blk, bm);
    }

    /// Allocates up to `max` contiguous blocks near `goal`; returns (first block, count).
    fn alloc_blocks(&mut self, goal: u64, max: u32) -> Result<(u64, u32)> {
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
    fn free_blocks(&mut self, start: u64, count: u64) -> Result<()> {
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
                self.cache.remove(&b);
            }
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

    fn inode_bitmap(&mut self, g: u32) -> Result<Vec<u8>> {
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

    fn store_inode_bitmap(&mut self, g: u32, bm: Vec<u8>) {
        let ipg = self.sb.inodes_per_group as usize;
        let c = crate::crc32c::crc32c(self.sb.csum_seed, &bm[..ipg / 8]);
        let blk = gd::inode_bitmap(&self.sb, self.desc(g));
        let csum = self.sb.csum;
        self.edit_desc(g, |sb, d| {
            if csum {
                gd::set_inode_bitmap_csum(sb, d, c);
            }
            let f = gd::flags(d) & !gd::BG_INODE_UNINIT;
            gd::set_flags(d, f);
        });
        self.write_meta(blk, bm);
    }

    fn alloc_inode(&mut self, goal_group: u32, is_dir: bool) -> Result<u32> {
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

    fn free_inode(&mut self, ino: u32, is_dir: bool) -> Result<()> {
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

    fn new_inode(&mut self, near: u32, mode: u16) -> Result<Inode> {
        let is_dir = mode & inode::S_IFMT == inode::S_IFDIR;
        let goal = (near.max(1) - 1) / self.sb.inodes_per_group;
        let ino = self.alloc_inode(goal, is_dir)?;
        self.next_generation = self
            .next_generation
            .wrapping_mul(1_103_515_245)
            .wrapping_add(12345);
        let extra = self.sb.want_extra_isize.max(32);
        Ok(Inode::new(
            ino,
            self.sb.inode_size,
            mode,
            self.now,
            extra,
            self.next_generation,
        ))
    }

    // ----- directories ------------------------------------------------------------------

    fn dir_blocks(&mut self, dir_inode: &Inode) -> Result<Vec<u64>> {
        let (list, _) = self.load_extents(dir_inode)?;
        let nblocks = dir_inode.size() / self.sb.block_size as u64;
        let mut out = Vec::new();
        for e in &list {
            if e.uninit {
                continue;
            }
            for k in 0..e.len as u64 {
                if e.lblk as u64 + k < nblocks {
                    out.push(e.pblk + k);
                }
            }
        }
        Ok(out)
    }

    /// Reads a directory block, checking its checksum tail when it has one.
    fn read_dir_block(&mut self, dir_inode: &Inode, blk: u64) -> Result<(Vec<u8>, bool)> {
        let b = self.read_meta(blk)?;
        let tail = self.sb.csum && dir::has_tail(&b);
        if tail && !dir::verify(&b, dir_inode.csum_seed(self.sb.csum_seed)) {
            return Err(Error::BadChecksum("directory block"));
        }
        Ok((b, tail))
    }

    fn lookup_in(&mut self, dir_inode: &Inode, name: &[u8]) -> Result<Option<(u32, u8)>> {
        if !dir_inode.is_dir() {
            return Err(Error::NotADirectory);
        }
        for blk in self.dir_blocks(dir_inode)? {
            let (b, tail) = self.read_dir_block(dir_inode, blk)?;
            for r in dir::records(&b, tail)? {
                if r.inode != 0 && r.name == name {
                    return Ok(Some((r.inode, r.file_type)));
                }
            }
        }
        Ok(None)
    }

    /// Rewrites an htree directory as a linear one (index blocks become empty leaf blocks).
    fn drop_htree(&mut self, dir_inode: &mut Inode) -> Result<()> {
        if dir_inode.flags() & inode::EXT4_INDEX_FL == 0 {
            return Ok(());
        }
        let seed = dir_inode.csum_seed(self.sb.csum_seed);
        let tail = self.sb.csum;
        let blocks = self.dir_blocks(dir_inode)?;
        for (i, &blk) in blocks.iter().enumerate() {
            let b = self.read_meta(blk)?;
            let mut nb = alloc::vec![0u8; b.len()];
            if i == 0 {
                let recs = dir::records(&b, false)?;
                let (dot, dotdot) = match (recs.first(), recs.get(1)) {
                    (Some(a), Some(p)) if a.name == b"." && p.name == b".." => (a.inode, p.inode),
                    _ => return Err(Error::Corrupt("htree root without . and ..")),
                };
                dir::init_dot_block(&mut nb, tail, dot, dotdot);
            } else {
                let is_index = if tail {
                    !dir::has_tail(&b)
                } else {
                    matches!(dir::records(&b, false)?.as_slice(), [r] if r.inode == 0)
                };
                if !is_index {
                    continue;
                }
                dir::init_block(&mut nb, tail);
            }
            if tail {
                dir::seal(&mut nb, seed);
            }
            self.write_meta(blk, nb);
        }
        let f = dir_inode.flags() & !inode::EXT4_INDEX_FL;
        dir_inode.set_flags(f);
        self.write_inode(dir_inode)
    }

    fn add_entry(&mut self, dir_inode: &mut Inode, name: &[u8], ino: u32, ft: u8) -> Result<()> {
        self.drop_htree(dir_inode)?;
        let seed = dir_inode.csum_seed(self.sb.csum_seed);
        let tail = self.sb.csum;
        for blk in self.dir_blocks(dir_inode)? {
            let (mut b, _) = self.read_dir_block(dir_inode, blk)?;
            if dir::insert(&mut b, tail, ino, name, ft)? {
                if tail {
                    dir::seal(&mut b, seed);
                }
                self.write_meta(blk, b);
                dir_inode.touch(self.now);
                return self.write_inode(dir_inode);
            }
        }
        // No room: append a block.
        let (mut list, tree) = self.load_extents(dir_inode)?;
        let nblocks = dir_inode.size() / self.sb.block_size as u64;
        let lblk = u32::try_from(nblocks).map_err(|_| Error::FileTooLarge)?;
        let goal = list.last().map(|e| e.pblk + e.len as u64).unwrap_or(0);
        let (blk, _) = self.alloc_blocks(goal, 1)?;
        let mut b = alloc::vec![0u8; self.sb.block_size];
        dir::init_block(&mut b, tail);
        dir::insert(&mut b, tail, ino, name, ft)?;
        if tail {
            dir::seal(&mut b, seed);
        }
        self.write_meta(blk, b);
        list.push(Extent {
            lblk,
            len: 1,
            pblk: blk,
            uninit: false,
        });
        extent::normalize(&mut list);
        if let Err(e) = self.store_extents(dir_inode, &list, tree) {
            self.free_blocks(blk, 1)?;
            return Err(e);
        }
        dir_inode.set_size((nblocks + 1) * self.sb.block_size as u64);
        dir_inode.touch(self.now);
        self.write_inode(dir_inode)
    }

    fn remove_entry(&mut self, dir_inode: &mut Inode, name: &[u8]) -> Result<u32> {
        let seed = dir_inode.csum_seed(self.sb.csum_seed);
        for blk in self.dir_blocks(dir_inode)? {
            let (mut b, tail) = self.read_dir_block(dir_inode, blk)?;
            if let Some(ino) = dir::remove(&mut b, tail, name)? {
                if tail {
                    dir::seal(&mut b, seed);
                }
                self.write_meta(blk, b);
                dir_inode.touch(self.now);
                self.write_inode(dir_inode)?;
                return Ok(ino);
            }
        }
        Err(Error::NotFound)
    }

    fn retarget_entry(
        &mut self,
        dir_inode: &mut Inode,
        name: &[u8],
        ino: u32,
        ft: u8,
    ) -> Result<()> {
        let seed = dir_inode.csum_seed(self.sb.csum_seed);
        for blk in self.dir_blocks(dir_inode)? {
            let (mut b, tail) = self.read_dir_block(dir_inode, blk)?;
            if dir::retarget(&mut b, tail, name, ino, ft)? {
                if tail {
                    dir::seal(&mut b, seed);
                }
                self.write_meta(blk, b);
                dir_inode.touch(self.now);
                return self.write_inode(dir_inode);
            }
        }
        Err(Error::NotFound)
    }

    fn dir_is_empty(&mut self, dir_inode: &Inode) -> Result<bool> {
        for blk in self.dir_blocks(dir_inode)? {
            let (b, tail) = self.read_dir_block(dir_inode, blk)?;
            for r in dir::records(&b, tail)? {
                if r.inode != 0 && r.name != b"." && r.name != b".." {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    // ----- paths ------------------------------------------------------------------------

    fn resolve(&mut self, path: &str) -> Result<u32> {
        let mut cur = inode::ROOT_INO;
        for c in components(path)? {
            let d = self.read_inode(cur)?;
            cur = self.lookup_in(&d, c)?.ok_or(Error::NotFound)?.0;
        }
        Ok(cur)
    }

    fn resolve_parent(&mut self, path: &str) -> Result<(Inode, Vec<u8>)> {
        let mut parts = components(path)?;
        let name = parts.pop().ok_or(Error::InvalidPath)?.to_vec();
        valid_name(&name)?;
        let mut cur = inode::ROOT_INO;
        for c in parts {
            let d = self.read_inode(cur)?;
            cur = self.lookup_in(&d, c)?.ok_or(Error::NotFound)?.0;
        }
        let parent = self.read_inode(cur)?;
        if !parent.is_dir() {
            return Err(Error::NotADirectory);
        }
        Ok((parent, name))
    }

    // ----- file data --------------------------------------------------------------------

    fn read_data(&mut self, inode: &Inode, offset: u64, buf: &mut [u8]) -> Result<usize> {
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
    fn patch_block(&mut self, pblk: u64, at: usize, data: &[u8], existing: bool) -> Result<()> {
        let mut b = alloc::vec![0u8; self.sb.block_size];
        if existing {
            self.dev_read(pblk, &mut b)?;
        }
        b[at..at + data.len()].copy_from_slice(data);
        self.dev_write(pblk, &b)
    }

    fn write_data(&mut self, inode: &mut Inode, offset: u64, data: &[u8]) -> Result<()> {
        let bs = self.sb.block_size as u64;
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or(Error::FileTooLarge)?;
        if end > (1u64 << 32) * bs {
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
    fn write_runs(
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
            let (pblk, run, existing) = match extent::find(list, l32).copied() {
                Some(e) if e.uninit => {
                    // Writing into an unwritten extent: zero it on disk, then treat as written.
                    let zeros = alloc::vec![0u8; bs as usize];
                    for k in 0..e.len as u64 {
                        self.dev_write(e.pblk + k, &zeros)?;
                    }
                    for x in list.iter_mut() {
                        if x.lblk == e.lblk {
                            x.uninit = false;
                        }
                    }
                    continue;
                }
                Some(e) => {
                    let run = (e.end().min(last + 1)) - lblk;
                    (e.pblk + (l32 - e.lblk) as u64, run, true)
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
                    new_runs.push((p, got as u64));
                    list.push(Extent {
                        lblk: l32,
                        len: got,
                        pblk: p,
                        uninit: false,
                    });
                    extent::normalize(list);
                    (p, got as u64, false)
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
            *written_end = we;
            lblk += run;
        }
        Ok(())
    }

    /// Zeroes the bytes after `size` in the block that holds it, so a later extension of
    /// the file reads zeros there.
    fn zero_tail(&mut self, inode: &Inode, size: u64) -> Result<()> {
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

    fn truncate_inode(&mut self, inode: &mut Inode, size: u64) -> Result<()> {
        let bs = self.sb.block_size as u64;
        let old = inode.size();
        if size > (1u64 << 32) * bs {
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
        }
        inode.set_size(size);
        inode.touch(self.now);
        self.write_inode(inode)
    }

    /// Drops one link; frees the inode and its blocks when none remain.
    fn drop_link(&mut self, ino: u32) -> Result<()> {
        let mut node = self.read_inode(ino)?;
        let is_dir = node.is_dir();
        let links = node.links();
        let remaining = if is_dir { 0 } else { links.saturating_sub(1) };
        if remaining > 0 {
            node.set_links(remaining);
            node.touch(self.now);
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
        extent::init_root(node.i_block_mut());
        node.set_size(0);
        node.set_links(0);
        node.set_fs_blocks(0, self.sb.block_size);
        node.set_dtime(self.now.max(1));
        self.write_inode(&mut node)?;
        self.free_inode(ino, is_dir)
    }

    /// Drops one reference to an extended-attribute block, freeing it at zero.
    fn release_xattr_block(&mut self, blk: u64) -> Result<()> {
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

    // ----- public API: reading ----------------------------------------------------------

    /// Sets the clock used for timestamps (seconds since the Unix epoch).
    pub fn set_time(&mut self, unix_secs: u32) {
        self.now = unix_secs;
    }

    /// The underlying device (for example to inspect a test device mid-session).
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// Whether writes are allowed.
    pub fn is_writable(&self) -> bool {
        self.writable
    }

    /// Size, kind and link count of `path`.
    pub fn stat(&mut self, path: &str) -> Result<Metadata> {
        let ino = self.resolve(path)?;
        let i = self.read_inode(ino)?;
        Ok(Metadata {
            ino,
            kind: kind_of(i.mode()),
            mode: i.mode(),
            size: i.size(),
            links: i.links(),
            mtime: i.mtime(),
        })
    }

    /// Entries of the directory at `path`, without `.` and `..`, in on-disk order.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>> {
        let ino = self.resolve(path)?;
        let d = self.read_inode(ino)?;
        if !d.is_dir() {
            return Err(Error::NotADirectory);
        }
        let mut out = Vec::new();
        for blk in self.dir_blocks(&d)? {
            let (b, tail) = self.read_dir_block(&d, blk)?;
            for r in dir::records(&b, tail)? {
                if r.inode != 0 && r.name != b"." && r.name != b".." {
                    out.push(DirEntry {
                        name: r.name,
                        ino: r.inode,
                        kind: kind_of_ft(r.file_type),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at end of file).
    pub fn read_at(&mut self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let ino = self.resolve(path)?;
        let i = self.read_inode(ino)?;
        if i.is_dir() {
            return Err(Error::IsADirectory);
        }
        self.read_data(&i, offset, buf)
    }

    /// The whole content of the file at `path`.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        let ino = self.resolve(path)?;
        let i = self.read_inode(ino)?;
        if i.is_dir() {
            return Err(Error::IsADirectory);
        }
        let size = usize::try_from(i.size()).map_err(|_| Error::FileTooLarge)?;
        let mut v = Vec::new();
        v.try_reserve_exact(size).map_err(|_| Error::FileTooLarge)?;
        v.resize(size, 0);
        let n = self.read_data(&i, 0, &mut v)?;
        v.truncate(n);
        Ok(v)
    }

    /// Block size, totals and free counts.
    pub fn stats(&self) -> FsStats {
        FsStats {
            block_size: self.sb.block_size,
            blocks: self.sb.blocks_count,
            free_blocks: self.sb.free_blocks(),
            inodes: self.sb.inodes_count,
            free_inodes: self.sb.free_inodes(),
        }
    }

    // ----- public API: writing ----------------------------------------------------------

    /// Creates an empty regular file; fails if the name exists.
    pub fn create(&mut self, path: &str) -> Result<()> {
        self.check_writable()?;
        let (mut parent, name) = self.resolve_parent(path)?;
        if self.lookup_in(&parent, &name)?.is_some() {
            return Err(Error::AlreadyExists);
        }
        self.ensure_reusable(4)?;
        let mut node = self.new_inode(parent.ino, inode::S_IFREG | 0o644)?;
        node.set_links(1);
        self.write_inode(&mut node)?;
        if let Err(e) = self.add_entry(&mut parent, &name, node.ino, dir::FT_REG) {
            self.abandon_inode(node)?;
            return Err(e);
        }
        self.maybe_commit()
    }

    /// Replaces the content of `path` with `data`, creating the file if needed.
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        match self.resolve(path) {
            Ok(_) => self.truncate(path, 0)?,
            Err(Error::NotFound) => self.create(path)?,
            Err(e) => return Err(e),
        }
        self.write_at(path, 0, data)
    }

    /// Writes `data` at `offset`, extending the file (holes read as zeros).
    pub fn write_at(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<()> {
        self.check_writable()?;
        let ino = self.resolve(path)?;
        let mut node = self.read_inode(ino)?;
        if node.is_dir() {
            return Err(Error::IsADirectory);
        }
        if !node.is_reg() {
            return Err(Error::UnsupportedInode("writing to a special file"));
        }
        // Split very large writes so each transaction fits the journal.
        let chunk = self.max_write_chunk();
        let mut done = 0usize;
        while done < data.len() || (data.is_empty() && done == 0) {
            let take = (data.len() - done).min(chunk);
            self.ensure_reusable((take / self.sb.block_size) as u64 + 16)?;
            self.write_data(&mut node, offset + done as u64, &data[done..done + take])?;
            done += take;
            if data.is_empty() {
                break;
            }
            self.maybe_commit()?;
        }
        self.maybe_commit()
    }

    fn max_write_chunk(&self) -> usize {
        // Commit at least every 16384 blocks written so a huge write never piles more dirty
        // bitmaps and extent blocks into one transaction than the smallest journal
        // (1024 blocks) holds.
        self.sb.block_size * 16384
    }

    /// Sets the file size to `size`, freeing blocks past it or leaving a hole before it.
    pub fn truncate(&mut self, path: &str, size: u64) -> Result<()> {
        self.check_writable()?;
        let ino = self.resolve(path)?;
        let mut node = self.read_inode(ino)?;
        if node.is_dir() {
            return Err(Error::IsADirectory);
        }
        self.truncate_inode(&mut node, size)?;
        self.maybe_commit()
    }

    /// Removes a non-directory name (and the file when it was the last link).
    pub fn unlink(&mut self, path: &str) -> Result<()> {
        self.check_writable()?;
        let (mut parent, name) = self.resolve_parent(path)?;
        let (ino, _) = self.lookup_in(&parent, &name)?.ok_or(Error::NotFound)?;
        if self.read_inode(ino)?.is_dir() {
            return Err(Error::IsADirectory);
        }
        self.remove_entry(&mut parent, &name)?;
        self.drop_link(ino)?;
        self.maybe_commit()
    }

    /// Creates an empty directory.
    pub fn mkdir(&mut self, path: &str) -> Result<()> {
        self.check_writable()?;
        let (mut parent, name) = self.resolve_parent(path)?;
        if self.lookup_in(&parent, &name)?.is_some() {
            return Err(Error::AlreadyExists);
        }
        if parent.links() >= 65000 {
            return Err(Error::TooManyLinks);
        }
        self.ensure_reusable(4)?;
        let mut node = self.new_inode(parent.ino, inode::S_IFDIR | 0o755)?;
        let goal = gd::inode_table(
            &self.sb,
            self.desc((node.ino - 1) / self.sb.inodes_per_group),
        );
        let blk = match self.alloc_blocks(goal, 1) {
            Ok((b, _)) => b,
            Err(e) => {
                self.abandon_inode(node)?;
                return Err(e);
            }
        };
        let mut b = alloc::vec![0u8; self.sb.block_size];
        dir::init_dot_block(&mut b, self.sb.csum, node.ino, parent.ino);
        if self.sb.csum {
            dir::seal(&mut b, node.csum_seed(self.sb.csum_seed));
        }
        self.write_meta(blk, b);
        node.set_links(2);
        node.set_size(self.sb.block_size as u64);
        self.store_extents(
            &mut node,
            &[Extent {
                lblk: 0,
                len: 1,
                pblk: blk,
                uninit: false,
            }],
            Vec::new(),
        )?;
        self.write_inode(&mut node)?;
        if let Err(e) = self.add_entry(&mut parent, &name, node.ino, dir::FT_DIR) {
            self.free_blocks(blk, 1)?;
            self.abandon_inode(node)?;
            return Err(e);
        }
        let l = parent.links() + 1;
        parent.set_links(l);
        self.write_inode(&mut parent)?;
        self.maybe_commit()
    }

    /// Removes an empty directory.
    pub fn rmdir(&mut self, path: &str) -> Result<()> {
        self.check_writable()?;
        let (mut parent, name) = self.resolve_parent(path)?;
        let (ino, _) = self.lookup_in(&parent, &name)?.ok_or(Error::NotFound)?;
        let node = self.read_inode(ino)?;
        if !node.is_dir() {
            return Err(Error::NotADirectory);
        }
        if !self.dir_is_empty(&node)? {
            return Err(Error::DirectoryNotEmpty);
        }
        self.remove_entry(&mut parent, &name)?;
        let l = parent.links().saturating_sub(1).max(2);
        parent.set_links(l);
        self.write_inode(&mut parent)?;
        self.drop_link(ino)?;
        self.maybe_commit()
    }

    /// Marks a just-allocated inode deleted again after a failed create or mkdir.
    fn abandon_inode(&mut self, mut node: Inode) -> Result<()> {
        let is_dir = node.is_dir();
        extent::init_root(node.i_block_mut());
        node.set_links(0);
        node.set_size(0);
        node.set_fs_blocks(0, self.sb.block_size);
        node.set_dtime(self.now.max(1));
        self.write_inode(&mut node)?;
        self.free_inode(node.ino, is_dir)
    }

    /// Commits first when the blocks freed by the open transaction (unusable until it
    /// commits) are what an operation needing `need` blocks would run short of.
    fn ensure_reusable(&mut self, need: u64) -> Result<()> {
        let held: u64 = self.freed.values().sum();
        if held > 0 && self.sb.free_blocks().saturating_sub(held) < need + 64 {
            self.commit()?;
        }
        Ok(())
    }

    /// Renames `from` to `to`, atomically replacing an existing file (or empty directory)
    /// at `to`.
    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.check_writable()?;
        self.ensure_reusable(4)?;
        let (src_parent, src_name) = self.resolve_parent(from)?;
        let (src_ino, src_ft) = self
            .lookup_in(&src_parent, &src_name)?
            .ok_or(Error::NotFound)?;
        let (dst_parent, dst_name) = self.resolve_parent(to)?;
        let src_node = self.read_inode(src_ino)?;
        let moving_dir = src_node.is_dir();
        if moving_dir && src_parent.ino != dst_parent.ino {
            // The destination must not lie inside the directory being moved.
            let mut cur = dst_parent.ino;
            let mut steps = 0;
            while cur != inode::ROOT_INO {
                if cur == src_ino {
                    return Err(Error::InvalidMove);
                }
                steps += 1;
                if steps > MAX_WALK {
                    return Err(Error::DirectoryLoop);
                }
                let d = self.read_inode(cur)?;
                cur = self
                    .lookup_in(&d, b"..")?
                    .ok_or(Error::Corrupt("directory without .."))?
                    .0;
            }
        }
        let existing = self.lookup_in(&dst_parent, &dst_name)?;
        if let Some((dst_ino, _)) = existing {
            if dst_ino == src_ino {
                return Ok(());
            }
            let dst_node = self.read_inode(dst_ino)?;
            match (moving_dir, dst_node.is_dir()) {
                (false, true) => return Err(Error::IsADirectory),
                (true, false) => return Err(Error::NotADirectory),
                (true, true) if !self.dir_is_empty(&dst_node)? => {
                    return Err(Error::DirectoryNotEmpty);
                }
                _ => {}
            }
        }
        let same_parent = src_parent.ino == dst_parent.ino;
        let mut dst_parent = self.read_inode(dst_parent.ino)?;
        match existing {
            Some((dst_ino, _)) => {
                self.retarget_entry(&mut dst_parent, &dst_name, src_ino, src_ft)?;
                if moving_dir {
                    // The replaced directory's ".." link to dst_parent goes away.
                    let l = dst_parent.links().saturating_sub(1).max(2);
                    dst_parent.set_links(l);
                    self.write_inode(&mut dst_parent)?;
                }
                self.drop_link(dst_ino)?;
            }
            None => self.add_entry(&mut dst_parent, &dst_name, src_ino, src_ft)?,
        }
        let mut src_parent = self.read_inode(src_parent.ino)?;
        self.remove_entry(&mut src_parent, &src_name)?;
        if moving_dir && !same_parent {
            let mut moved = self.read_inode(src_ino)?;
            self.drop_htree(&mut moved)?;
            self.retarget_entry(&mut moved, b"..", dst_parent.ino, dir::FT_DIR)?;
            let l = src_parent.links().saturating_sub(1).max(2);
            src_parent.set_links(l);
            self.write_inode(&mut src_parent)?;
            let mut dst_parent = self.read_inode(dst_parent.ino)?;
            let l = dst_parent.links() + 1;
            dst_parent.set_links(l);
            self.write_inode(&mut dst_parent)?;
        }
        self.maybe_commit()
    }

    // ----- transactions -----------------------------------------------------------------

    fn maybe_commit(&mut self) -> Result<()> {
        let cap = self
            .journal
            .as_ref()
            .map(|j| j.sb.capacity())
            .unwrap_or(usize::MAX);
        if self.dirty.len() + self.gdt_dirty.len() + 1 > cap / 4 {
            self.commit()?;
        }
        Ok(())
    }

    /// Makes every change so far durable (one journal transaction, then checkpoint).
    pub fn sync(&mut self) -> Result<()> {
        self.commit()
    }

    /// Syncs and gives the device back.
    pub fn unmount(mut self) -> Result<D> {
        self.commit()?;
        Ok(self.dev)
    }

    fn commit(&mut self) -> Result<()> {
        if !self.writable || (self.dirty.is_empty() && self.gdt_dirty.is_empty() && !self.sb_dirty)
        {
            return Ok(());
        }
        let bs = self.sb.block_size;
        let gdt_start = self.sb.first_data_block + 1;
        for i in core::mem::take(&mut self.gdt_dirty) {
            let blk = gdt_start + i;
            let mut b = self.read_meta(blk)?;
            let from = i as usize * bs;
            let to = (from + bs).min(self.gdt.len());
            b[..to - from].copy_from_slice(&self.gdt[from..to]);
            self.write_meta(blk, b);
        }
        self.sb.set_write_time(self.now);
        let (sblk, sbytes) = self.sb_block(false)?;
        self.write_meta(sblk, sbytes);
        let blocks = core::mem::take(&mut self.dirty);
        if let Err(e) = self.write_transaction(&blocks, sblk) {
            // Nothing is lost in memory: keep the transaction so a later sync can retry.
            // On disk, the journal either holds the whole transaction or none of it.
            self.dirty = blocks;
            return Err(e);
        }
        for (blk, data) in blocks {
            if self.cache.len() < CACHE_LIMIT {
                self.cache.insert(blk, data);
            }
        }
        self.freed.clear();
        self.sb_dirty = false;
        Ok(())
    }

    /// Journals `blocks`, then checkpoints them (see the module docs for the order).
    fn write_transaction(&mut self, blocks: &BTreeMap<u64, Vec<u8>>, sblk: u64) -> Result<()> {
        // Ordered mode: file data reaches the disk before the metadata that points at it.
        self.dev.flush()?;
        if self.journal.is_some() {
            let list: Vec<(u64, &[u8])> = blocks.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let (tid, first, jblocks, commit) = {
                let j = self.journal.as_ref().ok_or(Error::Journal("no journal"))?;
                let tid = j.sb.sequence;
                let (jb, c) = j.sb.encode_transaction(tid, &list, self.now as u64)?;
                (tid, j.sb.first, jb, c)
            };
            for (k, b) in jblocks.iter().enumerate() {
                let p = self.jblock(first + k as u32)?;
                self.dev_write(p, b)?;
            }
            self.dev.flush()?;
            let p = self.jblock(first + jblocks.len() as u32)?;
            self.dev_write(p, &commit)?;
            self.dev.flush()?;
            // The transaction is durable; point the journal at it and flag recovery.
            let jsb = self
                .journal
                .as_mut()
                .map(|j| j.sb.encode(first, tid))
                .ok_or(Error::Journal("no journal"))?;
            let p0 = self.jblock(0)?;
            self.dev_write(p0, &jsb)?;
            let (_, with_recover) = self.sb_block(true)?;
            self.dev_write(sblk, &with_recover)?;
            self.dev.flush()?;
            for (blk, data) in blocks {
                if *blk == sblk {
                    self.dev_write(*blk, &with_recover)?;
                } else {
                    self.dev_write(*blk, data)?;
                }
            }
            self.dev.flush()?;
            let jsb = self
                .journal
                .as_mut()
                .map(|j| j.sb.encode(0, tid.wrapping_add(1)))
                .ok_or(Error::Journal("no journal"))?;
            self.dev_write(p0, &jsb)?;
            if let Some(b) = blocks.get(&sblk) {
                self.dev_write(sblk, b)?;
            }
            self.dev.flush()?;
        } else {
            for (blk, data) in blocks {
                self.dev_write(*blk, data)?;
            }
            self.dev.flush()?;
        }
        Ok(())
    }
}

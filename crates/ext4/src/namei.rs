//! Directory contents and path resolution: lookups through the hash index of htree
//! directories (`htree`) or by linear scan (which also covers htree directories, whose
//! index blocks read as empty), adding, removing and retargeting
//! entries, and turning an htree directory into a linear one before it grows.
//! Part of `impl Ext4`.
//!
//! Paths follow POSIX: `.` is walked through a directory (so `f/.` fails for a file), a
//! trailing `/` requires a directory, and a path naming an entry to create, remove or
//! rename may not end in `.` or `..` ([`Error::DotOrDotDot`]).
//!
//! Directory times follow Linux: adding or removing an entry sets the directory's mtime and
//! ctime; repointing `..` (a directory moved to another parent) is an inode change, ctime
//! only.

use crate::dir;
use crate::error::{Error, Result};
use crate::extent::{self, Extent};
use crate::fs::{Ext4, components, valid_name};
use crate::htree;
use crate::inode::{self, Inode};
use crate::superblock::INCOMPAT_FILETYPE;
use alloc::vec::Vec;
use blockdev::BlockDevice;

impl<D: BlockDevice> Ext4<D> {
    // ----- directories ------------------------------------------------------------------

    pub(crate) fn dir_blocks(&mut self, dir_inode: &Inode) -> Result<Vec<u64>> {
        let (list, _) = self.load_extents(dir_inode)?;
        let bs = self.sb.block_size as u64;
        let size = dir_inode.size();
        let bad = |what| Error::CorruptInode {
            kind: "directory",
            ino: dir_inode.ino,
            what,
        };
        // A directory's size covers exactly its blocks (e2fsck: "i_size is …, should be …").
        // Reading past it would hide entries, and growing it would map a block twice.
        if !size.is_multiple_of(bs) {
            return Err(bad("size is not a multiple of the block size"));
        }
        let nblocks = size / bs;
        if list.last().is_some_and(|e| e.end() > nblocks) {
            return Err(bad(if size == 0 {
                "size 0 but it has blocks"
            } else {
                "blocks mapped past its size"
            }));
        }
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
            // A directory cannot own more blocks than the filesystem has.
            if out.len() as u64 > self.sb.blocks_count {
                return Err(Error::Corrupt("directory larger than the filesystem"));
            }
        }
        Ok(out)
    }

    /// Reads a directory block, checking its checksum tail when it has one.
    pub(crate) fn read_dir_block(
        &mut self,
        dir_inode: &Inode,
        blk: u64,
    ) -> Result<(Vec<u8>, bool)> {
        let b = self.read_meta(blk)?;
        let tail = self.check_dir_block(dir_inode, blk, &b)?;
        Ok((b, tail))
    }

    /// Whether `b` (the in-memory copy of directory block `blk`) has a checksum tail;
    /// checks the tail the first time this copy is seen for this directory.
    fn check_dir_block(&mut self, dir_inode: &Inode, blk: u64, b: &[u8]) -> Result<bool> {
        let tail = self.sb.csum && dir::has_tail(b);
        if tail {
            let seed = dir_inode.csum_seed(self.sb.csum_seed);
            if !self.is_verified(blk, seed) {
                if !dir::verify(b, seed) {
                    return Err(Error::BadChecksum("directory block"));
                }
                self.mark_verified(blk, seed);
            }
        }
        Ok(tail)
    }

    pub(crate) fn lookup_in(
        &mut self,
        dir_inode: &Inode,
        name: &[u8],
    ) -> Result<Option<(u32, u8)>> {
        if !dir_inode.is_dir() {
            return Err(Error::NotADirectory);
        }
        if dir_inode.flags() & inode::EXT4_INDEX_FL != 0
            && let Some(found) = self.htree_lookup(dir_inode, name)?
        {
            return Ok(found);
        }
        for blk in self.dir_blocks(dir_inode)? {
            if let Some(hit) = self.find_in_block(dir_inode, blk, name)? {
                return Ok(Some(hit));
            }
        }
        Ok(None)
    }

    fn find_in_block(
        &mut self,
        dir_inode: &Inode,
        blk: u64,
        name: &[u8],
    ) -> Result<Option<(u32, u8)>> {
        let csum = self.sb.csum;
        let seed = dir_inode.csum_seed(self.sb.csum_seed);
        if !csum || self.is_verified(blk, seed) {
            // The common case on every path walk: search the cached copy without copying it.
            return self.with_meta(blk, |b| dir::find(b, csum && dir::has_tail(b), name))?;
        }
        let (b, tail) = self.read_dir_block(dir_inode, blk)?;
        dir::find(&b, tail, name)
    }

    /// Looks `name` up through the hash index. `Ok(None)` means the index could not be used
    /// (unknown hash, malformed or unusual layout) and the caller must scan linearly;
    /// `Ok(Some(None))` means the index proves the name is absent.
    fn htree_lookup(
        &mut self,
        dir_inode: &Inode,
        name: &[u8],
    ) -> Result<Option<Option<(u32, u8)>>> {
        let (list, _) = self.load_extents(dir_inode)?;
        let nblocks = dir_inode.size() / self.sb.block_size as u64;
        let map = |l: u32| {
            extent::find(&list, l)
                .filter(|e| !e.uninit && (l as u64) < nblocks)
                .map(|e| e.pblk + (l - e.lblk) as u64)
        };
        let Some(root_blk) = map(0) else {
            return Ok(None);
        };
        let root = self.read_meta(root_blk)?;
        let Some((mut version, levels, at)) = htree::root_info(&root) else {
            return Ok(None);
        };
        let s_flags = crate::bytes::le32(&self.sb.raw, 0x160);
        if version <= htree::TEA && s_flags & 0x2 != 0 {
            // The filesystem hashes names as unsigned chars.
            version += 3;
        }
        let mut seed = [0u32; 4];
        for (i, w) in seed.iter_mut().enumerate() {
            *w = crate::bytes::le32(&self.sb.raw, 0xEC + 4 * i);
        }
        let Some(hash) = htree::name_hash(name, version, seed) else {
            return Ok(None);
        };
        let Some(mut ents) = htree::entries(&root, at) else {
            return Ok(None);
        };
        for _ in 0..levels {
            let (_, child) = ents[htree::pick(&ents, hash)];
            let Some(blk) = map(child) else {
                return Ok(None);
            };
            let node = self.read_meta(blk)?;
            match htree::entries(&node, 8) {
                Some(e) => ents = e,
                None => return Ok(None),
            }
        }
        let mut i = htree::pick(&ents, hash);
        loop {
            let Some(blk) = map(ents[i].1) else {
                return Ok(None);
            };
            if let Some(hit) = self.find_in_block(dir_inode, blk, name)? {
                return Ok(Some(Some(hit)));
            }
            // Names with equal hashes may continue in the next leaf.
            match ents.get(i + 1) {
                Some(&(h, _)) if h & !1 == hash => i += 1,
                Some(_) => return Ok(Some(None)),
                // The run might continue under the next index node: let the scan decide.
                None if levels > 0 => return Ok(None),
                None => return Ok(Some(None)),
            }
        }
    }

    /// Rewrites an htree directory as a linear one (index blocks become empty leaf blocks).
    pub(crate) fn drop_htree(&mut self, dir_inode: &mut Inode) -> Result<()> {
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
                dir::init_dot_block(&mut nb, tail, dot, dotdot, self.entry_type(dir::FT_DIR));
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

    /// The type byte to store in a directory entry: `ft`, or 0 when the filesystem has no
    /// filetype feature (the byte is then the name length's high byte).
    pub(crate) fn entry_type(&self, ft: u8) -> u8 {
        if self.sb.incompat & INCOMPAT_FILETYPE != 0 {
            ft
        } else {
            0
        }
    }

    pub(crate) fn add_entry(
        &mut self,
        dir_inode: &mut Inode,
        name: &[u8],
        ino: u32,
        ft: u8,
    ) -> Result<()> {
        let ft = self.entry_type(ft);
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

    pub(crate) fn remove_entry(&mut self, dir_inode: &mut Inode, name: &[u8]) -> Result<u32> {
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

    pub(crate) fn retarget_entry(
        &mut self,
        dir_inode: &mut Inode,
        name: &[u8],
        ino: u32,
        ft: u8,
    ) -> Result<()> {
        let ft = self.entry_type(ft);
        let seed = dir_inode.csum_seed(self.sb.csum_seed);
        for blk in self.dir_blocks(dir_inode)? {
            let (mut b, tail) = self.read_dir_block(dir_inode, blk)?;
            if dir::retarget(&mut b, tail, name, ino, ft)? {
                if tail {
                    dir::seal(&mut b, seed);
                }
                self.write_meta(blk, b);
                if name == b".." {
                    dir_inode.set_time(inode::Stamp::Change, self.now);
                } else {
                    dir_inode.touch(self.now);
                }
                return self.write_inode(dir_inode);
            }
        }
        Err(Error::NotFound)
    }

    pub(crate) fn dir_is_empty(&mut self, dir_inode: &Inode) -> Result<bool> {
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

    /// Walks `parts` from the root: `.` stays (but only in a directory), anything else is
    /// looked up (`..` through the directory's own `..` entry).
    fn walk(&mut self, parts: &[&[u8]]) -> Result<u32> {
        let mut cur = inode::ROOT_INO;
        for c in parts {
            let d = self.read_inode(cur)?;
            if *c == b"." {
                if !d.is_dir() {
                    return Err(Error::NotADirectory);
                }
                continue;
            }
            cur = self.lookup_in(&d, c)?.ok_or(Error::NotFound)?.0;
        }
        Ok(cur)
    }

    pub(crate) fn resolve(&mut self, path: &str) -> Result<u32> {
        let c = components(path)?;
        let ino = self.walk(&c.parts)?;
        if c.dir_only && !self.read_inode(ino)?.is_dir() {
            return Err(Error::NotADirectory);
        }
        Ok(ino)
    }

    /// The directory that holds the entry `path` names, the entry's name, and whether the
    /// path ended in `/` (then the entry must be a directory: the caller checks).
    pub(crate) fn resolve_parent(&mut self, path: &str) -> Result<(Inode, Vec<u8>, bool)> {
        let c = components(path)?;
        let (name, parents) = c.parts.split_last().ok_or(Error::InvalidPath)?;
        if *name == b"." || *name == b".." {
            return Err(Error::DotOrDotDot);
        }
        valid_name(name)?;
        let cur = self.walk(parents)?;
        let parent = self.read_inode(cur)?;
        if !parent.is_dir() {
            return Err(Error::NotADirectory);
        }
        Ok((parent, name.to_vec(), c.dir_only))
    }
}

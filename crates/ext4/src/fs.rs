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
//! What a read or write call costs: file data moves between the caller's buffer and the
//! device in one transfer per contiguous extent run, never through the metadata cache.
//! Metadata is read through a clean cache (`cache`) and the transaction (`dirty`); blocks
//! with their own checksum (directory and extent blocks) are verified once per in-memory
//! copy (`verified`), not on every path walk, and bitmap checksums in the descriptors are
//! computed once at commit rather than on every allocation. Inode checksums are checked on
//! every inode read (256 bytes).
//!
//! Detected corruption stops all writing, as Linux's `errors=remount-ro` does: the first
//! public call that meets a failed consistency or checksum check ([`Error::is_corruption`])
//! records the error ([`Ext4::errors`], [`FsStats::has_errors`]) and drops the open
//! transaction, and from then on every change is refused with [`Error::HasErrors`] and
//! nothing is committed, not even at unmount. Dropping the transaction (as a jbd2 journal
//! abort does) keeps the image as it was last committed: changes made on top of a damaged
//! structure are never written home. Reads go on working where they can. Mounting writes
//! nothing either (the journal superblock is rewritten by the first commit), so an image on
//! which only corruption was found is left byte for byte as it was.
//!
//! Time: inode timestamps come from the clock given to [`Ext4::set_clock`] (Unix seconds),
//! read once per call; without one, or while it has no answer, they are the fixed time of
//! [`Ext4::set_time`], which starts as the image's last write time.
//!
//! This module holds the struct, mounting, block and inode access and the public API; the
//! rest of `impl Ext4` lives in `balloc` (allocation), `filedata` (file contents over
//! extent trees or block maps), `blockmap` (indirect-block maps), `namei` (directories and
//! paths) and `transaction` (journal commit and replay). On-disk formats: `superblock`,
//! `inode`, `extent`, `dir`, `journal`.

use crate::dir;
use crate::error::{Error, Result};
use crate::extent::Extent;
use crate::inode::{self, Inode};
use crate::journal::JournalSb;
use crate::superblock::{self as sbm, Superblock, gd};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use blockdev::BlockDevice;

/// Default number of clean metadata blocks kept in memory (dirty ones are bounded by the
/// journal size); see [`Ext4::set_cache_limit`].
const DEFAULT_CACHE_LIMIT: usize = 4096;
/// Longest path walk or `..` chain accepted before declaring a directory loop.
pub(crate) const MAX_WALK: usize = 4096;

/// What kind of object an inode is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Directory,
    Symlink,
    Other,
}

/// `stat` result. Times are Unix seconds (a time before 1970 reads as 0).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub ino: u32,
    pub kind: FileKind,
    pub mode: u16,
    pub size: u64,
    pub links: u16,
    /// Last access (this crate never updates it on reads).
    pub atime: u64,
    /// Last inode change (links, rename, content).
    pub ctime: u64,
    /// Last content change.
    pub mtime: u64,
    /// Creation, when the inode is large enough to hold it.
    pub crtime: Option<u64>,
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
    /// Corruption was detected in this mount, so it no longer writes ([`Ext4::errors`]).
    pub has_errors: bool,
}

/// Where timestamps come from: Unix seconds, or `None` while the time is unknown.
pub type Clock = fn() -> Option<u64>;

/// Which of a group's two bitmaps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum BitmapKind {
    Block,
    Inode,
}

pub(crate) struct Journal {
    pub(crate) sb: JournalSb,
    pub(crate) map: Vec<Extent>,
}

/// A mounted ext4 filesystem.
pub struct Ext4<D: BlockDevice> {
    pub(crate) dev: D,
    pub(crate) sb: Superblock,
    pub(crate) gdt: Vec<u8>,
    pub(crate) gdt_dirty: BTreeSet<u64>,
    /// Bitmaps in the open transaction whose descriptor checksum is not yet updated.
    pub(crate) stale_bitmap_csums: BTreeSet<(u32, BitmapKind)>,
    pub(crate) sb_dirty: bool,
    pub(crate) cache: BTreeMap<u64, Vec<u8>>,
    pub(crate) dirty: BTreeMap<u64, Vec<u8>>,
    /// Blocks with their own checksum (directory and extent blocks) whose in-memory copy,
    /// the one [`Ext4::read_meta`] returns, has been checked, with the seed it was checked
    /// against. A block is verified once when it arrives from the device, not on every
    /// path walk; any change to the in-memory copy drops its entry (see `forget_verified`).
    pub(crate) verified: BTreeMap<u64, u32>,
    /// Block ranges (start -> count) freed by the open transaction: not reusable until commit.
    pub(crate) freed: BTreeMap<u64, u64>,
    pub(crate) journal: Option<Journal>,
    /// Mounted read-write (see `errors` for whether writing is still allowed).
    pub(crate) writable: bool,
    /// The first corruption detected in this mount; once set, nothing is written.
    pub(crate) errors: Option<Error>,
    /// The time stamped by the current call (Unix seconds), from `clock` or `fixed_time`.
    pub(crate) now: u64,
    pub(crate) clock: Option<Clock>,
    pub(crate) fixed_time: u64,
    pub(crate) next_generation: u32,
    /// Next candidate name for [`Ext4::replace_file`]'s temporary file.
    pub(crate) temp_seq: u32,
    pub(crate) cache_limit: usize,
    pub(crate) dev_per_block: u64,
}

pub(crate) fn kind_of(mode: u16) -> FileKind {
    match mode & inode::S_IFMT {
        inode::S_IFREG => FileKind::File,
        inode::S_IFDIR => FileKind::Directory,
        inode::S_IFLNK => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

pub(crate) fn kind_of_ft(ft: u8) -> FileKind {
    match ft {
        dir::FT_REG => FileKind::File,
        dir::FT_DIR => FileKind::Directory,
        7 => FileKind::Symlink,
        _ => FileKind::Other,
    }
}

pub(crate) fn valid_name(name: &[u8]) -> Result<()> {
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

/// An absolute path split into components. `.` and `..` are kept (`.` must be walked
/// through a directory, and neither may end a path that names an entry to change), and a
/// trailing `/` sets `dir_only`: POSIX lets `d/` name only a directory.
pub(crate) struct Components<'a> {
    pub(crate) parts: Vec<&'a [u8]>,
    pub(crate) dir_only: bool,
}

/// Splits an absolute path (empty components from repeated `/` are dropped).
pub(crate) fn components(path: &str) -> Result<Components<'_>> {
    if !path.starts_with('/') {
        return Err(Error::InvalidPath);
    }
    let parts: Vec<&[u8]> = path
        .split('/')
        .filter(|c| !c.is_empty())
        .map(|c| c.as_bytes())
        .collect();
    if parts.len() > MAX_WALK {
        return Err(Error::InvalidPath);
    }
    let dir_only = path.len() > 1 && path.ends_with('/');
    Ok(Components { parts, dir_only })
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
            stale_bitmap_csums: BTreeSet::new(),
            sb_dirty: false,
            cache: BTreeMap::new(),
            dirty: BTreeMap::new(),
            verified: BTreeMap::new(),
            freed: BTreeMap::new(),
            journal: None,
            writable,
            errors: None,
            now: 0,
            clock: None,
            fixed_time: 0,
            next_generation: 0,
            temp_seq: 0,
            cache_limit: DEFAULT_CACHE_LIMIT,
            dev_per_block,
        };
        fs.fixed_time = fs.sb.write_time() as u64;
        fs.now = fs.fixed_time;
        fs.next_generation = fs.sb.write_time() ^ 0x5EED_0000;
        fs.temp_seq = fs.next_generation.rotate_left(16);
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

    pub(crate) fn load_gdt(&mut self) -> Result<()> {
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

    // ----- raw block access -------------------------------------------------------------

    pub(crate) fn dev_read(&mut self, blk: u64, buf: &mut [u8]) -> Result<()> {
        let n = (buf.len() / self.sb.block_size) as u64;
        if blk.checked_add(n).is_none_or(|e| e > self.sb.blocks_count) {
            return Err(Error::Corrupt("block number out of range"));
        }
        Ok(self.dev.read_blocks(blk * self.dev_per_block, buf)?)
    }

    pub(crate) fn dev_write(&mut self, blk: u64, buf: &[u8]) -> Result<()> {
        let n = (buf.len() / self.sb.block_size) as u64;
        if blk.checked_add(n).is_none_or(|e| e > self.sb.blocks_count) {
            return Err(Error::Corrupt("block number out of range"));
        }
        Ok(self.dev.write_blocks(blk * self.dev_per_block, buf)?)
    }

    /// A metadata block as the open transaction sees it.
    pub(crate) fn read_meta(&mut self, blk: u64) -> Result<Vec<u8>> {
        if let Some(b) = self.dirty.get(&blk).or_else(|| self.cache.get(&blk)) {
            return Ok(b.clone());
        }
        let b = self.load_meta(blk)?;
        Ok(b)
    }

    /// Runs `f` on a metadata block as the open transaction sees it, without copying it
    /// when it is already in memory (inode reads and directory lookups on every call).
    pub(crate) fn with_meta<R>(&mut self, blk: u64, f: impl FnOnce(&[u8]) -> R) -> Result<R> {
        if let Some(b) = self.dirty.get(&blk).or_else(|| self.cache.get(&blk)) {
            return Ok(f(b));
        }
        let b = self.load_meta(blk)?;
        Ok(f(&b))
    }

    /// Edits a metadata block in place in the open transaction (no copy when it is
    /// already dirty).
    pub(crate) fn edit_meta(&mut self, blk: u64, f: impl FnOnce(&mut [u8])) -> Result<()> {
        self.forget_verified(blk);
        if let Some(b) = self.dirty.get_mut(&blk) {
            f(b);
            return Ok(());
        }
        let mut b = match self.cache.remove(&blk) {
            Some(b) => b,
            None => self.load_meta(blk)?,
        };
        f(&mut b);
        self.dirty.insert(blk, b);
        Ok(())
    }

    /// Reads a metadata block from the device into the clean cache (evicting the lowest
    /// numbered block when full) and returns a copy.
    fn load_meta(&mut self, blk: u64) -> Result<Vec<u8>> {
        let mut b = alloc::vec![0u8; self.sb.block_size];
        self.dev_read(blk, &mut b)?;
        // Whatever was verified before, these bytes come fresh from the device.
        self.forget_verified(blk);
        if self.cache_limit == 0 {
            return Ok(b);
        }
        if self.cache.len() >= self.cache_limit
            && let Some((evicted, _)) = self.cache.pop_first()
            && !self.dirty.contains_key(&evicted)
        {
            self.forget_verified(evicted);
        }
        self.cache.insert(blk, b.clone());
        Ok(b)
    }

    /// Whether the in-memory copy of `blk` was already checked against `seed`. False when
    /// the block is not in memory, so a caller that then reads it gets checked bytes: the
    /// device copy is verified again whatever `verified` says.
    pub(crate) fn is_verified(&self, blk: u64, seed: u32) -> bool {
        self.verified.get(&blk) == Some(&seed)
            && (self.dirty.contains_key(&blk) || self.cache.contains_key(&blk))
    }

    /// Records that the in-memory copy of `blk` passed its checksum for `seed` (ignored
    /// when the block is not held in memory, so nothing outlives the checked bytes).
    pub(crate) fn mark_verified(&mut self, blk: u64, seed: u32) {
        if self.dirty.contains_key(&blk) || self.cache.contains_key(&blk) {
            self.verified.insert(blk, seed);
        }
    }

    pub(crate) fn forget_verified(&mut self, blk: u64) {
        self.verified.remove(&blk);
    }

    /// Drops cached copies of blocks about to be written as file data: a block freed as
    /// metadata and reused for data must never be read back from a stale cache entry.
    pub(crate) fn forget_cached(&mut self, start: u64, count: u64) {
        let stale: Vec<u64> = self
            .cache
            .range(start..start.saturating_add(count))
            .map(|(k, _)| *k)
            .collect();
        for k in stale {
            self.cache.remove(&k);
            if !self.dirty.contains_key(&k) {
                self.forget_verified(k);
            }
        }
    }

    pub(crate) fn write_meta(&mut self, blk: u64, data: Vec<u8>) {
        self.cache.remove(&blk);
        self.forget_verified(blk);
        self.dirty.insert(blk, data);
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        if !self.writable {
            Err(Error::ReadOnly)
        } else if self.errors.is_some() {
            Err(Error::HasErrors)
        } else {
            Ok(())
        }
    }

    // ----- detected errors --------------------------------------------------------------

    /// Runs one public change: refused once writing stopped; the time it stamps is read
    /// once here; corruption it meets stops writing ([`Self::noticed`]).
    pub(crate) fn change<R>(&mut self, f: impl FnOnce(&mut Self) -> Result<R>) -> Result<R> {
        self.check_writable()?;
        self.now = self.clock.and_then(|c| c()).unwrap_or(self.fixed_time);
        let r = f(self);
        self.noticed(r)
    }

    /// Passes `r` through; when it is corruption, records it and stops writing: the open
    /// transaction, which may rest on the damaged structure, is dropped (as a jbd2 abort
    /// does) and nothing is committed from now on.
    pub(crate) fn noticed<R>(&mut self, r: Result<R>) -> Result<R> {
        if let Err(e) = &r
            && e.is_corruption()
        {
            if self.errors.is_none() {
                self.errors = Some(e.clone());
            }
            if self.writable {
                self.abort_transaction();
            }
        }
        r
    }

    /// Forgets every uncommitted change and reloads the superblock and descriptors as
    /// committed (the device has them: each commit is checkpointed at once). Only for
    /// read-write mounts: a read-only mount keeps its in-memory journal replay in `dirty`.
    fn abort_transaction(&mut self) {
        self.dirty.clear();
        self.gdt_dirty.clear();
        self.stale_bitmap_csums.clear();
        self.freed.clear();
        self.sb_dirty = false;
        let cache = &self.cache;
        self.verified.retain(|k, _| cache.contains_key(k));
        // Best effort: if the committed superblock cannot be read back, the in-memory one
        // only serves `stats` now, since nothing will be written.
        let (blk, off) = self.sb_location();
        if let Ok(b) = self.read_meta(blk)
            && let Some(raw) = b.get(off..off + 1024)
            && let Ok(sb) = Superblock::parse(raw)
        {
            self.sb = sb;
            let _ = self.load_gdt();
        }
    }

    /// The first corruption detected in this mount, if any. Once there is one the
    /// filesystem writes nothing more and every change fails with [`Error::HasErrors`].
    pub fn errors(&self) -> Option<&Error> {
        self.errors.as_ref()
    }

    // ----- superblock and descriptors ---------------------------------------------------

    pub(crate) fn sb_location(&self) -> (u64, usize) {
        let bs = self.sb.block_size as u64;
        (1024 / bs, (1024 % bs) as usize)
    }

    pub(crate) fn sb_block(&mut self, recover: bool) -> Result<(u64, Vec<u8>)> {
        let (blk, off) = self.sb_location();
        let mut b = self.read_meta(blk)?;
        let mut sb = self.sb.clone();
        sb.set_recover(recover);
        b[off..off + 1024].copy_from_slice(sb.finalize());
        Ok((blk, b))
    }

    pub(crate) fn write_sb_home(&mut self, recover: bool) -> Result<()> {
        let (blk, b) = self.sb_block(recover)?;
        self.dev_write(blk, &b)?;
        self.forget_verified(blk);
        self.cache.insert(blk, b);
        Ok(())
    }

    pub(crate) fn desc(&self, g: u32) -> &[u8] {
        let ds = self.sb.desc_size;
        let o = g as usize * ds;
        self.gdt.get(o..o + ds).unwrap_or(&[])
    }

    /// Edits descriptor `g` and reseals it.
    pub(crate) fn edit_desc(&mut self, g: u32, f: impl FnOnce(&Superblock, &mut [u8])) {
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

    pub(crate) fn inode_location(&self, ino: u32) -> Result<(u64, usize)> {
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

    pub(crate) fn read_inode(&mut self, ino: u32) -> Result<Inode> {
        let (blk, off) = self.inode_location(ino)?;
        let size = self.sb.inode_size;
        let raw = self.with_meta(blk, |b| b[off..off + size].to_vec())?;
        let inode = Inode { ino, raw };
        if self.sb.csum && !inode.verify_csum(self.sb.csum_seed) {
            return Err(Error::BadChecksum("inode"));
        }
        Ok(inode)
    }

    pub(crate) fn write_inode(&mut self, inode: &mut Inode) -> Result<()> {
        if self.sb.csum {
            inode.seal(self.sb.csum_seed);
        }
        let (blk, off) = self.inode_location(inode.ino)?;
        let size = self.sb.inode_size;
        self.edit_meta(blk, |b| b[off..off + size].copy_from_slice(&inode.raw))
    }

    // ----- public API: reading ----------------------------------------------------------

    /// Fixes the time stamped on inodes (seconds since the Unix epoch) and drops any clock
    /// given to [`Ext4::set_clock`]. Until either is called the time is the image's last
    /// write time.
    pub fn set_time(&mut self, unix_secs: u32) {
        self.clock = None;
        self.fixed_time = unix_secs as u64;
        self.now = self.fixed_time;
    }

    /// Takes timestamps from `clock` (Unix seconds), read once per call that changes
    /// something. While it answers `None` the fixed time is used (see [`Ext4::set_time`]).
    /// The kernel passes its wall clock: `fs.set_clock(hal::time::wall_clock_secs)`.
    pub fn set_clock(&mut self, clock: Clock) {
        self.clock = Some(clock);
    }

    /// The underlying device (for example to inspect a test device mid-session).
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The underlying device, mutably (the kernel reclaims its block cache through this).
    /// Writing to the device behind the file system's back corrupts it; use it for caches
    /// and counters only.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// Caps the clean metadata cache at `blocks` blocks (0 disables it). Uncommitted
    /// changes are not part of this cache and stay in memory until [`Ext4::sync`].
    pub fn set_cache_limit(&mut self, blocks: usize) {
        self.cache_limit = blocks;
        while self.cache.len() > blocks {
            match self.cache.pop_first() {
                Some((k, _)) if !self.dirty.contains_key(&k) => self.forget_verified(k),
                Some(_) => {}
                None => break,
            }
        }
    }

    /// Drops every clean cached block and returns how many bytes that released (a hook
    /// for the kernel's memory-pressure reclaim). Never touches uncommitted changes.
    pub fn drop_caches(&mut self) -> usize {
        let bytes = self.cache.len() * self.sb.block_size;
        self.cache.clear();
        let dirty = &self.dirty;
        self.verified.retain(|k, _| dirty.contains_key(k));
        bytes
    }

    /// Whether writes are allowed: mounted read-write and no corruption detected since.
    pub fn is_writable(&self) -> bool {
        self.writable && self.errors.is_none()
    }

    /// Size, kind, link count and times of `path`.
    pub fn stat(&mut self, path: &str) -> Result<Metadata> {
        let r = self.stat_inner(path);
        self.noticed(r)
    }

    fn stat_inner(&mut self, path: &str) -> Result<Metadata> {
        let ino = self.resolve(path)?;
        let i = self.read_inode(ino)?;
        let secs = |t: i64| u64::try_from(t).unwrap_or(0);
        Ok(Metadata {
            ino,
            kind: kind_of(i.mode()),
            mode: i.mode(),
            size: i.size(),
            links: i.links(),
            atime: secs(i.time(inode::Stamp::Access)),
            ctime: secs(i.time(inode::Stamp::Change)),
            mtime: secs(i.time(inode::Stamp::Modify)),
            crtime: i
                .has_stamp(inode::Stamp::Create)
                .then(|| secs(i.time(inode::Stamp::Create))),
        })
    }

    /// Entries of the directory at `path`, without `.` and `..`, in on-disk order.
    pub fn read_dir(&mut self, path: &str) -> Result<Vec<DirEntry>> {
        let r = self.read_dir_inner(path);
        self.noticed(r)
    }

    fn read_dir_inner(&mut self, path: &str) -> Result<Vec<DirEntry>> {
        let ino = self.resolve(path)?;
        let d = self.read_inode(ino)?;
        if !d.is_dir() {
            return Err(Error::NotADirectory);
        }
        let typed = self.sb.incompat & sbm::INCOMPAT_FILETYPE != 0;
        let mut out = Vec::new();
        for blk in self.dir_blocks(&d)? {
            let (b, tail) = self.read_dir_block(&d, blk)?;
            for r in dir::records(&b, tail)? {
                if r.inode != 0 && r.name != b"." && r.name != b".." {
                    // Without the filetype feature (or for an unknown type) the entry does
                    // not say what it names: the inode does.
                    let kind = match kind_of_ft(r.file_type) {
                        FileKind::Other if !typed || r.file_type == 0 => {
                            kind_of(self.read_inode(r.inode)?.mode())
                        }
                        k => k,
                    };
                    out.push(DirEntry {
                        name: r.name,
                        ino: r.inode,
                        kind,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at end of file).
    pub fn read_at(&mut self, path: &str, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let r = (|| {
            let ino = self.resolve(path)?;
            let i = self.read_inode(ino)?;
            if i.is_dir() {
                return Err(Error::IsADirectory);
            }
            self.read_data(&i, offset, buf)
        })();
        self.noticed(r)
    }

    /// The whole content of the file at `path`.
    pub fn read_file(&mut self, path: &str) -> Result<Vec<u8>> {
        let r = (|| {
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
        })();
        self.noticed(r)
    }

    /// Block size, totals, free counts, and whether corruption stopped writing.
    pub fn stats(&self) -> FsStats {
        FsStats {
            block_size: self.sb.block_size,
            blocks: self.sb.blocks_count,
            free_blocks: self.sb.free_blocks(),
            inodes: self.sb.inodes_count,
            free_inodes: self.sb.free_inodes(),
            has_errors: self.errors.is_some(),
        }
    }

    // ----- public API: writing ----------------------------------------------------------

    /// Creates an empty regular file; fails if the name exists.
    pub fn create(&mut self, path: &str) -> Result<()> {
        self.change(|fs| fs.create_inner(path))
    }

    fn create_inner(&mut self, path: &str) -> Result<()> {
        let (mut parent, name, dir_only) = self.resolve_parent(path)?;
        if self.lookup_in(&parent, &name)?.is_some() {
            return Err(Error::AlreadyExists);
        }
        if dir_only {
            // `f/` names a directory; a regular file cannot be one.
            return Err(Error::NotADirectory);
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

    /// Replaces the content of `path` with `data`, creating the file if needed. Not atomic
    /// (the file is truncated first): see [`Ext4::replace_file`].
    pub fn write_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.change(|fs| {
            match fs.resolve(path) {
                Ok(_) => fs.truncate_inner(path, 0)?,
                Err(Error::NotFound) => fs.create_inner(path)?,
                Err(e) => return Err(e),
            }
            fs.write_at_inner(path, 0, data)
        })
    }

    /// Replaces the file at `path` with one holding `data`, atomically: the data goes to a
    /// new file in the same directory, which is then renamed over `path`, so after a crash
    /// the file is wholly old or wholly new once committed ([`Ext4::sync`]). The temporary
    /// name is short and fixed in length (`.nous-tmp-` and 8 hex digits), so every name
    /// `mkdir` takes works here too; if any step fails the temporary file is removed again,
    /// leaving no name and no inode behind.
    pub fn replace_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        self.change(|fs| {
            let (parent, name, dir_only) = fs.resolve_parent(path)?;
            match fs.lookup_in(&parent, &name)? {
                Some((ino, _)) if fs.read_inode(ino)?.is_dir() => {
                    return Err(Error::IsADirectory);
                }
                _ if dir_only => return Err(Error::NotADirectory),
                _ => {}
            }
            let temp = fs.temp_name(&parent)?;
            // `path` ends with `name` (no trailing `/`, last component not `.`), so the
            // temporary file's path is the same directory path with the other name.
            let dir = path
                .get(..path.len() - name.len())
                .ok_or(Error::InvalidPath)?;
            let mut temp_path = alloc::string::String::from(dir);
            temp_path.push_str(core::str::from_utf8(&temp).map_err(|_| Error::InvalidName)?);
            fs.create_inner(&temp_path)?;
            let r = fs
                .write_at_inner(&temp_path, 0, data)
                .and_then(|()| fs.rename_inner(&temp_path, path));
            if let Err(e) = r {
                // Best effort: after corruption the transaction that created the file has
                // been dropped already, and nothing may be written.
                if fs.errors.is_none() {
                    let _ = fs.unlink_inner(&temp_path);
                }
                return Err(e);
            }
            Ok(())
        })
    }

    /// A name for a temporary file that does not exist in `parent`.
    fn temp_name(&mut self, parent: &Inode) -> Result<Vec<u8>> {
        for _ in 0..64 {
            let n = self.temp_seq;
            self.temp_seq = self.temp_seq.wrapping_add(0x9E37_79B9);
            let name = alloc::format!(".nous-tmp-{n:08x}").into_bytes();
            if self.lookup_in(parent, &name)?.is_none() {
                return Ok(name);
            }
        }
        Err(Error::AlreadyExists)
    }

    /// Writes `data` at `offset`, extending the file (holes read as zeros).
    pub fn write_at(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<()> {
        self.change(|fs| fs.write_at_inner(path, offset, data))
    }

    fn write_at_inner(&mut self, path: &str, offset: u64, data: &[u8]) -> Result<()> {
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
        self.change(|fs| fs.truncate_inner(path, size))
    }

    fn truncate_inner(&mut self, path: &str, size: u64) -> Result<()> {
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
        self.change(|fs| fs.unlink_inner(path))
    }

    fn unlink_inner(&mut self, path: &str) -> Result<()> {
        let (mut parent, name, dir_only) = self.resolve_parent(path)?;
        let (ino, _) = self.lookup_in(&parent, &name)?.ok_or(Error::NotFound)?;
        if self.read_inode(ino)?.is_dir() {
            return Err(Error::IsADirectory);
        }
        if dir_only {
            return Err(Error::NotADirectory);
        }
        self.remove_entry(&mut parent, &name)?;
        self.drop_link(ino)?;
        self.maybe_commit()
    }

    /// Creates an empty directory.
    pub fn mkdir(&mut self, path: &str) -> Result<()> {
        self.change(|fs| fs.mkdir_inner(path))
    }

    fn mkdir_inner(&mut self, path: &str) -> Result<()> {
        let (mut parent, name, _) = self.resolve_parent(path)?;
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
        let ft_dir = self.entry_type(dir::FT_DIR);
        dir::init_dot_block(&mut b, self.sb.csum, node.ino, parent.ino, ft_dir);
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
        self.change(|fs| fs.rmdir_inner(path))
    }

    fn rmdir_inner(&mut self, path: &str) -> Result<()> {
        let (mut parent, name, _) = self.resolve_parent(path)?;
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
        self.clear_map(&mut node);
        node.set_links(0);
        node.set_size(0);
        node.set_fs_blocks(0, self.sb.block_size);
        node.set_dtime(self.now);
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
        self.change(|fs| fs.rename_inner(from, to))
    }

    fn rename_inner(&mut self, from: &str, to: &str) -> Result<()> {
        self.ensure_reusable(4)?;
        let (src_parent, src_name, src_dir_only) = self.resolve_parent(from)?;
        let (src_ino, src_ft) = self
            .lookup_in(&src_parent, &src_name)?
            .ok_or(Error::NotFound)?;
        let (dst_parent, dst_name, dst_dir_only) = self.resolve_parent(to)?;
        let src_node = self.read_inode(src_ino)?;
        let moving_dir = src_node.is_dir();
        if (src_dir_only || dst_dir_only) && !moving_dir {
            return Err(Error::NotADirectory);
        }
        // Without the filetype feature entries carry no type: take it from the inode (it
        // is stored only where the feature is on).
        let src_ft = if src_ft == 0 {
            dir::ft_of_mode(src_node.mode())
        } else {
            src_ft
        };
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
        } else {
            // Renaming is a change to the inode renamed (Linux sets its ctime).
            let mut moved = self.read_inode(src_ino)?;
            moved.set_time(inode::Stamp::Change, self.now);
            self.write_inode(&mut moved)?;
        }
        self.maybe_commit()
    }
}

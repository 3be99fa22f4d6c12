//! On-disk inodes: field access over the raw inode bytes (so unknown fields survive a
//! read-modify-write), timestamps, the metadata_csum inode checksum, and the per-inode
//! checksum seed that directory blocks and extent blocks also use. Neighbours: `extent` and
//! `blockmap` interpret `i_block`, `fs` loads and stores inodes through the block cache.
//!
//! Timestamps: each is a 32-bit signed seconds field in the first 128 bytes, plus (in large
//! inodes whose `i_extra_isize` covers it) an extra field holding nanoseconds above two
//! epoch bits that extend the seconds past 2038. The creation time lives in the extra
//! space only.

use crate::bytes::{le16, le32, set_le16, set_le32};
use crate::crc32c::crc32c;
use alloc::vec::Vec;

pub const S_IFMT: u16 = 0xF000;
pub const S_IFREG: u16 = 0x8000;
pub const S_IFDIR: u16 = 0x4000;
pub const S_IFLNK: u16 = 0xA000;

pub const EXT4_INDEX_FL: u32 = 0x1000;
pub const EXT4_HUGE_FILE_FL: u32 = 0x4_0000;
pub const EXT4_EXTENTS_FL: u32 = 0x8_0000;
pub const EXT4_INLINE_DATA_FL: u32 = 0x1000_0000;

pub const ROOT_INO: u32 = 2;

const I_MODE: usize = 0x0;
const I_SIZE_LO: usize = 0x4;
const I_ATIME: usize = 0x8;
const I_CTIME: usize = 0xC;
const I_MTIME: usize = 0x10;
const I_DTIME: usize = 0x14;
const I_LINKS: usize = 0x1A;
const I_BLOCKS_LO: usize = 0x1C;
const I_FLAGS: usize = 0x20;
pub const I_BLOCK: usize = 0x28;
const I_GENERATION: usize = 0x64;
const I_FILE_ACL_LO: usize = 0x68;
const I_SIZE_HI: usize = 0x6C;
const I_BLOCKS_HI: usize = 0x74;
const I_FILE_ACL_HI: usize = 0x76;
const I_CSUM_LO: usize = 0x7C;
const I_EXTRA_ISIZE: usize = 0x80;
const I_CSUM_HI: usize = 0x82;
const I_CTIME_EXTRA: usize = 0x84;
const I_MTIME_EXTRA: usize = 0x88;
const I_ATIME_EXTRA: usize = 0x8C;
const I_CRTIME: usize = 0x90;
const I_CRTIME_EXTRA: usize = 0x94;

/// The four inode timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    Access,
    Change,
    Modify,
    Create,
}

impl Stamp {
    /// (seconds field, extra field) offsets.
    fn offsets(self) -> (usize, usize) {
        match self {
            Stamp::Access => (I_ATIME, I_ATIME_EXTRA),
            Stamp::Change => (I_CTIME, I_CTIME_EXTRA),
            Stamp::Modify => (I_MTIME, I_MTIME_EXTRA),
            Stamp::Create => (I_CRTIME, I_CRTIME_EXTRA),
        }
    }
}

/// One inode: its number and raw bytes (`inode_size` long, at least 128).
#[derive(Debug, Clone)]
pub struct Inode {
    pub ino: u32,
    pub raw: Vec<u8>,
}

impl Inode {
    pub fn mode(&self) -> u16 {
        le16(&self.raw, I_MODE)
    }
    pub fn is_dir(&self) -> bool {
        self.mode() & S_IFMT == S_IFDIR
    }
    pub fn is_reg(&self) -> bool {
        self.mode() & S_IFMT == S_IFREG
    }
    pub fn size(&self) -> u64 {
        le32(&self.raw, I_SIZE_LO) as u64 | (le32(&self.raw, I_SIZE_HI) as u64) << 32
    }
    pub fn set_size(&mut self, s: u64) {
        set_le32(&mut self.raw, I_SIZE_LO, s as u32);
        set_le32(&mut self.raw, I_SIZE_HI, (s >> 32) as u32);
    }
    pub fn links(&self) -> u16 {
        le16(&self.raw, I_LINKS)
    }
    pub fn set_links(&mut self, n: u16) {
        set_le16(&mut self.raw, I_LINKS, n)
    }
    pub fn flags(&self) -> u32 {
        le32(&self.raw, I_FLAGS)
    }
    pub fn set_flags(&mut self, f: u32) {
        set_le32(&mut self.raw, I_FLAGS, f)
    }
    pub fn generation(&self) -> u32 {
        le32(&self.raw, I_GENERATION)
    }
    /// Whether the 32-bit field at `off` lies inside the inode's used space (the first 128
    /// bytes plus `i_extra_isize`), as Linux's `EXT4_FITS_IN_INODE` decides.
    fn fits(&self, off: usize) -> bool {
        let extra = if self.raw.len() > 128 {
            le16(&self.raw, I_EXTRA_ISIZE) as usize
        } else {
            0
        };
        off + 4 <= (128 + extra).min(self.raw.len())
    }
    /// Whether the inode has room for this timestamp (creation time needs the extra space).
    pub fn has_stamp(&self, which: Stamp) -> bool {
        self.fits(which.offsets().0)
    }
    /// A timestamp in Unix seconds (negative before 1970; 0 when the inode has no room).
    pub fn time(&self, which: Stamp) -> i64 {
        let (secs, extra) = which.offsets();
        if !self.fits(secs) {
            return 0;
        }
        let t = le32(&self.raw, secs) as i32 as i64;
        if self.fits(extra) {
            t + (((le32(&self.raw, extra) & 3) as i64) << 32)
        } else {
            t
        }
    }
    /// Sets a timestamp to `now` (Unix seconds, whole: the nanoseconds become 0). The epoch
    /// bits of the extra field, where there is one, carry what the signed 32-bit field
    /// cannot; without it times past 2038 wrap, as they do in Linux.
    pub fn set_time(&mut self, which: Stamp, now: u64) {
        let (secs, extra) = which.offsets();
        if !self.fits(secs) {
            return;
        }
        set_le32(&mut self.raw, secs, now as u32);
        if self.fits(extra) {
            let low = now as u32 as i32 as i64;
            let epoch = ((now as i64).wrapping_sub(low) >> 32) & 3;
            set_le32(&mut self.raw, extra, epoch as u32);
        }
    }
    /// Sets ctime and mtime (the times a content change updates).
    pub fn touch(&mut self, now: u64) {
        self.set_time(Stamp::Change, now);
        self.set_time(Stamp::Modify, now);
    }
    /// Whether `i_block` is a block map (when the extents flag is clear): for regular files
    /// and directories, and symlinks too long to live in `i_block` itself. Device files
    /// and fast symlinks keep other things there.
    pub fn has_block_map(&self) -> bool {
        match self.mode() & S_IFMT {
            S_IFREG | S_IFDIR => true,
            S_IFLNK => {
                let sectors = le32(&self.raw, I_BLOCKS_LO) as u64
                    | (le16(&self.raw, I_BLOCKS_HI) as u64) << 32;
                // An xattr block counts in i_blocks too; it is at most 128 sectors (64 KiB).
                sectors > if self.file_acl() != 0 { 128 } else { 0 }
            }
            _ => false,
        }
    }
    pub fn file_acl(&self) -> u64 {
        le32(&self.raw, I_FILE_ACL_LO) as u64 | (le16(&self.raw, I_FILE_ACL_HI) as u64) << 32
    }
    /// Sets the deletion time (32 bits only; never 0, which means "not deleted").
    pub fn set_dtime(&mut self, now: u64) {
        set_le32(&mut self.raw, I_DTIME, (now as u32).max(1))
    }
    pub fn i_block(&self) -> &[u8] {
        &self.raw[I_BLOCK..I_BLOCK + 60]
    }
    pub fn i_block_mut(&mut self) -> &mut [u8] {
        &mut self.raw[I_BLOCK..I_BLOCK + 60]
    }
    /// Sets i_blocks from a count of filesystem blocks (stored in 512-byte units).
    pub fn set_fs_blocks(&mut self, blocks: u64, block_size: usize) {
        let sectors = blocks * (block_size as u64 / 512);
        set_le32(&mut self.raw, I_BLOCKS_LO, sectors as u32);
        set_le16(&mut self.raw, I_BLOCKS_HI, (sectors >> 32) as u16);
        let f = self.flags() & !EXT4_HUGE_FILE_FL;
        self.set_flags(f);
    }

    /// A fresh inode of `mode` with all times `now` and an empty map: an in-inode extent
    /// tree when `extents`, else an empty block map.
    pub fn new(
        ino: u32,
        inode_size: usize,
        mode: u16,
        now: u64,
        extra_isize: u16,
        generation: u32,
        extents: bool,
    ) -> Inode {
        let mut raw = alloc::vec![0u8; inode_size];
        set_le16(&mut raw, I_MODE, mode);
        set_le32(&mut raw, I_GENERATION, generation);
        if inode_size > 128 {
            let extra = extra_isize.clamp(4, (inode_size - 128) as u16) & !3;
            set_le16(&mut raw, I_EXTRA_ISIZE, extra);
        }
        let mut inode = Inode { ino, raw };
        for which in [Stamp::Access, Stamp::Change, Stamp::Modify, Stamp::Create] {
            inode.set_time(which, now);
        }
        if extents {
            inode.set_flags(EXT4_EXTENTS_FL);
            crate::extent::init_root(inode.i_block_mut());
        }
        inode
    }

    fn has_csum_hi(&self) -> bool {
        self.raw.len() > 128 && le16(&self.raw, I_EXTRA_ISIZE) >= 4
    }

    /// Seed for checksums of blocks owned by this inode (directory and extent blocks).
    pub fn csum_seed(&self, fs_seed: u32) -> u32 {
        let c = crc32c(fs_seed, &self.ino.to_le_bytes());
        crc32c(c, &self.generation().to_le_bytes())
    }

    fn compute_csum(&self, fs_seed: u32) -> u32 {
        let mut c = crc32c(self.csum_seed(fs_seed), &self.raw[..I_CSUM_LO]);
        c = crc32c(c, &[0, 0]);
        if self.has_csum_hi() {
            c = crc32c(c, &self.raw[I_CSUM_LO + 2..I_CSUM_HI]);
            c = crc32c(c, &[0, 0]);
            c = crc32c(c, &self.raw[I_CSUM_HI + 2..]);
        } else {
            c = crc32c(c, &self.raw[I_CSUM_LO + 2..]);
        }
        c
    }

    pub fn verify_csum(&self, fs_seed: u32) -> bool {
        let c = self.compute_csum(fs_seed);
        if self.has_csum_hi() {
            c == (le16(&self.raw, I_CSUM_LO) as u32 | (le16(&self.raw, I_CSUM_HI) as u32) << 16)
        } else {
            c as u16 == le16(&self.raw, I_CSUM_LO)
        }
    }

    pub fn seal(&mut self, fs_seed: u32) {
        let c = self.compute_csum(fs_seed);
        set_le16(&mut self.raw, I_CSUM_LO, c as u16);
        if self.has_csum_hi() {
            set_le16(&mut self.raw, I_CSUM_HI, (c >> 16) as u16);
        }
    }
}

//! On-disk inodes: field access over the raw inode bytes (so unknown fields survive a
//! read-modify-write), the metadata_csum inode checksum, and the per-inode checksum seed
//! that directory blocks and extent blocks also use. Neighbours: `extent` interprets
//! `i_block`, `fs` loads and stores inodes through the block cache.

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
const I_CRTIME: usize = 0x90;

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
    pub fn mtime(&self) -> u32 {
        le32(&self.raw, I_MTIME)
    }
    pub fn file_acl(&self) -> u64 {
        le32(&self.raw, I_FILE_ACL_LO) as u64 | (le16(&self.raw, I_FILE_ACL_HI) as u64) << 32
    }
    pub fn set_dtime(&mut self, t: u32) {
        set_le32(&mut self.raw, I_DTIME, t)
    }
    /// Sets ctime and mtime (the times a content change updates).
    pub fn touch(&mut self, now: u32) {
        set_le32(&mut self.raw, I_CTIME, now);
        set_le32(&mut self.raw, I_MTIME, now);
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

    /// A fresh inode of `mode` with all times `now` and an empty in-inode extent tree.
    pub fn new(
        ino: u32,
        inode_size: usize,
        mode: u16,
        now: u32,
        extra_isize: u16,
        generation: u32,
    ) -> Inode {
        let mut raw = alloc::vec![0u8; inode_size];
        set_le16(&mut raw, I_MODE, mode);
        for off in [I_ATIME, I_CTIME, I_MTIME] {
            set_le32(&mut raw, off, now);
        }
        set_le32(&mut raw, I_GENERATION, generation);
        if inode_size > 128 {
            let extra = extra_isize.clamp(4, (inode_size - 128) as u16) & !3;
            set_le16(&mut raw, I_EXTRA_ISIZE, extra);
            if extra as usize >= I_CRTIME + 4 - 128 {
                set_le32(&mut raw, I_CRTIME, now);
            }
        }
        let mut inode = Inode { ino, raw };
        inode.set_flags(EXT4_EXTENTS_FL);
        crate::extent::init_root(inode.i_block_mut());
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

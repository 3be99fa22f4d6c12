//! The ext4 superblock and group descriptors: parsing, validation of geometry and feature
//! flags, and checksums. [`Superblock`] keeps the raw 1024 bytes (so fields this crate does
//! not interpret are preserved on write-back) next to the validated geometry.
//! Neighbours: `fs` owns one `Superblock` and the in-memory group descriptor table.

use crate::bytes::{le16, le32, set_le16, set_le32};
use crate::crc32c::crc32c;
use crate::error::{Error, Result};
use alloc::vec::Vec;

pub const MAGIC: u16 = 0xEF53;

pub const COMPAT_HAS_JOURNAL: u32 = 0x4;

pub const INCOMPAT_FILETYPE: u32 = 0x2;
pub const INCOMPAT_RECOVER: u32 = 0x4;
pub const INCOMPAT_EXTENTS: u32 = 0x40;
pub const INCOMPAT_64BIT: u32 = 0x80;
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// Everything this crate reads and writes correctly.
pub const INCOMPAT_SUPPORTED: u32 = INCOMPAT_FILETYPE
    | INCOMPAT_RECOVER
    | INCOMPAT_EXTENTS
    | INCOMPAT_64BIT
    | INCOMPAT_FLEX_BG
    | INCOMPAT_CSUM_SEED;

pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
pub const RO_COMPAT_LARGE_FILE: u32 = 0x2;
pub const RO_COMPAT_BTREE_DIR: u32 = 0x4;
pub const RO_COMPAT_HUGE_FILE: u32 = 0x8;
pub const RO_COMPAT_DIR_NLINK: u32 = 0x20;
pub const RO_COMPAT_EXTRA_ISIZE: u32 = 0x40;
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x400;
/// Read-only-compatible features this crate keeps consistent when writing.
pub const RO_COMPAT_WRITABLE: u32 = RO_COMPAT_SPARSE_SUPER
    | RO_COMPAT_LARGE_FILE
    | RO_COMPAT_BTREE_DIR
    | RO_COMPAT_HUGE_FILE
    | RO_COMPAT_DIR_NLINK
    | RO_COMPAT_EXTRA_ISIZE
    | RO_COMPAT_METADATA_CSUM;

// Superblock field offsets (ext4 disk layout documentation, "The Super Block").
const S_INODES_COUNT: usize = 0x0;
const S_BLOCKS_COUNT_LO: usize = 0x4;
const S_FREE_BLOCKS_LO: usize = 0xC;
const S_FREE_INODES: usize = 0x10;
const S_FIRST_DATA_BLOCK: usize = 0x14;
const S_LOG_BLOCK_SIZE: usize = 0x18;
const S_LOG_CLUSTER_SIZE: usize = 0x1C;
const S_BLOCKS_PER_GROUP: usize = 0x20;
const S_INODES_PER_GROUP: usize = 0x28;
const S_WTIME: usize = 0x30;
const S_MAGIC: usize = 0x38;
const S_REV_LEVEL: usize = 0x4C;
const S_FIRST_INO: usize = 0x54;
const S_INODE_SIZE: usize = 0x58;
const S_FEATURE_COMPAT: usize = 0x5C;
const S_FEATURE_INCOMPAT: usize = 0x60;
const S_FEATURE_RO_COMPAT: usize = 0x64;
const S_UUID: usize = 0x68;
const S_JOURNAL_INUM: usize = 0xE0;
const S_DESC_SIZE: usize = 0xFE;
const S_BLOCKS_COUNT_HI: usize = 0x150;
const S_FREE_BLOCKS_HI: usize = 0x158;
const S_WANT_EXTRA_ISIZE: usize = 0x15E;
const S_CHECKSUM_TYPE: usize = 0x175;
const S_CHECKSUM_SEED: usize = 0x270;
const S_WTIME_HI: usize = 0x274;
const S_CHECKSUM: usize = 0x3FC;

/// A parsed, validated superblock plus its raw bytes.
#[derive(Debug, Clone)]
pub struct Superblock {
    pub raw: Vec<u8>,
    pub block_size: usize,
    pub blocks_count: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub inodes_count: u32,
    pub inode_size: usize,
    pub first_ino: u32,
    pub desc_size: usize,
    pub group_count: u32,
    pub csum: bool,
    pub csum_seed: u32,
    pub incompat: u32,
    pub ro_compat: u32,
    pub compat: u32,
    pub journal_inum: u32,
    pub want_extra_isize: u16,
}

impl Superblock {
    /// Parses and validates the 1024 superblock bytes.
    pub fn parse(raw: &[u8]) -> Result<Superblock> {
        if raw.len() < 1024 {
            return Err(Error::BadSuperblock("image too small"));
        }
        let raw = raw[..1024].to_vec();
        if le16(&raw, S_MAGIC) != MAGIC {
            return Err(Error::BadSuperblock("bad magic (not ext2/3/4)"));
        }
        if le32(&raw, S_REV_LEVEL) < 1 {
            return Err(Error::BadSuperblock(
                "revision 0 filesystems are not supported",
            ));
        }
        let incompat = le32(&raw, S_FEATURE_INCOMPAT);
        let ro_compat = le32(&raw, S_FEATURE_RO_COMPAT);
        let compat = le32(&raw, S_FEATURE_COMPAT);
        let unknown = incompat & !INCOMPAT_SUPPORTED;
        if unknown != 0 {
            return Err(Error::UnsupportedFeature {
                which: "incompat",
                bits: unknown,
            });
        }
        let csum = ro_compat & RO_COMPAT_METADATA_CSUM != 0;
        if csum {
            if raw[S_CHECKSUM_TYPE] != 1 {
                return Err(Error::BadSuperblock("unknown checksum type"));
            }
            let want = le32(&raw, S_CHECKSUM);
            if crc32c(!0, &raw[..S_CHECKSUM]) != want {
                return Err(Error::BadChecksum("superblock"));
            }
        }
        let log_bs = le32(&raw, S_LOG_BLOCK_SIZE);
        if log_bs > 6 {
            return Err(Error::BadSuperblock("block size too large"));
        }
        let block_size = 1024usize << log_bs;
        if le32(&raw, S_LOG_CLUSTER_SIZE) != log_bs {
            return Err(Error::UnsupportedFeature {
                which: "ro_compat (bigalloc)",
                bits: 0x200,
            });
        }
        let is64 = incompat & INCOMPAT_64BIT != 0;
        let mut blocks_count = le32(&raw, S_BLOCKS_COUNT_LO) as u64;
        if is64 {
            blocks_count |= (le32(&raw, S_BLOCKS_COUNT_HI) as u64) << 32;
        }
        let first_data_block = le32(&raw, S_FIRST_DATA_BLOCK) as u64;
        if first_data_block != u64::from(block_size == 1024) {
            return Err(Error::BadSuperblock(
                "first data block does not match block size",
            ));
        }
        let blocks_per_group = le32(&raw, S_BLOCKS_PER_GROUP);
        let inodes_per_group = le32(&raw, S_INODES_PER_GROUP);
        let bits = (block_size * 8) as u32;
        if blocks_per_group == 0 || blocks_per_group > bits || !blocks_per_group.is_multiple_of(8) {
            return Err(Error::BadSuperblock("blocks per group out of range"));
        }
        if inodes_per_group == 0 || inodes_per_group > bits || !inodes_per_group.is_multiple_of(8) {
            return Err(Error::BadSuperblock("inodes per group out of range"));
        }
        if blocks_count <= first_data_block {
            return Err(Error::BadSuperblock("block count too small"));
        }
        let groups = (blocks_count - first_data_block).div_ceil(blocks_per_group as u64);
        let group_count =
            u32::try_from(groups).map_err(|_| Error::BadSuperblock("too many groups"))?;
        let inodes_count = le32(&raw, S_INODES_COUNT);
        if inodes_count as u64 != group_count as u64 * inodes_per_group as u64 {
            return Err(Error::BadSuperblock("inode count does not match groups"));
        }
        let inode_size = le16(&raw, S_INODE_SIZE) as usize;
        if inode_size < 128 || !inode_size.is_power_of_two() || inode_size > block_size {
            return Err(Error::BadSuperblock("bad inode size"));
        }
        let desc_size = if is64 {
            le16(&raw, S_DESC_SIZE) as usize
        } else {
            32
        };
        if desc_size < 32
            || !desc_size.is_power_of_two()
            || desc_size > 1024
            || (is64 && desc_size < 64)
        {
            return Err(Error::BadSuperblock("bad group descriptor size"));
        }
        let first_ino = le32(&raw, S_FIRST_INO);
        if first_ino < 11 || first_ino > inodes_count {
            return Err(Error::BadSuperblock("bad first inode"));
        }
        let csum_seed = if incompat & INCOMPAT_CSUM_SEED != 0 {
            le32(&raw, S_CHECKSUM_SEED)
        } else {
            crc32c(!0, &raw[S_UUID..S_UUID + 16])
        };
        Ok(Superblock {
            block_size,
            blocks_count,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            inodes_count,
            inode_size,
            first_ino,
            desc_size,
            group_count,
            csum,
            csum_seed,
            incompat,
            ro_compat,
            compat,
            journal_inum: le32(&raw, S_JOURNAL_INUM),
            want_extra_isize: le16(&raw, S_WANT_EXTRA_ISIZE),
            raw,
        })
    }

    pub fn is_64bit(&self) -> bool {
        self.incompat & INCOMPAT_64BIT != 0
    }

    pub fn free_blocks(&self) -> u64 {
        let mut v = le32(&self.raw, S_FREE_BLOCKS_LO) as u64;
        if self.is_64bit() {
            v |= (le32(&self.raw, S_FREE_BLOCKS_HI) as u64) << 32;
        }
        v
    }

    pub fn set_free_blocks(&mut self, v: u64) {
        set_le32(&mut self.raw, S_FREE_BLOCKS_LO, v as u32);
        if self.is_64bit() {
            set_le32(&mut self.raw, S_FREE_BLOCKS_HI, (v >> 32) as u32);
        }
    }

    pub fn free_inodes(&self) -> u32 {
        le32(&self.raw, S_FREE_INODES)
    }

    pub fn set_free_inodes(&mut self, v: u32) {
        set_le32(&mut self.raw, S_FREE_INODES, v);
    }

    pub fn write_time(&self) -> u32 {
        le32(&self.raw, S_WTIME)
    }

    /// Sets the last write time: 32 bits plus the high byte ext4 keeps at `s_wtime_hi`.
    pub fn set_write_time(&mut self, t: u64) {
        set_le32(&mut self.raw, S_WTIME, t as u32);
        self.raw[S_WTIME_HI] = (t >> 32) as u8;
    }

    pub fn set_recover(&mut self, on: bool) {
        if on {
            self.incompat |= INCOMPAT_RECOVER;
        } else {
            self.incompat &= !INCOMPAT_RECOVER;
        }
        set_le32(&mut self.raw, S_FEATURE_INCOMPAT, self.incompat);
    }

    /// Recomputes the checksum and returns the bytes to store.
    pub fn finalize(&mut self) -> &[u8] {
        if self.csum {
            let c = crc32c(!0, &self.raw[..S_CHECKSUM]);
            set_le32(&mut self.raw, S_CHECKSUM, c);
        }
        &self.raw
    }

    /// Block numbers holding the primary group descriptor table.
    pub fn gdt_blocks(&self) -> u64 {
        (self.group_count as u64 * self.desc_size as u64).div_ceil(self.block_size as u64)
    }

    /// First block of group `g`.
    pub fn group_first_block(&self, g: u32) -> u64 {
        self.first_data_block + g as u64 * self.blocks_per_group as u64
    }

    /// Number of blocks in group `g` (the last group may be short).
    pub fn blocks_in_group(&self, g: u32) -> u32 {
        let start = self.group_first_block(g);
        let end = (start + self.blocks_per_group as u64).min(self.blocks_count);
        (end - start) as u32
    }

    /// Whether group `g` holds a superblock backup (sparse_super: 0, 1, powers of 3, 5, 7).
    pub fn has_super(&self, g: u32) -> bool {
        if self.ro_compat & RO_COMPAT_SPARSE_SUPER == 0 || g <= 1 {
            return true;
        }
        for base in [3u32, 5, 7] {
            let mut p = base;
            while p < g {
                match p.checked_mul(base) {
                    Some(n) => p = n,
                    None => break,
                }
            }
            if p == g {
                return true;
            }
        }
        false
    }
}

/// Group descriptor field access over the in-memory descriptor table.
pub mod gd {
    use super::*;

    pub const BG_INODE_UNINIT: u16 = 0x1;
    pub const BG_BLOCK_UNINIT: u16 = 0x2;

    fn hi(sb: &Superblock, d: &[u8], lo_off: usize, hi_off: usize) -> u64 {
        let mut v = le32(d, lo_off) as u64;
        if sb.desc_size >= 64 {
            v |= (le32(d, hi_off) as u64) << 32;
        }
        v
    }
    fn hi16(sb: &Superblock, d: &[u8], lo_off: usize, hi_off: usize) -> u32 {
        let mut v = le16(d, lo_off) as u32;
        if sb.desc_size >= 64 {
            v |= (le16(d, hi_off) as u32) << 16;
        }
        v
    }
    fn set_hi16(sb: &Superblock, d: &mut [u8], lo_off: usize, hi_off: usize, v: u32) {
        set_le16(d, lo_off, v as u16);
        if sb.desc_size >= 64 {
            set_le16(d, hi_off, (v >> 16) as u16);
        }
    }

    pub fn block_bitmap(sb: &Superblock, d: &[u8]) -> u64 {
        hi(sb, d, 0x0, 0x20)
    }
    pub fn inode_bitmap(sb: &Superblock, d: &[u8]) -> u64 {
        hi(sb, d, 0x4, 0x24)
    }
    pub fn inode_table(sb: &Superblock, d: &[u8]) -> u64 {
        hi(sb, d, 0x8, 0x28)
    }
    pub fn free_blocks(sb: &Superblock, d: &[u8]) -> u32 {
        hi16(sb, d, 0xC, 0x2C)
    }
    pub fn set_free_blocks(sb: &Superblock, d: &mut [u8], v: u32) {
        set_hi16(sb, d, 0xC, 0x2C, v)
    }
    pub fn free_inodes(sb: &Superblock, d: &[u8]) -> u32 {
        hi16(sb, d, 0xE, 0x2E)
    }
    pub fn set_free_inodes(sb: &Superblock, d: &mut [u8], v: u32) {
        set_hi16(sb, d, 0xE, 0x2E, v)
    }
    pub fn used_dirs(sb: &Superblock, d: &[u8]) -> u32 {
        hi16(sb, d, 0x10, 0x30)
    }
    pub fn set_used_dirs(sb: &Superblock, d: &mut [u8], v: u32) {
        set_hi16(sb, d, 0x10, 0x30, v)
    }
    pub fn flags(d: &[u8]) -> u16 {
        le16(d, 0x12)
    }
    pub fn set_flags(d: &mut [u8], v: u16) {
        set_le16(d, 0x12, v)
    }
    pub fn itable_unused(sb: &Superblock, d: &[u8]) -> u32 {
        hi16(sb, d, 0x1C, 0x32)
    }
    pub fn set_itable_unused(sb: &Superblock, d: &mut [u8], v: u32) {
        set_hi16(sb, d, 0x1C, 0x32, v)
    }
    pub fn set_block_bitmap_csum(sb: &Superblock, d: &mut [u8], c: u32) {
        set_hi16(sb, d, 0x18, 0x38, c)
    }
    pub fn set_inode_bitmap_csum(sb: &Superblock, d: &mut [u8], c: u32) {
        set_hi16(sb, d, 0x1A, 0x3A, c)
    }
    pub fn block_bitmap_csum(sb: &Superblock, d: &[u8]) -> u32 {
        hi16(sb, d, 0x18, 0x38)
    }
    pub fn inode_bitmap_csum(sb: &Superblock, d: &[u8]) -> u32 {
        hi16(sb, d, 0x1A, 0x3A)
    }

    /// metadata_csum descriptor checksum: crc32c(seed, group number, descriptor without the
    /// checksum field), low 16 bits.
    pub fn checksum(sb: &Superblock, g: u32, d: &[u8]) -> u16 {
        let mut c = crc32c(sb.csum_seed, &g.to_le_bytes());
        c = crc32c(c, &d[..0x1E]);
        c = crc32c(c, &[0, 0]);
        if d.len() > 0x20 {
            c = crc32c(c, &d[0x20..]);
        }
        c as u16
    }

    pub fn verify(sb: &Superblock, g: u32, d: &[u8]) -> bool {
        !sb.csum || checksum(sb, g, d) == le16(d, 0x1E)
    }

    pub fn seal(sb: &Superblock, g: u32, d: &mut [u8]) {
        if sb.csum {
            let c = checksum(sb, g, d);
            set_le16(d, 0x1E, c);
        }
    }
}

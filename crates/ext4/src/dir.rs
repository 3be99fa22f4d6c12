//! Directory blocks: the linear `ext4_dir_entry_2` record format, the metadata_csum tail
//! (a fake 12-byte entry holding the block checksum), and in-block insert/remove.
//!
//! Without the `filetype` feature the byte after the name length is the length's high byte,
//! not a type: callers pass type 0 then (names never exceed 255 bytes).
//!
//! Hashed (htree) directories keep the same leaf format; their index blocks parse here as a
//! block with a single empty record (that is how ext4 makes them invisible to linear
//! readers), so a linear scan of every block finds every entry. `fs` relies on that for
//! lookups and converts an htree directory to linear form before adding entries.

use crate::bytes::{le16, le32, set_le16, set_le32};
use crate::crc32c::crc32c;
use crate::error::{Error, Result};
use alloc::vec::Vec;

pub const FT_REG: u8 = 1;
pub const FT_DIR: u8 = 2;
const TAIL_LEN: usize = 12;

/// The directory-entry type for an inode mode (0: unknown).
pub fn ft_of_mode(mode: u16) -> u8 {
    match mode & crate::inode::S_IFMT {
        0x8000 => FT_REG,
        0x4000 => FT_DIR,
        0x2000 => 3,
        0x6000 => 4,
        0x1000 => 5,
        0xC000 => 6,
        0xA000 => 7,
        _ => 0,
    }
}
const TAIL_FT: u8 = 0xDE;

/// A record inside a block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub off: usize,
    pub inode: u32,
    pub rec_len: usize,
    pub file_type: u8,
    pub name: Vec<u8>,
}

/// Bytes a record with a name of `len` bytes needs.
pub fn rec_size(name_len: usize) -> usize {
    (8 + name_len + 3) & !3
}

/// Whether the block ends with a checksum tail record.
pub fn has_tail(buf: &[u8]) -> bool {
    let t = buf.len() - TAIL_LEN;
    le32(buf, t) == 0
        && le16(buf, t + 4) == TAIL_LEN as u16
        && buf[t + 6] == 0
        && buf[t + 7] == TAIL_FT
}

fn end_of_records(buf: &[u8], tail: bool) -> usize {
    if tail {
        buf.len() - TAIL_LEN
    } else {
        buf.len()
    }
}

/// Decodes a record length (values above 65535 use the large-block encoding).
fn rec_len_at(buf: &[u8], off: usize) -> usize {
    let v = le16(buf, off + 4) as usize;
    if buf.len() >= 65536 && (v == 65535 || v == 0) {
        return 65536;
    }
    v
}

fn set_rec_len(buf: &mut [u8], off: usize, len: usize) {
    let v = if len >= 65536 { 65535 } else { len as u16 };
    set_le16(buf, off + 4, v);
}

/// Walks every record of a block, including empty (inode 0) ones, calling
/// `f(offset, inode, rec_len, file_type, name)`. Fails on malformed records; the whole block
/// is checked even when `f` has seen what it wanted.
fn walk(buf: &[u8], tail: bool, mut f: impl FnMut(usize, u32, usize, u8, &[u8])) -> Result<()> {
    let end = end_of_records(buf, tail);
    let mut off = 0;
    while off < end {
        if off + 8 > end {
            return Err(Error::Corrupt("directory record header past block end"));
        }
        let rec_len = rec_len_at(buf, off);
        let name_len = buf[off + 6] as usize;
        if rec_len < 8
            || !rec_len.is_multiple_of(4)
            || off + rec_len > end
            || 8 + name_len > rec_len
        {
            return Err(Error::Corrupt("bad directory record length"));
        }
        f(
            off,
            le32(buf, off),
            rec_len,
            buf[off + 7],
            &buf[off + 8..off + 8 + name_len],
        );
        off += rec_len;
    }
    Ok(())
}

/// All records of a block, including empty (inode 0) ones. Fails on malformed records.
pub fn records(buf: &[u8], tail: bool) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    walk(buf, tail, |off, inode, rec_len, file_type, name| {
        out.push(Record {
            off,
            inode,
            rec_len,
            file_type,
            name: name.to_vec(),
        })
    })?;
    Ok(out)
}

/// The (inode, file type) of the live entry called `name`, without copying any record (the
/// lookup on every path walk). Fails on malformed records like [`records`].
pub fn find(buf: &[u8], tail: bool, name: &[u8]) -> Result<Option<(u32, u8)>> {
    let mut hit = None;
    walk(buf, tail, |_, inode, _, file_type, n| {
        if hit.is_none() && inode != 0 && n == name {
            hit = Some((inode, file_type));
        }
    })?;
    Ok(hit)
}

/// Formats an empty block (one unused record spanning it) with a tail if `tail`.
pub fn init_block(buf: &mut [u8], tail: bool) {
    buf.fill(0);
    let end = end_of_records(buf, tail);
    set_rec_len(buf, 0, end);
    if tail {
        let t = buf.len() - TAIL_LEN;
        set_le16(buf, t + 4, TAIL_LEN as u16);
        buf[t + 7] = TAIL_FT;
    }
}

fn write_record(buf: &mut [u8], off: usize, inode: u32, rec_len: usize, ft: u8, name: &[u8]) {
    set_le32(buf, off, inode);
    set_rec_len(buf, off, rec_len);
    buf[off + 6] = name.len() as u8;
    buf[off + 7] = ft;
    buf[off + 8..off + 8 + name.len()].copy_from_slice(name);
}

/// Writes "." and ".." into an empty block (the first block of a new directory); `ft_dir`
/// is [`FT_DIR`], or 0 without the filetype feature.
pub fn init_dot_block(buf: &mut [u8], tail: bool, self_ino: u32, parent_ino: u32, ft_dir: u8) {
    init_block(buf, tail);
    let end = end_of_records(buf, tail);
    write_record(buf, 0, self_ino, 12, ft_dir, b".");
    write_record(buf, 12, parent_ino, end - 12, ft_dir, b"..");
}

/// Adds a record if the block has room; returns whether it did.
pub fn insert(buf: &mut [u8], tail: bool, inode: u32, name: &[u8], ft: u8) -> Result<bool> {
    let need = rec_size(name.len());
    for r in records(buf, tail)? {
        if r.inode == 0 && r.rec_len >= need {
            write_record(buf, r.off, inode, r.rec_len, ft, name);
            return Ok(true);
        }
        let used = rec_size(r.name.len());
        if r.inode != 0 && r.rec_len >= used + need {
            set_rec_len(buf, r.off, used);
            write_record(buf, r.off + used, inode, r.rec_len - used, ft, name);
            return Ok(true);
        }
    }
    Ok(false)
}

/// Removes the record named `name`; returns its inode number if found.
pub fn remove(buf: &mut [u8], tail: bool, name: &[u8]) -> Result<Option<u32>> {
    let recs = records(buf, tail)?;
    for (i, r) in recs.iter().enumerate() {
        if r.inode != 0 && r.name == name {
            if i == 0 {
                // The first record of a block cannot merge backwards: mark it unused.
                set_le32(buf, r.off, 0);
            } else {
                let p = &recs[i - 1];
                set_rec_len(buf, p.off, p.rec_len + r.rec_len);
            }
            return Ok(Some(r.inode));
        }
    }
    Ok(None)
}

/// Points the record named `name` at a new inode (rename over an existing entry).
pub fn retarget(buf: &mut [u8], tail: bool, name: &[u8], inode: u32, ft: u8) -> Result<bool> {
    for r in records(buf, tail)? {
        if r.inode != 0 && r.name == name {
            set_le32(buf, r.off, inode);
            buf[r.off + 7] = ft;
            return Ok(true);
        }
    }
    Ok(false)
}

pub fn seal(buf: &mut [u8], inode_seed: u32) {
    let t = buf.len() - TAIL_LEN;
    let c = crc32c(inode_seed, &buf[..t]);
    set_le32(buf, t + 8, c);
}

pub fn verify(buf: &[u8], inode_seed: u32) -> bool {
    let t = buf.len() - TAIL_LEN;
    crc32c(inode_seed, &buf[..t]) == le32(buf, t + 8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_checksum() {
        let mut b = alloc::vec![0u8; 1024];
        init_dot_block(&mut b, true, 12, 2, FT_DIR);
        assert!(insert(&mut b, true, 13, b"hello", FT_REG).unwrap());
        assert!(insert(&mut b, true, 14, b"world", FT_REG).unwrap());
        let names: Vec<_> = records(&b, true)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(names, [&b"."[..], b"..", b"hello", b"world"]);
        assert_eq!(remove(&mut b, true, b"hello").unwrap(), Some(13));
        assert_eq!(remove(&mut b, true, b"hello").unwrap(), None);
        assert_eq!(find(&b, true, b"world").unwrap(), Some((14, FT_REG)));
        assert_eq!(find(&b, true, b"hello").unwrap(), None);
        assert_eq!(find(&b, true, b"..").unwrap(), Some((2, FT_DIR)));
        seal(&mut b, 99);
        assert!(has_tail(&b) && verify(&b, 99));
        b[30] ^= 0xFF;
        assert!(!verify(&b, 99));
    }

    #[test]
    fn full_block_refuses_and_bad_lengths_error() {
        let mut b = alloc::vec![0u8; 1024];
        init_block(&mut b, true);
        let name = [b'x'; 250];
        let mut n = 0;
        while insert(&mut b, true, 20 + n, &name, FT_REG).unwrap() {
            n += 1;
        }
        assert_eq!(n, 3);
        set_le16(&mut b, 4, 3);
        assert!(records(&b, true).is_err());
        assert!(find(&b, true, b"x").is_err());
    }
}

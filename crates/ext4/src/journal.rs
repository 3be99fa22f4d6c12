//! The jbd2 journal format: superblock, descriptor/commit/revoke blocks, block tags and
//! their checksums (v2 and v3), replay scanning and transaction encoding.
//!
//! Everything here is big-endian and device-independent: callers pass a closure that reads
//! journal block `n` (logical block of the journal inode), and get back which filesystem
//! blocks to write. `fs` maps journal blocks to disk blocks, writes and flushes.
//!
//! Write policy (see `fs::Ext4::commit`): every transaction starts at `s_first` and is
//! checkpointed right after it commits, so the log never holds more than one transaction
//! and revoke records are never needed when writing. Replay still honours revokes in
//! journals written by Linux.

use crate::bytes::{be32, set_be32, set_be64};
use crate::crc32c::crc32c;
use crate::error::{Error, Result};
use alloc::vec::Vec;

pub const MAGIC: u32 = 0xC03B_3998;
const BT_DESCRIPTOR: u32 = 1;
const BT_COMMIT: u32 = 2;
const BT_SB_V1: u32 = 3;
const BT_SB_V2: u32 = 4;
const BT_REVOKE: u32 = 5;

const INCOMPAT_REVOKE: u32 = 0x1;
const INCOMPAT_64BIT: u32 = 0x2;
const INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
const INCOMPAT_CSUM_V2: u32 = 0x8;
const INCOMPAT_CSUM_V3: u32 = 0x10;
const INCOMPAT_KNOWN: u32 =
    INCOMPAT_REVOKE | INCOMPAT_64BIT | INCOMPAT_ASYNC_COMMIT | INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3;
const COMPAT_CHECKSUM: u32 = 0x1;

const FLAG_ESCAPE: u32 = 1;
const FLAG_SAME_UUID: u32 = 2;
const FLAG_LAST_TAG: u32 = 8;

const CRC32C_CHKSUM: u8 = 4;

const SB_BLOCKSIZE: usize = 0xC;
const SB_MAXLEN: usize = 0x10;
const SB_FIRST: usize = 0x14;
const SB_SEQUENCE: usize = 0x18;
const SB_START: usize = 0x1C;
const SB_ERRNO: usize = 0x20;
const SB_COMPAT: usize = 0x24;
const SB_INCOMPAT: usize = 0x28;
const SB_UUID: usize = 0x30;
const SB_CHECKSUM_TYPE: usize = 0x50;
const SB_CHECKSUM: usize = 0xFC;
const SB_LEN: usize = 1024;

/// The journal superblock (journal block 0), raw plus the fields in use.
#[derive(Debug, Clone)]
pub struct JournalSb {
    pub raw: Vec<u8>,
    pub maxlen: u32,
    pub first: u32,
    pub sequence: u32,
    pub start: u32,
    pub incompat: u32,
}

impl JournalSb {
    pub fn parse(buf: &[u8], fs_block_size: usize) -> Result<JournalSb> {
        if buf.len() < SB_LEN || be32(buf, 0) != MAGIC {
            return Err(Error::Journal("bad journal superblock magic"));
        }
        let bt = be32(buf, 4);
        if bt != BT_SB_V1 && bt != BT_SB_V2 {
            return Err(Error::Journal("bad journal superblock type"));
        }
        if be32(buf, SB_BLOCKSIZE) as usize != fs_block_size {
            return Err(Error::Journal("journal block size differs from filesystem"));
        }
        let incompat = if bt == BT_SB_V2 {
            be32(buf, SB_INCOMPAT)
        } else {
            0
        };
        if incompat & !INCOMPAT_KNOWN != 0 {
            return Err(Error::UnsupportedFeature {
                which: "journal incompat",
                bits: incompat & !INCOMPAT_KNOWN,
            });
        }
        let sb = JournalSb {
            raw: buf.to_vec(),
            maxlen: be32(buf, SB_MAXLEN),
            first: be32(buf, SB_FIRST),
            sequence: be32(buf, SB_SEQUENCE),
            start: be32(buf, SB_START),
            incompat,
        };
        if sb.first == 0 || sb.first >= sb.maxlen {
            return Err(Error::Journal("journal first block out of range"));
        }
        if sb.start != 0 && (sb.start < sb.first || sb.start >= sb.maxlen) {
            return Err(Error::Journal("journal start out of range"));
        }
        if sb.csum_v2or3() {
            if buf[SB_CHECKSUM_TYPE] != CRC32C_CHKSUM {
                return Err(Error::Journal("journal checksum type is not crc32c"));
            }
            let mut copy = buf[..SB_LEN].to_vec();
            set_be32(&mut copy, SB_CHECKSUM, 0);
            if crc32c(!0, &copy) != be32(buf, SB_CHECKSUM) {
                return Err(Error::BadChecksum("journal superblock"));
            }
        }
        Ok(sb)
    }

    fn csum_v2or3(&self) -> bool {
        self.incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0
    }

    fn is64(&self) -> bool {
        self.incompat & INCOMPAT_64BIT != 0
    }

    fn csum_seed(&self) -> u32 {
        crc32c(!0, &self.raw[SB_UUID..SB_UUID + 16])
    }

    fn tag_bytes(&self) -> usize {
        if self.incompat & INCOMPAT_CSUM_V3 != 0 {
            return 16;
        }
        let sz = 12
            + if self.incompat & INCOMPAT_CSUM_V2 != 0 {
                2
            } else {
                0
            };
        if self.is64() { sz } else { sz - 4 }
    }

    fn tail_bytes(&self) -> usize {
        if self.csum_v2or3() { 4 } else { 0 }
    }

    /// Switches the journal to the format this crate writes: checksum v3 (when the
    /// filesystem uses metadata_csum) and 64-bit block numbers (when it is 64bit).
    pub fn configure_for_writing(&mut self, csum: bool, is64: bool) {
        let mut inc = self.incompat & !(INCOMPAT_CSUM_V2 | INCOMPAT_ASYNC_COMMIT);
        if csum {
            inc |= INCOMPAT_CSUM_V3;
            self.raw[SB_CHECKSUM_TYPE] = CRC32C_CHKSUM;
            let compat = be32(&self.raw, SB_COMPAT) & !COMPAT_CHECKSUM;
            set_be32(&mut self.raw, SB_COMPAT, compat);
        }
        if is64 {
            inc |= INCOMPAT_64BIT;
        }
        set_be32(&mut self.raw, 4, BT_SB_V2);
        self.incompat = inc;
        set_be32(&mut self.raw, SB_INCOMPAT, inc);
    }

    /// Sets start/sequence and returns the checksummed block to write at journal block 0.
    pub fn encode(&mut self, start: u32, sequence: u32) -> Vec<u8> {
        self.start = start;
        self.sequence = sequence;
        set_be32(&mut self.raw, SB_START, start);
        set_be32(&mut self.raw, SB_SEQUENCE, sequence);
        set_be32(&mut self.raw, SB_ERRNO, 0);
        if self.csum_v2or3() {
            set_be32(&mut self.raw, SB_CHECKSUM, 0);
            let c = crc32c(!0, &self.raw[..SB_LEN]);
            set_be32(&mut self.raw, SB_CHECKSUM, c);
        }
        self.raw.clone()
    }

    fn next(&self, pos: u32) -> u32 {
        if pos + 1 >= self.maxlen {
            self.first
        } else {
            pos + 1
        }
    }

    fn tag_csum(&self, seq: u32, data: &[u8]) -> u32 {
        crc32c(crc32c(self.csum_seed(), &seq.to_be_bytes()), data)
    }

    fn block_csum_ok(&self, block: &[u8], csum_off: usize) -> bool {
        if !self.csum_v2or3() {
            return true;
        }
        let mut copy = block.to_vec();
        set_be32(&mut copy, csum_off, 0);
        crc32c(self.csum_seed(), &copy) == be32(block, csum_off)
    }

    /// Finds what a replay must write: (filesystem block, journal block, escaped) in log
    /// order, plus the sequence number that follows the last committed transaction.
    pub fn scan(
        &self,
        mut read: impl FnMut(u32) -> Result<Vec<u8>>,
    ) -> Result<(Vec<ReplayBlock>, u32)> {
        let mut out = Vec::new();
        let mut revoked: Vec<(u64, u32)> = Vec::new();
        if self.start == 0 {
            return Ok((out, self.sequence));
        }
        let bs = be32(&self.raw, SB_BLOCKSIZE) as usize;
        let mut pos = self.start;
        let mut seq = self.sequence;
        let mut pending: Vec<ReplayBlock> = Vec::new();
        let mut pending_revokes: Vec<u64> = Vec::new();
        let mut steps = 0u64;
        'log: loop {
            steps += 1;
            if steps > self.maxlen as u64 * 2 {
                return Err(Error::Journal("journal log does not terminate"));
            }
            let block = read(pos)?;
            if block.len() != bs || be32(&block, 0) != MAGIC || be32(&block, 8) != seq {
                break;
            }
            match be32(&block, 4) {
                BT_DESCRIPTOR => {
                    if !self.block_csum_ok(&block, bs - 4) {
                        break;
                    }
                    let end = bs - self.tail_bytes();
                    let tb = self.tag_bytes();
                    let mut off = 12;
                    loop {
                        if off + tb > end {
                            break;
                        }
                        let t = &block[off..off + tb];
                        let v3 = self.incompat & INCOMPAT_CSUM_V3 != 0;
                        let flags = if v3 {
                            be32(t, 4)
                        } else {
                            u32::from(u16::from_be_bytes([t[6], t[7]]))
                        };
                        let mut target = be32(t, 0) as u64;
                        if self.is64() {
                            target |= (be32(t, 8) as u64) << 32;
                        }
                        pos = self.next(pos);
                        let data = read(pos)?;
                        if self.csum_v2or3() {
                            let c = self.tag_csum(seq, &data);
                            let ok = if v3 {
                                c == be32(t, 12)
                            } else {
                                c as u16 == u16::from_be_bytes([t[4], t[5]])
                            };
                            if !ok {
                                // A torn transaction: it cannot have committed validly.
                                break 'log;
                            }
                        }
                        pending.push(ReplayBlock {
                            target,
                            journal_block: pos,
                            escaped: flags & FLAG_ESCAPE != 0,
                            seq,
                        });
                        off += tb;
                        if flags & FLAG_SAME_UUID == 0 {
                            off += 16;
                        }
                        if flags & FLAG_LAST_TAG != 0 {
                            break;
                        }
                    }
                }
                BT_COMMIT => {
                    if self.incompat & (INCOMPAT_CSUM_V3 | INCOMPAT_CSUM_V2) != 0
                        && !self.block_csum_ok(&block, 16)
                    {
                        break;
                    }
                    out.append(&mut pending);
                    for b in pending_revokes.drain(..) {
                        revoked.push((b, seq));
                    }
                    seq = seq.wrapping_add(1);
                }
                BT_REVOKE => {
                    if !self.block_csum_ok(&block, bs - 4) {
                        break;
                    }
                    let count = be32(&block, 12) as usize;
                    let rec = if self.is64() { 8 } else { 4 };
                    if count < 16 || count > bs - self.tail_bytes() {
                        break;
                    }
                    let mut off = 16;
                    while off + rec <= count {
                        let b = if rec == 8 {
                            (be32(&block, off) as u64) << 32 | be32(&block, off + 4) as u64
                        } else {
                            be32(&block, off) as u64
                        };
                        pending_revokes.push(b);
                        off += rec;
                    }
                }
                _ => break,
            }
            pos = self.next(pos);
        }
        // A block revoked in transaction R is not replayed from any transaction up to R.
        out.retain(|b| {
            !revoked
                .iter()
                .any(|&(blk, rseq)| blk == b.target && rseq.wrapping_sub(b.seq) as i32 >= 0)
        });
        Ok((out, seq))
    }

    /// Restores the first word of an escaped journal copy.
    pub fn unescape(block: &mut [u8]) {
        set_be32(block, 0, MAGIC);
    }

    /// Encodes transaction `tid` holding `blocks` (filesystem block, contents) as the list of
    /// journal blocks to write from `s_first` on: descriptors with data, then the commit
    /// block last. Fails if the journal is too small for it.
    pub fn encode_transaction(
        &self,
        tid: u32,
        blocks: &[(u64, &[u8])],
        commit_secs: u64,
    ) -> Result<(Vec<Vec<u8>>, Vec<u8>)> {
        let bs = be32(&self.raw, SB_BLOCKSIZE) as usize;
        let tb = self.tag_bytes();
        let end = bs - self.tail_bytes();
        let uuid = &self.raw[SB_UUID..SB_UUID + 16];
        let mut out: Vec<Vec<u8>> = Vec::new();
        let mut i = 0;
        while i < blocks.len() {
            let mut desc = alloc::vec![0u8; bs];
            set_be32(&mut desc, 0, MAGIC);
            set_be32(&mut desc, 4, BT_DESCRIPTOR);
            set_be32(&mut desc, 8, tid);
            let desc_index = out.len();
            out.push(Vec::new());
            let mut off = 12;
            let mut first = true;
            let mut last_tag_off = 0;
            while i < blocks.len() {
                let need = tb + if first { 16 } else { 0 };
                if off + need > end {
                    break;
                }
                let (target, data) = blocks[i];
                let mut copy = data.to_vec();
                let mut flags = 0;
                if be32(&copy, 0) == MAGIC {
                    set_be32(&mut copy, 0, 0);
                    flags |= FLAG_ESCAPE;
                }
                if !first {
                    flags |= FLAG_SAME_UUID;
                }
                let t = &mut desc[off..off + tb];
                set_be32(t, 0, target as u32);
                if tb == 16 {
                    set_be32(t, 4, flags);
                    set_be32(t, 8, (target >> 32) as u32);
                    let c = self.tag_csum(tid, &copy);
                    set_be32(t, 12, c);
                } else {
                    t[6..8].copy_from_slice(&(flags as u16).to_be_bytes());
                    if self.is64() {
                        set_be32(t, 8, (target >> 32) as u32);
                    }
                    if self.incompat & INCOMPAT_CSUM_V2 != 0 {
                        let c = self.tag_csum(tid, &copy) as u16;
                        t[4..6].copy_from_slice(&c.to_be_bytes());
                    }
                }
                last_tag_off = off;
                off += tb;
                if first {
                    desc[off..off + 16].copy_from_slice(uuid);
                    off += 16;
                    first = false;
                }
                out.push(copy);
                i += 1;
            }
            if first {
                return Err(Error::Journal("journal block too small for a tag"));
            }
            let fo = last_tag_off + if tb == 16 { 4 } else { 6 };
            if tb == 16 {
                let f = be32(&desc, fo) | FLAG_LAST_TAG;
                set_be32(&mut desc, fo, f);
            } else {
                let f = u16::from_be_bytes([desc[fo], desc[fo + 1]]) | FLAG_LAST_TAG as u16;
                desc[fo..fo + 2].copy_from_slice(&f.to_be_bytes());
            }
            if self.csum_v2or3() {
                let c = crc32c(self.csum_seed(), &desc);
                set_be32(&mut desc, bs - 4, c);
            }
            out[desc_index] = desc;
        }
        let mut commit = alloc::vec![0u8; bs];
        set_be32(&mut commit, 0, MAGIC);
        set_be32(&mut commit, 4, BT_COMMIT);
        set_be32(&mut commit, 8, tid);
        set_be64(&mut commit, 0x30, commit_secs);
        if self.csum_v2or3() {
            let c = crc32c(self.csum_seed(), &commit);
            set_be32(&mut commit, 16, c);
        }
        if (out.len() + 1) as u64 > (self.maxlen - self.first) as u64 {
            return Err(Error::Journal("transaction larger than the journal"));
        }
        Ok((out, commit))
    }

    /// Largest number of metadata blocks one transaction may carry in this journal.
    pub fn capacity(&self) -> usize {
        let bs = be32(&self.raw, SB_BLOCKSIZE) as usize;
        let per_desc = (bs - 12 - self.tail_bytes() - 16) / self.tag_bytes();
        let room = (self.maxlen - self.first) as usize - 1;
        room * per_desc / (per_desc + 1)
    }
}

/// One block a replay writes home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayBlock {
    pub target: u64,
    pub journal_block: u32,
    pub escaped: bool,
    seq: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh v2 journal superblock as mkfs writes it (no features), 1 KiB blocks.
    fn fresh_sb(maxlen: u32) -> JournalSb {
        let mut raw = alloc::vec![0u8; 1024];
        set_be32(&mut raw, 0, MAGIC);
        set_be32(&mut raw, 4, BT_SB_V2);
        set_be32(&mut raw, SB_BLOCKSIZE, 1024);
        set_be32(&mut raw, SB_MAXLEN, maxlen);
        set_be32(&mut raw, SB_FIRST, 1);
        set_be32(&mut raw, SB_SEQUENCE, 7);
        raw[SB_UUID..SB_UUID + 16].copy_from_slice(&[0xAB; 16]);
        JournalSb::parse(&raw, 1024).unwrap()
    }

    fn round_trip(csum: bool, is64: bool) {
        let mut sb = fresh_sb(64);
        sb.configure_for_writing(csum, is64);
        let encoded_sb = sb.encode(0, 7);
        let mut sb = JournalSb::parse(&encoded_sb, 1024).unwrap();
        // 70 blocks need two descriptor blocks; one starts with the journal magic.
        let mut datas: Vec<Vec<u8>> = (0..70u8).map(|i| alloc::vec![i; 1024]).collect();
        set_be32(&mut datas[3], 0, MAGIC);
        let blocks: Vec<(u64, &[u8])> = datas
            .iter()
            .enumerate()
            .map(|(i, d)| (1000 + i as u64, d.as_slice()))
            .collect();
        let err = sb.encode_transaction(7, &blocks, 0);
        assert!(err.is_err(), "70 blocks cannot fit a 64-block journal");
        let blocks = &blocks[..40];
        let (mut log, commit) = sb.encode_transaction(7, blocks, 123).unwrap();
        log.push(commit);
        let mut journal: Vec<Vec<u8>> = alloc::vec![alloc::vec![0u8; 1024]; 64];
        for (i, b) in log.iter().enumerate() {
            journal[1 + i] = b.clone();
        }
        journal[0] = sb.encode(1, 7);
        let sb = JournalSb::parse(&journal[0], 1024).unwrap();
        let (replay, next) = sb.scan(|n| Ok(journal[n as usize].clone())).unwrap();
        assert_eq!(next, 8);
        assert_eq!(replay.len(), 40);
        for (i, rb) in replay.iter().enumerate() {
            assert_eq!(rb.target, 1000 + i as u64);
            let mut b = journal[rb.journal_block as usize].clone();
            if rb.escaped {
                JournalSb::unescape(&mut b);
            }
            assert_eq!(b, datas[i]);
        }
        assert!(replay[3].escaped && !replay[4].escaped);
        // Without the commit block nothing replays.
        let last = 1 + log.len() - 1;
        journal[last] = alloc::vec![0u8; 1024];
        let (replay, next) = sb.scan(|n| Ok(journal[n as usize].clone())).unwrap();
        assert!(replay.is_empty());
        assert_eq!(next, 7);
    }

    #[test]
    fn transactions_round_trip_in_every_tag_format() {
        round_trip(true, true);
        round_trip(true, false);
        round_trip(false, true);
        round_trip(false, false);
    }

    #[test]
    fn corrupted_tagged_block_stops_replay_with_checksums() {
        let mut sb = fresh_sb(64);
        sb.configure_for_writing(true, true);
        let d = alloc::vec![5u8; 1024];
        let (mut log, commit) = sb.encode_transaction(7, &[(50, d.as_slice())], 0).unwrap();
        log.push(commit);
        let mut journal = alloc::vec![alloc::vec![0u8; 1024]; 64];
        for (i, b) in log.iter().enumerate() {
            journal[1 + i] = b.clone();
        }
        journal[2][100] ^= 1;
        journal[0] = sb.encode(1, 7);
        let (replay, _) = sb.scan(|n| Ok(journal[n as usize].clone())).unwrap();
        assert!(replay.is_empty());
    }
}

//! Journal use: opening the journal at mount, replaying a dirty one, and committing a
//! transaction: file data and journal blocks, flush; commit block, journal superblock
//! pointing at it and the superblock's recovery flag, flush; checkpoint, flush; journal
//! marked empty, flush. Part of `impl Ext4`; the on-disk format is in `journal`.

use crate::error::{Error, Result};
use crate::extent;
use crate::fs::{Ext4, Journal};
use crate::journal::JournalSb;
use crate::superblock::{self as sbm, Superblock};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use blockdev::BlockDevice;

impl<D: BlockDevice> Ext4<D> {
    pub(crate) fn open_journal(&mut self) -> Result<()> {
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
            // Only in memory: the first commit writes the journal superblock with these
            // features in the same block that points the journal at the transaction, so a
            // mount that changes nothing writes nothing.
            let (csum, is64) = (self.sb.csum, self.sb.is_64bit());
            if let Some(j) = self.journal.as_mut() {
                j.sb.configure_for_writing(csum, is64);
            }
        }
        Ok(())
    }

    pub(crate) fn jblock(&self, n: u32) -> Result<u64> {
        let j = self.journal.as_ref().ok_or(Error::Journal("no journal"))?;
        let e = extent::find(&j.map, n).ok_or(Error::Journal("journal block not mapped"))?;
        Ok(e.pblk + (n - e.lblk) as u64)
    }

    pub(crate) fn replay(&mut self) -> Result<()> {
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
                self.forget_verified(rb.target);
                self.dirty.insert(rb.target, b);
            }
        }
        // The replayed superblock and descriptors supersede what was read at mount, and
        // nothing cached before the replay may be trusted.
        self.cache.clear();
        self.verified.clear();
        let (sblk, soff) = self.sb_location();
        let sbuf = self.read_meta(sblk)?;
        let mut sb = Superblock::parse(&sbuf[soff..soff + 1024])?;
        if sb.block_size != bs || sb.blocks_count != self.sb.blocks_count {
            return Err(Error::Journal("replayed superblock changes the geometry"));
        }
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

    // ----- transactions -----------------------------------------------------------------

    pub(crate) fn maybe_commit(&mut self) -> Result<()> {
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
    /// Fails with [`Error::HasErrors`] once corruption was detected in a read-write mount:
    /// nothing is written then.
    pub fn sync(&mut self) -> Result<()> {
        if self.writable && self.errors.is_some() {
            return Err(Error::HasErrors);
        }
        let r = self.commit();
        self.noticed(r)
    }

    /// Syncs and gives the device back. After detected corruption nothing is written (the
    /// open transaction was dropped when it was found), and the device comes back as is.
    pub fn unmount(mut self) -> Result<D> {
        if self.errors.is_none() {
            self.commit()?;
        }
        Ok(self.dev)
    }

    pub(crate) fn commit(&mut self) -> Result<()> {
        if !self.writable
            || self.errors.is_some()
            || (self.dirty.is_empty() && self.gdt_dirty.is_empty() && !self.sb_dirty)
        {
            return Ok(());
        }
        let bs = self.sb.block_size;
        self.seal_bitmaps()?;
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
            if self.cache.len() < self.cache_limit {
                // Same bytes as the dirty copy, so a verified mark stays true.
                self.cache.insert(blk, data);
            } else {
                self.forget_verified(blk);
            }
        }
        self.freed.clear();
        self.sb_dirty = false;
        Ok(())
    }

    /// Journals `blocks`, then checkpoints them (see the module docs for the order).
    pub(crate) fn write_transaction(
        &mut self,
        blocks: &BTreeMap<u64, Vec<u8>>,
        sblk: u64,
    ) -> Result<()> {
        if self.journal.is_some() {
            let list: Vec<(u64, &[u8])> = blocks.iter().map(|(k, v)| (*k, v.as_slice())).collect();
            let (tid, first, jblocks, commit) = {
                let j = self.journal.as_ref().ok_or(Error::Journal("no journal"))?;
                let tid = j.sb.sequence;
                let (jb, c) = j.sb.encode_transaction(tid, &list, self.now)?;
                (tid, j.sb.first, jb, c)
            };
            for (k, b) in jblocks.iter().enumerate() {
                let p = self.jblock(first + k as u32)?;
                self.dev_write(p, b)?;
            }
            // One flush makes both the file data (ordered mode: data before the metadata
            // that points at it) and the journaled metadata durable before the commit block.
            self.dev.flush()?;
            let p = self.jblock(first + jblocks.len() as u32)?;
            self.dev_write(p, &commit)?;
            // Point the journal at the transaction and flag recovery in the same epoch as
            // the commit block: if these land without the commit block, a replay finds a
            // descriptor of this transaction but no commit (the block after it holds an
            // older sequence number or garbage) and replays nothing. Checkpointing starts
            // only after all three are durable.
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
            // Without a journal only the order is kept: file data before the metadata.
            self.dev.flush()?;
            for (blk, data) in blocks {
                self.dev_write(*blk, data)?;
            }
            self.dev.flush()?;
        }
        Ok(())
    }
}

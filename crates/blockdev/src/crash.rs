//! [`CrashDevice`]: an in-memory device that records its write stream so that crash tests can
//! rebuild the disk as a power cut would have left it.
//!
//! The model: writes issued since the last flush sit in a volatile cache and may reach the
//! medium in any order; a flush makes all of them durable. [`CrashDevice::crash_image`] applies
//! every write before a chosen cut point, optionally letting only a random subset of the
//! writes of the unfinished flush epoch land (the reordering a real disk may do).

use crate::{BlockDevice, IoError, MemDevice};
use alloc::vec::Vec;
use rng::SplitMix64;

/// One recorded device operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrashEvent {
    /// A completed write of whole blocks at `lba`.
    Write { lba: u64, data: Vec<u8> },
    /// A completed flush (barrier).
    Flush,
}

/// A recording device. Reads see every write issued so far, like a real disk with its cache.
#[derive(Debug, Clone)]
pub struct CrashDevice {
    initial: MemDevice,
    current: MemDevice,
    events: Vec<CrashEvent>,
}

impl CrashDevice {
    /// Starts recording on top of `image` (the durable state at time zero).
    pub fn new(image: Vec<u8>, block_size: usize) -> Result<Self, IoError> {
        let current = MemDevice::new(image.clone(), block_size)?;
        Ok(CrashDevice {
            initial: MemDevice::new(image, block_size)?,
            current,
            events: Vec::new(),
        })
    }

    /// Every event recorded so far.
    pub fn events(&self) -> &[CrashEvent] {
        &self.events
    }

    /// Number of writes recorded so far (valid cut points are `0..=write_count()`).
    pub fn write_count(&self) -> usize {
        self.events
            .iter()
            .filter(|e| matches!(e, CrashEvent::Write { .. }))
            .count()
    }

    /// The image with every write applied (what a clean shutdown leaves).
    pub fn current_image(&self) -> &[u8] {
        self.current.data()
    }

    /// The image after a power cut that happens once `cut` writes have been issued.
    ///
    /// Every flush epoch that finished before the cut is applied whole. Of the epoch in which
    /// the cut falls, `cut - epoch_start` writes land: the first ones in issue order when
    /// `reorder_seed` is `None`, otherwise a seeded random choice of them.
    pub fn crash_image(&self, cut: usize, reorder_seed: Option<u64>) -> Vec<u8> {
        let mut image = self.initial.clone();
        let mut epoch: Vec<(u64, &[u8])> = Vec::new();
        let mut issued = 0usize;
        for event in &self.events {
            match event {
                CrashEvent::Flush => {
                    for (lba, data) in epoch.drain(..) {
                        // The same geometry accepted these writes when they were recorded.
                        let _ = image.write_blocks(lba, data);
                    }
                }
                CrashEvent::Write { lba, data } => {
                    if issued == cut {
                        break;
                    }
                    issued += 1;
                    epoch.push((*lba, data));
                }
            }
        }
        // `epoch` now holds the issued but unflushed writes; the cut fell among them or after.
        if let Some(seed) = reorder_seed {
            // The seed names the reordering for good: the stream is the pinned SplitMix64.
            let mut rng = SplitMix64::new(seed);
            // Each unflushed write independently made it to the medium or not.
            epoch.retain(|_| rng.next_u64() & 1 == 1);
        }
        for (lba, data) in epoch {
            let _ = image.write_blocks(lba, data);
        }
        image.into_data()
    }
}

impl BlockDevice for CrashDevice {
    fn block_size(&self) -> usize {
        self.current.block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.current.num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.current.read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        self.current.write_blocks(lba, buf)?;
        self.events.push(CrashEvent::Write {
            lba,
            data: buf.to_vec(),
        });
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.events.push(CrashEvent::Flush);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_applies_prefix_and_flushed_epochs() {
        let mut d = CrashDevice::new(alloc::vec![0; 4 * 512], 512).unwrap();
        d.write_blocks(0, &[1; 512]).unwrap();
        d.flush().unwrap();
        d.write_blocks(1, &[2; 512]).unwrap();
        d.write_blocks(2, &[3; 512]).unwrap();
        assert_eq!(d.write_count(), 3);
        let img = d.crash_image(0, None);
        assert!(img.iter().all(|&b| b == 0));
        let img = d.crash_image(2, None);
        assert_eq!(img[0], 1);
        assert_eq!(img[512], 2);
        assert_eq!(img[1024], 0);
        assert_eq!(d.crash_image(3, None), d.current_image());
        // With reordering, flushed writes always survive and unflushed ones may or may not.
        let mut saw_partial = false;
        for seed in 0..32 {
            let img = d.crash_image(3, Some(seed));
            assert_eq!(img[0], 1);
            assert!(img[512] == 0 || img[512] == 2);
            assert!(img[1024] == 0 || img[1024] == 3);
            saw_partial |= img[512] != img[1024] / 3 * 2;
        }
        assert!(saw_partial);
    }
}

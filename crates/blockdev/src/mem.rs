//! [`MemDevice`]: a block device held in a `Vec<u8>`, the reference device for host tests.
//! Neighbours: [`crate::CrashDevice`] builds on the same byte-image idea.

use crate::{BlockDevice, IoError, byte_range};
use alloc::vec::Vec;

/// A block device stored in memory. Flush is a no-op: memory is the medium.
#[derive(Debug, Clone)]
pub struct MemDevice {
    block_size: usize,
    data: Vec<u8>,
}

impl MemDevice {
    /// Wraps an image. Trailing bytes that do not fill a whole block are kept but unreachable.
    /// Returns `IoError::BadLength` if `block_size` is not a power of two of at least 512.
    pub fn new(data: Vec<u8>, block_size: usize) -> Result<Self, IoError> {
        if block_size < 512 || !block_size.is_power_of_two() {
            return Err(IoError::BadLength);
        }
        Ok(MemDevice { block_size, data })
    }

    /// A zero-filled device of `num_blocks` blocks.
    pub fn zeroed(num_blocks: usize, block_size: usize) -> Result<Self, IoError> {
        let len = num_blocks
            .checked_mul(block_size)
            .ok_or(IoError::OutOfRange)?;
        Self::new(alloc::vec![0; len], block_size)
    }

    /// The whole image.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Gives the image back.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }
}

impl BlockDevice for MemDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }
    fn num_blocks(&self) -> u64 {
        (self.data.len() / self.block_size) as u64
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let r = byte_range(self.block_size, self.num_blocks(), lba, buf.len())?;
        buf.copy_from_slice(&self.data[r]);
        Ok(())
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        let r = byte_range(self.block_size, self.num_blocks(), lba, buf.len())?;
        self.data[r].copy_from_slice(buf);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), IoError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_bounds() {
        let mut d = MemDevice::zeroed(4, 512).unwrap();
        d.write_blocks(1, &[7u8; 1024]).unwrap();
        let mut b = [0u8; 512];
        d.read_blocks(2, &mut b).unwrap();
        assert_eq!(b, [7u8; 512]);
        assert_eq!(d.read_blocks(3, &mut [0u8; 1024]), Err(IoError::OutOfRange));
        assert_eq!(d.read_blocks(0, &mut [0u8; 100]), Err(IoError::BadLength));
        assert_eq!(
            d.write_blocks(u64::MAX, &[0u8; 512]),
            Err(IoError::OutOfRange)
        );
        assert!(MemDevice::zeroed(1, 1000).is_err());
    }
}

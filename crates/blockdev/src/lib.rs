//! Block devices for the Nous storage stack.
//!
//! Design principles: a block device is a tiny trait (`BlockDevice`) so that the filesystem
//! (`ext4`) never touches hardware; the kernel implements it over virtio-blk, host tests over
//! memory ([`MemDevice`]) or an image file (`FileDevice`, `std` feature), and crash tests over
//! [`CrashDevice`], which records every write and flush so that a test can rebuild the disk as
//! it would look after a power cut at any point of the write stream.
//!
//! All transfers are whole device blocks; a length that is not a multiple of the block size or
//! a range past the end is an [`IoError`], never a panic.
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod crash;
#[cfg(feature = "std")]
mod file;
mod mem;

pub use crash::{CrashDevice, CrashEvent};
#[cfg(feature = "std")]
pub use file::FileDevice;
pub use mem::MemDevice;

/// Why a block transfer failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IoError {
    /// The buffer length is not a non-zero multiple of the device block size.
    BadLength,
    /// The request reaches past the last block of the device.
    OutOfRange,
    /// The underlying medium reported an error (host I/O error, virtio status, ...).
    Device(&'static str),
}

impl core::fmt::Display for IoError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            IoError::BadLength => write!(f, "buffer length is not a multiple of the block size"),
            IoError::OutOfRange => write!(f, "block range past the end of the device"),
            IoError::Device(what) => write!(f, "device error: {what}"),
        }
    }
}

/// A random-access device made of fixed-size blocks (for example 512-byte virtio sectors).
pub trait BlockDevice {
    /// Size of one device block in bytes (a power of two, at least 512).
    fn block_size(&self) -> usize;
    /// Number of blocks on the device.
    fn num_blocks(&self) -> u64;
    /// Reads `buf.len() / block_size()` blocks starting at block `lba`.
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError>;
    /// Writes `buf.len() / block_size()` blocks starting at block `lba`. The data may sit in a
    /// volatile cache until the next [`BlockDevice::flush`].
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError>;
    /// Makes every completed write durable.
    fn flush(&mut self) -> Result<(), IoError>;
}

impl<T: BlockDevice + ?Sized> BlockDevice for &mut T {
    fn block_size(&self) -> usize {
        (**self).block_size()
    }
    fn num_blocks(&self) -> u64 {
        (**self).num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        (**self).read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        (**self).write_blocks(lba, buf)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        (**self).flush()
    }
}

/// Checks a transfer against the device geometry and returns its byte range.
pub(crate) fn byte_range(
    block_size: usize,
    num_blocks: u64,
    lba: u64,
    len: usize,
) -> Result<core::ops::Range<usize>, IoError> {
    if len == 0 || !len.is_multiple_of(block_size) {
        return Err(IoError::BadLength);
    }
    let count = (len / block_size) as u64;
    let end_block = lba.checked_add(count).ok_or(IoError::OutOfRange)?;
    if end_block > num_blocks {
        return Err(IoError::OutOfRange);
    }
    let start = usize::try_from(lba)
        .ok()
        .and_then(|l| l.checked_mul(block_size))
        .ok_or(IoError::OutOfRange)?;
    Ok(start..start + len)
}

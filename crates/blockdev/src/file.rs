//! [`FileDevice`]: a block device over a host image file (`std` feature), used by host tests,
//! the `ext4-bench` tool and xtask. Flush maps to `File::sync_data`.

use crate::{BlockDevice, IoError};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};

/// A host file seen as a block device. The block count is fixed at open time.
#[derive(Debug)]
pub struct FileDevice {
    file: File,
    block_size: usize,
    num_blocks: u64,
}

impl FileDevice {
    /// Wraps an open file (read-write for writes to succeed).
    pub fn new(file: File, block_size: usize) -> Result<Self, IoError> {
        if block_size < 512 || !block_size.is_power_of_two() {
            return Err(IoError::BadLength);
        }
        let len = file
            .metadata()
            .map_err(|_| IoError::Device("cannot stat image file"))?
            .len();
        Ok(FileDevice {
            file,
            block_size,
            num_blocks: len / block_size as u64,
        })
    }

    /// Opens `path` read-write.
    pub fn open(path: &std::path::Path, block_size: usize) -> Result<Self, IoError> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|_| IoError::Device("cannot open image file"))?;
        Self::new(file, block_size)
    }

    fn seek_checked(&mut self, lba: u64, len: usize) -> Result<(), IoError> {
        if len == 0 || !len.is_multiple_of(self.block_size) {
            return Err(IoError::BadLength);
        }
        let end = lba
            .checked_add((len / self.block_size) as u64)
            .ok_or(IoError::OutOfRange)?;
        if end > self.num_blocks {
            return Err(IoError::OutOfRange);
        }
        self.file
            .seek(SeekFrom::Start(lba * self.block_size as u64))
            .map_err(|_| IoError::Device("seek failed"))?;
        Ok(())
    }
}

impl BlockDevice for FileDevice {
    fn block_size(&self) -> usize {
        self.block_size
    }
    fn num_blocks(&self) -> u64 {
        self.num_blocks
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.seek_checked(lba, buf.len())?;
        self.file
            .read_exact(buf)
            .map_err(|_| IoError::Device("read failed"))
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        self.seek_checked(lba, buf.len())?;
        self.file
            .write_all(buf)
            .map_err(|_| IoError::Device("write failed"))
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.file
            .sync_data()
            .map_err(|_| IoError::Device("sync failed"))
    }
}

//! [`FileDevice`]: a block device over a host image file (`std` feature), used by host tests,
//! the `ext4-bench` tool and xtask. Flush maps to `File::sync_data`.
//!
//! On Unix each transfer is one positioned system call (`pread`/`pwrite` through
//! `std::os::unix::fs::FileExt`) rather than a seek plus a read or write: with small
//! transfers the system calls are most of the cost, and the file position is never shared
//! state.

use crate::{BlockDevice, IoError};
use std::fs::File;
#[cfg(not(unix))]
use std::io::{Read, Seek, SeekFrom, Write};
#[cfg(unix)]
use std::os::unix::fs::FileExt;

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

    /// Byte offset of block `lba` after checking that `len` bytes from there are whole blocks
    /// inside the device.
    fn offset_checked(&self, lba: u64, len: usize) -> Result<u64, IoError> {
        if len == 0 || !len.is_multiple_of(self.block_size) {
            return Err(IoError::BadLength);
        }
        let end = lba
            .checked_add((len / self.block_size) as u64)
            .ok_or(IoError::OutOfRange)?;
        if end > self.num_blocks {
            return Err(IoError::OutOfRange);
        }
        Ok(lba * self.block_size as u64)
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
        let at = self.offset_checked(lba, buf.len())?;
        #[cfg(unix)]
        let done = self.file.read_exact_at(buf, at);
        #[cfg(not(unix))]
        let done = self
            .file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.read_exact(buf));
        done.map_err(|_| IoError::Device("read failed"))
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        let at = self.offset_checked(lba, buf.len())?;
        #[cfg(unix)]
        let done = self.file.write_all_at(buf, at);
        #[cfg(not(unix))]
        let done = self
            .file
            .seek(SeekFrom::Start(at))
            .and_then(|_| self.file.write_all(buf));
        done.map_err(|_| IoError::Device("write failed"))
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.file
            .sync_data()
            .map_err(|_| IoError::Device("sync failed"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positioned_transfers_and_bounds() {
        let path = std::env::temp_dir().join(format!("blockdev-file-{}.img", std::process::id()));
        std::fs::write(&path, vec![0u8; 4 * 512]).unwrap();
        let mut d = FileDevice::open(&path, 512).unwrap();
        assert_eq!(d.num_blocks(), 4);
        d.write_blocks(1, &[7u8; 1024]).unwrap();
        d.write_blocks(0, &[1u8; 512]).unwrap();
        let mut b = [0u8; 1536];
        d.read_blocks(0, &mut b).unwrap();
        assert!(b[..512].iter().all(|&x| x == 1));
        assert!(b[512..].iter().all(|&x| x == 7));
        assert_eq!(d.read_blocks(3, &mut [0u8; 1024]), Err(IoError::OutOfRange));
        assert_eq!(d.read_blocks(0, &mut [0u8; 100]), Err(IoError::BadLength));
        assert_eq!(
            d.write_blocks(u64::MAX, &[0u8; 512]),
            Err(IoError::OutOfRange)
        );
        d.flush().unwrap();
        drop(d);
        let on_disk = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(on_disk[0], 1);
        assert_eq!(on_disk[512], 7);
        assert_eq!(on_disk[3 * 512], 0);
    }
}

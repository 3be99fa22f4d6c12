//! The data disk as the block-device stack below ext4: the virtio-blk driver seen through
//! the `BlockDevice` trait ([`VirtioDisk`]) and the cache's page source ([`ReclaimableFrames`]).

use blockcache::PageSource;
use blockdev::{BlockDevice, IoError};
use buddy::MigrateType;
use hal::mem::frames::OwnedFrame;
use hal::virtio::{VirtioBlock, VirtioError};

/// The data disk as a `BlockDevice` of 512-byte sectors.
pub struct VirtioDisk(pub VirtioBlock);

fn io(e: VirtioError) -> IoError {
    IoError::Device(match e {
        VirtioError::ReadOnly => "disk is read-only",
        VirtioError::BadRange => "out of range",
        VirtioError::NoMemory => "out of memory",
        VirtioError::Dma(_) => "no memory for a DMA bounce buffer",
        VirtioError::Init(what) | VirtioError::Io(what) => what,
    })
}

impl BlockDevice for VirtioDisk {
    fn block_size(&self) -> usize {
        512
    }
    fn num_blocks(&self) -> u64 {
        self.0.sectors()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read(lba, buf).map_err(io)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        self.0.write(lba, buf).map_err(io)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.0.flush().map_err(io)
    }
}

/// Cache pages: single `Reclaimable` frames, so reclaim returns them to the buddy allocator.
pub struct ReclaimableFrames;

impl PageSource for ReclaimableFrames {
    type Page = OwnedFrame;
    fn alloc_page(&mut self) -> Option<OwnedFrame> {
        OwnedFrame::new(0, MigrateType::Reclaimable).ok()
    }
}

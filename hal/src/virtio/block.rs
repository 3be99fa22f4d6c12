//! The virtio-blk disk: [`VirtioBlock`], the safe sector interface the kernel's storage layer
//! builds its block cache on.
//!
//! A request moves at most [`MAX_TRANSFER`] bytes; longer reads and writes are split. Before
//! each request the driver reserves the bounce blocks it will need (the request header and
//! status byte `virtio-drivers` keeps on the calling thread's stack, and the data when the
//! caller's buffer is outside the direct map), so a full bounce pool is a [`VirtioError::Dma`]
//! returned to the caller, never a panic. Buffers in the direct map (the block cache's
//! `OwnedFrame` pages) go to the device by address, with no copy.

use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::{DeviceType, Transport};

use super::{VirtioError, VirtioHal, io_error, transport};
use crate::dma::{self, BounceReservation};
use crate::pci::PciDevice;

/// Largest transfer per request: QEMU accepts far more; one bounce block bounds it, and
/// smaller requests keep each polled wait short.
pub const MAX_TRANSFER: usize = 64 * 1024;
/// The request header (16 bytes) and status byte virtio-drivers shares from the stack.
const HEADER_BYTES: usize = 16;
const STATUS_BYTES: usize = 1;

/// A virtio-blk disk on the PCI bus, driven synchronously.
pub struct VirtioBlock {
    device: VirtIOBlk<VirtioHal, PciTransport>,
    sectors: u64,
    device_info: PciDevice,
    /// Requests served (reads, writes, flushes), for `df` and the metrics.
    pub requests: u64,
}

impl VirtioBlock {
    /// Initialises the claimed device (from `hal::pci::claim_virtio(VirtioKind::Block)`).
    pub fn new(device: PciDevice) -> Result<Self, VirtioError> {
        let transport = transport(&device)?;
        if transport.device_type() != DeviceType::Block {
            return Err(VirtioError::Init("not a block device"));
        }
        let blk = VirtIOBlk::<VirtioHal, _>::new(transport)
            .map_err(|_| VirtioError::Init("virtio-blk device (queues need DMA memory)"))?;
        let sectors = blk.capacity();
        Ok(Self {
            device: blk,
            sectors,
            device_info: device,
            requests: 0,
        })
    }

    /// Capacity in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn read_only(&self) -> bool {
        self.device.readonly()
    }

    /// PCI bus, device and function.
    pub fn location(&self) -> (u8, u8, u8) {
        let at = self.device_info.location();
        (at.bus, at.device, at.function)
    }

    fn check(&self, sector: u64, len: usize) -> Result<(), VirtioError> {
        let count = (len / SECTOR_SIZE) as u64;
        if len == 0
            || !len.is_multiple_of(SECTOR_SIZE)
            || sector.saturating_add(count) > self.sectors
        {
            return Err(VirtioError::BadRange);
        }
        Ok(())
    }

    /// Reserves the bounce blocks one request over `chunk` needs.
    fn reserve(chunk: &[u8]) -> Result<BounceReservation, VirtioError> {
        let reservation = if dma::in_direct_map(chunk.as_ptr() as usize, chunk.len()) {
            dma::reserve(&[HEADER_BYTES, STATUS_BYTES])
        } else {
            dma::reserve(&[HEADER_BYTES, chunk.len(), STATUS_BYTES])
        };
        Ok(reservation?)
    }

    /// Reads whole sectors starting at `sector` into `buf`.
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), VirtioError> {
        self.check(sector, buf.len())?;
        for (i, chunk) in buf.chunks_mut(MAX_TRANSFER).enumerate() {
            let at = sector + (i * MAX_TRANSFER / SECTOR_SIZE) as u64;
            let _reservation = Self::reserve(chunk)?;
            self.requests += 1;
            self.device
                .read_blocks(at as usize, chunk)
                .map_err(io_error)?;
        }
        Ok(())
    }

    /// Writes whole sectors starting at `sector` from `buf` (durable after [`Self::flush`]).
    pub fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), VirtioError> {
        self.check(sector, buf.len())?;
        if self.read_only() {
            return Err(VirtioError::ReadOnly);
        }
        for (i, chunk) in buf.chunks(MAX_TRANSFER).enumerate() {
            let at = sector + (i * MAX_TRANSFER / SECTOR_SIZE) as u64;
            let _reservation = Self::reserve(chunk)?;
            self.requests += 1;
            self.device
                .write_blocks(at as usize, chunk)
                .map_err(io_error)?;
        }
        Ok(())
    }

    /// Asks the device to make completed writes durable (QEMU: fsync of the image file).
    pub fn flush(&mut self) -> Result<(), VirtioError> {
        let _reservation = dma::reserve(&[HEADER_BYTES, STATUS_BYTES])?;
        self.requests += 1;
        match self.device.flush() {
            Ok(()) => Ok(()),
            // A device without a volatile write cache does not offer FLUSH; its writes are
            // durable on completion.
            Err(virtio_drivers::Error::Unsupported) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }
}

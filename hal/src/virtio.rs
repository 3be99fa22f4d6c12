//! The virtio-blk disk: `virtio-drivers`' device logic on the PCI transport, given memory and
//! registers by this module.
//!
//! Key types: [`VirtioHal`] implements the crate's `Hal` trait (DMA memory from the frame
//! allocator, BAR mapping, buffer sharing), and [`VirtioBlock`] is the safe sector interface the
//! kernel's storage layer builds its block cache on. Requests are synchronous and polled: the
//! request lock is held by one thread, which spins on the used ring (QEMU completes the request
//! on its I/O thread), and the timer keeps preempting it, so other threads still run.
//!
//! DMA and sharing: the kernel's RAM is identity-offset in the direct map, so a buffer that lies
//! in the direct map (the block cache's `OwnedFrame` pages) is handed to the device by
//! address, with no copy. Any other buffer — the request header and status byte virtio-drivers
//! keeps on the calling thread's stack, or a caller's heap buffer — is first copied into a
//! direct-map bounce area: small ones into [`BOUNCE`] slots inside `share`, large ones by
//! [`VirtioBlock::read`]/[`VirtioBlock::write`] through the device's own scratch frames.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use buddy::MigrateType;
use virtio_drivers::device::blk::{SECTOR_SIZE, VirtIOBlk};
use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{BarInfo, Command, DeviceFunction, PciRoot};
use virtio_drivers::transport::pci::virtio_device_type;
use virtio_drivers::transport::{DeviceType, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

use crate::mem::frames::{self, OwnedFrame};
use crate::mem::layout::{DIRECT_MAP_BASE, PAGE_SIZE, phys_to_virt};
use crate::mem::paging;
use crate::pci::PortCam;

/// Size of one bounce slot; virtio-drivers' block requests share a 16-byte header and a
/// 1-byte status from the stack, so this is ample.
const BOUNCE_SLOT: usize = 512;
const BOUNCE_SLOTS: u32 = (PAGE_SIZE as usize / BOUNCE_SLOT) as u32;
/// Physical address of the bounce page (0 until a device is probed).
static BOUNCE: AtomicU64 = AtomicU64::new(0);
/// Bit i set = slot i in use.
static BOUNCE_USED: AtomicU32 = AtomicU32::new(0);

/// Order of the scratch block used to move data for buffers outside the direct map.
const SCRATCH_ORDER: usize = 4;
/// Largest transfer per request: QEMU accepts far more, but the scratch block bounds it and
/// smaller requests keep each polled wait short.
const MAX_TRANSFER: usize = (PAGE_SIZE as usize) << SCRATCH_ORDER;

/// `virtio-drivers`' platform interface.
pub struct VirtioHal;

fn in_direct_map(addr: usize, len: usize) -> bool {
    let start = addr as u64;
    let end = start.saturating_add(len as u64);
    start >= DIRECT_MAP_BASE && end <= DIRECT_MAP_BASE + frames::max_phys()
}

fn order_for_pages(pages: usize) -> usize {
    pages.max(1).next_power_of_two().trailing_zeros() as usize
}

// SAFETY: the trait's implementation obligations hold:
// - `dma_alloc` returns zeroed, page-aligned, exclusively owned frames from the buddy allocator
//   through the direct map; they stay allocated until `dma_dealloc`.
// - `mmio_phys_to_virt` maps BAR ranges read from the device's configuration space, which the
//   firmware placed outside RAM, so the returned pointer aliases no Rust allocation.
// - `share`/`unshare` return physical addresses of memory the device may access for the
//   duration of the request only: either the caller's own buffer (when it is in the direct map,
//   physical = virtual − DIRECT_MAP_BASE) or a bounce slot that nothing else uses until
//   `unshare` releases it.
unsafe impl Hal for VirtioHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        // Queues are allocated once, at probe time; `probe` checked that memory is available,
        // so a failure here is a broken invariant of the boot sequence, not a runtime condition.
        let phys = frames::alloc_zeroed(order_for_pages(pages), MigrateType::Unmovable)
            .expect("virtio: DMA allocation at probe time");
        let virt = NonNull::new(phys_to_virt(phys) as *mut u8).expect("direct map is non-null");
        (phys, virt)
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        match frames::free(paddr, order_for_pages(pages)) {
            Ok(()) => 0,
            Err(_) => -1,
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let virt = paging::map_mmio(paddr, size as u64).expect("virtio: mapping a BAR");
        NonNull::new(virt as *mut u8).expect("direct map is non-null")
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let addr = buffer.as_ptr() as *mut u8 as usize;
        let len = buffer.len();
        if in_direct_map(addr, len) {
            return addr as u64 - DIRECT_MAP_BASE;
        }
        assert!(
            len <= BOUNCE_SLOT,
            "virtio: a {len}-byte buffer outside the direct map (VirtioBlock bounces data itself)"
        );
        let slot = loop {
            let used = BOUNCE_USED.load(Ordering::Acquire);
            let free = (!used).trailing_zeros();
            assert!(free < BOUNCE_SLOTS, "virtio: bounce slots exhausted");
            if BOUNCE_USED
                .compare_exchange(
                    used,
                    used | (1 << free),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                break free as u64;
            }
        };
        let phys = BOUNCE.load(Ordering::Acquire) + slot * BOUNCE_SLOT as u64;
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller guarantees `buffer` is valid for reads of `len` bytes; the slot
            // is ours (claimed above) and lies in the bounce page, a direct-mapped frame owned by
            // this module; `len` fits the slot.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    addr as *const u8,
                    phys_to_virt(phys) as *mut u8,
                    len,
                )
            };
        }
        phys
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let addr = buffer.as_ptr() as *mut u8 as usize;
        let len = buffer.len();
        if in_direct_map(addr, len) {
            return;
        }
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: `paddr` is the bounce slot `share` returned for this buffer (the caller's
            // obligation), still claimed; the caller guarantees `buffer` is valid for writes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    phys_to_virt(paddr) as *const u8,
                    addr as *mut u8,
                    len,
                )
            };
        }
        let slot = (paddr - BOUNCE.load(Ordering::Acquire)) / BOUNCE_SLOT as u64;
        BOUNCE_USED.fetch_and(!(1 << slot), Ordering::AcqRel);
    }
}

/// Why the disk could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioError {
    /// Not enough free frames to set up queues and buffers.
    NoMemory,
    /// The device or the transport refused to initialise.
    Init(&'static str),
    /// A request failed (the device reported an error, or the request was malformed).
    Io(&'static str),
    /// A length that is not a whole number of 512-byte sectors, or a range past the end.
    BadRange,
    /// The device is read-only.
    ReadOnly,
}

impl core::fmt::Display for VirtioError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            VirtioError::NoMemory => write!(f, "not enough memory for the virtio queues"),
            VirtioError::Init(what) => write!(f, "virtio initialisation failed: {what}"),
            VirtioError::Io(what) => write!(f, "virtio I/O error: {what}"),
            VirtioError::BadRange => write!(f, "transfer is not whole sectors inside the disk"),
            VirtioError::ReadOnly => write!(f, "the disk is read-only"),
        }
    }
}

fn io_error(e: virtio_drivers::Error) -> VirtioError {
    use virtio_drivers::Error as E;
    VirtioError::Io(match e {
        E::IoError => "device reported an I/O error",
        E::Unsupported => "request not supported by the device",
        E::InvalidParam => "invalid parameter",
        E::DmaError => "DMA error",
        E::NotReady => "device not ready",
        E::QueueFull => "queue full",
        _ => "request failed",
    })
}

/// A virtio-blk disk on the PCI bus, driven synchronously.
pub struct VirtioBlock {
    device: VirtIOBlk<VirtioHal, PciTransport>,
    scratch: OwnedFrame,
    sectors: u64,
    location: DeviceFunction,
    /// Requests served (reads, writes, flushes), for `df` and the metrics.
    pub requests: u64,
}

/// Enables memory decoding and bus mastering (DMA) on a device the firmware left disabled.
fn enable_device(root: &mut PciRoot<PortCam>, df: DeviceFunction) {
    let (_, command) = root.get_status_command(df);
    root.set_command(
        df,
        command | Command::MEMORY_SPACE | Command::IO_SPACE | Command::BUS_MASTER,
    );
}

/// Finds the `index`-th virtio-blk device on PCI bus 0 (0 = the first) and initialises it.
/// `Ok(None)` when there is no such device (the kernel then runs without a filesystem).
pub fn probe_block(index: usize) -> Result<Option<VirtioBlock>, VirtioError> {
    let mut root = PciRoot::new(PortCam);
    let found = root
        .enumerate_bus(0)
        .filter(|(_, info)| virtio_device_type(info) == Some(DeviceType::Block))
        .nth(index);
    let Some((df, _info)) = found else {
        return Ok(None);
    };
    // Every memory BAR must have been assigned by the firmware; an unassigned one would make
    // the transport map address 0.
    for bar in root
        .bars(df)
        .map_err(|_| VirtioError::Init("reading BARs"))?
    {
        if let Some(BarInfo::Memory { address: 0, .. }) = bar {
            return Err(VirtioError::Init("a memory BAR is unassigned"));
        }
    }
    enable_device(&mut root, df);
    // Queue rings, the bounce page and the scratch block: a few dozen frames at most.
    if frames::stats().free_pages < 256 {
        return Err(VirtioError::NoMemory);
    }
    if BOUNCE.load(Ordering::Acquire) == 0 {
        let page =
            frames::alloc_zeroed(0, MigrateType::Unmovable).map_err(|_| VirtioError::NoMemory)?;
        BOUNCE.store(page, Ordering::Release);
    }
    let scratch = OwnedFrame::new(SCRATCH_ORDER, MigrateType::Unmovable)
        .map_err(|_| VirtioError::NoMemory)?;
    let transport = PciTransport::new::<VirtioHal, PortCam>(&mut root, df)
        .map_err(|_| VirtioError::Init("PCI transport"))?;
    if transport.device_type() != DeviceType::Block {
        return Err(VirtioError::Init("not a block device"));
    }
    let device = VirtIOBlk::<VirtioHal, _>::new(transport)
        .map_err(|_| VirtioError::Init("virtio-blk device"))?;
    let sectors = device.capacity();
    Ok(Some(VirtioBlock {
        device,
        scratch,
        sectors,
        location: df,
        requests: 0,
    }))
}

impl VirtioBlock {
    /// Capacity in 512-byte sectors.
    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn read_only(&self) -> bool {
        self.device.readonly()
    }

    /// PCI bus, device and function.
    pub fn location(&self) -> (u8, u8, u8) {
        (
            self.location.bus,
            self.location.device,
            self.location.function,
        )
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

    /// Reads whole sectors starting at `sector` into `buf`.
    pub fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), VirtioError> {
        self.check(sector, buf.len())?;
        let direct = in_direct_map(buf.as_ptr() as usize, buf.len());
        for (i, chunk) in buf.chunks_mut(MAX_TRANSFER).enumerate() {
            let at = sector + (i * MAX_TRANSFER / SECTOR_SIZE) as u64;
            self.requests += 1;
            if direct {
                self.device
                    .read_blocks(at as usize, chunk)
                    .map_err(io_error)?;
            } else {
                let n = chunk.len();
                let scratch = &mut self.scratch.bytes_mut()[..n];
                self.device
                    .read_blocks(at as usize, scratch)
                    .map_err(io_error)?;
                chunk.copy_from_slice(scratch);
            }
        }
        Ok(())
    }

    /// Writes whole sectors starting at `sector` from `buf` (durable after [`Self::flush`]).
    pub fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), VirtioError> {
        self.check(sector, buf.len())?;
        if self.read_only() {
            return Err(VirtioError::ReadOnly);
        }
        let direct = in_direct_map(buf.as_ptr() as usize, buf.len());
        for (i, chunk) in buf.chunks(MAX_TRANSFER).enumerate() {
            let at = sector + (i * MAX_TRANSFER / SECTOR_SIZE) as u64;
            self.requests += 1;
            if direct {
                self.device
                    .write_blocks(at as usize, chunk)
                    .map_err(io_error)?;
            } else {
                let scratch = &mut self.scratch.bytes_mut()[..chunk.len()];
                scratch.copy_from_slice(chunk);
                self.device
                    .write_blocks(at as usize, scratch)
                    .map_err(io_error)?;
            }
        }
        Ok(())
    }

    /// Asks the device to make completed writes durable (QEMU: fsync of the image file).
    pub fn flush(&mut self) -> Result<(), VirtioError> {
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

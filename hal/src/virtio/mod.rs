//! virtio devices on PCI: `virtio-drivers`' device logic, given memory and registers here.
//!
//! This module holds what every virtio driver shares: [`VirtioHal`], the crate's `Hal`
//! (coherent DMA memory and buffer sharing from [`crate::dma`], device registers from the MMIO
//! window), and [`transport`], which turns a claimed [`PciDevice`] into a `PciTransport`. The
//! device drivers sit beside it: [`block`] (virtio-blk) and [`net`] (virtio-net, whose frames
//! live in pages it owns, so it needs no bounce buffers).
//!
//! Requests are synchronous and polled: a driver holds its device exclusively (`&mut self`),
//! submits, and spins on the used ring while QEMU completes the request on its I/O thread; the
//! timer keeps preempting the spinning thread, so other threads still run.
//!
//! No path here panics: DMA memory that cannot be had is an error `virtio-drivers` reports
//! (`dma_alloc` returns physical address 0, which it turns into `Error::DmaError`), bounce
//! buffers are reserved before a request is submitted (a [`DmaError`] otherwise), and every
//! BAR is mapped before the transport is built, so `mmio_phys_to_virt` only looks mappings up.

pub mod block;
pub mod net;

use alloc::vec::Vec;
use core::ptr::NonNull;

use virtio_drivers::transport::pci::PciTransport;
use virtio_drivers::transport::pci::bus::{BarInfo, Command, PciRoot};
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

pub use self::block::VirtioBlock;
pub use self::net::VirtioNet;
use crate::dma::{self, DmaError};
use crate::mem::paging;
use crate::pci::{PciDevice, PortCam};
use crate::sync::IrqMutex;

/// Why a virtio device could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VirtioError {
    /// Not enough free frames (or MMIO window) to set up the device.
    NoMemory,
    /// No bounce buffer for a request (see [`crate::dma`]).
    Dma(DmaError),
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
            VirtioError::NoMemory => write!(f, "not enough memory to set up the virtio device"),
            VirtioError::Dma(e) => write!(f, "virtio DMA: {e}"),
            VirtioError::Init(what) => write!(f, "virtio initialisation failed: {what}"),
            VirtioError::Io(what) => write!(f, "virtio I/O error: {what}"),
            VirtioError::BadRange => write!(f, "transfer is not whole sectors inside the disk"),
            VirtioError::ReadOnly => write!(f, "the disk is read-only"),
        }
    }
}

impl From<DmaError> for VirtioError {
    fn from(e: DmaError) -> Self {
        VirtioError::Dma(e)
    }
}

pub(crate) fn io_error(e: virtio_drivers::Error) -> VirtioError {
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

/// A mapped BAR: physical start, size, virtual start.
type MmioRegion = (u64, u64, u64);

/// Every BAR mapped for a virtio transport (they stay mapped: devices are never unplugged).
static MMIO_REGIONS: IrqMutex<Vec<MmioRegion>> = IrqMutex::new(Vec::new());

fn lookup_mmio(paddr: u64, size: u64) -> Option<u64> {
    MMIO_REGIONS
        .lock()
        .iter()
        .find(|&&(start, len, _)| paddr >= start && paddr.saturating_add(size) <= start + len)
        .map(|&(start, _, virt)| virt + (paddr - start))
}

/// `virtio-drivers`' platform interface.
pub(crate) struct VirtioHal;

// SAFETY: the trait's implementation obligations hold:
// - `dma_alloc` returns zeroed, page-aligned, exclusively owned frames from the buddy allocator
//   through the direct map (or physical address 0, the crate's failure value, with a dangling
//   pointer it never uses); they stay allocated until `dma_dealloc`.
// - `mmio_phys_to_virt` returns the MMIO-window mapping of a BAR range read from the device's
//   configuration space; the window maps only device registers, so the pointer aliases no Rust
//   allocation.
// - `share`/`unshare` hand the device either the caller's own buffer (when it is in the direct
//   map, physical = virtual − DIRECT_MAP_BASE) or a bounce block lent to this buffer alone
//   until `unshare` (see `crate::dma`).
unsafe impl Hal for VirtioHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        match dma::alloc_coherent(pages).and_then(|(p, v)| Some((p, NonNull::new(v as *mut u8)?))) {
            Some(found) => found,
            // virtio-drivers checks for 0 and reports `Error::DmaError`.
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(paddr: PhysAddr, _vaddr: NonNull<u8>, pages: usize) -> i32 {
        // SAFETY: the trait's caller passes what dma_alloc returned, once.
        unsafe { dma::free_coherent(paddr, pages) };
        0
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        // `transport` maps every memory BAR before `PciTransport::new` runs, and virtio-drivers
        // asks only for ranges inside a BAR of the device it is building (it checks the range
        // against the BAR size first), so the lookup finds it. Should that chain ever break,
        // mapping on demand is the fallback, and only if that fails too is this a broken
        // invariant, which stops the machine with a report rather than return a bad pointer.
        let virt =
            lookup_mmio(paddr, size as u64).or_else(|| paging::map_mmio(paddr, size as u64).ok());
        match virt.and_then(|v| NonNull::new(v as *mut u8)) {
            Some(p) => p,
            None => crate::fault::fatal("virtio: a device register range is not mapped"),
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        // SAFETY: the trait's caller guarantees the buffer is valid and untouched by others
        // until `unshare`; virtio-drivers never shares an empty buffer.
        unsafe {
            dma::share(
                buffer.as_ptr() as *mut u8 as usize,
                buffer.len(),
                direction != BufferDirection::DeviceToDriver,
            )
        }
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        // SAFETY: `paddr` is what `share` returned for this buffer (the trait's obligation).
        unsafe {
            dma::unshare(
                paddr,
                buffer.as_ptr() as *mut u8 as usize,
                buffer.len(),
                direction != BufferDirection::DriverToDevice,
            )
        }
    }
}

/// Builds the PCI transport of a claimed virtio device: checks and maps its memory BARs
/// (uncached, in the MMIO window), enables memory decoding and bus mastering, and lets
/// `virtio-drivers` read its capabilities.
pub(crate) fn transport(device: &PciDevice) -> Result<PciTransport, VirtioError> {
    let df = device.device_function();
    let mut root = PciRoot::new(PortCam);
    let bars = root
        .bars(df)
        .map_err(|_| VirtioError::Init("reading BARs"))?;
    for bar in bars.iter().flatten() {
        if let BarInfo::Memory { address, size, .. } = *bar {
            // An unassigned BAR would make the transport use physical address 0.
            if address == 0 {
                return Err(VirtioError::Init("a memory BAR is unassigned"));
            }
            if lookup_mmio(address, size).is_none() {
                let virt = paging::map_mmio(address, size).map_err(|_| VirtioError::NoMemory)?;
                let mut regions = MMIO_REGIONS.lock();
                regions.try_reserve(1).map_err(|_| VirtioError::NoMemory)?;
                regions.push((address, size, virt));
            }
        }
    }
    let (_, command) = root.get_status_command(df);
    root.set_command(
        df,
        command | Command::MEMORY_SPACE | Command::IO_SPACE | Command::BUS_MASTER,
    );
    PciTransport::new::<VirtioHal, PortCam>(&mut root, df)
        .map_err(|_| VirtioError::Init("PCI transport"))
}

//! The global physical frame allocator: a [`buddy::BuddyAllocator`] over all usable RAM.
//!
//! At boot, [`init`] sizes the per-frame metadata for every frame up to the highest usable
//! address, places it in the first usable region above the kernel image that can hold it,
//! and frees every usable frame except the low 1 MiB (firmware, PVH start info), the kernel
//! image and the metadata itself. The metadata is reached through the direct map; the boot
//! page tables map the low 4 GiB there, and the region chosen is the lowest that fits.

use buddy::{AllocError, BuddyAllocator, BuddyStats, FrameMeta, MigrateType, Pfn, memmap};

use super::MemRegion;
use super::layout::{PAGE_SIZE, phys_to_virt};
use crate::sync::IrqMutex;

static FRAMES: IrqMutex<Option<BuddyAllocator<'static>>> = IrqMutex::new(None);
/// End of the highest usable RAM region: the direct map covers `[0, MAX_PHYS)`.
static MAX_PHYS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// End of the highest usable RAM region (0 before [`init`]); everything below it is in the
/// direct map.
pub fn max_phys() -> u64 {
    MAX_PHYS.load(core::sync::atomic::Ordering::Relaxed)
}

/// What [`init`] found, for the boot report.
#[derive(Clone, Copy, Debug)]
pub struct FrameInit {
    pub usable_bytes: u64,
    pub managed_pages: u64,
    pub max_phys: u64,
    pub meta_bytes: u64,
}

/// Why the frame allocator could not be set up.
#[derive(Debug)]
pub enum FrameInitError {
    NoUsableMemory,
    NoRoomForMetadata { bytes: u64 },
    Buddy(&'static str),
}

const LOW_RESERVED: u64 = 0x10_0000;
const BOOT_DIRECT_MAP_LIMIT: u64 = 4 << 30;

/// Builds the allocator from the firmware memory map. `kernel` is the physical range of the
/// kernel image (including .bss).
///
/// # Safety
/// 1. Called once, on the boot CPU, before anything else allocates frames.
/// 2. `regions` is the firmware's memory map: every region marked usable is RAM that nothing
///    else uses, apart from the low 1 MiB and `kernel`, which the allocator never hands out.
/// 3. The boot page tables are active, mapping the low 4 GiB at the direct-map base.
pub(crate) unsafe fn init(
    regions: &[MemRegion],
    kernel: (u64, u64),
) -> Result<FrameInit, FrameInitError> {
    let mut usable = [(0u64, 0u64); 64];
    let mut n = 0;
    for r in regions.iter().filter(|r| r.is_usable() && r.end > r.start) {
        if n < usable.len() {
            usable[n] = (r.start, r.end);
            n += 1;
        }
    }
    let usable = &usable[..n];
    let max_phys = usable
        .iter()
        .map(|r| r.1)
        .max()
        .ok_or(FrameInitError::NoUsableMemory)?;
    let max_pfn = max_phys / PAGE_SIZE;
    let frames = buddy::meta_len(Pfn(0), Pfn(max_pfn));
    let meta_bytes = memmap::align_up(buddy::meta_bytes(frames) as u64, PAGE_SIZE);
    let meta_start = memmap::place_metadata(
        usable,
        kernel,
        LOW_RESERVED,
        meta_bytes,
        BOOT_DIRECT_MAP_LIMIT,
    )
    .ok_or(FrameInitError::NoRoomForMetadata { bytes: meta_bytes })?;
    let meta_end = meta_start + meta_bytes;

    let meta_ptr = phys_to_virt(meta_start) as *mut FrameMeta;
    for i in 0..frames {
        // SAFETY: meta_start..meta_end is usable RAM (obligation 2 and `place_metadata`), below
        // 4 GiB so the boot direct map covers it (obligation 3), outside the kernel image and
        // the low 1 MiB, and nothing else has been placed there yet (obligation 1); each
        // element is written before the slice is formed.
        unsafe { meta_ptr.add(i).write(FrameMeta::EMPTY) };
    }
    // SAFETY: all `frames` elements were initialised just above; the region is never handed
    // to the allocator as free memory (`free_ranges` cuts it out below), so this is its only
    // reference for the rest of the kernel's life.
    let meta: &'static mut [FrameMeta] =
        unsafe { core::slice::from_raw_parts_mut(meta_ptr, frames) };
    let mut buddy =
        BuddyAllocator::new(meta, Pfn(0)).map_err(|_| FrameInitError::Buddy("metadata"))?;

    let mut usable_bytes = 0;
    for &region in usable {
        usable_bytes += region.1 - region.0;
        let (pieces, count) =
            memmap::free_ranges(region, LOW_RESERVED, kernel, (meta_start, meta_end));
        for &(s, e) in &pieces[..count] {
            buddy
                .add_free_range(Pfn(s / PAGE_SIZE), Pfn(e / PAGE_SIZE))
                .map_err(|_| FrameInitError::Buddy("add_free_range"))?;
        }
    }
    let managed_pages = buddy.stats().total_pages;
    *FRAMES.lock() = Some(buddy);
    MAX_PHYS.store(max_phys, core::sync::atomic::Ordering::Relaxed);
    Ok(FrameInit {
        usable_bytes,
        managed_pages,
        max_phys,
        meta_bytes,
    })
}

/// A frame allocation the buddy allocator could not satisfy (the event the crash predictor
/// listens to, alongside the periodic statistics).
#[derive(Clone, Copy, Debug)]
pub struct AllocFailure {
    pub order: usize,
    pub class: MigrateType,
    pub at_ns: u64,
}

/// Called on every failed allocation, after the allocator lock is released. It may run with
/// interrupts disabled and with the heap lock held (heap growth allocates frames), so it must
/// neither block nor allocate: record the event and return.
pub type FailureHook = fn(&AllocFailure);

static FAILURE_HOOK: spin::RwLock<Option<FailureHook>> = spin::RwLock::new(None);

/// Installs the allocation-failure hook (replacing any previous one).
pub fn set_failure_hook(hook: FailureHook) {
    *FAILURE_HOOK.write() = Some(hook);
}

/// Allocates 2^order contiguous frames of class `class`; returns the physical address.
/// Crate-private: outside `hal`, memory is held as an [`OwnedFrame`], which frees exactly once.
pub(crate) fn alloc(order: usize, class: MigrateType) -> Result<u64, AllocError> {
    let result = {
        let mut guard = FRAMES.lock();
        let buddy = guard.as_mut().ok_or(AllocError::OutOfMemory { order })?;
        buddy.alloc_typed(order, class).map(|pfn| pfn.addr())
    };
    if let (Err(AllocError::OutOfMemory { order }), Some(hook)) = (result, *FAILURE_HOOK.read()) {
        hook(&AllocFailure {
            order,
            class,
            at_ns: crate::time::now_ns(),
        });
    }
    result
}

/// Allocates a zeroed block (page tables, DMA memory).
pub(crate) fn alloc_zeroed(order: usize, class: MigrateType) -> Result<u64, AllocError> {
    let phys = alloc(order, class)?;
    // SAFETY: the frames were just allocated to us (nobody else references them) and every RAM
    // frame is mapped writable in the direct map.
    unsafe {
        core::ptr::write_bytes(
            phys_to_virt(phys) as *mut u8,
            0,
            (PAGE_SIZE << order) as usize,
        )
    };
    Ok(phys)
}

/// Returns frames to the allocator. Errors (double free, wrong order) are reported, and the
/// allocator state is left unchanged.
///
/// Crate-private because a safe `free` of a block that an [`OwnedFrame`] (or a page table, a
/// stack, the heap) still uses would hand the same memory out twice: every caller in `hal`
/// frees only a block it allocated and no longer references.
pub(crate) fn free(phys: u64, order: usize) -> Result<(), buddy::FreeError> {
    let mut guard = FRAMES.lock();
    match guard.as_mut() {
        Some(buddy) => buddy.free(Pfn::from_addr(phys), order),
        None => Ok(()),
    }
}

/// A snapshot of the allocator statistics (zeroes before [`init`]).
pub fn stats() -> BuddyStats {
    FRAMES
        .lock()
        .as_ref()
        .map(|b| b.stats())
        .unwrap_or_default()
}

/// Runs the allocator's full consistency check (used by in-kernel tests).
pub fn check_invariants() -> Result<(), buddy::InvariantError> {
    match FRAMES.lock().as_ref() {
        Some(b) => b.check_invariants(),
        None => Ok(()),
    }
}

/// An owned, allocated block of 2^order frames, read and written as bytes through the direct
/// map and given back to the allocator on drop.
///
/// This is how code outside `hal` holds physical memory without `unsafe`: the block cache keeps
/// its cached blocks in `Reclaimable` frames, and the movable pool keeps workload memory in
/// `Movable` frames that compaction replaces by copying into a new `OwnedFrame`. Ownership is
/// what makes the byte views sound: the allocator hands a block to exactly one `OwnedFrame`,
/// and nothing else in the kernel maps or writes it.
pub struct OwnedFrame {
    phys: u64,
    order: usize,
    class: MigrateType,
}

impl OwnedFrame {
    /// Allocates a zeroed block (zeroed so no stale data from a previous owner leaks).
    pub fn new(order: usize, class: MigrateType) -> Result<Self, AllocError> {
        let phys = alloc_zeroed(order, class)?;
        Ok(Self { phys, order, class })
    }

    /// Physical address of the first frame.
    pub fn phys(&self) -> u64 {
        self.phys
    }

    /// Frame number of the first frame.
    pub fn pfn(&self) -> Pfn {
        Pfn::from_addr(self.phys)
    }

    pub fn order(&self) -> usize {
        self.order
    }

    pub fn class(&self) -> MigrateType {
        self.class
    }

    /// Size in bytes (`PAGE_SIZE << order`).
    pub fn len(&self) -> usize {
        (PAGE_SIZE << self.order) as usize
    }

    /// Always false: a block has at least one frame (clippy wants the pair).
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn bytes(&self) -> &[u8] {
        // SAFETY: the block [phys, phys + len) was allocated to this OwnedFrame alone (invariant
        // of the type), every RAM frame is mapped in the direct map, and the shared borrow of
        // `self` excludes writers through `bytes_mut` for the slice's lifetime.
        unsafe { core::slice::from_raw_parts(phys_to_virt(self.phys) as *const u8, self.len()) }
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `bytes`; the exclusive borrow of `self` makes this the only view.
        unsafe { core::slice::from_raw_parts_mut(phys_to_virt(self.phys) as *mut u8, self.len()) }
    }
}

impl Drop for OwnedFrame {
    fn drop(&mut self) {
        // The block came from `alloc` with this order, so freeing cannot fail; if it ever did,
        // leaking the frames is the safe outcome.
        let _ = free(self.phys, self.order);
    }
}

impl AsRef<[u8]> for OwnedFrame {
    fn as_ref(&self) -> &[u8] {
        self.bytes()
    }
}

impl AsMut<[u8]> for OwnedFrame {
    fn as_mut(&mut self) -> &mut [u8] {
        self.bytes_mut()
    }
}

impl core::fmt::Debug for OwnedFrame {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "OwnedFrame({:#x}, order {}, {:?})",
            self.phys, self.order, self.class
        )
    }
}

/// Runs `f` on the allocator under its lock (interrupts off), e.g. to plan compaction from a
/// consistent view. `f` must be short and must not allocate from the heap or take any lock
/// that is held around frame allocations: heap growth allocates frames, so either would
/// deadlock. Returns `None` before [`init`].
pub fn with_allocator<R>(f: impl FnOnce(&BuddyAllocator<'static>) -> R) -> Option<R> {
    FRAMES.lock().as_ref().map(f)
}

impl OwnedFrame {
    /// Takes exactly the free block of 2^`order` frames at `pfn` (a compaction destination
    /// chosen by `buddy::compaction::plan`), zeroed like [`OwnedFrame::new`]. Fails, changing
    /// nothing, if the block is not entirely free any more.
    pub fn claim(pfn: Pfn, order: usize, class: MigrateType) -> Result<Self, buddy::ClaimError> {
        {
            let mut guard = FRAMES.lock();
            let buddy = guard
                .as_mut()
                .ok_or(buddy::ClaimError::NotManaged { pfn })?;
            buddy.claim_free_block(pfn, order, class)?;
        }
        let mut frame = Self {
            phys: pfn.addr(),
            order,
            class,
        };
        frame.bytes_mut().fill(0);
        Ok(frame)
    }
}

/// In-kernel self-test (the `ktest` image): freeing a block twice is refused the second time
/// and the refusal leaves the allocator unchanged. It lives in `hal` because `free` is
/// crate-private; both frees happen under one hold of the allocator lock, so no other thread
/// can be handed the block in between (which would make the second free a real free).
#[cfg(feature = "ktest")]
pub fn self_test_double_free() -> Result<(), &'static str> {
    let mut guard = FRAMES.lock();
    let buddy = guard.as_mut().ok_or("no allocator")?;
    let pfn = buddy
        .alloc_typed(0, MigrateType::Movable)
        .map_err(|_| "no frame")?;
    buddy
        .free(pfn, 0)
        .map_err(|_| "the first free was refused")?;
    let free_before = buddy.stats().free_pages;
    if buddy.free(pfn, 0).is_ok() {
        return Err("double free accepted");
    }
    if buddy.stats().free_pages != free_before {
        return Err("the refused double free changed the free count");
    }
    Ok(())
}

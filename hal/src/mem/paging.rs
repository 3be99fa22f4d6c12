//! The kernel's own page tables: built at boot to replace the PVH boot map, then edited to map
//! kernel stacks and heap pages.
//!
//! Tables are reached through the direct map. While [`init`] builds the new hierarchy, the boot
//! tables still map the low 4 GiB at [`DIRECT_MAP_BASE`], and the buddy allocator hands out the
//! lowest free frames first, so new tables are reachable before the switch as well as after.
//! All edits happen under one lock, the PML4 lock, which every function that reaches a table
//! holds; lock order is heap → paging → frames.
//!
//! The direct map covers only the 2 MiB chunks that hold RAM (`buddy::memmap::chunks_with_ram`),
//! so device memory in the holes between RAM regions is never mapped cacheable. Device
//! registers are mapped by [`map_mmio`] into their own window ([`layout::MMIO_BASE`]), uncached.
//!
//! Soundness: mapping or unmapping a page can break any reference into it, so [`map_page`] and
//! [`unmap_page`] are crate-private `unsafe fn`s whose callers (stacks, heap) own the virtual
//! range they edit; [`map_mmio`] only ever maps fresh addresses of its own window; what is
//! public and safe ([`is_mapped`], the ktest self-check) cannot change a mapping anyone uses.

use buddy::{MigrateType, memmap};
use x86_64::PhysAddr;
use x86_64::structures::paging::{PageTable, PageTableFlags as F};

use super::frames;
use super::layout::{self, DIRECT_MAP_BASE, PAGE_SIZE, phys_to_virt};
use crate::sync::IrqMutex;

const TWO_MIB: u64 = 2 * 1024 * 1024;
/// The direct map reaches this far (the window below the stack region, 64 TiB).
const DIRECT_MAP_LIMIT: u64 = layout::KERNEL_STACKS_BASE - DIRECT_MAP_BASE;

static PML4_PHYS: IrqMutex<u64> = IrqMutex::new(0);

/// Why a mapping could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MapError {
    /// No frame for an intermediate page table.
    OutOfFrames,
    /// The virtual page is already mapped.
    AlreadyMapped,
    /// A 2 MiB mapping covers the address, so a 4 KiB page cannot be placed there.
    HugePageInTheWay,
    /// Paging has not been initialised.
    NotReady,
    /// The MMIO window has no room left for the requested registers.
    WindowFull,
}

/// The page table in frame `phys`. The `_lock` argument is the held PML4 lock: requiring it
/// makes "every caller holds the lock" a fact the compiler checks, not a comment.
fn table(_lock: &mut u64, phys: u64) -> &mut PageTable {
    // SAFETY: every page-table frame is a RAM frame allocated by this module, mapped in the
    // direct map (the boot map while `init` runs, the kernel's own afterwards); the returned
    // borrow is tied to the exclusive borrow of the PML4 lock's contents, so while it lives no
    // other table reference can be made (all are made through this function).
    unsafe { &mut *(phys_to_virt(phys) as *mut PageTable) }
}

fn new_table() -> Result<u64, MapError> {
    frames::alloc_zeroed(0, MigrateType::Unmovable).map_err(|_| MapError::OutOfFrames)
}

fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Returns the next-level table behind entry `idx`, creating it if absent.
fn next_table(lock: &mut u64, parent: u64, idx: usize) -> Result<u64, MapError> {
    let entry = &mut table(lock, parent)[idx];
    if entry.is_unused() {
        let t = new_table()?;
        entry.set_addr(PhysAddr::new(t), F::PRESENT | F::WRITABLE);
        Ok(t)
    } else if entry.flags().contains(F::HUGE_PAGE) {
        Err(MapError::HugePageInTheWay)
    } else {
        Ok(entry.addr().as_u64())
    }
}

fn map_4k_in(lock: &mut u64, pml4: u64, virt: u64, phys: u64, flags: F) -> Result<(), MapError> {
    let pdpt = next_table(lock, pml4, index(virt, 4))?;
    let pd = next_table(lock, pdpt, index(virt, 3))?;
    let pt = next_table(lock, pd, index(virt, 2))?;
    let entry = &mut table(lock, pt)[index(virt, 1)];
    if !entry.is_unused() {
        return Err(MapError::AlreadyMapped);
    }
    entry.set_addr(PhysAddr::new(phys), flags | F::PRESENT);
    Ok(())
}

fn map_2m_in(lock: &mut u64, pml4: u64, virt: u64, phys: u64, flags: F) -> Result<(), MapError> {
    let pdpt = next_table(lock, pml4, index(virt, 4))?;
    let pd = next_table(lock, pdpt, index(virt, 3))?;
    let entry = &mut table(lock, pd)[index(virt, 2)];
    if !entry.is_unused() {
        return Err(MapError::AlreadyMapped);
    }
    entry.set_addr(PhysAddr::new(phys), flags | F::PRESENT | F::HUGE_PAGE);
    Ok(())
}

/// Builds the kernel page tables (the direct map of every 2 MiB chunk holding RAM, the
/// kernel image with per-section rights) and switches CR3 to them. `nx` says whether
/// EFER.NXE is on.
///
/// # Safety
/// 1. Called once, on the boot CPU, after the frame allocator is initialised and while the
///    boot page tables (low 4 GiB identity + direct map) are active.
/// 2. `usable` lists the RAM regions of the firmware map; nothing outside the kernel image
///    and the direct map of those regions is referenced after the switch (the PVH start info
///    was copied into `BootInfo`).
pub(crate) unsafe fn init(usable: &[(u64, u64)], nx: bool) -> Result<(), MapError> {
    let mut lock = PML4_PHYS.lock();
    let no_exec = if nx { F::NO_EXECUTE } else { F::empty() };
    let pml4 = new_table()?;
    let mut result = Ok(());
    memmap::chunks_with_ram(usable, TWO_MIB, DIRECT_MAP_LIMIT, |p| {
        if result.is_ok() {
            result = map_2m_in(
                &mut lock,
                pml4,
                DIRECT_MAP_BASE + p,
                p,
                F::WRITABLE | no_exec,
            );
        }
    });
    result?;
    let img = layout::image();
    let mut page = img.start / PAGE_SIZE * PAGE_SIZE;
    while page < img.end {
        let flags = if page >= img.text.0 && page < img.text.1 {
            F::empty()
        } else if page < img.data_start {
            no_exec // notes, rodata: read-only
        } else {
            F::WRITABLE | no_exec
        };
        map_4k_in(&mut lock, pml4, page, page, flags)?;
        page += PAGE_SIZE;
    }
    // SAFETY: the new hierarchy maps the kernel image at the same addresses (so the next
    // instruction, the stack in .bss and all statics stay valid) and the direct map of all RAM
    // at the same base as the boot tables; nothing refers to identity-mapped RAM outside the
    // image any more (obligation 2).
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack));
    }
    *lock = pml4;
    Ok(())
}

/// The no-execute bit when the CPU supports it (EFER.NXE is set at boot exactly then).
fn no_execute() -> F {
    if crate::arch::cpu::features().nx {
        F::NO_EXECUTE
    } else {
        F::empty()
    }
}

/// Maps one 4 KiB page `virt` → `phys` (read/write, no-execute when supported).
///
/// # Safety
/// 1. `virt` lies in a virtual range the caller owns (a stack slot, the heap's growth range):
///    nothing else maps or unmaps pages there.
/// 2. `phys` is a frame the caller owns and hands to this mapping: no other reference to it
///    (other than through the direct map by its owner) exists.
pub(crate) unsafe fn map_page(virt: u64, phys: u64) -> Result<(), MapError> {
    let mut lock = PML4_PHYS.lock();
    let pml4 = *lock;
    if pml4 == 0 {
        return Err(MapError::NotReady);
    }
    let nx = no_execute();
    map_4k_in(&mut lock, pml4, virt, phys, F::WRITABLE | nx)
}

/// Next free address of the MMIO window.
static MMIO_NEXT: IrqMutex<u64> = IrqMutex::new(layout::MMIO_BASE);

/// Maps the device registers at physical `[phys, phys + size)` uncached (PCD | PWT),
/// no-execute, at fresh addresses of the MMIO window, and returns the virtual address of
/// `phys`. Every call maps new pages: the window only grows (devices are never unplugged), so
/// no mapping it made is ever changed and no reference into RAM can be affected.
pub(crate) fn map_mmio(phys: u64, size: u64) -> Result<u64, MapError> {
    let first = phys / PAGE_SIZE * PAGE_SIZE;
    let end = phys
        .checked_add(size.max(1))
        .map(|e| memmap::align_up(e, PAGE_SIZE))
        .ok_or(MapError::WindowFull)?;
    let pages = (end - first) / PAGE_SIZE;
    let mut next = MMIO_NEXT.lock();
    let base = *next;
    let limit = layout::MMIO_BASE + layout::MMIO_SIZE;
    if pages > (limit - base) / PAGE_SIZE {
        return Err(MapError::WindowFull);
    }
    let mut lock = PML4_PHYS.lock();
    let pml4 = *lock;
    if pml4 == 0 {
        return Err(MapError::NotReady);
    }
    let flags = F::WRITABLE | F::NO_CACHE | F::WRITE_THROUGH | no_execute();
    for i in 0..pages {
        // The window's addresses are used once each, so `AlreadyMapped` cannot happen; an
        // error (no frame for a table) leaves the pages mapped so far unused but harmless, and
        // the window pointer still moves past them so they are never handed out twice.
        if let Err(e) = map_4k_in(
            &mut lock,
            pml4,
            base + i * PAGE_SIZE,
            first + i * PAGE_SIZE,
            flags,
        ) {
            *next = base + pages * PAGE_SIZE;
            return Err(e);
        }
    }
    *next = base + pages * PAGE_SIZE;
    Ok(base + (phys - first))
}

/// Unmaps the 4 KiB page at `virt`, flushes it from the TLB and returns the physical frame
/// that was mapped there.
///
/// # Safety
/// 1. `virt` lies in a virtual range the caller owns (see [`map_page`]), and no reference
///    into the page is used after this call.
pub(crate) unsafe fn unmap_page(virt: u64) -> Option<u64> {
    let mut lock = PML4_PHYS.lock();
    let pml4 = *lock;
    if pml4 == 0 {
        return None;
    }
    // The tables on the way down: [PML4, PDPT, PD, PT].
    let mut path = [pml4, 0, 0, 0];
    for (depth, level) in [4, 3, 2].into_iter().enumerate() {
        let e = &table(&mut lock, path[depth])[index(virt, level)];
        if e.is_unused() || e.flags().contains(F::HUGE_PAGE) {
            return None;
        }
        path[depth + 1] = e.addr().as_u64();
    }
    let pt = path[3];
    let entry = &mut table(&mut lock, pt)[index(virt, 1)];
    if entry.is_unused() {
        return None;
    }
    let phys = entry.addr().as_u64();
    entry.set_unused();
    // A page table left empty goes back to the allocator, or every 2 MiB of address space
    // ever used (each kernel stack slot has its own) would keep a frame for good (issue 10).
    // Only the last level: directories are few and cover 1 GiB each.
    if table(&mut lock, pt).iter().all(|e| e.is_unused()) {
        table(&mut lock, path[2])[index(virt, 2)].set_unused();
        // INVLPG also drops the paging-structure caches' entries, so no stale walk can
        // reach the freed table after this flush.
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt));
        // The table was allocated by `new_table` and nothing references it any more.
        let _ = frames::free(pt, 0);
    } else {
        x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt));
    }
    Some(phys)
}

/// True when `virt` is mapped (used by the backtrace walker before it dereferences a frame).
pub fn is_mapped(virt: u64) -> bool {
    let Some(mut lock) = PML4_PHYS.try_lock() else {
        return false;
    };
    let pml4 = *lock;
    if pml4 == 0 {
        // Still on the boot tables: the identity map of the low 4 GiB.
        return virt < (4 << 30) || (DIRECT_MAP_BASE..DIRECT_MAP_BASE + (4 << 30)).contains(&virt);
    }
    let mut t = pml4;
    for level in [4, 3, 2, 1] {
        let e = &table(&mut lock, t)[index(virt, level)];
        if e.is_unused() {
            return false;
        }
        if level > 1 && e.flags().contains(F::HUGE_PAGE) || level == 1 {
            return true;
        }
        t = e.addr().as_u64();
    }
    false
}

/// In-kernel self-test (the `ktest` image): maps a fresh zeroed frame at a test address
/// nothing else uses ([`layout::SELF_TEST_PAGE`]), writes through that mapping, reads the value
/// back through the direct map, refuses a second mapping, and unmaps and frees it again.
#[cfg(feature = "ktest")]
pub fn check_map_write_unmap() -> Result<(), &'static str> {
    let virt = layout::SELF_TEST_PAGE;
    let phys = frames::alloc_zeroed(0, MigrateType::Unmovable).map_err(|_| "no frame")?;
    let result = (|| {
        // SAFETY: SELF_TEST_PAGE is reserved for this test in the layout (nothing else maps
        // it) and `phys` was just allocated to this function.
        unsafe { map_page(virt, phys) }.map_err(|_| "map_page failed")?;
        // SAFETY: as above; a second mapping of the same page must be refused.
        if unsafe { map_page(virt, phys) } != Err(MapError::AlreadyMapped) {
            return Err("a second mapping of the same page was accepted");
        }
        if !is_mapped(virt) {
            return Err("page not mapped after map_page");
        }
        // SAFETY: virt was mapped just now to a frame only this function owns.
        unsafe { core::ptr::write_volatile((virt + 8) as *mut u64, 0x1234_5678_9abc_def0) };
        // SAFETY: the same frame seen through the direct map; still owned by this function.
        let seen = unsafe { core::ptr::read_volatile((phys_to_virt(phys) + 8) as *const u64) };
        if seen != 0x1234_5678_9abc_def0 {
            return Err("direct map does not see the write");
        }
        // SAFETY: the test's own page; no reference into it outlives this call.
        if unsafe { unmap_page(virt) } != Some(phys) {
            return Err("unmap_page returned the wrong frame");
        }
        if is_mapped(virt) {
            return Err("page still mapped after unmap_page");
        }
        Ok(())
    })();
    // SAFETY: as above (a no-op when the test already unmapped it).
    let _ = unsafe { unmap_page(virt) };
    frames::free(phys, 0).map_err(|_| "frame free failed")?;
    result
}

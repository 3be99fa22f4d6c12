//! The kernel's own page tables: built at boot to replace the PVH boot map, then edited to map
//! kernel stacks and heap pages.
//!
//! Tables are reached through the direct map. While [`init`] builds the new hierarchy, the boot
//! tables still map the low 4 GiB at [`DIRECT_MAP_BASE`], and the buddy allocator hands out the
//! lowest free frames first, so new tables are reachable before the switch as well as after.
//! All edits happen under one lock; lock order is heap → paging → frames.

use buddy::MigrateType;
use x86_64::PhysAddr;
use x86_64::structures::paging::{PageTable, PageTableFlags as F};

use super::frames;
use super::layout::{self, DIRECT_MAP_BASE, PAGE_SIZE, phys_to_virt};
use crate::sync::IrqMutex;

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
}

fn table(phys: u64) -> &'static mut PageTable {
    // SAFETY: every page-table frame is a RAM frame allocated by this module (or the boot
    // tables in .bss), mapped in the direct map, and only touched under the PML4_PHYS lock,
    // which every caller holds, so no two mutable references are live at once.
    unsafe { &mut *(phys_to_virt(phys) as *mut PageTable) }
}

fn new_table() -> Result<u64, MapError> {
    frames::alloc_zeroed(0, MigrateType::Unmovable).map_err(|_| MapError::OutOfFrames)
}

fn index(virt: u64, level: u32) -> usize {
    ((virt >> (12 + 9 * (level - 1))) & 0x1ff) as usize
}

/// Returns the next-level table behind entry `idx`, creating it if absent.
fn next_table(parent: u64, idx: usize) -> Result<u64, MapError> {
    let entry = &mut table(parent)[idx];
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

fn map_4k_in(pml4: u64, virt: u64, phys: u64, flags: F) -> Result<(), MapError> {
    let pdpt = next_table(pml4, index(virt, 4))?;
    let pd = next_table(pdpt, index(virt, 3))?;
    let pt = next_table(pd, index(virt, 2))?;
    let entry = &mut table(pt)[index(virt, 1)];
    if !entry.is_unused() {
        return Err(MapError::AlreadyMapped);
    }
    entry.set_addr(PhysAddr::new(phys), flags | F::PRESENT);
    Ok(())
}

fn map_2m_in(pml4: u64, virt: u64, phys: u64, flags: F) -> Result<(), MapError> {
    let pdpt = next_table(pml4, index(virt, 4))?;
    let pd = next_table(pdpt, index(virt, 3))?;
    let entry = &mut table(pd)[index(virt, 2)];
    if !entry.is_unused() {
        return Err(MapError::AlreadyMapped);
    }
    entry.set_addr(PhysAddr::new(phys), flags | F::PRESENT | F::HUGE_PAGE);
    Ok(())
}

/// Builds the kernel page tables (direct map of `[0, max_phys)`, the kernel image with
/// per-section rights) and switches CR3 to them. `nx` says whether EFER.NXE is on.
pub fn init(max_phys: u64, nx: bool) -> Result<(), MapError> {
    let no_exec = if nx { F::NO_EXECUTE } else { F::empty() };
    let pml4 = new_table()?;
    let two_mib = 2 * 1024 * 1024;
    let mut p = 0;
    while p < max_phys {
        map_2m_in(pml4, DIRECT_MAP_BASE + p, p, F::WRITABLE | no_exec)?;
        p += two_mib;
    }
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
        map_4k_in(pml4, page, page, flags)?;
        page += PAGE_SIZE;
    }
    let mut current = PML4_PHYS.lock();
    // SAFETY: the new hierarchy maps the kernel image at the same addresses (so the next
    // instruction, the stack in .bss and all statics stay valid) and the direct map at the same
    // base as the boot tables; nothing refers to identity-mapped RAM outside the image anymore
    // (the PVH start info was copied into BootInfo before this call).
    unsafe {
        core::arch::asm!("mov cr3, {}", in(reg) pml4, options(nostack));
    }
    *current = pml4;
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
pub fn map_page(virt: u64, phys: u64) -> Result<(), MapError> {
    let pml4 = PML4_PHYS.lock();
    if *pml4 == 0 {
        return Err(MapError::NotReady);
    }
    let nx = no_execute();
    map_4k_in(*pml4, virt, phys, F::WRITABLE | nx)
}

/// Makes the device registers at physical `[phys, phys + size)` reachable at their
/// direct-map address (`DIRECT_MAP_BASE + phys`) and returns that address. Pages already mapped
/// (the direct map of RAM also covers holes below the highest RAM address) are left as they
/// are; new ones are mapped uncached (PCD | PWT), no-execute.
pub fn map_mmio(phys: u64, size: u64) -> Result<u64, MapError> {
    let pml4 = PML4_PHYS.lock();
    if *pml4 == 0 {
        return Err(MapError::NotReady);
    }
    let nx = no_execute();
    let flags = F::WRITABLE | F::NO_CACHE | F::WRITE_THROUGH | nx;
    let mut page = phys / PAGE_SIZE * PAGE_SIZE;
    while page < phys + size {
        match map_4k_in(*pml4, phys_to_virt(page), page, flags) {
            Ok(()) | Err(MapError::AlreadyMapped) | Err(MapError::HugePageInTheWay) => {}
            Err(e) => return Err(e),
        }
        page += PAGE_SIZE;
    }
    Ok(phys_to_virt(phys))
}

/// Unmaps the 4 KiB page at `virt`, flushes it from the TLB and returns the physical frame
/// that was mapped there.
pub fn unmap_page(virt: u64) -> Option<u64> {
    let pml4 = PML4_PHYS.lock();
    if *pml4 == 0 {
        return None;
    }
    let mut t = *pml4;
    for level in [4, 3, 2] {
        let e = &table(t)[index(virt, level)];
        if e.is_unused() || e.flags().contains(F::HUGE_PAGE) {
            return None;
        }
        t = e.addr().as_u64();
    }
    let entry = &mut table(t)[index(virt, 1)];
    if entry.is_unused() {
        return None;
    }
    let phys = entry.addr().as_u64();
    entry.set_unused();
    x86_64::instructions::tlb::flush(x86_64::VirtAddr::new(virt));
    Some(phys)
}

/// True when `virt` is mapped (used by the backtrace walker before it dereferences a frame).
pub fn is_mapped(virt: u64) -> bool {
    let Some(pml4) = PML4_PHYS.try_lock() else {
        return false;
    };
    if *pml4 == 0 {
        // Still on the boot tables: the identity map of the low 4 GiB.
        return virt < (4 << 30) || (DIRECT_MAP_BASE..DIRECT_MAP_BASE + (4 << 30)).contains(&virt);
    }
    let mut t = *pml4;
    for level in [4, 3, 2, 1] {
        let e = &table(t)[index(virt, level)];
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

/// Self-check used by the in-kernel tests: maps a fresh zeroed frame at `virt`, writes through
/// that mapping, reads the value back through the direct map, refuses a second mapping, and
/// unmaps and frees it again. `virt` must be in an otherwise unused part of the kernel half.
pub fn check_map_write_unmap(virt: u64) -> Result<(), &'static str> {
    if virt < layout::HEAP_BASE + layout::HEAP_MAX_SIZE || !virt.is_multiple_of(PAGE_SIZE) {
        return Err("test address must be page-aligned and above the heap region");
    }
    let phys = frames::alloc_zeroed(0, MigrateType::Unmovable).map_err(|_| "no frame")?;
    let result = (|| {
        map_page(virt, phys).map_err(|_| "map_page failed")?;
        if map_page(virt, phys) != Err(MapError::AlreadyMapped) {
            return Err("a second mapping of the same page was accepted");
        }
        if !is_mapped(virt) {
            return Err("page not mapped after map_page");
        }
        // SAFETY: virt is page-aligned, above every region the kernel uses (checked above) and
        // was mapped just now to a frame only this function owns.
        unsafe { core::ptr::write_volatile((virt + 8) as *mut u64, 0x1234_5678_9abc_def0) };
        // SAFETY: the same frame seen through the direct map; still owned by this function.
        let seen = unsafe { core::ptr::read_volatile((phys_to_virt(phys) + 8) as *const u64) };
        if seen != 0x1234_5678_9abc_def0 {
            return Err("direct map does not see the write");
        }
        if unmap_page(virt) != Some(phys) {
            return Err("unmap_page returned the wrong frame");
        }
        if is_mapped(virt) {
            return Err("page still mapped after unmap_page");
        }
        Ok(())
    })();
    let _ = unmap_page(virt);
    frames::free(phys, 0).map_err(|_| "frame free failed")?;
    result
}

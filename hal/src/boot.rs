//! From the first Rust instruction to the kernel's `main`: parse the PVH start info, set up
//! the CPU, memory, interrupts, time and threads, then call the kernel binary's
//! `nous_kernel_main` with a [`BootInfo`].
//!
//! The PVH `hvm_start_info` structure lives in low memory that the kernel's own page tables do
//! not map; everything needed from it (memory map, command line) is copied into [`BootInfo`]
//! before paging is switched.

use core::fmt::Write;

use crate::arch::{self, cpu::CpuFeatures};
use crate::console::RawWriter;
use crate::mem::{self, MemRegion, frames::FrameInit};

const PVH_MAGIC: u32 = 0x336e_c578;
const MAX_REGIONS: usize = 64;
const MAX_CMDLINE: usize = 256;

/// What the hardware layer found at boot, handed to the kernel.
#[derive(Debug)]
pub struct BootInfo {
    regions: [MemRegion; MAX_REGIONS],
    region_count: usize,
    cmdline: [u8; MAX_CMDLINE],
    cmdline_len: usize,
    pub features: CpuFeatures,
    pub frames: FrameInit,
    pub tsc_hz: u64,
    /// Why there is no wall clock (`hal::time::wall_clock_secs` is `None`), if there is none.
    pub wall_clock_error: Option<rtc::RtcError>,
}

impl BootInfo {
    /// The firmware memory map.
    pub fn memory_map(&self) -> &[MemRegion] {
        &self.regions[..self.region_count]
    }

    /// The kernel command line (`-append`), if it is valid UTF-8.
    pub fn cmdline(&self) -> &str {
        core::str::from_utf8(&self.cmdline[..self.cmdline_len]).unwrap_or("")
    }
}

/// Memory map, its length, command line and its length, copied out of `hvm_start_info`.
type StartInfoCopy = ([MemRegion; MAX_REGIONS], usize, [u8; MAX_CMDLINE], usize);

#[repr(C)]
struct HvmStartInfo {
    magic: u32,
    version: u32,
    flags: u32,
    nr_modules: u32,
    modlist_paddr: u64,
    cmdline_paddr: u64,
    rsdp_paddr: u64,
    memmap_paddr: u64,
    memmap_entries: u32,
    reserved: u32,
}

#[repr(C)]
struct HvmMemmapEntry {
    addr: u64,
    size: u64,
    kind: u32,
    reserved: u32,
}

static BOOT_INFO: spin::Once<BootInfo> = spin::Once::new();

unsafe extern "Rust" {
    /// The kernel binary's entry point.
    ///
    /// Declared `safe` because its signature is fixed on both sides: the only definition is
    /// the one [`crate::entry!`] generates, which exports exactly
    /// `extern "Rust" fn(&'static BootInfo) -> !` under this name and type-checks the kernel's
    /// function against that signature. Defining the symbol any other way needs an
    /// `#[unsafe(no_mangle)]`/`export_name` attribute in the kernel, which denies unsafe code.
    safe fn nous_kernel_main(info: &'static BootInfo) -> !;
}

/// Declares the kernel's entry function: `hal::entry!(main)` exports `main`, which must be a
/// `fn(&'static hal::BootInfo) -> !`, as the symbol hal's boot code calls once the machine is
/// up. The signature is checked by the compiler here, which is what makes hal's declaration of
/// the symbol sound (see `boot.rs`).
#[macro_export]
macro_rules! entry {
    ($main:path) => {
        #[doc(hidden)]
        #[unsafe(export_name = "nous_kernel_main")]
        pub extern "Rust" fn __hal_kernel_entry(info: &'static $crate::BootInfo) -> ! {
            let main: fn(&'static $crate::BootInfo) -> ! = $main;
            main(info)
        }
    };
}

/// What the boot sequence found (None only before the kernel's entry runs).
pub fn boot_info() -> Option<&'static BootInfo> {
    BOOT_INFO.get()
}

fn fail(what: &str) -> ! {
    let _ = writeln!(RawWriter, "boot failed: {what}");
    arch::exit::exit_qemu(arch::exit::ExitCode::CpuException)
}

/// Copies what the kernel needs out of `hvm_start_info`.
///
/// # Safety
/// 1. `start_info` is the physical address QEMU passed in %ebx, and the boot identity map
///    (low 4 GiB) is still active, so it and the tables it points to are readable.
unsafe fn read_start_info(start_info: u64) -> Result<StartInfoCopy, &'static str> {
    // SAFETY: obligation (1).
    let si = unsafe { &*(start_info as *const HvmStartInfo) };
    if si.magic != PVH_MAGIC {
        return Err("hvm_start_info magic mismatch (not booted through PVH?)");
    }
    if si.version < 1 || si.memmap_paddr == 0 {
        return Err("PVH start info has no memory map (version < 1)");
    }
    let mut regions = [MemRegion::default(); MAX_REGIONS];
    let n = (si.memmap_entries as usize).min(MAX_REGIONS);
    for (i, region) in regions.iter_mut().enumerate().take(n) {
        // SAFETY: obligation (1); the map has memmap_entries entries and i < that.
        let e = unsafe { &*((si.memmap_paddr as *const HvmMemmapEntry).add(i)) };
        *region = MemRegion {
            start: e.addr,
            end: e.addr.saturating_add(e.size),
            kind: e.kind,
        };
    }
    let mut cmdline = [0u8; MAX_CMDLINE];
    let mut len = 0;
    if si.cmdline_paddr != 0 {
        while len < MAX_CMDLINE {
            // SAFETY: obligation (1); the command line is NUL-terminated, and reading stops at
            // the NUL or after MAX_CMDLINE bytes.
            let b = unsafe { *((si.cmdline_paddr + len as u64) as *const u8) };
            if b == 0 {
                break;
            }
            cmdline[len] = b;
            len += 1;
        }
    }
    Ok((regions, n, cmdline, len))
}

#[unsafe(no_mangle)]
extern "C" fn hal_boot_entry(start_info: u64) -> ! {
    crate::time::record_entry();
    arch::serial::init();
    // SAFETY: called once from the PVH entry with QEMU's start-info address, boot map active.
    let (regions, region_count, cmdline, cmdline_len) =
        unsafe { read_start_info(start_info) }.unwrap_or_else(|e| fail(e));
    let features = arch::cpu::init();
    arch::gdt::init();
    arch::interrupts::init();
    let img = mem::layout::image();
    let memory_map = &regions[..region_count];
    // SAFETY: first and only call, on the boot CPU with the boot map active; the memory map is
    // the firmware's, and the image range is the linker's.
    let frames = unsafe { mem::frames::init(memory_map, (img.start, img.end)) }
        .unwrap_or_else(|_| fail("frame allocator"));
    let mut usable = [(0u64, 0u64); MAX_REGIONS];
    let mut usable_count = 0;
    for r in memory_map.iter().filter(|r| r.is_usable()) {
        usable[usable_count] = (r.start, r.end);
        usable_count += 1;
    }
    // SAFETY: first and only call, after the frame allocator, boot map active; the start info
    // was copied above, so nothing outside the image and RAM is referenced after the switch.
    unsafe { mem::paging::init(&usable[..usable_count], features.nx) }
        .unwrap_or_else(|_| fail("page tables"));
    mem::heap::init(1024 * 1024).unwrap_or_else(|_| fail("heap"));
    crate::pci::enumerate_at_boot();
    arch::pic::init();
    arch::pic::init_pit();
    x86_64::instructions::interrupts::enable();
    crate::time::calibrate();
    let wall_clock = crate::time::read_wall_clock().err();
    let info = BOOT_INFO.call_once(|| BootInfo {
        regions,
        region_count,
        cmdline,
        cmdline_len,
        features,
        frames,
        tsc_hz: crate::time::tsc_hz(),
        wall_clock_error: wall_clock,
    });
    nous_kernel_main(info)
}

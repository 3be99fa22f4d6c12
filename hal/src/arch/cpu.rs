//! CPU identification and control-register setup: which features the kernel uses (SSE,
//! AVX/AVX2 through XSAVE, NX), `halt`, `rdtsc`, CR2.
//!
//! Boot code already enabled SSE (the precompiled `core` uses it everywhere). [`init`] turns on
//! what CPUID offers beyond that: NX (EFER.NXE), write protection in ring 0 (CR0.WP) and, when
//! XSAVE and AVX are present, CR4.OSXSAVE + XCR0 = x87|SSE|AVX so AVX2 kernels may run; the
//! interrupt stubs in [`super::interrupts`] then save state with `xsave64` instead of `fxsave64`.

use core::arch::asm;
use core::arch::x86_64::{__cpuid, __cpuid_count, _rdtsc};
use core::sync::atomic::{AtomicBool, Ordering};

/// Features the kernel detected and enabled at boot.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuFeatures {
    pub sse2: bool,
    pub sse3: bool,
    pub ssse3: bool,
    pub sse4_1: bool,
    pub sse4_2: bool,
    pub xsave: bool,
    pub avx: bool,
    pub avx2: bool,
    pub fma: bool,
    pub nx: bool,
    pub invariant_tsc: bool,
}

impl CpuFeatures {
    /// Space-separated names of the enabled features, for the boot report.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        let all = [
            (self.sse2, "sse2"),
            (self.sse3, "sse3"),
            (self.ssse3, "ssse3"),
            (self.sse4_1, "sse4.1"),
            (self.sse4_2, "sse4.2"),
            (self.xsave, "xsave"),
            (self.avx, "avx"),
            (self.avx2, "avx2"),
            (self.fma, "fma"),
            (self.nx, "nx"),
            (self.invariant_tsc, "invariant-tsc"),
        ];
        all.into_iter().filter(|(on, _)| *on).map(|(_, name)| name)
    }
}

static FEATURES: spin::Once<CpuFeatures> = spin::Once::new();

/// True when interrupt stubs and context switches must use `xsave64`/`xrstor64` (AVX state on).
/// Crate-private: clearing it after AVX is enabled would make the stubs drop the upper halves
/// of the AVX registers across interrupts.
#[unsafe(no_mangle)]
pub(crate) static HAL_USE_XSAVE: AtomicBool = AtomicBool::new(false);

fn detect() -> CpuFeatures {
    let leaf1 = __cpuid(1);
    let max_basic = __cpuid(0).eax;
    let leaf7 = if max_basic >= 7 {
        __cpuid_count(7, 0)
    } else {
        __cpuid(0)
    };
    let max_ext = __cpuid(0x8000_0000).eax;
    let ext1 = if max_ext >= 0x8000_0001 {
        __cpuid(0x8000_0001).edx
    } else {
        0
    };
    let ext7 = if max_ext >= 0x8000_0007 {
        __cpuid(0x8000_0007).edx
    } else {
        0
    };
    let has_leaf7 = max_basic >= 7;
    CpuFeatures {
        sse2: leaf1.edx & (1 << 26) != 0,
        sse3: leaf1.ecx & 1 != 0,
        ssse3: leaf1.ecx & (1 << 9) != 0,
        sse4_1: leaf1.ecx & (1 << 19) != 0,
        sse4_2: leaf1.ecx & (1 << 20) != 0,
        xsave: leaf1.ecx & (1 << 26) != 0,
        avx: leaf1.ecx & (1 << 28) != 0,
        avx2: has_leaf7 && leaf7.ebx & (1 << 5) != 0,
        fma: leaf1.ecx & (1 << 12) != 0,
        nx: ext1 & (1 << 20) != 0,
        invariant_tsc: ext7 & (1 << 8) != 0,
    }
}

/// Detects features and enables NX, CR0.WP and (when available) AVX state. Called once on
/// the boot CPU before the kernel page tables are installed (they use the NX bit).
pub(crate) fn init() -> CpuFeatures {
    let mut f = detect();
    if f.nx {
        // SAFETY: EFER.NXE is set only when CPUID reports NX support (otherwise wrmsr faults);
        // no page table uses the NX bit before this point, so existing mappings do not change.
        unsafe {
            let mut efer = x86_64::registers::model_specific::Msr::new(0xC000_0080);
            let v = efer.read();
            efer.write(v | (1 << 11));
        }
    }
    // SAFETY: CR0.WP only makes the kernel honour read-only page-table entries; the boot map
    // has none, and the kernel map marks read-only exactly the image sections never written.
    unsafe {
        let cr0: u64;
        asm!("mov {}, cr0", out(reg) cr0, options(nomem, nostack));
        asm!("mov cr0, {}", in(reg) cr0 | (1 << 16), options(nostack));
    }
    if f.xsave && f.avx {
        // SAFETY: CPUID reported XSAVE and AVX, so CR4.OSXSAVE may be set and XCR0 may enable
        // x87 | SSE | AVX (bits 0–2, the only combination the stubs' 1 KiB save area is sized for).
        unsafe {
            let cr4: u64;
            asm!("mov {}, cr4", out(reg) cr4, options(nomem, nostack));
            asm!("mov cr4, {}", in(reg) cr4 | (1 << 18), options(nostack));
            asm!("xsetbv", in("ecx") 0u32, in("eax") 7u32, in("edx") 0u32, options(nostack));
        }
        HAL_USE_XSAVE.store(true, Ordering::SeqCst);
    } else {
        f.avx = false;
        f.avx2 = false;
        f.fma = false;
    }
    FEATURES.call_once(|| f);
    f
}

/// Features detected by [`init`] (all false before it ran).
pub fn features() -> CpuFeatures {
    FEATURES.get().copied().unwrap_or_default()
}

/// Reads the time-stamp counter.
pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no memory effects; CR4.TSD is clear so it is allowed in ring 0.
    unsafe { _rdtsc() }
}

/// The faulting linear address of the last page fault.
pub fn read_cr2() -> u64 {
    let v: u64;
    // SAFETY: reading CR2 has no side effects.
    unsafe { asm!("mov {}, cr2", out(reg) v, options(nomem, nostack)) };
    v
}

/// Stops this CPU for good: interrupts off, `hlt` in a loop.
pub fn halt_forever() -> ! {
    loop {
        x86_64::instructions::interrupts::disable();
        x86_64::instructions::hlt();
    }
}

/// Waits for the next interrupt with interrupts enabled (the idle loop's body). `sti; hlt`
/// is atomic with respect to interrupts, so a wake-up between the check and the halt is not lost.
pub fn enable_interrupts_and_halt() {
    x86_64::instructions::interrupts::enable_and_hlt();
}

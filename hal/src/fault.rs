//! Fault reports: CPU exceptions and kernel panics end here, print what a developer needs
//! (vector, error code, RIP, CR2, registers, the running thread, a frame-pointer backtrace)
//! and stop the machine through isa-debug-exit.
//!
//! Reports use [`RawWriter`], which bypasses the console lock: the fault may have happened
//! while that lock was held. The backtrace follows the `%rbp` chain (the workspace builds with
//! `-C force-frame-pointers=yes`) and checks every frame address is mapped before reading it.

use core::fmt::Write;

use crate::arch::cpu;
use crate::arch::exit::{ExitCode, exit_qemu};
use crate::arch::interrupts::InterruptFrame;
use crate::console::RawWriter;
use crate::mem::{layout, paging};

const NAMES: [&str; 32] = [
    "divide error (#DE)",
    "debug (#DB)",
    "non-maskable interrupt (NMI)",
    "breakpoint (#BP)",
    "overflow (#OF)",
    "bound range exceeded (#BR)",
    "invalid opcode (#UD)",
    "device not available (#NM)",
    "double fault (#DF)",
    "coprocessor segment overrun",
    "invalid TSS (#TS)",
    "segment not present (#NP)",
    "stack-segment fault (#SS)",
    "general protection fault (#GP)",
    "page fault (#PF)",
    "reserved (15)",
    "x87 floating-point error (#MF)",
    "alignment check (#AC)",
    "machine check (#MC)",
    "SIMD floating-point exception (#XM)",
    "virtualization exception (#VE)",
    "control protection exception (#CP)",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection (#HV)",
    "VMM communication (#VC)",
    "security exception (#SX)",
    "reserved (31)",
];

/// Whether the backtrace walker may read the word at `addr`: mapped, and in memory that holds
/// stacks (the kernel image's .bss holds the boot and IST stacks; thread stacks have their own
/// region) — never the MMIO window, where a read could have a device side effect.
fn readable_stack_word(addr: u64) -> bool {
    let img = layout::image();
    let in_image = (img.start..img.end.saturating_sub(8)).contains(&addr);
    let in_stacks = crate::task::stack_slot_of(addr).is_some();
    addr.is_multiple_of(8) && (in_image || in_stacks) && paging::is_mapped(addr)
}

/// Prints the frame-pointer backtrace starting at `rip`/`rbp`.
pub(crate) fn print_backtrace(w: &mut impl Write, rip: u64, mut rbp: u64) {
    let _ = writeln!(w, "backtrace:");
    let _ = writeln!(w, "  #0 {rip:#018x}");
    for depth in 1..32 {
        if !readable_stack_word(rbp) || !readable_stack_word(rbp + 8) {
            break;
        }
        // SAFETY: both words of the frame record are 8-aligned, mapped, and in stack memory
        // (checked just above), so reading them has no effect; a stale chain may yield garbage
        // values, which are only printed.
        let (next, ret) = unsafe { ((rbp as *const u64).read(), ((rbp + 8) as *const u64).read()) };
        if ret == 0 {
            break;
        }
        let _ = writeln!(w, "  #{depth} {ret:#018x}");
        if next <= rbp {
            break; // the chain must move up the stack; anything else is a loop or garbage
        }
        rbp = next;
    }
}

fn current_thread_name(w: &mut impl Write) {
    let _ = write!(w, "thread: ");
    crate::task::write_current_name(w);
    let _ = writeln!(w);
}

/// Prints an exception report and stops the machine (called by the interrupt dispatcher).
pub(crate) fn report_and_stop(frame: &InterruptFrame) -> ! {
    let mut w = RawWriter;
    let v = frame.vector as usize;
    let name = NAMES.get(v).copied().unwrap_or("unknown");
    let short = name.split(" (").next().unwrap_or(name);
    let _ = writeln!(w, "\nEXCEPTION: {short} (vector {v}: {name})");
    let _ = writeln!(w, "error code: {:#x}", frame.error_code);
    let _ = writeln!(
        w,
        "RIP: {:#018x}  CS: {:#x}  RFLAGS: {:#x}",
        frame.rip, frame.cs, frame.rflags
    );
    let _ = writeln!(w, "RSP: {:#018x}  SS: {:#x}", frame.rsp, frame.ss);
    if v == 14 {
        let cr2 = cpu::read_cr2();
        let e = frame.error_code;
        let _ = writeln!(
            w,
            "CR2: {cr2:#018x} ({} {} access, {})",
            if e & 1 != 0 {
                "protection violation on"
            } else {
                "non-present page on"
            },
            if e & 2 != 0 {
                "write"
            } else if e & 16 != 0 {
                "instruction fetch"
            } else {
                "read"
            },
            if e & 4 != 0 {
                "user mode"
            } else {
                "kernel mode"
            },
        );
        if let Some((lo, _)) = crate::task::stack_slot_of(cr2) {
            let _ = writeln!(
                w,
                "note: address is in kernel stack slot {lo:#x}: likely a stack overflow into the guard pages"
            );
        }
    }
    let _ = writeln!(
        w,
        "RAX={:#x} RBX={:#x} RCX={:#x} RDX={:#x}\nRSI={:#x} RDI={:#x} RBP={:#x}\nR8={:#x} R9={:#x} R10={:#x} R11={:#x}\nR12={:#x} R13={:#x} R14={:#x} R15={:#x}",
        frame.rax,
        frame.rbx,
        frame.rcx,
        frame.rdx,
        frame.rsi,
        frame.rdi,
        frame.rbp,
        frame.r8,
        frame.r9,
        frame.r10,
        frame.r11,
        frame.r12,
        frame.r13,
        frame.r14,
        frame.r15
    );
    current_thread_name(&mut w);
    print_backtrace(&mut w, frame.rip, frame.rbp);
    let _ = writeln!(w, "machine stopped.");
    exit_qemu(ExitCode::CpuException)
}

/// Prints a panic report with a backtrace from the caller. The caller then stops the machine
/// with the exit code that fits (a failed in-kernel test differs from a kernel bug).
pub fn report_panic(info: &core::panic::PanicInfo<'_>) {
    x86_64::instructions::interrupts::disable();
    let mut w = RawWriter;
    let _ = writeln!(w, "\nPANIC: {info}");
    current_thread_name(&mut w);
    let rbp: u64;
    // SAFETY: reads the frame pointer register; no memory effects.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack)) };
    print_backtrace(&mut w, report_panic as *const () as u64, rbp);
}

/// Reports a broken internal invariant of `hal` (a state no input can produce) with a
/// backtrace, and stops the machine. Recoverable conditions never come here; they are errors.
pub(crate) fn fatal(what: &str) -> ! {
    x86_64::instructions::interrupts::disable();
    let mut w = RawWriter;
    let _ = writeln!(w, "\nFATAL: {what}");
    current_thread_name(&mut w);
    let rbp: u64;
    // SAFETY: reads the frame pointer register; no memory effects.
    unsafe { core::arch::asm!("mov {}, rbp", out(reg) rbp, options(nomem, nostack)) };
    print_backtrace(&mut w, fatal as *const () as u64, rbp);
    exit_qemu(ExitCode::CpuException)
}

/// Stops the machine after a panic report.
pub fn stop(code: ExitCode) -> ! {
    exit_qemu(code)
}

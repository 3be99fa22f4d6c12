//! The foundation subsystem: what every kernel has before any learned component — the boot
//! report, the commands that show memory, threads and time (`version uptime meminfo ps echo
//! metrics shutdown`, `memctl stats`, `schedctl stats|stress`) and the memory, scheduler and
//! heap metrics.
//!
//! Modules: `commands` (the shell side), `metrics` (computed series), `stress` (the thread
//! stress behind `schedctl stress` and an in-kernel test).

pub mod commands;
mod metrics;
pub mod stress;

use alloc::string::String;
use core::fmt::Write;

use buddy::PAGE_SIZE;

use crate::ctx::Subsystem;

/// The table entry.
pub const SUBSYSTEM: Subsystem = Subsystem {
    name: "foundation",
    start: Subsystem::no_start,
    commands: commands::register,
    metrics: metrics::register,
    stop: Subsystem::no_stop,
};

/// The one-line boot report: time from PVH entry to now, memory, CPU features.
pub fn boot_report(boot: &hal::BootInfo) -> String {
    let mut s = String::new();
    let ms = hal::time::since_entry_ns() as f64 / 1e6;
    let usable_mib = boot.frames.usable_bytes / (1024 * 1024);
    let managed_mib = boot.frames.managed_pages * PAGE_SIZE / (1024 * 1024);
    let _ = write!(
        s,
        "boot: {ms:.1} ms to shell, memory {usable_mib} MiB usable ({managed_mib} MiB managed by the buddy allocator), tsc {} MHz, cpu features:",
        boot.tsc_hz / 1_000_000
    );
    for f in boot.features.names() {
        let _ = write!(s, " {f}");
    }
    s
}

//! # The Nous kernel binary
//!
//! Wires the logic crates (`buddy`, `sched`, `shell`, …) to the hardware layer (`hal`) and
//! contains no `unsafe` at all. `hal` boots the machine (CPU tables, memory, interrupts, time,
//! threads) and calls [`kernel_main`] (declared with `hal::entry!`) on the boot stack, which
//! becomes the idle thread once the kernel's own threads are started.
//!
//! The kernel is a table of subsystems ([`SUBSYSTEMS`]): each is a logic crate under `crates/`
//! plus its glue in `kernel/src/<name>/`, described by one [`ctx::Subsystem`] entry (start at
//! boot, shell commands, metrics, stop at shutdown). `main` walks the table; the subsystems
//! import only the shared context below them (`ctx`, `files`, `kmetrics`, `reclaim`), never `main`
//! and never each other. docs/ARCHITECTURE.md has the recipe for adding one.
//!
//! Variants (cargo features, built by `cargo xtask build --variant …`): the normal image starts
//! the subsystems and the serial shell; `ktest` runs the in-kernel tests ([`ktest`]) and exits
//! QEMU with the result; `fault-test` touches an unmapped address to exercise the page-fault
//! report.
#![no_std]
#![no_main]
#![forbid(unsafe_code)]

extern crate alloc;

mod ctx;
mod files;
mod foundation;
mod kmetrics;
#[cfg(feature = "ktest")]
mod ktest;
mod llm;
mod net;
mod oom;
mod reclaim;
mod sched;
mod storage;

use alloc::string::String;

use ::sched::{Priority, RoundRobinPolicy};
use hal::arch::exit::ExitCode;
use hal::task::{self, SpawnOptions};
use shell::Shell;

use crate::ctx::{KernelCtx, Subsystem};

/// Every subsystem, in start order (`shutdown` stops them in reverse). Adding a subsystem is
/// adding its entry here (docs/ARCHITECTURE.md).
pub static SUBSYSTEMS: &[&Subsystem] = &[
    &foundation::SUBSYSTEM,
    &storage::SUBSYSTEM,
    &oom::SUBSYSTEM,
    &sched::SUBSYSTEM,
    &net::SUBSYSTEM,
    &llm::SUBSYSTEM,
];

hal::entry!(kernel_main);

/// Called by `hal` once the machine is up; never returns.
fn kernel_main(boot: &'static hal::BootInfo) -> ! {
    if let Err(e) = task::init(alloc::boxed::Box::new(RoundRobinPolicy::new())) {
        hal::println!("boot failed: scheduler: {e}");
        hal::fault::stop(ExitCode::CpuException);
    }
    kmetrics::init(SUBSYSTEMS);

    #[cfg(feature = "fault-test")]
    fault_test(boot);

    #[cfg(feature = "ktest")]
    let started = task::spawn_with(
        "ktest",
        SpawnOptions {
            priority: Priority::Normal,
            detached: true,
            ..SpawnOptions::default()
        },
        move || ktest::run(boot, SUBSYSTEMS),
    );
    #[cfg(not(feature = "ktest"))]
    let started = {
        let boot_lines: alloc::vec::Vec<String> = SUBSYSTEMS
            .iter()
            .filter_map(|subsystem| (subsystem.start)(boot))
            .collect();
        task::spawn_with(
            "shell",
            SpawnOptions {
                priority: Priority::High,
                detached: true,
                ..SpawnOptions::default()
            },
            move || run_shell(boot, &boot_lines),
        )
    };
    if let Err(e) = started {
        hal::println!("boot failed: cannot start the first thread: {e}");
        hal::fault::stop(ExitCode::CpuException);
    }
    task::idle_loop()
}

/// The shell thread: prints the boot report and the subsystems' boot lines, then serves COM1
/// forever.
#[cfg_attr(
    feature = "ktest",
    allow(dead_code, reason = "the test image runs ktest instead")
)]
fn run_shell(boot: &'static hal::BootInfo, boot_lines: &[String]) -> i64 {
    let mut ctx = KernelCtx {
        boot,
        subsystems: SUBSYSTEMS,
    };
    let registry = ctx::command_registry(SUBSYSTEMS);
    let mut out = hal::console::Console;
    hal::println!("{}", foundation::boot_report(boot));
    for line in boot_lines {
        hal::println!("{line}");
    }
    // Subsystems cannot report a refused registration (a bad name or usage synopsis) at
    // boot; the registry kept them (the ktest `shell_registry_answers` fails on any).
    for refused in registry.registration_errors() {
        hal::println!("shell: not registered: {refused}");
    }
    let mut shell = Shell::new(registry, "nous> ");
    let _ = shell.start(&mut out);
    loop {
        match hal::console::read_input() {
            hal::console::ConsoleInput::Byte(byte) => {
                // A Ctrl-C typed while the command this byte may start is running stops it
                // (`KernelCtx::interrupted`); one typed earlier must not.
                hal::console::clear_interrupt();
                let _ = shell.feed(&mut ctx, byte, &mut out);
            }
            hal::console::ConsoleInput::Lost(bytes) => shell.input_lost(u64::from(bytes)),
        }
    }
}

/// Provokes a fault so the report can be checked from outside: with `-append
/// fault=stack-overflow` a thread recurses into its stack's guard pages; otherwise the boot
/// thread reads an address nothing maps.
#[cfg(feature = "fault-test")]
fn fault_test(boot: &hal::BootInfo) {
    hal::println!("{}", foundation::boot_report(boot));
    if boot.cmdline().contains("fault=stack-overflow") {
        hal::println!("fault-test: recursing until the stack guard page is hit");
        match task::spawn("overflow", || overflow_stack(0, &mut [0; 512]) as i64) {
            // This is the boot context, which is already the idle thread: the scheduler refuses
            // to let idle sleep (`sleep_ns` would return at once, and whether the overflow ran
            // first was a race with the timer tick), so it yields until the fault stops the
            // machine.
            Ok(_) => {
                let deadline = hal::time::now_ns() + 30_000_000_000;
                while hal::time::now_ns() < deadline {
                    task::yield_now();
                }
                hal::println!("fault-test: FAILED, the overflow was not caught in 30 s");
            }
            Err(e) => hal::println!("fault-test: FAILED, cannot spawn the thread: {e}"),
        }
        hal::fault::stop(ExitCode::Failure);
    }
    hal::println!(
        "fault-test: reading unmapped address {:#x}",
        hal::mem::FAULT_TEST_ADDRESS
    );
    match hal::mem::read_unmapped_for_fault_test() {
        Some(value) => hal::println!("fault-test: FAILED, read {value:#x} without a fault"),
        None => hal::println!("fault-test: FAILED, the test address is mapped"),
    }
    hal::fault::stop(ExitCode::Failure);
}

/// Recurses with 1 KiB of stack per level until the guard page stops it. The depth limit
/// (far beyond any stack: 2^32 KiB) is there so the function visibly can return — without it
/// the compiler warns that it cannot — while in practice the guard page is hit first. The
/// recursive result goes through `black_box`, or LLVM turns the `f(n + 1) + c` accumulator
/// recursion into a loop that never touches the guard page.
#[cfg(feature = "fault-test")]
fn overflow_stack(depth: u64, buf: &mut [u8; 512]) -> u64 {
    if depth == u64::from(u32::MAX) {
        return 0;
    }
    let mut local = [0u8; 512];
    local[(depth % 512) as usize] = buf[0].wrapping_add(1);
    core::hint::black_box(&mut local);
    core::hint::black_box(overflow_stack(depth + 1, &mut local)) + u64::from(local[0])
}

/// Reports the panic with a backtrace and stops the machine. Only in an image (feature
/// `image`, which xtask always sets): see kernel/Cargo.toml.
#[cfg(feature = "image")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    hal::fault::report_panic(info);
    let code = if cfg!(feature = "ktest") {
        ExitCode::Failure
    } else {
        ExitCode::CpuException
    };
    hal::fault::stop(code)
}

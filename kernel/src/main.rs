//! # The Nous kernel binary
//!
//! Wires the logic crates (`buddy`, `sched`, `shell`, …) to the hardware layer (`hal`) and
//! contains no `unsafe` beyond the one exported entry symbol. `hal` boots the machine (CPU
//! tables, memory, interrupts, time, threads) and calls [`nous_kernel_main`] on the boot stack,
//! which becomes the idle thread once the kernel's own threads are started.
//!
//! Variants (cargo features, built by `cargo xtask build --variant …`): the normal image starts
//! the serial shell; `ktest` runs the in-kernel tests ([`ktest`]) and exits QEMU with the result;
//! `fault-test` touches an unmapped address to exercise the page-fault report.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

extern crate alloc;

mod commands;
mod kmetrics;
#[cfg(feature = "ktest")]
mod ktest;
mod oom;
mod storage;
mod stress;

use hal::arch::exit::ExitCode;
use hal::task::{self, SpawnOptions};
use sched::{Priority, RoundRobinPolicy};

/// Called by `hal` once the machine is up; never returns.
#[allow(
    unsafe_code,
    reason = "the one symbol hal's boot code calls: it must not be mangled"
)]
#[unsafe(no_mangle)]
pub fn nous_kernel_main(boot: &'static hal::BootInfo) -> ! {
    if let Err(e) = task::init(alloc::boxed::Box::new(RoundRobinPolicy::new())) {
        hal::println!("boot failed: scheduler: {e}");
        hal::fault::stop(ExitCode::CpuException);
    }

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
        move || ktest::run(boot),
    );
    #[cfg(not(feature = "ktest"))]
    oom::start();
    #[cfg(not(feature = "ktest"))]
    let started = task::spawn_with(
        "shell",
        SpawnOptions {
            priority: Priority::High,
            detached: true,
            ..SpawnOptions::default()
        },
        move || commands::run_shell(boot),
    );
    if let Err(e) = started {
        hal::println!("boot failed: cannot start the first thread: {e}");
        hal::fault::stop(ExitCode::CpuException);
    }
    task::idle_loop()
}

/// Provokes a fault so the report can be checked from outside: with `-append
/// fault=stack-overflow` a thread recurses into its stack's guard pages; otherwise the boot
/// thread reads an address nothing maps.
#[cfg(feature = "fault-test")]
fn fault_test(boot: &hal::BootInfo) {
    hal::println!("{}", commands::boot_report(boot));
    if boot.cmdline().contains("fault=stack-overflow") {
        hal::println!("fault-test: recursing until the stack guard page is hit");
        let spawned = task::spawn("overflow", || {
            fn recurse(depth: u64, buf: &mut [u8; 512]) -> u64 {
                let mut local = [0u8; 512];
                local[(depth % 512) as usize] = buf[0].wrapping_add(1);
                core::hint::black_box(&mut local);
                recurse(depth + 1, &mut local) + u64::from(local[0])
            }
            recurse(0, &mut [0; 512]) as i64
        });
        if spawned.is_ok() {
            task::sleep_ns(5_000_000_000);
        }
        hal::println!("fault-test: FAILED, the overflow was not caught");
        hal::fault::stop(ExitCode::Failure);
    }
    hal::println!("fault-test: reading unmapped address 0xdeadbeef000");
    let value = hal::mem::probe_read_u64(0xdead_beef_000);
    hal::println!("fault-test: FAILED, read {value:#x} without a fault");
    hal::fault::stop(ExitCode::Failure);
}

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

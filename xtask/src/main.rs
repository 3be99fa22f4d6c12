//! `cargo xtask`: the one build driver of Nous — it builds the kernel images, boots them in
//! QEMU and tests them from the outside.
//!
//! Design principles:
//! - The guest is checked only through what a user sees: the serial console and QEMU's exit
//!   status (isa-debug-exit). No test trusts the kernel's own claim of success alone.
//! - Every QEMU process has a deadline and is owned by a guard that kills it when dropped (and,
//!   because the dev profile aborts on panic, from a panic hook too).
//! - Parsing of guest output is pure code in [`parse`], unit-tested on the host against
//!   recorded transcripts; the modules that spawn processes stay thin.
//! - A failure shows its evidence: the full serial log of the failed run is printed.
//!
//! Modules: [`setup`] finds or installs host tools, [`image`] builds kernel images, [`qemu`]
//! spawns and drives QEMU, [`console`] speaks the shell protocol, [`parse`] reads guest output,
//! [`e2e`] holds the table of end-to-end
//! tests, [`suite`] runs everything behind `cargo xtask test`.

mod bench;
mod bench_llm;
mod bench_llm_heldout;
mod bench_net;
mod bench_oom;
mod bench_sched;
mod console;
mod disk;
mod e2e;
mod e2e_hostile;
mod e2e_llm;
mod e2e_net;
mod e2e_oom;
mod e2e_sched;
mod e2e_storage;
mod image;
#[cfg(test)]
mod modgraph;
mod netclient;
mod parse;
mod qemu;
mod setup;
mod suite;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use image::Variant;

/// Build, run and test the Nous kernel.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a kernel image (release profile) and print the path of its ELF.
    Build {
        /// Which image: the normal shell kernel, the in-kernel test runner, or the page-fault demo.
        #[arg(long, value_enum, default_value_t = Variant::Normal)]
        variant: Variant,
    },
    /// Build a kernel image and boot it in QEMU with the serial console on this terminal.
    Run {
        /// Which image to boot.
        #[arg(long, value_enum, default_value_t = Variant::Normal)]
        variant: Variant,
        /// Extra arguments passed to qemu-system-x86_64 after the standard ones.
        #[arg(last = true)]
        qemu_args: Vec<String>,
    },
    /// Run the host unit tests, then the QEMU tests (in-kernel tests, fault report, end-to-end).
    Test {
        /// Only the host unit tests (`cargo test` at the workspace root).
        #[arg(long, conflicts_with = "qemu_only")]
        host_only: bool,
        /// Only the QEMU tests.
        #[arg(long)]
        qemu_only: bool,
        /// Run only the QEMU tests whose name contains this text.
        filter: Option<String>,
    },
    /// Check for (and, as root on Debian, install) every host tool the tests need.
    Setup,
    /// Run a committed benchmark (learned path or component next to its baseline, with ratios).
    Bench {
        /// llm | ext4 | buddy | sched
        #[arg(value_enum)]
        area: bench::Area,
        /// Extra arguments for the benchmark program.
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    qemu::install_panic_hook();
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Build { variant } => {
            let elf = image::build(variant)?;
            println!("{}", elf.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { variant, qemu_args } => {
            setup::ensure_qemu()?;
            let elf = image::build(variant)?;
            let mut args = disk::drive_args(&disk::ensure_run_image()?);
            let port = qemu::free_port()?;
            args.extend(qemu::net_args(port));
            args.extend(qemu_args);
            println!(
                "xtask: the dashboard will be at http://127.0.0.1:{port}/ once the kernel is up"
            );
            qemu::run_interactive(&elf, &args)
        }
        Command::Test {
            host_only,
            qemu_only,
            filter,
        } => {
            let selection = suite::Selection {
                host: !qemu_only,
                qemu: !host_only,
                filter,
            };
            let summary = suite::run(&selection)?;
            Ok(if summary.failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Bench { area, args } => bench::run(area, &args),
        Command::Setup => {
            let qemu = setup::ensure_qemu()?;
            println!("qemu: {}", qemu.display());
            let e2fs = setup::ensure_e2fsprogs()?;
            println!("mkfs.ext4: {}", e2fs.mkfs_ext4.display());
            println!("e2fsck: {}", e2fs.e2fsck.display());
            println!("debugfs: {}", e2fs.debugfs.display());
            println!("promtool: {}", setup::ensure_promtool()?.display());
            println!("chromium: {}", setup::ensure_chromium()?.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

//! `cargo xtask bench sched`: the evaluation of the learned scheduler (issue 14), in two parts.
//!
//! 1. The host simulator: `sched-sim` runs every workload family (the tuning families W1–W6, H1
//!    to H6 seen in diagnosis, the fresh H7 and H8) × 20 seeds (100–119; the policy was tuned
//!    on seeds 1–5 of W1–W6 only) × every policy
//!    (round-robin, EEVDF-like, MLFQ, SJF-EWMA, the learned policy with and without attention,
//!    the SRPT oracle) on a virtual clock, and prints the table with ratios to round-robin and
//!    the share of the round-robin→oracle gap closed.
//! 2. The same suite in QEMU: boots the normal image, runs `schedctl eval all <seeds>` (every
//!    family × policy except the oracle on real kernel threads), saves the `sched-eval` lines
//!    next to the kernel images (`…/kernel/sched-eval-qemu.txt`) and prints them through
//!    `sched-sim --summarize`, the same parser and table as the host part.
//!
//! Arguments after `--`: `--qemu-seeds N` (default 1), `--host-only`, `--qemu-only`; anything
//! else goes to `sched-sim` (e.g. `--seeds 5`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::console::Console;
use crate::qemu::Guest;
use crate::{image, setup};

/// Workload families `schedctl eval all` runs (`sched::eval::FAMILIES`: W1–W6, H1–H8).
const FAMILIES: u32 = 14;

/// Longest one in-kernel run may take under TCG (the longest family runs about 1 s of CPU).
const PER_RUN_TIMEOUT: Duration = Duration::from_secs(30);

fn qemu_part(seeds: u32) -> Result<()> {
    setup::ensure_qemu()?;
    let elf = image::build(image::Variant::Normal)?;
    let guest = Guest::boot_with(&elf, &[])?;
    let mut console = Console::attach(guest).map_err(|failure| {
        failure
            .error
            .context(format!("serial log:\n{}", failure.log))
    })?;
    // Decision latency at 16 runnable threads under TCG, each policy on a private scheduler.
    console.set_command_timeout(Duration::from_secs(120));
    println!("xtask: bench sched: `schedctl latency 16` in QEMU");
    for line in console.command("schedctl latency 16")? {
        println!("kernel: {line}");
    }
    let runs = FAMILIES * 6 * seeds;
    console.set_command_timeout(PER_RUN_TIMEOUT * runs + Duration::from_secs(60));
    let command = format!("schedctl eval all {seeds}");
    println!("xtask: bench sched: `{command}` in QEMU ({runs} runs)");
    let output = console.command(&command)?;
    let lines: Vec<&String> = output
        .iter()
        .filter(|l| l.starts_with("sched-eval "))
        .collect();
    if lines.len() != runs as usize {
        bail!(
            "`{command}` printed {} of {runs} run lines; its output:\n{}",
            lines.len(),
            output.join("\n")
        );
    }
    let path = elf.parent().and_then(|images| images.parent()).map_or_else(
        || PathBuf::from("sched-eval-qemu.txt"),
        |d| d.join("sched-eval-qemu.txt"),
    );
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!(
        "\nin-kernel evaluation (QEMU TCG, `{command}`; lines saved in {}):",
        path.display()
    );
    crate::bench::run_host_tool("sched-sim", &["--summarize", &path.display().to_string()])?;
    for line in console.command("schedctl stats")? {
        println!("kernel: {line}");
    }
    let timeout = console.command_timeout().min(Duration::from_secs(30));
    console.command_then_exit("shutdown", "shutting down", timeout)?;
    Ok(())
}

/// Runs the benchmark with the arguments after `--`.
pub fn run(extra: &[String]) -> Result<ExitCode> {
    let (mut host, mut qemu, mut seeds) = (true, true, 1u32);
    let mut sim_args: Vec<String> = Vec::new();
    let mut args = extra.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host-only" => qemu = false,
            "--qemu-only" => host = false,
            "--qemu-seeds" => {
                let v = args.next().context("--qemu-seeds needs a number")?;
                seeds = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .with_context(|| format!("--qemu-seeds: {v:?} is not 1 to 20"))?;
            }
            other => sim_args.push(other.to_string()),
        }
    }
    if !host && !qemu {
        bail!("--host-only and --qemu-only exclude each other");
    }
    if host {
        let args: Vec<&str> = sim_args.iter().map(String::as_str).collect();
        crate::bench::run_host_tool("sched-sim", &args)?;
        // Native decision latency with 16 runnable threads (the in-kernel figure is below).
        crate::bench::run_host_tool("sched-sim", &["--pick-latency", "16"])?;
    }
    if qemu {
        qemu_part(seeds).context("in-kernel part (QEMU)")?;
    }
    Ok(ExitCode::SUCCESS)
}

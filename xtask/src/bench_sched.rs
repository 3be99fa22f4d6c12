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
//! Arguments after `--`: `--qemu-seeds N` (default 1), `--host-only`, `--qemu-only`,
//! `--latency-runs N` (repeat the in-kernel `schedctl latency 16` N times, default 1, and print
//! each policy's spread), `--latency-only` (only that: no simulator, no in-kernel evaluation);
//! anything else goes to `sched-sim` (e.g. `--seeds 5`).

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

/// Repeats `schedctl latency 16` `runs` times and prints, per policy, the median p50 and the
/// least, median and largest p99 over the runs, and how many runs met the 50 µs target.
fn latency_runs(console: &mut Console, runs: u32) -> Result<()> {
    let mut by_policy: Vec<(String, Vec<u64>, Vec<u64>)> = Vec::new();
    for run in 1..=runs {
        println!("xtask: bench sched: `schedctl latency 16` in QEMU, run {run} of {runs}");
        for line in console.command("schedctl latency 16")? {
            println!("kernel: {line}");
            let field = |key: &str| {
                line.split_whitespace()
                    .find_map(|kv| kv.strip_prefix(key))
                    .map(str::to_string)
            };
            let (Some(policy), Some(p50), Some(p99)) =
                (field("policy="), field("p50_ns="), field("p99_ns="))
            else {
                continue;
            };
            let (p50, p99) = (p50.parse::<u64>()?, p99.parse::<u64>()?);
            match by_policy.iter_mut().find(|(p, _, _)| *p == policy) {
                Some((_, a, b)) => {
                    a.push(p50);
                    b.push(p99);
                }
                None => by_policy.push((policy, vec![p50], vec![p99])),
            }
        }
    }
    if by_policy.is_empty() {
        bail!("`schedctl latency 16` printed no sched-pick lines");
    }
    println!(
        "\ndecision latency at 16 runnable, in-kernel under TCG, interrupts off ({runs} runs):"
    );
    println!(
        "{:<21} {:>9} {:>9} {:>9} {:>9} {:>10}",
        "policy", "p50_us", "p99min", "p99med", "p99max", "p99<=50us"
    );
    let median = |v: &mut Vec<u64>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    for (policy, p50s, p99s) in &mut by_policy {
        let met = p99s.iter().filter(|p| **p <= 50_000).count();
        let (min, max) = (
            p99s.iter().copied().min().unwrap_or(0),
            p99s.iter().copied().max().unwrap_or(0),
        );
        println!(
            "{:<21} {:>9.1} {:>9.1} {:>9.1} {:>9.1} {:>6}/{}",
            policy,
            median(p50s) as f64 / 1e3,
            min as f64 / 1e3,
            median(p99s) as f64 / 1e3,
            max as f64 / 1e3,
            met,
            p99s.len()
        );
    }
    Ok(())
}

fn qemu_part(seeds: u32, latency: u32, latency_only: bool) -> Result<()> {
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
    latency_runs(&mut console, latency)?;
    if latency_only {
        let timeout = console.command_timeout().min(Duration::from_secs(30));
        console.command_then_exit("shutdown", "shutting down", timeout)?;
        return Ok(());
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

/// The number after option `name`, from 1 to `max`.
fn count_arg(value: Option<&String>, name: &str, max: u32) -> Result<u32> {
    let v = value.with_context(|| format!("{name} needs a number"))?;
    v.parse()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .with_context(|| format!("{name}: {v:?} is not 1 to {max}"))
}

/// Runs the benchmark with the arguments after `--`.
pub fn run(extra: &[String]) -> Result<ExitCode> {
    let (mut host, mut qemu, mut seeds) = (true, true, 1u32);
    let (mut latency, mut latency_only) = (1u32, false);
    let mut sim_args: Vec<String> = Vec::new();
    let mut args = extra.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--host-only" => qemu = false,
            "--qemu-only" => host = false,
            "--latency-only" => latency_only = true,
            "--latency-runs" => latency = count_arg(args.next(), "--latency-runs", 50)?,
            "--qemu-seeds" => seeds = count_arg(args.next(), "--qemu-seeds", 20)?,
            other => sim_args.push(other.to_string()),
        }
    }
    if !host && !qemu {
        bail!("--host-only and --qemu-only exclude each other");
    }
    if latency_only {
        // Only the in-kernel decision latency.
        host = false;
        if !qemu {
            bail!("--latency-only runs in QEMU; it excludes --host-only");
        }
    }
    if host {
        let args: Vec<&str> = sim_args.iter().map(String::as_str).collect();
        crate::bench::run_host_tool("sched-sim", &args)?;
        // Native decision latency with 16 runnable threads (the in-kernel figure is below).
        crate::bench::run_host_tool("sched-sim", &["--pick-latency", "16"])?;
    }
    if qemu {
        qemu_part(seeds, latency, latency_only).context("in-kernel part (QEMU)")?;
    }
    Ok(ExitCode::SUCCESS)
}

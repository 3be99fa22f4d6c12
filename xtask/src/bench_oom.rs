//! `cargo xtask bench oom`: the evaluation of predictive OOM handling (issues 3 and 13), in two
//! parts.
//!
//! 1. The host simulator: `oom-sim eval` (60 OOM-bound + 60 benign scenarios of the builtin
//!    kinds by default, each run with the response off, our ladder on, and each baseline's
//!    native response), which prints every `eval …` line, the summary table with ratios, and
//!    the cost of one predictor update; then `oom-sim eval --families all` (issue 13: every
//!    scenario family, [`FAMILY_RUNS`] test seeds each of the OOM-bound kind and its benign
//!    twin), which prints per-family tables for the train (design), seen-held-out and
//!    fresh-held-out families — recall at ≥ 5 s inside the predictor's horizon, false alarms,
//!    benign kills, right victim and median lead for the predictor, earlyoom and PSI.
//! 2. The same in QEMU with fewer runs: boots the normal kernel image, runs
//!    `crashctl eval <runs> <seed>` with a generous timeout (the runs take real time: up to
//!    90 s each), saves the `eval …` lines next to the kernel images
//!    (`…/kernel/oom-eval-qemu.txt`) and prints the in-kernel table through
//!    `oom-sim summarize`, the same parser and summary as the host part.
//!
//! Arguments after `--`: `--qemu-runs N` (default 12: three OOM-bound and three benign
//! scenarios, each with the ladder off and on), `--qemu-seed S` (default 1), `--host-only`,
//! `--qemu-only`, `--family-runs N` (seeds per family, default [`FAMILY_RUNS`]; 0 skips the
//! families); anything else goes to the builtin `oom-sim eval` (e.g. `--oom-runs 90`).
//! If the kernel has no `crashctl` command, the QEMU part says so and the command fails.
//!
//! Neighbours: [`crate::bench`] dispatches here; [`crate::qemu`] and [`crate::console`] drive
//! the guest; `tools/oom-sim` does the host work and the tables.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::console::Console;
use crate::qemu::Guest;
use crate::{image, setup};

/// Test seeds per scenario family in the host part (seeds 1..=30, as in docs/oom-eval).
const FAMILY_RUNS: u32 = 30;
/// Default number of in-kernel runs (`crashctl eval` pairs them: ladder off, then on).
const DEFAULT_QEMU_RUNS: u32 = 12;
/// Longest one in-kernel run may take: the longest scenario (90 s), the kernel's 5 s grace
/// and the workload's shutdown, with room for TCG.
const PER_RUN_TIMEOUT: Duration = Duration::from_secs(180);

/// Options parsed from the arguments after `--`.
#[derive(Debug, PartialEq, Eq)]
struct Options {
    qemu_runs: u32,
    qemu_seed: u64,
    host: bool,
    qemu: bool,
    family_runs: u32,
    sim_args: Vec<String>,
}

fn parse_options(extra: &[String]) -> Result<Options> {
    let mut options = Options {
        qemu_runs: DEFAULT_QEMU_RUNS,
        qemu_seed: 1,
        host: true,
        qemu: true,
        family_runs: FAMILY_RUNS,
        sim_args: Vec::new(),
    };
    let mut args = extra.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--qemu-runs" => {
                let value = args.next().context("--qemu-runs needs a number")?;
                options.qemu_runs =
                    value.parse().ok().filter(|&n| n > 0).with_context(|| {
                        format!("--qemu-runs: {value:?} is not a positive number")
                    })?;
            }
            "--qemu-seed" => {
                let value = args.next().context("--qemu-seed needs a number")?;
                options.qemu_seed = value
                    .parse()
                    .with_context(|| format!("--qemu-seed: {value:?} is not a number"))?;
            }
            "--family-runs" => {
                let value = args.next().context("--family-runs needs a number")?;
                options.family_runs = value
                    .parse()
                    .with_context(|| format!("--family-runs: {value:?} is not a number"))?;
            }
            "--host-only" => options.qemu = false,
            "--qemu-only" => options.host = false,
            other => options.sim_args.push(other.to_string()),
        }
    }
    if !options.host && !options.qemu {
        bail!("--host-only and --qemu-only exclude each other");
    }
    Ok(options)
}

/// Where the in-kernel lines are saved: next to the kernel images.
fn qemu_lines_path(elf: &std::path::Path) -> PathBuf {
    elf.parent().and_then(|images| images.parent()).map_or_else(
        || PathBuf::from("oom-eval-qemu.txt"),
        |dir| dir.join("oom-eval-qemu.txt"),
    )
}

fn qemu_part(runs: u32, seed: u64) -> Result<()> {
    setup::ensure_qemu()?;
    let elf = image::build(image::Variant::Normal)?;
    let guest = Guest::boot_with(&elf, &[])?;
    let mut console = Console::attach(guest).map_err(|failure| {
        failure
            .error
            .context(format!("serial log:\n{}", failure.log))
    })?;
    let help = console.command("help")?;
    if !help.iter().any(|line| line.contains("crashctl")) {
        bail!(
            "the kernel has no `crashctl` command yet (its `help` lists none), so the in-kernel \
             evaluation cannot run; the host results above stand alone"
        );
    }
    console.set_command_timeout(PER_RUN_TIMEOUT * runs + Duration::from_secs(60));
    let command = format!("crashctl eval {runs} {seed}");
    println!(
        "xtask: bench oom: `{command}` in QEMU (real time: about {} min)",
        runs * 75 / 60
    );
    let output = console.command(&command)?;
    let eval_lines: Vec<&String> = output
        .iter()
        .filter(|l| l.starts_with("eval run=") || l.as_str() == "eval done")
        .collect();
    for line in &eval_lines {
        println!("{line}");
    }
    if eval_lines.last().is_none_or(|l| l.as_str() != "eval done") {
        bail!(
            "`{command}` did not finish with `eval done`; its output:\n{}",
            output.join("\n")
        );
    }
    let path = qemu_lines_path(&elf);
    let text: String = eval_lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    println!();
    println!(
        "in-kernel evaluation (QEMU TCG, 256 MiB, `{command}`; lines saved in {}):",
        path.display()
    );
    let path_arg = path.display().to_string();
    crate::bench::run_host_tool("oom-sim", &["summarize", &path_arg])?;
    let stats = console.command("crashctl stats")?;
    for line in stats {
        println!("kernel: {line}");
    }
    let timeout = console.command_timeout().min(Duration::from_secs(30));
    console.command_then_exit("shutdown", "shutting down", timeout)?;
    Ok(())
}

/// Runs the benchmark with the arguments after `--`.
pub fn run(extra: &[String]) -> Result<ExitCode> {
    let options = parse_options(extra)?;
    if options.host {
        let mut args = vec!["eval"];
        args.extend(options.sim_args.iter().map(String::as_str));
        crate::bench::run_host_tool("oom-sim", &args)?;
        if options.family_runs > 0 {
            let runs = options.family_runs.to_string();
            println!();
            println!("xtask: bench oom: scenario families (issue 13), {runs} test seeds each");
            crate::bench::run_host_tool(
                "oom-sim",
                &[
                    "eval",
                    "--families",
                    "all",
                    "--runs-per-family",
                    &runs,
                    "--seed-base",
                    "1",
                    "--quiet",
                ],
            )?;
        }
    }
    if options.qemu {
        qemu_part(options.qemu_runs, options.qemu_seed).context("in-kernel part (QEMU)")?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn options() {
        let o = parse_options(&strings(&[
            "--qemu-runs",
            "4",
            "--oom-runs",
            "90",
            "--host-only",
            "--family-runs",
            "5",
        ]))
        .unwrap();
        assert_eq!(o.qemu_runs, 4);
        assert_eq!(o.family_runs, 5);
        assert!(o.host && !o.qemu);
        assert_eq!(o.sim_args, strings(&["--oom-runs", "90"]));
        let d = parse_options(&[]).unwrap();
        assert_eq!(
            (d.qemu_runs, d.qemu_seed, d.host, d.qemu),
            (12, 1, true, true)
        );
        assert!(parse_options(&strings(&["--qemu-runs", "0"])).is_err());
        assert!(parse_options(&strings(&["--qemu-runs"])).is_err());
        assert!(parse_options(&strings(&["--qemu-seed", "x"])).is_err());
        assert!(parse_options(&strings(&["--family-runs", "x"])).is_err());
        assert_eq!(d.family_runs, FAMILY_RUNS);
        assert!(parse_options(&strings(&["--host-only", "--qemu-only"])).is_err());
    }
}

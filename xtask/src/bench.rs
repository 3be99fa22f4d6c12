//! `cargo xtask bench <area>`: runs a committed benchmark. Each one puts the component next to
//! its baseline or reference on the same work, with fixed seeds, and prints a table with ratios;
//! the figures in docs/BENCHMARKS.md name the command that produced them.
//!
//! | area | what runs | baseline |
//! |---|---|---|
//! | `llm` | [`crate::bench_llm`]: `nous-llm bench` (host accuracy, LoRA, decode speed), `nous-llm kernel-ref` (the kernel's code natively), then `llmctl eval` and `llmctl finetune` in QEMU | the fitted bag-of-words baseline and keyword rules; the model before fine-tuning; the same code natively; PyTorch CPU when `torch` is importable |
//! | `ext4` | `ext4-bench`: sequential write and read of a large file through the crate over an image file | a raw copy of the same bytes |
//! | `buddy` | allocator micro-benchmarks (`cargo bench -p buddy`) | — (figures only) |
//! | `sched` | [`crate::bench_sched`]: `sched-sim` (host simulator, every workload family × 20 seeds), then `schedctl eval` in QEMU | round-robin, EEVDF-like, MLFQ, SJF-EWMA, the learned policy without attention; the SRPT oracle (host only) |
//! | `net` | [`crate::bench_net`]: WebSocket push rate and latency, `/metrics` requests/s with 1 and 16 clients and the net thread's CPU share, shell round trips | the shell with no network client; the goals (10 Hz, p99 ≤ 250 ms) |
//! | `oom` | [`crate::bench_oom`]: `oom-sim eval` (host simulator), then `crashctl eval` in QEMU | earlyoom- and PSI/oomd-style rules on the same runs; the ladder off |

use std::process::ExitCode;

use anyhow::{Result, bail};

use crate::{image, setup};

/// Which benchmark to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Area {
    Llm,
    Ext4,
    Buddy,
    Sched,
    /// Predictive OOM handling (issue 3): host simulator and in-kernel runs.
    Oom,
    /// The dashboard server (issue 15): push rate and latency, HTTP load, shell response.
    Net,
}

/// Runs the benchmark for `area`, passing `extra` arguments through to the benchmark program.
pub fn run(area: Area, extra: &[String]) -> Result<ExitCode> {
    let mut command = image::cargo();
    match area {
        // Host figures, the kernel's code natively, then QEMU: not one command.
        Area::Llm => return crate::bench_llm::run(extra),
        Area::Ext4 => {
            setup::ensure_e2fsprogs()?;
            command.args(["run", "--release", "-p", "ext4-bench", "--"]);
            if extra.is_empty() {
                command.args(["--size-mib", "256", "--runs", "9"]);
            }
        }
        Area::Buddy => {
            command.args(["bench", "-p", "buddy"]);
            if !extra.is_empty() {
                command.arg("--");
            }
        }
        // Two parts (host simulator, then QEMU): not one command.
        Area::Sched => return crate::bench_sched::run(extra),
        // Two parts (host simulator, then QEMU): not one command.
        Area::Oom => return crate::bench_oom::run(extra),
        // A QEMU guest driven from the host: not one command either.
        Area::Net => return crate::bench_net::run(extra),
    }
    command.args(extra);
    println!("xtask: bench {area:?}: {command:?}");
    let status = command.status()?;
    if !status.success() {
        bail!("benchmark {area:?} failed ({status})");
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs a host tool of the workspace (release build) with `args`, its output going to the
/// terminal: the simulator half of `bench oom` and `bench sched`.
pub fn run_host_tool(package: &str, args: &[&str]) -> Result<()> {
    let mut command = image::cargo();
    command
        .args(["run", "--release", "-q", "-p", package, "--"])
        .args(args);
    println!("xtask: bench: {command:?}");
    let status = command
        .status()
        .map_err(|e| anyhow::anyhow!("could not start cargo: {e}"))?;
    if !status.success() {
        bail!("{package} failed ({status})");
    }
    Ok(())
}

//! `oom-sim`: the host half of the predictive-OOM evaluation (issue 3).
//!
//! - `oom-sim eval`: N OOM-bound (leak, bursty, fragment in turn) and M benign runs with
//!   distinct seeds, each run four times — response off (all policies in shadow mode), our
//!   ladder on, and each baseline's native response (kill the largest owner) — printing one
//!   `eval …` line per run (the format of `oom::eval`, the same the kernel's `crashctl eval`
//!   prints), `eval done`, the summary table, and the cost of one predictor update.
//! - `oom-sim tune`: the threshold sweep on the *training* seeds (ladder off), which chose the
//!   predictor's default threshold; `eval` reports on different seeds.
//! - `oom-sim summarize [FILE]`: reads `eval` lines (from a file or stdin, other lines are
//!   skipped) and prints the same table — `cargo xtask bench oom` pipes the kernel's lines here.
//! - `oom-sim compare [FILE]`: replays the kernel's family runs (`crashctl eval FAMILY …`
//!   lines) in the simulator, same scenario, seed and mode, and prints where they agree.
//! - `oom-sim observe-cost`: ns per `CrashPredictor::observe` over ≥ 1e6 calls.
//!
//! Modules: `sim` (one run on the simulated machine), `report` (tables).

mod report;
mod sim;

use std::io::Read;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use oom::ScenarioKind;
use oom::eval::{EvalLine, EvalRecord, LadderMode, parse_line};
use oom::predictor::PredictorConfig;
use oom::scenario::{FAMILIES, Family, Split};

/// First seed of the evaluation (test) set.
const TEST_SEED_BASE: u64 = 1;
/// First seed of the training set used by `tune` (disjoint from the test seeds).
const TRAIN_SEED_BASE: u64 = 1_000_000;

#[derive(Parser)]
#[command(about = "Host simulator and evaluation of Nous's predictive OOM handling")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate predictor, earlyoom and PSI on OOM-bound and benign runs.
    Eval {
        /// OOM-bound runs (leak, bursty, fragment in turn).
        #[arg(long, default_value_t = 60)]
        oom_runs: u32,
        /// Benign runs.
        #[arg(long, default_value_t = 60)]
        benign_runs: u32,
        /// First seed (OOM-bound runs use base.., benign runs follow them).
        #[arg(long, default_value_t = TEST_SEED_BASE)]
        seed_base: u64,
        /// Prediction threshold (default: the crate's tuned default).
        #[arg(long)]
        threshold: Option<f32>,
        /// Do not print the per-run lines.
        #[arg(long)]
        quiet: bool,
        /// Predictor updates for the cost measurement.
        #[arg(long, default_value_t = 2_000_000)]
        observe_calls: u64,
        /// Run scenario families instead of the builtin mix: `design`, `held-out` (the first
        /// held-out families, seen in diagnosis since), `fresh` (the fresh held-out families),
        /// `all` (all three), or a comma-separated list of family names; each family
        /// runs `--runs-per-family` seeds of its OOM-bound kind and of its benign twin.
        #[arg(long)]
        families: Option<String>,
        /// Seeds per family (with --families).
        #[arg(long, default_value_t = 20)]
        runs_per_family: u32,
    },
    /// Sweep the threshold on the training seeds (ladder off).
    Tune {
        /// OOM-bound training runs.
        #[arg(long, default_value_t = 60)]
        oom_runs: u32,
        /// Benign training runs.
        #[arg(long, default_value_t = 60)]
        benign_runs: u32,
        /// First training seed.
        #[arg(long, default_value_t = TRAIN_SEED_BASE)]
        seed_base: u64,
    },
    /// Summarize `eval` lines from FILE (or stdin).
    Summarize {
        /// File with the lines; stdin when absent or `-`.
        file: Option<String>,
    },
    /// Replay the family runs of the kernel's `eval` lines in FILE (or stdin) and print how
    /// far kernel and simulator agree (`cargo xtask bench oom`'s QEMU step).
    Compare {
        /// File with the kernel's lines; stdin when absent or `-`.
        file: Option<String>,
    },
    /// One run of one scenario kind (e.g. `churn-ok`), printing its `eval` line; with
    /// `OOM_SIM_TRACE=1` every sample's assessment and every action too (diagnosis).
    Run {
        /// Scenario kind (`leak`, `churn-ok`, …).
        kind: String,
        /// Seed.
        #[arg(long, default_value_t = TEST_SEED_BASE)]
        seed: u64,
        /// Response mode: off, on, earlyoom, psi.
        #[arg(long, default_value = "off")]
        mode: String,
    },
    /// Measure the cost of one predictor update.
    ObserveCost {
        /// Updates to time.
        #[arg(long, default_value_t = 2_000_000)]
        calls: u64,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("oom-sim: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The scenario and seed of OOM-bound run `i` and benign run `j` of a set starting at `base`.
fn plan(oom_runs: u32, benign_runs: u32, base: u64) -> Vec<(ScenarioKind, u64)> {
    let mut runs = Vec::new();
    for i in 0..oom_runs {
        let kind = ScenarioKind::OOM_BOUND[i as usize % ScenarioKind::OOM_BOUND.len()];
        runs.push((kind, base + u64::from(i)));
    }
    for j in 0..benign_runs {
        runs.push((ScenarioKind::Benign, base + u64::from(oom_runs + j)));
    }
    runs
}

/// The families named by `spec` (see `eval --families`).
fn parse_families(spec: &str) -> Result<Vec<Family>> {
    let split = |split: Split| FAMILIES.iter().copied().filter(move |f| f.split == split);
    Ok(match spec {
        "design" => split(Split::Design).collect(),
        "held-out" | "seen-held-out" => split(Split::HeldOut).collect(),
        "fresh" | "fresh-held-out" => split(Split::Fresh).collect(),
        "all" => split(Split::Design)
            .chain(split(Split::HeldOut))
            .chain(split(Split::Fresh))
            .collect(),
        list => list
            .split(',')
            .map(|name| {
                Family::by_name(name.trim()).with_context(|| format!("unknown family {name:?}"))
            })
            .collect::<Result<_>>()?,
    })
}

fn config(threshold: Option<f32>) -> Result<PredictorConfig> {
    let mut config = PredictorConfig::default();
    if let Some(t) = threshold {
        config.threshold =
            oom::predictor::check_threshold(t).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    Ok(config)
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Eval {
            oom_runs,
            benign_runs,
            seed_base,
            threshold,
            quiet,
            observe_calls,
            families,
            runs_per_family,
        } => {
            let predictor = config(threshold)?;
            if let Some(spec) = families {
                let families = parse_families(&spec)?;
                return report::family_eval(
                    &families,
                    runs_per_family,
                    seed_base,
                    predictor,
                    quiet,
                )
                .map(|()| ExitCode::SUCCESS);
            }
            let mut records = Vec::new();
            let mut details = Vec::new();
            let mut index = 0;
            for (kind, seed) in plan(oom_runs, benign_runs, seed_base) {
                for mode in [
                    LadderMode::Off,
                    LadderMode::On,
                    LadderMode::EarlyOom,
                    LadderMode::Psi,
                ] {
                    let (record, detail) =
                        sim::run(index, kind, seed, sim::RunOptions { predictor, mode })
                            .with_context(|| format!("run {index}: {kind} seed {seed}"))?;
                    if !quiet {
                        println!("{record}");
                    }
                    records.push(record);
                    details.push(detail);
                    index += 1;
                }
            }
            println!("eval done");
            println!();
            println!(
                "host simulator: {oom_runs} OOM-bound + {benign_runs} benign scenarios, seeds {seed_base}..{}, threshold {:.2}, {} MiB machine",
                seed_base + u64::from(oom_runs + benign_runs) - 1,
                predictor.threshold,
                sim::MACHINE_PAGES * 4 / 1024
            );
            report::print_summary(&records);
            report::print_actions(&records, &details);
            let (ns, observe_calls) = report::observe_cost(observe_calls);
            println!(
                "predictor update: {ns:.1} ns per observe() over {observe_calls} calls (native, release)"
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Tune {
            oom_runs,
            benign_runs,
            seed_base,
        } => {
            report::tune(&plan(oom_runs, benign_runs, seed_base))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Compare { file } => {
            let records = parse_all(&read_input(file.as_deref())?)?;
            let (runs, agreeing) = report::compare(&records, config(None)?)?;
            println!("compared {runs} runs, {agreeing} agree on everything");
            Ok(ExitCode::SUCCESS)
        }
        Command::Summarize { file } => {
            let records = parse_all(&read_input(file.as_deref())?)?;
            if records.is_empty() {
                bail!("no eval lines found");
            }
            report::print_summary(&records);
            Ok(ExitCode::SUCCESS)
        }
        Command::Run { kind, seed, mode } => {
            let kind: ScenarioKind = kind.parse().map_err(|e| anyhow::anyhow!("{e}"))?;
            let mode = match mode.as_str() {
                "off" => LadderMode::Off,
                "on" => LadderMode::On,
                "earlyoom" => LadderMode::EarlyOom,
                "psi" => LadderMode::Psi,
                other => bail!("unknown mode {other:?} (off, on, earlyoom, psi)"),
            };
            let (record, _) = sim::run(
                0,
                kind,
                seed,
                sim::RunOptions {
                    predictor: config(None)?,
                    mode,
                },
            )?;
            println!("{record}");
            Ok(ExitCode::SUCCESS)
        }
        Command::ObserveCost { calls } => {
            let (ns, calls) = report::observe_cost(calls);
            println!("predictor update: {ns:.1} ns per observe() over {calls} calls");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The text of `file`, or of stdin when it is `None` or `-`.
fn read_input(file: Option<&str>) -> Result<String> {
    let mut text = String::new();
    match file {
        None | Some("-") => {
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading stdin")?;
        }
        Some(path) => {
            text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
        }
    }
    Ok(text)
}

/// Parses every `eval` line of `text`; other lines are ignored, a malformed `eval` line is an
/// error. Serial output may put a prompt or stray bytes before `eval`, so lines are searched.
fn parse_all(text: &str) -> Result<Vec<EvalRecord>> {
    let mut records = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let Some(at) = line.find("eval run=").or_else(|| line.find("eval done")) else {
            continue;
        };
        match parse_line(&line[at..]) {
            Ok(EvalLine::Run(r)) => records.push(r),
            Ok(EvalLine::Done) => {}
            Err(e) => bail!("line {}: {e}: {line:?}", n + 1),
        }
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_mixes_kinds_with_distinct_seeds() {
        let p = plan(6, 2, 10);
        assert_eq!(p.len(), 8);
        let mut seeds: Vec<u64> = p.iter().map(|r| r.1).collect();
        seeds.dedup();
        assert_eq!(seeds.len(), 8);
        assert_eq!(p[0].0, ScenarioKind::Leak);
        assert_eq!(p[4].0, ScenarioKind::Bursty);
        assert_eq!(p[7].0, ScenarioKind::Benign);
    }

    #[test]
    fn parse_all_skips_noise_and_rejects_bad_eval_lines() {
        let text = "nous> crashctl eval 2 1\r\nstarting\r\neval run=0 scenario=leak seed=1 ladder=off oom=yes oom_ms=100 pred_ms=- earlyoom_ms=- psi_ms=- killed=- right=-\r\neval done\r\n";
        let r = parse_all(text).unwrap();
        assert_eq!(r.len(), 1);
        assert!(parse_all("eval run=x").is_err());
        assert!(parse_all("nothing").unwrap().is_empty());
    }
}

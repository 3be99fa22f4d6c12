//! `sched-sim`: runs the scheduler evaluation suite (`sched::eval`) on the host — every family ×
//! seed × policy on a virtual clock — and prints one `sched-eval` line per run and the summary
//! table. `--summarize FILE` instead reads lines from a file (the kernel's `schedctl eval`
//! output) and prints the same table, so both evaluations share one summarizer.

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Parser;
use sched::eval::{self, RunRecord};

#[derive(Parser, Debug)]
#[command(about = "Scheduler evaluation on a virtual clock")]
struct Args {
    /// First seed (reported figures use 100..120; 1..6 were the tuning seeds).
    #[arg(long, default_value_t = 100)]
    seed: u64,
    /// Number of seeds.
    #[arg(long, default_value_t = 20)]
    seeds: u64,
    /// Comma-separated families (default: all: W1-W6, the seen H1-H6 and the fresh H7, H8).
    #[arg(long)]
    families: Option<String>,
    /// Comma-separated policies (default: all of the table; also `rules-untrained`, the
    /// learned decision rules with the untrained prior and no trainer — a host-only ablation).
    #[arg(long)]
    policies: Option<String>,
    /// Print every run's line too.
    #[arg(long)]
    lines: bool,
    /// Print each run's policy report (training steps, loss, guard) after its line.
    #[arg(long)]
    reports: bool,
    /// Summarize `sched-eval` lines from this file instead of simulating.
    #[arg(long)]
    summarize: Option<String>,
    /// Also print the switch-cause table (voluntary / preempted / out of idle per job) and the
    /// no-preemption floor; adds the host-only `no-preemption` policy to the runs.
    #[arg(long)]
    switches: bool,
    /// Only measure decision latency with this many runnable threads (native), every policy.
    #[arg(long)]
    pick_latency: Option<usize>,
}

fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(path) = args.summarize {
        let text = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
        let records: Vec<RunRecord> = text.lines().filter_map(RunRecord::parse).collect();
        if records.is_empty() {
            bail!("no sched-eval lines in {path}");
        }
        print!("{}", eval::summarize(&records));
        return Ok(());
    }
    if let Some(n) = args.pick_latency {
        for policy in eval::POLICIES.iter().filter(|p| **p != "srpt-oracle") {
            let Some((p50, p99)) = eval::pick_latency(policy, n, 3000, clock) else {
                bail!("cannot measure {policy}");
            };
            println!("sched-pick policy={policy} runnable={n} p50_ns={p50} p99_ns={p99}");
        }
        return Ok(());
    }
    let families: Vec<String> = match args.families {
        Some(f) => f.split(',').map(str::to_string).collect(),
        None => eval::FAMILIES.iter().map(|s| s.to_string()).collect(),
    };
    let mut policies: Vec<String> = match args.policies {
        Some(p) => p.split(',').map(str::to_string).collect(),
        None => eval::POLICIES.iter().map(|s| s.to_string()).collect(),
    };
    let floor = eval::NoPreemptionPolicy::NAME;
    if args.switches && !policies.iter().any(|p| p == floor) {
        policies.push(floor.to_string());
    }
    let started = Instant::now();
    let mut records = Vec::new();
    for family in &families {
        for seed in args.seed..args.seed + args.seeds {
            for policy in &policies {
                let Some((r, report)) = eval::run_sim_report(family, seed, policy, clock) else {
                    bail!("unknown family '{family}' or policy '{policy}'");
                };
                if args.lines || args.reports {
                    println!("{}", r.line());
                }
                if args.reports {
                    println!("{report}");
                }
                records.push(r);
            }
        }
    }
    println!(
        "sched-sim: {} runs ({} families x {} seeds from {} x {} policies) in {:.1} s; switch cost 5 us, tick 1 ms",
        records.len(),
        families.len(),
        args.seeds,
        args.seed,
        policies.len(),
        started.elapsed().as_secs_f64()
    );
    print!("{}", eval::summarize(&records));
    if args.switches {
        print!("{}", eval::switch_table(&records));
    }
    Ok(())
}

//! `schedctl transformer|eval|workload`, added to the foundation's `schedctl` group.

use alloc::vec::Vec;

use hal::task::{self, SpawnOptions};
use sched::eval::{self, RunRecord};
use shell::{CommandError, CommandRegistry, Subcommand, optional_arg, required_arg};

use super::{eval as keval, policy};
use crate::ctx::{CmdResult, KernelCtx, Out, w};

const SUBCOMMANDS: [Subcommand<KernelCtx>; 4] = [
    Subcommand {
        name: "transformer",
        usage: "<on|off>",
        summary: "switch to the learned (self-attention) policy or back to round-robin",
        handler: schedctl_transformer,
    },
    Subcommand {
        name: "eval",
        usage: "[FAMILY|all] [SEEDS]",
        summary: "run the workload suite under every policy (seeds from 100), one line per run",
        handler: schedctl_eval,
    },
    Subcommand {
        name: "latency",
        usage: "[RUNNABLE]",
        summary: "time each policy's decision (interrupts off) with RUNNABLE (default 16) runnable",
        handler: schedctl_latency,
    },
    Subcommand {
        name: "workload",
        usage: "<FAMILY> [SEED]",
        summary: "start a workload family (W1-W6, H1-H8) in the background",
        handler: schedctl_workload,
    },
];

pub fn register(r: &mut CommandRegistry<KernelCtx>) {
    // Distinct literal names; a refusal would only lose these (the e2e tests would catch it).
    let _ = r.extend_group("schedctl", &SUBCOMMANDS);
}

fn schedctl_transformer(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let on = match required_arg(args, 0, "state")? {
        "on" => true,
        "off" => false,
        other => {
            return Err(CommandError::usage(alloc::format!(
                "state: expected on or off, got '{other}'"
            )));
        }
    };
    match policy::set_learned(on).map_err(CommandError::failed)? {
        None => w(writeln!(
            out,
            "scheduler already running {}",
            policy::current_name().unwrap_or_default()
        )),
        Some((now, was)) => w(writeln!(out, "scheduler: {now} (was {was})")),
    }
}

fn family_arg(text: &str) -> Result<Vec<&'static str>, CommandError> {
    if text == "all" {
        return Ok(eval::FAMILIES.to_vec());
    }
    eval::FAMILIES
        .iter()
        .find(|f| f.eq_ignore_ascii_case(text))
        .map(|f| alloc::vec![*f])
        .ok_or_else(|| {
            CommandError::usage(alloc::format!(
                "family: expected one of W1-W6, H1-H8 or all, got '{text}'"
            ))
        })
}

fn schedctl_eval(ctx: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let families = family_arg(args.first().copied().unwrap_or("all"))?;
    let seeds: u64 = optional_arg(args, 1, "seeds")?.unwrap_or(1);
    if !(1..=20).contains(&seeds) {
        return Err(CommandError::usage("seeds: expected 1 to 20"));
    }
    let policies: Vec<&str> = eval::POLICIES
        .iter()
        .copied()
        .filter(|p| *p != "srpt-oracle")
        .collect();
    let mut records: Vec<RunRecord> = Vec::new();
    let interrupted = || hal::console::interrupt_requested();
    'outer: for family in &families {
        for seed in 100..100 + seeds {
            for p in &policies {
                if ctx.interrupted() {
                    w(writeln!(out, "interrupted"))?;
                    break 'outer;
                }
                let r = keval::run(family, seed, p, &interrupted).map_err(CommandError::failed)?;
                w(writeln!(out, "{}", r.line()))?;
                records.push(r);
            }
        }
    }
    w(write!(out, "{}", eval::summarize(&records)))
}

fn schedctl_latency(ctx: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let n: usize = optional_arg(args, 0, "runnable")?.unwrap_or(16);
    if !(1..=64).contains(&n) {
        return Err(CommandError::usage("runnable: expected 1 to 64"));
    }
    for p in eval::POLICIES.iter().filter(|p| **p != "srpt-oracle") {
        if ctx.interrupted() {
            return w(writeln!(out, "interrupted"));
        }
        // A private scheduler (not the running one): only the policy's arithmetic is timed, each
        // decision with interrupts off as in the timer interrupt — otherwise a timer or serial
        // interrupt landing inside a timed pick puts its handler (tens of µs under TCG) in the
        // p99. The trainer's drain between decisions runs with interrupts on.
        let mut irq_off = |decide: &mut dyn FnMut()| hal::sync::without_interrupts(decide);
        let (p50, p99) = eval::pick_latency_with(p, n, 2000, super::policy::clock, &mut irq_off)
            .ok_or_else(|| CommandError::failed(alloc::format!("cannot measure {p}")))?;
        w(writeln!(
            out,
            "sched-pick policy={p} runnable={n} p50_ns={p50} p99_ns={p99}"
        ))?;
    }
    Ok(())
}

fn schedctl_workload(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let text = required_arg(args, 0, "family")?;
    if text == "all" {
        return Err(CommandError::usage(
            "family: one family (W1-W6, H1-H8), not all",
        ));
    }
    let family = family_arg(text)?;
    let family = family.first().copied().unwrap_or("W1");
    let seed: u64 = optional_arg(args, 1, "seed")?.unwrap_or(1);
    let wl = eval::build(family, seed)
        .ok_or_else(|| CommandError::usage(alloc::format!("family: unknown '{family}'")))?;
    let threads = wl.threads.len();
    let policy_name = policy::current_name().unwrap_or_default();
    let opts = SpawnOptions {
        detached: true,
        ..SpawnOptions::default()
    };
    task::spawn_with("sched-workload", opts, move || {
        match keval::run_workload(&wl, &|| false) {
            Ok(obs) => {
                let name = policy::current_name().unwrap_or_default();
                let r = obs.record(wl.family, wl.seed, &name, (0, 0));
                hal::println!("{}", r.line());
            }
            Err(e) => hal::println!("error: schedctl workload: {e}"),
        }
        0
    })
    .map_err(|e| CommandError::failed(alloc::format!("{e}")))?;
    w(writeln!(
        out,
        "workload {family} seed {seed}: {threads} threads started under {policy_name}"
    ))?;
    Ok(())
}

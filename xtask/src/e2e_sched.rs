//! End-to-end tests of the learned-scheduler subsystem over the serial shell; every name starts
//! with `sched_`, so `cargo xtask test --qemu-only e2e::sched_` runs exactly these.
//!
//! They check: bad arguments get one `error:` line; `schedctl transformer on` swaps to the
//! learned policy under a running workload, `schedctl stats` then shows its training steps,
//! starvation guard and decision latency, `off` returns to round-robin, and `on` again resumes
//! the same learned policy (its training steps are kept, not restarted); the shell answers
//! throughout; `schedctl eval` runs a family under every policy and prints one `sched-eval` line
//! per run and the summary table, and `schedctl latency` one `sched-pick` line per policy. Each
//! test leaves round-robin running.

use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::console::Console;
use crate::e2e::{E2eTest, command_error};

/// The sched tests, in run order.
pub const TESTS: &[E2eTest] = &[
    E2eTest {
        name: "sched_commands_reject_bad_arguments",
        run: sched_commands_reject_bad_arguments,
    },
    E2eTest {
        name: "sched_live_swap_under_load_keeps_learned_weights",
        run: sched_live_swap_under_load_keeps_learned_weights,
    },
    E2eTest {
        name: "sched_eval_runs_every_policy",
        run: sched_eval_runs_every_policy,
    },
];

fn sched_commands_reject_bad_arguments(console: &mut Console) -> Result<()> {
    for (line, needle) in [
        ("schedctl transformer", ""),
        ("schedctl transformer maybe", "on or off"),
        ("schedctl transformer on off", ""),
        ("schedctl eval W9", "family"),
        ("schedctl eval W1 0", "seeds"),
        ("schedctl eval W1 21", "seeds"),
        ("schedctl eval W1 x", "seeds"),
        ("schedctl workload", ""),
        ("schedctl workload all", "family"),
        ("schedctl workload Q1", "family"),
        ("schedctl workload W1 -3", "seed"),
        ("schedctl latency 0", "runnable"),
        ("schedctl latency 65", "runnable"),
        ("schedctl latency x", "runnable"),
    ] {
        command_error(console, line, needle)?;
    }
    Ok(())
}

/// The number after `prefix` on the line of `lines` that starts with it.
fn number_after(lines: &[String], prefix: &str) -> Option<u64> {
    lines.iter().find_map(|l| {
        l.strip_prefix(prefix)?
            .split(|c: char| !c.is_ascii_digit())
            .next()?
            .parse()
            .ok()
    })
}

fn sched_live_swap_under_load_keeps_learned_weights(console: &mut Console) -> Result<()> {
    let on = console.command("schedctl transformer on")?;
    ensure!(
        on.iter().any(|l| l.contains("learned-attention")),
        "transformer on printed {on:?}"
    );
    let started = console.command("schedctl workload W6 1")?;
    ensure!(
        started.iter().any(|l| l.contains("threads started")),
        "workload printed {started:?}"
    );
    // The shell stays responsive while the workload runs under the learned policy.
    let echo = console.command("echo alive")?;
    ensure!(echo == ["alive"], "echo printed {echo:?}");
    std::thread::sleep(Duration::from_secs(4));
    let stats = console.command("schedctl stats")?;
    ensure!(
        stats.iter().any(|l| l == "policy: learned-attention"),
        "stats: {stats:?}"
    );
    let steps = number_after(&stats, "training steps: ")
        .with_context(|| format!("no training steps in {stats:?}"))?;
    ensure!(steps > 50, "only {steps} training steps: {stats:?}");
    // Loss falls: the mean of the first 50 steps against the recent exponential average.
    let (early, recent) = stats
        .iter()
        .find_map(|l| l.strip_prefix("loss: early "))
        .and_then(|l| l.split_once(", recent "))
        .and_then(|(e, r)| Some((e.parse::<f64>().ok()?, r.parse::<f64>().ok()?)))
        .with_context(|| format!("no loss line in {stats:?}"))?;
    ensure!(
        recent < early,
        "loss did not fall: early {early}, recent {recent}"
    );
    ensure!(
        stats
            .iter()
            .any(|l| l.starts_with("decision latency: p50 ")),
        "no decision latency in {stats:?}"
    );
    ensure!(
        stats
            .iter()
            .any(|l| l.starts_with("starvation guard interventions: ")),
        "no guard count in {stats:?}"
    );
    let again = console.command("schedctl transformer on")?;
    ensure!(
        again.iter().any(|l| l.contains("already")),
        "second on printed {again:?}"
    );
    let off = console.command("schedctl transformer off")?;
    ensure!(
        off.iter().any(|l| l.contains("round-robin")),
        "off printed {off:?}"
    );
    let rr = console.command("schedctl stats")?;
    ensure!(rr.iter().any(|l| l == "policy: round-robin"), "{rr:?}");
    // On again: the same learned policy, with its training kept.
    console.command("schedctl transformer on")?;
    let resumed = console.command("schedctl stats")?;
    let kept = number_after(&resumed, "training steps: ").unwrap_or(0);
    ensure!(
        kept >= steps,
        "training steps went from {steps} to {kept}: weights were not kept"
    );
    console.command("schedctl transformer off")?;
    let metrics = console.command("metrics")?;
    ensure!(
        metrics
            .iter()
            .any(|l| l.starts_with("nous_sched_learned_active 0")),
        "metrics: no nous_sched_learned_active 0"
    );
    Ok(())
}

fn sched_eval_runs_every_policy(console: &mut Console) -> Result<()> {
    let previous = console.command_timeout();
    console.set_command_timeout(Duration::from_secs(120));
    let output = console.command("schedctl eval W1 1");
    console.set_command_timeout(previous);
    let output = output?;
    let lines: Vec<&String> = output
        .iter()
        .filter(|l| l.starts_with("sched-eval family=W1 seed=100 "))
        .collect();
    ensure!(lines.len() == 6, "expected 6 run lines, got {output:?}");
    for policy in [
        "round-robin",
        "eevdf-like",
        "mlfq",
        "sjf-ewma",
        "learned-attention",
        "learned-no-attention",
    ] {
        ensure!(
            lines
                .iter()
                .any(|l| l.contains(&format!(" policy={policy} ")) && l.contains(" unfinished=0 ")),
            "no finished run of {policy}: {lines:?}"
        );
    }
    ensure!(output.iter().any(|l| l.starts_with("== W1")), "no table");
    let latency = console.command("schedctl latency 4")?;
    ensure!(
        latency
            .iter()
            .filter(|l| l.starts_with("sched-pick policy=") && l.contains(" runnable=4 "))
            .count()
            == 6,
        "expected one sched-pick line per policy: {latency:?}"
    );
    let stats = console.command("schedctl stats")?;
    ensure!(
        stats.iter().any(|l| l == "policy: round-robin"),
        "{stats:?}"
    );
    Ok(())
}

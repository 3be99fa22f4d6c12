//! `crashctl eval`: the in-kernel half of the evaluation. Runs pair up: run 2k has the ladder
//! off (every policy watches in shadow mode), run 2k+1 replays the same scenario and seed with
//! the ladder on (our predictor drives it). Pairs alternate between an OOM-bound scenario
//! (leak, bursty, fragment in turn) and a benign one; pair k uses seed `SEED + k`. A run ends at
//! its first OOM kill or when its scenario's time is up. Each run prints one `eval …` line in
//! the format of `oom::eval` (the simulator prints the same, so one parser reads both), and
//! the command ends with `eval done`. The line is the supervisor's run record
//! (`oom::RunRecord::eval_record`), the same the simulator prints; the supervisor starts a
//! fresh run for every workload (after the actors' setup); the user's `crashctl auto`
//! setting is restored at the end. Ctrl-C stops the evaluation between two samples of the
//! running workload: its actors are stopped, the user's settings restored, and the command
//! fails with a line saying how many runs were completed.
//!
//! `crashctl eval FAMILY SEED [SEEDS]` runs a scenario family (issue 13) instead: for each of
//! SEEDS seeds from SEED, its OOM-bound kind then its benign twin, each with the ladder off
//! then on — the simulator's `off` and `on` modes of `oom-sim eval --families`, the same
//! lines, so `oom-sim summarize` and the family tables read both.

use core::fmt::Write;

use oom::ScenarioKind;
use oom::eval::{EvalRecord, LadderMode};
use oom::scenario::Family;
use shell::CommandError;

use super::{state, workload};

/// Longest wait for a run's actor threads to exit after `workload::stop`. Exiting frees each
/// actor's memory page by page; under TCG on a loaded host (and with the autonomous LLM mode
/// decoding at the same time) that took more than 30 s, and one slow stop lost a whole
/// closed-loop pass, so the bound is generous: it only guards against a thread that never exits.
const STOP_TIMEOUT_MS: u64 = 120_000;

/// The scenario and ladder mode of run `i`.
pub fn plan(i: u32, seed: u64) -> (ScenarioKind, u64, bool) {
    let pair = i / 2;
    let kind = if pair.is_multiple_of(2) {
        ScenarioKind::OOM_BOUND[(pair / 2) as usize % ScenarioKind::OOM_BOUND.len()]
    } else {
        ScenarioKind::Benign
    };
    (kind, seed.wrapping_add(u64::from(pair)), i % 2 == 1)
}

fn now_ms() -> u64 {
    hal::time::now_ns() / 1_000_000
}

/// The scenario, seed and ladder setting of run `i` of family `family` from seed `seed`.
pub fn family_plan(family: Family, i: u32, seed: u64) -> (ScenarioKind, u64, bool) {
    let kind = if (i / 2).is_multiple_of(2) {
        family.oom
    } else {
        family.benign
    };
    (kind, seed.wrapping_add(u64::from(i / 4)), i % 2 == 1)
}

/// What `crashctl eval` runs.
#[derive(Clone, Copy, Debug)]
pub enum Plan {
    /// The builtin mix ([`plan`]).
    Builtin,
    /// A scenario family ([`family_plan`]).
    Family(Family),
}

impl Plan {
    fn run(self, i: u32, seed: u64) -> (ScenarioKind, u64, bool) {
        match self {
            Plan::Builtin => plan(i, seed),
            Plan::Family(family) => family_plan(family, i, seed),
        }
    }
}

/// Runs the evaluation and prints its lines to `out` as each run ends; `cancelled` is polled
/// (Ctrl-C) and ends it early.
pub fn run(
    what: Plan,
    runs: u32,
    seed: u64,
    cancelled: &dyn Fn() -> bool,
    out: &mut dyn Write,
) -> Result<(), CommandError> {
    if workload::active() {
        return Err(CommandError::failed(
            "a workload is running (memctl stress stop ends it)",
        ));
    }
    let saved_auto = state::auto();
    let mut done = 0;
    let result = (0..runs).try_for_each(|i| {
        one_run(i, what.run(i, seed), cancelled, out)?;
        done += 1;
        Ok(())
    });
    state::set_auto(saved_auto);
    match result {
        Err(Cancelled) => Err(CommandError::failed(alloc::format!(
            "cancelled by Ctrl-C after {done} of {runs} runs (the workload was stopped)"
        ))),
        Err(Failed(e)) => Err(e),
        Ok(()) => writeln!(out, "eval done").map_err(|_| CommandError::Output),
    }
}

/// Why a run did not complete.
enum RunError {
    Cancelled,
    Failed(CommandError),
}
use RunError::{Cancelled, Failed};

impl From<CommandError> for RunError {
    fn from(e: CommandError) -> Self {
        Failed(e)
    }
}

fn one_run(
    i: u32,
    (kind, run_seed, ladder): (ScenarioKind, u64, bool),
    cancelled: &dyn Fn() -> bool,
    out: &mut dyn Write,
) -> Result<(), RunError> {
    if cancelled() {
        return Err(Cancelled);
    }
    state::set_auto(ladder);
    let info = workload::start(kind, run_seed)
        .map_err(|e| CommandError::failed(alloc::format!("run {i}: {e}")))?;
    let deadline = info.started_ms + info.duration_ms + 5_000;
    let mut interrupted = false;
    loop {
        hal::task::sleep_ns(100_000_000);
        if cancelled() {
            interrupted = true;
            break;
        }
        let Some(run) = workload::run_info() else {
            break;
        };
        if !run.active() || run.first_oom_ms.is_some() || now_ms() >= deadline {
            break;
        }
    }
    workload::stop();
    if !workload::wait_idle(STOP_TIMEOUT_MS) {
        let alive = workload::run_info()
            .map(|r| r.actors.iter().flatten().filter(|a| !a.exited).count())
            .unwrap_or(0);
        return Err(Failed(CommandError::failed(alloc::format!(
            "run {i}: {alive} workload thread(s) did not stop within {} s",
            STOP_TIMEOUT_MS / 1000
        ))));
    }
    if interrupted {
        return Err(Cancelled);
    }
    let mode = if ladder {
        LadderMode::On
    } else {
        LadderMode::Off
    };
    let record = EvalRecord {
        // The workload's own clock is the authority on its first OOM kill: it also sees one
        // during the actors' setup, before the supervisor's run starts.
        oom_ms: workload::run_info().and_then(|r| r.first_oom_ms),
        ..state::run_record().eval_record(i, kind, run_seed, mode)
    };
    writeln!(out, "{record}").map_err(|_| Failed(CommandError::Output))
}

//! `crashctl eval`: the in-kernel half of the evaluation. Runs pair up: run 2k has the ladder
//! off (every policy watches in shadow mode), run 2k+1 replays the same scenario and seed with
//! the ladder on (our predictor drives it). Pairs alternate between an OOM-bound scenario
//! (leak, bursty, fragment in turn) and a benign one; pair k uses seed `SEED + k`. A run ends at
//! its first OOM kill or when its scenario's time is up. Each run prints one `eval …` line in
//! the format of `oom::eval` (the simulator prints the same, so one parser reads both), and
//! the command ends with `eval done`. The line is the supervisor's run record
//! (`oom::RunRecord::eval_record`), the same the simulator prints; the supervisor starts a
//! fresh run for every workload (after the actors' setup); the user's `crashctl auto`
//! setting is restored at the end.

use core::fmt::Write;

use oom::ScenarioKind;
use oom::eval::{EvalRecord, LadderMode};
use shell::CommandError;

use super::{state, workload};

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

/// Runs the evaluation and prints its lines to `out` as each run ends.
pub fn run(runs: u32, seed: u64, out: &mut dyn Write) -> Result<(), CommandError> {
    if workload::active() {
        return Err(CommandError::failed(
            "a workload is running (memctl stress stop ends it)",
        ));
    }
    let saved_auto = state::auto();
    let result = (0..runs).try_for_each(|i| one_run(i, seed, out));
    state::set_auto(saved_auto);
    result?;
    writeln!(out, "eval done").map_err(|_| CommandError::Output)
}

fn one_run(i: u32, seed: u64, out: &mut dyn Write) -> Result<(), CommandError> {
    let (kind, run_seed, ladder) = plan(i, seed);
    state::set_auto(ladder);
    let info = workload::start(kind, run_seed)
        .map_err(|e| CommandError::failed(alloc::format!("run {i}: {e}")))?;
    let deadline = info.started_ms + info.duration_ms + 5_000;
    loop {
        hal::task::sleep_ns(100_000_000);
        let Some(run) = workload::run_info() else {
            break;
        };
        if !run.active() || run.first_oom_ms.is_some() || now_ms() >= deadline {
            break;
        }
    }
    workload::stop();
    if !workload::wait_idle(30_000) {
        return Err(CommandError::failed(alloc::format!(
            "run {i}: the workload threads did not stop"
        )));
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
    writeln!(out, "{record}").map_err(|_| CommandError::Output)
}

//! The sampler: a 10 Hz kernel thread, the kernel's driver of the `oom` crate's supervision
//! loop (`oom::Supervisor`, kept in `state`). Each tick it builds an `oom::Sample` from the
//! frame allocator's statistics and the pages each live workload actor holds, drains the
//! failure events `state` collected, lets the supervisor observe and decide, and — when the
//! supervisor asks for an action (`crashctl auto on`) — performs it on real memory
//! (compaction of movable frames, the shrinker registry, killing an actor thread), measures
//! it and hands the report back. The decisions and the bookkeeping (first firings for
//! `crashctl eval`, the action log) are the supervisor's; what stays here is the hardware
//! side: the clock, the thread, the actions and the exported metrics. Each predictor update
//! is timed (`crashctl stats` shows the cost).
//!
//! Top of the module graph: it reads `workload` (the run's actors), `pool` (their pages),
//! `reclaim`, `compact` and `state`; nothing in `kernel/src/oom` imports it but `mod.rs`
//! (which starts it and registers [`METRICS`] with the kernel's registry).

use core::sync::atomic::{AtomicBool, Ordering};

use hal::task::{self, SpawnOptions};
use metrics::{Counter, FloatGauge, Gauge, Label, Metric};
use oom::ladder::ActionReport;
use oom::supervisor::RunRecord;
use oom::{Action, Assessment, Holding, OwnerId, PredictorStats, Sample};
use sched::Priority;

use super::workload::{self, ActorId, ActorState, RunInfo};
use super::{compact, pool, state};
use crate::reclaim;

/// Sampling period.
pub const PERIOD_MS: u64 = 100;

static STARTED: AtomicBool = AtomicBool::new(false);

// Exported figures (registered by the subsystem entry in `super`).
static M_RISK: FloatGauge = FloatGauge::new(
    "nous_oom_risk",
    "Crash predictor: combined risk of an OOM, 0 to 1.",
);
static M_CONFIDENCE: FloatGauge = FloatGauge::new(
    "nous_oom_confidence",
    "Crash predictor: confidence in the dominant factor, 0 to 1.",
);
static M_TTE: FloatGauge = FloatGauge::new(
    "nous_oom_time_to_exhaustion_seconds",
    "Crash predictor: estimated seconds until exhaustion (-1 when no trend points there).",
);
static M_LEVEL: Gauge = Gauge::new(
    "nous_oom_risk_level",
    "Crash predictor level: 0 NORMAL, 1 ELEVATED, 2 WARNING, 3 CRITICAL.",
);
static M_PREDICTIONS: Gauge = Gauge::new(
    "nous_oom_predictions",
    "Crash predictions made by the current predictor.",
);
static M_ACTIONS: Counter = Counter::new(
    "nous_oom_ladder_actions_total",
    "Response-ladder actions performed since boot.",
);
static M_UPDATE: FloatGauge = FloatGauge::new(
    "nous_oom_predictor_update_seconds",
    "Duration of the last predictor update, in seconds.",
);
const FIRING_HELP: &str = "Shadow baselines on the same samples: 1 while the rule fires (earlyoom: free memory under its floor; psi: allocation stalls).";
static M_EARLYOOM_FIRING: Gauge = Gauge::with_labels(
    "nous_oom_baseline_firing",
    FIRING_HELP,
    &[Label::new("baseline", "earlyoom")],
);
static M_PSI_FIRING: Gauge = Gauge::with_labels(
    "nous_oom_baseline_firing",
    FIRING_HELP,
    &[Label::new("baseline", "psi")],
);
const WARNING_HELP: &str = "Seconds from the start of the current workload run to the first warning of each detector (-1: none yet); lead time is the OOM time minus this.";
static M_WARN_PREDICTOR: FloatGauge = FloatGauge::with_labels(
    "nous_oom_run_first_warning_seconds",
    WARNING_HELP,
    &[Label::new("detector", "predictor")],
);
static M_WARN_EARLYOOM: FloatGauge = FloatGauge::with_labels(
    "nous_oom_run_first_warning_seconds",
    WARNING_HELP,
    &[Label::new("detector", "earlyoom")],
);
static M_WARN_PSI: FloatGauge = FloatGauge::with_labels(
    "nous_oom_run_first_warning_seconds",
    WARNING_HELP,
    &[Label::new("detector", "psi")],
);
static M_RUN_OOM: FloatGauge = FloatGauge::new(
    "nous_oom_run_oom_seconds",
    "Seconds from the start of the current workload run to its first OOM kill (-1: none).",
);

/// The metrics this subsystem exports.
pub static METRICS: [&dyn Metric; 14] = [
    &M_RISK,
    &M_CONFIDENCE,
    &M_TTE,
    &M_LEVEL,
    &M_PREDICTIONS,
    &state::M_OOM_KILLS,
    &M_ACTIONS,
    &M_UPDATE,
    &M_EARLYOOM_FIRING,
    &M_PSI_FIRING,
    &M_WARN_PREDICTOR,
    &M_WARN_EARLYOOM,
    &M_WARN_PSI,
    &M_RUN_OOM,
];

fn now_ms() -> u64 {
    hal::time::now_ns() / 1_000_000
}

/// Creates the supervisor, installs the failure hook and starts the sampler thread (once).
pub fn start() -> Result<(), task::TaskError> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    state::init();
    hal::mem::frames::set_failure_hook(state::on_alloc_failure);
    task::spawn_with(
        "oom-sampler",
        SpawnOptions {
            priority: Priority::High,
            detached: true,
            ..SpawnOptions::default()
        },
        || {
            let mut next = now_ms();
            loop {
                tick();
                next += PERIOD_MS;
                let now = now_ms();
                if next <= now {
                    // A long action (compaction) overran the period: resume from now.
                    next = now + PERIOD_MS;
                }
                task::sleep_ns((next - now) * 1_000_000);
            }
        },
    )
    .map(|_| ())
}

/// What each running actor of `run` holds now (read before the supervisor's lock is taken:
/// the pool has its own).
fn holdings(run: Option<&RunInfo>) -> ([Holding; workload::MAX_ACTORS], usize) {
    let mut out = [Holding {
        owner: OwnerId(0),
        role: oom::Role::Bystander,
        pages: 0,
    }; workload::MAX_ACTORS];
    let mut n = 0;
    let running = run
        .into_iter()
        .flat_map(|r| r.actors.iter().flatten())
        .filter(|a| a.state == ActorState::Running);
    for (slot, a) in out.iter_mut().zip(running) {
        *slot = Holding {
            owner: OwnerId(a.id.0),
            role: a.role,
            pages: pool::held_pages(a.owner),
        };
        n += 1;
    }
    (out, n)
}

/// One sampling period.
fn tick() {
    if state::paused() {
        return;
    }
    let t = now_ms();
    let stats = hal::mem::frames::stats();
    let sample = Sample::from_stats(
        t,
        &stats,
        reclaim::reclaimable_pages(),
        state::watched_order(),
        pool::failed_allocations(),
    );
    let run = workload::run_info();
    let active = run.as_ref().is_some_and(RunInfo::active);
    let (holdings, n) = holdings(run.as_ref());
    let decision = state::with(|s| {
        if let Some((at, order)) = s.take_failure(t) {
            s.supervisor.on_failure(at, order);
        }
        if !active {
            // The run's actors are gone: what fires now is not the run's.
            s.supervisor.close_run();
        }
        let o = s
            .supervisor
            .observe_timed(&sample, &holdings[..n], hal::time::now_ns);
        s.cost.add(o.predictor_ns);
        publish(
            &o.assessment,
            &s.supervisor.predictor().stats(),
            o.predictor_ns,
        );
        publish_baselines(o.earlyoom_fires, o.psi_fires, s.supervisor.run());
        s.supervisor.decide()
    })
    .flatten();
    if let Some(action) = decision {
        perform(t, action);
    }
}

fn publish(a: &Assessment, stats: &PredictorStats, cost_ns: u64) {
    M_RISK.set(f64::from(a.risk));
    M_CONFIDENCE.set(f64::from(a.confidence));
    M_TTE.set(a.tte_ms.map_or(-1.0, |t| t as f64 / 1000.0));
    M_LEVEL.set(a.level as i64);
    M_PREDICTIONS.set(i64::from(stats.predictions));
    M_UPDATE.set(cost_ns as f64 / 1e9);
}

fn publish_baselines(earlyoom: bool, psi: bool, run: &RunRecord) {
    M_EARLYOOM_FIRING.set(i64::from(earlyoom));
    M_PSI_FIRING.set(i64::from(psi));
    let seconds = |t: Option<u64>| t.map_or(-1.0, |ms| ms as f64 / 1000.0);
    M_WARN_PREDICTOR.set(seconds(run.pred_ms));
    M_WARN_EARLYOOM.set(seconds(run.earlyoom_ms));
    M_WARN_PSI.set(seconds(run.psi_ms));
    M_RUN_OOM.set(seconds(run.oom_ms));
}

/// Performs an action the supervisor decided (outside its lock: compaction takes
/// milliseconds), measures it and reports it back.
fn perform(t_ms: u64, action: Action) {
    let started = hal::time::now_ns();
    let mut report = ActionReport::new(t_ms, action);
    let mut victim = None;
    match action {
        Action::Compact { order } => {
            if let Ok(r) = compact::compact(usize::from(order), usize::MAX) {
                report.pages_moved = r.pages_moved;
                report.blocks_gained = r.blocks_after.saturating_sub(r.blocks_before);
            }
        }
        Action::Reclaim { pages } => report.pages_freed = reclaim::reclaim(pages).total,
        Action::Kill { owner } => {
            if let Some((role, freed)) = workload::kill(ActorId(owner.0)) {
                victim = Some(role);
                report.pages_freed = freed;
            }
        }
    }
    report.elapsed_us = hal::time::now_ns().saturating_sub(started) / 1000;
    M_ACTIONS.inc();
    state::with(|s| s.supervisor.report(report, victim));
}

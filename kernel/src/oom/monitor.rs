//! The sampler and the response: a 10 Hz kernel thread that builds an `oom::Sample` from the
//! frame allocator's statistics, feeds the crash predictor and the two baselines (earlyoom-
//! and PSI-style, in shadow mode), tracks per-actor growth, and — with `crashctl auto on` —
//! asks the response ladder for an action, performs it (compaction, reclaim, kill) and logs
//! its measured effect.
//!
//! Allocation failures reach the predictor as events: `hal::mem::frames` calls
//! [`on_alloc_failure`] (installed with `set_failure_hook`) and the pool calls
//! [`note_refusal`] for watermark refusals. Both only touch atomics — the hook may run with
//! interrupts off and the heap lock held — and the sampler drains them on its next tick. OOM
//! kills come from the actor threads through [`oom_killed`]. Each predictor update is timed
//! (`crashctl stats` shows the cost). The per-run probe records when each policy first fired,
//! which `crashctl eval` turns into `eval …` lines. Neighbours: `workload`, `compact`,
//! `reclaim`, `commands` (the shell side), `crate::kmetrics` (exported figures).

use alloc::boxed::Box;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hal::mem::frames::AllocFailure;
use hal::sync::IrqMutex;
use hal::task::{self, SpawnOptions};
use metrics::{Counter, FloatGauge, Gauge, Metric};
use oom::ladder::{ActionReport, LadderInput};
use oom::{
    Action, Assessment, CrashPredictor, EarlyOom, GrowthTracker, OwnerId, PredictionRecord,
    PredictorStats, Psi, ResponseLadder, Role, Sample, ThresholdError,
};
use sched::Priority;

use super::compact;
use super::pool::PoolError;
use super::workload::{self, ActorId, ActorState};
use crate::reclaim;

/// Sampling period.
pub const PERIOD_MS: u64 = 100;
/// Log entries kept.
pub const LOG_LEN: usize = 32;
/// A request order stays "watched" this long after the last request of that order.
const WATCH_MS: u64 = 10_000;

/// What the action log records.
#[derive(Clone, Copy, Debug)]
pub enum LogKind {
    /// An actor was OOM-killed by its own failed request.
    OomKill {
        role: Role,
        order: u8,
        watermark: bool,
        pages_freed: u64,
    },
    /// The ladder acted; `victim` is the killed actor's role for a kill.
    Action {
        report: ActionReport,
        victim: Option<Role>,
    },
}

/// One log entry; `t_ms` is ms since boot.
#[derive(Clone, Copy, Debug)]
pub struct LogEntry {
    pub t_ms: u64,
    pub kind: LogKind,
}

/// When each policy first fired during the current run (ms since the run started).
#[derive(Clone, Copy, Debug, Default)]
pub struct RunProbe {
    pub origin_ms: u64,
    pub pred_ms: Option<u64>,
    pub earlyoom_ms: Option<u64>,
    pub psi_ms: Option<u64>,
    /// Role of the largest killable actor when the first policy fired (or at the OOM).
    pub largest: Option<Role>,
    /// Role of the first actor the ladder killed.
    pub killed: Option<Role>,
}

/// Cost of predictor updates.
#[derive(Clone, Copy, Debug, Default)]
pub struct UpdateCost {
    pub updates: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub last_ns: u64,
}

struct Monitor {
    predictor: CrashPredictor,
    earlyoom: EarlyOom,
    psi: Psi,
    growth: GrowthTracker,
    ladder: ResponseLadder,
    log: [Option<LogEntry>; LOG_LEN],
    next_log: usize,
    cost: UpdateCost,
    probe: RunProbe,
    failures_seen: u64,
    last_sample: Option<Sample>,
}

impl Monitor {
    fn push_log(&mut self, entry: LogEntry) {
        self.log[self.next_log] = Some(entry);
        self.next_log = (self.next_log + 1) % LOG_LEN;
    }
}

static MONITOR: IrqMutex<Option<Box<Monitor>>> = IrqMutex::new(None);
static AUTO: AtomicBool = AtomicBool::new(false);
static STARTED: AtomicBool = AtomicBool::new(false);
/// A run's actors are doing their setup: nothing is sampled (the contract's time 0).
static PAUSED: AtomicBool = AtomicBool::new(false);

// Failure events, written by the hook (atomics only).
static FAIL_EVENTS: AtomicU64 = AtomicU64::new(0);
static LAST_FAIL_ORDER: AtomicU64 = AtomicU64::new(0);
static LAST_FAIL_MS: AtomicU64 = AtomicU64::new(0);
/// Time (ms since boot, +1 so 0 means never) of the last workload request of each order.
static REQUESTED_AT: [AtomicU64; buddy::ORDERS] = [const { AtomicU64::new(0) }; buddy::ORDERS];

// Exported figures (registered in `crate::kmetrics`).
static M_RISK: FloatGauge = FloatGauge::new(
    "nous_oom_risk",
    "Crash predictor: combined risk of an OOM, 0 to 1.",
);
static M_CONFIDENCE: FloatGauge = FloatGauge::new(
    "nous_oom_confidence",
    "Crash predictor: confidence in the dominant factor, 0 to 1.",
);
static M_TTE: Gauge = Gauge::new(
    "nous_oom_time_to_exhaustion_ms",
    "Crash predictor: estimated ms until exhaustion (-1 when no trend points there).",
);
static M_LEVEL: Gauge = Gauge::new(
    "nous_oom_risk_level",
    "Crash predictor level: 0 NORMAL, 1 ELEVATED, 2 WARNING, 3 CRITICAL.",
);
static M_PREDICTIONS: Gauge = Gauge::new(
    "nous_oom_predictions",
    "Crash predictions made by the current predictor.",
);
static M_OOM_KILLS: Counter = Counter::new(
    "nous_oom_kills_total",
    "Workload threads OOM-killed by a failed allocation since boot.",
);
static M_ACTIONS: Counter = Counter::new(
    "nous_oom_ladder_actions_total",
    "Response-ladder actions performed since boot.",
);
static M_UPDATE_NS: Gauge = Gauge::new(
    "nous_oom_predictor_update_ns",
    "Duration of the last predictor update, ns.",
);

/// The metrics this module exports.
pub static METRICS: [&dyn Metric; 8] = [
    &M_RISK,
    &M_CONFIDENCE,
    &M_TTE,
    &M_LEVEL,
    &M_PREDICTIONS,
    &M_OOM_KILLS,
    &M_ACTIONS,
    &M_UPDATE_NS,
];

fn now_ms() -> u64 {
    hal::time::now_ns() / 1_000_000
}

fn new_monitor(threshold: Option<f32>) -> Box<Monitor> {
    let mut predictor = CrashPredictor::with_defaults();
    if let Some(t) = threshold {
        // The threshold was accepted before, so it is valid.
        let _ = predictor.set_threshold(t);
    }
    Box::new(Monitor {
        predictor,
        earlyoom: EarlyOom::new(),
        psi: Psi::new(),
        growth: GrowthTracker::new(),
        ladder: ResponseLadder::default(),
        log: [None; LOG_LEN],
        next_log: 0,
        cost: UpdateCost::default(),
        probe: RunProbe::default(),
        failures_seen: FAIL_EVENTS.load(Ordering::Relaxed),
        last_sample: None,
    })
}

/// Creates the monitor, installs the failure hook and starts the sampler thread (once).
pub fn start() -> Result<(), task::TaskError> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    *MONITOR.lock() = Some(new_monitor(None));
    hal::mem::frames::set_failure_hook(on_alloc_failure);
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

/// The allocation-failure hook: atomics only (see the module documentation).
fn on_alloc_failure(failure: &AllocFailure) {
    LAST_FAIL_ORDER.store(failure.order as u64, Ordering::Relaxed);
    LAST_FAIL_MS.store(failure.at_ns / 1_000_000, Ordering::Relaxed);
    FAIL_EVENTS.fetch_add(1, Ordering::Release);
}

/// A workload request of `order` is being made (the watched order follows these).
pub fn note_request(order: usize) {
    if let Some(slot) = REQUESTED_AT.get(order) {
        slot.store(now_ms() + 1, Ordering::Relaxed);
    }
}

/// A workload request of `order` was refused by the watermark: an allocation failure too.
pub fn note_refusal(order: usize) {
    LAST_FAIL_ORDER.store(order as u64, Ordering::Relaxed);
    LAST_FAIL_MS.store(now_ms(), Ordering::Relaxed);
    FAIL_EVENTS.fetch_add(1, Ordering::Release);
}

/// The largest order requested by workloads in the last 10 s (0 when none).
pub fn watched_order() -> usize {
    let now = now_ms() + 1;
    (0..buddy::ORDERS)
        .rev()
        .find(|&o| {
            let at = REQUESTED_AT[o].load(Ordering::Relaxed);
            at != 0 && now.saturating_sub(at) <= WATCH_MS
        })
        .unwrap_or(0)
}

/// Whether the ladder's actions are performed.
pub fn auto() -> bool {
    AUTO.load(Ordering::SeqCst)
}

pub fn set_auto(on: bool) {
    AUTO.store(on, Ordering::SeqCst);
}

fn with_monitor<R>(f: impl FnOnce(&mut Monitor) -> R) -> Option<R> {
    MONITOR.lock().as_mut().map(|m| f(m))
}

/// One sampling period.
fn tick() {
    if PAUSED.load(Ordering::SeqCst) {
        return;
    }
    let t = now_ms();
    let stats = hal::mem::frames::stats();
    let reclaimable = reclaim::reclaimable_pages();
    let sample = Sample::from_stats(
        t,
        &stats,
        reclaimable,
        watched_order(),
        super::pool::failed_allocations(),
    );
    let run = workload::run_info();
    // Pages per live actor, read before taking the monitor lock (the pool has its own).
    let mut holdings = [None; workload::MAX_ACTORS];
    if let Some(run) = &run {
        for (h, a) in holdings.iter_mut().zip(run.actors.iter()) {
            if let Some(a) = a.filter(|a| a.state == ActorState::Running) {
                *h = Some((a.id, a.role, super::pool::held_pages(a.owner)));
            }
        }
    }
    let events = FAIL_EVENTS.load(Ordering::Acquire);
    let auto = auto();
    let decision = with_monitor(|m| {
        if events != m.failures_seen {
            m.failures_seen = events;
            let at = LAST_FAIL_MS.load(Ordering::Relaxed).min(t);
            m.predictor
                .on_failure(at, LAST_FAIL_ORDER.load(Ordering::Relaxed) as usize);
        }
        let before = hal::time::now_ns();
        let a = m.predictor.observe(&sample);
        let cost = hal::time::now_ns().saturating_sub(before);
        m.cost.updates += 1;
        m.cost.total_ns += cost;
        m.cost.max_ns = m.cost.max_ns.max(cost);
        m.cost.last_ns = cost;
        let early = m.earlyoom.observe(&sample);
        let psi = m.psi.observe(&sample);
        for (id, role, pages) in holdings.iter().flatten() {
            let _ = m.growth.record(t, OwnerId(id.0), *pages, role.killable());
        }
        let since = t.saturating_sub(m.probe.origin_ms);
        if run.as_ref().is_some_and(|r| r.active()) {
            let first = m.probe.pred_ms.is_none()
                && m.probe.earlyoom_ms.is_none()
                && m.probe.psi_ms.is_none();
            if a.predicts_crash {
                m.probe.pred_ms.get_or_insert(since);
            }
            if early {
                m.probe.earlyoom_ms.get_or_insert(since);
            }
            if psi {
                m.probe.psi_ms.get_or_insert(since);
            }
            let fired = m.probe.pred_ms.is_some()
                || m.probe.earlyoom_ms.is_some()
                || m.probe.psi_ms.is_some();
            if first && fired && m.probe.largest.is_none() {
                m.probe.largest = largest(&holdings);
            }
        }
        m.last_sample = Some(sample);
        publish(&a, &m.predictor.stats(), cost);
        if !auto {
            return None;
        }
        let input = LadderInput {
            free_head_pages: stats
                .free_pages
                .saturating_sub(oom::watermark::min_free_pages(stats.total_pages)),
            reclaimable_pages: reclaimable,
            fastest: m.growth.fastest(),
            total_growth_per_s: m.growth.total_growth_per_s(),
        };
        m.ladder.decide(&a, &input)
    })
    .flatten();
    if let Some(action) = decision {
        perform(t, action);
    }
}

fn largest(holdings: &[Option<(ActorId, Role, u64)>]) -> Option<Role> {
    holdings
        .iter()
        .flatten()
        .filter(|(_, role, _)| role.killable())
        .max_by_key(|(_, _, pages)| *pages)
        .map(|(_, role, _)| *role)
}

fn publish(a: &Assessment, stats: &PredictorStats, cost_ns: u64) {
    M_RISK.set(f64::from(a.risk));
    M_CONFIDENCE.set(f64::from(a.confidence));
    M_TTE.set(
        a.tte_ms
            .map_or(-1, |t| i64::try_from(t).unwrap_or(i64::MAX)),
    );
    M_LEVEL.set(a.level as i64);
    M_PREDICTIONS.set(i64::from(stats.predictions));
    M_UPDATE_NS.set(i64::try_from(cost_ns).unwrap_or(i64::MAX));
}

/// Performs a ladder action, measures it and logs it.
fn perform(t_ms: u64, action: Action) {
    let started = hal::time::now_ns();
    let mut report = ActionReport {
        t_ms,
        action,
        pages_moved: 0,
        pages_freed: 0,
        blocks_gained: 0,
        elapsed_us: 0,
    };
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
    with_monitor(|m| {
        m.ladder.report(report);
        m.predictor.note_action(t_ms);
        if let (Action::Kill { owner }, Some(role)) = (action, victim) {
            m.probe.killed.get_or_insert(role);
            m.growth.remove(owner);
        }
        m.push_log(LogEntry {
            t_ms,
            kind: LogKind::Action { report, victim },
        });
    });
}

/// An actor was OOM-killed (called from its own thread after its memory was freed).
pub fn oom_killed(t_ms: u64, role: Role, order: u8, cause: PoolError, pages_freed: u64) {
    M_OOM_KILLS.inc();
    let holdings = largest_now();
    with_monitor(|m| {
        m.predictor.record_oom(t_ms);
        if m.probe.largest.is_none() {
            m.probe.largest = holdings.or(Some(role).filter(|r| r.killable()));
        }
        m.push_log(LogEntry {
            t_ms,
            kind: LogKind::OomKill {
                role,
                order,
                watermark: matches!(cause, PoolError::Watermark { .. }),
                pages_freed,
            },
        });
    });
}

fn largest_now() -> Option<Role> {
    let run = workload::run_info()?;
    let mut holdings = [None; workload::MAX_ACTORS];
    for (h, a) in holdings.iter_mut().zip(run.actors.iter()) {
        if let Some(a) = a.filter(|a| a.state == ActorState::Running) {
            *h = Some((a.id, a.role, super::pool::held_pages(a.owner)));
        }
    }
    largest(&holdings)
}

/// An actor's thread is gone: stop tracking its growth.
pub fn actor_gone(id: ActorId) {
    with_monitor(|m| m.growth.remove(OwnerId(id.0)));
}

/// A workload run's actors start their setup: sampling pauses until [`run_started`].
pub fn run_setup() {
    PAUSED.store(true, Ordering::SeqCst);
}

/// A workload run's clock starts at `origin_ms`, after the setup: a fresh predictor (same
/// threshold), baselines, growth tracker, ladder and probe, as every simulated run starts;
/// sampling resumes. The action log starts empty too: `crashctl log` shows the current run.
pub fn run_started(origin_ms: u64) {
    with_monitor(|m| {
        let threshold = m.predictor.threshold();
        m.predictor = new_monitor(Some(threshold)).predictor;
        m.earlyoom = EarlyOom::new();
        m.psi = Psi::new();
        m.growth = GrowthTracker::new();
        m.ladder = ResponseLadder::default();
        m.probe = RunProbe {
            origin_ms,
            ..RunProbe::default()
        };
        m.failures_seen = FAIL_EVENTS.load(Ordering::Relaxed);
        m.log = [None; LOG_LEN];
        m.next_log = 0;
    });
    PAUSED.store(false, Ordering::SeqCst);
}

/// The current run's probe.
pub fn probe() -> RunProbe {
    with_monitor(|m| m.probe).unwrap_or_default()
}

/// What `crashctl status` shows.
#[derive(Clone, Copy, Debug)]
pub struct Status {
    pub assessment: Option<Assessment>,
    pub sample: Option<Sample>,
    pub threshold: f32,
    pub auto: bool,
    pub psi_avg10: f32,
}

pub fn status() -> Option<Status> {
    with_monitor(|m| Status {
        assessment: m.predictor.last().copied(),
        sample: m.last_sample,
        threshold: m.predictor.threshold(),
        auto: auto(),
        psi_avg10: m.psi.avg10(),
    })
}

/// The predictor's statistics and the update cost.
pub fn stats() -> Option<(PredictorStats, UpdateCost)> {
    with_monitor(|m| (m.predictor.stats(), m.cost))
}

/// Sets the prediction threshold.
pub fn tune(threshold: f32) -> Result<(), ThresholdError> {
    with_monitor(|m| m.predictor.set_threshold(threshold)).unwrap_or(Ok(()))
}

/// Up to `N` prediction records, newest first, and how many the predictor keeps in all.
pub fn history<const N: usize>() -> ([Option<PredictionRecord>; N], usize) {
    with_monitor(|m| {
        let mut out = [None; N];
        for (slot, r) in out.iter_mut().zip(m.predictor.history()) {
            *slot = Some(*r);
        }
        (out, m.predictor.history().count())
    })
    .unwrap_or(([None; N], 0))
}

/// The action log, newest first.
pub fn log() -> [Option<LogEntry>; LOG_LEN] {
    with_monitor(|m| {
        let mut out = [None; LOG_LEN];
        for (back, slot) in out.iter_mut().enumerate() {
            *slot = m.log[(m.next_log + LOG_LEN - 1 - back) % LOG_LEN];
        }
        out
    })
    .unwrap_or([None; LOG_LEN])
}

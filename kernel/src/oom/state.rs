//! The OOM subsystem's shared state, at the bottom of its module graph: the `oom` crate's
//! [`Supervisor`] (predictor, baselines, growth tracker, ladder, run record, action log — the
//! loop the host simulator drives too) behind one lock, and the lock-free event atomics the
//! allocation paths write into. The modules that produce events — `pool` (workload requests
//! and watermark refusals), `workload` (OOM kills, actors gone, run start) and the frame
//! allocator's failure hook — call down into this module; the sampler thread (`monitor`)
//! drains the events into the supervisor on its next tick and performs what it decides; the
//! shell side (`commands`, `eval`) reads snapshots. Nothing here imports another module of
//! `kernel/src/oom`, so the imports form a DAG:
//!
//! ```text
//! monitor  ─► workload, pool, compact, reclaim, state    (the sampler thread, on top)
//! commands ─► eval, workload, pool, compact, reclaim, state   (the shell side, on top)
//! eval     ─► workload, state
//! workload ─► pool, state
//! compact  ─► pool
//! pool     ─► state
//! reclaim, state: nothing inside kernel/src/oom
//! ```
//!
//! The failure hook may run with interrupts off and the heap lock held, so it and the other
//! event writers touch atomics only. The supervisor's lock is an `IrqMutex`; it is never held
//! with the pool's or the run table's lock, and never while printing. Key types:
//! [`Shared`], [`UpdateCost`], [`Status`].

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use hal::mem::frames::AllocFailure;
use hal::sync::IrqMutex;
use metrics::Counter;
use oom::eval::LadderMode;
use oom::predictor::HISTORY;
use oom::supervisor::{LOG_LEN, LogEntry};
use oom::{
    Assessment, OomKill, OwnerId, PredictionRecord, PredictorStats, RunRecord, Sample, Supervisor,
    ThresholdError,
};

/// A request order stays "watched" this long after the last request of that order.
const WATCH_MS: u64 = 10_000;

/// Cost of predictor updates, as the sampler measured them. Their distribution (for the
/// median and p99 `crashctl stats` prints: a preempted update's milliseconds spoil only the
/// max) is counted in [`COST_BUCKETS`], outside [`Shared`], which is built on a small stack.
#[derive(Clone, Copy, Debug, Default)]
pub struct UpdateCost {
    pub updates: u64,
    pub total_ns: u64,
    pub max_ns: u64,
    pub last_ns: u64,
}

/// Update times in the buckets of `oom::cost` (written by the sampler only).
static COST_BUCKETS: [AtomicU32; oom::cost::BUCKETS + 1] =
    [const { AtomicU32::new(0) }; oom::cost::BUCKETS + 1];

impl UpdateCost {
    /// Adds one update of `ns`.
    pub fn add(&mut self, ns: u64) {
        self.updates += 1;
        self.total_ns += ns;
        self.max_ns = self.max_ns.max(ns);
        self.last_ns = ns;
        COST_BUCKETS[oom::cost::bucket_of(ns)].fetch_add(1, Ordering::Relaxed);
    }
}

/// The figures of [`UpdateCost`] that `crashctl stats` prints (no histogram: small to copy).
#[derive(Clone, Copy, Debug, Default)]
pub struct CostSummary {
    pub updates: u64,
    pub mean_ns: u64,
    pub max_ns: u64,
    pub last_ns: u64,
    /// Median and 99th percentile (upper edge of a 0.5 µs bucket; `None` above 256 µs).
    pub p50_ns: Option<u64>,
    pub p99_ns: Option<u64>,
}

/// What the lock guards: the supervisor and the kernel's own figures about it.
pub struct Shared {
    pub supervisor: Supervisor,
    pub cost: UpdateCost,
    /// Failure events already given to the supervisor (see [`Shared::take_failure`]).
    failures_seen: u64,
}

impl Shared {
    /// The latest failure event (time in ms since boot, capped at `now_ms`, and order) if any
    /// arrived since the last call. Several failures between two samples reach the predictor
    /// as one event; the cumulative count in each sample carries the rest.
    pub fn take_failure(&mut self, now_ms: u64) -> Option<(u64, usize)> {
        let events = FAIL_EVENTS.load(Ordering::Acquire);
        if events == self.failures_seen {
            return None;
        }
        self.failures_seen = events;
        let at = LAST_FAIL_MS.load(Ordering::Relaxed).min(now_ms);
        Some((at, LAST_FAIL_ORDER.load(Ordering::Relaxed) as usize))
    }
}

static SHARED: IrqMutex<Option<Box<Shared>>> = IrqMutex::new(None);
/// A run's actors are doing their setup: nothing is sampled (the contract's time 0).
static PAUSED: AtomicBool = AtomicBool::new(false);

// Failure events, written by the hook and the pool (atomics only).
static FAIL_EVENTS: AtomicU64 = AtomicU64::new(0);
static LAST_FAIL_ORDER: AtomicU64 = AtomicU64::new(0);
static LAST_FAIL_MS: AtomicU64 = AtomicU64::new(0);
/// Time (ms since boot, +1 so 0 means never) of the last workload request of each order.
static REQUESTED_AT: [AtomicU64; buddy::ORDERS] = [const { AtomicU64::new(0) }; buddy::ORDERS];

/// Exported with the sampler's figures (`monitor::METRICS`).
pub static M_OOM_KILLS: Counter = Counter::new(
    "nous_oom_kills_total",
    "Workload threads OOM-killed by a failed allocation since boot.",
);

fn now_ms() -> u64 {
    hal::time::now_ns() / 1_000_000
}

/// Creates the supervisor (response off, the default threshold); a second call keeps it.
pub fn init() {
    let mut shared = SHARED.lock();
    if shared.is_none() {
        *shared = Some(Box::new(Shared {
            supervisor: Supervisor::default(),
            cost: UpdateCost::default(),
            failures_seen: FAIL_EVENTS.load(Ordering::Relaxed),
        }));
    }
}

/// Runs `f` on the shared state under its lock; `None` before [`init`].
pub fn with<R>(f: impl FnOnce(&mut Shared) -> R) -> Option<R> {
    SHARED.lock().as_mut().map(|s| f(s))
}

/// The allocation-failure hook (installed by `monitor::start`): atomics only.
pub fn on_alloc_failure(failure: &AllocFailure) {
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

/// Whether sampling is paused for a run's setup.
pub fn paused() -> bool {
    PAUSED.load(Ordering::SeqCst)
}

/// An actor was OOM-killed (called from its own thread after its memory was freed).
pub fn oom_killed(kill: OomKill) {
    M_OOM_KILLS.inc();
    with(|s| s.supervisor.record_oom(kill));
}

/// An actor's thread is gone: stop tracking its growth.
pub fn actor_gone(owner: OwnerId) {
    with(|s| s.supervisor.forget_owner(owner));
}

/// A workload run's actors start their setup: sampling pauses until [`run_started`].
pub fn run_setup() {
    PAUSED.store(true, Ordering::SeqCst);
}

/// A workload run's clock starts at `origin_ms`, after the setup: the supervisor starts a
/// fresh run (as every simulated run starts) and sampling resumes. The action log starts
/// empty too: `crashctl log` shows the current run.
pub fn run_started(origin_ms: u64) {
    with(|s| {
        s.supervisor.start_run(origin_ms);
        s.failures_seen = FAIL_EVENTS.load(Ordering::Relaxed);
    });
    PAUSED.store(false, Ordering::SeqCst);
}

/// Whether the ladder's actions are performed (`crashctl auto`).
pub fn auto() -> bool {
    with(|s| s.supervisor.mode() == LadderMode::On).unwrap_or(false)
}

/// `crashctl auto on|off`: our ladder responds, or every policy only watches.
pub fn set_auto(on: bool) {
    with(|s| {
        s.supervisor
            .set_mode(if on { LadderMode::On } else { LadderMode::Off })
    });
}

/// The current run's record.
pub fn run_record() -> RunRecord {
    with(|s| *s.supervisor.run()).unwrap_or_default()
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
    with(|s| {
        let sup = &s.supervisor;
        Status {
            assessment: sup.predictor().last().copied(),
            sample: sup.last_sample().copied(),
            threshold: sup.predictor().threshold(),
            auto: sup.mode() == LadderMode::On,
            psi_avg10: sup.psi().avg10(),
        }
    })
}

/// The predictor's statistics and the update cost.
pub fn stats() -> Option<(PredictorStats, CostSummary)> {
    let count_at = |b: usize| COST_BUCKETS[b].load(Ordering::Relaxed);
    with(|s| {
        let c = s.cost;
        let summary = CostSummary {
            updates: c.updates,
            mean_ns: c.total_ns.checked_div(c.updates).unwrap_or(0),
            max_ns: c.max_ns,
            last_ns: c.last_ns,
            p50_ns: oom::cost::percentile_ns(count_at, 500),
            p99_ns: oom::cost::percentile_ns(count_at, 990),
        };
        (s.supervisor.predictor().stats(), summary)
    })
}

/// Sets the prediction threshold (kept across runs).
pub fn tune(threshold: f32) -> Result<(), ThresholdError> {
    with(|s| s.supervisor.set_threshold(threshold)).unwrap_or(Ok(()))
}

/// The prediction records, newest first (at most `oom::predictor::HISTORY`). The buffer is
/// allocated before the lock is taken, so the heap is never grown with interrupts off.
pub fn history() -> Vec<PredictionRecord> {
    let mut out = Vec::with_capacity(HISTORY);
    with(|s| out.extend(s.supervisor.predictor().history().copied()));
    out
}

/// The action log of the current run, newest first (allocated as [`history`] is).
pub fn log() -> Vec<LogEntry> {
    let mut out = Vec::with_capacity(LOG_LEN);
    with(|s| out.extend(s.supervisor.log().copied()));
    out
}

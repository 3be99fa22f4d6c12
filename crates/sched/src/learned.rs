//! The learned policy: SRPT on CPU bursts predicted by a self-attention model trained online
//! (outside the scheduler, see [`crate::trainer`]), with a predicted quantum, early preemption
//! and a starvation guard.
//!
//! Per decision ([`LearnedPolicy::pick_next`]):
//! 1. **Starvation guard.** A thread runnable for longer than the bound
//!    ([`LearnedPolicy::starvation_bound_ns`], 100 ms by default) runs first, whatever its
//!    priority or prediction — but at most every other pick, so that in overload the guard does
//!    not turn the policy into FIFO; each such pick is counted as an intervention.
//! 2. **Priorities.** Otherwise only the highest waiting priority level is considered.
//! 3. **Model.** The (up to [`MAX_SET`]) threads of that level with the smallest latest estimate
//!    become rows; the [`AttentionModel`] predicts each one's remaining CPU burst (the CPU time
//!    until it next blocks, sleeps, yields or exits) using the others as context, in integer
//!    arithmetic over per-thread projections cached when the thread became runnable
//!    ([`AttentionModel::forward_cached`]). The estimate is the averaged burst moved by the model
//!    by at most [`CORRECTION`], floored by the CPU already attained in the burst; the smallest
//!    runs (shortest remaining processing time first), ties to the longest waiting.
//!
//! Training signal: the decision's feature set is kept with the picked thread. When its slice
//! ends, the scheduler's accounting tells what really happened: if the burst ended, the exact
//! remaining burst since the pick is the target; if it was preempted, only a lower bound is
//! known, and a sample is made only if the estimate was below it (a censored, one-sided loss).
//! `on_descheduled` only offers the sample to the trainer's ring — no gradient step runs in the
//! scheduler — and `pick_next` adopts the trainer's published weights (at most every 10 ms).
//!
//! Quantum: a thread predicted to finish its burst within [`QUANTUM_STRETCH`] quanta gets a
//! quantum stretched to cover the prediction (+25 %); one predicted longer gets
//! [`LONG_QUANTUM_NS`]; others the base quantum. Early preemption: for a strictly higher
//! priority, or for a waiting thread predicted short and [`PREEMPT_MARGIN`] shorter than the
//! running thread's remaining burst, once the running thread has had [`PREEMPT_MIN_RUN_NS`];
//! at once for a waiting thread predicted under [`PREEMPT_TINY_NS`] and [`TINY_MARGIN`] shorter.
//!
//! Bounded memory: a fixed table of tracked threads (capacity reserved up front), one pending
//! training sample per recent pick in a fixed array, the model's ~1 KiB. The decision path does
//! not allocate as long as fewer than [`MAX_TRACKED`] threads exist.

// Index loops over parallel fixed arrays (rows, activations, gradients) read like the maths.
#![allow(clippy::needless_range_loop)]

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;

use crate::attention::{
    AttentionModel, FEATURES, MAX_SET, QuantModel, RowCache, SetFeatures, Y_ONE,
};
use crate::burst_prior::BurstPool;
use crate::ids::{Priority, ThreadId};
use crate::policy::SchedPolicy;
use crate::thread::{ThreadState, ThreadTableView, ThreadView};
use crate::trainer::{ADOPT_EVERY_NS, Sample, Trainer, TrainerLink};

/// Threads tracked without allocating on the decision path.
pub const MAX_TRACKED: usize = 128;
/// Rows whose projections a decision recomputes at most after a weight adoption (see
/// `pick_next`): what bounds the decision's cost.
const REFRESH_PER_PICK: usize = 4;
/// Pending training samples kept (one per recent pick).
const PENDING: usize = 8;
/// Hysteresis of the pick, in log scale Q16 (2/16 = a factor of 4): a preempted thread is
/// picked again unless another is predicted to need less than a quarter of its remaining burst. Without it the
/// attained-service floor makes CPU-bound threads alternate every quantum.
pub const STICKY: i32 = Y_ONE / 8;
/// Early preemption: a waiting thread predicted shorter than [`PREEMPT_SHORT_NS`] and by this
/// margin (log scale: 2/16 = a factor of 4) shorter than the running thread's remaining burst
/// takes the CPU once the running thread has had [`PREEMPT_MIN_RUN_NS`] — SRPT with a floor
/// against thrashing.
pub const PREEMPT_MARGIN: i32 = Y_ONE / 8;
/// See [`PREEMPT_MARGIN`].
pub const PREEMPT_SHORT_NS: u64 = 4_000_000;
/// A waiting thread predicted shorter than this ([`PREEMPT_TINY_NS`]) and by [`TINY_MARGIN`]
/// shorter than the running thread's remaining burst preempts at once, without the
/// [`PREEMPT_MIN_RUN_NS`] floor: serving it costs the two switches any policy pays for a wake-up,
/// and a thread that paces others (an acceptor handing out requests) must not wait behind a
/// long slice.
pub const PREEMPT_TINY_NS: u64 = 300_000;
/// See [`PREEMPT_TINY_NS`] (log scale: 3/16 = a factor of 8).
pub const TINY_MARGIN: i32 = 3 * Y_ONE / 16;
/// See [`PREEMPT_MARGIN`].
pub const PREEMPT_MIN_RUN_NS: u64 = 5_000_000;
/// The slice of a thread predicted to run longer than [`QUANTUM_STRETCH`] base quanta.
pub const LONG_QUANTUM_NS: u64 = 40_000_000;
/// The longest slice while a thread is overdue (has waited past the starvation bound): the
/// guard serves overdue threads at most every other pick, so a long slice in between stretches
/// their wait by as much; and the overdue thread the guard picks gets no more either (the guard
/// serves it for fairness, and a 40 ms slice for a long low-priority job would make every
/// thread of a higher level wait as long).
pub const OVERDUE_QUANTUM_NS: u64 = 20_000_000;
/// A thread predicted to finish within this many base quanta keeps the CPU until it does.
pub const QUANTUM_STRETCH: u64 = 3;

/// How far the model may move a thread's estimate from its averaged burst (the SJF-EWMA
/// estimate), in the log scale: 1/8 = a factor of 4 either way. The model ranks and corrects
/// within that band; a drifting model cannot turn the order upside down.
pub const CORRECTION: i32 = Y_ONE / 8;

/// The decision's estimate: the averaged burst `prior` moved by the model's `output` by at most
/// [`CORRECTION`] (log scale in Q16, [`Y_ONE`] = 1).
fn bounded(prior: i32, output: i32) -> i32 {
    prior.saturating_add(output.saturating_sub(prior).clamp(-CORRECTION, CORRECTION))
}

/// [`log_scale`] in Q16 ([`Y_ONE`] = 1) from the f32 value (outside the decision path).
fn to_q(y: f32) -> i32 {
    (y * Y_ONE as f32) as i32
}

/// 2^(k/16) in Q16 for k = 0..=16: the mantissa of [`from_log_q`] and [`log_q`] (linear
/// interpolation between entries: relative error under 0.1 %).
const EXP2_SIXTEENTHS: [u32; 17] = [
    65536, 68438, 71468, 74632, 77936, 81386, 84990, 88752, 92682, 96785, 101070, 105545, 110218,
    115097, 120193, 125515, 131072,
];

/// [`from_log_scale`] in integers: a Q16 log-scale value back to nanoseconds (2^(16·y) − 1 µs).
pub fn from_log_q(y: i32) -> u64 {
    // The exponent 16·y in Q16: integer part e, fraction f (Q16).
    let x = i64::from(y.clamp(-Y_ONE, 2 * Y_ONE)) * 16;
    if x <= 0 {
        return 0;
    }
    let (e, f) = ((x >> 16) as u32, (x & 0xFFFF) as u32);
    let (k, rem) = ((f >> 12) as usize, u64::from(f & 0xFFF));
    let (lo, hi) = (
        u64::from(EXP2_SIXTEENTHS[k]),
        u64::from(EXP2_SIXTEENTHS[k + 1]),
    );
    let mantissa = lo + (((hi - lo) * rem) >> 12);
    // 2^e · mantissa (Q16) µs, minus 1 µs, in ns (e ≤ 32: no overflow).
    let us_q16 = mantissa << e.min(32);
    (us_q16.saturating_sub(1 << 16) * 1000) >> 16
}

/// [`log_scale`] in integers, Q16: `log2(1 + µs) / 16`.
pub fn log_q(ns: u64) -> i32 {
    // log2(1 + ns/1000) = log2(ns + 1000) − log2(1000).
    const LOG2_1000_Q16: u32 = 653118;
    let v = ns.saturating_add(1000);
    let e = 63 - v.leading_zeros();
    // The mantissa 1.m in Q16, then its log2 by inverting the table.
    let m = if e >= 16 {
        (v >> (e - 16)) as u32
    } else {
        (v << (16 - e)) as u32
    };
    let mut k = 0usize;
    while k < 15 && EXP2_SIXTEENTHS[k + 1] <= m {
        k += 1;
    }
    let (lo, hi) = (EXP2_SIXTEENTHS[k], EXP2_SIXTEENTHS[k + 1]);
    let frac = ((k as u32) << 12) + ((m - lo) << 12) / (hi - lo);
    (((e << 16) + frac).saturating_sub(LOG2_1000_Q16) / 16) as i32
}

/// Log scale used for every time feature and for the target: `log2(1 + µs) / 16`.
pub fn log_scale(ns: u64) -> f32 {
    libm::log2f(1.0 + ns as f32 / 1000.0) / 16.0
}

/// Inverse of [`log_scale`], in nanoseconds.
pub fn from_log_scale(y: f32) -> u64 {
    let us = libm::exp2f(y.clamp(-1.0, 2.0) * 16.0) - 1.0;
    (us.max(0.0) * 1000.0) as u64
}

#[derive(Clone, Copy, Debug)]
struct Track {
    tid: ThreadId,
    priority: Priority,
    queued: bool,
    runnable_since: u64,
    seq: u64,
    /// Exponential average of complete bursts (ns).
    ewma_burst_ns: f32,
    last_burst_ns: u64,
    /// CPU time used in the current burst so far (across preemptions).
    attained_ns: u64,
    /// CPU time used over the thread's life (as seen by this policy).
    cpu_ns: u64,
    /// Exponential average of "slice ended by preemption".
    preempt_frac: f32,
    /// Exponential average of off-CPU (blocked or sleeping) stretches (ns).
    ewma_off_ns: f32,
    off_since: Option<u64>,
    bursts: u32,
    /// Latest predicted remaining burst (ns), for the quantum and early preemption.
    pred_ns: u64,
    /// The same prediction in the log scale, Q16 (compared without converting back).
    pred_q: i32,
    /// `row[0]` (the averaged burst, or the prior) and `row[2]` (attained) in Q16: the decision
    /// compares integers only.
    avg_q: i32,
    attained_q: i32,
    /// The row's projections under the weights of `cache_epoch` (see [`RowCache`]).
    cache: RowCache,
    cache_epoch: u32,
    /// The feature row, computed when the thread becomes runnable: nothing in it changes while
    /// it waits, so a decision reads rows instead of taking ~7 logarithms per thread. Q16 for
    /// the decision's integer projections ([`QuantModel::project`]); `row` is the same in f32
    /// for the trainer's samples.
    row_q: [i32; FEATURES],
    row: [f32; FEATURES],
}

impl Track {
    fn new(tid: ThreadId, priority: Priority) -> Self {
        Track {
            tid,
            priority,
            queued: false,
            runnable_since: 0,
            seq: 0,
            ewma_burst_ns: 0.0,
            last_burst_ns: 0,
            attained_ns: 0,
            cpu_ns: 0,
            preempt_frac: 0.0,
            ewma_off_ns: 0.0,
            off_since: None,
            bursts: 0,
            pred_ns: 0,
            pred_q: 0,
            avg_q: 0,
            attained_q: 0,
            row_q: [0; FEATURES],
            row: [0.0; FEATURES],
            cache: RowCache::default(),
            cache_epoch: 0,
        }
    }
}

/// The feature row of a tracked thread at `now`.
///
/// A thread without a complete burst yet gets `prior_ns` in place of its own averaged and last
/// burst (feature 7 still says it has no history): the Gittins-style remaining burst at its age
/// from the pooled distribution of first bursts ([`BurstPool::gittins_remaining`]). An estimate
/// of 0 made every new thread look shortest (a stream of new CPU-bound jobs kept a known-short
/// interactive thread waiting); the population's average ignored age (a new job 50 ms into its
/// burst still looked short and preempted known-short threads).
///
/// Q16 of the log scale ([`log_q`]: table arithmetic, no `log2f`), as the decision's integer
/// projections take it; the trainer's f32 row is this divided by [`Y_ONE`].
fn features(t: &Track, prior_ns: u64) -> [i32; FEATURES] {
    let (avg, last) = if t.bursts == 0 {
        (prior_ns, prior_ns)
    } else {
        (t.ewma_burst_ns as u64, t.last_burst_ns)
    };
    [
        log_q(avg),
        log_q(last),
        log_q(t.attained_ns),
        log_q(t.cpu_ns),
        to_q(t.preempt_frac),
        log_q(t.ewma_off_ns as u64),
        i32::from(t.priority.level()) * Y_ONE / 3,
        // History: 0 for a thread that never finished a burst, 0.5..1 with more history.
        if t.bursts == 0 {
            0
        } else {
            Y_ONE / 2 + t.bursts.min(16) as i32 * (Y_ONE / 32)
        },
    ]
}

#[derive(Clone, Copy, Debug)]
struct Pending {
    tid: ThreadId,
    set: SetFeatures,
    row: usize,
    attained_at_pick: u64,
    /// The estimate at the pick (log scale, Q16).
    predicted: i32,
}

/// Counters shown by `schedctl stats`.
#[derive(Clone, Copy, Debug, Default)]
pub struct LearnedStats {
    /// Decisions made by the model (guard picks excluded).
    pub model_picks: u64,
    /// Picks forced by the starvation guard.
    pub guard_interventions: u64,
    /// Training steps on complete bursts (taken by the trainer).
    pub exact_steps: u64,
    /// Training steps on censored (preempted) bursts.
    pub censored_steps: u64,
    /// Mean loss of the first 50 training steps (while the model adapts from its prior).
    pub early_loss: f32,
    /// Exponential average of the loss (α = 0.02).
    pub recent_loss: f32,
    /// Slices given a stretched quantum.
    pub stretched_quanta: u64,
    /// Largest runnable wait seen at a pick (ns).
    pub max_wait_ns: u64,
    /// Training samples lost (ring busy or full).
    pub dropped_samples: u64,
    /// Weight versions adopted from the trainer.
    pub adopted_versions: u64,
}

/// The learned scheduling policy (see the module documentation).
#[derive(Clone, Debug)]
pub struct LearnedPolicy {
    /// The f32 weights last adopted (for inspection; the decision uses `quant`).
    model: AttentionModel,
    /// The same weights folded and quantised by the trainer for the integer decision path.
    quant: QuantModel,
    tracks: Vec<Track>,
    pending: [Option<Pending>; PENDING],
    next_pending: usize,
    seq: u64,
    base_quantum_ns: u64,
    starvation_bound_ns: u64,
    training: bool,
    stats: LearnedStats,
    name: &'static str,
    /// Shared with the trainer: samples go out, weights come back.
    link: Arc<TrainerLink>,
    /// Version of the weights in `model` (0: the prior it was built with).
    version: u32,
    /// Bumped on every adoption; a track's cache from another epoch is recomputed.
    epoch: u32,
    adopted_at: u64,
    /// `log_q(PREEMPT_SHORT_NS)`: the "short thread" threshold of early preemption.
    log_short: i32,
    /// `log_q(PREEMPT_TINY_NS)`.
    log_tiny: i32,
    last: [(ThreadId, i32); MAX_SET],
    last_n: usize,
    /// The thread last descheduled by preemption: it keeps the CPU unless another thread is
    /// predicted to finish at least [`STICKY`] (in log scale) sooner.
    preempted_last: Option<ThreadId>,
    /// The previous pick was the starvation guard's.
    guard_last: bool,
    /// At the last pick, a thread left waiting had waited past the starvation bound: the slice
    /// given now is capped at [`OVERDUE_QUANTUM_NS`].
    overdue: bool,
    /// Every thread's complete bursts: the prior of threads with no history until
    /// `first_pool` has any.
    pool: BurstPool,
    /// Every thread's *first* complete burst: the population a thread with no history comes
    /// from, so its prior (see `on_runnable`).
    first_pool: BurstPool,
}

impl LearnedPolicy {
    /// Base quantum: 10 ms, as round-robin.
    pub const DEFAULT_QUANTUM_NS: u64 = 10_000_000;
    /// Default starvation bound: 100 ms.
    pub const DEFAULT_STARVATION_BOUND_NS: u64 = 100_000_000;

    /// The policy with self-attention.
    pub fn new() -> Self {
        Self::with_attention(true)
    }

    /// The policy with (`true`) or without (`false`, the ablation) the attention layer, and no
    /// trainer: it records samples, but decides with the prior's weights until something
    /// drains its link ([`LearnedPolicy::link`]). Use [`LearnedPolicy::with_trainer`] to learn.
    pub fn with_attention(attention: bool) -> Self {
        let model = AttentionModel::new(attention, 0x5EED);
        let link = Arc::new(TrainerLink::new(&model));
        LearnedPolicy {
            quant: model.quantize(),
            model,
            tracks: Vec::with_capacity(MAX_TRACKED),
            pending: [None; PENDING],
            next_pending: 0,
            seq: 0,
            base_quantum_ns: Self::DEFAULT_QUANTUM_NS,
            starvation_bound_ns: Self::DEFAULT_STARVATION_BOUND_NS,
            training: true,
            stats: LearnedStats::default(),
            name: if attention {
                "learned-attention"
            } else {
                "learned-no-attention"
            },
            link,
            version: 0,
            epoch: 1,
            adopted_at: 0,
            log_short: log_q(PREEMPT_SHORT_NS),
            log_tiny: log_q(PREEMPT_TINY_NS),
            last: [(ThreadId::IDLE, 0); MAX_SET],
            last_n: 0,
            preempted_last: None,
            guard_last: false,
            overdue: false,
            pool: BurstPool::new(),
            first_pool: BurstPool::new(),
        }
    }

    /// The policy and the [`Trainer`] that learns for it (run `Trainer::drain` outside the
    /// scheduler: a kernel thread, or the simulator's background callback).
    pub fn with_trainer(attention: bool) -> (Self, Trainer) {
        let p = Self::with_attention(attention);
        let t = Trainer::new(p.model.clone(), p.link.clone());
        (p, t)
    }

    /// The link to the trainer.
    pub fn link(&self) -> &Arc<TrainerLink> {
        &self.link
    }

    /// Sets the starvation bound (a thread never waits longer than this plus one slice).
    pub fn with_starvation_bound_ns(mut self, bound: u64) -> Self {
        self.starvation_bound_ns = bound.max(1);
        self
    }

    /// Turns online training on or off (off: the model only infers).
    pub fn with_training(mut self, training: bool) -> Self {
        self.training = training;
        self
    }

    /// The starvation bound in ns.
    pub fn starvation_bound_ns(&self) -> u64 {
        self.starvation_bound_ns
    }

    /// Counters (training figures from the trainer's link).
    pub fn stats(&self) -> LearnedStats {
        let t = self.link.stats();
        LearnedStats {
            exact_steps: t.exact_steps,
            censored_steps: t.censored_steps,
            early_loss: t.early_loss,
            recent_loss: t.recent_loss,
            dropped_samples: t.dropped,
            ..self.stats
        }
    }

    /// The last model decision: each candidate and its ranked prediction (log scale, Q16).
    pub fn last_decision(&self) -> &[(ThreadId, i32)] {
        &self.last[..self.last_n]
    }

    /// The model (for inspection and tests).
    pub fn model(&self) -> &AttentionModel {
        &self.model
    }

    fn track_index(&self, tid: ThreadId) -> Option<usize> {
        self.tracks.iter().position(|t| t.tid == tid)
    }

    fn track_mut(&mut self, tid: ThreadId, priority: Priority) -> Option<&mut Track> {
        let idx = match self.track_index(tid) {
            Some(i) => i,
            None => {
                if self.tracks.len() >= MAX_TRACKED {
                    // Forget the thread off the CPU longest (not queued); never a queued one.
                    let victim = self
                        .tracks
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| !t.queued)
                        .min_by_key(|(_, t)| t.off_since.unwrap_or(0))
                        .map(|(i, _)| i);
                    if let Some(v) = victim {
                        self.tracks.swap_remove(v);
                    }
                }
                self.tracks.push(Track::new(tid, priority));
                self.tracks.len() - 1
            }
        };
        let t = self.tracks.get_mut(idx)?;
        t.priority = priority;
        Some(t)
    }

    fn take_pending(&mut self, tid: ThreadId) -> Option<Pending> {
        self.pending
            .iter_mut()
            .find(|p| p.is_some_and(|p| p.tid == tid))
            .and_then(Option::take)
    }

    fn offer(&self, p: &Pending, target: f32, censored: bool) {
        if self.training {
            self.link.offer(Sample {
                set: p.set,
                row: p.row,
                target,
                censored,
            });
        }
    }

    /// Takes the trainer's newer weights, at most every [`ADOPT_EVERY_NS`] and never waiting.
    fn adopt_weights(&mut self, now_ns: u64) {
        if now_ns.saturating_sub(self.adopted_at) < ADOPT_EVERY_NS {
            return;
        }
        if let Some(published) = self.link.try_weights(self.version) {
            self.model.params = published.params;
            self.quant = published.quant;
            self.version = published.version;
            self.epoch = self.epoch.wrapping_add(1);
            self.adopted_at = now_ns;
            self.stats.adopted_versions += 1;
        }
    }
}

impl Default for LearnedPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl SchedPolicy for LearnedPolicy {
    fn name(&self) -> &str {
        self.name
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, now_ns: u64) {
        self.seq += 1;
        let seq = self.seq;
        // The prior at the thread's age in its burst (a new thread: age 0).
        let age = self
            .track_index(thread.id())
            .and_then(|i| self.tracks.get(i))
            .map_or(0, |t| t.attained_ns);
        // The prior comes from the first bursts of earlier threads: the population a thread
        // without history belongs to. Pooling every burst let long-lived short-burst threads
        // (an editor, timers) outnumber new jobs' first bursts, so each new multi-burst job
        // looked short, preempted the job before it and the jobs shared the CPU like
        // least-attained-service (diagnosed on H2's compile waves; see docs/SCHED.md).
        let prior = self
            .first_pool
            .gittins_remaining(age)
            .or_else(|| self.pool.gittins_remaining(age))
            .unwrap_or(0);
        let Some(t) = self.track_mut(thread.id(), thread.priority()) else {
            return;
        };
        t.queued = true;
        t.runnable_since = now_ns;
        t.seq = seq;
        if let Some(since) = t.off_since.take() {
            let off = now_ns.saturating_sub(since) as f32;
            t.ewma_off_ns = 0.5 * off + 0.5 * t.ewma_off_ns;
        }
        let row_q = features(t, prior);
        t.row_q = row_q;
        t.row = core::array::from_fn(|c| row_q[c] as f32 / Y_ONE as f32);
        // Alone in its set the softmax is 1, so the context-free prediction is base + s.
        let cache = self.quant.project(&row_q);
        let (avg_q, attained_q) = (row_q[0], row_q[2]);
        let solo = bounded(avg_q, cache.base.saturating_add(cache.s));
        let epoch = self.epoch;
        if let Some(i) = self.track_index(thread.id())
            && let Some(t) = self.tracks.get_mut(i)
        {
            t.cache = cache;
            t.cache_epoch = epoch;
            t.avg_q = avg_q;
            t.attained_q = attained_q;
            t.pred_q = solo;
            t.pred_ns = from_log_q(solo);
        }
    }

    fn on_removed(&mut self, tid: ThreadId) {
        if let Some(i) = self.track_index(tid)
            && let Some(t) = self.tracks.get_mut(i)
        {
            t.queued = false;
        }
    }

    fn pick_next(&mut self, now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        self.adopt_weights(now_ns);
        // 1. Starvation guard: the longest-waiting thread, if it waited past the bound.
        let oldest = self
            .tracks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.queued)
            .min_by_key(|(_, t)| t.seq)
            .map(|(i, t)| (i, now_ns.saturating_sub(t.runnable_since)))?;
        // At most every other pick is the guard's: in overload, when the backlog itself is older
        // than the bound, a guard that always fired would turn the policy into FIFO with a
        // 100 ms delay for everyone, interactive threads included.
        let guard = oldest.1 >= self.starvation_bound_ns && !self.guard_last;
        self.guard_last = guard;
        let chosen = if guard {
            self.stats.guard_interventions += 1;
            oldest.0
        } else {
            // 2. Highest waiting priority; 3. the MAX_SET longest-waiting threads of it.
            let top = self
                .tracks
                .iter()
                .filter(|t| t.queued)
                .map(|t| t.priority)
                .max()?;
            // The set: the MAX_SET threads of that level with the smallest latest estimate
            // (floored by attained service), ties to the longer waiting. Choosing the longest
            // waiting instead kept a just-woken short thread out of the set whenever more than
            // MAX_SET were runnable — starving exactly what SRPT should run first (the guard
            // covers threads left out for long).
            let key = |t: &Track| (t.pred_q.max(t.attained_q), t.seq);
            let mut members = [0usize; MAX_SET];
            let mut keys = [(0i32, 0u64); MAX_SET];
            let mut n = 0usize;
            for (i, t) in self.tracks.iter().enumerate() {
                if !t.queued || t.priority != top {
                    continue;
                }
                let kt = key(t);
                let mut pos = n;
                while pos > 0
                    && (keys[pos - 1].0 > kt.0
                        || (keys[pos - 1].0 == kt.0 && keys[pos - 1].1 > kt.1))
                {
                    pos -= 1;
                }
                if pos >= MAX_SET {
                    continue;
                }
                let end = n.min(MAX_SET - 1);
                let mut k = end;
                while k > pos {
                    members[k] = members[k - 1];
                    keys[k] = keys[k - 1];
                    k -= 1;
                }
                members[pos] = i;
                keys[pos] = kt;
                n = (n + 1).min(MAX_SET);
            }
            // Per-thread projections are cached (recomputed when a thread becomes runnable), so
            // the decision is the integer attention over at most MAX_SET rows. After new weights
            // are adopted, at most REFRESH_PER_PICK rows of the set (the best-ranked) are
            // recomputed per decision; the others keep their previous weights' projections for
            // a few more picks (their effect on the estimate is bounded by CORRECTION either
            // way; 4 per pick measured within 0.1 % of recomputing all on the tuning runs). A
            // projection is 80 integer multiply-adds with the trainer's quantised weights
            // ([`QuantModel::project`]); in f32 (the fourth pass) 4 of them set the decision's
            // p99 under TCG at 57–65 µs.
            let mut rows = [RowCache::default(); MAX_SET];
            let mut refreshed = 0usize;
            for (r, &i) in members[..n].iter().enumerate() {
                let t = &mut self.tracks[i];
                if t.cache_epoch != self.epoch && refreshed < REFRESH_PER_PICK {
                    t.cache = self.quant.project(&t.row_q);
                    t.cache_epoch = self.epoch;
                    refreshed += 1;
                }
                rows[r] = t.cache;
            }
            let mut fixed = [0i32; MAX_SET];
            self.quant.forward_cached(&rows[..n], &mut fixed);
            let mut preds = [0i32; MAX_SET];
            for r in 0..n {
                preds[r] = bounded(self.tracks[members[r]].avg_q, fixed[r]);
            }
            // Attained-service floor: a thread that has already run A in this burst is ranked as
            // needing at least A more (the least-attained-service prior for heavy-tailed bursts).
            // The model ranks everything above the floor; it is trained on its raw output.
            for r in 0..n {
                preds[r] = preds[r].max(self.tracks[members[r]].attained_q);
                if Some(self.tracks[members[r]].tid) == self.preempted_last {
                    preds[r] -= STICKY;
                }
            }
            let mut best = 0usize;
            for r in 1..n {
                // Ties go to the longer-waiting thread.
                if preds[r] < preds[best] || (preds[r] == preds[best] && keys[r].1 < keys[best].1) {
                    best = r;
                }
            }
            for r in 0..n {
                self.tracks[members[r]].pred_q = preds[r];
                self.last[r] = (self.tracks[members[r]].tid, preds[r]);
            }
            self.last_n = n;
            let idx = members[best];
            self.tracks[idx].pred_ns = from_log_q(preds[best]);
            // The training sample keeps the feature rows (the trainer's f32 model needs them).
            let mut set = SetFeatures::new();
            for &i in &members[..n] {
                set.push(self.tracks[i].row);
            }
            self.stats.model_picks += 1;
            let attained = self.tracks[idx].attained_ns;
            let slot = self.next_pending;
            self.next_pending = (self.next_pending + 1) % PENDING;
            let tid = self.tracks[idx].tid;
            // One pending sample per thread: drop an older one for the same thread.
            let _ = self.take_pending(tid);
            self.pending[slot] = Some(Pending {
                tid,
                set,
                row: best,
                attained_at_pick: attained,
                predicted: preds[best],
            });
            idx
        };
        let t = self.tracks.get_mut(chosen)?;
        t.queued = false;
        let bound = self.starvation_bound_ns;
        self.overdue = self
            .tracks
            .iter()
            .any(|t| t.queued && now_ns.saturating_sub(t.runnable_since) >= bound);
        let t = self.tracks.get_mut(chosen)?;
        self.stats.max_wait_ns = self
            .stats
            .max_wait_ns
            .max(now_ns.saturating_sub(t.runnable_since));
        Some(t.tid)
    }

    fn quantum_ns(&self, thread: &ThreadView<'_>) -> u64 {
        let base = self.base_quantum_ns;
        let cap = if self.overdue || self.guard_last {
            OVERDUE_QUANTUM_NS
        } else {
            u64::MAX
        };
        let quantum = match self
            .track_index(thread.id())
            .and_then(|i| self.tracks.get(i))
        {
            Some(t) if t.pred_ns > base && t.pred_ns <= QUANTUM_STRETCH * base => {
                (t.pred_ns + t.pred_ns / 4).min(QUANTUM_STRETCH * base)
            }
            // Predicted longer still: a long slice. Short threads that wake meanwhile take the
            // CPU through early preemption, so the slice costs them nothing; among long threads
            // it only saves switches.
            Some(t) if t.pred_ns > QUANTUM_STRETCH * base => LONG_QUANTUM_NS,
            _ => base,
        };
        quantum.min(cap)
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, now_ns: u64) -> bool {
        let Some(run) = self
            .track_index(running.id())
            .and_then(|i| self.tracks.get(i))
        else {
            return false;
        };
        let ran = now_ns.saturating_sub(running.state_since_ns());
        // Remaining of the running thread: a thread with a history that has not yet overrun its
        // prediction is trusted to block as predicted (preempting a thread about to block costs
        // two switches for nothing); otherwise its prediction minus what it ran, but at least
        // what it has attained in this burst (the least-attained-service floor of the pick).
        let run_left = if run.bursts > 0 && ran < run.pred_ns {
            run.pred_ns - ran
        } else if false {
            0
        } else {
            run.pred_ns
                .saturating_sub(ran)
                .max(run.attained_ns.saturating_add(ran))
        };
        let run_left_log = log_q(run_left);
        self.tracks.iter().filter(|t| t.queued).any(|t| {
            t.priority > running.priority()
                || (t.priority == running.priority()
                    && ((ran >= PREEMPT_MIN_RUN_NS
                        && t.pred_q < self.log_short
                        && t.pred_q + PREEMPT_MARGIN < run_left_log)
                        || (t.pred_q < self.log_tiny && t.pred_q + TINY_MARGIN < run_left_log)))
        })
    }

    fn on_descheduled(
        &mut self,
        thread: &ThreadView<'_>,
        ran_ns: u64,
        preempted: bool,
        now_ns: u64,
    ) {
        let tid = thread.id();
        self.preempted_last = preempted.then_some(tid);
        let pending = self.take_pending(tid);
        let Some(i) = self.track_index(tid) else {
            return;
        };
        let Some(t) = self.tracks.get_mut(i) else {
            return;
        };
        t.attained_ns = t.attained_ns.saturating_add(ran_ns);
        t.cpu_ns = t.cpu_ns.saturating_add(ran_ns);
        let attained = t.attained_ns;
        if preempted {
            t.preempt_frac = 0.8 * t.preempt_frac + 0.2;
        } else {
            t.preempt_frac *= 0.8;
            t.last_burst_ns = attained;
            t.ewma_burst_ns = if t.bursts == 0 {
                attained as f32
            } else {
                0.5 * attained as f32 + 0.5 * t.ewma_burst_ns
            };
            t.bursts = t.bursts.saturating_add(1);
            self.pool.add(attained);
            if t.bursts == 1 {
                self.first_pool.add(attained);
            }
            t.attained_ns = 0;
            t.off_since = Some(now_ns);
        }
        let exited = matches!(thread.state(), ThreadState::Exited { .. });
        if exited {
            self.tracks.swap_remove(i);
        }
        if let Some(p) = pending {
            let since_pick = attained.saturating_sub(p.attained_at_pick);
            let target = log_scale(since_pick);
            if !preempted {
                self.offer(&p, target, false);
            } else if p.predicted < to_q(target) {
                // Censored: the burst lasts at least this long; correct only an underestimate.
                self.offer(&p, target, true);
            }
        }
        if !preempted && ran_ns > self.base_quantum_ns {
            self.stats.stretched_quanta += 1;
        }
    }

    fn counters(&self) -> crate::policy::PolicyCounters {
        let t = self.link.stats();
        crate::policy::PolicyCounters {
            training_steps: t.exact_steps + t.censored_steps,
            recent_loss: f64::from(t.recent_loss),
            guard_interventions: self.stats.guard_interventions,
            ..Default::default()
        }
    }

    fn report(&self, out: &mut dyn Write) -> core::fmt::Result {
        let s = &self.stats();
        writeln!(
            out,
            "model: attention={} dim={} params={}",
            self.model.attention,
            crate::attention::DIM,
            crate::attention::PARAMS
        )?;
        writeln!(out, "model picks: {}", s.model_picks)?;
        writeln!(
            out,
            "training steps: {} exact, {} censored",
            s.exact_steps, s.censored_steps
        )?;
        writeln!(
            out,
            "loss: early {:.4}, recent {:.4}",
            s.early_loss, s.recent_loss
        )?;
        writeln!(
            out,
            "starvation guard interventions: {}",
            s.guard_interventions
        )?;
        writeln!(
            out,
            "trainer: weights v{} adopted {} times, {} samples dropped",
            self.version, s.adopted_versions, s.dropped_samples
        )?;
        writeln!(out, "stretched slices: {}", s.stretched_quanta)?;
        write!(out, "max runnable wait: {} us", s.max_wait_ns / 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_integer_log_scale_agrees_with_the_f32_one() {
        for ns in [
            0u64,
            999,
            1_000,
            50_000,
            300_000,
            4_000_000,
            40_000_000,
            3_000_000_000,
        ] {
            let exact = log_scale(ns);
            let q = log_q(ns);
            assert!(
                (q as f32 / Y_ONE as f32 - exact).abs() < 0.001,
                "{ns}: {q} vs {exact}"
            );
            // And back: within 0.5 % (plus the microsecond the scale rounds to).
            let back = from_log_q(to_q(exact));
            let reference = from_log_scale(exact);
            let tolerance = reference / 200 + 2_000;
            assert!(
                back.abs_diff(reference) <= tolerance,
                "{ns}: {back} vs {reference}"
            );
        }
        assert_eq!(from_log_q(-5), 0);
        // Comparisons keep their order.
        assert!(log_q(PREEMPT_TINY_NS) < log_q(PREEMPT_SHORT_NS));
    }
}

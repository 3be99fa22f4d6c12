//! The crash predictor: [`CrashPredictor`] turns a 10 Hz stream of [`Sample`]s and failure
//! events into an [`Assessment`] (risk 0.0..=1.0, [`RiskLevel`], confidence, time to
//! exhaustion and the [`Factors`] behind them), decides when it *predicts a crash* (risk at or
//! over the threshold for a few consecutive samples), records every prediction as a
//! [`PredictionRecord`] and resolves it with its outcome, and keeps running
//! [`PredictorStats`] (precision, recall, median lead time).
//!
//! The model (see docs/OOM.md for the reasoning and the tuning):
//! - A ring of the last [`WINDOW`] samples. Two least-squares lines over time are kept
//!   incrementally (`fit::LineFit`): free pages, and pages usable at the watched order (free
//!   pages in blocks of at least that order). The second one is the fragmentation trend: it
//!   is linear in time under a steady attack, where the fragmentation index itself is not.
//! - Each trend is also fitted over the last [`SHORT_WINDOW`] samples. The decline rate used
//!   is the *slower* of the two, so a burst that has already stopped does not extrapolate to
//!   a crash, while a steady leak (both windows agree) does.
//! - Time to exhaustion (TTE) = distance to the line (the watermark for free pages, one block
//!   for usable pages) / decline rate. Urgency u = 1 / (1 + (TTE / T½)²); a trend factor is
//!   u × confidence, with confidence = (R² of the long fit)² × how full the ring is (squaring
//!   R² separates a steady decline, R² ≈ 1, from a single step, R² ≈ 0.75; chosen on the
//!   training seeds, docs/OOM.md).
//! - Factors combine as a noisy-or: risk = 1 − Π(1 − wᵢ·fᵢ) over trend, fragmentation,
//!   low free memory (weight 0.25) and recent allocation failures.
//!
//! Neighbours: [`crate::sample`] (input), [`crate::ladder`] (acts on the assessment),
//! `kernel/src/oom` and `tools/oom-sim` (feed it), [`crate::baseline`] (the rules it is compared to).

use buddy::ORDERS;

use crate::fit::LineFit;
use crate::sample::Sample;
use crate::watermark::min_free_pages;

/// Samples in the ring (10 s at 10 Hz).
pub const WINDOW: usize = 100;
/// Samples in the short window used to check that a decline is still going on (3 s).
pub const SHORT_WINDOW: usize = 30;
/// Prediction records kept, and the most `crashctl history N` shows (N is 1..=HISTORY). The
/// kernel's check and usage text and oslang's command catalogue take the range from here.
pub const HISTORY: usize = 64;
/// Lead times kept for the median.
const LEADS: usize = 64;
/// Failure events remembered for the failure factor.
const FAILURES: usize = 16;
/// The failure factor looks this far back.
const FAILURE_WINDOW_MS: u64 = 10_000;
/// Weight of the low-free-memory factor in the noisy-or.
const DECLINE_WEIGHT: f32 = 0.25;
/// Free memory above the watermark at which the low-free-memory factor reaches 0, as a share
/// of total pages.
const DECLINE_SPAN: f64 = 0.25;

/// Seconds of per-second floors in the medium floor window.
pub const FLOOR_MEDIUM_S: usize = 30;
/// Seconds of per-second floors in the long floor window (also the floor ring's size).
pub const FLOOR_LONG_S: usize = 120;
/// The rolling minimum a floor point takes: the lowest sample of the last this many seconds
/// (longer than the period of the saw-tooth cycles the floor must see through).
const FLOOR_SPAN_S: usize = 10;
/// A floor trend measured over a window of `w` seconds is trusted to extrapolate `w` ×
/// this: the time to exhaustion at which its urgency is one half. Longer windows see slower
/// leaks and warn earlier, so the lead scales with the leak's rate.
const FLOOR_HORIZON_PER_WINDOW: f64 = 2.0;
/// Consecutive samples with available memory no longer falling (3 s slope ≥ 0) before a
/// pending alarm is withdrawn, with the risk under [`WITHDRAW_RISK_SHARE`] of the threshold.
const WITHDRAW_CALM_SAMPLES: u32 = 50;
/// See [`WITHDRAW_CALM_SAMPLES`].
const WITHDRAW_RISK_SHARE: f32 = 0.5;
/// A withdrawn-or-expired alarm's horizon is at least the configured one and at least this
/// many times its time to exhaustion when raised (a slow leak's early alarm is not a false
/// positive because the OOM comes after 60 s), at most [`MAX_HORIZON_MS`].
const HORIZON_PER_TTE: u64 = 2;
/// Longest horizon an alarm can get.
const MAX_HORIZON_MS: u64 = 900_000;

/// The default prediction threshold, tuned on the training seeds of `oom-sim` (docs/OOM.md).
pub const DEFAULT_THRESHOLD: f32 = 0.6;

/// Tunable parameters of the predictor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PredictorConfig {
    /// Risk at or over which the predictor predicts a crash; in (0, 1].
    pub threshold: f32,
    /// A prediction not followed by an OOM within this many ms is a false positive.
    pub horizon_ms: u64,
    /// Time to exhaustion at which the urgency of a trend is one half.
    pub half_risk_tte_ms: u64,
    /// Consecutive samples at or over the threshold before a crash is predicted.
    pub sustain_samples: u32,
    /// Samples in the ring before trends count at full confidence.
    pub full_confidence_samples: u32,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        PredictorConfig {
            threshold: DEFAULT_THRESHOLD,
            horizon_ms: 60_000,
            half_risk_tte_ms: 20_000,
            sustain_samples: 3,
            full_confidence_samples: 100,
        }
    }
}

/// Smallest threshold `crashctl tune` accepts as an integer percent (`1` = 0.01).
pub const THRESHOLD_PERCENT_MIN: u32 = 1;
/// Largest threshold `crashctl tune` accepts as an integer percent (`99` = 0.99). 100 is refused
/// so that a bare integer is never a fraction in disguise: the fraction 1.0 is written `1.0`.
pub const THRESHOLD_PERCENT_MAX: u32 = 99;

/// Why a threshold was rejected.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ThresholdError {
    /// NaN or infinite.
    NotFinite,
    /// Not in (0, 1].
    OutOfRange(f32),
    /// An integer percent outside [`THRESHOLD_PERCENT_MIN`]..=[`THRESHOLD_PERCENT_MAX`].
    PercentOutOfRange(u64),
}

impl core::fmt::Display for ThresholdError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ThresholdError::NotFinite => write!(f, "threshold must be a finite number"),
            ThresholdError::OutOfRange(t) => {
                write!(f, "threshold {t} out of range: it must be > 0.0 and <= 1.0")
            }
            ThresholdError::PercentOutOfRange(p) => write!(
                f,
                "threshold {p} % out of range: a percent must be {THRESHOLD_PERCENT_MIN} to {THRESHOLD_PERCENT_MAX} (or write a fraction such as 0.55)"
            ),
        }
    }
}

/// Checks a threshold: finite, greater than 0, at most 1.
pub fn check_threshold(threshold: f32) -> Result<f32, ThresholdError> {
    if !threshold.is_finite() {
        return Err(ThresholdError::NotFinite);
    }
    if threshold <= 0.0 || threshold > 1.0 {
        return Err(ThresholdError::OutOfRange(threshold));
    }
    Ok(threshold)
}

/// The threshold an integer percent stands for, as `crashctl tune 20` and oslang's command
/// catalogue write it: [`THRESHOLD_PERCENT_MIN`]..=[`THRESHOLD_PERCENT_MAX`], `20` → 0.20.
///
/// Whether the user wrote a percent or a fraction is decided by the shell's one number grammar
/// (`shell::number_form`: digits only is an integer, digits-point-digits a fraction), not here;
/// this crate owns only the ranges and the conversion, so the kernel reads `crashctl tune` as
/// `shell::Number::Integer(p)` → this, `shell::Number::Fraction(t)` →
/// [`threshold_from_fraction`].
pub fn threshold_from_percent(percent: u64) -> Result<f32, ThresholdError> {
    if !(u64::from(THRESHOLD_PERCENT_MIN)..=u64::from(THRESHOLD_PERCENT_MAX)).contains(&percent) {
        return Err(ThresholdError::PercentOutOfRange(percent));
    }
    Ok(percent as f32 / 100.0)
}

/// The threshold a fraction written with a decimal point stands for (`0.55` → 0.55, `1.0` →
/// 1.0): it must be greater than 0 and at most 1, before and after rounding to `f32`.
pub fn threshold_from_fraction(fraction: f64) -> Result<f32, ThresholdError> {
    if !fraction.is_finite() {
        return Err(ThresholdError::NotFinite);
    }
    if fraction <= 0.0 || fraction > 1.0 {
        return Err(ThresholdError::OutOfRange(fraction as f32));
    }
    check_threshold(fraction as f32)
}

/// Coarse risk level shown by `crashctl status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum RiskLevel {
    /// risk < 0.25.
    #[default]
    Normal,
    /// 0.25 ≤ risk < 0.5.
    Elevated,
    /// 0.5 ≤ risk < 0.75.
    Warning,
    /// risk ≥ 0.75.
    Critical,
}

impl RiskLevel {
    /// The level of a risk value (NaN counts as `Normal`).
    pub fn from_risk(risk: f32) -> RiskLevel {
        if risk >= 0.75 {
            RiskLevel::Critical
        } else if risk >= 0.5 {
            RiskLevel::Warning
        } else if risk >= 0.25 {
            RiskLevel::Elevated
        } else {
            RiskLevel::Normal
        }
    }

    /// Upper-case name: `NORMAL`, `ELEVATED`, `WARNING`, `CRITICAL`.
    pub fn name(self) -> &'static str {
        match self {
            RiskLevel::Normal => "NORMAL",
            RiskLevel::Elevated => "ELEVATED",
            RiskLevel::Warning => "WARNING",
            RiskLevel::Critical => "CRITICAL",
        }
    }
}

/// The factors behind a risk value, each in 0.0..=1.0.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Factors {
    /// Low free memory: 1 at the watermark, 0 at a quarter of RAM above it.
    pub decline: f32,
    /// Free-page trend: urgency of its time to exhaustion × fit confidence.
    pub trend: f32,
    /// Fragmentation trend of the watched order: urgency × confidence; 1 when no block of
    /// that order is free now.
    pub fragmentation: f32,
    /// Recent workload allocation failures (two or more in 10 s give 1).
    pub failures: f32,
    /// Floor trend: urgency of the rolling minimum's time to exhaustion (free or available
    /// memory, over 30 s or 120 s) × fit confidence, with a horizon that grows with the window.
    pub floor: f32,
}

/// What the predictor concludes from the latest sample.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Assessment {
    /// Time of the sample.
    pub t_ms: u64,
    /// Combined risk, 0.0..=1.0.
    pub risk: f32,
    /// Confidence in the dominant factor, 0.0..=1.0 (fit quality for trends, 1 for direct
    /// observations such as failures).
    pub confidence: f32,
    /// Level of `risk`.
    pub level: RiskLevel,
    /// Estimated time to exhaustion: the smaller of the two trends' estimates.
    pub tte_ms: Option<u64>,
    /// Time until free pages reach the watermark at the current decline.
    pub free_tte_ms: Option<u64>,
    /// Time until no block of the watched order is left at the current decline.
    pub frag_tte_ms: Option<u64>,
    /// The factors behind `risk`.
    pub factors: Factors,
    /// The order whose fragmentation is watched.
    pub watched_order: u8,
    /// Fragmentation index of the watched order, permille.
    pub frag_index: u16,
    /// Slope of free pages over the long window, pages per second (negative = declining).
    pub free_slope_per_s: f32,
    /// Successful allocations per second over the window.
    pub alloc_rate_per_s: f32,
    /// Whether the predictor currently predicts a crash (risk ≥ threshold, sustained).
    pub predicts_crash: bool,
    /// Whether this sample opened a new prediction record.
    pub new_prediction: bool,
    /// Whether this sample withdrew the pending prediction (the growth behind it stopped).
    pub withdrawn: bool,
    /// Time until the floor (rolling minimum) of free or available memory reaches the
    /// watermark at its 30 s or 120 s trend, whichever factor is larger.
    pub floor_tte_ms: Option<u64>,
    /// Slope of available memory (free + reclaimable) over the long window, pages per second.
    pub available_slope_per_s: f32,
}

/// How a prediction turned out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Neither an OOM nor the end of the horizon yet.
    Pending,
    /// An OOM followed within the horizon, `lead_ms` after the prediction.
    TruePositive {
        /// Time from the prediction to the OOM.
        lead_ms: u64,
    },
    /// The horizon passed without an OOM and nothing was done about it.
    FalsePositive,
    /// The horizon passed without an OOM after the response ladder acted on the prediction,
    /// or the alarm cleared after the ladder killed a growing owner for it: either a crash
    /// averted or a false alarm acted on; not counted in precision.
    Averted,
    /// The growth that raised the alarm stopped on its own (no kill was made for it) and the
    /// alarm was withdrawn: neither a hit nor a miss, counted apart.
    Withdrawn,
}

/// One prediction and its outcome.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PredictionRecord {
    /// Sequence number (1 for the first prediction).
    pub seq: u32,
    /// When it was made.
    pub t_ms: u64,
    /// Risk at that moment.
    pub risk: f32,
    /// Estimated time to exhaustion at that moment.
    pub tte_ms: Option<u64>,
    /// Whether the response ladder acted while it was pending.
    pub acted: bool,
    /// Whether the ladder killed an owner for it.
    pub killed: bool,
    /// How long after `t_ms` an OOM still counts as its hit.
    pub horizon_ms: u64,
    /// How it turned out.
    pub outcome: Outcome,
}

/// Running accuracy of the predictor.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PredictorStats {
    /// Predictions made.
    pub predictions: u32,
    /// Predictions followed by an OOM within the horizon.
    pub true_positives: u32,
    /// Predictions whose horizon passed with no OOM and no action.
    pub false_positives: u32,
    /// Predictions acted on and not followed by an OOM.
    pub averted: u32,
    /// Predictions withdrawn because the growth behind them stopped on its own.
    pub withdrawn: u32,
    /// Predictions still pending.
    pub pending: u32,
    /// OOMs recorded.
    pub ooms: u32,
    /// OOMs with no pending prediction (missed).
    pub false_negatives: u32,
    /// tp / (tp + fp), `None` before any resolved prediction.
    pub precision: Option<f32>,
    /// tp / (tp + fn), `None` before any OOM.
    pub recall: Option<f32>,
    /// Median lead time of the last 64 true positives.
    pub median_lead_ms: Option<u64>,
}

/// One sample as the ring keeps it: only what the fits and the failure factor need.
#[derive(Clone, Copy, Debug)]
struct Entry {
    t_ms: u64,
    free: u64,
    /// Free + reclaimable pages.
    avail: u64,
    /// Pages usable at each order (saturated to u32; the allocator covers < 2^32 frames).
    usable: [u32; ORDERS],
    failures: u64,
    alloc_count: u64,
}

const EMPTY_ENTRY: Entry = Entry {
    t_ms: 0,
    free: 0,
    avail: 0,
    usable: [0; ORDERS],
    failures: 0,
    alloc_count: 0,
};

/// A trend over the long and the short window.
#[derive(Clone, Copy, Debug)]
struct Trend {
    long: LineFit,
    short: LineFit,
}

impl Trend {
    const EMPTY: Trend = Trend {
        long: LineFit::EMPTY,
        short: LineFit::EMPTY,
    };
}

/// What one trend says: time to reach its line and the factor value.
struct TrendView {
    tte_ms: Option<u64>,
    factor: f32,
    confidence: f32,
    slope_per_ms: f64,
}

/// What a floor trend says (computed once per second, when a floor point is added).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct FloorView {
    factor: f32,
    confidence: f32,
    tte_ms: Option<u64>,
}

/// The floor trends: once per second the lowest free and available pages of that second go
/// into a ring of [`FLOOR_SPAN_S`] seconds; their minimum (the rolling floor) is a floor
/// point, and lines are fitted to the last [`FLOOR_MEDIUM_S`] and [`FLOOR_LONG_S`] floor
/// points. A saw-tooth's floor is a clean line where the raw samples are not.
#[derive(Clone, Copy, Debug)]
struct Floor {
    /// The second being accumulated (relative time / 1000) and its minima (free, available).
    second: Option<u64>,
    second_min: (u64, u64),
    /// Per-second minima of the last seconds (free, available), a ring.
    recent: [(u64, u64); FLOOR_SPAN_S],
    recent_len: usize,
    recent_next: usize,
    /// Floor points (relative ms, free floor, available floor), oldest at `head`.
    points: [(u64, u64, u64); FLOOR_LONG_S],
    head: usize,
    len: usize,
    free_medium: LineFit,
    free_long: LineFit,
    avail_medium: LineFit,
    avail_long: LineFit,
    view: FloorView,
    /// Whether the available floor is no lower than [`FLOOR_SPAN_S`] seconds ago (within the
    /// calm tolerance): the growth under a fast allocate/free churn has stopped, where the
    /// 3 s slope keeps swinging with the churn.
    avail_flat: bool,
}

impl Floor {
    const EMPTY: Floor = Floor {
        second: None,
        second_min: (0, 0),
        recent: [(0, 0); FLOOR_SPAN_S],
        recent_len: 0,
        recent_next: 0,
        points: [(0, 0, 0); FLOOR_LONG_S],
        head: 0,
        len: 0,
        free_medium: LineFit::EMPTY,
        free_long: LineFit::EMPTY,
        avail_medium: LineFit::EMPTY,
        avail_long: LineFit::EMPTY,
        view: FloorView {
            factor: 0.0,
            confidence: 0.0,
            tte_ms: None,
        },
        avail_flat: false,
    };

    fn point(&self, age_from_oldest: usize) -> (u64, u64, u64) {
        self.points[(self.head + age_from_oldest) % FLOOR_LONG_S]
    }

    /// Adds the sample `(t, free, avail)`; closes a second when `t` enters a new one.
    fn observe(&mut self, t: u64, free: u64, avail: u64, total: u64) {
        let sec = t / 1000;
        match self.second {
            Some(current) if current == sec => {
                self.second_min = (self.second_min.0.min(free), self.second_min.1.min(avail));
                return;
            }
            Some(current) => self.close(current, total),
            None => {}
        }
        self.second = Some(sec);
        self.second_min = (free, avail);
    }

    fn close(&mut self, second: u64, total: u64) {
        self.recent[self.recent_next] = self.second_min;
        self.recent_next = (self.recent_next + 1) % FLOOR_SPAN_S;
        self.recent_len = (self.recent_len + 1).min(FLOOR_SPAN_S);
        if self.recent_len < FLOOR_SPAN_S {
            // A floor over less than its span would start high and seem to fall.
            return;
        }
        let free = self.recent.iter().map(|r| r.0).min().unwrap_or(0);
        let avail = self.recent.iter().map(|r| r.1).min().unwrap_or(0);
        let t = second * 1000;
        if self.len == FLOOR_LONG_S {
            let (ot, of, oa) = self.point(0);
            self.free_long.remove(ot, of);
            self.avail_long.remove(ot, oa);
            self.head = (self.head + 1) % FLOOR_LONG_S;
            self.len -= 1;
        }
        if self.len >= FLOOR_MEDIUM_S {
            let (ot, of, oa) = self.point(self.len - FLOOR_MEDIUM_S);
            self.free_medium.remove(ot, of);
            self.avail_medium.remove(ot, oa);
        }
        self.points[(self.head + self.len) % FLOOR_LONG_S] = (t, free, avail);
        self.len += 1;
        self.free_long.add(t, free);
        self.avail_long.add(t, avail);
        self.free_medium.add(t, free);
        self.avail_medium.add(t, avail);
        self.avail_flat = self.len > FLOOR_SPAN_S && {
            let (_, _, before) = self.point(self.len - 1 - FLOOR_SPAN_S);
            // The calm tolerance (0.03 % of RAM per second) over the span.
            avail.saturating_add(total * 3 * FLOOR_SPAN_S as u64 / 10_000) >= before
        };
        let wm = min_free_pages(total);
        let a = floor_view(
            &self.free_medium,
            &self.free_long,
            free.saturating_sub(wm),
            total,
        );
        let b = floor_view(
            &self.avail_medium,
            &self.avail_long,
            avail.saturating_sub(wm),
            total,
        );
        self.view = if b.factor > a.factor { b } else { a };
    }
}

/// The floor trend of one series over the medium and the long window: the larger factor.
/// Each window counts only when full (no alarm before the history means something); the
/// long window's rate is the slower of its own and the medium window's decline, so a floor
/// that stopped falling in the last 30 s does not extrapolate.
fn floor_view(medium: &LineFit, long: &LineFit, head: u64, total: u64) -> FloorView {
    let min_rate = (total.max(1) as f64) / 86_400_000.0;
    let mut best = FloorView::default();
    if medium.len() < FLOOR_MEDIUM_S {
        return best;
    }
    let (slope_m, r2_m) = medium.slope_and_r_squared();
    let Some(slope_m) = slope_m.filter(|s| *s < 0.0) else {
        return best;
    };
    let mut windows = [(FLOOR_MEDIUM_S, -slope_m, r2_m), (0, 0.0, 0.0)];
    if long.len() >= FLOOR_LONG_S {
        let (slope_l, r2_l) = long.slope_and_r_squared();
        if let Some(slope_l) = slope_l.filter(|s| *s < 0.0) {
            windows[1] = (FLOOR_LONG_S, (-slope_l).min(-slope_m), r2_l);
        }
    }
    for (seconds, rate, r2) in windows {
        if seconds == 0 || rate <= min_rate {
            continue;
        }
        let tte = (head as f64 / rate).min(u64::MAX as f64 / 2.0);
        let half = seconds as f64 * 1000.0 * FLOOR_HORIZON_PER_WINDOW;
        let x = tte / half;
        let confidence = (r2 * r2) as f32;
        let factor = (1.0 / (1.0 + x * x)) as f32 * confidence;
        if factor > best.factor {
            best = FloorView {
                factor,
                confidence,
                tte_ms: Some(tte as u64),
            };
        }
    }
    best
}

/// The crash predictor. Fixed size (no allocation after construction).
#[derive(Clone, Debug)]
pub struct CrashPredictor {
    config: PredictorConfig,
    ring: [Entry; WINDOW],
    /// Index of the oldest entry.
    head: usize,
    len: usize,
    /// Time of the first sample: fits use times relative to it (keeps sums small).
    epoch_ms: Option<u64>,
    free: Trend,
    /// Free + reclaimable pages (what a leak under a shrinking cache eats).
    avail: Trend,
    usable: Trend,
    /// Order the `usable` trend is built for.
    fit_order: usize,
    floor: Floor,
    /// Consecutive samples in which available memory was not falling (3 s slope).
    calm: u32,
    failure_times: [u64; FAILURES],
    failure_count: usize,
    last_failure: Option<(u64, u8)>,
    above: u32,
    pending: Option<usize>,
    records: [Option<PredictionRecord>; HISTORY],
    /// Slot the next record goes to.
    next_record: usize,
    next_seq: u32,
    leads: [u64; LEADS],
    lead_count: usize,
    counts: PredictorStats,
    last: Option<Assessment>,
}

impl CrashPredictor {
    /// A predictor with `config`; rejects a bad threshold.
    pub fn new(config: PredictorConfig) -> Result<CrashPredictor, ThresholdError> {
        check_threshold(config.threshold)?;
        Ok(CrashPredictor::build(config))
    }

    /// A predictor with the default configuration (whose threshold is valid).
    pub fn with_defaults() -> CrashPredictor {
        CrashPredictor::build(PredictorConfig::default())
    }

    fn build(config: PredictorConfig) -> CrashPredictor {
        CrashPredictor {
            config,
            ring: [EMPTY_ENTRY; WINDOW],
            head: 0,
            len: 0,
            epoch_ms: None,
            free: Trend::EMPTY,
            avail: Trend::EMPTY,
            usable: Trend::EMPTY,
            fit_order: 0,
            floor: Floor::EMPTY,
            calm: 0,
            failure_times: [0; FAILURES],
            failure_count: 0,
            last_failure: None,
            above: 0,
            pending: None,
            records: [None; HISTORY],
            next_record: 0,
            next_seq: 1,
            leads: [0; LEADS],
            lead_count: 0,
            counts: PredictorStats::default(),
            last: None,
        }
    }

    /// Forgets the sample window, the trends fitted on it and the recent failures, so the
    /// next assessments describe only what is observed from now on; prediction records,
    /// statistics and the threshold are kept. Until the window refills, the trend factors
    /// are computed from the fewer samples there are.
    pub fn restart_window(&mut self) {
        self.ring = [EMPTY_ENTRY; WINDOW];
        self.head = 0;
        self.len = 0;
        self.epoch_ms = None;
        self.free = Trend::EMPTY;
        self.avail = Trend::EMPTY;
        self.usable = Trend::EMPTY;
        self.fit_order = 0;
        self.floor = Floor::EMPTY;
        self.calm = 0;
        self.failure_times = [0; FAILURES];
        self.failure_count = 0;
        self.above = 0;
        self.last = None;
    }

    /// The configuration in use.
    pub fn config(&self) -> &PredictorConfig {
        &self.config
    }

    /// The prediction threshold.
    pub fn threshold(&self) -> f32 {
        self.config.threshold
    }

    /// Sets the prediction threshold (`crashctl tune`): must be finite, > 0 and ≤ 1. Takes
    /// effect at the next sample.
    pub fn set_threshold(&mut self, threshold: f32) -> Result<(), ThresholdError> {
        self.config.threshold = check_threshold(threshold)?;
        Ok(())
    }

    /// Number of samples in the ring.
    pub fn samples(&self) -> usize {
        self.len
    }

    /// The assessment of the latest sample.
    pub fn last(&self) -> Option<&Assessment> {
        self.last.as_ref()
    }

    fn rel(&self, t_ms: u64) -> u64 {
        t_ms.saturating_sub(self.epoch_ms.unwrap_or(t_ms))
    }

    fn entry(&self, age_from_oldest: usize) -> &Entry {
        &self.ring[(self.head + age_from_oldest) % WINDOW]
    }

    /// Rebuilds the usable-pages trend for `order` from the ring (when the watched order changes).
    fn rebuild_usable(&mut self, order: usize) {
        self.fit_order = order;
        self.usable = Trend::EMPTY;
        let short_start = self.len.saturating_sub(SHORT_WINDOW);
        for i in 0..self.len {
            let e = *self.entry(i);
            let (t, y) = (self.rel(e.t_ms), u64::from(e.usable[order]));
            self.usable.long.add(t, y);
            if i >= short_start {
                self.usable.short.add(t, y);
            }
        }
    }

    /// Feeds one sample (call at a fixed rate, 10 Hz) and returns the assessment. O(orders),
    /// no allocation. Samples must come in time order; a sample older than the previous one
    /// is treated as taken at the previous one's time.
    pub fn observe(&mut self, sample: &Sample) -> Assessment {
        let epoch = *self.epoch_ms.get_or_insert(sample.t_ms);
        let newest_t = if self.len > 0 {
            self.entry(self.len - 1).t_ms
        } else {
            epoch
        };
        let t_ms = sample.t_ms.max(newest_t);
        let order = usize::from(sample.watched_order).min(ORDERS - 1);
        let usable_all = sample.usable_by_order();
        let mut usable = [0u32; ORDERS];
        for (dst, src) in usable.iter_mut().zip(usable_all) {
            *dst = u32::try_from(src).unwrap_or(u32::MAX);
        }
        let entry = Entry {
            t_ms,
            free: sample.free_pages,
            avail: sample.free_pages.saturating_add(sample.reclaimable_pages),
            usable,
            failures: sample.failures,
            alloc_count: sample.alloc_count,
        };

        // Drop the oldest entry from the long fits when the ring is full.
        if self.len == WINDOW {
            let old = *self.entry(0);
            let t = self.rel(old.t_ms);
            self.free.long.remove(t, old.free);
            self.avail.long.remove(t, old.avail);
            self.usable
                .long
                .remove(t, u64::from(old.usable[self.fit_order]));
            self.head = (self.head + 1) % WINDOW;
            self.len -= 1;
        }
        // Drop the entry leaving the short window.
        if self.len >= SHORT_WINDOW {
            let old = *self.entry(self.len - SHORT_WINDOW);
            let t = self.rel(old.t_ms);
            self.free.short.remove(t, old.free);
            self.avail.short.remove(t, old.avail);
            self.usable
                .short
                .remove(t, u64::from(old.usable[self.fit_order]));
        }
        let slot = (self.head + self.len) % WINDOW;
        self.ring[slot] = entry;
        self.len += 1;
        let t_rel = self.rel(t_ms);
        self.free.long.add(t_rel, entry.free);
        self.free.short.add(t_rel, entry.free);
        self.avail.long.add(t_rel, entry.avail);
        self.avail.short.add(t_rel, entry.avail);
        self.floor
            .observe(t_rel, entry.free, entry.avail, sample.total_pages);
        // Available memory not falling faster than 0.03 % of RAM per second over the last
        // 3 s, or its floor not lower than 10 s ago (a fast churn swings the 3 s slope): calm.
        let tolerance = sample.total_pages as f64 * 0.0003 / 1000.0;
        if self.avail.short.slope().is_none_or(|s| s > -tolerance) || self.floor.avail_flat {
            self.calm = self.calm.saturating_add(1);
        } else {
            self.calm = 0;
        }
        if order == self.fit_order {
            let y = u64::from(entry.usable[order]);
            self.usable.long.add(t_rel, y);
            self.usable.short.add(t_rel, y);
        } else {
            self.rebuild_usable(order);
        }

        let assessment = self.assess(sample, t_ms, order);
        self.expire(t_ms);
        let assessment = self.decide(assessment, sample.total_pages);
        self.last = Some(assessment);
        assessment
    }

    fn trend_view(&self, trend: &Trend, head: u64, total: u64) -> TrendView {
        let full = f64::from(self.config.full_confidence_samples.max(1));
        let fill = (trend.long.len() as f64 / full).min(1.0);
        let (slope_long, r2) = trend.long.slope_and_r_squared();
        let slope_long = slope_long.unwrap_or(0.0);

        let confidence = (r2 * r2 * fill) as f32;
        // The slower of the two declines; no decline in either window means no trend.
        // (The short fit is only consulted when the long one declines.)
        let rate = if slope_long < 0.0 {
            match trend.short.slope() {
                Some(slope_short) if slope_short < 0.0 => (-slope_long).min(-slope_short),
                _ => 0.0,
            }
        } else {
            0.0
        };
        // Ignore declines too slow to matter within a day (also avoids dividing by ~0).
        let min_rate = (total.max(1) as f64) / 86_400_000.0;
        let tte_ms = if head == 0 {
            Some(0)
        } else if rate > min_rate {
            Some((head as f64 / rate).min(u64::MAX as f64 / 2.0) as u64)
        } else {
            None
        };
        let factor = match tte_ms {
            Some(0) if head == 0 => 1.0,
            Some(tte) => {
                let x = tte as f64 / self.config.half_risk_tte_ms.max(1) as f64;
                (1.0 / (1.0 + x * x)) as f32 * confidence
            }
            None => 0.0,
        };
        TrendView {
            tte_ms,
            factor,
            confidence: if head == 0 { 1.0 } else { confidence },
            slope_per_ms: slope_long,
        }
    }

    fn assess(&self, sample: &Sample, t_ms: u64, order: usize) -> Assessment {
        let total = sample.total_pages;
        let min_free = min_free_pages(total);
        let free_head = sample.free_pages.saturating_sub(min_free);
        let free_view = self.trend_view(&self.free, free_head, total);
        let avail_head = sample
            .free_pages
            .saturating_add(sample.reclaimable_pages)
            .saturating_sub(min_free);
        let avail_view = self.trend_view(&self.avail, avail_head, total);
        // Free or available memory, whichever trend is more urgent.
        let free_view = if avail_view.factor > free_view.factor {
            avail_view
        } else {
            free_view
        };
        let floor = self.floor.view;

        let (frag_view, frag_index) = if order > 0 {
            let usable_now = sample.usable_pages(order);
            let block = 1u64 << order;
            // Exhausted when fewer than one block's worth of usable pages is left.
            let head = (usable_now + 1).saturating_sub(block);
            (
                Some(self.trend_view(&self.usable, head, total)),
                sample.frag_index(order),
            )
        } else {
            (None, sample.frag_index(0))
        };

        let span = (total as f64 * DECLINE_SPAN).max(1.0);
        let decline = (1.0 - free_head as f64 / span).clamp(0.0, 1.0) as f32;

        let oldest = self.entry(0);
        let newest = self.entry(self.len.saturating_sub(1));
        let sampled_failures = newest.failures.saturating_sub(oldest.failures);
        let since = t_ms.saturating_sub(FAILURE_WINDOW_MS);
        let event_failures = self.failure_times[..self.failure_count.min(FAILURES)]
            .iter()
            .filter(|&&t| t >= since && t <= t_ms)
            .count() as u64;
        let failures = (sampled_failures.max(event_failures) as f32 / 2.0).min(1.0);

        let fragmentation = frag_view.as_ref().map_or(0.0, |v| v.factor);
        let factors = Factors {
            decline,
            trend: free_view.factor,
            fragmentation,
            failures,
            floor: floor.factor,
        };
        let risk = 1.0
            - (1.0 - factors.trend)
                * (1.0 - factors.floor)
                * (1.0 - factors.fragmentation)
                * (1.0 - DECLINE_WEIGHT * factors.decline)
                * (1.0 - factors.failures);
        let risk = if risk.is_finite() {
            risk.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Confidence of whichever factor dominates.
        let mut confidence = 1.0f32;
        let mut dominant = DECLINE_WEIGHT * factors.decline;
        if factors.failures > dominant {
            dominant = factors.failures;
        }
        if factors.trend > dominant {
            dominant = factors.trend;
            confidence = free_view.confidence;
        }
        if factors.floor > dominant {
            dominant = factors.floor;
            confidence = floor.confidence;
        }
        if let Some(v) = &frag_view
            && v.factor > dominant
        {
            confidence = v.confidence;
        }
        let frag_tte_ms = frag_view.as_ref().and_then(|v| v.tte_ms);
        let min_opt = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // The floor's estimate counts only when its factor does (a weak floor trend over
        // minutes says little about the next seconds).
        let floor_tte = floor.tte_ms.filter(|_| floor.factor >= free_view.factor);
        let tte_ms = min_opt(min_opt(free_view.tte_ms, frag_tte_ms), floor_tte);
        let span_ms = newest.t_ms.saturating_sub(oldest.t_ms);
        let alloc_rate_per_s = if span_ms > 0 {
            newest.alloc_count.saturating_sub(oldest.alloc_count) as f32 * 1000.0 / span_ms as f32
        } else {
            0.0
        };
        Assessment {
            t_ms,
            risk,
            confidence: confidence.clamp(0.0, 1.0),
            level: RiskLevel::from_risk(risk),
            tte_ms,
            free_tte_ms: free_view.tte_ms,
            frag_tte_ms,
            factors,
            watched_order: order as u8,
            frag_index,
            free_slope_per_s: (free_view.slope_per_ms * 1000.0) as f32,
            alloc_rate_per_s,
            predicts_crash: false,
            new_prediction: false,
            withdrawn: false,
            floor_tte_ms: floor.tte_ms,
            available_slope_per_s: (self.avail.long.slope().unwrap_or(0.0) * 1000.0) as f32,
        }
    }

    /// Applies the threshold and the sustain rule; opens a prediction record when needed.
    /// Whether memory is being used up now: free, available or usable pages fell by more than
    /// 0.03 % of RAM over the last second, or allocations failed recently. A new alarm is
    /// raised only while this holds (a burst that already stopped does not raise one).
    fn growing_now(&self, a: &Assessment, total: u64) -> bool {
        if a.factors.failures > 0.0 || a.factors.fragmentation >= 1.0 || a.factors.trend >= 1.0 {
            return true;
        }
        if self.len < 11 {
            return false;
        }
        let now = self.entry(self.len - 1);
        let before = self.entry(self.len - 11);
        let tolerance = total * 3 / 10_000;
        let fell = |old: u64, new: u64| old > new.saturating_add(tolerance);
        // Exhaustion now (no block of the watched order left, or free at the watermark) needs
        // no growth to be real.
        a.factors.failures > 0.0
            || a.factors.fragmentation >= 1.0
            || a.factors.trend >= 1.0
            || fell(before.free, now.free)
            || fell(before.avail, now.avail)
            || fell(
                u64::from(before.usable[self.fit_order]),
                u64::from(now.usable[self.fit_order]),
            )
    }

    fn decide(&mut self, mut a: Assessment, total: u64) -> Assessment {
        if a.risk >= self.config.threshold
            && (self.pending.is_some() || self.above > 0 || self.growing_now(&a, total))
        {
            self.above = self.above.saturating_add(1);
        } else {
            self.above = 0;
        }
        a.predicts_crash = self.above >= self.config.sustain_samples.max(1);
        // Hysteresis: the risk must fall to half the threshold (a saw-tooth's floor trend
        // hovering at the threshold keeps its alarm).
        if !a.predicts_crash
            && a.risk < self.config.threshold * WITHDRAW_RISK_SHARE
            && self.calm >= WITHDRAW_CALM_SAMPLES
            && let Some(slot) = self.pending
        {
            // The growth behind the alarm stopped. If the ladder killed for it, the kill is
            // what stopped it (averted); otherwise it stopped on its own (withdrawn).
            self.pending = None;
            if let Some(record) = self.records[slot].as_mut() {
                if record.killed {
                    record.outcome = Outcome::Averted;
                    self.counts.averted = self.counts.averted.saturating_add(1);
                } else {
                    record.outcome = Outcome::Withdrawn;
                    self.counts.withdrawn = self.counts.withdrawn.saturating_add(1);
                }
            }
            a.withdrawn = true;
        }
        if a.predicts_crash && self.pending.is_none() {
            let slot = self.next_record;
            let horizon_ms = a
                .tte_ms
                .map_or(0, |tte| tte.saturating_mul(HORIZON_PER_TTE))
                .clamp(
                    self.config.horizon_ms,
                    MAX_HORIZON_MS.max(self.config.horizon_ms),
                );
            self.records[slot] = Some(PredictionRecord {
                seq: self.next_seq,
                t_ms: a.t_ms,
                risk: a.risk,
                tte_ms: a.tte_ms,
                acted: false,
                killed: false,
                horizon_ms,
                outcome: Outcome::Pending,
            });
            self.next_seq = self.next_seq.wrapping_add(1);
            self.next_record = (slot + 1) % HISTORY;
            self.pending = Some(slot);
            self.counts.predictions = self.counts.predictions.saturating_add(1);
            a.new_prediction = true;
        }
        a
    }

    /// Resolves the pending prediction as a false positive (or averted) once its horizon has passed.
    fn expire(&mut self, now_ms: u64) {
        let Some(slot) = self.pending else { return };
        let Some(record) = self.records[slot].as_mut() else {
            self.pending = None;
            return;
        };
        if now_ms.saturating_sub(record.t_ms) > record.horizon_ms {
            if record.acted {
                record.outcome = Outcome::Averted;
                self.counts.averted = self.counts.averted.saturating_add(1);
            } else {
                record.outcome = Outcome::FalsePositive;
                self.counts.false_positives = self.counts.false_positives.saturating_add(1);
            }
            self.pending = None;
        }
    }

    /// Reports a failed workload allocation of `order` at `t_ms` (feeds the failure factor).
    pub fn on_failure(&mut self, t_ms: u64, order: usize) {
        self.last_failure = Some((t_ms, order.min(ORDERS - 1) as u8));
        self.failure_times[self.failure_count % FAILURES] = t_ms;
        self.failure_count = self.failure_count.wrapping_add(1);
        if self.failure_count >= 2 * FAILURES {
            // Keep the counter bounded while remembering that the ring is full.
            self.failure_count = FAILURES + self.failure_count % FAILURES;
        }
    }

    /// Reports an OOM kill at `t_ms`: resolves the pending prediction as a true positive
    /// (returning it) if it is within the horizon, otherwise counts a missed OOM.
    pub fn record_oom(&mut self, t_ms: u64) -> Option<PredictionRecord> {
        self.expire(t_ms);
        self.counts.ooms = self.counts.ooms.saturating_add(1);
        let Some(slot) = self.pending.take() else {
            self.counts.false_negatives = self.counts.false_negatives.saturating_add(1);
            return None;
        };
        let record = self.records[slot].as_mut()?;
        let lead_ms = t_ms.saturating_sub(record.t_ms);
        record.outcome = Outcome::TruePositive { lead_ms };
        self.counts.true_positives = self.counts.true_positives.saturating_add(1);
        self.leads[self.lead_count % LEADS] = lead_ms;
        self.lead_count = self.lead_count.saturating_add(1);
        Some(*record)
    }

    /// Reports that the response ladder acted at `t_ms`: the pending prediction, if any, is
    /// marked as acted on (if no OOM follows it resolves as [`Outcome::Averted`]).
    pub fn note_action(&mut self, _t_ms: u64) {
        if let Some(record) = self.pending.and_then(|slot| self.records[slot].as_mut()) {
            record.acted = true;
        }
    }

    /// Reports that the ladder killed an owner for the pending prediction at `t_ms`: if the
    /// alarm then clears, the kill stopped the growth ([`Outcome::Averted`], not withdrawn).
    pub fn note_kill(&mut self, t_ms: u64) {
        self.note_action(t_ms);
        if let Some(record) = self.pending.and_then(|slot| self.records[slot].as_mut()) {
            record.killed = true;
        }
    }

    /// Time and order of the latest failure reported through [`CrashPredictor::on_failure`].
    pub fn last_failure(&self) -> Option<(u64, u8)> {
        self.last_failure
    }

    /// The pending prediction, if any.
    pub fn pending(&self) -> Option<&PredictionRecord> {
        self.pending.and_then(|slot| self.records[slot].as_ref())
    }

    /// Prediction records, newest first (at most [`HISTORY`]).
    pub fn history(&self) -> impl Iterator<Item = &PredictionRecord> + '_ {
        (1..=HISTORY).filter_map(move |back| {
            self.records[(self.next_record + HISTORY - back) % HISTORY].as_ref()
        })
    }

    /// Running accuracy statistics.
    pub fn stats(&self) -> PredictorStats {
        let mut s = self.counts;
        s.pending = u32::from(self.pending.is_some());
        let resolved = s.true_positives + s.false_positives;
        s.precision = (resolved > 0).then(|| s.true_positives as f32 / resolved as f32);
        s.recall = (s.ooms > 0).then(|| s.true_positives as f32 / s.ooms as f32);
        let n = self.lead_count.min(LEADS);
        if n > 0 {
            let mut leads = self.leads;
            let leads = &mut leads[..n];
            leads.sort_unstable();
            s.median_lead_ms = Some(if n % 2 == 1 {
                leads[n / 2]
            } else {
                (leads[n / 2 - 1] + leads[n / 2]) / 2
            });
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOTAL: u64 = 65_536;

    /// A sample at `t_ms` with `free` pages, all in order-0 blocks except `big` order-`order`
    /// blocks (which count toward `free`).
    fn sample(t_ms: u64, free: u64, order: u8, big: u64) -> Sample {
        let mut blocks = [0u64; ORDERS];
        let big_pages = big << order;
        blocks[usize::from(order)] += big;
        blocks[0] += free.saturating_sub(big_pages);
        Sample {
            t_ms,
            total_pages: TOTAL,
            free_pages: free.max(big_pages),
            free_blocks_by_order: blocks,
            reclaimable_pages: 0,
            watched_order: order,
            alloc_count: t_ms,
            failures: 0,
        }
    }

    /// Feeds a linear leak from `start` free pages at `rate` pages/s; returns the first
    /// prediction time and the assessment then.
    fn feed_leak(
        p: &mut CrashPredictor,
        start: u64,
        rate: u64,
        until_ms: u64,
    ) -> Option<Assessment> {
        let mut t = 0;
        while t <= until_ms {
            let free = start.saturating_sub(rate * t / 1000);
            let a = p.observe(&sample(t, free, 0, 0));
            if a.new_prediction {
                return Some(a);
            }
            t += 100;
        }
        None
    }

    #[test]
    fn linear_leak_is_predicted_with_the_right_tte() {
        let mut p = CrashPredictor::with_defaults();
        // 40 000 free pages, 1000 pages/s: the watermark (1310) is reached at ~38.7 s.
        let exhaustion_ms = (40_000 - min_free_pages(TOTAL)) * 1000 / 1000;
        let a = feed_leak(&mut p, 40_000, 1000, 60_000).expect("leak predicted");
        let lead = exhaustion_ms - a.t_ms;
        assert!(lead >= 5_000, "lead {lead} ms");
        let tte = a.tte_ms.expect("tte");
        // The estimate matches the truth within 3 %.
        assert!(tte.abs_diff(lead) * 100 <= lead * 3, "tte {tte} vs {lead}");
        assert!((a.free_slope_per_s + 1000.0).abs() < 1.0);
        assert!(a.confidence > 0.95);
        assert!(a.level >= RiskLevel::Warning);
        assert!(a.factors.trend > a.factors.decline);
        assert_eq!(p.stats().predictions, 1);
    }

    #[test]
    fn stable_usage_is_not_predicted() {
        let mut p = CrashPredictor::with_defaults();
        // 10 % free with ±300 pages of deterministic noise, for two minutes.
        for i in 0..1200u64 {
            let noise = (i * 7919 % 601) as i64 - 300;
            let free = (6_500i64 + noise) as u64;
            let a = p.observe(&sample(i * 100, free, 0, 0));
            assert!(!a.predicts_crash, "predicted at {} ms: {a:?}", i * 100);
            assert!(a.risk < 0.5);
        }
        assert_eq!(p.stats().predictions, 0);
    }

    #[test]
    fn a_released_burst_is_not_a_crash() {
        let mut p = CrashPredictor::with_defaults();
        for i in 0..600u64 {
            // 12 % free; a 4 % burst from 20 s held for 2 s.
            let t = i * 100;
            let free = if (20_000..22_000).contains(&t) {
                5_200
            } else {
                7_800
            };
            let a = p.observe(&sample(t, free, 0, 0));
            assert!(!a.predicts_crash, "predicted at {t} ms: {a:?}");
        }
    }

    #[test]
    fn fragmentation_ramp_is_predicted() {
        let mut p = CrashPredictor::with_defaults();
        // 20 000 free pages throughout, but the order-4 blocks (16 pages each) go from 500 to
        // 0 over 40 s: free memory never shrinks, high-order memory does.
        let mut first = None;
        for i in 0..400u64 {
            let t = i * 100;
            let big = 500u64.saturating_sub(500 * t / 40_000);
            let a = p.observe(&sample(t, 20_000, 4, big));
            assert_eq!(a.factors.trend, 0.0);
            if a.new_prediction {
                first = Some(a);
                break;
            }
        }
        let a = first.expect("fragmentation predicted");
        assert!(a.t_ms <= 35_000, "predicted at {} ms", a.t_ms);
        assert!(a.frag_tte_ms.is_some());
        assert!(a.factors.fragmentation >= a.risk * 0.9);
        assert_eq!(a.watched_order, 4);
    }

    #[test]
    fn outcomes_resolve() {
        let mut p = CrashPredictor::with_defaults();
        let a = feed_leak(&mut p, 40_000, 1000, 60_000).unwrap();
        assert_eq!(p.pending().unwrap().outcome, Outcome::Pending);
        let r = p.record_oom(a.t_ms + 12_000).expect("true positive");
        assert_eq!(r.outcome, Outcome::TruePositive { lead_ms: 12_000 });
        // An OOM with nothing pending is a miss.
        assert_eq!(p.record_oom(a.t_ms + 13_000), None);
        let s = p.stats();
        assert_eq!((s.true_positives, s.false_negatives, s.ooms), (1, 1, 2));
        assert_eq!(s.recall, Some(0.5));
        assert_eq!(s.precision, Some(1.0));
        assert_eq!(s.median_lead_ms, Some(12_000));

        // A prediction whose horizon passes is a false positive, or averted if acted on.
        let mut p = CrashPredictor::with_defaults();
        let a = feed_leak(&mut p, 40_000, 1000, 60_000).unwrap();
        let stable = sample(a.t_ms + 61_000, 30_000, 0, 0);
        p.observe(&stable);
        assert_eq!(p.history().next().unwrap().outcome, Outcome::FalsePositive);
        assert_eq!(p.stats().precision, Some(0.0));

        let mut p = CrashPredictor::with_defaults();
        let a = feed_leak(&mut p, 40_000, 1000, 60_000).unwrap();
        p.note_action(a.t_ms + 100);
        p.observe(&sample(a.t_ms + 61_000, 30_000, 0, 0));
        let r = *p.history().next().unwrap();
        assert!(r.acted);
        assert_eq!(r.outcome, Outcome::Averted);
        assert_eq!(p.stats().averted, 1);
        assert_eq!(p.stats().precision, None);
    }

    #[test]
    fn threshold_changes_behaviour_and_bad_ones_are_rejected() {
        let mut low = CrashPredictor::with_defaults();
        low.set_threshold(0.2).unwrap();
        let mut high = CrashPredictor::with_defaults();
        high.set_threshold(0.95).unwrap();
        let a_low = feed_leak(&mut low, 40_000, 1000, 60_000).unwrap();
        let a_high = feed_leak(&mut high, 40_000, 1000, 60_000).unwrap();
        assert!(
            a_low.t_ms < a_high.t_ms,
            "{} vs {}",
            a_low.t_ms,
            a_high.t_ms
        );
        assert_eq!(high.threshold(), 0.95);

        let mut p = CrashPredictor::with_defaults();
        assert_eq!(p.set_threshold(f32::NAN), Err(ThresholdError::NotFinite));
        assert_eq!(
            p.set_threshold(f32::INFINITY),
            Err(ThresholdError::NotFinite)
        );
        assert_eq!(p.set_threshold(0.0), Err(ThresholdError::OutOfRange(0.0)));
        assert_eq!(p.set_threshold(1.5), Err(ThresholdError::OutOfRange(1.5)));
        assert_eq!(p.set_threshold(-0.1), Err(ThresholdError::OutOfRange(-0.1)));
        assert_eq!(p.threshold(), DEFAULT_THRESHOLD);
        assert!(p.set_threshold(1.0).is_ok());
        assert!(
            CrashPredictor::new(PredictorConfig {
                threshold: 2.0,
                ..PredictorConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn thresholds_from_a_percent_or_a_fraction() {
        assert_eq!(threshold_from_percent(20), Ok(0.20));
        assert_eq!(threshold_from_percent(1), Ok(0.01));
        assert_eq!(threshold_from_percent(99), Ok(0.99));
        assert_eq!(
            threshold_from_percent(0),
            Err(ThresholdError::PercentOutOfRange(0))
        );
        assert_eq!(
            threshold_from_percent(100),
            Err(ThresholdError::PercentOutOfRange(100))
        );
        assert_eq!(
            threshold_from_percent(u64::MAX),
            Err(ThresholdError::PercentOutOfRange(u64::MAX))
        );
        assert_eq!(threshold_from_fraction(0.55), Ok(0.55));
        assert_eq!(threshold_from_fraction(1.0), Ok(1.0));
        assert_eq!(threshold_from_fraction(0.5), Ok(0.5));
        assert_eq!(
            threshold_from_fraction(1.5),
            Err(ThresholdError::OutOfRange(1.5))
        );
        assert_eq!(
            threshold_from_fraction(0.0),
            Err(ThresholdError::OutOfRange(0.0))
        );
        // Just over 1 is refused even though it rounds to 1.0 as an f32.
        assert_eq!(
            threshold_from_fraction(1.000_000_001),
            Err(ThresholdError::OutOfRange(1.0))
        );
        // Just over 0 rounds to 0.0 as an f32, which is refused too.
        assert_eq!(
            threshold_from_fraction(1e-300),
            Err(ThresholdError::OutOfRange(0.0))
        );
        assert_eq!(
            threshold_from_fraction(f64::NAN),
            Err(ThresholdError::NotFinite)
        );
        assert!(
            ThresholdError::PercentOutOfRange(100)
                .to_string()
                .contains("1 to 99")
        );
        // Every accepted value is a valid predictor threshold.
        for percent in THRESHOLD_PERCENT_MIN..=THRESHOLD_PERCENT_MAX {
            let t = threshold_from_percent(u64::from(percent)).unwrap();
            assert_eq!(check_threshold(t), Ok(t));
        }
    }

    /// `crashctl tune TEXT` as the kernel reads it: the shell's number grammar picks the form,
    /// this crate the range. The cases of the text parser this replaced, with the grammar's
    /// stricter answers where they differ (`.5`, `-0.5`).
    #[test]
    fn tune_text_goes_through_the_shell_grammar() {
        fn tune(text: &str) -> Result<f32, String> {
            match shell::parse_arg::<shell::Number>("THRESHOLD", text).map_err(|e| e.to_string())? {
                shell::Number::Integer(percent) => threshold_from_percent(percent),
                shell::Number::Fraction(fraction) => threshold_from_fraction(fraction),
            }
            .map_err(|e| e.to_string())
        }
        assert_eq!(tune("20"), Ok(0.20));
        assert_eq!(tune("1"), Ok(0.01));
        assert_eq!(tune("99"), Ok(0.99));
        assert_eq!(tune("0.55"), Ok(0.55));
        assert_eq!(tune("1.0"), Ok(1.0));
        assert_eq!(tune("020"), Ok(0.20));
        for (text, needle) in [
            ("0", "threshold 0 % out of range"),
            ("100", "threshold 100 % out of range"),
            ("1.5", "threshold 1.5 out of range"),
            ("0.0", "threshold 0 out of range"),
            ("99999999999999999999999", "out of range"),
        ] {
            let error = tune(text).unwrap_err();
            assert!(error.contains(needle), "{text:?}: {error}");
        }
        for bad in [
            "0x10", "+5", "+20", "-5", "-0.5", ".5", "5.", "nan", "NaN", "nan.", "inf", "-inf",
            "high", "1e-1", " 20", "0.5x", "",
        ] {
            assert_eq!(
                tune(bad),
                Err(format!(
                    "THRESHOLD: expected a number (decimal digits, at most one point: 20, 0.55), got '{}'",
                    bad.escape_debug()
                )),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn failures_raise_risk_and_history_is_bounded() {
        let mut p = CrashPredictor::with_defaults();
        for i in 0..20u64 {
            p.observe(&sample(i * 100, 30_000, 0, 0));
        }
        p.on_failure(2_000, 3);
        p.on_failure(2_050, 3);
        let a = p.observe(&sample(2_100, 30_000, 0, 0));
        assert_eq!(a.factors.failures, 1.0);
        assert_eq!(a.level, RiskLevel::Critical);
        assert_eq!(p.last_failure(), Some((2_050, 3)));
        // Failures older than 10 s no longer count.
        let a = p.observe(&sample(12_100, 30_000, 0, 0));
        assert_eq!(a.factors.failures, 0.0);

        let mut p = CrashPredictor::with_defaults();
        let mut t = 0;
        for _ in 0..(HISTORY + 5) {
            while !p.observe(&sample(t, 0, 0, 0)).new_prediction {
                t += 100;
            }
            p.record_oom(t);
            t += 100;
        }
        assert_eq!(p.history().count(), HISTORY);
        assert_eq!(p.history().next().unwrap().seq, (HISTORY + 5) as u32);
    }

    #[test]
    fn out_of_order_and_huge_inputs_do_not_panic() {
        let mut p = CrashPredictor::with_defaults();
        p.observe(&sample(u64::MAX - 10, u64::MAX / 2, 10, 0));
        p.observe(&sample(5, 0, 0, 0));
        let mut s = sample(u64::MAX, 1, 0, 0);
        s.total_pages = 0;
        s.watched_order = 200;
        let a = p.observe(&s);
        assert!(a.risk.is_finite() && (0.0..=1.0).contains(&a.risk));
        assert!(usize::from(a.watched_order) < ORDERS);
    }

    use proptest::prelude::*;

    proptest! {
        /// Any stream of samples, failures and OOMs keeps the predictor's outputs in range
        /// and its bookkeeping consistent.
        #[test]
        fn arbitrary_streams_stay_in_range(
            steps in proptest::collection::vec(
                (0u64..5_000, 0u64..100_000, 0u64..2_000, 0u8..12, 0u8..20),
                1..400,
            ),
            threshold in 0.01f32..=1.0,
        ) {
            let mut p = CrashPredictor::with_defaults();
            p.set_threshold(threshold).unwrap();
            let mut t = 0u64;
            for (dt, free, big, order, event) in steps {
                t += dt;
                let a = p.observe(&sample(t, free, order.min(10), big));
                prop_assert!((0.0..=1.0).contains(&a.risk));
                prop_assert!((0.0..=1.0).contains(&a.confidence));
                prop_assert_eq!(a.level, RiskLevel::from_risk(a.risk));
                prop_assert!(!a.predicts_crash || a.risk >= threshold);
                match event {
                    0 => p.on_failure(t, usize::from(order)),
                    1 => { p.record_oom(t); }
                    2 => p.note_action(t),
                    _ => {}
                }
            }
            let s = p.stats();
            prop_assert_eq!(
                s.predictions,
                s.true_positives + s.false_positives + s.averted + s.withdrawn + s.pending
            );
            prop_assert_eq!(s.ooms, s.true_positives + s.false_negatives);
            prop_assert!(p.history().count() <= HISTORY);
        }
    }
}

//! Predictive OOM handling for Nous (issue 3): everything that is pure logic, shared by the
//! kernel (`kernel/src/oom`) and the host simulator, so both obey the same definitions.
//!
//! Design principles:
//! - One definition of every rule: the watermark, the scenario scripts (and which blocks a
//!   `Free` step releases), the predictor, the baselines, the response ladder, the supervision
//!   loop around them and the `eval …` line format live here and nowhere else.
//! - Fixed memory, no allocation on the sampling path: [`CrashPredictor::observe`] updates
//!   running sums over a fixed 100-sample ring in O(orders) time, so it fits in a timer tick.
//! - Exact arithmetic where it is cheap: regression sums are kept as integers, so removing
//!   old samples never drifts; floating point appears only in the final slope and risk.
//! - Deterministic: scenarios are pure functions of `(kind, seed, total_pages)` and the
//!   predictor is a pure function of its input stream, so a run replays bit for bit.
//! - Bad input is an error value, never a panic (thresholds, owner ids, eval lines).
//!
//! Modules: [`watermark`] (the allocator's last fallback), [`sample`] (what the predictor
//! sees), `fit` (windowed least squares), [`predictor`] (the crash predictor), [`baseline`]
//! (earlyoom- and PSI-style rules), [`cost`] (the update-time histogram), [`growth`] (per-owner growth slopes), [`ladder`] (the
//! response ladder), [`supervisor`] (the loop that drives all of them, shared by the kernel's
//! sampler and the simulator), [`scenario`] (workload scripts) and [`eval`] (the evaluation
//! line format and its summary).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod baseline;
pub mod cost;
pub mod eval;
mod fit;
pub mod growth;
pub mod ladder;
pub mod predictor;
pub mod sample;
pub mod scenario;
pub mod supervisor;
pub mod watermark;

pub use baseline::{EarlyOom, Psi};
pub use growth::{GrowthTracker, OwnerId};
pub use ladder::{Action, ResponseLadder};
pub use predictor::{
    Assessment, CrashPredictor, Factors, Outcome, PredictionRecord, PredictorConfig,
    PredictorStats, RiskLevel, ThresholdError,
};
pub use sample::Sample;
pub use scenario::{FreePattern, FreePositions, Role, Scenario, ScenarioKind, Step};
pub use supervisor::{Holding, Observation, OomKill, RunRecord, Supervisor, SupervisorConfig};

/// Most pages one `memctl reclaim PAGES` asks the shrinkers for (4 GiB of 4 KiB pages, more
/// than any machine Nous runs on). The kernel command refuses more and the language model's
/// catalogue (`oslang`) takes its range from here, so the two cannot disagree.
pub const RECLAIM_PAGES_MAX: u32 = 1 << 20;

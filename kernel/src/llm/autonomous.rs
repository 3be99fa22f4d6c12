//! The autonomous mode: with `llmctl auto-execute on`, a kernel thread watches the crash
//! predictor (`nous_oom_risk_level`, every [`PERIOD_MS`]); when it reaches WARNING or above it
//! asks the model what to do — the live state with the standing query [`STANDING_QUERY`], no
//! user words — and runs an allowlisted answer through the shell registry, at most once per
//! [`COOLDOWN_MS`]. Every attempt goes into the action log (`llmctl log`, origin `auto`).
//!
//! The standing query is a training phrasing of the "stabilise" request, whose expert answer
//! depends on the state (`oslang::task`: at high or critical risk, `memctl reclaim; crashctl
//! status` when free memory is ≤ 20 %, `memctl compact; crashctl status` when fragmentation
//! is ≥ 60, else `crashctl status`): the model was trained only on prompts with a query, so the
//! state alone would be out of its distribution. Each time, the expert policy's answer for the
//! same state and request is computed too: answers that differ are counted
//! (`nous_llm_auto_disagreements_total`), and `llmctl auto-execute expert` runs the expert's
//! answer instead (origin `exprt` in the log) — the baseline of the closed-loop evaluation.

use alloc::string::String;
use core::sync::atomic::{AtomicBool, Ordering};

use metrics::Counter;
use oslang::state_json::StateObject;
use oslang::task::{Need, expert_answer};

use hal::task::{self, SpawnOptions};
use sched::Priority;

use super::{infer, model};
use crate::ctx::Subsystem;

/// How often the predictor's level is read.
pub const PERIOD_MS: u64 = 500;
/// Least time between two autonomous actions.
pub const COOLDOWN_MS: u64 = 5_000;
/// The predictor level (2 = WARNING) from which the model is asked.
pub const TRIGGER_LEVEL: i64 = 2;
/// The query the autonomous mode asks with.
pub const STANDING_QUERY: &str = "stabilise the system";

static STARTED: AtomicBool = AtomicBool::new(false);
/// Whether the autonomous mode runs the expert policy instead of the model (`llmctl
/// auto-execute expert`: the baseline of the closed-loop evaluation).
static EXPERT: AtomicBool = AtomicBool::new(false);

pub static M_AUTO_ACTIONS: Counter = Counter::new(
    "nous_llm_auto_actions_total",
    "Autonomous-mode answers acted on (model or expert policy).",
);
pub static M_AUTO_DISAGREE: Counter = Counter::new(
    "nous_llm_auto_disagreements_total",
    "Autonomous-mode answers of the model that differ from the expert policy's on the same state.",
);
/// The subsystem table, handed over by `llmctl auto-execute on` (this module cannot name
/// `main`'s table): the registry the answers run through.
static SUBSYSTEMS: spin::Mutex<Option<&'static [&'static Subsystem]>> = spin::Mutex::new(None);

/// Turns execution on or off (with `expert`, the autonomous mode runs the expert policy's
/// answer instead of the model's); `subsystems` is the table commands run against.
pub fn set(on: bool, expert: bool, subsystems: &'static [&'static Subsystem]) {
    if on {
        *SUBSYSTEMS.lock() = Some(subsystems);
    }
    EXPERT.store(on && expert, Ordering::SeqCst);
    infer::AUTO_EXECUTE.store(on, Ordering::SeqCst);
}

/// Starts the watcher thread (once).
pub fn start() -> Result<(), task::TaskError> {
    if STARTED.swap(true, Ordering::SeqCst) {
        return Ok(());
    }
    task::spawn_with(
        "llm-auto",
        SpawnOptions {
            priority: Priority::Normal,
            detached: true,
            ..SpawnOptions::default()
        },
        || {
            let mut last_action_ms: Option<u64> = None;
            loop {
                task::sleep_ns(PERIOD_MS * 1_000_000);
                if let Some(at) = tick(last_action_ms) {
                    last_action_ms = Some(at);
                }
            }
        },
    )
    .map(|_| ())
}

/// One check; returns the time of an action taken.
fn tick(last_action_ms: Option<u64>) -> Option<u64> {
    if !infer::AUTO_EXECUTE.load(Ordering::SeqCst) {
        return None;
    }
    let now_ms = hal::time::now_ns() / 1_000_000;
    if last_action_ms.is_some_and(|t| now_ms.saturating_sub(t) < COOLDOWN_MS) {
        return None;
    }
    if super::state::risk_level_raw().unwrap_or(0) < TRIGGER_LEVEL {
        return None;
    }
    let subsystems = (*SUBSYSTEMS.lock())?;
    let state = super::state::snapshot();
    let expert =
        expert_answer(&StateObject::from_os_state(&state, ""), &[Need::Stabilise]).to_text();
    let (command, origin) = if EXPERT.load(Ordering::SeqCst) {
        (expert, "exprt")
    } else {
        let loaded = model::get()?;
        let inference = infer::infer_on(&loaded, state, STANDING_QUERY).ok()?;
        if inference.prediction.text != expert {
            M_AUTO_DISAGREE.inc();
        }
        (inference.prediction.text, "auto")
    };
    M_AUTO_ACTIONS.inc();
    let mut output = String::new();
    infer::execute_answer(subsystems, &command, origin, &mut output);
    Some(now_ms)
}

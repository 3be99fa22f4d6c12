//! The language model inside the kernel: the model loaded from the data disk (`model`), the
//! live OS state it is shown (`state`), inference and the execution allowlist (`infer`), the
//! autonomous mode that asks the model what to do when the crash predictor warns
//! (`autonomous`), and the `llmctl` commands (`commands`).
//!
//! The task logic — prompt tokens, constrained greedy decoding with phase timings, the
//! allowlist (the `oslang` catalogue) — is the `llmtask` crate, which `tools/nous-llm` uses
//! too, so the kernel and the host run the same code on the same prompts.
//!
//! Other subsystems are reached only through the shared modules: the disk through
//! `crate::files`, the crash predictor's level and the block-device counters through the
//! metrics registry (`crate::kmetrics`), and command execution through the shell registry
//! built from the subsystem table (`crate::ctx::command_registry`).
//!
//! Imports inside this folder go downwards: `model` and `state` at the bottom, `adapters`
//! and `infer` on `model`, `finetune` on `adapters`, `autonomous` on `infer`, `commands` on
//! all.

pub mod adapters;
mod autonomous;
mod commands;
pub mod finetune;
pub mod infer;
pub mod model;
pub mod state;

use metrics::{Metric, MetricKind, MetricsRegistry, Value};
use shell::CommandRegistry;

use crate::ctx::{KernelCtx, Subsystem};
use crate::kmetrics::Computed;

/// The table entry.
pub const SUBSYSTEM: Subsystem = Subsystem {
    name: "llm",
    start: |_| start(),
    commands: register,
    metrics: register_metrics,
    stop: Subsystem::no_stop,
};

fn register(registry: &mut CommandRegistry<KernelCtx>) {
    // A literal name; a refusal would only lose the group, which the llm e2e tests catch.
    let _ = registry.register_group("llmctl", "in-kernel language model", &commands::LLMCTL);
}

fn register_metrics(r: &mut MetricsRegistry) {
    // Distinct names; a refusal only drops the series (the ktest counts them).
    let _ = r.register_all(&infer::METRICS);
    let _ = r.register_all(&FINETUNE_METRICS);
}

static M_ADAPTER: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_llm_adapter_active",
    "1 when a LoRA adapter is merged into the model in use.",
    &[],
    || Value::Unsigned(u64::from(model::get().is_some_and(|m| m.adapter.is_some()))),
);

/// The autonomous-mode, fine-tune and adapter series.
pub static FINETUNE_METRICS: [&dyn Metric; 6] = [
    &autonomous::M_AUTO_ACTIONS,
    &autonomous::M_AUTO_DISAGREE,
    &finetune::M_STEPS,
    &finetune::M_LOSS,
    &finetune::M_PROGRESS,
    &M_ADAPTER,
];

/// The boot line: the model loaded, or why not (the kernel works on without it), and the
/// active adapter reloaded (or why not: the base model is used then).
fn load_at_boot() -> alloc::string::String {
    match model::load() {
        Ok(line) => match adapters::reload_active() {
            Ok(Some(name)) => alloc::format!("{line}\nllm: adapter {name} active"),
            Ok(None) => line,
            Err(e) => {
                alloc::format!("{line}\nllm: active adapter not loaded, using the base model: {e}")
            }
        },
        Err(e) => {
            alloc::format!("llm: no model: {e} (llmctl status; llmctl reload after fixing it)")
        }
    }
}

/// Loads the model at boot (storage, earlier in the table, has mounted the disk) and starts
/// the autonomous-mode thread. Loading at boot rather than on first use: the load is a few
/// seconds under TCG that would otherwise land on the first `llmctl infer` — or on the first
/// autonomous action, when the machine is already short of memory — and a missing or corrupt
/// model is reported at boot. The line says what happened either way.
fn start() -> Option<alloc::string::String> {
    let line = load_at_boot();
    if let Err(e) = autonomous::start() {
        return Some(alloc::format!(
            "{line}\nllm: autonomous mode unavailable: {e}"
        ));
    }
    Some(line)
}

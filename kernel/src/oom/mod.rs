//! Predictive OOM handling in the running kernel: the movable-memory pool and its compaction,
//! the stress workloads, the 10 Hz sampler that drives the `oom` crate's `Supervisor` (the
//! predictor, both baselines, the growth tracker and the response ladder — the same loop the
//! host simulator `tools/oom-sim` drives), and the `crashctl`/`memctl` commands.
//!
//! Modules, bottom up (imports only go downwards; `xtask`'s module-graph test checks it):
//! `state` (the supervisor behind its lock, the failure/request event atomics), `pool`
//! (workload memory behind relocatable handles, content-checked), `compact` (the compaction
//! executor over `buddy::compaction`), `workload` (scenario actors as kernel threads, the
//! OOM-kill rule), `eval` (`crashctl eval`), `monitor` (the sampler thread: samples, asks the
//! supervisor, performs its actions), `commands` (the shell side), `ktests` (in-kernel tests).
//! Reclaim goes through the shared `crate::reclaim` registry (storage's block cache is there
//! too). The rules themselves — watermark, scenarios, predictor, ladder, the eval line format —
//! live in the `oom` crate.
//!
//! Locks: the run table (`workload`), the supervisor (`state`) and the pool are never held
//! together; the only nesting is pool → frame allocator (a migration claims its destination
//! and frees its source under the pool lock). The failure hook touches atomics only. No lock
//! is held while printing.

mod commands;
pub mod compact;
pub mod eval;
#[cfg(feature = "ktest")]
pub mod ktests;
pub mod monitor;
pub mod pool;
pub mod state;
pub mod workload;

use alloc::format;
use alloc::string::String;

use metrics::MetricsRegistry;
use shell::CommandRegistry;

use crate::ctx::{KernelCtx, Subsystem};
use crate::reclaim;

/// The table entry.
pub const SUBSYSTEM: Subsystem = Subsystem {
    name: "oom",
    start: |_| start(),
    commands: register,
    metrics: register_metrics,
    stop: Subsystem::no_stop,
};

/// Adds this subsystem's commands: the `crashctl` group, and `memctl compact|reclaim|stress`
/// to the foundation's `memctl` group.
fn register(registry: &mut CommandRegistry<KernelCtx>) {
    // Distinct literal names; a refusal would only lose the group, which the e2e tests of
    // crashctl and memctl would catch.
    let _ = registry.register_group("crashctl", "OOM crash predictor", &commands::CRASHCTL);
    let _ = registry.extend_group("memctl", &commands::MEMCTL);
}

fn register_metrics(r: &mut MetricsRegistry) {
    // Distinct names; a refusal only drops the series (the ktest counts them).
    let _ = r.register_all(&monitor::METRICS);
}

/// The workload cache actor's shrinker.
const CACHE_SHRINKER: reclaim::Shrinker = reclaim::Shrinker {
    name: "workload-cache",
    count: workload::cache_pages,
    scan: workload::shrink_cache,
};

/// Starts this subsystem's kernel threads (once, before the shell starts). Failures are
/// reported in the returned boot line; the shell still starts, and the commands say what is
/// missing.
pub fn start() -> Option<String> {
    let mut problems = String::new();
    if let Err(e) = pool::init() {
        problems.push_str(&format!("oom: movable pool unavailable: {e}\n"));
    }
    if let Err(e) = compact::init() {
        problems.push_str(&format!("oom: compaction unavailable: {e}\n"));
    }
    if reclaim::register(CACHE_SHRINKER).is_err() {
        problems.push_str("oom: reclaim registry full\n");
    }
    if let Err(e) = monitor::start() {
        problems.push_str(&format!("oom: sampler not started: {e}\n"));
    }
    let problems = problems.trim_end();
    (!problems.is_empty()).then(|| String::from(problems))
}

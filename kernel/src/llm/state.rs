//! The live OS state the model is shown, filled in one place ([`snapshot`]) from the kernel's
//! real sources: the frame allocator's totals and fragmentation (what `meminfo` prints), the
//! crash predictor's level and confidence (`nous_oom_risk_level`, `nous_oom_confidence`:
//! what `crashctl status` prints), the scheduler's policy, runnable count and context
//! switches (`schedctl stats`), the block device's request counters
//! (`nous_block_device_requests_total`) and the busiest threads (`ps`: CPU time over the
//! thread's age). Values of other subsystems come through the metrics registry, so this
//! module imports none of them.
//!
//! Memory growth per thread is not tracked by the kernel (the OOM supervisor tracks pool
//! owners, not threads), so `top_growth` is empty and the prompt says `grow:-`.

use alloc::string::String;
use alloc::vec::Vec;

use buddy::PAGE_SIZE;
use metrics::Value;
use oslang::state::{IoStats, OsState, RiskLevel, SchedPolicy, SchedStats, ThreadCpu};

/// The first series named `name` with the label `label` (if given), as an integer.
fn metric_i64(name: &str, label: Option<(&str, &str)>) -> Option<i64> {
    let m = crate::kmetrics::registry().family(name).find(|m| {
        label.is_none_or(|(k, v)| {
            m.descriptor()
                .labels
                .iter()
                .any(|l| l.name == k && l.value == v)
        })
    })?;
    match m.value() {
        Value::Unsigned(u) => i64::try_from(u).ok(),
        Value::Signed(s) => Some(s),
        Value::Float(f) if f.is_finite() => Some(f as i64),
        Value::Float(_) => None,
    }
}

fn metric_f64(name: &str) -> Option<f64> {
    let m = crate::kmetrics::registry().family(name).next()?;
    match m.value() {
        Value::Unsigned(u) => Some(u as f64),
        Value::Signed(s) => Some(s as f64),
        Value::Float(f) => f.is_finite().then_some(f),
    }
}

/// The crash predictor's level (0 NORMAL … 3 CRITICAL) as the prompt's risk level; `None`
/// when the OOM subsystem exports no level.
pub fn risk_level_raw() -> Option<i64> {
    metric_i64("nous_oom_risk_level", None)
}

/// Maps the predictor's four levels onto the prompt's four.
pub fn risk_level(raw: i64) -> RiskLevel {
    match raw {
        i64::MIN..=0 => RiskLevel::Low,
        1 => RiskLevel::Medium,
        2 => RiskLevel::High,
        _ => RiskLevel::Critical,
    }
}

/// Fragmentation as the prompt's 0–100 index: the unusable free space index (permille) for
/// an order-3 request (32 KiB), the order the crash predictor watches by default.
pub const FRAG_ORDER: usize = 3;

/// The state now.
pub fn snapshot() -> OsState {
    let frames = hal::mem::frames::stats();
    let kib = |pages: u64| pages * PAGE_SIZE / 1024;
    let frag_permille = frames
        .unusable_free_space_index()
        .get(FRAG_ORDER)
        .copied()
        .unwrap_or(0);
    let sched = hal::task::with_scheduler(|s| s.stats());
    let policy = match &sched {
        Some(s) if s.policy.contains("transformer") => SchedPolicy::Transformer,
        _ => SchedPolicy::RoundRobin,
    };
    let confidence = metric_f64("nous_oom_confidence").unwrap_or(0.0);
    let reads = metric_i64("nous_block_device_requests_total", Some(("op", "read")));
    let writes = metric_i64("nous_block_device_requests_total", Some(("op", "write")));
    OsState {
        mem_total_kib: kib(frames.total_pages),
        mem_free_kib: kib(frames.free_pages),
        frag_index: u8::try_from(frag_permille / 10).unwrap_or(100).min(100),
        crash_risk: risk_level(risk_level_raw().unwrap_or(0)),
        crash_confidence: (confidence.clamp(0.0, 1.0) * 100.0) as u8,
        sched: SchedStats {
            policy,
            runnable: sched
                .as_ref()
                .map_or(0, |s| u32::try_from(s.runnable).unwrap_or(u32::MAX)),
            context_switches: sched.as_ref().map_or(0, |s| s.switches),
        },
        io: IoStats {
            // -1 (storage busy or not mounted) and absent both read as 0.
            reads: reads.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            writes: writes.and_then(|v| u64::try_from(v).ok()).unwrap_or(0),
            pending: 0,
        },
        top_cpu: busiest_threads(2),
        top_growth: Vec::new(),
    }
}

/// The `n` live threads with the largest share of CPU time over their lifetime (idle and
/// exited threads excluded), busiest first.
fn busiest_threads(n: usize) -> Vec<ThreadCpu> {
    let now = hal::time::now_ns();
    let mut threads: Vec<(u64, String)> = hal::task::threads()
        .into_iter()
        .filter(|t| t.name != "idle" && !matches!(t.state, sched::ThreadState::Exited { .. }))
        .map(|t| {
            let age = now.saturating_sub(t.accounting.created_ns).max(1);
            let pct = (u128::from(t.accounting.cpu_ns) * 100 / u128::from(age)).min(100) as u64;
            (pct, t.name)
        })
        .collect();
    threads.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    threads
        .into_iter()
        .take(n)
        .map(|(pct, name)| ThreadCpu {
            name,
            cpu_pct: pct as u8,
        })
        .collect()
}

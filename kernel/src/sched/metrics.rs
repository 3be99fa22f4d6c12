//! The `nous_sched_*` policy metrics, computed at export time from the installed policy's
//! counters (`SchedPolicy::counters`), so the dashboard shows the learned policy's training and
//! decision latency beside the baseline's.

use metrics::{Metric, MetricKind, MetricsRegistry, Value};

use crate::kmetrics::Computed;

fn counters() -> sched::PolicyCounters {
    hal::task::with_scheduler(|s| s.policy_counters()).unwrap_or_default()
}

static LEARNED_ACTIVE: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_sched_learned_active",
    "1 while the learned scheduling policy runs, 0 under the baseline.",
    &[],
    || Value::Signed(i64::from(super::policy::learned_active())),
);
static TRAINING_STEPS: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_sched_training_steps",
    "Online training steps of the running policy (0 for a policy that does not learn).",
    &[],
    || Value::Unsigned(counters().training_steps),
);
static TRAINING_LOSS: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_sched_training_loss",
    "Recent training loss of the running policy (squared error of log-scaled bursts).",
    &[],
    || Value::Float(counters().recent_loss),
);
static GUARD: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_sched_starvation_interventions",
    "Picks forced by the running policy's starvation guard.",
    &[],
    || Value::Unsigned(counters().guard_interventions),
);
static PICK_P50: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_sched_decision_latency_p50_seconds",
    "Median policy decision (pick) latency of the running policy in seconds, TSC-timed.",
    &[],
    || Value::Float(counters().pick_p50_ns as f64 / 1e9),
);
static PICK_P99: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_sched_decision_latency_p99_seconds",
    "99th-percentile policy decision (pick) latency of the running policy in seconds, TSC-timed.",
    &[],
    || Value::Float(counters().pick_p99_ns as f64 / 1e9),
);

/// The series this subsystem exports.
pub static METRICS: [&dyn Metric; 6] = [
    &LEARNED_ACTIVE,
    &TRAINING_STEPS,
    &TRAINING_LOSS,
    &GUARD,
    &PICK_P50,
    &PICK_P99,
];

pub fn register(r: &mut MetricsRegistry) {
    // Distinct names and labels; a refusal only drops the series (the ktest counts them).
    let _ = r.register_all(&METRICS);
}

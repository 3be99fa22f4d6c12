//! The learned-scheduler subsystem: the live policy swap (`schedctl transformer on|off`), the
//! in-kernel evaluation (`schedctl eval`, `schedctl workload`) and the `nous_sched_*` policy
//! metrics. The policies themselves are the `sched` crate's (`sched::learned`,
//! `sched::baselines`); `schedctl stats` stays in the foundation and prints the installed
//! policy's own report (training steps, loss, guard interventions, decision latency).
//!
//! Modules: `policy` (the swap and the stash that keeps learned weights while off),
//! `eval` (the workload scripts of `sched::eval` on real kernel threads), `commands`,
//! `metrics`.

mod commands;
pub mod eval;
pub mod metrics;
pub mod policy;

use crate::ctx::Subsystem;

/// The table entry.
pub const SUBSYSTEM: Subsystem = Subsystem {
    name: "sched",
    start: |_| policy::start(),
    commands: commands::register,
    metrics: metrics::register,
    stop: Subsystem::no_stop,
};

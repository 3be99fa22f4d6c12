//! The scheduling policy trait: every decision of [`crate::Scheduler`] goes through it.
//!
//! The scheduler owns thread states and accounting; a policy owns only the *order* of runnable
//! threads. The contract is a hand-off protocol, which lets the scheduler check the policy (see
//! "Trust" below) and lets a learned policy replace the baseline [`crate::RoundRobinPolicy`] at run
//! time ([`crate::Scheduler::set_policy`]) without the context-switch code noticing:
//!
//! - The policy *holds* exactly the runnable threads, the idle thread excepted. A thread enters
//!   through [`SchedPolicy::on_runnable`] (spawned, woken, or descheduled while still runnable)
//!   and leaves through [`SchedPolicy::pick_next`] (the policy returns it and forgets it) or
//!   [`SchedPolicy::on_removed`] (the scheduler takes it away without a pick).
//! - The running thread is not held. When its slice ends the scheduler reports the slice through
//!   [`SchedPolicy::on_descheduled`] (the hook a learned policy trains on) and then, if it is
//!   still runnable, hands it back with `on_runnable`.
//! - All calls happen with interrupts disabled in the kernel: keep them short and never block.
//!
//! Trust: the scheduler does not rely on a policy being correct. A pick that is not a runnable
//! thread, or `None` while threads are runnable, is replaced by the longest-waiting runnable
//! thread and counted in [`crate::SchedStats::policy_faults`]; the idle thread runs only when
//! nothing else can.

use crate::ids::ThreadId;
use crate::thread::{ThreadTableView, ThreadView};

/// A scheduling policy: decides which runnable thread runs next and for how long.
///
/// Object-safe so the kernel can hold `Box<dyn SchedPolicy>` and swap it at run time; `Send` so a
/// policy can be built on one thread and installed from another.
pub trait SchedPolicy: Send {
    /// Short human-readable name, shown by `schedctl stats`.
    fn name(&self) -> &str;

    /// `thread` became runnable (spawned, woken, or descheduled and still runnable) and is now
    /// held by the policy until picked or removed. Called once per such transition.
    fn on_runnable(&mut self, thread: &ThreadView<'_>, now_ns: u64);

    /// The scheduler took `tid` away without a pick (its priority changed and it is about to be
    /// handed back with the new priority, or the policy's own pick of it was rejected). The policy
    /// must forget it; a `tid` the policy does not hold is ignored.
    fn on_removed(&mut self, tid: ThreadId);

    /// Chooses the next thread to run among those held, and stops holding it. Called only when
    /// at least one non-idle thread is runnable. `threads` gives read access to every thread's
    /// priority, state and accounting.
    fn pick_next(&mut self, now_ns: u64, threads: &ThreadTableView<'_>) -> Option<ThreadId>;

    /// Length of the slice `thread` gets now that it has been picked. `0` means "until any other
    /// thread is runnable".
    fn quantum_ns(&self, thread: &ThreadView<'_>) -> u64;

    /// Whether `running` should be preempted before its quantum ends, because a thread the policy
    /// holds must run first (e.g. a higher priority). Asked on every [`crate::Scheduler::tick`]
    /// while at least one other thread is runnable.
    fn wants_preemption(&self, running: &ThreadView<'_>, now_ns: u64) -> bool;

    /// `thread`'s slice ended after `ran_ns` of CPU time; `preempted` is true when it was forced
    /// off the CPU rather than yielding, blocking, sleeping or exiting. The view shows the state
    /// the thread moved to and its accounting with this slice's CPU time included (its switch
    /// counters are updated afterwards, once the next pick shows whether the CPU changed hands).
    /// Called before `on_runnable` when the thread stays runnable. Never called for idle.
    fn on_descheduled(
        &mut self,
        thread: &ThreadView<'_>,
        ran_ns: u64,
        preempted: bool,
        now_ns: u64,
    );

    /// Policy-specific figures for `schedctl stats` (model state, training, guard
    /// interventions), one `name: value` per line. Policies with nothing to add write nothing.
    fn report(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        let _ = out;
        Ok(())
    }

    /// The same figures as numbers, for the metrics registry. All zero unless the policy learns
    /// or is timed.
    fn counters(&self) -> PolicyCounters {
        PolicyCounters::default()
    }
}

/// Numeric policy figures exported as `nous_sched_*` metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PolicyCounters {
    /// Online training steps taken.
    pub training_steps: u64,
    /// Recent training loss (exponential average).
    pub recent_loss: f64,
    /// Picks forced by a starvation guard.
    pub guard_interventions: u64,
    /// Decision latency median (ns), when the policy is timed.
    pub pick_p50_ns: u64,
    /// Decision latency 99th percentile (ns), when the policy is timed.
    pub pick_p99_ns: u64,
}

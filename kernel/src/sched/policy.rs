//! Which policy runs, and the swap between round-robin and the learned policy.
//!
//! `hal::task::set_policy` installs a policy and hands back the previous one. The one not
//! running is kept in [`STASH`], so `transformer off` then `on` resumes the learned policy with
//! its trained weights and optimiser state instead of starting over. Both are wrapped in
//! `sched::timed::TimedPolicy` (TSC clock) so `schedctl stats` shows decision latency for
//! either.
//!
//! The learned policy does not train inside the scheduler: its `on_descheduled` only offers a
//! sample to a fixed ring; a low-priority `sched-trainer` kernel thread ([`spawn_trainer`])
//! drains the ring every `sched::trainer::TRAIN_PERIOD_NS`, takes the gradient steps with
//! interrupts on, and publishes the weights the policy adopts. The thread ends by itself once
//! the policy is dropped.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::sync::Arc;

use hal::task::{self, SpawnOptions};
use sched::Priority;
use sched::SchedPolicy;
use sched::ThreadId;
use sched::learned::LearnedPolicy;
use sched::timed::TimedPolicy;
use sched::trainer::{RING, TRAIN_PERIOD_NS, Trainer};
use spin::Mutex;

/// The policy that is not running (round-robin while learned runs, and vice versa).
static STASH: Mutex<Option<Box<dyn SchedPolicy>>> = Mutex::new(None);

/// The decision clock: nanoseconds from the calibrated TSC.
pub fn clock() -> u64 {
    hal::time::now_ns()
}

fn timed_round_robin() -> Box<dyn SchedPolicy> {
    Box::new(TimedPolicy::new(sched::RoundRobinPolicy::new(), clock))
}

/// Starts the kernel thread that trains for a learned policy: every [`TRAIN_PERIOD_NS`] it
/// drains the ring and publishes weights; it returns once it holds the only reference to the
/// link (the policy was dropped). `detached`: nobody joins it.
pub fn spawn_trainer(mut trainer: Trainer, detached: bool) -> Result<ThreadId, String> {
    // Low priority: training uses otherwise idle time and never preempts the workload; the
    // learned policy's starvation guard still runs it within its bound under full load.
    let opts = SpawnOptions {
        detached,
        priority: Priority::Low,
        ..SpawnOptions::default()
    };
    task::spawn_with("sched-trainer", opts, move || {
        while Arc::strong_count(trainer.link()) > 1 {
            trainer.drain(RING);
            task::sleep_ns(TRAIN_PERIOD_NS);
        }
        0
    })
    .map_err(|e| alloc::format!("cannot start the trainer thread: {e}"))
}

fn timed_learned() -> Result<Box<dyn SchedPolicy>, String> {
    let (policy, trainer) = LearnedPolicy::with_trainer(true);
    spawn_trainer(trainer, true)?;
    Ok(Box::new(TimedPolicy::new(policy, clock)))
}

/// Replaces the boot policy with a timed round-robin (same decisions, now measured).
pub fn start() -> Option<String> {
    match hal::task::set_policy(timed_round_robin()) {
        Ok(_) => None,
        Err(e) => Some(alloc::format!(
            "sched: could not install the timed policy: {e}"
        )),
    }
}

/// Name of the running policy.
pub fn current_name() -> Option<String> {
    hal::task::with_scheduler(|s| String::from(s.policy_name()))
}

/// Whether the learned policy is running.
pub fn learned_active() -> bool {
    current_name().is_some_and(|n| n.starts_with("learned"))
}

/// Switches the learned policy on (`true`) or off. Returns `(now running, was running)`, or
/// `None` in the first place when nothing changed because it already ran.
pub fn set_learned(on: bool) -> Result<Option<(String, String)>, String> {
    if learned_active() == on {
        return Ok(None);
    }
    let was = current_name().unwrap_or_default();
    let mut stash = STASH.lock();
    let next = match stash.take() {
        Some(p) if p.name().starts_with("learned") == on => p,
        _ if on => timed_learned()?,
        _ => timed_round_robin(),
    };
    match hal::task::set_policy(next) {
        Ok(previous) => {
            *stash = Some(previous);
            Ok(Some((current_name().unwrap_or_default(), was)))
        }
        Err(e) => Err(alloc::format!("{e}")),
    }
}

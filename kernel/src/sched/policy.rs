//! Which policy runs, and the swap between round-robin and the learned policy.
//!
//! `hal::task::set_policy` installs a policy and hands back the previous one. The one not
//! running is kept in [`STASH`], so `transformer off` then `on` resumes the learned policy with
//! its trained weights and optimiser state instead of starting over. Both are wrapped in
//! `sched::timed::TimedPolicy` (TSC clock) so `schedctl stats` shows decision latency for
//! either.

use alloc::boxed::Box;
use alloc::string::String;

use sched::SchedPolicy;
use sched::learned::LearnedPolicy;
use sched::timed::TimedPolicy;
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

fn timed_learned() -> Box<dyn SchedPolicy> {
    Box::new(TimedPolicy::new(LearnedPolicy::new(), clock))
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
        _ if on => timed_learned(),
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

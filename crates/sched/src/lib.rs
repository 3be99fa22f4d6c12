//! `sched`: the Nous scheduler as a pure state machine, its per-thread accounting, and the
//! policy trait through which every scheduling decision is made.
//!
//! Design principles:
//! - **No hardware, no clock.** The kernel passes time in (`now_ns`) and performs the context
//!   switch a [`Switch`] describes; this crate only keeps states and decides. It runs with
//!   interrupts disabled and is host-tested like any other logic crate.
//! - **Policy is pluggable and distrusted.** [`Scheduler`] owns states, accounting and wait
//!   structures; a boxed [`SchedPolicy`] only orders runnable threads and can be replaced at run
//!   time ([`Scheduler::set_policy`]). Its answers are checked; a bad pick is corrected and counted.
//! - **Determinism.** The same sequence of calls yields the same decisions: ordered maps, FIFO
//!   queues and sequence numbers everywhere, never addresses or hashes.
//! - **Exact accounting.** Every nanosecond of a thread's life is charged to exactly one state.
//! - **Errors, not panics.** Bad ids, names and reasons return a [`SchedError`] and change nothing.
//!
//! How the kernel drives it (with interrupts disabled around each call). This example is compiled
//! and run as `tests/kernel_loop.rs`: doctests cannot link under the workspace's static
//! relocation model, which rustdoc does not receive.
//!
//! ```ignore
//! use sched::{JoinStatus, Priority, RoundRobinPolicy, Scheduler, SwitchReason};
//!
//! // The boot context becomes the idle thread.
//! let mut s = Scheduler::new(Box::new(RoundRobinPolicy::new()), 0);
//! let worker = s.spawn("worker", Priority::Normal, 0)?;
//! // Timer interrupt: preempt when asked, then switch stacks from `from` to `to`.
//! if s.tick(1_000_000) {
//!     let switch = s.schedule(1_000_000, SwitchReason::Preempted)?;
//!     assert_eq!((switch.from, switch.to), (sched::ThreadId::IDLE, worker));
//! }
//! // The worker finishes; the scheduler picks the next thread (here idle again).
//! let switch = s.schedule(3_000_000, SwitchReason::Exit { code: 7 })?;
//! assert!(switch.is_switch());
//! // Whoever joins it gets the code, then the kernel reaps it and frees its stack.
//! assert_eq!(s.join(worker)?, JoinStatus::Exited(7));
//! let info = s.reap(worker)?;
//! assert_eq!(info.accounting.cpu_ns, 2_000_000);
//! # Ok::<(), sched::SchedError>(())
//! ```
//!
//! Modules: [`ids`] (ids, priorities), [`thread`] (states, accounting, views), [`policy`] (the
//! trait and its protocol), [`round_robin`] (the baseline policy), [`scheduler`] (the state
//! machine), [`error`].

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

pub mod attention;
pub mod baselines;
pub mod burst_prior;
pub mod error;
pub mod eval;
pub mod ids;
pub mod learned;
pub mod policy;
pub mod round_robin;
pub mod scheduler;
pub mod thread;
pub mod timed;
pub mod trainer;

pub use error::SchedError;
pub use ids::{Priority, ThreadId, WaitQueueId};
pub use policy::{PolicyCounters, SchedPolicy};
pub use round_robin::RoundRobinPolicy;
pub use scheduler::{JoinStatus, SchedStats, Scheduler, Switch, SwitchReason};
pub use thread::{
    MAX_NAME_LEN, ThreadAccounting, ThreadInfo, ThreadState, ThreadTableView, ThreadView,
};

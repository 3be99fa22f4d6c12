//! Thread records: state, accounting, and the read-only views policies and the shell get.
//!
//! [`ThreadState`] is the lifecycle a thread moves through; [`ThreadAccounting`] is its exact time
//! and switch bookkeeping. Time is charged lazily: a thread remembers when it entered its current
//! state, and the elapsed time goes to the matching bucket when it leaves that state (or is added
//! on the fly by [`ThreadView::accounting_at`] for a live `ps`). Because every nanosecond between
//! creation and completion is in exactly one state, the buckets sum to the thread's lifetime.
//!
//! [`ThreadView`] and [`ThreadTableView`] are what a [`crate::SchedPolicy`] sees: read access to
//! every thread, no way to change one. [`ThreadInfo`] is an owned snapshot for `ps` and `reap`.
//! The records themselves are owned by [`crate::Scheduler`].

use alloc::collections::BTreeMap;
use alloc::string::String;
use core::fmt;

use crate::error::SchedError;
use crate::ids::{Priority, ThreadId, WaitQueueId};

/// Longest thread name, in bytes.
pub const MAX_NAME_LEN: usize = 32;

/// Where a thread is in its lifecycle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// Ready to run, waiting for the CPU (held by the policy, except the idle thread).
    Runnable,
    /// On the CPU. Exactly one thread is running at any time.
    Running,
    /// Waiting on a wait queue until woken.
    Blocked(WaitQueueId),
    /// Waiting until the clock reaches `until_ns`.
    Sleeping {
        /// Wake-up time in nanoseconds.
        until_ns: u64,
    },
    /// Finished; kept until reaped so joiners can read the code.
    Exited {
        /// The value the thread exited with.
        code: i64,
    },
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ThreadState::Runnable => f.write_str("runnable"),
            ThreadState::Running => f.write_str("running"),
            ThreadState::Blocked(q) => write!(f, "blocked({q})"),
            ThreadState::Sleeping { until_ns } => write!(f, "sleeping(until {until_ns} ns)"),
            ThreadState::Exited { code } => write!(f, "exited({code})"),
        }
    }
}

/// Exact time and switch bookkeeping for one thread.
///
/// Time figures cover the thread's life up to the moment it last changed state; use
/// [`ThreadView::accounting_at`] for figures that include the current state up to "now".
/// For an exited thread:
/// `cpu_ns + runnable_wait_ns + blocked_ns + sleep_ns == completed_ns - created_ns`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ThreadAccounting {
    /// When the thread was spawned.
    pub created_ns: u64,
    /// When the thread exited, if it has.
    pub completed_ns: Option<u64>,
    /// Time spent running.
    pub cpu_ns: u64,
    /// Time spent runnable but not running.
    pub runnable_wait_ns: u64,
    /// Time spent blocked on wait queues.
    pub blocked_ns: u64,
    /// Time spent sleeping.
    pub sleep_ns: u64,
    /// How many times the thread was dispatched (given the CPU with a fresh quantum), including
    /// being picked again right after its own slice ended.
    pub times_scheduled: u64,
    /// Switches away from this thread that it asked for (yield, block, sleep, exit).
    pub voluntary_switches: u64,
    /// Switches away from this thread forced by preemption.
    pub involuntary_switches: u64,
}

impl ThreadAccounting {
    fn new(created_ns: u64) -> Self {
        ThreadAccounting {
            created_ns,
            ..ThreadAccounting::default()
        }
    }

    /// Charges `elapsed_ns` spent in `state` to the matching bucket.
    fn charge(&mut self, state: ThreadState, elapsed_ns: u64) {
        let bucket = match state {
            ThreadState::Running => &mut self.cpu_ns,
            ThreadState::Runnable => &mut self.runnable_wait_ns,
            ThreadState::Blocked(_) => &mut self.blocked_ns,
            ThreadState::Sleeping { .. } => &mut self.sleep_ns,
            // An exited thread's clock has stopped.
            ThreadState::Exited { .. } => return,
        };
        *bucket = bucket.saturating_add(elapsed_ns);
    }

    /// Total time accounted to states, which equals the lifetime covered so far.
    pub fn accounted_ns(&self) -> u64 {
        self.cpu_ns
            .saturating_add(self.runnable_wait_ns)
            .saturating_add(self.blocked_ns)
            .saturating_add(self.sleep_ns)
    }
}

/// Checks a thread name: 1 to [`MAX_NAME_LEN`] bytes, no control characters (it is printed by
/// `ps` on a terminal).
pub(crate) fn validate_name(name: &str) -> Result<(), SchedError> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(SchedError::InvalidName);
    }
    Ok(())
}

/// The scheduler's record of one thread.
#[derive(Clone, Debug)]
pub(crate) struct Thread {
    pub(crate) id: ThreadId,
    pub(crate) name: String,
    pub(crate) priority: Priority,
    pub(crate) state: ThreadState,
    pub(crate) accounting: ThreadAccounting,
    /// When the thread entered `state`; time since then is not yet in `accounting`.
    pub(crate) state_since_ns: u64,
    /// Position in the global order in which threads became runnable; breaks ties
    /// deterministically (FIFO) when the scheduler itself must order runnable threads.
    pub(crate) runnable_seq: u64,
    /// Joiners block here; woken when the thread exits.
    pub(crate) exit_queue: WaitQueueId,
}

impl Thread {
    pub(crate) fn new(
        id: ThreadId,
        name: String,
        priority: Priority,
        state: ThreadState,
        now_ns: u64,
        exit_queue: WaitQueueId,
    ) -> Self {
        Thread {
            id,
            name,
            priority,
            state,
            accounting: ThreadAccounting::new(now_ns),
            state_since_ns: now_ns,
            runnable_seq: 0,
            exit_queue,
        }
    }

    /// Moves to `next`, charging the time spent in the old state. `now_ns` is never earlier than
    /// `state_since_ns` because the scheduler clamps its clock to be monotonic.
    pub(crate) fn transition(&mut self, next: ThreadState, now_ns: u64) {
        let elapsed = now_ns.saturating_sub(self.state_since_ns);
        self.accounting.charge(self.state, elapsed);
        self.state = next;
        self.state_since_ns = now_ns;
        if let ThreadState::Exited { .. } = next {
            self.accounting.completed_ns = Some(now_ns);
        }
    }
}

/// Read-only view of one thread, as given to policies.
#[derive(Clone, Copy, Debug)]
pub struct ThreadView<'a> {
    thread: &'a Thread,
}

impl<'a> ThreadView<'a> {
    pub(crate) fn new(thread: &'a Thread) -> Self {
        ThreadView { thread }
    }

    /// The thread's id.
    pub fn id(&self) -> ThreadId {
        self.thread.id
    }

    /// The thread's name.
    pub fn name(&self) -> &'a str {
        &self.thread.name
    }

    /// The thread's priority.
    pub fn priority(&self) -> Priority {
        self.thread.priority
    }

    /// The thread's current state.
    pub fn state(&self) -> ThreadState {
        self.thread.state
    }

    /// Whether this is the scheduler's idle thread.
    pub fn is_idle(&self) -> bool {
        self.thread.id == ThreadId::IDLE
    }

    /// When the thread entered its current state.
    pub fn state_since_ns(&self) -> u64 {
        self.thread.state_since_ns
    }

    /// Accounting up to the thread's last state change.
    pub fn accounting(&self) -> &'a ThreadAccounting {
        &self.thread.accounting
    }

    /// Accounting including the time spent in the current state up to `now_ns` (a `now_ns`
    /// earlier than the last state change adds nothing).
    pub fn accounting_at(&self, now_ns: u64) -> ThreadAccounting {
        let mut acct = self.thread.accounting;
        acct.charge(
            self.thread.state,
            now_ns.saturating_sub(self.thread.state_since_ns),
        );
        acct
    }

    /// An owned snapshot with accounting up to `now_ns`.
    pub fn info_at(&self, now_ns: u64) -> ThreadInfo {
        ThreadInfo {
            id: self.id(),
            name: String::from(self.name()),
            priority: self.priority(),
            state: self.state(),
            state_since_ns: self.state_since_ns(),
            accounting: self.accounting_at(now_ns),
        }
    }
}

/// Read-only view of the whole thread table, in id order, as given to
/// [`crate::SchedPolicy::pick_next`].
#[derive(Clone, Copy, Debug)]
pub struct ThreadTableView<'a> {
    threads: &'a BTreeMap<ThreadId, Thread>,
}

impl<'a> ThreadTableView<'a> {
    pub(crate) fn new(threads: &'a BTreeMap<ThreadId, Thread>) -> Self {
        ThreadTableView { threads }
    }

    /// The thread with this id, if it exists (exited threads exist until reaped).
    pub fn get(&self, id: ThreadId) -> Option<ThreadView<'a>> {
        self.threads.get(&id).map(ThreadView::new)
    }

    /// Every thread, idle and exited ones included, in id order.
    pub fn iter(&self) -> impl Iterator<Item = ThreadView<'a>> + 'a {
        self.threads.values().map(ThreadView::new)
    }

    /// Number of threads in the table (idle and unreaped exited threads included).
    pub fn len(&self) -> usize {
        self.threads.len()
    }

    /// Whether the table is empty (never true for a scheduler's table: idle always exists).
    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }
}

/// Owned snapshot of one thread, for `ps` and for [`crate::Scheduler::reap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadInfo {
    /// The thread's id.
    pub id: ThreadId,
    /// The thread's name.
    pub name: String,
    /// The thread's priority.
    pub priority: Priority,
    /// The thread's state when the snapshot was taken.
    pub state: ThreadState,
    /// When the thread entered that state (for an exited thread: its completion time).
    pub state_since_ns: u64,
    /// Accounting up to the snapshot time.
    pub accounting: ThreadAccounting,
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn names_are_validated() {
        assert_eq!(validate_name("worker-1"), Ok(()));
        assert_eq!(validate_name(&"x".repeat(MAX_NAME_LEN)), Ok(()));
        assert_eq!(validate_name(""), Err(SchedError::InvalidName));
        assert_eq!(
            validate_name(&"x".repeat(MAX_NAME_LEN + 1)),
            Err(SchedError::InvalidName)
        );
        assert_eq!(validate_name("bad\nname"), Err(SchedError::InvalidName));
        assert_eq!(validate_name("esc\u{1b}[2J"), Err(SchedError::InvalidName));
    }

    #[test]
    fn transitions_charge_the_state_being_left() {
        let mut t = Thread::new(
            ThreadId(1),
            "t".to_string(),
            Priority::Normal,
            ThreadState::Runnable,
            100,
            WaitQueueId(0),
        );
        t.transition(ThreadState::Running, 130);
        t.transition(ThreadState::Blocked(WaitQueueId(5)), 200);
        t.transition(ThreadState::Runnable, 260);
        t.transition(ThreadState::Running, 261);
        t.transition(ThreadState::Sleeping { until_ns: 400 }, 300);
        t.transition(ThreadState::Runnable, 400);
        t.transition(ThreadState::Running, 410);
        t.transition(ThreadState::Exited { code: -1 }, 415);
        let a = t.accounting;
        assert_eq!(a.runnable_wait_ns, 30 + 1 + 10);
        assert_eq!(a.cpu_ns, 70 + 39 + 5);
        assert_eq!(a.blocked_ns, 60);
        assert_eq!(a.sleep_ns, 100);
        assert_eq!(a.completed_ns, Some(415));
        assert_eq!(a.accounted_ns(), 415 - 100);
    }

    #[test]
    fn live_accounting_includes_the_current_state() {
        let mut t = Thread::new(
            ThreadId(1),
            "t".to_string(),
            Priority::Low,
            ThreadState::Runnable,
            0,
            WaitQueueId(0),
        );
        t.transition(ThreadState::Running, 10);
        let view = ThreadView::new(&t);
        assert_eq!(view.accounting().cpu_ns, 0);
        assert_eq!(view.accounting_at(25).cpu_ns, 15);
        // A time before the last change adds nothing rather than underflowing.
        assert_eq!(view.accounting_at(5).cpu_ns, 0);
        let info = view.info_at(25);
        assert_eq!(info.accounting.accounted_ns(), 25);
        assert_eq!(info.state, ThreadState::Running);
    }

    #[test]
    fn states_display() {
        assert_eq!(
            ThreadState::Blocked(WaitQueueId(2)).to_string(),
            "blocked(q2)"
        );
        assert_eq!(ThreadState::Exited { code: -3 }.to_string(), "exited(-3)");
    }
}

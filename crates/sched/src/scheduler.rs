//! The scheduler state machine: thread table, current thread, idle thread, wait queues, sleepers.
//!
//! [`Scheduler`] is called by the kernel with interrupts disabled and never touches hardware: the
//! kernel passes the time in, performs the context switch that a [`Switch`] describes, and owns the
//! stacks. Decisions are delegated to a boxed [`SchedPolicy`] following the hand-off protocol
//! described in [`crate::policy`]; the scheduler keeps the states, the accounting
//! ([`crate::ThreadAccounting`]) and the wait structures, and checks every pick.
//!
//! Time: the scheduler's clock is the largest `now_ns` it has been given. A smaller `now_ns`
//! (a caller bug, or two CPUs' clocks disagreeing) is treated as that clock, so time never runs
//! backwards and the accounting identity stays exact.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::string::String;
use alloc::vec::Vec;

use crate::error::SchedError;
use crate::ids::{Priority, ThreadId, WaitQueueId};
use crate::policy::SchedPolicy;
use crate::thread::{Thread, ThreadInfo, ThreadState, ThreadTableView, ThreadView, validate_name};

/// Why the current thread is leaving the CPU, given to [`Scheduler::schedule`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwitchReason {
    /// Forced off by the timer ([`Scheduler::tick`] returned true). Involuntary.
    Preempted,
    /// Gives up the CPU but stays runnable. Voluntary.
    Yield,
    /// Waits on a wait queue until woken. Voluntary.
    Block(WaitQueueId),
    /// Waits until the clock reaches `until_ns`; a time not in the future is a yield. Voluntary.
    Sleep {
        /// Wake-up time in nanoseconds.
        until_ns: u64,
    },
    /// Finishes with `code`; joiners are woken. Voluntary.
    Exit {
        /// The exit code joiners receive.
        code: i64,
    },
}

/// A scheduling decision: the kernel switches from `from`'s context to `to`'s.
/// `from == to` means the current thread keeps the CPU (with a fresh quantum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Switch {
    /// The thread that was running.
    pub from: ThreadId,
    /// The thread that runs now.
    pub to: ThreadId,
}

impl Switch {
    /// Whether a context switch is needed.
    pub fn is_switch(&self) -> bool {
        self.from != self.to
    }
}

/// Answer of [`Scheduler::join`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JoinStatus {
    /// The target has exited with this code; it can now be reaped.
    Exited(i64),
    /// The target is alive: block on this queue (its exit queue), then join again.
    MustWait(WaitQueueId),
}

/// Scheduler-wide counters, for `schedctl stats`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchedStats {
    /// Name of the installed policy.
    pub policy: String,
    /// Decisions that changed the running thread.
    pub switches: u64,
    /// Switches after a yield, block, sleep or exit.
    pub voluntary_switches: u64,
    /// Switches after a preemption of a thread by another (the CPU taken from a thread that
    /// could have kept running).
    pub involuntary_switches: u64,
    /// Switches from the idle thread to a thread that became runnable (neither voluntary nor a
    /// preemption of a thread; `switches` = voluntary + involuntary + these).
    pub idle_wakeups: u64,
    /// Times the policy was asked to pick (it is not asked when only idle can run).
    pub decisions: u64,
    /// Times the idle thread was dispatched because nothing else was runnable.
    pub idle_dispatches: u64,
    /// Picks the scheduler had to correct (not a runnable thread, or none while some were).
    pub policy_faults: u64,
    /// Times [`Scheduler::set_policy`] installed a new policy.
    pub policy_swaps: u64,
    /// Threads in the table: the idle thread, live threads, and exited threads not yet reaped.
    pub threads: usize,
    /// Runnable threads waiting for the CPU (the running and idle threads excluded).
    pub runnable: usize,
}

impl core::fmt::Display for SchedStats {
    /// One `name: value` line per figure, for `schedctl stats`.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        writeln!(f, "policy: {}", self.policy)?;
        writeln!(f, "threads: {}", self.threads)?;
        writeln!(f, "runnable: {}", self.runnable)?;
        writeln!(f, "switches: {}", self.switches)?;
        writeln!(f, "voluntary switches: {}", self.voluntary_switches)?;
        writeln!(f, "involuntary switches: {}", self.involuntary_switches)?;
        writeln!(f, "switches out of idle: {}", self.idle_wakeups)?;
        writeln!(f, "policy decisions: {}", self.decisions)?;
        writeln!(f, "idle dispatches: {}", self.idle_dispatches)?;
        writeln!(f, "policy faults: {}", self.policy_faults)?;
        write!(f, "policy swaps: {}", self.policy_swaps)
    }
}

#[derive(Clone, Debug, Default)]
struct WaitQueue {
    waiters: VecDeque<ThreadId>,
    /// The thread whose exit this queue signals, if it is an exit queue.
    exit_of: Option<ThreadId>,
    /// Set when `exit_of` has exited: nothing will ever wake the queue again.
    closed: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Counters {
    switches: u64,
    voluntary: u64,
    involuntary: u64,
    idle_wakeups: u64,
    decisions: u64,
    idle_dispatches: u64,
    policy_faults: u64,
    policy_swaps: u64,
}

/// The scheduler: a pure state machine over threads, wait queues and a policy.
///
/// Invariants (checked by the property test): exactly one thread is `Running` and it is
/// [`Scheduler::current`]; the policy holds every `Runnable` thread except idle exactly once;
/// a thread that has exited is never dispatched; a blocked thread is in exactly its queue, a
/// sleeping thread exactly once in the sleeper set.
pub struct Scheduler {
    threads: BTreeMap<ThreadId, Thread>,
    queues: BTreeMap<WaitQueueId, WaitQueue>,
    /// Sleeping threads keyed by (wake time, sleep order) so ties wake in FIFO order.
    sleepers: BTreeSet<(u64, u64, ThreadId)>,
    policy: Box<dyn SchedPolicy>,
    current: ThreadId,
    slice_start_ns: u64,
    slice_quantum_ns: u64,
    clock_ns: u64,
    next_thread: u32,
    next_queue: u32,
    /// Global sequence for runnable and sleep ordering (u64: cannot wrap in practice).
    next_seq: u64,
    /// Runnable threads other than idle, i.e. those the policy holds.
    runnable: usize,
    counters: Counters,
}

impl core::fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scheduler")
            .field("policy", &self.policy.name())
            .field("current", &self.current)
            .field("threads", &self.threads.len())
            .field("runnable", &self.runnable)
            .field("clock_ns", &self.clock_ns)
            .finish_non_exhaustive()
    }
}

impl Scheduler {
    /// A scheduler whose only thread is the idle thread ([`ThreadId::IDLE`], named `idle`),
    /// running: the kernel's boot context becomes the idle thread.
    pub fn new(policy: Box<dyn SchedPolicy>, now_ns: u64) -> Self {
        let idle_exit = WaitQueueId(0);
        let mut idle = Thread::new(
            ThreadId::IDLE,
            String::from("idle"),
            Priority::Low,
            ThreadState::Running,
            now_ns,
            idle_exit,
        );
        idle.accounting.times_scheduled = 1;
        let mut threads = BTreeMap::new();
        threads.insert(ThreadId::IDLE, idle);
        let mut queues = BTreeMap::new();
        queues.insert(
            idle_exit,
            WaitQueue {
                exit_of: Some(ThreadId::IDLE),
                ..WaitQueue::default()
            },
        );
        Scheduler {
            threads,
            queues,
            sleepers: BTreeSet::new(),
            policy,
            current: ThreadId::IDLE,
            slice_start_ns: now_ns,
            slice_quantum_ns: 0,
            clock_ns: now_ns,
            next_thread: 1,
            next_queue: 1,
            next_seq: 0,
            runnable: 0,
            counters: Counters::default(),
        }
    }

    /// Creates a runnable thread. The current thread keeps the CPU; the new thread runs when the
    /// policy picks it (a higher priority makes the next [`Scheduler::tick`] ask for preemption).
    pub fn spawn(
        &mut self,
        name: &str,
        priority: Priority,
        now_ns: u64,
    ) -> Result<ThreadId, SchedError> {
        validate_name(name)?;
        let id = ThreadId(self.next_thread);
        let exit_queue = WaitQueueId(self.next_queue);
        let next_thread = self
            .next_thread
            .checked_add(1)
            .ok_or(SchedError::IdsExhausted)?;
        let next_queue = self
            .next_queue
            .checked_add(1)
            .ok_or(SchedError::IdsExhausted)?;
        let now = self.observe(now_ns);
        self.next_thread = next_thread;
        self.next_queue = next_queue;
        self.queues.insert(
            exit_queue,
            WaitQueue {
                exit_of: Some(id),
                ..WaitQueue::default()
            },
        );
        let thread = Thread::new(
            id,
            String::from(name),
            priority,
            ThreadState::Runnable,
            now,
            exit_queue,
        );
        self.threads.insert(id, thread);
        self.hand_to_policy(id, now);
        Ok(id)
    }

    /// The installed policy's own figures ([`SchedPolicy::report`]).
    pub fn policy_report(&self, out: &mut dyn core::fmt::Write) -> core::fmt::Result {
        self.policy.report(out)
    }

    /// The installed policy's numeric figures ([`SchedPolicy::counters`]).
    pub fn policy_counters(&self) -> crate::policy::PolicyCounters {
        self.policy.counters()
    }

    /// The running thread.
    pub fn current(&self) -> ThreadId {
        self.current
    }

    /// The scheduler's clock: the largest time it has been given.
    pub fn now_ns(&self) -> u64 {
        self.clock_ns
    }

    /// Timer hook. Wakes due sleepers, then answers whether the kernel should preempt the current
    /// thread now (call [`Scheduler::schedule`] with [`SwitchReason::Preempted`]): true when
    /// another thread is runnable and either the current thread's quantum has expired, the
    /// current thread is idle, or the policy asks for early preemption (a higher priority woke).
    pub fn tick(&mut self, now_ns: u64) -> bool {
        let now = self.observe(now_ns);
        self.wake_due_sleepers(now);
        self.should_preempt(now)
    }

    /// The answer [`Scheduler::tick`] gives, without waking sleepers or moving the clock: lets
    /// the kernel preempt right after waking a thread (for instance from an interrupt handler)
    /// instead of waiting for the next timer tick.
    pub fn should_preempt(&self, now_ns: u64) -> bool {
        let now = self.clock_ns.max(now_ns);
        if self.runnable == 0 {
            return false;
        }
        if self.current == ThreadId::IDLE {
            return true;
        }
        if now.saturating_sub(self.slice_start_ns) >= self.slice_quantum_ns {
            return true;
        }
        self.threads
            .get(&self.current)
            .is_some_and(|t| self.policy.wants_preemption(&ThreadView::new(t), now))
    }

    /// Ends the current thread's slice for `reason`, asks the policy for the next thread and
    /// dispatches it. Updates states and accounting; the kernel then switches contexts if
    /// [`Switch::is_switch`]. On error nothing has changed and the current thread keeps running.
    ///
    /// After `Exit`, the exited thread's stack is still the one in use until the context switch
    /// completes; it must only be freed after [`Scheduler::reap`], from another thread.
    pub fn schedule(&mut self, now_ns: u64, reason: SwitchReason) -> Result<Switch, SchedError> {
        let from = self.current;
        self.check_reason(from, reason)?;
        let now = self.observe(now_ns);
        let ran_ns = now.saturating_sub(self.slice_start_ns);
        let next_state = match reason {
            SwitchReason::Preempted | SwitchReason::Yield => ThreadState::Runnable,
            SwitchReason::Sleep { until_ns } if until_ns <= now => ThreadState::Runnable,
            SwitchReason::Sleep { until_ns } => ThreadState::Sleeping { until_ns },
            SwitchReason::Block(q) => ThreadState::Blocked(q),
            SwitchReason::Exit { code } => ThreadState::Exited { code },
        };
        if let Some(thread) = self.threads.get_mut(&from) {
            thread.transition(next_state, now);
        }
        match next_state {
            ThreadState::Sleeping { until_ns } => {
                let seq = self.take_seq();
                self.sleepers.insert((until_ns, seq, from));
            }
            ThreadState::Blocked(q) => {
                if let Some(queue) = self.queues.get_mut(&q) {
                    queue.waiters.push_back(from);
                }
            }
            _ => {}
        }
        let preempted = reason == SwitchReason::Preempted;
        if from != ThreadId::IDLE {
            if let Some(thread) = self.threads.get(&from) {
                self.policy
                    .on_descheduled(&ThreadView::new(thread), ran_ns, preempted, now);
            }
            if next_state == ThreadState::Runnable {
                self.hand_to_policy(from, now);
            }
        }
        if let ThreadState::Exited { .. } = next_state {
            self.close_exit_queue(from, now);
        }

        let to = self.pick(now);
        self.dispatch(to, now);
        if from != to {
            self.counters.switches += 1;
            let from_acct = self.threads.get_mut(&from).map(|t| &mut t.accounting);
            if from == ThreadId::IDLE {
                self.counters.idle_wakeups += 1;
            } else if preempted {
                self.counters.involuntary += 1;
                if let Some(acct) = from_acct {
                    acct.involuntary_switches += 1;
                }
            } else {
                self.counters.voluntary += 1;
                if let Some(acct) = from_acct {
                    acct.voluntary_switches += 1;
                }
            }
        }
        Ok(Switch { from, to })
    }

    /// Validates `reason` for the current thread `from` before anything changes.
    fn check_reason(&self, from: ThreadId, reason: SwitchReason) -> Result<(), SchedError> {
        let leaves_runnable = matches!(
            reason,
            SwitchReason::Block(_) | SwitchReason::Sleep { .. } | SwitchReason::Exit { .. }
        );
        if from == ThreadId::IDLE && leaves_runnable {
            return Err(SchedError::IdleMustStayRunnable);
        }
        if let SwitchReason::Block(q) = reason {
            let queue = self.queues.get(&q).ok_or(SchedError::UnknownWaitQueue(q))?;
            if queue.exit_of == Some(from) {
                return Err(SchedError::JoinSelf);
            }
            if queue.exit_of == Some(ThreadId::IDLE) {
                return Err(SchedError::JoinIdle);
            }
            if queue.closed {
                return Err(SchedError::QueueClosed(q));
            }
        }
        Ok(())
    }

    /// Asks the policy for the next thread, correcting a faulty answer.
    fn pick(&mut self, now: u64) -> ThreadId {
        if self.runnable == 0 {
            self.counters.idle_dispatches += 1;
            return ThreadId::IDLE;
        }
        self.counters.decisions += 1;
        let choice = self
            .policy
            .pick_next(now, &ThreadTableView::new(&self.threads));
        if let Some(tid) = choice
            && tid != ThreadId::IDLE
            && self
                .threads
                .get(&tid)
                .is_some_and(|t| t.state == ThreadState::Runnable)
        {
            return tid;
        }
        // The policy is wrong (a learned policy can be): run the longest-waiting runnable thread
        // so no thread is lost, and make the policy forget it in case it still holds it.
        self.counters.policy_faults += 1;
        let fallback = self
            .threads
            .values()
            .filter(|t| t.id != ThreadId::IDLE && t.state == ThreadState::Runnable)
            .min_by_key(|t| t.runnable_seq)
            .map(|t| t.id);
        match fallback {
            Some(tid) => {
                self.policy.on_removed(tid);
                tid
            }
            None => {
                // Unreachable while `runnable` is consistent; idle is always safe to run.
                self.counters.idle_dispatches += 1;
                ThreadId::IDLE
            }
        }
    }

    fn dispatch(&mut self, to: ThreadId, now: u64) {
        let Some(thread) = self.threads.get_mut(&to) else {
            return;
        };
        thread.transition(ThreadState::Running, now);
        thread.accounting.times_scheduled += 1;
        if to != ThreadId::IDLE {
            self.runnable = self.runnable.saturating_sub(1);
        }
        self.current = to;
        self.slice_start_ns = now;
        self.slice_quantum_ns = match self.threads.get(&to) {
            Some(t) if to != ThreadId::IDLE => self.policy.quantum_ns(&ThreadView::new(t)),
            _ => 0,
        };
    }

    /// Marks `tid` runnable (charging its previous state) and hands it to the policy.
    fn make_runnable(&mut self, tid: ThreadId, now: u64) {
        if let Some(thread) = self.threads.get_mut(&tid) {
            thread.transition(ThreadState::Runnable, now);
            self.hand_to_policy(tid, now);
        }
    }

    /// Hands an already-`Runnable` thread to the policy and stamps its place in runnable order.
    fn hand_to_policy(&mut self, tid: ThreadId, now: u64) {
        let seq = self.take_seq();
        if let Some(thread) = self.threads.get_mut(&tid) {
            thread.runnable_seq = seq;
            self.runnable += 1;
            self.policy.on_runnable(&ThreadView::new(thread), now);
        }
    }

    fn take_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        seq
    }

    fn observe(&mut self, now_ns: u64) -> u64 {
        self.clock_ns = self.clock_ns.max(now_ns);
        self.clock_ns
    }

    /// Wakes the exited thread's joiners and closes its exit queue for good.
    fn close_exit_queue(&mut self, exited: ThreadId, now: u64) {
        let Some(q) = self.threads.get(&exited).map(|t| t.exit_queue) else {
            return;
        };
        let waiters = match self.queues.get_mut(&q) {
            Some(queue) => {
                queue.closed = true;
                core::mem::take(&mut queue.waiters)
            }
            None => VecDeque::new(),
        };
        for tid in waiters {
            self.make_runnable(tid, now);
        }
    }

    /// Creates an empty wait queue.
    pub fn create_wait_queue(&mut self) -> Result<WaitQueueId, SchedError> {
        let id = WaitQueueId(self.next_queue);
        self.next_queue = self
            .next_queue
            .checked_add(1)
            .ok_or(SchedError::IdsExhausted)?;
        self.queues.insert(id, WaitQueue::default());
        Ok(id)
    }

    /// Destroys a wait queue created with [`Scheduler::create_wait_queue`]. Refused while it has
    /// waiters (they would never be woken) and for exit queues (freed by [`Scheduler::reap`]).
    pub fn destroy_wait_queue(&mut self, q: WaitQueueId) -> Result<(), SchedError> {
        let queue = self.queues.get(&q).ok_or(SchedError::UnknownWaitQueue(q))?;
        if queue.exit_of.is_some() {
            return Err(SchedError::IsExitQueue(q));
        }
        if !queue.waiters.is_empty() {
            return Err(SchedError::QueueNotEmpty(q));
        }
        self.queues.remove(&q);
        Ok(())
    }

    /// Number of threads blocked on `q`.
    pub fn waiters(&self, q: WaitQueueId) -> Result<usize, SchedError> {
        self.queues
            .get(&q)
            .map(|queue| queue.waiters.len())
            .ok_or(SchedError::UnknownWaitQueue(q))
    }

    /// Wakes the thread that has waited longest on `q` (FIFO). An empty queue is not an error
    /// (a notify with no waiter is normal): it returns `Ok(None)`.
    pub fn wake_one(
        &mut self,
        q: WaitQueueId,
        now_ns: u64,
    ) -> Result<Option<ThreadId>, SchedError> {
        let now = self.observe(now_ns);
        let queue = self
            .queues
            .get_mut(&q)
            .ok_or(SchedError::UnknownWaitQueue(q))?;
        let woken = queue.waiters.pop_front();
        if let Some(tid) = woken {
            self.make_runnable(tid, now);
        }
        Ok(woken)
    }

    /// Wakes every thread waiting on `q`, in FIFO order; returns how many.
    pub fn wake_all(&mut self, q: WaitQueueId, now_ns: u64) -> Result<usize, SchedError> {
        let now = self.observe(now_ns);
        let queue = self
            .queues
            .get_mut(&q)
            .ok_or(SchedError::UnknownWaitQueue(q))?;
        let waiters = core::mem::take(&mut queue.waiters);
        let count = waiters.len();
        for tid in waiters {
            self.make_runnable(tid, now);
        }
        Ok(count)
    }

    /// Wakes every sleeper whose time has come (earliest deadline first, ties in the order they
    /// went to sleep); returns how many. [`Scheduler::tick`] does this itself.
    pub fn wake_sleepers(&mut self, now_ns: u64) -> usize {
        let now = self.observe(now_ns);
        self.wake_due_sleepers(now)
    }

    fn wake_due_sleepers(&mut self, now: u64) -> usize {
        let mut woken = 0;
        while let Some(&(until, _, tid)) = self.sleepers.first() {
            if until > now {
                break;
            }
            self.sleepers.pop_first();
            self.make_runnable(tid, now);
            woken += 1;
        }
        woken
    }

    /// The earliest time a sleeper is due, if any (for a tickless idle).
    pub fn next_wakeup_ns(&self) -> Option<u64> {
        self.sleepers.first().map(|&(until, _, _)| until)
    }

    /// Whether the current thread can collect `target`'s exit code now, or must block first.
    /// Call again after being woken from the returned queue.
    pub fn join(&self, target: ThreadId) -> Result<JoinStatus, SchedError> {
        if target == self.current {
            return Err(SchedError::JoinSelf);
        }
        if target == ThreadId::IDLE {
            return Err(SchedError::JoinIdle);
        }
        let thread = self
            .threads
            .get(&target)
            .ok_or(SchedError::UnknownThread(target))?;
        Ok(match thread.state {
            ThreadState::Exited { code } => JoinStatus::Exited(code),
            _ => JoinStatus::MustWait(thread.exit_queue),
        })
    }

    /// Removes an exited thread and its exit queue, returning its final record; the kernel then
    /// frees its stack. Refused for live threads.
    pub fn reap(&mut self, tid: ThreadId) -> Result<ThreadInfo, SchedError> {
        let thread = self
            .threads
            .get(&tid)
            .ok_or(SchedError::UnknownThread(tid))?;
        let ThreadState::Exited { .. } = thread.state else {
            return Err(SchedError::NotExited(tid));
        };
        let info = ThreadView::new(thread).info_at(thread.state_since_ns);
        let exit_queue = thread.exit_queue;
        self.threads.remove(&tid);
        self.queues.remove(&exit_queue);
        Ok(info)
    }

    /// Changes a live thread's priority. A runnable thread is taken from the policy and handed
    /// back with the new priority (so it goes to the back of its new level under round-robin);
    /// for the running thread the change applies from its next slice.
    pub fn set_priority(
        &mut self,
        tid: ThreadId,
        priority: Priority,
        now_ns: u64,
    ) -> Result<(), SchedError> {
        if tid == ThreadId::IDLE {
            return Err(SchedError::IdleHasNoPriority);
        }
        let thread = self
            .threads
            .get(&tid)
            .ok_or(SchedError::UnknownThread(tid))?;
        if let ThreadState::Exited { .. } = thread.state {
            return Err(SchedError::ThreadExited(tid));
        }
        let was_held = thread.state == ThreadState::Runnable;
        let now = self.observe(now_ns);
        if was_held {
            self.policy.on_removed(tid);
            self.runnable = self.runnable.saturating_sub(1);
        }
        if let Some(thread) = self.threads.get_mut(&tid) {
            thread.priority = priority;
        }
        if was_held {
            self.hand_to_policy(tid, now);
        }
        Ok(())
    }

    /// Installs `policy` and returns the previous one. The new policy receives every runnable
    /// thread (idle and the running thread excepted) in the order they became runnable, so a
    /// FIFO policy continues the old FIFO order; the previous one is told to forget each of them
    /// (`on_removed`), so it can be installed again later without stale threads. The running thread keeps its current quantum and
    /// reaches the new policy when its slice ends. Returning the old policy lets the kernel drop it
    /// (possibly freeing large model weights) after leaving its interrupts-disabled section.
    pub fn set_policy(
        &mut self,
        mut policy: Box<dyn SchedPolicy>,
        now_ns: u64,
    ) -> Box<dyn SchedPolicy> {
        let now = self.observe(now_ns);
        let mut held: Vec<&Thread> = self
            .threads
            .values()
            .filter(|t| t.id != ThreadId::IDLE && t.state == ThreadState::Runnable)
            .collect();
        held.sort_by_key(|t| t.runnable_seq);
        for thread in held {
            policy.on_runnable(&ThreadView::new(thread), now);
        }
        self.counters.policy_swaps += 1;
        let mut previous = core::mem::replace(&mut self.policy, policy);
        // The outgoing policy gives up every thread it held, so it is empty if it is installed
        // again later (a stashed policy would otherwise pick threads that have since run,
        // blocked or exited). It keeps whatever it learned about them.
        for thread in self.threads.values() {
            if thread.id != ThreadId::IDLE && thread.state == ThreadState::Runnable {
                previous.on_removed(thread.id);
            }
        }
        previous
    }

    /// Name of the installed policy.
    pub fn policy_name(&self) -> &str {
        self.policy.name()
    }

    /// Read-only view of one thread (exited threads remain until reaped).
    pub fn thread(&self, tid: ThreadId) -> Option<ThreadView<'_>> {
        self.threads.get(&tid).map(ThreadView::new)
    }

    /// Read-only view of the whole table, as policies see it.
    pub fn table(&self) -> ThreadTableView<'_> {
        ThreadTableView::new(&self.threads)
    }

    /// Snapshot of every thread in id order with accounting up to `now_ns`, for `ps`.
    pub fn threads(&self, now_ns: u64) -> Vec<ThreadInfo> {
        let now = self.clock_ns.max(now_ns);
        self.threads
            .values()
            .map(|t| ThreadView::new(t).info_at(now))
            .collect()
    }

    /// Scheduler-wide counters.
    pub fn stats(&self) -> SchedStats {
        let c = self.counters;
        SchedStats {
            policy: String::from(self.policy.name()),
            switches: c.switches,
            voluntary_switches: c.voluntary,
            involuntary_switches: c.involuntary,
            idle_wakeups: c.idle_wakeups,
            decisions: c.decisions,
            idle_dispatches: c.idle_dispatches,
            policy_faults: c.policy_faults,
            policy_swaps: c.policy_swaps,
            threads: self.threads.len(),
            runnable: self.runnable,
        }
    }
}

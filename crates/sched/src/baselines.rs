//! Heuristic baselines the learned policy is measured against (round-robin is
//! [`crate::RoundRobinPolicy`]). All keep strict priorities between levels, like round-robin, and
//! differ in how they order threads of one level:
//!
//! - [`EevdfPolicy`]: EEVDF-like fair queueing (Linux ≥ 6.6). Each thread has a virtual runtime;
//!   a thread is *eligible* when its lag is non-negative (vruntime ≤ the queue's average), and the
//!   eligible thread with the earliest virtual deadline (vruntime + slice) runs for one slice
//!   (3 ms). A waking thread is placed at `max(own, average − slice)` so sleeping earns at most
//!   one slice of credit.
//! - [`MlfqPolicy`]: multi-level feedback queue, three levels with 2/8/32 ms quanta. Using a whole
//!   quantum demotes; ending a slice early keeps the level; every 500 ms everyone is boosted to
//!   the top (no starvation).
//! - [`SjfPolicy`]: shortest job first on an exponential average of past bursts,
//!   τₙ₊₁ = α·tₙ + (1−α)·τₙ with α = ½, minus the CPU already used in the current burst
//!   (shortest *remaining* predicted time first); 10 ms quantum; no early preemption within a
//!   level. The classical heuristic the learned policy must beat.

use alloc::vec::Vec;

use crate::ids::{Priority, ThreadId};
use crate::policy::SchedPolicy;
use crate::thread::{ThreadState, ThreadTableView, ThreadView};

#[derive(Clone, Copy, Debug)]
struct Entry {
    tid: ThreadId,
    priority: Priority,
    queued: bool,
    seq: u64,
    /// Policy-specific key: vruntime (EEVDF), level (MLFQ), τ in ns (SJF).
    a: u64,
    /// Second key: unused (EEVDF), unused (MLFQ), CPU used in the current burst (SJF).
    b: u64,
}

#[derive(Clone, Debug, Default)]
struct Table {
    entries: Vec<Entry>,
    seq: u64,
}

impl Table {
    fn get(&self, tid: ThreadId) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tid == tid)
    }

    fn upsert(&mut self, thread: &ThreadView<'_>, init_a: u64) -> &mut Entry {
        self.seq += 1;
        let seq = self.seq;
        let pos = match self.entries.iter().position(|e| e.tid == thread.id()) {
            Some(p) => p,
            None => {
                self.entries.push(Entry {
                    tid: thread.id(),
                    priority: thread.priority(),
                    queued: false,
                    seq,
                    a: init_a,
                    b: 0,
                });
                self.entries.len() - 1
            }
        };
        let e = &mut self.entries[pos];
        e.priority = thread.priority();
        e.queued = true;
        e.seq = seq;
        e
    }

    fn remove_if_exited(&mut self, thread: &ThreadView<'_>) {
        if matches!(thread.state(), ThreadState::Exited { .. }) {
            self.entries.retain(|e| e.tid != thread.id());
        }
    }

    fn unqueue(&mut self, tid: ThreadId) {
        if let Some(e) = self.entries.iter_mut().find(|e| e.tid == tid) {
            e.queued = false;
        }
    }

    fn top_priority(&self) -> Option<Priority> {
        self.entries
            .iter()
            .filter(|e| e.queued)
            .map(|e| e.priority)
            .max()
    }

    /// Picks the queued entry of the top level minimising `key` (ties: FIFO) and unqueues it.
    fn pick_min<K: Ord>(&mut self, key: impl Fn(&Entry) -> K) -> Option<ThreadId> {
        let top = self.top_priority()?;
        let e = self
            .entries
            .iter_mut()
            .filter(|e| e.queued && e.priority == top)
            .min_by_key(|e| (key(e), e.seq))?;
        e.queued = false;
        Some(e.tid)
    }

    fn higher_waiting(&self, running: &ThreadView<'_>) -> bool {
        self.top_priority().is_some_and(|p| p > running.priority())
    }
}

/// EEVDF-like fair policy (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct EevdfPolicy {
    table: Table,
}

impl EevdfPolicy {
    /// Slice length: 3 ms.
    pub const SLICE_NS: u64 = 3_000_000;

    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }

    fn average_vruntime(&self) -> u64 {
        let (sum, n) = self
            .table
            .entries
            .iter()
            .filter(|e| e.queued)
            .fold((0u128, 0u128), |(s, n), e| (s + u128::from(e.a), n + 1));
        match sum.checked_div(n) {
            Some(avg) => avg as u64,
            None => self.table.entries.iter().map(|e| e.a).min().unwrap_or(0),
        }
    }
}

impl SchedPolicy for EevdfPolicy {
    fn name(&self) -> &str {
        "eevdf-like"
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, _now_ns: u64) {
        let avg = self.average_vruntime();
        let floor = avg.saturating_sub(Self::SLICE_NS);
        let e = self.table.upsert(thread, floor);
        e.a = e.a.max(floor);
    }

    fn on_removed(&mut self, tid: ThreadId) {
        self.table.unqueue(tid);
    }

    fn pick_next(&mut self, _now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        let avg = self.average_vruntime();
        let top = self.table.top_priority()?;
        let eligible = self
            .table
            .entries
            .iter()
            .any(|e| e.queued && e.priority == top && e.a <= avg);
        // Earliest virtual deadline among eligible threads (all of them if none is eligible,
        // which rounding can cause).
        self.table.pick_min(|e| {
            let ok = !eligible || e.a <= avg;
            (!ok, e.a + Self::SLICE_NS)
        })
    }

    fn quantum_ns(&self, _thread: &ThreadView<'_>) -> u64 {
        Self::SLICE_NS
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, _now_ns: u64) -> bool {
        self.table.higher_waiting(running)
    }

    fn on_descheduled(&mut self, thread: &ThreadView<'_>, ran_ns: u64, _: bool, _: u64) {
        if let Some(e) = self.table.entries.iter_mut().find(|e| e.tid == thread.id()) {
            e.a = e.a.saturating_add(ran_ns);
        }
        self.table.remove_if_exited(thread);
    }
}

/// Multi-level feedback queue (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct MlfqPolicy {
    table: Table,
    last_boost_ns: u64,
}

impl MlfqPolicy {
    /// Quantum per level, top level first.
    pub const QUANTA_NS: [u64; 3] = [2_000_000, 8_000_000, 32_000_000];
    /// Period of the priority boost.
    pub const BOOST_NS: u64 = 500_000_000;

    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The feedback level of `tid` (0 = top), if tracked.
    pub fn level_of(&self, tid: ThreadId) -> Option<u64> {
        self.table.get(tid).map(|e| e.a)
    }
}

impl SchedPolicy for MlfqPolicy {
    fn name(&self) -> &str {
        "mlfq"
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, _now_ns: u64) {
        self.table.upsert(thread, 0);
    }

    fn on_removed(&mut self, tid: ThreadId) {
        self.table.unqueue(tid);
    }

    fn pick_next(&mut self, now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        if now_ns.saturating_sub(self.last_boost_ns) >= Self::BOOST_NS {
            self.last_boost_ns = now_ns;
            for e in &mut self.table.entries {
                e.a = 0;
            }
        }
        self.table.pick_min(|e| e.a)
    }

    fn quantum_ns(&self, thread: &ThreadView<'_>) -> u64 {
        let level = self.table.get(thread.id()).map_or(0, |e| e.a) as usize;
        Self::QUANTA_NS[level.min(Self::QUANTA_NS.len() - 1)]
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, _now_ns: u64) -> bool {
        if self.table.higher_waiting(running) {
            return true;
        }
        let level = self.table.get(running.id()).map_or(0, |e| e.a);
        self.table
            .entries
            .iter()
            .any(|e| e.queued && e.priority == running.priority() && e.a < level)
    }

    fn on_descheduled(&mut self, thread: &ThreadView<'_>, ran_ns: u64, preempted: bool, _: u64) {
        let quantum = self.quantum_ns(thread);
        if let Some(e) = self.table.entries.iter_mut().find(|e| e.tid == thread.id())
            && preempted
            && ran_ns >= quantum
        {
            e.a = (e.a + 1).min(Self::QUANTA_NS.len() as u64 - 1);
        }
        self.table.remove_if_exited(thread);
    }
}

/// Shortest (predicted remaining) job first on an exponential average of bursts.
#[derive(Clone, Debug, Default)]
pub struct SjfPolicy {
    table: Table,
}

impl SjfPolicy {
    /// Quantum: 10 ms, as round-robin.
    pub const QUANTUM_NS: u64 = 10_000_000;
    /// Initial burst estimate for a thread never seen: 5 ms.
    pub const INITIAL_TAU_NS: u64 = 5_000_000;

    /// A new policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current estimate τ of `tid`'s next burst, if tracked.
    pub fn tau_of(&self, tid: ThreadId) -> Option<u64> {
        self.table.get(tid).map(|e| e.a)
    }
}

impl SchedPolicy for SjfPolicy {
    fn name(&self) -> &str {
        "sjf-ewma"
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, _now_ns: u64) {
        self.table.upsert(thread, Self::INITIAL_TAU_NS);
    }

    fn on_removed(&mut self, tid: ThreadId) {
        self.table.unqueue(tid);
    }

    fn pick_next(&mut self, _now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        self.table.pick_min(|e| e.a.saturating_sub(e.b))
    }

    fn quantum_ns(&self, _thread: &ThreadView<'_>) -> u64 {
        Self::QUANTUM_NS
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, _now_ns: u64) -> bool {
        self.table.higher_waiting(running)
    }

    fn on_descheduled(&mut self, thread: &ThreadView<'_>, ran_ns: u64, preempted: bool, _: u64) {
        if let Some(e) = self.table.entries.iter_mut().find(|e| e.tid == thread.id()) {
            e.b = e.b.saturating_add(ran_ns);
            if !preempted {
                // τ ← ½·t + ½·τ on a complete burst.
                e.a = e.b / 2 + e.a / 2;
                e.b = 0;
            }
        }
        self.table.remove_if_exited(thread);
    }
}

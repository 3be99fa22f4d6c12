//! The baseline policy: strict priorities, round-robin within a level, fixed quantum.
//!
//! [`RoundRobinPolicy`] is the policy the kernel boots with and the reference a learned policy is
//! measured against. It implements [`crate::SchedPolicy`] with one FIFO per [`Priority`] level.

use alloc::collections::VecDeque;

use crate::ids::{Priority, ThreadId};
use crate::policy::SchedPolicy;
use crate::thread::{ThreadTableView, ThreadView};

/// Round-robin with strict priorities and a fixed quantum.
///
/// Exact behaviour:
/// - There is one FIFO queue per [`Priority`] level (four levels).
/// - A thread that becomes runnable (spawned, woken, preempted, yielded) joins the **back** of
///   the queue of its priority. A preempted thread therefore goes behind every thread of its level
///   that was already waiting, which is what makes the levels round-robin.
/// - `pick_next` takes the **front** of the highest non-empty level. A lower level runs only when
///   every higher level is empty (strict priority: lower levels can starve, by design).
/// - Every pick gets the same quantum (`DEFAULT_QUANTUM_NS` = 10 ms unless configured with
///   [`RoundRobinPolicy::with_quantum_ns`]).
/// - The running thread is preempted early ([`SchedPolicy::wants_preemption`]) exactly when a
///   thread of **strictly** higher priority is waiting; equal priority waits for the quantum.
/// - It keeps no other state and reads no clock or accounting, so the same sequence of calls
///   always produces the same decisions.
#[derive(Clone, Debug)]
pub struct RoundRobinPolicy {
    queues: [VecDeque<ThreadId>; Priority::LEVELS],
    quantum_ns: u64,
}

impl RoundRobinPolicy {
    /// The default quantum: 10 ms.
    pub const DEFAULT_QUANTUM_NS: u64 = 10_000_000;

    /// A policy with the default 10 ms quantum.
    pub fn new() -> Self {
        Self::with_quantum_ns(Self::DEFAULT_QUANTUM_NS)
    }

    /// A policy with the given quantum (`0` means a thread runs only until another is runnable).
    pub fn with_quantum_ns(quantum_ns: u64) -> Self {
        RoundRobinPolicy {
            queues: Default::default(),
            quantum_ns,
        }
    }

    /// Number of threads waiting at `priority`.
    pub fn queued_at(&self, priority: Priority) -> usize {
        self.queues.get(priority.index()).map_or(0, VecDeque::len)
    }

    /// Every waiting thread, highest level first and in queue order within a level: the order in
    /// which they would be picked if nothing else happened.
    pub fn queued(&self) -> impl Iterator<Item = ThreadId> + '_ {
        self.queues.iter().rev().flat_map(|q| q.iter().copied())
    }

    fn highest_waiting(&self) -> Option<Priority> {
        Priority::ALL
            .iter()
            .rev()
            .copied()
            .find(|p| self.queued_at(*p) > 0)
    }
}

impl Default for RoundRobinPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl SchedPolicy for RoundRobinPolicy {
    fn name(&self) -> &str {
        "round-robin"
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, _now_ns: u64) {
        if let Some(queue) = self.queues.get_mut(thread.priority().index()) {
            queue.push_back(thread.id());
        }
    }

    fn on_removed(&mut self, tid: ThreadId) {
        for queue in &mut self.queues {
            queue.retain(|t| *t != tid);
        }
    }

    fn pick_next(&mut self, _now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        self.queues.iter_mut().rev().find_map(VecDeque::pop_front)
    }

    fn quantum_ns(&self, _thread: &ThreadView<'_>) -> u64 {
        self.quantum_ns
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, _now_ns: u64) -> bool {
        self.highest_waiting()
            .is_some_and(|waiting| waiting > running.priority())
    }

    fn on_descheduled(
        &mut self,
        _thread: &ThreadView<'_>,
        _ran_ns: u64,
        _preempted: bool,
        _now_ns: u64,
    ) {
        // Round-robin keeps no history: the slice length is fixed whatever a thread did.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::WaitQueueId;
    use crate::thread::{Thread, ThreadState};
    use alloc::collections::BTreeMap;
    use alloc::string::String;
    use alloc::vec::Vec;

    fn table(prios: &[(u32, Priority)]) -> BTreeMap<ThreadId, Thread> {
        prios
            .iter()
            .map(|(id, p)| {
                let t = Thread::new(
                    ThreadId(*id),
                    String::from("t"),
                    *p,
                    ThreadState::Runnable,
                    0,
                    WaitQueueId(*id),
                );
                (ThreadId(*id), t)
            })
            .collect()
    }

    fn enqueue_all(
        policy: &mut RoundRobinPolicy,
        threads: &BTreeMap<ThreadId, Thread>,
        ids: &[u32],
    ) {
        for id in ids {
            let t = threads.get(&ThreadId(*id)).map(ThreadView::new);
            if let Some(view) = t {
                policy.on_runnable(&view, 0);
            }
        }
    }

    fn drain(policy: &mut RoundRobinPolicy, threads: &BTreeMap<ThreadId, Thread>) -> Vec<u32> {
        let view = ThreadTableView::new(threads);
        core::iter::from_fn(|| policy.pick_next(0, &view).map(|t| t.0)).collect()
    }

    #[test]
    fn picks_highest_level_first_then_fifo() {
        let threads = table(&[
            (1, Priority::Low),
            (2, Priority::Normal),
            (3, Priority::Critical),
            (4, Priority::Normal),
            (5, Priority::High),
            (6, Priority::Low),
        ]);
        let mut rr = RoundRobinPolicy::new();
        enqueue_all(&mut rr, &threads, &[1, 2, 3, 4, 5, 6]);
        let expected = [3, 5, 2, 4, 1, 6];
        assert!(rr.queued().map(|t| t.0).eq(expected));
        assert_eq!(drain(&mut rr, &threads), expected);
    }

    #[test]
    fn removed_threads_are_forgotten_and_unknown_ids_ignored() {
        let threads = table(&[
            (1, Priority::Normal),
            (2, Priority::Normal),
            (3, Priority::High),
        ]);
        let mut rr = RoundRobinPolicy::new();
        enqueue_all(&mut rr, &threads, &[1, 2, 3]);
        rr.on_removed(ThreadId(2));
        rr.on_removed(ThreadId(99));
        assert_eq!(rr.queued_at(Priority::Normal), 1);
        assert_eq!(drain(&mut rr, &threads), [3, 1]);
    }

    #[test]
    fn preempts_only_for_strictly_higher_priority() {
        let threads = table(&[
            (1, Priority::Normal),
            (2, Priority::Normal),
            (3, Priority::High),
        ]);
        let running = threads.get(&ThreadId(1)).map(ThreadView::new);
        let Some(running) = running else {
            panic!("thread 1 is in the table");
        };
        let mut rr = RoundRobinPolicy::new();
        assert!(!rr.wants_preemption(&running, 0));
        enqueue_all(&mut rr, &threads, &[2]);
        assert!(!rr.wants_preemption(&running, 0));
        enqueue_all(&mut rr, &threads, &[3]);
        assert!(rr.wants_preemption(&running, 0));
    }

    #[test]
    fn quantum_is_fixed_and_configurable() {
        let threads = table(&[(1, Priority::Critical)]);
        let view = threads.get(&ThreadId(1)).map(ThreadView::new);
        let Some(view) = view else {
            panic!("thread 1 is in the table");
        };
        assert_eq!(RoundRobinPolicy::new().quantum_ns(&view), 10_000_000);
        assert_eq!(
            RoundRobinPolicy::with_quantum_ns(123).quantum_ns(&view),
            123
        );
    }
}

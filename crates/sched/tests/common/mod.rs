//! Test helpers shared by the integration tests: an auditing policy wrapper that records what the
//! scheduler tells a policy, so tests can check the hand-off protocol from outside.

#![allow(
    dead_code,
    reason = "each test binary uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use sched::{SchedPolicy, ThreadId, ThreadTableView, ThreadView};

/// One call the scheduler made on the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    Runnable(ThreadId),
    Removed(ThreadId),
    Picked(Option<ThreadId>),
    Descheduled {
        tid: ThreadId,
        ran_ns: u64,
        preempted: bool,
    },
}

/// What the audited policy has been told.
#[derive(Debug, Default)]
pub struct Audit {
    /// How many times each thread is held (handed over and not yet picked or removed).
    pub held: BTreeMap<ThreadId, u32>,
    pub calls: Vec<Call>,
}

impl Audit {
    /// Threads held, each with its count (a correct scheduler never exceeds 1).
    pub fn held(&self) -> &BTreeMap<ThreadId, u32> {
        &self.held
    }
}

/// Wraps a policy and records every call into a shared [`Audit`].
pub struct AuditedPolicy {
    inner: Box<dyn SchedPolicy>,
    audit: Arc<Mutex<Audit>>,
}

impl AuditedPolicy {
    pub fn new(inner: Box<dyn SchedPolicy>) -> (Self, Arc<Mutex<Audit>>) {
        let audit = Arc::new(Mutex::new(Audit::default()));
        (
            AuditedPolicy {
                inner,
                audit: Arc::clone(&audit),
            },
            audit,
        )
    }

    fn audit(&self) -> MutexGuard<'_, Audit> {
        match self.audit.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

fn release(held: &mut BTreeMap<ThreadId, u32>, tid: ThreadId) {
    if let Some(count) = held.get_mut(&tid) {
        *count -= 1;
        if *count == 0 {
            held.remove(&tid);
        }
    }
}

impl SchedPolicy for AuditedPolicy {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, now_ns: u64) {
        {
            let mut audit = self.audit();
            *audit.held.entry(thread.id()).or_insert(0) += 1;
            audit.calls.push(Call::Runnable(thread.id()));
        }
        self.inner.on_runnable(thread, now_ns);
    }

    fn on_removed(&mut self, tid: ThreadId) {
        {
            let mut audit = self.audit();
            release(&mut audit.held, tid);
            audit.calls.push(Call::Removed(tid));
        }
        self.inner.on_removed(tid);
    }

    fn pick_next(&mut self, now_ns: u64, threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        let pick = self.inner.pick_next(now_ns, threads);
        let mut audit = self.audit();
        if let Some(tid) = pick {
            release(&mut audit.held, tid);
        }
        audit.calls.push(Call::Picked(pick));
        pick
    }

    fn quantum_ns(&self, thread: &ThreadView<'_>) -> u64 {
        self.inner.quantum_ns(thread)
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, now_ns: u64) -> bool {
        self.inner.wants_preemption(running, now_ns)
    }

    fn on_descheduled(
        &mut self,
        thread: &ThreadView<'_>,
        ran_ns: u64,
        preempted: bool,
        now_ns: u64,
    ) {
        self.audit().calls.push(Call::Descheduled {
            tid: thread.id(),
            ran_ns,
            preempted,
        });
        self.inner.on_descheduled(thread, ran_ns, preempted, now_ns);
    }
}

/// Runnable threads other than idle, from the scheduler's own table.
pub fn runnable_threads(s: &sched::Scheduler) -> Vec<ThreadId> {
    s.table()
        .iter()
        .filter(|t| !t.is_idle() && t.state() == sched::ThreadState::Runnable)
        .map(|t| t.id())
        .collect()
}

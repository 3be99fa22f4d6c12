//! Behaviour of `Scheduler` with the round-robin baseline: priorities, fairness, quantum expiry,
//! sleeping, wait queues, join/reap, accounting, policy swaps, faulty policies and errors.

mod common;

use common::{AuditedPolicy, Call, runnable_threads};
use sched::{
    JoinStatus, Priority, RoundRobinPolicy, SchedError, SchedPolicy, Scheduler, Switch,
    SwitchReason, ThreadId, ThreadState, ThreadTableView, ThreadView, WaitQueueId,
};

const MS: u64 = 1_000_000;
const Q: u64 = RoundRobinPolicy::DEFAULT_QUANTUM_NS;

fn rr_scheduler() -> Scheduler {
    Scheduler::new(Box::new(RoundRobinPolicy::new()), 0)
}

fn spawn(s: &mut Scheduler, name: &str, prio: Priority, now: u64) -> ThreadId {
    match s.spawn(name, prio, now) {
        Ok(tid) => tid,
        Err(e) => panic!("spawn {name}: {e}"),
    }
}

fn schedule(s: &mut Scheduler, now: u64, reason: SwitchReason) -> Switch {
    match s.schedule(now, reason) {
        Ok(sw) => sw,
        Err(e) => panic!("schedule at {now} for {reason:?}: {e}"),
    }
}

fn state(s: &Scheduler, tid: ThreadId) -> ThreadState {
    match s.thread(tid) {
        Some(t) => t.state(),
        None => panic!("thread {tid} missing"),
    }
}

/// Drives the timer every `step` ns from `from` to `to`, preempting whenever `tick` asks, and
/// returns the threads dispatched by preemption, in order.
fn run_ticks(s: &mut Scheduler, from: u64, to: u64, step: u64) -> Vec<ThreadId> {
    let mut picks = Vec::new();
    let mut now = from;
    while now < to {
        now += step;
        if s.tick(now) {
            let sw = schedule(s, now, SwitchReason::Preempted);
            picks.push(sw.to);
        }
    }
    picks
}

#[test]
fn starts_with_idle_running() {
    let s = rr_scheduler();
    assert_eq!(s.current(), ThreadId::IDLE);
    assert_eq!(state(&s, ThreadId::IDLE), ThreadState::Running);
    assert_eq!(s.thread(ThreadId::IDLE).map(|t| t.name()), Some("idle"));
    let stats = s.stats();
    assert_eq!(stats.policy, "round-robin");
    assert_eq!((stats.threads, stats.runnable, stats.switches), (1, 0, 0));
}

#[test]
fn idle_runs_only_when_nothing_else_can() {
    let mut s = rr_scheduler();
    // Nothing runnable: the idle thread keeps the CPU and the policy is not consulted.
    let sw = schedule(&mut s, 5, SwitchReason::Yield);
    assert_eq!(
        sw,
        Switch {
            from: ThreadId::IDLE,
            to: ThreadId::IDLE
        }
    );
    assert!(!sw.is_switch());
    assert_eq!(s.stats().decisions, 0);
    assert!(!s.tick(100 * MS));

    let a = spawn(&mut s, "a", Priority::Low, 200 * MS);
    // Idle is preempted as soon as anything is runnable, whatever its quantum.
    assert!(s.tick(200 * MS));
    assert_eq!(schedule(&mut s, 200 * MS, SwitchReason::Preempted).to, a);
    // The idle thread is never handed to the policy.
    assert_eq!(runnable_threads(&s), Vec::<ThreadId>::new());
    assert_eq!(state(&s, ThreadId::IDLE), ThreadState::Runnable);
    schedule(&mut s, 201 * MS, SwitchReason::Exit { code: 0 });
    assert_eq!(s.current(), ThreadId::IDLE);
}

#[test]
fn strict_priority_order_and_early_preemption() {
    let mut s = rr_scheduler();
    let low = spawn(&mut s, "low", Priority::Low, 0);
    let normal = spawn(&mut s, "normal", Priority::Normal, 0);
    let crit = spawn(&mut s, "crit", Priority::Critical, 0);
    let high = spawn(&mut s, "high", Priority::High, 0);
    let mut order = vec![schedule(&mut s, 0, SwitchReason::Yield).to];
    for i in 1..4 {
        order.push(schedule(&mut s, i * MS, SwitchReason::Exit { code: 0 }).to);
    }
    assert_eq!(order, [crit, high, normal, low]);

    // A higher priority that becomes runnable preempts before the quantum ends; an equal one
    // waits for it.
    assert!(!s.tick(4 * MS));
    let low2 = spawn(&mut s, "low2", Priority::Low, 4 * MS);
    assert!(!s.tick(5 * MS), "equal priority waits for the quantum");
    let high2 = spawn(&mut s, "high2", Priority::High, 6 * MS);
    assert!(
        s.should_preempt(6 * MS),
        "known without waiting for the timer"
    );
    assert!(s.tick(6 * MS), "higher priority preempts early");
    assert_eq!(schedule(&mut s, 6 * MS, SwitchReason::Preempted).to, high2);
    // The preempted thread went behind low2 in its level.
    schedule(&mut s, 7 * MS, SwitchReason::Exit { code: 0 });
    assert_eq!(s.current(), low2);
}

#[test]
fn round_robin_is_fair_within_a_level() {
    let mut s = rr_scheduler();
    let ids: Vec<ThreadId> = ["a", "b", "c"]
        .iter()
        .map(|n| spawn(&mut s, n, Priority::Normal, 0))
        .collect();
    assert!(s.tick(0));
    let first = schedule(&mut s, 0, SwitchReason::Preempted).to;
    assert_eq!(first, ids[0]);
    // 30 quanta at 1 ms timer resolution.
    let picks = run_ticks(&mut s, 0, 30 * Q, MS);
    assert_eq!(picks.len(), 30);
    for (i, pick) in picks.iter().enumerate() {
        assert_eq!(*pick, ids[(i + 1) % 3], "pick {i}");
    }
    // Exact shares: 10 quanta each (the last slice has just started).
    let now = 30 * Q;
    for (tid, acct) in s
        .threads(now)
        .iter()
        .filter(|t| t.id != ThreadId::IDLE)
        .map(|t| (t.id, t.accounting))
    {
        assert_eq!(acct.cpu_ns, 10 * Q, "thread {tid}");
        assert_eq!(acct.runnable_wait_ns, 20 * Q, "thread {tid}");
    }
    let stats = s.stats();
    // 30 preemptions of a thread by another, and the first dispatch out of idle.
    assert_eq!(stats.involuntary_switches, 30);
    assert_eq!(stats.idle_wakeups, 1);
    assert_eq!(stats.voluntary_switches, 0);
}

#[test]
fn quantum_expires_only_when_another_thread_is_runnable() {
    let mut s = rr_scheduler();
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    assert_eq!(s.current(), a);
    // Alone, `a` is never preempted however long it runs.
    for t in 1..=50 {
        assert!(!s.tick(t * MS), "tick at {t} ms");
    }
    // Preempting anyway is harmless: `a` is picked again with a fresh quantum.
    let sw = schedule(&mut s, 50 * MS, SwitchReason::Preempted);
    assert_eq!(sw, Switch { from: a, to: a });
    assert_eq!(s.stats().switches, 1, "only idle -> a switched");
    let b = spawn(&mut s, "b", Priority::Normal, 50 * MS);
    assert!(!s.tick(50 * MS + Q - 1), "quantum not yet used up");
    assert!(s.tick(50 * MS + Q), "quantum used up and b is waiting");
    assert_eq!(schedule(&mut s, 50 * MS + Q, SwitchReason::Preempted).to, b);
    let acct = s.thread(a).map(|t| *t.accounting());
    assert_eq!(
        acct.map(|a| (a.involuntary_switches, a.times_scheduled)),
        Some((1, 2))
    );
}

#[test]
fn zero_quantum_yields_to_any_waiting_thread() {
    let mut s = Scheduler::new(Box::new(RoundRobinPolicy::with_quantum_ns(0)), 0);
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    assert!(!s.tick(1));
    let b = spawn(&mut s, "b", Priority::Normal, 1);
    assert!(s.tick(1));
    assert_eq!(
        schedule(&mut s, 1, SwitchReason::Preempted),
        Switch { from: a, to: b }
    );
}

#[test]
fn sleepers_wake_at_their_time_in_order() {
    let mut s = rr_scheduler();
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    let b = spawn(&mut s, "b", Priority::Normal, 0);
    let c = spawn(&mut s, "c", Priority::Normal, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    // a and b sleep until 5 ms (a first), c until 3 ms.
    assert_eq!(
        schedule(&mut s, MS, SwitchReason::Sleep { until_ns: 5 * MS }).to,
        b
    );
    assert_eq!(
        schedule(&mut s, MS, SwitchReason::Sleep { until_ns: 5 * MS }).to,
        c
    );
    assert_eq!(
        schedule(&mut s, 2 * MS, SwitchReason::Sleep { until_ns: 3 * MS }).to,
        ThreadId::IDLE
    );
    assert_eq!(s.next_wakeup_ns(), Some(3 * MS));
    assert_eq!(state(&s, a), ThreadState::Sleeping { until_ns: 5 * MS });
    assert!(!s.tick(3 * MS - 1));
    assert!(s.tick(3 * MS));
    assert_eq!(state(&s, c), ThreadState::Runnable);
    assert_eq!(s.next_wakeup_ns(), Some(5 * MS));
    assert_eq!(s.wake_sleepers(5 * MS - 1), 0);
    assert_eq!(s.wake_sleepers(5 * MS), 2);
    assert_eq!(s.next_wakeup_ns(), None);
    // FIFO after waking: c (woke first), then a, then b (went to sleep after a).
    assert_eq!(schedule(&mut s, 5 * MS, SwitchReason::Yield).to, c);
    assert_eq!(
        schedule(&mut s, 6 * MS, SwitchReason::Exit { code: 0 }).to,
        a
    );
    assert_eq!(
        schedule(&mut s, 7 * MS, SwitchReason::Exit { code: 0 }).to,
        b
    );
    assert_eq!(s.thread(a).map(|t| t.accounting().sleep_ns), Some(4 * MS));
    assert_eq!(s.thread(c).map(|t| t.accounting().sleep_ns), Some(MS));
}

#[test]
fn sleeping_until_the_past_is_a_yield() {
    let mut s = rr_scheduler();
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    let b = spawn(&mut s, "b", Priority::Normal, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    let sw = schedule(&mut s, 10, SwitchReason::Sleep { until_ns: 10 });
    assert_eq!(sw, Switch { from: a, to: b });
    assert_eq!(state(&s, a), ThreadState::Runnable);
    assert_eq!(s.next_wakeup_ns(), None);
    assert_eq!(
        s.thread(a).map(|t| t.accounting().voluntary_switches),
        Some(1)
    );
}

#[test]
fn wait_queues_are_fifo() {
    let mut s = rr_scheduler();
    let q = s.create_wait_queue().expect("fresh queue id");
    let ids: Vec<ThreadId> = ["a", "b", "c"]
        .iter()
        .map(|n| spawn(&mut s, n, Priority::Normal, 0))
        .collect();
    schedule(&mut s, 0, SwitchReason::Yield);
    for (i, tid) in ids.iter().enumerate() {
        assert_eq!(s.current(), *tid);
        schedule(&mut s, i as u64 + 1, SwitchReason::Block(q));
        assert_eq!(state(&s, *tid), ThreadState::Blocked(q));
    }
    assert_eq!(s.current(), ThreadId::IDLE);
    assert_eq!(s.waiters(q), Ok(3));
    assert_eq!(s.destroy_wait_queue(q), Err(SchedError::QueueNotEmpty(q)));
    assert_eq!(s.wake_one(q, 10), Ok(Some(ids[0])));
    assert_eq!(s.wake_one(q, 11), Ok(Some(ids[1])));
    assert_eq!(state(&s, ids[0]), ThreadState::Runnable);
    assert_eq!(s.wake_all(q, 12), Ok(1));
    assert_eq!(
        s.wake_one(q, 13),
        Ok(None),
        "an empty queue is not an error"
    );
    assert_eq!(s.wake_all(q, 13), Ok(0));
    // Woken threads run in wake order.
    assert_eq!(schedule(&mut s, 14, SwitchReason::Yield).to, ids[0]);
    assert_eq!(schedule(&mut s, 15, SwitchReason::Yield).to, ids[1]);
    assert_eq!(schedule(&mut s, 16, SwitchReason::Yield).to, ids[2]);
    assert_eq!(
        s.thread(ids[0]).map(|t| t.accounting().blocked_ns),
        Some(10 - 1)
    );
    assert_eq!(s.destroy_wait_queue(q), Ok(()));
    assert_eq!(s.wake_one(q, 17), Err(SchedError::UnknownWaitQueue(q)));
    assert_eq!(s.wake_all(q, 17), Err(SchedError::UnknownWaitQueue(q)));
    assert_eq!(s.waiters(q), Err(SchedError::UnknownWaitQueue(q)));
}

#[test]
fn join_live_and_exited_threads_then_reap() {
    let mut s = rr_scheduler();
    let parent = spawn(&mut s, "parent", Priority::High, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    let child = spawn(&mut s, "child", Priority::Normal, MS);
    let second = spawn(&mut s, "second", Priority::Normal, MS);

    let JoinStatus::MustWait(q) = s.join(child).expect("child is alive") else {
        panic!("a live child cannot be joined yet");
    };
    assert_eq!(s.reap(child), Err(SchedError::NotExited(child)));
    assert_eq!(schedule(&mut s, 2 * MS, SwitchReason::Block(q)).to, child);
    // A second joiner on the same exit: `second` also waits.
    assert!(matches!(s.join(child), Err(SchedError::JoinSelf)));
    schedule(&mut s, 3 * MS, SwitchReason::Yield);
    assert_eq!(s.current(), second);
    assert_eq!(s.join(child), Ok(JoinStatus::MustWait(q)));
    assert_eq!(schedule(&mut s, 4 * MS, SwitchReason::Block(q)).to, child);
    // The child exits: both joiners wake, the high-priority parent runs.
    let sw = schedule(&mut s, 5 * MS, SwitchReason::Exit { code: 42 });
    assert_eq!(
        sw,
        Switch {
            from: child,
            to: parent
        }
    );
    assert_eq!(state(&s, second), ThreadState::Runnable);
    assert_eq!(s.join(child), Ok(JoinStatus::Exited(42)));
    // Blocking on the exit queue of an exited thread would never end.
    assert_eq!(
        s.schedule(6 * MS, SwitchReason::Block(q)),
        Err(SchedError::QueueClosed(q))
    );
    let info = s.reap(child).expect("child exited");
    assert_eq!(info.state, ThreadState::Exited { code: 42 });
    assert_eq!(info.name, "child");
    assert_eq!(info.accounting.completed_ns, Some(5 * MS));
    assert_eq!(info.state_since_ns, 5 * MS);
    assert_eq!(s.reap(child), Err(SchedError::UnknownThread(child)));
    assert_eq!(s.join(child), Err(SchedError::UnknownThread(child)));
    assert!(s.thread(child).is_none());
    assert_eq!(
        s.schedule(6 * MS, SwitchReason::Block(q)),
        Err(SchedError::UnknownWaitQueue(q))
    );
}

#[test]
fn join_refuses_self_and_idle() {
    let mut s = rr_scheduler();
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    assert_eq!(s.join(a), Err(SchedError::JoinSelf));
    assert_eq!(s.join(ThreadId::IDLE), Err(SchedError::JoinIdle));
    assert_eq!(
        s.join(ThreadId(77)),
        Err(SchedError::UnknownThread(ThreadId(77)))
    );
    // Blocking on one's own exit queue or on idle's is refused the same way.
    // `a` was the first thread spawned, so its exit queue is q1.
    assert_eq!(
        s.schedule(1, SwitchReason::Block(WaitQueueId(1))),
        Err(SchedError::JoinSelf)
    );
    assert_eq!(
        s.schedule(1, SwitchReason::Block(WaitQueueId(0))),
        Err(SchedError::JoinIdle)
    );
    assert_eq!(s.current(), a, "refused calls change nothing");
}

#[test]
fn accounting_identity_holds_for_exited_threads() {
    let mut s = rr_scheduler();
    let q = s.create_wait_queue().expect("queue");
    let a = spawn(&mut s, "a", Priority::Normal, 100);
    let b = spawn(&mut s, "b", Priority::Normal, 250);
    let c = spawn(&mut s, "c", Priority::High, 300);
    assert_eq!(schedule(&mut s, 400, SwitchReason::Preempted).to, c);
    assert_eq!(
        schedule(&mut s, 1_000, SwitchReason::Sleep { until_ns: 5_000 }).to,
        a
    );
    assert_eq!(schedule(&mut s, 2_000, SwitchReason::Block(q)).to, b);
    assert_eq!(s.wake_one(q, 2_500), Ok(Some(a)));
    assert_eq!(schedule(&mut s, 3_000, SwitchReason::Preempted).to, a);
    assert!(s.tick(5_000), "c wakes and has a higher priority");
    assert_eq!(schedule(&mut s, 5_000, SwitchReason::Preempted).to, c);
    assert_eq!(
        schedule(&mut s, 6_000, SwitchReason::Exit { code: 1 }).to,
        b
    );
    assert_eq!(
        schedule(&mut s, 7_500, SwitchReason::Exit { code: 2 }).to,
        a
    );
    assert_eq!(
        schedule(&mut s, 9_000, SwitchReason::Exit { code: 3 }).to,
        ThreadId::IDLE
    );

    for tid in [a, b, c] {
        let info = s.reap(tid).expect("exited");
        let acct = info.accounting;
        let completed = acct
            .completed_ns
            .expect("exited threads have a completion time");
        assert_eq!(
            acct.cpu_ns + acct.runnable_wait_ns + acct.blocked_ns + acct.sleep_ns,
            completed - acct.created_ns,
            "thread {tid}: {acct:?}"
        );
    }
    // A simple split checked by hand: created at 100, waits until 400, runs until 1000.
    let mut s2 = rr_scheduler();
    let q2 = s2.create_wait_queue().expect("queue");
    let x = spawn(&mut s2, "x", Priority::Normal, 100);
    schedule(&mut s2, 400, SwitchReason::Yield);
    schedule(&mut s2, 1_000, SwitchReason::Block(q2));
    let acct = s2.thread(x).map(|t| *t.accounting()).expect("x");
    assert_eq!(
        (acct.runnable_wait_ns, acct.cpu_ns, acct.voluntary_switches),
        (300, 600, 1)
    );
}

#[test]
fn cpu_time_of_all_threads_covers_the_whole_run() {
    let mut s = rr_scheduler();
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        spawn(&mut s, name, Priority::ALL[i], 0);
    }
    run_ticks(&mut s, 0, 200 * MS, MS);
    let total: u64 = s
        .threads(200 * MS)
        .iter()
        .map(|t| t.accounting.cpu_ns)
        .sum();
    assert_eq!(
        total,
        200 * MS,
        "one CPU: exactly one thread runs at every instant"
    );
}

#[test]
fn clock_never_runs_backwards() {
    let mut s = rr_scheduler();
    let a = spawn(&mut s, "a", Priority::Normal, 1_000);
    schedule(&mut s, 2_000, SwitchReason::Yield);
    // A stale time is treated as the latest one seen.
    assert!(!s.tick(500));
    assert_eq!(s.now_ns(), 2_000);
    schedule(&mut s, 1_500, SwitchReason::Exit { code: 0 });
    let info = s.reap(a).expect("exited");
    assert_eq!(info.accounting.completed_ns, Some(2_000));
    assert_eq!(info.accounting.runnable_wait_ns, 1_000);
    assert_eq!(info.accounting.cpu_ns, 0);
}

#[test]
fn descheduled_hook_reports_slices() {
    let (policy, audit) = AuditedPolicy::new(Box::new(RoundRobinPolicy::new()));
    let mut s = Scheduler::new(Box::new(policy), 0);
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    let b = spawn(&mut s, "b", Priority::Normal, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    run_ticks(&mut s, 0, Q, MS);
    let q = s.create_wait_queue().expect("queue");
    schedule(&mut s, Q + 3 * MS, SwitchReason::Block(q));
    let audit = audit.lock().expect("audit lock");
    let slices: Vec<&Call> = audit
        .calls
        .iter()
        .filter(|c| matches!(c, Call::Descheduled { .. }))
        .collect();
    assert_eq!(
        slices,
        [
            &Call::Descheduled {
                tid: a,
                ran_ns: Q,
                preempted: true
            },
            &Call::Descheduled {
                tid: b,
                ran_ns: 3 * MS,
                preempted: false
            },
        ]
    );
    // Idle is never reported, never held.
    assert!(!audit.held.contains_key(&ThreadId::IDLE));
}

#[test]
fn set_priority_requeues_runnable_threads() {
    let (policy, audit) = AuditedPolicy::new(Box::new(RoundRobinPolicy::new()));
    let mut s = Scheduler::new(Box::new(policy), 0);
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    let b = spawn(&mut s, "b", Priority::Normal, 0);
    let c = spawn(&mut s, "c", Priority::Normal, 0);
    assert_eq!(s.set_priority(c, Priority::High, 1), Ok(()));
    assert_eq!(s.thread(c).map(|t| t.priority()), Some(Priority::High));
    assert_eq!(audit.lock().expect("audit").held.get(&c), Some(&1));
    assert_eq!(schedule(&mut s, 2, SwitchReason::Yield).to, c);
    // Lowering the running thread's priority applies from its next slice.
    assert_eq!(s.set_priority(c, Priority::Low, 3), Ok(()));
    assert_eq!(schedule(&mut s, 4, SwitchReason::Yield).to, a);
    assert_eq!(schedule(&mut s, 5, SwitchReason::Yield).to, b);
    assert_eq!(schedule(&mut s, 6, SwitchReason::Yield).to, a);
    assert_eq!(
        s.set_priority(ThreadId::IDLE, Priority::High, 7),
        Err(SchedError::IdleHasNoPriority)
    );
    assert_eq!(
        s.set_priority(ThreadId(99), Priority::High, 7),
        Err(SchedError::UnknownThread(ThreadId(99)))
    );
    schedule(&mut s, 8, SwitchReason::Exit { code: 0 });
    assert_eq!(
        s.set_priority(a, Priority::High, 9),
        Err(SchedError::ThreadExited(a))
    );
}

/// A deliberately broken policy: answers with ids it was never given, or nothing.
struct BrokenPolicy {
    calls: u32,
}

impl SchedPolicy for BrokenPolicy {
    fn name(&self) -> &str {
        "broken"
    }
    fn on_runnable(&mut self, _thread: &ThreadView<'_>, _now_ns: u64) {}
    fn on_removed(&mut self, _tid: ThreadId) {}
    fn pick_next(&mut self, _now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        self.calls += 1;
        match self.calls % 3 {
            0 => None,
            1 => Some(ThreadId::IDLE),
            _ => Some(ThreadId(9_999)),
        }
    }
    fn quantum_ns(&self, _thread: &ThreadView<'_>) -> u64 {
        MS
    }
    fn wants_preemption(&self, _running: &ThreadView<'_>, _now_ns: u64) -> bool {
        false
    }
    fn on_descheduled(&mut self, _t: &ThreadView<'_>, _ran: u64, _pre: bool, _now: u64) {}
}

#[test]
fn faulty_policy_picks_are_corrected_and_counted() {
    let mut s = Scheduler::new(Box::new(BrokenPolicy { calls: 0 }), 0);
    let ids: Vec<ThreadId> = ["a", "b", "c"]
        .iter()
        .map(|n| spawn(&mut s, n, Priority::Normal, 0))
        .collect();
    // The fallback runs the longest-waiting runnable thread: plain FIFO.
    let mut order = vec![schedule(&mut s, 0, SwitchReason::Yield).to];
    order.extend(run_ticks(&mut s, 0, 5 * MS, MS));
    assert_eq!(order, [ids[0], ids[1], ids[2], ids[0], ids[1], ids[2]]);
    let stats = s.stats();
    assert_eq!(stats.policy, "broken");
    assert_eq!(stats.policy_faults, 6);
    assert_eq!(stats.decisions, 6);
}

#[test]
fn policy_swap_mid_run_keeps_every_thread_and_the_order() {
    fn scenario(swap_at: Option<usize>) -> (Vec<Switch>, Vec<sched::ThreadInfo>) {
        let mut s = rr_scheduler();
        let q = s.create_wait_queue().expect("queue");
        for (i, name) in ["a", "b", "c", "d", "e"].iter().enumerate() {
            spawn(
                &mut s,
                name,
                if i % 2 == 0 {
                    Priority::Normal
                } else {
                    Priority::High
                },
                0,
            );
        }
        let mut switches = Vec::new();
        let mut now = 0;
        for step in 0..200 {
            if Some(step) == swap_at {
                let old = s.set_policy(Box::new(RoundRobinPolicy::new()), now);
                assert_eq!(old.name(), "round-robin");
            }
            now += MS;
            let reason = match step % 7 {
                3 => SwitchReason::Block(q),
                5 => SwitchReason::Sleep {
                    until_ns: now + 4 * MS,
                },
                _ => SwitchReason::Preempted,
            };
            if step % 4 == 0 {
                s.wake_one(q, now).expect("queue exists");
            }
            s.wake_sleepers(now);
            let reason = if s.current() == ThreadId::IDLE {
                SwitchReason::Yield
            } else {
                reason
            };
            switches.push(schedule(&mut s, now, reason));
        }
        (switches, s.threads(now))
    }
    let baseline = scenario(None);
    let swapped = scenario(Some(77));
    assert_eq!(
        baseline, swapped,
        "a fresh FIFO policy continues the same order"
    );
    assert_eq!(scenario(Some(77)), swapped, "deterministic");
}

/// A policy unlike round-robin, reading per-thread accounting the way a learned policy would:
/// runs the held thread that has had the least CPU time (ties: lowest id).
#[derive(Default)]
struct LeastCpuPolicy {
    held: std::collections::BTreeSet<ThreadId>,
}

impl SchedPolicy for LeastCpuPolicy {
    fn name(&self) -> &str {
        "least-cpu"
    }
    fn on_runnable(&mut self, thread: &ThreadView<'_>, _now_ns: u64) {
        self.held.insert(thread.id());
    }
    fn on_removed(&mut self, tid: ThreadId) {
        self.held.remove(&tid);
    }
    fn pick_next(&mut self, _now_ns: u64, threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        let best = self
            .held
            .iter()
            .filter_map(|tid| threads.get(*tid))
            .min_by_key(|t| (t.accounting().cpu_ns, t.id()))
            .map(|t| t.id())?;
        self.held.remove(&best);
        Some(best)
    }
    fn quantum_ns(&self, _thread: &ThreadView<'_>) -> u64 {
        2 * MS
    }
    fn wants_preemption(&self, _running: &ThreadView<'_>, _now_ns: u64) -> bool {
        false
    }
    fn on_descheduled(&mut self, _t: &ThreadView<'_>, _ran: u64, _pre: bool, _now: u64) {}
}

#[test]
fn swap_to_a_different_policy_loses_no_thread() {
    let (policy, audit) = AuditedPolicy::new(Box::new(LeastCpuPolicy::default()));
    let mut s = rr_scheduler();
    let ids: Vec<ThreadId> = (0..6)
        .map(|i| spawn(&mut s, &format!("t{i}"), Priority::ALL[i % 4], 0))
        .collect();
    schedule(&mut s, 0, SwitchReason::Yield);
    run_ticks(&mut s, 0, 25 * MS, MS);
    let running = s.current();
    let expected = runnable_threads(&s);
    let old = s.set_policy(Box::new(policy), 25 * MS);
    assert_eq!(old.name(), "round-robin");
    assert_eq!(s.policy_name(), "least-cpu");
    {
        let audit = audit.lock().expect("audit");
        let held: Vec<ThreadId> = audit.held.keys().copied().collect();
        assert_eq!(held, expected);
        assert!(audit.held.values().all(|n| *n == 1));
        assert!(!audit.held.contains_key(&running));
    }
    assert_eq!(s.stats().policy_swaps, 1);
    // The threads starved by strict priority (never run so far) now run first.
    let starved: Vec<ThreadId> = s
        .table()
        .iter()
        .filter(|t| !t.is_idle() && t.accounting().cpu_ns == 0 && t.id() != running)
        .map(|t| t.id())
        .collect();
    assert!(!starved.is_empty());
    assert_eq!(
        schedule(&mut s, 26 * MS, SwitchReason::Preempted).to,
        starved[0]
    );
    // Every thread still runs to completion under the new policy, idle never in between.
    let mut now = 26 * MS;
    let mut finished = Vec::new();
    while s.stats().threads > 1 {
        assert_ne!(
            s.current(),
            ThreadId::IDLE,
            "idle ran while threads remained"
        );
        now += MS;
        let done = s.current();
        let code = i64::from(done.0);
        schedule(&mut s, now, SwitchReason::Exit { code });
        assert_eq!(
            s.reap(done).map(|i| i.state),
            Ok(ThreadState::Exited { code })
        );
        finished.push(done);
    }
    finished.sort();
    assert_eq!(finished, ids);
    assert_eq!(s.current(), ThreadId::IDLE);
    assert_eq!(s.stats().policy_faults, 0);
}

#[test]
fn bad_input_is_an_error_and_changes_nothing() {
    let mut s = rr_scheduler();
    assert_eq!(
        s.spawn("", Priority::Normal, 0),
        Err(SchedError::InvalidName)
    );
    assert_eq!(
        s.spawn(&"n".repeat(33), Priority::Normal, 0),
        Err(SchedError::InvalidName)
    );
    assert_eq!(
        s.spawn("a\tb", Priority::Normal, 0),
        Err(SchedError::InvalidName)
    );
    assert_eq!(s.stats().threads, 1);
    for reason in [
        SwitchReason::Block(WaitQueueId(0)),
        SwitchReason::Sleep { until_ns: 10 },
        SwitchReason::Exit { code: 0 },
    ] {
        assert_eq!(s.schedule(1, reason), Err(SchedError::IdleMustStayRunnable));
    }
    let a = spawn(&mut s, "a", Priority::Normal, 0);
    schedule(&mut s, 0, SwitchReason::Yield);
    let bogus = WaitQueueId(12_345);
    assert_eq!(
        s.schedule(1, SwitchReason::Block(bogus)),
        Err(SchedError::UnknownWaitQueue(bogus))
    );
    assert_eq!(s.current(), a);
    assert_eq!(state(&s, a), ThreadState::Running);
    assert_eq!(
        s.reap(ThreadId::IDLE),
        Err(SchedError::NotExited(ThreadId::IDLE))
    );
    assert_eq!(s.reap(a), Err(SchedError::NotExited(a)));
    assert_eq!(
        s.destroy_wait_queue(WaitQueueId(1)),
        Err(SchedError::IsExitQueue(WaitQueueId(1)))
    );
    assert_eq!(
        s.destroy_wait_queue(bogus),
        Err(SchedError::UnknownWaitQueue(bogus))
    );
    // Errors print as one line for the shell.
    let msg = SchedError::UnknownThread(ThreadId(4)).to_string();
    assert_eq!(msg, "no thread with id 4");
}

#[test]
fn scheduler_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    // The kernel keeps it in a lock that interrupt handlers on any CPU may take.
    assert_send::<Scheduler>();
}

#[test]
fn stats_print_one_figure_per_line() {
    let mut s = rr_scheduler();
    spawn(&mut s, "a", Priority::Normal, 0);
    schedule(&mut s, 1, SwitchReason::Yield);
    let text = s.stats().to_string();
    assert_eq!(text.lines().count(), 11);
    assert!(text.starts_with("policy: round-robin\n"));
    assert!(text.contains("\nswitches: 1\n"));
    // The first dispatch leaves the idle thread: neither a thread's yield nor a preemption.
    assert!(text.contains("\nvoluntary switches: 0\n"));
    assert!(text.contains("\nswitches out of idle: 1\n"));
}

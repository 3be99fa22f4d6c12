//! Property test: random sequences of scheduler operations keep every invariant, and the same
//! sequence always produces the same decisions.
//!
//! Invariants checked after every operation: exactly one thread is running and it is `current`;
//! the policy holds every runnable thread (idle excepted) exactly once, also after policy swaps;
//! a dispatched thread is running and never one that exited; exited threads stay exited; blocked
//! threads are counted by their queue; the accounting buckets of every thread sum to its lifetime;
//! and, on one CPU, the CPU time of all threads (reaped ones included) sums to the elapsed time.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use common::{Audit, AuditedPolicy};
use proptest::prelude::*;
use sched::{
    JoinStatus, Priority, RoundRobinPolicy, SchedError, Scheduler, SwitchReason, ThreadId,
    ThreadState, WaitQueueId,
};

#[derive(Clone, Debug)]
enum Op {
    Spawn(u8),
    Advance(u64),
    Tick,
    Yield,
    Block(usize),
    Sleep(u64),
    Exit(i64),
    CreateQueue,
    DestroyQueue(usize),
    WakeOne(usize),
    WakeAll(usize),
    WakeSleepers,
    JoinAndWait(usize),
    Reap(usize),
    SetPriority(usize, u8),
    SwapPolicy(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0u8..5).prop_map(Op::Spawn),
        4 => (0u64..3_000_000).prop_map(Op::Advance),
        4 => Just(Op::Tick),
        2 => Just(Op::Yield),
        3 => (0usize..8).prop_map(Op::Block),
        2 => (0u64..6_000_000).prop_map(Op::Sleep),
        2 => (-3i64..3).prop_map(Op::Exit),
        2 => Just(Op::CreateQueue),
        1 => (0usize..8).prop_map(Op::DestroyQueue),
        3 => (0usize..8).prop_map(Op::WakeOne),
        1 => (0usize..8).prop_map(Op::WakeAll),
        1 => Just(Op::WakeSleepers),
        2 => (0usize..16).prop_map(Op::JoinAndWait),
        2 => (0usize..16).prop_map(Op::Reap),
        1 => ((0usize..16), (0u8..5)).prop_map(|(t, p)| Op::SetPriority(t, p)),
        1 => (0u64..4).prop_map(|q| Op::SwapPolicy(q * 1_000_000)),
    ]
}

/// The policy under test: 0 round-robin, 1 learned (attention), 2 learned (no attention),
/// 3 EEVDF-like, 4 MLFQ, 5 SJF-EWMA. Swaps install round-robin with the swap's quantum for
/// kind 0 and a fresh policy of the same kind otherwise.
fn audited(kind: u8, quantum_ns: u64) -> (Box<AuditedPolicy>, Arc<Mutex<Audit>>) {
    let inner: Box<dyn sched::SchedPolicy> = match kind {
        1 => Box::new(sched::learned::LearnedPolicy::with_attention(true)),
        2 => Box::new(sched::learned::LearnedPolicy::with_attention(false)),
        3 => Box::new(sched::baselines::EevdfPolicy::new()),
        4 => Box::new(sched::baselines::MlfqPolicy::new()),
        5 => Box::new(sched::baselines::SjfPolicy::new()),
        _ => Box::new(RoundRobinPolicy::with_quantum_ns(quantum_ns)),
    };
    let (policy, audit) = AuditedPolicy::new(inner);
    (Box::new(policy), audit)
}

fn pick<T: Copy>(items: &[T], index: usize) -> Option<T> {
    if items.is_empty() {
        None
    } else {
        items.get(index % items.len()).copied()
    }
}

/// Runs `ops` on a fresh scheduler, checking invariants after each, and returns a trace of every
/// observable result.
fn run(ops: &[Op], kind: u8) -> Vec<String> {
    let (policy, mut audit) = audited(kind, 2_000_000);
    let mut s = Scheduler::new(policy, 0);
    let mut now = 0u64;
    let mut threads: Vec<ThreadId> = vec![ThreadId::IDLE];
    // Two queues from the start so blocking and waking happen in short sequences too.
    let mut queues: Vec<WaitQueueId> = (0..2)
        .map(|_| {
            s.create_wait_queue()
                .expect("fresh scheduler has queue ids")
        })
        .collect();
    let mut exited: BTreeSet<ThreadId> = BTreeSet::new();
    let mut reaped_cpu = 0u64;
    let mut trace = Vec::new();

    for op in ops {
        let result = match *op {
            Op::Spawn(p) => match Priority::try_from(p) {
                Ok(prio) => {
                    let r = s.spawn(&format!("t{}", threads.len()), prio, now);
                    if let Ok(tid) = r {
                        threads.push(tid);
                    }
                    format!("{r:?}")
                }
                Err(e) => {
                    assert_eq!(e, SchedError::InvalidPriority(p));
                    format!("{e:?}")
                }
            },
            Op::Advance(dt) => {
                now += dt;
                String::new()
            }
            Op::Tick => {
                if s.tick(now) {
                    let sw = s.schedule(now, SwitchReason::Preempted);
                    assert!(sw.is_ok(), "preemption cannot fail: {sw:?}");
                    format!("preempt {sw:?}")
                } else {
                    "tick".to_string()
                }
            }
            Op::Yield => format!("{:?}", s.schedule(now, SwitchReason::Yield)),
            Op::Block(i) => match pick(&queues, i) {
                Some(q) => format!("{:?}", s.schedule(now, SwitchReason::Block(q))),
                None => String::new(),
            },
            Op::Sleep(dt) => format!(
                "{:?}",
                s.schedule(now, SwitchReason::Sleep { until_ns: now + dt })
            ),
            Op::Exit(code) => {
                let leaving = s.current();
                let r = s.schedule(now, SwitchReason::Exit { code });
                match r {
                    Ok(_) => {
                        exited.insert(leaving);
                    }
                    Err(e) => {
                        assert_eq!(leaving, ThreadId::IDLE);
                        assert_eq!(e, SchedError::IdleMustStayRunnable);
                    }
                }
                format!("{r:?}")
            }
            Op::CreateQueue => {
                let r = s.create_wait_queue();
                if let Ok(q) = r {
                    queues.push(q);
                }
                format!("{r:?}")
            }
            Op::DestroyQueue(i) => match pick(&queues, i) {
                Some(q) => {
                    let waiting = s.waiters(q);
                    let r = s.destroy_wait_queue(q);
                    match waiting {
                        Ok(0) => {
                            assert_eq!(r, Ok(()));
                            queues.retain(|known| *known != q);
                        }
                        Ok(_) => assert_eq!(r, Err(SchedError::QueueNotEmpty(q))),
                        Err(e) => assert_eq!(r, Err(e)),
                    }
                    format!("{r:?}")
                }
                None => String::new(),
            },
            Op::WakeOne(i) => match pick(&queues, i) {
                Some(q) => format!("{:?}", s.wake_one(q, now)),
                None => String::new(),
            },
            Op::WakeAll(i) => match pick(&queues, i) {
                Some(q) => format!("{:?}", s.wake_all(q, now)),
                None => String::new(),
            },
            Op::WakeSleepers => format!("{}", s.wake_sleepers(now)),
            Op::JoinAndWait(i) => match pick(&threads, i) {
                Some(target) => {
                    let r = s.join(target);
                    let mut out = format!("{r:?}");
                    match r {
                        Ok(JoinStatus::MustWait(q)) => {
                            assert!(!exited.contains(&target));
                            let b = s.schedule(now, SwitchReason::Block(q));
                            out.push_str(&format!(" {b:?}"));
                        }
                        Ok(JoinStatus::Exited(_)) => assert!(exited.contains(&target)),
                        Err(_) => {}
                    }
                    out
                }
                None => String::new(),
            },
            Op::Reap(i) => match pick(&threads, i) {
                Some(tid) => {
                    let r = s.reap(tid);
                    if let Ok(info) = &r {
                        assert!(exited.contains(&tid), "reaped a live thread {tid}");
                        reaped_cpu += info.accounting.cpu_ns;
                    } else if s.thread(tid).is_some() {
                        assert!(!exited.contains(&tid), "an exited thread must be reapable");
                    }
                    format!("{r:?}")
                }
                None => String::new(),
            },
            Op::SetPriority(i, p) => match (pick(&threads, i), Priority::try_from(p)) {
                (Some(tid), Ok(prio)) => format!("{:?}", s.set_priority(tid, prio, now)),
                _ => String::new(),
            },
            Op::SwapPolicy(quantum) => {
                let (policy, new_audit) = audited(kind, quantum);
                let old = s.set_policy(policy, now);
                audit = new_audit;
                old.name().to_string()
            }
        };
        check(&s, now, &audit, &exited, reaped_cpu);
        trace.push(result);
    }
    trace.push(format!("{:?}", s.stats()));
    trace.push(format!("{:?}", s.threads(now)));
    trace
}

fn check(
    s: &Scheduler,
    now: u64,
    audit: &Arc<Mutex<Audit>>,
    exited: &BTreeSet<ThreadId>,
    reaped_cpu: u64,
) {
    let table = s.table();
    let running: Vec<ThreadId> = table
        .iter()
        .filter(|t| t.state() == ThreadState::Running)
        .map(|t| t.id())
        .collect();
    assert_eq!(
        running,
        [s.current()],
        "exactly one running thread, the current one"
    );

    let runnable: BTreeMap<ThreadId, u32> = table
        .iter()
        .filter(|t| !t.is_idle() && t.state() == ThreadState::Runnable)
        .map(|t| (t.id(), 1))
        .collect();
    let held = match audit.lock() {
        Ok(a) => a.held().clone(),
        Err(poisoned) => poisoned.into_inner().held().clone(),
    };
    assert_eq!(
        held, runnable,
        "the policy holds each runnable thread exactly once"
    );
    assert_eq!(s.stats().runnable, runnable.len());
    assert_eq!(s.stats().policy_faults, 0);

    for tid in exited {
        if let Some(t) = s.thread(*tid) {
            assert!(
                matches!(t.state(), ThreadState::Exited { .. }),
                "exited thread {tid} came back as {}",
                t.state()
            );
        }
    }
    assert!(
        !exited.contains(&s.current()),
        "an exited thread is running"
    );

    let mut blocked: BTreeMap<WaitQueueId, usize> = BTreeMap::new();
    for t in table.iter() {
        if let ThreadState::Blocked(q) = t.state() {
            *blocked.entry(q).or_insert(0) += 1;
        }
    }
    for (q, n) in &blocked {
        assert_eq!(s.waiters(*q), Ok(*n), "queue {q} holds its blocked threads");
    }

    let mut cpu = reaped_cpu;
    for info in s.threads(now) {
        let acct = info.accounting;
        let end = acct.completed_ns.unwrap_or(now);
        assert_eq!(
            acct.accounted_ns(),
            end - acct.created_ns,
            "accounting identity for {}: {acct:?}",
            info.id
        );
        cpu += acct.cpu_ns;
    }
    assert_eq!(cpu, now, "CPU time of all threads covers the whole run");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_operations_keep_invariants_and_are_deterministic(
        ops in proptest::collection::vec(op(), 1..200)
    ) {
        let first = run(&ops, 0);
        let second = run(&ops, 0);
        prop_assert_eq!(first, second);
    }

    /// The learned policy and the baselines follow the same hand-off protocol (every runnable
    /// thread held exactly once, no pick the scheduler must correct) and are deterministic.
    #[test]
    fn every_policy_keeps_the_protocol(
        ops in proptest::collection::vec(op(), 1..150),
        kind in 1u8..6,
    ) {
        let first = run(&ops, kind);
        let second = run(&ops, kind);
        prop_assert_eq!(first, second);
    }
}

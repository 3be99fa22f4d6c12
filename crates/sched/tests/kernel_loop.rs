//! The crate-level example of how the kernel drives the scheduler, compiled and run as a test
//! (doctests cannot link under the workspace's static relocation model).

#[test]
fn kernel_loop_example() -> Result<(), sched::SchedError> {
    use sched::{JoinStatus, Priority, RoundRobinPolicy, Scheduler, SwitchReason};

    // The boot context becomes the idle thread.
    let mut s = Scheduler::new(Box::new(RoundRobinPolicy::new()), 0);
    let worker = s.spawn("worker", Priority::Normal, 0)?;
    // Timer interrupt: preempt when asked, then switch stacks from `from` to `to`.
    if s.tick(1_000_000) {
        let switch = s.schedule(1_000_000, SwitchReason::Preempted)?;
        assert_eq!((switch.from, switch.to), (sched::ThreadId::IDLE, worker));
    }
    // The worker finishes; the scheduler picks the next thread (here idle again).
    let switch = s.schedule(3_000_000, SwitchReason::Exit { code: 7 })?;
    assert!(switch.is_switch());
    // Whoever joins it gets the code, then the kernel reaps it and frees its stack.
    assert_eq!(s.join(worker)?, JoinStatus::Exited(7));
    let info = s.reap(worker)?;
    assert_eq!(info.accounting.cpu_ns, 2_000_000);
    Ok(())
}

//! Host benchmark: cost of one timer tick plus scheduling decision, by number of threads.
//!
//! Run with `cargo run -p sched --release --example sched_bench`. Prints figures only; the
//! kernel runs the same code under QEMU TCG, where every figure is many times larger.

use std::time::Instant;

use sched::{Priority, RoundRobinPolicy, Scheduler, SwitchReason, ThreadId};

const MS: u64 = 1_000_000;

/// Runs `decisions` preemptions with `threads` CPU-bound threads spread over all levels, one
/// thread in eight blocking and waking on a shared queue; returns nanoseconds per decision.
fn bench(threads: usize, decisions: u64) -> Result<f64, sched::SchedError> {
    let mut s = Scheduler::new(Box::new(RoundRobinPolicy::with_quantum_ns(MS)), 0);
    let q = s.create_wait_queue()?;
    for i in 0..threads {
        s.spawn(&format!("t{i}"), Priority::ALL[i % Priority::LEVELS], 0)?;
    }
    let mut now = 0;
    let start = Instant::now();
    for n in 0..decisions {
        now += MS;
        s.wake_one(q, now)?;
        if s.tick(now) {
            let reason = if n % 8 == 0 && s.current() != ThreadId::IDLE {
                SwitchReason::Block(q)
            } else {
                SwitchReason::Preempted
            };
            std::hint::black_box(s.schedule(now, reason)?);
        }
    }
    let elapsed = start.elapsed();
    Ok(elapsed.as_nanos() as f64 / decisions as f64)
}

fn main() -> Result<(), sched::SchedError> {
    println!("{:>8} {:>12} {:>14}", "threads", "decisions", "ns/decision");
    for threads in [4, 32, 256, 2048] {
        let decisions = 200_000;
        let ns = bench(threads, decisions)?;
        println!("{threads:>8} {decisions:>12} {ns:>14.1}");
    }
    Ok(())
}

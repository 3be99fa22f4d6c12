//! The in-kernel evaluation: the workload scripts of `sched::eval` run as real kernel threads
//! under a chosen policy, measured into the same `Observations` the host simulator fills and
//! printed as the same `sched-eval` lines, which `sched::eval::summarize` (and
//! `sched-sim --summarize`) read.
//!
//! How each op runs on a real thread:
//! - `Cpu(n)`: spins until it has *run* `n` ns. Time is read from the TSC; a gap longer than
//!   [`DESCHEDULED_GAP_NS`] between two reads means the thread was off the CPU (preempted and
//!   waiting) — it is not counted as work, and the longest such gap is the run's max wait.
//! - `Sleep(n)`: `hal::task::sleep_ns`; for interactive threads the wake-up latency is the time
//!   from the due time to running again.
//! - `Io(n)`: a sleep of the device time. Limitation: the kernel run does not issue virtio-blk
//!   requests, so disk queueing is not reproduced (the simulator's single FIFO server is).
//! - `Signal`/`Wait`: a token counter and a kernel wait queue per channel (`hal::task::
//!   wait_until`, `wake_one`), the hackbench-style ping-pong.
//!
//! The policy is installed with `hal::task::set_policy` for the run and the previous one is put
//! back afterwards (with its learned weights); decision latency comes from the TSC-timed wrapper.

use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use hal::task::{self, SpawnOptions, WaitQueue};
use sched::eval::{self, Observations, Op, RunRecord, Workload};
use spin::Mutex;

/// A gap between two TSC reads in a spin longer than this was time off the CPU.
pub const DESCHEDULED_GAP_NS: u64 = 200_000;
/// Largest workload (threads) the kernel runs.
pub const MAX_THREADS: usize = 128;

/// Channel queues are created once and reused: the scheduler has no call to free a queue.
static CHANNEL_QUEUES: Mutex<Vec<WaitQueue>> = Mutex::new(Vec::new());

struct RunState {
    start_ns: u64,
    queues: Vec<WaitQueue>,
    tokens: Vec<AtomicU32>,
    max_wait_ns: AtomicU64,
    obs: Mutex<Observations>,
}

fn channel_queues(n: usize) -> Result<Vec<WaitQueue>, String> {
    let mut pool = CHANNEL_QUEUES.lock();
    while pool.len() < n {
        pool.push(WaitQueue::new().map_err(|e| alloc::format!("wait queue: {e}"))?);
    }
    Ok(pool.iter().take(n).copied().collect())
}

fn spin_cpu(state: &RunState, ns: u64) {
    let mut done = 0u64;
    let mut last = hal::time::now_ns();
    while done < ns {
        core::hint::spin_loop();
        let now = hal::time::now_ns();
        let gap = now.saturating_sub(last);
        if gap > DESCHEDULED_GAP_NS {
            state.max_wait_ns.fetch_max(gap, Ordering::Relaxed);
        } else {
            done += gap;
        }
        last = now;
    }
}

fn run_thread(state: &RunState, ops: &[Op], interactive: bool, arrival_ns: u64, demand: u64) {
    for op in ops {
        match *op {
            Op::Cpu(n) => spin_cpu(state, n),
            Op::Sleep(n) => {
                let due = hal::time::now_ns() + n;
                task::sleep_ns(n);
                if interactive {
                    let late = hal::time::now_ns().saturating_sub(due);
                    state.obs.lock().wakeups.push(late);
                }
            }
            Op::Io(n) => task::sleep_ns(n),
            Op::Signal(c) => {
                let c = usize::from(c);
                if let (Some(tok), Some(q)) = (state.tokens.get(c), state.queues.get(c)) {
                    tok.fetch_add(1, Ordering::AcqRel);
                    task::wake_one(*q);
                }
            }
            Op::Wait(c) => {
                let c = usize::from(c);
                if let (Some(tok), Some(q)) = (state.tokens.get(c), state.queues.get(c)) {
                    task::wait_until(*q, || {
                        tok.fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| t.checked_sub(1))
                            .ok()
                    });
                }
            }
        }
    }
    if !interactive {
        let done = hal::time::now_ns().saturating_sub(state.start_ns + arrival_ns);
        state.obs.lock().jobs.push((done, demand));
    }
}

/// Runs workload `w` on kernel threads under whatever policy is installed; `interrupted` is
/// polled between arrivals (Ctrl-C). Returns the observations (switches included).
pub fn run_workload(w: &Workload, interrupted: &dyn Fn() -> bool) -> Result<Observations, String> {
    if w.threads.len() > MAX_THREADS {
        return Err(alloc::format!(
            "workload has more than {MAX_THREADS} threads"
        ));
    }
    let switch_counts = || {
        hal::task::with_scheduler(|s| {
            let st = s.stats();
            (st.switches, st.involuntary_switches, st.idle_wakeups)
        })
        .unwrap_or((0, 0, 0))
    };
    let switches_before = switch_counts();
    let state = Arc::new(RunState {
        start_ns: hal::time::now_ns(),
        queues: channel_queues(usize::from(w.channels))?,
        tokens: (0..w.channels).map(|_| AtomicU32::new(0)).collect(),
        max_wait_ns: AtomicU64::new(0),
        obs: Mutex::new(Observations::default()),
    });
    let mut order: Vec<usize> = (0..w.threads.len()).collect();
    order.sort_by_key(|&i| (w.threads[i].start_ns, i));
    let mut tids = Vec::new();
    let mut refused = 0u64;
    for i in order {
        let spec = w.threads[i].clone();
        let elapsed = hal::time::now_ns().saturating_sub(state.start_ns);
        if spec.start_ns > elapsed {
            task::sleep_ns(spec.start_ns - elapsed);
        }
        if interrupted() {
            break;
        }
        let st = state.clone();
        let name = alloc::format!("{}-{}", w.family, i);
        let opts = SpawnOptions {
            priority: spec.priority,
            ..SpawnOptions::default()
        };
        let demand = spec.cpu_ns();
        match task::spawn_with(&name, opts, move || {
            run_thread(&st, &spec.ops, spec.interactive, spec.start_ns, demand);
            0
        }) {
            Ok(t) => tids.push(t),
            Err(_) => refused += 1,
        }
    }
    for t in tids {
        let _ = task::join(t);
    }
    let switches_after = switch_counts();
    let mut obs = core::mem::take(&mut *state.obs.lock());
    obs.switches = switches_after.0.saturating_sub(switches_before.0);
    obs.preemptions = switches_after.1.saturating_sub(switches_before.1);
    obs.idle_wakeups = switches_after.2.saturating_sub(switches_before.2);
    obs.max_wait_ns = state.max_wait_ns.load(Ordering::Relaxed);
    let expected = w.threads.iter().filter(|t| !t.interactive).count() as u64;
    obs.unfinished = expected.saturating_sub(obs.jobs.len() as u64) + refused;
    Ok(obs)
}

/// One evaluation run: installs `policy` (a name from `sched::eval::POLICIES`, not the oracle),
/// runs `family` with `seed`, puts the previous policy back, and returns the record.
pub fn run(
    family: &str,
    seed: u64,
    policy: &str,
    interrupted: &dyn Fn() -> bool,
) -> Result<RunRecord, String> {
    let w = eval::build(family, seed).ok_or_else(|| alloc::format!("unknown family '{family}'"))?;
    let (p, probe, trainer) = eval::probed_policy(policy, super::policy::clock)
        .ok_or_else(|| alloc::format!("unknown policy '{policy}'"))?;
    // A learned policy trains in its own kernel thread for the run (it ends once the policy is
    // dropped below).
    let trainer = match trainer {
        Some(t) => Some(super::policy::spawn_trainer(t, false)?),
        None => None,
    };
    let previous = task::set_policy(p).map_err(|e| alloc::format!("{e}"))?;
    let result = run_workload(&w, interrupted);
    // Put the previous policy back; dropping the evaluated one publishes its latencies.
    let evaluated = task::set_policy(previous).map_err(|e| alloc::format!("{e}"))?;
    drop(evaluated);
    if let Some(t) = trainer {
        let _ = task::join(t);
    }
    let obs = result?;
    let picks = (
        probe.p50.load(Ordering::Relaxed),
        probe.p99.load(Ordering::Relaxed),
    );
    Ok(obs.record(family, seed, policy, picks))
}

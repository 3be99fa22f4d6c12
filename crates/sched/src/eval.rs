//! The scheduler evaluation shared by the host simulator and the kernel: workload families with
//! seeds and known job sizes ([`build`]), the per-run measurements ([`RunRecord`]) and their
//! one-line format, and the summary table ([`summarize`]). The host simulator drives a
//! [`crate::Scheduler`] with a virtual clock ([`simulate`]); the kernel runs the same scripts on
//! real threads and prints the same lines, which the same summarizer reads.
//!
//! A workload is a set of thread scripts. Each script is a list of [`Op`]s: CPU work, sleeps,
//! disk requests (a single FIFO server: requests queue behind each other), and signal/wait on
//! counting channels (ping-pong pairs). Every non-interactive thread is a *job*: its completion
//! time is exit − arrival, its size the CPU it asks for.
//!
//! Families W1–W6 are the suite of issue 14 and were used to design and tune the policy (training
//! seeds 1–5). H1 and H2 were held out in the first pass, H3 and H4 in the second, H5 and H6 in
//! the third; all six were looked at in diagnosis since ("seen"). H7 and H8 are **fresh**:
//! written from their description and frozen, with every policy's figures recorded, before the
//! fourth pass changed the policy, and never run while tuning. Reported figures use seeds
//! 100–119 on every family.

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::ids::{Priority, ThreadId};
use crate::policy::SchedPolicy;
use crate::scheduler::{Scheduler, SwitchReason};
use crate::thread::{ThreadTableView, ThreadView};

/// One step of a thread script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Use the CPU for this many ns.
    Cpu(u64),
    /// Sleep this many ns (an interactive thread's wake-up latency is measured after it).
    Sleep(u64),
    /// A disk request taking this many ns of device time; the thread blocks until it completes.
    Io(u64),
    /// Signal channel `c` (wakes one waiter or banks a token).
    Signal(u16),
    /// Wait on channel `c` (takes a banked token or blocks).
    Wait(u16),
}

/// A thread of a workload.
#[derive(Clone, Debug)]
pub struct ThreadSpec {
    /// When it arrives (ns from the start of the run).
    pub start_ns: u64,
    /// Its priority.
    pub priority: Priority,
    /// Interactive threads are measured by wake-up latency, not completion.
    pub interactive: bool,
    /// Its script.
    pub ops: Vec<Op>,
}

impl ThreadSpec {
    /// Total CPU demand.
    pub fn cpu_ns(&self) -> u64 {
        self.ops
            .iter()
            .map(|o| if let Op::Cpu(n) = o { *n } else { 0 })
            .sum()
    }
}

/// A workload: threads and the number of channels they use.
#[derive(Clone, Debug)]
pub struct Workload {
    /// Family name.
    pub family: &'static str,
    /// Seed it was built with.
    pub seed: u64,
    /// Threads.
    pub threads: Vec<ThreadSpec>,
    /// Channels used by `Signal`/`Wait`.
    pub channels: u16,
}

/// Workload families: W1–W6 (design/tuning), H1–H6 (held out in earlier passes, since seen in
/// diagnosis), H7–H8 (fresh: frozen before the fourth tuning pass and never run during it).
pub const FAMILIES: [&str; 14] = [
    "W1", "W2", "W3", "W4", "W5", "W6", "H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8",
];
/// The tuning families (seeds 1–5 only).
pub const TRAIN: [&str; 6] = ["W1", "W2", "W3", "W4", "W5", "W6"];
/// Held out in an earlier pass and looked at in diagnosis since: "seen", not held out.
pub const SEEN: [&str; 6] = ["H1", "H2", "H3", "H4", "H5", "H6"];
/// The third pass's fresh families, looked at since (kept as a group for comparison).
pub const PREV_FRESH: [&str; 2] = ["H5", "H6"];
/// Held out for real: written from their description and frozen, with every policy's figures
/// recorded in docs/SCHED.md, before the fourth pass changed the policy; only reported, never
/// tuned on.
pub const FRESH: [&str; 2] = ["H7", "H8"];
/// Families not used for tuning (seen and fresh).
pub const HELD_OUT: [&str; 8] = ["H1", "H2", "H3", "H4", "H5", "H6", "H7", "H8"];
/// The mixed workloads the completion-time targets refer to (the first pass's group).
pub const MIXED: [&str; 4] = ["W4", "W6", "H1", "H2"];

/// SplitMix64: deterministic, dependency-free randomness for workload generation.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi] (ns).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// Exponential with this mean.
    pub fn exp(&mut self, mean: u64) -> u64 {
        (-libm::log(1.0 - self.unit()) * mean as f64) as u64
    }

    /// Bounded Pareto on [lo, hi] with shape `alpha`.
    pub fn pareto(&mut self, lo: u64, hi: u64, alpha: f64) -> u64 {
        let (l, h) = (lo as f64, hi as f64);
        let u = self.unit();
        let la = libm::pow(l, alpha);
        let ha = libm::pow(h, alpha);
        let x = libm::pow(-(u * ha - u * la - ha) / (ha * la), -1.0 / alpha);
        (x as u64).clamp(lo, hi)
    }
}

const MS: u64 = 1_000_000;
const US: u64 = 1_000;

fn job(start_ns: u64, ops: Vec<Op>) -> ThreadSpec {
    ThreadSpec {
        start_ns,
        priority: Priority::Normal,
        interactive: false,
        ops,
    }
}

fn sleeper(rng: &mut Rng, periods: u32, period: u64, burst: (u64, u64)) -> ThreadSpec {
    let mut ops = Vec::new();
    for _ in 0..periods {
        ops.push(Op::Cpu(rng.range(burst.0, burst.1)));
        ops.push(Op::Sleep(period));
    }
    ThreadSpec {
        start_ns: rng.range(0, period),
        priority: Priority::Normal,
        interactive: true,
        ops,
    }
}

/// Builds family `family` with `seed`; `None` for an unknown family.
pub fn build(family: &str, seed: u64) -> Option<Workload> {
    let mut rng = Rng::new(
        seed.wrapping_mul(31)
            .wrapping_add(family.len() as u64 * 7919),
    );
    for b in family.bytes() {
        rng.0 ^= u64::from(b) << 8;
    }
    let mut threads = Vec::new();
    let mut channels = 0u16;
    let (family, _) = FAMILIES
        .iter()
        .map(|f| (*f, ()))
        .find(|(f, _)| *f == family)?;
    match family {
        // W1: CPU-bound jobs, half bimodal, half bounded Pareto.
        "W1" => {
            for i in 0..12 {
                let size = if i % 2 == 0 {
                    if rng.unit() < 0.7 {
                        rng.range(2 * MS, 8 * MS)
                    } else {
                        rng.range(40 * MS, 120 * MS)
                    }
                } else {
                    rng.pareto(MS, 200 * MS, 1.1)
                };
                threads.push(job(rng.range(0, 20 * MS), alloc::vec![Op::Cpu(size)]));
            }
        }
        // W2: periodic sleepers with bursts far below the quantum, beside CPU hogs.
        "W2" => {
            for _ in 0..4 {
                let period = rng.range(10 * MS, 20 * MS);
                threads.push(sleeper(&mut rng, 30, period, (100 * US, 500 * US)));
            }
            for _ in 0..3 {
                threads.push(job(0, alloc::vec![Op::Cpu(rng.range(120 * MS, 180 * MS))]));
            }
        }
        // W3: threads that alternate CPU and disk requests, beside two hogs.
        "W3" => {
            for _ in 0..6 {
                let mut ops = Vec::new();
                for _ in 0..20 {
                    ops.push(Op::Cpu(rng.range(500 * US, 3 * MS)));
                    ops.push(Op::Io(rng.range(2 * MS, 6 * MS)));
                }
                threads.push(job(rng.range(0, 5 * MS), ops));
            }
            for _ in 0..2 {
                threads.push(job(0, alloc::vec![Op::Cpu(rng.range(80 * MS, 120 * MS))]));
            }
        }
        // W4: Poisson arrivals of short jobs over long CPU-bound jobs.
        "W4" => {
            for _ in 0..4 {
                threads.push(job(0, alloc::vec![Op::Cpu(rng.range(100 * MS, 200 * MS))]));
            }
            let mut t = 0;
            while t < 300 * MS {
                t += rng.exp(5 * MS);
                threads.push(job(t, alloc::vec![Op::Cpu(rng.range(500 * US, 3 * MS))]));
            }
        }
        // W5: ping-pong pairs over channels (switch-heavy), beside two hogs.
        "W5" => {
            for _ in 0..4 {
                let (a, b) = (channels, channels + 1);
                channels += 2;
                let rounds = 50;
                let mut pa = Vec::new();
                let mut pb = Vec::new();
                for _ in 0..rounds {
                    pa.push(Op::Cpu(rng.range(50 * US, 200 * US)));
                    pa.push(Op::Signal(b));
                    pa.push(Op::Wait(a));
                    pb.push(Op::Wait(b));
                    pb.push(Op::Cpu(rng.range(50 * US, 200 * US)));
                    pb.push(Op::Signal(a));
                }
                threads.push(job(0, pa));
                threads.push(job(0, pb));
            }
            for _ in 0..2 {
                threads.push(job(0, alloc::vec![Op::Cpu(rng.range(80 * MS, 120 * MS))]));
            }
        }
        // W6: bursts that change length mid-run (short→long for half, long→short for the rest).
        "W6" => {
            for i in 0..6 {
                let (first, second) = if i % 2 == 0 {
                    ((300 * US, 800 * US), (8 * MS, 16 * MS))
                } else {
                    ((8 * MS, 16 * MS), (300 * US, 800 * US))
                };
                let mut ops = Vec::new();
                for k in 0..24 {
                    let r = if k < 12 { first } else { second };
                    ops.push(Op::Cpu(rng.range(r.0, r.1)));
                    ops.push(Op::Sleep(rng.range(MS, 3 * MS)));
                }
                threads.push(job(rng.range(0, 5 * MS), ops));
            }
        }
        // H1 (held out): a request server — handlers with log-normal-ish CPU, disk and think
        // time — beside batch jobs of bounded-Pareto size and two interactive sleepers.
        "H1" => {
            for _ in 0..8 {
                let mut ops = Vec::new();
                for _ in 0..25 {
                    let base = libm::exp(rng.unit() * 2.0 - 1.0) * 1.0e6;
                    ops.push(Op::Cpu(base as u64));
                    ops.push(Op::Io(rng.range(MS, 4 * MS)));
                    ops.push(Op::Cpu(200 * US));
                    ops.push(Op::Sleep(rng.exp(5 * MS)));
                }
                threads.push(job(rng.range(0, 10 * MS), ops));
            }
            for _ in 0..3 {
                threads.push(job(
                    rng.range(0, 50 * MS),
                    alloc::vec![Op::Cpu(rng.pareto(20 * MS, 150 * MS, 1.2))],
                ));
            }
            for _ in 0..2 {
                threads.push(sleeper(&mut rng, 40, 16 * MS, (200 * US, MS)));
            }
        }
        // H2 (held out): a parallel build — compile jobs in waves with small disk reads, a final
        // link, and an editor-like interactive thread.
        "H2" => {
            for wave in 0..4u64 {
                for _ in 0..5 {
                    let mut ops = Vec::new();
                    for _ in 0..3 {
                        ops.push(Op::Cpu(rng.range(2 * MS, 14 * MS)));
                        ops.push(Op::Io(MS));
                    }
                    threads.push(job(wave * 40 * MS + rng.range(0, 5 * MS), ops));
                }
            }
            threads.push(job(
                160 * MS,
                alloc::vec![Op::Io(2 * MS), Op::Cpu(60 * MS), Op::Io(2 * MS)],
            ));
            threads.push(sleeper(&mut rng, 60, 8 * MS, (100 * US, 400 * US)));
        }
        // H3 (fresh): a server with a request queue — an acceptor hands requests with heavy-
        // tailed (bounded-Pareto, α = 1.1) service times to six workers over channels, beside
        // background batch jobs and a 5 ms heartbeat. Workers' bursts are drawn independently,
        // so a worker's history says little about its next request; what is predictable is the
        // mix.
        "H3" => {
            let workers = 6u16;
            let requests = 120u32;
            let mut acceptor = Vec::new();
            let mut per_worker: Vec<Vec<Op>> = (0..workers).map(|_| Vec::new()).collect();
            for r in 0..requests {
                let c = (r % u32::from(workers)) as u16;
                acceptor.push(Op::Sleep(rng.exp(2 * MS)));
                acceptor.push(Op::Cpu(rng.range(30 * US, 80 * US)));
                acceptor.push(Op::Signal(c));
                if let Some(ops) = per_worker.get_mut(usize::from(c)) {
                    ops.push(Op::Wait(c));
                    ops.push(Op::Cpu(rng.pareto(200 * US, 40 * MS, 1.1)));
                }
            }
            channels = workers;
            threads.push(job(0, acceptor));
            for ops in per_worker {
                threads.push(job(0, ops));
            }
            for _ in 0..3 {
                threads.push(job(
                    rng.range(0, 30 * MS),
                    alloc::vec![Op::Cpu(rng.range(150 * MS, 300 * MS))],
                ));
            }
            threads.push(sleeper(&mut rng, 80, 5 * MS, (50 * US, 300 * US)));
        }
        // H4 (fresh): phase-changing jobs with correlated sizes — each job's CPU bursts follow a
        // random walk in log size (AR(1), so consecutive bursts are alike but drift), with
        // phases of disk-bound work (short bursts, I/O) and compute (long bursts, short sleeps)
        // switching at random; short "cron" jobs arrive every ~25 ms; one interactive sleeper.
        "H4" => {
            for _ in 0..6 {
                let mut ops = Vec::new();
                let mut log_burst = 0.0f64; // log(burst / 1 ms)
                let mut compute = rng.unit() < 0.5;
                for _ in 0..30 {
                    if rng.unit() < 0.15 {
                        compute = !compute;
                    }
                    let centre = if compute { 1.8 } else { -1.2 };
                    log_burst = 0.7 * log_burst + 0.3 * centre + (rng.unit() - 0.5) * 0.8;
                    let burst = (libm::exp(log_burst) * MS as f64) as u64;
                    ops.push(Op::Cpu(burst.clamp(100 * US, 30 * MS)));
                    if compute {
                        ops.push(Op::Sleep(rng.range(200 * US, MS)));
                    } else {
                        ops.push(Op::Io(rng.range(MS, 3 * MS)));
                    }
                }
                threads.push(job(rng.range(0, 20 * MS), ops));
            }
            let mut t = 0;
            while t < 250 * MS {
                t += rng.range(15 * MS, 35 * MS);
                threads.push(job(
                    t,
                    alloc::vec![
                        Op::Cpu(rng.range(MS, 4 * MS)),
                        Op::Io(MS),
                        Op::Cpu(500 * US)
                    ],
                ));
            }
            threads.push(sleeper(&mut rng, 50, 10 * MS, (200 * US, 800 * US)));
        }
        // H5 (fresh, third pass): two three-stage pipelines over channels — a source paced by
        // Poisson arrivals, a transform stage whose per-item CPU is log-uniform over 0.3–12 ms
        // (the item's size, unknown to the stage beforehand), a sink that writes each item to
        // disk — beside a stream of short maintenance jobs (every ~20 ms), two long hogs and a
        // 12 ms interactive sleeper. The stages' bursts depend on the item, not the thread.
        "H5" => {
            for _ in 0..2 {
                let (to_transform, to_sink) = (channels, channels + 1);
                channels += 2;
                let items = 40;
                let (mut source, mut transform, mut sink) = (Vec::new(), Vec::new(), Vec::new());
                for _ in 0..items {
                    source.push(Op::Sleep(rng.exp(4 * MS)));
                    source.push(Op::Cpu(rng.range(100 * US, 400 * US)));
                    source.push(Op::Signal(to_transform));
                    transform.push(Op::Wait(to_transform));
                    let log_size = libm::log(0.3) + rng.unit() * libm::log(40.0);
                    transform.push(Op::Cpu((libm::exp(log_size) * MS as f64) as u64));
                    transform.push(Op::Signal(to_sink));
                    sink.push(Op::Wait(to_sink));
                    sink.push(Op::Cpu(rng.range(200 * US, 600 * US)));
                    sink.push(Op::Io(rng.range(500 * US, 1500 * US)));
                }
                threads.push(job(0, source));
                threads.push(job(0, transform));
                threads.push(job(0, sink));
            }
            let mut t = 0;
            while t < 200 * MS {
                t += rng.exp(20 * MS);
                threads.push(job(t, alloc::vec![Op::Cpu(rng.range(MS, 5 * MS))]));
            }
            for _ in 0..2 {
                threads.push(job(
                    rng.range(0, 40 * MS),
                    alloc::vec![Op::Cpu(rng.range(100 * MS, 200 * MS))],
                ));
            }
            threads.push(sleeper(&mut rng, 40, 12 * MS, (100 * US, 600 * US)));
        }
        // H6 (fresh, third pass): interactive shell sessions beside prioritised background work
        // whose size correlates with its priority — four sessions alternate think time (exp,
        // 15 ms) with commands of heavy-tailed size (80 % 0.2–1.5 ms, 20 % 15–50 ms, some with a
        // disk read); a high-priority "driver" thread with 100–300 µs bursts every 4 ms
        // (interactive); normal-priority medium jobs (10–40 ms) arriving every ~30 ms;
        // low-priority long batch jobs (150–300 ms); a normal 10 ms interactive sleeper.
        "H6" => {
            for _ in 0..4 {
                let mut ops = Vec::new();
                for _ in 0..15 {
                    ops.push(Op::Sleep(rng.exp(15 * MS)));
                    let size = if rng.unit() < 0.8 {
                        rng.range(200 * US, 1500 * US)
                    } else {
                        rng.range(15 * MS, 50 * MS)
                    };
                    ops.push(Op::Cpu(size));
                    if rng.unit() < 0.3 {
                        ops.push(Op::Io(rng.range(500 * US, 2 * MS)));
                        ops.push(Op::Cpu(rng.range(100 * US, 300 * US)));
                    }
                }
                threads.push(job(rng.range(0, 10 * MS), ops));
            }
            let mut driver = sleeper(&mut rng, 80, 4 * MS, (100 * US, 300 * US));
            driver.priority = Priority::High;
            threads.push(driver);
            let mut t = 0;
            while t < 240 * MS {
                t += rng.exp(30 * MS);
                threads.push(job(t, alloc::vec![Op::Cpu(rng.range(10 * MS, 40 * MS))]));
            }
            for _ in 0..2 {
                let mut batch = job(
                    rng.range(0, 20 * MS),
                    alloc::vec![Op::Cpu(rng.range(150 * MS, 300 * MS))],
                );
                batch.priority = Priority::Low;
                threads.push(batch);
            }
            threads.push(sleeper(&mut rng, 40, 10 * MS, (200 * US, 800 * US)));
        }
        // H7 (fresh, fourth pass): a thread pool behind a lock convoy — a dispatcher (which
        // first initialises the mutex) submits 90 tasks to a shared queue, in Poisson arrivals
        // (2.5 ms mean) with occasional batches of three; six pool workers take any task,
        // compute 0.2–6 ms (log-uniform) outside the lock, then take the one mutex for a
        // 0.1–0.5 ms critical section (a quarter of them flush 0.5–1.5 ms to disk while holding
        // it), release it and finish in 0.1–1 ms. A statistics thread takes the same mutex every
        // ~10 ms for 1–3 ms. Beside: two 100–200 ms hogs and an 8 ms interactive sleeper. The
        // mutex is handed to the next waiter on release, so a holder that loses the CPU stalls
        // every worker queued behind it (the convoy).
        "H7" => {
            let (queue, lock) = (0u16, 1u16);
            channels = 2;
            let workers = 6u32;
            let per_worker = 15u32;
            let mut dispatcher = alloc::vec![Op::Cpu(50 * US), Op::Signal(lock)];
            let mut k = 0;
            while k < workers * per_worker {
                dispatcher.push(Op::Sleep(rng.exp(2_500 * US)));
                let batch = if rng.unit() < 0.2 { 3 } else { 1 };
                for _ in 0..batch {
                    if k < workers * per_worker {
                        dispatcher.push(Op::Cpu(rng.range(20 * US, 60 * US)));
                        dispatcher.push(Op::Signal(queue));
                        k += 1;
                    }
                }
            }
            threads.push(job(0, dispatcher));
            for _ in 0..workers {
                let mut ops = Vec::new();
                for _ in 0..per_worker {
                    ops.push(Op::Wait(queue));
                    let log_pre = libm::log(0.2) + rng.unit() * libm::log(30.0);
                    ops.push(Op::Cpu((libm::exp(log_pre) * MS as f64) as u64));
                    ops.push(Op::Wait(lock));
                    ops.push(Op::Cpu(rng.range(100 * US, 500 * US)));
                    if rng.unit() < 0.25 {
                        ops.push(Op::Io(rng.range(500 * US, 1500 * US)));
                    }
                    ops.push(Op::Signal(lock));
                    ops.push(Op::Cpu(rng.range(100 * US, MS)));
                }
                threads.push(job(0, ops));
            }
            let mut stats = Vec::new();
            for _ in 0..20 {
                stats.push(Op::Sleep(rng.exp(10 * MS)));
                stats.push(Op::Wait(lock));
                stats.push(Op::Cpu(rng.range(MS, 3 * MS)));
                stats.push(Op::Signal(lock));
            }
            threads.push(job(rng.range(0, 5 * MS), stats));
            for _ in 0..2 {
                threads.push(job(
                    rng.range(0, 30 * MS),
                    alloc::vec![Op::Cpu(rng.range(100 * MS, 200 * MS))],
                ));
            }
            threads.push(sleeper(&mut rng, 50, 8 * MS, (100 * US, 400 * US)));
        }
        // H8 (fresh, fourth pass): fork-join beside bursty timers — two parents each run 10
        // rounds of: set up (0.3–1 ms), fork four children (signal), join them (wait for four
        // signals), merge (0.2–0.8 ms), read the next input from disk (1–2 ms). A child's piece
        // in a round is the round's size (log-uniform 0.5–4 ms) × 0.7–1.3, and one child in
        // four is a straggler at 3× that. Timers fire in bursts: three groups of four
        // interactive threads share a period (12, 20, 33 ms) and phase, so each group wakes
        // together, each thread running 50–400 µs; a timer-storm thread every ~60 ms runs ten
        // 100 µs callbacks 200 µs apart (interactive). Beside: short jobs (2–6 ms, every ~25 ms)
        // and two 120–250 ms batch jobs.
        "H8" => {
            for _ in 0..2 {
                let (fork, join) = (channels, channels + 1);
                channels += 2;
                let children = 4usize;
                let rounds = 10;
                let mut parent = Vec::new();
                let mut kids: Vec<Vec<Op>> = (0..children).map(|_| Vec::new()).collect();
                for _ in 0..rounds {
                    parent.push(Op::Cpu(rng.range(300 * US, MS)));
                    for _ in 0..children {
                        parent.push(Op::Signal(fork));
                    }
                    for _ in 0..children {
                        parent.push(Op::Wait(join));
                    }
                    parent.push(Op::Cpu(rng.range(200 * US, 800 * US)));
                    parent.push(Op::Io(rng.range(MS, 2 * MS)));
                    let log_size = libm::log(0.5) + rng.unit() * libm::log(8.0);
                    let size = libm::exp(log_size) * MS as f64;
                    for ops in kids.iter_mut() {
                        let straggler = if rng.unit() < 0.25 { 3.0 } else { 1.0 };
                        let jitter = 0.7 + 0.6 * rng.unit();
                        ops.push(Op::Wait(fork));
                        ops.push(Op::Cpu((size * jitter * straggler) as u64));
                        ops.push(Op::Signal(join));
                    }
                }
                threads.push(job(rng.range(0, 5 * MS), parent));
                for ops in kids {
                    threads.push(job(0, ops));
                }
            }
            for (period, periods) in [(12 * MS, 32), (20 * MS, 20), (33 * MS, 12)] {
                let phase = rng.range(0, period);
                for _ in 0..4 {
                    let mut timer = sleeper(&mut rng, periods, period, (50 * US, 400 * US));
                    timer.start_ns = phase;
                    threads.push(timer);
                }
            }
            let mut storm = Vec::new();
            for _ in 0..6 {
                storm.push(Op::Sleep(rng.exp(60 * MS)));
                for _ in 0..10 {
                    storm.push(Op::Cpu(100 * US));
                    storm.push(Op::Sleep(200 * US));
                }
            }
            threads.push(ThreadSpec {
                start_ns: 0,
                priority: Priority::Normal,
                interactive: true,
                ops: storm,
            });
            let mut t = 0;
            while t < 300 * MS {
                t += rng.exp(25 * MS);
                threads.push(job(t, alloc::vec![Op::Cpu(rng.range(2 * MS, 6 * MS))]));
            }
            for _ in 0..2 {
                threads.push(job(
                    rng.range(0, 40 * MS),
                    alloc::vec![Op::Cpu(rng.range(120 * MS, 250 * MS))],
                ));
            }
        }
        _ => return None,
    }
    Some(Workload {
        family,
        seed,
        threads,
        channels,
    })
}

/// Remaining CPU of each thread's current burst, published by the simulator for the oracle.
#[derive(Clone, Debug)]
pub struct OracleBoard(Arc<Vec<AtomicU64>>);

impl OracleBoard {
    /// A board for thread ids below `n`.
    pub fn new(n: usize) -> Self {
        OracleBoard(Arc::new((0..n).map(|_| AtomicU64::new(0)).collect()))
    }

    fn set(&self, tid: ThreadId, ns: u64) {
        if let Some(a) = self.0.get(tid.0 as usize) {
            a.store(ns, Ordering::Relaxed);
        }
    }

    fn get(&self, tid: ThreadId) -> u64 {
        self.0
            .get(tid.0 as usize)
            .map_or(u64::MAX, |a| a.load(Ordering::Relaxed))
    }
}

/// The SRPT oracle: told each thread's true remaining burst, runs the shortest, preempts for a
/// shorter one. A lower bound for the simulator only.
#[derive(Debug)]
pub struct OraclePolicy {
    board: OracleBoard,
    queued: Vec<(ThreadId, Priority, u64)>,
    seq: u64,
}

impl OraclePolicy {
    /// An oracle reading `board`.
    pub fn new(board: OracleBoard) -> Self {
        OraclePolicy {
            board,
            queued: Vec::new(),
            seq: 0,
        }
    }
}

impl SchedPolicy for OraclePolicy {
    fn name(&self) -> &str {
        "srpt-oracle"
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, _now_ns: u64) {
        self.seq += 1;
        self.queued.push((thread.id(), thread.priority(), self.seq));
    }

    fn on_removed(&mut self, tid: ThreadId) {
        self.queued.retain(|q| q.0 != tid);
    }

    fn pick_next(&mut self, _now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        let top = self.queued.iter().map(|q| q.1).max()?;
        let (i, _) = self
            .queued
            .iter()
            .enumerate()
            .filter(|(_, q)| q.1 == top)
            .min_by_key(|(_, q)| (self.board.get(q.0), q.2))?;
        Some(self.queued.swap_remove(i).0)
    }

    fn quantum_ns(&self, thread: &ThreadView<'_>) -> u64 {
        self.board
            .get(thread.id())
            .saturating_add(MS)
            .min(1_000 * MS)
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, _now_ns: u64) -> bool {
        let mine = self.board.get(running.id());
        self.queued.iter().any(|q| {
            q.1 > running.priority() || (q.1 == running.priority() && self.board.get(q.0) < mine)
        })
    }

    fn on_descheduled(&mut self, _: &ThreadView<'_>, _: u64, _: bool, _: u64) {}
}

/// Simulator settings.
#[derive(Clone, Copy, Debug)]
pub struct SimConfig {
    /// Timer period (the kernel's is 1 ms).
    pub tick_ns: u64,
    /// CPU time lost per context switch.
    pub switch_cost_ns: u64,
    /// A run stops here even if threads remain.
    pub horizon_ns: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            tick_ns: MS,
            switch_cost_ns: 5 * US,
            horizon_ns: 60_000 * MS,
        }
    }
}

/// What one run measured (one line of output).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunRecord {
    /// Family.
    pub family: String,
    /// Seed.
    pub seed: u64,
    /// Policy name.
    pub policy: String,
    /// Jobs (non-interactive threads) that completed.
    pub jobs: u64,
    /// Jobs that did not complete before the horizon.
    pub unfinished: u64,
    /// Mean completion time (µs).
    pub mean_ct_us: f64,
    /// Median completion time (µs).
    pub p50_ct_us: f64,
    /// 99th percentile completion time (µs).
    pub p99_ct_us: f64,
    /// Mean slowdown (completion / CPU demand).
    pub mean_slowdown: f64,
    /// 99th percentile slowdown.
    pub p99_slowdown: f64,
    /// Interactive wake-up-to-run latency, median (µs; 0 when the family has none).
    pub wake_p50_us: f64,
    /// Interactive wake-up-to-run latency, 99th percentile (µs).
    pub wake_p99_us: f64,
    /// Context switches (the CPU changed hands).
    pub switches: u64,
    /// Of those, involuntary: a thread was preempted by another (the rest are blocks, sleeps,
    /// yields and exits, and dispatches out of idle, which no policy removes without delaying a
    /// wake-up).
    pub preemptions: u64,
    /// Of those, dispatches out of idle (a thread woke while the CPU was idle). The rest,
    /// `switches − preemptions − idle_wakeups`, are voluntary: blocks, sleeps, yields, exits.
    pub idle_wakeups: u64,
    /// Jain's fairness index over the jobs' service rates (CPU demand / completion time).
    pub jain: f64,
    /// Longest runnable wait of any thread (µs).
    pub max_wait_us: f64,
    /// Policy decision latency median (ns; native in the simulator, TSC in the kernel).
    pub pick_p50_ns: u64,
    /// Policy decision latency 99th percentile (ns).
    pub pick_p99_ns: u64,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = libm::ceil((sorted.len() as f64) * q) as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sort(v: &mut [f64]) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(core::cmp::Ordering::Equal));
}

/// Raw per-run observations, turned into a [`RunRecord`] by [`Observations::record`]. The
/// kernel's evaluation fills the same structure from real threads.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    /// (completion ns, CPU demand ns) per completed job.
    pub jobs: Vec<(u64, u64)>,
    /// Jobs not completed.
    pub unfinished: u64,
    /// Interactive wake-up latencies (ns).
    pub wakeups: Vec<u64>,
    /// Context switches.
    pub switches: u64,
    /// Involuntary context switches (preemptions that changed hands).
    pub preemptions: u64,
    /// Dispatches out of idle.
    pub idle_wakeups: u64,
    /// Longest runnable wait (ns).
    pub max_wait_ns: u64,
    /// The policy's own report at the end of the run ([`SchedPolicy::report`]).
    pub policy_report: String,
}

impl Observations {
    /// The summary line's figures.
    pub fn record(&self, family: &str, seed: u64, policy: &str, picks: (u64, u64)) -> RunRecord {
        let mut ct: Vec<f64> = self.jobs.iter().map(|(c, _)| *c as f64 / 1e3).collect();
        let mut sd: Vec<f64> = self
            .jobs
            .iter()
            .map(|(c, d)| *c as f64 / (*d).max(1) as f64)
            .collect();
        let mut wk: Vec<f64> = self.wakeups.iter().map(|w| *w as f64 / 1e3).collect();
        let rates: Vec<f64> = self
            .jobs
            .iter()
            .map(|(c, d)| *d as f64 / (*c).max(1) as f64)
            .collect();
        let n = ct.len().max(1) as f64;
        let mean_ct = ct.iter().sum::<f64>() / n;
        let mean_sd = sd.iter().sum::<f64>() / n;
        sort(&mut ct);
        sort(&mut sd);
        sort(&mut wk);
        let sum: f64 = rates.iter().sum();
        let sq: f64 = rates.iter().map(|r| r * r).sum();
        let jain = if sq > 0.0 {
            sum * sum / (rates.len() as f64 * sq)
        } else {
            1.0
        };
        RunRecord {
            family: family.to_string(),
            seed,
            policy: policy.to_string(),
            jobs: self.jobs.len() as u64,
            unfinished: self.unfinished,
            mean_ct_us: mean_ct,
            p50_ct_us: percentile(&ct, 0.5),
            p99_ct_us: percentile(&ct, 0.99),
            mean_slowdown: mean_sd,
            p99_slowdown: percentile(&sd, 0.99),
            wake_p50_us: percentile(&wk, 0.5),
            wake_p99_us: percentile(&wk, 0.99),
            switches: self.switches,
            preemptions: self.preemptions,
            idle_wakeups: self.idle_wakeups,
            jain,
            max_wait_us: self.max_wait_ns as f64 / 1e3,
            pick_p50_ns: picks.0,
            pick_p99_ns: picks.1,
        }
    }
}

impl RunRecord {
    /// The one-line form: `sched-eval key=value ...`.
    pub fn line(&self) -> String {
        format!(
            "sched-eval family={} seed={} policy={} jobs={} unfinished={} mean_ct_us={:.1} p50_ct_us={:.1} p99_ct_us={:.1} mean_slowdown={:.3} p99_slowdown={:.3} wake_p50_us={:.1} wake_p99_us={:.1} switches={} preemptions={} idle_wakeups={} jain={:.4} max_wait_us={:.1} pick_p50_ns={} pick_p99_ns={}",
            self.family,
            self.seed,
            self.policy,
            self.jobs,
            self.unfinished,
            self.mean_ct_us,
            self.p50_ct_us,
            self.p99_ct_us,
            self.mean_slowdown,
            self.p99_slowdown,
            self.wake_p50_us,
            self.wake_p99_us,
            self.switches,
            self.preemptions,
            self.idle_wakeups,
            self.jain,
            self.max_wait_us,
            self.pick_p50_ns,
            self.pick_p99_ns
        )
    }

    /// Parses a line written by [`RunRecord::line`] (anywhere in `line`); `None` otherwise.
    pub fn parse(line: &str) -> Option<RunRecord> {
        let rest = line.split("sched-eval ").nth(1)?;
        let mut r = RunRecord::default();
        let mut seen = 0u32;
        for kv in rest.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let f = || v.parse::<f64>().ok();
            let u = || v.parse::<u64>().ok();
            match k {
                "family" => r.family = v.to_string(),
                "seed" => r.seed = u()?,
                "policy" => r.policy = v.to_string(),
                "jobs" => r.jobs = u()?,
                "unfinished" => r.unfinished = u()?,
                "mean_ct_us" => r.mean_ct_us = f()?,
                "p50_ct_us" => r.p50_ct_us = f()?,
                "p99_ct_us" => r.p99_ct_us = f()?,
                "mean_slowdown" => r.mean_slowdown = f()?,
                "p99_slowdown" => r.p99_slowdown = f()?,
                "wake_p50_us" => r.wake_p50_us = f()?,
                "wake_p99_us" => r.wake_p99_us = f()?,
                "switches" => r.switches = u()?,
                "preemptions" => r.preemptions = u()?,
                "idle_wakeups" => r.idle_wakeups = u()?,
                "jain" => r.jain = f()?,
                "max_wait_us" => r.max_wait_us = f()?,
                "pick_p50_ns" => r.pick_p50_ns = u()?,
                "pick_p99_ns" => r.pick_p99_ns = u()?,
                _ => continue,
            }
            seen += 1;
        }
        (seen == 19).then_some(r)
    }
}

#[derive(Clone, Debug)]
struct SimThread {
    spec: usize,
    tid: ThreadId,
    pc: usize,
    /// CPU left in the current `Cpu` op (0: the next op is due when the thread runs).
    remaining: u64,
    io_queue: crate::ids::WaitQueueId,
    wake_due: Option<u64>,
    last_wait_ns: u64,
    done: bool,
}

/// Runs `w` under `policy` on a virtual clock. `board` (for the oracle) is kept up to date with
/// every thread's remaining burst. Returns the observations.
pub fn simulate(
    w: &Workload,
    policy: Box<dyn SchedPolicy>,
    board: Option<&OracleBoard>,
    cfg: SimConfig,
) -> Observations {
    simulate_with(w, policy, board, cfg, &mut || {})
}

/// [`simulate`], calling `background` at every timer tick — what a kernel thread does between
/// decisions (the learned policy's trainer drains its sample ring there).
pub fn simulate_with(
    w: &Workload,
    policy: Box<dyn SchedPolicy>,
    board: Option<&OracleBoard>,
    cfg: SimConfig,
    background: &mut dyn FnMut(),
) -> Observations {
    let mut s = Scheduler::new(policy, 0);
    let mut obs = Observations::default();
    let chan_q: Vec<_> = (0..w.channels)
        .filter_map(|_| s.create_wait_queue().ok())
        .collect();
    let mut tokens = alloc::vec![0u32; usize::from(w.channels)];
    let mut order: Vec<usize> = (0..w.threads.len()).collect();
    order.sort_by_key(|&i| (w.threads[i].start_ns, i));
    let mut arrivals: VecDeque<usize> = order.into();
    let mut sims: Vec<SimThread> = Vec::new();
    // Disk: FIFO of (sim index, service ns); the head completes at `disk_done`.
    let mut disk: VecDeque<(usize, u64)> = VecDeque::new();
    let mut disk_done = u64::MAX;
    let mut now = 0u64;
    let mut run_from = 0u64;
    let mut next_tick = cfg.tick_ns;
    let idx_of = |sims: &Vec<SimThread>, tid: ThreadId| sims.iter().position(|t| t.tid == tid);

    loop {
        let all_arrived = arrivals.is_empty();
        if all_arrived && sims.iter().all(|t| t.done) {
            break;
        }
        if now >= cfg.horizon_ns {
            break;
        }
        let cur = s.current();
        let cur_idx = if cur == ThreadId::IDLE {
            None
        } else {
            idx_of(&sims, cur)
        };
        // Run the current thread's zero-CPU ops (after a wake-up or a finished burst).
        if let Some(ci) = cur_idx
            && sims[ci].remaining == 0
            && !sims[ci].done
        {
            let before = s.current();
            advance(
                &mut s,
                &mut sims,
                ci,
                w,
                &chan_q,
                &mut tokens,
                &mut disk,
                &mut disk_done,
                now,
                &mut obs,
            );
            after_schedule(&s, &mut sims, before, now, &mut run_from, cfg, &mut obs);
            continue;
        }
        let t_burst = cur_idx.map_or(u64::MAX, |ci| run_from.max(now) + sims[ci].remaining);
        let t_arrival = arrivals
            .front()
            .map_or(u64::MAX, |&i| w.threads[i].start_ns);
        let next = next_tick
            .min(t_burst)
            .min(t_arrival)
            .min(disk_done)
            .max(now);
        if let Some(ci) = cur_idx {
            let progress = next.saturating_sub(run_from.max(now));
            sims[ci].remaining = sims[ci].remaining.saturating_sub(progress);
            if let Some(b) = board {
                b.set(sims[ci].tid, sims[ci].remaining);
            }
        }
        now = next;
        // Arrivals.
        while let Some(&i) = arrivals.front() {
            if w.threads[i].start_ns > now {
                break;
            }
            arrivals.pop_front();
            let spec = &w.threads[i];
            let name = format!("{}-{}", w.family, i);
            let (Ok(tid), Ok(q)) = (s.spawn(&name, spec.priority, now), s.create_wait_queue())
            else {
                continue;
            };
            let first = match spec.ops.first() {
                Some(Op::Cpu(n)) => *n,
                _ => 0,
            };
            if let Some(b) = board {
                b.set(tid, first);
            }
            sims.push(SimThread {
                spec: i,
                tid,
                pc: 0,
                remaining: first,
                io_queue: q,
                wake_due: None,
                last_wait_ns: 0,
                done: false,
            });
        }
        // Disk completion.
        if disk_done <= now {
            if let Some((si, _)) = disk.pop_front() {
                let _ = s.wake_one(sims[si].io_queue, now);
                prepare_next(&mut sims[si], w, board);
            }
            disk_done = disk.front().map_or(u64::MAX, |(_, d)| now + d);
        }
        // Burst completion: the thread continues with its next ops at the top of the loop.
        if let Some(ci) = cur_idx
            && sims[ci].remaining == 0
        {
            sims[ci].pc += 1;
            continue;
        }
        if now >= next_tick {
            next_tick = now + cfg.tick_ns;
            background();
            if s.tick(now) {
                let before = s.current();
                let _ = s.schedule(now, SwitchReason::Preempted);
                after_schedule(&s, &mut sims, before, now, &mut run_from, cfg, &mut obs);
            }
        }
    }
    obs.switches = s.stats().switches;
    obs.preemptions = s.stats().involuntary_switches;
    obs.idle_wakeups = s.stats().idle_wakeups;
    let _ = s.policy_report(&mut obs.policy_report);
    obs.unfinished = sims
        .iter()
        .filter(|t| !t.done && !w.threads[t.spec].interactive)
        .count() as u64
        + arrivals.len() as u64;
    obs
}

/// After a thread woke, point it at its next op.
fn prepare_next(t: &mut SimThread, w: &Workload, board: Option<&OracleBoard>) {
    t.pc += 1;
    t.remaining = match w.threads[t.spec].ops.get(t.pc) {
        Some(Op::Cpu(n)) => *n,
        _ => 0,
    };
    if let Some(b) = board {
        b.set(t.tid, t.remaining);
    }
}

/// Bookkeeping after a `schedule` call that may have switched threads.
fn after_schedule(
    s: &Scheduler,
    sims: &mut [SimThread],
    before: ThreadId,
    now: u64,
    run_from: &mut u64,
    cfg: SimConfig,
    obs: &mut Observations,
) {
    let to = s.current();
    if to == before {
        return;
    }
    *run_from = now + cfg.switch_cost_ns;
    if let Some(t) = sims.iter_mut().find(|t| t.tid == to) {
        if let Some(due) = t.wake_due.take() {
            obs.wakeups.push(run_from.saturating_sub(due));
        }
        if let Some(v) = s.thread(to) {
            let waited = v.accounting().runnable_wait_ns;
            obs.max_wait_ns = obs.max_wait_ns.max(waited.saturating_sub(t.last_wait_ns));
            t.last_wait_ns = waited;
        }
    }
}

/// Executes the current thread's ops from `pc` until it needs CPU or leaves the CPU.
#[allow(clippy::too_many_arguments)]
fn advance(
    s: &mut Scheduler,
    sims: &mut [SimThread],
    ci: usize,
    w: &Workload,
    chan_q: &[crate::ids::WaitQueueId],
    tokens: &mut [u32],
    disk: &mut VecDeque<(usize, u64)>,
    disk_done: &mut u64,
    now: u64,
    obs: &mut Observations,
) {
    let spec = &w.threads[sims[ci].spec];
    loop {
        let t = &mut sims[ci];
        match spec.ops.get(t.pc).copied() {
            Some(Op::Cpu(n)) => {
                if n == 0 {
                    t.pc += 1;
                    continue;
                }
                t.remaining = n;
                return;
            }
            Some(Op::Sleep(d)) => {
                if spec.interactive {
                    t.wake_due = Some(now + d);
                }
                let _ = s.schedule(now, SwitchReason::Sleep { until_ns: now + d });
                // Sleeping threads resume at the next op when they run again.
                t.pc += 1;
                t.remaining = match spec.ops.get(t.pc) {
                    Some(Op::Cpu(n)) => *n,
                    _ => 0,
                };
                return;
            }
            Some(Op::Io(d)) => {
                if disk.is_empty() {
                    *disk_done = now + d;
                }
                disk.push_back((ci, d));
                let _ = s.schedule(now, SwitchReason::Block(t.io_queue));
                return;
            }
            Some(Op::Signal(c)) => {
                let c = usize::from(c);
                if let Some(&q) = chan_q.get(c) {
                    if s.waiters(q).unwrap_or(0) > 0 {
                        if let Ok(Some(woken)) = s.wake_one(q, now)
                            && let Some(wt) = sims.iter_mut().find(|x| x.tid == woken)
                        {
                            // The waiter's Wait is satisfied: it resumes after it.
                            wt.pc += 1;
                            wt.remaining = match w.threads[wt.spec].ops.get(wt.pc) {
                                Some(Op::Cpu(n)) => *n,
                                _ => 0,
                            };
                        }
                    } else if let Some(tok) = tokens.get_mut(c) {
                        *tok += 1;
                    }
                }
                sims[ci].pc += 1;
            }
            Some(Op::Wait(c)) => {
                let c = usize::from(c);
                match tokens.get_mut(c) {
                    Some(tok) if *tok > 0 => {
                        *tok -= 1;
                        t.pc += 1;
                    }
                    _ => {
                        if let Some(&q) = chan_q.get(c) {
                            let _ = s.schedule(now, SwitchReason::Block(q));
                        }
                        return;
                    }
                }
            }
            None => {
                let created = w.threads[t.spec].start_ns;
                if !spec.interactive {
                    obs.jobs.push((now.saturating_sub(created), spec.cpu_ns()));
                }
                t.done = true;
                let _ = s.schedule(now, SwitchReason::Exit { code: 0 });
                let _ = s.reap(t.tid);
                return;
            }
        }
    }
}

/// A policy by name: `round-robin`, `eevdf-like`, `mlfq`, `sjf-ewma`, `learned-attention`,
/// `learned-no-attention` (`srpt-oracle` needs a board: use [`OraclePolicy`]). The learned ones
/// come without a trainer, so they decide with their prior: use [`probed_policy`] or
/// [`crate::learned::LearnedPolicy::with_trainer`] to learn.
pub fn policy_by_name(name: &str) -> Option<Box<dyn SchedPolicy>> {
    Some(match name {
        "round-robin" => Box::new(crate::RoundRobinPolicy::new()),
        "eevdf-like" => Box::new(crate::baselines::EevdfPolicy::new()),
        "mlfq" => Box::new(crate::baselines::MlfqPolicy::new()),
        "sjf-ewma" => Box::new(crate::baselines::SjfPolicy::new()),
        "learned-attention" => Box::new(crate::learned::LearnedPolicy::with_attention(true)),
        "learned-no-attention" => Box::new(crate::learned::LearnedPolicy::with_attention(false)),
        _ => return None,
    })
}

/// Every policy the evaluation compares, in table order.
pub const POLICIES: [&str; 7] = [
    "round-robin",
    "eevdf-like",
    "mlfq",
    "sjf-ewma",
    "learned-attention",
    "learned-no-attention",
    "srpt-oracle",
];

/// Aggregated figures of one (family group, policy) cell.
#[derive(Clone, Debug, Default)]
pub struct Cell {
    /// Runs aggregated.
    pub runs: u64,
    /// Mean over runs of each figure.
    pub mean_ct_us: f64,
    /// Mean over runs of p50 completion.
    pub p50_ct_us: f64,
    /// Mean over runs of p99 completion.
    pub p99_ct_us: f64,
    /// Mean slowdown.
    pub mean_slowdown: f64,
    /// Mean of per-run wake-up p50.
    pub wake_p50_us: f64,
    /// Mean of per-run wake-up p99.
    pub wake_p99_us: f64,
    /// Context switches per completed job.
    pub switches_per_job: f64,
    /// Involuntary switches per completed job.
    pub preemptions_per_job: f64,
    /// Jain index.
    pub jain: f64,
    /// Largest runnable wait over all runs (µs).
    pub max_wait_us: f64,
    /// Largest per-run decision p99 (ns).
    pub pick_p99_ns: u64,
    /// Median of per-run decision p50 (ns, approximated by the mean).
    pub pick_p50_ns: u64,
    /// Unfinished jobs over all runs.
    pub unfinished: u64,
}

/// Aggregates records whose family is in `families` by policy.
pub fn aggregate(records: &[RunRecord], families: &[&str], policy: &str) -> Cell {
    let rs: Vec<&RunRecord> = records
        .iter()
        .filter(|r| r.policy == policy && families.contains(&r.family.as_str()))
        .collect();
    let n = rs.len().max(1) as f64;
    let m = |f: &dyn Fn(&RunRecord) -> f64| rs.iter().map(|r| f(r)).sum::<f64>() / n;
    let jobs: u64 = rs.iter().map(|r| r.jobs).sum();
    let switches: u64 = rs.iter().map(|r| r.switches).sum();
    let preemptions: u64 = rs.iter().map(|r| r.preemptions).sum();
    Cell {
        runs: rs.len() as u64,
        mean_ct_us: m(&|r| r.mean_ct_us),
        p50_ct_us: m(&|r| r.p50_ct_us),
        p99_ct_us: m(&|r| r.p99_ct_us),
        mean_slowdown: m(&|r| r.mean_slowdown),
        wake_p50_us: m(&|r| r.wake_p50_us),
        wake_p99_us: m(&|r| r.wake_p99_us),
        switches_per_job: switches as f64 / jobs.max(1) as f64,
        preemptions_per_job: preemptions as f64 / jobs.max(1) as f64,
        jain: m(&|r| r.jain),
        max_wait_us: rs.iter().map(|r| r.max_wait_us).fold(0.0, f64::max),
        pick_p99_ns: rs.iter().map(|r| r.pick_p99_ns).max().unwrap_or(0),
        pick_p50_ns: (m(&|r| r.pick_p50_ns as f64)) as u64,
        unfinished: rs.iter().map(|r| r.unfinished).sum(),
    }
}

/// The summary table: per family group (each family, the mixed group, all), per policy, the
/// figures and the ratios to round-robin and the share of the round-robin→oracle gap closed.
pub fn summarize(records: &[RunRecord]) -> String {
    let mut out = String::new();
    let groups = family_groups(records);
    let policies = policies_in(records);
    for (name, fams) in &groups {
        let rr = aggregate(records, fams, "round-robin");
        let oracle = aggregate(records, fams, "srpt-oracle");
        if rr.runs == 0 {
            continue;
        }
        let _ = writeln!(out, "== {name} ({} runs per policy)", rr.runs);
        let _ = writeln!(
            out,
            "{:<21} {:>9} {:>9} {:>10} {:>7} {:>8} {:>8} {:>7} {:>7} {:>6} {:>8} {:>7} {:>7} {:>6} {:>8} {:>8}",
            "policy",
            "mean_ms",
            "p50_ms",
            "p99_ms",
            "slowdn",
            "wake50us",
            "wake99us",
            "sw/job",
            "pre/job",
            "jain",
            "maxwaitms",
            "ct/rr",
            "sw/rr",
            "gap%",
            "pick50ns",
            "pick99ns"
        );
        for p in &policies {
            let c = aggregate(records, fams, p);
            if c.runs == 0 {
                continue;
            }
            let gap = if oracle.runs > 0 && rr.mean_ct_us > oracle.mean_ct_us {
                format!(
                    "{:.0}",
                    100.0 * (rr.mean_ct_us - c.mean_ct_us) / (rr.mean_ct_us - oracle.mean_ct_us)
                )
            } else {
                "-".to_string()
            };
            let _ = writeln!(
                out,
                "{:<21} {:>9.2} {:>9.2} {:>10.2} {:>7.2} {:>8.0} {:>8.0} {:>7.2} {:>7.2} {:>6.3} {:>9.1} {:>7.3} {:>7.3} {:>6} {:>8} {:>8}{}",
                p,
                c.mean_ct_us / 1e3,
                c.p50_ct_us / 1e3,
                c.p99_ct_us / 1e3,
                c.mean_slowdown,
                c.wake_p50_us,
                c.wake_p99_us,
                c.switches_per_job,
                c.preemptions_per_job,
                c.jain,
                c.max_wait_us / 1e3,
                c.mean_ct_us / rr.mean_ct_us.max(1e-9),
                c.switches_per_job / rr.switches_per_job.max(1e-9),
                gap,
                c.pick_p50_ns,
                c.pick_p99_ns,
                if c.unfinished > 0 {
                    format!("  ({} unfinished)", c.unfinished)
                } else {
                    String::new()
                }
            );
        }
    }
    out
}

/// The family groups of the tables: each family present, then the named groups.
fn family_groups(records: &[RunRecord]) -> Vec<(String, Vec<&'static str>)> {
    let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
    for f in FAMILIES {
        if records.iter().any(|r| r.family == f) {
            groups.push((f.to_string(), alloc::vec![f]));
        }
    }
    groups.push(("train(W1-W6)".to_string(), TRAIN.to_vec()));
    groups.push(("mixed(W4,W6,H1,H2)".to_string(), MIXED.to_vec()));
    groups.push(("seen(H1-H6)".to_string(), SEEN.to_vec()));
    groups.push(("prev-fresh(H5,H6)".to_string(), PREV_FRESH.to_vec()));
    groups.push(("fresh(H7,H8)".to_string(), FRESH.to_vec()));
    groups.push(("all".to_string(), FAMILIES.to_vec()));
    groups
}

/// The policies in `records`: those of [`POLICIES`] in table order, then any other (e.g. the
/// host-only `rules-untrained` ablation or the `no-preemption` floor) in order of appearance.
fn policies_in(records: &[RunRecord]) -> Vec<&str> {
    let mut policies: Vec<&str> = POLICIES
        .iter()
        .copied()
        .filter(|p| records.iter().any(|r| r.policy == *p))
        .collect();
    for r in records {
        if !policies.contains(&r.policy.as_str()) {
            policies.push(r.policy.as_str());
        }
    }
    policies
}

/// The switch-cause table (`sched-sim --switches`): per family group and policy, context
/// switches per completed job split into voluntary ones (block, sleep, yield, exit),
/// preemptions of a thread by another and dispatches out of idle, and how far each policy is
/// above the [`NoPreemptionPolicy`] floor (when its runs are in `records`): the share of its
/// switches that removing every preemption would save, if its dispatches out of idle stayed as
/// many as the floor's (the floor is not a strict bound: a policy with fewer dispatches out of
/// idle can go below it). The voluntary switches (burst ends) are the workload's own.
pub fn switch_table(records: &[RunRecord]) -> String {
    let mut out = String::new();
    let per_job = |c: &[&RunRecord], f: &dyn Fn(&RunRecord) -> u64| {
        let jobs: u64 = c.iter().map(|r| r.jobs).sum();
        c.iter().map(|r| f(r)).sum::<u64>() as f64 / jobs.max(1) as f64
    };
    let policies = policies_in(records);
    for (name, fams) in family_groups(records) {
        let cell = |p: &str| -> Vec<&RunRecord> {
            records
                .iter()
                .filter(|r| r.policy == p && fams.contains(&r.family.as_str()))
                .collect()
        };
        let rr = cell("round-robin");
        if rr.is_empty() {
            continue;
        }
        let rr_sw = per_job(&rr, &|r| r.switches);
        let floor = cell(NoPreemptionPolicy::NAME);
        let floor_sw = (!floor.is_empty()).then(|| per_job(&floor, &|r| r.switches));
        let _ = writeln!(out, "== switches {name} ({} runs per policy)", rr.len());
        let _ = writeln!(
            out,
            "{:<21} {:>7} {:>8} {:>8} {:>8} {:>7} {:>11}",
            "policy", "sw/job", "vol/job", "pre/job", "idle/job", "sw/rr", "abovefloor%"
        );
        for p in &policies {
            let c = cell(p);
            if c.is_empty() {
                continue;
            }
            let sw = per_job(&c, &|r| r.switches);
            let pre = per_job(&c, &|r| r.preemptions);
            let idle = per_job(&c, &|r| r.idle_wakeups);
            let vol = per_job(&c, &|r| {
                r.switches
                    .saturating_sub(r.preemptions)
                    .saturating_sub(r.idle_wakeups)
            });
            let above = floor_sw.map_or("-".to_string(), |f| {
                format!("{:.1}", 100.0 * (sw - f) / sw.max(1e-9))
            });
            let _ = writeln!(
                out,
                "{:<21} {:>7.2} {:>8.2} {:>8.2} {:>8.2} {:>7.3} {:>11}",
                p,
                sw,
                vol,
                pre,
                idle,
                sw / rr_sw.max(1e-9),
                above
            );
        }
        if let Some(f) = floor_sw {
            // Burst ends are set by the workload: no policy that runs every burst avoids them.
            let vol = per_job(&rr, &|r| {
                r.switches
                    .saturating_sub(r.preemptions)
                    .saturating_sub(r.idle_wakeups)
            });
            let _ = writeln!(
                out,
                "floor: without preemption {f:.2} switches/job = {:.3}x round-robin; burst ends alone {vol:.2}/job = {:.3}x",
                f / rr_sw.max(1e-9),
                vol / rr_sw.max(1e-9)
            );
        }
    }
    out
}

/// The no-preemption floor of `sched-sim --switches` (host only): FIFO within the highest
/// waiting priority, never preempts and never ends a slice, so every switch is the end of a
/// burst (block, sleep, yield, exit) or a dispatch out of idle. Its switches per job are what a
/// work-conserving policy is left with once it removes every preemption.
#[derive(Debug, Default)]
pub struct NoPreemptionPolicy {
    queued: VecDeque<(ThreadId, Priority)>,
}

impl NoPreemptionPolicy {
    /// Its name in run lines and tables.
    pub const NAME: &'static str = "no-preemption";
}

impl SchedPolicy for NoPreemptionPolicy {
    fn name(&self) -> &str {
        Self::NAME
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, _now_ns: u64) {
        self.queued.push_back((thread.id(), thread.priority()));
    }

    fn on_removed(&mut self, tid: ThreadId) {
        self.queued.retain(|q| q.0 != tid);
    }

    fn pick_next(&mut self, _now_ns: u64, _threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        let top = self.queued.iter().map(|q| q.1).max()?;
        let i = self.queued.iter().position(|q| q.1 == top)?;
        self.queued.remove(i).map(|q| q.0)
    }

    fn quantum_ns(&self, _thread: &ThreadView<'_>) -> u64 {
        u64::MAX
    }

    fn wants_preemption(&self, _running: &ThreadView<'_>, _now_ns: u64) -> bool {
        false
    }

    fn on_descheduled(&mut self, _: &ThreadView<'_>, _: u64, _: bool, _: u64) {}
}

/// Runs one family × seed × policy in the simulator, timing decisions with `clock`.
pub fn run_sim(family: &str, seed: u64, policy: &str, clock: fn() -> u64) -> Option<RunRecord> {
    run_sim_report(family, seed, policy, clock).map(|(r, _)| r)
}

/// [`run_sim`], also returning the policy's end-of-run report.
pub fn run_sim_report(
    family: &str,
    seed: u64,
    policy: &str,
    clock: fn() -> u64,
) -> Option<(RunRecord, String)> {
    let w = build(family, seed)?;
    let cfg = SimConfig::default();
    let (obs, picks) = if policy == "srpt-oracle" {
        let board = OracleBoard::new(w.threads.len() + 64);
        let timed = crate::timed::TimedPolicy::new(OraclePolicy::new(board.clone()), clock);
        simulate_timed(&w, timed, Some(&board), cfg, &mut || {})
    } else {
        match policy {
            "round-robin" => simulate_timed(
                &w,
                crate::timed::TimedPolicy::new(crate::RoundRobinPolicy::new(), clock),
                None,
                cfg,
                &mut || {},
            ),
            "eevdf-like" => simulate_timed(
                &w,
                crate::timed::TimedPolicy::new(crate::baselines::EevdfPolicy::new(), clock),
                None,
                cfg,
                &mut || {},
            ),
            "mlfq" => simulate_timed(
                &w,
                crate::timed::TimedPolicy::new(crate::baselines::MlfqPolicy::new(), clock),
                None,
                cfg,
                &mut || {},
            ),
            "sjf-ewma" => simulate_timed(
                &w,
                crate::timed::TimedPolicy::new(crate::baselines::SjfPolicy::new(), clock),
                None,
                cfg,
                &mut || {},
            ),
            // The switch floor of `sched-sim --switches` (host only, on request).
            NoPreemptionPolicy::NAME => simulate_timed(
                &w,
                crate::timed::TimedPolicy::new(NoPreemptionPolicy::default(), clock),
                None,
                cfg,
                &mut || {},
            ),
            // The ablation of the model: the learned policy's decision rules with the untrained
            // prior (SJF-EWMA estimates), no trainer. Not in POLICIES (host only, on request).
            "rules-untrained" => simulate_timed(
                &w,
                crate::timed::TimedPolicy::new(
                    crate::learned::LearnedPolicy::with_attention(true),
                    clock,
                ),
                None,
                cfg,
                &mut || {},
            ),
            "learned-attention" | "learned-no-attention" => {
                let (p, mut trainer) =
                    crate::learned::LearnedPolicy::with_trainer(policy == "learned-attention");
                // The trainer drains every TRAIN_PERIOD_NS, as the kernel thread does.
                let every = (crate::trainer::TRAIN_PERIOD_NS / cfg.tick_ns).max(1);
                let mut ticks = 0u64;
                simulate_timed(
                    &w,
                    crate::timed::TimedPolicy::new(p, clock),
                    None,
                    cfg,
                    &mut || {
                        ticks += 1;
                        if ticks.is_multiple_of(every) {
                            trainer.drain(crate::trainer::RING);
                        }
                    },
                )
            }
            _ => return None,
        }
    };
    Some((obs.record(family, seed, policy, picks), obs.policy_report))
}

/// Shares the timing wrapper's histogram after the run through a small handle.
fn simulate_timed<P: SchedPolicy + 'static>(
    w: &Workload,
    timed: crate::timed::TimedPolicy<P>,
    board: Option<&OracleBoard>,
    cfg: SimConfig,
    background: &mut dyn FnMut(),
) -> (Observations, (u64, u64)) {
    let probe = Arc::new(PickProbe::default());
    let policy = ProbedPolicy {
        inner: timed,
        probe: probe.clone(),
    };
    let obs = simulate_with(w, Box::new(policy), board, cfg, background);
    let picks = (
        probe.p50.load(Ordering::Relaxed),
        probe.p99.load(Ordering::Relaxed),
    );
    (obs, picks)
}

/// Where a [`ProbedPolicy`] publishes its decision-latency quantiles when it is dropped.
#[derive(Debug, Default)]
pub struct PickProbe {
    /// Median pick latency (ns).
    pub p50: AtomicU64,
    /// 99th percentile pick latency (ns).
    pub p99: AtomicU64,
}

/// A timed policy that publishes its quantiles to a [`PickProbe`] when dropped (the scheduler
/// owns the policy while it runs, so the caller reads the probe after swapping it out).
pub struct ProbedPolicy<P: SchedPolicy> {
    inner: crate::timed::TimedPolicy<P>,
    probe: Arc<PickProbe>,
}

impl<P: SchedPolicy> Drop for ProbedPolicy<P> {
    fn drop(&mut self) {
        self.probe
            .p50
            .store(self.inner.picks.quantile(0.5), Ordering::Relaxed);
        self.probe
            .p99
            .store(self.inner.picks.quantile(0.99), Ordering::Relaxed);
    }
}

impl<P: SchedPolicy> SchedPolicy for ProbedPolicy<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn on_runnable(&mut self, t: &ThreadView<'_>, now: u64) {
        self.inner.on_runnable(t, now);
    }
    fn on_removed(&mut self, tid: ThreadId) {
        self.inner.on_removed(tid);
    }
    fn pick_next(&mut self, now: u64, th: &ThreadTableView<'_>) -> Option<ThreadId> {
        self.inner.pick_next(now, th)
    }
    fn quantum_ns(&self, t: &ThreadView<'_>) -> u64 {
        self.inner.quantum_ns(t)
    }
    fn wants_preemption(&self, r: &ThreadView<'_>, now: u64) -> bool {
        self.inner.wants_preemption(r, now)
    }
    fn on_descheduled(&mut self, t: &ThreadView<'_>, ran: u64, pre: bool, now: u64) {
        self.inner.on_descheduled(t, ran, pre, now);
    }
    fn report(&self, out: &mut dyn Write) -> core::fmt::Result {
        self.inner.report(out)
    }
    fn counters(&self) -> crate::policy::PolicyCounters {
        self.inner.counters()
    }
}

/// What [`probed_policy`] returns: the policy, its latency probe and its trainer, if it learns.
pub type ProbedSetup = (
    Box<dyn SchedPolicy>,
    Arc<PickProbe>,
    Option<crate::trainer::Trainer>,
);

/// A policy for the evaluation by name (every entry of [`POLICIES`] except the oracle, which
/// needs the simulator), timed with `clock`, the probe its latencies reach when dropped, and —
/// for a learned policy — the trainer the caller must run outside the scheduler.
pub fn probed_policy(name: &str, clock: fn() -> u64) -> Option<ProbedSetup> {
    fn wrap<P: SchedPolicy + 'static>(
        p: P,
        clock: fn() -> u64,
    ) -> (Box<dyn SchedPolicy>, Arc<PickProbe>) {
        let probe = Arc::new(PickProbe::default());
        let policy = ProbedPolicy {
            inner: crate::timed::TimedPolicy::new(p, clock),
            probe: probe.clone(),
        };
        (Box::new(policy), probe)
    }
    let (p, probe) = match name {
        "round-robin" => wrap(crate::RoundRobinPolicy::new(), clock),
        "eevdf-like" => wrap(crate::baselines::EevdfPolicy::new(), clock),
        "mlfq" => wrap(crate::baselines::MlfqPolicy::new(), clock),
        "sjf-ewma" => wrap(crate::baselines::SjfPolicy::new(), clock),
        "learned-attention" | "learned-no-attention" => {
            let (p, trainer) =
                crate::learned::LearnedPolicy::with_trainer(name == "learned-attention");
            let (p, probe) = wrap(p, clock);
            return Some((p, probe, Some(trainer)));
        }
        _ => return None,
    };
    Some((p, probe, None))
}

/// Decision latency with exactly `n` runnable threads: a scheduler holding `n` threads under
/// `policy` (any entry of [`POLICIES`] but the oracle) switches `rounds` times on a virtual
/// clock advancing 1 ms per decision — every third slice ends in a yield (a complete burst),
/// the others in preemption, so all `n` stay runnable — and a learned policy's trainer drains
/// its ring after every decision, so weight adoptions (and the projections they recompute) are
/// in the figures. Only `pick_next` is timed, with `clock`. Returns (p50, p99) in ns.
pub fn pick_latency(policy: &str, n: usize, rounds: u32, clock: fn() -> u64) -> Option<(u64, u64)> {
    pick_latency_with(policy, n, rounds, clock, &mut |decide| decide())
}

/// [`pick_latency`], running each decision through `around` — the kernel passes a wrapper that
/// disables interrupts, as they are when the scheduler really decides, so that the figure is the
/// decision and not the timer and serial interrupts that land inside it.
pub fn pick_latency_with(
    policy: &str,
    n: usize,
    rounds: u32,
    clock: fn() -> u64,
    around: &mut dyn FnMut(&mut dyn FnMut()),
) -> Option<(u64, u64)> {
    let (p, probe, mut trainer) = probed_policy(policy, clock)?;
    let mut s = Scheduler::new(p, 0);
    for i in 0..n {
        s.spawn(&format!("pick-{i}"), Priority::Normal, 0).ok()?;
    }
    let mut now = 0u64;
    for r in 0..rounds {
        now += MS;
        let reason = if r % 3 == 0 {
            SwitchReason::Yield
        } else {
            SwitchReason::Preempted
        };
        around(&mut || {
            let _ = s.schedule(now, reason);
        });
        if let Some(t) = trainer.as_mut() {
            t.drain(crate::trainer::RING);
        }
    }
    // Dropping the scheduler drops the policy, which publishes its quantiles to the probe.
    drop(s);
    Some((
        probe.p50.load(Ordering::Relaxed),
        probe.p99.load(Ordering::Relaxed),
    ))
}

//! Thread stress: spawn many workers that compute, yield and sleep, then join and reap them
//! all. Used by `schedctl stress` and the in-kernel tests; afterwards every stack must be
//! unmapped and every frame back in the allocator.

use alloc::string::String;
use alloc::vec::Vec;

use hal::task;

pub struct StressReport {
    pub spawned: u32,
    pub joined: u32,
    pub checksum_ok: bool,
}

/// A small deterministic computation (floating point, so SSE state crosses preemptions);
/// `pause` runs every 50 steps. The result is the worker's exit code, which the caller
/// recomputes without pauses: a corrupted register or stack shows as a mismatch.
fn checksum(seed: u32, mut pause: impl FnMut()) -> i64 {
    let mut x = f64::from(seed) + 0.5;
    let mut acc: u64 = u64::from(seed);
    for i in 0..200u32 {
        x = x * 1.000_001 + 0.25;
        acc = acc
            .wrapping_mul(6364136223846793005)
            .wrapping_add(u64::from(i));
        if i % 50 == 0 {
            pause();
        }
    }
    ((acc >> 33) as i64) ^ (x as i64)
}

/// The worker: the checksum interleaved with yields, then a short sleep.
fn worker(seed: u32) -> i64 {
    let code = checksum(seed, task::yield_now);
    task::sleep_ns(1_000_000);
    code
}

fn expected(seed: u32) -> i64 {
    checksum(seed, || {})
}

/// Spawns `n` workers, then joins them all.
pub fn run_threads(n: u32) -> Result<StressReport, String> {
    let mut ids = Vec::new();
    ids.try_reserve(n as usize)
        .map_err(|_| String::from("out of memory"))?;
    let mut spawn_error = None;
    for seed in 0..n {
        match task::spawn("stress-worker", move || worker(seed)) {
            Ok(id) => ids.push((seed, id)),
            Err(e) => {
                spawn_error = Some(alloc::format!("spawn failed after {seed} threads: {e}"));
                break;
            }
        }
    }
    let spawned = ids.len() as u32;
    let mut joined = 0;
    let mut checksum_ok = true;
    for (seed, id) in ids {
        match task::join(id) {
            Ok(code) => {
                joined += 1;
                checksum_ok &= code == expected(seed);
            }
            Err(e) => return Err(alloc::format!("join failed: {e}")),
        }
    }
    match spawn_error {
        Some(e) => Err(e),
        None => Ok(StressReport {
            spawned,
            joined,
            checksum_ok,
        }),
    }
}

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

/// The worker: a small deterministic computation (floating point, so SSE state crosses
/// preemptions) interleaved with yields and a short sleep.
fn worker(seed: u32) -> i64 {
    let mut x = f64::from(seed) + 0.5;
    let mut acc: u64 = u64::from(seed);
    for i in 0..200u32 {
        x = x * 1.000_001 + 0.25;
        acc = acc
            .wrapping_mul(6364136223846793005)
            .wrapping_add(u64::from(i));
        if i % 50 == 0 {
            task::yield_now();
        }
    }
    task::sleep_ns(1_000_000);
    // Exit code: a value the caller can recompute, so a corrupted register or stack shows.
    ((acc >> 33) as i64) ^ (x as i64)
}

fn expected(seed: u32) -> i64 {
    let mut x = f64::from(seed) + 0.5;
    let mut acc: u64 = u64::from(seed);
    for i in 0..200u32 {
        x = x * 1.000_001 + 0.25;
        acc = acc
            .wrapping_mul(6364136223846793005)
            .wrapping_add(u64::from(i));
    }
    ((acc >> 33) as i64) ^ (x as i64)
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

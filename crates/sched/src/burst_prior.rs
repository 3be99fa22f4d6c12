//! The prior of the learned policy for a thread with no history: the **pooled distribution of
//! complete CPU bursts** of every thread ([`BurstPool`]) and, from it, the expected remaining
//! burst of a thread that has already run `a` of its current burst, `E[B − a | B > a]` — the
//! quantity a Gittins index ranks by when all one knows of a job is its age and the population it
//! comes from.
//!
//! Why: the population's *average* burst (the previous prior) says nothing about age. A new
//! thread that has already run 50 ms of a burst, in a population of mostly 1 ms bursts and a few
//! 100 ms ones, is almost certainly one of the long ones; the average still called it short, so
//! every new CPU-bound job looked shorter than a known-short thread and preempted it. The
//! conditional expectation grows with age where the tail is heavy, as it should.
//!
//! Integer arithmetic only (it runs with interrupts off, in `on_runnable` and in the preemption
//! check): log2 buckets of microseconds, a count and a sum of nanoseconds per bucket; the counts
//! halve when they pass [`BurstPool::HALVE_AT`], so the pool follows a changing workload.
//! Neighbours: [`crate::learned`] (its user).

/// Buckets: bucket `k` holds bursts of `[2^k, 2^(k+1))` µs (bucket 0 also holds bursts under
/// 1 µs); 32 buckets reach past an hour.
const BUCKETS: usize = 32;

/// The pooled distribution of complete bursts (see the module documentation).
#[derive(Clone, Debug, Default)]
pub struct BurstPool {
    count: [u32; BUCKETS],
    sum_ns: [u64; BUCKETS],
    total: u32,
}

fn bucket(ns: u64) -> usize {
    let us = ns / 1000;
    if us == 0 {
        0
    } else {
        ((63 - us.leading_zeros()) as usize).min(BUCKETS - 1)
    }
}

impl BurstPool {
    /// When the pool holds this many bursts, every count and sum halves (older bursts weigh
    /// half as much as newer ones).
    pub const HALVE_AT: u32 = 512;

    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bursts in the pool (after halvings).
    pub fn len(&self) -> u32 {
        self.total
    }

    /// Whether no burst has been added.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Adds a complete burst of `ns`.
    pub fn add(&mut self, ns: u64) {
        let b = bucket(ns);
        self.count[b] += 1;
        self.sum_ns[b] = self.sum_ns[b].saturating_add(ns);
        self.total += 1;
        if self.total >= Self::HALVE_AT {
            self.total = 0;
            for k in 0..BUCKETS {
                // Keep the bucket's mean: halve the sum with the count (a last single burst
                // stays, at full weight).
                let keep = self.count[k].div_ceil(2);
                if self.count[k] > 0 {
                    self.sum_ns[k] = self.sum_ns[k] / u64::from(self.count[k]) * u64::from(keep);
                }
                self.count[k] = keep;
                self.total += keep;
            }
        }
    }

    /// Expected remaining burst of a thread that has run `age_ns` of it: `E[B − a | B > a]`
    /// over the buckets whose mean burst exceeds `a`. `None` while the pool is empty; when no
    /// pooled burst is as long as the age, the age itself (a thread that has outlived the whole
    /// population is assumed to be half-way, the least-attained-service rule).
    pub fn expected_remaining(&self, age_ns: u64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let (mut n, mut sum) = (0u64, 0u64);
        for k in bucket(age_ns)..BUCKETS {
            let c = u64::from(self.count[k]);
            if c > 0 && self.sum_ns[k] > age_ns.saturating_mul(c) {
                n += c;
                sum = sum.saturating_add(self.sum_ns[k]);
            }
        }
        if n == 0 {
            return Some(age_ns);
        }
        Some((sum / n).saturating_sub(age_ns).max(1))
    }

    /// The Gittins-style remaining burst of a thread that has run `age_ns` of it: the least,
    /// over the quanta `Δ` ending at a bucket's mean, of `E[min(B − a, Δ) | B > a] /
    /// P(B − a ≤ Δ | B > a)` — the CPU a policy expects to spend per burst completed if it runs
    /// the thread for `Δ` more (bursts are taken at their bucket's mean). Ranking by it is the
    /// Gittins index rule; unlike [`BurstPool::expected_remaining`] it sees that a young thread
    /// from a population of many short and few long bursts is probably short. `None` while the
    /// pool is empty; the age itself when no pooled burst is as long.
    pub fn gittins_remaining(&self, age_ns: u64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        // Buckets whose mean exceeds the age, in increasing order, and their total count.
        let first = bucket(age_ns);
        let mut n_left = 0u64;
        for k in first..BUCKETS {
            let c = u64::from(self.count[k]);
            if c > 0 && self.sum_ns[k] > age_ns.saturating_mul(c) {
                n_left += c;
            }
        }
        if n_left == 0 {
            return Some(age_ns);
        }
        let (mut done, mut spent_done) = (0u64, 0u64);
        let mut best = u64::MAX;
        for k in first..BUCKETS {
            let c = u64::from(self.count[k]);
            if c == 0 || self.sum_ns[k] <= age_ns.saturating_mul(c) {
                continue;
            }
            let delta = self.sum_ns[k] / c - age_ns;
            done += c;
            spent_done = spent_done.saturating_add(self.sum_ns[k] - age_ns * c);
            // Spent: the finished ones' remaining bursts, Δ for every one still running.
            let spent = spent_done.saturating_add((n_left - done).saturating_mul(delta));
            best = best.min(spent / done);
        }
        Some(best.max(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn an_empty_pool_has_no_prior() {
        assert_eq!(BurstPool::new().expected_remaining(0), None);
    }

    #[test]
    fn the_expected_remaining_burst_grows_with_age_under_a_heavy_tail() {
        let mut pool = BurstPool::new();
        // 90 % 1 ms bursts, 10 % 100 ms bursts.
        for i in 0..100 {
            pool.add(if i % 10 == 0 { 100 * MS } else { MS });
        }
        let fresh = pool.expected_remaining(0).unwrap();
        // The mean: 0.9 ms + 10 ms.
        assert!((10 * MS..11 * MS).contains(&fresh), "{fresh}");
        // Past the short mode, only the long bursts are left: ~100 ms − age.
        let old = pool.expected_remaining(5 * MS).unwrap();
        assert!((90 * MS..100 * MS).contains(&old), "{old}");
        assert!(old > fresh);
        // Past every pooled burst: the age itself.
        assert_eq!(pool.expected_remaining(300 * MS), Some(300 * MS));
    }

    #[test]
    fn the_gittins_remaining_burst_calls_a_young_thread_short_and_an_old_one_long() {
        let mut pool = BurstPool::new();
        for i in 0..100 {
            pool.add(if i % 10 == 0 { 100 * MS } else { MS });
        }
        // Young: run 1 ms more and 90 % finish; 1 ms / 0.9 (plus the long ones' 1 ms).
        let young = pool.gittins_remaining(0).unwrap();
        assert!((MS..2 * MS).contains(&young), "{young}");
        assert!(young < pool.expected_remaining(0).unwrap());
        // Past the short mode only the long bursts are left.
        let old = pool.gittins_remaining(5 * MS).unwrap();
        assert!((90 * MS..100 * MS).contains(&old), "{old}");
        assert_eq!(pool.gittins_remaining(300 * MS), Some(300 * MS));
        assert_eq!(BurstPool::new().gittins_remaining(0), None);
    }

    #[test]
    fn halving_keeps_the_shape_and_follows_new_bursts() {
        let mut pool = BurstPool::new();
        for _ in 0..BurstPool::HALVE_AT - 1 {
            pool.add(MS);
        }
        let before = pool.expected_remaining(0).unwrap();
        pool.add(MS);
        assert!(pool.len() < BurstPool::HALVE_AT);
        assert_eq!(pool.expected_remaining(0).unwrap(), before);
        // A workload that turns to 20 ms bursts moves the prior towards them.
        for _ in 0..2 * BurstPool::HALVE_AT {
            pool.add(20 * MS);
        }
        let after = pool.expected_remaining(0).unwrap();
        assert!(after > 15 * MS, "{after}");
    }
}

//! [`CostHistogram`]: the distribution of the predictor's update time, so `crashctl stats`
//! can give its median and 99th percentile and not only a mean and a maximum. Under QEMU TCG
//! the sampler thread is sometimes preempted in the middle of a timed update (the maximum
//! then reads milliseconds); percentiles say what one update costs despite that. Fixed
//! buckets of [`BUCKET_NS`] ([`bucket_of`]), no allocation; everything above the last bucket is
//! counted in an overflow bucket. The percentile rule is a free function over any bucket
//! store ([`percentile_ns`]), so the kernel can keep its counts in static atomics instead of
//! on the small stack of the thread that builds its supervision state.

/// Width of one bucket.
pub const BUCKET_NS: u64 = 500;
/// Buckets below the overflow bucket: 0 to 256 µs.
pub const BUCKETS: usize = 512;

/// The bucket an update of `ns` falls in (`BUCKETS` is the overflow bucket).
pub fn bucket_of(ns: u64) -> usize {
    usize::try_from(ns / BUCKET_NS).map_or(BUCKETS, |b| b.min(BUCKETS))
}

/// The `permille`-th per-mille update time (500 = median, 990 = p99) of the counts
/// `count_at(0..=BUCKETS)`, as the upper edge of its bucket (so at most [`BUCKET_NS`] above
/// the true value); `None` when there are none or when it falls in the overflow bucket (above
/// 256 µs).
pub fn percentile_ns(count_at: impl Fn(usize) -> u32, permille: u32) -> Option<u64> {
    let total: u64 = (0..=BUCKETS).map(|b| u64::from(count_at(b))).sum();
    if total == 0 {
        return None;
    }
    // The rank of the wanted update, 1-based: ceil(total × p / 1000), at least 1.
    let rank = (total * u64::from(permille.min(1000)))
        .div_ceil(1000)
        .max(1);
    let mut seen = 0u64;
    for bucket in 0..BUCKETS {
        seen += u64::from(count_at(bucket));
        if seen >= rank {
            return Some((bucket as u64 + 1) * BUCKET_NS);
        }
    }
    None
}

/// Counts of update times in [`BUCKET_NS`]-wide buckets.
#[derive(Clone, Debug)]
pub struct CostHistogram {
    counts: [u32; BUCKETS + 1],
    total: u64,
}

impl Default for CostHistogram {
    fn default() -> Self {
        CostHistogram::new()
    }
}

impl CostHistogram {
    /// An empty histogram.
    pub const fn new() -> CostHistogram {
        CostHistogram {
            counts: [0; BUCKETS + 1],
            total: 0,
        }
    }

    /// Counts one update that took `ns`.
    pub fn add(&mut self, ns: u64) {
        let bucket = bucket_of(ns);
        self.counts[bucket] = self.counts[bucket].saturating_add(1);
        self.total += 1;
    }

    /// Updates counted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// See [`percentile_ns`].
    pub fn percentile_ns(&self, permille: u32) -> Option<u64> {
        percentile_ns(|b| self.counts[b], permille)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_ignore_a_few_preempted_updates() {
        let mut h = CostHistogram::new();
        assert_eq!(h.percentile_ns(500), None);
        // 980 updates of 32-37 µs, 15 of 60 µs, 5 preempted ones of 9 ms.
        for i in 0..980u64 {
            h.add(32_000 + (i % 6) * 1_000);
        }
        for _ in 0..15 {
            h.add(60_000);
        }
        for _ in 0..5 {
            h.add(9_000_000);
        }
        assert_eq!(h.count(), 1000);
        let p50 = h.percentile_ns(500).unwrap();
        assert!((34_000..=35_500).contains(&p50), "{p50}");
        assert_eq!(h.percentile_ns(990), Some(60_500));
        assert_eq!(h.percentile_ns(999), None, "in the overflow bucket");
        assert_eq!(h.percentile_ns(0), Some(32_500));
    }
}

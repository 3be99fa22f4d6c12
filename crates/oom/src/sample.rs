//! [`Sample`]: one observation of the physical allocator, as the predictor and the baselines
//! see it. The kernel builds one at 10 Hz from `buddy::BuddyStats` plus what the allocator
//! does not know itself (reclaimable cache pages, the order workloads recently asked for,
//! workload allocation failures including watermark refusals); the simulator does the same.

use buddy::{BuddyStats, ORDERS};

/// One observation of memory at time `t_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    /// Milliseconds on a monotonic clock (any origin; only differences matter).
    pub t_ms: u64,
    /// Usable pages of the machine (free + allocated).
    pub total_pages: u64,
    /// Pages currently free.
    pub free_pages: u64,
    /// Free blocks of each order after coalescing.
    pub free_blocks_by_order: [u64; ORDERS],
    /// Pages held by caches that reclaim can drop.
    pub reclaimable_pages: u64,
    /// The largest order workloads recently asked for: the order whose fragmentation matters.
    pub watched_order: u8,
    /// Successful allocations so far (cumulative; for the allocation rate).
    pub alloc_count: u64,
    /// Workload allocations that failed so far (cumulative): buddy failures and watermark
    /// refusals together.
    pub failures: u64,
}

impl Sample {
    /// Builds a sample from allocator statistics. `failures` is the caller's cumulative count
    /// of failed workload allocations (the allocator does not see watermark refusals).
    /// `watched_order` is clamped to the largest order.
    pub fn from_stats(
        t_ms: u64,
        stats: &BuddyStats,
        reclaimable_pages: u64,
        watched_order: usize,
        failures: u64,
    ) -> Sample {
        Sample {
            t_ms,
            total_pages: stats.total_pages,
            free_pages: stats.free_pages,
            free_blocks_by_order: stats.free_blocks_by_order,
            reclaimable_pages,
            watched_order: watched_order.min(ORDERS - 1) as u8,
            alloc_count: stats.alloc_count,
            failures,
        }
    }

    /// Free pages plus reclaimable pages: what earlyoom calls available memory (saturating).
    pub fn available_pages(&self) -> u64 {
        self.free_pages.saturating_add(self.reclaimable_pages)
    }

    /// Free pages that sit in blocks of order ≥ `order`, i.e. could serve an order-`order`
    /// request (saturating; orders beyond the largest give 0).
    pub fn usable_pages(&self, order: usize) -> u64 {
        self.free_blocks_by_order
            .iter()
            .enumerate()
            .skip(order)
            .fold(0u64, |sum, (k, &blocks)| {
                sum.saturating_add(blocks.saturating_mul(1 << k))
            })
    }

    /// Every order's usable pages at once (see [`Sample::usable_pages`]), in one pass.
    pub fn usable_by_order(&self) -> [u64; ORDERS] {
        let mut usable = [0u64; ORDERS];
        let mut sum = 0u64;
        for order in (0..ORDERS).rev() {
            sum = sum.saturating_add(self.free_blocks_by_order[order].saturating_mul(1 << order));
            usable[order] = sum;
        }
        usable
    }

    /// Gorman & Whitcroft's unusable-free-space index of `order`, in permille: the share of
    /// free memory in blocks too small for an order-`order` request (1000 when nothing is free).
    pub fn frag_index(&self, order: usize) -> u16 {
        if self.free_pages == 0 {
            return 1000;
        }
        let usable = self.usable_pages(order).min(self.free_pages);
        let permille = (self.free_pages - usable).saturating_mul(1000) / self.free_pages;
        permille.min(1000) as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_with(blocks: &[(usize, u64)]) -> Sample {
        let mut s = Sample {
            t_ms: 0,
            total_pages: 1000,
            free_pages: 0,
            free_blocks_by_order: [0; ORDERS],
            reclaimable_pages: 7,
            watched_order: 0,
            alloc_count: 0,
            failures: 0,
        };
        for &(order, count) in blocks {
            s.free_blocks_by_order[order] += count;
            s.free_pages += count << order;
        }
        s
    }

    #[test]
    fn matches_buddy_index() {
        let s = sample_with(&[(0, 8), (2, 2), (5, 1)]);
        let stats = BuddyStats {
            total_pages: 1000,
            free_pages: s.free_pages,
            free_blocks_by_order: s.free_blocks_by_order,
            ..BuddyStats::default()
        };
        let index = stats.unusable_free_space_index();
        for (order, &expected) in index.iter().enumerate() {
            assert_eq!(s.frag_index(order), expected, "order {order}");
            assert_eq!(s.usable_by_order()[order], s.usable_pages(order));
        }
        assert_eq!(s.usable_pages(3), 32);
        assert_eq!(s.available_pages(), 55);
    }

    #[test]
    fn from_stats_copies_and_clamps() {
        let stats = BuddyStats {
            total_pages: 64,
            free_pages: 16,
            alloc_count: 3,
            ..BuddyStats::default()
        };
        let s = Sample::from_stats(5, &stats, 2, 99, 4);
        assert_eq!(s.watched_order as usize, ORDERS - 1);
        assert_eq!((s.t_ms, s.total_pages, s.free_pages), (5, 64, 16));
        assert_eq!((s.reclaimable_pages, s.alloc_count, s.failures), (2, 3, 4));
        assert_eq!(sample_with(&[]).frag_index(0), 1000);
    }
}

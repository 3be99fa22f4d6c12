//! Allocator statistics and the fragmentation measure derived from them.
//!
//! [`BuddyStats`] is a plain copy of counters the allocator keeps up to date on every
//! operation, so reading it costs O(orders) and never walks memory. The crash predictor and
//! `meminfo` read it; [`BuddyStats::unusable_free_space_index`] turns the per-order free
//! block counts into Gorman & Whitcroft's fragmentation index for every order at once.

use crate::frame::{MigrateType, ORDERS};

/// A snapshot of the allocator's counters, from `BuddyAllocator::stats`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct BuddyStats {
    /// Frames ever added as usable memory (free + allocated); reserved frames are not counted.
    pub total_pages: u64,
    /// Frames currently free.
    pub free_pages: u64,
    /// Free blocks of each order, after coalescing.
    pub free_blocks_by_order: [u64; ORDERS],
    /// Order of the largest free block, `None` when nothing is free.
    pub largest_free_order: Option<usize>,
    /// Successful allocations since creation (saturating).
    pub alloc_count: u64,
    /// Successful frees since creation (saturating).
    pub free_count: u64,
    /// Allocations that failed for lack of memory, by requested order (saturating).
    /// Requests with an invalid order are not counted.
    pub failures_by_order: [u64; ORDERS],
    /// Allocated frames by class, indexed by `MigrateType::index`.
    pub allocated_pages_by_class: [u64; MigrateType::COUNT],
}

impl BuddyStats {
    /// Frames currently allocated, all classes together.
    pub fn allocated_pages(&self) -> u64 {
        self.allocated_pages_by_class.iter().sum()
    }

    /// How many order-`order` requests the free memory could serve right now: every free
    /// block of order k ≥ `order` holds 2^(k − order) of them. Compaction raises this
    /// figure; it is 0 for an order above `MAX_ORDER`.
    pub fn free_blocks_at_least(&self, order: usize) -> u64 {
        self.free_blocks_by_order
            .iter()
            .enumerate()
            .skip(order)
            .map(|(k, &blocks)| blocks.saturating_mul(1 << (k - order)))
            .fold(0u64, u64::saturating_add)
    }

    /// The unusable-free-space index of Gorman & Whitcroft (2006) for every requested
    /// order `j`, in permille:
    ///
    /// ```text
    /// F_u(j) = (free_pages − Σ_{i ≥ j} free_blocks_i · 2^i) / free_pages
    /// ```
    ///
    /// the share of free memory that sits in blocks too small to serve an order-`j`
    /// request. 0 means every free frame could serve it; 1000 means none could. It is a
    /// fragmentation measure, independent of how much memory is in use. The division
    /// rounds down, so 1000 appears only when no free block of order ≥ `j` exists.
    /// When nothing is free (`free_pages == 0`) every order reports 1000: no request can
    /// be served. `F_u(0)` is 0 whenever anything is free.
    pub fn unusable_free_space_index(&self) -> [u16; ORDERS] {
        let mut index = [1000u16; ORDERS];
        if self.free_pages == 0 {
            return index;
        }
        // Walk from the largest order down so the "usable at order ≥ j" sum accumulates.
        let mut usable: u64 = 0;
        for order in (0..ORDERS).rev() {
            let blocks = self.free_blocks_by_order[order];
            usable = usable.saturating_add(blocks.saturating_mul(1 << order));
            let unusable = self.free_pages.saturating_sub(usable);
            // unusable ≤ free_pages ≤ 2^32, so the product cannot overflow and the
            // quotient is at most 1000.
            let permille = unusable.saturating_mul(1000) / self.free_pages;
            index[order] = u16::try_from(permille).unwrap_or(1000);
        }
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with(blocks: [(usize, u64); 3]) -> BuddyStats {
        let mut s = BuddyStats::default();
        for (order, count) in blocks {
            s.free_blocks_by_order[order] += count;
            s.free_pages += count << order;
        }
        s
    }

    #[test]
    fn nothing_free_is_all_unusable() {
        assert_eq!(
            BuddyStats::default().unusable_free_space_index(),
            [1000; ORDERS]
        );
    }

    #[test]
    fn one_big_block_is_fully_usable_up_to_its_order() {
        let s = stats_with([(10, 1), (0, 0), (0, 0)]);
        assert_eq!(s.unusable_free_space_index(), [0; ORDERS]);
        let s = stats_with([(4, 1), (0, 0), (0, 0)]);
        let idx = s.unusable_free_space_index();
        assert_eq!(&idx[..=4], &[0; 5]);
        assert_eq!(&idx[5..], &[1000; 6]);
    }

    #[test]
    fn mixed_layout_matches_the_formula() {
        // 8 single frames, 2 order-2 blocks, 1 order-5 block: 8 + 8 + 32 = 48 free frames.
        let s = stats_with([(0, 8), (2, 2), (5, 1)]);
        assert_eq!(s.free_pages, 48);
        let idx = s.unusable_free_space_index();
        assert_eq!(idx[0], 0);
        // Order 1 and 2: the 8 single frames are unusable: 8/48 = 166.67‰, rounded down.
        assert_eq!(idx[1], 166);
        assert_eq!(idx[2], 166);
        // Orders 3..=5: only the order-5 block serves: 16/48 = 333.3‰.
        assert_eq!(&idx[3..=5], &[333; 3]);
        assert_eq!(&idx[6..], &[1000; 5]);
    }

    #[test]
    fn nearly_unusable_never_rounds_up_to_1000() {
        // 1999 single frames and one order-1 block: for order 1, 1999/2001 is 999.0‰.
        let s = stats_with([(0, 1999), (1, 1), (0, 0)]);
        assert_eq!(s.unusable_free_space_index()[1], 999);
        assert_eq!(s.unusable_free_space_index()[2], 1000);
    }

    #[test]
    fn blocks_at_least_an_order_count_larger_blocks_by_their_capacity() {
        let s = stats_with([(0, 8), (2, 2), (5, 1)]);
        assert_eq!(s.free_blocks_at_least(0), 48);
        assert_eq!(s.free_blocks_at_least(1), 2 * 2 + 16);
        assert_eq!(s.free_blocks_at_least(2), 2 + 8);
        assert_eq!(s.free_blocks_at_least(3), 4);
        assert_eq!(s.free_blocks_at_least(5), 1);
        assert_eq!(s.free_blocks_at_least(6), 0);
        assert_eq!(s.free_blocks_at_least(ORDERS), 0);
    }

    #[test]
    fn allocated_pages_sums_classes() {
        let s = BuddyStats {
            allocated_pages_by_class: [3, 5, 8],
            ..BuddyStats::default()
        };
        assert_eq!(s.allocated_pages(), 16);
    }
}

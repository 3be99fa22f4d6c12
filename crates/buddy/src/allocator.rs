//! The binary buddy allocator proper: [`BuddyAllocator`] and its block iterators.
//!
//! Every covered frame has one `FrameMeta` in the caller's slice. A block of order `k` is
//! 2^k frames starting at a frame number that is a multiple of 2^k; its first frame (the
//! head) records whether it is free or allocated, its order and, when allocated, its
//! `MigrateType`; the other frames are tails. Free heads are threaded into one intrusive
//! doubly-linked list per order (links are frame indices), so a buddy is unlinked in O(1)
//! when coalescing. The counters behind `stats` (module `stats`) change with every list
//! push and unlink, so they cannot drift from the lists; `invariants` audits all of it.

use crate::error::{AllocError, ClaimError, FreeError, InitError, RangeError};
use crate::frame::{
    FrameMeta, FrameState, MAX_FRAMES, MAX_ORDER, MigrateType, NIL, ORDERS, PFN_LIMIT, Pfn,
};
use crate::stats::BuddyStats;

/// A buddy allocator over the frames `base .. base + meta.len()`, orders `0..=MAX_ORDER`.
///
/// It never allocates heap memory: all state is the caller's metadata slice plus a few
/// hundred bytes of heads and counters. It is not internally synchronised; the kernel
/// wraps it in a lock.
pub struct BuddyAllocator<'m> {
    pub(crate) meta: &'m mut [FrameMeta],
    pub(crate) base: u64,
    /// Index of the first block in each order's free list, or `NIL`.
    pub(crate) free_heads: [u32; ORDERS],
    /// Running counters; `largest_free_order` is filled in on read.
    pub(crate) counters: BuddyStats,
}

/// An allocated block, as listed by [`BuddyAllocator::allocated_blocks`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AllocatedBlock {
    pub pfn: Pfn,
    pub order: usize,
    pub class: MigrateType,
}

/// A free block, as listed by [`BuddyAllocator::free_blocks`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub struct FreeBlock {
    pub pfn: Pfn,
    pub order: usize,
}

/// Frames in a block of `order`.
const fn block_frames(order: usize) -> u64 {
    1 << order
}

/// Largest order `k ≤ MAX_ORDER` with `pfn` a multiple of 2^k and `pfn + 2^k ≤ end`.
/// Requires `pfn < end`.
fn largest_fitting_order(pfn: u64, end: u64) -> usize {
    let mut order = (pfn.trailing_zeros() as usize).min(MAX_ORDER);
    while pfn + block_frames(order) > end {
        order -= 1;
    }
    order
}

impl<'m> BuddyAllocator<'m> {
    /// An allocator whose `meta[i]` describes frame `base_pfn + i`. Every entry is reset to
    /// [`FrameMeta::EMPTY`]: all frames start reserved until `add_free_range` hands them over.
    ///
    /// Fails if the slice is longer than [`MAX_FRAMES`](crate::MAX_FRAMES) or the frames
    /// would reach past the 52-bit physical address space.
    pub fn new(meta: &'m mut [FrameMeta], base_pfn: Pfn) -> Result<Self, InitError> {
        let frames = meta.len();
        if frames > MAX_FRAMES {
            return Err(InitError::TooManyFrames { frames });
        }
        // frames ≤ 2^32, so the cast is lossless.
        match base_pfn.0.checked_add(frames as u64) {
            Some(end) if end <= PFN_LIMIT => {}
            _ => {
                return Err(InitError::BeyondPhysicalLimit {
                    base: base_pfn,
                    frames,
                });
            }
        }
        meta.fill(FrameMeta::EMPTY);
        Ok(BuddyAllocator {
            meta,
            base: base_pfn.0,
            free_heads: [NIL; ORDERS],
            counters: BuddyStats::default(),
        })
    }

    /// The frames this allocator covers, `start..end` (free, allocated and reserved).
    pub fn covered(&self) -> (Pfn, Pfn) {
        (Pfn(self.base), Pfn(self.base + self.meta.len() as u64))
    }

    /// Hands the reserved frames `start..end` over as usable memory. The range may have any
    /// alignment: it is split into maximal naturally aligned blocks, which coalesce with
    /// free neighbours added earlier. An empty range is accepted and changes nothing.
    ///
    /// Fails, changing nothing, if the range is inverted, leaves the covered frames, or
    /// contains a frame that is already free or allocated. Cost: O(frames in the range).
    pub fn add_free_range(&mut self, start: Pfn, end: Pfn) -> Result<(), RangeError> {
        if start > end {
            return Err(RangeError::Inverted { start, end });
        }
        if start == end {
            return Ok(());
        }
        let (Some(first), Some(last)) = (self.index_of(start.0), self.index_of(end.0 - 1)) else {
            return Err(RangeError::OutOfRange { start, end });
        };
        let frames = &mut self.meta[first..=last];
        if let Some(pos) = frames.iter().position(|m| m.state != FrameState::Reserved) {
            return Err(RangeError::AlreadyManaged {
                pfn: Pfn(start.0 + pos as u64),
            });
        }
        // Everything becomes a tail first; `release_block` then turns block heads into
        // free heads, so no reserved frame is left inside a block.
        frames.fill(FrameMeta::TAIL);
        let mut pfn = start.0;
        while pfn < end.0 {
            let order = largest_fitting_order(pfn, end.0);
            self.counters.total_pages += block_frames(order);
            self.release_block(pfn, order);
            pfn += block_frames(order);
        }
        Ok(())
    }

    /// Allocates an [`Unmovable`](MigrateType::Unmovable) block of 2^`order` frames.
    pub fn alloc(&mut self, order: usize) -> Result<Pfn, AllocError> {
        self.alloc_typed(order, MigrateType::Unmovable)
    }

    /// Allocates a block of 2^`order` frames, aligned to its size, and records `class` in
    /// its metadata. Takes the block at the front of the smallest non-empty free list of
    /// order ≥ `order` (the one most recently put there: LIFO, so the result is a
    /// deterministic function of the call sequence and recently freed, cache-warm frames
    /// are reused first), splits it, and returns the upper halves to their free lists.
    /// Cost: O(MAX_ORDER).
    pub fn alloc_typed(&mut self, order: usize, class: MigrateType) -> Result<Pfn, AllocError> {
        if order > MAX_ORDER {
            return Err(AllocError::InvalidOrder { order });
        }
        let Some(found) = (order..ORDERS).find(|&k| self.free_heads[k] != NIL) else {
            let failures = &mut self.counters.failures_by_order[order];
            *failures = failures.saturating_add(1);
            return Err(AllocError::OutOfMemory { order });
        };
        let idx = self.free_heads[found] as usize;
        self.unlink(idx, found);
        // Split: the lower half stays with us, the upper half goes back to its list. Both
        // halves lie inside the found block, which lies inside the metadata.
        let mut split = found;
        while split > order {
            split -= 1;
            self.push_free(idx + (1 << split), split);
        }
        self.meta[idx] = FrameMeta {
            state: FrameState::Allocated(class),
            order: order as u8,
            ..FrameMeta::TAIL
        };
        self.counters.allocated_pages_by_class[class.index()] += block_frames(order);
        self.counters.alloc_count = self.counters.alloc_count.saturating_add(1);
        Ok(self.pfn_of(idx))
    }

    /// Frees the block of 2^`order` frames at `pfn`, coalescing it with free buddies.
    /// Cost: O(MAX_ORDER).
    ///
    /// Refuses, changing nothing, anything that is not exactly a block returned by `alloc`
    /// with this order: frames outside the allocator or reserved, misaligned frames, a
    /// wrong order, a frame inside a block, or a frame that is already free.
    pub fn free(&mut self, pfn: Pfn, order: usize) -> Result<(), FreeError> {
        if order > MAX_ORDER {
            return Err(FreeError::InvalidOrder { order });
        }
        let idx = self.index_of(pfn.0).ok_or(FreeError::NotManaged { pfn })?;
        if !pfn.0.is_multiple_of(block_frames(order)) {
            return Err(FreeError::Misaligned { pfn, order });
        }
        let head = self.meta[idx];
        let class = match head.state {
            FrameState::Allocated(class) if usize::from(head.order) == order => class,
            FrameState::Allocated(_) => {
                return Err(FreeError::WrongOrder {
                    pfn,
                    order,
                    allocated_order: usize::from(head.order),
                });
            }
            FrameState::Free => return Err(FreeError::AlreadyFree { pfn }),
            FrameState::Reserved => return Err(FreeError::Reserved { pfn }),
            FrameState::Tail => {
                return Err(match self.containing_block(pfn.0) {
                    Some((block, FrameState::Allocated(_), block_order)) => {
                        FreeError::InsideBlock {
                            pfn,
                            block: Pfn(block),
                            block_order,
                        }
                    }
                    // A tail is always covered by a free or allocated head (checked by
                    // `check_invariants`); an uncovered tail would be a bug, reported as
                    // "already free" rather than acted upon.
                    _ => FreeError::AlreadyFree { pfn },
                });
            }
        };
        self.counters.allocated_pages_by_class[class.index()] -= block_frames(order);
        self.counters.free_count = self.counters.free_count.saturating_add(1);
        self.release_block(pfn.0, order);
        Ok(())
    }

    /// Takes the single free frame `pfn` out of the free lists as a
    /// [`Movable`](MigrateType::Movable) order-0 block: the destination of a compaction move,
    /// which must land exactly where the planner put it. See [`claim_free_block`](Self::claim_free_block).
    pub fn claim_free(&mut self, pfn: Pfn) -> Result<(), ClaimError> {
        self.claim_free_block(pfn, 0, MigrateType::Movable)
    }

    /// Allocates exactly the block of 2^`order` frames at `pfn` with class `class`. The frames
    /// must be free: they lie inside one free block (full coalescing guarantees that for any
    /// aligned, entirely free range), which is unlinked and split; the parts around the
    /// claimed block go back to their free lists. Counts as one allocation. Cost: O(MAX_ORDER).
    ///
    /// Refuses, changing nothing, an invalid order, a frame outside the allocator, a
    /// misaligned frame, or a range that is not entirely free.
    pub fn claim_free_block(
        &mut self,
        pfn: Pfn,
        order: usize,
        class: MigrateType,
    ) -> Result<(), ClaimError> {
        if order > MAX_ORDER {
            return Err(ClaimError::InvalidOrder { order });
        }
        let last = pfn.0.checked_add(block_frames(order) - 1);
        let (Some(idx), Some(_)) = (self.index_of(pfn.0), last.and_then(|l| self.index_of(l)))
        else {
            return Err(ClaimError::NotManaged { pfn });
        };
        if !pfn.0.is_multiple_of(block_frames(order)) {
            return Err(ClaimError::Misaligned { pfn, order });
        }
        let (head, head_order) = match self.containing_block(pfn.0) {
            Some((head, FrameState::Free, head_order)) if head_order >= order => (head, head_order),
            _ => return Err(ClaimError::NotFree { pfn, order }),
        };
        let Some(head_idx) = self.index_of(head) else {
            return Err(ClaimError::NotFree { pfn, order });
        };
        self.unlink(head_idx, head_order);
        // Halve the block until it is the claimed one; the half without `pfn` goes back.
        let mut block = head;
        let mut split = head_order;
        while split > order {
            split -= 1;
            let upper = block + block_frames(split);
            let (keep, give) = if pfn.0 >= upper {
                (upper, block)
            } else {
                (block, upper)
            };
            if let Some(give_idx) = self.index_of(give) {
                self.push_free(give_idx, split);
            }
            if let Some(keep_idx) = self.index_of(keep) {
                // The kept half's head may have been the old block head; it is a tail now
                // until the loop ends on it.
                self.meta[keep_idx] = FrameMeta::TAIL;
            }
            block = keep;
        }
        self.meta[idx] = FrameMeta {
            state: FrameState::Allocated(class),
            order: order as u8,
            ..FrameMeta::TAIL
        };
        self.counters.allocated_pages_by_class[class.index()] += block_frames(order);
        self.counters.alloc_count = self.counters.alloc_count.saturating_add(1);
        Ok(())
    }

    /// A snapshot of the counters. Cost: O(orders).
    pub fn stats(&self) -> BuddyStats {
        let mut stats = self.counters;
        stats.largest_free_order = (0..ORDERS)
            .rev()
            .find(|&order| stats.free_blocks_by_order[order] > 0);
        stats
    }

    /// Every allocated block, in address order, with its class; compaction looks here for
    /// movable blocks. Walks the metadata, skipping whole blocks: O(frames) at worst.
    pub fn allocated_blocks(&self) -> impl Iterator<Item = AllocatedBlock> + '_ {
        self.blocks().filter_map(|(pfn, state, order)| match state {
            FrameState::Allocated(class) => Some(AllocatedBlock {
                pfn: Pfn(pfn),
                order,
                class,
            }),
            _ => None,
        })
    }

    /// Every free block, in address order. Walks the metadata like `allocated_blocks`.
    pub fn free_blocks(&self) -> impl Iterator<Item = FreeBlock> + '_ {
        self.blocks().filter_map(|(pfn, state, order)| {
            (state == FrameState::Free).then_some(FreeBlock {
                pfn: Pfn(pfn),
                order,
            })
        })
    }

    /// Metadata index of `pfn`, if covered.
    pub(crate) fn index_of(&self, pfn: u64) -> Option<usize> {
        let idx = usize::try_from(pfn.checked_sub(self.base)?).ok()?;
        (idx < self.meta.len()).then_some(idx)
    }

    pub(crate) fn pfn_of(&self, idx: usize) -> Pfn {
        Pfn(self.base + idx as u64)
    }

    /// The block (head frame number, head state, order) containing the frame `pfn`.
    /// A block of order k containing `pfn` starts at `pfn` rounded down to 2^k, so trying
    /// every order finds it in O(MAX_ORDER).
    pub(crate) fn containing_block(&self, pfn: u64) -> Option<(u64, FrameState, usize)> {
        (0..ORDERS).find_map(|order| {
            let head = pfn & !(block_frames(order) - 1);
            let meta = self.meta[self.index_of(head)?];
            let is_head = matches!(meta.state, FrameState::Free | FrameState::Allocated(_));
            (is_head && usize::from(meta.order) >= order).then_some((
                head,
                meta.state,
                usize::from(meta.order),
            ))
        })
    }

    /// Returns the block at `pfn` (whose frames are all tails or its old head) to the free
    /// lists, merging with its buddy for as long as the buddy is a whole free block.
    fn release_block(&mut self, pfn: u64, order: usize) {
        let mut pfn = pfn;
        let mut order = order;
        while order < MAX_ORDER {
            let buddy = pfn ^ block_frames(order);
            let Some(buddy_idx) = self.index_of(buddy) else {
                break;
            };
            let buddy_meta = self.meta[buddy_idx];
            if buddy_meta.state != FrameState::Free || usize::from(buddy_meta.order) != order {
                break;
            }
            self.unlink(buddy_idx, order);
            // The upper of the two heads becomes a tail of the merged block.
            let upper = pfn.max(buddy);
            if let Some(upper_idx) = self.index_of(upper) {
                self.meta[upper_idx] = FrameMeta::TAIL;
            }
            pfn = pfn.min(buddy);
            order += 1;
        }
        if let Some(idx) = self.index_of(pfn) {
            self.push_free(idx, order);
        }
    }

    /// Makes frame `idx` a free head of `order` at the front of its list.
    fn push_free(&mut self, idx: usize, order: usize) {
        let old_head = self.free_heads[order];
        self.meta[idx] = FrameMeta {
            prev: NIL,
            next: old_head,
            state: FrameState::Free,
            order: order as u8,
        };
        if old_head != NIL {
            self.meta[old_head as usize].prev = idx as u32;
        }
        // idx < meta.len() ≤ MAX_FRAMES = u32::MAX, so it never collides with NIL.
        self.free_heads[order] = idx as u32;
        self.counters.free_blocks_by_order[order] += 1;
        self.counters.free_pages += block_frames(order);
    }

    /// Removes the free head `idx` of `order` from its list in O(1). The caller rewrites
    /// its state.
    fn unlink(&mut self, idx: usize, order: usize) {
        let FrameMeta { prev, next, .. } = self.meta[idx];
        if prev == NIL {
            self.free_heads[order] = next;
        } else {
            self.meta[prev as usize].next = next;
        }
        if next != NIL {
            self.meta[next as usize].prev = prev;
        }
        self.meta[idx].prev = NIL;
        self.meta[idx].next = NIL;
        self.counters.free_blocks_by_order[order] -= 1;
        self.counters.free_pages -= block_frames(order);
    }

    /// Block heads in address order: (frame number, state, order).
    fn blocks(&self) -> Blocks<'_> {
        Blocks {
            meta: self.meta,
            base: self.base,
            idx: 0,
        }
    }
}

/// Iterator over block heads, skipping each block's tails.
struct Blocks<'a> {
    meta: &'a [FrameMeta],
    base: u64,
    idx: usize,
}

impl Iterator for Blocks<'_> {
    type Item = (u64, FrameState, usize);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let meta = self.meta.get(self.idx)?;
            let idx = self.idx;
            match meta.state {
                FrameState::Free | FrameState::Allocated(_) => {
                    let order = usize::from(meta.order);
                    self.idx = idx.saturating_add(1 << order.min(MAX_ORDER));
                    return Some((self.base + idx as u64, meta.state, order));
                }
                FrameState::Reserved | FrameState::Tail => self.idx += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc_test::*;

    /// Helpers shared by the tests below.
    mod alloc_test {
        use super::*;

        pub fn meta(frames: usize) -> Vec<FrameMeta> {
            vec![FrameMeta::EMPTY; frames]
        }

        pub fn free_layout(a: &BuddyAllocator<'_>) -> Vec<(u64, usize)> {
            a.free_blocks().map(|b| (b.pfn.0, b.order)).collect()
        }

        /// Everything observable about an allocator, to show that a refused call changed nothing.
        pub fn snapshot(
            a: &BuddyAllocator<'_>,
        ) -> (Vec<FreeBlock>, Vec<AllocatedBlock>, BuddyStats) {
            (
                a.free_blocks().collect(),
                a.allocated_blocks().collect(),
                a.stats(),
            )
        }
    }

    #[test]
    fn new_rejects_frames_past_the_physical_limit() {
        let mut m = meta(4);
        assert_eq!(
            BuddyAllocator::new(&mut m, Pfn(PFN_LIMIT - 3)).err(),
            Some(InitError::BeyondPhysicalLimit {
                base: Pfn(PFN_LIMIT - 3),
                frames: 4
            })
        );
        assert!(BuddyAllocator::new(&mut m, Pfn(u64::MAX)).is_err());
        assert!(BuddyAllocator::new(&mut m, Pfn(PFN_LIMIT - 4)).is_ok());
    }

    #[test]
    fn new_starts_with_everything_reserved_even_over_stale_metadata() {
        let mut m = meta(64);
        {
            let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
            a.add_free_range(Pfn(0), Pfn(64)).unwrap();
            a.alloc(2).unwrap();
        }
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        assert_eq!(a.stats(), BuddyStats::default());
        assert_eq!(a.alloc(0), Err(AllocError::OutOfMemory { order: 0 }));
        assert_eq!(a.free(Pfn(0), 2), Err(FreeError::Reserved { pfn: Pfn(0) }));
        a.check_invariants().unwrap();
    }

    #[test]
    fn aligned_range_becomes_max_order_blocks() {
        let mut m = meta(3 * 1024);
        let mut a = BuddyAllocator::new(&mut m, Pfn(1024)).unwrap();
        a.add_free_range(Pfn(1024), Pfn(4096)).unwrap();
        assert_eq!(free_layout(&a), vec![(1024, 10), (2048, 10), (3072, 10)]);
        let s = a.stats();
        assert_eq!(s.total_pages, 3072);
        assert_eq!(s.free_blocks_by_order[10], 3);
        assert_eq!(s.largest_free_order, Some(10));
        a.check_invariants().unwrap();
    }

    #[test]
    fn odd_range_splits_into_maximal_aligned_blocks() {
        let mut m = meta(40);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(3), Pfn(37)).unwrap();
        assert_eq!(
            free_layout(&a),
            vec![(3, 0), (4, 2), (8, 3), (16, 4), (32, 2), (36, 0)]
        );
        assert_eq!(a.stats().free_pages, 34);
        a.check_invariants().unwrap();
    }

    #[test]
    fn alignment_is_on_absolute_frame_numbers_not_metadata_indices() {
        // Base 5 is odd: index 0 is frame 5, so an order-3 block must start at frame 8, 16, ...
        let mut m = meta(30);
        let mut a = BuddyAllocator::new(&mut m, Pfn(5)).unwrap();
        a.add_free_range(Pfn(5), Pfn(35)).unwrap();
        assert_eq!(
            free_layout(&a),
            vec![(5, 0), (6, 1), (8, 3), (16, 4), (32, 1), (34, 0)]
        );
        let block = a.alloc(3).unwrap();
        assert_eq!(block, Pfn(8));
        a.check_invariants().unwrap();
    }

    #[test]
    fn ranges_added_separately_coalesce_with_their_neighbours() {
        let mut m = meta(16);
        let mut a = BuddyAllocator::new(&mut m, Pfn(16)).unwrap();
        a.add_free_range(Pfn(20), Pfn(23)).unwrap();
        a.add_free_range(Pfn(16), Pfn(19)).unwrap();
        a.add_free_range(Pfn(24), Pfn(32)).unwrap();
        assert_eq!(
            free_layout(&a),
            vec![(16, 1), (18, 0), (20, 1), (22, 0), (24, 3)]
        );
        // Frame 23 completes 20..24, then 16..24 still lacks 19; frame 19 completes everything.
        a.add_free_range(Pfn(23), Pfn(24)).unwrap();
        assert_eq!(free_layout(&a), vec![(16, 1), (18, 0), (20, 2), (24, 3)]);
        a.add_free_range(Pfn(19), Pfn(20)).unwrap();
        assert_eq!(free_layout(&a), vec![(16, 4)]);
        assert_eq!(a.stats().total_pages, 16);
        a.check_invariants().unwrap();
    }

    #[test]
    fn add_free_range_rejects_bad_ranges_without_changing_anything() {
        let mut m = meta(32);
        let mut a = BuddyAllocator::new(&mut m, Pfn(32)).unwrap();
        a.add_free_range(Pfn(40), Pfn(48)).unwrap();
        let held = a.alloc(1).unwrap();
        let before = snapshot(&a);

        assert_eq!(
            a.add_free_range(Pfn(50), Pfn(49)),
            Err(RangeError::Inverted {
                start: Pfn(50),
                end: Pfn(49)
            })
        );
        assert_eq!(
            a.add_free_range(Pfn(30), Pfn(34)),
            Err(RangeError::OutOfRange {
                start: Pfn(30),
                end: Pfn(34)
            })
        );
        assert_eq!(
            a.add_free_range(Pfn(60), Pfn(65)),
            Err(RangeError::OutOfRange {
                start: Pfn(60),
                end: Pfn(65)
            })
        );
        assert!(a.add_free_range(Pfn(u64::MAX - 1), Pfn(u64::MAX)).is_err());
        // Starts among reserved frames, runs into the free order-2 block at 44.
        assert_eq!(held, Pfn(40));
        assert_eq!(
            a.add_free_range(Pfn(34), Pfn(47)),
            Err(RangeError::AlreadyManaged { pfn: Pfn(40) })
        );
        assert_eq!(
            a.add_free_range(Pfn(46), Pfn(50)),
            Err(RangeError::AlreadyManaged { pfn: Pfn(46) })
        );
        // Overlaps the allocated block.
        assert_eq!(
            a.add_free_range(held, Pfn(held.0 + 1)),
            Err(RangeError::AlreadyManaged { pfn: held })
        );
        // Empty ranges are accepted, anywhere.
        assert_eq!(a.add_free_range(Pfn(44), Pfn(44)), Ok(()));
        assert_eq!(a.add_free_range(Pfn(1000), Pfn(1000)), Ok(()));

        assert_eq!(snapshot(&a), before);
        a.check_invariants().unwrap();
    }

    #[test]
    fn alloc_splits_the_smallest_fitting_block_and_keeps_upper_halves() {
        let mut m = meta(16);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(16)).unwrap();
        assert_eq!(a.alloc(0), Ok(Pfn(0)));
        assert_eq!(free_layout(&a), vec![(1, 0), (2, 1), (4, 2), (8, 3)]);
        // An order-1 request now uses the existing order-1 block, not a new split.
        assert_eq!(a.alloc(1), Ok(Pfn(2)));
        assert_eq!(free_layout(&a), vec![(1, 0), (4, 2), (8, 3)]);
        assert_eq!(a.alloc(2), Ok(Pfn(4)));
        assert_eq!(a.alloc(2), Ok(Pfn(8)));
        assert_eq!(free_layout(&a), vec![(1, 0), (12, 2)]);
        a.check_invariants().unwrap();
    }

    #[test]
    fn every_frame_is_handed_out_once_then_out_of_memory_is_counted() {
        let mut m = meta(24);
        let mut a = BuddyAllocator::new(&mut m, Pfn(100)).unwrap();
        a.add_free_range(Pfn(101), Pfn(123)).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        while let Ok(pfn) = a.alloc(0) {
            assert!((101..123).contains(&pfn.0));
            assert!(seen.insert(pfn), "{pfn} handed out twice");
        }
        assert_eq!(seen.len(), 22);
        assert_eq!(a.alloc(0), Err(AllocError::OutOfMemory { order: 0 }));
        assert_eq!(a.alloc(4), Err(AllocError::OutOfMemory { order: 4 }));
        let s = a.stats();
        assert_eq!(s.free_pages, 0);
        assert_eq!(s.largest_free_order, None);
        assert_eq!(s.alloc_count, 22);
        assert_eq!(s.failures_by_order[0], 2);
        assert_eq!(s.failures_by_order[4], 1);
        assert_eq!(s.failures_by_order.iter().sum::<u64>(), 3);
        assert_eq!(s.allocated_pages_by_class, [22, 0, 0]);
        a.check_invariants().unwrap();
    }

    #[test]
    fn invalid_order_is_an_error_and_not_a_failure() {
        let mut m = meta(8);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(8)).unwrap();
        assert_eq!(
            a.alloc(MAX_ORDER + 1),
            Err(AllocError::InvalidOrder { order: 11 })
        );
        assert_eq!(
            a.alloc_typed(usize::MAX, MigrateType::Movable),
            Err(AllocError::InvalidOrder { order: usize::MAX })
        );
        assert_eq!(a.stats().failures_by_order, [0; ORDERS]);
        assert_eq!(a.stats().free_pages, 8);
    }

    #[test]
    fn fragmented_memory_fails_large_orders_but_serves_small_ones() {
        let mut m = meta(16);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(16)).unwrap();
        let frames: Vec<Pfn> = (0..16).map(|_| a.alloc(0).unwrap()).collect();
        for pfn in frames.iter().step_by(2) {
            a.free(*pfn, 0).unwrap();
        }
        let s = a.stats();
        assert_eq!(s.free_pages, 8);
        assert_eq!(s.free_blocks_by_order[0], 8);
        assert_eq!(a.alloc(1), Err(AllocError::OutOfMemory { order: 1 }));
        let idx = s.unusable_free_space_index();
        assert_eq!(idx[0], 0);
        assert_eq!(&idx[1..], &[1000; MAX_ORDER]);
        assert!(a.alloc(0).is_ok());
        a.check_invariants().unwrap();
    }

    #[test]
    fn fragmentation_index_on_a_crafted_layout() {
        // 32 frames; hold frames 0, 5 and 16..24 allocated. Free: 1, 2..4, 4, 6..8, 8..16, 24..32
        // = blocks (1,o0) (2,o1) (4,o0) (6,o1) (8,o3) (24,o3): 1+2+1+2+8+8 = 22 free frames.
        let mut m = meta(32);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(32)).unwrap();
        let all: Vec<Pfn> = (0..32).map(|_| a.alloc(0).unwrap()).collect();
        for pfn in all {
            if !matches!(pfn.0, 0 | 5 | 16..24) {
                a.free(pfn, 0).unwrap();
            }
        }
        assert_eq!(
            free_layout(&a),
            vec![(1, 0), (2, 1), (4, 0), (6, 1), (8, 3), (24, 3)]
        );
        let s = a.stats();
        assert_eq!(s.free_pages, 22);
        assert_eq!(s.largest_free_order, Some(3));
        let idx = s.unusable_free_space_index();
        // j=1: unusable = 2 single frames → 2/22 = 90.9‰; j=2,3: 6/22 = 272.7‰; j≥4: 1000.
        assert_eq!(idx[0], 0);
        assert_eq!(idx[1], 90);
        assert_eq!(idx[2], 272);
        assert_eq!(idx[3], 272);
        assert_eq!(&idx[4..], &[1000; 7]);
        a.check_invariants().unwrap();
    }

    #[test]
    fn freeing_coalesces_in_any_order() {
        let mut m = meta(8);
        let mut a = BuddyAllocator::new(&mut m, Pfn(8)).unwrap();
        a.add_free_range(Pfn(8), Pfn(16)).unwrap();
        let frames: Vec<Pfn> = (0..8).map(|_| a.alloc(0).unwrap()).collect();
        for &i in &[5usize, 0, 3, 6, 1, 7, 2] {
            a.free(frames[i], 0).unwrap();
            a.check_invariants().unwrap();
        }
        // Frame 12 (frames[4]) is still held.
        assert_eq!(frames[4], Pfn(12));
        assert_eq!(free_layout(&a), vec![(8, 2), (13, 0), (14, 1)]);
        a.free(frames[4], 0).unwrap();
        assert_eq!(free_layout(&a), vec![(8, 3)]);
        let s = a.stats();
        assert_eq!((s.alloc_count, s.free_count), (8, 8));
        assert_eq!(s.allocated_pages(), 0);
        a.check_invariants().unwrap();
    }

    #[test]
    fn coalescing_stops_at_reserved_frames_and_the_metadata_edge() {
        // Frames 0..16 covered from base 0; frame 7 reserved, everything else usable.
        let mut m = meta(16);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(7)).unwrap();
        a.add_free_range(Pfn(8), Pfn(16)).unwrap();
        assert_eq!(free_layout(&a), vec![(0, 2), (4, 1), (6, 0), (8, 3)]);
        // Order-3 block at 8 has its buddy at 0 (not whole) and order 4 would leave the metadata.
        let b = a.alloc(3).unwrap();
        a.free(b, 3).unwrap();
        assert_eq!(free_layout(&a), vec![(0, 2), (4, 1), (6, 0), (8, 3)]);
        a.check_invariants().unwrap();
    }

    #[test]
    fn max_order_blocks_never_merge_further() {
        let mut m = meta(2048);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(2048)).unwrap();
        let x = a.alloc(MAX_ORDER).unwrap();
        let y = a.alloc(MAX_ORDER).unwrap();
        assert_eq!(
            a.alloc(MAX_ORDER),
            Err(AllocError::OutOfMemory { order: 10 })
        );
        a.free(x, MAX_ORDER).unwrap();
        a.free(y, MAX_ORDER).unwrap();
        assert_eq!(free_layout(&a), vec![(0, 10), (1024, 10)]);
        a.check_invariants().unwrap();
    }

    #[test]
    fn bad_frees_are_refused_without_changing_anything() {
        let mut m = meta(64);
        let mut a = BuddyAllocator::new(&mut m, Pfn(64)).unwrap();
        a.add_free_range(Pfn(64), Pfn(120)).unwrap();
        // Blocks 64 o5, 96 o4, 112 o3; then hold 112 o3 and 96 o0, and free 98 o1 again.
        let big = a.alloc_typed(3, MigrateType::Movable).unwrap();
        let small = a.alloc(0).unwrap();
        let freed = a.alloc(1).unwrap();
        a.free(freed, 1).unwrap();
        assert_eq!((big, small, freed), (Pfn(112), Pfn(96), Pfn(98)));
        assert_eq!(
            free_layout(&a),
            vec![(64, 5), (97, 0), (98, 1), (100, 2), (104, 3)]
        );
        let before = snapshot(&a);

        let cases = [
            (big, 11, FreeError::InvalidOrder { order: 11 }),
            (Pfn(63), 0, FreeError::NotManaged { pfn: Pfn(63) }),
            (Pfn(128), 0, FreeError::NotManaged { pfn: Pfn(128) }),
            (
                Pfn(u64::MAX),
                0,
                FreeError::NotManaged { pfn: Pfn(u64::MAX) },
            ),
            (Pfn(125), 0, FreeError::Reserved { pfn: Pfn(125) }),
            (
                Pfn(big.0 + 4),
                3,
                FreeError::Misaligned {
                    pfn: Pfn(big.0 + 4),
                    order: 3,
                },
            ),
            (
                big,
                2,
                FreeError::WrongOrder {
                    pfn: big,
                    order: 2,
                    allocated_order: 3,
                },
            ),
            (
                big,
                4,
                FreeError::WrongOrder {
                    pfn: big,
                    order: 4,
                    allocated_order: 3,
                },
            ),
            (
                Pfn(big.0 + 2),
                1,
                FreeError::InsideBlock {
                    pfn: Pfn(big.0 + 2),
                    block: big,
                    block_order: 3,
                },
            ),
            (
                Pfn(big.0 + 7),
                0,
                FreeError::InsideBlock {
                    pfn: Pfn(big.0 + 7),
                    block: big,
                    block_order: 3,
                },
            ),
            // Double free of a block head, and of its second frame.
            (freed, 1, FreeError::AlreadyFree { pfn: freed }),
            (Pfn(99), 0, FreeError::AlreadyFree { pfn: Pfn(99) }),
            // Frames never handed out, at a free head and inside a free block.
            (Pfn(64), 5, FreeError::AlreadyFree { pfn: Pfn(64) }),
            (Pfn(70), 0, FreeError::AlreadyFree { pfn: Pfn(70) }),
        ];
        for (pfn, order, expected) in cases {
            assert_eq!(a.free(pfn, order), Err(expected), "free({pfn}, {order})");
            assert_eq!(snapshot(&a), before, "free({pfn}, {order}) changed state");
        }
        a.check_invariants().unwrap();

        // The genuine frees still work, and a second free of the same block is refused.
        // Freeing 96 merges it up to 96 o4, so 98 is now a tail: still a double free.
        a.free(small, 0).unwrap();
        assert_eq!(free_layout(&a), vec![(64, 5), (96, 4)]);
        assert_eq!(a.free(small, 0), Err(FreeError::AlreadyFree { pfn: small }));
        assert_eq!(a.free(freed, 1), Err(FreeError::AlreadyFree { pfn: freed }));
        a.free(big, 3).unwrap();
        assert_eq!(a.free(big, 3), Err(FreeError::AlreadyFree { pfn: big }));
        assert_eq!(a.stats().free_pages, 56);
        a.check_invariants().unwrap();
    }

    #[test]
    fn classes_are_recorded_counted_and_listed() {
        let mut m = meta(64);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(64)).unwrap();
        let u = a.alloc(2).unwrap();
        let r = a.alloc_typed(0, MigrateType::Reclaimable).unwrap();
        let m1 = a.alloc_typed(3, MigrateType::Movable).unwrap();
        let m2 = a.alloc_typed(1, MigrateType::Movable).unwrap();
        assert_eq!(a.stats().allocated_pages_by_class, [4, 1, 10]);
        let mut listed: Vec<AllocatedBlock> = a.allocated_blocks().collect();
        let mut expected = vec![
            AllocatedBlock {
                pfn: u,
                order: 2,
                class: MigrateType::Unmovable,
            },
            AllocatedBlock {
                pfn: r,
                order: 0,
                class: MigrateType::Reclaimable,
            },
            AllocatedBlock {
                pfn: m1,
                order: 3,
                class: MigrateType::Movable,
            },
            AllocatedBlock {
                pfn: m2,
                order: 1,
                class: MigrateType::Movable,
            },
        ];
        expected.sort_by_key(|b| b.pfn);
        // The iterator yields address order already.
        assert_eq!(listed, expected);
        listed.retain(|b| b.class == MigrateType::Movable);
        assert_eq!(listed.len(), 2);

        a.free(m1, 3).unwrap();
        assert_eq!(a.stats().allocated_pages_by_class, [4, 1, 2]);
        assert_eq!(a.allocated_blocks().count(), 3);
        a.check_invariants().unwrap();
    }

    #[test]
    fn the_most_recently_freed_block_is_reused_first() {
        let mut m = meta(16);
        let mut a = BuddyAllocator::new(&mut m, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(16)).unwrap();
        let frames: Vec<Pfn> = (0..16).map(|_| a.alloc(0).unwrap()).collect();
        a.free(frames[9], 0).unwrap();
        a.free(frames[3], 0).unwrap();
        assert_eq!(a.alloc(0), Ok(frames[3]));
        assert_eq!(a.alloc(0), Ok(frames[9]));
    }

    #[test]
    fn covered_reports_the_metadata_span() {
        let mut m = meta(10);
        let a = BuddyAllocator::new(&mut m, Pfn(7)).unwrap();
        assert_eq!(a.covered(), (Pfn(7), Pfn(17)));
    }
}

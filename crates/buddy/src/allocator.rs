//! The binary buddy allocator proper: [`BuddyAllocator`] and its block iterators.
//!
//! Every covered frame has one `FrameMeta` in the caller's slice. A block of order `k` is
//! 2^k frames starting at a frame number that is a multiple of 2^k; its first frame (the
//! head) records whether it is free or allocated, its order and, when allocated, its
//! `MigrateType`; the other frames are tails. Free heads are threaded into one intrusive
//! doubly-linked list per order (links are frame indices), so a buddy is unlinked in O(1)
//! when coalescing. Statistics (`stats`) are updated on every list change; the consistency
//! check lives in `invariants`, the counters in `stats`.

use crate::error::{AllocError, FreeError, InitError, RangeError};
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
    /// contains a frame that is already free or allocated.
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
    /// its metadata. Takes the most recently freed block of the smallest order that fits
    /// (LIFO, deterministic for a given sequence of calls) and splits it, returning the
    /// upper halves to their free lists. Cost: O(MAX_ORDER).
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
        let idx = self
            .index_of(pfn.0)
            .ok_or(FreeError::NotManaged { pfn })?;
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
    fn containing_block(&self, pfn: u64) -> Option<(u64, FrameState, usize)> {
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

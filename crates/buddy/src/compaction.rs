//! Compaction planning: which movable blocks to migrate where so that free memory forms
//! more blocks of a wanted order.
//!
//! [`plan`] is pure: it reads a [`BuddyAllocator`] and writes [`Move`]s into a buffer the
//! caller owns (the kernel plans under the allocator lock, where it must not touch the heap).
//! It works like Linux's compaction: a *migrate scanner* walks naturally aligned order-N
//! target ranges upwards from the lowest address and takes a range when every allocated block
//! in it is [`Movable`](MigrateType::Movable); a *free scanner* walks downwards from the top
//! and gives each movable block of the range a free destination. Both are monotonic, and a
//! target must end below every destination handed out so far, so no destination ever lies in
//! a target and the scan stops where the scanners meet.
//!
//! Destinations are taken only from free blocks *smaller* than order N: breaking an existing
//! order-≥N block to fill another would move memory without gaining anything. So once every
//! move of a plan has been executed, each target range is entirely free and coalesces into an
//! order-≥N block, no existing order-≥N free block was touched, and
//! [`BuddyStats::free_blocks_at_least`](crate::BuddyStats::free_blocks_at_least)`(N)` rises by
//! exactly [`CompactionPlan::targets`]. A target whose blocks cannot all get a destination is
//! dropped whole, so a plan never leaves a half-evacuated range behind, and the scan goes on
//! with the next target: a low range holding, say, an order-1 block that no hole can take does
//! not stop the compaction of order-0 pages above it.
//!
//! The executor (the kernel's movable pool; the host simulator's handle table) performs each
//! move with [`BuddyAllocator::claim_free_block`] on the destination, copies the contents,
//! repoints its handle and frees the source. The planner never looks at contents or owners.

use crate::allocator::BuddyAllocator;
use crate::frame::{FrameState, MAX_ORDER, MigrateType, Pfn};

/// One migration: the movable block of 2^`order` frames at `from` goes to the free frames at
/// `to` (aligned to `order`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Move {
    pub from: Pfn,
    pub to: Pfn,
    pub order: usize,
}

impl Move {
    /// The initial value of move buffers (`[Move::EMPTY; N]`); never produced by [`plan`].
    pub const EMPTY: Move = Move {
        from: Pfn(0),
        to: Pfn(0),
        order: 0,
    };
}

/// What [`plan`] decided. The moves are the first [`moves`](Self::moves) entries of the
/// caller's buffer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct CompactionPlan {
    /// The order the plan builds blocks of.
    pub order: usize,
    /// Target ranges the moves evacuate completely; each becomes one free order-≥`order` block.
    pub targets: usize,
    /// Moves written to the buffer.
    pub moves: usize,
    /// Frames those moves copy.
    pub pages: u64,
}

/// Why [`plan`] refused its request.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PlanError {
    /// The order is 0 (every free frame is already an order-0 block) or above `MAX_ORDER`.
    InvalidOrder { order: usize },
}

impl core::fmt::Display for PlanError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            PlanError::InvalidOrder { order } => {
                write!(f, "compaction order {order} is not in 1..={MAX_ORDER}")
            }
        }
    }
}

impl core::error::Error for PlanError {}

/// The contents of one candidate target range.
struct Census {
    movable_blocks: usize,
    /// Order of the largest movable block in the range.
    largest_movable_order: usize,
}

/// Plans up to `max_targets` order-`order` blocks' worth of compaction into `moves`, stopping
/// early when the buffer cannot hold the next target's moves or the scanners meet.
/// Cost: O(frames × MAX_ORDER) at worst; no allocation.
pub fn plan(
    alloc: &BuddyAllocator<'_>,
    order: usize,
    max_targets: usize,
    moves: &mut [Move],
) -> Result<CompactionPlan, PlanError> {
    if order == 0 || order > MAX_ORDER {
        return Err(PlanError::InvalidOrder { order });
    }
    let size = 1u64 << order;
    let (start, end) = alloc.covered();
    let mut result = CompactionPlan {
        order,
        ..CompactionPlan::default()
    };
    // Next candidate range of the migrate scanner, and the free scanner's position: every
    // frame at or above `free_cursor` is either handed out as a destination or skipped.
    let mut next_target = start.0.next_multiple_of(size);
    let mut free_cursor = end.0;
    // Smallest block order for which the free scanner found no destination left (`order`:
    // none yet). A free block of order j contains an aligned run of every order k ≤ j, so
    // "nothing for k" also means "nothing for any order above k"; and since targets only rise
    // and the cursor only falls, it stays true for every later target. Targets holding a
    // movable block of such an order are skipped without searching again, which bounds the
    // failed searches to `order` over the whole plan.
    let mut exhausted_from = order;
    while result.targets < max_targets
        && exhausted_from > 0
        && next_target
            .checked_add(size)
            .is_some_and(|e| e <= free_cursor)
    {
        let target = next_target;
        next_target += size;
        let Some(census) = census(alloc, target, order) else {
            continue;
        };
        if census.largest_movable_order >= exhausted_from {
            continue;
        }
        if census.movable_blocks > moves.len() - result.moves {
            break;
        }
        let (saved_moves, saved_pages, saved_cursor) = (result.moves, result.pages, free_cursor);
        let mut complete = true;
        let mut at = target;
        while at < target + size {
            let Some((state, block_order)) = head(alloc, at) else {
                complete = false;
                break;
            };
            if state == FrameState::Allocated(MigrateType::Movable) {
                match find_destination(alloc, &mut free_cursor, block_order, target + size, order) {
                    Some(to) => {
                        moves[result.moves] = Move {
                            from: Pfn(at),
                            to: Pfn(to),
                            order: block_order,
                        };
                        result.moves += 1;
                        result.pages += 1 << block_order;
                    }
                    None => {
                        exhausted_from = exhausted_from.min(block_order);
                        complete = false;
                        break;
                    }
                }
            }
            at += 1 << block_order;
        }
        if !complete {
            // This target cannot be evacuated whole: give back its destinations and go on
            // with the next one (it may hold only blocks that still have destinations).
            result.moves = saved_moves;
            result.pages = saved_pages;
            free_cursor = saved_cursor;
            continue;
        }
        result.targets += 1;
    }
    Ok(result)
}

/// State and order of the block whose head is frame `pfn`, if `pfn` is a head.
fn head(alloc: &BuddyAllocator<'_>, pfn: u64) -> Option<(FrameState, usize)> {
    let meta = alloc.meta.get(alloc.index_of(pfn)?)?;
    match meta.state {
        FrameState::Free | FrameState::Allocated(_) => Some((meta.state, usize::from(meta.order))),
        FrameState::Reserved | FrameState::Tail => None,
    }
}

/// Whether the aligned range of 2^`order` frames at `target` can be evacuated: it must not
/// be inside a single block already (a free one already serves the order; an allocated one
/// is not split up), every frame must be managed, and every allocated block Movable.
fn census(alloc: &BuddyAllocator<'_>, target: u64, order: usize) -> Option<Census> {
    let (_, _, first_order) = alloc.containing_block(target)?;
    if first_order >= order {
        return None;
    }
    let mut census = Census {
        movable_blocks: 0,
        largest_movable_order: 0,
    };
    let mut at = target;
    while at < target + (1 << order) {
        let (state, block_order) = head(alloc, at)?;
        match state {
            FrameState::Allocated(MigrateType::Movable) => {
                census.movable_blocks += 1;
                census.largest_movable_order = census.largest_movable_order.max(block_order);
            }
            FrameState::Free => {}
            _ => return None,
        }
        at += 1 << block_order;
    }
    (census.movable_blocks > 0).then_some(census)
}

/// Moves the free scanner down to the next free, aligned run of 2^`order` frames at or above
/// `floor` that lies in a free block smaller than `target_order`, and returns its first frame.
fn find_destination(
    alloc: &BuddyAllocator<'_>,
    cursor: &mut u64,
    order: usize,
    floor: u64,
    target_order: usize,
) -> Option<u64> {
    let step = 1u64 << order;
    loop {
        let candidate = cursor.checked_sub(step)? & !(step - 1);
        if candidate < floor {
            return None;
        }
        match alloc.containing_block(candidate) {
            Some((_, FrameState::Free, block_order))
                if block_order >= order && block_order < target_order =>
            {
                *cursor = candidate;
                return Some(candidate);
            }
            // Allocated blocks and large free blocks are skipped whole.
            Some((block, state, block_order))
                if state != FrameState::Free || block_order >= target_order =>
            {
                *cursor = block.min(candidate);
            }
            // A free block too small for this order, or a reserved frame.
            _ => *cursor = candidate,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::FrameMeta;

    fn execute(a: &mut BuddyAllocator<'_>, moves: &[Move]) {
        for m in moves {
            a.claim_free_block(m.to, m.order, MigrateType::Movable)
                .unwrap();
            a.free(m.from, m.order).unwrap();
            a.check_invariants().unwrap();
        }
    }

    /// 256 frames of movable order-0 pages with every other one freed: nothing above order 0
    /// is free, yet half the memory is.
    fn checkerboard(meta: &mut [FrameMeta]) -> BuddyAllocator<'_> {
        let mut a = BuddyAllocator::new(meta, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(256)).unwrap();
        let pages: Vec<Pfn> = (0..256)
            .map(|_| a.alloc_typed(0, MigrateType::Movable).unwrap())
            .collect();
        for p in pages.iter().filter(|p| p.0 % 2 == 1) {
            a.free(*p, 0).unwrap();
        }
        a
    }

    #[test]
    fn a_checkerboard_compacts_into_order_3_blocks() {
        let mut meta = vec![FrameMeta::EMPTY; 256];
        let mut a = checkerboard(&mut meta);
        assert_eq!(a.stats().free_blocks_at_least(3), 0);
        let mut moves = [Move::EMPTY; 256];
        let p = plan(&a, 3, usize::MAX, &mut moves).unwrap();
        // Each target range has 4 pages to move and takes the 4 holes of a range at the top:
        // the scanners meet in the middle.
        assert_eq!(p.targets, 16);
        assert_eq!(p.moves, 64);
        assert_eq!(p.pages, 64);
        assert_eq!(
            moves[0],
            Move {
                from: Pfn(0),
                to: Pfn(255),
                order: 0
            }
        );
        execute(&mut a, &moves[..p.moves]);
        assert_eq!(a.stats().free_blocks_at_least(3), 16);
        // The low half is now one free order-7 block.
        assert!(a.free_blocks().any(|b| b
            == crate::FreeBlock {
                pfn: Pfn(0),
                order: 7
            }));
    }

    #[test]
    fn target_and_move_limits_are_respected() {
        let mut meta = vec![FrameMeta::EMPTY; 256];
        let a = checkerboard(&mut meta);
        let mut moves = [Move::EMPTY; 256];
        let p = plan(&a, 3, 2, &mut moves).unwrap();
        assert_eq!((p.targets, p.moves), (2, 8));
        // A buffer of 6 holds one target's 4 moves but not the second's.
        let p = plan(&a, 3, usize::MAX, &mut moves[..6]).unwrap();
        assert_eq!((p.targets, p.moves), (1, 4));
        let p = plan(&a, 3, usize::MAX, &mut []).unwrap();
        assert_eq!((p.targets, p.moves), (0, 0));
    }

    #[test]
    fn unmovable_and_reclaimable_blocks_pin_their_range() {
        let mut meta = vec![FrameMeta::EMPTY; 16];
        let mut a = BuddyAllocator::new(&mut meta, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(16)).unwrap();
        // Range 0..8: an unmovable page and a hole; 8..16: a reclaimable page and holes.
        let pages: Vec<Pfn> = (0..16)
            .map(|i| {
                let class = match i {
                    0 => MigrateType::Unmovable,
                    8 => MigrateType::Reclaimable,
                    _ => MigrateType::Movable,
                };
                a.alloc_typed(0, class).unwrap()
            })
            .collect();
        a.free(pages[1], 0).unwrap();
        a.free(pages[9], 0).unwrap();
        let mut moves = [Move::EMPTY; 16];
        assert_eq!(plan(&a, 3, usize::MAX, &mut moves).unwrap().targets, 0);
        // Order 1: the movable pair 2..4 needs two destinations, but the only hole above it
        // is frame 9, so the target is dropped whole.
        let p = plan(&a, 1, usize::MAX, &mut moves).unwrap();
        assert_eq!(
            p.targets,
            0,
            "every hole sits in a pinned pair: {:?}",
            &moves[..p.moves]
        );
    }

    #[test]
    fn mixed_orders_get_aligned_destinations() {
        let mut meta = vec![FrameMeta::EMPTY; 64];
        let mut a = BuddyAllocator::new(&mut meta, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(64)).unwrap();
        // Fill with order-1 movable pairs, free the pairs at 2 mod 4 in the high half and an
        // order-1 pair in the low range.
        let pairs: Vec<Pfn> = (0..32)
            .map(|_| a.alloc_typed(1, MigrateType::Movable).unwrap())
            .collect();
        for p in &pairs {
            if (p.0 >= 32 && p.0 % 4 == 2) || p.0 == 4 {
                a.free(*p, 1).unwrap();
            }
        }
        let before = a.stats().free_blocks_at_least(3);
        let mut moves = [Move::EMPTY; 64];
        let p = plan(&a, 3, usize::MAX, &mut moves).unwrap();
        assert!(p.targets > 0);
        for m in &moves[..p.moves] {
            assert_eq!(m.order, 1);
            assert_eq!(m.to.0 % 2, 0);
        }
        execute(&mut a, &moves[..p.moves]);
        assert_eq!(a.stats().free_blocks_at_least(3), before + p.targets as u64);
    }

    #[test]
    fn a_target_without_destinations_is_skipped_not_the_end() {
        // 0..8: an order-1 movable pair at 0 plus order-0 pages; 8..64: a checkerboard of
        // movable order-0 pages. The only holes are order-0, so the pair can never move, but
        // the ranges above it can still be evacuated into holes near the top.
        let mut meta = vec![FrameMeta::EMPTY; 64];
        let mut a = BuddyAllocator::new(&mut meta, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(64)).unwrap();
        assert_eq!(a.alloc_typed(1, MigrateType::Movable).unwrap(), Pfn(0));
        let pages: Vec<Pfn> = (2..64)
            .map(|_| a.alloc_typed(0, MigrateType::Movable).unwrap())
            .collect();
        for p in pages.iter().filter(|p| p.0 >= 8 && p.0 % 2 == 1) {
            a.free(*p, 0).unwrap();
        }
        let mut moves = [Move::EMPTY; 64];
        let p = plan(&a, 3, usize::MAX, &mut moves).unwrap();
        assert!(
            p.targets >= 2,
            "planner stopped at the pinned first range: {p:?}"
        );
        assert!(
            moves[..p.moves]
                .iter()
                .all(|m| m.from.0 >= 8 && m.order == 0)
        );
        let before = a.stats().free_blocks_at_least(3);
        execute(&mut a, &moves[..p.moves]);
        assert_eq!(a.stats().free_blocks_at_least(3), before + p.targets as u64);
    }

    #[test]
    fn invalid_orders_are_refused() {
        let mut meta = vec![FrameMeta::EMPTY; 16];
        let a = BuddyAllocator::new(&mut meta, Pfn(0)).unwrap();
        let mut moves = [Move::EMPTY; 4];
        assert_eq!(
            plan(&a, 0, 1, &mut moves),
            Err(PlanError::InvalidOrder { order: 0 })
        );
        assert_eq!(
            plan(&a, 11, 1, &mut moves),
            Err(PlanError::InvalidOrder { order: 11 })
        );
        assert_eq!(plan(&a, 3, 1, &mut moves).unwrap().targets, 0);
    }
}

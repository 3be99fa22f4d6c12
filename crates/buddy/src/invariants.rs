//! `BuddyAllocator::check_invariants`: an independent audit of the metadata, the free lists
//! and the counters.
//!
//! It recomputes everything from the per-frame records (in `allocator`) instead of
//! trusting the counters (in `stats`), so tests and a debug shell command can catch a
//! corrupted allocator. Cost: O(frames + free blocks); not for hot paths.

use crate::allocator::BuddyAllocator;
use crate::error::InvariantError;
use crate::frame::{FrameState, MAX_ORDER, MigrateType, NIL, ORDERS, Pfn};

/// Totals recomputed from the metadata walk.
struct Census {
    free_blocks: [u64; ORDERS],
    free_pages: u64,
    allocated_by_class: [u64; MigrateType::COUNT],
}

impl BuddyAllocator<'_> {
    /// Checks that:
    /// 1. every block head has a valid order, is aligned to it, lies inside the metadata,
    ///    and every other frame of the block is a tail of it (so blocks never overlap);
    /// 2. every tail belongs to some block;
    /// 3. each free list links only free heads of its order, with consistent back links,
    ///    and holds exactly as many blocks as the metadata has (no free block missing from
    ///    its list, no cycle);
    /// 4. no free block has a free buddy of the same order (everything is coalesced);
    /// 5. the counters behind `stats` match the metadata.
    pub fn check_invariants(&self) -> Result<(), InvariantError> {
        let census = self.check_blocks()?;
        self.check_lists(&census)?;
        self.check_coalesced()?;
        self.check_counters(&census)
    }

    fn check_blocks(&self) -> Result<Census, InvariantError> {
        let mut census = Census {
            free_blocks: [0; ORDERS],
            free_pages: 0,
            allocated_by_class: [0; MigrateType::COUNT],
        };
        let mut idx = 0;
        while let Some(meta) = self.meta.get(idx) {
            let pfn = self.pfn_of(idx);
            match meta.state {
                FrameState::Reserved => {
                    idx += 1;
                    continue;
                }
                FrameState::Tail => return Err(InvariantError::OrphanTail { pfn }),
                FrameState::Free | FrameState::Allocated(_) => {}
            }
            let order = usize::from(meta.order);
            if order > MAX_ORDER {
                return Err(InvariantError::BadOrder { pfn, order });
            }
            let frames = 1usize << order;
            if !pfn.0.is_multiple_of(frames as u64) {
                return Err(InvariantError::Misaligned { pfn, order });
            }
            let Some(tails) = self.meta.get(idx + 1..idx + frames) else {
                return Err(InvariantError::BlockPastEnd { pfn, order });
            };
            if let Some(pos) = tails.iter().position(|t| t.state != FrameState::Tail) {
                return Err(InvariantError::Overlap {
                    block: pfn,
                    pfn: Pfn(pfn.0 + 1 + pos as u64),
                });
            }
            match meta.state {
                FrameState::Free => {
                    census.free_blocks[order] += 1;
                    census.free_pages += frames as u64;
                }
                FrameState::Allocated(class) => {
                    census.allocated_by_class[class.index()] += frames as u64;
                }
                FrameState::Reserved | FrameState::Tail => {}
            }
            idx += frames;
        }
        Ok(census)
    }

    fn check_lists(&self, census: &Census) -> Result<(), InvariantError> {
        for (order, (&first, &in_metadata)) in
            self.free_heads.iter().zip(&census.free_blocks).enumerate()
        {
            let mut listed: u64 = 0;
            let mut prev = NIL;
            let mut cursor = first;
            while cursor != NIL {
                // A list longer than the metadata count has a cycle or a stray entry;
                // stopping here also bounds the walk.
                if listed == in_metadata {
                    return Err(InvariantError::ListLength {
                        order,
                        listed: listed + 1,
                        in_metadata,
                    });
                }
                let idx = cursor as usize;
                let Some(meta) = self.meta.get(idx) else {
                    return Err(InvariantError::LinkOutOfRange { order });
                };
                let pfn = self.pfn_of(idx);
                if meta.state != FrameState::Free || usize::from(meta.order) != order {
                    return Err(InvariantError::ListEntryNotFree { order, pfn });
                }
                if meta.prev != prev {
                    return Err(InvariantError::BrokenBackLink { order, pfn });
                }
                listed += 1;
                prev = cursor;
                cursor = meta.next;
            }
            if listed != in_metadata {
                return Err(InvariantError::ListLength {
                    order,
                    listed,
                    in_metadata,
                });
            }
        }
        Ok(())
    }

    fn check_coalesced(&self) -> Result<(), InvariantError> {
        for block in self.free_blocks() {
            if block.order == MAX_ORDER {
                continue;
            }
            let buddy = block.pfn.0 ^ (1 << block.order);
            let Some(buddy_meta) = self.index_of(buddy).and_then(|i| self.meta.get(i)) else {
                continue;
            };
            if buddy_meta.state == FrameState::Free && usize::from(buddy_meta.order) == block.order
            {
                return Err(InvariantError::Uncoalesced {
                    pfn: block.pfn,
                    buddy: Pfn(buddy),
                    order: block.order,
                });
            }
        }
        Ok(())
    }

    fn check_counters(&self, census: &Census) -> Result<(), InvariantError> {
        let c = &self.counters;
        let compare = |counter: &'static str, recorded: u64, actual: u64| {
            if recorded == actual {
                Ok(())
            } else {
                Err(InvariantError::StatsMismatch {
                    counter,
                    recorded,
                    actual,
                })
            }
        };
        compare("free_pages", c.free_pages, census.free_pages)?;
        for order in 0..ORDERS {
            compare(
                "free_blocks_by_order",
                c.free_blocks_by_order[order],
                census.free_blocks[order],
            )?;
        }
        for class in MigrateType::ALL {
            compare(
                "allocated_pages_by_class",
                c.allocated_pages_by_class[class.index()],
                census.allocated_by_class[class.index()],
            )?;
        }
        let allocated: u64 = census.allocated_by_class.iter().sum();
        compare("total_pages", c.total_pages, census.free_pages + allocated)
    }
}

#[cfg(test)]
mod tests {
    //! Each test corrupts one aspect of a healthy allocator through its private fields and
    //! expects `check_invariants` to name the damage.

    use super::*;
    use crate::frame::FrameMeta;

    /// Frames 0..62, usable 0..60: blocks 0 o5, 32 o4, 48 o3, 56 o2; then an order-0 and an
    /// order-1 allocation split the order-2 block: 56 held o0, 57 free o0, 58 held o1.
    fn with_allocator(corrupt: impl FnOnce(&mut BuddyAllocator<'_>)) -> Result<(), InvariantError> {
        let mut meta = vec![FrameMeta::EMPTY; 62];
        let mut a = BuddyAllocator::new(&mut meta, Pfn(0)).unwrap();
        a.add_free_range(Pfn(0), Pfn(60)).unwrap();
        assert_eq!(a.alloc(0), Ok(Pfn(56)));
        assert_eq!(a.alloc_typed(1, MigrateType::Movable), Ok(Pfn(58)));
        a.check_invariants().unwrap();
        corrupt(&mut a);
        a.check_invariants()
    }

    #[test]
    fn healthy_allocator_passes() {
        assert_eq!(with_allocator(|_| {}), Ok(()));
    }

    #[test]
    fn detects_a_tail_outside_any_block() {
        assert_eq!(
            with_allocator(|a| a.meta[61] = FrameMeta::TAIL),
            Err(InvariantError::OrphanTail { pfn: Pfn(61) })
        );
    }

    #[test]
    fn detects_overlapping_blocks() {
        // A second free head inside the order-4 block at 32.
        assert_eq!(
            with_allocator(|a| {
                a.meta[40].state = FrameState::Allocated(MigrateType::Unmovable);
            }),
            Err(InvariantError::Overlap {
                block: Pfn(32),
                pfn: Pfn(40)
            })
        );
    }

    #[test]
    fn detects_bad_orders_misalignment_and_blocks_past_the_end() {
        assert_eq!(
            with_allocator(|a| a.meta[0].order = 11),
            Err(InvariantError::BadOrder {
                pfn: Pfn(0),
                order: 11
            })
        );
        assert_eq!(
            with_allocator(|a| a.meta[57].order = 1),
            Err(InvariantError::Misaligned {
                pfn: Pfn(57),
                order: 1
            })
        );
        assert_eq!(
            with_allocator(|a| {
                a.meta[60] = FrameMeta {
                    state: FrameState::Allocated(MigrateType::Unmovable),
                    order: 2,
                    ..FrameMeta::TAIL
                };
            }),
            Err(InvariantError::BlockPastEnd {
                pfn: Pfn(60),
                order: 2
            })
        );
    }

    #[test]
    fn detects_a_free_block_missing_from_its_list() {
        assert_eq!(
            with_allocator(|a| a.free_heads[5] = NIL),
            Err(InvariantError::ListLength {
                order: 5,
                listed: 0,
                in_metadata: 1
            })
        );
    }

    #[test]
    fn detects_a_list_cycle() {
        assert_eq!(
            with_allocator(|a| a.meta[32].next = 32),
            Err(InvariantError::ListLength {
                order: 4,
                listed: 2,
                in_metadata: 1
            })
        );
    }

    #[test]
    fn detects_wrong_list_entries_and_links() {
        // The order-0 list points at the allocated frame 56.
        assert_eq!(
            with_allocator(|a| a.free_heads[0] = 56),
            Err(InvariantError::ListEntryNotFree {
                order: 0,
                pfn: Pfn(56)
            })
        );
        assert_eq!(
            with_allocator(|a| a.free_heads[0] = 1000),
            Err(InvariantError::LinkOutOfRange { order: 0 })
        );
        assert_eq!(
            with_allocator(|a| a.meta[57].prev = 3),
            Err(InvariantError::BrokenBackLink {
                order: 0,
                pfn: Pfn(57)
            })
        );
    }

    #[test]
    fn detects_uncoalesced_buddies() {
        // Split the free order-5 block at 0 into two order-4 blocks behind the allocator's back.
        assert_eq!(
            with_allocator(|a| {
                let order4 = a.free_heads[4];
                a.free_heads[5] = NIL;
                a.meta[0] = FrameMeta {
                    state: FrameState::Free,
                    order: 4,
                    next: 16,
                    ..FrameMeta::TAIL
                };
                a.meta[16] = FrameMeta {
                    state: FrameState::Free,
                    order: 4,
                    prev: 0,
                    next: order4,
                };
                a.meta[order4 as usize].prev = 16;
                a.free_heads[4] = 0;
                a.counters.free_blocks_by_order[5] -= 1;
                a.counters.free_blocks_by_order[4] += 2;
            }),
            Err(InvariantError::Uncoalesced {
                pfn: Pfn(0),
                buddy: Pfn(16),
                order: 4
            })
        );
    }

    #[test]
    fn detects_counters_that_disagree_with_the_metadata() {
        assert_eq!(
            with_allocator(|a| a.counters.free_pages += 1),
            Err(InvariantError::StatsMismatch {
                counter: "free_pages",
                recorded: 58,
                actual: 57
            })
        );
        assert_eq!(
            with_allocator(|a| a.counters.allocated_pages_by_class[2] = 0),
            Err(InvariantError::StatsMismatch {
                counter: "allocated_pages_by_class",
                recorded: 0,
                actual: 2
            })
        );
        assert_eq!(
            with_allocator(|a| a.counters.total_pages = 64),
            Err(InvariantError::StatsMismatch {
                counter: "total_pages",
                recorded: 64,
                actual: 60
            })
        );
    }
}

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

//! The movable pool: workload memory held through relocatable handles, so compaction can move
//! it (the kernel's counterpart of Linux's MIGRATE_MOVABLE pages reached through page tables).
//!
//! [`MovablePool`] is one fixed-size table of entries, each an [`OwnedFrame`] plus the owner
//! it belongs to and the seed of the pattern written into it. Every owner's entries form a
//! doubly-linked list in allocation order, so a script can free its oldest, newest or every
//! other block — exactly the blocks, and in the order, that `oom::FreePattern::positions`
//! names (the rule the simulator follows too). A reverse map from frame number to entry lets
//! the compaction executor find the handle of a block the planner chose. Every block is filled
//! with a pattern derived from its seed when allocated and checked when it is freed: a block
//! that migration (or anything else) corrupted is counted in [`PoolStats::corrupted_blocks`],
//! the proof that moves keep contents.
//!
//! Rules of the contract: a workload allocation that would leave fewer than
//! `oom::watermark::min_free_pages` free is refused, and one the buddy allocator cannot serve
//! fails; both are OOMs for the caller ([`PoolError::is_oom`]). The table is sized once, at
//! start, for every frame of the machine, so the pool never grows the heap while memory is
//! short. Locking: the pool's `IrqMutex` is taken before the allocator's (never the other way
//! round); patterns are written and checked outside it, one block per critical section.
//! Neighbours: `compact` (the executor), `workload` (the scripts), `reclaim` (the cache
//! shrinker); requests and refusals are reported down to `state` (atomics only).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use buddy::{MigrateType, Pfn};
use hal::mem::frames::{self, OwnedFrame};
use hal::sync::IrqMutex;
use oom::FreePattern;

use super::state;

/// Owners (workload threads) the pool tracks at once: a run's actors (at most
/// `workload::MAX_ACTORS` = 14) and `memctl` tests.
pub const MAX_OWNERS: usize = 16;

/// End of a list / no entry.
const NIL: u32 = u32::MAX;

/// Why a pool operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolError {
    /// The request would leave fewer free pages than the watermark allows (an OOM).
    Watermark { order: usize },
    /// The buddy allocator has no free block of this order (an OOM).
    NoBlock { order: usize },
    /// The owner is not registered or was killed.
    NoOwner,
    /// Every owner slot is taken.
    NoOwnerSlot,
    /// The pool was not started or its table is full.
    Unavailable,
}

impl PoolError {
    /// Whether the failure is an OOM in the sense of the contract.
    pub fn is_oom(self) -> bool {
        matches!(
            self,
            PoolError::Watermark { .. } | PoolError::NoBlock { .. }
        )
    }
}

impl core::fmt::Display for PoolError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PoolError::Watermark { order } => {
                write!(f, "order-{order} request refused by the watermark")
            }
            PoolError::NoBlock { order } => write!(f, "no free order-{order} block"),
            PoolError::NoOwner => write!(f, "owner is not alive"),
            PoolError::NoOwnerSlot => write!(f, "all {MAX_OWNERS} owner slots are in use"),
            PoolError::Unavailable => write!(f, "the movable pool is not available"),
        }
    }
}

/// Cumulative pool counters.
#[derive(Clone, Copy, Debug, Default)]
pub struct PoolStats {
    /// Pages currently held, all owners.
    pub held_pages: u64,
    /// Pages currently held, by class (`MigrateType::index`).
    pub held_by_class: [u64; MigrateType::COUNT],
    /// Blocks whose pattern was checked when freed.
    pub verified_blocks: u64,
    /// Blocks whose pattern did not match when freed (must stay 0).
    pub corrupted_blocks: u64,
    /// Pages moved by compaction.
    pub migrated_pages: u64,
    /// Table entries (the most blocks the pool can hold).
    pub capacity: usize,
}

struct Entry {
    frame: Option<OwnedFrame>,
    seed: u32,
    owner: u8,
    prev: u32,
    next: u32,
}

/// Life of an owner slot: taken by `register_owner`, dead after `release` (no more blocks
/// accepted), free again after `retire` (when the owner's thread is gone, so a stale handle
/// can never add to a new owner's list).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    Alive,
    Dead,
}

#[derive(Clone, Copy)]
struct OwnerList {
    slot: Slot,
    head: u32,
    tail: u32,
    pages: u64,
    blocks: u64,
}

const NO_OWNER: OwnerList = OwnerList {
    slot: Slot::Free,
    head: NIL,
    tail: NIL,
    pages: 0,
    blocks: 0,
};

/// The handle table; see the module documentation.
pub struct MovablePool {
    entries: Vec<Entry>,
    free_entry: u32,
    owners: [OwnerList; MAX_OWNERS],
    /// Frame number → entry index of the block starting there, or `NIL`.
    by_pfn: Vec<u32>,
    stats: PoolStats,
}

static POOL: IrqMutex<Option<MovablePool>> = IrqMutex::new(None);
static NEXT_SEED: AtomicU64 = AtomicU64::new(1);
/// Workload allocations refused or failed (OOMs), cumulative, for the sampler.
static FAILED_ALLOCS: AtomicU64 = AtomicU64::new(0);

/// An owner's handle in the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner(pub u8);

/// Sizes the table for every frame of the machine. Called once from `oom::start`; a second
/// call keeps the existing pool.
pub fn init() -> Result<(), PoolError> {
    if POOL.lock().is_some() {
        return Ok(());
    }
    let total = frames::stats().total_pages as usize;
    let covered = frames::with_allocator(|a| a.covered().1.0).ok_or(PoolError::Unavailable)?;
    let covered = usize::try_from(covered).map_err(|_| PoolError::Unavailable)?;
    let mut entries = Vec::new();
    let mut by_pfn = Vec::new();
    entries
        .try_reserve_exact(total)
        .map_err(|_| PoolError::Unavailable)?;
    by_pfn
        .try_reserve_exact(covered)
        .map_err(|_| PoolError::Unavailable)?;
    for i in 0..total {
        entries.push(Entry {
            frame: None,
            seed: 0,
            owner: 0,
            prev: NIL,
            next: if i + 1 < total { (i + 1) as u32 } else { NIL },
        });
    }
    by_pfn.resize(covered, NIL);
    let pool = MovablePool {
        entries,
        free_entry: if total > 0 { 0 } else { NIL },
        owners: [NO_OWNER; MAX_OWNERS],
        by_pfn,
        stats: PoolStats {
            capacity: total,
            ..PoolStats::default()
        },
    };
    let mut guard = POOL.lock();
    if guard.is_none() {
        *guard = Some(pool);
    }
    Ok(())
}

fn with_pool<R>(f: impl FnOnce(&mut MovablePool) -> R) -> Result<R, PoolError> {
    POOL.lock().as_mut().map(f).ok_or(PoolError::Unavailable)
}

/// The pattern word `i` of a block with `seed`: the project's SplitMix64 as a hash (cheap, and
/// every word differs).
fn pattern_word(seed: u32, i: usize) -> u64 {
    rng::mix(u64::from(seed) << 32 | i as u64)
}

fn fill(frame: &mut OwnedFrame, seed: u32) {
    for (i, chunk) in frame.bytes_mut().chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&pattern_word(seed, i).to_le_bytes());
    }
}

fn intact(frame: &OwnedFrame, seed: u32) -> bool {
    frame
        .bytes()
        .chunks_exact(8)
        .enumerate()
        .all(|(i, chunk)| chunk == pattern_word(seed, i).to_le_bytes())
}

/// Checks a block leaving the pool and gives it back to the allocator (by dropping it).
fn check_and_free(frame: OwnedFrame, seed: u32) {
    let ok = intact(&frame, seed);
    let _ = with_pool(|p| {
        p.stats.verified_blocks += 1;
        if !ok {
            p.stats.corrupted_blocks += 1;
        }
    });
    drop(frame);
}

/// Takes a free owner slot.
pub fn register_owner() -> Result<Owner, PoolError> {
    with_pool(|p| {
        let slot = p.owners.iter().position(|o| o.slot == Slot::Free)?;
        p.owners[slot] = OwnerList {
            slot: Slot::Alive,
            ..NO_OWNER
        };
        Some(Owner(slot as u8))
    })?
    .ok_or(PoolError::NoOwnerSlot)
}

/// Allocates one block of 2^`order` frames for `owner`, fills its pattern and records it.
/// `class` is `Movable` for workload memory and `Reclaimable` for the cache actor.
pub fn alloc(owner: Owner, order: usize, class: MigrateType) -> Result<(), PoolError> {
    state::note_request(order);
    let s = frames::stats();
    if oom::watermark::refuses(s.total_pages, s.free_pages, 1 << order) {
        FAILED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        state::note_refusal(order);
        return Err(PoolError::Watermark { order });
    }
    let mut frame = OwnedFrame::new(order, class).map_err(|_| {
        FAILED_ALLOCS.fetch_add(1, Ordering::Relaxed);
        PoolError::NoBlock { order }
    })?;
    let seed = NEXT_SEED.fetch_add(1, Ordering::Relaxed) as u32;
    fill(&mut frame, seed);
    let refused = with_pool(|p| p.insert(owner, frame, seed))?;
    if let Some((frame, error)) = refused {
        check_and_free(frame, seed);
        return Err(error);
    }
    Ok(())
}

/// Frees the blocks of `owner` that `Free { count, pattern }` names
/// (`oom::FreePattern::positions` over its blocks, oldest first), in that order; returns
/// the pages freed. One block per critical section: its pattern is checked outside the lock.
pub fn free(owner: Owner, count: u64, pattern: FreePattern) -> u64 {
    let Ok(Some(len)) = with_pool(|p| p.owners.get(usize::from(owner.0)).map(|o| o.blocks)) else {
        return 0;
    };
    let len = usize::try_from(len).unwrap_or(usize::MAX);
    let count = usize::try_from(count).unwrap_or(usize::MAX);
    let mut freed = 0;
    let mut cursor = None;
    for position in pattern.positions(len, count) {
        let taken = with_pool(|p| p.take_at(owner, position, len, &mut cursor))
            .ok()
            .flatten();
        let Some((frame, seed)) = taken else {
            // The owner was killed meanwhile: its blocks are gone already.
            break;
        };
        freed += 1u64 << frame.order();
        check_and_free(frame, seed);
    }
    freed
}

/// Frees up to `pages` pages of `owner`'s blocks of `class`, oldest first (the cache
/// shrinker); returns the pages freed.
pub fn shrink(owner: Owner, pages: u64, class: MigrateType) -> u64 {
    let mut freed = 0;
    while freed < pages {
        let taken = with_pool(|p| p.take_class(owner, class)).ok().flatten();
        let Some((frame, seed)) = taken else {
            break;
        };
        freed += 1u64 << frame.order();
        check_and_free(frame, seed);
    }
    freed
}

/// Marks `owner` dead (further allocations are refused), frees all its blocks and releases
/// the slot; returns the pages freed. Used for OOM kills, ladder kills and normal exits.
pub fn release(owner: Owner) -> u64 {
    let _ = with_pool(|p| {
        if let Some(o) = p.owners.get_mut(usize::from(owner.0))
            && o.slot == Slot::Alive
        {
            o.slot = Slot::Dead;
        }
    });
    let mut freed = 0;
    loop {
        let taken = with_pool(|p| p.take_any(owner)).ok().flatten();
        let Some((frame, seed)) = taken else {
            break;
        };
        freed += 1u64 << frame.order();
        check_and_free(frame, seed);
    }
    freed
}

/// Frees whatever `owner` still holds and makes its slot available again. Only the owner's
/// own thread calls this, as it exits.
pub fn retire(owner: Owner) {
    release(owner);
    let _ = with_pool(|p| {
        if let Some(o) = p.owners.get_mut(usize::from(owner.0))
            && o.head == NIL
        {
            o.slot = Slot::Free;
        }
    });
}

/// Pages `owner` holds now.
pub fn held_pages(owner: Owner) -> u64 {
    with_pool(|p| p.owners.get(usize::from(owner.0)).map_or(0, |o| o.pages)).unwrap_or(0)
}

/// The pattern seeds of `owner`'s blocks, oldest first: which blocks it still holds (for
/// the in-kernel test of the free-order rule).
#[cfg(feature = "ktest")]
pub fn block_seeds(owner: Owner) -> Vec<u32> {
    with_pool(|p| {
        let mut seeds = Vec::new();
        let mut at = p.owners.get(usize::from(owner.0)).map_or(NIL, |o| o.head);
        while at != NIL {
            seeds.push(p.entries[at as usize].seed);
            at = p.entries[at as usize].next;
        }
        seeds
    })
    .unwrap_or_default()
}

/// Pages held by every owner's blocks of `class` (the sampler's reclaimable count uses
/// `Reclaimable`).
pub fn pages_of_class(class: MigrateType) -> u64 {
    with_pool(|p| p.stats.held_by_class[class.index()]).unwrap_or(0)
}

/// A snapshot of the counters.
pub fn stats() -> PoolStats {
    with_pool(|p| p.stats).unwrap_or_default()
}

/// Workload allocations that were refused or failed since boot.
pub fn failed_allocations() -> u64 {
    FAILED_ALLOCS.load(Ordering::Relaxed)
}

/// Outcome of one [`migrate`] call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Migration {
    /// Copied to the destination; the source was freed.
    Moved,
    /// The source is no longer a pool block of that order (freed since planning).
    SourceGone,
    /// The destination is no longer free.
    DestinationTaken,
}

/// Moves the pool block at `from` (of `order`) to the free frames at `to`: claims the
/// destination, copies the contents, repoints the handle and frees the source, all under the
/// pool lock so the owner cannot free the block halfway.
pub fn migrate(from: Pfn, to: Pfn, order: usize) -> Result<Migration, PoolError> {
    with_pool(|p| {
        let Some(idx) = p.entry_at(from) else {
            return Migration::SourceGone;
        };
        let Some(source) = p.entries[idx].frame.as_ref() else {
            return Migration::SourceGone;
        };
        if source.order() != order || source.class() != MigrateType::Movable {
            return Migration::SourceGone;
        }
        let Ok(mut dest) = OwnedFrame::claim(to, order, MigrateType::Movable) else {
            return Migration::DestinationTaken;
        };
        dest.bytes_mut().copy_from_slice(source.bytes());
        p.set_pfn(from, NIL);
        p.set_pfn(to, idx as u32);
        let old = p.entries[idx].frame.replace(dest);
        p.stats.migrated_pages += 1 << order;
        // Dropping frees the source; the allocator lock nests inside the pool lock.
        drop(old);
        Migration::Moved
    })
}

impl MovablePool {
    fn entry_at(&self, pfn: Pfn) -> Option<usize> {
        let idx = *self.by_pfn.get(usize::try_from(pfn.0).ok()?)?;
        (idx != NIL).then_some(idx as usize)
    }

    fn set_pfn(&mut self, pfn: Pfn, value: u32) {
        if let Some(slot) = usize::try_from(pfn.0)
            .ok()
            .and_then(|i| self.by_pfn.get_mut(i))
        {
            *slot = value;
        }
    }

    /// Records `frame` for `owner`; on refusal hands the frame back with the reason.
    fn insert(
        &mut self,
        owner: Owner,
        frame: OwnedFrame,
        seed: u32,
    ) -> Option<(OwnedFrame, PoolError)> {
        let o = usize::from(owner.0);
        if !self.owners.get(o).is_some_and(|l| l.slot == Slot::Alive) {
            return Some((frame, PoolError::NoOwner));
        }
        if self.free_entry == NIL {
            return Some((frame, PoolError::Unavailable));
        }
        let idx = self.free_entry as usize;
        self.free_entry = self.entries[idx].next;
        let pages = 1u64 << frame.order();
        let pfn = frame.pfn();
        let class = frame.class();
        let tail = self.owners[o].tail;
        self.entries[idx] = Entry {
            frame: Some(frame),
            seed,
            owner: owner.0,
            prev: tail,
            next: NIL,
        };
        if tail == NIL {
            self.owners[o].head = idx as u32;
        } else {
            self.entries[tail as usize].next = idx as u32;
        }
        self.owners[o].tail = idx as u32;
        self.owners[o].pages += pages;
        self.owners[o].blocks += 1;
        self.stats.held_pages += pages;
        self.stats.held_by_class[class.index()] += pages;
        self.set_pfn(pfn, idx as u32);
        None
    }

    /// Unlinks entry `idx` and returns its block and seed.
    fn remove(&mut self, idx: usize) -> Option<(OwnedFrame, u32)> {
        let (prev, next, owner) = {
            let e = &self.entries[idx];
            (e.prev, e.next, usize::from(e.owner))
        };
        let frame = self.entries[idx].frame.take()?;
        let seed = self.entries[idx].seed;
        if prev == NIL {
            self.owners[owner].head = next;
        } else {
            self.entries[prev as usize].next = next;
        }
        if next == NIL {
            self.owners[owner].tail = prev;
        } else {
            self.entries[next as usize].prev = prev;
        }
        let pages = 1u64 << frame.order();
        self.owners[owner].pages -= pages;
        self.owners[owner].blocks -= 1;
        self.stats.held_pages -= pages;
        self.stats.held_by_class[frame.class().index()] -= pages;
        self.set_pfn(frame.pfn(), NIL);
        self.entries[idx].prev = NIL;
        self.entries[idx].next = self.free_entry;
        self.free_entry = idx as u32;
        Some((frame, seed))
    }

    /// Removes the block at `position` (0 = oldest) of `owner`'s list of `len` blocks, as it
    /// was when the free began. `cursor` carries the entry after the previous removal and its
    /// position between calls, so a walk over ascending positions costs one link per position
    /// skipped; the first position is reached from whichever end of the list is nearer.
    /// Entries never move between lists, but a kill may empty the list between two calls:
    /// the cursor is checked to still be one of this owner's live entries.
    fn take_at(
        &mut self,
        owner: Owner,
        position: usize,
        len: usize,
        cursor: &mut Option<(u32, usize)>,
    ) -> Option<(OwnedFrame, u32)> {
        let list = *self.owners.get(usize::from(owner.0))?;
        let live = |pool: &MovablePool, idx: u32| {
            pool.entries
                .get(idx as usize)
                .is_some_and(|e| e.frame.is_some() && e.owner == owner.0)
        };
        let (mut idx, steps, forward) = match *cursor {
            Some((at, at_position)) if at_position <= position => {
                (at, position - at_position, true)
            }
            _ if position >= len / 2 => (list.tail, len.saturating_sub(1 + position), false),
            _ => (list.head, position, true),
        };
        for _ in 0..steps {
            idx = match self.entries.get(idx as usize) {
                Some(e) if live(self, idx) => {
                    if forward {
                        e.next
                    } else {
                        e.prev
                    }
                }
                _ => NIL,
            };
        }
        if !live(self, idx) {
            return None;
        }
        *cursor = Some((self.entries[idx as usize].next, position + 1));
        self.remove(idx as usize)
    }

    fn take_class(&mut self, owner: Owner, class: MigrateType) -> Option<(OwnedFrame, u32)> {
        let mut at = self.owners.get(usize::from(owner.0))?.head;
        while at != NIL {
            let e = &self.entries[at as usize];
            if e.frame.as_ref().is_some_and(|f| f.class() == class) {
                return self.remove(at as usize);
            }
            at = e.next;
        }
        None
    }

    fn take_any(&mut self, owner: Owner) -> Option<(OwnedFrame, u32)> {
        let head = self.owners.get(usize::from(owner.0))?.head;
        if head == NIL {
            return None;
        }
        self.remove(head as usize)
    }
}

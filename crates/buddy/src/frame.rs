//! Physical frame numbers, allocation classes and the per-frame metadata record.
//!
//! [`Pfn`] names a 4 KiB physical frame by its absolute number (physical address >> 12);
//! buddy alignment is always computed on absolute numbers so that an order-9 block is a
//! real 2 MiB-aligned region. [`FrameMeta`] is the record the allocator keeps for every
//! frame it covers, in a slice supplied by the caller ([`meta_len`] and [`meta_bytes`] size
//! it). [`MigrateType`] is the allocation class recorded for later compaction work.
//! The allocator that interprets these records lives in `allocator`.

use core::fmt;

/// Size of a frame in bytes.
pub const PAGE_SIZE: u64 = 4096;
/// log2 of [`PAGE_SIZE`].
pub const PAGE_SHIFT: u32 = 12;
/// Largest block order: blocks of 2^10 frames (4 MiB).
pub const MAX_ORDER: usize = 10;
/// Number of distinct orders, `0..=MAX_ORDER`.
pub const ORDERS: usize = MAX_ORDER + 1;
/// Most frames one allocator can cover: free-list links are `u32` frame indices and one
/// value is taken by the end-of-list marker. 2^32 − 1 frames is just under 16 TiB.
pub const MAX_FRAMES: usize = u32::MAX as usize;
/// First frame number beyond x86_64's 52-bit physical address space. Keeping every managed
/// frame below it means `Pfn::addr` is exact and buddy arithmetic cannot overflow.
pub const PFN_LIMIT: u64 = 1 << (52 - PAGE_SHIFT);

/// Absolute physical frame number (physical address / 4096).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct Pfn(pub u64);

impl Pfn {
    /// The frame containing physical address `addr`.
    pub const fn from_addr(addr: u64) -> Pfn {
        Pfn(addr >> PAGE_SHIFT)
    }

    /// Physical address of the frame's first byte. Exact for every frame an allocator manages
    /// (they are all below [`PFN_LIMIT`]); larger numbers lose their top bits.
    pub const fn addr(self) -> u64 {
        self.0 << PAGE_SHIFT
    }
}

impl fmt::Display for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pfn {:#x}", self.0)
    }
}

/// Allocation class of a block, as Linux's migrate types: compaction may later move
/// `Movable` blocks, shrink `Reclaimable` ones, and must leave `Unmovable` ones in place.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum MigrateType {
    /// Kernel data at a fixed physical address (page tables, kernel stacks, the heap).
    Unmovable = 0,
    /// Caches that can be dropped and rebuilt.
    Reclaimable = 1,
    /// Memory whose users reach it only through page tables, so it can be copied elsewhere.
    Movable = 2,
}

impl MigrateType {
    /// Number of classes; the length of per-class statistics arrays.
    pub const COUNT: usize = 3;
    /// Every class, in the order of per-class statistics arrays.
    pub const ALL: [MigrateType; MigrateType::COUNT] = [
        MigrateType::Unmovable,
        MigrateType::Reclaimable,
        MigrateType::Movable,
    ];

    /// Position of this class in per-class statistics arrays.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// End-of-list marker in the intrusive free lists.
pub(crate) const NIL: u32 = u32::MAX;

/// What one frame currently is. Only the first frame of a block (its head) says whether the
/// block is free or allocated and carries its order; the other frames are `Tail`, so that
/// splitting and merging touch O(1) records instead of the whole block.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum FrameState {
    /// Not managed: never handed to `add_free_range` (holes, firmware, the kernel image).
    Reserved,
    /// Part of a block whose head is an earlier frame.
    Tail,
    /// Head of a free block, linked into the free list of its order.
    Free,
    /// Head of an allocated block of the given class.
    Allocated(MigrateType),
}

/// Metadata of one physical frame (12 bytes). Fields are private: only the allocator
/// interprets them. `BuddyAllocator::new` resets every entry, but the slice must already
/// hold valid values: the record contains an enum, so raw RAM carved for it is not a
/// valid `[FrameMeta]` until [`FrameMeta::EMPTY`] has been written into every slot.
#[derive(Clone, Copy, Debug)]
pub struct FrameMeta {
    /// Previous free block of the same order (frame index), or `NIL`. Only meaningful for `Free` heads.
    pub(crate) prev: u32,
    /// Next free block of the same order (frame index), or `NIL`. Only meaningful for `Free` heads.
    pub(crate) next: u32,
    pub(crate) state: FrameState,
    /// Block order; only meaningful for `Free` and `Allocated` heads.
    pub(crate) order: u8,
}

impl FrameMeta {
    /// A reserved, unlinked frame: the state every frame starts in.
    pub const EMPTY: FrameMeta = FrameMeta {
        prev: NIL,
        next: NIL,
        state: FrameState::Reserved,
        order: 0,
    };

    /// A non-head frame inside a block.
    pub(crate) const TAIL: FrameMeta = FrameMeta {
        prev: NIL,
        next: NIL,
        state: FrameState::Tail,
        order: 0,
    };
}

/// Number of [`FrameMeta`] entries needed to cover the frames `start..end` (0 if `end <= start`).
pub const fn meta_len(start: Pfn, end: Pfn) -> usize {
    end.0.saturating_sub(start.0) as usize
}

/// Bytes of memory that `frames` metadata entries occupy (saturating). Carve them with the
/// alignment `core::mem::align_of::<FrameMeta>()`.
pub const fn meta_bytes(frames: usize) -> usize {
    frames.saturating_mul(core::mem::size_of::<FrameMeta>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pfn_address_round_trip() {
        assert_eq!(Pfn::from_addr(0x20_1fff), Pfn(0x201));
        assert_eq!(Pfn(0x201).addr(), 0x20_1000);
        assert_eq!(Pfn(PFN_LIMIT - 1).addr(), (1 << 52) - PAGE_SIZE);
    }

    #[test]
    fn metadata_sizing() {
        assert_eq!(meta_len(Pfn(0x100), Pfn(0x180)), 0x80);
        assert_eq!(meta_len(Pfn(0x180), Pfn(0x100)), 0);
        assert_eq!(core::mem::size_of::<FrameMeta>(), 12);
        assert_eq!(meta_bytes(1000), 12_000);
        assert_eq!(meta_bytes(usize::MAX), usize::MAX);
    }

    #[test]
    fn class_indices_match_all() {
        for (i, class) in MigrateType::ALL.iter().enumerate() {
            assert_eq!(class.index(), i);
        }
    }
}

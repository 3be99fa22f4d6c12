//! Error values of every fallible allocator operation.
//!
//! Each operation that takes caller input has its own enum ([`InitError`] for construction,
//! [`RangeError`] for `add_free_range`, [`AllocError`], [`FreeError`], [`ClaimError`]); an operation that
//! returns an error has changed nothing. [`InvariantError`] is what `check_invariants`
//! reports when the metadata contradicts itself, which would be a bug in this crate.

use core::fmt;

use crate::frame::{MAX_ORDER, Pfn};

/// Why `BuddyAllocator::new` refused its metadata slice.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InitError {
    /// The slice covers more frames than free-list links can index (`MAX_FRAMES`).
    TooManyFrames { frames: usize },
    /// The covered frames reach past the 52-bit physical address space (`PFN_LIMIT`).
    BeyondPhysicalLimit { base: Pfn, frames: usize },
}

/// Why `add_free_range` refused a range. Nothing was added.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RangeError {
    /// `start > end`.
    Inverted { start: Pfn, end: Pfn },
    /// Part of the range lies outside the frames the metadata covers.
    OutOfRange { start: Pfn, end: Pfn },
    /// This frame of the range is already managed (free or allocated).
    AlreadyManaged { pfn: Pfn },
}

/// Why an allocation failed. Nothing was allocated.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AllocError {
    /// `order > MAX_ORDER`. Not counted in the failure statistics.
    InvalidOrder { order: usize },
    /// No free block of this order or larger exists. Counted in `failures_by_order`.
    OutOfMemory { order: usize },
}

/// Why `claim_free` / `claim_free_block` refused a frame. Nothing was claimed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClaimError {
    /// `order > MAX_ORDER`.
    InvalidOrder { order: usize },
    /// Some frame of the block is outside the frames this allocator covers.
    NotManaged { pfn: Pfn },
    /// The frame number is not a multiple of 2^order.
    Misaligned { pfn: Pfn, order: usize },
    /// Some frame of the block is allocated or reserved.
    NotFree { pfn: Pfn, order: usize },
}

/// Why a free was refused. The allocator is unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FreeError {
    /// `order > MAX_ORDER`.
    InvalidOrder { order: usize },
    /// The frame is outside the frames this allocator covers.
    NotManaged { pfn: Pfn },
    /// The frame is covered but reserved: it was never added as usable memory.
    Reserved { pfn: Pfn },
    /// The frame number is not a multiple of 2^order.
    Misaligned { pfn: Pfn, order: usize },
    /// The frame starts an allocated block, but of another order.
    WrongOrder {
        pfn: Pfn,
        order: usize,
        allocated_order: usize,
    },
    /// The frame lies inside an allocated block that starts at `block`.
    InsideBlock {
        pfn: Pfn,
        block: Pfn,
        block_order: usize,
    },
    /// The frame is already free: a double free, or a frame never handed out.
    AlreadyFree { pfn: Pfn },
}

/// A contradiction found by `check_invariants`. Any of these is a bug in this crate.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum InvariantError {
    /// A block head carries an order above `MAX_ORDER`.
    BadOrder { pfn: Pfn, order: usize },
    /// A block head is not aligned to its order.
    Misaligned { pfn: Pfn, order: usize },
    /// A block runs past the end of the metadata.
    BlockPastEnd { pfn: Pfn, order: usize },
    /// A frame inside a block is not marked as part of it (blocks overlap).
    Overlap { block: Pfn, pfn: Pfn },
    /// A frame is marked as part of a block but no block covers it.
    OrphanTail { pfn: Pfn },
    /// A free-list entry is not a free block head of that list's order.
    ListEntryNotFree { order: usize, pfn: Pfn },
    /// A list's back link does not point at the entry before it.
    BrokenBackLink { order: usize, pfn: Pfn },
    /// A link points outside the metadata.
    LinkOutOfRange { order: usize },
    /// The list of this order holds a different number of blocks than the metadata
    /// (a free block missing from its list, or a cycle).
    ListLength {
        order: usize,
        listed: u64,
        in_metadata: u64,
    },
    /// Two free buddies of this order were left uncoalesced.
    Uncoalesced { pfn: Pfn, buddy: Pfn, order: usize },
    /// A statistics counter disagrees with the metadata.
    StatsMismatch {
        counter: &'static str,
        recorded: u64,
        actual: u64,
    },
}

impl fmt::Display for InitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InitError::TooManyFrames { frames } => write!(
                f,
                "metadata covers {frames} frames, more than the allocator can index"
            ),
            InitError::BeyondPhysicalLimit { base, frames } => write!(
                f,
                "{frames} frames from {base} reach past the 52-bit physical address space"
            ),
        }
    }
}

impl fmt::Display for RangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RangeError::Inverted { start, end } => {
                write!(f, "range start {start} is after its end {end}")
            }
            RangeError::OutOfRange { start, end } => write!(
                f,
                "range {start}..{end} is not covered by the allocator's metadata"
            ),
            RangeError::AlreadyManaged { pfn } => {
                write!(f, "{pfn} is already free or allocated")
            }
        }
    }
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            AllocError::InvalidOrder { order } => {
                write!(f, "order {order} is above the maximum order {MAX_ORDER}")
            }
            AllocError::OutOfMemory { order } => {
                write!(f, "no free block of order {order} or larger")
            }
        }
    }
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ClaimError::InvalidOrder { order } => {
                write!(f, "order {order} is above the maximum order {MAX_ORDER}")
            }
            ClaimError::NotManaged { pfn } => {
                write!(f, "the block at {pfn} is not managed by this allocator")
            }
            ClaimError::Misaligned { pfn, order } => {
                write!(f, "{pfn} is not aligned to order {order}")
            }
            ClaimError::NotFree { pfn, order } => {
                write!(f, "the order-{order} block at {pfn} is not entirely free")
            }
        }
    }
}

impl fmt::Display for FreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            FreeError::InvalidOrder { order } => {
                write!(f, "order {order} is above the maximum order {MAX_ORDER}")
            }
            FreeError::NotManaged { pfn } => write!(f, "{pfn} is not managed by this allocator"),
            FreeError::Reserved { pfn } => write!(f, "{pfn} is reserved, never allocated"),
            FreeError::Misaligned { pfn, order } => {
                write!(f, "{pfn} is not aligned to order {order}")
            }
            FreeError::WrongOrder {
                pfn,
                order,
                allocated_order,
            } => write!(
                f,
                "{pfn} freed with order {order} but allocated with order {allocated_order}"
            ),
            FreeError::InsideBlock {
                pfn,
                block,
                block_order,
            } => write!(
                f,
                "{pfn} lies inside the allocated order-{block_order} block at {block}"
            ),
            FreeError::AlreadyFree { pfn } => write!(f, "{pfn} is already free"),
        }
    }
}

impl fmt::Display for InvariantError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            InvariantError::BadOrder { pfn, order } => {
                write!(f, "block at {pfn} has invalid order {order}")
            }
            InvariantError::Misaligned { pfn, order } => {
                write!(f, "order-{order} block at {pfn} is misaligned")
            }
            InvariantError::BlockPastEnd { pfn, order } => {
                write!(f, "order-{order} block at {pfn} runs past the metadata")
            }
            InvariantError::Overlap { block, pfn } => {
                write!(f, "{pfn} inside the block at {block} is not part of it")
            }
            InvariantError::OrphanTail { pfn } => {
                write!(f, "{pfn} is marked as a block tail but no block covers it")
            }
            InvariantError::ListEntryNotFree { order, pfn } => {
                write!(
                    f,
                    "free list {order} holds {pfn}, not a free order-{order} block"
                )
            }
            InvariantError::BrokenBackLink { order, pfn } => {
                write!(f, "free list {order}: back link of {pfn} is wrong")
            }
            InvariantError::LinkOutOfRange { order } => {
                write!(f, "free list {order} links outside the metadata")
            }
            InvariantError::ListLength {
                order,
                listed,
                in_metadata,
            } => write!(
                f,
                "free list {order} has {listed} entries, metadata has {in_metadata} free blocks"
            ),
            InvariantError::Uncoalesced { pfn, buddy, order } => write!(
                f,
                "free order-{order} buddies at {pfn} and {buddy} were not coalesced"
            ),
            InvariantError::StatsMismatch {
                counter,
                recorded,
                actual,
            } => write!(
                f,
                "statistic {counter} is {recorded}, metadata says {actual}"
            ),
        }
    }
}

impl core::error::Error for InitError {}
impl core::error::Error for RangeError {}
impl core::error::Error for AllocError {}
impl core::error::Error for FreeError {}
impl core::error::Error for ClaimError {}
impl core::error::Error for InvariantError {}

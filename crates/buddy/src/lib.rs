//! Physical frame allocator of Nous: a binary buddy allocator over 4 KiB frames, orders
//! 0..=10, with the statistics the OOM crash predictor and compaction build on.
//!
//! Design principles:
//! - Simple, checkable algorithms: the textbook buddy system with one intrusive
//!   doubly-linked free list per order; `alloc` and `free` are O(MAX_ORDER).
//! - No heap and no `unsafe`: all per-frame state lives in a caller-supplied
//!   `&mut [FrameMeta]`, so the allocator runs before the kernel heap exists and is tested
//!   on the host against a model.
//! - Caller input never panics and never corrupts state: every bad range, order or frame is
//!   an error value and leaves the allocator unchanged.
//! - Statistics are counters updated in place, cheap enough to read on every scheduler tick;
//!   `check_invariants` recomputes them independently.
//!
//! Modules: `frame` (frame numbers, metadata, classes), `allocator` (the allocator),
//! `stats` (counters and the fragmentation index), `invariants` (the audit), `error`,
//! `compaction` (the pure planner that migrates movable blocks to rebuild high-order blocks),
//! `memmap` (boot-time planning over the firmware memory map: metadata placement, free ranges,
//! direct-map chunks, request orders).
//!
//! Typical use (a runnable copy is `tests/usage.rs`): size the metadata with `meta_len`,
//! `BuddyAllocator::new` over it, `add_free_range` for every usable region of the memory
//! map, then `alloc` / `alloc_typed` / `free`, and read `stats`.
//!
//! Compaction: [`compaction::plan`] chooses moves; an executor claims each destination with
//! [`BuddyAllocator::claim_free_block`] (or [`BuddyAllocator::claim_free`] for one frame),
//! copies, and frees the source. Not provided: any locking (the kernel wraps the allocator in
//! its own lock).

#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

mod allocator;
pub mod compaction;
mod error;
mod frame;
mod invariants;
pub mod memmap;
mod stats;

pub use allocator::{AllocatedBlock, BuddyAllocator, FreeBlock};
pub use error::{AllocError, ClaimError, FreeError, InitError, InvariantError, RangeError};
pub use frame::{
    FrameMeta, MAX_FRAMES, MAX_ORDER, MigrateType, ORDERS, PAGE_SHIFT, PAGE_SIZE, PFN_LIMIT, Pfn,
    meta_bytes, meta_len,
};
pub use stats::BuddyStats;

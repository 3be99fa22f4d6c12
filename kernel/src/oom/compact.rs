//! The compaction executor: plans with `buddy::compaction::plan` under the allocator lock,
//! then migrates each planned block through the movable pool (claim the destination, copy,
//! repoint the handle, free the source) and measures the effect.
//!
//! The plan can go stale between planning and a move — a workload may free a source or take a
//! destination meanwhile — so each move is re-checked by `pool::migrate` and skipped when it no
//! longer applies; the report counts skipped moves. The move buffer is allocated once, at
//! start, so compaction under memory pressure never grows the heap. One compaction runs at a
//! time (the shell and the response ladder may both ask); a second caller gets `Busy`.

use alloc::vec::Vec;

use buddy::compaction::{self, Move, PlanError};
use spin::Mutex;

use super::pool::{self, Migration};

/// Most moves one compaction performs (each moves one block; 8192 order-0 moves are 32 MiB).
pub const MAX_MOVES: usize = 8192;

static MOVES: Mutex<Vec<Move>> = Mutex::new(Vec::new());

/// What one compaction did.
#[derive(Clone, Copy, Debug, Default)]
pub struct CompactReport {
    pub order: usize,
    /// Target ranges the plan promised to free.
    pub targets: usize,
    pub moves_planned: usize,
    /// Pages actually copied.
    pub pages_moved: u64,
    /// Moves skipped because the plan went stale.
    pub moves_skipped: usize,
    /// Order-`order` blocks the free memory could serve before and after.
    pub blocks_before: u64,
    pub blocks_after: u64,
    pub elapsed_ns: u64,
}

/// Why compaction did not run.
#[derive(Clone, Copy, Debug)]
pub enum CompactError {
    Plan(PlanError),
    /// Another compaction is running.
    Busy,
    /// The move buffer or the allocator is not set up.
    Unavailable,
}

impl core::fmt::Display for CompactError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CompactError::Plan(e) => write!(f, "{e}"),
            CompactError::Busy => write!(f, "a compaction is already running"),
            CompactError::Unavailable => write!(f, "compaction is not available"),
        }
    }
}

/// Allocates the move buffer (once, at start, while memory is plentiful).
pub fn init() -> Result<(), CompactError> {
    let mut moves = MOVES.lock();
    if moves.len() == MAX_MOVES {
        return Ok(());
    }
    moves
        .try_reserve_exact(MAX_MOVES)
        .map_err(|_| CompactError::Unavailable)?;
    moves.resize(MAX_MOVES, Move::EMPTY);
    Ok(())
}

/// Compacts memory to rebuild up to `max_targets` free order-`order` blocks.
pub fn compact(order: usize, max_targets: usize) -> Result<CompactReport, CompactError> {
    let Some(mut moves) = MOVES.try_lock() else {
        return Err(CompactError::Busy);
    };
    if moves.len() != MAX_MOVES {
        return Err(CompactError::Unavailable);
    }
    let started = hal::time::now_ns();
    let blocks_before = hal::mem::frames::stats().free_blocks_at_least(order);
    let plan = hal::mem::frames::with_allocator(|a| {
        compaction::plan(a, order, max_targets, &mut moves[..])
    })
    .ok_or(CompactError::Unavailable)?
    .map_err(CompactError::Plan)?;
    let mut report = CompactReport {
        order,
        targets: plan.targets,
        moves_planned: plan.moves,
        blocks_before,
        ..CompactReport::default()
    };
    for (i, m) in moves.iter().take(plan.moves).enumerate() {
        match pool::migrate(m.from, m.to, m.order) {
            Ok(Migration::Moved) => report.pages_moved += 1 << m.order,
            _ => report.moves_skipped += 1,
        }
        // Let the shell and the sampler in now and then: a big compaction copies megabytes.
        if i % 256 == 255 {
            hal::task::yield_now();
        }
    }
    report.blocks_after = hal::mem::frames::stats().free_blocks_at_least(order);
    report.elapsed_ns = hal::time::now_ns().saturating_sub(started);
    Ok(report)
}

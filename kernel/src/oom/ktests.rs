//! In-kernel tests of the OOM subsystem (run by the `ktest` image, listed in `crate::ktest`):
//! the movable pool and compaction on the real frame allocator, where the content check of
//! every block proves that migration copies pages faithfully, and the pool's frees against
//! the free-order rule the simulator uses (`oom::FreePattern::positions`).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use buddy::MigrateType;
use hal::mem::frames;

use oom::FreePattern;

use super::{compact, pool};
use crate::reclaim;

/// Each `Free { count, pattern }` frees exactly the blocks `oom::FreePattern::positions`
/// names, as the simulator's executor does (`tools/oom-sim`, `select`): the blocks left
/// behind are compared by their pattern seeds. The lists are long enough for the pool's walk
/// to start from the tail (`Newest`) and to skip links (`Alternate`).
fn frees_follow_the_shared_rule() -> Result<(), String> {
    for pattern in [
        FreePattern::Oldest,
        FreePattern::Newest,
        FreePattern::Alternate,
    ] {
        for (len, count) in [(7, 2), (7, 3), (8, 5), (9, 9), (1, 1), (5, 0), (300, 120)] {
            let owner = pool::register_owner().map_err(|e| format!("owner: {e}"))?;
            for i in 0..len {
                pool::alloc(owner, 0, MigrateType::Movable)
                    .map_err(|e| format!("alloc {i}: {e}"))?;
            }
            let before = pool::block_seeds(owner);
            let freed = pool::free(owner, count as u64, pattern);
            let after = pool::block_seeds(owner);
            pool::retire(owner);
            let picks: Vec<usize> = pattern.positions(len, count).collect();
            let expected: Vec<u32> = before
                .iter()
                .enumerate()
                .filter(|(i, _)| !picks.contains(i))
                .map(|(_, seed)| *seed)
                .collect();
            if before.len() != len || after != expected || freed != picks.len() as u64 {
                return Err(format!(
                    "{pattern:?} count {count} of {len} blocks: freed {freed} pages, kept {} blocks, expected to keep {}",
                    after.len(),
                    expected.len()
                ));
            }
        }
    }
    Ok(())
}

/// Checks the free-order rule first (above), then fills 4096 movable pages, frees every other
/// one, compacts to order 3 and checks: pages moved, exactly the planned number of order-3
/// blocks gained, every block's pattern intact after the moves, the allocator consistent, and
/// every frame back at the end.
pub fn movable_pool_compaction_keeps_contents() -> Result<(), String> {
    super::start();
    frees_follow_the_shared_rule()?;
    let before = frames::stats();
    let owner = pool::register_owner().map_err(|e| format!("owner: {e}"))?;
    for i in 0..4096 {
        pool::alloc(owner, 0, MigrateType::Movable).map_err(|e| format!("alloc {i}: {e}"))?;
    }
    let freed = pool::free(owner, 2048, FreePattern::Alternate);
    if freed != 2048 || pool::held_pages(owner) != 2048 {
        return Err(format!(
            "alternate free released {freed} pages, {} held",
            pool::held_pages(owner)
        ));
    }
    let checked_before = pool::stats();
    let r = compact::compact(3, usize::MAX).map_err(|e| format!("compact: {e}"))?;
    if r.pages_moved == 0 || r.targets == 0 {
        return Err(format!("compaction did nothing: {r:?}"));
    }
    if r.blocks_after < r.blocks_before + r.targets as u64 {
        return Err(format!("order-3 blocks did not rise by the plan: {r:?}"));
    }
    frames::check_invariants().map_err(|e| format!("allocator after compaction: {e}"))?;
    pool::retire(owner);
    let after = pool::stats();
    if after.corrupted_blocks != checked_before.corrupted_blocks {
        return Err(format!(
            "{} blocks lost their contents",
            after.corrupted_blocks - checked_before.corrupted_blocks
        ));
    }
    if after.verified_blocks - checked_before.verified_blocks != 2048 {
        return Err(format!(
            "checked {} blocks at release, expected 2048",
            after.verified_blocks - checked_before.verified_blocks
        ));
    }
    let end = frames::stats();
    if end.free_pages != before.free_pages {
        return Err(format!(
            "free pages {} before, {} after",
            before.free_pages, end.free_pages
        ));
    }
    Ok(())
}

/// A cache owner's reclaimable pages are counted by the reclaim registry and freed by its
/// shrink; filling memory ends in a watermark refusal (an OOM error, not a panic) that leaves
/// at least `oom::watermark::min_free_pages` free; everything comes back afterwards.
pub fn reclaim_count_and_watermark_refusal() -> Result<(), String> {
    super::start();
    let before = frames::stats();
    let owner = pool::register_owner().map_err(|e| format!("owner: {e}"))?;
    for i in 0..64 {
        pool::alloc(owner, 0, MigrateType::Reclaimable).map_err(|e| format!("alloc {i}: {e}"))?;
    }
    let freed = pool::shrink(owner, 40, MigrateType::Reclaimable);
    let left = pool::pages_of_class(MigrateType::Reclaimable);
    let counted = reclaim::reclaimable_pages();
    let mut refusal = None;
    for _ in 0..before.total_pages {
        if let Err(e) = pool::alloc(owner, 5, MigrateType::Movable) {
            refusal = Some(e);
            break;
        }
    }
    let at_refusal = frames::stats();
    pool::retire(owner);
    let end = frames::stats();
    if freed != 40 || left != 24 {
        return Err(format!("shrink freed {freed}, {left} reclaimable left"));
    }
    if counted < 24 {
        return Err(format!(
            "the registry counts {counted} reclaimable pages, expected >= 24"
        ));
    }
    match refusal {
        Some(pool::PoolError::Watermark { order: 5 }) => {}
        other => return Err(format!("filling memory ended with {other:?}")),
    }
    let floor = oom::watermark::min_free_pages(at_refusal.total_pages);
    if at_refusal.free_pages < floor {
        return Err(format!(
            "{} pages free at the refusal, below the watermark {floor}",
            at_refusal.free_pages
        ));
    }
    if end.free_pages != before.free_pages {
        return Err(format!(
            "free pages {} before, {} after",
            before.free_pages, end.free_pages
        ));
    }
    Ok(())
}

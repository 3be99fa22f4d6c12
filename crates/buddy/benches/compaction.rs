//! Host benchmark of compaction planning and execution: prints figures, asserts nothing about
//! time.
//!
//! Run: `cargo bench -p buddy --bench compaction`. Over 256 MiB of frames (65 536, the QEMU
//! guest's size) filled with movable order-0 pages of which every other one is freed — the
//! fragmentation attack's layout — it plans compaction to order 4 with an 8192-move budget
//! (the kernel's `MAX_MOVES`), executes the plan (claim the destination, free the source; no
//! copy), and reports the planner's time, the time per move and the blocks gained.

use std::time::Instant;

use buddy::compaction::{Move, plan};
use buddy::{BuddyAllocator, FrameMeta, MigrateType, Pfn};

const FRAMES: usize = 1 << 16;
const ORDER: usize = 4;
const BUDGET: usize = 8192;

fn main() {
    let mut meta = vec![FrameMeta::EMPTY; FRAMES];
    let mut a = BuddyAllocator::new(&mut meta, Pfn(0)).expect("fits");
    a.add_free_range(Pfn(0), Pfn(FRAMES as u64))
        .expect("usable");
    let pages: Vec<Pfn> = (0..FRAMES)
        .map(|_| a.alloc_typed(0, MigrateType::Movable).expect("memory"))
        .collect();
    for p in pages.iter().filter(|p| p.0 % 2 == 1) {
        a.free(*p, 0).expect("allocated");
    }
    let before = a.stats().free_blocks_at_least(ORDER);
    let mut moves = vec![Move::EMPTY; BUDGET];

    let start = Instant::now();
    let rounds = 20;
    let mut planned = Default::default();
    for _ in 0..rounds {
        planned = plan(&a, ORDER, usize::MAX, &mut moves).expect("valid order");
    }
    let plan_us = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);

    let start = Instant::now();
    for m in &moves[..planned.moves] {
        a.claim_free_block(m.to, m.order, MigrateType::Movable)
            .expect("planned destination is free");
        a.free(m.from, m.order)
            .expect("planned source is allocated");
    }
    let exec_ns = start.elapsed().as_nanos() as f64 / planned.moves.max(1) as f64;
    let after = a.stats().free_blocks_at_least(ORDER);
    a.check_invariants().expect("consistent");

    println!(
        "compaction to order {ORDER} over {FRAMES} frames (checkerboard of movable pages), budget {BUDGET} moves"
    );
    println!(
        "plan                 {plan_us:>10.1} µs  ({} moves for {} blocks)",
        planned.moves, planned.targets
    );
    println!("execute (no copy)    {exec_ns:>10.1} ns/move");
    println!("order-{ORDER} blocks       {before} -> {after}");
}

//! Host benchmark of the buddy allocator: prints figures, asserts nothing about time.
//!
//! Run: `cargo bench -p buddy` (release profile). Measures, over 1 GiB of frames (262 144),
//! initialisation, order-0 alloc+free pairs, a mixed-order workload at ~70 % occupancy,
//! reading `stats()` with the fragmentation index, and the O(frames) walks
//! (`allocated_blocks`, `check_invariants`).

use std::hint::black_box;
use std::time::Instant;

use buddy::{BuddyAllocator, FrameMeta, MigrateType, Pfn, meta_bytes};

const FRAMES: usize = 1 << 18;

/// xorshift64: a deterministic workload without pulling a RNG crate into the benchmark.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn report(what: &str, ops: u64, start: Instant) {
    let ns = start.elapsed().as_nanos() as f64 / ops as f64;
    println!("{what:<48} {ns:>10.1} ns/op  ({ops} ops)");
}

fn main() {
    println!(
        "buddy allocator, {FRAMES} frames (1 GiB), metadata {} KiB",
        meta_bytes(FRAMES) / 1024
    );
    let mut meta = vec![FrameMeta::EMPTY; FRAMES];

    let start = Instant::now();
    let mut a = BuddyAllocator::new(&mut meta, Pfn(0x100)).expect("fits");
    // Odd bounds, as a real memory map has.
    a.add_free_range(Pfn(0x101), Pfn(0x100 + FRAMES as u64 - 3))
        .expect("usable");
    report("new + add_free_range (per frame)", FRAMES as u64, start);

    const PAIRS: u64 = 2_000_000;
    let start = Instant::now();
    for _ in 0..PAIRS {
        let pfn = a.alloc(0).expect("memory");
        a.free(black_box(pfn), 0).expect("allocated");
    }
    report("alloc(0) + free, empty allocator (pair)", PAIRS, start);

    // Fill to ~70 % with random orders 0..=4, then churn: free a random live block and
    // allocate a random order, so splits and merges of every depth happen.
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut live: Vec<(Pfn, usize)> = Vec::new();
    let target = FRAMES as u64 * 7 / 10;
    while a.stats().allocated_pages() < target {
        let order = (rng.next() % 5) as usize;
        let class = MigrateType::ALL[(rng.next() % 3) as usize];
        live.push((a.alloc_typed(order, class).expect("memory"), order));
    }
    const CHURN: u64 = 2_000_000;
    let start = Instant::now();
    for _ in 0..CHURN {
        let victim = (rng.next() % live.len() as u64) as usize;
        let (pfn, order) = live.swap_remove(victim);
        a.free(pfn, order).expect("allocated");
        let order = (rng.next() % 5) as usize;
        if let Ok(pfn) = a.alloc_typed(order, MigrateType::Movable) {
            live.push((pfn, order));
        }
    }
    report(
        "mixed orders 0..=4 at 70 %: free + alloc (pair)",
        CHURN,
        start,
    );

    const READS: u64 = 1_000_000;
    let start = Instant::now();
    let mut sink = 0u64;
    for _ in 0..READS {
        let stats = black_box(&a).stats();
        sink = sink.wrapping_add(u64::from(stats.unusable_free_space_index()[9]));
    }
    black_box(sink);
    report("stats() + unusable_free_space_index()", READS, start);

    const WALKS: u64 = 20;
    let start = Instant::now();
    for _ in 0..WALKS {
        black_box(
            a.allocated_blocks()
                .filter(|b| b.class == MigrateType::Movable)
                .count(),
        );
    }
    report("allocated_blocks() full walk", WALKS, start);

    let start = Instant::now();
    for _ in 0..WALKS {
        a.check_invariants().expect("consistent");
    }
    report("check_invariants()", WALKS, start);

    let s = a.stats();
    println!(
        "after churn: {} free pages, largest free order {:?}, unusable index ‰ {:?}",
        s.free_pages,
        s.largest_free_order,
        s.unusable_free_space_index()
    );
}

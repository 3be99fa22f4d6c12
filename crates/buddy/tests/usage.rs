//! The crate-level usage example, as the kernel will drive the allocator: size the metadata,
//! create the allocator, hand over the usable regions of the memory map, allocate, free,
//! read the statistics.

use buddy::{BuddyAllocator, FrameMeta, MigrateType, Pfn, meta_len};

#[test]
fn boot_sequence() {
    // A memory map with a hole: usable 0x100..0x180 and 0x201..0x500.
    let (start, end) = (Pfn(0x100), Pfn(0x500));
    let mut meta = vec![FrameMeta::EMPTY; meta_len(start, end)];
    let mut frames = BuddyAllocator::new(&mut meta, start).expect("metadata fits");
    frames
        .add_free_range(Pfn(0x100), Pfn(0x180))
        .expect("usable");
    frames.add_free_range(Pfn(0x201), end).expect("usable");
    let usable = 0x80 + 0x2ff;
    assert_eq!(frames.stats().total_pages, usable);
    assert_eq!(frames.stats().free_pages, usable);

    let page_table = frames.alloc(0).expect("memory");
    let buffer = frames.alloc_typed(3, MigrateType::Movable).expect("memory");
    assert_eq!(buffer.0 % 8, 0);
    assert_eq!(buffer.addr() % (8 * 4096), 0);
    let stats = frames.stats();
    assert_eq!(stats.free_pages, usable - 9);
    assert_eq!(stats.allocated_pages_by_class, [1, 0, 8]);

    frames.free(buffer, 3).expect("allocated");
    frames.free(page_table, 0).expect("allocated");
    assert_eq!(frames.stats().free_pages, usable);
    assert_eq!(frames.stats().alloc_count, 2);
    assert_eq!(frames.stats().free_count, 2);
    frames.check_invariants().expect("consistent");
}

//! Property tests of compaction: random allocator layouts (odd ranges with reserved holes,
//! all three classes, orders 0..=4, random frees), a plan for a random order with random
//! limits, then its execution the way the kernel does it (`claim_free_block` on the
//! destination, `free` on the source).
//!
//! Checked: every move starts at a live movable block of its order and ends at an aligned,
//! free run outside every target range; no frame is used twice; the allocator passes
//! `check_invariants` after every single move; each target range ends entirely free; and the
//! count of order-N blocks the free memory can serve rises by exactly the planned targets.
//! A second property starts from the fragmentation attack's layout (movable pages with a
//! random half freed) and requires compaction to gain blocks whenever small holes remain.

use std::collections::BTreeSet;

use buddy::compaction::{Move, plan};
use buddy::{BuddyAllocator, FrameMeta, MigrateType, Pfn};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Layout {
    base: u64,
    /// (reserved gap, usable length) pairs.
    ranges: Vec<(u64, u64)>,
    /// Allocations: (order, class selector 0..10: 0 unmovable, 1 reclaimable, else movable).
    allocs: Vec<(usize, u8)>,
    /// Which allocations to free again.
    frees: Vec<bool>,
    order: usize,
    max_targets: usize,
    buffer: usize,
}

fn layout_strategy() -> impl Strategy<Value = Layout> {
    (
        0u64..3000,
        prop::collection::vec((0u64..40, 1u64..700), 1..=3),
        prop::collection::vec(
            (
                prop_oneof![6 => Just(0usize), 3 => 1usize..=2, 1 => 3usize..=4],
                0u8..10,
            ),
            0..400,
        ),
        prop::collection::vec(any::<bool>(), 400),
        1usize..=6,
        prop_oneof![1 => 0usize..3, 3 => Just(usize::MAX)],
        prop_oneof![1 => 0usize..20, 3 => Just(2048usize)],
    )
        .prop_map(
            |(base, ranges, allocs, frees, order, max_targets, buffer)| Layout {
                base,
                ranges,
                allocs,
                frees,
                order,
                max_targets,
                buffer,
            },
        )
}

fn class_of(selector: u8) -> MigrateType {
    match selector {
        0 => MigrateType::Unmovable,
        1 => MigrateType::Reclaimable,
        _ => MigrateType::Movable,
    }
}

/// Builds the allocator over `meta` and applies the layout's allocations and frees; returns
/// the live blocks (pfn → (order, class)).
fn build<'m>(
    meta: &'m mut Vec<FrameMeta>,
    layout: &Layout,
) -> (BuddyAllocator<'m>, Vec<(Pfn, usize, MigrateType)>) {
    let span: u64 = layout.ranges.iter().map(|(gap, len)| gap + len).sum();
    meta.resize(span as usize, FrameMeta::EMPTY);
    let mut a = BuddyAllocator::new(meta, Pfn(layout.base)).unwrap();
    let mut at = layout.base;
    for &(gap, len) in &layout.ranges {
        at += gap;
        a.add_free_range(Pfn(at), Pfn(at + len)).unwrap();
        at += len;
    }
    let mut live = Vec::new();
    for (i, &(order, selector)) in layout.allocs.iter().enumerate() {
        let class = class_of(selector);
        if let Ok(pfn) = a.alloc_typed(order, class) {
            if layout.frees.get(i).copied().unwrap_or(false) {
                a.free(pfn, order).unwrap();
            } else {
                live.push((pfn, order, class));
            }
        }
    }
    (a, live)
}

fn check_plan_and_execute(layout: &Layout) -> Result<(), TestCaseError> {
    let mut meta = Vec::new();
    let (mut a, live) = build(&mut meta, layout);
    let n = layout.order;
    let before = a.stats();
    let mut buffer = vec![Move::EMPTY; layout.buffer];
    let p = plan(&a, n, layout.max_targets, &mut buffer).unwrap();
    let moves = &buffer[..p.moves];
    prop_assert!(p.targets <= layout.max_targets);
    prop_assert_eq!(p.pages, moves.iter().map(|m| 1u64 << m.order).sum::<u64>());

    let targets: BTreeSet<u64> = moves.iter().map(|m| m.from.0 >> n << n).collect();
    prop_assert_eq!(targets.len(), p.targets);
    let mut used = BTreeSet::new();
    for m in moves {
        prop_assert!(
            live.contains(&(m.from, m.order, MigrateType::Movable)),
            "source {:?} is not a live movable block",
            m
        );
        prop_assert_eq!(
            m.to.0 % (1 << m.order),
            0,
            "destination misaligned: {:?}",
            m
        );
        for f in m.to.0..m.to.0 + (1 << m.order) {
            prop_assert!(
                !targets.contains(&(f >> n << n)),
                "{:?} lands in a target",
                m
            );
            prop_assert!(used.insert(f), "frame {} used twice", f);
        }
    }

    for m in moves {
        prop_assert_eq!(
            a.claim_free_block(m.to, m.order, MigrateType::Movable),
            Ok(())
        );
        prop_assert_eq!(a.free(m.from, m.order), Ok(()));
        a.check_invariants()
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
    }
    let after = a.stats();
    prop_assert_eq!(after.free_pages, before.free_pages);
    prop_assert_eq!(
        after.free_blocks_at_least(n),
        before.free_blocks_at_least(n) + p.targets as u64
    );
    for &t in &targets {
        prop_assert!(
            a.free_blocks()
                .any(|b| b.order >= n && b.pfn.0 <= t && t < b.pfn.0 + (1 << b.order)),
            "target {} is not free after compaction",
            t
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn compaction_keeps_invariants_and_gains_exactly_its_targets(layout in layout_strategy()) {
        check_plan_and_execute(&layout)?;
    }

    #[test]
    fn a_fragmentation_attack_is_undone(
        frames in 256u64..2048,
        freed in prop::collection::vec(any::<bool>(), 2048),
        order in 1usize..=5,
    ) {
        // Movable order-0 pages over all memory, then a random subset (about half) freed:
        // many free frames, few high-order blocks.
        let layout = Layout {
            base: 0,
            ranges: vec![(0, frames)],
            allocs: vec![(0, 9); frames as usize],
            frees: freed,
            order,
            max_targets: usize::MAX,
            buffer: 4096,
        };
        check_plan_and_execute(&layout)?;
        let mut meta = Vec::new();
        let (a, _) = build(&mut meta, &layout);
        let s = a.stats();
        let mut buffer = vec![Move::EMPTY; 4096];
        let p = plan(&a, order, usize::MAX, &mut buffer).unwrap();
        // Free frames outside order-≥N blocks are the raw material; with at least two ranges'
        // worth of them, evacuating the lowest partly-used range always fits.
        let small_free = s.free_pages - (s.free_blocks_at_least(order) << order);
        if small_free >= 2 << order {
            prop_assert!(p.targets > 0, "{} small free frames but no target", small_free);
        }
    }
}

#[test]
fn claim_free_refuses_what_is_not_free() {
    use buddy::ClaimError;
    let mut meta = vec![FrameMeta::EMPTY; 32];
    let mut a = BuddyAllocator::new(&mut meta, Pfn(0)).unwrap();
    a.add_free_range(Pfn(1), Pfn(32)).unwrap();
    let held = a.alloc_typed(2, MigrateType::Unmovable).unwrap();
    let before: Vec<_> = a.free_blocks().collect();
    let cases = [
        (
            Pfn(0),
            0,
            ClaimError::NotFree {
                pfn: Pfn(0),
                order: 0,
            },
        ),
        (Pfn(32), 0, ClaimError::NotManaged { pfn: Pfn(32) }),
        (Pfn(30), 2, ClaimError::NotManaged { pfn: Pfn(30) }),
        (
            Pfn(u64::MAX),
            0,
            ClaimError::NotManaged { pfn: Pfn(u64::MAX) },
        ),
        (
            Pfn(6),
            2,
            ClaimError::Misaligned {
                pfn: Pfn(6),
                order: 2,
            },
        ),
        (Pfn(8), 11, ClaimError::InvalidOrder { order: 11 }),
        (
            held,
            0,
            ClaimError::NotFree {
                pfn: held,
                order: 0,
            },
        ),
        (
            Pfn(held.0 + 1),
            0,
            ClaimError::NotFree {
                pfn: Pfn(held.0 + 1),
                order: 0,
            },
        ),
        (
            Pfn(0),
            3,
            ClaimError::NotFree {
                pfn: Pfn(0),
                order: 3,
            },
        ),
    ];
    for (pfn, order, expected) in cases {
        assert_eq!(
            a.claim_free_block(pfn, order, MigrateType::Movable),
            Err(expected)
        );
        assert_eq!(a.free_blocks().collect::<Vec<_>>(), before);
    }
    a.check_invariants().unwrap();
    // A frame in the middle of a big free block: the block splits around it.
    a.claim_free(Pfn(21)).unwrap();
    a.check_invariants().unwrap();
    assert_eq!(
        a.claim_free(Pfn(21)),
        Err(ClaimError::NotFree {
            pfn: Pfn(21),
            order: 0
        })
    );
    let s = a.stats();
    assert_eq!(s.allocated_pages_by_class, [4, 0, 1]);
    assert_eq!(s.free_pages, 31 - 5);
    a.free(Pfn(21), 0).unwrap();
    a.free(held, 2).unwrap();
    assert_eq!(a.stats().free_pages, 31);
    a.check_invariants().unwrap();
}

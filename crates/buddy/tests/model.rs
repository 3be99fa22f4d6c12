//! Property test: the allocator against a deliberately naive model.
//!
//! The model is a per-frame table (usable? handed out?) plus a map of live allocations.
//! From it the test derives, independently of the allocator, the only correct buddy layout
//! of the free frames (greedy maximal naturally aligned blocks, see `canonical_layout`).
//! Random sequences of valid and invalid operations run over several odd-sized, oddly
//! placed ranges; after every step the allocator must agree with the model on every
//! block, every counter and the fragmentation index, pass `check_invariants`, and refused
//! operations must leave it unchanged. Finally everything is freed and the layout must be
//! exactly the one right after initialisation.
//!
//! A second property feeds `add_free_range` arbitrary ranges (inverted, empty, outside the
//! metadata, overlapping) interleaved with allocations and frees; the model predicts the
//! exact result of each call, and accepted ranges must coalesce with their neighbours.

use std::collections::BTreeMap;

use buddy::{
    AllocError, AllocatedBlock, BuddyAllocator, FrameMeta, FreeBlock, FreeError, MAX_ORDER,
    MigrateType, ORDERS, Pfn, RangeError,
};
use proptest::prelude::*;
use proptest::sample::Index;

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        order: usize,
        class: MigrateType,
    },
    /// Free a live allocation, picked by index.
    Free {
        pick: Index,
    },
    /// Free something near a live allocation: shifted frame and/or wrong order.
    FreeNear {
        pick: Index,
        shift: i64,
        order_shift: i64,
    },
    /// Free an arbitrary frame of the covered span (or just outside it).
    FreeAnywhere {
        offset: Index,
        order: usize,
    },
    /// Re-add a range around a usable frame: always overlaps managed frames.
    AddOverlapping {
        at: Index,
        before: u64,
        len: u64,
    },
}

#[derive(Clone, Debug)]
struct Scenario {
    base: u64,
    lead: u64,
    /// (reserved gap before the range, range length)
    ranges: Vec<(u64, u64)>,
    trail: u64,
    /// Add the ranges from the highest down instead of in address order.
    add_reversed: bool,
    ops: Vec<Op>,
    final_frees: Vec<Index>,
}

fn class_strategy() -> impl Strategy<Value = MigrateType> {
    prop::sample::select(MigrateType::ALL.to_vec())
}

fn order_strategy() -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => 0usize..=2,
        3 => 0usize..=MAX_ORDER,
        1 => MAX_ORDER + 1..=MAX_ORDER + 3,
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        10 => (order_strategy(), class_strategy()).prop_map(|(order, class)| Op::Alloc { order, class }),
        7 => any::<Index>().prop_map(|pick| Op::Free { pick }),
        2 => (any::<Index>(), -3i64..=3, -1i64..=1)
            .prop_map(|(pick, shift, order_shift)| Op::FreeNear { pick, shift, order_shift }),
        1 => (any::<Index>(), order_strategy()).prop_map(|(offset, order)| Op::FreeAnywhere { offset, order }),
        1 => (any::<Index>(), 0u64..4, 1u64..6)
            .prop_map(|(at, before, len)| Op::AddOverlapping { at, before, len }),
    ]
}

/// Reserved gaps between ranges; a third are empty so that adjacent ranges are common.
fn gap_strategy() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 2 => 1u64..300]
}

fn scenario_strategy() -> impl Strategy<Value = Scenario> {
    (
        0u64..5000,
        0u64..40,
        prop::collection::vec((gap_strategy(), 1u64..2600), 1..=4),
        0u64..40,
        any::<bool>(),
        prop::collection::vec(op_strategy(), 1..160),
        prop::collection::vec(any::<Index>(), 0..60),
    )
        .prop_map(
            |(base, lead, ranges, trail, add_reversed, ops, final_frees)| Scenario {
                base,
                lead,
                ranges,
                trail,
                add_reversed,
                ops,
                final_frees,
            },
        )
}

/// The naive model: one entry per covered frame.
struct Model {
    base: u64,
    usable: Vec<bool>,
    handed_out: Vec<bool>,
    live: BTreeMap<u64, (usize, MigrateType)>,
    alloc_count: u64,
    free_count: u64,
    failures: [u64; ORDERS],
}

impl Model {
    fn frames(&self) -> usize {
        self.usable.len()
    }

    fn is_free(&self, i: usize) -> bool {
        self.usable[i] && !self.handed_out[i]
    }

    /// The fully coalesced buddy layout of the model's free frames: from the lowest free
    /// frame, the largest naturally aligned (absolute frame number), entirely free block,
    /// then the next free frame after it. This is the unique layout in which no two free
    /// buddies are left apart.
    fn canonical_layout(&self) -> Vec<FreeBlock> {
        let mut layout = Vec::new();
        let mut i = 0;
        while i < self.frames() {
            if !self.is_free(i) {
                i += 1;
                continue;
            }
            let pfn = self.base + i as u64;
            let mut order = 0;
            while order < MAX_ORDER {
                let size = 1usize << (order + 1);
                let aligned = pfn.is_multiple_of(size as u64);
                if !aligned || i + size > self.frames() || !(i..i + size).all(|j| self.is_free(j)) {
                    break;
                }
                order += 1;
            }
            layout.push(FreeBlock {
                pfn: Pfn(pfn),
                order,
            });
            i += 1 << order;
        }
        layout
    }

    fn live_blocks(&self) -> Vec<AllocatedBlock> {
        self.live
            .iter()
            .map(|(&pfn, &(order, class))| AllocatedBlock {
                pfn: Pfn(pfn),
                order,
                class,
            })
            .collect()
    }

    fn pick_live(&self, pick: &Index) -> Option<(u64, usize)> {
        if self.live.is_empty() {
            return None;
        }
        let (&pfn, &(order, _)) = self.live.iter().nth(pick.index(self.live.len()))?;
        Some((pfn, order))
    }

    fn record_free(&mut self, pfn: u64, order: usize) {
        self.live.remove(&pfn);
        let i = (pfn - self.base) as usize;
        for f in &mut self.handed_out[i..i + (1 << order)] {
            *f = false;
        }
        self.free_count += 1;
    }
}

type Snapshot = (Vec<FreeBlock>, Vec<AllocatedBlock>, buddy::BuddyStats);

fn snapshot(a: &BuddyAllocator<'_>) -> Snapshot {
    (
        a.free_blocks().collect(),
        a.allocated_blocks().collect(),
        a.stats(),
    )
}

/// Everything the allocator reports must match the model.
fn check_agreement(a: &BuddyAllocator<'_>, m: &Model) -> Result<(), TestCaseError> {
    a.check_invariants()
        .map_err(|e| TestCaseError::fail(format!("invariant broken: {e}")))?;
    let layout = m.canonical_layout();
    let free_blocks: Vec<FreeBlock> = a.free_blocks().collect();
    prop_assert_eq!(&free_blocks, &layout);
    prop_assert_eq!(a.allocated_blocks().collect::<Vec<_>>(), m.live_blocks());

    let s = a.stats();
    let usable = m.usable.iter().filter(|&&u| u).count() as u64;
    let free = (0..m.frames()).filter(|&i| m.is_free(i)).count() as u64;
    prop_assert_eq!(s.total_pages, usable);
    prop_assert_eq!(s.free_pages, free);
    let mut by_order = [0u64; ORDERS];
    for b in &layout {
        by_order[b.order] += 1;
    }
    prop_assert_eq!(s.free_blocks_by_order, by_order);
    prop_assert_eq!(s.largest_free_order, layout.iter().map(|b| b.order).max());
    let mut by_class = [0u64; MigrateType::COUNT];
    for &(order, class) in m.live.values() {
        by_class[class.index()] += 1 << order;
    }
    prop_assert_eq!(s.allocated_pages_by_class, by_class);
    prop_assert_eq!(s.allocated_pages() + s.free_pages, s.total_pages);
    prop_assert_eq!(s.alloc_count, m.alloc_count);
    prop_assert_eq!(s.free_count, m.free_count);
    prop_assert_eq!(s.failures_by_order, m.failures);

    let index = s.unusable_free_space_index();
    for (j, &permille) in index.iter().enumerate() {
        let usable_at_j: u64 = layout
            .iter()
            .filter(|b| b.order >= j)
            .map(|b| 1u64 << b.order)
            .sum();
        // Nothing free means nothing usable: 1000 by definition.
        let expected = ((free - usable_at_j) * 1000)
            .checked_div(free)
            .unwrap_or(1000);
        prop_assert_eq!(
            u64::from(permille),
            expected,
            "fragmentation index for order {}",
            j
        );
    }
    Ok(())
}

/// A refused operation must leave every observable thing as it was.
fn check_unchanged(
    a: &BuddyAllocator<'_>,
    before: &Snapshot,
    what: &str,
) -> Result<(), TestCaseError> {
    let after = snapshot(a);
    prop_assert!(&after == before, "{} changed the allocator", what);
    Ok(())
}

fn do_alloc(
    a: &mut BuddyAllocator<'_>,
    m: &mut Model,
    order: usize,
    class: MigrateType,
) -> Result<(), TestCaseError> {
    let before = snapshot(a);
    match a.alloc_typed(order, class) {
        Ok(pfn) => {
            prop_assert!(order <= MAX_ORDER);
            let size = 1u64 << order;
            prop_assert_eq!(pfn.0 % size, 0, "{} not aligned to order {}", pfn, order);
            prop_assert!(pfn.0 >= m.base && pfn.0 + size <= m.base + m.frames() as u64);
            let i = (pfn.0 - m.base) as usize;
            for j in i..i + size as usize {
                prop_assert!(
                    m.usable[j],
                    "frame {} handed out but not usable",
                    m.base + j as u64
                );
                prop_assert!(
                    !m.handed_out[j],
                    "frame {} handed out twice",
                    m.base + j as u64
                );
                m.handed_out[j] = true;
            }
            m.live.insert(pfn.0, (order, class));
            m.alloc_count += 1;
        }
        Err(AllocError::InvalidOrder { order: o }) => {
            prop_assert_eq!(o, order);
            prop_assert!(order > MAX_ORDER);
            check_unchanged(a, &before, "invalid-order alloc")?;
        }
        Err(AllocError::OutOfMemory { order: o }) => {
            prop_assert_eq!(o, order);
            prop_assert!(order <= MAX_ORDER);
            // Out of memory is only allowed when no free block of that size exists anywhere.
            prop_assert!(
                m.canonical_layout().iter().all(|b| b.order < order),
                "order-{} allocation failed although a large enough free block exists",
                order
            );
            m.failures[order] += 1;
        }
    }
    Ok(())
}

/// A free the model does not recognise as a live allocation must be refused unchanged;
/// one it does recognise must succeed.
fn do_free(
    a: &mut BuddyAllocator<'_>,
    m: &mut Model,
    pfn: u64,
    order: usize,
) -> Result<(), TestCaseError> {
    let valid = m.live.get(&pfn).is_some_and(|&(o, _)| o == order);
    let before = snapshot(a);
    let result = a.free(Pfn(pfn), order);
    if valid {
        prop_assert_eq!(result, Ok(()));
        m.record_free(pfn, order);
    } else {
        prop_assert!(result.is_err(), "free({}, {}) accepted", pfn, order);
        check_unchanged(a, &before, "refused free")?;
        if let Err(FreeError::WrongOrder {
            allocated_order, ..
        }) = result
        {
            prop_assert_eq!(m.live.get(&pfn).map(|&(o, _)| o), Some(allocated_order));
        }
    }
    Ok(())
}

fn run(s: &Scenario) -> Result<(), TestCaseError> {
    // Lay out the covered span: lead gap, then (gap, range) pairs, then a trailing gap.
    let mut cursor = s.lead;
    let mut ranges = Vec::new();
    for &(gap, len) in &s.ranges {
        cursor += gap;
        ranges.push((cursor, cursor + len));
        cursor += len;
    }
    let frames = (cursor + s.trail) as usize;
    let mut meta = vec![FrameMeta::EMPTY; frames];
    let mut a = BuddyAllocator::new(&mut meta, Pfn(s.base))
        .map_err(|e| TestCaseError::fail(format!("new: {e}")))?;
    let mut m = Model {
        base: s.base,
        usable: vec![false; frames],
        handed_out: vec![false; frames],
        live: BTreeMap::new(),
        alloc_count: 0,
        free_count: 0,
        failures: [0; ORDERS],
    };
    // Adjacent ranges (gap 0) must coalesce whichever of them is added first.
    if s.add_reversed {
        ranges.reverse();
    }
    for &(start, end) in &ranges {
        prop_assert_eq!(
            a.add_free_range(Pfn(s.base + start), Pfn(s.base + end)),
            Ok(())
        );
        for u in &mut m.usable[start as usize..end as usize] {
            *u = true;
        }
    }
    check_agreement(&a, &m)?;
    let initial_layout: Vec<FreeBlock> = a.free_blocks().collect();

    for op in &s.ops {
        match op {
            Op::Alloc { order, class } => do_alloc(&mut a, &mut m, *order, *class)?,
            Op::Free { pick } => {
                if let Some((pfn, order)) = m.pick_live(pick) {
                    do_free(&mut a, &mut m, pfn, order)?;
                }
            }
            Op::FreeNear {
                pick,
                shift,
                order_shift,
            } => {
                if let Some((pfn, order)) = m.pick_live(pick) {
                    let pfn = pfn.saturating_add_signed(*shift);
                    let order = order.saturating_add_signed(*order_shift as isize);
                    do_free(&mut a, &mut m, pfn, order)?;
                }
            }
            Op::FreeAnywhere { offset, order } => {
                // Two frames either side of the covered span are included.
                let pfn = (s.base + offset.index(frames + 4) as u64).saturating_sub(2);
                do_free(&mut a, &mut m, pfn, *order)?;
            }
            Op::AddOverlapping { at, before, len } => {
                let usable: Vec<usize> = (0..frames).filter(|&i| m.usable[i]).collect();
                let i = usable[at.index(usable.len())] as u64;
                let start = (s.base + i).saturating_sub(*before);
                let end = s.base + i + len;
                let snap = snapshot(&a);
                let result = a.add_free_range(Pfn(start), Pfn(end));
                prop_assert!(
                    matches!(
                        result,
                        Err(RangeError::AlreadyManaged { .. } | RangeError::OutOfRange { .. })
                    ),
                    "overlapping add_free_range({}, {}) gave {:?}",
                    start,
                    end,
                    result
                );
                check_unchanged(&a, &snap, "refused add_free_range")?;
            }
        }
        check_agreement(&a, &m)?;
    }

    // Free everything, first in a random order, then the rest by address.
    for pick in &s.final_frees {
        if let Some((pfn, order)) = m.pick_live(pick) {
            do_free(&mut a, &mut m, pfn, order)?;
        }
    }
    while let Some((&pfn, &(order, _))) = m.live.iter().next() {
        do_free(&mut a, &mut m, pfn, order)?;
    }
    check_agreement(&a, &m)?;
    let final_layout: Vec<FreeBlock> = a.free_blocks().collect();
    prop_assert_eq!(final_layout, initial_layout);
    prop_assert_eq!(a.stats().free_pages, a.stats().total_pages);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn allocator_agrees_with_the_model(scenario in scenario_strategy()) {
        run(&scenario)?;
    }
}

/// Operations of the range scenario: memory-map regions arriving one by one, mixed with
/// allocations and frees.
#[derive(Clone, Debug)]
enum RangeOp {
    /// `add_free_range(base + start, base + start + len)`; start and len may be negative
    /// or reach past the covered span, so every error path is exercised.
    Add {
        start: i64,
        len: i64,
    },
    Alloc {
        order: usize,
        class: MigrateType,
    },
    Free {
        pick: Index,
    },
}

fn range_op_strategy(frames: i64) -> impl Strategy<Value = RangeOp> {
    prop_oneof![
        4 => (-8..frames + 8, prop_oneof![1 => -3i64..=0, 6 => 1i64..300])
            .prop_map(|(start, len)| RangeOp::Add { start, len }),
        3 => (order_strategy(), class_strategy()).prop_map(|(order, class)| RangeOp::Alloc { order, class }),
        2 => any::<Index>().prop_map(|pick| RangeOp::Free { pick }),
    ]
}

fn range_scenario_strategy() -> impl Strategy<Value = (u64, i64, Vec<RangeOp>)> {
    (8u64..3000, 1i64..2500).prop_flat_map(|(base, frames)| {
        (
            Just(base),
            Just(frames),
            prop::collection::vec(range_op_strategy(frames), 1..80),
        )
    })
}

/// What `add_free_range` must answer, from the model alone.
fn expected_add(m: &Model, start: u64, end: u64) -> Result<(), RangeError> {
    let (s, e) = (Pfn(start), Pfn(end));
    if start > end {
        return Err(RangeError::Inverted { start: s, end: e });
    }
    if start == end {
        return Ok(());
    }
    let covered_end = m.base + m.frames() as u64;
    if start < m.base || end > covered_end {
        return Err(RangeError::OutOfRange { start: s, end: e });
    }
    match (start..end).find(|&pfn| m.usable[(pfn - m.base) as usize]) {
        Some(pfn) => Err(RangeError::AlreadyManaged { pfn: Pfn(pfn) }),
        None => Ok(()),
    }
}

fn run_ranges(base: u64, frames: i64, ops: &[RangeOp]) -> Result<(), TestCaseError> {
    let frames = frames as usize;
    let mut meta = vec![FrameMeta::EMPTY; frames];
    let mut a = BuddyAllocator::new(&mut meta, Pfn(base))
        .map_err(|e| TestCaseError::fail(format!("new: {e}")))?;
    let mut m = Model {
        base,
        usable: vec![false; frames],
        handed_out: vec![false; frames],
        live: BTreeMap::new(),
        alloc_count: 0,
        free_count: 0,
        failures: [0; ORDERS],
    };
    for op in ops {
        match op {
            RangeOp::Add { start, len } => {
                let start = base.saturating_add_signed(*start);
                let end = start.saturating_add_signed(*len);
                let expected = expected_add(&m, start, end);
                let before = snapshot(&a);
                let result = a.add_free_range(Pfn(start), Pfn(end));
                prop_assert_eq!(result, expected, "add_free_range({}, {})", start, end);
                if result.is_ok() {
                    for pfn in start..end {
                        m.usable[(pfn - base) as usize] = true;
                    }
                } else {
                    check_unchanged(&a, &before, "refused add_free_range")?;
                }
            }
            RangeOp::Alloc { order, class } => do_alloc(&mut a, &mut m, *order, *class)?,
            RangeOp::Free { pick } => {
                if let Some((pfn, order)) = m.pick_live(pick) {
                    do_free(&mut a, &mut m, pfn, order)?;
                }
            }
        }
        check_agreement(&a, &m)?;
    }
    while let Some((&pfn, &(order, _))) = m.live.iter().next() {
        do_free(&mut a, &mut m, pfn, order)?;
    }
    // With nothing allocated, the layout must be the canonical one of the usable frames.
    check_agreement(&a, &m)?;
    prop_assert_eq!(a.stats().free_pages, a.stats().total_pages);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ranges_arriving_in_any_order_agree_with_the_model(
        (base, frames, ops) in range_scenario_strategy()
    ) {
        run_ranges(base, frames, &ops)?;
    }
}

/// The model's canonical layout is itself the thing every check leans on, so pin it on a
/// case worked out by hand.
#[test]
fn canonical_layout_of_the_model_is_right_on_a_known_case() {
    let base = 5;
    let mut usable = vec![false; 30];
    for u in &mut usable[..] {
        *u = true;
    }
    let mut handed_out = vec![false; 30];
    handed_out[16 - 5] = true; // frame 16 held
    let m = Model {
        base,
        usable,
        handed_out,
        live: BTreeMap::new(),
        alloc_count: 0,
        free_count: 0,
        failures: [0; ORDERS],
    };
    let got: Vec<(u64, usize)> = m
        .canonical_layout()
        .iter()
        .map(|b| (b.pfn.0, b.order))
        .collect();
    assert_eq!(
        got,
        vec![
            (5, 0),
            (6, 1),
            (8, 3),
            (17, 0),
            (18, 1),
            (20, 2),
            (24, 3),
            (32, 1),
            (34, 0)
        ]
    );
}

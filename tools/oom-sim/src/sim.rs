//! The host simulator: one evaluation run of a scenario on a simulated 256 MiB machine with a
//! virtual clock. It drives the real `buddy` allocator (over a `Vec` of frame metadata), the
//! real `buddy::compaction` planner and the real `oom` predictor, baselines, growth tracker
//! and response ladder, with the same rules as the kernel (`kernel/src/oom`):
//! - workload memory is `Movable` blocks reached through a handle table, so compaction can
//!   move them (the kernel's `MovablePool`); the cache actor holds `Reclaimable` pages;
//! - a workload allocation is refused when it would cross `oom::watermark::min_free_pages`,
//!   or fails when the allocator has no block of its order: an OOM, which kills the actor and
//!   ends the run;
//! - samples at 10 Hz (after the actors that woke at the same instant ran), each fed to the
//!   predictor, both baselines and the growth tracker;
//! - the response: none (`off`), our ladder (`on`), or a baseline's native response — kill
//!   the largest owner when the rule fires (`earlyoom`, `psi`), with a 5 s cooldown.
//!
//! Virtual time only advances between steps: allocation, free, compaction, reclaim and kill
//! cost no virtual time (their wall time is measured and reported as the action's cost).
//!
//! Neighbours: `main` (command line, tables), `oom::eval` (the line each run produces).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use anyhow::{Context, Result, anyhow};
use buddy::compaction::{self, Move};
use buddy::{BuddyAllocator, FrameMeta, MigrateType, ORDERS, Pfn};
use oom::eval::{EvalRecord, LadderMode};
use oom::ladder::{ActionReport, LadderInput};
use oom::{
    Action, CrashPredictor, EarlyOom, GrowthTracker, OwnerId, PredictorConfig, Psi, ResponseLadder,
    Role, Sample, Scenario, ScenarioKind, Step, watermark,
};

/// Frames of the simulated machine: 256 MiB, like the QEMU guest.
pub const MACHINE_PAGES: u64 = 65_536;
/// Sampling period.
const SAMPLE_MS: u64 = 100;
/// Largest number of steps one actor may take at one instant before it is forced to wait.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;
/// The watched order follows requests seen within this long.
const WATCH_MS: u64 = 10_000;
/// Cooldown between two kills of a baseline's native response.
const BASELINE_KILL_COOLDOWN_MS: u64 = 5_000;
/// Compaction targets per ladder action.
const COMPACT_TARGETS: usize = 256;

/// What a run measured beyond its `eval` line.
#[derive(Clone, Debug, Default)]
pub struct RunDetail {
    /// Ladder actions taken: (compactions, reclaims, kills).
    pub actions: (u32, u32, u32),
    /// Pages moved by compaction.
    pub pages_moved: u64,
    /// Free pages when the OOM happened (fragmentation OOMs happen with many free).
    pub free_at_oom: Option<u64>,
    /// Pages workloads could use when the run started.
    pub budget: u64,
}

/// Options of one run.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// The predictor's configuration.
    pub predictor: PredictorConfig,
    /// Response mode.
    pub mode: LadderMode,
}

struct Handle {
    pfn: Pfn,
    order: u8,
}

struct Actor {
    script: oom::scenario::ActorScript,
    role: Role,
    owner: OwnerId,
    /// Handle ids, oldest first.
    blocks: VecDeque<usize>,
    held: u64,
    alive: bool,
    wake_ms: u64,
}

/// The machine: allocator, handle table, actors.
struct Machine<'m> {
    buddy: BuddyAllocator<'m>,
    handles: Vec<Option<Handle>>,
    free_handles: Vec<usize>,
    by_pfn: HashMap<u64, usize>,
    actors: Vec<Actor>,
    failures: u64,
    last_request: [Option<u64>; ORDERS],
}

/// Result of running one actor's steps.
enum Ran {
    Slept,
    Oom { order: u8 },
}

impl Machine<'_> {
    fn free_handle(&mut self, id: usize) -> Result<u64> {
        let handle = self
            .handles
            .get_mut(id)
            .and_then(Option::take)
            .ok_or_else(|| anyhow!("stale handle {id}"))?;
        self.by_pfn.remove(&handle.pfn.0);
        self.buddy
            .free(handle.pfn, usize::from(handle.order))
            .map_err(|e| anyhow!("free {:?}: {e:?}", handle.pfn))?;
        self.free_handles.push(id);
        Ok(1 << handle.order)
    }

    fn new_handle(&mut self, pfn: Pfn, order: u8) -> usize {
        let handle = Handle { pfn, order };
        let id = match self.free_handles.pop() {
            Some(id) => {
                self.handles[id] = Some(handle);
                id
            }
            None => {
                self.handles.push(Some(handle));
                self.handles.len() - 1
            }
        };
        self.by_pfn.insert(pfn.0, id);
        id
    }

    /// Frees everything actor `a` holds and marks it dead.
    fn kill(&mut self, a: usize) -> Result<u64> {
        let blocks: Vec<usize> = self.actors[a].blocks.drain(..).collect();
        let mut freed = 0;
        for id in blocks {
            freed += self.free_handle(id)?;
        }
        let actor = &mut self.actors[a];
        actor.held = 0;
        actor.alive = false;
        Ok(freed)
    }

    /// Frees up to `pages` of actor `a`'s blocks, oldest first.
    fn shrink(&mut self, a: usize, pages: u64) -> Result<u64> {
        let mut freed = 0;
        while freed < pages {
            let Some(id) = self.actors[a].blocks.pop_front() else {
                break;
            };
            let got = self.free_handle(id)?;
            self.actors[a].held -= got;
            freed += got;
        }
        Ok(freed)
    }

    /// Runs actor `a` at `now` until it sleeps, exits or hits an OOM.
    fn run_actor(&mut self, a: usize, now: u64) -> Result<Ran> {
        let total = self.buddy.stats().total_pages;
        for _ in 0..MAX_STEPS_PER_INSTANT {
            let held = self.actors[a].held;
            let step = self.actors[a].script.next(now, held);
            match step {
                Step::Alloc {
                    order,
                    count,
                    class,
                } => {
                    let o = usize::from(order).min(ORDERS - 1);
                    if self.actors[a].role != Role::Cache {
                        self.last_request[o] = Some(now);
                    }
                    for _ in 0..count {
                        let free = self.buddy.stats().free_pages;
                        let got = if watermark::refuses(total, free, 1 << o) {
                            None
                        } else {
                            self.buddy.alloc_typed(o, class).ok()
                        };
                        match got {
                            Some(pfn) => {
                                let id = self.new_handle(pfn, o as u8);
                                let actor = &mut self.actors[a];
                                actor.blocks.push_back(id);
                                actor.held += 1 << o;
                            }
                            // A cache that cannot grow stays smaller; it is not killed.
                            None if self.actors[a].role == Role::Cache => break,
                            None => {
                                self.failures += 1;
                                return Ok(Ran::Oom { order: o as u8 });
                            }
                        }
                    }
                }
                Step::Free { count, pattern } => {
                    let blocks = std::mem::take(&mut self.actors[a].blocks);
                    let (freeing, keep) = select(blocks, count as usize, pattern);
                    self.actors[a].blocks = keep;
                    for id in freeing {
                        let got = self.free_handle(id)?;
                        self.actors[a].held -= got;
                    }
                }
                Step::Sleep { ms } => {
                    self.actors[a].wake_ms = now + ms.max(1);
                    return Ok(Ran::Slept);
                }
                Step::Exit => {
                    self.kill(a)?;
                    return Ok(Ran::Slept);
                }
            }
        }
        // A script that never sleeps is paused for a millisecond rather than spinning.
        self.actors[a].wake_ms = now + 1;
        Ok(Ran::Slept)
    }

    /// The largest order workloads asked for within the watch window.
    fn watched_order(&self, now: u64) -> usize {
        (0..ORDERS)
            .rev()
            .find(|&o| self.last_request[o].is_some_and(|t| now.saturating_sub(t) <= WATCH_MS))
            .unwrap_or(0)
    }

    fn reclaimable(&self) -> u64 {
        self.buddy.stats().allocated_pages_by_class[MigrateType::Reclaimable.index()]
    }

    /// Compacts toward free blocks of `order`: plans with `buddy::compaction`, then moves each
    /// block to its destination and repoints its handle. Returns (pages moved, blocks gained).
    fn compact(&mut self, order: usize, moves: &mut [Move]) -> Result<(u64, u64)> {
        let before = self.buddy.stats().free_blocks_at_least(order);
        let plan = compaction::plan(&self.buddy, order, COMPACT_TARGETS, moves)
            .map_err(|e| anyhow!("plan: {e}"))?;
        let mut moved = 0;
        for m in &moves[..plan.moves] {
            let Some(&id) = self.by_pfn.get(&m.from.0) else {
                return Err(anyhow!("compaction moved an unknown block {:?}", m.from));
            };
            self.buddy
                .claim_free_block(m.to, m.order, MigrateType::Movable)
                .map_err(|e| anyhow!("claim {:?}: {e:?}", m.to))?;
            // (The kernel copies the page contents here.)
            self.buddy
                .free(m.from, m.order)
                .map_err(|e| anyhow!("free {:?}: {e:?}", m.from))?;
            self.by_pfn.remove(&m.from.0);
            self.by_pfn.insert(m.to.0, id);
            if let Some(h) = self.handles[id].as_mut() {
                h.pfn = m.to;
            }
            moved += 1u64 << m.order;
        }
        let after = self.buddy.stats().free_blocks_at_least(order);
        Ok((moved, after.saturating_sub(before)))
    }
}

/// Splits `blocks` into (to free, to keep) per the pattern.
fn select(
    mut blocks: VecDeque<usize>,
    count: usize,
    pattern: oom::FreePattern,
) -> (Vec<usize>, VecDeque<usize>) {
    let count = count.min(blocks.len());
    match pattern {
        oom::FreePattern::Oldest => (blocks.drain(..count).collect(), blocks),
        oom::FreePattern::Newest => {
            let at = blocks.len() - count;
            let freeing = blocks.split_off(at).into_iter().collect();
            (freeing, blocks)
        }
        oom::FreePattern::Alternate => {
            let mut freeing = Vec::with_capacity(count);
            let mut keep = VecDeque::with_capacity(blocks.len() - count);
            for (i, id) in blocks.into_iter().enumerate() {
                if i % 2 == 0 && freeing.len() < count {
                    freeing.push(id);
                } else {
                    keep.push_back(id);
                }
            }
            (freeing, keep)
        }
    }
}

/// Takes the kernel's share of the machine before any run: unmovable blocks of mixed small
/// orders spread over memory (a fixed pattern, the same for every run).
fn reserve_kernel(buddy: &mut BuddyAllocator<'_>) -> Result<()> {
    let mut x: u64 = 0x1234_5678;
    let mut transient = Vec::new();
    for i in 0..1200u32 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let order = ((x >> 60) % 3) as usize;
        buddy
            .alloc_typed(order, MigrateType::Unmovable)
            .map_err(|e| anyhow!("kernel reservation: {e:?}"))?;
        // Interleave short-lived allocations so the kept ones do not sit in one run.
        if i % 2 == 0 {
            let pfn = buddy
                .alloc_typed(order, MigrateType::Unmovable)
                .map_err(|e| anyhow!("kernel reservation: {e:?}"))?;
            transient.push((pfn, order));
        }
    }
    for (pfn, order) in transient {
        buddy
            .free(pfn, order)
            .map_err(|e| anyhow!("kernel reservation: {e:?}"))?;
    }
    Ok(())
}

/// Runs scenario `kind`/`seed` once; `run` is the index printed in the line.
pub fn run(
    run: u32,
    kind: ScenarioKind,
    seed: u64,
    options: RunOptions,
) -> Result<(EvalRecord, RunDetail)> {
    let mut meta = vec![FrameMeta::EMPTY; MACHINE_PAGES as usize];
    let mut buddy = BuddyAllocator::new(&mut meta, Pfn(0)).map_err(|e| anyhow!("{e:?}"))?;
    buddy
        .add_free_range(Pfn(0), Pfn(MACHINE_PAGES))
        .map_err(|e| anyhow!("{e:?}"))?;
    reserve_kernel(&mut buddy)?;
    let budget = buddy.stats().free_pages;
    let scenario = Scenario::new(kind, seed, budget);
    let duration = scenario.duration_ms;
    let actors = scenario
        .actors
        .into_iter()
        .enumerate()
        .map(|(i, script)| Actor {
            role: script.role(),
            script,
            owner: OwnerId(i as u32),
            blocks: VecDeque::new(),
            held: 0,
            alive: true,
            wake_ms: 0,
        })
        .collect();
    let mut m = Machine {
        buddy,
        handles: Vec::new(),
        free_handles: Vec::new(),
        by_pfn: HashMap::new(),
        actors,
        failures: 0,
        last_request: [None; ORDERS],
    };
    let mut predictor =
        CrashPredictor::new(options.predictor).map_err(|e| anyhow!("predictor: {e}"))?;
    let mut earlyoom = EarlyOom::new();
    let mut psi = Psi::new();
    let mut growth = GrowthTracker::new();
    let mut ladder = ResponseLadder::default();
    let mut moves = vec![Move::EMPTY; COMPACT_TARGETS << buddy::MAX_ORDER.min(5)];
    let mut detail = RunDetail {
        budget,
        ..RunDetail::default()
    };
    let mut record = EvalRecord {
        run,
        scenario: kind,
        seed,
        ladder: options.mode,
        oom_ms: None,
        pred_ms: None,
        earlyoom_ms: None,
        psi_ms: None,
        killed: None,
        right: None,
        largest: None,
    };
    let mut last_baseline_kill: Option<u64> = None;
    let mut next_sample = 0u64;
    let mut now = 0u64;
    'run: loop {
        // Actors due now, in start order.
        for a in 0..m.actors.len() {
            if !m.actors[a].alive || m.actors[a].wake_ms > now {
                continue;
            }
            if let Ran::Oom { order } = m.run_actor(a, now)? {
                predictor.on_failure(now, usize::from(order));
                predictor.record_oom(now);
                record.oom_ms = Some(now);
                detail.free_at_oom = Some(m.buddy.stats().free_pages);
                if record.largest.is_none() {
                    record.largest = growth
                        .largest()
                        .and_then(|(o, _)| m.actors.get(o.0 as usize))
                        .map(|a| a.role);
                }
                m.kill(a)?;
                break 'run;
            }
        }
        if now >= next_sample {
            next_sample += SAMPLE_MS;
            let stats = m.buddy.stats();
            let sample = Sample::from_stats(
                now,
                &stats,
                m.reclaimable(),
                m.watched_order(now),
                m.failures,
            );
            for actor in m.actors.iter().filter(|a| a.alive) {
                growth
                    .record(now, actor.owner, actor.held, actor.role.killable())
                    .map_err(|e| anyhow!("{e}"))?;
            }
            let assessment = predictor.observe(&sample);
            let early_fires = earlyoom.observe(&sample);
            let psi_fires = psi.observe(&sample);
            if assessment.new_prediction && record.pred_ms.is_none() {
                record.pred_ms = Some(now);
            }
            record.earlyoom_ms = earlyoom.first_fire_ms();
            record.psi_ms = psi.first_fire_ms();
            let any_fired =
                record.pred_ms.is_some() || record.earlyoom_ms.is_some() || record.psi_ms.is_some();
            if any_fired && record.largest.is_none() {
                record.largest = growth
                    .largest()
                    .and_then(|(o, _)| m.actors.get(o.0 as usize))
                    .map(|a| a.role);
            }
            let baseline_fires = match options.mode {
                LadderMode::EarlyOom => early_fires,
                LadderMode::Psi => psi_fires,
                _ => false,
            };
            if baseline_fires
                && last_baseline_kill
                    .is_none_or(|t| now.saturating_sub(t) >= BASELINE_KILL_COOLDOWN_MS)
                && let Some((owner, _)) = growth.largest()
            {
                last_baseline_kill = Some(now);
                kill(&mut m, &mut growth, &mut record, &mut detail, owner)?;
            }
            if options.mode == LadderMode::On {
                let input = LadderInput {
                    free_head_pages: stats
                        .free_pages
                        .saturating_sub(watermark::min_free_pages(stats.total_pages)),
                    reclaimable_pages: sample.reclaimable_pages,
                    fastest: growth.fastest(),
                    total_growth_per_s: growth.total_growth_per_s(),
                };
                if let Some(action) = ladder.decide(&assessment, &input) {
                    let started = Instant::now();
                    let mut report = ActionReport {
                        t_ms: now,
                        action,
                        pages_moved: 0,
                        pages_freed: 0,
                        blocks_gained: 0,
                        elapsed_us: 0,
                    };
                    match action {
                        Action::Compact { order } => {
                            let (moved, gained) = m.compact(usize::from(order), &mut moves)?;
                            report.pages_moved = moved;
                            report.blocks_gained = gained;
                            detail.actions.0 += 1;
                            detail.pages_moved += moved;
                        }
                        Action::Reclaim { pages } => {
                            let mut freed = 0;
                            for a in 0..m.actors.len() {
                                if m.actors[a].alive && m.actors[a].role == Role::Cache {
                                    freed += m.shrink(a, pages.saturating_sub(freed))?;
                                }
                            }
                            report.pages_freed = freed;
                            detail.actions.1 += 1;
                        }
                        Action::Kill { owner } => {
                            report.pages_freed =
                                kill(&mut m, &mut growth, &mut record, &mut detail, owner)?;
                        }
                    }
                    report.elapsed_us = started.elapsed().as_micros() as u64;
                    ladder.report(report);
                    predictor.note_action(now);
                }
            }
        }
        let next_wake = m
            .actors
            .iter()
            .filter(|a| a.alive)
            .map(|a| a.wake_ms)
            .min()
            .unwrap_or(u64::MAX);
        now = next_wake.min(next_sample);
        if now > duration {
            break;
        }
    }
    Ok((record, detail))
}

/// Kills `owner` as a response (not an OOM); records the first victim.
fn kill(
    m: &mut Machine<'_>,
    growth: &mut GrowthTracker,
    record: &mut EvalRecord,
    detail: &mut RunDetail,
    owner: OwnerId,
) -> Result<u64> {
    let a = owner.0 as usize;
    let role = m
        .actors
        .get(a)
        .map(|a| a.role)
        .context("kill of an unknown owner")?;
    let freed = m.kill(a)?;
    growth.remove(owner);
    detail.actions.2 += 1;
    if record.killed.is_none() {
        record.killed = Some(role);
        record.right = Some(role.is_culprit());
    }
    Ok(freed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(mode: LadderMode) -> RunOptions {
        RunOptions {
            predictor: PredictorConfig::default(),
            mode,
        }
    }

    #[test]
    fn select_patterns() {
        let blocks: VecDeque<usize> = (0..7).collect();
        let (f, k) = select(blocks.clone(), 2, oom::FreePattern::Oldest);
        assert_eq!(
            (f, k.into_iter().collect::<Vec<_>>()),
            (vec![0, 1], vec![2, 3, 4, 5, 6])
        );
        let (f, _) = select(blocks.clone(), 2, oom::FreePattern::Newest);
        assert_eq!(f, vec![5, 6]);
        let (f, k) = select(blocks.clone(), 3, oom::FreePattern::Alternate);
        assert_eq!(
            (f, k.into_iter().collect::<Vec<_>>()),
            (vec![0, 2, 4], vec![1, 3, 5, 6])
        );
        let (f, k) = select(blocks, 99, oom::FreePattern::Alternate);
        assert_eq!(f.len() + k.len(), 7);
    }

    #[test]
    fn oom_bound_scenarios_oom_with_the_ladder_off() {
        for kind in ScenarioKind::OOM_BOUND {
            let (r, d) = run(0, kind, 5, options(LadderMode::Off)).unwrap();
            let oom = r.oom_ms.unwrap_or_else(|| panic!("{kind} did not OOM"));
            assert!((10_000..=90_000).contains(&oom), "{kind}: {oom}");
            assert_eq!(r.killed, None);
            if kind == ScenarioKind::Fragment {
                // High-order failure with plenty of memory free.
                assert!(d.free_at_oom.unwrap() * 100 >= d.budget * 25, "{d:?}");
            }
        }
    }

    #[test]
    fn benign_does_not_oom() {
        for seed in 0..3 {
            let (r, _) = run(0, ScenarioKind::Benign, seed, options(LadderMode::Off)).unwrap();
            assert_eq!(r.oom_ms, None);
        }
    }

    #[test]
    fn ladder_on_averts_a_leak_by_killing_the_culprit() {
        let (r, d) = run(0, ScenarioKind::Leak, 5, options(LadderMode::On)).unwrap();
        assert_eq!(r.oom_ms, None, "{d:?}");
        assert_eq!(r.killed, Some(Role::Culprit));
        assert_eq!(r.right, Some(true));
    }

    #[test]
    fn ladder_on_averts_fragmentation_by_compaction() {
        let (r, d) = run(0, ScenarioKind::Fragment, 5, options(LadderMode::On)).unwrap();
        assert_eq!(r.oom_ms, None, "{d:?}");
        assert!(d.actions.0 > 0 && d.pages_moved > 0, "{d:?}");
    }

    #[test]
    fn runs_are_deterministic() {
        let a = run(0, ScenarioKind::Bursty, 9, options(LadderMode::Off))
            .unwrap()
            .0;
        let b = run(0, ScenarioKind::Bursty, 9, options(LadderMode::Off))
            .unwrap()
            .0;
        assert_eq!(a, b);
    }
}

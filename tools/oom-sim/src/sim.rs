//! The host simulator: one evaluation run of a scenario on a simulated 256 MiB machine with a
//! virtual clock. It drives the real `buddy` allocator (over a `Vec` of frame metadata), the
//! real `buddy::compaction` planner and the `oom` crate's [`Supervisor`] — the same
//! supervision loop (predictor, baselines, growth tracker, response ladder, run bookkeeping)
//! the kernel's sampler drives — with the same rules as the kernel (`kernel/src/oom`):
//! - workload memory is `Movable` blocks reached through a handle table, so compaction can
//!   move them (the kernel's `MovablePool`); the cache actor holds `Reclaimable` pages; a
//!   `Free` step releases the blocks `oom::FreePattern::positions` names, as the pool does;
//! - a workload allocation is refused when it would cross `oom::watermark::min_free_pages`,
//!   or fails when the allocator has no block of its order: an OOM, which kills the actor and
//!   ends the run;
//! - samples at 10 Hz (after the actors that woke at the same instant ran), each observed by
//!   the supervisor with every live actor's holding;
//! - the response mode is the supervisor's: none (`off`), our ladder (`on`), or a baseline's
//!   native response (`earlyoom`, `psi`: kill the largest owner, with a 5 s cooldown). The
//!   simulator only performs what the supervisor decides, on its own machine, and reports the
//!   measured effect.
//!
//! Virtual time only advances between steps: allocation, free, compaction, reclaim and kill
//! cost no virtual time (their wall time is measured and reported as the action's cost).
//!
//! Neighbours: `main` (command line, tables), `oom::supervisor` (the loop), `oom::eval` (the
//! line each run produces).

use std::collections::{HashMap, VecDeque};
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};
use buddy::compaction::{self, Move};
use buddy::{BuddyAllocator, FrameMeta, MigrateType, ORDERS, Pfn};
use oom::eval::{EvalRecord, LadderMode};
use oom::ladder::ActionReport;
use oom::{
    Action, FreePattern, Holding, OomKill, OwnerId, PredictorConfig, Role, Sample, Scenario,
    ScenarioKind, Step, Supervisor, SupervisorConfig, watermark,
};

/// Frames of the simulated machine: 256 MiB, like the QEMU guest.
pub const MACHINE_PAGES: u64 = 65_536;
/// Sampling period.
const SAMPLE_MS: u64 = 100;
/// Largest number of steps one actor may take at one instant before it is forced to wait.
const MAX_STEPS_PER_INSTANT: u32 = 100_000;
/// The watched order follows requests seen within this long.
const WATCH_MS: u64 = 10_000;
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
    /// Kills of owners that were not culprits (benign threads killed).
    pub bystander_kills: u32,
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
    /// Its script ended (it freed everything).
    Exited,
    /// Its request of `order` was refused by the watermark (`watermark`) or found no block.
    Oom {
        order: u8,
        watermark: bool,
    },
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
                        let refused = watermark::refuses(total, free, 1 << o);
                        let got = if refused {
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
                                return Ok(Ran::Oom {
                                    order: o as u8,
                                    watermark: refused,
                                });
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
                    return Ok(Ran::Exited);
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

/// Splits `blocks` (oldest first) into (to free, in freeing order; to keep) by the shared
/// rule, [`FreePattern::positions`].
fn select(
    mut blocks: VecDeque<usize>,
    count: usize,
    pattern: FreePattern,
) -> (Vec<usize>, VecDeque<usize>) {
    let positions = pattern.positions(blocks.len(), count);
    if let Some(run) = positions.as_range() {
        // Oldest, Newest: one contiguous run, taken without walking the rest.
        return (blocks.drain(run).collect(), blocks);
    }
    let mut positions = positions.peekable();
    let mut freeing = Vec::with_capacity(positions.len());
    let mut keep = VecDeque::with_capacity(blocks.len() - positions.len());
    for (i, id) in blocks.into_iter().enumerate() {
        if positions.next_if_eq(&i).is_some() {
            freeing.push(id);
        } else {
            keep.push_back(id);
        }
    }
    (freeing, keep)
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
    // OOM_SIM_TRACE=1 prints every sample's assessment and every action (for tuning).
    let trace = std::env::var_os("OOM_SIM_TRACE").is_some_and(|v| v == "1");
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
    let mut supervisor = Supervisor::new(SupervisorConfig {
        predictor: options.predictor,
        mode: options.mode,
        ..SupervisorConfig::default()
    })
    .map_err(|e| anyhow!("predictor: {e}"))?;
    supervisor.start_run(0);
    let mut moves = vec![Move::EMPTY; COMPACT_TARGETS << buddy::MAX_ORDER.min(5)];
    let mut detail = RunDetail {
        budget,
        ..RunDetail::default()
    };
    let mut holdings = Vec::with_capacity(m.actors.len());
    let mut next_sample = 0u64;
    let mut now = 0u64;
    'run: loop {
        // Actors due now, in start order.
        for a in 0..m.actors.len() {
            if !m.actors[a].alive || m.actors[a].wake_ms > now {
                continue;
            }
            match m.run_actor(a, now)? {
                Ran::Slept => {}
                // As the kernel's actor threads do when they end.
                Ran::Exited => supervisor.forget_owner(m.actors[a].owner),
                Ran::Oom { order, watermark } => {
                    detail.free_at_oom = Some(m.buddy.stats().free_pages);
                    let (owner, role) = (m.actors[a].owner, m.actors[a].role);
                    let pages_freed = m.kill(a)?;
                    supervisor.on_failure(now, usize::from(order));
                    supervisor.record_oom(OomKill {
                        t_ms: now,
                        owner,
                        role,
                        order,
                        watermark,
                        pages_freed,
                    });
                    break 'run;
                }
            }
        }
        if now >= next_sample {
            next_sample += SAMPLE_MS;
            let sample = Sample::from_stats(
                now,
                &m.buddy.stats(),
                m.reclaimable(),
                m.watched_order(now),
                m.failures,
            );
            holdings.clear();
            holdings.extend(m.actors.iter().filter(|a| a.alive).map(|a| Holding {
                owner: a.owner,
                role: a.role,
                pages: a.held,
            }));
            let observation = supervisor.observe(&sample, &holdings);
            if trace {
                let a = &observation.assessment;
                println!(
                    "trace t={now} free={} avail={} risk={:.2} trend={:.2} floor={:.2} decline={:.2} tte={:?} floor_tte={:?} predicts={} withdrawn={} held={:?}",
                    sample.free_pages,
                    sample.free_pages + sample.reclaimable_pages,
                    a.risk,
                    a.factors.trend,
                    a.factors.floor,
                    a.factors.decline,
                    a.tte_ms,
                    a.floor_tte_ms,
                    a.predicts_crash,
                    a.withdrawn,
                    holdings.iter().map(|h| h.pages).collect::<Vec<_>>()
                );
            }
            if observation.untracked_owners > 0 {
                bail!(
                    "growth tracker full: {} owners untracked",
                    observation.untracked_owners
                );
            }
            if let Some(action) = supervisor.decide() {
                let (report, victim) = perform(&mut m, &mut detail, &mut moves, now, action)?;
                if trace {
                    println!(
                        "trace t={now} action {action:?} victim {victim:?} basis {:?}",
                        supervisor.ladder().last_basis()
                    );
                }
                supervisor.report(report, victim);
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
    let record = supervisor.run().eval_record(run, kind, seed, options.mode);
    Ok((record, detail))
}

/// Performs a decided action on the machine and measures it; returns the report and, for a
/// kill, the victim's role.
fn perform(
    m: &mut Machine<'_>,
    detail: &mut RunDetail,
    moves: &mut [Move],
    now: u64,
    action: Action,
) -> Result<(ActionReport, Option<Role>)> {
    let started = Instant::now();
    let mut report = ActionReport::new(now, action);
    let mut victim = None;
    match action {
        Action::Compact { order } => {
            let (moved, gained) = m.compact(usize::from(order), moves)?;
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
            let a = owner.0 as usize;
            let role = m
                .actors
                .get(a)
                .map(|a| a.role)
                .context("kill of an unknown owner")?;
            report.pages_freed = m.kill(a)?;
            detail.actions.2 += 1;
            detail.bystander_kills += u32::from(!role.is_culprit());
            victim = Some(role);
        }
    }
    report.elapsed_us = started.elapsed().as_micros() as u64;
    Ok((report, victim))
}

#[cfg(test)]
mod tests {
    use super::*;
    use oom::eval::EvalRecord;

    fn options(mode: LadderMode) -> RunOptions {
        RunOptions {
            predictor: PredictorConfig::default(),
            mode,
        }
    }

    #[test]
    fn select_patterns() {
        let blocks: VecDeque<usize> = (0..7).collect();
        let (f, k) = select(blocks.clone(), 2, FreePattern::Oldest);
        assert_eq!(
            (f, k.into_iter().collect::<Vec<_>>()),
            (vec![0, 1], vec![2, 3, 4, 5, 6])
        );
        let (f, _) = select(blocks.clone(), 2, FreePattern::Newest);
        assert_eq!(f, vec![5, 6]);
        let (f, k) = select(blocks.clone(), 3, FreePattern::Alternate);
        assert_eq!(
            (f, k.into_iter().collect::<Vec<_>>()),
            (vec![0, 2, 4], vec![1, 3, 5, 6])
        );
        let (f, k) = select(blocks.clone(), 99, FreePattern::Alternate);
        assert_eq!(f.len() + k.len(), 7);
        // Every pattern frees exactly the shared rule's positions, in its order.
        for pattern in [
            FreePattern::Oldest,
            FreePattern::Newest,
            FreePattern::Alternate,
        ] {
            for count in 0..9 {
                let (f, k) = select(blocks.clone(), count, pattern);
                let expected: Vec<usize> = pattern.positions(blocks.len(), count).collect();
                assert_eq!(f, expected, "{pattern:?} {count}");
                assert!(k.iter().all(|id| !expected.contains(id)));
                assert_eq!(f.len() + k.len(), blocks.len());
            }
        }
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

    /// Every family's OOM-bound kind ends in an OOM with nothing intervening and its benign
    /// twin never does (seeds 1..=3: the evaluation's own seeds start there too).
    #[test]
    fn families_oom_and_their_twins_do_not() {
        for family in oom::scenario::FAMILIES {
            if family.split == oom::scenario::Split::Builtin {
                continue;
            }
            for seed in 1..=3 {
                let (r, _) = run(0, family.oom, seed, options(LadderMode::Off)).unwrap();
                assert!(
                    r.oom_ms.is_some(),
                    "{} seed {seed} did not OOM",
                    family.name
                );
                let (r, _) = run(0, family.benign, seed, options(LadderMode::Off)).unwrap();
                assert_eq!(r.oom_ms, None, "{} seed {seed}", family.benign);
            }
        }
    }

    fn family_run(kind: ScenarioKind, seed: u64, mode: LadderMode) -> EvalRecord {
        run(0, kind, seed, options(mode)).unwrap().0
    }

    fn extra(r: &EvalRecord) -> oom::eval::RunExtra {
        r.extra.expect("the simulator writes the extra fields")
    }

    /// Lead of the predictor's hit and of earlyoom's first firing (ladder off).
    fn leads(r: &EvalRecord) -> (Option<u64>, Option<u64>) {
        let oom = r.oom_ms.expect("an OOM");
        (
            extra(r).hit_ms.map(|h| oom - h),
            r.earlyoom_ms.filter(|&e| e <= oom).map(|e| oom - e),
        )
    }

    // Issue 13, one test per failure it lists (each failed with the issue-3 predictor).

    #[test]
    fn a_leak_under_a_saw_tooth_is_predicted_from_its_floor() {
        for seed in 1..=3 {
            let r = family_run(ScenarioKind::Sawtooth, seed, LadderMode::Off);
            let (lead, _) = leads(&r);
            assert!(lead.is_some_and(|l| l >= 5_000), "seed {seed}: {r}");
        }
    }

    #[test]
    fn a_benign_burst_that_stops_above_the_watermark_kills_nothing() {
        for seed in 1..=3 {
            let off = family_run(ScenarioKind::SpikeOk, seed, LadderMode::Off);
            assert_eq!(
                extra(&off).alarms,
                extra(&off).withdrawn,
                "seed {seed}: {off}"
            );
            let on = family_run(ScenarioKind::SpikeOk, seed, LadderMode::On);
            assert_eq!(extra(&on).kills, 0, "seed {seed}: {on}");
            // In the OOM-bound twin the burst's thread is not the one killed either.
            let on = family_run(ScenarioKind::Spike, seed, LadderMode::On);
            assert_eq!(extra(&on).bystander_kills, 0, "seed {seed}: {on}");
        }
    }

    /// Third pass: the one benign kill left in the evaluation (spike-ok, test seed 5). The
    /// burst grew for 4.1 s and stopped; 1.9 s later its 10 s slope was still 2 750 pages/s,
    /// it counted as sustained (up on 2 s ago, up 6 s ago on 9.5 s ago) and was killed,
    /// stopping nothing. A kill now needs the owner to be growing over the last second.
    #[test]
    fn a_burst_that_stopped_two_seconds_ago_is_not_killed() {
        let on = family_run(ScenarioKind::SpikeOk, 5, LadderMode::On);
        assert_eq!(extra(&on).kills, 0, "{on}");
        // The OOM-bound twin's leak is still averted by killing the leaking thread.
        let on = family_run(ScenarioKind::Spike, 5, LadderMode::On);
        assert!(
            on.oom_ms.is_none() && on.right == Some(true) && extra(&on).bystander_kills == 0,
            "{on}"
        );
    }

    #[test]
    fn a_leak_under_a_shrinking_cache_is_seen_no_later_than_earlyoom() {
        for seed in 1..=3 {
            let r = family_run(ScenarioKind::CacheLeak, seed, LadderMode::Off);
            let (ours, earlyoom) = leads(&r);
            assert!(
                ours.unwrap_or(0) >= earlyoom.unwrap_or(0),
                "seed {seed}: {r}"
            );
        }
    }

    #[test]
    fn a_slow_leak_is_warned_of_long_before_and_earlier_than_the_baselines() {
        for seed in 1..=3 {
            let r = family_run(ScenarioKind::SlowLeak, seed, LadderMode::Off);
            let (ours, earlyoom) = leads(&r);
            let psi = r.psi_ms.map(|p| r.oom_ms.unwrap() - p);
            let ours = ours.unwrap_or(0);
            assert!(ours >= 60_000, "seed {seed}: {r}");
            assert!(
                ours >= earlyoom.unwrap_or(0) && ours >= psi.unwrap_or(0),
                "seed {seed}: {r}"
            );
        }
    }

    #[test]
    fn many_small_growers_are_not_killed_one_after_another() {
        for seed in 1..=3 {
            let r = family_run(ScenarioKind::ManyGrow, seed, LadderMode::On);
            assert!(extra(&r).kills <= 1, "seed {seed}: {r}");
            let r = family_run(ScenarioKind::ManyGrowOk, seed, LadderMode::On);
            assert_eq!(extra(&r).kills, 0, "seed {seed}: {r}");
        }
    }

    #[test]
    fn an_alarm_is_withdrawn_when_the_growth_stops() {
        for seed in 1..=3 {
            let r = family_run(ScenarioKind::SlowLeakOk, seed, LadderMode::Off);
            let x = extra(&r);
            assert!(x.alarms >= 1 && x.withdrawn == x.alarms, "seed {seed}: {r}");
            assert_eq!(x.hit_ms, None);
        }
    }

    // Issue 13, second pass: the first held-out families' failures (diagnosed and tuned on
    // the training seeds from 1 000 000, which these use).

    #[test]
    fn a_stopped_leak_under_a_fast_churn_is_withdrawn() {
        for seed in 1_000_000..=1_000_002 {
            let r = family_run(ScenarioKind::ChurnOk, seed, LadderMode::Off);
            let x = extra(&r);
            assert!(x.alarms >= 1 && x.withdrawn == x.alarms, "seed {seed}: {r}");
            // The churn's leak itself, going on, keeps its alarm to the OOM.
            let r = family_run(ScenarioKind::Churn, seed, LadderMode::Off);
            assert!(extra(&r).hit_ms.is_some(), "seed {seed}: {r}");
        }
    }

    #[test]
    fn an_accelerating_grower_that_stops_short_is_not_killed() {
        // The seeds on which the ladder killed it when it killed at 10 s from exhaustion.
        for seed in [1_000_002, 1_000_010, 1_000_028] {
            let r = family_run(ScenarioKind::AccelOk, seed, LadderMode::On);
            assert_eq!(extra(&r).kills, 0, "seed {seed}: {r}");
            // The OOM-bound twin is still averted by killing the grower.
            let r = family_run(ScenarioKind::Accel, seed, LadderMode::On);
            assert!(
                r.oom_ms.is_none() && r.right == Some(true),
                "seed {seed}: {r}"
            );
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

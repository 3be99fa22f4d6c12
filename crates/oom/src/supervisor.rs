//! The supervision loop, once: [`Supervisor`] owns the [`CrashPredictor`], the two baselines
//! ([`EarlyOom`], [`Psi`]), the [`GrowthTracker`] and the [`ResponseLadder`], and keeps the
//! bookkeeping of the current run ([`RunRecord`]: when each policy first fired, the largest
//! owner then, the first victim, the OOM) and the action log ([`LogEntry`]). The kernel's
//! sampler thread (`kernel/src/oom/monitor.rs`) and the host simulator
//! (`tools/oom-sim/src/sim.rs`) both drive it, so the simulator measures the kernel's own
//! decisions. The scheduler's learned policy is meant to take the same shape: one policy and
//! evaluation loop here, a simulated and an in-kernel driver around it.
//!
//! Division of labour: the supervisor *decides* and *keeps the books*; the driver *acts*. Each
//! sample period the driver
//! 1. feeds allocation failures seen since the last sample ([`Supervisor::on_failure`]),
//! 2. calls [`Supervisor::observe`] with a [`Sample`] and the pages each owner holds
//!    ([`Holding`]),
//! 3. calls [`Supervisor::decide`], which answers for the current response mode
//!    ([`LadderMode`]): nothing (`Off`), the ladder's next rung (`On`: compact, reclaim, kill
//!    the fastest grower), or a baseline's native response (`EarlyOom`, `Psi`: kill the
//!    largest owner, at most every [`BASELINE_KILL_COOLDOWN_MS`]),
//! 4. performs the action on its own memory — real frames in the kernel, a `Vec`-backed
//!    allocator in the simulator — and hands the measured effect back with
//!    [`Supervisor::report`].
//!
//! An OOM kill is reported with [`Supervisor::record_oom`]; [`Supervisor::start_run`] starts
//! a fresh run (fresh predictor with the same threshold, baselines, tracker, ladder, record
//! and log; the response mode is kept). A run's record stops changing at its first OOM (an
//! evaluation run ends there) or at [`Supervisor::close_run`].
//!
//! Fixed size, no allocation: the kernel keeps one in a box and calls it with interrupts off.
//! Neighbours: [`crate::predictor`], [`crate::baseline`], [`crate::growth`], [`crate::ladder`]
//! (the parts), [`crate::eval`] (the line a run record becomes).

use crate::baseline::{EarlyOom, Psi};
use crate::eval::{EvalRecord, LadderMode};
use crate::growth::{GrowthTracker, MAX_OWNERS, OwnerId};
use crate::ladder::{Action, ActionReport, LadderConfig, LadderInput, ResponseLadder};
use crate::predictor::{Assessment, CrashPredictor, PredictorConfig, ThresholdError};
use crate::sample::Sample;
use crate::scenario::{Role, ScenarioKind};
use crate::watermark::min_free_pages;

/// Log entries kept (`crashctl log`).
pub const LOG_LEN: usize = 32;
/// Least time between two kills of a baseline's native response (earlyoom and oomd both wait
/// after a kill for its effect to show).
pub const BASELINE_KILL_COOLDOWN_MS: u64 = 5_000;

/// Pages one owner holds at a sample.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Holding {
    /// The owner (kernel actor id, simulator actor index).
    pub owner: OwnerId,
    /// Its role; caches are tracked but never killed.
    pub role: Role,
    /// Pages it holds now.
    pub pages: u64,
}

/// Tunable parameters of a supervisor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SupervisorConfig {
    /// The predictor's configuration (its threshold is checked by [`Supervisor::new`]).
    pub predictor: PredictorConfig,
    /// The ladder's configuration.
    pub ladder: LadderConfig,
    /// See [`BASELINE_KILL_COOLDOWN_MS`].
    pub baseline_kill_cooldown_ms: u64,
    /// The response mode a new supervisor starts in.
    pub mode: LadderMode,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        SupervisorConfig {
            predictor: PredictorConfig::default(),
            ladder: LadderConfig::default(),
            baseline_kill_cooldown_ms: BASELINE_KILL_COOLDOWN_MS,
            mode: LadderMode::Off,
        }
    }
}

/// What one sample showed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Observation {
    /// The predictor's assessment.
    pub assessment: Assessment,
    /// Whether the earlyoom rule fires on this sample.
    pub earlyoom_fires: bool,
    /// Whether the PSI rule fires on this sample.
    pub psi_fires: bool,
    /// Holdings the growth tracker had no room for (they can be neither largest nor killed).
    pub untracked_owners: u32,
    /// Duration of the predictor update alone, by the clock given to
    /// [`Supervisor::observe_timed`] (0 with [`Supervisor::observe`]).
    pub predictor_ns: u64,
}

/// The bookkeeping of one run; times are ms since [`RunRecord::origin_ms`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunRecord {
    /// When the run started, on the driver's clock.
    pub origin_ms: u64,
    /// First crash prediction of our predictor.
    pub pred_ms: Option<u64>,
    /// First firing of the earlyoom rule.
    pub earlyoom_ms: Option<u64>,
    /// First firing of the PSI rule.
    pub psi_ms: Option<u64>,
    /// First OOM kill.
    pub oom_ms: Option<u64>,
    /// Role of the largest killable owner when the first policy fired, or at the OOM if none
    /// fired before: whom a largest-first killer (earlyoom, oomd) would pick.
    pub largest: Option<Role>,
    /// Role of the first owner the response killed.
    pub killed: Option<Role>,
    /// When the prediction the predictor resolved as a hit at the OOM was made (its own
    /// horizon: an alarm that expired or was withdrawn before the OOM is not a hit).
    pub hit_ms: Option<u64>,
    /// Kills the response made in this run.
    pub kills: u32,
    /// Kills of owners that were not culprits.
    pub bystander_kills: u32,
    /// Predictions (alarms) the predictor opened in this run.
    pub alarms: u32,
    /// Of them, withdrawn because the growth stopped (not hits, not misses).
    pub withdrawn: u32,
    /// A run is going on and has not ended (at its first OOM, or by `close_run`).
    open: bool,
}

impl RunRecord {
    /// Whether events still count for this run.
    pub fn recording(&self) -> bool {
        self.open && self.oom_ms.is_none()
    }

    /// The `eval …` line of this run (see [`crate::eval`]).
    pub fn eval_record(
        &self,
        run: u32,
        scenario: ScenarioKind,
        seed: u64,
        ladder: LadderMode,
    ) -> EvalRecord {
        EvalRecord {
            run,
            scenario,
            seed,
            ladder,
            oom_ms: self.oom_ms,
            pred_ms: self.pred_ms,
            earlyoom_ms: self.earlyoom_ms,
            psi_ms: self.psi_ms,
            killed: self.killed,
            right: self.killed.map(Role::is_culprit),
            largest: self.largest,
            extra: Some(crate::eval::RunExtra {
                hit_ms: self.hit_ms,
                kills: self.kills,
                bystander_kills: self.bystander_kills,
                alarms: self.alarms,
                withdrawn: self.withdrawn,
            }),
        }
    }
}

/// An owner killed by its own failed allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OomKill {
    /// When, on the driver's clock.
    pub t_ms: u64,
    /// The owner.
    pub owner: OwnerId,
    /// Its role.
    pub role: Role,
    /// Order of the request that failed.
    pub order: u8,
    /// Refused by the watermark (`true`) or no free block of that order (`false`).
    pub watermark: bool,
    /// Pages its death freed.
    pub pages_freed: u64,
}

/// What the action log records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogKind {
    /// An owner was OOM-killed.
    OomKill(OomKill),
    /// The response acted; `victim` is the killed owner's role for a kill that found it.
    Action {
        /// The measured effect.
        report: ActionReport,
        /// Role of the victim of a kill.
        victim: Option<Role>,
    },
}

/// One log entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// When, on the driver's clock.
    pub t_ms: u64,
    /// What happened.
    pub kind: LogKind,
}

/// Who chose an action awaiting its report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Responder {
    Ladder,
    Baseline,
}

/// The supervision loop; see the module documentation.
#[derive(Clone, Debug)]
pub struct Supervisor {
    config: SupervisorConfig,
    mode: LadderMode,
    predictor: CrashPredictor,
    earlyoom: EarlyOom,
    psi: Psi,
    growth: GrowthTracker,
    ladder: ResponseLadder,
    /// Role of each owner the growth tracker knows (the tracker keeps only ids).
    roles: [Option<(OwnerId, Role)>; MAX_OWNERS],
    run: RunRecord,
    last_sample: Option<Sample>,
    /// The latest observation, until `decide` consumes it (one decision per sample).
    undecided: Option<Observation>,
    /// The action `decide` returned, until its report arrives.
    awaiting: Option<(Action, Responder)>,
    last_baseline_kill: Option<u64>,
    log: [Option<LogEntry>; LOG_LEN],
    next_log: usize,
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::build(SupervisorConfig::default(), CrashPredictor::with_defaults())
    }
}

impl Supervisor {
    /// A supervisor with `config`; rejects a bad threshold. No run is open until
    /// [`Supervisor::start_run`].
    pub fn new(config: SupervisorConfig) -> Result<Supervisor, ThresholdError> {
        let predictor = CrashPredictor::new(config.predictor)?;
        Ok(Supervisor::build(config, predictor))
    }

    fn build(config: SupervisorConfig, predictor: CrashPredictor) -> Supervisor {
        Supervisor {
            config,
            mode: config.mode,
            predictor,
            earlyoom: EarlyOom::new(),
            psi: Psi::new(),
            growth: GrowthTracker::new(),
            ladder: ResponseLadder::new(config.ladder),
            roles: [None; MAX_OWNERS],
            run: RunRecord::default(),
            last_sample: None,
            undecided: None,
            awaiting: None,
            last_baseline_kill: None,
            log: [None; LOG_LEN],
            next_log: 0,
        }
    }

    /// The response mode.
    pub fn mode(&self) -> LadderMode {
        self.mode
    }

    /// Sets the response mode; takes effect at the next decision.
    pub fn set_mode(&mut self, mode: LadderMode) {
        self.mode = mode;
    }

    /// Sets the prediction threshold (kept across runs).
    pub fn set_threshold(&mut self, threshold: f32) -> Result<(), ThresholdError> {
        self.predictor.set_threshold(threshold)
    }

    /// Starts a new run at `origin_ms` on the driver's clock: a fresh predictor (same
    /// configuration, including a tuned threshold), fresh baselines, growth tracker and ladder,
    /// an empty record and log — what every simulated run starts from. Resets in place.
    pub fn start_run(&mut self, origin_ms: u64) {
        let config = *self.predictor.config();
        // The configuration was accepted before, so the fallback never happens.
        self.predictor =
            CrashPredictor::new(config).unwrap_or_else(|_| CrashPredictor::with_defaults());
        self.earlyoom = EarlyOom::new();
        self.psi = Psi::new();
        self.growth.clear();
        self.ladder = ResponseLadder::new(self.config.ladder);
        self.roles = [None; MAX_OWNERS];
        self.run = RunRecord {
            origin_ms,
            open: true,
            ..RunRecord::default()
        };
        self.undecided = None;
        self.awaiting = None;
        self.last_baseline_kill = None;
        self.log = [None; LOG_LEN];
        self.next_log = 0;
    }

    /// Ends the current run (its owners are gone); sampling and the response go on. The
    /// predictor forgets its window of samples and recent failures (its records and statistics
    /// stay): they describe a workload that no longer exists, and a trend fitted across its
    /// end — memory falling, then freed at once — would keep the status at WARNING or CRITICAL
    /// for seconds while the machine is idle (issue 10). Repeated calls change nothing more.
    pub fn close_run(&mut self) {
        if self.run.open {
            self.run.open = false;
            self.predictor.restart_window();
        }
    }

    /// Reports a failed workload allocation of `order` at `t_ms` (the predictor's failure
    /// factor). Feed failures before the sample that follows them.
    pub fn on_failure(&mut self, t_ms: u64, order: usize) {
        self.predictor.on_failure(t_ms, order);
    }

    /// Observes one sample and what each live owner holds (see [`Supervisor::observe_timed`]).
    pub fn observe(&mut self, sample: &Sample, holdings: &[Holding]) -> Observation {
        self.observe_timed(sample, holdings, || 0)
    }

    /// Observes one sample: records each owner's holding in the growth tracker, updates the
    /// predictor (timed by `clock_ns`, so the kernel reports the same cost `oom-sim
    /// observe-cost` measures) and both baselines, and books the first firing of each policy
    /// and the largest owner at the first firing. [`Supervisor::decide`] then answers for
    /// this sample.
    pub fn observe_timed(
        &mut self,
        sample: &Sample,
        holdings: &[Holding],
        mut clock_ns: impl FnMut() -> u64,
    ) -> Observation {
        let t = sample.t_ms;
        let mut untracked_owners = 0;
        for h in holdings {
            if self
                .growth
                .record(t, h.owner, h.pages, h.role.killable())
                .is_ok()
            {
                self.remember_role(h.owner, h.role);
            } else {
                untracked_owners += 1;
            }
        }
        let before = clock_ns();
        let assessment = self.predictor.observe(sample);
        let predictor_ns = clock_ns().saturating_sub(before);
        let earlyoom_fires = self.earlyoom.observe(sample);
        let psi_fires = self.psi.observe(sample);
        if self.run.recording() {
            let since = t.saturating_sub(self.run.origin_ms);
            if assessment.predicts_crash {
                self.run.pred_ms.get_or_insert(since);
            }
            if assessment.new_prediction {
                self.run.alarms += 1;
            }
            if assessment.withdrawn {
                self.run.withdrawn += 1;
            }
            if earlyoom_fires {
                self.run.earlyoom_ms.get_or_insert(since);
            }
            if psi_fires {
                self.run.psi_ms.get_or_insert(since);
            }
            let fired = self.run.pred_ms.is_some()
                || self.run.earlyoom_ms.is_some()
                || self.run.psi_ms.is_some();
            if fired && self.run.largest.is_none() {
                self.run.largest = self.largest_role();
            }
        }
        self.last_sample = Some(*sample);
        let observation = Observation {
            assessment,
            earlyoom_fires,
            psi_fires,
            untracked_owners,
            predictor_ns,
        };
        self.undecided = Some(observation);
        observation
    }

    /// The response to the latest observation in the current mode, or `None`. Once per
    /// sample: a second call before the next [`Supervisor::observe`] returns `None`. The
    /// driver performs the action and reports it with [`Supervisor::report`].
    pub fn decide(&mut self) -> Option<Action> {
        let observation = self.undecided.take()?;
        let sample = self.last_sample?;
        let t = observation.assessment.t_ms;
        let (action, responder) = match self.mode {
            LadderMode::Off => return None,
            LadderMode::On => {
                let input = LadderInput {
                    free_head_pages: sample
                        .free_pages
                        .saturating_sub(min_free_pages(sample.total_pages)),
                    reclaimable_pages: sample.reclaimable_pages,
                    fastest: self.growth.fastest(),
                    total_growth_per_s: self.growth.total_growth_per_s(),
                    fastest_sustained: self
                        .growth
                        .fastest()
                        .is_some_and(|(owner, _)| self.growth.sustained_growth(owner)),
                    fastest_now_per_s: self.growth.fastest().and_then(|(owner, _)| {
                        self.growth
                            .recent_growth_per_s(owner, self.ladder.config().growing_now_ms)
                    }),
                };
                (
                    self.ladder.decide(&observation.assessment, &input)?,
                    Responder::Ladder,
                )
            }
            LadderMode::EarlyOom | LadderMode::Psi => {
                let fires = if self.mode == LadderMode::EarlyOom {
                    observation.earlyoom_fires
                } else {
                    observation.psi_fires
                };
                let cooled = self.last_baseline_kill.is_none_or(|last| {
                    t.saturating_sub(last) >= self.config.baseline_kill_cooldown_ms
                });
                if !fires || !cooled {
                    return None;
                }
                let (owner, _) = self.growth.largest()?;
                self.last_baseline_kill = Some(t);
                (Action::Kill { owner }, Responder::Baseline)
            }
        };
        self.awaiting = Some((action, responder));
        Some(action)
    }

    /// Takes the measured effect of the action [`Supervisor::decide`] returned; `victim` is
    /// the role of the owner a kill found (`None` when it was already gone). A ladder action
    /// goes to the ladder (its backoff) and marks the pending prediction as acted on; every
    /// action is logged; a kill books the run's first victim and forgets the owner.
    pub fn report(&mut self, report: ActionReport, victim: Option<Role>) {
        let responder = self
            .awaiting
            .take()
            .filter(|(action, _)| *action == report.action)
            .map(|(_, responder)| responder);
        if responder == Some(Responder::Ladder) {
            self.ladder.report(report);
            if matches!(report.action, Action::Kill { .. }) {
                self.predictor.note_kill(report.t_ms);
            } else {
                self.predictor.note_action(report.t_ms);
            }
        }
        if let Action::Kill { owner } = report.action {
            self.forget_owner(owner);
            if let Some(role) = victim
                && self.run.recording()
            {
                self.run.killed.get_or_insert(role);
                self.run.kills += 1;
                self.run.bystander_kills += u32::from(!role.is_culprit());
            }
        }
        self.push_log(LogEntry {
            t_ms: report.t_ms,
            kind: LogKind::Action { report, victim },
        });
    }

    /// Records an OOM kill: the outcome for the predictor, the run's OOM time and — if no
    /// policy fired before — the largest owner at the OOM (from the last sample, the victim
    /// included: whom a largest-first killer would have picked). The run's record stops
    /// there. The victim is forgotten and the kill logged.
    pub fn record_oom(&mut self, oom: OomKill) {
        let hit = self.predictor.record_oom(oom.t_ms);
        if self.run.recording() {
            self.run.hit_ms = hit.map(|h| h.t_ms.saturating_sub(self.run.origin_ms));
            if self.run.largest.is_none() {
                self.run.largest = self
                    .largest_role()
                    .or(Some(oom.role).filter(|r| r.killable()));
            }
            self.run.oom_ms = Some(oom.t_ms.saturating_sub(self.run.origin_ms));
        }
        self.forget_owner(oom.owner);
        self.push_log(LogEntry {
            t_ms: oom.t_ms,
            kind: LogKind::OomKill(oom),
        });
    }

    /// Stops tracking `owner` (it exited).
    pub fn forget_owner(&mut self, owner: OwnerId) {
        self.growth.remove(owner);
        for slot in &mut self.roles {
            if slot.is_some_and(|(o, _)| o == owner) {
                *slot = None;
            }
        }
    }

    fn remember_role(&mut self, owner: OwnerId, role: Role) {
        if let Some(slot) = self
            .roles
            .iter_mut()
            .find(|s| s.is_some_and(|(o, _)| o == owner))
        {
            *slot = Some((owner, role));
        } else if let Some(slot) = self.roles.iter_mut().find(|s| s.is_none()) {
            *slot = Some((owner, role));
        }
    }

    fn role_of(&self, owner: OwnerId) -> Option<Role> {
        self.roles
            .iter()
            .flatten()
            .find(|(o, _)| *o == owner)
            .map(|(_, role)| *role)
    }

    /// Role of the killable owner holding most at its latest sample.
    fn largest_role(&self) -> Option<Role> {
        self.growth
            .largest()
            .and_then(|(owner, _)| self.role_of(owner))
    }

    fn push_log(&mut self, entry: LogEntry) {
        self.log[self.next_log] = Some(entry);
        self.next_log = (self.next_log + 1) % LOG_LEN;
    }

    /// The current run's record.
    pub fn run(&self) -> &RunRecord {
        &self.run
    }

    /// The action log of the current run, newest first.
    pub fn log(&self) -> impl Iterator<Item = &LogEntry> + '_ {
        (1..=LOG_LEN)
            .filter_map(move |back| self.log[(self.next_log + LOG_LEN - back) % LOG_LEN].as_ref())
    }

    /// The latest sample observed.
    pub fn last_sample(&self) -> Option<&Sample> {
        self.last_sample.as_ref()
    }

    /// The predictor (assessment, history, statistics, threshold).
    pub fn predictor(&self) -> &CrashPredictor {
        &self.predictor
    }

    /// The earlyoom rule.
    pub fn earlyoom(&self) -> &EarlyOom {
        &self.earlyoom
    }

    /// The PSI rule.
    pub fn psi(&self) -> &Psi {
        &self.psi
    }

    /// The growth tracker.
    pub fn growth(&self) -> &GrowthTracker {
        &self.growth
    }

    /// The response ladder.
    pub fn ladder(&self) -> &ResponseLadder {
        &self.ladder
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buddy::ORDERS;

    const TOTAL: u64 = 65_536;
    const CULPRIT: OwnerId = OwnerId(1);
    const BYSTANDER: OwnerId = OwnerId(2);
    const CACHE: OwnerId = OwnerId(3);

    /// A sample at `t_ms` with `free` pages, all in order-0 blocks, workloads asking for
    /// `watched` blocks, and `reclaimable` cache pages.
    fn sample(t_ms: u64, free: u64, watched: u8, reclaimable: u64) -> Sample {
        let mut blocks = [0u64; ORDERS];
        blocks[0] = free;
        Sample {
            t_ms,
            total_pages: TOTAL,
            free_pages: free,
            free_blocks_by_order: blocks,
            reclaimable_pages: reclaimable,
            watched_order: watched,
            alloc_count: t_ms,
            failures: 0,
        }
    }

    fn holdings(t_ms: u64, culprit_alive: bool) -> Vec<Holding> {
        let mut h = vec![
            Holding {
                owner: BYSTANDER,
                role: Role::Bystander,
                pages: 30_000,
            },
            Holding {
                owner: CACHE,
                role: Role::Cache,
                pages: 500,
            },
        ];
        if culprit_alive {
            // Grows 1000 pages/s.
            h.insert(
                0,
                Holding {
                    owner: CULPRIT,
                    role: Role::Culprit,
                    pages: 1_000 + t_ms,
                },
            );
        }
        h
    }

    fn report(t_ms: u64, action: Action, gained: u64) -> ActionReport {
        ActionReport {
            t_ms,
            action,
            pages_moved: 10,
            pages_freed: 0,
            blocks_gained: gained,
            elapsed_us: 1,
        }
    }

    fn supervisor(mode: LadderMode) -> Supervisor {
        let mut s = Supervisor::new(SupervisorConfig {
            mode,
            ..SupervisorConfig::default()
        })
        .unwrap();
        s.start_run(0);
        s
    }

    /// No order-3 block is free: the fragmentation factor is 1 from the first sample, so the
    /// predictor predicts at the third (sustain rule). The ladder must then compact, reclaim
    /// the cache, wait for the reclaim to settle and kill the fastest grower — the culprit,
    /// not the larger bystander.
    #[test]
    fn ladder_compacts_reclaims_then_kills_the_fastest_grower() {
        let mut s = supervisor(LadderMode::On);
        let mut actions = Vec::new();
        let mut culprit_alive = true;
        for i in 0..120u64 {
            let t = i * 100;
            let o = s.observe(&sample(t, 3_000, 3, 500), &holdings(t, culprit_alive));
            assert_eq!(o.untracked_owners, 0);
            if let Some(action) = s.decide() {
                assert_eq!(s.decide(), None, "one decision per sample");
                let victim = match action {
                    Action::Kill { owner } if owner == CULPRIT => {
                        culprit_alive = false;
                        Some(Role::Culprit)
                    }
                    Action::Kill { .. } => Some(Role::Bystander),
                    _ => None,
                };
                s.report(report(t, action, 1), victim);
                actions.push((t, action));
            }
        }
        assert_eq!(
            actions[..2],
            [
                (200, Action::Compact { order: 3 }),
                (300, Action::Reclaim { pages: 500 }),
            ]
        );
        // The kill waits until the culprit's growth is known to be sustained (its window
        // reaches 9.5 s back), and it is the culprit.
        let kills: Vec<_> = actions
            .iter()
            .filter(|(_, a)| matches!(a, Action::Kill { .. }))
            .collect();
        assert_eq!(kills.len(), 1, "{actions:?}");
        assert_eq!(kills[0].1, Action::Kill { owner: CULPRIT });
        assert!(kills[0].0 >= 9_500, "{actions:?}");
        let run = *s.run();
        assert_eq!(run.pred_ms, Some(200));
        assert_eq!(run.largest, Some(Role::Bystander));
        assert_eq!(run.killed, Some(Role::Culprit));
        let line = run.eval_record(7, ScenarioKind::Leak, 3, LadderMode::On);
        assert_eq!((line.right, line.oom_ms), (Some(true), None));
        // The ladder's actions marked the prediction as acted on, and all are logged.
        assert!(s.predictor().pending().is_some_and(|p| p.acted));
        assert_eq!(s.log().count(), actions.len());
        assert!(matches!(
            s.log().next().map(|e| e.kind),
            Some(LogKind::Action { .. })
        ));
        assert_eq!(s.growth().pages(CULPRIT), None, "the victim is forgotten");
    }

    #[test]
    fn off_mode_watches_only() {
        let mut s = supervisor(LadderMode::Off);
        for i in 0..20u64 {
            let t = i * 100;
            s.observe(&sample(t, 3_000, 3, 500), &holdings(t, true));
            assert_eq!(s.decide(), None);
        }
        assert_eq!(s.run().pred_ms, Some(200));
        assert_eq!(s.log().count(), 0);
    }

    /// earlyoom fires below 10 % available (6553 pages here); its response kills the largest
    /// owner, then waits out the cooldown before the next kill. Its kill does not count as an
    /// action on the predictor's prediction.
    #[test]
    fn baseline_mode_kills_the_largest_with_a_cooldown() {
        let mut s = supervisor(LadderMode::EarlyOom);
        let mut kills = Vec::new();
        let mut alive = [true, true];
        for i in 0..120u64 {
            let t = i * 100;
            let mut h = Vec::new();
            if alive[0] {
                h.push(Holding {
                    owner: CULPRIT,
                    role: Role::Culprit,
                    pages: 1_000 + t,
                });
            }
            if alive[1] {
                h.push(Holding {
                    owner: BYSTANDER,
                    role: Role::Bystander,
                    pages: 30_000,
                });
            }
            let o = s.observe(&sample(t, 3_000, 0, 0), &h);
            assert!(o.earlyoom_fires);
            if let Some(action) = s.decide() {
                let Action::Kill { owner } = action else {
                    panic!("a baseline only kills: {action:?}");
                };
                let role = if owner == CULPRIT {
                    alive[0] = false;
                    Role::Culprit
                } else {
                    alive[1] = false;
                    Role::Bystander
                };
                s.report(report(t, action, 0), Some(role));
                kills.push((t, role));
            }
        }
        assert_eq!(kills, [(0, Role::Bystander), (5_000, Role::Culprit)]);
        let run = s.run();
        assert_eq!(
            (run.earlyoom_ms, run.killed),
            (Some(0), Some(Role::Bystander))
        );
        assert!(s.ladder().reports().next().is_none());
        // The PSI mode answers to the PSI rule, which plenty of free memory never fires.
        let mut s = supervisor(LadderMode::Psi);
        for i in 0..50u64 {
            s.observe(&sample(i * 100, 3_000, 0, 0), &holdings(i * 100, true));
            assert_eq!(s.decide(), None);
        }
    }

    #[test]
    fn oom_ends_the_record_and_names_the_largest() {
        let mut s = supervisor(LadderMode::Off);
        s.observe(&sample(0, 40_000, 0, 0), &holdings(0, true));
        s.on_failure(150, 0);
        s.record_oom(OomKill {
            t_ms: 150,
            owner: CULPRIT,
            role: Role::Culprit,
            order: 0,
            watermark: true,
            pages_freed: 1_000,
        });
        let run = *s.run();
        assert_eq!(run.oom_ms, Some(150));
        assert_eq!(run.largest, Some(Role::Bystander));
        assert!(!run.recording());
        assert_eq!(s.predictor().stats().ooms, 1);
        assert!(matches!(
            s.log().next().map(|e| e.kind),
            Some(LogKind::OomKill(k)) if k.pages_freed == 1_000
        ));
        // Firings after the OOM are not the run's.
        for i in 1..30u64 {
            s.observe(&sample(i * 100, 1_000, 3, 0), &holdings(i * 100, false));
        }
        assert_eq!(s.run().pred_ms, None);
        // An OOM before any sample still names a killable victim as the largest.
        let mut s = supervisor(LadderMode::Off);
        s.record_oom(OomKill {
            t_ms: 0,
            owner: CULPRIT,
            role: Role::Culprit,
            order: 0,
            watermark: false,
            pages_freed: 0,
        });
        assert_eq!(s.run().largest, Some(Role::Culprit));
    }

    #[test]
    fn start_run_clears_the_run_but_keeps_threshold_and_mode() {
        let mut s = supervisor(LadderMode::On);
        s.set_threshold(0.55).unwrap();
        for i in 0..20u64 {
            let t = i * 100;
            s.observe(&sample(t, 3_000, 3, 500), &holdings(t, true));
            if let Some(action) = s.decide() {
                s.report(report(t, action, 1), None);
            }
        }
        assert!(s.run().pred_ms.is_some() && s.log().count() > 0);
        s.start_run(10_000);
        assert_eq!(
            *s.run(),
            RunRecord {
                origin_ms: 10_000,
                open: true,
                ..RunRecord::default()
            }
        );
        assert_eq!(s.log().count(), 0);
        assert_eq!(s.predictor().stats().predictions, 0);
        assert_eq!(s.predictor().samples(), 0);
        assert_eq!(s.growth().largest(), None);
        assert!(!s.ladder().engaged(10_000));
        assert_eq!(s.decide(), None);
        assert_eq!(s.predictor().threshold(), 0.55);
        assert_eq!(s.mode(), LadderMode::On);
        // Times are kept relative to the new origin.
        for i in 0..5u64 {
            let t = 10_000 + i * 100;
            s.observe(&sample(t, 3_000, 3, 500), &holdings(t, true));
        }
        assert_eq!(s.run().pred_ms, Some(200));
    }

    #[test]
    fn a_closed_run_records_nothing_and_timing_uses_the_clock() {
        let mut s = Supervisor::default();
        // No run was started: nothing is booked, but the predictor still learns.
        for i in 0..5u64 {
            s.observe(&sample(i * 100, 3_000, 3, 0), &[]);
        }
        assert_eq!(s.run().pred_ms, None);
        assert!(s.predictor().last().is_some_and(|a| a.predicts_crash));
        s.start_run(0);
        s.close_run();
        s.observe(&sample(600, 3_000, 3, 0), &[]);
        assert_eq!(s.run().pred_ms, None);
        let mut now = 0u64;
        let o = s.observe_timed(&sample(700, 3_000, 3, 0), &[], || {
            now += 40;
            now
        });
        assert_eq!(o.predictor_ns, 40);
        assert!(
            Supervisor::new(SupervisorConfig {
                predictor: PredictorConfig {
                    threshold: 0.0,
                    ..PredictorConfig::default()
                },
                ..SupervisorConfig::default()
            })
            .is_err()
        );
    }

    #[test]
    fn closing_a_run_forgets_its_window_so_status_follows_the_machine() {
        let mut s = Supervisor::default();
        s.start_run(0);
        // Memory falls fast, with failures at the end: a crash is predicted.
        for i in 0..50u64 {
            s.observe(&sample(i * 100, TOTAL - 1_000 - i * 1_000, 0, 0), &[]);
        }
        s.on_failure(4_950, 0);
        s.on_failure(4_960, 0);
        let before = s.observe(&sample(5_000, 1_000, 0, 0), &[]);
        assert_eq!(
            before.assessment.level,
            crate::RiskLevel::Critical,
            "{:?}",
            before.assessment
        );
        // The workload is killed and its memory freed; the run is closed.
        s.close_run();
        let after = s.observe(&sample(5_100, TOTAL - 1_000, 0, 0), &[]);
        assert_eq!(
            after.assessment.level,
            crate::RiskLevel::Normal,
            "{:?}",
            after.assessment
        );
        assert!(!after.assessment.predicts_crash);
        assert!(after.assessment.risk < 0.05, "{:?}", after.assessment);
        // Without the close (the run still open), the stale window would still alarm.
        let mut open = Supervisor::default();
        open.start_run(0);
        for i in 0..50u64 {
            open.observe(&sample(i * 100, TOTAL - 1_000 - i * 1_000, 0, 0), &[]);
        }
        open.on_failure(4_950, 0);
        open.on_failure(4_960, 0);
        open.observe(&sample(5_000, 1_000, 0, 0), &[]);
        let stale = open.observe(&sample(5_100, TOTAL - 1_000, 0, 0), &[]);
        assert_ne!(stale.assessment.level, crate::RiskLevel::Normal);
    }

    #[test]
    fn a_full_tracker_is_reported_not_fatal() {
        let mut s = supervisor(LadderMode::EarlyOom);
        let many: Vec<Holding> = (0..MAX_OWNERS as u32 + 2)
            .map(|i| Holding {
                owner: OwnerId(100 + i),
                role: Role::Bystander,
                pages: u64::from(i),
            })
            .collect();
        let o = s.observe(&sample(0, 1_000, 0, 0), &many);
        assert_eq!(o.untracked_owners, 2);
        // The largest tracked owner is killed; the untracked ones are invisible.
        assert_eq!(
            s.decide(),
            Some(Action::Kill {
                owner: OwnerId(100 + MAX_OWNERS as u32 - 1)
            })
        );
    }
}

//! The response ladder: once the predictor predicts a crash, [`ResponseLadder::decide`] picks
//! the next [`Action`] — compaction when the watched order is fragmented, reclaim while
//! caches hold pages, and, when the trend still points at exhaustion after those, a kill of
//! the owner whose memory *grows* fastest (from [`crate::growth::GrowthTracker`]). Each rung
//! has a cooldown so the executor's effect can show before the ladder climbs further. The
//! executor (the kernel's `oom` module or `tools/oom-sim`) performs the action and reports its
//! measured effect with [`ResponseLadder::report`]; the ladder keeps the last reports for
//! `crashctl` and backs off compaction that gained nothing.
//!
//! The kill rung does not use the predictor's free-page trend, which is disturbed by the
//! jump a reclaim causes: it projects the free pages above the watermark against the summed
//! growth of the killable owners instead.

use crate::growth::OwnerId;
use crate::predictor::Assessment;

/// Reports kept.
pub const REPORTS: usize = 16;

/// What the ladder asks the executor to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Migrate movable pages to rebuild free blocks of `order`.
    Compact {
        /// The order to rebuild blocks of.
        order: u8,
    },
    /// Drop up to `pages` reclaimable cache pages.
    Reclaim {
        /// Pages to drop.
        pages: u64,
    },
    /// OOM-kill `owner` before the allocator has to.
    Kill {
        /// The owner to kill.
        owner: OwnerId,
    },
}

/// Measured effect of an action, reported by the executor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActionReport {
    /// When the action ran.
    pub t_ms: u64,
    /// The action.
    pub action: Action,
    /// Pages migrated (compaction).
    pub pages_moved: u64,
    /// Pages freed (reclaim, kill).
    pub pages_freed: u64,
    /// Free blocks of the watched order gained (compaction).
    pub blocks_gained: u64,
    /// Time the action took, µs (wall time of the executor).
    pub elapsed_us: u64,
}

impl ActionReport {
    /// The report of `action` taken at `t_ms`, before the executor fills in its effect.
    pub fn new(t_ms: u64, action: Action) -> Self {
        Self {
            t_ms,
            action,
            pages_moved: 0,
            pages_freed: 0,
            blocks_gained: 0,
            elapsed_us: 0,
        }
    }
}

/// Tunable parameters of the ladder.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LadderConfig {
    /// Minimum time between two compactions.
    pub compact_cooldown_ms: u64,
    /// Minimum time between two reclaims.
    pub reclaim_cooldown_ms: u64,
    /// Minimum time between two kills.
    pub kill_cooldown_ms: u64,
    /// After a reclaim, wait this long before a kill (the reclaim's effect must show).
    pub settle_ms: u64,
    /// The ladder stays engaged this long after the predictor last predicted a crash.
    pub engaged_ms: u64,
    /// Reclaim only when caches hold at least this many pages.
    pub min_reclaim_pages: u64,
    /// Compact when the watched order's fragmentation index is at least this (permille).
    pub compact_frag_permille: u16,
    /// Kill when the projected time to exhaustion is under this.
    pub kill_tte_ms: u64,
    /// Never kill an owner growing slower than this (pages/s).
    pub min_kill_growth_per_s: f32,
    /// Kill only an owner whose growth is at least this share of all killable owners'
    /// growth: its death must stop the exhaustion. Below it the growth is diffuse and the
    /// ladder reclaims, compacts and waits instead of killing one thread after another.
    pub min_kill_share: f32,
    /// "Growing now" is measured over this last stretch: a kill needs the owner to have grown
    /// by at least `min_kill_growth_per_s` over it. The 10 s slope that ranks the owners still
    /// shows a burst seconds after it stopped; killing it then stops nothing (spike-ok).
    pub growing_now_ms: u64,
}

impl Default for LadderConfig {
    fn default() -> Self {
        LadderConfig {
            compact_cooldown_ms: 1_000,
            reclaim_cooldown_ms: 5_000,
            kill_cooldown_ms: 5_000,
            settle_ms: 500,
            engaged_ms: 10_000,
            min_reclaim_pages: 64,
            compact_frag_permille: 300,
            kill_tte_ms: 6_000,
            min_kill_growth_per_s: 20.0,
            min_kill_share: 0.5,
            growing_now_ms: 1_000,
        }
    }
}

/// What the ladder needs beyond the assessment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LadderInput {
    /// Free pages above the watermark now.
    pub free_head_pages: u64,
    /// Reclaimable cache pages now.
    pub reclaimable_pages: u64,
    /// The killable owner growing fastest and its growth (pages/s), from the growth tracker.
    pub fastest: Option<(OwnerId, f32)>,
    /// Summed positive growth of the killable owners (pages/s).
    pub total_growth_per_s: f32,
    /// Whether the fastest owner's growth is sustained: still growing in the last 3 s and
    /// already growing 5–10 s ago (`GrowthTracker::sustained_growth`).
    pub fastest_sustained: bool,
    /// The fastest owner's growth over the last [`LadderConfig::growing_now_ms`] (pages/s;
    /// `GrowthTracker::recent_growth_per_s`), `None` when its history is shorter.
    pub fastest_now_per_s: Option<f32>,
}

/// The figures behind a kill (or behind a kill not made because no single owner explains
/// the growth), logged with it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KillBasis {
    /// When.
    pub t_ms: u64,
    /// The fastest-growing owner.
    pub owner: OwnerId,
    /// Its growth, pages/s.
    pub growth_per_s: f32,
    /// Its share of all killable owners' growth, per mille.
    pub share_permille: u16,
    /// Projected time until free memory reaches the watermark at the summed growth, ms.
    pub projected_ms: u64,
    /// Whether its growth is sustained (see [`LadderInput::fastest_sustained`]).
    pub sustained: bool,
    /// Its growth over the last [`LadderConfig::growing_now_ms`], pages/s (0 when unknown).
    pub now_per_s: f32,
    /// Whether the ladder killed it (`false`: the growth was diffuse and nothing was killed).
    pub killed: bool,
}

/// The response ladder's state: cooldowns and recent reports.
#[derive(Clone, Debug)]
pub struct ResponseLadder {
    config: LadderConfig,
    engaged_until: Option<u64>,
    last_compact: Option<u64>,
    /// Compaction gained nothing last time: wait four cooldowns.
    compact_backoff: bool,
    last_reclaim: Option<u64>,
    last_kill: Option<u64>,
    reports: [Option<ActionReport>; REPORTS],
    next_report: usize,
    /// The figures of the latest kill decision (made or refused for diffuse growth).
    last_basis: Option<KillBasis>,
}

fn elapsed(since: Option<u64>, now: u64, at_least: u64) -> bool {
    since.is_none_or(|t| now.saturating_sub(t) >= at_least)
}

impl Default for ResponseLadder {
    fn default() -> Self {
        ResponseLadder::new(LadderConfig::default())
    }
}

impl ResponseLadder {
    /// A ladder with `config`.
    pub fn new(config: LadderConfig) -> ResponseLadder {
        ResponseLadder {
            config,
            engaged_until: None,
            last_compact: None,
            compact_backoff: false,
            last_reclaim: None,
            last_kill: None,
            reports: [None; REPORTS],
            next_report: 0,
            last_basis: None,
        }
    }

    /// The figures of the latest kill, or of the latest kill refused because no single
    /// owner explained the growth.
    pub fn last_basis(&self) -> Option<KillBasis> {
        self.last_basis
    }

    /// The configuration in use.
    pub fn config(&self) -> &LadderConfig {
        &self.config
    }

    /// Whether the ladder is engaged at `now_ms` (a crash was predicted recently).
    pub fn engaged(&self, now_ms: u64) -> bool {
        self.engaged_until.is_some_and(|until| now_ms <= until)
    }

    /// Decides the next action for the latest assessment, or `None`. The caller performs it
    /// and reports its effect with [`ResponseLadder::report`].
    pub fn decide(&mut self, a: &Assessment, input: &LadderInput) -> Option<Action> {
        let now = a.t_ms;
        if a.predicts_crash {
            self.engaged_until = Some(now.saturating_add(self.config.engaged_ms));
        }
        if a.withdrawn {
            // The growth behind the alarm stopped: nothing left to respond to.
            self.engaged_until = None;
        }
        if !self.engaged(now) {
            return None;
        }
        let cfg = self.config;
        let compact_wait = if self.compact_backoff {
            cfg.compact_cooldown_ms.saturating_mul(4)
        } else {
            cfg.compact_cooldown_ms
        };
        if a.watched_order > 0
            && a.frag_index >= cfg.compact_frag_permille
            && elapsed(self.last_compact, now, compact_wait)
        {
            self.last_compact = Some(now);
            return Some(Action::Compact {
                order: a.watched_order,
            });
        }
        if input.reclaimable_pages >= cfg.min_reclaim_pages
            && elapsed(self.last_reclaim, now, cfg.reclaim_cooldown_ms)
        {
            self.last_reclaim = Some(now);
            return Some(Action::Reclaim {
                pages: input.reclaimable_pages,
            });
        }
        let (owner, growth) = input.fastest?;
        let projected_ms = if input.total_growth_per_s > 0.0 {
            input.free_head_pages as f32 * 1000.0 / input.total_growth_per_s
        } else {
            f32::INFINITY
        };
        if growth < cfg.min_kill_growth_per_s
            || projected_ms >= cfg.kill_tte_ms as f32
            || !elapsed(self.last_reclaim, now, cfg.settle_ms)
            || !elapsed(self.last_kill, now, cfg.kill_cooldown_ms)
        {
            return None;
        }
        let share = if input.total_growth_per_s > 0.0 {
            (growth / input.total_growth_per_s).clamp(0.0, 1.0)
        } else {
            0.0
        };
        // Kill only an owner still growing now, growing for more than a burst, and whose
        // growth is most of the growth: its death then stops the exhaustion.
        let now_per_s = input.fastest_now_per_s.unwrap_or(0.0);
        let growing_now = now_per_s >= cfg.min_kill_growth_per_s;
        let killed = share >= cfg.min_kill_share && input.fastest_sustained && growing_now;
        self.last_basis = Some(KillBasis {
            t_ms: now,
            owner,
            growth_per_s: growth,
            share_permille: (share * 1000.0) as u16,
            projected_ms: projected_ms.min(u64::MAX as f32) as u64,
            sustained: input.fastest_sustained,
            now_per_s,
            killed,
        });
        if !killed {
            return None;
        }
        self.last_kill = Some(now);
        Some(Action::Kill { owner })
    }

    /// Records the measured effect of an action the ladder chose.
    pub fn report(&mut self, report: ActionReport) {
        if let Action::Compact { .. } = report.action {
            self.compact_backoff = report.blocks_gained == 0;
        }
        self.reports[self.next_report] = Some(report);
        self.next_report = (self.next_report + 1) % REPORTS;
    }

    /// Reports, newest first.
    pub fn reports(&self) -> impl Iterator<Item = &ActionReport> + '_ {
        (1..=REPORTS).filter_map(move |back| {
            self.reports[(self.next_report + REPORTS - back) % REPORTS].as_ref()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assessment(t_ms: u64, predicts: bool, order: u8, frag: u16) -> Assessment {
        Assessment {
            t_ms,
            predicts_crash: predicts,
            watched_order: order,
            frag_index: frag,
            ..Assessment::default()
        }
    }

    fn input(reclaimable: u64, fastest: Option<(OwnerId, f32)>) -> LadderInput {
        LadderInput {
            free_head_pages: 2000,
            reclaimable_pages: reclaimable,
            fastest,
            total_growth_per_s: fastest.map_or(0.0, |f| f.1),
            fastest_sustained: true,
            fastest_now_per_s: fastest.map(|f| f.1),
        }
    }

    #[test]
    fn diffuse_growth_kills_nobody_and_says_so() {
        let mut ladder = ResponseLadder::default();
        // The fastest of ten similar growers: a tenth of the growth.
        let diffuse = LadderInput {
            free_head_pages: 1000,
            total_growth_per_s: 1000.0,
            ..input(0, Some((OwnerId(4), 100.0)))
        };
        assert_eq!(ladder.decide(&assessment(0, true, 0, 0), &diffuse), None);
        let basis = ladder.last_basis().expect("the refusal is recorded");
        assert!(!basis.killed && basis.share_permille == 100 && basis.owner == OwnerId(4));
        // Most of the growth, but exhaustion still 6.7 s away: not yet (a benign grower
        // that stops short of the watermark looks the same until it stops).
        let early = LadderInput {
            free_head_pages: 1000,
            total_growth_per_s: 150.0,
            ..input(0, Some((OwnerId(4), 100.0)))
        };
        assert_eq!(ladder.decide(&assessment(5_000, true, 0, 0), &early), None);
        // Most of the growth, exhaustion 4 s away: killed, with the figures that justified it.
        let dominant = LadderInput {
            free_head_pages: 600,
            ..early
        };
        assert_eq!(
            ladder.decide(&assessment(6_000, true, 0, 0), &dominant),
            Some(Action::Kill { owner: OwnerId(4) })
        );
        let basis = ladder.last_basis().unwrap();
        assert!(basis.killed && basis.share_permille == 666 && basis.projected_ms < 6_000);
    }

    #[test]
    fn a_burst_or_a_flat_owner_is_never_killed() {
        let mut ladder = ResponseLadder::default();
        let burst = LadderInput {
            fastest_sustained: false,
            ..input(0, Some((OwnerId(2), 3000.0)))
        };
        assert_eq!(ladder.decide(&assessment(0, true, 0, 0), &burst), None);
        assert!(!ladder.last_basis().unwrap().killed);
        // Sustained over the 10 s window, but flat over the last second (spike-ok seed 5:
        // a 4 s burst that stopped 2 s ago still has a steep 10 s slope): not killed.
        let stopped = LadderInput {
            fastest_now_per_s: Some(0.0),
            ..input(0, Some((OwnerId(2), 3000.0)))
        };
        assert_eq!(
            ladder.decide(&assessment(6_000, true, 0, 0), &stopped),
            None
        );
        let basis = ladder.last_basis().unwrap();
        assert!(!basis.killed && basis.sustained && basis.now_per_s == 0.0);
    }

    #[test]
    fn a_withdrawn_alarm_disengages_the_ladder() {
        let mut ladder = ResponseLadder::default();
        let i = input(0, None);
        assert_eq!(ladder.decide(&assessment(0, true, 0, 0), &i), None);
        assert!(ladder.engaged(5_000));
        let withdrawn = Assessment {
            withdrawn: true,
            ..assessment(1_000, false, 0, 0)
        };
        assert_eq!(ladder.decide(&withdrawn, &i), None);
        assert!(!ladder.engaged(1_100));
    }

    #[test]
    fn idle_until_a_crash_is_predicted() {
        let mut ladder = ResponseLadder::default();
        let i = input(1000, Some((OwnerId(1), 500.0)));
        assert_eq!(ladder.decide(&assessment(0, false, 4, 900), &i), None);
    }

    #[test]
    fn compact_then_reclaim_then_kill_fastest() {
        let mut ladder = ResponseLadder::default();
        let i = input(1000, Some((OwnerId(3), 500.0)));
        assert_eq!(
            ladder.decide(&assessment(100, true, 4, 900), &i),
            Some(Action::Compact { order: 4 })
        );
        assert_eq!(
            ladder.decide(&assessment(200, true, 4, 900), &i),
            Some(Action::Reclaim { pages: 1000 })
        );
        // Reclaim just happened: wait for it to settle.
        let none_left = input(0, Some((OwnerId(3), 500.0)));
        assert_eq!(
            ladder.decide(&assessment(300, true, 4, 900), &none_left),
            None
        );
        assert_eq!(
            ladder.decide(&assessment(800, true, 4, 900), &none_left),
            Some(Action::Kill { owner: OwnerId(3) })
        );
        // Kill cooldown.
        assert_eq!(
            ladder.decide(&assessment(900, true, 0, 0), &none_left),
            None
        );
    }

    #[test]
    fn no_kill_when_growth_is_slow_or_far_from_exhaustion() {
        let mut ladder = ResponseLadder::default();
        let slow = input(0, Some((OwnerId(1), 5.0)));
        assert_eq!(ladder.decide(&assessment(0, true, 0, 0), &slow), None);
        let far = LadderInput {
            free_head_pages: 1_000_000,
            ..input(0, Some((OwnerId(1), 100.0)))
        };
        assert_eq!(ladder.decide(&assessment(0, true, 0, 0), &far), None);
    }

    #[test]
    fn fruitless_compaction_backs_off_and_reports_are_kept() {
        let mut ladder = ResponseLadder::default();
        let i = input(0, None);
        let action = ladder.decide(&assessment(0, true, 3, 800), &i);
        assert_eq!(action, Some(Action::Compact { order: 3 }));
        ladder.report(ActionReport {
            t_ms: 0,
            action: Action::Compact { order: 3 },
            pages_moved: 0,
            pages_freed: 0,
            blocks_gained: 0,
            elapsed_us: 10,
        });
        assert_eq!(ladder.decide(&assessment(1500, true, 3, 800), &i), None);
        assert_eq!(
            ladder.decide(&assessment(4000, true, 3, 800), &i),
            Some(Action::Compact { order: 3 })
        );
        assert_eq!(ladder.reports().count(), 1);
        // Disengages 10 s after the last prediction.
        assert!(ladder.engaged(14_000));
        assert!(!ladder.engaged(14_001));
    }
}

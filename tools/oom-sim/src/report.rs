//! Tables of `oom-sim`: the evaluation summary (per policy, with ratios and the issue's
//! targets), the ladder's actions, the threshold sweep on training seeds, and the cost of one
//! predictor update.

use std::hint::black_box;
use std::time::Instant;

use anyhow::{Context, Result};
use buddy::ORDERS;
use oom::ScenarioKind;
use oom::eval::{EvalRecord, LadderMode, Policy, PolicySummary, Ratio, summarize};
use oom::predictor::PredictorConfig;
use oom::scenario::{Family, Split};
use oom::{CrashPredictor, Sample};

use crate::sim::{self, RunDetail, RunOptions};

fn pct(r: Ratio) -> String {
    match r.value() {
        Some(v) => format!("{}/{} = {:5.1} %", r.num, r.den, v * 100.0),
        None => format!("{}/{} =     –  ", r.num, r.den),
    }
}

fn secs(ms: Option<u64>) -> String {
    ms.map_or_else(
        || "–".to_string(),
        |ms| format!("{:.1} s", ms as f64 / 1000.0),
    )
}

/// Prints the summary table of `records` with ratios and the targets.
pub fn print_summary(records: &[EvalRecord]) {
    let s = summarize(records);
    let count = |mode: LadderMode, kind: Option<ScenarioKind>| {
        records
            .iter()
            .filter(|r| r.ladder == mode && kind.is_none_or(|k| r.scenario == k))
            .count()
    };
    println!(
        "runs: ladder off {} (leak {}, bursty {}, fragment {}, benign {}); ladder on {}; earlyoom response {}; psi response {}",
        count(LadderMode::Off, None),
        count(LadderMode::Off, Some(ScenarioKind::Leak)),
        count(LadderMode::Off, Some(ScenarioKind::Bursty)),
        count(LadderMode::Off, Some(ScenarioKind::Fragment)),
        count(LadderMode::Off, Some(ScenarioKind::Benign)),
        count(LadderMode::On, None),
        count(LadderMode::EarlyOom, None),
        count(LadderMode::Psi, None),
    );
    println!(
        "ladder off: {} of OOM-bound runs ended in an OOM (averted with the response off: {})",
        pct(s.off_ooms),
        pct(Ratio {
            num: s.off_ooms.den - s.off_ooms.num,
            den: s.off_ooms.den
        })
    );
    println!();
    println!(
        "| policy | recall ≥5 s lead | detected before OOM | median lead | false positives (benign) | OOMs averted, its response on | predicted OOMs averted | right victim | benign runs with a kill |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for p in &s.policies {
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.policy.name(),
            pct(p.recall_5s),
            pct(p.detected),
            secs(p.median_lead_ms),
            pct(p.false_positives),
            pct(p.averted),
            pct(p.predicted_averted),
            pct(p.right_kills),
            pct(p.benign_kills),
        );
    }
    println!(
        "(response of our predictor: the ladder — compact, reclaim, kill the fastest-growing owner; response of earlyoom and psi: kill the largest owner)"
    );
    println!(
        "largest-owner choice (when the first policy fired, or at the OOM) would be the culprit in {}",
        pct(s.largest_right)
    );
    let ours = s.policies.iter().find(|p| p.policy == Policy::Predictor);
    if let Some(ours) = ours {
        println!();
        for other in s.policies.iter().filter(|p| p.policy != Policy::Predictor) {
            print_ratio(ours, other);
        }
        println!();
        print_targets(ours, &s.policies);
    }
}

fn print_ratio(ours: &PolicySummary, other: &PolicySummary) {
    let lead = match (ours.median_lead_ms, other.median_lead_ms) {
        (Some(a), Some(b)) => format!(
            "median lead {:+.1} s ({:.1}×)",
            (a as f64 - b as f64) / 1000.0,
            a as f64 / b.max(1) as f64
        ),
        (Some(_), None) => format!(
            "median lead: {} never fired before an OOM",
            other.policy.name()
        ),
        _ => "median lead: –".to_string(),
    };
    let recall = match (ours.recall_5s.value(), other.recall_5s.value()) {
        (Some(a), Some(b)) if b > 0.0 => format!("recall ≥5 s {:.2}×", a / b),
        (Some(a), Some(_)) => format!("recall ≥5 s {:.1} % vs 0 %", a * 100.0),
        _ => "recall: –".to_string(),
    };
    println!("predictor vs {}: {lead}; {recall}", other.policy.name());
}

fn print_targets(ours: &PolicySummary, all: &[PolicySummary]) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    match ours.recall_5s.value() {
        Some(recall) => println!(
            "target recall ≥95 % at ≥5 s lead: {:.1} % — {}",
            recall * 100.0,
            verdict(recall >= 0.95)
        ),
        None => println!("target recall ≥95 % at ≥5 s lead: no OOM runs"),
    }
    match ours.false_positives.value() {
        Some(fp) => println!(
            "target false positives ≤2 % of benign runs: {:.1} % — {}",
            fp * 100.0,
            verdict(fp <= 0.02)
        ),
        None => println!("target false positives ≤2 % of benign runs: no benign runs"),
    }
    match ours.predicted_averted.value() {
        Some(averted) => println!(
            "target ≥80 % of predicted OOMs averted: {:.1} % — {}",
            averted * 100.0,
            verdict(averted >= 0.80)
        ),
        None => println!(
            "target ≥80 % of predicted OOMs averted: no predicted OOM with a ladder-on twin"
        ),
    }
    let lead_ok = all
        .iter()
        .filter(|p| p.policy != Policy::Predictor)
        .all(|p| match (ours.median_lead_ms, p.median_lead_ms) {
            (Some(a), Some(b)) => a >= b + 3_000,
            (Some(_), None) => true,
            _ => false,
        });
    println!(
        "target median lead ≥3 s better than both baselines: {}",
        verdict(lead_ok)
    );
}

/// Prints what the ladder did in the ladder-on runs, per scenario kind.
pub fn print_actions(records: &[EvalRecord], details: &[RunDetail]) {
    println!();
    println!(
        "| ladder on | runs | OOMs | runs without a kill | compactions | pages moved | reclaims | kills | right kills |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for kind in ScenarioKind::BUILTIN {
        let mut runs = 0;
        let mut ooms = 0;
        let mut no_kill = 0;
        let (mut c, mut moved, mut rc, mut k, mut right) = (0, 0, 0, 0, 0);
        for (r, d) in records.iter().zip(details) {
            if r.ladder != LadderMode::On || r.scenario != kind {
                continue;
            }
            runs += 1;
            ooms += u32::from(r.oom_ms.is_some());
            no_kill += u32::from(r.oom_ms.is_none() && r.killed.is_none());
            c += d.actions.0;
            moved += d.pages_moved;
            rc += d.actions.1;
            k += d.actions.2;
            right += u32::from(r.right == Some(true));
        }
        println!("| {kind} | {runs} | {ooms} | {no_kill} | {c} | {moved} | {rc} | {k} | {right} |");
    }
    let mut free_share: Vec<f64> = records
        .iter()
        .zip(details)
        .filter(|(r, _)| r.ladder == LadderMode::Off && r.scenario == ScenarioKind::Fragment)
        .filter_map(|(_, d)| d.free_at_oom.map(|f| f as f64 / d.budget.max(1) as f64))
        .collect();
    free_share.sort_by(f64::total_cmp);
    if let (Some(lo), Some(hi)) = (free_share.first(), free_share.last()) {
        println!(
            "fragment OOMs with the response off happened with {:.0}–{:.0} % of workload memory free",
            lo * 100.0,
            hi * 100.0
        );
    }
}

/// A synthetic stream: a leak with noise and a shifting watched order, so every path of
/// `observe` runs (including the rebuild when the watched order changes).
fn stream() -> Vec<Sample> {
    let mut samples = Vec::with_capacity(4096);
    let mut x: u64 = 1;
    for i in 0..4096u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let free = 40_000 - (i % 1000) * 30 + (x >> 54);
        let mut blocks = [0u64; ORDERS];
        blocks[0] = free / 2;
        blocks[3] = free / 16;
        blocks[4] = (free / 64).saturating_sub(i % 100);
        let free_pages = blocks.iter().enumerate().map(|(o, &b)| b << o).sum();
        samples.push(Sample {
            t_ms: 0,
            total_pages: 65_536,
            free_pages,
            free_blocks_by_order: blocks,
            reclaimable_pages: 1000,
            watched_order: if (i / 500) % 2 == 0 { 4 } else { 3 },
            alloc_count: i * 50,
            failures: i / 1000,
        });
    }
    samples
}

/// Mean ns per `observe` over `calls` calls (at least 1e6); returns (ns, calls made).
pub fn observe_cost(calls: u64) -> (f64, u64) {
    let calls = calls.max(1_000_000);
    let samples = stream();
    let mut predictor = CrashPredictor::with_defaults();
    let mut t = 0u64;
    // Warm-up fills the ring.
    for s in samples.iter().take(200) {
        t += 100;
        predictor.observe(&Sample { t_ms: t, ..*s });
    }
    let started = Instant::now();
    let mut sink = 0.0f32;
    for i in 0..calls {
        t += 100;
        let s = &samples[(i % samples.len() as u64) as usize];
        let a = predictor.observe(black_box(&Sample { t_ms: t, ..*s }));
        sink += a.risk;
    }
    let elapsed = started.elapsed();
    black_box(sink);
    (elapsed.as_nanos() as f64 / calls as f64, calls)
}

/// Threshold sweep over the training runs (ladder off): recall at ≥5 s lead, median lead and
/// false positives per threshold.
pub fn tune(runs: &[(ScenarioKind, u64)]) -> Result<()> {
    println!(
        "threshold sweep on training seeds {}..{} ({} runs, ladder off)",
        runs.first().map_or(0, |r| r.1),
        runs.last().map_or(0, |r| r.1),
        runs.len()
    );
    println!("| threshold | recall ≥5 s | median lead | false positives |");
    println!("|---|---|---|---|");
    for threshold in [0.2f32, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9] {
        let predictor = PredictorConfig {
            threshold,
            ..PredictorConfig::default()
        };
        let mut records = Vec::new();
        for (i, &(kind, seed)) in runs.iter().enumerate() {
            let (r, _) = sim::run(
                i as u32,
                kind,
                seed,
                RunOptions {
                    predictor,
                    mode: LadderMode::Off,
                },
            )
            .with_context(|| format!("{kind} seed {seed}"))?;
            records.push(r);
        }
        let s = summarize(&records);
        let p = &s.policies[0];
        println!(
            "| {threshold:.1} | {} | {} | {} |",
            pct(p.recall_5s),
            secs(p.median_lead_ms),
            pct(p.false_positives)
        );
    }
    Ok(())
}

/// One policy's figures on one set of runs of the family evaluation.
struct FamilyRow {
    recall: Ratio,
    detected: Ratio,
    median_lead_ms: Option<u64>,
    false_alarms: Ratio,
    withdrawn: Ratio,
    benign_kill_runs: Ratio,
    bystander_kills: u32,
    kills: u32,
    max_kills: u32,
    right: Ratio,
    averted: Ratio,
}

/// The figures of `policy` over `records` (off runs of OOM-bound kinds give recall and lead,
/// off runs of benign kinds the false alarms, runs with its own response the kills). The
/// predictor's recall counts only the alarm it resolved as a hit at the OOM (inside its own
/// horizon, `hit_ms`); a baseline's, its first firing.
fn family_row(records: &[EvalRecord], policy: Policy) -> FamilyRow {
    let off = || records.iter().filter(|r| r.ladder == LadderMode::Off);
    let mut leads = Vec::new();
    let mut recall = Ratio::default();
    for r in off().filter(|r| r.scenario.is_oom_bound()) {
        let Some(oom) = r.oom_ms else { continue };
        recall.den += 1;
        let fire = match policy {
            Policy::Predictor => r.extra.and_then(|x| x.hit_ms).or(r.pred_ms),
            _ => policy.fire_ms(r),
        };
        if let Some(fire) = fire.filter(|&f| f <= oom) {
            leads.push(oom - fire);
            recall.num += u32::from(oom - fire >= oom::eval::MIN_LEAD_MS);
        }
    }
    let detected = Ratio {
        num: leads.len() as u32,
        den: recall.den,
    };
    leads.sort_unstable();
    let median_lead_ms = (!leads.is_empty()).then(|| leads[leads.len() / 2]);
    let benign_off: Vec<_> = off().filter(|r| !r.scenario.is_oom_bound()).collect();
    // An alarm the predictor withdrew when the growth stopped is counted apart; a run with
    // an alarm it did not withdraw (or a baseline's firing) is a false alarm.
    let standing = |r: &EvalRecord| match (policy, r.extra) {
        (Policy::Predictor, Some(x)) => r.pred_ms.is_some() && x.alarms > x.withdrawn,
        _ => policy.fire_ms(r).is_some(),
    };
    let false_alarms = Ratio {
        num: benign_off.iter().filter(|r| standing(r)).count() as u32,
        den: benign_off.len() as u32,
    };
    let withdrawn = Ratio {
        num: benign_off
            .iter()
            .filter(|r| policy == Policy::Predictor && r.extra.is_some_and(|x| x.withdrawn > 0))
            .count() as u32,
        den: benign_off.len() as u32,
    };
    let driven: Vec<_> = records
        .iter()
        .filter(|r| r.ladder == policy.mode())
        .collect();
    let kills = |r: &EvalRecord| r.extra.map_or(u32::from(r.killed.is_some()), |x| x.kills);
    let benign_driven: Vec<_> = driven
        .iter()
        .filter(|r| !r.scenario.is_oom_bound())
        .collect();
    let bound_driven: Vec<_> = driven
        .iter()
        .filter(|r| r.scenario.is_oom_bound())
        .collect();
    FamilyRow {
        recall,
        detected,
        median_lead_ms,
        false_alarms,
        withdrawn,
        benign_kill_runs: Ratio {
            num: benign_driven.iter().filter(|r| kills(r) > 0).count() as u32,
            den: benign_driven.len() as u32,
        },
        bystander_kills: driven
            .iter()
            .map(|r| r.extra.map_or(0, |x| x.bystander_kills))
            .sum(),
        kills: driven.iter().map(|r| kills(r)).sum(),
        max_kills: driven.iter().map(|r| kills(r)).max().unwrap_or(0),
        right: Ratio {
            num: driven.iter().filter(|r| r.right == Some(true)).count() as u32,
            den: driven.iter().filter(|r| r.killed.is_some()).count() as u32,
        },
        averted: Ratio {
            num: bound_driven.iter().filter(|r| r.oom_ms.is_none()).count() as u32,
            den: bound_driven.len() as u32,
        },
    }
}

fn short_pct(r: Ratio) -> String {
    match r.value() {
        Some(v) => format!("{}/{} {:.0} %", r.num, r.den, v * 100.0),
        None => "–".to_string(),
    }
}

fn print_family_rows(label: &str, records: &[EvalRecord]) {
    for policy in Policy::ALL {
        let row = family_row(records, policy);
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} (max {} in a run) | {} | {} |",
            policy.name(),
            short_pct(row.recall),
            short_pct(row.detected),
            secs(row.median_lead_ms),
            short_pct(row.false_alarms),
            if policy == Policy::Predictor {
                short_pct(row.withdrawn)
            } else {
                "n/a".to_string()
            },
            short_pct(row.benign_kill_runs),
            row.bystander_kills,
            row.kills,
            row.max_kills,
            short_pct(row.right),
            short_pct(row.averted),
        );
    }
}

/// The heading of a split's table.
fn split_title(split: Split) -> &'static str {
    match split {
        Split::Builtin => "builtin families (leak, bursty, fragment; issue 3)",
        Split::Design => {
            "train (design) families: the predictor and ladder were designed and tuned on them (tuning seeds from 1 000 000)"
        }
        Split::HeldOut => {
            "seen-held-out families: frozen before the first pass, then diagnosed (on tuning seeds) in the second: no longer a clean held-out figure"
        }
        Split::Fresh => {
            "fresh-held-out families: frozen with the old predictor's numbers before the second pass changed anything (docs/oom-eval/families-fresh.md): the held-out figure"
        }
    }
}

/// Runs every family in `families` (`runs` seeds from `seed_base`, its OOM-bound kind and its
/// benign twin, each in the four modes) and prints a table per family and per split.
pub fn family_eval(
    families: &[Family],
    runs: u32,
    seed_base: u64,
    predictor: PredictorConfig,
    quiet: bool,
) -> Result<()> {
    let mut all: Vec<(Family, EvalRecord)> = Vec::new();
    let mut index = 0;
    for family in families {
        for i in 0..runs {
            let seed = seed_base + u64::from(i);
            for kind in [family.oom, family.benign] {
                for mode in [
                    LadderMode::Off,
                    LadderMode::On,
                    LadderMode::EarlyOom,
                    LadderMode::Psi,
                ] {
                    let (record, _) =
                        sim::run(index, kind, seed, RunOptions { predictor, mode })
                            .with_context(|| format!("run {index}: {kind} seed {seed}"))?;
                    if !quiet {
                        println!("{record}");
                    }
                    all.push((*family, record));
                    index += 1;
                }
            }
        }
    }
    println!("eval done");
    println!();
    println!(
        "scenario families: {runs} seeds each ({seed_base}..{}) of the OOM-bound kind and its benign twin, each with the response off, the ladder on, earlyoom's and PSI's response; threshold {:.2}",
        seed_base + u64::from(runs) - 1,
        predictor.threshold
    );
    println!(
        "recall: OOMs (response off) with an alarm ≥ 5 s ahead — for the predictor the alarm it resolved as a hit inside its own horizon; false alarms: benign twins (response off) with a firing — for the predictor an alarm it did not withdraw; withdrawn alarms: benign twins in which it raised an alarm and withdrew it when the growth stopped; benign-run kills, bystanders killed and right victims: runs with the policy's own response"
    );
    let header = |title: &str| {
        println!();
        println!("{title}");
        println!();
        println!(
            "| family | policy | recall ≥5 s | detected | median lead | false alarms | withdrawn alarms | benign runs with a kill | bystanders killed | kills (max in a run) | right first victim | OOMs averted |"
        );
        println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    };
    for split in [Split::Design, Split::HeldOut, Split::Fresh] {
        let in_split: Vec<&Family> = families.iter().filter(|f| f.split == split).collect();
        if in_split.is_empty() {
            continue;
        }
        header(split_title(split));
        for family in &in_split {
            let records: Vec<EvalRecord> = all
                .iter()
                .filter(|(f, _)| f == *family)
                .map(|(_, r)| *r)
                .collect();
            let label = format!(
                "{}{}",
                family.name,
                if family.abrupt { " (abrupt)" } else { "" }
            );
            print_family_rows(&label, &records);
        }
        for abrupt in [false, true] {
            let records: Vec<EvalRecord> = all
                .iter()
                .filter(|(f, _)| f.split == split && f.abrupt == abrupt)
                .map(|(_, r)| *r)
                .collect();
            if records.is_empty() {
                continue;
            }
            let label = format!(
                "**all {}{}**",
                split.name(),
                if abrupt { " abrupt" } else { " gradual" }
            );
            print_family_rows(&label, &records);
        }
    }
    let splits = families
        .iter()
        .map(|f| f.split)
        .fold(Vec::new(), |mut v, s| {
            if !v.contains(&s) {
                v.push(s);
            }
            v
        });
    if splits.len() > 1 {
        header("every family above together (the issue's targets are over all families)");
        for abrupt in [false, true] {
            let records: Vec<EvalRecord> = all
                .iter()
                .filter(|(f, _)| f.abrupt == abrupt)
                .map(|(_, r)| *r)
                .collect();
            if !records.is_empty() {
                let label = if abrupt {
                    "**all abrupt**"
                } else {
                    "**all gradual**"
                };
                print_family_rows(label, &records);
            }
        }
    }
    print_lead_table(families, &all);
    Ok(())
}

/// The target "lead ≥ both baselines' on every family with a gradual trend": per
/// gradual family, the median lead of each policy (over the OOM runs it fired before, response
/// off), whether the predictor's is at least both baselines' (a baseline that never fired
/// before an OOM counts as no lead), and the baselines' false alarms beside it, since a rule
/// can buy lead with them.
fn print_lead_table(families: &[Family], all: &[(Family, EvalRecord)]) {
    let gradual: Vec<&Family> = families.iter().filter(|f| !f.abrupt).collect();
    if gradual.is_empty() {
        return;
    }
    println!();
    println!(
        "median lead per gradual family against both baselines (response off; the target: the predictor's ≥ both)"
    );
    println!();
    println!(
        "| family | split | predictor | earlyoom | PSI | ≥ both | earlyoom false alarms | PSI false alarms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut met = 0;
    for family in &gradual {
        let records: Vec<EvalRecord> = all
            .iter()
            .filter(|(f, _)| f == *family)
            .map(|(_, r)| *r)
            .collect();
        let [ours, early, psi] = Policy::ALL.map(|p| family_row(&records, p));
        let best_baseline = early
            .median_lead_ms
            .unwrap_or(0)
            .max(psi.median_lead_ms.unwrap_or(0));
        let ok = ours.median_lead_ms.unwrap_or(0) >= best_baseline;
        met += usize::from(ok);
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            family.name,
            family.split.name(),
            secs(ours.median_lead_ms),
            secs(early.median_lead_ms),
            secs(psi.median_lead_ms),
            if ok { "yes" } else { "**no**" },
            short_pct(early.false_alarms),
            short_pct(psi.false_alarms),
        );
    }
    println!();
    println!(
        "lead ≥ both baselines on {met} of {} gradual families",
        gradual.len()
    );
}

/// The family of a scenario kind (its OOM-bound kind or its benign twin).
fn family_of(kind: ScenarioKind) -> Option<Family> {
    oom::scenario::FAMILIES
        .iter()
        .copied()
        .find(|f| f.oom == kind || f.benign == kind)
}

/// What one kernel run and its simulator replay agree on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunAgreement {
    /// Both end in an OOM, or neither does.
    pub oom: bool,
    /// Both predictors raised an alarm, or neither did.
    pub alarm: bool,
    /// For a run with the response off: both count a hit ≥ 5 s ahead (recall), or neither.
    pub recall: bool,
    /// Both leave a standing (not withdrawn) alarm in a benign run, or neither.
    pub false_alarm: bool,
    /// The same number of kills.
    pub kills: bool,
}

impl RunAgreement {
    /// Whether the two runs agree on everything compared.
    pub fn all(self) -> bool {
        self.oom && self.alarm && self.recall && self.false_alarm && self.kills
    }
}

/// Whether the predictor's alarm in `r` counts for recall (a hit ≥ 5 s before the OOM).
fn recalled(r: &EvalRecord) -> bool {
    match (r.oom_ms, r.extra.and_then(|x| x.hit_ms)) {
        (Some(oom), Some(hit)) => oom.saturating_sub(hit) >= oom::eval::MIN_LEAD_MS && hit <= oom,
        _ => false,
    }
}

/// Whether `r` (a benign run) ends with an alarm the predictor did not withdraw.
fn standing_alarm(r: &EvalRecord) -> bool {
    !r.scenario.is_oom_bound()
        && r.pred_ms.is_some()
        && r.extra.is_some_and(|x| x.alarms > x.withdrawn)
}

fn kill_count(r: &EvalRecord) -> u32 {
    r.extra.map_or(u32::from(r.killed.is_some()), |x| x.kills)
}

/// Compares a kernel run with the simulator's run of the same scenario, seed and mode.
pub fn agreement(kernel: &EvalRecord, sim: &EvalRecord) -> RunAgreement {
    RunAgreement {
        oom: kernel.oom_ms.is_some() == sim.oom_ms.is_some(),
        alarm: kernel.pred_ms.is_some() == sim.pred_ms.is_some(),
        recall: kernel.ladder != LadderMode::Off || recalled(kernel) == recalled(sim),
        false_alarm: standing_alarm(kernel) == standing_alarm(sim),
        kills: kill_count(kernel) == kill_count(sim),
    }
}

/// `a − b` in seconds, signed, when both are known.
fn diff_s(a: Option<u64>, b: Option<u64>) -> Option<f64> {
    Some((a? as f64 - b? as f64) / 1000.0)
}

fn signed(d: Option<f64>) -> String {
    d.map_or_else(|| "–".to_string(), |d| format!("{d:+.1} s"))
}

/// `oom-sim compare`: replays every family run of `kernel` (lines of `crashctl eval FAMILY
/// SEED SEEDS`, response off or on) in the simulator with the same scenario, seed and mode,
/// and prints the runs side by side, the family tables of both, and how far they agree:
/// outcome, alarm, recall, false alarm and kills per run, and the differences in OOM time and
/// in the predictor's lead. Returns the runs compared and those that agree on everything.
pub fn compare(kernel: &[EvalRecord], predictor: PredictorConfig) -> Result<(usize, usize)> {
    let mut pairs: Vec<(Family, EvalRecord, EvalRecord)> = Vec::new();
    for k in kernel {
        let Some(family) = family_of(k.scenario) else {
            continue;
        };
        if !matches!(k.ladder, LadderMode::Off | LadderMode::On) {
            continue;
        }
        let (s, _) = sim::run(
            k.run,
            k.scenario,
            k.seed,
            RunOptions {
                predictor,
                mode: k.ladder,
            },
        )
        .with_context(|| format!("simulating {} seed {}", k.scenario, k.seed))?;
        pairs.push((family, *k, s));
    }
    if pairs.is_empty() {
        anyhow::bail!("no family runs (crashctl eval FAMILY …) among the lines");
    }
    println!(
        "each kernel run next to the simulator's run of the same scenario, seed and mode (kernel / simulator):"
    );
    println!();
    println!(
        "| scenario | seed | response | OOM | alarm | predictor lead at the OOM | earlyoom | PSI | kills | agree |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let at = |ms: Option<u64>| secs(ms);
    let lead = |r: &EvalRecord| {
        let oom = r.oom_ms?;
        let hit = r.extra.and_then(|x| x.hit_ms).or(r.pred_ms)?;
        (hit <= oom).then(|| oom - hit)
    };
    let mut oom_diffs = Vec::new();
    let mut lead_diffs = Vec::new();
    let mut counts = [0usize; 6];
    for (_, k, s) in &pairs {
        let a = agreement(k, s);
        for (i, ok) in [a.oom, a.alarm, a.recall, a.false_alarm, a.kills, a.all()]
            .into_iter()
            .enumerate()
        {
            counts[i] += usize::from(ok);
        }
        if let Some(d) = diff_s(k.oom_ms, s.oom_ms) {
            oom_diffs.push(d);
        }
        if let Some(d) = diff_s(lead(k), lead(s)) {
            lead_diffs.push(d);
        }
        println!(
            "| {} | {} | {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} | {} / {} | {} |",
            k.scenario,
            k.seed,
            k.ladder.name(),
            at(k.oom_ms),
            at(s.oom_ms),
            at(k.pred_ms),
            at(s.pred_ms),
            at(lead(k)),
            at(lead(s)),
            at(k.earlyoom_ms),
            at(s.earlyoom_ms),
            at(k.psi_ms),
            at(s.psi_ms),
            kill_count(k),
            kill_count(s),
            if a.all() { "yes" } else { "**no**" }
        );
    }
    let mut families: Vec<Family> = Vec::new();
    for (f, _, _) in &pairs {
        if !families.contains(f) {
            families.push(*f);
        }
    }
    println!();
    println!(
        "family tables, kernel (QEMU) and simulator on the same runs (response off and on only: the baselines' own kills are not run in the kernel)"
    );
    println!();
    println!(
        "| family | policy | recall ≥5 s | detected | median lead | false alarms | withdrawn alarms | benign runs with a kill | bystanders killed | kills (max in a run) | right first victim | OOMs averted |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for family in &families {
        for (who, pick) in [("QEMU", 0), ("sim", 1)] {
            let records: Vec<EvalRecord> = pairs
                .iter()
                .filter(|(f, _, _)| f == family)
                .map(|(_, k, s)| if pick == 0 { *k } else { *s })
                .collect();
            print_family_rows(
                &format!("{} ({}, {who})", family.name, family.split.name()),
                &records,
            );
        }
    }
    let n = pairs.len();
    let abs_median = |v: &mut Vec<f64>| -> String {
        if v.is_empty() {
            return "–".to_string();
        }
        v.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
        let max = v.last().copied().unwrap_or(0.0);
        format!(
            "median |difference| {:.1} s, largest {}",
            v[v.len() / 2].abs(),
            signed(Some(max))
        )
    };
    println!();
    println!("agreement of the kernel with the simulator over {n} runs:");
    println!(
        "- same outcome (OOM or not): {}/{n}; same alarm raised or not: {}/{n}; same recall verdict (response off): {}/{n}; same standing false alarm: {}/{n}; same number of kills: {}/{n}; all of these: {}/{n}",
        counts[0], counts[1], counts[2], counts[3], counts[4], counts[5]
    );
    println!(
        "- OOM time, kernel − simulator ({} runs with both): {}",
        oom_diffs.len(),
        abs_median(&mut oom_diffs)
    );
    println!(
        "- predictor lead at the OOM, kernel − simulator ({} runs with both): {}",
        lead_diffs.len(),
        abs_median(&mut lead_diffs)
    );
    Ok((n, counts[5]))
}

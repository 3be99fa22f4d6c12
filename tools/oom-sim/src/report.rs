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
    for kind in ScenarioKind::ALL {
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

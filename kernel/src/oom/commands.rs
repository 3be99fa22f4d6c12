//! The shell side of the OOM subsystem: `memctl compact|reclaim|stress` (added to the
//! foundation's `memctl` group) and the `crashctl` group (status, history, tune, stats, auto,
//! log, eval). The registry has checked each argument count against the usage synopsis before
//! a handler runs; handlers parse and check the values — numbers through the shell's one
//! grammar (`shell::parse_arg`), bad ones becoming `error:` lines through
//! `CommandError::usage` — and format snapshots taken from `state` (the supervisor),
//! `workload`, `pool`, `compact` and `reclaim`; none of them holds a lock while writing
//! output. Argument ranges come from the `oom` crate (`predictor::HISTORY`, the threshold
//! ranges and conversions), which oslang's command catalogue shares, and the help texts
//! that quote them are built from the same constants at compile time ([`Text`]).

use core::fmt::Write;

use oom::predictor::{
    HISTORY, THRESHOLD_PERCENT_MAX, THRESHOLD_PERCENT_MIN, threshold_from_fraction,
    threshold_from_percent,
};
use oom::supervisor::{LOG_LEN, LogKind};
use oom::{OomKill, Outcome, ScenarioKind};
use shell::{
    CommandError, Number, Subcommand, expect_arg_count, optional_arg, parse_arg, required_arg,
};

use super::workload::{self, ActorState};
use super::{compact, eval, pool, state};
use crate::ctx::KernelCtx;
use crate::reclaim;

type Out<'a> = &'a mut dyn Write;
type CmdResult = Result<(), CommandError>;

fn w(r: core::fmt::Result) -> CmdResult {
    r.map_err(|_| CommandError::Output)
}

/// A help text assembled at compile time from literals and numbers, so that a text quoting a
/// limit cannot disagree with the check that enforces it. Overflowing `N` fails the build.
struct Text<const N: usize> {
    buf: [u8; N],
    len: usize,
}

impl<const N: usize> Text<N> {
    const fn new() -> Self {
        Text {
            buf: [0; N],
            len: 0,
        }
    }

    const fn str(mut self, s: &str) -> Self {
        let bytes = s.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            self.buf[self.len] = bytes[i];
            self.len += 1;
            i += 1;
        }
        self
    }

    const fn num(mut self, mut n: u64) -> Self {
        let mut digits = [0u8; 20];
        let mut count = 0;
        loop {
            digits[count] = b'0' + (n % 10) as u8;
            count += 1;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        while count > 0 {
            count -= 1;
            self.buf[self.len] = digits[count];
            self.len += 1;
        }
        self
    }

    const fn as_str(&'static self) -> &'static str {
        match core::str::from_utf8(self.buf.split_at(self.len).0) {
            Ok(s) => s,
            Err(_) => panic!("help text is not UTF-8"),
        }
    }
}

static HISTORY_SUMMARY: Text<96> = Text::new()
    .str("the last N crash predictions and their outcomes (1-")
    .num(HISTORY as u64)
    .str(", default 10)");

static TUNE_SUMMARY: Text<160> = Text::new()
    .str("set the risk at which a crash is predicted: a percent ")
    .num(THRESHOLD_PERCENT_MIN as u64)
    .str("-")
    .num(THRESHOLD_PERCENT_MAX as u64)
    .str(" (20 = 0.20) or a fraction 0 < t <= 1 with a point (0.55), or restore the default");

/// Subcommands appended to the foundation's `memctl` group.
pub const MEMCTL: [Subcommand<KernelCtx>; 3] = [
    Subcommand {
        name: "compact",
        usage: "[ORDER]",
        summary: "migrate movable pages to rebuild free blocks of ORDER (1-10; default: the watched order, else 3)",
        handler: memctl_compact,
    },
    Subcommand {
        name: "reclaim",
        usage: "[PAGES]",
        summary: "run the shrinkers (workload cache, block cache) for up to PAGES pages (default: all)",
        handler: memctl_reclaim,
    },
    Subcommand {
        name: "stress",
        usage: "<leak|bursty|fragment|benign> [SEED] | stop | status",
        summary: "start an OOM workload scenario, stop it, or show its actors",
        handler: memctl_stress,
    },
];

/// The `crashctl` group.
pub const CRASHCTL: [Subcommand<KernelCtx>; 7] = [
    Subcommand {
        name: "status",
        usage: "",
        summary: "risk level, confidence, time to exhaustion and the factors behind them",
        handler: crashctl_status,
    },
    Subcommand {
        name: "history",
        usage: "[N]",
        summary: HISTORY_SUMMARY.as_str(),
        handler: crashctl_history,
    },
    Subcommand {
        name: "tune",
        usage: "<PERCENT|FRACTION|default>",
        summary: TUNE_SUMMARY.as_str(),
        handler: crashctl_tune,
    },
    Subcommand {
        name: "stats",
        usage: "",
        summary: "precision, recall and median lead time (since the last workload run started), cost of one update",
        handler: crashctl_stats,
    },
    Subcommand {
        name: "auto",
        usage: "<on|off>",
        summary: "let the response ladder act (compact, reclaim, kill) or only watch",
        handler: crashctl_auto,
    },
    Subcommand {
        name: "log",
        usage: "[N]",
        summary: "the last N ladder actions and OOM kills of the current run, with their measured effect (default 16)",
        handler: crashctl_log,
    },
    Subcommand {
        name: "eval",
        usage: "<RUNS|FAMILY> <SEED> [SEEDS]",
        summary: "in-kernel evaluation: RUNS runs (1-200), OOM-bound and benign, ladder off and on; or a scenario family (sawtooth, churn, ...) for SEEDS seeds (1-50, default 1), its OOM-bound kind and benign twin, ladder off and on (Ctrl-C stops it)",
        handler: crashctl_eval,
    },
];

fn memctl_compact(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let order = match optional_arg::<u8>(args, 0, "ORDER")? {
        Some(o) if (1..=buddy::MAX_ORDER as u8).contains(&o) => usize::from(o),
        Some(o) => {
            return Err(CommandError::usage(alloc::format!(
                "ORDER must be between 1 and {}, got {o}",
                buddy::MAX_ORDER
            )));
        }
        None => match state::watched_order() {
            0 => 3,
            o => o,
        },
    };
    let r = compact::compact(order, usize::MAX)
        .map_err(|e| CommandError::failed(alloc::format!("{e}")))?;
    w(writeln!(
        out,
        "compact: order {}: moved {} pages ({} moves planned for {} blocks, {} skipped), order-{} blocks {} -> {}, {}.{:03} ms",
        r.order,
        r.pages_moved,
        r.moves_planned,
        r.targets,
        r.moves_skipped,
        r.order,
        r.blocks_before,
        r.blocks_after,
        r.elapsed_ns / 1_000_000,
        (r.elapsed_ns / 1000) % 1000
    ))
}

fn memctl_reclaim(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let pages = match optional_arg::<u64>(args, 0, "PAGES")? {
        None => u64::MAX,
        Some(p) if (1..=u64::from(oom::RECLAIM_PAGES_MAX)).contains(&p) => p,
        Some(p) => {
            return Err(CommandError::usage(alloc::format!(
                "PAGES must be between 1 and {}, got {p}",
                oom::RECLAIM_PAGES_MAX
            )));
        }
    };
    let r = reclaim::reclaim(pages);
    for (name, freed) in r.freed.iter().filter_map(|(n, f)| n.map(|n| (n, *f))) {
        w(writeln!(out, "reclaim: {name}: freed {freed} pages"))?;
    }
    w(writeln!(
        out,
        "reclaim: freed {} pages in total, {}.{:03} ms",
        r.total,
        r.elapsed_ns / 1_000_000,
        (r.elapsed_ns / 1000) % 1000
    ))
}

fn memctl_stress(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    // The synopsis allows 1-2 arguments over its alternatives; `stop` and `status` take no
    // seed, which only the handler can tell.
    let what = required_arg(args, 0, "SCENARIO")?;
    match what {
        "stop" => {
            expect_arg_count(args, 1, 1)?;
            workload::stop();
            if workload::wait_idle(10_000) {
                w(writeln!(out, "stress: stopped"))
            } else {
                Err(CommandError::failed(
                    "the workload threads did not stop within 10 s",
                ))
            }
        }
        "status" => {
            expect_arg_count(args, 1, 1)?;
            stress_status(out)
        }
        kind => {
            let kind: ScenarioKind = kind.parse().map_err(|e| {
                CommandError::usage(alloc::format!("{e} (or stop, status), got '{kind}'"))
            })?;
            let seed = optional_arg::<u64>(args, 1, "SEED")?.unwrap_or(1);
            let run = workload::start(kind, seed)
                .map_err(|e| CommandError::failed(alloc::format!("{e}")))?;
            w(write!(
                out,
                "stress: started {} seed={seed}, actors:",
                kind.name()
            ))?;
            for a in run.actors.iter().flatten() {
                w(write!(out, " {}", a.role.name()))?;
            }
            w(writeln!(out, "; runs {} s", run.duration_ms / 1000))
        }
    }
}

fn stress_status(out: Out) -> CmdResult {
    let Some(run) = workload::run_info() else {
        return w(writeln!(out, "stress: no workload has run"));
    };
    let elapsed = (hal::time::now_ns() / 1_000_000).saturating_sub(run.started_ms);
    w(writeln!(
        out,
        "stress: {} seed={}{} {} elapsed {} ms of {} ms, oom kills: {}",
        run.kind.name(),
        run.seed,
        if run.high_order > 0 {
            alloc::format!(" (consumer needs order {})", run.high_order)
        } else {
            alloc::string::String::new()
        },
        if run.active() { "running" } else { "finished" },
        elapsed,
        run.duration_ms,
        run.actors
            .iter()
            .flatten()
            .filter(|a| matches!(a.state, ActorState::OomKilled { .. }))
            .count()
    ))?;
    for a in run.actors.iter().flatten() {
        w(write!(out, "actor {} ", a.role.name()))?;
        match a.state {
            ActorState::Running => w(write!(out, "running"))?,
            ActorState::Finished => w(write!(out, "finished"))?,
            ActorState::OomKilled { t_ms, order } => w(write!(
                out,
                "oom-killed at {t_ms} ms (order-{order} request)"
            ))?,
            ActorState::LadderKilled { t_ms } => w(write!(out, "ladder-killed at {t_ms} ms"))?,
        }
        w(writeln!(out, " pages {}", pool::held_pages(a.owner)))?;
    }
    let p = pool::stats();
    w(writeln!(
        out,
        "pool: held {} pages (table of {} blocks), checked {} blocks, corrupted {}, migrated {} pages",
        p.held_pages, p.capacity, p.verified_blocks, p.corrupted_blocks, p.migrated_pages
    ))
}

fn secs(ms: Option<u64>) -> alloc::string::String {
    match ms {
        Some(ms) => alloc::format!("{}.{} s", ms / 1000, (ms % 1000) / 100),
        None => alloc::string::String::from("-"),
    }
}

fn crashctl_status(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let s = state::status().ok_or_else(|| CommandError::failed("the sampler is not running"))?;
    let Some(a) = s.assessment else {
        return w(writeln!(out, "level: NORMAL (no sample yet)"));
    };
    w(writeln!(
        out,
        "level: {}  risk {:.2}  confidence {:.2}  threshold {:.2}  predicting a crash: {}  auto: {}",
        a.level.name(),
        a.risk,
        a.confidence,
        s.threshold,
        if a.predicts_crash { "yes" } else { "no" },
        if s.auto { "on" } else { "off" }
    ))?;
    w(writeln!(
        out,
        "time to exhaustion: {} (free pages: {}, order-{} blocks: {})",
        secs(a.tte_ms),
        secs(a.free_tte_ms),
        a.watched_order,
        secs(a.frag_tte_ms)
    ))?;
    w(writeln!(
        out,
        "factors: decline {:.2}  trend {:.2}  fragmentation {:.2}  failures {:.2}",
        a.factors.decline, a.factors.trend, a.factors.fragmentation, a.factors.failures
    ))?;
    if let Some(sample) = s.sample {
        w(writeln!(
            out,
            "memory: free {} of {} pages, reclaimable {}, watched order {} (fragmentation {} permille), free-page slope {:.0} pages/s, alloc rate {:.0}/s, psi avg10 {:.2}",
            sample.free_pages,
            sample.total_pages,
            sample.reclaimable_pages,
            a.watched_order,
            a.frag_index,
            a.free_slope_per_s,
            a.alloc_rate_per_s,
            s.psi_avg10
        ))?;
    }
    Ok(())
}

fn crashctl_history(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let n = optional_arg::<usize>(args, 0, "N")?.unwrap_or(10);
    if !(1..=HISTORY).contains(&n) {
        return Err(CommandError::usage(alloc::format!(
            "N must be between 1 and {HISTORY}, got {n}"
        )));
    }
    let records = state::history();
    let total = records.len();
    if total == 0 {
        return w(writeln!(out, "history: no predictions yet"));
    }
    w(writeln!(
        out,
        "history: {} of {total} predictions, newest first",
        n.min(total)
    ))?;
    for r in records.iter().take(n) {
        let outcome = match r.outcome {
            Outcome::Pending => alloc::string::String::from("pending"),
            Outcome::TruePositive { lead_ms } => {
                alloc::format!("true positive, OOM {} later", secs(Some(lead_ms)))
            }
            Outcome::FalsePositive => alloc::string::String::from("false positive"),
            Outcome::Averted => alloc::string::String::from("acted on, no OOM"),
            Outcome::Withdrawn => {
                alloc::string::String::from("withdrawn: the growth stopped on its own")
            }
        };
        w(writeln!(
            out,
            "#{} at {} ms: risk {:.2}, time to exhaustion {}, {}{}",
            r.seq,
            r.t_ms,
            r.risk,
            secs(r.tte_ms),
            outcome,
            if r.acted { " (ladder acted)" } else { "" }
        ))?;
    }
    Ok(())
}

/// `crashctl tune PERCENT|FRACTION|default`: the shell's number grammar tells the integer
/// form (a percent) from the fraction form, the `oom` crate owns their ranges.
fn crashctl_tune(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let threshold: f32 = match required_arg(args, 0, "THRESHOLD")? {
        "default" => oom::predictor::DEFAULT_THRESHOLD,
        text => match parse_arg::<Number>("THRESHOLD", text)? {
            Number::Integer(percent) => threshold_from_percent(percent),
            Number::Fraction(fraction) => threshold_from_fraction(fraction),
        }
        .map_err(|e| CommandError::usage(alloc::format!("{e}, got '{text}'")))?,
    };
    state::tune(threshold).map_err(|e| CommandError::usage(alloc::format!("{e}")))?;
    w(writeln!(out, "threshold: {threshold:.2}"))
}

fn ratio(v: Option<f32>) -> alloc::string::String {
    v.map_or_else(
        || alloc::string::String::from("-"),
        |v| alloc::format!("{:.1} %", v * 100.0),
    )
}

fn crashctl_stats(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let (s, cost) =
        state::stats().ok_or_else(|| CommandError::failed("the sampler is not running"))?;
    w(writeln!(
        out,
        "predictions: {}  true positives: {}  false positives: {}  acted on without OOM: {}  pending: {}",
        s.predictions, s.true_positives, s.false_positives, s.averted, s.pending
    ))?;
    w(writeln!(
        out,
        "ooms: {}  missed: {}  precision: {}  recall: {}  median lead: {}",
        s.ooms,
        s.false_negatives,
        ratio(s.precision),
        ratio(s.recall),
        secs(s.median_lead_ms)
    ))?;
    let pct = |ns: Option<u64>| {
        ns.map_or_else(
            || alloc::string::String::from("> 256000"),
            |ns| alloc::format!("{ns}"),
        )
    };
    w(writeln!(
        out,
        "update cost: mean {} ns, p50 {} ns, p99 {} ns, max {} ns, last {} ns over {} updates (in QEMU; the native figure is measured by oom-sim)",
        cost.mean_ns,
        pct(cost.p50_ns),
        pct(cost.p99_ns),
        cost.max_ns,
        cost.last_ns,
        cost.updates
    ))
}

fn crashctl_auto(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let on = match required_arg(args, 0, "on|off")? {
        "on" => true,
        "off" => false,
        other => {
            return Err(CommandError::usage(alloc::format!(
                "expected on or off, got '{other}'"
            )));
        }
    };
    state::set_auto(on);
    w(writeln!(
        out,
        "auto: {}",
        if on {
            "on (the response ladder acts)"
        } else {
            "off (watching only)"
        }
    ))
}

fn crashctl_log(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let n = optional_arg::<usize>(args, 0, "N")?.unwrap_or(16);
    if !(1..=LOG_LEN).contains(&n) {
        return Err(CommandError::usage(alloc::format!(
            "N must be between 1 and {LOG_LEN}, got {n}"
        )));
    }
    let log = state::log();
    if log.is_empty() {
        return w(writeln!(out, "log: empty"));
    }
    for e in log.iter().take(n) {
        w(write!(out, "uptime {} ms: ", e.t_ms))?;
        match e.kind {
            LogKind::OomKill(OomKill {
                role,
                order,
                watermark,
                pages_freed,
                ..
            }) => w(writeln!(
                out,
                "oom-kill {}: order-{order} request {}, freed {pages_freed} pages",
                role.name(),
                if watermark {
                    "refused by the watermark"
                } else {
                    "found no free block"
                }
            ))?,
            LogKind::Action { report, victim } => {
                let us = report.elapsed_us;
                match report.action {
                    oom::Action::Compact { order } => w(writeln!(
                        out,
                        "compact order {order}: moved {} pages, +{} order-{order} blocks, {}.{:03} ms",
                        report.pages_moved,
                        report.blocks_gained,
                        us / 1000,
                        us % 1000
                    ))?,
                    oom::Action::Reclaim { pages } => w(writeln!(
                        out,
                        "reclaim up to {pages} pages: freed {}, {}.{:03} ms",
                        report.pages_freed,
                        us / 1000,
                        us % 1000
                    ))?,
                    oom::Action::Kill { .. } => w(writeln!(
                        out,
                        "kill {}: freed {} pages, {}.{:03} ms",
                        victim.map_or("(already gone)", |r| r.name()),
                        report.pages_freed,
                        us / 1000,
                        us % 1000
                    ))?,
                }
            }
        }
    }
    Ok(())
}

fn crashctl_eval(ctx: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let first = required_arg(args, 0, "RUNS|FAMILY")?;
    let seed: u64 = parse_arg("SEED", required_arg(args, 1, "SEED")?)?;
    let seeds: Option<u32> = optional_arg(args, 2, "SEEDS")?;
    // Family names start with a letter; anything else is a number of runs, so `0x2` or `+5`
    // get the number grammar's error rather than "unknown family".
    if !first.starts_with(|c: char| c.is_ascii_alphabetic()) {
        let runs: u32 = parse_arg("RUNS", first)?;
        if !(1..=200).contains(&runs) {
            return Err(CommandError::usage(alloc::format!(
                "RUNS must be between 1 and 200, got {runs}"
            )));
        }
        if seeds.is_some() {
            return Err(CommandError::usage(
                "SEEDS goes with a FAMILY (crashctl eval churn 1 3), not with RUNS",
            ));
        }
        return eval::run(eval::Plan::Builtin, runs, seed, &|| ctx.interrupted(), out);
    }
    let family = oom::scenario::Family::by_name(first).ok_or_else(|| {
        let names: alloc::vec::Vec<&str> = oom::scenario::FAMILIES.iter().map(|f| f.name).collect();
        CommandError::usage(alloc::format!(
            "unknown family {first:?}: expected a number of runs or one of {}",
            names.join(", ")
        ))
    })?;
    let seeds = seeds.unwrap_or(1);
    if !(1..=50).contains(&seeds) {
        return Err(CommandError::usage(alloc::format!(
            "SEEDS must be between 1 and 50, got {seeds}"
        )));
    }
    // Per seed: the OOM-bound kind and its twin, each with the ladder off and on.
    eval::run(
        eval::Plan::Family(family),
        seeds * 4,
        seed,
        &|| ctx.interrupted(),
        out,
    )
}

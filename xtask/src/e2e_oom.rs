//! End-to-end tests of the oom subsystem over the serial shell; [`crate::e2e::all`] runs them
//! after the foundation's table, in one shared boot while they pass.
//!
//! They check what the issue asks to see from outside: `crashctl`/`memctl` reject bad
//! arguments with one `error:` line; `memctl compact` really moves pages and gains blocks after
//! a fragmenting workload; the `fragment` scenario ends in an OOM kill with `crashctl auto off`
//! and survives (no OOM kill, a compaction in `crashctl log`) with `crashctl auto on`; the
//! pool's content check never finds a corrupted block; and the kernel answers throughout. Every
//! test stops its workload and switches `auto` off again, so the next test (and the storage
//! tests after these) find an idle machine. Every name starts with `oom_`, so
//! `cargo xtask test --qemu-only e2e::oom_` runs exactly these.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::console::Console;
use crate::e2e::{E2eTest, command_error};
use crate::parse;

/// The oom tests, in run order.
pub const TESTS: &[E2eTest] = &[
    E2eTest {
        name: "oom_commands_reject_bad_arguments",
        run: oom_commands_reject_bad_arguments,
    },
    E2eTest {
        name: "oom_commands_refuse_extra_arguments_and_other_numbers",
        run: oom_commands_refuse_extra_arguments_and_other_numbers,
    },
    E2eTest {
        name: "oom_crashctl_reports_status_and_stats",
        run: crashctl_reports_status_and_stats,
    },
    E2eTest {
        name: "oom_compact_moves_pages_after_fragmenting",
        run: compact_moves_pages_after_fragmenting,
    },
    E2eTest {
        name: "oom_fragment_without_response_ends_in_oom_kill",
        run: fragment_without_response_ends_in_oom_kill,
    },
    E2eTest {
        name: "oom_fragment_with_response_survives",
        run: fragment_with_response_survives,
    },
    E2eTest {
        name: "oom_benign_burst_with_response_kills_nothing",
        run: benign_burst_with_response_kills_nothing,
    },
];

/// Seed of the `fragment` runs (its OOM comes about 40 s into the run with the response off).
const FRAGMENT_SEED: u64 = 1;
/// Longest a `fragment` run may take to reach its OOM with the response off (it lasts 90 s).
const OOM_DEADLINE: Duration = Duration::from_secs(100);
/// How long the run with the response on must go without an OOM kill (run time, ms).
const SURVIVE_MS: u64 = 60_000;
/// Seed of the benign burst (`spike-ok`): in the simulator its burst takes 20 232 pages from
/// 15.2 s to 19.3 s, stopping about 10 % above the watermark; the predictor raises an alarm
/// at 19.8 s and withdraws it. The ladder used to kill the burst's thread 1.9 s after it
/// stopped (issue 13's last benign kill), which this test would see.
const BURST_SEED: u64 = 5;
/// Watch the burst run this long (run time, ms): the burst, the alarm and its withdrawal.
const BURST_WATCH_MS: u64 = 32_000;
/// The burst ran: the bursting thread held at least this many pages (the simulator: 20 232).
const BURST_MIN_PAGES: u64 = 15_000;

fn oom_commands_reject_bad_arguments(console: &mut Console) -> Result<()> {
    let bad = [
        "crashctl",
        "crashctl frobnicate",
        "crashctl status extra",
        "crashctl tune",
        "crashctl tune 0",
        "crashctl tune 1.5",
        "crashctl tune nan",
        "crashctl tune high",
        "crashctl tune 100",
        "crashctl history 0",
        "crashctl history 65",
        "crashctl history many",
        "crashctl auto",
        "crashctl auto maybe",
        "crashctl log 0",
        "crashctl eval",
        "crashctl eval 0 1",
        "crashctl eval 201 1",
        "crashctl eval 2 -1",
        "memctl compact 0",
        "memctl compact 11",
        "memctl compact big",
        "memctl compact 3 4",
        "memctl reclaim 0",
        "memctl reclaim lots",
        "memctl stress",
        "memctl stress nope",
        "memctl stress leak seed",
        "memctl stress leak 1 2",
        "memctl stress stop now",
        "memctl stress status all",
    ];
    for command in bad {
        let output = console.command(command)?;
        let errors = parse::error_lines(&output.join("\n")).len();
        ensure!(
            errors == 1 && output.first().is_some_and(|l| l.starts_with("error: ")),
            "`{command}` printed {output:?}, expected one `error: ` line first"
        );
    }
    // Nothing was started by the refused commands.
    let status = console.command("memctl stress status")?;
    ensure!(
        !status.iter().any(|l| l.contains(" running ")),
        "a refused command started a workload: {status:?}"
    );
    Ok(())
}

/// The `threshold` field of `crashctl status`.
fn threshold(console: &mut Console) -> Result<String> {
    let status = command_ok(console, "crashctl status")?;
    status
        .iter()
        .find_map(|l| l.split_once("threshold ").map(|(_, t)| t))
        .and_then(|t| t.split_whitespace().next())
        .map(String::from)
        .with_context(|| format!("`crashctl status` shows no threshold: {status:?}"))
}

/// Issue items 8 and 10 for the oom commands: extra arguments are refused before a handler
/// runs (the count comes from each usage synopsis), and numbers are decimal digits (with one
/// point for a fraction) — `0x10`, `+5`, `.5`, `1e-1` are errors with the grammar's message.
/// Nothing is started or changed by a refused line.
fn oom_commands_refuse_extra_arguments_and_other_numbers(console: &mut Console) -> Result<()> {
    let before = threshold(console)?;
    for (line, needle) in [
        ("crashctl status x", "takes no arguments, got 1"),
        ("crashctl stats x", "takes no arguments, got 1"),
        ("crashctl history 5 6", "expected at most 1 argument, got 2"),
        ("crashctl tune 20 30", "expected at most 1 argument, got 2"),
        ("crashctl tune", "expected at least 1 argument, got 0"),
        ("crashctl auto off on", "expected at most 1 argument, got 2"),
        ("crashctl log 1 2", "expected at most 1 argument, got 2"),
        // SEEDS (the third argument) goes with a FAMILY only (issue 13).
        (
            "crashctl eval 1 1 1 1",
            "expected at most 3 arguments, got 4",
        ),
        ("crashctl eval 1 1 1", "SEEDS goes with a FAMILY"),
        ("crashctl eval 1", "expected at least 2 arguments, got 1"),
        ("memctl compact 3 4", "expected at most 1 argument, got 2"),
        ("memctl reclaim 1 2", "expected at most 1 argument, got 2"),
        (
            "memctl stress leak 1 2",
            "expected at most 2 arguments, got 3",
        ),
        (
            "memctl stress stop now",
            "expected at most 1 argument, got 2",
        ),
        (
            "memctl stress status all",
            "expected at most 1 argument, got 2",
        ),
        ("memctl stress", "expected at least 1 argument, got 0"),
    ] {
        command_error(console, line, needle)?;
    }
    let number = "expected a number (decimal digits, at most one point: 20, 0.55)";
    for bad in ["0x10", "+5", ".5", "5.", "1e-1", "-0.5", "inf"] {
        command_error(
            console,
            &format!("crashctl tune {bad}"),
            &format!("THRESHOLD: {number}, got '{bad}'"),
        )?;
    }
    let integer = "expected an integer (decimal digits only)";
    for (line, needle) in [
        ("crashctl history 0x10", format!("N: {integer}, got '0x10'")),
        ("crashctl log +3", format!("N: {integer}, got '+3'")),
        // Does not start with a letter, so it is RUNS (family names start with one).
        ("crashctl eval 0x2 1", format!("RUNS: {integer}, got '0x2'")),
        ("crashctl eval 2 -1", format!("SEED: {integer}, got '-1'")),
        ("memctl compact 0x3", format!("ORDER: {integer}, got '0x3'")),
        ("memctl reclaim +1", format!("PAGES: {integer}, got '+1'")),
        (
            "memctl stress leak 0x1",
            format!("SEED: {integer}, got '0x1'"),
        ),
    ] {
        command_error(console, line, &needle)?;
    }
    let after = threshold(console)?;
    ensure!(
        before == after,
        "a refused `crashctl tune` changed the threshold from {before} to {after}"
    );
    let status = console.command("memctl stress status")?;
    ensure!(
        !status.iter().any(|l| l.contains(" running ")),
        "a refused command started a workload: {status:?}"
    );
    Ok(())
}

/// Runs `command` and fails on an `error:` line.
fn command_ok(console: &mut Console, command: &str) -> Result<Vec<String>> {
    let output = console.command(command)?;
    let text = output.join("\n");
    ensure!(
        parse::error_lines(&text).is_empty(),
        "`{command}` failed: {output:?}"
    );
    Ok(output)
}

fn crashctl_reports_status_and_stats(console: &mut Console) -> Result<()> {
    let status = command_ok(console, "crashctl status")?;
    let level = status
        .iter()
        .find_map(|l| l.strip_prefix("level: "))
        .context("`crashctl status` has no `level:` line")?;
    ensure!(
        ["NORMAL", "ELEVATED", "WARNING", "CRITICAL"]
            .iter()
            .any(|name| level.starts_with(name)),
        "unknown level in {level:?}"
    );
    ensure!(
        status.iter().any(|l| l.starts_with("factors: ")),
        "`crashctl status` shows no factors: {status:?}"
    );
    let stats = command_ok(console, "crashctl stats")?;
    ensure!(
        stats.iter().any(|l| l.starts_with("update cost: ")),
        "`crashctl stats` shows no update cost: {stats:?}"
    );
    command_ok(console, "crashctl history 5")?;
    // The most records the predictor keeps (`oom::predictor::HISTORY`, the catalogue's range).
    command_ok(console, "crashctl history 64")?;
    command_ok(console, "crashctl log")?;
    let reclaimed = command_ok(console, "memctl reclaim")?;
    ensure!(
        reclaimed
            .iter()
            .any(|l| l.starts_with("reclaim: workload-cache: freed "))
            && reclaimed
                .last()
                .is_some_and(|l| l.starts_with("reclaim: freed ")),
        "`memctl reclaim` printed {reclaimed:?}"
    );
    let metrics = command_ok(console, "metrics")?;
    for series in ["nous_oom_risk ", "nous_oom_predictor_update_seconds "] {
        ensure!(
            metrics.iter().any(|l| l.starts_with(series)),
            "`metrics` does not export {series}"
        );
    }
    let tuned = command_ok(console, "crashctl tune 0.55")?;
    ensure!(tuned == ["threshold: 0.55"], "tune printed {tuned:?}");
    let status = command_ok(console, "crashctl status")?;
    ensure!(
        status.iter().any(|l| l.contains("threshold 0.55")),
        "the tuned threshold is not in use: {status:?}"
    );
    // The integer form is a percent, as the model's command catalogue writes it.
    let tuned = command_ok(console, "crashctl tune 20")?;
    ensure!(tuned == ["threshold: 0.20"], "tune 20 printed {tuned:?}");
    // Later tests run with the shipped threshold.
    command_ok(console, "crashctl tune default")?;
    Ok(())
}

/// One actor line of `memctl stress status`.
#[derive(Debug, PartialEq, Eq)]
struct ActorLine {
    role: String,
    state: String,
    pages: u64,
}

/// What `memctl stress status` says.
#[derive(Debug, PartialEq, Eq)]
struct StressStatus {
    running: bool,
    elapsed_ms: u64,
    high_order: Option<u64>,
    actors: Vec<ActorLine>,
    corrupted: u64,
    held: u64,
}

fn number_after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn parse_stress_status(lines: &[String]) -> Result<StressStatus> {
    let head = lines
        .iter()
        .find(|l| l.starts_with("stress: "))
        .context("no `stress:` line")?;
    let pool = lines
        .iter()
        .find(|l| l.starts_with("pool: "))
        .with_context(|| format!("no `pool:` line in {lines:?}"))?;
    let mut actors = Vec::new();
    for line in lines.iter().filter_map(|l| l.strip_prefix("actor ")) {
        let (role, rest) = line.split_once(' ').context("actor line without a state")?;
        let (state, pages) = rest
            .rsplit_once(" pages ")
            .with_context(|| format!("actor line without pages: {line:?}"))?;
        actors.push(ActorLine {
            role: role.to_string(),
            state: state.to_string(),
            pages: pages.trim().parse().context("actor pages")?,
        });
    }
    Ok(StressStatus {
        running: head.contains(" running "),
        elapsed_ms: number_after(head, "elapsed").context("no elapsed time")?,
        high_order: number_after(head, "needs order"),
        actors,
        corrupted: number_after(pool, "corrupted").context("no corrupted count")?,
        held: number_after(pool, "held").context("no held count")?,
    })
}

fn stress_status(console: &mut Console) -> Result<StressStatus> {
    parse_stress_status(&command_ok(console, "memctl stress status")?)
}

/// `compact: order N: moved P pages (…), order-N blocks B -> A, T ms` → (P, B, A).
fn parse_compact(lines: &[String]) -> Result<(u64, u64, u64)> {
    let line = lines
        .iter()
        .find(|l| l.starts_with("compact: "))
        .with_context(|| format!("no `compact:` line in {lines:?}"))?;
    let moved = number_after(line, "moved").context("no pages moved")?;
    let blocks = &line[line.find(" blocks ").context("no block counts")? + 8..];
    let (before, after) = blocks
        .split_once(" -> ")
        .context("no `->` in block counts")?;
    let after = after.split(',').next().unwrap_or_default();
    Ok((
        moved,
        before.trim().parse().context("blocks before")?,
        after.trim().parse().context("blocks after")?,
    ))
}

/// Stops the workload, switches the response off and checks that the machine is idle and no
/// block lost its contents.
fn stop_and_check(console: &mut Console) -> Result<()> {
    let stopped = command_ok(console, "memctl stress stop")?;
    ensure!(stopped == ["stress: stopped"], "stop printed {stopped:?}");
    command_ok(console, "crashctl auto off")?;
    let status = stress_status(console)?;
    ensure!(
        !status.running && status.held == 0,
        "the workload did not stop: {status:?}"
    );
    ensure!(
        status.corrupted == 0,
        "{} blocks lost their contents",
        status.corrupted
    );
    console.check_output("echo alive", &["alive"])
}

fn compact_moves_pages_after_fragmenting(console: &mut Console) -> Result<()> {
    command_ok(console, "crashctl auto off")?;
    command_ok(console, &format!("memctl stress fragment {FRAGMENT_SEED}"))?;
    let status = stress_status(console)?;
    let order = status
        .high_order
        .context("fragment shows no consumer order")?;
    let (moved, before, after) =
        parse_compact(&command_ok(console, &format!("memctl compact {order}"))?)?;
    ensure!(moved > 0, "compaction moved no pages");
    ensure!(
        after > before,
        "order-{order} blocks did not rise: {before} -> {after}"
    );
    stop_and_check(console)
}

/// Polls `memctl stress status` every second until `done` says so or `limit` passes.
fn watch(
    console: &mut Console,
    limit: Duration,
    mut done: impl FnMut(&StressStatus) -> Result<bool>,
) -> Result<StressStatus> {
    let deadline = Instant::now() + limit;
    loop {
        let status = stress_status(console)?;
        if done(&status)? {
            return Ok(status);
        }
        if Instant::now() >= deadline {
            bail!("gave up after {limit:?}: {status:?}");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn oom_killed(status: &StressStatus) -> Option<&ActorLine> {
    status
        .actors
        .iter()
        .find(|a| a.state.starts_with("oom-killed"))
}

fn fragment_without_response_ends_in_oom_kill(console: &mut Console) -> Result<()> {
    command_ok(console, "crashctl auto off")?;
    command_ok(console, &format!("memctl stress fragment {FRAGMENT_SEED}"))?;
    let status = watch(console, OOM_DEADLINE, |s| {
        Ok(oom_killed(s).is_some() || !s.running)
    })?;
    let victim = oom_killed(&status)
        .with_context(|| format!("the run ended without an OOM kill: {status:?}"))?
        .role
        .clone();
    // The kill frees the victim's memory block by block: wait for it to reach 0.
    watch(console, Duration::from_secs(20), |s| {
        Ok(s.actors.iter().any(|a| a.role == victim && a.pages == 0))
    })
    .with_context(|| format!("the OOM-killed {victim} kept its memory"))?;
    let log = command_ok(console, "crashctl log")?;
    ensure!(
        log.iter().any(|l| l.contains("oom-kill ")),
        "`crashctl log` does not show the OOM kill: {log:?}"
    );
    ensure!(
        !log.iter()
            .any(|l| l.contains("compact order") || l.contains(": kill ")),
        "the ladder acted with auto off: {log:?}"
    );
    stop_and_check(console)
}

fn fragment_with_response_survives(console: &mut Console) -> Result<()> {
    command_ok(console, "crashctl auto on")?;
    command_ok(console, &format!("memctl stress fragment {FRAGMENT_SEED}"))?;
    let limit = Duration::from_millis(SURVIVE_MS) + Duration::from_secs(30);
    let status = watch(console, limit, |s| {
        if let Some(victim) = oom_killed(s) {
            bail!(
                "the {} was OOM-killed with the response on: {s:?}",
                victim.role
            );
        }
        Ok(s.elapsed_ms >= SURVIVE_MS || !s.running)
    })?;
    ensure!(oom_killed(&status).is_none(), "OOM kill: {status:?}");
    let log = command_ok(console, "crashctl log")?;
    ensure!(
        log.iter().any(|l| l.contains("compact order")),
        "`crashctl log` shows no compaction: {log:?}"
    );
    ensure!(
        !log.iter().any(|l| l.contains("oom-kill ")),
        "`crashctl log` shows an OOM kill: {log:?}"
    );
    stop_and_check(console)
}

/// Issue 13's "does no harm" target in the kernel: `spike-ok` — a stable bystander, a cache
/// and a thread that bursts to ~10 % above the watermark and holds — with `crashctl auto on`
/// must end with every actor alive and no kill in `crashctl log`. That the burst really ran
/// (the burster's pages) and the predictor saw it (an alarm in `crashctl history`) is checked
/// too, so a workload that never came near the watermark cannot pass for a ladder that held
/// back.
fn benign_burst_with_response_kills_nothing(console: &mut Console) -> Result<()> {
    command_ok(console, "crashctl auto on")?;
    command_ok(console, &format!("memctl stress spike-ok {BURST_SEED}"))?;
    let mut peak = 0;
    let status = watch(
        console,
        Duration::from_millis(BURST_WATCH_MS) + Duration::from_secs(30),
        |s| {
            if let Some(dead) = s.actors.iter().find(|a| a.state != "running") {
                bail!("the benign {} is {}: {s:?}", dead.role, dead.state);
            }
            let burster = s.actors.iter().filter(|a| a.role == "bystander").nth(1);
            peak = peak.max(burster.map_or(0, |a| a.pages));
            Ok(s.elapsed_ms >= BURST_WATCH_MS || !s.running)
        },
    )?;
    let log = command_ok(console, "crashctl log")?;
    let history = command_ok(console, "crashctl history 64")?;
    stop_and_check(console)?;
    ensure!(
        status.running && status.actors.len() == 3,
        "the run ended early: {status:?}"
    );
    ensure!(
        peak >= BURST_MIN_PAGES,
        "the burst did not run: its thread held at most {peak} pages"
    );
    ensure!(
        !log.iter()
            .any(|l| l.contains(": kill ") || l.contains("oom-kill ")),
        "a benign thread was killed: {log:?}"
    );
    ensure!(
        history.iter().any(|l| l.starts_with('#')),
        "the predictor raised no alarm during the burst (nothing for the ladder to hold back): \
         {history:?}"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    #[test]
    fn stress_status_is_parsed() {
        let status = parse_stress_status(&lines(
            "stress: fragment seed=1 (consumer needs order 4) running elapsed 29773 ms of 90000 ms, oom kills: 0\n\
             actor fragmenter oom-killed at 38898 ms (order-1 request) pages 0\n\
             actor consumer running pages 64\n\
             pool: held 64 pages (table of 64836 blocks), checked 20855 blocks, corrupted 0, migrated 8187 pages",
        ))
        .unwrap();
        assert!(status.running);
        assert_eq!(status.elapsed_ms, 29773);
        assert_eq!(status.high_order, Some(4));
        assert_eq!((status.held, status.corrupted), (64, 0));
        assert_eq!(status.actors.len(), 2);
        assert_eq!(
            oom_killed(&status).map(|a| a.role.as_str()),
            Some("fragmenter")
        );
        assert_eq!(status.actors[1].pages, 64);

        let finished = parse_stress_status(&lines(
            "stress: leak seed=3 finished elapsed 5 ms of 90000 ms, oom kills: 0\n\
             pool: held 0 pages (table of 10 blocks), checked 0 blocks, corrupted 2, migrated 0 pages",
        ))
        .unwrap();
        assert!(!finished.running);
        assert_eq!(finished.high_order, None);
        assert_eq!(finished.corrupted, 2);
        assert!(parse_stress_status(&lines("stress: no workload has run")).is_err());
    }

    #[test]
    fn compact_line_is_parsed() {
        let out = lines(
            "compact: order 4: moved 1157 pages (1157 moves planned for 73 blocks, 0 skipped), order-4 blocks 1387 -> 1460, 101.928 ms",
        );
        assert_eq!(parse_compact(&out).unwrap(), (1157, 1387, 1460));
        assert!(parse_compact(&lines("error: busy")).is_err());
    }
}

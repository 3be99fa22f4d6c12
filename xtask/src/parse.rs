//! Pure parsers for what the guest prints on its serial line, and the checks built on them.
//!
//! The formats are the fixed contract between the kernel and this harness (see the xtask
//! brief): the shell's command echo and prompt ([`command_output`]), `meminfo` ([`MemInfo`]),
//! `help` ([`HelpEntry`]), `ps` ([`PsEntry`]), `uptime`, `schedctl stress`, the in-kernel test
//! report ([`KtestReport`]) and the CPU exception report ([`check_page_fault_report`]).
//! Everything here takes text and returns values or a descriptive error, so it is unit-tested
//! against recorded transcripts. Neighbours: [`crate::console`] feeds command output in,
//! [`crate::e2e`] and [`crate::suite`] act on the results.

use anyhow::{Context, Result, bail, ensure};

/// Serial bytes as text: invalid UTF-8 replaced; carriage returns, bells and other control
/// characters except newline and tab dropped; ANSI CSI escape sequences (cursor movement,
/// colours) removed — so that lines compare as plain text.
pub fn clean_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' if chars.peek() == Some(&'[') => {
                chars.next();
                // Parameter and intermediate bytes, then one final byte in 0x40..=0x7e.
                for c in chars.by_ref() {
                    if ('\u{40}'..='\u{7e}').contains(&c) {
                        break;
                    }
                }
            }
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// The output lines of one shell command, given everything the guest sent between the end of
/// the previous prompt and the start of the next one. The first line is the shell's echo of
/// what we typed and is dropped; so is the empty remainder after the last newline.
pub fn command_output(raw: &[u8]) -> Vec<String> {
    let text = clean_text(raw);
    let mut lines: Vec<String> = text.split('\n').skip(1).map(str::to_string).collect();
    if lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// The lines of `text` that are shell error messages (`error: …`).
pub fn error_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("error: ")).collect()
}

/// The first line of `meminfo`: `memory: total <T> KiB, free <F> KiB, used <U> KiB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemInfo {
    pub total_kib: u64,
    pub free_kib: u64,
    pub used_kib: u64,
}

/// Parses the first line of `meminfo` output.
pub fn parse_meminfo(lines: &[String]) -> Result<MemInfo> {
    let first = lines.first().context("meminfo printed nothing")?;
    let fields = first
        .strip_prefix("memory: ")
        .with_context(|| format!("meminfo's first line does not start `memory: `: {first:?}"))?;
    let mut values = [None; 3];
    for part in fields.split(", ") {
        let words: Vec<&str> = part.split(' ').collect();
        let [key, value, "KiB"] = words.as_slice() else {
            bail!("meminfo field {part:?} is not `<name> <number> KiB` in {first:?}");
        };
        let slot = match *key {
            "total" => 0,
            "free" => 1,
            "used" => 2,
            other => bail!("unknown meminfo field {other:?} in {first:?}"),
        };
        let value: u64 = value
            .parse()
            .with_context(|| format!("meminfo {key} is not a number in {first:?}"))?;
        ensure!(
            values[slot].replace(value).is_none(),
            "meminfo field {key} repeated in {first:?}"
        );
    }
    match values {
        [Some(total_kib), Some(free_kib), Some(used_kib)] => Ok(MemInfo {
            total_kib,
            free_kib,
            used_kib,
        }),
        _ => bail!("meminfo line lacks total, free or used: {first:?}"),
    }
}

/// One line of `help`: two spaces, the command name, padding, a summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpEntry {
    pub name: String,
    pub summary: String,
}

/// Parses `help` output: every line up to the first blank one must be an entry (notes such as
/// the number grammar follow the blank line).
pub fn parse_help(lines: &[String]) -> Result<Vec<HelpEntry>> {
    ensure!(
        lines.first().is_some_and(|line| !line.is_empty()),
        "help printed no commands: {lines:?}"
    );
    lines
        .iter()
        .take_while(|line| !line.is_empty())
        .map(|line| {
            let rest = line
                .strip_prefix("  ")
                .filter(|r| !r.starts_with(' '))
                .with_context(|| format!("help line does not start with two spaces: {line:?}"))?;
            let (name, summary) = rest
                .split_once(' ')
                .with_context(|| format!("help line has no summary: {line:?}"))?;
            let summary = summary.trim();
            ensure!(!summary.is_empty(), "help line has no summary: {line:?}");
            Ok(HelpEntry {
                name: name.to_string(),
                summary: summary.to_string(),
            })
        })
        .collect()
}

/// One thread line of `ps`: `<tid> <name> <state> …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PsEntry {
    pub tid: u64,
    pub name: String,
    pub state: String,
}

/// Parses `ps` output: a header starting `TID`, then one line per thread.
pub fn parse_ps(lines: &[String]) -> Result<Vec<PsEntry>> {
    let (header, rows) = lines.split_first().context("ps printed nothing")?;
    ensure!(
        header.trim_start().starts_with("TID"),
        "ps header does not start with TID: {header:?}"
    );
    rows.iter()
        .map(|line| {
            let mut words = line.split_whitespace();
            let (Some(tid), Some(name), Some(state)) = (words.next(), words.next(), words.next())
            else {
                bail!("ps line is not `<tid> <name> <state> …`: {line:?}");
            };
            Ok(PsEntry {
                tid: tid
                    .parse()
                    .with_context(|| format!("ps thread id is not a number: {line:?}"))?,
                name: name.to_string(),
                state: state.to_string(),
            })
        })
        .collect()
}

/// Parses `uptime` output (`up <seconds> s`) into seconds.
/// The wall clock `uptime` shows (`…, wall clock YYYY-MM-DD hh:mm:ss UTC`), as Unix seconds.
pub fn parse_wall_clock(lines: &[String]) -> Result<u64> {
    let line = lines.first().context("uptime printed nothing")?;
    let text = line
        .split_once(", wall clock ")
        .map(|(_, t)| t)
        .with_context(|| format!("uptime shows no wall clock: {line:?}"))?;
    let text = text
        .strip_suffix(" UTC")
        .with_context(|| format!("wall clock is not in UTC: {line:?}"))?;
    let (date, time) = text
        .split_once(' ')
        .with_context(|| format!("wall clock is not `date time`: {line:?}"))?;
    let num = |s: &str| -> Result<u64> {
        s.parse()
            .with_context(|| format!("bad number {s:?} in {line:?}"))
    };
    let d: Vec<u64> = date.split('-').map(num).collect::<Result<_>>()?;
    let t: Vec<u64> = time.split(':').map(num).collect::<Result<_>>()?;
    let ([y, m, day], [hh, mm, ss]) = (d.as_slice(), t.as_slice()) else {
        bail!("wall clock is not YYYY-MM-DD hh:mm:ss: {line:?}");
    };
    ensure!(
        (1..=12).contains(m) && (1..=31).contains(day) && *hh < 24 && *mm < 60 && *ss < 60,
        "wall clock out of range: {line:?}"
    );
    // Days from civil (Hinnant), the same arithmetic as the kernel's, written independently.
    let (y, m) = if *m <= 2 { (y - 1, m + 9) } else { (*y, m - 3) };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

pub fn parse_uptime(lines: &[String]) -> Result<f64> {
    let [line] = lines else {
        bail!(
            "uptime printed {} lines, expected 1: {lines:?}",
            lines.len()
        );
    };
    // `up <seconds> s`, then `, wall clock <date>` or `, no wall clock (…)`.
    let seconds = line
        .strip_prefix("up ")
        .and_then(|r| r.split_once(" s").map(|(secs, _)| secs))
        .with_context(|| format!("uptime line is not `up <seconds> s…`: {line:?}"))?;
    let seconds: f64 = seconds
        .parse()
        .with_context(|| format!("uptime seconds is not a number: {line:?}"))?;
    ensure!(
        seconds.is_finite() && seconds >= 0.0,
        "uptime is negative or not finite: {line:?}"
    );
    Ok(seconds)
}

/// Parses `schedctl stress` output (`stress: spawned <S>, joined <J>`, possibly followed by
/// more `, <field>` parts) into `(S, J)`.
pub fn parse_stress(lines: &[String]) -> Result<(u64, u64)> {
    let line = lines
        .iter()
        .find(|l| l.starts_with("stress: "))
        .with_context(|| format!("no `stress: ` line in {lines:?}"))?;
    let numbers = line
        .strip_prefix("stress: spawned ")
        .and_then(|r| r.split_once(", joined "))
        .with_context(|| format!("stress line is not `stress: spawned N, joined N`: {line:?}"))?;
    let joined = numbers.1.split(',').next().unwrap_or_default();
    let spawned = numbers
        .0
        .parse()
        .with_context(|| format!("stress: spawned count in {line:?}"))?;
    let joined = joined
        .parse()
        .with_context(|| format!("stress: joined count in {line:?}"))?;
    Ok((spawned, joined))
}

/// The outcome of one in-kernel test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KtestResult {
    pub name: String,
    /// `None` if it passed, else the kernel's reason.
    pub failure: Option<String>,
}

/// Everything a ktest image printed about its tests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KtestReport {
    /// N from `ktest: running N tests`.
    pub announced: Option<usize>,
    pub results: Vec<KtestResult>,
    /// A test that printed `test <name> ... ` but no verdict (the kernel died inside it).
    pub unfinished: Option<String>,
    /// (P, F) from `ktest: P passed, F failed`.
    pub summary: Option<(usize, usize)>,
}

/// Collects the in-kernel test report from a serial log; other lines are ignored.
pub fn parse_ktest(log: &str) -> Result<KtestReport> {
    let mut report = KtestReport::default();
    for line in log.lines() {
        if let Some(rest) = line.strip_prefix("ktest: running ") {
            let n = rest
                .strip_suffix(" tests")
                .or_else(|| rest.strip_suffix(" test"))
                .with_context(|| format!("bad ktest announcement: {line:?}"))?;
            report.announced = Some(n.parse().context("ktest test count")?);
        } else if let Some(rest) = line.strip_prefix("ktest: ") {
            let (passed, failed) = rest
                .strip_suffix(" failed")
                .and_then(|r| r.split_once(" passed, "))
                .with_context(|| format!("bad ktest summary: {line:?}"))?;
            report.summary = Some((
                passed.parse().context("ktest passed count")?,
                failed.parse().context("ktest failed count")?,
            ));
        } else if let Some(rest) = line.strip_prefix("test ") {
            let Some((name, verdict)) = rest.split_once(" ...") else {
                continue;
            };
            let verdict = verdict.trim();
            let failure = if verdict == "ok" {
                None
            } else if let Some(why) = verdict.strip_prefix("FAILED") {
                Some(why.trim_start_matches(':').trim().to_string())
            } else if verdict.is_empty() {
                report.unfinished = Some(name.to_string());
                continue;
            } else {
                bail!("unknown ktest verdict in {line:?}");
            };
            report.unfinished = None;
            report.results.push(KtestResult {
                name: name.to_string(),
                failure,
            });
        }
    }
    Ok(report)
}

/// Checks that a ktest report is complete and agrees with itself and with QEMU's exit code
/// (33 when every test passed, 35 otherwise). Individual test failures are not errors here.
pub fn check_ktest_report(report: &KtestReport, exit_code: Option<i32>) -> Result<()> {
    if let Some(name) = &report.unfinished {
        bail!("the kernel stopped while running in-kernel test `{name}`");
    }
    let announced = report
        .announced
        .context("no `ktest: running N tests` line")?;
    ensure!(announced > 0, "the ktest image announced no tests");
    ensure!(
        report.results.len() == announced,
        "announced {announced} tests but {} reported a verdict",
        report.results.len()
    );
    let (passed, failed) = report
        .summary
        .context("no `ktest: P passed, F failed` summary line")?;
    let really_failed = report
        .results
        .iter()
        .filter(|r| r.failure.is_some())
        .count();
    ensure!(
        (passed, failed) == (announced - really_failed, really_failed),
        "summary says {passed} passed, {failed} failed, but the test lines say {} passed, \
         {really_failed} failed",
        announced - really_failed
    );
    let expected_exit = if failed == 0 { 33 } else { 35 };
    ensure!(
        exit_code == Some(expected_exit),
        "QEMU exit status {exit_code:?}, expected {expected_exit} for {failed} failed tests"
    );
    Ok(())
}

/// The faulting address the fault-test image reads.
pub const FAULT_ADDRESS: u64 = 0xdeadbeef000;

/// Checks the page-fault report of the fault-test image: the exception name, CR2 equal to
/// [`FAULT_ADDRESS`], a RIP, an error code of a kernel-mode read of a not-present page, and a
/// backtrace with at least one frame.
/// Checks the report of a kernel stack overflow: a page fault on a write, in the stack region,
/// flagged as a guard-page hit, in the thread named `overflow`, with a backtrace.
pub fn check_stack_overflow_report(log: &str) -> Result<()> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("EXCEPTION: page fault"))
        .context("no `EXCEPTION: page fault` line")?;
    let report = lines.get(start..).unwrap_or_default();
    let cr2 = hex_field(report, "CR2: ")?;
    ensure!(
        (0xffff_c000_0000_0000..0xffff_d000_0000_0000).contains(&cr2),
        "CR2 {cr2:#x} is not in the kernel stack region"
    );
    ensure!(
        report
            .iter()
            .any(|l| l.contains("stack overflow into the guard pages")),
        "the report does not name the stack overflow"
    );
    ensure!(
        report.iter().any(|l| l.starts_with("thread: overflow")),
        "the report does not name the overflowing thread"
    );
    ensure!(
        report
            .iter()
            .any(|l| l.trim_start().starts_with("backtrace:")),
        "no backtrace"
    );
    Ok(())
}

pub fn check_page_fault_report(log: &str) -> Result<()> {
    let lines: Vec<&str> = log.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("EXCEPTION: page fault"))
        .context("no `EXCEPTION: page fault` line")?;
    let report = lines.get(start..).unwrap_or_default();
    let cr2 = hex_field(report, "CR2: ")?;
    ensure!(
        cr2 == FAULT_ADDRESS,
        "CR2 is {cr2:#x}, expected the faulting address {FAULT_ADDRESS:#x}"
    );
    let rip = hex_field(report, "RIP: ")?;
    ensure!(rip != 0, "RIP is 0");
    let code = hex_field(report, "error code: ")?;
    // Bits 0 (page present), 1 (write) and 2 (user mode) must be clear for a kernel read of an
    // unmapped page.
    ensure!(
        code & 0b111 == 0,
        "page-fault error code {code:#x} is not a kernel read of a not-present page"
    );
    let backtrace = report
        .iter()
        .position(|l| l.trim_start().starts_with("backtrace:"))
        .context("no `backtrace:` line after the exception")?;
    let first_frame = report
        .get(backtrace + 1)
        .context("nothing after `backtrace:`")?;
    let address = first_frame
        .strip_prefix("  #0 0x")
        .with_context(|| format!("first backtrace line is not `  #0 0x…`: {first_frame:?}"))?;
    let digits: String = address
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    ensure!(
        !digits.is_empty(),
        "backtrace frame has no address: {first_frame:?}"
    );
    Ok(())
}

/// Finds `label` followed by `0x<hex>` on one of `lines` and returns the value.
fn hex_field(lines: &[&str], label: &str) -> Result<u64> {
    let after = lines
        .iter()
        .find_map(|l| l.find(label).map(|at| &l[at + label.len()..]))
        .with_context(|| format!("no `{label}0x…` field in the exception report"))?;
    let digits = after
        .strip_prefix("0x")
        .with_context(|| format!("`{label}` is not followed by 0x: {after:?}"))?;
    let digits: String = digits.chars().take_while(char::is_ascii_hexdigit).collect();
    u64::from_str_radix(&digits, 16)
        .with_context(|| format!("`{label}` value is not a 64-bit hex number: {after:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn clean_text_drops_carriage_returns_and_escapes() {
        assert_eq!(
            clean_text(b"a\r\nb\x1b[2K\x1b[1;31mc\x1b[0m\r\n"),
            "a\nbc\n"
        );
        assert_eq!(clean_text(b"\xffx"), "\u{fffd}x");
        // An escape at the very end must not panic or eat earlier text.
        assert_eq!(clean_text(b"ok\x1b["), "ok");
        assert_eq!(clean_text(b"ok\x1b"), "ok");
        assert_eq!(clean_text(b"x\x07\x07\ty\x08"), "x\ty");
    }

    #[test]
    fn command_output_drops_echo_and_keeps_lines() {
        assert_eq!(
            command_output(b"help\r\n  help   list commands\r\n  echo   print\r\n"),
            vec!["  help   list commands", "  echo   print"]
        );
        assert_eq!(command_output(b"echo\r\n\r\n"), vec![""]);
        assert!(command_output(b"x\r\n").is_empty());
        assert!(command_output(b"").is_empty());
    }

    #[test]
    fn error_lines_only_at_line_start() {
        let text = "echo error: no\nerror: line too long\nfine\nerror: again";
        assert_eq!(
            error_lines(text),
            vec!["error: line too long", "error: again"]
        );
    }

    #[test]
    fn meminfo_first_line() {
        let out =
            lines("memory: total 261504 KiB, free 250000 KiB, used 11504 KiB\norder 0: 3 blocks\n");
        assert_eq!(
            parse_meminfo(&out).unwrap(),
            MemInfo {
                total_kib: 261504,
                free_kib: 250000,
                used_kib: 11504
            }
        );
    }

    #[test]
    fn meminfo_rejects_malformed_lines() {
        for bad in [
            "",
            "mem: total 1 KiB, free 1 KiB, used 0 KiB",
            "memory: total 1 KiB, free 1 KiB",
            "memory: total 1 MiB, free 1 KiB, used 0 KiB",
            "memory: total x KiB, free 1 KiB, used 0 KiB",
            "memory: total 1 KiB, total 1 KiB, used 0 KiB",
            "memory: total 1 KiB, free 1 KiB, used 0 KiB, spare 3 KiB",
            "memory: total -1 KiB, free 1 KiB, used 0 KiB",
        ] {
            assert!(parse_meminfo(&lines(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn help_entries() {
        let out = lines("  help      list commands\n  meminfo   memory totals");
        let entries = parse_help(&out).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[1].name, "meminfo");
        assert_eq!(entries[1].summary, "memory totals");
        for bad in [
            "help list",
            "   help  x",
            "  help",
            "  help   ",
            "",
            "\nnumbers: digits",
            "  help  list\n  bad\n\nnumbers: digits",
        ] {
            assert!(parse_help(&lines(bad)).is_err(), "{bad:?} accepted");
        }
        // Notes after a blank line are not entries.
        let out = lines("  help  list commands\n\nnumbers: an integer is digits");
        assert_eq!(parse_help(&out).unwrap().len(), 1);
    }

    #[test]
    fn ps_entries() {
        let out = lines("TID NAME STATE CPU\n  0 idle   ready 12\n  1 shell running 3\n");
        let entries = parse_ps(&out).unwrap();
        assert_eq!(
            entries[1],
            PsEntry {
                tid: 1,
                name: "shell".into(),
                state: "running".into()
            }
        );
        assert!(parse_ps(&lines("PID NAME\n")).is_err());
        assert!(parse_ps(&lines("TID NAME STATE\nx idle ready\n")).is_err());
        assert!(parse_ps(&lines("TID NAME STATE\n1 idle\n")).is_err());
        assert!(parse_ps(&[]).is_err());
    }

    #[test]
    fn uptime_seconds() {
        assert_eq!(parse_uptime(&lines("up 3 s")).unwrap(), 3.0);
        assert_eq!(parse_uptime(&lines("up 0.250 s")).unwrap(), 0.25);
        let with_clock = lines("up 1.500 s, wall clock 2026-12-04 17:40:12 UTC");
        assert_eq!(parse_uptime(&with_clock).unwrap(), 1.5);
        assert_eq!(parse_wall_clock(&with_clock).unwrap(), 1_796_406_012);
        assert!(
            parse_wall_clock(&lines(
                "up 1 s, no wall clock (RTC month 13 is out of range)"
            ))
            .is_err()
        );
        assert!(parse_wall_clock(&lines("up 1 s, wall clock 2026-13-04 17:40:12 UTC")).is_err());
        for bad in ["up 3", "3 s", "up -1 s", "up NaN s", "up 1 s\nup 2 s"] {
            assert!(parse_uptime(&lines(bad)).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn stress_counts() {
        assert_eq!(
            parse_stress(&lines("stress: spawned 64, joined 64")).unwrap(),
            (64, 64)
        );
        assert_eq!(
            parse_stress(&lines("stress: spawned 64, joined 63, checksum ok: true")).unwrap(),
            (64, 63)
        );
        assert!(parse_stress(&lines("stress: spawned 64")).is_err());
        assert!(parse_stress(&lines("stress: spawned 64, joined x")).is_err());
        assert!(parse_stress(&lines("spawned 64, joined 64")).is_err());
    }

    const KTEST_LOG: &str = "boot: 3 ms\nktest: running 3 tests\ntest buddy::split ... ok\n\
        test sched::yield ... FAILED: expected 2 got 3\ntest heap::grow ... ok\n\
        ktest: 2 passed, 1 failed\n";

    #[test]
    fn ktest_report_parses_every_verdict() {
        let report = parse_ktest(KTEST_LOG).unwrap();
        assert_eq!(report.announced, Some(3));
        assert_eq!(report.summary, Some((2, 1)));
        assert_eq!(report.results.len(), 3);
        assert_eq!(
            report.results[1].failure.as_deref(),
            Some("expected 2 got 3")
        );
        assert_eq!(report.unfinished, None);
        check_ktest_report(&report, Some(35)).unwrap();
        assert!(check_ktest_report(&report, Some(33)).is_err());
        assert!(check_ktest_report(&report, None).is_err());
    }

    #[test]
    fn ktest_report_inconsistencies_are_errors() {
        let lying = KTEST_LOG.replace("2 passed, 1 failed", "3 passed, 0 failed");
        assert!(check_ktest_report(&parse_ktest(&lying).unwrap(), Some(33)).is_err());
        let short = KTEST_LOG.replace("running 3 tests", "running 4 tests");
        assert!(check_ktest_report(&parse_ktest(&short).unwrap(), Some(35)).is_err());
        let no_summary = "ktest: running 1 tests\ntest a ... ok\n";
        assert!(check_ktest_report(&parse_ktest(no_summary).unwrap(), Some(33)).is_err());
        let none = "ktest: running 0 tests\nktest: 0 passed, 0 failed\n";
        assert!(check_ktest_report(&parse_ktest(none).unwrap(), Some(33)).is_err());
        let crashed = "ktest: running 2 tests\ntest a ... ok\ntest b ... \nEXCEPTION: page fault\n";
        let report = parse_ktest(crashed).unwrap();
        assert_eq!(report.unfinished.as_deref(), Some("b"));
        assert!(
            check_ktest_report(&report, Some(37))
                .unwrap_err()
                .to_string()
                .contains("`b`")
        );
        assert!(parse_ktest("test a ... maybe\n").is_err());
        assert!(parse_ktest("ktest: lots passed, 0 failed\n").is_err());
    }

    #[test]
    fn all_passing_ktest_needs_exit_33() {
        let log = "ktest: running 1 test\ntest a ... ok\nktest: 1 passed, 0 failed\n";
        let report = parse_ktest(log).unwrap();
        check_ktest_report(&report, Some(33)).unwrap();
        assert!(check_ktest_report(&report, Some(35)).is_err());
    }

    const FAULT_LOG: &str = "boot: 4 ms\nEXCEPTION: page fault (vector 14)\n\
        error code: 0x0000000000000000\nRIP: 0xffffffff80012345\n\
        CR2: 0x00000deadbeef000\nbacktrace:\n  #0 0xffffffff80012345\n  #1 0xffffffff80010000\n";

    #[test]
    fn page_fault_report_accepted() {
        check_page_fault_report(FAULT_LOG).unwrap();
    }

    #[test]
    fn page_fault_report_defects_rejected() {
        let cases = [
            FAULT_LOG.replace("page fault", "general protection"),
            FAULT_LOG.replace("0x00000deadbeef000", "0x00000deadbeef008"),
            FAULT_LOG.replace("CR2: ", "CR3: "),
            FAULT_LOG.replace("RIP: 0xffffffff80012345", "RIP: 0x0"),
            FAULT_LOG.replace("error code: 0x0000000000000000", "error code: 0x2"),
            FAULT_LOG.replace("backtrace:", "trace:"),
            FAULT_LOG.replace("  #0 0xffffffff80012345\n  #1 0xffffffff80010000\n", ""),
            FAULT_LOG.replace("  #0 0xffffffff80012345", "  #0 ?"),
            // The report must follow the exception line, not precede it.
            format!(
                "CR2: 0x00000deadbeef000\n{}",
                FAULT_LOG.replace("CR2: ", "CR9: ")
            ),
        ];
        for log in cases {
            assert!(check_page_fault_report(&log).is_err(), "accepted:\n{log}");
        }
    }

    const OVERFLOW_LOG: &str = "fault-test: recursing until the stack guard page is hit\n\
        EXCEPTION: page fault (vector 14: page fault (#PF))\n\
        error code: 0x2\n\
        RIP: 0x0000000000101807  CS: 0x8  RFLAGS: 0x10006\n\
        CR2: 0xffffc000001effb8 (non-present page on write access, kernel mode)\n\
        note: address is in kernel stack slot 0xffffc00000000000: likely a stack overflow into the guard pages\n\
        thread: overflow (1)\n\
        backtrace:\n  #0 0x0000000000101807\n";

    #[test]
    fn stack_overflow_report_accepted() {
        check_stack_overflow_report(OVERFLOW_LOG).unwrap();
    }

    #[test]
    fn stack_overflow_report_defects_rejected() {
        let cases = [
            OVERFLOW_LOG.replace("page fault", "general protection"),
            OVERFLOW_LOG.replace("0xffffc000001effb8", "0x00000deadbeef000"),
            OVERFLOW_LOG.replace("stack overflow into the guard pages", "something"),
            OVERFLOW_LOG.replace("thread: overflow", "thread: shell"),
            OVERFLOW_LOG.replace("backtrace:", "trace:"),
        ];
        for log in cases {
            assert!(
                check_stack_overflow_report(&log).is_err(),
                "accepted:\n{log}"
            );
        }
    }
}

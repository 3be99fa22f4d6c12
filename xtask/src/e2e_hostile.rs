//! The hostile-input end-to-end suite: the kernel driven as a hostile but fair tester would,
//! through a Unix socket that QEMU serves the serial line on (`Guest::boot_with_socket`) —
//! what a terminal program or a network console would use, and a path with its own buffering
//! and backpressure. Every test ends by checking that the shell still answers.
//!
//! - a paste of 3 500 lines in one write: every line runs exactly once, none is merged with
//!   another or cut (the console holds the sender back instead of dropping bytes);
//! - 64 KiB of seeded random bytes: no exception, no panic, and the shell answers afterwards;
//! - Ctrl-C stops a command that would run for hours (`crashctl eval 200 1`), which stops its
//!   workload and gives the prompt back;
//! - after an OOM-ending workload, `crashctl status` describes the machine as it is now.
//!
//! The other hostile classes live with the subsystem they reach and run in the same
//! `cargo xtask test`: extra arguments and number syntax (`e2e.rs`), trailing-slash and dot
//! paths, a full disk and a corrupt image (`e2e_storage.rs`). All names start with `hostile_`,
//! so `cargo xtask test --qemu-only hostile_` runs this file.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::console::{Console, PROMPT};
use crate::e2e::E2eTest;
use crate::parse;

/// The hostile tests, in run order (they share one socket-attached boot while they pass).
pub const TESTS: &[E2eTest] = &[
    E2eTest {
        name: "hostile_paste_burst_runs_every_line_once",
        run: paste_burst_runs_every_line_once,
    },
    E2eTest {
        name: "hostile_random_bytes_leave_the_shell_answering",
        run: random_bytes_leave_the_shell_answering,
    },
    E2eTest {
        name: "hostile_ctrl_c_stops_a_long_command",
        run: ctrl_c_stops_a_long_command,
    },
    E2eTest {
        name: "hostile_crash_status_follows_the_machine_after_a_run",
        run: crash_status_follows_the_machine_after_a_run,
    },
];

/// Hostile tests that need a machine of their own (here: a small one).
pub const OWN_BOOT_TESTS: &[crate::e2e_storage::OwnBootTest] = &[crate::e2e_storage::OwnBootTest {
    name: "hostile_small_memory_thread_cycles_return_memory",
    run: small_memory_thread_cycles_return_memory,
}];

/// Lines in the paste (the issue's reproduction: 3 500 `echo paste%05d` lines in one write).
const PASTE_LINES: usize = 3_500;
/// Bytes of noise.
const NOISE_BYTES: usize = 64 * 1024;

/// Checks the shell still runs a command and nothing crashed so far.
fn still_answers(console: &mut Console, tag: &str) -> Result<()> {
    let out = console.command(&format!("echo alive-{tag}"))?;
    ensure!(
        out.iter().any(|l| l == &format!("alive-{tag}")),
        "the shell did not answer after {tag}: {out:?}"
    );
    let log = console.guest().serial_log();
    ensure!(
        !log.contains("EXCEPTION:") && !log.contains("PANIC:") && !log.contains("FATAL:"),
        "the kernel reported a fault"
    );
    Ok(())
}

fn paste_burst_runs_every_line_once(console: &mut Console) -> Result<()> {
    let mut paste = Vec::with_capacity(PASTE_LINES * 16);
    for i in 0..PASTE_LINES {
        paste.extend_from_slice(format!("echo paste{i:05}\r").as_bytes());
    }
    let mark = console.guest().mark();
    console.guest().send(&paste)?;
    // Output lines end in CR CR LF on the raw serial line (the shell's CRLF and the
    // console's), so look for the text between the newline and the next CR.
    let last = format!("\npaste{:05}\r", PASTE_LINES - 1);
    console
        .guest()
        .expect(last.as_bytes(), Duration::from_secs(300))
        .context("the last pasted line never ran")?;
    console
        .guest()
        .expect(PROMPT.as_bytes(), Duration::from_secs(30))?;
    let output = console.guest().serial_since(mark);
    let text = parse::clean_text(output.as_bytes());
    let mut seen = vec![0u32; PASTE_LINES];
    let mut problems = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(n) = line.strip_prefix("paste") {
            match n.parse::<usize>() {
                Ok(i) if i < PASTE_LINES && n.len() == 5 => seen[i] += 1,
                _ => problems.push(format!("garbled output line {line:?}")),
            }
        } else if line.contains("error:") {
            problems.push(format!("error line {line:?}"));
        }
    }
    for (i, count) in seen.iter().enumerate() {
        if *count != 1 {
            problems.push(format!("paste{i:05} ran {count} times"));
        }
    }
    if !problems.is_empty() {
        let shown: Vec<&String> = problems.iter().take(10).collect();
        bail!(
            "{} problems in the paste, the first: {shown:?}",
            problems.len()
        );
    }
    still_answers(console, "paste")
}

/// A deterministic byte stream (xorshift64*), so a failure can be replayed.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

fn random_bytes_leave_the_shell_answering(console: &mut Console) -> Result<()> {
    let bytes = noise(0x6e6f_7573, NOISE_BYTES);
    console.guest().send(&bytes)?;
    // End whatever line or escape sequence the noise left open, then wait for quiet.
    console.guest().send(b"\x1b[0m\x03\x15\r")?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let before = console.guest().captured();
        std::thread::sleep(Duration::from_millis(500));
        if console.guest().captured() == before {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the kernel kept printing for 2 minutes after the noise"
        );
    }
    console.guest().skip_pending();
    console.guest().send(b"\r")?;
    console
        .guest()
        .expect(PROMPT.as_bytes(), Duration::from_secs(30))?;
    still_answers(console, "noise")?;
    // Whatever the noise typed, no workload may be left running and memory is intact.
    let _ = console.command("memctl stress stop")?;
    let meminfo = console.command("meminfo")?;
    ensure!(
        meminfo.iter().any(|l| l.starts_with("memory: total")),
        "meminfo after the noise: {meminfo:?}"
    );
    Ok(())
}

fn ctrl_c_stops_a_long_command(console: &mut Console) -> Result<()> {
    let auto_before = console.command("crashctl status")?;
    console.guest().send(b"crashctl eval 200 1\r")?;
    // Let the first run get going (its workload allocates), then interrupt.
    std::thread::sleep(Duration::from_secs(5));
    let started = Instant::now();
    console.guest().send(b"\x03")?;
    let raw = console
        .guest()
        .expect(PROMPT.as_bytes(), Duration::from_secs(60))
        .context("no prompt within 60 s of Ctrl-C")?;
    let text = String::from_utf8_lossy(&raw);
    ensure!(
        text.contains("cancelled by Ctrl-C"),
        "`crashctl eval` did not report the cancel: {text:?}"
    );
    // The Ctrl-C byte then reaches the line editor, which echoes `^C` and prompts again.
    console
        .guest()
        .expect(b"^C", Duration::from_secs(10))
        .context("the editor did not see the Ctrl-C")?;
    console
        .guest()
        .expect(PROMPT.as_bytes(), Duration::from_secs(10))?;
    ensure!(
        started.elapsed() < Duration::from_secs(45),
        "Ctrl-C took {:?} to stop the evaluation",
        started.elapsed()
    );
    // The workload is gone and the user's `auto` setting is back.
    let status = console.command("memctl stress status")?;
    ensure!(
        !status.iter().any(|l| l.contains("running")),
        "a workload is still running after the cancel: {status:?}"
    );
    let auto_after = console.command("crashctl status")?;
    // The `auto: on|off` field only (the rest of the status line follows the machine).
    let auto_line = |lines: &[String]| {
        lines
            .iter()
            .find_map(|l| l.split("auto:").nth(1).map(|v| v.trim().to_string()))
            .unwrap_or_default()
    };
    ensure!(
        auto_line(&auto_before) == auto_line(&auto_after),
        "`crashctl auto` changed: {auto_before:?} -> {auto_after:?}"
    );
    still_answers(console, "ctrl-c")
}

fn crash_status_follows_the_machine_after_a_run(console: &mut Console) -> Result<()> {
    let _ = console.command("crashctl auto off")?;
    let _ = console.command("memctl stress fragment 1")?;
    // The run ends in an OOM kill about 40 s in (the oom e2e tests check that part).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let status = console.command("memctl stress status")?;
        if status.iter().any(|l| l.contains("oom-killed")) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "the fragment run did not OOM: {status:?}"
        );
    }
    let _ = console.command("memctl stress stop")?;
    // Once the workload is gone the status describes the machine as it is now: a few sampling
    // periods after the stop, not the 10 s the predictor's window would take to forget the run.
    std::thread::sleep(Duration::from_secs(2));
    let status = console.command("crashctl status")?;
    let meminfo = console.command("meminfo")?;
    ensure!(
        status
            .first()
            .is_some_and(|l| l.starts_with("level: NORMAL")),
        "2 s after the run ended, with {:?}, `crashctl status` says {status:?}",
        meminfo.first()
    );
    still_answers(console, "after-run")
}

/// Free KiB, heap-mapped KiB and the largest free order, from `meminfo`.
fn memory_figures(console: &mut Console) -> Result<(u64, u64, u32)> {
    let lines = console.command("meminfo")?;
    let free = parse::parse_meminfo(&lines)?.free_kib;
    let find = |prefix: &str| -> Result<&str> {
        lines
            .iter()
            .find_map(|l| l.strip_prefix(prefix))
            .with_context(|| format!("meminfo has no `{prefix}` line: {lines:?}"))
    };
    let heap: u64 = find("heap: mapped ")?
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("heap line: {lines:?}"))?;
    let largest: u32 = find("largest free block: order ")?
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("largest-block line: {lines:?}"))?;
    Ok((free, heap, largest))
}

/// Issue 10's reproduction at `-m 32M`: rounds of 200 spawn/join cycles must give back every
/// frame (page tables included) and leave the largest free block as it was. Frames that moved
/// into the heap (which never shrinks) count as given back.
fn small_memory_thread_cycles_return_memory(elf: &std::path::Path) -> Result<()> {
    let guest = crate::qemu::Guest::boot_with_socket(elf, &["-m", "32M"])?;
    let mut console = Console::attach(guest).map_err(|f| f.error.context(f.log))?;
    let stress = |console: &mut Console, n: u32| -> Result<()> {
        let out = console.command(&format!("schedctl stress {n}"))?;
        ensure!(
            out.iter()
                .any(|l| l.starts_with(&format!("stress: spawned {n}, joined {n}"))),
            "`schedctl stress {n}` at 32 MiB: {out:?}"
        );
        Ok(())
    };
    let (free0, heap0, largest0) = memory_figures(&mut console)?;
    stress(&mut console, 200)?;
    let (free1, heap1, largest1) = memory_figures(&mut console)?;
    ensure!(
        free1 + heap1 == free0 + heap0,
        "200 spawn/join cycles kept {} KiB (free {free0} -> {free1} KiB, heap {heap0} -> {heap1} KiB)",
        (free0 + heap0).saturating_sub(free1 + heap1)
    );
    for round in 2..=3 {
        stress(&mut console, 200)?;
        let (free, heap, largest) = memory_figures(&mut console)?;
        ensure!(
            (free, heap) == (free1, heap1),
            "round {round}: free {free1} -> {free} KiB, heap {heap1} -> {heap} KiB"
        );
        ensure!(
            largest == largest1 && largest1 >= largest0.min(largest1),
            "round {round}: largest free block order {largest0} -> {largest1} -> {largest}"
        );
    }
    still_answers(&mut console, "small-memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise_is_deterministic_and_spread() {
        let a = noise(7, 4096);
        assert_eq!(a, noise(7, 4096));
        assert_ne!(a, noise(8, 4096));
        let distinct: std::collections::BTreeSet<u8> = a.iter().copied().collect();
        assert!(
            distinct.len() > 200,
            "{} distinct byte values",
            distinct.len()
        );
    }

    #[test]
    fn names_are_unique_and_prefixed() {
        for (i, t) in TESTS.iter().enumerate() {
            assert!(t.name.starts_with("hostile_"));
            assert!(!TESTS[..i].iter().any(|o| o.name == t.name));
        }
    }
}

//! End-to-end tests of the normal kernel image, run over its serial shell.
//!
//! [`TESTS`] is the table [`crate::suite`] walks in order. Each entry is a name and a function
//! that gets a booted [`Console`]; consecutive tests share one boot while they pass, and a
//! failed test's guest is discarded so the next test starts from a fresh boot. A test that
//! ends the guest (like `shutdown`) leaves the next one a fresh boot too. To add a test
//! (crashctl, ext4, dashboard, …): write a `fn(&mut Console) -> Result<()>` and add a line to
//! [`TESTS`] before `shutdown_exits_33`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::console::{Console, PROMPT};
use crate::parse::{self, MemInfo};
use crate::qemu::{GUEST_MEMORY_KIB, QemuExit};

/// One named end-to-end test.
pub struct E2eTest {
    pub name: &'static str,
    pub run: fn(&mut Console) -> Result<()>,
}

/// Every end-to-end test, in the order they run.
pub const TESTS: &[E2eTest] = &[
    E2eTest {
        name: "boot_report",
        run: boot_report,
    },
    E2eTest {
        name: "help_lists_commands",
        run: help_lists_commands,
    },
    E2eTest {
        name: "version_answers",
        run: version_answers,
    },
    E2eTest {
        name: "uptime_advances",
        run: uptime_advances,
    },
    E2eTest {
        name: "uptime_shows_the_wall_clock",
        run: uptime_shows_the_wall_clock,
    },
    E2eTest {
        name: "meminfo_matches_qemu_memory",
        run: meminfo_matches_qemu_memory,
    },
    E2eTest {
        name: "ps_lists_idle_and_shell",
        run: ps_lists_idle_and_shell,
    },
    E2eTest {
        name: "unknown_command_error",
        run: unknown_command_error,
    },
    E2eTest {
        name: "ctl_stats_answer",
        run: ctl_stats_answer,
    },
    E2eTest {
        name: "wrong_arguments_error",
        run: wrong_arguments_error,
    },
    E2eTest {
        name: "extra_arguments_are_refused",
        run: extra_arguments_are_refused,
    },
    E2eTest {
        name: "numbers_follow_one_grammar",
        run: numbers_follow_one_grammar,
    },
    E2eTest {
        name: "echo_plain_args",
        run: echo_plain_args,
    },
    E2eTest {
        name: "echo_quoted_args",
        run: echo_quoted_args,
    },
    E2eTest {
        name: "overlong_line_rejected",
        run: overlong_line_rejected,
    },
    E2eTest {
        name: "non_utf8_rejected",
        run: non_utf8_rejected,
    },
    E2eTest {
        name: "line_editing_keys",
        run: line_editing_keys,
    },
    E2eTest {
        name: "ctrl_c_cancels_line",
        run: ctrl_c_cancels_line,
    },
    E2eTest {
        name: "history_recalls_previous_line",
        run: history_recalls_previous_line,
    },
    E2eTest {
        name: "thread_stress_keeps_free_memory",
        run: thread_stress_keeps_free_memory,
    },
    E2eTest {
        name: "shutdown_exits_33",
        run: shutdown_exits_33,
    },
];

/// Every end-to-end test in run order: this module's table, then the subsystem tables
/// ([`crate::e2e_oom`], [`crate::e2e_storage`]), and `shutdown_exits_33` last because it ends
/// the guest.
pub fn all() -> Vec<&'static E2eTest> {
    let (last, base) = TESTS
        .split_last()
        .expect("the table ends with shutdown_exits_33");
    base.iter()
        .chain(crate::e2e_oom::TESTS)
        .chain(crate::e2e_storage::TESTS)
        .chain(crate::e2e_sched::TESTS)
        .chain(crate::e2e_llm::TESTS)
        .chain(core::iter::once(last))
        .collect()
}

/// Commands the issue requires in `help`.
const REQUIRED_COMMANDS: &[&str] = &[
    "help", "version", "uptime", "meminfo", "ps", "memctl", "schedctl", "echo", "shutdown",
];

fn boot_report(console: &mut Console) -> Result<()> {
    let line = console.boot_line();
    let details = line.strip_prefix("boot: ").unwrap_or_default();
    ensure!(
        details.contains("ms"),
        "boot line does not give a time in ms: {line:?}"
    );
    ensure!(
        details.chars().any(|c| c.is_ascii_digit()),
        "boot line has no figures: {line:?}"
    );
    Ok(())
}

fn help_lists_commands(console: &mut Console) -> Result<()> {
    let entries = parse::parse_help(&console.command("help")?)?;
    let missing: Vec<&str> = REQUIRED_COMMANDS
        .iter()
        .copied()
        .filter(|name| !entries.iter().any(|e| e.name == *name))
        .collect();
    ensure!(missing.is_empty(), "help does not list {missing:?}");
    for (i, entry) in entries.iter().enumerate() {
        ensure!(
            !entries
                .get(..i)
                .unwrap_or_default()
                .iter()
                .any(|e| e.name == entry.name),
            "help lists `{}` twice",
            entry.name
        );
    }
    Ok(())
}

fn version_answers(console: &mut Console) -> Result<()> {
    let output = console.command("version")?;
    let first = output.first().context("version printed nothing")?;
    ensure!(
        !first.trim().is_empty() && parse::error_lines(&output.join("\n")).is_empty(),
        "version printed {output:?}"
    );
    Ok(())
}

/// The kernel reads the CMOS clock at boot; QEMU's RTC starts at the host's UTC time, so the
/// wall clock `uptime` shows is within a few minutes of the host's.
fn uptime_shows_the_wall_clock(console: &mut Console) -> Result<()> {
    let lines = console.command("uptime")?;
    let guest = parse::parse_wall_clock(&lines)?;
    let host = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs();
    ensure!(
        guest.abs_diff(host) <= 300,
        "guest wall clock {guest} is {} s from the host's {host}: {lines:?}",
        guest.abs_diff(host)
    );
    Ok(())
}

fn uptime_advances(console: &mut Console) -> Result<()> {
    let first = parse::parse_uptime(&console.command("uptime")?)?;
    // The format allows whole seconds, so poll for a while: a clock that never moves, or
    // moves backwards, fails; any working clock passes long before the limit.
    let limit = Instant::now() + Duration::from_secs(10);
    let mut last = first;
    while Instant::now() < limit {
        std::thread::sleep(Duration::from_millis(100));
        let now = parse::parse_uptime(&console.command("uptime")?)?;
        ensure!(now >= last, "uptime went backwards: {last} s then {now} s");
        if now > first {
            return Ok(());
        }
        last = now;
    }
    bail!("uptime stayed at {first} s for 10 s of wall-clock time")
}

fn meminfo(console: &mut Console) -> Result<MemInfo> {
    parse::parse_meminfo(&console.command("meminfo")?)
}

fn meminfo_matches_qemu_memory(console: &mut Console) -> Result<()> {
    let info = meminfo(console)?;
    let low = 200 * 1024;
    ensure!(
        (low..=GUEST_MEMORY_KIB).contains(&info.total_kib),
        "total {} KiB is not between 200 MiB and the 256 MiB given to QEMU",
        info.total_kib
    );
    ensure!(
        info.free_kib + info.used_kib == info.total_kib,
        "free {} KiB + used {} KiB != total {} KiB",
        info.free_kib,
        info.used_kib,
        info.total_kib
    );
    ensure!(info.free_kib > 0, "no free memory reported");
    Ok(())
}

fn ps_lists_idle_and_shell(console: &mut Console) -> Result<()> {
    let threads = parse::parse_ps(&console.command("ps")?)?;
    for name in ["idle", "shell"] {
        ensure!(
            threads.iter().any(|t| t.name == name),
            "ps shows no `{name}` thread: {threads:?}"
        );
    }
    for (i, thread) in threads.iter().enumerate() {
        ensure!(
            !threads
                .get(..i)
                .unwrap_or_default()
                .iter()
                .any(|t| t.tid == thread.tid),
            "ps shows thread id {} twice",
            thread.tid
        );
    }
    Ok(())
}

fn unknown_command_error(console: &mut Console) -> Result<()> {
    console.check_output(
        "frobnicate",
        &["error: unknown command 'frobnicate' (type 'help' for a list)"],
    )
}

fn ctl_stats_answer(console: &mut Console) -> Result<()> {
    for command in ["memctl stats", "schedctl stats"] {
        let output = console.command(command)?;
        ensure!(
            output.iter().any(|l| !l.trim().is_empty()),
            "`{command}` printed nothing"
        );
        let errors = parse::error_lines(&output.join("\n")).len();
        ensure!(errors == 0, "`{command}` printed an error: {output:?}");
    }
    Ok(())
}

fn wrong_arguments_error(console: &mut Console) -> Result<()> {
    for command in ["memctl", "memctl frobnicate", "schedctl stress many"] {
        let output = console.command(command)?;
        // One error line first; a usage hint may follow it.
        let errors = parse::error_lines(&output.join("\n")).len();
        ensure!(
            errors == 1 && output.first().is_some_and(|l| l.starts_with("error: ")),
            "`{command}` printed {output:?}, expected one `error: ` line first"
        );
    }
    Ok(())
}

/// Runs `line` and checks that it was refused: exactly one `error: ` line, first, containing
/// `needle`, and nothing after it but the `usage: ` line the shell adds to usage errors — so
/// the command printed nothing of its own (it did not run).
pub fn command_error(console: &mut Console, line: &str, needle: &str) -> Result<()> {
    let output = console.command(line)?;
    ensure!(
        output
            .first()
            .is_some_and(|l| l.starts_with("error: ") && l.contains(needle))
            && output.iter().skip(1).all(|l| l.starts_with("usage: ")),
        "`{line}` printed {output:?}, expected one `error: ` line mentioning {needle:?} \
         (and at most a `usage: ` line)"
    );
    Ok(())
}

/// Issue item 8: every command refuses extra arguments the same way, before it runs (the
/// registry reads the count from its usage synopsis). `shutdown now` must not power off.
fn extra_arguments_are_refused(console: &mut Console) -> Result<()> {
    for line in [
        "version x",
        "uptime x",
        "meminfo x",
        "ps x",
        "memctl stats x",
        "schedctl stats x",
        "shutdown now",
    ] {
        command_error(console, line, "takes no arguments, got 1")?;
    }
    command_error(
        console,
        "metrics json x",
        "expected at most 1 argument, got 2",
    )?;
    // Spawned one thread and ignored the rest before.
    command_error(
        console,
        "schedctl stress 1 2 3",
        "expected at most 1 argument, got 3",
    )?;
    command_error(
        console,
        "schedctl stress",
        "expected at least 1 argument, got 0",
    )?;
    // `echo` takes any number.
    console.check_output(
        "echo 1 2 3 4 5 6 7 8 9 10 11 12",
        &["1 2 3 4 5 6 7 8 9 10 11 12"],
    )?;
    console.check_output("echo", &[""])
}

/// Issue item 10: one number grammar, printed by `help`. `schedctl stress 0x10` spawned 16
/// threads and `+5` five before.
fn numbers_follow_one_grammar(console: &mut Console) -> Result<()> {
    for bad in ["0x10", "+5", "1e1", "16.0", "-1"] {
        command_error(
            console,
            &format!("schedctl stress {bad}"),
            &format!("threads: expected an integer (decimal digits only), got '{bad}'"),
        )?;
    }
    let help = console.command("help")?;
    ensure!(
        help.last().is_some_and(|l| l.starts_with("numbers: ")
            && l.contains("decimal digits")
            && l.contains("0x")),
        "help does not end with the number grammar: {help:?}"
    );
    Ok(())
}

fn echo_plain_args(console: &mut Console) -> Result<()> {
    console.check_output("echo a b", &["a b"])?;
    console.check_output("echo   spaced    out  ", &["spaced out"])
}

fn echo_quoted_args(console: &mut Console) -> Result<()> {
    console.check_output(r#"echo "a  b" c"#, &["a  b c"])
}

/// Sends `bad` as a command line and then a harmless `echo <marker>` right behind it, and
/// checks the transcript up to the marker's answer: exactly one `error: ` line, and no output
/// from the rejected line itself (it must not run, not even truncated). Waiting for the
/// marker's answer rather than the next prompt keeps the console in step even if the shell
/// printed extra prompts.
fn rejected_then_alive(console: &mut Console, bad: &[u8], what: &str) -> Result<()> {
    let marker = "still-alive-after-bad-input";
    let mark = console.guest().mark();
    let mut typed = bad.to_vec();
    typed.extend_from_slice(format!("\recho {marker}\r").as_bytes());
    console.guest().send(&typed)?;
    let timeout = console.command_timeout();
    console
        .guest()
        .expect(format!("\n{marker}").as_bytes(), timeout)
        .with_context(|| format!("the shell did not answer `echo {marker}` after {what}"))?;
    console
        .guest()
        .expect(PROMPT.as_bytes(), timeout)
        .with_context(|| format!("no prompt after `echo {marker}`"))?;
    let transcript = console.guest().serial_since(mark);
    let errors = parse::error_lines(&transcript);
    ensure!(
        errors.len() == 1,
        "{what} gave {} `error: ` lines, expected 1: {errors:?}",
        errors.len()
    );
    // The shell's echo of the bad input comes first; the editor wraps a long line over several
    // 80-column rows, so every leading line that continues a prefix of what was typed is echo.
    // After it only prompts (with the echo of what follows them), the error, blank lines and the
    // marker may appear.
    let typed_text = String::from_utf8_lossy(bad).into_owned();
    let mut lines = transcript.lines().peekable();
    let mut echoed = String::from(lines.next().unwrap_or_default());
    while let Some(next) = lines.peek() {
        let candidate = format!("{echoed}{next}");
        if next.is_empty() || !typed_text.starts_with(&candidate) {
            break;
        }
        echoed = candidate;
        lines.next();
    }
    let stray: Vec<&str> = lines
        .filter(|l| {
            !(l.is_empty() || l.starts_with(PROMPT) || l.starts_with("error: ") || *l == marker)
        })
        .collect();
    ensure!(
        stray.is_empty(),
        "{what} was not simply rejected: it still produced output {stray:?}"
    );
    Ok(())
}

fn overlong_line_rejected(console: &mut Console) -> Result<()> {
    let long = format!("echo {}", "x".repeat(295));
    rejected_then_alive(console, long.as_bytes(), "a 300-character line")
}

fn non_utf8_rejected(console: &mut Console) -> Result<()> {
    rejected_then_alive(console, b"echo \xff\xfe\xc3(", "a non-UTF-8 line")
}

/// Runs `typed` (raw key bytes, `\r` appended) and fails unless it prints exactly `expected`.
fn check_keys(console: &mut Console, typed: &[u8], expected: &[&str]) -> Result<()> {
    let output = console.command_bytes(typed)?;
    ensure!(
        output == expected,
        "keys {:?} printed {output:?}, expected {expected:?}",
        String::from_utf8_lossy(typed)
    );
    Ok(())
}

fn line_editing_keys(console: &mut Console) -> Result<()> {
    // DEL (what terminals send for Backspace) and ^H both erase the character before the cursor.
    check_keys(console, b"echo abX\x7fc", &["abc"])?;
    check_keys(console, b"echo abX\x08c", &["abc"])?;
    // ^U erases the whole line typed so far.
    check_keys(console, b"frobnicate\x15echo kept", &["kept"])?;
    // Left arrow (CSI D) moves the cursor; typing inserts there.
    check_keys(console, b"echo ac\x1b[Db", &["abc"])
}

fn ctrl_c_cancels_line(console: &mut Console) -> Result<()> {
    let mark = console.guest().mark();
    console.guest().send(b"echo cancelled-line\x03")?;
    let timeout = console.command_timeout();
    console
        .guest()
        .expect(PROMPT.as_bytes(), timeout)
        .context("no new prompt after Ctrl-C")?;
    console.check_output("echo after-cancel", &["after-cancel"])?;
    let transcript = console.guest().serial_since(mark);
    ensure!(
        !transcript.lines().any(|l| l == "cancelled-line"),
        "the line cancelled with Ctrl-C still ran"
    );
    Ok(())
}

fn history_recalls_previous_line(console: &mut Console) -> Result<()> {
    console.check_output("echo from-history", &["from-history"])?;
    // Up arrow (CSI A) recalls the last line; Enter runs it again.
    check_keys(console, b"\x1b[A", &["from-history"])
}

fn stress(console: &mut Console, threads: u64) -> Result<()> {
    let output = console.command(&format!("schedctl stress {threads}"))?;
    let (spawned, joined) = parse::parse_stress(&output)?;
    ensure!(
        (spawned, joined) == (threads, threads),
        "schedctl stress {threads} spawned {spawned} and joined {joined}"
    );
    Ok(())
}

fn thread_stress_keeps_free_memory(console: &mut Console) -> Result<()> {
    // The warm-up lets caches and lazily grown structures (heap, thread table) reach their
    // steady size, so the second round must give back exactly what it took.
    stress(console, 64)?;
    let before = meminfo(console)?;
    stress(console, 64)?;
    let after = meminfo(console)?;
    if before.free_kib != after.free_kib {
        bail!(
            "free memory changed across `schedctl stress 64`: {} KiB before, {} KiB after",
            before.free_kib,
            after.free_kib
        );
    }
    Ok(())
}

fn shutdown_exits_33(console: &mut Console) -> Result<()> {
    let timeout = console.command_timeout();
    let exit = console.command_then_exit("shutdown", "shutting down", timeout)?;
    ensure!(
        exit == QemuExit::Success,
        "QEMU {}, expected exit 33",
        exit.describe()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::qemu::Guest;
    use crate::suite::{Recorder, run_e2e};
    use std::process::Command;

    /// A fake kernel in bash that follows the shell contract; environment variables inject
    /// the defects the end-to-end tests exist to catch.
    const FAKE_KERNEL: &str = r#"
        export LC_ALL=C
        total=${FAKE_TOTAL:-259760}; free=$((total - 1136)); last=; ticks=0
        # Refuses more than $1 arguments (the rest of "$@") like the real registry.
        most() {
            local max=$1; shift
            [ -n "$FAKE_EXTRA_ARGS_OK" ] && return 0
            [ $# -le "$max" ] && return 0
            local noun=arguments; [ "$max" = 1 ] && noun=argument
            if [ "$max" = 0 ]; then printf 'error: %s: takes no arguments, got %d\r\n' "$cmd" $#
            else printf 'error: %s: expected at most %d %s, got %d\r\n' "$cmd" "$max" "$noun" $#
            fi
            return 1
        }
        # Applies ^U, DEL/^H, one left arrow and the up arrow like the real line editor.
        edit() {
            if [ -z "$FAKE_NO_HISTORY" ] && [ "$line" = $'\x1b[A' ]; then line=$last; fi
            [ -n "$FAKE_NO_EDITING" ] && return
            line=${line##*$'\x15'}
            while [[ $line == *[$'\x7f\x08']* ]]; do
                line=${line#[$'\x7f\x08']}
                line=${line/?[$'\x7f\x08']/}
            done
            if [[ $line == *$'\x1b[D'* ]]; then
                local pre=${line%%$'\x1b[D'*} post=${line#*$'\x1b[D'}
                line=${pre:0:${#pre}-1}$post${pre: -1}
            fi
        }
        run() {
            edit
            last=$line
            printf '%s\r\n' "$line"
            if [ ${#line} -gt 256 ]; then
                printf 'error: line too long (at most 256 bytes)\r\n'
                [ -z "$FAKE_RUN_TRUNCATED" ] && return
                printf 'nous> %s\r\n' "${line:0:256}"
                line=${line:0:256}
            fi
            if ! printf '%s' "$line" | iconv -f UTF-8 -t UTF-8 >/dev/null 2>&1; then
                printf 'error: line is not valid UTF-8\r\n'
                return
            fi
            eval "set -- $line"
            cmd=$1
            [[ $1 = memctl || $1 = schedctl ]] && cmd="$1 $2"
            case "$1" in
                help)
                    for c in help version uptime meminfo ps memctl schedctl echo shutdown; do
                        [ "$c" = "$FAKE_HELP_SKIP" ] || printf '  %-9s %s\r\n' "$c" "does $c"
                    done
                    printf '\r\nnumbers: an integer is decimal digits only (4096); no 0x\r\n' ;;
                version) most 0 "${@:2}" && printf 'Nous 0.1.0 (fake)\r\n' ;;
                uptime)
                    most 0 "${@:2}" || return
                    [ -z "$FAKE_FROZEN_CLOCK" ] && ticks=$((ticks + 1))
                    printf 'up %d s, wall clock %s\r\n' "$ticks" \
                        "$(date -u -d "${FAKE_CLOCK_AT:-now}" '+%Y-%m-%d %H:%M:%S UTC')" ;;
                meminfo)
                    most 0 "${@:2}" || return
                    printf 'memory: total %d KiB, free %d KiB, used %d KiB\r\n' \
                        "$total" "$free" "$((total - free))"
                    printf 'free blocks by order: 0:0\r\n' ;;
                ps)
                    most 0 "${@:2}" || return
                    printf 'TID  NAME   STATE\r\n0    idle   runnable\r\n'
                    printf '1    %s  running\r\n' "${FAKE_SHELL_NAME:-shell}" ;;
                metrics) most 1 "${@:2}" && printf 'nous_uptime_seconds 1\r\n' ;;
                echo) shift; printf '%s\r\n' "$*" ;;
                memctl)
                    if [ "$2" = stats ]; then
                        most 0 "${@:3}" && printf 'allocations: 1  frees: 0\r\n'
                    elif [ -z "$FAKE_BAD_ARGS_OK" ]; then printf 'error: memctl: bad subcommand\r\n'
                    fi ;;
                schedctl)
                    if [ "$2" = stats ]; then most 0 "${@:3}" && printf 'policy: round-robin\r\n'
                    elif [ "$2" = stress ] && [ $# -lt 3 ]; then
                        printf 'error: %s: expected at least 1 argument, got 0\r\n' "$cmd"
                    elif [ "$2" = stress ] && ! most 1 "${@:3}"; then :
                    elif [[ $2 = stress && ( $3 =~ ^[0-9]+$ || -n $FAKE_HEX_OK && $3 =~ ^0x[0-9]+$ ) ]]; then
                        free=$((free - ${FAKE_LEAK_KIB:-0}))
                        printf 'stress: spawned %d, joined %d\r\n' "$(($3))" "$(($3))"
                    elif [ "$2" = stress ]; then
                        printf "error: %s: threads: expected an integer (decimal digits only), got '%s'\r\n" "$cmd" "$3"
                    else printf 'error: schedctl: bad arguments\r\n'
                    fi ;;
                shutdown)
                    most 0 "${@:2}" || return
                    printf 'shutting down\r\n'; exit "${FAKE_SHUTDOWN_EXIT:-33}" ;;
                "") ;;
                *) printf "error: unknown command '%s' (type 'help' for a list)\r\n" "$1" ;;
            esac
        }
        printf 'boot: 50.0 ms to shell, memory 255 MiB\r\nnous> '
        line=
        while IFS= read -r -d '' -N 1 c; do
            case "$c" in
                $'\r') run; line=; printf 'nous> ' ;;
                $'\x03')
                    if [ -n "$FAKE_NO_CANCEL" ]; then line+=$c; continue; fi
                    printf '%s^C\r\nnous> ' "$line"; line= ;;
                *) line+=$c ;;
            esac
        done
    "#;

    /// Runs the whole table against the fake kernel with `defect` set in its environment and
    /// returns the names of the failed tests.
    fn failures_with(defect: &[(&str, &str)]) -> Vec<String> {
        let mut recorder = Recorder::default();
        let tests: Vec<&E2eTest> = TESTS.iter().collect();
        run_e2e(&mut recorder, &tests, Duration::from_secs(10), || {
            let mut command = Command::new("bash");
            command.args(["-c", FAKE_KERNEL]);
            command.envs(defect.iter().copied());
            Guest::spawn(command, "fake kernel")
        });
        recorder.failures().to_vec()
    }

    #[test]
    fn test_names_are_unique_and_shutdown_is_last() {
        for (i, test) in TESTS.iter().enumerate() {
            assert!(
                !TESTS[..i].iter().any(|t| t.name == test.name),
                "{} twice",
                test.name
            );
        }
        assert_eq!(TESTS.last().map(|t| t.name), Some("shutdown_exits_33"));
    }

    #[test]
    fn a_kernel_that_keeps_the_contract_passes_every_test() {
        assert_eq!(failures_with(&[]), Vec::<String>::new());
    }

    #[test]
    fn each_defect_fails_its_test() {
        let cases: [(&str, &str, &str); 14] = [
            ("FAKE_HELP_SKIP", "ps", "e2e::help_lists_commands"),
            ("FAKE_FROZEN_CLOCK", "1", "e2e::uptime_advances"),
            (
                "FAKE_CLOCK_AT",
                "1999-12-31 23:59:59",
                "e2e::uptime_shows_the_wall_clock",
            ),
            ("FAKE_TOTAL", "131072", "e2e::meminfo_matches_qemu_memory"),
            ("FAKE_SHELL_NAME", "sh", "e2e::ps_lists_idle_and_shell"),
            ("FAKE_BAD_ARGS_OK", "1", "e2e::wrong_arguments_error"),
            (
                "FAKE_EXTRA_ARGS_OK",
                "1",
                "e2e::extra_arguments_are_refused",
            ),
            ("FAKE_HEX_OK", "1", "e2e::numbers_follow_one_grammar"),
            ("FAKE_RUN_TRUNCATED", "1", "e2e::overlong_line_rejected"),
            ("FAKE_LEAK_KIB", "4", "e2e::thread_stress_keeps_free_memory"),
            ("FAKE_NO_EDITING", "1", "e2e::line_editing_keys"),
            ("FAKE_NO_CANCEL", "1", "e2e::ctrl_c_cancels_line"),
            ("FAKE_NO_HISTORY", "1", "e2e::history_recalls_previous_line"),
            ("FAKE_SHUTDOWN_EXIT", "0", "e2e::shutdown_exits_33"),
        ];
        for (variable, value, test) in cases {
            assert_eq!(
                failures_with(&[(variable, value)]),
                vec![test.to_string()],
                "{variable}={value}"
            );
        }
    }
}

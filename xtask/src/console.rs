//! The Nous shell protocol over a [`Guest`]'s serial line: wait for the `boot: ` line and the
//! `nous> ` prompt, type a command ending in `\r`, and collect its output up to the next prompt.
//!
//! [`Console`] is what end-to-end tests hold. Its timeouts are the harness's: [`BOOT_TIMEOUT`]
//! to reach the first prompt, [`COMMAND_TIMEOUT`] per command. Neighbours: [`crate::qemu`]
//! underneath, [`crate::parse`] for the output, [`crate::e2e`] above.

use std::time::Duration;

use anyhow::{Context, Result, ensure};

use crate::parse;
use crate::qemu::{Guest, QemuExit};

/// The shell prompt; no newline follows it.
pub const PROMPT: &str = "nous> ";
/// How long the kernel may take from QEMU start to its first prompt.
pub const BOOT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one command may take to print its answer and the next prompt.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a guest did not reach its shell, with its serial log.
pub struct BootFailure {
    pub error: anyhow::Error,
    pub log: String,
}

/// Waits for the first prompt and returns the `boot: ` line printed before it.
fn wait_for_shell(guest: &mut Guest) -> Result<String> {
    let before_prompt = guest
        .expect(PROMPT.as_bytes(), BOOT_TIMEOUT)
        .context("the kernel did not reach its shell prompt")?;
    let text = parse::clean_text(&before_prompt);
    let boot_line = text
        .lines()
        .find(|l| l.starts_with("boot: "))
        .context("no `boot: ` line before the first prompt")?;
    Ok(boot_line.to_string())
}

/// A booted kernel sitting at its shell prompt.
pub struct Console {
    guest: Guest,
    boot_line: String,
    command_timeout: Duration,
}

impl Console {
    /// Waits for `guest` to print its boot line and first prompt. On failure the guest is
    /// gone, so its log comes back with the error.
    pub fn attach(mut guest: Guest) -> Result<Console, BootFailure> {
        match wait_for_shell(&mut guest) {
            Ok(boot_line) => Ok(Console {
                guest,
                boot_line,
                command_timeout: COMMAND_TIMEOUT,
            }),
            Err(error) => Err(BootFailure {
                log: guest.failure_log(),
                error,
            }),
        }
    }

    /// How long each command may take ([`COMMAND_TIMEOUT`] unless changed).
    pub fn command_timeout(&self) -> Duration {
        self.command_timeout
    }

    /// Changes the per-command timeout (tests against fast fake guests shorten it).
    pub fn set_command_timeout(&mut self, timeout: Duration) {
        self.command_timeout = timeout;
    }

    /// The `boot: …` line printed before the first prompt.
    pub fn boot_line(&self) -> &str {
        &self.boot_line
    }

    /// Types `line` and returns the command's output lines (echo and prompt removed).
    pub fn command(&mut self, line: &str) -> Result<Vec<String>> {
        self.command_bytes(line.as_bytes())
    }

    /// Like [`Console::command`] for arbitrary bytes (they need not be UTF-8).
    pub fn command_bytes(&mut self, line: &[u8]) -> Result<Vec<String>> {
        let mut typed = line.to_vec();
        typed.push(b'\r');
        self.guest.send(&typed)?;
        let raw = self
            .guest
            .expect(PROMPT.as_bytes(), self.command_timeout)
            .with_context(|| {
                format!(
                    "no prompt after `{}`",
                    String::from_utf8_lossy(line).escape_debug()
                )
            })?;
        Ok(parse::command_output(&raw))
    }

    /// Runs `line` and fails unless its output is exactly `expected`.
    pub fn check_output(&mut self, line: &str, expected: &[&str]) -> Result<()> {
        let output = self.command(line)?;
        ensure!(
            output == expected,
            "`{line}` printed {output:?}, expected {expected:?}"
        );
        Ok(())
    }

    /// Types `line`, waits for `farewell` on the serial line, then for QEMU to exit.
    pub fn command_then_exit(
        &mut self,
        line: &str,
        farewell: &str,
        timeout: Duration,
    ) -> Result<QemuExit> {
        let mut typed = line.as_bytes().to_vec();
        typed.push(b'\r');
        self.guest.send(&typed)?;
        self.guest
            .expect(farewell.as_bytes(), self.command_timeout)
            .with_context(|| format!("`{line}` did not print {farewell:?}"))?;
        self.guest.wait_exit(timeout)
    }

    /// The guest underneath (marks, logs, exit status).
    pub fn guest(&mut self) -> &mut Guest {
        &mut self.guest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    /// A fake kernel: a bash script that speaks the shell protocol (echo, `\r`-terminated
    /// lines, CRLF output, prompt without newline) for a few commands.
    const FAKE_KERNEL: &str = r#"
        printf 'early noise\r\nboot: 12 ms to shell, 261000 KiB, sse\r\nnous> '
        while IFS= read -r -d $'\r' line; do
            printf '%s\r\n' "$line"
            case "$line" in
                help) printf '  help   list commands\r\n  echo   print arguments\r\n' ;;
                "echo "*) printf '%s\r\n' "${line#echo }" ;;
                "") ;;
                shutdown) printf 'shutting down\r\n'; exit 33 ;;
                *) printf "error: unknown command '%s' (type 'help' for a list)\r\n" "$line" ;;
            esac
            printf 'nous> '
        done
    "#;

    fn fake(body: &str) -> Guest {
        let mut command = Command::new("bash");
        command.args(["-c", body]);
        Guest::spawn(command, "fake kernel").unwrap()
    }

    #[test]
    fn boot_line_and_commands() {
        let mut console = Console::attach(fake(FAKE_KERNEL)).ok().unwrap();
        assert_eq!(console.boot_line(), "boot: 12 ms to shell, 261000 KiB, sse");
        assert_eq!(
            console.command("help").unwrap(),
            vec!["  help   list commands", "  echo   print arguments"]
        );
        console.check_output("echo a b", &["a b"]).unwrap();
        assert!(console.check_output("echo a b", &["a  b"]).is_err());
        assert!(console.command("").unwrap().is_empty());
        let mark = console.guest().mark();
        console.command("frobnicate").unwrap();
        console.command("echo x").unwrap();
        let transcript = console.guest().serial_since(mark);
        assert_eq!(parse::error_lines(&transcript).len(), 1);
        assert_eq!(
            console
                .command_then_exit("shutdown", "shutting down", Duration::from_secs(30))
                .unwrap(),
            QemuExit::Success
        );
    }

    #[test]
    fn missing_boot_line_is_an_error() {
        let failure = Console::attach(fake("printf 'hello\\r\\nnous> '; sleep 600"))
            .err()
            .unwrap();
        assert!(format!("{:#}", failure.error).contains("boot: "));
        assert!(failure.log.contains("hello"));
    }

    #[test]
    fn guest_that_dies_before_the_prompt_is_reported() {
        let failure = Console::attach(fake("printf 'boot: 1 ms\\r\\n'; exit 37"))
            .err()
            .unwrap();
        let message = format!("{:#}", failure.error);
        assert!(message.contains("exit 37"), "{message}");
    }

    #[test]
    fn non_utf8_input_is_sent_verbatim() {
        let mut console = Console::attach(fake(FAKE_KERNEL)).ok().unwrap();
        let output = console.command_bytes(b"echo \xff\xfe").unwrap();
        assert_eq!(output, vec!["\u{fffd}\u{fffd}"]);
    }
}

//! `cargo xtask test`: host unit tests, then the QEMU tests — the ktest image, the fault-test
//! image and the end-to-end table in [`crate::e2e`].
//!
//! Every check is a named test reported as `test <name> ... ok` or `test <name> ... FAILED:
//! <why>` (followed by the serial log of the failed run), and the run ends with the line
//! `<P> passed, <F> failed`. [`Recorder`] keeps that tally. Neighbours: `main` calls [`run`];
//! [`crate::image`] builds, [`crate::qemu`] and [`crate::console`] run the guests.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};

use crate::console::{COMMAND_TIMEOUT, Console};
use crate::qemu::{Guest, QemuExit};
use crate::{disk, e2e, e2e_hostile, e2e_llm, e2e_net, e2e_storage, image, parse, setup};

/// How long the ktest image may take from start to exit (boot plus every in-kernel test).
const KTEST_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the fault-test image may take from start to its exception exit.
const FAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// What `cargo xtask test` should run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub host: bool,
    pub qemu: bool,
    /// Only QEMU tests whose name contains this.
    pub filter: Option<String>,
}

impl Selection {
    fn wants(&self, name: &str) -> bool {
        self.filter.as_deref().is_none_or(|f| name.contains(f))
    }
}

/// Counts of passed and failed tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
}

/// Prints verdicts as they come and keeps the tally.
#[derive(Debug, Default)]
pub struct Recorder {
    summary: Summary,
    failures: Vec<String>,
}

impl Recorder {
    /// Records one test; `log` (e.g. the serial log) is printed only when it failed.
    pub fn record(&mut self, name: &str, outcome: &Result<()>, log: Option<&str>) {
        match outcome {
            Ok(()) => {
                self.summary.passed += 1;
                println!("test {name} ... ok");
            }
            Err(err) => {
                self.summary.failed += 1;
                self.failures.push(name.to_string());
                println!("test {name} ... FAILED: {err:#}");
                if let Some(log) = log {
                    println!("{log}");
                }
            }
        }
    }

    /// Names of the tests that failed so far.
    #[cfg(test)]
    pub fn failures(&self) -> &[String] {
        &self.failures
    }

    /// Prints the failed names and the final `<P> passed, <F> failed` line.
    pub fn finish(self) -> Summary {
        if !self.failures.is_empty() {
            println!("\nfailures:");
            for name in &self.failures {
                println!("    {name}");
            }
        }
        println!(
            "{} passed, {} failed",
            self.summary.passed, self.summary.failed
        );
        self.summary
    }
}

/// Runs the selected tests and prints the summary.
pub fn run(selection: &Selection) -> Result<Summary> {
    let mut recorder = Recorder::default();
    if selection.host {
        // The ext4 tests are judged by mkfs.ext4, e2fsck and debugfs.
        setup::ensure_e2fsprogs()?;
        let outcome = host_tests();
        recorder.record("host::cargo_test", &outcome, None);
    }
    if selection.qemu {
        setup::ensure_qemu()?;
        if selection.wants("ktest::") {
            ktest_image(&mut recorder);
        }
        if selection.wants("fault::page_fault_report") {
            fault_image(&mut recorder);
        }
        if selection.wants("fault::stack_overflow_report") {
            stack_overflow_image(&mut recorder);
        }
        let e2e: Vec<&e2e::E2eTest> = e2e::all()
            .into_iter()
            .filter(|t| selection.wants(&e2e_name(t)))
            .collect();
        if !e2e.is_empty() {
            e2e_tests(&mut recorder, &e2e, Guest::boot_with);
        }
        let hostile: Vec<&e2e::E2eTest> = e2e_hostile::TESTS
            .iter()
            .filter(|t| selection.wants(&e2e_name(t)))
            .collect();
        if !hostile.is_empty() {
            e2e_tests(&mut recorder, &hostile, Guest::boot_with_socket);
        }
        let own_hostile: Vec<&e2e_storage::OwnBootTest> = e2e_hostile::OWN_BOOT_TESTS
            .iter()
            .filter(|t| selection.wants(&format!("e2e::{}", t.name)))
            .collect();
        if !own_hostile.is_empty()
            && let Some(elf) = build(&mut recorder, image::Variant::Normal)
        {
            for test in own_hostile {
                let outcome = (test.run)(&elf);
                recorder.record(&format!("e2e::{}", test.name), &outcome, None);
            }
        }
        let own: Vec<&e2e_storage::OwnBootTest> = e2e_storage::OWN_BOOT_TESTS
            .iter()
            .filter(|t| selection.wants(&format!("storage::{}", t.name)))
            .collect();
        let own_llm: Vec<&e2e_storage::OwnBootTest> = e2e_llm::OWN_BOOT_TESTS
            .iter()
            .filter(|t| selection.wants(&format!("e2e::{}", t.name)))
            .collect();
        if !own_llm.is_empty()
            && let Some(elf) = build(&mut recorder, image::Variant::Normal)
        {
            for test in own_llm {
                let outcome = (test.run)(&elf);
                recorder.record(&format!("e2e::{}", test.name), &outcome, None);
            }
        }
        if !own.is_empty() {
            storage_tests(&mut recorder, &own);
        }
        let net: Vec<&e2e_net::NetTest> = e2e_net::TESTS
            .iter()
            .filter(|t| selection.wants(&format!("net::{}", t.name)))
            .collect();
        if !net.is_empty()
            && let Some(elf) = build(&mut recorder, image::Variant::Normal)
        {
            e2e_net::run(&mut recorder, &elf, &net);
        }
        disk::remove_test_template();
    }
    Ok(recorder.finish())
}

fn e2e_name(test: &e2e::E2eTest) -> String {
    format!("e2e::{}", test.name)
}

/// Plain `cargo test` at the workspace root: the default members are exactly the host crates.
fn host_tests() -> Result<()> {
    println!("xtask: running host tests (cargo test)");
    let status = image::cargo().arg("test").status()?;
    if !status.success() {
        bail!("cargo test failed ({status})");
    }
    Ok(())
}

/// Builds `variant`, recording a `build::<variant>` failure if that fails.
fn build(recorder: &mut Recorder, variant: image::Variant) -> Option<std::path::PathBuf> {
    match image::build(variant) {
        Ok(elf) => Some(elf),
        Err(err) => {
            recorder.record(&format!("build::{}", variant.name()), &Err(err), None);
            None
        }
    }
}

fn ktest_image(recorder: &mut Recorder) {
    let Some(elf) = build(recorder, image::Variant::Ktest) else {
        return;
    };
    // The in-kernel tests get a scratch data disk of their own (the virtio-blk test writes
    // raw sectors at its end).
    let scratch = disk::test_template().and_then(|t| disk::ScratchImage::copy_of(&t));
    let scratch = match scratch {
        Ok(scratch) => scratch,
        Err(err) => {
            recorder.record("ktest::report", &Err(err), None);
            return;
        }
    };
    let drive = disk::drive_args(&scratch.path);
    let args: Vec<&str> = drive.iter().map(String::as_str).collect();
    let (outcome, log) = run_to_exit_with(&elf, &args, KTEST_TIMEOUT);
    let exit = match outcome {
        Ok(exit) => exit,
        Err(err) => {
            recorder.record("ktest::report", &Err(err), Some(&log));
            return;
        }
    };
    let report = match parse::parse_ktest(&parse::clean_text(log.as_bytes())) {
        Ok(report) => report,
        Err(err) => {
            recorder.record("ktest::report", &Err(err), Some(&log));
            return;
        }
    };
    for result in &report.results {
        let outcome = match &result.failure {
            None => Ok(()),
            Some(why) => Err(anyhow::anyhow!("{why}")),
        };
        recorder.record(&format!("ktest::{}", result.name), &outcome, None);
    }
    let verdict = parse::check_ktest_report(&report, exit.code());
    let any_failed = report.results.iter().any(|r| r.failure.is_some());
    let show_log = verdict.is_err() || any_failed;
    recorder.record("ktest::report", &verdict, show_log.then_some(log.as_str()));
}

fn fault_image(recorder: &mut Recorder) {
    let name = "fault::page_fault_report";
    let Some(elf) = build(recorder, image::Variant::FaultTest) else {
        return;
    };
    let (outcome, log) = run_to_exit(&elf, FAULT_TIMEOUT);
    let verdict = outcome.and_then(|exit| {
        if exit != QemuExit::CpuException {
            bail!("QEMU {}, expected exit 37 (CPU exception)", exit.describe());
        }
        parse::check_page_fault_report(&log)
    });
    let failed = verdict.is_err();
    recorder.record(name, &verdict, failed.then_some(log.as_str()));
}

/// The fault image with `-append fault=stack-overflow`: a thread recursing into its stack's
/// guard pages must end in a page-fault report that names the overflow and the thread.
fn stack_overflow_image(recorder: &mut Recorder) {
    let name = "fault::stack_overflow_report";
    let Some(elf) = build(recorder, image::Variant::FaultTest) else {
        return;
    };
    let (outcome, log) =
        run_to_exit_with(&elf, &["-append", "fault=stack-overflow"], FAULT_TIMEOUT);
    let verdict = outcome.and_then(|exit| {
        if exit != QemuExit::CpuException {
            bail!("QEMU {}, expected exit 37 (CPU exception)", exit.describe());
        }
        parse::check_stack_overflow_report(&log)
    });
    let failed = verdict.is_err();
    recorder.record(name, &verdict, failed.then_some(log.as_str()));
}

/// Boots `elf`, waits for QEMU to exit, and returns the exit with the framed log. The serial
/// log (cleaned) is what parsers see when the run succeeded; on failure the framing adds
/// stderr.
fn run_to_exit(elf: &Path, timeout: Duration) -> (Result<QemuExit>, String) {
    run_to_exit_with(elf, &[], timeout)
}

/// [`run_to_exit`] with extra QEMU arguments.
fn run_to_exit_with(elf: &Path, extra: &[&str], timeout: Duration) -> (Result<QemuExit>, String) {
    let mut guest = match Guest::boot_with(elf, extra) {
        Ok(guest) => guest,
        Err(err) => return (Err(err), String::new()),
    };
    let outcome = guest.wait_exit(timeout);
    let log = match outcome {
        Ok(_) => guest.serial_log(),
        Err(_) => guest.failure_log(),
    };
    (outcome, log)
}

/// Runs `tests` on the normal image, each boot with a fresh copy of the data disk, started by
/// `boot` (serial on stdio for the main table, on a Unix socket for the hostile suite).
fn e2e_tests(
    recorder: &mut Recorder,
    tests: &[&e2e::E2eTest],
    boot: fn(&Path, &[&str]) -> Result<Guest>,
) {
    let Some(elf) = build(recorder, image::Variant::Normal) else {
        return;
    };
    // Every boot gets a fresh copy of the data-disk template; copies live until the end.
    let mut disks: Vec<disk::ScratchImage> = Vec::new();
    run_e2e(recorder, tests, COMMAND_TIMEOUT, || {
        let template = disk::test_template()?;
        let scratch = disk::ScratchImage::copy_of(&template)?;
        let drive = disk::drive_args(&scratch.path);
        disks.push(scratch);
        let args: Vec<&str> = drive.iter().map(String::as_str).collect();
        boot(&elf, &args)
    });
}

/// Storage tests that boot their own guests and judge the disk on the host afterwards.
fn storage_tests(recorder: &mut Recorder, tests: &[&e2e_storage::OwnBootTest]) {
    let Some(elf) = build(recorder, image::Variant::Normal) else {
        return;
    };
    for test in tests {
        let outcome = (test.run)(&elf);
        recorder.record(&format!("storage::{}", test.name), &outcome, None);
    }
}

/// Runs `tests` in order on guests from `boot`: one guest while tests pass, a fresh one after a
/// failure or after a test that ended the guest. Each command may take `command_timeout`.
pub fn run_e2e(
    recorder: &mut Recorder,
    tests: &[&e2e::E2eTest],
    command_timeout: Duration,
    mut boot: impl FnMut() -> Result<Guest>,
) {
    let mut console: Option<Console> = None;
    for test in tests {
        let name = e2e_name(test);
        let mut current = match console.take() {
            Some(current) => current,
            None => match boot().map(Console::attach) {
                Ok(Ok(mut fresh)) => {
                    fresh.set_command_timeout(command_timeout);
                    fresh
                }
                Ok(Err(failure)) => {
                    recorder.record(&name, &Err(failure.error), Some(&failure.log));
                    continue;
                }
                Err(err) => {
                    recorder.record(&name, &Err(err), None);
                    continue;
                }
            },
        };
        let outcome = (test.run)(&mut current);
        let failed = outcome.is_err();
        let log = failed.then(|| current.guest().failure_log());
        recorder.record(&name, &outcome, log.as_deref());
        // A failed test's guest may be in any state; a guest that exited cannot be reused.
        if !failed && !current.guest().has_exited() {
            console = Some(current);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorder_counts_and_filters() {
        let mut recorder = Recorder::default();
        recorder.record("a", &Ok(()), None);
        recorder.record("b", &Err(anyhow::anyhow!("broken")), Some("log"));
        recorder.record("c", &Ok(()), None);
        assert_eq!(
            recorder.finish(),
            Summary {
                passed: 2,
                failed: 1
            }
        );
        let selection = Selection {
            filter: Some("meminfo".into()),
            ..Selection::default()
        };
        assert!(selection.wants("e2e::meminfo_matches_qemu_memory"));
        assert!(!selection.wants("ktest::"));
        assert!(Selection::default().wants("anything"));
    }
}

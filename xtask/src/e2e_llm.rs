//! End-to-end tests of the in-kernel language model (`llmctl`), over the serial shell.
//!
//! [`TESTS`] share the e2e boot (its disk holds the shipped `/models`): the model loads at
//! boot, `llmctl status` and `state` agree with `meminfo` and `schedctl stats`, `llmctl infer`
//! answers with a catalogue command and its timing, `auto-execute on` runs the answer through
//! the registry and logs it, the autonomous mode acts on a leak scenario, `llmctl eval` runs,
//! bad arguments are refused. [`OWN_BOOT_TESTS`] boot on a disk whose model file is damaged:
//! the boot line and `llmctl status` say why, and the rest of the kernel works.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::console::Console;
use crate::disk::{self, ScratchImage};
use crate::e2e::{E2eTest, command_error};
use crate::e2e_storage::OwnBootTest;
use crate::qemu::{Guest, QemuExit};

/// The language-model tests that share the e2e boot, in run order.
pub const TESTS: &[E2eTest] = &[
    E2eTest {
        name: "llm_model_loads_at_boot",
        run: llm_model_loads_at_boot,
    },
    E2eTest {
        name: "llmctl_state_matches_meminfo_and_schedctl",
        run: llmctl_state_matches_meminfo_and_schedctl,
    },
    E2eTest {
        name: "llmctl_infer_proposes_a_catalogue_command",
        run: llmctl_infer_proposes_a_catalogue_command,
    },
    E2eTest {
        name: "llmctl_auto_execute_runs_allowlisted_answers",
        run: llmctl_auto_execute_runs_allowlisted_answers,
    },
    E2eTest {
        name: "llmctl_autonomous_mode_acts_on_a_leak",
        run: llmctl_autonomous_mode_acts_on_a_leak,
    },
    E2eTest {
        name: "llmctl_eval_reports_accuracy_and_latency",
        run: llmctl_eval_reports_accuracy_and_latency,
    },
    E2eTest {
        name: "llmctl_refuses_bad_arguments",
        run: llmctl_refuses_bad_arguments,
    },
];

/// Tests with a disk of their own.
pub const OWN_BOOT_TESTS: &[OwnBootTest] = &[
    OwnBootTest {
        name: "corrupt_model_file_is_reported",
        run: corrupt_model_file_is_reported,
    },
    OwnBootTest {
        name: "finetune_refuses_bad_data_trains_and_persists_the_adapter",
        run: finetune_refuses_bad_data_trains_and_persists_the_adapter,
    },
];

fn no_errors(console: &mut Console, line: &str) -> Result<Vec<String>> {
    let output = console.command(line)?;
    ensure!(
        !output.iter().any(|l| l.starts_with("error:")),
        "`{line}` failed: {output:?}"
    );
    Ok(output)
}

fn llm_model_loads_at_boot(console: &mut Console) -> Result<()> {
    let log = console.guest().serial_log();
    let line = log
        .lines()
        .find(|l| l.starts_with("llm:"))
        .context("no `llm:` line at boot")?
        .to_string();
    ensure!(
        line.contains("model loaded from /models in ")
            && line.contains("1000576 parameters")
            && line.contains("KiB of heap (budget "),
        "boot line: {line:?}"
    );
    let status = no_errors(console, "llmctl status")?;
    ensure!(
        status
            .first()
            .is_some_and(|l| l.starts_with("model: loaded in ")),
        "status: {status:?}"
    );
    ensure!(
        status.iter().any(|l| l == "auto-execute: off"),
        "auto-execute is not off at boot: {status:?}"
    );
    let meminfo = no_errors(console, "meminfo")?;
    ensure!(
        meminfo
            .iter()
            .any(|l| l.starts_with("language model: ") && l.contains("KiB of heap (budget ")),
        "meminfo does not show the model's memory: {meminfo:?}"
    );
    Ok(())
}

fn number_after(line: &str, prefix: &str) -> Option<u64> {
    let rest = &line[line.find(prefix)? + prefix.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The state the model sees is the kernel's: the same total as `meminfo`, free memory and
/// context switches between the values the commands print before and after.
fn llmctl_state_matches_meminfo_and_schedctl(console: &mut Console) -> Result<()> {
    let before = no_errors(console, "meminfo")?;
    let sched_before = no_errors(console, "schedctl stats")?;
    let state = no_errors(console, "llmctl state")?;
    let after = no_errors(console, "meminfo")?;
    let sched_after = no_errors(console, "schedctl stats")?;
    let mem = |lines: &[String], key: &str| {
        lines
            .iter()
            .find_map(|l| number_after(l, key))
            .with_context(|| format!("no {key:?} in {lines:?}"))
    };
    ensure!(
        mem(&state, "total ")? == mem(&before, "total ")?,
        "total memory differs: {state:?} vs {before:?}"
    );
    let free = mem(&state, "free ")?;
    let (f0, f1) = (mem(&before, "free ")?, mem(&after, "free ")?);
    ensure!(
        free.abs_diff(f0) <= 1024 && free.abs_diff(f1) <= 1024,
        "free memory {free} KiB not near meminfo's {f0}/{f1}"
    );
    let switches = mem(&state, "context switches ")?;
    let (s0, s1) = (
        mem(&sched_before, "switches: ")?,
        mem(&sched_after, "switches: ")?,
    );
    ensure!(
        s0 <= switches && switches <= s1,
        "context switches {switches} not between {s0} and {s1}"
    );
    ensure!(
        state.iter().any(|l| l.starts_with("crash risk: ")),
        "no crash risk: {state:?}"
    );
    let prompt = state
        .iter()
        .find_map(|l| l.strip_prefix("prompt: "))
        .context("no prompt line")?;
    // The raw-number prompt: total memory in MiB as `llmctl state` reports it in KiB.
    ensure!(
        prompt.starts_with("mem ")
            && number_after(prompt, "mem ") == Some(mem(&state, "total ")? / 1024),
        "prompt {prompt:?}"
    );
    Ok(())
}

/// The `command:` line of an `llmctl infer`, checked against the answer grammar (catalogue
/// commands, a plan of them, or a refusal).
fn proposed(output: &[String]) -> Result<String> {
    let command = output
        .iter()
        .find_map(|l| l.strip_prefix("command: "))
        .with_context(|| format!("no command line in {output:?}"))?;
    oslang::parse_answer(command)
        .map_err(|e| anyhow::anyhow!("{command:?} is not an answer of the grammar: {e}"))?;
    Ok(command.to_string())
}

fn llmctl_infer_proposes_a_catalogue_command(console: &mut Console) -> Result<()> {
    let out = no_errors(console, "llmctl infer -v memory is tight")?;
    ensure!(
        out.first()
            .is_some_and(|l| l.starts_with("prompt: mem ") && l.ends_with("| memory is tight >")),
        "no prompt with -v: {out:?}"
    );
    proposed(&out)?;
    let timing = out
        .iter()
        .find(|l| l.starts_with("tokens: prompt "))
        .context("no timing line")?;
    for phase in ["encode ", "prefill ", "decode ", "total "] {
        ensure!(timing.contains(phase), "no {phase} time in {timing:?}");
    }
    ensure!(
        out.last()
            .is_some_and(|l| l.starts_with("not executed (llmctl auto-execute on")),
        "executed with auto-execute off: {out:?}"
    );
    // Without a query and without -v: still a command, no prompt line.
    let bare = no_errors(console, "llmctl infer")?;
    proposed(&bare)?;
    ensure!(!bare.iter().any(|l| l.starts_with("prompt:")), "{bare:?}");
    let status = no_errors(console, "llmctl status")?;
    ensure!(
        status
            .iter()
            .any(|l| l.starts_with("inferences: ") && !l.starts_with("inferences: 0 ")),
        "status counts no inference: {status:?}"
    );
    let metrics = no_errors(console, "metrics")?;
    for series in [
        "nous_llm_inferences_total ",
        "nous_llm_commands_proposed_total ",
        "nous_llm_model_bytes ",
    ] {
        ensure!(
            metrics.iter().any(|l| l.starts_with(series)),
            "metrics lack {series}"
        );
    }
    Ok(())
}

fn llmctl_auto_execute_runs_allowlisted_answers(console: &mut Console) -> Result<()> {
    let on = no_errors(console, "llmctl auto-execute on")?;
    ensure!(
        on.first().is_some_and(|l| l.starts_with("auto-execute on")),
        "{on:?}"
    );
    let result = (|| {
        let out = console.command("llmctl infer run meminfo")?;
        let command = proposed(&out)?;
        let executed = out
            .iter()
            .find_map(|l| l.strip_prefix("executed: "))
            .with_context(|| format!("the answer did not run: {out:?}"))?;
        ensure!(
            executed == command,
            "ran {executed:?}, proposed {command:?}"
        );
        let log = no_errors(console, "llmctl log")?;
        let entry = log.last().context("empty log")?;
        ensure!(
            entry.contains(" shell ") && entry.contains(&command) && entry.contains(" ran "),
            "log entry {entry:?}"
        );
        Ok(())
    })();
    no_errors(console, "llmctl auto-execute off")?;
    result
}

/// With auto-execute on, a leak drives the predictor to WARNING and the model acts on its own:
/// an `auto` entry appears in the log (its command is allowlisted; whether it ran or failed
/// is logged).
fn llmctl_autonomous_mode_acts_on_a_leak(console: &mut Console) -> Result<()> {
    no_errors(console, "llmctl auto-execute on")?;
    no_errors(console, "memctl stress leak 1")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut found = None;
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_secs(2));
        let log = console.command("llmctl log")?;
        if let Some(entry) = log.iter().find(|l| l.contains(" auto ")) {
            found = Some(entry.clone());
            break;
        }
    }
    let _ = console.command("memctl stress stop")?;
    no_errors(console, "llmctl auto-execute off")?;
    let entry = found.context("no autonomous action within 60 s of a leak")?;
    let command = entry
        .split_whitespace()
        .skip(3)
        .take_while(|w| {
            !["ran", "refused", "failed", "declined"]
                .iter()
                .any(|o| w.starts_with(o))
        })
        .collect::<Vec<_>>()
        .join(" ");
    // An answer of the grammar: a command or plan of the allowlist, or a refusal — with the
    // model's abstention threshold (0.9 for state-changing answers since model C) an unsure
    // answer is logged as `refuse: unclear … declined`, which runs nothing.
    llmtask::allowlisted_answer(&command)
        .map_err(|e| anyhow::anyhow!("autonomous answer {command:?} ({entry:?}): {e}"))?;
    Ok(())
}

fn llmctl_eval_reports_accuracy_and_latency(console: &mut Console) -> Result<()> {
    let out = no_errors(console, "llmctl eval validation 5 --answers")?;
    let line = out.last().context("no eval output")?;
    ensure!(
        line.starts_with("eval validation n=5 seed=1: exact ")
            && line.contains("allowlisted 5/5")
            && line.contains("p95 "),
        "eval printed {out:?}"
    );
    // The fingerprint printed is the one of the answers listed, in order.
    let mut fingerprint = llmtask::AnswerFingerprint::default();
    let answers: Vec<&str> = out
        .iter()
        .filter_map(|l| l.strip_prefix("answer ")?.split_once(": ").map(|(_, a)| a))
        .collect();
    ensure!(answers.len() == 5, "eval --answers printed {out:?}");
    for a in &answers {
        fingerprint.push(a);
    }
    ensure!(
        line.ends_with(&format!("answers fnv1a {fingerprint}")),
        "fingerprint of {answers:?} is {fingerprint}, eval printed {line:?}"
    );
    // Last in the LLM table but for the error checks: executing the answers may change
    // settings (a threshold, the policy) that earlier tests rely on.
    let out = no_errors(console, "llmctl eval validation 3 --execute")?;
    let line = out
        .iter()
        .find(|l| l.starts_with("executed: "))
        .with_context(|| format!("no executed line: {out:?}"))?;
    ensure!(
        line.contains(" of 3 answers had a command to run; commands ran ")
            && line.contains("answers were refusals"),
        "eval --execute printed {out:?}"
    );
    let split = out
        .iter()
        .find(|l| l.starts_with("by expected answer: a command expected for "))
        .with_context(|| format!("no by-expected line: {out:?}"))?;
    let number = |prefix: &str| -> Option<usize> {
        let rest = &split[split.find(prefix)? + prefix.len()..];
        rest[..rest.find(|c: char| !c.is_ascii_digit())?]
            .parse()
            .ok()
    };
    let (commands, refusals) = (
        number("a command expected for ").context(split.clone())?,
        number("a refusal expected for ").context(split.clone())?,
    );
    ensure!(commands + refusals == 3, "{split:?} does not add up to 3");
    Ok(())
}

fn llmctl_refuses_bad_arguments(console: &mut Console) -> Result<()> {
    command_error(
        console,
        "llmctl auto-execute maybe",
        "expected on, off or expert",
    )?;
    command_error(
        console,
        "llmctl eval validation 3 --now",
        "unknown option '--now' (expected --execute or --answers)",
    )?;
    command_error(
        console,
        "llmctl auto-execute",
        "expected at least 1 argument, got 0",
    )?;
    command_error(
        console,
        "llmctl auto-execute on off",
        "expected at most 1 argument, got 2",
    )?;
    command_error(console, "llmctl eval test 5", "unknown split")?;
    command_error(console, "llmctl eval validation 0", "between 1 and 1000")?;
    command_error(console, "llmctl eval validation 1001", "between 1 and 1000")?;
    command_error(console, "llmctl eval validation many", "")?;
    command_error(
        console,
        "llmctl eval validation",
        "expected at least 2 arguments, got 1",
    )?;
    command_error(console, "llmctl status now", "takes no arguments")?;
    command_error(console, "llmctl frobnicate", "")?;
    let status = no_errors(console, "llmctl status")?;
    ensure!(
        status.iter().any(|l| l == "auto-execute: off"),
        "{status:?}"
    );
    Ok(())
}

fn boot_on(elf: &Path, image: &Path) -> Result<Console> {
    boot_with_cmdline(elf, image, None)
}

fn boot_with_cmdline(elf: &Path, image: &Path, cmdline: Option<&str>) -> Result<Console> {
    let drive = disk::drive_args(image);
    let mut args: Vec<&str> = drive.iter().map(String::as_str).collect();
    if let Some(line) = cmdline {
        args.extend(["-append", line]);
    }
    let guest = Guest::boot_with(elf, &args)?;
    Console::attach(guest).map_err(|failure| {
        failure
            .error
            .context(format!("boot failed; serial log:\n{}", failure.log))
    })
}

/// A model file cut in half: a clear boot line and `llmctl status`, `llmctl infer` refused,
/// the rest of the kernel (and the disk) working.
fn corrupt_model_file_is_reported(elf: &Path) -> Result<()> {
    let image = ScratchImage {
        path: disk::disk_dir().join(format!("llm-corrupt-{}.img", std::process::id())),
    };
    disk::make_image(&image.path, |staging| {
        let weights = staging.join("models").join("model.safetensors");
        let bytes = std::fs::read(&weights)?;
        std::fs::write(&weights, &bytes[..bytes.len() / 2])?;
        Ok(())
    })?;
    let mut console = boot_on(elf, &image.path)?;
    let log = console.guest().serial_log();
    let line = log
        .lines()
        .find(|l| l.starts_with("llm:"))
        .context("no `llm:` boot line")?
        .to_string();
    ensure!(
        line.starts_with("llm: no model: /models/model.safetensors: "),
        "boot line for a truncated model: {line:?}"
    );
    let status = console.command("llmctl status")?;
    ensure!(
        status
            .first()
            .is_some_and(|l| l.starts_with("model: not loaded: /models/model.safetensors")),
        "status: {status:?}"
    );
    command_error(&mut console, "llmctl infer memory is tight", "no model")?;
    command_error(&mut console, "llmctl eval validation 3", "no model")?;
    command_error(&mut console, "llmctl reload", "model.safetensors")?;
    ensure!(
        console
            .command("ls /models")?
            .iter()
            .any(|l| l.ends_with(" model.safetensors")),
        "the disk stopped answering"
    );
    let exit = console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
    Ok(())
}

/// Fine-tune files for the own-boot test: a small good set (the first examples of the shipped
/// data, so one step trains on all of them) and bad ones.
fn write_finetune_files(staging: &Path) -> Result<()> {
    use oslang::finetune::{FinetuneData, parse, to_json};
    let shipped = std::fs::read(staging.join("models").join("finetune-data.json"))?;
    let data = parse(&shipped).map_err(|e| anyhow::anyhow!("shipped fine-tune data: {e}"))?;
    let subset = |n: usize| FinetuneData {
        examples: data.examples[..n].to_vec(),
        ..data.clone()
    };
    let dir = staging.join("ft");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("small.json"), to_json(&subset(20)))?;
    let mut unknown = subset(5);
    unknown.examples[2].command = "rm -rf /".into();
    std::fs::write(dir.join("unknown-command.json"), to_json(&unknown))?;
    std::fs::write(
        dir.join("not-json.json"),
        "{\n  \"format\": \"nous-finetune-v1\",\n  oops\n}\n",
    )?;
    let field = to_json(&subset(2)).replacen("\"query\"", "\"qery\"", 2);
    std::fs::write(dir.join("wrong-field.json"), field)?;
    Ok(())
}

/// Polls `llmctl finetune-status` until the run is no longer in progress; returns its lines.
fn wait_finetune(console: &mut Console, timeout: Duration) -> Result<Vec<String>> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = console.command("llmctl finetune-status")?;
        let phase = status.first().cloned().unwrap_or_default();
        if ["phase: done", "phase: stopped", "phase: failed"]
            .iter()
            .any(|p| phase.starts_with(p))
        {
            return Ok(status);
        }
        ensure!(
            Instant::now() < deadline,
            "fine-tune still running after {timeout:?}: {status:?}"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Hugging Face PEFT loads the adapter the kernel wrote, on the base model read from the same
/// disk, and its logits match ours: `hf_dump --adapter` computes our logits with and without the
/// adapter (refusing a file our own writer would not reproduce byte for byte), and
/// `tools/hf-check/check_peft.py` compares `PeftModel.from_pretrained` and `merge_and_unload`
/// with them, within 1e-4.
fn kernel_adapter_loads_in_peft(image: &Path, config: &[u8], weights: &[u8]) -> Result<()> {
    let python = crate::setup::ensure_hf_python()?;
    let dir = crate::image::workspace_root()
        .join("target/llm-tests")
        .join(format!("peft-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (model, adapter, check) = (dir.join("model"), dir.join("adapter"), dir.join("check"));
    std::fs::create_dir_all(&model)?;
    std::fs::create_dir_all(&adapter)?;
    for file in ["config.json", "model.safetensors"] {
        let bytes = disk::debugfs_cat(image, &format!("/models/{file}"))?
            .with_context(|| format!("no /models/{file} on the disk"))?;
        std::fs::write(model.join(file), bytes)?;
    }
    std::fs::write(adapter.join("adapter_config.json"), config)?;
    std::fs::write(adapter.join("adapter_model.safetensors"), weights)?;
    let ours = crate::image::cargo()
        .args([
            "run",
            "--release",
            "-q",
            "-p",
            "llm",
            "--example",
            "hf_dump",
            "--",
        ])
        .arg(&check)
        .arg("--from")
        .arg(&model)
        .arg("--adapter")
        .arg(&adapter)
        .output()
        .context("could not start cargo for hf_dump")?;
    ensure!(
        ours.status.success(),
        "hf_dump on the kernel's adapter failed:\n{}",
        String::from_utf8_lossy(&ours.stderr)
    );
    let script = crate::image::workspace_root().join("tools/hf-check/check_peft.py");
    let peft = std::process::Command::new(&python)
        .arg(&script)
        .arg(&check)
        .output()
        .context("could not start the Hugging Face check")?;
    let report = String::from_utf8_lossy(&peft.stdout);
    ensure!(
        peft.status.success(),
        "PEFT disagrees with the kernel's adapter or cannot load it:\n{report}\n{}",
        String::from_utf8_lossy(&peft.stderr)
    );
    let json: serde_json::Value =
        serde_json::from_str(&report).context("check_peft.py printed no JSON")?;
    let loaded = json["lora_tensors_loaded"].as_u64().unwrap_or(0);
    let effect = json["adapter_effect_max_abs"].as_f64().unwrap_or(0.0);
    ensure!(
        loaded > 0 && effect > 0.0,
        "PEFT loaded {loaded} LoRA tensors with an effect of {effect} on the logits: {report}"
    );
    eprintln!(
        "  PEFT {} loaded the kernel's adapter: {loaded} LoRA tensors, logits within {} (adapter) and {} (merged) of ours",
        json["peft"], json["max_abs_diff_adapter"], json["max_abs_diff_merged"]
    );
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Bad fine-tune files are refused with their line and nothing is trained; a small run
/// trains with visible progress and saves a PEFT adapter that the host reads back through
/// debugfs, that survives a reboot (reloaded at boot), and that `llmctl adapter` unloads and
/// loads; QEMU killed in the middle of saving a second adapter leaves the first in use.
fn finetune_refuses_bad_data_trains_and_persists_the_adapter(elf: &Path) -> Result<()> {
    let image = ScratchImage {
        path: disk::disk_dir().join(format!("llm-finetune-{}.img", std::process::id())),
    };
    disk::make_image(&image.path, write_finetune_files)?;
    let mut console = boot_on(elf, &image.path)?;
    // No "too long" case: with the 256-position context and queries cut to 64 bytes no
    // fine-tune record can overflow it; llmtask's host tests check that refusal with a small
    // context.
    for (file, needles) in [
        ("not-json.json", &["line 3", "not valid JSON"][..]),
        ("unknown-command.json", &["line ", "example 2: command"][..]),
        (
            "wrong-field.json",
            &["line ", "example 0: qery: unknown field"][..],
        ),
        ("missing.json", &["no such file"][..]),
    ] {
        let out = console.command(&format!("llmctl finetune /ft/{file}"))?;
        let first = out.first().cloned().unwrap_or_default();
        ensure!(
            first.starts_with("error: ") && needles.iter().all(|n| first.contains(n)),
            "`llmctl finetune /ft/{file}` printed {out:?}, expected an error with {needles:?}"
        );
    }
    let idle = no_errors(&mut console, "llmctl finetune-status")?;
    ensure!(
        idle == ["no fine-tune since boot (llmctl finetune starts one)"],
        "a refused file started something: {idle:?}"
    );
    command_error(
        &mut console,
        "llmctl finetune /ft/small.json --epochs 0",
        "between 1 and",
    )?;
    command_error(
        &mut console,
        "llmctl finetune --rank 65",
        "between 1 and 64",
    )?;
    command_error(&mut console, "llmctl finetune --speed 3", "unknown option")?;
    command_error(
        &mut console,
        "llmctl finetune ft/small.json",
        "absolute path",
    )?;
    command_error(
        &mut console,
        "llmctl finetune stop",
        "no fine-tune is running",
    )?;
    let started = no_errors(
        &mut console,
        "llmctl finetune /ft/small.json --epochs 2 --heldout 5",
    )?;
    ensure!(
        started
            .first()
            .is_some_and(|l| l.starts_with("finetune: started on /ft/small.json")),
        "{started:?}"
    );
    command_error(&mut console, "llmctl finetune", "already running")?;
    let status = wait_finetune(&mut console, Duration::from_secs(180))?;
    let text = status.join("\n");
    ensure!(
        text.starts_with("phase: done; data /ft/small.json (20 examples), rank 8, 2 epochs")
            && text.contains("epoch 2/2, step 2/2, loss ")
            && text.contains("held-out accuracy (5 examples): ")
            && text.contains("adapter: ft-1 ("),
        "finetune-status: {status:?}"
    );
    let list = no_errors(&mut console, "llmctl adapter list")?;
    ensure!(
        list.len() == 1
            && list[0].starts_with("ft-1 ")
            && list[0].ends_with("in use, loaded at boot"),
        "adapter list: {list:?}"
    );
    let exit = console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
    drop(console);

    // On the host: a clean file system, a PEFT directory, the pointer.
    let fsck = disk::fsck_check(&image.path)?;
    ensure!(fsck.clean, "e2fsck after the fine-tune:\n{}", fsck.output);
    let config = disk::debugfs_cat(&image.path, "/models/adapters/ft-1/adapter_config.json")?
        .context("no adapter_config.json")?;
    let config_text = String::from_utf8_lossy(&config);
    ensure!(
        config_text.contains("\"peft_type\":\"LORA\"")
            || config_text.contains("\"peft_type\": \"LORA\""),
        "adapter_config.json: {config_text}"
    );
    let weights = disk::debugfs_cat(
        &image.path,
        "/models/adapters/ft-1/adapter_model.safetensors",
    )?
    .context("no adapter_model.safetensors")?;
    ensure!(
        weights.len() > 8 && weights.len() < 256 * 1024,
        "adapter weights of {} bytes",
        weights.len()
    );
    let active = disk::debugfs_cat(&image.path, "/models/adapters/ACTIVE")?;
    ensure!(
        active.as_deref() == Some(&b"ft-1"[..]),
        "ACTIVE holds {active:?}"
    );
    kernel_adapter_loads_in_peft(&image.path, &config, &weights)?;

    // Reboot: the adapter comes back; unload and load work.
    let mut console = boot_with_cmdline(elf, &image.path, Some("llm.save_pause_ms=4000"))?;
    let log = console.guest().serial_log();
    ensure!(
        log.lines().any(|l| l == "llm: adapter ft-1 active"),
        "the adapter was not reloaded at boot:\n{log}"
    );
    let status = no_errors(&mut console, "llmctl status")?;
    ensure!(status.iter().any(|l| l == "adapter: ft-1"), "{status:?}");
    no_errors(&mut console, "llmctl adapter unload")?;
    let status = no_errors(&mut console, "llmctl status")?;
    ensure!(
        status.iter().any(|l| l == "adapter: none (base model)"),
        "{status:?}"
    );
    command_error(&mut console, "llmctl adapter load ft-9", "no such file")?;
    command_error(
        &mut console,
        "llmctl adapter load ../x",
        "not an adapter name",
    )?;
    command_error(&mut console, "llmctl adapter drop", "expected list")?;
    no_errors(&mut console, "llmctl adapter load ft-1")?;

    // Kill QEMU after the new adapter's weights are written, before its config and the
    // pointer: ft-1 must stay the adapter in use.
    no_errors(
        &mut console,
        "llmctl finetune /ft/small.json --epochs 1 --heldout 0",
    )?;
    console
        .guest()
        .expect(
            b"llm: saved adapter_model.safetensors of adapter ft-2",
            Duration::from_secs(180),
        )
        .context("the second fine-tune did not reach its save")?;
    drop(console);
    let mut console = boot_on(elf, &image.path)?;
    let log = console.guest().serial_log();
    ensure!(
        log.lines().any(|l| l == "llm: adapter ft-1 active"),
        "after a kill during the save, ft-1 is not in use:\n{log}"
    );
    let list = no_errors(&mut console, "llmctl adapter list")?;
    ensure!(
        list.len() == 1 && list[0].starts_with("ft-1 "),
        "the half-saved adapter is listed: {list:?}"
    );
    proposed(&no_errors(&mut console, "llmctl infer memory is tight")?)?;
    let exit = console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
    drop(console);
    let fsck = disk::fsck_check(&image.path)?;
    ensure!(
        fsck.clean,
        "e2fsck after the kill and a reboot:\n{}",
        fsck.output
    );
    Ok(())
}

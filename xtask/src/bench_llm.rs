//! `cargo xtask bench llm`: the language model's figures, in three parts.
//!
//! 1. `nous-llm bench`: the host figures of the model and its baselines (accuracy next to the
//!    fitted bag-of-words baseline and the keyword rules, LoRA, decode speed, PyTorch), then
//!    `nous-llm peer-bench`: decode speed against a plain C loop on the same weights
//!    (`tools/nous-llm/c-ref`), alternating rounds, median of per-round ratios.
//! 2. `nous-llm kernel-ref`: the kernel's own code (`llmtask`) natively on the kernel's work —
//!    accuracy of the f32 and quantized paths on the first N prompts of each held-out split
//!    (corpus seed 1), latency, and the kernel's fine-tune of `finetune-data.json`.
//! 3. In QEMU (TCG, the normal image, a fresh data disk with `/models`): `llmctl eval validation
//!    N --answers`, `llmctl eval train N --answers` (latency p50/p95, exact-answer and
//!    allowlisted shares; the answers compared prompt by prompt with the host reference's, which
//!    runs the same answer path, `llmtask::answer_timed`) and
//!    `llmctl finetune --heldout 100` with its time and held-out gain; then the table of
//!    in-kernel figures next to the host's, with ratios.
//!
//! 4. The closed loop, in the same boot on the base model: `crashctl eval R 1` three times,
//!    with `llmctl auto-execute off`, `on` (the model acts at WARNING) and `expert` (the
//!    expert policy acts instead): OOM kills per responder, alone (even runs, ladder off) and
//!    with the response ladder (odd runs), the number of autonomous actions and how many of
//!    the model's answers differ from the expert's on the same state.
//!
//! Part 0 (with the host parts): the hand-written held-out set, model and every baseline,
//! per category with 95 % intervals ([`crate::bench_llm_heldout`]; `--heldout-only` runs only it).
//!
//! Arguments after `--`: `--count N` (prompts per split, default 200), `--closed-loop-runs R`
//! (default 12: a pair — ladder off, on — of leak, bursty and fragment, each followed by a
//! benign pair; 0 skips part 4), `--closed-loop-family F` (instead, `crashctl eval F 1 1`: the
//! family's OOM-bound kind and benign twin, ladder off and on), `--closed-loop-only` (part 4
//! alone, in its own boot),
//! `--skip-host-bench` (part 1), `--qemu-only` (parts 1 and 2 skipped; then no host column).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::console::Console;
use crate::disk::{self, ScratchImage};
use crate::qemu::Guest;
use crate::{image, setup};

fn nous_llm(args: &[&str]) -> Result<String> {
    let mut command = image::cargo();
    command.args(["run", "--release", "-q", "-p", "nous-llm", "--"]);
    command.args(args);
    println!("xtask: bench llm: {command:?}");
    let out = command.output().context("running nous-llm")?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{stdout}");
    if !out.status.success() {
        bail!(
            "nous-llm {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(stdout)
}

/// `key value` lines.
fn key_values(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The numbers of an `eval …` line of `llmctl eval`.
#[derive(Debug, Default, PartialEq)]
struct EvalLine {
    n: f64,
    exact_pct: f64,
    allowlisted_pct: f64,
    p50_ms: f64,
    p95_ms: f64,
    /// Means of the prefill and decode phases.
    prefill_ms: f64,
    decode_ms: f64,
    /// `answers fnv1a <hex>`: the fingerprint of the answers in order.
    fingerprint: String,
    /// The answers in order (from `--answers`; empty when not listed).
    answers: Vec<String>,
}

fn number_before(text: &str, suffix: &str) -> Option<f64> {
    let end = text.find(suffix)?;
    let start = text[..end]
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map_or(0, |i| i + 1);
    text[start..end].parse().ok()
}

fn number_after(text: &str, prefix: &str) -> Option<f64> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

fn parse_eval(line: &str) -> Option<EvalLine> {
    Some(EvalLine {
        n: number_after(line, "n=")?,
        exact_pct: number_before(line, " %), allowlisted")?,
        allowlisted_pct: number_after(line, " %), allowlisted ")
            .and_then(|_| line.rsplit_once(" %), latency"))
            .and_then(|(head, _)| number_after(head.rsplit_once('(')?.1, ""))?,
        p50_ms: number_after(line, "p50 ")?,
        p95_ms: number_after(line, "p95 ")?,
        prefill_ms: number_after(line, "mean prefill ")?,
        decode_ms: number_after(line, " ms, decode ")?,
        fingerprint: line.rsplit_once("answers fnv1a ")?.1.trim().to_string(),
        answers: Vec::new(),
    })
}

struct KernelFinetune {
    /// The kernel's adapter files, read back from the disk with debugfs.
    weights: Option<Vec<u8>>,
    config: Option<Vec<u8>>,
    seconds: f64,
    before_pct: f64,
    after_pct: f64,
    adapter_bytes: f64,
    status: Vec<String>,
}

/// One `crashctl eval` line: scenario, ladder, whether it ended in an OOM kill.
#[derive(Debug, PartialEq)]
struct OomRun {
    scenario: String,
    ladder: bool,
    oom: bool,
}

fn parse_oom_run(line: &str) -> Option<OomRun> {
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k)?.strip_prefix('='))
    };
    Some(OomRun {
        scenario: field("scenario")?.to_string(),
        ladder: field("ladder")? == "on",
        oom: field("oom")? == "yes",
    })
}

/// A closed-loop pass: `crashctl eval` with the autonomous mode in one setting.
struct ClosedLoop {
    mode: &'static str,
    runs: Vec<OomRun>,
    actions: f64,
    disagreements: f64,
}

fn metric(lines: &[String], name: &str) -> f64 {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// What the closed loop runs: `crashctl eval <plan>` (`R 1`: the builtin mix, or
/// `FAMILY 1 1`: one scenario family's OOM-bound kind and benign twin) and its number of runs.
struct LoopPlan {
    plan: String,
    runs: u32,
}

/// Runs `crashctl eval <plan>` with the autonomous mode off, on (the model) and expert, on
/// the base model (no adapter).
fn closed_loop(console: &mut Console, plan: &LoopPlan) -> Result<Vec<ClosedLoop>> {
    let LoopPlan { plan, runs } = plan;
    console.set_command_timeout(Duration::from_secs(200) * *runs + Duration::from_secs(60));
    console.command("llmctl adapter unload")?;
    let mut out = Vec::new();
    for mode in ["off", "on", "expert"] {
        console.command(&format!("llmctl auto-execute {mode}"))?;
        let before = console.command("metrics")?;
        println!("xtask: bench llm: crashctl eval {plan} with llmctl auto-execute {mode}");
        let lines = console.command(&format!("crashctl eval {plan}"))?;
        let after = console.command("metrics")?;
        let mut parsed = Vec::new();
        for line in lines.iter().filter(|l| l.starts_with("eval run=")) {
            println!("kernel: [{mode}] {line}");
            parsed.push(parse_oom_run(line).with_context(|| format!("cannot read {line:?}"))?);
        }
        ensure!(
            lines.last().is_some_and(|l| l == "eval done"),
            "crashctl eval did not finish: {lines:?}"
        );
        let delta = |name| metric(&after, name) - metric(&before, name);
        out.push(ClosedLoop {
            mode,
            runs: parsed,
            actions: delta("nous_llm_auto_actions_total"),
            disagreements: delta("nous_llm_auto_disagreements_total"),
        });
    }
    console.command("llmctl auto-execute off")?;
    Ok(out)
}

fn print_closed_loop(passes: &[ClosedLoop], plan: &str) {
    println!();
    println!(
        "closed loop (`crashctl eval {plan}` three times; the autonomous mode acts in every run, the ladder in the odd ones):"
    );
    println!(
        "| responder | OOM-bound runs ending in an OOM kill | benign runs ending in an OOM kill | autonomous actions | model answers ≠ expert |"
    );
    println!("|---|---|---|---|---|");
    let count = |p: &ClosedLoop, ladder: bool, benign: bool| {
        let sel: Vec<&OomRun> = p
            .runs
            .iter()
            .filter(|r| r.ladder == ladder && (r.scenario == "benign") == benign)
            .collect();
        format!("{}/{}", sel.iter().filter(|r| r.oom).count(), sel.len())
    };
    for p in passes {
        println!(
            "| {} | {} | {} | {} | {} |",
            alone(p.mode),
            count(p, false, false),
            count(p, false, true),
            p.actions,
            if p.mode == "on" {
                format!("{}", p.disagreements)
            } else {
                "–".into()
            }
        );
    }
    for p in passes {
        println!(
            "| {} | {} | {} | – | – |",
            with_ladder(p.mode),
            count(p, true, false),
            count(p, true, true)
        );
    }
    // The same runs per scenario: OOM kills / runs.
    let mut scenarios: Vec<&str> = Vec::new();
    for r in passes.iter().flat_map(|p| &p.runs) {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    println!();
    println!("OOM kills per scenario (runs ending in an OOM kill / runs):");
    println!("| responder | {} |", scenarios.join(" | "));
    println!("|---|{}", "---|".repeat(scenarios.len()));
    for ladder in [false, true] {
        for p in passes {
            let cells: Vec<String> = scenarios
                .iter()
                .map(|s| {
                    let sel: Vec<&OomRun> = p
                        .runs
                        .iter()
                        .filter(|r| r.ladder == ladder && r.scenario == *s)
                        .collect();
                    format!("{}/{}", sel.iter().filter(|r| r.oom).count(), sel.len())
                })
                .collect();
            let who = if ladder {
                with_ladder(p.mode)
            } else {
                alone(p.mode)
            };
            println!("| {who} | {} |", cells.join(" | "));
        }
    }
}

fn alone(mode: &str) -> &'static str {
    match mode {
        "off" => "no action (ladder off, model off)",
        "on" => "the model (ladder off)",
        _ => "the expert policy (ladder off)",
    }
}

fn with_ladder(mode: &str) -> &'static str {
    match mode {
        "off" => "the response ladder alone",
        "on" => "ladder + model",
        _ => "ladder + expert",
    }
}

/// Boots the normal image on a fresh data disk (with `/models`).
fn boot() -> Result<(Console, ScratchImage)> {
    setup::ensure_qemu()?;
    let elf = image::build(image::Variant::Normal)?;
    let scratch = ScratchImage {
        path: disk::disk_dir().join(format!("bench-llm-{}.img", std::process::id())),
    };
    disk::make_image(&scratch.path, |_| Ok(()))?;
    let drive = disk::drive_args(&scratch.path);
    let args: Vec<&str> = drive.iter().map(String::as_str).collect();
    let mut console = Console::attach(Guest::boot_with(&elf, &args)?).map_err(|failure| {
        failure
            .error
            .context(format!("serial log:\n{}", failure.log))
    })?;
    let log = console.guest().serial_log();
    if let Some(line) = log.lines().find(|l| l.starts_with("llm:")) {
        println!("kernel: {line}");
    }
    Ok((console, scratch))
}

/// `--closed-loop-only`: part 4 alone, in its own boot.
fn closed_loop_part(plan: &LoopPlan) -> Result<Vec<ClosedLoop>> {
    let (mut console, _scratch) = boot()?;
    let passes = closed_loop(&mut console, plan)?;
    console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    Ok(passes)
}

/// `llmctl eval <split> <count> --answers`: the summary line and the answers in order.
fn kernel_eval(console: &mut Console, split: &str, count: usize) -> Result<EvalLine> {
    let command = format!("llmctl eval {split} {count} --answers");
    let out = console.command(&command)?;
    let line = out
        .iter()
        .find(|l| l.starts_with("eval "))
        .with_context(|| format!("`{command}` printed {out:?}"))?;
    println!("kernel: {line}");
    let mut eval = parse_eval(line).with_context(|| format!("cannot read {line:?}"))?;
    eval.answers = parse_answers(&out);
    ensure!(
        eval.answers.len() == eval.n as usize,
        "`{command}` listed {} answers for n={}",
        eval.answers.len(),
        eval.n
    );
    Ok(eval)
}

/// The `answer <i>: <text>` lines of `llmctl eval --answers`, in order.
fn parse_answers(out: &[String]) -> Vec<String> {
    out.iter()
        .filter_map(|l| Some(l.strip_prefix("answer ")?.split_once(": ")?.1.to_string()))
        .collect()
}

/// The kernel's answers against the host reference's (`nous-llm kernel-ref` writes one answer
/// a line): "kernel = host on N/N prompts", or the prompts (0-based) whose answers differ.
fn compare_answers(kernel: &[String], host: &[String]) -> String {
    let mut host_fp = llmtask::AnswerFingerprint::default();
    host.iter().for_each(|a| host_fp.push(a));
    let differ: Vec<usize> = (0..kernel.len().max(host.len()))
        .filter(|&i| kernel.get(i) != host.get(i))
        .collect();
    let n = kernel.len();
    if differ.is_empty() {
        format!("kernel = host on {n}/{n} prompts (fingerprints {host_fp})")
    } else {
        format!(
            "kernel = host on {}/{n} prompts; prompts that differ: {differ:?} (host fingerprint {host_fp})",
            n.saturating_sub(differ.len())
        )
    }
}

fn qemu_part(count: usize, plan: &LoopPlan) -> Result<QemuFigures> {
    let (mut console, scratch) = boot()?;
    console.set_command_timeout(Duration::from_secs(30 + count as u64));
    let mut evals = BTreeMap::new();
    for split in ["validation", "train"] {
        evals.insert(split.to_string(), kernel_eval(&mut console, split, count)?);
    }
    let out = console.command("llmctl finetune --heldout 100")?;
    ensure!(
        out.first()
            .is_some_and(|l| l.starts_with("finetune: started")),
        "{out:?}"
    );
    let started = Instant::now();
    let status = loop {
        std::thread::sleep(Duration::from_secs(5));
        let status = console.command("llmctl finetune-status")?;
        let phase = status.first().cloned().unwrap_or_default();
        if phase.starts_with("phase: done") {
            break status;
        }
        ensure!(
            !phase.starts_with("phase: failed") && !phase.starts_with("phase: stopped"),
            "{status:?}"
        );
        ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "fine-tune not done after 30 min: {status:?}"
        );
    };
    for line in &status {
        println!("kernel: {line}");
    }
    let text = status.join("\n");
    let passes = if plan.runs > 0 {
        closed_loop(&mut console, plan)?
    } else {
        Vec::new()
    };
    // Last, because executing the answers changes the kernel's settings (thresholds,
    // policies) that the steps above depend on: on the base model, then with the adapter the
    // fine-tune wrote (the second run starts from the settings the first left).
    let mut executions = Vec::new();
    for (label, setup) in [
        ("base model", "llmctl adapter unload"),
        ("adapter ft-1", "llmctl adapter load ft-1"),
    ] {
        console.command(setup)?;
        let command = format!("llmctl eval validation {count} --execute");
        let out = console.command(&command)?;
        let find = |prefix: &str| {
            out.iter()
                .find(|l| l.starts_with(prefix))
                .cloned()
                .with_context(|| format!("`{command}` printed {out:?}"))
        };
        let (line, split) = (find("executed: ")?, find("by expected answer: ")?);
        println!("kernel: [{label}] {line}");
        println!("kernel: [{label}] {split}");
        let counts = parse_executions(&line).with_context(|| format!("cannot read {line:?}"))?;
        executions.push((label, counts, split));
    }
    console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    drop(console);
    let finetune = KernelFinetune {
        weights: disk::debugfs_cat(
            &scratch.path,
            "/models/adapters/ft-1/adapter_model.safetensors",
        )?,
        config: disk::debugfs_cat(&scratch.path, "/models/adapters/ft-1/adapter_config.json")?,
        seconds: number_after(&text, ", training ").context("no training time")?,
        before_pct: number_after(&text, "examples): ").context("no held-out before")?,
        after_pct: number_before(&text, " % after").context("no held-out after")?,
        adapter_bytes: number_after(&text, "adapter: ft-1 (").context("no adapter size")?,
        status,
    };
    Ok(QemuFigures {
        evals,
        finetune,
        passes,
        executions,
    })
}

/// What the in-kernel part measured in one boot.
struct QemuFigures {
    evals: BTreeMap<String, EvalLine>,
    finetune: KernelFinetune,
    passes: Vec<ClosedLoop>,
    /// `llmctl eval validation N --execute` per model setting: the counts and the
    /// by-expected-answer line.
    executions: Vec<(&'static str, Executions, String)>,
}

/// The counts of `llmctl eval … --execute`'s `executed:` line.
#[derive(Debug, PartialEq)]
struct Executions {
    answers: usize,
    with_commands: usize,
    ran: usize,
    failed: usize,
}

fn parse_executions(line: &str) -> Option<Executions> {
    let number = |prefix: &str| number_after(line, prefix).map(|v| v as usize);
    Some(Executions {
        with_commands: number("executed: ")?,
        answers: number(" of ")?,
        ran: number("commands ran ")?,
        failed: number(", failed ")?,
    })
}

fn ratio(a: f64, b: f64) -> String {
    if b == 0.0 {
        "–".into()
    } else {
        format!("{:.2}×", a / b)
    }
}

/// Runs the benchmark with the arguments after `--`.
pub fn run(extra: &[String]) -> Result<ExitCode> {
    let mut count = 200usize;
    let mut closed_loop_runs = 12u32;
    let (mut host_bench, mut host_ref) = (true, true);
    let mut closed_loop_only = false;
    let mut family: Option<String> = None;
    let mut args = extra.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--count" => {
                count = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| (1..=1000).contains(&n))
                    .context("--count needs a number in 1..=1000")?;
            }
            "--skip-host-bench" => host_bench = false,
            "--closed-loop-runs" => {
                closed_loop_runs = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .context("--closed-loop-runs needs a number (0 skips)")?;
            }
            "--qemu-only" => (host_bench, host_ref) = (false, false),
            "--closed-loop-only" => closed_loop_only = true,
            "--closed-loop-family" => {
                family = Some(
                    args.next()
                        .filter(|f| f.starts_with(|c: char| c.is_ascii_alphabetic()))
                        .context("--closed-loop-family needs a scenario family name")?
                        .clone(),
                );
            }
            "--heldout-only" => {
                println!("{}", crate::bench_llm_heldout::run(&[])?);
                return Ok(ExitCode::SUCCESS);
            }
            other => {
                bail!(
                    "unknown argument {other:?} (--count N, --skip-host-bench, --qemu-only, --closed-loop-runs R, --closed-loop-family F, --closed-loop-only, --heldout-only)"
                )
            }
        }
    }
    // A family runs its OOM-bound kind and benign twin, ladder off and on: 4 runs.
    let plan = match family {
        Some(f) => LoopPlan {
            plan: format!("{f} 1 1"),
            runs: 4,
        },
        None => LoopPlan {
            plan: format!("{closed_loop_runs} 1"),
            runs: closed_loop_runs,
        },
    };
    if closed_loop_only {
        ensure!(
            plan.runs > 0,
            "--closed-loop-only needs --closed-loop-runs ≥ 1"
        );
        let passes = closed_loop_part(&plan).context("closed loop (QEMU)")?;
        print_closed_loop(&passes, &plan.plan);
        return Ok(ExitCode::SUCCESS);
    }
    if host_bench {
        println!("{}", crate::bench_llm_heldout::run(&[])?);
        nous_llm(&["bench"])?;
        // The decode loop against the plain C reference on the same weights (issue 11's
        // yardstick; PyTorch's per-operation overhead dominates a model this small).
        nous_llm(&["peer-bench"])?;
    }
    let host = if host_ref {
        key_values(&nous_llm(&["kernel-ref", "--count", &count.to_string()])?)
    } else {
        BTreeMap::new()
    };
    let QemuFigures {
        evals,
        finetune: ft,
        passes,
        executions,
    } = qemu_part(count, &plan).context("in-kernel part (QEMU)")?;
    let h = |k: &str| host.get(k).copied().unwrap_or(f64::NAN);
    println!();
    println!(
        "| figure (`cargo xtask bench llm`, {count} prompts per split, corpus seed 1) | in the kernel (QEMU TCG) | host, same code (native) | kernel / host |"
    );
    println!("|---|---|---|---|");
    for (split, e) in &evals {
        println!(
            "| {split}: exact answer (after abstention), quantized path | {:.1} % ({} prompts) | {:.1} % (f32 {:.1} %; quantized = f32 on {:.1} % of answers, {:.1} % before abstention; before abstention {:.1} %) | {} |",
            e.exact_pct,
            e.n,
            h(&format!("host_{split}_exact_quant_pct")),
            h(&format!("host_{split}_exact_f32_pct")),
            h(&format!("host_{split}_quant_agrees_with_f32_pct")),
            h(&format!("host_{split}_quant_agrees_with_f32_raw_pct")),
            h(&format!("host_{split}_exact_quant_raw_pct")),
            ratio(e.exact_pct, h(&format!("host_{split}_exact_quant_pct")))
        );
        let host_file =
            image::workspace_root().join(format!("target/nous-llm/kernel-ref-answers-{split}.txt"));
        let same = match std::fs::read_to_string(&host_file) {
            Ok(text) if host_ref => {
                let host_answers: Vec<String> = text.lines().map(String::from).collect();
                compare_answers(&e.answers, &host_answers)
            }
            _ => "no host answers (host part skipped)".to_string(),
        };
        println!(
            "| {split}: kernel's answers vs the host's, prompt by prompt (kernel fingerprint {}) | {same} | – | – |",
            e.fingerprint
        );
        println!(
            "| {split}: answers that are allowlisted (executable) commands | {:.1} % | – | – |",
            e.allowlisted_pct
        );
        println!(
            "| {split}: mean prefill / decode per answer | {:.1} / {:.1} ms | – | – |",
            e.prefill_ms, e.decode_ms
        );
        println!(
            "| {split}: `llmctl infer` latency p50 / p95 | {:.1} / {:.1} ms | {:.2} / {:.2} ms | {} (p95) |",
            e.p50_ms,
            e.p95_ms,
            h(&format!("host_{split}_quant_p50_ms")),
            h(&format!("host_{split}_quant_p95_ms")),
            ratio(e.p95_ms, h(&format!("host_{split}_quant_p95_ms")))
        );
    }
    println!(
        "| fine-tune, {} examples, {} steps (defaults) | {:.1} s | {:.2} s | {} |",
        h("host_finetune_examples"),
        h("host_finetune_steps"),
        ft.seconds,
        h("host_finetune_seconds"),
        ratio(ft.seconds, h("host_finetune_seconds"))
    );
    println!(
        "| held-out accuracy before → after (100 held-out, quantized) | {:.1} % → {:.1} % ({:+.1} points) | {:.1} % → {:.1} % | – |",
        ft.before_pct,
        ft.after_pct,
        ft.after_pct - ft.before_pct,
        h("host_finetune_heldout_before_pct"),
        h("host_finetune_heldout_after_pct"),
    );
    println!(
        "| adapter file (`adapter_model.safetensors`) | {} B | {} B | – |",
        ft.adapter_bytes,
        h("host_finetune_adapter_bytes")
    );
    let pct = |a: usize, b: usize| a as f64 * 100.0 / b.max(1) as f64;
    for (label, e, split) in &executions {
        println!(
            "| validation, {label}, answers executed (`llmctl eval validation {count} --execute`): answers with a command to run (goal ≥ 85 %) | {:.1} % ({} of {}) | – | – |",
            pct(e.with_commands, e.answers),
            e.with_commands,
            e.answers
        );
        println!("| validation, {label}: {split} | – | – | – |");
        println!(
            "| validation, {label}, executed commands that succeeded (goal ≥ 90 %) | {:.1} % ({} of {}) | – | – |",
            pct(e.ran, e.ran + e.failed),
            e.ran,
            e.ran + e.failed
        );
    }
    let _ = ft.status;
    let host_dir = image::workspace_root().join("target/nous-llm/kernel-ref-adapter");
    let same =
        |kernel: &Option<Vec<u8>>, file: &str| match (kernel, std::fs::read(host_dir.join(file))) {
            (Some(k), Ok(h)) if *k == h => "byte-identical".to_string(),
            (Some(k), Ok(h)) => format!("differ ({} vs {} bytes)", k.len(), h.len()),
            (None, _) => "not on the kernel's disk".to_string(),
            (_, Err(_)) => "no host file (host part skipped)".to_string(),
        };
    println!(
        "| kernel-written adapter (debugfs) vs host-written, same code and seed | weights {}, config {} | – | – |",
        same(&ft.weights, "adapter_model.safetensors"),
        same(&ft.config, "adapter_config.json")
    );
    if !passes.is_empty() {
        print_closed_loop(&passes, &plan.plan);
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oom_runs_are_read() {
        let line = "eval run=3 scenario=leak seed=42 ladder=on oom=no oom_ms=- pred_ms=1200 earlyoom_ms=- psi_ms=- killed=culprit right=yes";
        assert_eq!(
            parse_oom_run(line),
            Some(OomRun {
                scenario: "leak".into(),
                ladder: true,
                oom: false
            })
        );
        assert_eq!(
            metric(
                &["nous_llm_auto_actions_total 7".into()],
                "nous_llm_auto_actions_total"
            ),
            7.0
        );
    }

    #[test]
    fn execution_lines_are_read() {
        let line = "executed: 151 of 200 answers had a command to run; commands ran 170, failed 3 (98.3 % succeeded), refused by the allowlist 0; 49 answers were refusals";
        assert_eq!(
            parse_executions(line),
            Some(Executions {
                answers: 200,
                with_commands: 151,
                ran: 170,
                failed: 3
            })
        );
        assert_eq!(parse_executions("executed: none"), None);
    }

    #[test]
    fn answers_are_compared_prompt_by_prompt() {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let same = compare_answers(&v(&["ps", "top"]), &v(&["ps", "top"]));
        assert!(same.starts_with("kernel = host on 2/2 prompts"), "{same}");
        let differ = compare_answers(&v(&["ps", "top", "x"]), &v(&["ps", "free", "x"]));
        assert!(
            differ.starts_with("kernel = host on 2/3 prompts; prompts that differ: [1]"),
            "{differ}"
        );
        let short = compare_answers(&v(&["ps"]), &v(&[]));
        assert!(short.contains("differ: [0]"), "{short}");
    }

    #[test]
    fn eval_lines_are_read() {
        let line = "eval test n=20 seed=1: exact 17/20 (85.0 %), allowlisted 20/20 (100.0 %), latency p50 72.8 ms p95 92.5 ms max 96.3 ms (mean prefill 40.1 ms, decode 35.2 ms), answers fnv1a 089bdc07b544e7b2";
        assert_eq!(
            parse_eval(line),
            Some(EvalLine {
                n: 20.0,
                exact_pct: 85.0,
                allowlisted_pct: 100.0,
                p50_ms: 72.8,
                p95_ms: 92.5,
                prefill_ms: 40.1,
                decode_ms: 35.2,
                fingerprint: "089bdc07b544e7b2".into(),
                answers: Vec::new(),
            })
        );
        assert_eq!(parse_eval("eval test"), None);
        let out: Vec<String> = ["answer 0: ps", "answer 1: refuse: unclear", "eval x"]
            .map(String::from)
            .into();
        assert_eq!(parse_answers(&out), ["ps", "refuse: unclear"]);
    }

    #[test]
    fn finetune_status_numbers_are_read() {
        let text = "phase: done; data /models/finetune-data.json (100 examples), rank 8, 6 epochs, batch 20\nepoch 6/6, step 30/30, loss 0.1 (first 3.0), 5.9 examples/s, training 16.8 s, elapsed 19.8 s, ETA -\nheld-out accuracy (100 examples): 28.0 % before, 79.0 % after (+51.0 points)\nadapter: ft-1 (70136 bytes, /models/adapters/ft-1/), in use";
        assert_eq!(number_after(text, ", training "), Some(16.8));
        assert_eq!(number_after(text, "examples): "), Some(28.0));
        assert_eq!(number_before(text, " % after"), Some(79.0));
        assert_eq!(number_after(text, "adapter: ft-1 ("), Some(70136.0));
    }
}

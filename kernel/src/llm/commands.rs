//! The `llmctl` group: `status`, `state`, `infer [-v] [QUERY...]`, `auto-execute on|off`,
//! `log`, `eval <validation|train> <N> [--execute] [--answers]` and `reload`. Handlers take snapshots (the model
//! handle, the log) and never hold a lock while printing; inference runs on the shell thread
//! (a few hundred ms under TCG) and `eval` polls Ctrl-C between prompts.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use llmtask::TaskSplit;
use shell::{CommandError, Subcommand, parse_arg};

use super::finetune::{self, Phase};
use super::infer::{self, Outcome};
use super::{adapters, autonomous, model, state};
use crate::ctx::{CmdResult, KernelCtx, Out, w};

/// Largest `llmctl eval` count.
pub const EVAL_MAX: usize = 1000;
/// Corpus seed of `llmctl eval`: the host's `nous-llm eval` draws the same examples.
pub const EVAL_SEED: u64 = 1;

pub const LLMCTL: [Subcommand<KernelCtx>; 10] = [
    Subcommand {
        name: "status",
        usage: "",
        summary: "model, load time and memory, auto-execute, inference counters",
        handler: llmctl_status,
    },
    Subcommand {
        name: "state",
        usage: "",
        summary: "the live OS state the model sees, and its prompt encoding",
        handler: llmctl_state,
    },
    Subcommand {
        name: "infer",
        usage: "[-v] [QUERY...]",
        summary: "ask the model for a command (-v: show the prompt); runs it when auto-execute is on",
        handler: llmctl_infer,
    },
    Subcommand {
        name: "auto-execute",
        usage: "<on|off|expert>",
        summary: "execute allowlisted answers, and act when the crash predictor warns (expert: the expert policy acts instead of the model)",
        handler: llmctl_auto_execute,
    },
    Subcommand {
        name: "log",
        usage: "",
        summary: "commands the model's answers led to: ran, refused or failed",
        handler: llmctl_log,
    },
    Subcommand {
        name: "eval",
        usage: "<validation|train> <N> [--execute] [--answers]",
        summary: "exact-answer accuracy, latency and a fingerprint of the answers on the first N prompts of the operator task's corpus split (1-1000); --execute also runs each allowlisted answer and counts the executions that succeed; --answers prints every answer",
        handler: llmctl_eval,
    },
    Subcommand {
        name: "reload",
        usage: "",
        summary: "load the model from /models again",
        handler: llmctl_reload,
    },
    Subcommand {
        name: "finetune",
        usage: "[PATH] [--epochs N] [--rank R] [--heldout N] | stop",
        summary: "LoRA fine-tune in a kernel thread (default /models/finetune-data.json, 6 epochs, rank 8), or stop it",
        handler: llmctl_finetune,
    },
    Subcommand {
        name: "finetune-status",
        usage: "",
        summary: "epoch, step, loss, examples/s, elapsed, ETA, held-out accuracy before/after",
        handler: llmctl_finetune_status,
    },
    Subcommand {
        name: "adapter",
        usage: "list | load <NAME> | unload",
        summary: "LoRA adapters in /models/adapters: list them, put one in use (kept across reboots), or go back to the base model",
        handler: llmctl_adapter,
    },
];

fn loaded() -> Result<alloc::sync::Arc<model::Loaded>, CommandError> {
    model::get().ok_or_else(|| {
        CommandError::failed(alloc::format!(
            "no model: {}",
            model::describe(&model::load_state())
        ))
    })
}

fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

fn llmctl_status(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let load = model::load_state();
    w(writeln!(out, "model: {}", model::describe(&load)))?;
    if let Some(m) = model::get() {
        w(writeln!(
            out,
            "adapter: {}",
            m.adapter.as_deref().unwrap_or("none (base model)")
        ))?;
        let c = m.model.config();
        w(writeln!(
            out,
            "weights: {} parameters ({} layers, hidden {}, context {}), vocabulary {}; inference on the quantized copy ({} KiB of i16 weights)",
            m.parameters,
            c.num_hidden_layers,
            c.hidden_size,
            c.max_position_embeddings,
            m.tok.vocab_size(),
            m.quant.quantized_bytes() / 1024
        ))?;
    }
    w(writeln!(
        out,
        "auto-execute: {}",
        on_off(infer::AUTO_EXECUTE.load(Ordering::SeqCst))
    ))?;
    let read = |name: &str| crate::kmetrics::value_i64(name).unwrap_or(0);
    let n = read("nous_llm_inferences_total");
    let (last_us, total_us) = infer::latency_us();
    w(writeln!(
        out,
        "inferences: {n} (mean {} ms, last {} ms); commands proposed {}, executed {}, refused {}, failed {}",
        if n > 0 { total_us / n as u64 / 1000 } else { 0 },
        last_us / 1000,
        read("nous_llm_commands_proposed_total"),
        read("nous_llm_commands_executed_total"),
        read("nous_llm_commands_refused_total"),
        read("nous_llm_commands_failed_total"),
    ))
}

fn llmctl_state(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let s = state::snapshot();
    w(writeln!(
        out,
        "memory: total {} KiB, free {} KiB; fragmentation (order {}) {} %",
        s.mem_total_kib,
        s.mem_free_kib,
        state::FRAG_ORDER,
        s.frag_index
    ))?;
    w(writeln!(
        out,
        "crash risk: {:?}, confidence {} %",
        s.crash_risk, s.crash_confidence
    ))?;
    w(writeln!(
        out,
        "scheduler: {:?}, runnable {}, context switches {}",
        s.sched.policy, s.sched.runnable, s.sched.context_switches
    ))?;
    w(writeln!(
        out,
        "block device: reads {}, writes {}, pending {}",
        s.io.reads, s.io.writes, s.io.pending
    ))?;
    w(write!(out, "busiest threads:"))?;
    for t in &s.top_cpu {
        w(write!(out, " {} {}%", t.name, t.cpu_pct))?;
    }
    w(writeln!(out))?;
    w(writeln!(
        out,
        "prompt: {}",
        llmtask::prompt(&s, &infer::uptime_text(), "")
    ))
}

fn llmctl_infer(ctx: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let (verbose, words) = match args.first() {
        Some(&"-v") => (true, &args[1..]),
        _ => (false, args),
    };
    let query = words.join(" ");
    let m = loaded()?;
    let inference = infer::infer(&m, &query).map_err(CommandError::failed)?;
    let p = &inference.prediction;
    if verbose {
        w(writeln!(out, "prompt: {}", inference.prompt))?;
    }
    w(writeln!(out, "command: {}", p.text))?;
    match &p.abstained_from {
        Some(own) => w(writeln!(
            out,
            "confidence: {:.3} (abstained: the model's answer `{own}` is below the threshold)",
            p.confidence
        ))?,
        None => w(writeln!(out, "confidence: {:.3}", p.confidence))?,
    }
    let ms = |us: u64| alloc::format!("{}.{:01}", us / 1000, (us % 1000) / 100);
    w(writeln!(
        out,
        "tokens: prompt {}, answer {}; time: encode {} ms, prefill {} ms, decode {} ms, total {} ms",
        p.prompt_tokens,
        p.tokens.len(),
        ms(p.times.encode),
        ms(p.times.prefill),
        ms(p.times.decode),
        ms(p.times.total())
    ))?;
    if !infer::AUTO_EXECUTE.load(Ordering::SeqCst) {
        return w(writeln!(
            out,
            "not executed (llmctl auto-execute on runs allowlisted answers)"
        ));
    }
    let mut output = String::new();
    let steps = infer::execute_answer(ctx.subsystems, &p.text, "shell", &mut output);
    for (command, outcome) in &steps {
        match outcome {
            Outcome::Ran => w(writeln!(out, "executed: {command}"))?,
            Outcome::Declined(reason) => w(writeln!(
                out,
                "the model refused ({reason}): nothing executed"
            ))?,
            Outcome::Refused(why) => w(writeln!(out, "refused (not on the allowlist): {why}"))?,
            Outcome::Failed(why) => {
                w(out.write_str(&output))?;
                return Err(CommandError::failed(alloc::format!(
                    "'{command}' failed: {why}"
                )));
            }
        }
    }
    w(out.write_str(&output))
}

fn llmctl_auto_execute(ctx: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let (on, expert) = match args.first().copied() {
        Some("on") => (true, false),
        Some("off") => (false, false),
        Some("expert") => (true, true),
        Some(other) => {
            return Err(CommandError::usage(alloc::format!(
                "expected on, off or expert, got '{other}'"
            )));
        }
        None => return Err(CommandError::usage("expected on, off or expert")),
    };
    autonomous::set(on, expert, ctx.subsystems);
    w(writeln!(
        out,
        "auto-execute {}: {}",
        on_off(on),
        if expert {
            "allowlisted answers of llmctl infer run; the expert policy (not the model) acts when the crash predictor reaches WARNING"
        } else if on {
            "allowlisted answers of llmctl infer run; the model acts when the crash predictor reaches WARNING"
        } else {
            "answers are only printed"
        }
    ))
}

fn llmctl_log(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let entries = infer::log_entries();
    if entries.is_empty() {
        return w(writeln!(out, "no commands from the model yet"));
    }
    for e in entries {
        let outcome = match &e.outcome {
            Outcome::Ran => String::from("ran"),
            Outcome::Refused(why) => alloc::format!("refused ({why})"),
            Outcome::Failed(why) => alloc::format!("failed ({why})"),
            Outcome::Declined(reason) => alloc::format!("declined ({reason})"),
        };
        w(writeln!(
            out,
            "{:>8} ms  {:<5} {:<24} {outcome}  {}",
            e.at_ms, e.origin, e.command, e.first_line
        ))?;
    }
    Ok(())
}

fn percentile(sorted: &[u64], p: usize) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    // Nearest rank: the smallest value with at least p % of the values at or below it.
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

fn llmctl_eval(ctx: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let split = match args.first().copied() {
        Some("validation") => TaskSplit::Validation,
        Some("train") => TaskSplit::Train,
        Some(other) => {
            return Err(CommandError::usage(alloc::format!(
                "unknown split '{other}' (expected validation or train)"
            )));
        }
        None => return Err(CommandError::usage("expected a split")),
    };
    let n: usize = parse_arg("N", args.get(1).copied().unwrap_or(""))?;
    if !(1..=EVAL_MAX).contains(&n) {
        return Err(CommandError::usage(alloc::format!(
            "N must be between 1 and {EVAL_MAX}"
        )));
    }
    let (mut execute, mut list_answers) = (false, false);
    for option in &args[2..] {
        match *option {
            "--execute" => execute = true,
            "--answers" => list_answers = true,
            other => {
                return Err(CommandError::usage(alloc::format!(
                    "unknown option '{other}' (expected --execute or --answers)"
                )));
            }
        }
    }
    let m = loaded()?;
    let mut latencies: Vec<u64> = Vec::with_capacity(n);
    // Sums of the prefill and decode phases, for their means.
    let mut phases = llmtask::PhaseTimes::default();
    let (mut exact, mut allowlisted) = (0usize, 0usize);
    let mut runs = ExecutionTally::default();
    let mut fingerprint = llmtask::AnswerFingerprint::default();
    for (i, (state, query, expected)) in llmtask::eval_examples(split, EVAL_SEED, n)
        .into_iter()
        .enumerate()
    {
        if ctx.interrupted() {
            w(writeln!(out, "interrupted after {i} prompts"))?;
            break;
        }
        let inference = infer::infer_on(&m, state, &query).map_err(CommandError::failed)?;
        let p = &inference.prediction;
        exact += usize::from(p.text == expected);
        fingerprint.push(&p.text);
        if list_answers {
            w(writeln!(out, "answer {i}: {}", p.text))?;
        }
        allowlisted += usize::from(p.answer().is_ok());
        latencies.push(p.times.total());
        phases.prefill += p.times.prefill;
        phases.decode += p.times.decode;
        if execute {
            // The output of each command is dropped: only its outcome is counted.
            let mut output = String::new();
            let steps = infer::execute_answer(ctx.subsystems, &p.text, "eval", &mut output);
            runs.count(&steps);
            runs.count_expected(&expected, p, &steps);
        }
    }
    let done = latencies.len();
    latencies.sort_unstable();
    let pct = |k: usize| k as f64 * 100.0 / done.max(1) as f64;
    let ms = |us: u64| us as f64 / 1000.0;
    w(writeln!(
        out,
        "eval {} n={done} seed={EVAL_SEED}: exact {exact}/{done} ({:.1} %), allowlisted {allowlisted}/{done} ({:.1} %), latency p50 {:.1} ms p95 {:.1} ms max {:.1} ms (mean prefill {:.1} ms, decode {:.1} ms), answers fnv1a {fingerprint}",
        args[0],
        pct(exact),
        pct(allowlisted),
        ms(percentile(&latencies, 50)),
        ms(percentile(&latencies, 95)),
        ms(latencies.last().copied().unwrap_or(0)),
        ms(phases.prefill) / done.max(1) as f64,
        ms(phases.decode) / done.max(1) as f64,
    ))?;
    if execute {
        w(writeln!(
            out,
            "executed: {} of {done} answers had a command to run; commands ran {}, failed {} ({:.1} % succeeded), refused by the allowlist {}; {} answers were refusals",
            runs.answers_with_commands,
            runs.ran,
            runs.failed,
            runs.ran as f64 * 100.0 / (runs.ran + runs.failed).max(1) as f64,
            runs.refused,
            runs.declined,
        ))?;
        let e = &runs.expected;
        w(writeln!(
            out,
            "by expected answer: a command expected for {}: {} had a command to run ({:.1} %), {} were abstentions, {} other refusals; a refusal expected for {}: {} were refusals ({:.1} %)",
            e.command,
            e.command_runnable,
            e.command_runnable as f64 * 100.0 / e.command.max(1) as f64,
            e.command_abstained,
            e.command_refused,
            e.refusal,
            e.refusal_refused,
            e.refusal_refused as f64 * 100.0 / e.refusal.max(1) as f64,
        ))?;
    }
    Ok(())
}

/// `llmctl eval --execute`'s answers split by what the corpus expects: a command (did the
/// answer have one to run, or was it a refusal — the model's own or an abstention) or a
/// refusal (did the model refuse).
#[derive(Default)]
struct ByExpected {
    command: usize,
    command_runnable: usize,
    command_abstained: usize,
    command_refused: usize,
    refusal: usize,
    refusal_refused: usize,
}

/// What `llmctl eval --execute` counts over the answers it ran.
#[derive(Default)]
struct ExecutionTally {
    answers_with_commands: usize,
    ran: usize,
    failed: usize,
    refused: usize,
    declined: usize,
    expected: ByExpected,
}

impl ExecutionTally {
    /// Counts one answer `p` to a prompt whose expected answer is `expected`, with the steps
    /// its execution took.
    fn count_expected(
        &mut self,
        expected: &str,
        p: &llmtask::Prediction,
        steps: &[(String, Outcome)],
    ) {
        let refused = steps
            .iter()
            .all(|(_, outcome)| matches!(outcome, Outcome::Declined(_)));
        let e = &mut self.expected;
        if matches!(
            llmtask::allowlisted_answer(expected),
            Ok(oslang::Answer::Refuse(_))
        ) {
            e.refusal += 1;
            e.refusal_refused += usize::from(refused);
        } else {
            e.command += 1;
            if !refused {
                e.command_runnable += 1;
            } else if p.abstained_from.is_some() {
                e.command_abstained += 1;
            } else {
                e.command_refused += 1;
            }
        }
    }

    fn count(&mut self, steps: &[(String, Outcome)]) {
        let mut any_command = false;
        for (_, outcome) in steps {
            match outcome {
                Outcome::Ran => self.ran += 1,
                Outcome::Failed(_) => self.failed += 1,
                Outcome::Refused(_) => self.refused += 1,
                Outcome::Declined(_) => {
                    self.declined += 1;
                    continue;
                }
            }
            any_command = true;
        }
        self.answers_with_commands += usize::from(any_command);
    }
}

fn llmctl_reload(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    match model::load() {
        Ok(line) => w(writeln!(out, "{line}")),
        Err(e) => Err(CommandError::failed(alloc::format!("no model: {e}"))),
    }
}

fn llmctl_finetune(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    if args.first() == Some(&"stop") {
        if args.len() > 1 {
            return Err(CommandError::usage("stop takes no arguments"));
        }
        return if finetune::request_stop() {
            w(writeln!(out, "finetune: stopping after the current step"))
        } else {
            Err(CommandError::failed("no fine-tune is running"))
        };
    }
    let mut settings = llmtask::finetune::Settings::default();
    let mut path = finetune::DEFAULT_DATA;
    let mut heldout = None;
    let mut rest = args;
    if let Some((first, tail)) = rest.split_first()
        && !first.starts_with("--")
    {
        if !first.starts_with('/') {
            return Err(CommandError::usage(alloc::format!(
                "'{first}' is not an absolute path"
            )));
        }
        path = first;
        rest = tail;
    }
    while let Some((flag, tail)) = rest.split_first() {
        let value = tail
            .first()
            .copied()
            .ok_or_else(|| CommandError::usage(alloc::format!("{flag} needs a value")))?;
        match *flag {
            "--epochs" => {
                settings.epochs = parse_arg("--epochs", value)?;
                if !(1..=llmtask::finetune::MAX_EPOCHS).contains(&settings.epochs) {
                    return Err(CommandError::usage(alloc::format!(
                        "--epochs must be between 1 and {}",
                        llmtask::finetune::MAX_EPOCHS
                    )));
                }
            }
            "--rank" => {
                settings.rank = parse_arg("--rank", value)?;
                if !(1..=llmtask::finetune::MAX_RANK).contains(&settings.rank) {
                    return Err(CommandError::usage(alloc::format!(
                        "--rank must be between 1 and {}",
                        llmtask::finetune::MAX_RANK
                    )));
                }
                // Keep alpha / rank (the update's scale) at the default's 2.
                settings.alpha = 2.0 * settings.rank as f32;
            }
            "--heldout" => heldout = Some(parse_arg::<usize>("--heldout", value)?),
            other => {
                return Err(CommandError::usage(alloc::format!(
                    "unknown option '{other}' (expected --epochs, --rank or --heldout)"
                )));
            }
        }
        rest = &tail[1..];
    }
    finetune::start(path, settings, heldout).map_err(CommandError::failed)?;
    w(writeln!(
        out,
        "finetune: started on {path} in the background (llmctl finetune-status; llmctl finetune stop)"
    ))
}

fn secs(ns: u64) -> alloc::string::String {
    alloc::format!("{}.{} s", ns / 1_000_000_000, (ns / 100_000_000) % 10)
}

fn llmctl_finetune_status(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let Some(s) = finetune::status() else {
        return w(writeln!(
            out,
            "no fine-tune since boot (llmctl finetune starts one)"
        ));
    };
    let phase = match &s.phase {
        Phase::Preparing => "preparing".into(),
        Phase::Evaluating => "evaluating held-out accuracy".into(),
        Phase::Training => "training".into(),
        Phase::Saving => "saving the adapter".into(),
        Phase::Done => "done".into(),
        Phase::Stopped => "stopped".into(),
        Phase::Failed(e) => alloc::format!("failed: {e}"),
    };
    w(writeln!(
        out,
        "phase: {phase}; data {} ({} examples), rank {}, {} epochs, batch {}",
        s.data, s.examples, s.rank, s.epochs, s.batch
    ))?;
    let elapsed = s.ended_ns.unwrap_or_else(hal::time::now_ns) - s.started_ns;
    let per_step = if s.step > 0 {
        s.train_ns / s.step as u64
    } else {
        0
    };
    let eta = per_step * (s.total_steps.saturating_sub(s.step)) as u64;
    let rate = if s.train_ns > 0 {
        (s.step * s.batch) as f64 * 1e9 / s.train_ns as f64
    } else {
        0.0
    };
    w(writeln!(
        out,
        "epoch {}/{}, step {}/{}, loss {:.4} (first {:.4}), {:.1} examples/s, training {}, elapsed {}, ETA {}",
        s.epoch,
        s.epochs,
        s.step,
        s.total_steps,
        s.loss,
        s.first_loss,
        rate,
        secs(s.train_ns),
        secs(elapsed),
        if s.step < s.total_steps && s.ended_ns.is_none() {
            secs(eta)
        } else {
            "-".into()
        }
    ))?;
    match s.heldout {
        Some((n, before, Some(after))) => w(writeln!(
            out,
            "held-out accuracy ({n} examples): {:.1} % before, {:.1} % after ({:+.1} points)",
            before * 100.0,
            after * 100.0,
            (after - before) * 100.0
        ))?,
        Some((n, before, None)) => w(writeln!(
            out,
            "held-out accuracy ({n} examples): {:.1} % before",
            before * 100.0
        ))?,
        None => {}
    }
    if let Some((name, bytes)) = &s.adapter {
        w(writeln!(
            out,
            "adapter: {name} ({bytes} bytes, {}/{name}/), in use",
            adapters::DIR
        ))?;
    }
    Ok(())
}

fn llmctl_adapter(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    match args {
        ["list"] => {
            let list = adapters::list().map_err(CommandError::failed)?;
            let active = adapters::active_name().map_err(CommandError::failed)?;
            let in_use = model::get().and_then(|m| m.adapter.clone());
            if list.is_empty() {
                return w(writeln!(out, "no adapters in {}", adapters::DIR));
            }
            for a in list {
                let mut marks = alloc::vec::Vec::new();
                if in_use.as_deref() == Some(a.name.as_str()) {
                    marks.push("in use");
                }
                if active.as_deref() == Some(a.name.as_str()) {
                    marks.push("loaded at boot");
                }
                w(writeln!(
                    out,
                    "{:<12} {:>8} bytes  {}",
                    a.name,
                    a.weight_bytes,
                    marks.join(", ")
                ))?;
            }
            Ok(())
        }
        ["load", name] => {
            adapters::load(name).map_err(CommandError::failed)?;
            w(writeln!(out, "adapter {name} in use (and loaded at boot)"))
        }
        ["unload"] => {
            adapters::unload().map_err(CommandError::failed)?;
            w(writeln!(out, "base model in use (no adapter at boot)"))
        }
        _ => Err(CommandError::usage("expected list, load <NAME> or unload")),
    }
}

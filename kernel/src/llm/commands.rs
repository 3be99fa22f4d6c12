//! The `llmctl` group: `status`, `state`, `infer [-v] [QUERY...]`, `auto-execute on|off`,
//! `log`, `eval <test|validation> <N>` and `reload`. Handlers take snapshots (the model
//! handle, the log) and never hold a lock while printing; inference runs on the shell thread
//! (a few hundred ms under TCG) and `eval` polls Ctrl-C between prompts.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use oslang::corpus::{self, Split};
use shell::{CommandError, Subcommand, parse_arg};

use super::infer::{self, Outcome};
use super::{autonomous, model, state};
use crate::ctx::{CmdResult, KernelCtx, Out, w};

/// Largest `llmctl eval` count.
pub const EVAL_MAX: usize = 1000;
/// Corpus seed of `llmctl eval`: the host's `nous-llm eval` draws the same examples.
pub const EVAL_SEED: u64 = 1;

pub const LLMCTL: [Subcommand<KernelCtx>; 7] = [
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
        usage: "<on|off>",
        summary: "execute allowlisted answers, and act when the crash predictor warns",
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
        usage: "<test|validation> <N>",
        summary: "exact-command accuracy and latency on N held-out corpus prompts (1-1000)",
        handler: llmctl_eval,
    },
    Subcommand {
        name: "reload",
        usage: "",
        summary: "load the model from /models again",
        handler: llmctl_reload,
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
    let total_us = read("nous_llm_inference_us_total");
    w(writeln!(
        out,
        "inferences: {n} (mean {} ms, last {} ms); commands proposed {}, executed {}, refused {}, failed {}",
        if n > 0 { total_us / n / 1000 } else { 0 },
        read("nous_llm_inference_last_us") / 1000,
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
        oslang::state::encode_prompt(&s, "")
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
    match infer::execute(ctx.subsystems, &p.text, "shell", &mut output) {
        Outcome::Ran => {
            w(writeln!(out, "executed: {}", p.text))?;
            w(out.write_str(&output))
        }
        Outcome::Refused(why) => w(writeln!(out, "refused (not on the allowlist): {why}")),
        Outcome::Failed(why) => {
            w(out.write_str(&output))?;
            Err(CommandError::failed(alloc::format!(
                "'{}' failed: {why}",
                p.text
            )))
        }
    }
}

fn llmctl_auto_execute(ctx: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let on = match args.first().copied() {
        Some("on") => true,
        Some("off") => false,
        Some(other) => {
            return Err(CommandError::usage(alloc::format!(
                "expected on or off, got '{other}'"
            )));
        }
        None => return Err(CommandError::usage("expected on or off")),
    };
    autonomous::set(on, ctx.subsystems);
    w(writeln!(
        out,
        "auto-execute {}: {}",
        on_off(on),
        if on {
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
        Some("test") => Split::Test,
        Some("validation") => Split::Validation,
        Some(other) => {
            return Err(CommandError::usage(alloc::format!(
                "unknown split '{other}' (expected test or validation)"
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
    let m = loaded()?;
    let mut latencies: Vec<u64> = Vec::with_capacity(n);
    let (mut exact, mut allowlisted) = (0usize, 0usize);
    for (i, e) in corpus::generate(split, EVAL_SEED, n)
        .into_iter()
        .enumerate()
    {
        if ctx.interrupted() {
            w(writeln!(out, "interrupted after {i} prompts"))?;
            break;
        }
        let expected = e.command.to_text();
        let inference = infer::infer_on(&m, e.state, &e.query).map_err(CommandError::failed)?;
        let p = &inference.prediction;
        exact += usize::from(p.text == expected);
        allowlisted += usize::from(p.command().is_ok());
        latencies.push(p.times.total());
    }
    let done = latencies.len();
    latencies.sort_unstable();
    let pct = |k: usize| k as f64 * 100.0 / done.max(1) as f64;
    let ms = |us: u64| us as f64 / 1000.0;
    w(writeln!(
        out,
        "eval {} n={done} seed={EVAL_SEED}: exact {exact}/{done} ({:.1} %), allowlisted {allowlisted}/{done} ({:.1} %), latency p50 {:.1} ms p95 {:.1} ms max {:.1} ms",
        args[0],
        pct(exact),
        pct(allowlisted),
        ms(percentile(&latencies, 50)),
        ms(percentile(&latencies, 95)),
        ms(latencies.last().copied().unwrap_or(0)),
    ))
}

fn llmctl_reload(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    match model::load() {
        Ok(line) => w(writeln!(out, "{line}")),
        Err(e) => Err(CommandError::failed(alloc::format!("no model: {e}"))),
    }
}

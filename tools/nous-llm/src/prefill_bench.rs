//! `nous-llm prefill-bench`: the batched prefill (`llm::Session::prefill`, blocks of
//! `llm::infer::PREFILL_BLOCK` positions) against the token-by-token prefill (blocks of 1,
//! the previous code path: same arithmetic, the output head once at the end) on the prompts
//! the kernel evaluates (`llmctl eval validation N`: operator task, corpus seed 1), on the
//! quantized model the kernel runs. Alternating pairs — each pair times both over all prompts,
//! in alternating order — and the median of the per-pair ratios; the logits of both are
//! checked equal bit for bit on every prompt before any timing. Pin it to one core
//! (`taskset -c 0`) on a shared machine.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, ensure};
use clap::Args;
use llm::infer::PREFILL_BLOCK;
use llm::{QuantModel, Session};
use llmtask::TaskSplit;

use crate::model_io::load_model_dir;

#[derive(Args)]
pub struct PrefillBenchArgs {
    /// Model directory.
    #[arg(long, default_value = "models")]
    model: PathBuf,
    /// Prompts (the first N of `llmctl eval validation`).
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Alternating pairs.
    #[arg(long, default_value_t = 7)]
    pairs: usize,
}

/// Seconds to prefill every prompt in blocks of `block`.
fn time_all(quant: &QuantModel, prompts: &[Vec<u32>], block: usize) -> Result<f64> {
    let t = Instant::now();
    for ids in prompts {
        let mut s = Session::with_capacity(quant, ids.len());
        std::hint::black_box(s.prefill_in_blocks(ids, block)?);
    }
    Ok(t.elapsed().as_secs_f64())
}

pub fn prefill_bench(a: &PrefillBenchArgs) -> Result<()> {
    ensure!(
        a.pairs > 0 && a.count > 0,
        "--pairs and --count must be ≥ 1"
    );
    let (model, tok) = load_model_dir(&a.model)?;
    let sp = llmtask::specials(&tok)?;
    let quant = QuantModel::from_model(&model)?;
    let prompts: Vec<Vec<u32>> = llmtask::eval_examples(TaskSplit::Validation, 1, a.count)
        .iter()
        .map(|(state, query, _)| {
            llmtask::prompt_tokens(&tok, sp, &llmtask::prompt(state, "", query))
        })
        .collect();
    for ids in &prompts {
        let mut one = Session::with_capacity(&quant, ids.len());
        let mut block = Session::with_capacity(&quant, ids.len());
        let (x, y) = (one.prefill_in_blocks(ids, 1)?, block.prefill(ids)?);
        ensure!(
            x.iter().zip(y).all(|(p, q)| p.to_bits() == q.to_bits()),
            "batched and token-by-token prefill differ on a prompt of {} tokens",
            ids.len()
        );
    }
    let tokens: usize = prompts.iter().map(Vec::len).sum();
    println!(
        "prefill_prompts {} prefill_tokens_mean {:.1} block {PREFILL_BLOCK}",
        prompts.len(),
        tokens as f64 / prompts.len() as f64
    );
    let mut ratios = Vec::with_capacity(a.pairs);
    for pair in 0..a.pairs {
        let (one, block) = if pair % 2 == 0 {
            let one = time_all(&quant, &prompts, 1)?;
            (one, time_all(&quant, &prompts, PREFILL_BLOCK)?)
        } else {
            let block = time_all(&quant, &prompts, PREFILL_BLOCK)?;
            (time_all(&quant, &prompts, 1)?, block)
        };
        let n = prompts.len() as f64;
        println!(
            "pair {pair}: token by token {:.3} ms/prompt, batched {:.3} ms/prompt, speed-up {:.3}x",
            one * 1e3 / n,
            block * 1e3 / n,
            one / block
        );
        ratios.push(one / block);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "prefill_speedup_median {:.3} (min {:.3}, max {:.3}, {} pairs)",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1],
        ratios.len()
    );
    Ok(())
}

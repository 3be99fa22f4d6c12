//! `nous-llm kernel-ref`: the host side of `cargo xtask bench llm`'s in-kernel figures — the
//! same code the kernel runs (`llmtask`), natively, on the same work: exact-answer accuracy
//! and latency on the prompts `llmctl eval <split> <n>` uses (operator task, corpus seed 1), on the f32
//! model and on the quantized one (the kernel's path), with their agreement; and the
//! kernel's fine-tune (`llmtask::finetune::FinetuneRun`, default settings, the same seed) on
//! `finetune-data.json` with held-out accuracy before/after on the quantized model. Prints
//! `key value` lines that xtask reads.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Args;
use llm::QuantModel;
use llmtask::TaskSplit;
use llmtask::finetune::{FinetuneRun, Settings, parse_data};

use crate::model_io::load_model_dir;

#[derive(Args)]
pub struct KernelRefArgs {
    /// Model directory.
    #[arg(long, default_value = "models")]
    model: PathBuf,
    /// Prompts per split (the first N of `llmctl eval`, corpus seed 1).
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Fine-tune epochs (the kernel's default).
    #[arg(long, default_value_t = 6)]
    epochs: usize,
    /// Skip the fine-tune part.
    #[arg(long)]
    no_finetune: bool,
    /// Where to write the fine-tuned adapter (PEFT files), for comparison with the kernel's.
    #[arg(long, default_value = "target/nous-llm/kernel-ref-adapter")]
    adapter_out: PathBuf,
}

fn percentile(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p).div_ceil(100).max(1) - 1]
}

pub fn kernel_ref(a: &KernelRefArgs) -> Result<()> {
    let (model, tok) = load_model_dir(&a.model)?;
    let sp = llmtask::specials(&tok)?;
    let quant = QuantModel::from_model(&model)?;
    for (name, split) in [
        ("validation", TaskSplit::Validation),
        ("train", TaskSplit::Train),
    ] {
        let examples = llmtask::eval_examples(split, 1, a.count);
        let (mut f32_right, mut q_right, mut agree) = (0usize, 0usize, 0usize);
        let mut latencies = Vec::with_capacity(examples.len());
        for (state, query, want) in &examples {
            let prompt = llmtask::prompt(state, "", query);
            let f = llmtask::predict(&model, &tok, sp, &prompt, true)?;
            let t = Instant::now();
            let q = llmtask::predict(&quant, &tok, sp, &prompt, true)?;
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            f32_right += usize::from(f == *want);
            q_right += usize::from(q == *want);
            agree += usize::from(f == q);
        }
        latencies.sort_by(f64::total_cmp);
        let n = examples.len().max(1) as f64;
        println!("host_{name}_n {}", examples.len());
        println!(
            "host_{name}_exact_f32_pct {:.1}",
            100.0 * f32_right as f64 / n
        );
        println!(
            "host_{name}_exact_quant_pct {:.1}",
            100.0 * q_right as f64 / n
        );
        println!(
            "host_{name}_quant_agrees_with_f32_pct {:.1}",
            100.0 * agree as f64 / n
        );
        println!("host_{name}_quant_p50_ms {:.3}", percentile(&latencies, 50));
        println!("host_{name}_quant_p95_ms {:.3}", percentile(&latencies, 95));
    }
    if a.no_finetune {
        return Ok(());
    }
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = a.model.join(name);
        std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
    };
    let max = model.config().max_position_embeddings;
    let (_, examples) = parse_data(&read("finetune-data.json")?, &tok, sp, max)
        .map_err(|e| anyhow::anyhow!("finetune-data.json: {e}"))?;
    let (held, _) = parse_data(&read("finetune-heldout.json")?, &tok, sp, max)
        .map_err(|e| anyhow::anyhow!("finetune-heldout.json: {e}"))?;
    let held_acc = |q: &QuantModel| -> Result<f64> {
        let mut right = 0usize;
        for r in &held {
            right += usize::from(llmtask::predict(q, &tok, sp, &r.prompt(), true)? == r.command);
        }
        Ok(100.0 * right as f64 / held.len().max(1) as f64)
    };
    let before = held_acc(&quant)?;
    let settings = Settings {
        epochs: a.epochs,
        ..Settings::default()
    };
    let n = examples.len();
    let t = Instant::now();
    let mut run = FinetuneRun::new(&model, examples, &settings)?;
    while !run.finished() {
        run.step()?;
    }
    let (steps, loss) = (run.step, run.loss);
    let adapters = run.into_adapters();
    let seconds = t.elapsed().as_secs_f64();
    let peft = adapters.to_peft()?;
    std::fs::create_dir_all(&a.adapter_out)?;
    std::fs::write(
        a.adapter_out.join(llmtask::finetune::ADAPTER_WEIGHTS),
        &peft.adapter_model_safetensors,
    )?;
    std::fs::write(
        a.adapter_out.join(llmtask::finetune::ADAPTER_CONFIG),
        &peft.adapter_config_json,
    )?;
    println!("host_finetune_adapter_dir {}", a.adapter_out.display());
    let mut merged = model.clone();
    adapters.merge_into(&mut merged)?;
    let after = held_acc(&QuantModel::from_model(&merged)?)?;
    println!("host_finetune_examples {n}");
    println!("host_finetune_steps {steps}");
    println!("host_finetune_seconds {seconds:.3}");
    println!("host_finetune_loss {loss:.4}");
    println!("host_finetune_heldout_n {}", held.len());
    println!("host_finetune_heldout_before_pct {before:.1}");
    println!("host_finetune_heldout_after_pct {after:.1}");
    println!(
        "host_finetune_adapter_bytes {}",
        peft.adapter_model_safetensors.len()
    );
    Ok(())
}

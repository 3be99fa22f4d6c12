//! `nous-llm kernel-ref`: the host side of `cargo xtask bench llm`'s in-kernel figures — the
//! same code the kernel runs (`llmtask`), natively, on the same work: exact-answer accuracy
//! and latency on the prompts `llmctl eval <split> <n>` uses (operator task, corpus seed 1), on
//! the f32 model and on the quantized one (the kernel's path), with their agreement. Answers go
//! through `llmtask::answer_timed`, the kernel's answer path including its abstention; the
//! model's own answers before abstention are scored too (`…_raw_pct`), the fingerprint of each
//! path's answers is printed, and the quantized answers are written to a file for the
//! per-prompt comparison with the kernel's. Then the
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
    /// Where to write the quantized path's answers (`kernel-ref-answers-<split>.txt`, one a
    /// line, in prompt order) for `cargo xtask bench llm` to compare with the kernel's.
    #[arg(long, default_value = "target/nous-llm")]
    answers_dir: PathBuf,
    /// Skip the fine-tune part.
    #[arg(long)]
    no_finetune: bool,
    /// Where to write the fine-tuned adapter (PEFT files), for comparison with the kernel's.
    #[arg(long, default_value = "target/nous-llm/kernel-ref-adapter")]
    adapter_out: PathBuf,
}

/// Right answers of one path (after abstention, and the model's own answer before it) and
/// the fingerprint of its answers.
#[derive(Default)]
struct Tally {
    right: usize,
    right_raw: usize,
    abstained: usize,
    fingerprint: llmtask::AnswerFingerprint,
}

impl Tally {
    fn add(&mut self, p: &llmtask::Prediction, want: &str) {
        self.right += usize::from(p.text == want);
        self.right_raw += usize::from(raw(p) == want);
        self.abstained += usize::from(p.abstained_from.is_some());
        self.fingerprint.push(&p.text);
    }
}

/// The model's own answer, before abstention.
fn raw(p: &llmtask::Prediction) -> &str {
    p.abstained_from.as_deref().unwrap_or(&p.text)
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
    std::fs::create_dir_all(&a.answers_dir)
        .with_context(|| format!("creating {}", a.answers_dir.display()))?;
    for (name, split) in [
        ("validation", TaskSplit::Validation),
        ("train", TaskSplit::Train),
    ] {
        let examples = llmtask::eval_examples(split, 1, a.count);
        let mut f32_path = Tally::default();
        let mut quant_path = Tally::default();
        let (mut agree, mut agree_raw) = (0usize, 0usize);
        let mut answers = String::new();
        let mut latencies = Vec::with_capacity(examples.len());
        for (state, query, want) in &examples {
            let f = llmtask::answer_timed(&model, &tok, sp, state, query, false, &|| 0)?;
            let t = Instant::now();
            let q = llmtask::answer_timed(&quant, &tok, sp, state, query, false, &|| 0)?;
            latencies.push(t.elapsed().as_secs_f64() * 1e3);
            let (f, q) = (f.prediction, q.prediction);
            f32_path.add(&f, want);
            quant_path.add(&q, want);
            agree += usize::from(f.text == q.text);
            agree_raw += usize::from(raw(&f) == raw(&q));
            answers.push_str(&q.text);
            answers.push('\n');
        }
        let path = a.answers_dir.join(format!("kernel-ref-answers-{name}.txt"));
        std::fs::write(&path, &answers).with_context(|| format!("writing {}", path.display()))?;
        latencies.sort_by(f64::total_cmp);
        let n = examples.len().max(1) as f64;
        let pct = |k: usize| 100.0 * k as f64 / n;
        println!("host_{name}_n {}", examples.len());
        println!("host_{name}_exact_f32_pct {:.1}", pct(f32_path.right));
        println!("host_{name}_exact_quant_pct {:.1}", pct(quant_path.right));
        println!(
            "host_{name}_exact_quant_raw_pct {:.1}",
            pct(quant_path.right_raw)
        );
        println!("host_{name}_quant_abstained {}", quant_path.abstained);
        println!("host_{name}_quant_agrees_with_f32_pct {:.1}", pct(agree));
        println!(
            "host_{name}_quant_agrees_with_f32_raw_pct {:.1}",
            pct(agree_raw)
        );
        println!("host_{name}_quant_p50_ms {:.3}", percentile(&latencies, 50));
        println!("host_{name}_quant_p95_ms {:.3}", percentile(&latencies, 95));
        println!("host_{name}_f32_fnv1a {}", f32_path.fingerprint);
        println!("host_{name}_quant_fnv1a {}", quant_path.fingerprint);
        println!("host_{name}_answers_file {}", path.display());
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

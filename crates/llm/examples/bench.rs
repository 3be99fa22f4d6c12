//! Throughput and memory figures for the engine (a benchmark, not a test; figures are printed).
//!
//! `cargo run --release -p llm --example bench [-- --json] [--model <model_dir>]`
//!
//! With `--model`, the decode figure is measured on that model directory (config.json +
//! model.safetensors) — use the same directory with `tools/hf-check/torch_bench.py` to get the
//! PyTorch figure for the same weights and the same work (prompt 32 + 96 steps, batch 1).
//!
//! Model: the base-model size class of issue 4 (≈1.1 M parameters: vocab 1024, hidden 128,
//! 4 layers, 4 heads, 2 KV heads, MLP 384, context 128), random weights (speed does not
//! depend on the values). Measures:
//! - decode tokens/s with the KV cache (batch 1, the kernel's path),
//! - full-sequence forward tokens/s and train-step tokens/s (full backprop + AdamW),
//! - LoRA fine-tuning of 100 examples (adapters r=8 on q,v of the top 2 layers): wall time per
//!   epoch and for 10 epochs, and the peak heap it needs beyond the base model, measured with a
//!   counting allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use llm::{
    LlamaConfig, LlamaModel, LoraAdapters, LoraConfig, LoraTarget, LoraTrainer, Rng, Session,
    TrainConfig, TrainExample, Trainer,
};

/// Counts live heap bytes and the high-water mark; delegates to the system allocator.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so all of
// `GlobalAlloc`'s contract is upheld by `System`; the counters are plain atomics.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same layout contract as our caller's (non-zero size, valid alignment).
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `alloc` above with this `layout` (caller's contract).
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// CPU time of this thread in seconds (from /proc/thread-self/schedstat, nanoseconds on CPU).
/// On a shared machine wall time includes waiting for a core; CPU time does not, so both are
/// printed. Returns 0 where the file does not exist.
fn cpu_s() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0.0, |ns| ns as f64 * 1e-9)
}

/// Wall and CPU seconds of `f`.
fn timed<T>(f: impl FnOnce() -> Result<T, llm::Error>) -> Result<(T, f64, f64), llm::Error> {
    let (w, c) = (Instant::now(), cpu_s());
    let r = f()?;
    Ok((r, w.elapsed().as_secs_f64(), cpu_s() - c))
}

fn base_config() -> LlamaConfig {
    LlamaConfig {
        vocab_size: 1024,
        hidden_size: 128,
        intermediate_size: 384,
        num_hidden_layers: 4,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        max_position_embeddings: 128,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: false,
        bos_token_id: Some(1),
        eos_token_id: Some(2),
    }
}

fn examples(n: usize, len: usize, answer: usize, seed: u64, vocab: usize) -> Vec<TrainExample> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| {
            let toks: Vec<u32> = (0..len).map(|_| rng.below(vocab as u64) as u32).collect();
            TrainExample::prompt_answer(&toks[..len - answer], &toks[len - answer..])
        })
        .collect()
}

fn main() -> Result<(), llm::Error> {
    let json = std::env::args().any(|a| a == "--json");
    let cfg = base_config();
    let model = LlamaModel::new_random(cfg.clone(), 1)?;
    let params = cfg.num_parameters();

    // Decode with KV cache: prompt 32, then 96 generated positions, repeated.
    let args: Vec<String> = std::env::args().collect();
    let loaded = match args
        .iter()
        .position(|a| a == "--model")
        .and_then(|i| args.get(i + 1))
    {
        Some(dir) => {
            let dir = std::path::Path::new(dir);
            let read = |f: &str| {
                std::fs::read(dir.join(f)).map_err(|e| {
                    eprintln!("{}: {e}", dir.join(f).display());
                    llm::Error::ConfigJson(format!("cannot read {f}"))
                })
            };
            Some(LlamaModel::load(
                &read("config.json")?,
                &read("model.safetensors")?,
            )?)
        }
        None => None,
    };
    let decode_model = loaded.as_ref().unwrap_or(&model);
    let dv = decode_model.config().vocab_size as u32;
    let positions = 128.min(decode_model.config().max_position_embeddings) as u32;
    let mut s = Session::new(decode_model);
    let reps = 20;
    let mut sink = 0.0f32;
    let (_, w, c) = timed(|| {
        for _ in 0..reps {
            s.reset();
            for p in 0..positions {
                sink += s.feed((p * 37 + 5) % dv)?[0];
            }
        }
        Ok(())
    })?;
    let n = (reps * positions as usize) as f64;
    let (decode_tps, decode_cpu_tps) = (n / w, n / c);

    // The same decode work on the quantized model (the kernel's TCG path).
    let qmodel = llm::QuantModel::from_model(decode_model)?;
    let mut sq = Session::new(&qmodel);
    let (_, w, c) = timed(|| {
        for _ in 0..reps {
            sq.reset();
            for p in 0..positions {
                sink += sq.feed((p * 37 + 5) % dv)?[0];
            }
        }
        Ok(())
    })?;
    let (qdecode_tps, qdecode_cpu_tps) = (n / w, n / c);
    // Agreement of the two paths on the decode sequence: worst max|Δ| / max|logit| per
    // position, and how often the argmax differs.
    let (mut worst_rel, mut argmax_diff) = (0.0f32, 0usize);
    s.reset();
    sq.reset();
    for p in 0..positions {
        let a = s.feed((p * 37 + 5) % dv)?.to_vec();
        let b = sq.feed((p * 37 + 5) % dv)?;
        let range = a.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let d = a
            .iter()
            .zip(b)
            .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        worst_rel = worst_rel.max(d / range);
        let am = |v: &[f32]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j]));
        argmax_diff += usize::from(am(&a) != am(b));
    }

    // Full-sequence forward and train step on batches of 8 × 64 tokens.
    let batch = examples(8, 64, 16, 3, cfg.vocab_size);
    let reps = 5;
    let (_, w, c) = timed(|| {
        for _ in 0..reps {
            for ex in &batch {
                sink += model.forward_sequence(&ex.tokens)?[0];
            }
        }
        Ok(())
    })?;
    let n = (reps * 8 * 64) as f64;
    let (fwd_tps, fwd_cpu_tps) = (n / w, n / c);

    let mut trainer = Trainer::new(model.clone(), TrainConfig::default())?;
    let reps = 5;
    let (_, w, c) = timed(|| {
        for _ in 0..reps {
            sink += trainer.train_step(&batch)?.loss;
        }
        Ok(())
    })?;
    let (train_tps, train_cpu_tps) = (n / w, n / c);
    drop(trainer);

    // LoRA: 100 examples of 48 tokens (answer 8), r = 8 on q,v of the top two layers.
    let data = examples(100, 48, 8, 5, cfg.vocab_size);
    let lcfg = LoraConfig {
        rank: 8,
        alpha: 16.0,
        targets: vec![LoraTarget::Q, LoraTarget::V],
        layers: Some(vec![2, 3]),
    };
    let heap_before = LIVE.load(Ordering::Relaxed);
    PEAK.store(heap_before, Ordering::Relaxed);
    let t0 = Instant::now();
    let adapters = LoraAdapters::new(&cfg, lcfg, 9)?;
    let adapter_bytes = adapters.size_bytes();
    let mut lt = LoraTrainer::new(&model, adapters, TrainConfig::default(), data)?;
    let prep_s = t0.elapsed().as_secs_f64();
    let cache_bytes = lt.cache_bytes();
    let epochs = 10;
    let (_, train_s, train_cpu_s) = timed(|| {
        for _ in 0..epochs {
            for b in 0..10 {
                let idx: Vec<usize> = (b * 10..b * 10 + 10).collect();
                sink += lt.train_step(&idx)?.loss;
            }
        }
        Ok(())
    })?;
    let peak_extra = PEAK.load(Ordering::Relaxed) - heap_before;
    let peft = lt.adapters().to_peft()?;

    if json {
        println!(
            "{{\"params\":{params},\"decode_tokens_per_s\":{decode_tps:.0},\"forward_tokens_per_s\":{fwd_tps:.0},\"train_tokens_per_s\":{train_tps:.0},\"lora_prepare_s\":{prep_s:.3},\"lora_epoch_s\":{:.3},\"lora_10_epochs_s\":{train_s:.3},\"lora_10_epochs_cpu_s\":{train_cpu_s:.3},\"decode_cpu_tokens_per_s\":{decode_cpu_tps:.0},\"quant_decode_tokens_per_s\":{qdecode_tps:.0},\"quant_decode_cpu_tokens_per_s\":{qdecode_cpu_tps:.0},\"quant_worst_rel_logit_diff\":{worst_rel:.5},\"quant_argmax_differs\":{argmax_diff},\"forward_cpu_tokens_per_s\":{fwd_cpu_tps:.0},\"train_cpu_tokens_per_s\":{train_cpu_tps:.0},\"lora_peak_extra_bytes\":{peak_extra},\"lora_cache_bytes\":{cache_bytes},\"adapter_bytes\":{adapter_bytes},\"adapter_file_bytes\":{}}}",
            train_s / epochs as f64,
            peft.adapter_model_safetensors.len()
        );
    } else {
        println!(
            "model: {params} parameters (vocab 1024, hidden 128, 4 layers, 4 heads / 2 kv, mlp 384)"
        );
        if loaded.is_some() {
            println!(
                "decode model from --model: {} parameters",
                decode_model.config().num_parameters()
            );
        }
        println!("                               wall tokens/s   cpu-time tokens/s");
        println!("decode (KV cache, batch 1):   {decode_tps:>9.0}       {decode_cpu_tps:>9.0}");
        println!("decode, quantized (i16):      {qdecode_tps:>9.0}       {qdecode_cpu_tps:>9.0}");
        println!(
            "  quantized vs f32 logits: worst max|Δ|/max|logit| {:.4}, argmax differs at {argmax_diff}/{positions} positions",
            worst_rel
        );
        println!("forward (full sequence, 64):  {fwd_tps:>9.0}       {fwd_cpu_tps:>9.0}");
        println!("train step (backprop+AdamW):  {train_tps:>9.0}       {train_cpu_tps:>9.0}");
        println!("LoRA r=8 q,v top 2 layers, 100 examples × 48 tokens:");
        println!(
            "  prepare (frozen prefix once): {prep_s:.3} s, cache {} KiB",
            cache_bytes / 1024
        );
        println!(
            "  one epoch (10 steps × 10):    {:.3} s",
            train_s / epochs as f64
        );
        println!("  10 epochs:                    {train_s:.3} s wall, {train_cpu_s:.3} s cpu");
        println!("  peak heap beyond base model:  {} KiB", peak_extra / 1024);
        println!(
            "  adapter: {} KiB f32, PEFT file {} KiB",
            adapter_bytes / 1024,
            peft.adapter_model_safetensors.len() / 1024
        );
    }
    // Keep the computed values observable so nothing is optimised away.
    if sink.is_nan() {
        eprintln!("(non-finite checksum)");
    }
    Ok(())
}

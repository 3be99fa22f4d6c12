//! Writes a model directory (config.json + model.safetensors), a PEFT adapter directory and our
//! logits on fixed token sequences, for the Hugging Face cross-check in `tools/hf-check/`.
//!
//! `cargo run --release -p llm --example hf_dump -- <out_dir> [--from <model_dir> [--adapter <peft_dir>] | --base-size]`
//!
//! Without `--from`, the model is random with weights large enough (σ = 0.1, norms ≈ 1 ± 0.2)
//! that logits are far from uniform, so agreement is a real check. With `--from`, an existing
//! model directory (e.g. the shipped base model) is loaded and re-checked. `--base-size` makes
//! the random model the size of the bench example's (≈1.05 M parameters, vocab 1024) instead
//! of the small default (≈171 k). `--adapter` takes an existing PEFT directory (the one the
//! kernel wrote to its disk, read back with debugfs) instead of making a random adapter, so that
//! `check_peft.py` judges that file.
//! Outputs in `<out_dir>`: `model/`, `adapter/` (PEFT: q, v, o, gate, up, down on every
//! layer, nonzero B), `logits.json` = `{ sequences, logits, logits_adapter, logits_merged }`
//! with `logits[i]` the flattened `[T, vocab]` array for `sequences[i]`.

use std::fs;
use std::path::PathBuf;

use llm::{
    LlamaConfig, LlamaModel, LoraAdapters, LoraConfig, LoraTarget, Params, Rng,
    forward_sequence_with_adapters,
};

fn random_model(cfg: LlamaConfig) -> Result<LlamaModel, llm::Error> {
    let mut p = Params::zeros(&cfg);
    let mut rng = Rng::new(2024);
    for ((name, _), t) in cfg.tensor_shapes().iter().zip(p.tensors_mut()) {
        let norm = name.contains("norm");
        for v in t.iter_mut() {
            *v = if norm {
                1.0 + 0.2 * rng.normal()
            } else {
                0.1 * rng.normal()
            };
        }
    }
    LlamaModel::from_params(cfg, p)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = PathBuf::from(
        args.first()
            .ok_or("usage: hf_dump <out_dir> [--from <model_dir> [--adapter <peft_dir>]]")?,
    );
    let from = args
        .iter()
        .position(|a| a == "--from")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let adapter_from = args
        .iter()
        .position(|a| a == "--adapter")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    let model = match &from {
        Some(dir) => LlamaModel::load(
            &fs::read(dir.join("config.json"))?,
            &fs::read(dir.join("model.safetensors"))?,
        )?,
        None if args.iter().any(|a| a == "--base-size") => random_model(LlamaConfig {
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
        })?,
        None => random_model(LlamaConfig {
            vocab_size: 256,
            hidden_size: 64,
            intermediate_size: 176,
            num_hidden_layers: 3,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            max_position_embeddings: 128,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            tie_word_embeddings: false,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
        })?,
    };
    let cfg = model.config().clone();
    let mdir = out.join("model");
    let adir = out.join("adapter");
    fs::create_dir_all(&mdir)?;
    fs::create_dir_all(&adir)?;
    fs::write(mdir.join("config.json"), cfg.to_json())?;
    fs::write(mdir.join("model.safetensors"), model.to_safetensors()?)?;

    let lcfg = LoraConfig {
        rank: 4,
        alpha: 8.0,
        targets: vec![
            LoraTarget::Q,
            LoraTarget::V,
            LoraTarget::O,
            LoraTarget::Gate,
            LoraTarget::Up,
            LoraTarget::Down,
        ],
        layers: None,
    };
    let adapters = match &adapter_from {
        // An adapter someone else wrote (the kernel's, read back from its disk image): checked
        // as it is, and written out again only through our own PEFT writer below, which must
        // reproduce it byte for byte.
        Some(dir) => {
            let config = fs::read(dir.join("adapter_config.json"))?;
            let weights = fs::read(dir.join("adapter_model.safetensors"))?;
            let adapters = LoraAdapters::from_peft(&cfg, &config, &weights)?;
            if adapters.to_peft()?.adapter_model_safetensors != weights {
                return Err(format!(
                    "{}: our PEFT writer does not reproduce this adapter's weights file",
                    dir.display()
                )
                .into());
            }
            adapters
        }
        None => {
            let mut adapters = LoraAdapters::new(&cfg, lcfg, 7)?;
            let mut rng = Rng::new(77);
            for l in 0..cfg.num_hidden_layers {
                for t in LoraTarget::ALL {
                    if let Some(p) = adapters.get_mut(l, t) {
                        p.b.iter_mut().for_each(|v| *v = 0.05 * rng.normal());
                    }
                }
            }
            adapters
        }
    };
    let peft = adapters.to_peft()?;
    fs::write(adir.join("adapter_config.json"), &peft.adapter_config_json)?;
    fs::write(
        adir.join("adapter_model.safetensors"),
        &peft.adapter_model_safetensors,
    )?;

    let v = cfg.vocab_size as u32;
    let maxp = cfg.max_position_embeddings;
    let mut sequences: Vec<Vec<u32>> = vec![
        vec![1],
        (0..16).map(|i| (i * 37 + 5) % v).collect(),
        (0..40).map(|i| (i * i * 13 + 7) % v).collect(),
    ];
    sequences.push((0..maxp as u32).map(|i| (i * 101 + 3) % v).collect());
    let mut merged = model.clone();
    adapters.merge_into(&mut merged)?;
    let (mut l0, mut l1, mut l2) = (Vec::new(), Vec::new(), Vec::new());
    for s in &sequences {
        l0.push(model.forward_sequence(s)?);
        l1.push(forward_sequence_with_adapters(&model, &adapters, s)?);
        l2.push(merged.forward_sequence(s)?);
    }
    let j = serde_json::json!({
        "sequences": sequences,
        "logits": l0,
        "logits_adapter": l1,
        "logits_merged": l2,
    });
    fs::write(out.join("logits.json"), j.to_string())?;
    println!(
        "wrote {} ({} parameters), {} sequences",
        out.display(),
        cfg.num_parameters(),
        sequences.len()
    );
    Ok(())
}

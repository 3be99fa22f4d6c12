//! Reverse PEFT check, step 2: load an adapter written by the Python `peft` library
//! (`tools/hf-check/make_peft.py`) and compare our logits with PEFT's.
//!
//! `cargo run --release -p llm --example peft_load -- <dir> [--tol 1e-4]`
//! Prints the max abs difference; exits with status 1 above the tolerance.

use std::fs;
use std::path::PathBuf;

use llm::{LlamaModel, LoraAdapters, forward_sequence_with_adapters};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = PathBuf::from(args.first().ok_or("usage: peft_load <dir> [--tol x]")?);
    let tol: f32 = match args.iter().position(|a| a == "--tol") {
        Some(i) => args.get(i + 1).ok_or("--tol needs a value")?.parse()?,
        None => 1e-4,
    };
    let model = LlamaModel::load(
        &fs::read(dir.join("model/config.json"))?,
        &fs::read(dir.join("model/model.safetensors"))?,
    )?;
    let adapters = LoraAdapters::from_peft(
        model.config(),
        &fs::read(dir.join("peft_made/adapter_config.json"))?,
        &fs::read(dir.join("peft_made/adapter_model.safetensors"))?,
    )?;
    let reference: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.join("peft_made_logits.json"))?)?;
    let seqs = reference["sequences"].as_array().ok_or("no sequences")?;
    let logits = reference["logits"].as_array().ok_or("no logits")?;
    let mut worst = 0.0f32;
    for (s, l) in seqs.iter().zip(logits) {
        let toks: Vec<u32> = s
            .as_array()
            .ok_or("bad sequence")?
            .iter()
            .map(|v| v.as_u64().map(|x| x as u32).ok_or("bad token"))
            .collect::<Result<_, _>>()?;
        let theirs: Vec<f32> = l
            .as_array()
            .ok_or("bad logits")?
            .iter()
            .map(|v| v.as_f64().map(|x| x as f32).ok_or("bad logit"))
            .collect::<Result<_, _>>()?;
        let ours = forward_sequence_with_adapters(&model, &adapters, &toks)?;
        if ours.len() != theirs.len() {
            return Err("logit count differs".into());
        }
        for (a, b) in ours.iter().zip(&theirs) {
            worst = worst.max((a - b).abs());
        }
    }
    println!(
        "{{\"check\":\"peft_made_by_python\",\"adapter_parameters\":{},\"max_abs_diff\":{worst:e},\"tol\":{tol:e}}}",
        adapters.num_parameters()
    );
    if worst > tol {
        std::process::exit(1);
    }
    Ok(())
}

//! A model directory on disk: `config.json`, `model.safetensors`, `tokenizer.json`.
//!
//! The files are the Hugging Face layout the `llm` crate reads and writes; this module
//! only moves bytes between files and those crates and adds file names to errors.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result};
use bpe::Tokenizer;
use llm::model::LlamaModel;

/// Reads `tokenizer.json`.
pub fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Tokenizer::from_json(&bytes).with_context(|| format!("parsing {}", path.display()))
}

/// Reads a model directory (config, weights, tokenizer).
pub fn load_model_dir(dir: &Path) -> Result<(LlamaModel, Tokenizer)> {
    let config = dir.join("config.json");
    let weights = dir.join("model.safetensors");
    let cfg = fs::read(&config).with_context(|| format!("reading {}", config.display()))?;
    let st = fs::read(&weights).with_context(|| format!("reading {}", weights.display()))?;
    let model =
        LlamaModel::load(&cfg, &st).with_context(|| format!("loading {}", dir.display()))?;
    let tok = load_tokenizer(&dir.join("tokenizer.json"))?;
    anyhow::ensure!(
        model.config().vocab_size == tok.vocab_size(),
        "model vocab {} != tokenizer vocab {}",
        model.config().vocab_size,
        tok.vocab_size()
    );
    Ok((model, tok))
}

/// Writes `config.json` and `model.safetensors` into `dir` (created if needed).
pub fn save_model(dir: &Path, model: &LlamaModel) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    fs::write(dir.join("config.json"), model.config().to_json())?;
    fs::write(dir.join("model.safetensors"), model.to_safetensors()?)?;
    Ok(())
}

//! The model, loaded from the data disk: `/models/config.json`, `/models/tokenizer.json` and
//! `/models/model.safetensors` read through the file service, the f32 weights built by the
//! `llm` crate and quantized (`llm::QuantModel`, the path inference uses under TCG), checked
//! against the tokenizer, and kept behind a lock as one shared, immutable [`Loaded`].
//!
//! Memory budget: the files are read whole (each refused above its limit, [`MAX_WEIGHTS`]…),
//! and the kernel heap may grow by at most [`HEAP_BUDGET`] for the model; a load that would
//! need more is undone and reported. `llmctl status` and `meminfo` (through the
//! `nous_llm_model_bytes` series) show what the model holds and the budget.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::sync::Arc;
use core::sync::atomic::{AtomicU64, Ordering};

use bpe::Tokenizer;
use llm::{LlamaModel, QuantModel};
use llmtask::Specials;

/// Where the model lives on the data disk.
pub const DIR: &str = "/models";
/// Largest accepted `config.json`.
pub const MAX_CONFIG: usize = 64 * 1024;
/// Largest accepted `tokenizer.json`.
pub const MAX_TOKENIZER: usize = 1024 * 1024;
/// Largest accepted `model.safetensors` (the shipped model is 3.7 MB).
pub const MAX_WEIGHTS: usize = 16 * 1024 * 1024;
/// Heap the loaded model may keep (f32 weights + quantized copy + tokenizer): 24 MiB.
pub const HEAP_BUDGET: u64 = 24 * 1024 * 1024;

/// A model ready for inference.
pub struct Loaded {
    /// The f32 base weights, without any adapter (the base of fine-tuning).
    pub model: LlamaModel,
    /// The quantized copy inference uses: of the base, or of the base with the active
    /// adapter merged in.
    pub quant: QuantModel,
    /// The active adapter's name.
    pub adapter: Option<String>,
    pub tok: Tokenizer,
    pub specials: Specials,
    /// Parameters of the f32 model.
    pub parameters: u64,
}

/// What the last load did.
#[derive(Clone)]
pub enum LoadState {
    /// Nothing tried yet (the ktest image does not start subsystems).
    NotTried,
    /// Loaded in `ms` milliseconds, keeping `heap_bytes` of heap.
    Ready { ms: u64, heap_bytes: u64 },
    /// Refused, with the reason.
    Failed(String),
}

static MODEL: spin::Mutex<Option<Arc<Loaded>>> = spin::Mutex::new(None);
static STATE: spin::Mutex<LoadState> = spin::Mutex::new(LoadState::NotTried);
/// Heap held by the loaded model (0 when none), for the metric `meminfo` prints.
pub static HEAP_BYTES: AtomicU64 = AtomicU64::new(0);

/// The loaded model, if any (a cheap shared handle; no lock is held while it is used).
pub fn get() -> Option<Arc<Loaded>> {
    MODEL.lock().clone()
}

/// What the last load did.
pub fn load_state() -> LoadState {
    STATE.lock().clone()
}

fn read(name: &str, max: usize) -> Result<alloc::vec::Vec<u8>, String> {
    crate::files::read(&format!("{DIR}/{name}"), max)
}

/// Reads and builds the model (no global state touched).
fn build() -> Result<Loaded, String> {
    let config = read("config.json", MAX_CONFIG)?;
    let tok_json = read("tokenizer.json", MAX_TOKENIZER)?;
    let tok = Tokenizer::from_json(&tok_json).map_err(|e| format!("{DIR}/tokenizer.json: {e}"))?;
    drop(tok_json);
    let weights = read("model.safetensors", MAX_WEIGHTS)?;
    let model =
        LlamaModel::load(&config, &weights).map_err(|e| format!("{DIR}/model.safetensors: {e}"))?;
    drop(weights);
    let specials =
        llmtask::check_pair(model.config().vocab_size, &tok).map_err(|e| format!("{DIR}: {e}"))?;
    let quant = QuantModel::from_model(&model).map_err(|e| format!("quantizing: {e}"))?;
    let parameters = model.config().num_parameters() as u64;
    Ok(Loaded {
        model,
        quant,
        adapter: None,
        tok,
        specials,
        parameters,
    })
}

/// Loads (or reloads) the model; returns a one-line report. The previous model stays in use
/// until the new one is ready.
pub fn load() -> Result<String, String> {
    let heap_before = hal::mem::heap::stats().used_bytes;
    let started = hal::time::now_ns();
    let result = build().and_then(|loaded| {
        let held = hal::mem::heap::stats()
            .used_bytes
            .saturating_sub(heap_before);
        if held > HEAP_BUDGET {
            return Err(format!(
                "the model needs {} KiB of heap, over its budget of {} KiB",
                held / 1024,
                HEAP_BUDGET / 1024
            ));
        }
        Ok((loaded, held))
    });
    let ms = hal::time::now_ns().saturating_sub(started) / 1_000_000;
    match result {
        Ok((loaded, held)) => {
            let line = format!(
                "llm: model loaded from {DIR} in {ms} ms: {} parameters, vocabulary {}, {} KiB of heap (budget {} KiB)",
                loaded.parameters,
                loaded.tok.vocab_size(),
                held / 1024,
                HEAP_BUDGET / 1024
            );
            *MODEL.lock() = Some(Arc::new(loaded));
            HEAP_BYTES.store(held, Ordering::Relaxed);
            *STATE.lock() = LoadState::Ready {
                ms,
                heap_bytes: held,
            };
            Ok(line)
        }
        Err(e) => {
            *STATE.lock() = LoadState::Failed(e.clone());
            Err(e)
        }
    }
}

/// Replaces the loaded model's inference weights: the base with `adapters` merged in (or the
/// base alone for `None`). The f32 merge is a temporary copy; only its quantized form stays.
pub fn install_adapter(adapter: Option<(String, &llm::LoraAdapters)>) -> Result<(), String> {
    let current = get().ok_or_else(|| String::from("no model loaded"))?;
    let (name, quant) = match adapter {
        Some((name, adapters)) => {
            let mut merged = current.model.clone();
            adapters
                .merge_into(&mut merged)
                .map_err(|e| format!("adapter {name}: {e}"))?;
            let quant = QuantModel::from_model(&merged).map_err(|e| format!("quantizing: {e}"))?;
            (Some(name), quant)
        }
        None => (
            None,
            QuantModel::from_model(&current.model).map_err(|e| format!("quantizing: {e}"))?,
        ),
    };
    let next = Loaded {
        model: current.model.clone(),
        quant,
        adapter: name,
        tok: current.tok.clone(),
        specials: current.specials,
        parameters: current.parameters,
    };
    drop(current);
    *MODEL.lock() = Some(Arc::new(next));
    Ok(())
}

/// A short name of the load state for `llmctl status`.
pub fn describe(state: &LoadState) -> String {
    match state {
        LoadState::NotTried => "not loaded (not tried)".to_string(),
        LoadState::Ready { ms, heap_bytes } => format!(
            "loaded in {ms} ms, {} KiB of heap (budget {} KiB)",
            heap_bytes / 1024,
            HEAP_BUDGET / 1024
        ),
        LoadState::Failed(e) => format!("not loaded: {e}"),
    }
}

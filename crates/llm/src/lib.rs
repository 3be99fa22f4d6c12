//! `llm` — a Llama-style decoder-only language model that runs inside the Nous kernel.
//!
//! Design principles:
//! - **Bytes in, values out.** Weights arrive as `&[u8]` (safetensors + config.json, Hugging Face
//!   names); the crate never touches a file system or hardware. `no_std + alloc`; no `unsafe`
//!   except one audited block in `simd`: the call of the SSE2 `pmaddwd` dot product of the
//!   quantized path, compiled only when the build targets SSE2 (scalar fallback otherwise; a
//!   test checks the two agree bit for bit).
//! - **One f32 reference path, written plainly.** Row-major tensors, one matmul kernel family in
//!   [`ops`] that every layer shares, so correctness is checked once (finite differences, KV cache
//!   against full sequence, Hugging Face logits) and speed is tuned once.
//! - **Bad input is an [`Error`], never a panic**: malformed files, out-of-range tokens, a full
//!   context, an all-masked constrained step.
//! - **Deterministic.** Every random choice (init, sampling, LoRA init) comes from [`rng::Rng`]
//!   seeded by the caller, identical on every platform.
//!
//! # API overview (for callers such as `tools/nous-llm` and, later, the kernel)
//!
//! ```text
//! // config.rs — mirrors HF config.json
//! LlamaConfig { vocab_size, hidden_size, intermediate_size, num_hidden_layers,
//!               num_attention_heads, num_key_value_heads, max_position_embeddings,
//!               rms_norm_eps, rope_theta, tie_word_embeddings, bos_token_id, eos_token_id }
//! LlamaConfig::from_json(&[u8]) -> Result<LlamaConfig, Error>;  cfg.to_json() -> String
//! cfg.validate() -> Result<(), Error>;  cfg.head_dim();  cfg.num_parameters()
//!
//! // model.rs — the weights (HF layout: linear weights are [out, in] row-major)
//! LlamaModel::new_random(cfg, seed) -> Result<LlamaModel, Error>
//! LlamaModel::from_safetensors(cfg, &[u8]) -> Result<LlamaModel, Error>   // f32, f16, bf16
//! LlamaModel::load(config_json: &[u8], safetensors: &[u8]) -> Result<LlamaModel, Error>
//! model.to_safetensors() -> Result<Vec<u8>, Error>       // f32, HF names
//! model.config() -> &LlamaConfig
//! model.forward_sequence(&[u32]) -> Result<Vec<f32>, Error>  // logits [T * vocab], no cache
//!   // (defined in train/forward.rs: it is the training forward pass without saved state)
//!
//! // infer.rs — incremental decoding with a KV cache
//! let mut s = Session::new(&model);   // owns the cache + scratch; also Session::new(&quant_model)
//! s.feed(token) -> Result<&[f32], Error>                 // logits for the next position
//! Session::with_capacity(&model, positions)              // smaller KV cache (kernel memory)
//! s.feed_all(&[u32]) -> Result<&[f32], Error>;  s.position();  s.reset();  s.memory_bytes()
//!
//! // quant.rs — i16 (12-bit) weight/activation inference for the kernel under TCG (same Session)
//! let q = QuantModel::from_model(&model)?;  let mut s = Session::new(&q);  s.feed(tok)?
//!
//! // generate.rs
//! GenerateOptions { max_new_tokens, sampling: Sampling, stop_tokens: Vec<u32>, seed }
//! Sampling::Greedy | Sampling::Random { temperature, top_k /*0 = off*/, top_p /*1.0 = off*/ }
//! trait LogitsMask { fn mask(&mut self, generated: &[u32], logits: &mut [f32]); }
//!   // any FnMut(&[u32], &mut [f32]) is a LogitsMask; set logits to f32::NEG_INFINITY to forbid
//! generate(&model, prompt, &opts, &mut mask) -> Result<Generation, Error>  // model: LlamaModel or QuantModel
//! generate::choose(&logits, &Sampling, &mut Rng, &mut scratch) -> Option<u32>  // one sampling step
//! generate_unconstrained(&model, prompt, &opts) -> Result<Generation, Error>
//! Generation { tokens: Vec<u32> /*new tokens, stop token excluded*/, stop: StopReason }
//!
//! // train/ — full backprop, AdamW, clipping, warmup + cosine
//! //   forward.rs (saved activations), loss.rs, backward.rs, optim.rs, trainer.rs
//! TrainExample { tokens: Vec<u32>, loss_mask: Vec<bool> }
//!   // loss_mask.len() == tokens.len(); loss_mask[t] = "tokens[t] is an answer token": the
//!   // prediction of tokens[t] from position t-1 enters the loss. loss_mask[0] must be false.
//! TrainConfig { lr, warmup_steps, total_steps, min_lr_ratio, beta1, beta2, eps,
//!               weight_decay, clip_norm }          // TrainConfig::default() is sensible
//! let mut t = Trainer::new(model, TrainConfig) -> Result<Trainer, Error>
//! t.train_step(&[TrainExample]) -> Result<StepStats { loss, grad_norm, lr }, Error>
//! t.eval_loss(&[TrainExample]) -> Result<f32, Error>;  t.model();  t.into_model();  t.step()
//! eval_loss(&model, Option<&LoraAdapters>, &[TrainExample]) -> Result<f32, Error>
//! loss_and_grads(&model, &[TrainExample]) -> Result<(f32, Params), Error>   // raw gradients
//!
//! // lora/ — adapters.rs (tensors, merge, hooks), peft.rs (files), trainer.rs (cheap training)
//! LoraConfig { rank, alpha, targets: Vec<LoraTarget>, layers: Option<Vec<usize>> }
//! LoraTarget::{Q, K, V, O, Gate, Up, Down}
//! LoraAdapters::new(&LlamaConfig, LoraConfig, seed) -> Result<LoraAdapters, Error>
//! adapters.merge_into(&mut model)?;  adapters.unmerge_from(&mut model)?
//! adapters.to_peft() -> Result<PeftFiles { adapter_model_safetensors: Vec<u8>,
//!                                          adapter_config_json: String }, Error>
//! LoraAdapters::from_peft(&LlamaConfig, config_json: &[u8], safetensors: &[u8])
//! adapters.num_parameters(); adapters.size_bytes()
//! let mut lt = LoraTrainer::new(&base_model, adapters, TrainConfig, examples: Vec<TrainExample>)?
//!   // runs the frozen layers below the lowest adapted layer once per example, here
//! lt.train_step(&[usize] /*indices into examples*/) -> Result<StepStats, Error>
//! lt.adapters() -> &LoraAdapters;  lt.into_adapters();  lt.cache_bytes()
//! lora::forward_sequence_with_adapters(&model, &adapters, &[u32]) -> Result<Vec<f32>, Error>
//! lora::lora_loss_and_grads(&model, &adapters, &[TrainExample]) -> Result<(f32, LoraAdapters), Error>
//! ```
//!
//! Module map: [`config`] → [`model`] (weights, init) + [`weights`] (safetensors) → [`ops`]
//! (kernels) → [`infer`] (KV cache) → [`mod@generate`] (sampling, masking); [`quant`] (i16 path,
//! SSE2 in `simd`). [`train`] is a folder: `forward` (activations kept; also
//! `LlamaModel::forward_sequence`), `loss` (examples, masked cross-entropy), `backward`,
//! `optim` (AdamW, clipping, schedule) and `trainer` ([`Trainer`]). [`lora`] is a folder too:
//! `adapters` (tensors, merge/unmerge, the hooks the training forward/backward call), `peft`
//! (PEFT files) and `trainer` ([`LoraTrainer`], which reuses the forward/backward and AdamW of
//! [`train`]). [`model`] depends on neither.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)] // the single exception is the audited `simd` module

extern crate alloc;

pub mod config;
pub mod error;
pub mod generate;
pub mod infer;
pub mod lora;
pub mod model;
pub mod ops;
pub mod quant;
pub mod rng;
mod simd;
pub mod train;
pub mod weights;

pub use config::LlamaConfig;
pub use error::Error;
pub use generate::{
    GenerateOptions, Generation, LogitsMask, NoMask, Sampling, StopReason, generate,
    generate_unconstrained,
};
pub use infer::{DecodeWeights, Proj, Session};
pub use lora::{
    LoraAdapters, LoraConfig, LoraPair, LoraTarget, LoraTrainer, PeftFiles,
    forward_sequence_with_adapters, lora_loss_and_grads,
};
pub use model::{LlamaModel, Params};
pub use quant::QuantModel;
pub use rng::Rng;
pub use train::{StepStats, TrainConfig, TrainExample, Trainer, eval_loss, loss_and_grads};

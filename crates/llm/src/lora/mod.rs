//! LoRA: low-rank adapters `W' = W + (alpha / r) · B · A` on selected projections of selected
//! layers, stored in PEFT's file format and trained cheaply with the base model frozen.
//!
//! One concern per file:
//! - `adapters` — [`LoraTarget`], [`LoraConfig`], [`LoraPair`], [`LoraAdapters`]: the tensors,
//!   their init (A Kaiming-uniform, B zero, so a new adapter leaves the model unchanged),
//!   merge/unmerge, the forward/backward hooks the training passes call, and
//!   [`forward_sequence_with_adapters`];
//! - `peft` — [`PeftFiles`], [`LoraAdapters::to_peft`] / [`LoraAdapters::from_peft`]:
//!   `adapter_model.safetensors` with names
//!   `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` and an
//!   `adapter_config.json` with `peft_type: "LORA"`;
//! - `trainer` — [`LoraTrainer`] (adapter-only AdamW) and [`lora_loss_and_grads`].
//!
//! Cheap training: the layers below the lowest adapted layer do not change, so
//! [`LoraTrainer::new`] runs them once per example and keeps their output; each step runs and
//! backpropagates only the adapted top of the network. Forward/backward are shared with full
//! training in [`crate::train`].
//!
//! The submodules are private to the crate; the public items are re-exported here, at the
//! paths they have always had (`llm::lora::LoraAdapters`, …).

pub(crate) mod adapters;
pub(crate) mod peft;
pub(crate) mod trainer;

pub use adapters::{
    LoraAdapters, LoraConfig, LoraPair, LoraTarget, NUM_TARGETS, forward_sequence_with_adapters,
};
pub use peft::PeftFiles;
pub use trainer::{LoraTrainer, lora_loss_and_grads};

//! Training: batched forward with saved activations, full backpropagation, masked
//! cross-entropy, AdamW with decoupled weight decay, global-norm clipping, warmup + cosine.
//!
//! One concern per file:
//! - `forward` — the whole-sequence forward pass that keeps activations (`Acts`); also
//!   defines [`LlamaModel::forward_sequence`](crate::model::LlamaModel::forward_sequence);
//! - `loss` — [`TrainExample`] (tokens + loss mask), batch checks, masked cross-entropy and
//!   its gradient with respect to the logits;
//! - `backward` — backpropagation from the logits down to the weights (and adapters);
//! - `optim` — [`TrainConfig`] and the AdamW state with clipping and the schedule;
//! - `trainer` — [`Trainer`], [`StepStats`], [`loss_and_grads`], [`eval_loss`].
//!
//! The forward/backward here is shared by full training ([`Trainer`]) and LoRA training
//! ([`crate::lora::LoraTrainer`]): every projection goes through `linear_fwd`/`linear_bwd`,
//! which add the low-rank path (the hooks in `crate::lora::adapters`) when an adapter is
//! present, and the backward pass computes base gradients only when asked (`grads: Some`).
//! The forward can start at any layer from a given hidden state, which is how LoRA training
//! reuses the frozen lower layers' output. Correctness is pinned by finite-difference tests
//! (tests/gradients.rs) and by comparing `forward_logits` with the KV-cache path in
//! [`crate::infer`].
//!
//! The submodules are private to the crate; the public items are re-exported here, at the
//! paths they have always had (`llm::train::Trainer`, …).

pub(crate) mod backward;
pub(crate) mod forward;
pub mod frozen;
pub(crate) mod loss;
pub(crate) mod optim;
pub(crate) mod trainer;

pub use frozen::FrozenQuant;
pub use loss::TrainExample;
pub use optim::TrainConfig;
pub use trainer::{StepStats, Trainer, eval_loss, loss_and_grads};

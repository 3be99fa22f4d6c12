//! LoRA training: [`LoraTrainer`] (adapter-only AdamW over a fixed set of examples) and
//! [`lora_loss_and_grads`] (raw adapter gradients for tests and tools).
//!
//! The base model is borrowed immutably, so it is frozen by construction. Cheap training: the
//! layers below the lowest adapted layer do not change, so [`LoraTrainer::new`] runs them once
//! per example and keeps their output (the frozen-prefix cache); each step runs and
//! backpropagates only the adapted top of the network.
//!
//! Neighbours: [`super::adapters`] (what is trained); [`crate::train`] supplies the forward
//! pass from a given layer, the masked loss, the backward pass with adapter gradients, and the
//! AdamW state shared with full training.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use super::adapters::LoraAdapters;
use crate::error::Error;
use crate::model::LlamaModel;
use crate::train::FrozenQuant;
use crate::train::backward::backward;
use crate::train::forward::{forward_from, hidden_before};
use crate::train::loss::{TrainExample, batch_norm, loss_and_dlogits};
use crate::train::optim::{AdamState, TrainConfig};
use crate::train::trainer::{StepStats, accumulate};

/// Mean masked loss of `batch` through `model` + `adapters`, and the gradient with respect to
/// every adapter matrix (returned in an adapter set of the same layout). The base model gets
/// no gradient. For tests and tools; [`LoraTrainer`] is the usual entry point.
pub fn lora_loss_and_grads(
    model: &LlamaModel,
    adapters: &LoraAdapters,
    batch: &[TrainExample],
) -> Result<(f32, LoraAdapters), Error> {
    adapters.check_compatible(model.config())?;
    let mut grads = adapters.zeros_like();
    let loss = accumulate(model, Some(adapters), batch, None, Some(&mut grads))?;
    Ok((loss, grads))
}

/// Adapter-only trainer over a fixed dataset (the frozen-prefix cache is built per example).
#[derive(Debug)]
pub struct LoraTrainer<'m> {
    base: &'m LlamaModel,
    adapters: LoraAdapters,
    grads: LoraAdapters,
    opt: AdamState,
    cfg: TrainConfig,
    examples: Vec<TrainExample>,
    start_layer: usize,
    /// Hidden state entering `start_layer`, per example (`[T, hidden]`).
    cache: Vec<Vec<f32>>,
    /// Integer copies of the frozen weights from `start_layer` up, once
    /// [`LoraTrainer::with_integer_frozen_weights`] asked for them.
    frozen: Option<FrozenQuant>,
}

impl<'m> LoraTrainer<'m> {
    /// Validate everything, then run the frozen layers below the lowest adapted layer once
    /// per example and keep their output.
    pub fn new(
        base: &'m LlamaModel,
        adapters: LoraAdapters,
        cfg: TrainConfig,
        examples: Vec<TrainExample>,
    ) -> Result<LoraTrainer<'m>, Error> {
        Self::with_prefix(base, adapters, cfg, examples, |tokens, layers| {
            Ok(hidden_before(base, None, tokens, layers))
        })
    }

    /// As [`LoraTrainer::new`], with the frozen-prefix cache computed by `prefix(tokens,
    /// layers)`: the hidden state entering layer `layers`, `[tokens.len(), hidden]`. The kernel
    /// passes the quantized decoder's ([`crate::infer::Session::hidden_before_layer`]), so the
    /// adapters learn on the activations they will see at inference, at integer speed.
    pub fn with_prefix(
        base: &'m LlamaModel,
        adapters: LoraAdapters,
        cfg: TrainConfig,
        examples: Vec<TrainExample>,
        mut prefix: impl FnMut(&[u32], usize) -> Result<Vec<f32>, Error>,
    ) -> Result<LoraTrainer<'m>, Error> {
        cfg.validate()?;
        adapters.check_compatible(base.config())?;
        for (i, ex) in examples.iter().enumerate() {
            ex.check(i, base)?;
        }
        let start_layer = adapters.lowest_layer();
        let hidden = base.config().hidden_size;
        let mut cache = Vec::with_capacity(examples.len());
        for (i, ex) in examples.iter().enumerate() {
            let rows = prefix(&ex.tokens, start_layer)?;
            if rows.len() != ex.tokens.len() * hidden || rows.iter().any(|v| !v.is_finite()) {
                return Err(Error::InvalidExample {
                    index: i,
                    reason: format!(
                        "frozen-prefix cache has {} values (expected {} finite)",
                        rows.len(),
                        ex.tokens.len() * hidden
                    ),
                });
            }
            cache.push(rows);
        }
        let grads = adapters.zeros_like();
        let opt = AdamState::new(adapters.tensors().iter().map(|t| t.len()));
        Ok(LoraTrainer {
            base,
            adapters,
            grads,
            opt,
            cfg,
            examples,
            start_layer,
            cache,
            frozen: None,
        })
    }

    /// Multiply by the frozen weights of the adapted layers and the head in integer
    /// arithmetic, as the quantized decoder does ([`FrozenQuant`]): the products with weights
    /// that never change are most of a step, and integer ones are several times cheaper than
    /// f32 under QEMU TCG. The kernel's fine-tune (and its host reference) use this together
    /// with the quantized frozen-prefix cache; the f32 path stays the default (and is what the
    /// gradient tests check against finite differences).
    pub fn with_integer_frozen_weights(mut self) -> Result<LoraTrainer<'m>, Error> {
        self.frozen = Some(FrozenQuant::new(self.base, self.start_layer)?);
        Ok(self)
    }

    /// One AdamW step on the examples at `indices` (may repeat). On error nothing changes.
    pub fn train_step(&mut self, indices: &[usize]) -> Result<StepStats, Error> {
        let mut batch = Vec::with_capacity(indices.len());
        for &i in indices {
            let ex = self.examples.get(i).ok_or_else(|| Error::InvalidExample {
                index: i,
                reason: format!("index out of range ({} examples)", self.examples.len()),
            })?;
            batch.push(ex);
        }
        let mut n = 0usize;
        for ex in &batch {
            n += ex.scored();
        }
        if n == 0 {
            return Err(Error::EmptyBatch);
        }
        let norm = n as f32;
        let vocab = self.base.config().vocab_size;
        for t in self.grads.tensors_mut() {
            t.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut loss = 0.0;
        for (&i, ex) in indices.iter().zip(&batch) {
            let mut acts = forward_from(
                self.base,
                self.frozen.as_ref(),
                Some(&self.adapters),
                self.start_layer,
                self.cache[i].clone(),
                Some(&ex.loss_mask),
            );
            loss += loss_and_dlogits(&mut acts.logits, ex, vocab, norm);
            backward(
                self.base,
                self.frozen.as_ref(),
                Some(&self.adapters),
                &acts,
                &ex.tokens,
                None,
                Some(&mut self.grads),
            );
        }
        let loss = loss / norm;
        if !loss.is_finite() {
            return Err(Error::NonFinite);
        }
        let decay = vec![true; self.opt.m.len()];
        let (grad_norm, lr) = self.opt.update(
            &self.cfg,
            self.adapters.tensors_mut(),
            self.grads.tensors_mut(),
            &decay,
        )?;
        Ok(StepStats {
            loss,
            grad_norm,
            lr,
        })
    }

    /// Mean masked loss over the examples at `indices` with the current adapters.
    pub fn eval_loss(&self, indices: &[usize]) -> Result<f32, Error> {
        let batch: Vec<TrainExample> = indices
            .iter()
            .map(|&i| {
                self.examples
                    .get(i)
                    .cloned()
                    .ok_or_else(|| Error::InvalidExample {
                        index: i,
                        reason: "index out of range".into(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let n = batch_norm(self.base, &batch)? as f32;
        let vocab = self.base.config().vocab_size;
        let mut loss = 0.0;
        for (&i, ex) in indices.iter().zip(&batch) {
            let mut acts = forward_from(
                self.base,
                self.frozen.as_ref(),
                Some(&self.adapters),
                self.start_layer,
                self.cache[i].clone(),
                Some(&ex.loss_mask),
            );
            loss += loss_and_dlogits(&mut acts.logits, ex, vocab, n);
        }
        Ok(loss / n)
    }

    /// Number of training examples.
    pub fn num_examples(&self) -> usize {
        self.examples.len()
    }

    /// The adapters being trained.
    pub fn adapters(&self) -> &LoraAdapters {
        &self.adapters
    }

    /// Finish and take the adapters.
    pub fn into_adapters(self) -> LoraAdapters {
        self.adapters
    }

    /// First layer that is run per step (layers below it are cached).
    pub fn start_layer(&self) -> usize {
        self.start_layer
    }

    /// Bytes held by the frozen-prefix cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.iter().map(|c| c.len() * 4).sum()
    }

    /// Bytes held by adapters + gradients + AdamW moments (4 copies of the adapter).
    pub fn optimizer_bytes(&self) -> usize {
        self.adapters.size_bytes() * 4
    }
}

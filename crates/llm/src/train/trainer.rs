//! The full-model trainer, which ties forward, loss, backward and optimiser together.
//!
//! Key items: [`Trainer`] (owns the model, a gradient [`Params`] and the [`AdamState`];
//! [`Trainer::train_step`] = gradients of a batch, then one AdamW update), [`StepStats`]
//! (what a step did; also returned by [`crate::lora::LoraTrainer`]), and the free functions
//! [`loss_and_grads`] (raw gradients) and [`eval_loss`] (forward only, optionally with
//! unmerged adapters). `accumulate` is the per-batch loop shared with
//! [`crate::lora::lora_loss_and_grads`].
//!
//! Neighbours: [`super::forward`], [`super::loss`], [`super::backward`], [`super::optim`];
//! [`crate::model::norm_indices`] says which tensors are exempt from weight decay.

use alloc::vec::Vec;

use super::backward::backward;
use super::forward::{embed, forward_from, forward_logits};
use super::loss::{TrainExample, batch_norm, loss_and_dlogits};
use super::optim::{AdamState, TrainConfig};
use crate::error::Error;
use crate::lora::adapters::LoraAdapters;
use crate::model::{LlamaModel, Params, norm_indices};

/// What one optimiser step did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// Mean cross-entropy over the scored tokens of the batch (before the update).
    pub loss: f32,
    /// Global gradient norm before clipping.
    pub grad_norm: f32,
    /// Learning rate used.
    pub lr: f32,
}

/// Mean masked loss and gradients of a batch (full model). Public for tests and tools that
/// want raw gradients; [`Trainer::train_step`] is the usual entry point.
pub fn loss_and_grads(model: &LlamaModel, batch: &[TrainExample]) -> Result<(f32, Params), Error> {
    let mut grads = Params::zeros(model.config());
    let loss = accumulate(model, None, batch, Some(&mut grads), None)?;
    Ok((loss, grads))
}

/// Forward, loss and backward of every example of `batch`; returns the mean masked loss. Base
/// gradients are added to `grads`, adapter gradients to `lora_grads` (either may be `None`).
pub(crate) fn accumulate(
    model: &LlamaModel,
    lora: Option<&LoraAdapters>,
    batch: &[TrainExample],
    mut grads: Option<&mut Params>,
    mut lora_grads: Option<&mut LoraAdapters>,
) -> Result<f32, Error> {
    let n = batch_norm(model, batch)? as f32;
    let vocab = model.config().vocab_size;
    let mut loss = 0.0;
    for ex in batch {
        let mut acts = forward_from(
            model,
            None,
            lora,
            0,
            embed(model, &ex.tokens),
            Some(&ex.loss_mask),
        );
        loss += loss_and_dlogits(&mut acts.logits, ex, vocab, n);
        backward(
            model,
            None,
            lora,
            &acts,
            &ex.tokens,
            grads.as_deref_mut(),
            lora_grads.as_deref_mut(),
        );
    }
    Ok(loss / n)
}

/// Full-model trainer: owns the model, its gradient buffer and AdamW state.
#[derive(Debug, Clone)]
pub struct Trainer {
    model: LlamaModel,
    cfg: TrainConfig,
    grads: Params,
    opt: AdamState,
    decay: Vec<bool>,
}

impl Trainer {
    /// Start training `model` with `cfg`.
    pub fn new(model: LlamaModel, cfg: TrainConfig) -> Result<Trainer, Error> {
        cfg.validate()?;
        let grads = Params::zeros(model.config());
        let opt = AdamState::new(grads.tensors().iter().map(|t| t.len()));
        let norms = norm_indices(model.config());
        let decay = (0..grads.tensors().len())
            .map(|i| !norms.contains(&i))
            .collect();
        Ok(Trainer {
            model,
            cfg,
            grads,
            opt,
            decay,
        })
    }

    /// One optimiser step on `batch` (loss averaged over all scored tokens of the batch).
    /// On error the model is unchanged.
    pub fn train_step(&mut self, batch: &[TrainExample]) -> Result<StepStats, Error> {
        self.grads.fill_zero();
        let loss = accumulate(&self.model, None, batch, Some(&mut self.grads), None)?;
        if !loss.is_finite() {
            return Err(Error::NonFinite);
        }
        let (grad_norm, lr) = self.opt.update(
            &self.cfg,
            self.model.params.tensors_mut(),
            self.grads.tensors_mut(),
            &self.decay,
        )?;
        Ok(StepStats {
            loss,
            grad_norm,
            lr,
        })
    }

    /// Mean masked loss of `batch` under the current parameters (no update).
    pub fn eval_loss(&self, batch: &[TrainExample]) -> Result<f32, Error> {
        eval_loss(&self.model, None, batch)
    }

    /// The model being trained.
    pub fn model(&self) -> &LlamaModel {
        &self.model
    }

    /// Finish training and take the model.
    pub fn into_model(self) -> LlamaModel {
        self.model
    }

    /// Number of optimiser steps taken.
    pub fn step(&self) -> u64 {
        self.opt.step
    }

    /// The hyperparameters.
    pub fn config(&self) -> &TrainConfig {
        &self.cfg
    }
}

/// Mean masked cross-entropy of `batch` (forward only).
pub fn eval_loss(
    model: &LlamaModel,
    lora: Option<&LoraAdapters>,
    batch: &[TrainExample],
) -> Result<f32, Error> {
    let n = batch_norm(model, batch)? as f32;
    let vocab = model.config().vocab_size;
    let mut loss = 0.0;
    for ex in batch {
        let mut logits = forward_logits(model, lora, &ex.tokens)?;
        loss += loss_and_dlogits(&mut logits, ex, vocab, n);
    }
    Ok(loss / n)
}

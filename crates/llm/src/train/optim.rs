//! The optimiser: AdamW with decoupled weight decay, global gradient-norm clipping, and a
//! linear-warmup + cosine learning-rate schedule.
//!
//! Key types: [`TrainConfig`] (all hyperparameters, [`TrainConfig::lr_at`] is the schedule)
//! and [`AdamState`] (first/second moments for a list of tensors and the step counter, with
//! one [`AdamState::update`] for clip + schedule + AdamW). It only sees flat `&mut [f32]`
//! tensors, so the same code updates a full [`crate::model::Params`] in
//! [`super::trainer::Trainer`] and LoRA matrices in [`crate::lora::LoraTrainer`].

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::Error;

/// Optimiser and schedule hyperparameters.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Peak learning rate.
    pub lr: f32,
    /// Linear warmup length in steps (0 = none).
    pub warmup_steps: u32,
    /// Steps over which the cosine decays to `lr * min_lr_ratio`; later steps stay there.
    pub total_steps: u32,
    /// Final learning rate as a fraction of `lr`.
    pub min_lr_ratio: f32,
    /// AdamW β₁.
    pub beta1: f32,
    /// AdamW β₂.
    pub beta2: f32,
    /// AdamW ε.
    pub eps: f32,
    /// Decoupled weight decay (not applied to RMSNorm weights).
    pub weight_decay: f32,
    /// Global gradient-norm clip; `0` or infinity disables clipping.
    pub clip_norm: f32,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lr: 3e-3,
            warmup_steps: 50,
            total_steps: 1000,
            min_lr_ratio: 0.1,
            beta1: 0.9,
            beta2: 0.95,
            eps: 1e-8,
            weight_decay: 0.01,
            clip_norm: 1.0,
        }
    }
}

impl TrainConfig {
    /// Reject values that would make the optimiser misbehave.
    pub fn validate(&self) -> Result<(), Error> {
        let ok = self.lr.is_finite()
            && self.lr >= 0.0
            && (0.0..1.0).contains(&self.beta1)
            && (0.0..1.0).contains(&self.beta2)
            && self.eps.is_finite()
            && self.eps > 0.0
            && self.weight_decay.is_finite()
            && self.weight_decay >= 0.0
            && (0.0..=1.0).contains(&self.min_lr_ratio)
            && self.clip_norm >= 0.0;
        if ok {
            Ok(())
        } else {
            Err(Error::InvalidTrainConfig(format!("{self:?}")))
        }
    }

    /// Learning rate for 0-based `step`: linear warmup, then cosine to `lr * min_lr_ratio`.
    pub fn lr_at(&self, step: u64) -> f32 {
        let w = self.warmup_steps as u64;
        if step < w {
            return self.lr * (step + 1) as f32 / w as f32;
        }
        let span = (self.total_steps as u64).saturating_sub(w).max(1);
        let p = ((step - w) as f32 / span as f32).min(1.0);
        let cos = 0.5 * (1.0 + libm::cosf(core::f32::consts::PI * p));
        self.lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cos)
    }
}

/// AdamW state for a list of tensors, plus the shared update rule (used by
/// [`crate::train::Trainer`] and [`crate::lora::LoraTrainer`]).
#[derive(Debug, Clone)]
pub(crate) struct AdamState {
    pub(crate) m: Vec<Vec<f32>>,
    pub(crate) v: Vec<Vec<f32>>,
    pub(crate) step: u64,
}

impl AdamState {
    pub(crate) fn new(sizes: impl Iterator<Item = usize>) -> AdamState {
        let (m, v) = sizes.map(|n| (vec![0.0; n], vec![0.0; n])).unzip();
        AdamState { m, v, step: 0 }
    }

    /// Clip `grads` to `cfg.clip_norm`, then apply one AdamW update. `decay[i]` says whether
    /// tensor `i` gets weight decay. Returns (grad norm before clipping, lr). Leaves everything
    /// untouched and returns `NonFinite` if the gradient norm is not finite.
    pub(crate) fn update(
        &mut self,
        cfg: &TrainConfig,
        params: Vec<&mut [f32]>,
        grads: Vec<&mut [f32]>,
        decay: &[bool],
    ) -> Result<(f32, f32), Error> {
        let mut sq = 0.0f64;
        for g in &grads {
            sq += g.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
        }
        let norm = libm::sqrt(sq) as f32;
        if !norm.is_finite() {
            return Err(Error::NonFinite);
        }
        let clip = if cfg.clip_norm > 0.0 && cfg.clip_norm.is_finite() && norm > cfg.clip_norm {
            cfg.clip_norm / norm
        } else {
            1.0
        };
        let lr = cfg.lr_at(self.step);
        self.step += 1;
        let bc1 = 1.0 - libm::powf(cfg.beta1, self.step as f32);
        let bc2 = 1.0 - libm::powf(cfg.beta2, self.step as f32);
        for (i, (p, g)) in params.into_iter().zip(grads).enumerate() {
            let (m, v) = (&mut self.m[i], &mut self.v[i]);
            let wd = if decay.get(i).copied().unwrap_or(false) {
                1.0 - lr * cfg.weight_decay
            } else {
                1.0
            };
            for (((pj, gj), mj), vj) in p
                .iter_mut()
                .zip(g.iter())
                .zip(m.iter_mut())
                .zip(v.iter_mut())
            {
                let gj = gj * clip;
                *mj = cfg.beta1 * *mj + (1.0 - cfg.beta1) * gj;
                *vj = cfg.beta2 * *vj + (1.0 - cfg.beta2) * gj * gj;
                let mhat = *mj / bc1;
                let vhat = *vj / bc2;
                *pj = *pj * wd - lr * mhat / (libm::sqrtf(vhat) + cfg.eps);
            }
        }
        Ok((norm, lr))
    }
}

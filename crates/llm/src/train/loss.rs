//! What training scores and how: [`TrainExample`] (tokens plus a loss mask), batch
//! validation, and the masked cross-entropy whose gradient starts the backward pass.
//!
//! The loss of a batch is the mean over *all scored tokens of the batch* (not per sequence):
//! [`batch_norm`] counts them, and [`loss_and_dlogits`] divides each row's gradient by that
//! count, so per-sequence backward passes simply add up.
//!
//! Neighbours: [`super::forward`] produces the logits, [`super::backward`] consumes the
//! `dlogits` written over them; [`super::trainer`] and [`crate::lora`]'s trainer drive the
//! three.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::Error;
use crate::model::LlamaModel;
use crate::ops::softmax;

/// One training sequence.
///
/// `loss_mask.len() == tokens.len()`; `loss_mask[t]` says `tokens[t]` is an answer token: the
/// prediction of `tokens[t]` from position `t - 1` enters the loss. `loss_mask[0]` must be
/// false (nothing predicts the first token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainExample {
    /// Token ids, prompt and answer.
    pub tokens: Vec<u32>,
    /// Which tokens are scored.
    pub loss_mask: Vec<bool>,
}

impl TrainExample {
    /// Score every token after the first (plain language-model training).
    pub fn all_tokens(tokens: Vec<u32>) -> TrainExample {
        let mut loss_mask = vec![true; tokens.len()];
        if let Some(first) = loss_mask.first_mut() {
            *first = false;
        }
        TrainExample { tokens, loss_mask }
    }

    /// Score only the answer: `prompt` unscored, `answer` scored.
    pub fn prompt_answer(prompt: &[u32], answer: &[u32]) -> TrainExample {
        let mut tokens = prompt.to_vec();
        tokens.extend_from_slice(answer);
        let mut loss_mask = vec![false; prompt.len()];
        loss_mask.extend(core::iter::repeat_n(true, answer.len()));
        if let Some(first) = loss_mask.first_mut() {
            *first = false;
        }
        TrainExample { tokens, loss_mask }
    }

    /// Number of scored tokens.
    pub fn scored(&self) -> usize {
        self.loss_mask.iter().skip(1).filter(|&&m| m).count()
    }

    pub(crate) fn check(&self, index: usize, model: &LlamaModel) -> Result<(), Error> {
        let bad = |reason: &str| Error::InvalidExample {
            index,
            reason: reason.into(),
        };
        if self.tokens.len() < 2 {
            return Err(bad("needs at least 2 tokens"));
        }
        if self.loss_mask.len() != self.tokens.len() {
            return Err(Error::InvalidExample {
                index,
                reason: format!(
                    "loss_mask has {} entries for {} tokens",
                    self.loss_mask.len(),
                    self.tokens.len()
                ),
            });
        }
        if self.loss_mask[0] {
            return Err(bad("loss_mask[0] must be false"));
        }
        model
            .check_tokens(&self.tokens)
            .map_err(|e| Error::InvalidExample {
                index,
                reason: format!("{e}"),
            })
    }
}

/// Validate a batch and return its total number of scored tokens.
pub(crate) fn batch_norm(model: &LlamaModel, batch: &[TrainExample]) -> Result<usize, Error> {
    let mut n = 0;
    for (i, ex) in batch.iter().enumerate() {
        ex.check(i, model)?;
        n += ex.scored();
    }
    if n == 0 {
        return Err(Error::EmptyBatch);
    }
    Ok(n)
}

/// Masked cross-entropy of one sequence: returns the summed loss and writes
/// `dlogits = (softmax − onehot) / norm` on scored rows (zero elsewhere), in place of logits.
pub(crate) fn loss_and_dlogits(
    logits: &mut [f32],
    ex: &TrainExample,
    vocab: usize,
    norm: f32,
) -> f32 {
    let mut loss = 0.0f32;
    for (t, row) in logits.chunks_exact_mut(vocab).enumerate() {
        let target = match (ex.loss_mask.get(t + 1), ex.tokens.get(t + 1)) {
            (Some(true), Some(&tok)) => tok as usize,
            _ => {
                row.iter_mut().for_each(|v| *v = 0.0);
                continue;
            }
        };
        softmax(row);
        let p = row
            .get(target)
            .copied()
            .unwrap_or(0.0)
            .max(f32::MIN_POSITIVE);
        loss -= libm::logf(p);
        if let Some(r) = row.get_mut(target) {
            *r -= 1.0;
        }
        row.iter_mut().for_each(|v| *v /= norm);
    }
    loss
}

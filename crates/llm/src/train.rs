//! Training: batched forward with saved activations, full backpropagation, masked
//! cross-entropy, AdamW with decoupled weight decay, global-norm clipping, warmup + cosine.
//!
//! The forward/backward here is shared by full training ([`Trainer`]) and LoRA training
//! ([`crate::lora::LoraTrainer`]): every projection goes through `linear_fwd`/`linear_bwd`,
//! which add the low-rank path when an adapter is present, and the backward pass computes base
//! gradients only when asked (`grads: Some`). The forward can start at any layer from a given
//! hidden state, which is how LoRA training reuses the frozen lower layers' output.
//! Correctness is pinned by finite-difference tests (tests/gradients.rs) and by comparing
//! `forward_logits` with the KV-cache path in [`crate::infer`].

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::error::Error;
use crate::lora::{LoraAdapters, LoraPair, NUM_TARGETS};
use crate::model::{LlamaModel, Params, norm_indices};
use crate::ops::{
    axpy, dot, matmul_grad_w, matmul_w_acc, matmul_wt, matmul_wt_acc, rmsnorm, rmsnorm_backward,
    silu, softmax,
};

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

/// Saved activations of one decoder layer for one sequence.
#[derive(Debug, Clone)]
pub(crate) struct LayerActs {
    x_in: Vec<f32>,
    inv1: Vec<f32>,
    xn1: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    probs: Vec<f32>,
    att: Vec<f32>,
    x_mid: Vec<f32>,
    inv2: Vec<f32>,
    xn2: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
    /// `x · Aᵀ` for each adapted projection (empty when none).
    lora_mid: [Vec<f32>; NUM_TARGETS],
}

/// Saved activations for one sequence, from `start_layer` up.
#[derive(Debug, Clone)]
pub(crate) struct Acts {
    /// Positions whose logits were computed (and whose gradients are nonzero).
    rows: Vec<usize>,
    start_layer: usize,
    layers: Vec<LayerActs>,
    x_final: Vec<f32>,
    inv_f: Vec<f32>,
    xn_f: Vec<f32>,
    pub(crate) logits: Vec<f32>,
}

fn lora_of(lora: Option<&LoraAdapters>, layer: usize, target: usize) -> Option<(&LoraPair, f32)> {
    let a = lora?;
    a.pair(layer, target).map(|p| (p, a.scale()))
}

/// `out = x · Wᵀ (+ scale · (x · Aᵀ) · Bᵀ)`; stores `x · Aᵀ` in `mid` for the backward pass.
#[allow(
    clippy::too_many_arguments,
    reason = "one flat signature mirrors linear_bwd"
)]
fn linear_fwd(
    x: &[f32],
    w: &[f32],
    lora: Option<(&LoraPair, f32)>,
    rows: usize,
    n_in: usize,
    n_out: usize,
    out: &mut [f32],
    mid: &mut Vec<f32>,
) {
    matmul_wt(x, w, out, rows, n_in, n_out);
    if let Some((p, scale)) = lora {
        let r = p.rank;
        *mid = vec![0.0; rows * r];
        matmul_wt(x, &p.a, mid, rows, n_in, r);
        matmul_wt_acc(mid, &p.b, out, rows, r, n_out, scale);
    }
}

/// Backward of [`linear_fwd`]: accumulates `dW` (if asked), adapter gradients (if adapted) and
/// `dx` (if asked).
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one linear layer's backward"
)]
fn linear_bwd(
    dy: &[f32],
    x: &[f32],
    w: &[f32],
    dw: Option<&mut [f32]>,
    lora: Option<(&LoraPair, f32, &[f32], Option<&mut LoraPair>)>,
    dx: Option<&mut [f32]>,
    rows: usize,
    n_in: usize,
    n_out: usize,
) {
    if let Some(dw) = dw {
        matmul_grad_w(dy, x, dw, rows, n_in, n_out);
    }
    let mut dx = dx;
    if let Some(dx) = dx.as_deref_mut() {
        matmul_w_acc(dy, w, dx, rows, n_in, n_out);
    }
    if let Some((p, scale, mid, grad)) = lora {
        let r = p.rank;
        // dmid = scale · dy · B
        let mut dmid = vec![0.0; rows * r];
        matmul_w_acc(dy, &p.b, &mut dmid, rows, r, n_out);
        dmid.iter_mut().for_each(|v| *v *= scale);
        if let Some(g) = grad {
            // dB += scale · dyᵀ · mid
            let dy_s: Vec<f32> = dy.iter().map(|v| v * scale).collect();
            matmul_grad_w(&dy_s, mid, &mut g.b, rows, r, n_out);
            // dA += dmidᵀ · x
            matmul_grad_w(&dmid, x, &mut g.a, rows, n_in, r);
        }
        if let Some(dx) = dx {
            matmul_w_acc(&dmid, &p.a, dx, rows, n_in, r);
        }
    }
}

/// [`linear_fwd`] for the rows in `rows` only (all rows when `None`): gathers them, runs the
/// projection compactly and scatters the results back; other rows of `out` (pre-zeroed) and of
/// `mid` stay zero, which the backward pass treats as "no gradient flows here".
#[allow(
    clippy::too_many_arguments,
    reason = "linear_fwd's signature plus the row set"
)]
fn linear_fwd_rows(
    x: &[f32],
    w: &[f32],
    lora: Option<(&LoraPair, f32)>,
    rows: Option<&[usize]>,
    t_len: usize,
    n_in: usize,
    n_out: usize,
    out: &mut [f32],
    mid: &mut Vec<f32>,
) {
    let Some(rows) = rows else {
        return linear_fwd(x, w, lora, t_len, n_in, n_out, out, mid);
    };
    let mut xs = Vec::with_capacity(rows.len() * n_in);
    for &t in rows {
        xs.extend_from_slice(&x[t * n_in..(t + 1) * n_in]);
    }
    let mut os = vec![0.0; rows.len() * n_out];
    let mut ms = Vec::new();
    linear_fwd(&xs, w, lora, rows.len(), n_in, n_out, &mut os, &mut ms);
    for (i, &t) in rows.iter().enumerate() {
        out[t * n_out..(t + 1) * n_out].copy_from_slice(&os[i * n_out..(i + 1) * n_out]);
    }
    if let Some((p, _)) = lora {
        let r = p.rank;
        *mid = vec![0.0; t_len * r];
        for (i, &t) in rows.iter().enumerate() {
            mid[t * r..(t + 1) * r].copy_from_slice(&ms[i * r..(i + 1) * r]);
        }
    }
}

/// Hidden states `[T, hidden]` after the embedding (layer 0 input).
pub(crate) fn embed(model: &LlamaModel, tokens: &[u32]) -> Vec<f32> {
    let h = model.config().hidden_size;
    let mut x = vec![0.0; tokens.len() * h];
    for (row, &t) in x.chunks_exact_mut(h).zip(tokens) {
        let t = t as usize;
        row.copy_from_slice(&model.params.embed[t * h..(t + 1) * h]);
    }
    x
}

/// Run decoder layer `l` over a sequence; returns its activations and its output.
///
/// With `rows: Some(r)`, only the output rows in `r` are computed (the other rows of the output
/// and of the row-wise activations are zero). Keys and values are still computed for every
/// position, since the selected queries attend to all earlier ones. Used for the top layer in
/// training, whose only consumers are the scored positions' logits.
pub(crate) fn layer_forward(
    model: &LlamaModel,
    lora: Option<&LoraAdapters>,
    l: usize,
    x_in: Vec<f32>,
    rows: Option<&[usize]>,
) -> (LayerActs, Vec<f32>) {
    let c = model.config();
    let lp = &model.params.layers[l];
    let (h, kv, inter) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
    let (nh, hd) = (c.num_attention_heads, c.head_dim());
    let group = nh / c.kv_heads();
    let t_len = x_in.len() / h;
    let mut mids: [Vec<f32>; NUM_TARGETS] = Default::default();
    let sel: Vec<usize> = rows.map_or_else(|| (0..t_len).collect(), <[usize]>::to_vec);

    let mut inv1 = vec![0.0; t_len];
    let mut xn1 = vec![0.0; t_len * h];
    for ((xr, on), iv) in x_in
        .chunks_exact(h)
        .zip(xn1.chunks_exact_mut(h))
        .zip(&mut inv1)
    {
        *iv = rmsnorm(xr, &lp.attn_norm, c.rms_norm_eps, on);
    }
    let mut q = vec![0.0; t_len * h];
    let mut k = vec![0.0; t_len * kv];
    let mut v = vec![0.0; t_len * kv];
    let [mq, mk, mv, mo, mg, mu, md] = &mut mids;
    linear_fwd_rows(
        &xn1,
        &lp.q,
        lora_of(lora, l, 0),
        rows,
        t_len,
        h,
        h,
        &mut q,
        mq,
    );
    linear_fwd(&xn1, &lp.k, lora_of(lora, l, 1), t_len, h, kv, &mut k, mk);
    linear_fwd(&xn1, &lp.v, lora_of(lora, l, 2), t_len, h, kv, &mut v, mv);
    for (t, row) in q.chunks_exact_mut(h).enumerate() {
        for head in row.chunks_exact_mut(hd) {
            model.rope.apply(head, t);
        }
    }
    for (t, row) in k.chunks_exact_mut(kv).enumerate() {
        for head in row.chunks_exact_mut(hd) {
            model.rope.apply(head, t);
        }
    }
    let scale = 1.0 / libm::sqrtf(hd as f32);
    let mut probs = vec![0.0; nh * t_len * t_len];
    let mut att = vec![0.0; t_len * h];
    for hh in 0..nh {
        let kvh = hh / group;
        for &t in &sel {
            let qh = &q[t * h + hh * hd..t * h + (hh + 1) * hd];
            let prow = &mut probs[(hh * t_len + t) * t_len..(hh * t_len + t + 1) * t_len];
            for (s, p) in prow[..=t].iter_mut().enumerate() {
                *p = dot(qh, &k[s * kv + kvh * hd..s * kv + (kvh + 1) * hd]) * scale;
            }
            softmax(&mut prow[..=t]);
            let out = &mut att[t * h + hh * hd..t * h + (hh + 1) * hd];
            for (s, &p) in prow[..=t].iter().enumerate() {
                axpy(out, p, &v[s * kv + kvh * hd..s * kv + (kvh + 1) * hd]);
            }
        }
    }
    let mut x_mid = vec![0.0; t_len * h];
    linear_fwd_rows(
        &att,
        &lp.o,
        lora_of(lora, l, 3),
        rows,
        t_len,
        h,
        h,
        &mut x_mid,
        mo,
    );
    for &t in &sel {
        let r = t * h..(t + 1) * h;
        for (m, x) in x_mid[r.clone()].iter_mut().zip(&x_in[r]) {
            *m += x;
        }
    }
    let mut inv2 = vec![0.0; t_len];
    let mut xn2 = vec![0.0; t_len * h];
    for &t in &sel {
        let r = t * h..(t + 1) * h;
        inv2[t] = rmsnorm(&x_mid[r.clone()], &lp.mlp_norm, c.rms_norm_eps, &mut xn2[r]);
    }
    let mut gate = vec![0.0; t_len * inter];
    let mut up = vec![0.0; t_len * inter];
    linear_fwd_rows(
        &xn2,
        &lp.gate,
        lora_of(lora, l, 4),
        rows,
        t_len,
        h,
        inter,
        &mut gate,
        mg,
    );
    linear_fwd_rows(
        &xn2,
        &lp.up,
        lora_of(lora, l, 5),
        rows,
        t_len,
        h,
        inter,
        &mut up,
        mu,
    );
    let act: Vec<f32> = gate.iter().zip(&up).map(|(&g, &u)| silu(g) * u).collect();
    let mut x_out = vec![0.0; t_len * h];
    linear_fwd_rows(
        &act,
        &lp.down,
        lora_of(lora, l, 6),
        rows,
        t_len,
        inter,
        h,
        &mut x_out,
        md,
    );
    for (o, m) in x_out.iter_mut().zip(&x_mid) {
        *o += m;
    }
    let acts = LayerActs {
        x_in,
        inv1,
        xn1,
        q,
        k,
        v,
        probs,
        att,
        x_mid,
        inv2,
        xn2,
        gate,
        up,
        act,
        lora_mid: mids,
    };
    (acts, x_out)
}

/// Forward from layer `start_layer` (input hidden `x`) to the logits, keeping activations.
/// With `scored: Some(mask)`, logits are computed only for rows `t` with `mask[t + 1]` (the
/// rows the loss reads; the others stay zero) — the vocabulary projection is the largest
/// matrix, and answer-only masks score a small share of the positions.
pub(crate) fn forward_from(
    model: &LlamaModel,
    lora: Option<&LoraAdapters>,
    start_layer: usize,
    mut x: Vec<f32>,
    scored: Option<&[bool]>,
) -> Acts {
    let c = model.config();
    let h = c.hidden_size;
    let t_len = x.len() / h;
    let rows = scored_rows(scored, t_len);
    let top = c.num_hidden_layers.saturating_sub(1);
    let mut layers = Vec::with_capacity(c.num_hidden_layers.saturating_sub(start_layer));
    for l in start_layer..c.num_hidden_layers {
        // Only the scored rows of the top layer's output reach the loss.
        let only = if l == top && scored.is_some() {
            Some(&rows[..])
        } else {
            None
        };
        let (a, out) = layer_forward(model, lora, l, x, only);
        layers.push(a);
        x = out;
    }
    let mut inv_f = vec![0.0; t_len];
    let mut xn_f = vec![0.0; t_len * h];
    for &t in &rows {
        let r = t * h..(t + 1) * h;
        inv_f[t] = rmsnorm(
            &x[r.clone()],
            &model.params.norm,
            c.rms_norm_eps,
            &mut xn_f[r],
        );
    }
    let vocab = c.vocab_size;
    let mut logits = vec![0.0; t_len * vocab];
    for &t in &rows {
        matmul_wt(
            &xn_f[t * h..(t + 1) * h],
            model.head(),
            &mut logits[t * vocab..(t + 1) * vocab],
            1,
            h,
            vocab,
        );
    }
    Acts {
        rows,
        start_layer,
        layers,
        x_final: x,
        inv_f,
        xn_f,
        logits,
    }
}

/// Row indices `t` whose prediction is scored (`mask[t + 1]`), or all rows.
fn scored_rows(scored: Option<&[bool]>, t_len: usize) -> Vec<usize> {
    match scored {
        Some(m) => (0..t_len)
            .filter(|&t| m.get(t + 1).copied().unwrap_or(false))
            .collect(),
        None => (0..t_len).collect(),
    }
}

/// Hidden state entering layer `upto` (runs layers `0..upto` without keeping activations).
pub(crate) fn hidden_before(
    model: &LlamaModel,
    lora: Option<&LoraAdapters>,
    tokens: &[u32],
    upto: usize,
) -> Vec<f32> {
    let mut x = embed(model, tokens);
    for l in 0..upto.min(model.config().num_hidden_layers) {
        x = layer_forward(model, lora, l, x, None).1;
    }
    x
}

/// Logits `[T * vocab]` of a whole sequence (optionally with unmerged adapters).
pub(crate) fn forward_logits(
    model: &LlamaModel,
    lora: Option<&LoraAdapters>,
    tokens: &[u32],
) -> Result<Vec<f32>, Error> {
    model.check_tokens(tokens)?;
    if let Some(a) = lora {
        a.check_compatible(model.config())?;
    }
    Ok(forward_from(model, lora, 0, embed(model, tokens), None).logits)
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

/// Backward through the head, the final norm and the layers down to `acts.start_layer`.
/// Base gradients go to `grads` (if `Some`), adapter gradients to `lora_grads` (if `Some`).
/// `dlogits` is taken from `acts.logits` (already turned into gradients).
pub(crate) fn backward(
    model: &LlamaModel,
    lora: Option<&LoraAdapters>,
    acts: &Acts,
    tokens: &[u32],
    mut grads: Option<&mut Params>,
    mut lora_grads: Option<&mut LoraAdapters>,
) {
    let c = model.config();
    let (h, kv, inter, vocab) = (c.hidden_size, c.kv_dim(), c.intermediate_size, c.vocab_size);
    let (nh, hd) = (c.num_attention_heads, c.head_dim());
    let group = nh / c.kv_heads();
    let t_len = acts.x_final.len() / h;
    let dlogits = &acts.logits;

    let mut dxn = vec![0.0; t_len * h];
    for &t in &acts.rows {
        let (dl, xr) = (t * vocab..(t + 1) * vocab, t * h..(t + 1) * h);
        matmul_w_acc(
            &dlogits[dl.clone()],
            model.head(),
            &mut dxn[xr.clone()],
            1,
            h,
            vocab,
        );
        if let Some(g) = grads.as_deref_mut() {
            let dhead = match g.lm_head.as_mut() {
                Some(hd) => hd,
                None => &mut g.embed,
            };
            matmul_grad_w(&dlogits[dl], &acts.xn_f[xr], dhead, 1, h, vocab);
        }
    }
    let mut dx = vec![0.0; t_len * h];
    {
        let mut dnorm = grads.as_deref_mut().map(|g| &mut g.norm[..]);
        for t in 0..t_len {
            let r = t * h..(t + 1) * h;
            rmsnorm_backward(
                &acts.x_final[r.clone()],
                &model.params.norm,
                acts.inv_f[t],
                &dxn[r.clone()],
                &mut dx[r],
                dnorm.as_deref_mut(),
            );
        }
    }

    let scale = 1.0 / libm::sqrtf(hd as f32);
    for (li, a) in acts.layers.iter().enumerate().rev() {
        let l = acts.start_layer + li;
        let lp = &model.params.layers[l];
        // Below the bottom saved layer nobody needs dx unless the embedding is trained.
        let need_dx_in = li > 0 || (grads.is_some() && acts.start_layer == 0);
        let mut gl = grads.as_deref_mut().map(|g| &mut g.layers[l]);
        let mut lg = lora_grads.as_deref_mut();
        macro_rules! lora_arg {
            ($tg:expr) => {
                match lora_of(lora, l, $tg) {
                    Some((p, s)) => Some((
                        p,
                        s,
                        &a.lora_mid[$tg][..],
                        lg.as_deref_mut().and_then(|g| g.pair_mut(l, $tg)),
                    )),
                    None => None,
                }
            };
        }

        // MLP: x_out = x_mid + down(silu(gate) * up)
        let mut d_mid = dx.clone();
        let mut dact = vec![0.0; t_len * inter];
        linear_bwd(
            &dx,
            &a.act,
            &lp.down,
            gl.as_deref_mut().map(|g| &mut g.down[..]),
            lora_arg!(6),
            Some(&mut dact),
            t_len,
            inter,
            h,
        );
        let mut dgate = vec![0.0; t_len * inter];
        let mut dup = vec![0.0; t_len * inter];
        for i in 0..t_len * inter {
            let g = a.gate[i];
            let s = 1.0 / (1.0 + libm::expf(-g));
            let sg = g * s;
            dup[i] = dact[i] * sg;
            dgate[i] = dact[i] * a.up[i] * s * (1.0 + g * (1.0 - s));
        }
        let mut dxn2 = vec![0.0; t_len * h];
        linear_bwd(
            &dgate,
            &a.xn2,
            &lp.gate,
            gl.as_deref_mut().map(|g| &mut g.gate[..]),
            lora_arg!(4),
            Some(&mut dxn2),
            t_len,
            h,
            inter,
        );
        linear_bwd(
            &dup,
            &a.xn2,
            &lp.up,
            gl.as_deref_mut().map(|g| &mut g.up[..]),
            lora_arg!(5),
            Some(&mut dxn2),
            t_len,
            h,
            inter,
        );
        {
            let mut dnw = gl.as_deref_mut().map(|g| &mut g.mlp_norm[..]);
            for t in 0..t_len {
                let r = t * h..(t + 1) * h;
                rmsnorm_backward(
                    &a.x_mid[r.clone()],
                    &lp.mlp_norm,
                    a.inv2[t],
                    &dxn2[r.clone()],
                    &mut d_mid[r],
                    dnw.as_deref_mut(),
                );
            }
        }

        // Attention: x_mid = x_in + o(att)
        let mut datt = vec![0.0; t_len * h];
        linear_bwd(
            &d_mid,
            &a.att,
            &lp.o,
            gl.as_deref_mut().map(|g| &mut g.o[..]),
            lora_arg!(3),
            Some(&mut datt),
            t_len,
            h,
            h,
        );
        let mut dq = vec![0.0; t_len * h];
        let mut dk = vec![0.0; t_len * kv];
        let mut dv = vec![0.0; t_len * kv];
        let mut dp = vec![0.0; t_len];
        for hh in 0..nh {
            let kvh = hh / group;
            for t in 0..t_len {
                let prow = &a.probs[(hh * t_len + t) * t_len..(hh * t_len + t) * t_len + t + 1];
                let dout = &datt[t * h + hh * hd..t * h + (hh + 1) * hd];
                let mut sum = 0.0;
                for (s, &p) in prow.iter().enumerate() {
                    let vr = s * kv + kvh * hd..s * kv + (kvh + 1) * hd;
                    dp[s] = dot(dout, &a.v[vr.clone()]);
                    axpy(&mut dv[vr], p, dout);
                    sum += p * dp[s];
                }
                for (s, &p) in prow.iter().enumerate() {
                    let ds = p * (dp[s] - sum) * scale;
                    if ds == 0.0 {
                        continue;
                    }
                    let kr = s * kv + kvh * hd..s * kv + (kvh + 1) * hd;
                    let qr = t * h + hh * hd..t * h + (hh + 1) * hd;
                    axpy(&mut dq[qr.clone()], ds, &a.k[kr.clone()]);
                    axpy(&mut dk[kr], ds, &a.q[qr]);
                }
            }
        }
        for (t, row) in dq.chunks_exact_mut(h).enumerate() {
            for head in row.chunks_exact_mut(hd) {
                model.rope.apply_transpose(head, t);
            }
        }
        for (t, row) in dk.chunks_exact_mut(kv).enumerate() {
            for head in row.chunks_exact_mut(hd) {
                model.rope.apply_transpose(head, t);
            }
        }
        let mut dxn1 = if need_dx_in {
            vec![0.0; t_len * h]
        } else {
            Vec::new()
        };
        for (tg, (dy, w, out_dim)) in [
            (0usize, (&dq, &lp.q, h)),
            (1, (&dk, &lp.k, kv)),
            (2, (&dv, &lp.v, kv)),
        ] {
            let dw = gl.as_deref_mut().map(|g| match tg {
                0 => &mut g.q[..],
                1 => &mut g.k[..],
                _ => &mut g.v[..],
            });
            let dx_arg = if need_dx_in {
                Some(&mut dxn1[..])
            } else {
                None
            };
            linear_bwd(dy, &a.xn1, w, dw, lora_arg!(tg), dx_arg, t_len, h, out_dim);
        }
        if !need_dx_in {
            break;
        }
        let mut dx_in = d_mid;
        {
            let mut dnw = gl.map(|g| &mut g.attn_norm[..]);
            for t in 0..t_len {
                let r = t * h..(t + 1) * h;
                rmsnorm_backward(
                    &a.x_in[r.clone()],
                    &lp.attn_norm,
                    a.inv1[t],
                    &dxn1[r.clone()],
                    &mut dx_in[r],
                    dnw.as_deref_mut(),
                );
            }
        }
        dx = dx_in;
    }

    if acts.start_layer == 0
        && let Some(g) = grads
    {
        for (t, &tok) in tokens.iter().enumerate() {
            let tok = tok as usize;
            axpy(
                &mut g.embed[tok * h..(tok + 1) * h],
                1.0,
                &dx[t * h..(t + 1) * h],
            );
        }
    }
}

/// Mean masked loss and gradients of a batch (full model). Public for tests and tools that
/// want raw gradients; [`Trainer::train_step`] is the usual entry point.
pub fn loss_and_grads(model: &LlamaModel, batch: &[TrainExample]) -> Result<(f32, Params), Error> {
    let mut grads = Params::zeros(model.config());
    let loss = accumulate(model, None, batch, Some(&mut grads), None)?;
    Ok((loss, grads))
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
            lora,
            0,
            embed(model, &ex.tokens),
            Some(&ex.loss_mask),
        );
        loss += loss_and_dlogits(&mut acts.logits, ex, vocab, n);
        backward(
            model,
            lora,
            &acts,
            &ex.tokens,
            grads.as_deref_mut(),
            lora_grads.as_deref_mut(),
        );
    }
    Ok(loss / n)
}

/// AdamW state for a list of tensors, plus the shared update rule (used by [`Trainer`] and
/// [`crate::lora::LoraTrainer`]).
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

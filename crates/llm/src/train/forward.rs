//! Training forward pass: the whole sequence at once, keeping every activation the backward
//! pass needs.
//!
//! Key types: [`Acts`] (one sequence's saved activations from a start layer up, plus the
//! logits) and [`LayerActs`] (one decoder layer's). [`forward_from`] runs from any layer
//! given that layer's input hidden state — full training starts at the embedding
//! ([`embed`]), LoRA training at the lowest adapted layer from a cached
//! [`hidden_before`]. With a loss mask, the head and the top layer (all but its keys and
//! values) are computed only at the scored positions. Every projection goes through
//! `linear_fwd`, which adds an unmerged adapter's low-rank path through
//! [`LoraPair::forward_hook`] when one is present.
//!
//! Neighbours: [`super::backward`] consumes [`Acts`]; [`super::loss`] turns the logits into
//! gradients; [`crate::infer`] is the KV-cache decoder whose logits tests compare with
//! [`LlamaModel::forward_sequence`], which is defined here so that [`crate::model`] stays
//! free of training code.

use alloc::vec;
use alloc::vec::Vec;

use super::frozen::{FrozenQuant, Weight, head_weight, weight};
use crate::error::Error;
use crate::lora::adapters::{LoraAdapters, LoraPair, NUM_TARGETS, lora_of};
use crate::model::LlamaModel;
use crate::ops::{axpy, dot, rmsnorm, silu, softmax};

/// Saved activations of one decoder layer for one sequence.
#[derive(Debug, Clone)]
pub(crate) struct LayerActs {
    pub(super) x_in: Vec<f32>,
    pub(super) inv1: Vec<f32>,
    pub(super) xn1: Vec<f32>,
    pub(super) q: Vec<f32>,
    pub(super) k: Vec<f32>,
    pub(super) v: Vec<f32>,
    pub(super) probs: Vec<f32>,
    pub(super) att: Vec<f32>,
    pub(super) x_mid: Vec<f32>,
    pub(super) inv2: Vec<f32>,
    pub(super) xn2: Vec<f32>,
    pub(super) gate: Vec<f32>,
    pub(super) up: Vec<f32>,
    pub(super) act: Vec<f32>,
    /// `x · Aᵀ` for each adapted projection (empty when none).
    pub(super) lora_mid: [Vec<f32>; NUM_TARGETS],
}

/// Saved activations for one sequence, from `start_layer` up.
#[derive(Debug, Clone)]
pub(crate) struct Acts {
    /// Positions whose logits were computed (and whose gradients are nonzero).
    pub(super) rows: Vec<usize>,
    pub(super) start_layer: usize,
    pub(super) layers: Vec<LayerActs>,
    pub(super) x_final: Vec<f32>,
    pub(super) inv_f: Vec<f32>,
    pub(super) xn_f: Vec<f32>,
    pub(crate) logits: Vec<f32>,
}

/// `out = x · Wᵀ (+ scale · (x · Aᵀ) · Bᵀ)`; stores `x · Aᵀ` in `mid` for the backward pass.
/// The adapter part is [`LoraPair::forward_hook`]; the backward is `super::backward::linear_bwd`.
#[allow(
    clippy::too_many_arguments,
    reason = "one flat signature mirrors linear_bwd"
)]
fn linear_fwd(
    x: &[f32],
    w: Weight<'_>,
    lora: Option<(&LoraPair, f32)>,
    rows: usize,
    n_in: usize,
    n_out: usize,
    out: &mut [f32],
    mid: &mut Vec<f32>,
) {
    w.forward(x, out, rows, n_in, n_out);
    if let Some((p, scale)) = lora {
        p.forward_hook(x, scale, rows, n_in, n_out, out, mid);
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
    w: Weight<'_>,
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
    frozen: Option<&FrozenQuant>,
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
        weight(frozen, l, 0, &lp.q),
        lora_of(lora, l, 0),
        rows,
        t_len,
        h,
        h,
        &mut q,
        mq,
    );
    linear_fwd(
        &xn1,
        weight(frozen, l, 1, &lp.k),
        lora_of(lora, l, 1),
        t_len,
        h,
        kv,
        &mut k,
        mk,
    );
    linear_fwd(
        &xn1,
        weight(frozen, l, 2, &lp.v),
        lora_of(lora, l, 2),
        t_len,
        h,
        kv,
        &mut v,
        mv,
    );
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
        weight(frozen, l, 3, &lp.o),
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
        weight(frozen, l, 4, &lp.gate),
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
        weight(frozen, l, 5, &lp.up),
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
        weight(frozen, l, 6, &lp.down),
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
    frozen: Option<&FrozenQuant>,
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
        let (a, out) = layer_forward(model, frozen, lora, l, x, only);
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
    let head = head_weight(frozen, model.head());
    for &t in &rows {
        head.forward(
            &xn_f[t * h..(t + 1) * h],
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
        x = layer_forward(model, None, lora, l, x, None).1;
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
    Ok(forward_from(model, None, lora, 0, embed(model, tokens), None).logits)
}

impl LlamaModel {
    /// Logits for every position of `tokens` (`[T * vocab]`), computed over the whole sequence
    /// at once with the training forward pass (no KV cache).
    pub fn forward_sequence(&self, tokens: &[u32]) -> Result<Vec<f32>, Error> {
        forward_logits(self, None, tokens)
    }
}

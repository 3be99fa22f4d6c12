//! Training backward pass: from the gradient of the logits down through the head, the final
//! norm and the decoder layers, by hand (no autodiff), mirroring [`super::forward`] step by
//! step.
//!
//! [`backward`] reads the activations saved in [`Acts`] and accumulates base-weight gradients
//! into a [`Params`] (full training) and/or adapter gradients into a [`LoraAdapters`] of the
//! same layout (LoRA training; the base then gets none, and nothing below the lowest saved
//! layer is computed). Every projection goes through `linear_bwd`, whose adapter part is
//! [`LoraPair::backward_hook`].
//!
//! Neighbours: [`super::forward`] (the activations), [`super::loss`] (the incoming `dlogits`,
//! written over `Acts::logits`), [`crate::ops`] (`rmsnorm_backward`, the gradient matmuls).
//! Checked against finite differences for every tensor kind in `tests/gradients.rs`.

use alloc::vec;
use alloc::vec::Vec;

use super::forward::Acts;
use super::frozen::{FrozenQuant, Weight, head_weight, weight};
use crate::lora::adapters::{LoraAdapters, LoraPair, lora_of};
use crate::model::{LlamaModel, Params};
use crate::ops::{axpy, dot, matmul_grad_w, rmsnorm_backward};

/// Backward of `super::forward::linear_fwd`: accumulates `dW` (if asked), adapter gradients
/// (if adapted, via [`LoraPair::backward_hook`]) and `dx` (if asked).
#[allow(
    clippy::too_many_arguments,
    reason = "the pieces of one linear layer's backward"
)]
fn linear_bwd(
    dy: &[f32],
    x: &[f32],
    w: Weight<'_>,
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
        w.input_grad_acc(dy, dx, rows, n_in, n_out);
    }
    if let Some((p, scale, mid, grad)) = lora {
        p.backward_hook(dy, x, scale, mid, grad, dx, rows, n_in, n_out);
    }
}

/// Backward through the head, the final norm and the layers down to `acts.start_layer`.
/// Base gradients go to `grads` (if `Some`), adapter gradients to `lora_grads` (if `Some`).
/// `dlogits` is taken from `acts.logits` (already turned into gradients).
pub(crate) fn backward(
    model: &LlamaModel,
    frozen: Option<&FrozenQuant>,
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
    let head = head_weight(frozen, model.head());
    for &t in &acts.rows {
        let (dl, xr) = (t * vocab..(t + 1) * vocab, t * h..(t + 1) * h);
        head.input_grad_acc(&dlogits[dl.clone()], &mut dxn[xr.clone()], 1, h, vocab);
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
            weight(frozen, l, 6, &lp.down),
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
            weight(frozen, l, 4, &lp.gate),
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
            weight(frozen, l, 5, &lp.up),
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
            weight(frozen, l, 3, &lp.o),
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
            let w = weight(frozen, l, tg, w);
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

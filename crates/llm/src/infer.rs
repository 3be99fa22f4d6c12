//! Incremental decoding with a KV cache: [`Session`] feeds one token at a time.
//!
//! This is the path the kernel runs: every buffer (cache and scratch) is allocated once in
//! [`Session::new`], so decoding a token allocates nothing. It is written independently of the
//! batched training forward in [`crate::train`]; tests check the two give the same logits.
//! The weights are reached through [`DecodeWeights`], implemented by the f32
//! [`LlamaModel`] and by the quantized [`crate::quant::QuantModel`], so both run the same
//! decoding code. Neighbours: [`mod@crate::generate`] drives a session.

use alloc::vec;
use alloc::vec::Vec;

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::model::LlamaModel;
use crate::ops::{Rope, dot, matmul_wt, rmsnorm, silu, softmax};

/// One of a decoder layer's seven projections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proj {
    /// `q_proj`
    Q,
    /// `k_proj`
    K,
    /// `v_proj`
    V,
    /// `o_proj`
    O,
    /// `gate_proj`
    Gate,
    /// `up_proj`
    Up,
    /// `down_proj`
    Down,
}

/// What decoding needs from a set of weights. Implemented by [`LlamaModel`] (f32) and
/// [`crate::quant::QuantModel`] (int8 weights); implementations must give slices of the
/// lengths the config implies.
pub trait DecodeWeights {
    /// The (validated) hyperparameters.
    fn config(&self) -> &LlamaConfig;
    /// RoPE tables for the config.
    fn rope(&self) -> &Rope;
    /// Embedding row of `token` (< vocab_size), `[hidden]`.
    fn embedding(&self, token: usize) -> &[f32];
    /// RMSNorm weight before attention (`mlp == false`) or before the MLP of `layer`.
    fn layer_norm(&self, layer: usize, mlp: bool) -> &[f32];
    /// Final RMSNorm weight.
    fn final_norm(&self) -> &[f32];
    /// `out = W · x` for projection `p` of `layer`. `scratch` is reusable working space.
    fn project(&self, layer: usize, p: Proj, x: &[f32], out: &mut [f32], scratch: &mut Vec<i16>);
    /// `out = lm_head · x` (logits).
    fn project_head(&self, x: &[f32], out: &mut [f32], scratch: &mut Vec<i16>);
}

impl DecodeWeights for LlamaModel {
    fn config(&self) -> &LlamaConfig {
        LlamaModel::config(self)
    }
    fn rope(&self) -> &Rope {
        &self.rope
    }
    fn embedding(&self, token: usize) -> &[f32] {
        let h = self.config().hidden_size;
        &self.params.embed[token * h..(token + 1) * h]
    }
    fn layer_norm(&self, layer: usize, mlp: bool) -> &[f32] {
        let lp = &self.params.layers[layer];
        if mlp { &lp.mlp_norm } else { &lp.attn_norm }
    }
    fn final_norm(&self) -> &[f32] {
        &self.params.norm
    }
    fn project(&self, layer: usize, p: Proj, x: &[f32], out: &mut [f32], _: &mut Vec<i16>) {
        let lp = &self.params.layers[layer];
        let w = match p {
            Proj::Q => &lp.q,
            Proj::K => &lp.k,
            Proj::V => &lp.v,
            Proj::O => &lp.o,
            Proj::Gate => &lp.gate,
            Proj::Up => &lp.up,
            Proj::Down => &lp.down,
        };
        matmul_wt(x, w, out, 1, x.len(), out.len());
    }
    fn project_head(&self, x: &[f32], out: &mut [f32], _: &mut Vec<i16>) {
        matmul_wt(x, self.head(), out, 1, x.len(), out.len());
    }
}

/// Decoding state for one sequence: KV cache plus scratch buffers. Borrows the weights
/// (f32 [`LlamaModel`] by default, or a [`crate::quant::QuantModel`]).
#[derive(Debug)]
pub struct Session<'m, W: DecodeWeights + ?Sized = LlamaModel> {
    model: &'m W,
    /// Positions the cache can hold (≤ max_position_embeddings).
    capacity: usize,
    qscratch: Vec<i16>,
    pos: usize,
    /// Per layer: `[max_pos, kv_dim]`.
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    x: Vec<f32>,
    xn: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    att: Vec<f32>,
    proj: Vec<f32>,
    scores: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    logits: Vec<f32>,
}

impl<'m, W: DecodeWeights + ?Sized> Session<'m, W> {
    /// A session with room for the model's whole context.
    pub fn new(model: &'m W) -> Session<'m, W> {
        Self::with_capacity(model, model.config().max_position_embeddings)
    }

    /// A session whose KV cache holds at most `positions` tokens (capped at the model's
    /// context): the kernel sizes it to prompt + answer budget to bound memory
    /// (`layers × positions × kv_dim × 8` bytes).
    pub fn with_capacity(model: &'m W, positions: usize) -> Session<'m, W> {
        let c = model.config();
        let (h, kv, i) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        let maxp = positions.min(c.max_position_embeddings);
        Session {
            model,
            capacity: maxp,
            qscratch: Vec::with_capacity(h.max(i)),
            pos: 0,
            k_cache: vec![vec![0.0; maxp * kv]; c.num_hidden_layers],
            v_cache: vec![vec![0.0; maxp * kv]; c.num_hidden_layers],
            x: vec![0.0; h],
            xn: vec![0.0; h],
            q: vec![0.0; h],
            k: vec![0.0; kv],
            v: vec![0.0; kv],
            att: vec![0.0; h],
            proj: vec![0.0; h],
            scores: vec![0.0; maxp],
            gate: vec![0.0; i],
            up: vec![0.0; i],
            logits: vec![0.0; c.vocab_size],
        }
    }

    /// Positions the cache can hold.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Number of tokens fed so far (the position the next token will take).
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Forget the sequence (the cache is overwritten lazily).
    pub fn reset(&mut self) {
        self.pos = 0;
    }

    /// Bytes held by the cache and scratch buffers.
    pub fn memory_bytes(&self) -> usize {
        let cache: usize = self.k_cache.iter().chain(&self.v_cache).map(Vec::len).sum();
        let scratch = self.x.len() * 6
            + self.k.len() * 2
            + self.scores.len()
            + self.gate.len() * 2
            + self.logits.len();
        (cache + scratch) * 4
    }

    /// Feed every token of `tokens`; returns the logits after the last one. An empty slice
    /// returns the logits of the previous call (zeros for a fresh session).
    pub fn feed_all(&mut self, tokens: &[u32]) -> Result<&[f32], Error> {
        let vocab = self.model.config().vocab_size;
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::TokenOutOfRange {
                token,
                vocab_size: vocab,
            });
        }
        if self.pos + tokens.len() > self.capacity {
            return Err(Error::ContextFull {
                max_positions: self.capacity,
            });
        }
        for &t in tokens {
            self.step(t, true)?;
        }
        Ok(&self.logits)
    }

    /// Feed a prompt: fills the KV cache for every token of `tokens` and returns the logits
    /// after the last one. Unlike [`Session::feed_all`], the output head (vocab × hidden, the
    /// largest single projection) runs only for the last token, since nobody reads the logits
    /// of the others. An empty slice is refused (there would be no logits to return).
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32], Error> {
        let vocab = self.model.config().vocab_size;
        let Some((&last, rest)) = tokens.split_last() else {
            return Err(Error::InvalidSampling("prompt is empty".into()));
        };
        if let Some(&token) = tokens.iter().find(|&&t| t as usize >= vocab) {
            return Err(Error::TokenOutOfRange {
                token,
                vocab_size: vocab,
            });
        }
        if self.pos + tokens.len() > self.capacity {
            return Err(Error::ContextFull {
                max_positions: self.capacity,
            });
        }
        for &t in rest {
            self.step(t, false)?;
        }
        self.step(last, true)?;
        Ok(&self.logits)
    }

    /// Feed one token at the next position; returns the logits predicting the token after it.
    pub fn feed(&mut self, token: u32) -> Result<&[f32], Error> {
        self.step(token, true)?;
        Ok(&self.logits)
    }

    /// The hidden state entering layer `layers` (`[tokens.len(), hidden]`, row per position)
    /// for a prompt fed from the session's current position: the embedding run through the
    /// first `layers` decoder layers only, with this session's weights. The LoRA trainer
    /// caches it for the frozen layers below its adapters; with the quantized weights this is
    /// the integer path the kernel decodes with, several times cheaper than f32 under TCG.
    /// The session's cache then holds keys and values of those layers only: [`Session::reset`]
    /// before decoding with it.
    pub fn hidden_before_layer(
        &mut self,
        tokens: &[u32],
        layers: usize,
    ) -> Result<Vec<f32>, Error> {
        let c = self.model.config();
        let layers = layers.min(c.num_hidden_layers);
        if self.pos + tokens.len() > self.capacity {
            return Err(Error::ContextFull {
                max_positions: self.capacity,
            });
        }
        let mut out = Vec::with_capacity(tokens.len() * c.hidden_size);
        for &t in tokens {
            self.run_layers(t, layers)?;
            out.extend_from_slice(&self.x);
            self.pos += 1;
        }
        Ok(out)
    }

    fn step(&mut self, token: u32, want_logits: bool) -> Result<(), Error> {
        let m = self.model;
        let c = m.config();
        self.run_layers(token, c.num_hidden_layers)?;
        if want_logits {
            rmsnorm(&self.x, m.final_norm(), c.rms_norm_eps, &mut self.xn);
            m.project_head(&self.xn, &mut self.logits, &mut self.qscratch);
        }
        self.pos += 1;
        Ok(())
    }

    /// Embeds `token` at the current position and runs it through layers `0..layers`,
    /// leaving the hidden state in `self.x` (the position is not advanced).
    fn run_layers(&mut self, token: u32, layers: usize) -> Result<(), Error> {
        let m = self.model;
        let c = m.config();
        let kv = c.kv_dim();
        let (nh, hd) = (c.num_attention_heads, c.head_dim());
        let group = nh / c.kv_heads();
        if token as usize >= c.vocab_size {
            return Err(Error::TokenOutOfRange {
                token,
                vocab_size: c.vocab_size,
            });
        }
        let pos = self.pos;
        if pos >= self.capacity {
            return Err(Error::ContextFull {
                max_positions: self.capacity,
            });
        }
        let t = token as usize;
        self.x.copy_from_slice(m.embedding(t));
        let scale = 1.0 / libm::sqrtf(hd as f32);
        let qs = &mut self.qscratch;
        for l in 0..layers {
            rmsnorm(
                &self.x,
                m.layer_norm(l, false),
                c.rms_norm_eps,
                &mut self.xn,
            );
            m.project(l, Proj::Q, &self.xn, &mut self.q, qs);
            m.project(l, Proj::K, &self.xn, &mut self.k, qs);
            m.project(l, Proj::V, &self.xn, &mut self.v, qs);
            for head in self.q.chunks_exact_mut(hd) {
                m.rope().apply(head, pos);
            }
            for head in self.k.chunks_exact_mut(hd) {
                m.rope().apply(head, pos);
            }
            let kc = &mut self.k_cache[l];
            let vc = &mut self.v_cache[l];
            kc[pos * kv..(pos + 1) * kv].copy_from_slice(&self.k);
            vc[pos * kv..(pos + 1) * kv].copy_from_slice(&self.v);
            for hh in 0..nh {
                let kvh = hh / group;
                let qh = &self.q[hh * hd..(hh + 1) * hd];
                let sc = &mut self.scores[..=pos];
                for (s, score) in sc.iter_mut().enumerate() {
                    let kr = &kc[s * kv + kvh * hd..s * kv + (kvh + 1) * hd];
                    *score = dot(qh, kr) * scale;
                }
                softmax(sc);
                let out = &mut self.att[hh * hd..(hh + 1) * hd];
                out.iter_mut().for_each(|v| *v = 0.0);
                for (s, &p) in sc.iter().enumerate() {
                    let vr = &vc[s * kv + kvh * hd..s * kv + (kvh + 1) * hd];
                    crate::ops::axpy(out, p, vr);
                }
            }
            m.project(l, Proj::O, &self.att, &mut self.proj, qs);
            for (x, p) in self.x.iter_mut().zip(&self.proj) {
                *x += p;
            }
            rmsnorm(&self.x, m.layer_norm(l, true), c.rms_norm_eps, &mut self.xn);
            m.project(l, Proj::Gate, &self.xn, &mut self.gate, qs);
            m.project(l, Proj::Up, &self.xn, &mut self.up, qs);
            for (g, u) in self.gate.iter_mut().zip(&self.up) {
                *g = silu(*g) * u;
            }
            m.project(l, Proj::Down, &self.gate, &mut self.proj, qs);
            for (x, p) in self.x.iter_mut().zip(&self.proj) {
                *x += p;
            }
        }
        Ok(())
    }
}

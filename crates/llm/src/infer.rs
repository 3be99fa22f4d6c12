//! Incremental decoding with a KV cache: [`Session`] feeds one token at a time.
//!
//! This is the path the kernel runs: every buffer (cache and scratch) is allocated once in
//! [`Session::new`], so decoding a token allocates nothing. It is written independently of the
//! batched training forward in [`crate::train`]; tests check the two give the same logits.
//! Neighbours: [`crate::generate`] drives a session; [`crate::model`] owns the weights.

use alloc::vec;
use alloc::vec::Vec;

use crate::error::Error;
use crate::model::LlamaModel;
use crate::ops::{dot, matmul_wt, rmsnorm, silu, softmax};

/// Decoding state for one sequence: KV cache plus scratch buffers. Borrows the model.
#[derive(Debug)]
pub struct Session<'m> {
    model: &'m LlamaModel,
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

impl<'m> Session<'m> {
    /// A session with room for the model's whole context.
    pub fn new(model: &'m LlamaModel) -> Session<'m> {
        let c = model.config();
        let (h, kv, i) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        let maxp = c.max_position_embeddings;
        Session {
            model,
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
        self.model.check_tokens(tokens)?;
        if self.pos + tokens.len() > self.model.config().max_position_embeddings {
            return Err(Error::ContextFull {
                max_positions: self.model.config().max_position_embeddings,
            });
        }
        for &t in tokens {
            self.step(t)?;
        }
        Ok(&self.logits)
    }

    /// Feed one token at the next position; returns the logits predicting the token after it.
    pub fn feed(&mut self, token: u32) -> Result<&[f32], Error> {
        self.step(token)?;
        Ok(&self.logits)
    }

    fn step(&mut self, token: u32) -> Result<(), Error> {
        let m = self.model;
        let c = m.config();
        let (h, kv, inter) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        let (nh, hd) = (c.num_attention_heads, c.head_dim());
        let group = nh / c.kv_heads();
        if token as usize >= c.vocab_size {
            return Err(Error::TokenOutOfRange {
                token,
                vocab_size: c.vocab_size,
            });
        }
        let pos = self.pos;
        if pos >= c.max_position_embeddings {
            return Err(Error::ContextFull {
                max_positions: c.max_position_embeddings,
            });
        }
        let t = token as usize;
        self.x.copy_from_slice(&m.params.embed[t * h..(t + 1) * h]);
        let scale = 1.0 / libm::sqrtf(hd as f32);
        for (l, lp) in m.params.layers.iter().enumerate() {
            rmsnorm(&self.x, &lp.attn_norm, c.rms_norm_eps, &mut self.xn);
            matmul_wt(&self.xn, &lp.q, &mut self.q, 1, h, h);
            matmul_wt(&self.xn, &lp.k, &mut self.k, 1, h, kv);
            matmul_wt(&self.xn, &lp.v, &mut self.v, 1, h, kv);
            for head in self.q.chunks_exact_mut(hd) {
                m.rope.apply(head, pos);
            }
            for head in self.k.chunks_exact_mut(hd) {
                m.rope.apply(head, pos);
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
            matmul_wt(&self.att, &lp.o, &mut self.proj, 1, h, h);
            for (x, p) in self.x.iter_mut().zip(&self.proj) {
                *x += p;
            }
            rmsnorm(&self.x, &lp.mlp_norm, c.rms_norm_eps, &mut self.xn);
            matmul_wt(&self.xn, &lp.gate, &mut self.gate, 1, h, inter);
            matmul_wt(&self.xn, &lp.up, &mut self.up, 1, h, inter);
            for (g, u) in self.gate.iter_mut().zip(&self.up) {
                *g = silu(*g) * u;
            }
            matmul_wt(&self.gate, &lp.down, &mut self.proj, 1, inter, h);
            for (x, p) in self.x.iter_mut().zip(&self.proj) {
                *x += p;
            }
        }
        rmsnorm(&self.x, &m.params.norm, c.rms_norm_eps, &mut self.xn);
        matmul_wt(&self.xn, m.head(), &mut self.logits, 1, h, c.vocab_size);
        self.pos += 1;
        Ok(())
    }
}

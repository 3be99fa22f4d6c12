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
    /// [`DecodeWeights::project`] for `rows` inputs at once (`x`: `[rows, n_in]`, `out`:
    /// `[rows, n_out]`, row-major), each output row bit-identical to `project` on its input
    /// row — the batched prefill relies on it. The default runs the rows one by one;
    /// implementations override it to read each weight row once for all the rows.
    fn project_rows(
        &self,
        layer: usize,
        p: Proj,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        scratch: &mut Vec<i16>,
    ) {
        if rows == 0 {
            return;
        }
        let (n_in, n_out) = (x.len() / rows, out.len() / rows);
        for (xr, or) in x.chunks_exact(n_in).zip(out.chunks_exact_mut(n_out)) {
            self.project(layer, p, xr, or, scratch);
        }
    }

    /// Projections `ps` of one layer that read the same `x` (`rows` rows; the query, key and
    /// value projections, or the gate and up ones): `outs[i]` receives what
    /// [`DecodeWeights::project_rows`] gives for `ps[i]`, bit for bit. The default runs them
    /// one by one; the quantized model quantizes `x` once for all of them.
    fn project_rows_shared<const N: usize>(
        &self,
        layer: usize,
        ps: [Proj; N],
        x: &[f32],
        rows: usize,
        outs: [&mut [f32]; N],
        scratch: &mut Vec<i16>,
    ) {
        for (p, out) in ps.into_iter().zip(outs) {
            self.project_rows(layer, p, x, rows, out, scratch);
        }
    }
}

/// Positions the batched prefill runs through the layers together: each projection's
/// weights are read once per block rather than once per token. 16 keeps the block's buffers
/// small (16 rows of activations) while a weight row, once loaded, serves four groups of four
/// positions (`crate::simd::dot_i16_x4`).
pub const PREFILL_BLOCK: usize = 16;

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
        matmul_wt(x, self.weight(layer, p), out, 1, x.len(), out.len());
    }
    fn project_head(&self, x: &[f32], out: &mut [f32], _: &mut Vec<i16>) {
        matmul_wt(x, self.head(), out, 1, x.len(), out.len());
    }
    fn project_rows(
        &self,
        layer: usize,
        p: Proj,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        _: &mut Vec<i16>,
    ) {
        if rows == 0 {
            return;
        }
        // `matmul_wt` computes each row with the same `dot` as the one-row call.
        let w = self.weight(layer, p);
        matmul_wt(x, w, out, rows, x.len() / rows, out.len() / rows);
    }
}

impl LlamaModel {
    /// The f32 weight of projection `p` of `layer`.
    fn weight(&self, layer: usize, p: Proj) -> &[f32] {
        let lp = &self.params.layers[layer];
        match p {
            Proj::Q => &lp.q,
            Proj::K => &lp.k,
            Proj::V => &lp.v,
            Proj::O => &lp.o,
            Proj::Gate => &lp.gate,
            Proj::Up => &lp.up,
            Proj::Down => &lp.down,
        }
    }
}

/// Decoding state for one sequence: KV cache plus scratch buffers. Borrows the weights
/// (f32 [`LlamaModel`] by default, or a [`crate::quant::QuantModel`]).
///
/// Tokens go through the layers in blocks of up to [`PREFILL_BLOCK`] positions
/// ([`Session::prefill`]; decoding is a block of one): the projections of a block run
/// together ([`DecodeWeights::project_rows`]), attention position by position in order, so
/// the KV cache and the logits are bit-identical to feeding the same tokens one at a time
/// (tested).
#[derive(Debug)]
pub struct Session<'m, W: DecodeWeights + ?Sized = LlamaModel> {
    model: &'m W,
    /// Positions the cache can hold (≤ max_position_embeddings).
    capacity: usize,
    /// Rows of the block buffers below (≤ [`PREFILL_BLOCK`]).
    block: usize,
    qscratch: Vec<i16>,
    pos: usize,
    /// Per layer: `[max_pos, kv_dim]`.
    k_cache: Vec<Vec<f32>>,
    v_cache: Vec<Vec<f32>>,
    /// `[block, hidden]` and the like: one row per position of the block.
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
    /// (`layers × positions × kv_dim × 8` bytes, plus the block buffers).
    pub fn with_capacity(model: &'m W, positions: usize) -> Session<'m, W> {
        let c = model.config();
        let (h, kv, i) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        let maxp = positions.min(c.max_position_embeddings);
        let block = maxp.clamp(1, PREFILL_BLOCK);
        Session {
            model,
            capacity: maxp,
            block,
            qscratch: Vec::with_capacity(block * h.max(i)),
            pos: 0,
            k_cache: vec![vec![0.0; maxp * kv]; c.num_hidden_layers],
            v_cache: vec![vec![0.0; maxp * kv]; c.num_hidden_layers],
            x: vec![0.0; block * h],
            xn: vec![0.0; block * h],
            q: vec![0.0; block * h],
            k: vec![0.0; block * kv],
            v: vec![0.0; block * kv],
            att: vec![0.0; block * h],
            proj: vec![0.0; block * h],
            scores: vec![0.0; maxp],
            gate: vec![0.0; block * i],
            up: vec![0.0; block * i],
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

    /// Keys and values of `layer` for the positions fed so far (`[position, kv_dim]` each),
    /// or `None` for a layer the model does not have. For tests and diagnostics.
    pub fn kv_cache(&self, layer: usize) -> Option<(&[f32], &[f32])> {
        let n = self.pos * self.model.config().kv_dim();
        Some((
            self.k_cache.get(layer)?.get(..n)?,
            self.v_cache.get(layer)?.get(..n)?,
        ))
    }

    /// Bytes held by the cache and scratch buffers.
    pub fn memory_bytes(&self) -> usize {
        let cache: usize = self.k_cache.iter().chain(&self.v_cache).map(Vec::len).sum();
        let scratch = self.x.len() * 6
            + self.k.len() * 2
            + self.scores.len()
            + self.gate.len() * 2
            + self.logits.len();
        (cache + scratch) * 4 + self.qscratch.capacity() * 2
    }

    /// Feed every token of `tokens`; returns the logits after the last one. An empty slice
    /// returns the logits of the previous call (zeros for a fresh session). The same as
    /// [`Session::prefill`] for a non-empty slice.
    pub fn feed_all(&mut self, tokens: &[u32]) -> Result<&[f32], Error> {
        if tokens.is_empty() {
            return Ok(&self.logits);
        }
        self.prefill(tokens)
    }

    /// Feed a prompt: fills the KV cache for every token of `tokens`, [`PREFILL_BLOCK`]
    /// positions at a time, and returns the logits after the last one. The output head
    /// (vocab × hidden, the largest single projection) runs only for the last token, since
    /// nobody reads the logits of the others. An empty slice is refused (there would be no
    /// logits to return); nothing is fed when a token is out of range or the prompt does not
    /// fit.
    pub fn prefill(&mut self, tokens: &[u32]) -> Result<&[f32], Error> {
        self.prefill_in_blocks(tokens, PREFILL_BLOCK)
    }

    /// [`Session::prefill`] with blocks of `block` positions (clamped to 1..=
    /// [`PREFILL_BLOCK`]); `block == 1` is the token-by-token prefill. The result is the same
    /// bit for bit whatever the block; only the time differs (benchmarks compare them).
    pub fn prefill_in_blocks(&mut self, tokens: &[u32], block: usize) -> Result<&[f32], Error> {
        if tokens.is_empty() {
            return Err(Error::InvalidSampling("prompt is empty".into()));
        }
        self.check(tokens)?;
        let layers = self.model.config().num_hidden_layers;
        let mut rows = 0;
        for chunk in tokens.chunks(block.clamp(1, self.block)) {
            self.run_block(chunk, layers)?;
            rows = chunk.len();
        }
        self.logits_of_row(rows - 1);
        Ok(&self.logits)
    }

    /// Feed one token at the next position; returns the logits predicting the token after it.
    pub fn feed(&mut self, token: u32) -> Result<&[f32], Error> {
        self.check(&[token])?;
        self.run_block(&[token], self.model.config().num_hidden_layers)?;
        self.logits_of_row(0);
        Ok(&self.logits)
    }

    /// The hidden state entering layer `layers` (`[tokens.len(), hidden]`, row per position)
    /// for a prompt fed from the session's current position: the embedding run through the
    /// first `layers` decoder layers only, with this session's weights, in blocks as
    /// [`Session::prefill`]. The LoRA trainer caches it for the frozen layers below its
    /// adapters; with the quantized weights this is the integer path the kernel decodes with,
    /// several times cheaper than f32 under TCG. The session's cache then holds keys and
    /// values of those layers only: [`Session::reset`] before decoding with it.
    pub fn hidden_before_layer(
        &mut self,
        tokens: &[u32],
        layers: usize,
    ) -> Result<Vec<f32>, Error> {
        let c = self.model.config();
        let (layers, h) = (layers.min(c.num_hidden_layers), c.hidden_size);
        self.check(tokens)?;
        let mut out = Vec::with_capacity(tokens.len() * h);
        for chunk in tokens.chunks(self.block) {
            self.run_block(chunk, layers)?;
            out.extend_from_slice(&self.x[..chunk.len() * h]);
        }
        Ok(out)
    }

    /// Refuses tokens outside the vocabulary and more tokens than the cache has room for.
    fn check(&self, tokens: &[u32]) -> Result<(), Error> {
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
        Ok(())
    }

    /// The logits after block row `row`: final norm and output head.
    fn logits_of_row(&mut self, row: usize) {
        let m = self.model;
        let c = m.config();
        let h = c.hidden_size;
        let (x, xn) = (&self.x[row * h..(row + 1) * h], &mut self.xn[..h]);
        rmsnorm(x, m.final_norm(), c.rms_norm_eps, xn);
        m.project_head(xn, &mut self.logits, &mut self.qscratch);
    }

    /// Embeds `tokens` (at most the block's rows, already [`Session::check`]ed) at the next
    /// positions and runs them through layers `0..layers`, leaving their hidden states in the
    /// rows of `self.x`, and advances the position.
    fn run_block(&mut self, tokens: &[u32], layers: usize) -> Result<(), Error> {
        let m = self.model;
        let c = m.config();
        let n = tokens.len();
        if n > self.block {
            return Err(Error::InvalidConfig(alloc::format!(
                "a block of {n} positions exceeds the session's {}",
                self.block
            )));
        }
        self.check(tokens)?;
        let (h, kv, inter) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        let hd = c.head_dim();
        for (row, &t) in self.x.chunks_exact_mut(h).zip(tokens) {
            row.copy_from_slice(m.embedding(t as usize));
        }
        let qs = &mut self.qscratch;
        let (x, xn) = (&mut self.x[..n * h], &mut self.xn[..n * h]);
        let (q, k, v) = (
            &mut self.q[..n * h],
            &mut self.k[..n * kv],
            &mut self.v[..n * kv],
        );
        let (att, proj) = (&mut self.att[..n * h], &mut self.proj[..n * h]);
        let (gate, up) = (&mut self.gate[..n * inter], &mut self.up[..n * inter]);
        for l in 0..layers {
            for (xr, xnr) in x.chunks_exact(h).zip(xn.chunks_exact_mut(h)) {
                rmsnorm(xr, m.layer_norm(l, false), c.rms_norm_eps, xnr);
            }
            m.project_rows_shared(l, [Proj::Q, Proj::K, Proj::V], xn, n, [q, k, v], qs);
            let (kc, vc) = (&mut self.k_cache[l], &mut self.v_cache[l]);
            // Position by position, in order: each attends to the cache up to itself, as
            // when the tokens are fed one at a time.
            for i in 0..n {
                let pos = self.pos + i;
                let qi = &mut q[i * h..(i + 1) * h];
                let ki = &mut k[i * kv..(i + 1) * kv];
                for head in qi.chunks_exact_mut(hd).chain(ki.chunks_exact_mut(hd)) {
                    m.rope().apply(head, pos);
                }
                kc[pos * kv..(pos + 1) * kv].copy_from_slice(ki);
                vc[pos * kv..(pos + 1) * kv].copy_from_slice(&v[i * kv..(i + 1) * kv]);
                attend(
                    c,
                    qi,
                    kc,
                    vc,
                    &mut self.scores[..=pos],
                    &mut att[i * h..(i + 1) * h],
                );
            }
            m.project_rows(l, Proj::O, att, n, proj, qs);
            for (xv, p) in x.iter_mut().zip(proj.iter()) {
                *xv += p;
            }
            for (xr, xnr) in x.chunks_exact(h).zip(xn.chunks_exact_mut(h)) {
                rmsnorm(xr, m.layer_norm(l, true), c.rms_norm_eps, xnr);
            }
            m.project_rows_shared(l, [Proj::Gate, Proj::Up], xn, n, [gate, up], qs);
            for (g, u) in gate.iter_mut().zip(up.iter()) {
                *g = silu(*g) * u;
            }
            m.project_rows(l, Proj::Down, gate, n, proj, qs);
            for (xv, p) in x.iter_mut().zip(proj.iter()) {
                *xv += p;
            }
        }
        self.pos += n;
        Ok(())
    }
}

/// Attention of one position's query `q` (`[heads × head_dim]`, RoPE applied) over the
/// cached keys and values of positions `0..scores.len()` (`kc`, `vc`: `[position, kv_dim]`),
/// into `out`; `scores` is working space of one entry per attended position.
fn attend(c: &LlamaConfig, q: &[f32], kc: &[f32], vc: &[f32], scores: &mut [f32], out: &mut [f32]) {
    let kv = c.kv_dim();
    let (nh, hd) = (c.num_attention_heads, c.head_dim());
    let group = nh / c.kv_heads();
    let scale = 1.0 / libm::sqrtf(hd as f32);
    for hh in 0..nh {
        let kvh = hh / group;
        let qh = &q[hh * hd..(hh + 1) * hd];
        for (s, score) in scores.iter_mut().enumerate() {
            let kr = &kc[s * kv + kvh * hd..s * kv + (kvh + 1) * hd];
            *score = dot(qh, kr) * scale;
        }
        softmax(scores);
        let o = &mut out[hh * hd..(hh + 1) * hd];
        o.iter_mut().for_each(|v| *v = 0.0);
        for (s, &p) in scores.iter().enumerate() {
            let vr = &vc[s * kv + kvh * hd..s * kv + (kvh + 1) * hd];
            crate::ops::axpy(o, p, vr);
        }
    }
}

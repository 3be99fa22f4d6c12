//! Quantized inference for the kernel under QEMU TCG: 12-bit weights and activations in `i16`,
//! `i32` accumulation.
//!
//! Why: under QEMU TCG, integer SIMD is several times faster than f32. Measured with QEMU 7.2
//! (bare-metal kernel under TCG, matrix-vector loops with n = 256 and 512, ±25 % run to run):
//! SSE2 `pmaddwd` on i16 ≈ 0.53 GOP/s against ≈ 0.15–0.19 GOP/s for packed f32 SSE and ≈ 0.13
//! for scalar f32. The repository has no TCG benchmark of this arithmetic yet; the ratio for
//! this engine can be re-measured by running the crate's `examples/bench.rs` (it prints f32 and
//! quantized decode tokens/s) under QEMU's user-mode emulator, which uses the same TCG code
//! generator and so gives a lower bound on in-kernel cost (`cargo build --release -p llm
//! --example bench`, then `qemu-x86_64 -cpu max
//! target/x86_64-unknown-linux-gnu/release/examples/bench`).
//!
//! Each linear weight row is quantized symmetrically to [-2047, 2047] with its own f32 scale
//! and stored as `i16`; before each projection the input vector is quantized with one scale to
//! [-A, A], A = min(2047, (2³¹ − 1) / (n_in · 2047)) — 12 bits up to 512 inputs, fewer beyond,
//! so the i32 sum can never overflow. (8-bit weights were tried first: 5 % logit error on a
//! 3-layer model, against < 1 % with 12 bits at the same i16 storage.) Projections wider than
//! [`MAX_QUANT_IN`] inputs are refused at construction.
//!
//! The dot product [`dot_i16`] lives in `crate::simd` (re-exported here with its reference
//! [`dot_i16_scalar`]). It is written with SSE2 intrinsics because LLVM's autovectoriser used
//! `pmaddwd` on the plain i16 loop only as a 4-lane multiply with unpacking, slower than f32.
//! It holds the library's only `unsafe`: one block in [`dot_i16`] that calls the
//! `#[target_feature(enable = "sse2")]` body, sound because block and body are compiled only
//! when the build itself targets SSE2 (the full argument is in `simd.rs`). Builds without SSE2
//! compile [`dot_i16`] to [`dot_i16_scalar`]; a test checks the two agree bit for bit.
//!
//! Norms, RoPE, attention over the KV cache and the embedding lookup stay f32 (they are a small
//! share of the work). Key type: [`QuantModel`], used through [`crate::infer::Session`].
//! Agreement with the f32 reference is tested in `tests/quant.rs`.

use alloc::vec::Vec;

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::infer::{DecodeWeights, Proj};
use crate::model::LlamaModel;
use crate::ops::Rope;

/// Weight quantization range (12 bits signed).
const W_MAX: f32 = 2047.0;
/// Largest input width accepted; activations then still get 7 bits (±128).
pub const MAX_QUANT_IN: usize = 8192;

/// Activation range for `n_in` inputs such that n_in · W_MAX · A < 2³¹.
fn act_max(n_in: usize) -> f32 {
    let a = (i32::MAX as i64 / (n_in.max(1) as i64 * W_MAX as i64)).min(2047);
    a as f32
}

pub use crate::simd::{dot_i16, dot_i16_scalar, dot_i16_x4, dot_i16_x4_scalar};

/// Most rows [`QLinear::apply_rows`] quantizes before reading the weights: the batched
/// prefill's block ([`crate::infer::PREFILL_BLOCK`]).
pub const ROW_BLOCK: usize = crate::infer::PREFILL_BLOCK;

/// A linear layer with per-output-row 12-bit weights (stored as i16 for `pmaddwd`).
#[derive(Debug, Clone, PartialEq)]
pub struct QLinear {
    n_in: usize,
    n_out: usize,
    w: Vec<i16>,
    scale: Vec<f32>,
}

impl QLinear {
    /// Quantize an `[n_out, n_in]` row-major f32 matrix.
    pub fn quantize(w: &[f32], n_in: usize, n_out: usize) -> Result<QLinear, Error> {
        if n_in == 0 || n_in > MAX_QUANT_IN || w.len() != n_in * n_out {
            return Err(Error::InvalidConfig(alloc::format!(
                "cannot quantize a [{n_out}, {n_in}] projection (inputs must be 1..={MAX_QUANT_IN})"
            )));
        }
        let mut q = Vec::with_capacity(w.len());
        let mut scale = Vec::with_capacity(n_out);
        for row in w.chunks_exact(n_in) {
            let m = row.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let s = if m > 0.0 && m.is_finite() {
                m / W_MAX
            } else {
                1.0
            };
            scale.push(s);
            q.extend(row.iter().map(|v| round_clamp(v / s, W_MAX)));
        }
        Ok(QLinear {
            n_in,
            n_out,
            w: q,
            scale,
        })
    }

    /// `out = W · x`; `xq` receives the quantized input.
    pub fn apply(&self, x: &[f32], out: &mut [f32], xq: &mut Vec<i16>) {
        xq.clear();
        let xs = quantize_activations(&x[..self.n_in.min(x.len())], act_max(self.n_in), xq);
        for ((o, row), s) in out
            .iter_mut()
            .zip(self.w.chunks_exact(self.n_in))
            .zip(&self.scale)
            .take(self.n_out)
        {
            *o = dot_i16(row, xq) as f32 * (s * xs);
        }
    }

    /// [`QLinear::apply`] for `rows` inputs at once: `x` is `[rows, n_in]`, `out` is
    /// `[rows, n_out]`, row-major; each output row is bit-identical to `apply` on its input
    /// row. Up to [`ROW_BLOCK`] rows are quantized first, then each weight row is read once
    /// for all of them, four at a time ([`crate::simd::dot_i16_x4`]); `xq` receives the
    /// quantized inputs.
    pub fn apply_rows(&self, x: &[f32], rows: usize, out: &mut [f32], xq: &mut Vec<i16>) {
        QLinear::apply_rows_shared(&mut [(self, out)], x, rows, xq);
    }

    /// [`QLinear::apply_rows`] of several layers that read the same inputs (the query, key
    /// and value projections; the gate and up projections), each `(layer, out)` pair as
    /// `apply_rows` would compute it: the inputs are quantized once per block for all of
    /// them, rather than once per layer. Layers whose width differs from the first one's
    /// get their own quantization (never happens in a Llama layer, kept correct anyway).
    pub fn apply_rows_shared(
        layers: &mut [(&QLinear, &mut [f32])],
        x: &[f32],
        rows: usize,
        xq: &mut Vec<i16>,
    ) {
        let Some(n_in) = layers.first().map(|(l, _)| l.n_in) else {
            return;
        };
        if layers.iter().any(|(l, _)| l.n_in != n_in) {
            for (l, out) in layers.iter_mut() {
                QLinear::apply_rows_shared(&mut [(*l, &mut **out)], x, rows, xq);
            }
            return;
        }
        let amax = act_max(n_in);
        for (b, xb) in x
            .chunks(ROW_BLOCK * n_in)
            .take(rows.div_ceil(ROW_BLOCK))
            .enumerate()
        {
            let mut xs = [0.0f32; ROW_BLOCK];
            xq.clear();
            let block = xb.len() / n_in;
            for (s, xr) in xs.iter_mut().zip(xb.chunks_exact(n_in)) {
                *s = quantize_activations(xr, amax, xq);
            }
            for (l, out) in layers.iter_mut() {
                let n_out = l.n_out;
                let Some(ob) = out.chunks_mut(ROW_BLOCK * n_out).nth(b) else {
                    continue;
                };
                let block = block.min(ob.len() / n_out);
                l.apply_quantized(xq, &xs[..block], ob);
            }
        }
    }

    /// Outputs of up to [`ROW_BLOCK`] quantized input rows (`xq`: `[xs.len(), n_in]`, `xs`
    /// their scales) into `ob` (`[xs.len(), n_out]`).
    ///
    /// The integer sums are parked in `ob` as bit patterns and converted in a second pass
    /// over contiguous outputs, which the compiler turns into packed conversions and
    /// multiplies: under QEMU TCG every f32 instruction is a helper call, so four lanes per
    /// call instead of one is most of this function's cost. The arithmetic per output is
    /// `apply`'s (`sum as f32 * (scale * xs)`), so the results are bit-identical to it.
    fn apply_quantized(&self, xq: &[i16], xs: &[f32], ob: &mut [f32]) {
        let (n_in, n_out, block) = (self.n_in, self.n_out, xs.len());
        let input = |k: usize| &xq[k * n_in..(k + 1) * n_in];
        for (o, row) in self.w.chunks_exact(n_in).enumerate() {
            let mut r = 0;
            while r + 4 <= block {
                let sums = dot_i16_x4(row, [input(r), input(r + 1), input(r + 2), input(r + 3)]);
                for (k, sum) in sums.into_iter().enumerate() {
                    ob[(r + k) * n_out + o] = f32::from_bits(sum as u32);
                }
                r += 4;
            }
            for k in r..block {
                ob[k * n_out + o] = f32::from_bits(dot_i16(row, input(k)) as u32);
            }
        }
        for (orow, &x_scale) in ob.chunks_exact_mut(n_out).zip(xs) {
            for (v, &s) in orow.iter_mut().zip(&self.scale) {
                *v = (v.to_bits() as i32) as f32 * (s * x_scale);
            }
        }
    }

    /// Bytes of weight storage.
    pub fn size_bytes(&self) -> usize {
        self.w.len() * 2 + self.scale.len() * 4
    }
}

/// Round half away from zero and clamp to ±`max` (≤ 2047). Written out because `f32::round`
/// is not in `core` and `libm::roundf` is a slow bit-twiddling routine on this hot path;
/// the `as` cast truncates toward zero and saturates (NaN → 0).
#[inline]
fn round_clamp(v: f32, max: f32) -> i16 {
    let c = v.clamp(-max, max);
    (if c >= 0.0 { c + 0.5 } else { c - 0.5 }) as i16
}

/// Quantize `x` to [-amax, amax], appended to `out`; returns the scale (`x ≈ out · scale`).
fn quantize_activations(x: &[f32], amax: f32, out: &mut Vec<i16>) -> f32 {
    // The largest |v| by comparing bit patterns as integers (monotonic for non-negative
    // floats): integer compares run natively under TCG where `maxss` is a helper call.
    // NaNs (patterns above +inf) are skipped, as `f32::max` skips them.
    let bits = x
        .iter()
        .map(|v| v.to_bits() & 0x7fff_ffff)
        .filter(|&b| b <= 0x7f80_0000)
        .max()
        .unwrap_or(0);
    let m = f32::from_bits(bits);
    let s = if m > 0.0 && m.is_finite() {
        m / amax
    } else {
        1.0
    };
    let inv = 1.0 / s;
    out.extend(x.iter().map(|v| round_clamp(v * inv, amax)));
    s
}

#[derive(Debug, Clone, PartialEq)]
struct QLayer {
    attn_norm: Vec<f32>,
    mlp_norm: Vec<f32>,
    proj: [QLinear; 7],
}

/// A model with quantized projections and head, for [`crate::infer::Session`].
#[derive(Debug, Clone)]
pub struct QuantModel {
    cfg: LlamaConfig,
    rope: Rope,
    embed: Vec<f32>,
    layers: Vec<QLayer>,
    norm: Vec<f32>,
    head: QLinear,
}

impl QuantModel {
    /// Quantize every projection and the output head of `model`.
    pub fn from_model(model: &LlamaModel) -> Result<QuantModel, Error> {
        let c = model.config();
        let h = c.hidden_size;
        let mut layers = Vec::with_capacity(c.num_hidden_layers);
        for lp in &model.params.layers {
            let [q, k, v, o, gate, up, down] = lp
                .projections(c)
                .map(|(w, n_in, n_out)| QLinear::quantize(w, n_in, n_out));
            layers.push(QLayer {
                attn_norm: lp.attn_norm.clone(),
                mlp_norm: lp.mlp_norm.clone(),
                proj: [q?, k?, v?, o?, gate?, up?, down?],
            });
        }
        Ok(QuantModel {
            cfg: c.clone(),
            rope: model.rope.clone(),
            embed: model.params.embed.clone(),
            layers,
            norm: model.params.norm.clone(),
            head: QLinear::quantize(model.head(), h, c.vocab_size)?,
        })
    }

    /// Bytes of quantized weight storage (projections + head; embedding and norms are f32).
    pub fn quantized_bytes(&self) -> usize {
        self.layers
            .iter()
            .flat_map(|l| l.proj.iter())
            .map(QLinear::size_bytes)
            .sum::<usize>()
            + self.head.size_bytes()
    }
}

/// Position of projection `p` in [`QLayer::proj`].
fn proj_index(p: Proj) -> usize {
    match p {
        Proj::Q => 0,
        Proj::K => 1,
        Proj::V => 2,
        Proj::O => 3,
        Proj::Gate => 4,
        Proj::Up => 5,
        Proj::Down => 6,
    }
}

impl DecodeWeights for QuantModel {
    fn config(&self) -> &LlamaConfig {
        &self.cfg
    }
    fn rope(&self) -> &Rope {
        &self.rope
    }
    fn embedding(&self, token: usize) -> &[f32] {
        let h = self.cfg.hidden_size;
        &self.embed[token * h..(token + 1) * h]
    }
    fn layer_norm(&self, layer: usize, mlp: bool) -> &[f32] {
        let l = &self.layers[layer];
        if mlp { &l.mlp_norm } else { &l.attn_norm }
    }
    fn final_norm(&self) -> &[f32] {
        &self.norm
    }
    fn project(&self, layer: usize, p: Proj, x: &[f32], out: &mut [f32], scratch: &mut Vec<i16>) {
        self.layers[layer].proj[proj_index(p)].apply(x, out, scratch);
    }
    fn project_rows(
        &self,
        layer: usize,
        p: Proj,
        x: &[f32],
        rows: usize,
        out: &mut [f32],
        scratch: &mut Vec<i16>,
    ) {
        self.layers[layer].proj[proj_index(p)].apply_rows(x, rows, out, scratch);
    }
    fn project_rows_shared<const N: usize>(
        &self,
        layer: usize,
        ps: [Proj; N],
        x: &[f32],
        rows: usize,
        outs: [&mut [f32]; N],
        scratch: &mut Vec<i16>,
    ) {
        let proj = &self.layers[layer].proj;
        let mut pairs = outs.map(|out| (&proj[0], out));
        for (pair, p) in pairs.iter_mut().zip(ps) {
            pair.0 = &proj[proj_index(p)];
        }
        QLinear::apply_rows_shared(&mut pairs, x, rows, scratch);
    }
    fn project_head(&self, x: &[f32], out: &mut [f32], scratch: &mut Vec<i16>) {
        self.head.apply(x, out, scratch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_i16_matches_naive_at_the_extremes() {
        let a: Vec<i16> = (0..1001)
            .map(|i| if i % 3 == 0 { 2047 } else { -2047 })
            .collect();
        let b: Vec<i16> = (0..1001)
            .map(|i| if i % 2 == 0 { 2047 } else { -2047 })
            .collect();
        let naive: i64 = a.iter().zip(&b).map(|(&x, &y)| x as i64 * y as i64).sum();
        assert_eq!(dot_i16(&a, &b) as i64, naive);
        // The largest sums the range rule allows do not overflow.
        for n in [1usize, 7, 512, 513, 1000, MAX_QUANT_IN] {
            let w = vec![2047i16; n];
            let x = vec![act_max(n) as i16; n];
            let exact = 2047i64 * act_max(n) as i64 * n as i64;
            assert!(exact <= i32::MAX as i64);
            assert_eq!(dot_i16(&w, &x) as i64, exact, "n = {n}");
        }
        assert_eq!(act_max(512), 2047.0);
        assert!(act_max(MAX_QUANT_IN) >= 127.0);
    }

    #[test]
    fn qlinear_is_close_to_f32() {
        let mut r = crate::rng::Rng::new(4);
        let (n_in, n_out) = (37, 11);
        let w: Vec<f32> = (0..n_in * n_out).map(|_| r.normal()).collect();
        let x: Vec<f32> = (0..n_in).map(|_| r.normal()).collect();
        let q = QLinear::quantize(&w, n_in, n_out).unwrap();
        let mut out = vec![0.0; n_out];
        q.apply(&x, &mut out, &mut Vec::new());
        for (o, wr) in out.iter().zip(w.chunks_exact(n_in)) {
            let exact = crate::ops::dot(wr, &x);
            // 12-bit weights and activations: ≲ 1/4094 of the row/vector maximum per element.
            assert!((o - exact).abs() < 0.01, "{o} vs {exact}");
        }
        assert!(QLinear::quantize(&w, 0, n_out).is_err());
        assert!(QLinear::quantize(&w, n_in, n_out + 1).is_err());
    }
}

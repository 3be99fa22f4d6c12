//! Numeric kernels shared by inference ([`crate::infer`]) and training ([`crate::train`]).
//!
//! All matrices are row-major `&[f32]`. A linear layer's weight is `[out, in]` (HF layout), so
//! the forward product is `Y[t] = W · X[t]` — a dot product of two contiguous rows per output,
//! which is the cache-friendly direction. Dot products use 8 independent accumulators so LLVM
//! emits packed SSE2 adds/muls without needing fast-math reassociation. Backward products are
//! written as `axpy` over contiguous rows for the same reason.
//!
//! Slice lengths are internal invariants, not input: callers size every buffer from a validated
//! config, so no file or token can make these kernels index out of bounds.

/// Dot product with 8 accumulators (vectorises to two 4-wide SSE registers).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ra.iter().zip(rb) {
        tail += x * y;
    }
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7])) + tail
}

/// `y += a * x`.
#[inline]
pub fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += a * xi;
    }
}

/// `out[t, o] = Σ_i x[t, i] · w[o, i]` for `t < rows`: `X · Wᵀ` with `w` of shape `[n_out, n_in]`.
///
/// One [`dot`] per output. Register-blocked variants (2 or 4 rows of `x` per weight row) were
/// measured slower here (LLVM spilled the accumulator arrays), so the simple form stays.
pub fn matmul_wt(x: &[f32], w: &[f32], out: &mut [f32], rows: usize, n_in: usize, n_out: usize) {
    if n_in == 0 {
        out.iter_mut().for_each(|v| *v = 0.0);
        return;
    }
    for (xr, orow) in x
        .chunks_exact(n_in)
        .zip(out.chunks_exact_mut(n_out))
        .take(rows)
    {
        for (o, wr) in orow.iter_mut().zip(w.chunks_exact(n_in)) {
            *o = dot(wr, xr);
        }
    }
}

/// `out[t, o] += alpha · Σ_i x[t, i] · w[o, i]` — accumulating, scaled [`matmul_wt`] (used
/// for the low-rank LoRA path, where sizes are tiny and simplicity wins).
pub fn matmul_wt_acc(
    x: &[f32],
    w: &[f32],
    out: &mut [f32],
    rows: usize,
    n_in: usize,
    n_out: usize,
    alpha: f32,
) {
    if n_in == 0 || n_out == 0 {
        return;
    }
    for (xr, orow) in x
        .chunks_exact(n_in)
        .zip(out.chunks_exact_mut(n_out))
        .take(rows)
    {
        for (o, wr) in orow.iter_mut().zip(w.chunks_exact(n_in)) {
            *o += alpha * dot(wr, xr);
        }
    }
}

/// `dx[t, i] += Σ_o dy[t, o] · w[o, i]` — gradient of `X · Wᵀ` with respect to `X`.
pub fn matmul_w_acc(dy: &[f32], w: &[f32], dx: &mut [f32], rows: usize, n_in: usize, n_out: usize) {
    if n_in == 0 || n_out == 0 {
        return;
    }
    for (dyr, dxr) in dy
        .chunks_exact(n_out)
        .zip(dx.chunks_exact_mut(n_in))
        .take(rows)
    {
        for (&g, wr) in dyr.iter().zip(w.chunks_exact(n_in)) {
            if g != 0.0 {
                axpy(dxr, g, wr);
            }
        }
    }
}

/// `dw[o, i] += Σ_t dy[t, o] · x[t, i]` — gradient of `X · Wᵀ` with respect to `W`.
pub fn matmul_grad_w(
    dy: &[f32],
    x: &[f32],
    dw: &mut [f32],
    rows: usize,
    n_in: usize,
    n_out: usize,
) {
    if n_in == 0 || n_out == 0 {
        return;
    }
    for (dyr, xr) in dy.chunks_exact(n_out).zip(x.chunks_exact(n_in)).take(rows) {
        for (&g, dwr) in dyr.iter().zip(dw.chunks_exact_mut(n_in)) {
            if g != 0.0 {
                axpy(dwr, g, xr);
            }
        }
    }
}

/// RMSNorm of one row: `out = w ⊙ x / sqrt(mean(x²) + eps)`; returns the inverse RMS
/// (training keeps it for the backward pass). Matches HF LlamaRMSNorm in f32.
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) -> f32 {
    let n = x.len().max(1) as f32;
    let ms = dot(x, x) / n;
    let inv = 1.0 / libm::sqrtf(ms + eps);
    for ((o, &xi), &wi) in out.iter_mut().zip(x).zip(w) {
        *o = wi * (xi * inv);
    }
    inv
}

/// Backward of [`rmsnorm`] for one row: adds into `dx` and `dw`.
pub fn rmsnorm_backward(
    x: &[f32],
    w: &[f32],
    inv: f32,
    dy: &[f32],
    dx: &mut [f32],
    dw: Option<&mut [f32]>,
) {
    let n = x.len().max(1) as f32;
    // s = Σ dy_i w_i x_i ; dx_i = inv·w_i·dy_i − inv³/n · x_i · s
    let mut s = 0.0f32;
    for ((&d, &wi), &xi) in dy.iter().zip(w).zip(x) {
        s += d * wi * xi;
    }
    let c = inv * inv * inv * s / n;
    for (((dxi, &d), &wi), &xi) in dx.iter_mut().zip(dy).zip(w).zip(x) {
        *dxi += inv * wi * d - c * xi;
    }
    if let Some(dw) = dw {
        for ((dwi, &d), &xi) in dw.iter_mut().zip(dy).zip(x) {
            *dwi += d * xi * inv;
        }
    }
}

/// Precomputed RoPE cos/sin tables: `[max_pos, head_dim / 2]` each (HF's `inv_freq`).
#[derive(Debug, Clone)]
pub struct Rope {
    half: usize,
    cos: alloc::vec::Vec<f32>,
    sin: alloc::vec::Vec<f32>,
}

impl Rope {
    /// Tables for positions `0..max_pos`. The angle is computed in f64 and then rounded, which
    /// stays within f32 rounding of HF's f32 computation.
    pub fn new(head_dim: usize, max_pos: usize, theta: f32) -> Self {
        let half = head_dim / 2;
        let mut cos = alloc::vec![0.0; max_pos * half];
        let mut sin = alloc::vec![0.0; max_pos * half];
        for i in 0..half {
            // HF: inv_freq = 1 / theta^(arange(0, d, 2) / d), computed in f32.
            let inv_freq = 1.0f32 / libm::powf(theta, (2 * i) as f32 / head_dim as f32);
            for p in 0..max_pos {
                let ang = p as f32 * inv_freq;
                cos[p * half + i] = libm::cosf(ang);
                sin[p * half + i] = libm::sinf(ang);
            }
        }
        Rope { half, cos, sin }
    }

    /// Rotate one head vector in place at position `pos` (HF `rotate_half` convention: the
    /// pairs are `(x[i], x[i + d/2])`).
    pub fn apply(&self, x: &mut [f32], pos: usize) {
        self.rotate(x, pos, 1.0);
    }

    /// Transpose of [`Rope::apply`] (rotation by −angle): maps output gradients to input ones.
    pub fn apply_transpose(&self, g: &mut [f32], pos: usize) {
        self.rotate(g, pos, -1.0);
    }

    /// Rotates each pair by `direction` × the position's angle (+1 forward, −1 transpose).
    fn rotate(&self, x: &mut [f32], pos: usize, direction: f32) {
        let h = self.half;
        let (c, s) = match (
            self.cos.get(pos * h..(pos + 1) * h),
            self.sin.get(pos * h..(pos + 1) * h),
        ) {
            (Some(c), Some(s)) => (c, s),
            _ => return,
        };
        let (a, b) = x.split_at_mut(h.min(x.len()));
        for i in 0..h.min(b.len()) {
            let (xa, xb) = (a[i], b[i]);
            let sin = direction * s[i];
            a[i] = xa * c[i] - xb * sin;
            b[i] = xb * c[i] + xa * sin;
        }
    }
}

/// `silu(x) = x · sigmoid(x)`.
#[inline]
pub fn silu(x: f32) -> f32 {
    x / (1.0 + libm::expf(-x))
}

/// In-place softmax; returns nothing meaningful for an empty slice. `-inf` entries get 0.
pub fn softmax(x: &mut [f32]) {
    let m = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    if !m.is_finite() {
        return;
    }
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = libm::expf(*v - m);
        sum += *v;
    }
    let inv = 1.0 / sum;
    for v in x.iter_mut() {
        *v *= inv;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn naive(x: &[f32], w: &[f32], rows: usize, n_in: usize, n_out: usize) -> Vec<f32> {
        let mut out = alloc::vec![0.0; rows * n_out];
        for t in 0..rows {
            for o in 0..n_out {
                let mut s = 0.0f64;
                for i in 0..n_in {
                    s += x[t * n_in + i] as f64 * w[o * n_in + i] as f64;
                }
                out[t * n_out + o] = s as f32;
            }
        }
        out
    }

    #[test]
    fn matmul_matches_naive_for_odd_sizes() {
        let mut r = crate::rng::Rng::new(3);
        for &(rows, n_in, n_out) in &[(1, 1, 1), (5, 13, 7), (9, 33, 4), (4, 8, 8), (7, 17, 19)] {
            let x: Vec<f32> = (0..rows * n_in).map(|_| r.normal()).collect();
            let w: Vec<f32> = (0..n_out * n_in).map(|_| r.normal()).collect();
            let mut out = alloc::vec![0.0; rows * n_out];
            matmul_wt(&x, &w, &mut out, rows, n_in, n_out);
            for (a, b) in out.iter().zip(naive(&x, &w, rows, n_in, n_out)) {
                assert!((a - b).abs() < 1e-4, "{a} vs {b}");
            }
        }
    }

    #[test]
    fn rope_transpose_is_inverse() {
        let rope = Rope::new(8, 16, 10_000.0);
        let x: Vec<f32> = (0..8).map(|i| i as f32 - 3.5).collect();
        let mut y = x.clone();
        rope.apply(&mut y, 11);
        assert!(y.iter().zip(&x).any(|(a, b)| (a - b).abs() > 1e-3));
        rope.apply_transpose(&mut y, 11);
        for (a, b) in y.iter().zip(&x) {
            assert!((a - b).abs() < 1e-5);
        }
    }
}

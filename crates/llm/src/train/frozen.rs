//! Integer copies of the frozen weights a LoRA run multiplies by.
//!
//! A LoRA step runs the adapted layers forward and backward, and most of its arithmetic is
//! products with weights that never change: the base projections (forward, and their
//! transpose for the input gradient) and the output head. Under QEMU TCG f32 products cost
//! several times integer ones, and a guest profile of an in-kernel fine-tune put ~57 % of a
//! step in those two f32 products (docs/BENCHMARKS.md). [`FrozenQuant`] holds each frozen
//! projection of the adapted layers quantized as the inference path quantizes it
//! ([`QLinear`], 12-bit rows) plus a quantized transpose, so both products run on the integer
//! dot kernels. The adapters themselves, the attention, norms and every gradient stay f32.
//!
//! Training then sees the frozen layers as inference computes them (the quantized decoder),
//! which is also what the frozen-prefix cache below the adapters already does
//! (`Session::hidden_before_layer`). Full training ([`super::Trainer`]) never uses this: its
//! weights are not frozen.

use alloc::vec;
use alloc::vec::Vec;

use crate::Error;
use crate::model::LlamaModel;
use crate::ops::{matmul_w_acc, matmul_wt};
use crate::quant::QLinear;

/// One frozen projection `W` (`[n_out, n_in]`): `W` and `Wᵀ`, quantized by rows.
#[derive(Debug, Clone)]
pub struct FrozenLinear {
    forward: QLinear,
    transpose: QLinear,
}

impl FrozenLinear {
    fn new(w: &[f32], n_in: usize, n_out: usize) -> Result<FrozenLinear, Error> {
        let mut wt = vec![0.0f32; w.len()];
        for (o, row) in w.chunks_exact(n_in).enumerate() {
            for (i, &v) in row.iter().enumerate() {
                wt[i * n_out + o] = v;
            }
        }
        Ok(FrozenLinear {
            forward: QLinear::quantize(w, n_in, n_out)?,
            transpose: QLinear::quantize(&wt, n_out, n_in)?,
        })
    }
}

/// The frozen projections of layers `start_layer..` and the output head, quantized for a
/// LoRA run ([`crate::LoraTrainer`]).
#[derive(Debug, Clone)]
pub struct FrozenQuant {
    start_layer: usize,
    /// Per layer from `start_layer`: q, k, v, o, gate, up, down (the adapter target order).
    layers: Vec<[FrozenLinear; 7]>,
    head: FrozenLinear,
}

impl FrozenQuant {
    /// Quantizes the projections of `model`'s layers `start_layer..` and its head.
    pub fn new(model: &LlamaModel, start_layer: usize) -> Result<FrozenQuant, Error> {
        let c = model.config();
        let mut layers = Vec::new();
        for lp in model.params.layers.iter().skip(start_layer) {
            let [q, k, v, o, gate, up, down] = lp
                .projections(c)
                .map(|(w, n_in, n_out)| FrozenLinear::new(w, n_in, n_out));
            layers.push([q?, k?, v?, o?, gate?, up?, down?]);
        }
        Ok(FrozenQuant {
            start_layer,
            layers,
            head: FrozenLinear::new(model.head(), c.hidden_size, c.vocab_size)?,
        })
    }
}

/// A frozen weight as the training passes multiply by it: the f32 matrix, or its integer copy.
#[derive(Clone, Copy)]
pub(crate) enum Weight<'a> {
    F32(&'a [f32]),
    Int(&'a FrozenLinear),
}

impl Weight<'_> {
    /// `out = x · Wᵀ` for `rows` rows (`x`: `[rows, n_in]`, `out`: `[rows, n_out]`).
    pub(crate) fn forward(
        self,
        x: &[f32],
        out: &mut [f32],
        rows: usize,
        n_in: usize,
        n_out: usize,
    ) {
        match self {
            Weight::F32(w) => matmul_wt(x, w, out, rows, n_in, n_out),
            Weight::Int(q) => {
                let mut scratch = Vec::new();
                q.forward.apply_rows(x, rows, out, &mut scratch);
            }
        }
    }

    /// `dx += dy · W` for `rows` rows (`dy`: `[rows, n_out]`, `dx`: `[rows, n_in]`): the input
    /// gradient of [`Weight::forward`].
    pub(crate) fn input_grad_acc(
        self,
        dy: &[f32],
        dx: &mut [f32],
        rows: usize,
        n_in: usize,
        n_out: usize,
    ) {
        match self {
            Weight::F32(w) => matmul_w_acc(dy, w, dx, rows, n_in, n_out),
            Weight::Int(q) => {
                let mut part = vec![0.0f32; rows * n_in];
                let mut scratch = Vec::new();
                q.transpose.apply_rows(dy, rows, &mut part, &mut scratch);
                for (d, p) in dx.iter_mut().zip(&part) {
                    *d += p;
                }
            }
        }
    }
}

/// Projection `target` (adapter target order) of layer `l`: the integer copy when `frozen`
/// has that layer, else the f32 matrix `w`.
pub(crate) fn weight<'a>(
    frozen: Option<&'a FrozenQuant>,
    l: usize,
    target: usize,
    w: &'a [f32],
) -> Weight<'a> {
    frozen
        .and_then(|f| f.layers.get(l.checked_sub(f.start_layer)?))
        .and_then(|layer| layer.get(target))
        .map_or(Weight::F32(w), Weight::Int)
}

/// The output head: the integer copy when there is a `frozen`, else the f32 matrix `w`.
pub(crate) fn head_weight<'a>(frozen: Option<&'a FrozenQuant>, w: &'a [f32]) -> Weight<'a> {
    frozen.map_or(Weight::F32(w), |f| Weight::Int(&f.head))
}

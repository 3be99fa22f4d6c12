//! LoRA adapters themselves: `W' = W + (alpha / r) · B · A` on selected projections of
//! selected layers — the tensors, their initialisation, merge/unmerge, and the hooks that add
//! an unmerged adapter to a forward or backward pass.
//!
//! Key types: [`LoraTarget`] (which projection), [`LoraConfig`] (rank, alpha, targets,
//! layers), [`LoraPair`] (one A/B pair; [`LoraPair::forward_hook`] and
//! [`LoraPair::backward_hook`] are the low-rank path the training forward/backward in
//! [`crate::train`] add to every adapted projection), [`LoraAdapters`] (all pairs of one
//! model; PEFT init: A Kaiming-uniform, B zero, so a new adapter leaves the model unchanged).
//!
//! Neighbours: [`super::peft`] reads and writes these tensors as PEFT files;
//! [`super::trainer`] trains them; [`crate::train`]'s forward/backward call the hooks.

use alloc::format;
use alloc::vec;
use alloc::vec::Vec;

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::model::LlamaModel;
use crate::ops::{matmul_grad_w, matmul_w_acc, matmul_wt, matmul_wt_acc};
use crate::rng::Rng;

/// Number of projection kinds a layer has.
pub const NUM_TARGETS: usize = 7;

/// A projection that can carry an adapter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LoraTarget {
    /// `self_attn.q_proj`
    Q,
    /// `self_attn.k_proj`
    K,
    /// `self_attn.v_proj`
    V,
    /// `self_attn.o_proj`
    O,
    /// `mlp.gate_proj`
    Gate,
    /// `mlp.up_proj`
    Up,
    /// `mlp.down_proj`
    Down,
}

impl LoraTarget {
    /// All targets in index order.
    pub const ALL: [LoraTarget; NUM_TARGETS] = [
        LoraTarget::Q,
        LoraTarget::K,
        LoraTarget::V,
        LoraTarget::O,
        LoraTarget::Gate,
        LoraTarget::Up,
        LoraTarget::Down,
    ];

    /// PEFT `target_modules` name (`q_proj`, …).
    pub fn module_name(self) -> &'static str {
        match self {
            LoraTarget::Q => "q_proj",
            LoraTarget::K => "k_proj",
            LoraTarget::V => "v_proj",
            LoraTarget::O => "o_proj",
            LoraTarget::Gate => "gate_proj",
            LoraTarget::Up => "up_proj",
            LoraTarget::Down => "down_proj",
        }
    }

    /// Parse a PEFT module name.
    pub fn from_module_name(s: &str) -> Option<LoraTarget> {
        LoraTarget::ALL.into_iter().find(|t| t.module_name() == s)
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }

    /// The PEFT parent module (`self_attn` or `mlp`).
    pub(super) fn parent(self) -> &'static str {
        match self {
            LoraTarget::Q | LoraTarget::K | LoraTarget::V | LoraTarget::O => "self_attn",
            _ => "mlp",
        }
    }

    /// `(in_features, out_features)` of the projection.
    pub fn dims(self, cfg: &LlamaConfig) -> (usize, usize) {
        let (h, kv, i) = (cfg.hidden_size, cfg.kv_dim(), cfg.intermediate_size);
        match self {
            LoraTarget::Q | LoraTarget::O => (h, h),
            LoraTarget::K | LoraTarget::V => (h, kv),
            LoraTarget::Gate | LoraTarget::Up => (h, i),
            LoraTarget::Down => (i, h),
        }
    }
}

/// Which adapters to create.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank r (≥ 1).
    pub rank: usize,
    /// Scaling numerator: the update is `alpha / rank · B · A`.
    pub alpha: f32,
    /// Projections that get adapters (at least one).
    pub targets: Vec<LoraTarget>,
    /// Layer indices that get adapters (`None` = all), PEFT `layers_to_transform`.
    /// Adapting only the top layers makes training much cheaper (see module doc).
    pub layers: Option<Vec<usize>>,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            targets: vec![LoraTarget::Q, LoraTarget::V],
            layers: None,
        }
    }
}

/// One adapter: `a` is `[rank, in]`, `b` is `[out, rank]` (PEFT `lora_A` / `lora_B` layout).
#[derive(Debug, Clone, PartialEq)]
pub struct LoraPair {
    /// Rank r.
    pub rank: usize,
    /// `lora_A.weight`, `[rank, in]`.
    pub a: Vec<f32>,
    /// `lora_B.weight`, `[out, rank]`.
    pub b: Vec<f32>,
}

impl LoraPair {
    /// Forward hook of an unmerged adapter on one projection with `n_in` inputs and `n_out`
    /// outputs, over `rows` input rows: `out += scale · (x · Aᵀ) · Bᵀ`, keeping
    /// `mid = x · Aᵀ` (`[rows, rank]`) for [`LoraPair::backward_hook`].
    #[allow(
        clippy::too_many_arguments,
        reason = "the flat signature of the linear_fwd it is a part of"
    )]
    pub(crate) fn forward_hook(
        &self,
        x: &[f32],
        scale: f32,
        rows: usize,
        n_in: usize,
        n_out: usize,
        out: &mut [f32],
        mid: &mut Vec<f32>,
    ) {
        let r = self.rank;
        *mid = vec![0.0; rows * r];
        matmul_wt(x, &self.a, mid, rows, n_in, r);
        matmul_wt_acc(mid, &self.b, out, rows, r, n_out, scale);
    }

    /// Backward of [`LoraPair::forward_hook`] given the output gradient `dy`, the input `x`
    /// and the saved `mid`: accumulates the adapter's gradients into `grad` (if asked) and its
    /// share of the input gradient into `dx` (if asked).
    #[allow(
        clippy::too_many_arguments,
        reason = "the pieces of one linear layer's backward, as in linear_bwd"
    )]
    pub(crate) fn backward_hook(
        &self,
        dy: &[f32],
        x: &[f32],
        scale: f32,
        mid: &[f32],
        grad: Option<&mut LoraPair>,
        dx: Option<&mut [f32]>,
        rows: usize,
        n_in: usize,
        n_out: usize,
    ) {
        let r = self.rank;
        // dmid = scale · dy · B
        let mut dmid = vec![0.0; rows * r];
        matmul_w_acc(dy, &self.b, &mut dmid, rows, r, n_out);
        dmid.iter_mut().for_each(|v| *v *= scale);
        if let Some(g) = grad {
            // dB += scale · dyᵀ · mid
            let dy_s: Vec<f32> = dy.iter().map(|v| v * scale).collect();
            matmul_grad_w(&dy_s, mid, &mut g.b, rows, r, n_out);
            // dA += dmidᵀ · x
            matmul_grad_w(&dmid, x, &mut g.a, rows, n_in, r);
        }
        if let Some(dx) = dx {
            matmul_w_acc(&dmid, &self.a, dx, rows, n_in, r);
        }
    }
}

/// A set of adapters for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraAdapters {
    pub(super) config: LoraConfig,
    /// The model dimensions they were made for (checked on merge/forward).
    pub(super) dims: [(usize, usize); NUM_TARGETS],
    pub(super) num_layers: usize,
    /// Per layer, per target index.
    pub(super) layers: Vec<[Option<LoraPair>; NUM_TARGETS]>,
}

impl LoraAdapters {
    /// Fresh adapters: A ~ U(−1/√in, 1/√in) (PEFT's Kaiming-uniform with a = √5), B = 0.
    pub fn new(cfg: &LlamaConfig, lora: LoraConfig, seed: u64) -> Result<LoraAdapters, Error> {
        let mut rng = Rng::new(seed);
        Self::build(cfg, lora, |n_in, len| {
            let bound = 1.0 / libm::sqrtf(n_in as f32);
            (0..len).map(|_| rng.uniform(-bound, bound)).collect()
        })
    }

    /// Same layout with every A and B zero (gradient buffers).
    pub(super) fn zeros_like(&self) -> LoraAdapters {
        let mut z = self.clone();
        for t in z.tensors_mut() {
            t.iter_mut().for_each(|v| *v = 0.0);
        }
        z
    }

    /// Validate `lora` against `cfg` and lay out the pairs; `init_a(n_in, len)` fills each A.
    pub(super) fn build(
        cfg: &LlamaConfig,
        lora: LoraConfig,
        mut init_a: impl FnMut(usize, usize) -> Vec<f32>,
    ) -> Result<LoraAdapters, Error> {
        cfg.validate()?;
        if lora.rank == 0 || lora.rank > cfg.hidden_size.max(cfg.intermediate_size) {
            return Err(Error::Lora(format!("rank {} out of range", lora.rank)));
        }
        if !(lora.alpha.is_finite() && lora.alpha > 0.0) {
            return Err(Error::Lora(format!(
                "lora_alpha {} must be > 0",
                lora.alpha
            )));
        }
        if lora.targets.is_empty() {
            return Err(Error::Lora("no target modules".into()));
        }
        let n = cfg.num_hidden_layers;
        if let Some(ls) = &lora.layers {
            if ls.is_empty() {
                return Err(Error::Lora("layers_to_transform is empty".into()));
            }
            if let Some(&bad) = ls.iter().find(|&&l| l >= n) {
                return Err(Error::Lora(format!(
                    "layer {bad} does not exist (model has {n})"
                )));
            }
        }
        let dims = LoraTarget::ALL.map(|t| t.dims(cfg));
        let mut layers: Vec<[Option<LoraPair>; NUM_TARGETS]> =
            (0..n).map(|_| Default::default()).collect();
        for (l, slot) in layers.iter_mut().enumerate() {
            if lora.layers.as_ref().is_some_and(|ls| !ls.contains(&l)) {
                continue;
            }
            for t in LoraTarget::ALL {
                if !lora.targets.contains(&t) {
                    continue;
                }
                let (n_in, n_out) = dims[t.index()];
                slot[t.index()] = Some(LoraPair {
                    rank: lora.rank,
                    a: init_a(n_in, lora.rank * n_in),
                    b: vec![0.0; n_out * lora.rank],
                });
            }
        }
        Ok(LoraAdapters {
            config: lora,
            dims,
            num_layers: n,
            layers,
        })
    }

    /// The configuration the adapters were made with.
    pub fn config(&self) -> &LoraConfig {
        &self.config
    }

    /// `alpha / rank`.
    pub fn scale(&self) -> f32 {
        self.config.alpha / self.config.rank as f32
    }

    /// The adapter on (`layer`, target index), if any.
    pub(crate) fn pair(&self, layer: usize, target: usize) -> Option<&LoraPair> {
        self.layers.get(layer)?.get(target)?.as_ref()
    }

    pub(crate) fn pair_mut(&mut self, layer: usize, target: usize) -> Option<&mut LoraPair> {
        self.layers.get_mut(layer)?.get_mut(target)?.as_mut()
    }

    /// The adapter on a given projection, if any.
    pub fn get(&self, layer: usize, target: LoraTarget) -> Option<&LoraPair> {
        self.pair(layer, target.index())
    }

    /// Mutable access (tools, tests). Changing the vectors' lengths makes later calls fail
    /// with an error, not a panic.
    pub fn get_mut(&mut self, layer: usize, target: LoraTarget) -> Option<&mut LoraPair> {
        self.pair_mut(layer, target.index())
    }

    /// Lowest layer that carries an adapter (training starts there).
    pub fn lowest_layer(&self) -> usize {
        self.layers
            .iter()
            .position(|l| l.iter().any(Option::is_some))
            .unwrap_or(self.num_layers)
    }

    /// A and B of every pair, layer by layer, in target order.
    pub(super) fn tensors(&self) -> Vec<&[f32]> {
        let mut v: Vec<&[f32]> = Vec::new();
        for l in &self.layers {
            for p in l.iter().flatten() {
                v.push(&p.a);
                v.push(&p.b);
            }
        }
        v
    }

    /// Mutable [`LoraAdapters::tensors`].
    pub(super) fn tensors_mut(&mut self) -> Vec<&mut [f32]> {
        let mut v: Vec<&mut [f32]> = Vec::new();
        for l in &mut self.layers {
            for p in l.iter_mut().flatten() {
                v.push(&mut p.a);
                v.push(&mut p.b);
            }
        }
        v
    }

    /// Number of trainable parameters.
    pub fn num_parameters(&self) -> usize {
        self.tensors().iter().map(|t| t.len()).sum()
    }

    /// Size of the f32 adapter weights in bytes (≈ the safetensors file minus its header).
    pub fn size_bytes(&self) -> usize {
        self.num_parameters() * 4
    }

    /// Check the adapters fit `cfg` (same layer count and projection shapes, intact buffers).
    pub fn check_compatible(&self, cfg: &LlamaConfig) -> Result<(), Error> {
        if self.num_layers != cfg.num_hidden_layers
            || self.dims != LoraTarget::ALL.map(|t| t.dims(cfg))
        {
            return Err(Error::Lora(
                "adapters were made for a model of another shape".into(),
            ));
        }
        for l in &self.layers {
            for (ti, p) in l.iter().enumerate() {
                if let Some(p) = p {
                    let (n_in, n_out) = self.dims[ti];
                    if p.a.len() != p.rank * n_in || p.b.len() != n_out * p.rank {
                        return Err(Error::Lora("adapter buffer has the wrong length".into()));
                    }
                }
            }
        }
        Ok(())
    }

    /// `W += sign · scale · B · A` for every pair (merge: `sign = 1`, unmerge: `-1`).
    fn apply(&self, model: &mut LlamaModel, sign: f32) -> Result<(), Error> {
        self.check_compatible(model.config())?;
        let s = sign * self.scale();
        for (l, slots) in self.layers.iter().enumerate() {
            let lp = &mut model.params.layers[l];
            for (ti, p) in slots.iter().enumerate() {
                let Some(p) = p else { continue };
                let (n_in, _) = self.dims[ti];
                let w = match ti {
                    0 => &mut lp.q,
                    1 => &mut lp.k,
                    2 => &mut lp.v,
                    3 => &mut lp.o,
                    4 => &mut lp.gate,
                    5 => &mut lp.up,
                    _ => &mut lp.down,
                };
                // W[o, :] += s · Σ_r B[o, r] · A[r, :]
                for (wrow, brow) in w.chunks_exact_mut(n_in).zip(p.b.chunks_exact(p.rank)) {
                    for (&bv, arow) in brow.iter().zip(p.a.chunks_exact(n_in)) {
                        crate::ops::axpy(wrow, s * bv, arow);
                    }
                }
            }
        }
        Ok(())
    }

    /// Fold the adapters into the model's weights (for fast inference).
    pub fn merge_into(&self, model: &mut LlamaModel) -> Result<(), Error> {
        self.apply(model, 1.0)
    }

    /// Subtract the adapters again. Restores the base weights up to f32 rounding of the
    /// add-then-subtract (tests bound it at 1e-6 relative to the weight scale).
    pub fn unmerge_from(&self, model: &mut LlamaModel) -> Result<(), Error> {
        self.apply(model, -1.0)
    }
}

/// The hook for (`layer`, target index) of `lora`, with the scale, if that projection is
/// adapted (what the training forward/backward pass to `linear_fwd`/`linear_bwd`).
pub(crate) fn lora_of(
    lora: Option<&LoraAdapters>,
    layer: usize,
    target: usize,
) -> Option<(&LoraPair, f32)> {
    let a = lora?;
    a.pair(layer, target).map(|p| (p, a.scale()))
}

/// Logits `[T * vocab]` of `tokens` through the model with unmerged adapters.
pub fn forward_sequence_with_adapters(
    model: &LlamaModel,
    adapters: &LoraAdapters,
    tokens: &[u32],
) -> Result<Vec<f32>, Error> {
    crate::train::forward::forward_logits(model, Some(adapters), tokens)
}

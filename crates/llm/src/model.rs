//! The model's parameters: [`LlamaModel`] = validated [`LlamaConfig`] + [`Params`] + RoPE tables.
//!
//! [`Params`] is a plain struct of `Vec<f32>` tensors in HF layout (linear weights `[out, in]`
//! row-major). The same type holds gradients and AdamW moments in [`crate::train`], and
//! [`Params::tensors`] / [`Params::tensors_mut`] walk the tensors in the fixed order of
//! [`LlamaConfig::tensor_shapes`], which is also the order of the HF names used by the
//! safetensors code in [`crate::weights`]. Inference lives in [`crate::infer`]; the
//! whole-sequence [`LlamaModel::forward_sequence`] is defined next to the training forward pass
//! it runs (`train/forward.rs`), so this module depends on nothing from training.

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::ops::Rope;
use crate::rng::Rng;

/// One decoder layer's tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerParams {
    /// `input_layernorm.weight` `[hidden]`.
    pub attn_norm: Vec<f32>,
    /// `self_attn.q_proj.weight` `[hidden, hidden]`.
    pub q: Vec<f32>,
    /// `self_attn.k_proj.weight` `[kv_dim, hidden]`.
    pub k: Vec<f32>,
    /// `self_attn.v_proj.weight` `[kv_dim, hidden]`.
    pub v: Vec<f32>,
    /// `self_attn.o_proj.weight` `[hidden, hidden]`.
    pub o: Vec<f32>,
    /// `post_attention_layernorm.weight` `[hidden]`.
    pub mlp_norm: Vec<f32>,
    /// `mlp.gate_proj.weight` `[intermediate, hidden]`.
    pub gate: Vec<f32>,
    /// `mlp.up_proj.weight` `[intermediate, hidden]`.
    pub up: Vec<f32>,
    /// `mlp.down_proj.weight` `[hidden, intermediate]`.
    pub down: Vec<f32>,
}

impl LayerParams {
    /// The seven projections as `(weight, n_in, n_out)` under `c`, in the order q, k, v, o,
    /// gate, up, down (the adapter target order): what every quantized copy is built from.
    pub fn projections(&self, c: &LlamaConfig) -> [(&[f32], usize, usize); 7] {
        let (h, kv, i) = (c.hidden_size, c.kv_dim(), c.intermediate_size);
        [
            (&self.q, h, h),
            (&self.k, h, kv),
            (&self.v, h, kv),
            (&self.o, h, h),
            (&self.gate, h, i),
            (&self.up, h, i),
            (&self.down, i, h),
        ]
    }
}

/// All parameters (or gradients, or optimiser moments) of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// `model.embed_tokens.weight` `[vocab, hidden]`.
    pub embed: Vec<f32>,
    /// Decoder layers, bottom first.
    pub layers: Vec<LayerParams>,
    /// `model.norm.weight` `[hidden]`.
    pub norm: Vec<f32>,
    /// `lm_head.weight` `[vocab, hidden]`; `None` when tied to the embedding.
    pub lm_head: Option<Vec<f32>>,
}

impl Params {
    /// All-zero tensors with the shapes `cfg` implies (norm weights zero too).
    pub fn zeros(cfg: &LlamaConfig) -> Params {
        let h = cfg.hidden_size;
        let kv = cfg.kv_dim();
        let i = cfg.intermediate_size;
        let layer = LayerParams {
            attn_norm: vec![0.0; h],
            q: vec![0.0; h * h],
            k: vec![0.0; kv * h],
            v: vec![0.0; kv * h],
            o: vec![0.0; h * h],
            mlp_norm: vec![0.0; h],
            gate: vec![0.0; i * h],
            up: vec![0.0; i * h],
            down: vec![0.0; h * i],
        };
        Params {
            embed: vec![0.0; cfg.vocab_size * h],
            layers: vec![layer; cfg.num_hidden_layers],
            norm: vec![0.0; h],
            lm_head: if cfg.tie_word_embeddings {
                None
            } else {
                Some(vec![0.0; cfg.vocab_size * h])
            },
        }
    }

    /// Tensors in [`LlamaConfig::tensor_shapes`] order.
    pub fn tensors(&self) -> Vec<&[f32]> {
        let mut out: Vec<&[f32]> = vec![&self.embed];
        for l in &self.layers {
            out.extend([
                &l.attn_norm[..],
                &l.q,
                &l.k,
                &l.v,
                &l.o,
                &l.mlp_norm,
                &l.gate,
                &l.up,
                &l.down,
            ]);
        }
        out.push(&self.norm);
        if let Some(h) = &self.lm_head {
            out.push(h);
        }
        out
    }

    /// Mutable tensors in [`LlamaConfig::tensor_shapes`] order.
    pub fn tensors_mut(&mut self) -> Vec<&mut [f32]> {
        let mut out: Vec<&mut [f32]> = vec![&mut self.embed];
        for l in &mut self.layers {
            out.extend([
                &mut l.attn_norm[..],
                &mut l.q,
                &mut l.k,
                &mut l.v,
                &mut l.o,
                &mut l.mlp_norm,
                &mut l.gate,
                &mut l.up,
                &mut l.down,
            ]);
        }
        out.push(&mut self.norm);
        if let Some(h) = &mut self.lm_head {
            out.push(h);
        }
        out
    }

    /// Set every element to zero (reuses the allocations).
    pub fn fill_zero(&mut self) {
        for t in self.tensors_mut() {
            t.iter_mut().for_each(|v| *v = 0.0);
        }
    }
}

/// A Llama decoder ready to run: config, parameters and RoPE tables.
#[derive(Debug, Clone)]
pub struct LlamaModel {
    cfg: LlamaConfig,
    /// The parameters; read them through [`LlamaModel::params`]. Not publicly mutable, so the
    /// lengths checked in [`LlamaModel::from_params`] stay true.
    pub(crate) params: Params,
    pub(crate) rope: Rope,
}

impl LlamaModel {
    /// A freshly initialised model: linear and embedding weights ~ N(0, 0.02²) (HF's
    /// `initializer_range`), norm weights 1. Fully determined by `seed`.
    pub fn new_random(cfg: LlamaConfig, seed: u64) -> Result<LlamaModel, Error> {
        cfg.validate()?;
        let mut params = Params::zeros(&cfg);
        let mut rng = Rng::new(seed);
        let norms = norm_indices(&cfg);
        for (idx, t) in params.tensors_mut().into_iter().enumerate() {
            if norms.contains(&idx) {
                t.iter_mut().for_each(|v| *v = 1.0);
            } else {
                t.iter_mut().for_each(|v| *v = 0.02 * rng.normal());
            }
        }
        Ok(Self::assemble(cfg, params))
    }

    /// Build a model from parameters, checking every tensor length against the config.
    pub fn from_params(cfg: LlamaConfig, params: Params) -> Result<LlamaModel, Error> {
        cfg.validate()?;
        let shapes = cfg.tensor_shapes();
        let tensors = params.tensors();
        if tensors.len() != shapes.len() || params.layers.len() != cfg.num_hidden_layers {
            return Err(Error::InvalidConfig(
                "parameter set does not match the config (layer count or lm_head tying)".into(),
            ));
        }
        for ((name, shape), t) in shapes.iter().zip(tensors) {
            if t.len() != shape.iter().product::<usize>() {
                return Err(Error::WrongShape {
                    name: name.clone(),
                    expected: shape.clone(),
                    found: vec![t.len()],
                });
            }
        }
        Ok(Self::assemble(cfg, params))
    }

    fn assemble(cfg: LlamaConfig, params: Params) -> LlamaModel {
        let rope = Rope::new(cfg.head_dim(), cfg.max_position_embeddings, cfg.rope_theta);
        LlamaModel { cfg, params, rope }
    }

    /// The model's (validated) hyperparameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.cfg
    }

    /// Read-only view of the parameters.
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// HF tensor names with their data, in file order.
    pub fn named_tensors(&self) -> Vec<(String, Vec<usize>, &[f32])> {
        self.cfg
            .tensor_shapes()
            .into_iter()
            .zip(self.params.tensors())
            .map(|((n, s), t)| (n, s, t))
            .collect()
    }

    /// The output projection (the embedding when tied).
    pub(crate) fn head(&self) -> &[f32] {
        self.params.lm_head.as_deref().unwrap_or(&self.params.embed)
    }

    /// Check that every token id is in the vocabulary and the sequence fits the context.
    pub(crate) fn check_tokens(&self, tokens: &[u32]) -> Result<(), Error> {
        if tokens.len() > self.cfg.max_position_embeddings {
            return Err(Error::ContextFull {
                max_positions: self.cfg.max_position_embeddings,
            });
        }
        for &t in tokens {
            if t as usize >= self.cfg.vocab_size {
                return Err(Error::TokenOutOfRange {
                    token: t,
                    vocab_size: self.cfg.vocab_size,
                });
            }
        }
        Ok(())
    }
}

/// Indices (in [`Params::tensors`] order) of the RMSNorm weight vectors. They are initialised
/// to one and exempt from weight decay.
pub(crate) fn norm_indices(cfg: &LlamaConfig) -> Vec<usize> {
    let mut v = Vec::new();
    for l in 0..cfg.num_hidden_layers {
        v.push(1 + 9 * l);
        v.push(1 + 9 * l + 5);
    }
    v.push(1 + 9 * cfg.num_hidden_layers);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn norm_indices_point_at_norms() {
        let cfg = LlamaConfig::tiny();
        let shapes = cfg.tensor_shapes();
        for i in norm_indices(&cfg) {
            assert!(shapes[i].0.contains("norm"), "{}", shapes[i].0);
        }
        let n = shapes.iter().filter(|(n, _)| n.contains("norm")).count();
        assert_eq!(n, norm_indices(&cfg).len());
    }

    #[test]
    fn random_init_is_deterministic() {
        let a = LlamaModel::new_random(LlamaConfig::tiny(), 5).unwrap();
        let b = LlamaModel::new_random(LlamaConfig::tiny(), 5).unwrap();
        let c = LlamaModel::new_random(LlamaConfig::tiny(), 6).unwrap();
        assert_eq!(a.params, b.params);
        assert_ne!(a.params, c.params);
    }
}

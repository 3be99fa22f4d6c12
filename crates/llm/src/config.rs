//! Model hyperparameters, read from and written as a Hugging Face `config.json`.
//!
//! [`LlamaConfig`] carries exactly the fields the architecture needs, with HF's names, so a
//! config we write loads in `transformers.LlamaConfig` and an HF Llama config loads here.
//! Fields HF has but we do not support (attention bias, rope scaling, other activations) are
//! checked on load and rejected with [`Error::InvalidConfig`] rather than silently ignored.
//! Neighbours: [`crate::model`] derives every tensor shape from this.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Upper bound on any single dimension, so a lying config cannot make us allocate terabytes.
/// Generous for anything that fits in kernel memory.
pub const MAX_DIM: usize = 1 << 20;
/// Upper bound on the total parameter count accepted (256 M parameters = 1 GiB of f32).
pub const MAX_PARAMETERS: usize = 1 << 28;

/// Hyperparameters of a Llama decoder, HF `config.json` names and meanings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LlamaConfig {
    /// Number of token ids.
    pub vocab_size: usize,
    /// Model width (residual stream size).
    pub hidden_size: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// Number of decoder layers.
    pub num_hidden_layers: usize,
    /// Number of query heads; `hidden_size` must be a multiple of it.
    pub num_attention_heads: usize,
    /// Number of key/value heads (grouped-query attention); divides `num_attention_heads`.
    /// Absent in old HF configs, where it equals `num_attention_heads`.
    #[serde(default)]
    pub num_key_value_heads: Option<usize>,
    /// Context length (positions 0..max_position_embeddings).
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f32,
    /// RoPE base frequency.
    #[serde(default = "default_rope_theta")]
    pub rope_theta: f32,
    /// Whether `lm_head` shares the embedding matrix.
    #[serde(default)]
    pub tie_word_embeddings: bool,
    /// Beginning-of-sequence token id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// End-of-sequence token id.
    #[serde(default)]
    pub eos_token_id: Option<u32>,
}

fn default_rope_theta() -> f32 {
    10_000.0
}

/// The HF fields we must check but do not store (unsupported variants are rejected).
#[derive(Deserialize)]
struct HfExtras {
    #[serde(default)]
    hidden_act: Option<String>,
    #[serde(default)]
    attention_bias: Option<bool>,
    #[serde(default)]
    mlp_bias: Option<bool>,
    #[serde(default)]
    rope_scaling: Option<serde_json::Value>,
    #[serde(default)]
    head_dim: Option<usize>,
    #[serde(default)]
    model_type: Option<String>,
}

impl LlamaConfig {
    /// Parse an HF `config.json` and validate it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, Error> {
        let cfg: LlamaConfig =
            serde_json::from_slice(bytes).map_err(|e| Error::ConfigJson(e.to_string()))?;
        let extras: HfExtras =
            serde_json::from_slice(bytes).map_err(|e| Error::ConfigJson(e.to_string()))?;
        if let Some(act) = extras.hidden_act
            && act != "silu"
        {
            return Err(Error::InvalidConfig(format!(
                "hidden_act {act:?} unsupported (only \"silu\")"
            )));
        }
        if extras.attention_bias == Some(true) || extras.mlp_bias == Some(true) {
            return Err(Error::InvalidConfig(
                "attention_bias / mlp_bias are unsupported".to_string(),
            ));
        }
        if let Some(v) = extras.rope_scaling
            && !v.is_null()
        {
            return Err(Error::InvalidConfig(
                "rope_scaling is unsupported (must be null)".to_string(),
            ));
        }
        if let Some(t) = extras.model_type
            && t != "llama"
        {
            return Err(Error::InvalidConfig(format!(
                "model_type {t:?} is not \"llama\""
            )));
        }
        if let Some(hd) = extras.head_dim
            && cfg.num_attention_heads != 0
            && hd * cfg.num_attention_heads != cfg.hidden_size
        {
            return Err(Error::InvalidConfig(format!(
                "head_dim {hd} × num_attention_heads != hidden_size {}",
                cfg.hidden_size
            )));
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Serialise as an HF-compatible `config.json` (includes the fixed fields HF expects:
    /// `architectures`, `model_type`, `hidden_act`, …).
    pub fn to_json(&self) -> String {
        let mut v = serde_json::Map::new();
        let num = |x: usize| serde_json::Value::from(x as u64);
        v.insert(
            "architectures".into(),
            serde_json::json!(["LlamaForCausalLM"]),
        );
        v.insert("model_type".into(), "llama".into());
        v.insert("hidden_act".into(), "silu".into());
        v.insert("attention_bias".into(), false.into());
        v.insert("attention_dropout".into(), serde_json::Value::from(0.0));
        v.insert("mlp_bias".into(), false.into());
        v.insert("initializer_range".into(), serde_json::Value::from(0.02));
        v.insert("pretraining_tp".into(), num(1));
        v.insert("rope_scaling".into(), serde_json::Value::Null);
        v.insert("torch_dtype".into(), "float32".into());
        v.insert("use_cache".into(), true.into());
        v.insert("vocab_size".into(), num(self.vocab_size));
        v.insert("hidden_size".into(), num(self.hidden_size));
        v.insert("intermediate_size".into(), num(self.intermediate_size));
        v.insert("num_hidden_layers".into(), num(self.num_hidden_layers));
        v.insert("num_attention_heads".into(), num(self.num_attention_heads));
        v.insert("num_key_value_heads".into(), num(self.kv_heads()));
        v.insert("head_dim".into(), num(self.head_dim()));
        v.insert(
            "max_position_embeddings".into(),
            num(self.max_position_embeddings),
        );
        v.insert(
            "rms_norm_eps".into(),
            serde_json::Value::from(self.rms_norm_eps as f64),
        );
        v.insert(
            "rope_theta".into(),
            serde_json::Value::from(self.rope_theta as f64),
        );
        v.insert(
            "tie_word_embeddings".into(),
            self.tie_word_embeddings.into(),
        );
        let id = |x: Option<u32>| match x {
            Some(i) => serde_json::Value::from(i),
            None => serde_json::Value::Null,
        };
        v.insert("bos_token_id".into(), id(self.bos_token_id));
        v.insert("eos_token_id".into(), id(self.eos_token_id));
        // Serialising a Map of plain values cannot fail; fall back to "{}" rather than panic.
        serde_json::to_string_pretty(&serde_json::Value::Object(v)).unwrap_or_default()
    }

    /// Number of key/value heads (defaults to the number of query heads).
    pub fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    /// Width of one attention head. Meaningful only for a validated config.
    pub fn head_dim(&self) -> usize {
        self.hidden_size
            .checked_div(self.num_attention_heads)
            .unwrap_or(0)
    }

    /// Width of the key/value projections (`kv_heads * head_dim`).
    pub fn kv_dim(&self) -> usize {
        self.kv_heads() * self.head_dim()
    }

    /// Check every structural constraint; all other methods assume a validated config.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        let dims = [
            ("vocab_size", self.vocab_size),
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.kv_heads()),
            ("max_position_embeddings", self.max_position_embeddings),
        ];
        for (name, d) in dims {
            if d == 0 || d > MAX_DIM {
                return bad(format!("{name} = {d} must be in 1..={MAX_DIM}"));
            }
        }
        if self.vocab_size > u32::MAX as usize {
            return bad("vocab_size does not fit u32 token ids".into());
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return bad(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            ));
        }
        if !self.head_dim().is_multiple_of(2) {
            return bad(format!(
                "head_dim {} must be even for RoPE",
                self.head_dim()
            ));
        }
        if !self.num_attention_heads.is_multiple_of(self.kv_heads()) {
            return bad(format!(
                "num_attention_heads {} is not a multiple of num_key_value_heads {}",
                self.num_attention_heads,
                self.kv_heads()
            ));
        }
        if !(self.rms_norm_eps.is_finite() && self.rms_norm_eps > 0.0) {
            return bad(format!("rms_norm_eps {} must be > 0", self.rms_norm_eps));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 1.0) {
            return bad(format!("rope_theta {} must be > 1", self.rope_theta));
        }
        for (name, id) in [("bos", self.bos_token_id), ("eos", self.eos_token_id)] {
            if let Some(id) = id
                && id as usize >= self.vocab_size
            {
                return bad(format!("{name}_token_id {id} >= vocab_size"));
            }
        }
        if self
            .checked_num_parameters()
            .is_none_or(|n| n > MAX_PARAMETERS)
        {
            return bad(format!(
                "parameter count exceeds the limit of {MAX_PARAMETERS}"
            ));
        }
        // A full-context KV cache (what `Session::new` allocates) must stay bounded too.
        let cache = self
            .max_position_embeddings
            .checked_mul(self.kv_dim())
            .and_then(|v| v.checked_mul(self.num_hidden_layers))
            .and_then(|v| v.checked_mul(2));
        if cache.is_none_or(|n| n > MAX_PARAMETERS) {
            return bad(format!(
                "KV cache for the full context exceeds {MAX_PARAMETERS} floats"
            ));
        }
        Ok(())
    }

    fn checked_num_parameters(&self) -> Option<usize> {
        let h = self.hidden_size;
        let q = h;
        let kv = self.kv_heads().checked_mul(self.head_dim())?;
        let per_layer = h
            .checked_mul(q)?
            .checked_mul(2)? // q_proj, o_proj
            .checked_add(h.checked_mul(kv)?.checked_mul(2)?)? // k_proj, v_proj
            .checked_add(h.checked_mul(self.intermediate_size)?.checked_mul(3)?)?
            .checked_add(h.checked_mul(2)?)?; // two norms
        let embed = self.vocab_size.checked_mul(h)?;
        let head = if self.tie_word_embeddings { 0 } else { embed };
        per_layer
            .checked_mul(self.num_hidden_layers)?
            .checked_add(embed)?
            .checked_add(head)?
            .checked_add(h)
    }

    /// Total number of parameters (lm_head counted once when tied).
    pub fn num_parameters(&self) -> usize {
        self.checked_num_parameters().unwrap_or(usize::MAX)
    }

    /// A tiny config for tests and examples.
    pub fn tiny() -> Self {
        LlamaConfig {
            vocab_size: 32,
            hidden_size: 16,
            intermediate_size: 24,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            num_key_value_heads: Some(2),
            max_position_embeddings: 64,
            rms_norm_eps: 1e-5,
            rope_theta: 10_000.0,
            tie_word_embeddings: false,
            bos_token_id: Some(1),
            eos_token_id: Some(2),
        }
    }

    /// The shapes of every tensor the model needs, in a fixed order, with HF names.
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let h = self.hidden_size;
        let i = self.intermediate_size;
        let kv = self.kv_dim();
        let mut out = Vec::new();
        out.push((
            "model.embed_tokens.weight".into(),
            alloc::vec![self.vocab_size, h],
        ));
        for l in 0..self.num_hidden_layers {
            let p = format!("model.layers.{l}");
            out.push((format!("{p}.input_layernorm.weight"), alloc::vec![h]));
            out.push((format!("{p}.self_attn.q_proj.weight"), alloc::vec![h, h]));
            out.push((format!("{p}.self_attn.k_proj.weight"), alloc::vec![kv, h]));
            out.push((format!("{p}.self_attn.v_proj.weight"), alloc::vec![kv, h]));
            out.push((format!("{p}.self_attn.o_proj.weight"), alloc::vec![h, h]));
            out.push((
                format!("{p}.post_attention_layernorm.weight"),
                alloc::vec![h],
            ));
            out.push((format!("{p}.mlp.gate_proj.weight"), alloc::vec![i, h]));
            out.push((format!("{p}.mlp.up_proj.weight"), alloc::vec![i, h]));
            out.push((format!("{p}.mlp.down_proj.weight"), alloc::vec![h, i]));
        }
        out.push(("model.norm.weight".into(), alloc::vec![h]));
        if !self.tie_word_embeddings {
            out.push(("lm_head.weight".into(), alloc::vec![self.vocab_size, h]));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let c = LlamaConfig::tiny();
        let back = LlamaConfig::from_json(c.to_json().as_bytes()).unwrap();
        assert_eq!(c.kv_heads(), back.kv_heads());
        assert_eq!(back.hidden_size, 16);
        assert_eq!(back.bos_token_id, Some(1));
    }

    #[test]
    fn rejects_bad_configs() {
        let mut c = LlamaConfig::tiny();
        c.num_attention_heads = 3;
        assert!(matches!(c.validate(), Err(Error::InvalidConfig(_))));
        let mut c = LlamaConfig::tiny();
        c.num_key_value_heads = Some(3);
        assert!(c.validate().is_err());
        let mut c = LlamaConfig::tiny();
        c.vocab_size = usize::MAX / 2;
        assert!(c.validate().is_err());
        let mut c = LlamaConfig::tiny();
        c.hidden_size = 1 << 19;
        c.intermediate_size = 1 << 19;
        assert!(c.validate().is_err(), "huge config must be refused");
        let mut c = LlamaConfig::tiny();
        c.max_position_embeddings = 1 << 20;
        c.num_hidden_layers = 200;
        assert!(c.validate().is_err(), "huge KV cache must be refused");
        assert!(matches!(
            LlamaConfig::from_json(b"{not json"),
            Err(Error::ConfigJson(_))
        ));
        let mut j: serde_json::Value =
            serde_json::from_str(&LlamaConfig::tiny().to_json()).unwrap();
        j["hidden_act"] = "gelu".into();
        assert!(matches!(
            LlamaConfig::from_json(j.to_string().as_bytes()),
            Err(Error::InvalidConfig(_))
        ));
    }

    #[test]
    fn parameter_count_matches_shapes() {
        for tie in [false, true] {
            let mut c = LlamaConfig::tiny();
            c.tie_word_embeddings = tie;
            let n: usize = c
                .tensor_shapes()
                .iter()
                .map(|(_, s)| s.iter().product::<usize>())
                .sum();
            assert_eq!(n, c.num_parameters());
        }
    }
}

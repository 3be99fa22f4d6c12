//! PEFT file I/O for [`LoraAdapters`]: `adapter_config.json` plus `adapter_model.safetensors`,
//! as written and read by Hugging Face's `peft` library.
//!
//! Tensor names are `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` (A is
//! `[rank, in]`, B is `[out, rank]`); the config has `peft_type: "LORA"`, `r`, `lora_alpha`,
//! `target_modules` and `layers_to_transform`. Key items: [`PeftFiles`] (the two files as
//! bytes), [`LoraAdapters::to_peft`] and [`LoraAdapters::from_peft`]. Loading is strict:
//! every expected tensor must be present with its shape, no other tensor may be, and PEFT
//! options that would change what the tensors mean are rejected rather than misread.
//!
//! Neighbours: [`super::adapters`] (the tensors), [`crate::weights`] (the safetensors
//! helpers). Cross-checked against the `peft` library itself by `tools/hf-check`.

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use super::adapters::{LoraAdapters, LoraConfig, LoraTarget};
use crate::config::LlamaConfig;
use crate::error::Error;
use crate::weights::{F32Tensor, parse, read_tensor, serialize};

/// The two files of a PEFT adapter directory.
#[derive(Debug, Clone, PartialEq)]
pub struct PeftFiles {
    /// Contents of `adapter_model.safetensors`.
    pub adapter_model_safetensors: Vec<u8>,
    /// Contents of `adapter_config.json`.
    pub adapter_config_json: String,
}

/// The subset of PEFT's `adapter_config.json` we read and write.
#[derive(Debug, Serialize, Deserialize)]
struct PeftConfigJson {
    peft_type: String,
    #[serde(default)]
    task_type: Option<String>,
    r: usize,
    lora_alpha: f32,
    target_modules: serde_json::Value,
    #[serde(default)]
    layers_to_transform: serde_json::Value,
    #[serde(default)]
    lora_dropout: f32,
    #[serde(default)]
    bias: Option<String>,
    #[serde(default)]
    fan_in_fan_out: bool,
    #[serde(default)]
    use_rslora: bool,
    #[serde(default)]
    use_dora: bool,
    #[serde(default)]
    inference_mode: bool,
    #[serde(default)]
    base_model_name_or_path: Option<String>,
    #[serde(default)]
    modules_to_save: Option<serde_json::Value>,
    #[serde(default)]
    init_lora_weights: serde_json::Value,
}

/// PEFT options that change what the tensors mean. Any non-default value is rejected rather than
/// silently misread (PEFT writes them all, with defaults `{}`, `null` or `false`).
#[derive(Debug, Deserialize)]
struct PeftUnsupported {
    #[serde(default)]
    rank_pattern: serde_json::Value,
    #[serde(default)]
    alpha_pattern: serde_json::Value,
    #[serde(default)]
    exclude_modules: serde_json::Value,
    #[serde(default)]
    layer_replication: serde_json::Value,
    #[serde(default)]
    trainable_token_indices: serde_json::Value,
    #[serde(default)]
    target_parameters: serde_json::Value,
    #[serde(default)]
    layers_pattern: serde_json::Value,
    #[serde(default)]
    lora_bias: serde_json::Value,
    #[serde(default)]
    use_qalora: serde_json::Value,
    #[serde(default)]
    modules_to_save: serde_json::Value,
}

impl PeftUnsupported {
    fn check(&self) -> Result<(), Error> {
        let is_default = |v: &serde_json::Value| match v {
            serde_json::Value::Null | serde_json::Value::Bool(false) => true,
            serde_json::Value::Object(m) => m.is_empty(),
            serde_json::Value::Array(a) => a.is_empty(),
            _ => false,
        };
        for (name, v) in [
            ("rank_pattern", &self.rank_pattern),
            ("alpha_pattern", &self.alpha_pattern),
            ("exclude_modules", &self.exclude_modules),
            ("layer_replication", &self.layer_replication),
            ("trainable_token_indices", &self.trainable_token_indices),
            ("target_parameters", &self.target_parameters),
            ("layers_pattern", &self.layers_pattern),
            ("lora_bias", &self.lora_bias),
            ("use_qalora", &self.use_qalora),
            ("modules_to_save", &self.modules_to_save),
        ] {
            if !is_default(v) {
                return Err(Error::Lora(format!("unsupported PEFT option {name} = {v}")));
            }
        }
        Ok(())
    }
}

fn peft_name(layer: usize, t: LoraTarget, ab: &str) -> String {
    format!(
        "base_model.model.model.layers.{layer}.{}.{}.lora_{ab}.weight",
        t.parent(),
        t.module_name()
    )
}

impl LoraAdapters {
    /// Serialise in PEFT format.
    pub fn to_peft(&self) -> Result<PeftFiles, Error> {
        let mut map = BTreeMap::new();
        for (l, slots) in self.layers.iter().enumerate() {
            for t in LoraTarget::ALL {
                if let Some(p) = &slots[t.index()] {
                    let (n_in, n_out) = self.dims[t.index()];
                    map.insert(
                        peft_name(l, t, "A"),
                        F32Tensor::new(vec![p.rank, n_in], &p.a),
                    );
                    map.insert(
                        peft_name(l, t, "B"),
                        F32Tensor::new(vec![n_out, p.rank], &p.b),
                    );
                }
            }
        }
        let mut meta = BTreeMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        let st = serialize(&map, Some(meta))?;
        let targets: Vec<&str> = LoraTarget::ALL
            .into_iter()
            .filter(|t| self.config.targets.contains(t))
            .map(LoraTarget::module_name)
            .collect();
        let cfg = PeftConfigJson {
            peft_type: "LORA".into(),
            task_type: Some("CAUSAL_LM".into()),
            r: self.config.rank,
            lora_alpha: self.config.alpha,
            target_modules: serde_json::json!(targets),
            layers_to_transform: match &self.config.layers {
                Some(ls) => serde_json::json!(ls),
                None => serde_json::Value::Null,
            },
            lora_dropout: 0.0,
            bias: Some("none".into()),
            fan_in_fan_out: false,
            use_rslora: false,
            use_dora: false,
            inference_mode: true,
            base_model_name_or_path: None,
            modules_to_save: None,
            init_lora_weights: true.into(),
        };
        let json = serde_json::to_string_pretty(&cfg).map_err(|e| Error::Lora(e.to_string()))?;
        Ok(PeftFiles {
            adapter_model_safetensors: st,
            adapter_config_json: json,
        })
    }

    /// Load a PEFT adapter for a model with config `cfg`. Every tensor the config implies must
    /// be present with the right shape, and no other tensor may be (a stray tensor means the
    /// adapter was made for a different setup). Unsupported PEFT options are rejected.
    pub fn from_peft(
        cfg: &LlamaConfig,
        config_json: &[u8],
        safetensors: &[u8],
    ) -> Result<LoraAdapters, Error> {
        let pc: PeftConfigJson = serde_json::from_slice(config_json)
            .map_err(|e| Error::Lora(format!("adapter_config.json: {e}")))?;
        let unsupported: PeftUnsupported = serde_json::from_slice(config_json)
            .map_err(|e| Error::Lora(format!("adapter_config.json: {e}")))?;
        unsupported.check()?;
        if pc.peft_type != "LORA" {
            return Err(Error::Lora(format!(
                "peft_type {:?} is not LORA",
                pc.peft_type
            )));
        }
        if pc.use_rslora || pc.use_dora || pc.fan_in_fan_out {
            return Err(Error::Lora(
                "use_rslora / use_dora / fan_in_fan_out are unsupported".into(),
            ));
        }
        if pc.bias.as_deref().is_some_and(|b| b != "none") {
            return Err(Error::Lora("only bias = \"none\" is supported".into()));
        }
        let names: Vec<String> = match &pc.target_modules {
            serde_json::Value::Array(a) => a
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(String::from)
                        .ok_or_else(|| Error::Lora("target_modules entries must be strings".into()))
                })
                .collect::<Result<_, _>>()?,
            _ => {
                return Err(Error::Lora(
                    "target_modules must be a list of module names".into(),
                ));
            }
        };
        let mut targets = Vec::new();
        for n in &names {
            let t = LoraTarget::from_module_name(n)
                .ok_or_else(|| Error::Lora(format!("unknown target module {n:?}")))?;
            if !targets.contains(&t) {
                targets.push(t);
            }
        }
        let layers = match &pc.layers_to_transform {
            serde_json::Value::Null => None,
            serde_json::Value::Number(n) => Some(vec![
                n.as_u64()
                    .ok_or_else(|| Error::Lora("layers_to_transform must be ≥ 0".into()))?
                    as usize,
            ]),
            serde_json::Value::Array(a) => Some(
                a.iter()
                    .map(|v| {
                        v.as_u64().map(|x| x as usize).ok_or_else(|| {
                            Error::Lora("layers_to_transform entries must be integers".into())
                        })
                    })
                    .collect::<Result<_, _>>()?,
            ),
            _ => return Err(Error::Lora("layers_to_transform has the wrong type".into())),
        };
        let lora = LoraConfig {
            rank: pc.r,
            alpha: pc.lora_alpha,
            targets,
            layers,
        };
        let mut adapters = Self::build(cfg, lora, |_, len| vec![0.0; len])?;
        let st = parse(safetensors)?;
        let mut expected = Vec::new();
        for l in 0..adapters.num_layers {
            for t in LoraTarget::ALL {
                let (n_in, n_out) = adapters.dims[t.index()];
                if let Some(p) = adapters.pair_mut(l, t.index()) {
                    let an = peft_name(l, t, "A");
                    let bn = peft_name(l, t, "B");
                    p.a = read_tensor(&st, &an, &[p.rank, n_in])?;
                    p.b = read_tensor(&st, &bn, &[n_out, p.rank])?;
                    expected.push(an);
                    expected.push(bn);
                }
            }
        }
        for name in st.names() {
            if !expected.iter().any(|e| e == name) {
                return Err(Error::UnexpectedTensor(name.to_string()));
            }
        }
        Ok(adapters)
    }
}

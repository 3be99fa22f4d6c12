//! LoRA adapters: `W' = W + (alpha / r) · B · A` on selected projections of selected layers.
//!
//! Key types: [`LoraConfig`] (rank, alpha, targets, layers), [`LoraAdapters`] (the A/B
//! matrices, PEFT init: A Kaiming-uniform, B zero, so a new adapter leaves the model unchanged),
//! [`LoraTrainer`] (adapter-only AdamW; the base model is borrowed immutably, so it is frozen
//! by construction). Files follow PEFT: `adapter_model.safetensors` with names
//! `base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight` and an
//! `adapter_config.json` with `peft_type: "LORA"`.
//!
//! Cheap training: the layers below the lowest adapted layer do not change, so
//! [`LoraTrainer::new`] runs them once per example and keeps their output; each step runs and
//! backpropagates only the adapted top of the network. Forward/backward are shared with full
//! training in [`crate::train`].

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

use crate::config::LlamaConfig;
use crate::error::Error;
use crate::model::LlamaModel;
use crate::rng::Rng;
use crate::train::{
    AdamState, StepStats, TrainConfig, TrainExample, backward, batch_norm, forward_from,
    hidden_before, loss_and_dlogits,
};
use crate::weights::{F32Tensor, parse, read_tensor, serialize};

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

    fn index(self) -> usize {
        self as usize
    }

    fn parent(self) -> &'static str {
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

/// A set of adapters for one model.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraAdapters {
    config: LoraConfig,
    /// The model dimensions they were made for (checked on merge/forward).
    dims: [(usize, usize); NUM_TARGETS],
    num_layers: usize,
    /// Per layer, per target index.
    layers: Vec<[Option<LoraPair>; NUM_TARGETS]>,
}

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
    /// Fresh adapters: A ~ U(−1/√in, 1/√in) (PEFT's Kaiming-uniform with a = √5), B = 0.
    pub fn new(cfg: &LlamaConfig, lora: LoraConfig, seed: u64) -> Result<LoraAdapters, Error> {
        let mut rng = Rng::new(seed);
        Self::build(cfg, lora, |n_in, len| {
            let bound = 1.0 / libm::sqrtf(n_in as f32);
            (0..len).map(|_| rng.uniform(-bound, bound)).collect()
        })
    }

    /// Same layout with every A and B zero (gradient buffers).
    fn zeros_like(&self) -> LoraAdapters {
        let mut z = self.clone();
        for t in z.tensors_mut() {
            t.iter_mut().for_each(|v| *v = 0.0);
        }
        z
    }

    fn build(
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

    fn tensors(&self) -> Vec<&[f32]> {
        let mut v: Vec<&[f32]> = Vec::new();
        for l in &self.layers {
            for p in l.iter().flatten() {
                v.push(&p.a);
                v.push(&p.b);
            }
        }
        v
    }

    fn tensors_mut(&mut self) -> Vec<&mut [f32]> {
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

/// Logits `[T * vocab]` of `tokens` through the model with unmerged adapters.
pub fn forward_sequence_with_adapters(
    model: &LlamaModel,
    adapters: &LoraAdapters,
    tokens: &[u32],
) -> Result<Vec<f32>, Error> {
    crate::train::forward_logits(model, Some(adapters), tokens)
}

/// Mean masked loss of `batch` through `model` + `adapters`, and the gradient with respect to
/// every adapter matrix (returned in an adapter set of the same layout). The base model gets
/// no gradient. For tests and tools; [`LoraTrainer`] is the usual entry point.
pub fn lora_loss_and_grads(
    model: &LlamaModel,
    adapters: &LoraAdapters,
    batch: &[TrainExample],
) -> Result<(f32, LoraAdapters), Error> {
    adapters.check_compatible(model.config())?;
    let mut grads = adapters.zeros_like();
    let loss = crate::train::accumulate(model, Some(adapters), batch, None, Some(&mut grads))?;
    Ok((loss, grads))
}

/// Adapter-only trainer over a fixed dataset (the frozen-prefix cache is built per example).
#[derive(Debug)]
pub struct LoraTrainer<'m> {
    base: &'m LlamaModel,
    adapters: LoraAdapters,
    grads: LoraAdapters,
    opt: AdamState,
    cfg: TrainConfig,
    examples: Vec<TrainExample>,
    start_layer: usize,
    /// Hidden state entering `start_layer`, per example (`[T, hidden]`).
    cache: Vec<Vec<f32>>,
}

impl<'m> LoraTrainer<'m> {
    /// Validate everything, then run the frozen layers below the lowest adapted layer once
    /// per example and keep their output.
    pub fn new(
        base: &'m LlamaModel,
        adapters: LoraAdapters,
        cfg: TrainConfig,
        examples: Vec<TrainExample>,
    ) -> Result<LoraTrainer<'m>, Error> {
        cfg.validate()?;
        adapters.check_compatible(base.config())?;
        for (i, ex) in examples.iter().enumerate() {
            ex.check(i, base)?;
        }
        let start_layer = adapters.lowest_layer();
        let cache = examples
            .iter()
            .map(|ex| hidden_before(base, None, &ex.tokens, start_layer))
            .collect();
        let grads = adapters.zeros_like();
        let opt = AdamState::new(adapters.tensors().iter().map(|t| t.len()));
        Ok(LoraTrainer {
            base,
            adapters,
            grads,
            opt,
            cfg,
            examples,
            start_layer,
            cache,
        })
    }

    /// One AdamW step on the examples at `indices` (may repeat). On error nothing changes.
    pub fn train_step(&mut self, indices: &[usize]) -> Result<StepStats, Error> {
        let mut batch = Vec::with_capacity(indices.len());
        for &i in indices {
            let ex = self.examples.get(i).ok_or_else(|| Error::InvalidExample {
                index: i,
                reason: format!("index out of range ({} examples)", self.examples.len()),
            })?;
            batch.push(ex);
        }
        let mut n = 0usize;
        for ex in &batch {
            n += ex.scored();
        }
        if n == 0 {
            return Err(Error::EmptyBatch);
        }
        let norm = n as f32;
        let vocab = self.base.config().vocab_size;
        for t in self.grads.tensors_mut() {
            t.iter_mut().for_each(|v| *v = 0.0);
        }
        let mut loss = 0.0;
        for (&i, ex) in indices.iter().zip(&batch) {
            let mut acts = forward_from(
                self.base,
                Some(&self.adapters),
                self.start_layer,
                self.cache[i].clone(),
                Some(&ex.loss_mask),
            );
            loss += loss_and_dlogits(&mut acts.logits, ex, vocab, norm);
            backward(
                self.base,
                Some(&self.adapters),
                &acts,
                &ex.tokens,
                None,
                Some(&mut self.grads),
            );
        }
        let loss = loss / norm;
        if !loss.is_finite() {
            return Err(Error::NonFinite);
        }
        let decay = vec![true; self.opt.m.len()];
        let (grad_norm, lr) = self.opt.update(
            &self.cfg,
            self.adapters.tensors_mut(),
            self.grads.tensors_mut(),
            &decay,
        )?;
        Ok(StepStats {
            loss,
            grad_norm,
            lr,
        })
    }

    /// Mean masked loss over the examples at `indices` with the current adapters.
    pub fn eval_loss(&self, indices: &[usize]) -> Result<f32, Error> {
        let batch: Vec<TrainExample> = indices
            .iter()
            .map(|&i| {
                self.examples
                    .get(i)
                    .cloned()
                    .ok_or_else(|| Error::InvalidExample {
                        index: i,
                        reason: "index out of range".into(),
                    })
            })
            .collect::<Result<_, _>>()?;
        let n = batch_norm(self.base, &batch)? as f32;
        let vocab = self.base.config().vocab_size;
        let mut loss = 0.0;
        for (&i, ex) in indices.iter().zip(&batch) {
            let mut acts = forward_from(
                self.base,
                Some(&self.adapters),
                self.start_layer,
                self.cache[i].clone(),
                Some(&ex.loss_mask),
            );
            loss += loss_and_dlogits(&mut acts.logits, ex, vocab, n);
        }
        Ok(loss / n)
    }

    /// Number of training examples.
    pub fn num_examples(&self) -> usize {
        self.examples.len()
    }

    /// The adapters being trained.
    pub fn adapters(&self) -> &LoraAdapters {
        &self.adapters
    }

    /// Finish and take the adapters.
    pub fn into_adapters(self) -> LoraAdapters {
        self.adapters
    }

    /// First layer that is run per step (layers below it are cached).
    pub fn start_layer(&self) -> usize {
        self.start_layer
    }

    /// Bytes held by the frozen-prefix cache.
    pub fn cache_bytes(&self) -> usize {
        self.cache.iter().map(|c| c.len() * 4).sum()
    }

    /// Bytes held by adapters + gradients + AdamW moments (4 copies of the adapter).
    pub fn optimizer_bytes(&self) -> usize {
        self.adapters.size_bytes() * 4
    }
}

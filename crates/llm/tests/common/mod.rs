//! Helpers shared by the integration tests: models with weights large enough that every
//! nonlinearity matters (the 0.02 init makes a nearly linear, nearly uniform model), and small
//! masked training batches.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use llm::{LlamaConfig, LlamaModel, Params, Rng, TrainExample};

/// A model with N(0, scale²) linear weights and norm weights around 1.
pub fn spicy_model(cfg: LlamaConfig, seed: u64, scale: f32) -> LlamaModel {
    let mut p = Params::zeros(&cfg);
    let mut rng = Rng::new(seed);
    let shapes = cfg.tensor_shapes();
    for ((name, _), t) in shapes.iter().zip(p.tensors_mut()) {
        let is_norm = name.contains("norm");
        for v in t.iter_mut() {
            *v = if is_norm {
                1.0 + 0.2 * rng.normal()
            } else {
                scale * rng.normal()
            };
        }
    }
    LlamaModel::from_params(cfg, p).expect("valid params")
}

/// Two short sequences with answer-only masks.
pub fn batch(cfg: &LlamaConfig, seed: u64) -> Vec<TrainExample> {
    let mut rng = Rng::new(seed);
    let v = cfg.vocab_size as u64;
    let mut tok = |n: usize| -> Vec<u32> { (0..n).map(|_| rng.below(v) as u32).collect() };
    vec![
        TrainExample::prompt_answer(&tok(4), &tok(3)),
        TrainExample::prompt_answer(&tok(2), &tok(5)),
    ]
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

//! Finite-difference checks of the analytic gradients, for every parameter tensor kind
//! (embedding, both norms, q/k/v/o, gate/up/down, final norm, lm_head; tied and untied; GQA)
//! and for every LoRA target.
//!
//! Method: for each tensor, a random unit direction `d`; the central difference
//! `(L(w + εd) − L(w − εd)) / 2ε` must match `∇L · d`. In addition, the largest-gradient
//! element of each tensor is checked on its own. f32 arithmetic bounds the precision, so the
//! tolerance is relative with a small absolute floor.

mod common;

use common::{batch, spicy_model};
use llm::{
    LlamaConfig, LlamaModel, LoraAdapters, LoraConfig, LoraTarget, Params, Rng, TrainExample,
    eval_loss, lora_loss_and_grads, loss_and_grads,
};

const EPS: f32 = 2e-3;

fn loss_at(cfg: &LlamaConfig, p: &Params, batch: &[TrainExample]) -> f32 {
    let m = LlamaModel::from_params(cfg.clone(), p.clone()).unwrap();
    eval_loss(&m, None, batch).unwrap()
}

fn close(num: f32, ana: f32) -> bool {
    (num - ana).abs() <= 2e-3 + 3e-2 * ana.abs().max(num.abs())
}

fn check_model(cfg: LlamaConfig) {
    let model = spicy_model(cfg.clone(), 11, 0.3);
    let b = batch(&cfg, 5);
    let (_, grads) = loss_and_grads(&model, &b).unwrap();
    let names = cfg.tensor_shapes();
    let mut rng = Rng::new(99);
    for (ti, (name, _)) in names.iter().enumerate() {
        let g = grads.tensors()[ti].to_vec();
        assert!(
            g.iter().any(|&x| x != 0.0),
            "{name}: gradient is identically zero"
        );
        // Directional check.
        let mut d: Vec<f32> = (0..g.len()).map(|_| rng.normal()).collect();
        let n = d.iter().map(|x| x * x).sum::<f32>().sqrt();
        d.iter_mut().for_each(|x| *x /= n);
        let mut plus = model.params().clone();
        let mut minus = model.params().clone();
        for (j, dj) in d.iter().enumerate() {
            plus.tensors_mut()[ti][j] += EPS * dj;
            minus.tensors_mut()[ti][j] -= EPS * dj;
        }
        let num = (loss_at(&cfg, &plus, &b) - loss_at(&cfg, &minus, &b)) / (2.0 * EPS);
        let ana: f32 = g.iter().zip(&d).map(|(a, b)| a * b).sum();
        assert!(
            close(num, ana),
            "{name}: directional numeric {num} vs analytic {ana}"
        );
        // Largest single element.
        let (j, &gj) = g
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap();
        let mut plus = model.params().clone();
        let mut minus = model.params().clone();
        plus.tensors_mut()[ti][j] += EPS;
        minus.tensors_mut()[ti][j] -= EPS;
        let num = (loss_at(&cfg, &plus, &b) - loss_at(&cfg, &minus, &b)) / (2.0 * EPS);
        assert!(
            close(num, gj),
            "{name}[{j}]: numeric {num} vs analytic {gj}"
        );
    }
}

#[test]
fn full_model_gradients_untied_gqa() {
    check_model(LlamaConfig::tiny());
}

#[test]
fn full_model_gradients_tied_mha() {
    let mut cfg = LlamaConfig::tiny();
    cfg.tie_word_embeddings = true;
    cfg.num_key_value_heads = None;
    check_model(cfg);
}

#[test]
fn lora_gradients_every_target() {
    let cfg = LlamaConfig::tiny();
    let model = spicy_model(cfg.clone(), 3, 0.3);
    let lcfg = LoraConfig {
        rank: 2,
        alpha: 4.0,
        targets: LoraTarget::ALL.to_vec(),
        layers: None,
    };
    let mut ad = LoraAdapters::new(&cfg, lcfg, 1).unwrap();
    // B starts at zero (PEFT init); make it nonzero so A gets a gradient too.
    let mut rng = Rng::new(8);
    for l in 0..cfg.num_hidden_layers {
        for t in LoraTarget::ALL {
            let p = ad.get_mut(l, t).unwrap();
            p.b.iter_mut().for_each(|v| *v = 0.3 * rng.normal());
        }
    }
    let b = batch(&cfg, 2);
    let (_, grads) = lora_loss_and_grads(&model, &ad, &b).unwrap();
    let loss_with = |a: &LoraAdapters| eval_loss(&model, Some(a), &b).unwrap();
    for l in 0..cfg.num_hidden_layers {
        for t in LoraTarget::ALL {
            for which in ["A", "B"] {
                let g = grads.get(l, t).unwrap();
                let g = if which == "A" { &g.a } else { &g.b };
                let (j, &gj) = g
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                    .unwrap();
                assert!(gj != 0.0, "layer {l} {t:?} {which}: zero gradient");
                let mut plus = ad.clone();
                let mut minus = ad.clone();
                let bump = |x: &mut LoraAdapters, s: f32| {
                    let p = x.get_mut(l, t).unwrap();
                    let v = if which == "A" { &mut p.a } else { &mut p.b };
                    v[j] += s;
                };
                bump(&mut plus, EPS);
                bump(&mut minus, -EPS);
                let num = (loss_with(&plus) - loss_with(&minus)) / (2.0 * EPS);
                assert!(
                    close(num, gj),
                    "layer {l} {t:?} lora_{which}[{j}]: numeric {num} vs analytic {gj}"
                );
            }
        }
    }
}

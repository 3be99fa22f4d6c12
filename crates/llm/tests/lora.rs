//! LoRA: merged forward == adapter forward, unmerge restores the base, PEFT files round-trip
//! and bad adapter files are errors, the cached-prefix trainer computes the same loss as the
//! plain path, training moves only the adapters and lowers the loss.

mod common;

use common::{max_abs_diff, spicy_model};
use llm::{
    Error, LlamaConfig, LoraAdapters, LoraConfig, LoraTarget, LoraTrainer, QuantModel, Rng,
    Session, TrainConfig, TrainExample, eval_loss, forward_sequence_with_adapters,
};

fn randomized(cfg: &LlamaConfig, lc: LoraConfig, seed: u64) -> LoraAdapters {
    let mut a = LoraAdapters::new(cfg, lc.clone(), seed).unwrap();
    let mut rng = Rng::new(seed + 1);
    for l in 0..cfg.num_hidden_layers {
        for t in LoraTarget::ALL {
            if let Some(p) = a.get_mut(l, t) {
                p.b.iter_mut().for_each(|v| *v = 0.1 * rng.normal());
            }
        }
    }
    a
}

fn all_targets() -> LoraConfig {
    LoraConfig {
        rank: 4,
        alpha: 8.0,
        targets: LoraTarget::ALL.to_vec(),
        layers: None,
    }
}

#[test]
fn fresh_adapter_is_identity() {
    let cfg = LlamaConfig::tiny();
    let m = spicy_model(cfg.clone(), 1, 0.2);
    let a = LoraAdapters::new(&cfg, LoraConfig::default(), 3).unwrap();
    let t = [1u32, 2, 3, 4, 5];
    assert_eq!(
        forward_sequence_with_adapters(&m, &a, &t).unwrap(),
        m.forward_sequence(&t).unwrap()
    );
}

#[test]
fn merge_equals_adapter_forward_and_unmerge_restores() {
    let cfg = LlamaConfig::tiny();
    let base = spicy_model(cfg.clone(), 1, 0.2);
    let a = randomized(&cfg, all_targets(), 5);
    let t = [1u32, 7, 3, 9, 5, 30, 2];
    let with_adapter = forward_sequence_with_adapters(&base, &a, &t).unwrap();
    let base_logits = base.forward_sequence(&t).unwrap();
    assert!(
        max_abs_diff(&with_adapter, &base_logits) > 1e-3,
        "adapter must change the output"
    );
    let mut merged = base.clone();
    a.merge_into(&mut merged).unwrap();
    let d = max_abs_diff(&merged.forward_sequence(&t).unwrap(), &with_adapter);
    assert!(d < 1e-5, "merged vs adapter max diff {d}");
    a.unmerge_from(&mut merged).unwrap();
    for (x, y) in merged
        .params()
        .tensors()
        .iter()
        .zip(base.params().tensors())
    {
        assert!(max_abs_diff(x, y) < 1e-6);
    }
    assert!(max_abs_diff(&merged.forward_sequence(&t).unwrap(), &base_logits) < 1e-5);
}

#[test]
fn peft_round_trip() {
    let cfg = LlamaConfig::tiny();
    let lc = LoraConfig {
        rank: 3,
        alpha: 6.0,
        targets: vec![LoraTarget::Q, LoraTarget::V, LoraTarget::Down],
        layers: Some(vec![1]),
    };
    let a = randomized(&cfg, lc, 2);
    let files = a.to_peft().unwrap();
    let back = LoraAdapters::from_peft(
        &cfg,
        files.adapter_config_json.as_bytes(),
        &files.adapter_model_safetensors,
    )
    .unwrap();
    assert_eq!(back, a);
    let v: serde_json::Value = serde_json::from_str(&files.adapter_config_json).unwrap();
    assert_eq!(v["peft_type"], "LORA");
    assert_eq!(v["r"], 3);
    assert_eq!(
        v["target_modules"],
        serde_json::json!(["q_proj", "v_proj", "down_proj"])
    );
    assert_eq!(v["layers_to_transform"], serde_json::json!([1]));
    // PEFT names are used in the file.
    let st = String::from_utf8_lossy(&files.adapter_model_safetensors[..600]).to_string();
    assert!(st.contains("base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"));
    assert!(st.contains("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
    assert!(a.get(0, LoraTarget::Q).is_none());
}

#[test]
fn bad_peft_files_are_errors() {
    let cfg = LlamaConfig::tiny();
    let a = randomized(&cfg, LoraConfig::default(), 2);
    let f = a.to_peft().unwrap();
    let json: serde_json::Value = serde_json::from_str(&f.adapter_config_json).unwrap();
    let load = |j: &serde_json::Value, st: &[u8]| {
        LoraAdapters::from_peft(&cfg, j.to_string().as_bytes(), st)
    };
    let st = &f.adapter_model_safetensors;
    // Config problems.
    let mut j = json.clone();
    j["peft_type"] = "IA3".into();
    assert!(matches!(load(&j, st), Err(Error::Lora(_))));
    let mut j = json.clone();
    j["target_modules"] = "q_proj|v_proj".into();
    assert!(matches!(load(&j, st), Err(Error::Lora(_))));
    let mut j = json.clone();
    j["target_modules"] = serde_json::json!(["q_proj", "embed_tokens"]);
    assert!(matches!(load(&j, st), Err(Error::Lora(_))));
    let mut j = json.clone();
    j["use_dora"] = true.into();
    assert!(matches!(load(&j, st), Err(Error::Lora(_))));
    let mut j = json.clone();
    j["rank_pattern"] = serde_json::json!({"q_proj": 2});
    assert!(matches!(load(&j, st), Err(Error::Lora(_))));
    // PEFT's own defaults for those options are accepted.
    let mut j = json.clone();
    j["rank_pattern"] = serde_json::json!({});
    j["exclude_modules"] = serde_json::Value::Null;
    j["lora_bias"] = false.into();
    assert!(load(&j, st).is_ok());
    let mut j = json.clone();
    j["layers_to_transform"] = serde_json::json!([7]);
    assert!(matches!(load(&j, st), Err(Error::Lora(_))));
    assert!(LoraAdapters::from_peft(&cfg, b"[", st).is_err());
    // Rank in config disagrees with the tensors.
    let mut j = json.clone();
    j["r"] = 4.into();
    assert!(matches!(load(&j, st), Err(Error::WrongShape { .. })));
    // Config asks for k_proj too, file lacks it.
    let mut j = json.clone();
    j["target_modules"] = serde_json::json!(["q_proj", "k_proj", "v_proj"]);
    assert!(matches!(load(&j, st), Err(Error::MissingTensor(_))));
    // File has tensors the config does not mention.
    let mut j = json.clone();
    j["target_modules"] = serde_json::json!(["q_proj"]);
    assert!(matches!(load(&j, st), Err(Error::UnexpectedTensor(_))));
    // Truncated safetensors.
    assert!(matches!(
        load(&json, &st[..st.len() - 5]),
        Err(Error::SafeTensors(_))
    ));
    // Adapter for another model shape.
    let mut other = cfg.clone();
    other.hidden_size = 32;
    assert!(LoraAdapters::from_peft(&other, f.adapter_config_json.as_bytes(), st).is_err());
    let mut m = spicy_model(other, 1, 0.1);
    assert!(matches!(a.merge_into(&mut m), Err(Error::Lora(_))));
}

#[test]
fn bad_lora_configs_are_errors() {
    let cfg = LlamaConfig::tiny();
    for lc in [
        LoraConfig {
            rank: 0,
            ..LoraConfig::default()
        },
        LoraConfig {
            alpha: 0.0,
            ..LoraConfig::default()
        },
        LoraConfig {
            targets: vec![],
            ..LoraConfig::default()
        },
        LoraConfig {
            layers: Some(vec![2]),
            ..LoraConfig::default()
        },
        LoraConfig {
            layers: Some(vec![]),
            ..LoraConfig::default()
        },
    ] {
        assert!(matches!(
            LoraAdapters::new(&cfg, lc, 1),
            Err(Error::Lora(_))
        ));
    }
}

fn task(cfg: &LlamaConfig) -> Vec<TrainExample> {
    // "prompt p → answer (p * 3 + 1) mod vocab" — something the random base does not know.
    (0..12u32)
        .map(|p| {
            let p = 3 + p;
            TrainExample::prompt_answer(&[1, p, 4], &[(p * 3 + 1) % cfg.vocab_size as u32, 2])
        })
        .collect()
}

/// Randomized adapters on q, v and up of layer 1 only (layer 0 stays frozen and is cached).
fn layer1_adapters(cfg: &LlamaConfig) -> LoraAdapters {
    let lc = LoraConfig {
        rank: 4,
        alpha: 8.0,
        targets: vec![LoraTarget::Q, LoraTarget::V, LoraTarget::Up],
        layers: Some(vec![1]),
    };
    randomized(cfg, lc, 9)
}

/// The LoRA trainer's settings for the toy task: 60 steps at a constant rate.
fn sixty_steps() -> TrainConfig {
    TrainConfig {
        lr: 5e-2,
        warmup_steps: 0,
        total_steps: 60,
        weight_decay: 0.0,
        ..TrainConfig::default()
    }
}

#[test]
fn cached_prefix_trainer_matches_plain_loss_and_trains_only_adapters() {
    let cfg = LlamaConfig::tiny();
    let base = spicy_model(cfg.clone(), 1, 0.2);
    let a = layer1_adapters(&cfg);
    let data = task(&cfg);
    let base_before = base.clone();
    let tc = sixty_steps();
    let mut tr = LoraTrainer::new(&base, a.clone(), tc, data.clone()).unwrap();
    assert_eq!(tr.start_layer(), 1);
    assert_eq!(
        tr.cache_bytes(),
        data.iter().map(|e| e.tokens.len() * 16 * 4).sum::<usize>()
    );
    let idx: Vec<usize> = (0..data.len()).collect();
    let plain = eval_loss(&base, Some(&a), &data).unwrap();
    let cached = tr.eval_loss(&idx).unwrap();
    assert!((plain - cached).abs() < 1e-5, "{plain} vs {cached}");
    let first = tr.train_step(&idx).unwrap();
    assert!((first.loss - plain).abs() < 1e-5);
    let mut last = first;
    for _ in 0..59 {
        last = tr.train_step(&idx).unwrap();
    }
    assert!(
        last.loss < 0.5 * first.loss,
        "loss {} -> {}",
        first.loss,
        last.loss
    );
    let trained = tr.into_adapters();
    assert_ne!(trained, a);
    // Layer 0 has no adapters and stays without them; the base is untouched.
    assert!(trained.get(0, LoraTarget::Q).is_none());
    assert_eq!(base.params(), base_before.params());
    assert!(matches!(
        LoraTrainer::new(&base, trained.clone(), TrainConfig::default(), data)
            .unwrap()
            .train_step(&[99]),
        Err(Error::InvalidExample { index: 99, .. })
    ));
}

#[test]
fn prefix_from_the_decoder_matches_the_training_forward_and_bad_prefixes_are_errors() {
    let cfg = LlamaConfig::tiny();
    let base = spicy_model(cfg.clone(), 1, 0.2);
    let a = layer1_adapters(&cfg);
    let data = task(&cfg);
    let idx: Vec<usize> = (0..data.len()).collect();
    let tc = TrainConfig::default();
    let plain = LoraTrainer::new(&base, a.clone(), tc.clone(), data.clone())
        .unwrap()
        .eval_loss(&idx)
        .unwrap();
    // The f32 decoder (KV-cache path) gives the training forward's prefix.
    let mut session = Session::new(&base);
    let decoded = LoraTrainer::with_prefix(&base, a.clone(), tc.clone(), data.clone(), |t, l| {
        session.reset();
        session.hidden_before_layer(t, l)
    })
    .unwrap()
    .eval_loss(&idx)
    .unwrap();
    assert!((plain - decoded).abs() < 1e-4, "{plain} vs {decoded}");
    // The quantized decoder's prefix is close, not equal.
    let q = QuantModel::from_model(&base).unwrap();
    let mut qs = Session::new(&q);
    let quantized = LoraTrainer::with_prefix(&base, a.clone(), tc.clone(), data.clone(), |t, l| {
        qs.reset();
        qs.hidden_before_layer(t, l)
    })
    .unwrap()
    .eval_loss(&idx)
    .unwrap();
    assert!(
        (plain - quantized).abs() < 0.05 * plain.abs().max(1.0),
        "{plain} vs {quantized}"
    );
    // A prefix of the wrong length or with a NaN is refused with the example's index.
    for bad in [vec![0.0f32; 3], vec![f32::NAN; data[0].tokens.len() * 16]] {
        assert!(matches!(
            LoraTrainer::with_prefix(&base, a.clone(), tc.clone(), data.clone(), |_, _| Ok(
                bad.clone()
            )),
            Err(Error::InvalidExample { index: 0, .. })
        ));
    }
}

/// The integer copies of the frozen weights give nearly the f32 loss and adapter gradients
/// (12-bit weights, quantized activations), train the task as well, and leave the base alone.
#[test]
fn integer_frozen_weights_track_the_f32_step_and_train() {
    let cfg = LlamaConfig::tiny();
    let base = spicy_model(cfg.clone(), 1, 0.2);
    let base_before = base.clone();
    let a = layer1_adapters(&cfg);
    let data = task(&cfg);
    let idx: Vec<usize> = (0..data.len()).collect();
    let tc = sixty_steps();
    let mut f32_run = LoraTrainer::new(&base, a.clone(), tc.clone(), data.clone()).unwrap();
    let mut int_run = LoraTrainer::new(&base, a.clone(), tc, data.clone())
        .unwrap()
        .with_integer_frozen_weights()
        .unwrap();
    let (lf, li) = (
        f32_run.eval_loss(&idx).unwrap(),
        int_run.eval_loss(&idx).unwrap(),
    );
    assert!(lf != li, "the integer path must actually run ({lf})");
    assert!((lf - li).abs() < 0.02 * lf.abs().max(1.0), "{lf} vs {li}");
    // One step each from the same adapters: the updated adapters stay close.
    f32_run.train_step(&idx).unwrap();
    int_run.train_step(&idx).unwrap();
    for target in [LoraTarget::Q, LoraTarget::V, LoraTarget::Up] {
        let pair = |set: &LoraAdapters| {
            let p = set.get(1, target).unwrap();
            [p.a.clone(), p.b.clone()]
        };
        let (af, ai, a0) = (pair(f32_run.adapters()), pair(int_run.adapters()), pair(&a));
        for ((tf, ti), t0) in af.iter().zip(&ai).zip(&a0) {
            let step_f: Vec<f32> = tf.iter().zip(t0.iter()).map(|(x, y)| x - y).collect();
            let step_i: Vec<f32> = ti.iter().zip(t0.iter()).map(|(x, y)| x - y).collect();
            let scale = step_f.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
            assert!(
                max_abs_diff(&step_f, &step_i) < 0.15 * scale,
                "adapter step differs: {} of {scale}",
                max_abs_diff(&step_f, &step_i)
            );
        }
    }
    let first = int_run.eval_loss(&idx).unwrap();
    for _ in 0..59 {
        int_run.train_step(&idx).unwrap();
    }
    let last = int_run.eval_loss(&idx).unwrap();
    assert!(last < 0.5 * li, "loss {li} -> {first} -> {last}");
    assert_eq!(base.params(), base_before.params());
}

//! Safetensors / config.json: round trips, f16/bf16 loading, and every kind of bad file
//! (malformed, truncated, lying header, wrong shape, missing tensor, wrong dtype) giving an
//! error rather than a panic or a huge allocation.

mod common;

use std::collections::BTreeMap;

use common::{max_abs_diff, spicy_model};
use llm::{Error, LlamaConfig, LlamaModel};
use proptest::prelude::*;

/// Build a safetensors file by hand: `(name, dtype, shape, bytes)`.
fn raw_file(tensors: &[(&str, &str, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, dtype, shape, bytes) in tensors {
        let start = data.len();
        data.extend_from_slice(bytes);
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": dtype, "shape": shape, "data_offsets": [start, data.len()]}),
        );
    }
    let h = serde_json::Value::Object(header).to_string();
    let mut out = (h.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(&data);
    out
}

fn model_tensors(m: &LlamaModel, dtype: &str) -> Vec<(String, String, Vec<usize>, Vec<u8>)> {
    m.named_tensors()
        .into_iter()
        .map(|(n, s, d)| {
            let bytes: Vec<u8> = match dtype {
                "F32" => d.iter().flat_map(|v| v.to_le_bytes()).collect(),
                "BF16" => d
                    .iter()
                    .flat_map(|v| ((v.to_bits() >> 16) as u16).to_le_bytes())
                    .collect(),
                _ => unreachable!(),
            };
            (n, dtype.to_string(), s, bytes)
        })
        .collect()
}

fn as_refs(v: &[(String, String, Vec<usize>, Vec<u8>)]) -> Vec<(&str, &str, Vec<usize>, Vec<u8>)> {
    v.iter()
        .map(|(a, b, c, d)| (a.as_str(), b.as_str(), c.clone(), d.clone()))
        .collect()
}

#[test]
fn round_trip_is_exact_and_logits_equal() {
    for tie in [false, true] {
        let mut cfg = LlamaConfig::tiny();
        cfg.tie_word_embeddings = tie;
        let m = spicy_model(cfg.clone(), 3, 0.2);
        let bytes = m.to_safetensors().unwrap();
        let json = cfg.to_json();
        let back = LlamaModel::load(json.as_bytes(), &bytes).unwrap();
        assert_eq!(back.params(), m.params());
        let toks = [1u32, 2, 3, 4];
        assert_eq!(
            back.forward_sequence(&toks).unwrap(),
            m.forward_sequence(&toks).unwrap()
        );
        // Saving again is byte-identical (deterministic order and metadata).
        assert_eq!(back.to_safetensors().unwrap(), bytes);
    }
}

#[test]
fn tied_model_ignores_extra_lm_head() {
    let mut cfg = LlamaConfig::tiny();
    cfg.tie_word_embeddings = true;
    let m = spicy_model(cfg.clone(), 3, 0.2);
    let mut t = model_tensors(&m, "F32");
    let embed = t[0].3.clone();
    t.push(("lm_head.weight".into(), "F32".into(), vec![32, 16], embed));
    let back = LlamaModel::from_safetensors(cfg, &raw_file(&as_refs(&t))).unwrap();
    assert_eq!(back.params(), m.params());
}

#[test]
fn bf16_weights_load() {
    let cfg = LlamaConfig::tiny();
    let m = spicy_model(cfg.clone(), 3, 0.2);
    let file = raw_file(&as_refs(&model_tensors(&m, "BF16")));
    let back = LlamaModel::from_safetensors(cfg, &file).unwrap();
    for (a, b) in back.params().tensors().iter().zip(m.params().tensors()) {
        // bf16 truncation keeps 8 bits of mantissa: relative error < 2⁻⁷.
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() <= y.abs() / 128.0 + 1e-30);
        }
    }
}

#[test]
fn missing_tensor_is_named() {
    let cfg = LlamaConfig::tiny();
    let m = spicy_model(cfg.clone(), 3, 0.2);
    let t: Vec<_> = model_tensors(&m, "F32")
        .into_iter()
        .filter(|x| x.0 != "model.layers.1.mlp.up_proj.weight")
        .collect();
    assert_eq!(
        LlamaModel::from_safetensors(cfg, &raw_file(&as_refs(&t))).unwrap_err(),
        Error::MissingTensor("model.layers.1.mlp.up_proj.weight".into())
    );
}

#[test]
fn wrong_shape_is_reported() {
    let cfg = LlamaConfig::tiny();
    let m = spicy_model(cfg.clone(), 3, 0.2);
    let mut t = model_tensors(&m, "F32");
    let i = t.iter().position(|x| x.0 == "model.norm.weight").unwrap();
    t[i].2 = vec![4, 4]; // same byte count, wrong shape
    let err = LlamaModel::from_safetensors(cfg.clone(), &raw_file(&as_refs(&t))).unwrap_err();
    assert!(
        matches!(err, Error::WrongShape { ref name, .. } if name == "model.norm.weight"),
        "{err:?}"
    );
    // A config that does not match the file (other hidden size).
    let mut other = cfg;
    other.intermediate_size = 20;
    let err = LlamaModel::from_safetensors(other, &m.to_safetensors().unwrap()).unwrap_err();
    assert!(matches!(err, Error::WrongShape { .. }), "{err:?}");
}

#[test]
fn wrong_dtype_is_reported() {
    let cfg = LlamaConfig::tiny();
    let m = spicy_model(cfg.clone(), 3, 0.2);
    let mut t = model_tensors(&m, "F32");
    t[0].1 = "I32".into();
    let err = LlamaModel::from_safetensors(cfg, &raw_file(&as_refs(&t))).unwrap_err();
    assert!(
        matches!(err, Error::WrongDtype { ref name, .. } if name == "model.embed_tokens.weight"),
        "{err:?}"
    );
}

#[test]
fn malformed_and_truncated_files_are_errors() {
    let cfg = LlamaConfig::tiny();
    let good = spicy_model(cfg.clone(), 3, 0.2).to_safetensors().unwrap();
    let load = |b: &[u8]| LlamaModel::from_safetensors(cfg.clone(), b);
    assert!(matches!(load(&[]), Err(Error::SafeTensors(_))));
    assert!(matches!(load(&[1, 2, 3]), Err(Error::SafeTensors(_))));
    // Every truncation point (coarsely) is an error.
    for cut in (0..good.len()).step_by(97) {
        assert!(load(&good[..cut]).is_err(), "cut at {cut}");
    }
    // A header length that lies (claims 2^60 bytes) — no allocation, just an error.
    let mut lying = good.clone();
    lying[..8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    assert!(matches!(load(&lying), Err(Error::SafeTensors(_))));
    // A tensor whose shape claims far more data than the file has.
    let huge = raw_file(&[(
        "model.embed_tokens.weight",
        "F32",
        vec![1 << 30, 1 << 20],
        vec![0; 16],
    )]);
    assert!(matches!(load(&huge), Err(Error::SafeTensors(_))));
    // Garbage JSON header.
    let mut garbage = 10u64.to_le_bytes().to_vec();
    garbage.extend_from_slice(b"{not json}");
    assert!(matches!(load(&garbage), Err(Error::SafeTensors(_))));
    // Bad config.json.
    assert!(LlamaModel::load(b"{}", &good).is_err());
    assert!(LlamaModel::load(b"\xff\xfe", &good).is_err());
}

#[test]
fn config_json_is_hf_shaped() {
    let cfg = LlamaConfig::tiny();
    let v: serde_json::Value = serde_json::from_str(&cfg.to_json()).unwrap();
    assert_eq!(v["architectures"][0], "LlamaForCausalLM");
    assert_eq!(v["model_type"], "llama");
    assert_eq!(v["num_key_value_heads"], 2);
    let m: BTreeMap<String, serde_json::Value> = serde_json::from_value(v).unwrap();
    assert!(m.contains_key("rms_norm_eps") && m.contains_key("rope_theta"));
}

#[test]
fn loaded_logits_match_original() {
    let cfg = LlamaConfig::tiny();
    let m = spicy_model(cfg.clone(), 5, 0.2);
    let back = LlamaModel::from_safetensors(cfg, &m.to_safetensors().unwrap()).unwrap();
    let t = [3u32, 1, 4, 1, 5, 9, 2, 6];
    assert_eq!(
        max_abs_diff(
            &back.forward_sequence(&t).unwrap(),
            &m.forward_sequence(&t).unwrap()
        ),
        0.0
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Arbitrary byte corruption never panics.
    #[test]
    fn corrupted_files_never_panic(pos in 0usize..4000, byte in any::<u8>(), cut in 0usize..6000) {
        let cfg = LlamaConfig::tiny();
        let mut f = spicy_model(cfg.clone(), 3, 0.2).to_safetensors().unwrap();
        let p = pos % f.len();
        f[p] = byte;
        f.truncate(cut.max(1).min(f.len()));
        let _ = LlamaModel::from_safetensors(cfg, &f);
    }

    /// Arbitrary bytes as a config never panic.
    #[test]
    fn arbitrary_config_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = LlamaConfig::from_json(&bytes);
    }
}

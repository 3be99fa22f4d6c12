//! The batched prefill ([`Session::prefill`], `PREFILL_BLOCK` positions per block, each
//! projection's weights read once per block) is bit-identical to feeding the same tokens one
//! at a time: same KV cache in every layer, same logits, on the f32 and the quantized model,
//! for prompt lengths below, at and across block boundaries. The comparison is bitwise, and a
//! negative check shows it sees a one-ulp difference.

mod common;

use common::spicy_model;
use llm::infer::PREFILL_BLOCK;
use llm::{DecodeWeights, LlamaConfig, QuantModel, Session};

/// The first index where `a` and `b` differ in their bits (or in length), if any.
fn first_bit_difference(a: &[f32], b: &[f32]) -> Option<usize> {
    if a.len() != b.len() {
        return Some(a.len().min(b.len()));
    }
    a.iter()
        .zip(b)
        .position(|(x, y)| x.to_bits() != y.to_bits())
}

/// Config with widths that are not multiples of the SIMD chunks (tails on every path) and a
/// context long enough for several blocks.
fn config() -> LlamaConfig {
    LlamaConfig {
        vocab_size: 50,
        hidden_size: 40,
        intermediate_size: 72,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: Some(2),
        max_position_embeddings: 96,
        ..LlamaConfig::tiny()
    }
}

fn lengths() -> Vec<usize> {
    vec![
        1,
        2,
        3,
        4,
        5,
        PREFILL_BLOCK - 1,
        PREFILL_BLOCK,
        PREFILL_BLOCK + 1,
        2 * PREFILL_BLOCK + 7,
        80,
    ]
}

/// Prefill against token-by-token on `model`, bitwise: logits, every layer's cache, and the
/// next decoding step.
fn check_identical<W: DecodeWeights>(model: &W, what: &str) {
    let c = model.config();
    for len in lengths() {
        let tokens: Vec<u32> = (0..len)
            .map(|i| ((i * 13 + 5) % c.vocab_size) as u32)
            .collect();
        let mut batched = Session::new(model);
        let got = batched.prefill(&tokens).unwrap().to_vec();
        let mut single = Session::new(model);
        let mut want = Vec::new();
        for &t in &tokens {
            want = single.feed(t).unwrap().to_vec();
        }
        // Every block size gives the same logits (1: token by token, without the head).
        for block in [1, 3, 4, 5] {
            let mut s = Session::new(model);
            let logits = s.prefill_in_blocks(&tokens, block).unwrap();
            assert_eq!(
                first_bit_difference(logits, &want),
                None,
                "{what}: blocks of {block}, {len} tokens"
            );
        }
        assert_eq!(batched.position(), single.position());
        assert_eq!(
            first_bit_difference(&got, &want),
            None,
            "{what}: logits, {len} tokens"
        );
        for layer in 0..c.num_hidden_layers {
            let (bk, bv) = batched.kv_cache(layer).unwrap();
            let (sk, sv) = single.kv_cache(layer).unwrap();
            assert_eq!(bk.len(), len * c.kv_dim());
            assert_eq!(
                first_bit_difference(bk, sk),
                None,
                "{what}: keys of layer {layer}, {len} tokens"
            );
            assert_eq!(
                first_bit_difference(bv, sv),
                None,
                "{what}: values of layer {layer}, {len} tokens"
            );
        }
        // Decoding goes on identically after either.
        let next = tokens[len / 2];
        assert_eq!(
            first_bit_difference(batched.feed(next).unwrap(), single.feed(next).unwrap()),
            None,
            "{what}: decode after {len} tokens"
        );
    }
}

#[test]
fn batched_prefill_is_bit_identical_to_token_by_token_f32() {
    let model = spicy_model(config(), 31, 0.3);
    check_identical(&model, "f32");
}

#[test]
fn batched_prefill_is_bit_identical_to_token_by_token_quantized() {
    let model = spicy_model(config(), 32, 0.3);
    let quant = QuantModel::from_model(&model).unwrap();
    check_identical(&quant, "quantized");
}

/// The comparison is bitwise: a value one ulp away, either way, is a difference, and so is
/// -0.0 against 0.0.
#[test]
fn the_comparison_sees_a_one_ulp_difference() {
    let model = spicy_model(config(), 33, 0.3);
    let quant = QuantModel::from_model(&model).unwrap();
    let mut s = Session::new(&quant);
    let logits = s.prefill(&[3, 4, 5, 6, 7]).unwrap().to_vec();
    let (keys, _) = s.kv_cache(1).unwrap();
    for (values, at) in [(&logits[..], 7usize), (keys, keys.len() - 1)] {
        for step in [1i32, -1] {
            let mut off = values.to_vec();
            off[at] = f32::from_bits(off[at].to_bits().wrapping_add_signed(step));
            assert_ne!(off[at], values[at]);
            assert!((off[at] - values[at]).abs() <= values[at].abs() * 1e-6);
            assert_eq!(first_bit_difference(values, &off), Some(at));
        }
    }
    assert_eq!(first_bit_difference(&[0.0], &[-0.0]), Some(0));
    assert_eq!(first_bit_difference(&[1.0], &[1.0, 2.0]), Some(1));
}

/// Bad prompts are refused before anything is fed.
#[test]
fn prefill_refuses_bad_prompts_and_feeds_nothing() {
    let model = spicy_model(config(), 34, 0.3);
    let mut s = Session::with_capacity(&model, 20);
    assert!(s.prefill(&[]).is_err());
    assert!(s.prefill(&[1, 2, 999]).is_err());
    assert!(s.prefill(&[1; 21]).is_err());
    assert_eq!(s.position(), 0);
    s.prefill(&[1; 20]).unwrap();
    assert_eq!(s.position(), 20);
    assert!(s.feed(1).is_err());
}

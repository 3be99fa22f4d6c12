//! Inference: the KV-cache path equals the full-sequence path, sampling is deterministic per
//! seed, the constrained-decoding hook really constrains, and bad input gives errors.

mod common;

use common::{max_abs_diff, spicy_model};
use llm::{
    Error, GenerateOptions, LlamaConfig, LlamaModel, Sampling, Session, StopReason, generate,
    generate_unconstrained,
};

fn configs() -> Vec<LlamaConfig> {
    let mut tied = LlamaConfig::tiny();
    tied.tie_word_embeddings = true;
    tied.num_key_value_heads = Some(1); // multi-query
    let mut mha = LlamaConfig::tiny();
    mha.num_key_value_heads = None;
    vec![LlamaConfig::tiny(), tied, mha]
}

#[test]
fn kv_cache_matches_full_sequence() {
    for cfg in configs() {
        let model = spicy_model(cfg.clone(), 21, 0.3);
        let tokens: Vec<u32> = (0..20)
            .map(|i| (i * 7 + 3) % cfg.vocab_size as u32)
            .collect();
        let full = model.forward_sequence(&tokens).unwrap();
        let mut s = Session::new(&model);
        for (t, &tok) in tokens.iter().enumerate() {
            let step = s.feed(tok).unwrap().to_vec();
            let row = &full[t * cfg.vocab_size..(t + 1) * cfg.vocab_size];
            let d = max_abs_diff(&step, row);
            assert!(d < 1e-4, "position {t}: max diff {d}");
        }
        // feed_all after reset gives the last row again.
        s.reset();
        let last = s.feed_all(&tokens).unwrap().to_vec();
        assert!(max_abs_diff(&last, &full[(tokens.len() - 1) * cfg.vocab_size..]) < 1e-4);
    }
}

#[test]
fn errors_not_panics_on_bad_tokens_and_full_context() {
    let model = LlamaModel::new_random(LlamaConfig::tiny(), 1).unwrap();
    let mut s = Session::new(&model);
    assert!(matches!(
        s.feed(999),
        Err(Error::TokenOutOfRange { token: 999, .. })
    ));
    assert!(matches!(
        model.forward_sequence(&[1, 40]),
        Err(Error::TokenOutOfRange { .. })
    ));
    let long = vec![3u32; 65];
    assert!(matches!(
        model.forward_sequence(&long),
        Err(Error::ContextFull { .. })
    ));
    assert!(matches!(s.feed_all(&long), Err(Error::ContextFull { .. })));
    for _ in 0..64 {
        s.feed(3).unwrap();
    }
    assert!(matches!(s.feed(3), Err(Error::ContextFull { .. })));
}

#[test]
fn bounded_session_reports_context_full_and_matches() {
    let model = spicy_model(LlamaConfig::tiny(), 3, 0.3);
    let mut small = Session::with_capacity(&model, 5);
    let mut full = Session::new(&model);
    assert_eq!(small.capacity(), 5);
    assert_eq!(Session::with_capacity(&model, 1000).capacity(), 64);
    assert!(small.memory_bytes() < full.memory_bytes());
    for t in 0..5u32 {
        assert_eq!(
            small.feed(t).unwrap().to_vec(),
            full.feed(t).unwrap().to_vec()
        );
    }
    assert_eq!(small.feed(1), Err(Error::ContextFull { max_positions: 5 }));
    assert!(matches!(
        small.feed_all(&[1]),
        Err(Error::ContextFull { .. })
    ));
}

fn sampling() -> Sampling {
    Sampling::Random {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
    }
}

#[test]
fn sampling_is_deterministic_per_seed() {
    let model = spicy_model(LlamaConfig::tiny(), 4, 0.5);
    let opts = |seed| GenerateOptions {
        max_new_tokens: 30,
        sampling: sampling(),
        stop_tokens: vec![],
        seed,
    };
    let a = generate_unconstrained(&model, &[1, 5, 9], &opts(7)).unwrap();
    let b = generate_unconstrained(&model, &[1, 5, 9], &opts(7)).unwrap();
    let c = generate_unconstrained(&model, &[1, 5, 9], &opts(8)).unwrap();
    assert_eq!(a, b);
    assert_ne!(
        a.tokens, c.tokens,
        "different seeds should differ over 30 tokens"
    );
    assert_eq!(a.stop, StopReason::MaxTokens);
    assert_eq!(a.tokens.len(), 30);
}

#[test]
fn greedy_follows_argmax_and_stops_on_stop_token() {
    let model = spicy_model(LlamaConfig::tiny(), 4, 0.5);
    let g = generate_unconstrained(
        &model,
        &[1, 2, 3],
        &GenerateOptions {
            max_new_tokens: 10,
            ..Default::default()
        },
    )
    .unwrap();
    // Recompute step by step with the full-sequence forward.
    let mut seq = vec![1u32, 2, 3];
    for &tok in &g.tokens {
        let logits = model.forward_sequence(&seq).unwrap();
        let last = &logits[(seq.len() - 1) * 32..];
        let arg = (0..32)
            .max_by(|&a, &b| last[a].total_cmp(&last[b]).then(b.cmp(&a)))
            .unwrap();
        assert_eq!(tok, arg as u32);
        seq.push(tok);
    }
    // Using the first generated token as a stop token ends immediately with it excluded.
    let first = g.tokens[0];
    let g2 = generate_unconstrained(
        &model,
        &[1, 2, 3],
        &GenerateOptions {
            max_new_tokens: 10,
            stop_tokens: vec![first],
            ..Default::default()
        },
    )
    .unwrap();
    assert!(g2.tokens.is_empty());
    assert_eq!(g2.stop, StopReason::StopToken(first));
}

#[test]
fn top_k_one_equals_greedy() {
    let model = spicy_model(LlamaConfig::tiny(), 9, 0.5);
    let greedy = generate_unconstrained(&model, &[4, 4], &GenerateOptions::default()).unwrap();
    let topk = generate_unconstrained(
        &model,
        &[4, 4],
        &GenerateOptions {
            sampling: Sampling::Random {
                temperature: 0.7,
                top_k: 1,
                top_p: 1.0,
            },
            seed: 3,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(greedy, topk);
}

#[test]
fn constrained_hook_constrains() {
    let model = spicy_model(LlamaConfig::tiny(), 4, 0.5);
    // Allow only even tokens, and force token 10 at step 2; seen-so-far must be passed.
    let mut seen_lengths = Vec::new();
    let mut mask = |generated: &[u32], logits: &mut [f32]| {
        seen_lengths.push(generated.len());
        for (i, l) in logits.iter_mut().enumerate() {
            if i % 2 == 1 || (generated.len() == 2 && i != 10) {
                *l = f32::NEG_INFINITY;
            }
        }
    };
    let opts = GenerateOptions {
        max_new_tokens: 12,
        sampling: sampling(),
        stop_tokens: vec![],
        seed: 1,
    };
    let g = generate(&model, &[1, 3], &opts, &mut mask).unwrap();
    assert_eq!(g.tokens.len(), 12);
    assert!(g.tokens.iter().all(|t| t % 2 == 0), "{:?}", g.tokens);
    assert_eq!(g.tokens[2], 10);
    assert_eq!(seen_lengths, (0..12).collect::<Vec<_>>());
    // The unconstrained run differs (odd tokens appear) — so the mask did the work.
    let free = generate_unconstrained(&model, &[1, 3], &opts).unwrap();
    assert!(free.tokens.iter().any(|t| t % 2 == 1), "{:?}", free.tokens);
}

#[test]
fn all_masked_is_an_error() {
    let model = LlamaModel::new_random(LlamaConfig::tiny(), 2).unwrap();
    let mut mask = |g: &[u32], logits: &mut [f32]| {
        if g.len() == 3 {
            logits.iter_mut().for_each(|l| *l = f32::NEG_INFINITY);
        }
    };
    for sampling in [Sampling::Greedy, sampling()] {
        let opts = GenerateOptions {
            max_new_tokens: 10,
            sampling,
            ..Default::default()
        };
        assert_eq!(
            generate(&model, &[1], &opts, &mut mask),
            Err(Error::AllTokensMasked { step: 3 })
        );
    }
    let mut nan = |_: &[u32], logits: &mut [f32]| logits.iter_mut().for_each(|l| *l = f32::NAN);
    assert!(matches!(
        generate(&model, &[1], &GenerateOptions::default(), &mut nan),
        Err(Error::AllTokensMasked { step: 0 })
    ));
}

#[test]
fn bad_sampling_options_are_errors() {
    let model = LlamaModel::new_random(LlamaConfig::tiny(), 2).unwrap();
    for (temperature, top_p) in [
        (0.0, 1.0),
        (-1.0, 1.0),
        (1.0, 0.0),
        (1.0, 1.5),
        (f32::NAN, 1.0),
    ] {
        let opts = GenerateOptions {
            sampling: Sampling::Random {
                temperature,
                top_k: 0,
                top_p,
            },
            ..Default::default()
        };
        assert!(matches!(
            generate_unconstrained(&model, &[1], &opts),
            Err(Error::InvalidSampling(_))
        ));
    }
    assert!(generate_unconstrained(&model, &[], &GenerateOptions::default()).is_err());
}

/// `prefill` leaves the session exactly where `feed_all` does: same last logits, and the
/// next tokens decode to the same logits (the KV cache holds every prompt position).
#[test]
fn prefill_fills_the_cache_like_feed_all() {
    for cfg in configs() {
        let model = spicy_model(cfg.clone(), 23, 0.3);
        let prompt: Vec<u32> = (0..12)
            .map(|i| (i * 5 + 1) % cfg.vocab_size as u32)
            .collect();
        let mut a = Session::new(&model);
        let mut b = Session::new(&model);
        let la = a.feed_all(&prompt).unwrap().to_vec();
        let lb = b.prefill(&prompt).unwrap().to_vec();
        assert_eq!(la, lb);
        assert_eq!(a.position(), b.position());
        for t in [3u32, 9, 2] {
            assert_eq!(a.feed(t).unwrap().to_vec(), b.feed(t).unwrap().to_vec());
        }
        let mut c = Session::with_capacity(&model, 4);
        assert!(matches!(c.prefill(&prompt), Err(Error::ContextFull { .. })));
        assert!(c.prefill(&[]).is_err());
        assert!(matches!(
            c.prefill(&[cfg.vocab_size as u32]),
            Err(Error::TokenOutOfRange { .. })
        ));
    }
}

use super::*;
use llm::{LlamaConfig, LlamaModel, QuantModel};
use oslang::corpus::{Split, generate};

/// A small tokenizer trained on `count` training-split examples (prompts and commands).
fn tokenizer_for(seed: u64, count: usize, vocab_size: usize) -> Tokenizer {
    let texts: Vec<String> = generate(Split::Train, seed, count)
        .iter()
        .flat_map(|e| [e.prompt(), e.command.to_text()])
        .collect();
    Tokenizer::train(
        texts.iter().map(|s| s.as_bytes()),
        &bpe::TrainConfig {
            vocab_size,
            min_frequency: 2,
            special_tokens: vec![BOS.into(), EOS.into()],
        },
    )
    .unwrap()
}

fn small_config(vocab: usize) -> LlamaConfig {
    LlamaConfig {
        vocab_size: vocab,
        hidden_size: 16,
        intermediate_size: 24,
        num_hidden_layers: 1,
        num_attention_heads: 2,
        num_key_value_heads: Some(1),
        max_position_embeddings: 256,
        ..LlamaConfig::tiny()
    }
}

/// Whatever the weights, constrained greedy decoding yields an allowlisted command, on the
/// f32 and on the quantized model.
#[test]
fn constrained_decoding_of_a_random_model_gives_allowlisted_commands() {
    let tok = tokenizer_for(3, 300, 400);
    let sp = specials(&tok).unwrap();
    for seed in 0..4 {
        let model = LlamaModel::new_random(small_config(tok.vocab_size()), seed).unwrap();
        let quant = QuantModel::from_model(&model).unwrap();
        for e in generate(Split::Test, seed, 5) {
            let out = predict(&model, &tok, sp, &e.prompt(), true).unwrap();
            assert!(oslang::is_complete(out.as_bytes()), "{out:?}");
            assert!(allowlisted(&out).is_ok(), "{out:?}");
            let p = predict_timed(&quant, &tok, sp, &e.prompt(), true, &|| 0).unwrap();
            assert!(p.command().is_ok(), "{:?}", p.text);
            assert!(p.finished);
        }
    }
}

/// The phases are timed with the caller's clock, in order.
#[test]
fn phases_are_timed_with_the_callers_clock() {
    let tok = tokenizer_for(1, 200, 350);
    let sp = specials(&tok).unwrap();
    let model = LlamaModel::new_random(small_config(tok.vocab_size()), 5).unwrap();
    let ticks = core::cell::Cell::new(0u64);
    let clock = || {
        ticks.set(ticks.get() + 10);
        ticks.get()
    };
    let p = predict_timed(&model, &tok, sp, "m3 f2 | memory >", true, &clock).unwrap();
    assert_eq!(p.times.encode, 10);
    assert_eq!(p.times.prefill, 10);
    assert_eq!(p.times.decode, 10);
    assert_eq!(p.times.total(), 30);
    assert_eq!(
        p.prompt_tokens,
        prompt_tokens(&tok, sp, "m3 f2 | memory >").len()
    );
    assert!(!p.tokens.is_empty());
}

#[test]
fn a_mismatched_tokenizer_is_refused() {
    let tok = tokenizer_for(1, 50, 300);
    assert_eq!(
        check_pair(tok.vocab_size() + 1, &tok),
        Err(TaskError::VocabMismatch {
            model: tok.vocab_size() + 1,
            tokenizer: tok.vocab_size()
        })
    );
    assert!(check_pair(tok.vocab_size(), &tok).is_ok());
}

/// The allowlist is the catalogue: in-range commands pass, anything else is refused.
#[test]
fn allowlist_is_the_catalogue() {
    for ok in [
        "meminfo",
        "crashctl tune 20",
        "crashctl history 1",
        "memctl reclaim",
    ] {
        assert!(allowlisted(ok).is_ok(), "{ok}");
    }
    for bad in [
        "shutdown",
        "rm /models/model.safetensors",
        "crashctl tune 0",
        "crashctl history 0",
        "memctl stress leak",
        "",
    ] {
        assert!(allowlisted(bad).is_err(), "{bad}");
    }
}

#[test]
fn training_sequences_score_only_the_command_and_eos() {
    let tok = tokenizer_for(1, 50, 300);
    let sp = specials(&tok).unwrap();
    let t = train_example(&tok, sp, "m1 | ps >", "memctl stats");
    let answer = tok.encode(b"memctl stats").len() + 1;
    assert_eq!(t.tokens.first(), Some(&sp.bos));
    assert_eq!(t.tokens.last(), Some(&sp.eos));
    assert_eq!(t.scored(), answer);
    assert!(t.loss_mask.iter().rev().take(answer).all(|&m| m));
}

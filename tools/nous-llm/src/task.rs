//! The prompt → command task in token form: training sequences, decoding, accuracy.
//!
//! A sequence is `<bos> encode(prompt) encode(command) <eos>`; only the command and `<eos>`
//! are scored. Prompt and command are encoded separately so the command's first token
//! never merges with the prompt, which is also what decoding does. Constrained decoding
//! masks logits with `oslang::mask`, so the output is always a catalogue command.

use anyhow::{Context, Result};
use bpe::{BOS, EOS, Tokenizer};
use llm::generate::{GenerateOptions, Sampling, generate};
use llm::model::LlamaModel;
use llm::train::TrainExample;

/// Most tokens the model may write for a command: every token adds at least one byte, so
/// constrained decoding always completes a catalogue command within this bound.
pub fn max_command_tokens() -> usize {
    oslang::catalogue::max_command_len() + 1
}

/// Special-token ids the task needs.
#[derive(Clone, Copy, Debug)]
pub struct Specials {
    /// `<bos>`.
    pub bos: u32,
    /// `<eos>`.
    pub eos: u32,
}

/// Looks up `<bos>` and `<eos>`.
pub fn specials(tok: &Tokenizer) -> Result<Specials> {
    Ok(Specials {
        bos: tok.special_id(BOS).context("tokenizer has no <bos>")?,
        eos: tok.special_id(EOS).context("tokenizer has no <eos>")?,
    })
}

/// `<bos>` + prompt tokens.
pub fn prompt_tokens(tok: &Tokenizer, sp: Specials, prompt: &str) -> Vec<u32> {
    let mut ids = vec![sp.bos];
    ids.extend(tok.encode(prompt.as_bytes()));
    ids
}

/// A training sequence scoring only the command and `<eos>`.
pub fn train_example(tok: &Tokenizer, sp: Specials, prompt: &str, command: &str) -> TrainExample {
    let mut answer = tok.encode(command.as_bytes());
    answer.push(sp.eos);
    TrainExample::prompt_answer(&prompt_tokens(tok, sp, prompt), &answer)
}

/// Greedy prediction of the command for `prompt`, constrained to the catalogue or not.
pub fn predict(
    model: &LlamaModel,
    tok: &Tokenizer,
    sp: Specials,
    prompt: &str,
    constrained: bool,
) -> Result<String> {
    let ids = prompt_tokens(tok, sp, prompt);
    let opts = GenerateOptions {
        max_new_tokens: max_command_tokens(),
        sampling: Sampling::Greedy,
        stop_tokens: vec![sp.eos],
        seed: 0,
    };
    let generation = if constrained {
        let mut allowed = Vec::new();
        let mut mask = |generated: &[u32], logits: &mut [f32]| {
            let bytes = tok.decode(generated).unwrap_or_default();
            oslang::mask::fill_allowed(tok, &bytes, &mut allowed);
            for (logit, ok) in logits.iter_mut().zip(&allowed) {
                if !ok {
                    *logit = f32::NEG_INFINITY;
                }
            }
        };
        generate(model, &ids, &opts, &mut mask)?
    } else {
        llm::generate::generate_unconstrained(model, &ids, &opts)?
    };
    let bytes = tok.decode(&generation.tokens)?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Fraction of `(prompt, command)` pairs whose greedy prediction equals the command.
pub fn accuracy(
    model: &LlamaModel,
    tok: &Tokenizer,
    pairs: &[(String, String)],
    constrained: bool,
) -> Result<f64> {
    let sp = specials(tok)?;
    let mut right = 0usize;
    for (prompt, command) in pairs {
        right += usize::from(predict(model, tok, sp, prompt, constrained)? == *command);
    }
    Ok(right as f64 / pairs.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use llm::config::LlamaConfig;
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

    /// Whatever the weights, constrained greedy decoding yields a catalogue command.
    #[test]
    fn constrained_decoding_of_a_random_model_gives_catalogue_commands() {
        let tok = tokenizer_for(3, 300, 400);
        let sp = specials(&tok).unwrap();
        let cfg = LlamaConfig {
            vocab_size: tok.vocab_size(),
            hidden_size: 16,
            intermediate_size: 24,
            num_hidden_layers: 1,
            num_attention_heads: 2,
            num_key_value_heads: Some(1),
            max_position_embeddings: 256,
            ..LlamaConfig::tiny()
        };
        for seed in 0..4 {
            let model = LlamaModel::new_random(cfg.clone(), seed).unwrap();
            for e in generate(Split::Test, seed, 5) {
                let out = predict(&model, &tok, sp, &e.prompt(), true).unwrap();
                assert!(oslang::is_complete(out.as_bytes()), "{out:?}");
            }
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
}

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

/// Longest command in tokens we let the model write (catalogue commands are ≤ 25 bytes).
pub const MAX_COMMAND_TOKENS: usize = 16;

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
        max_new_tokens: MAX_COMMAND_TOKENS,
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

//! The prompt → command task in token form, shared by the kernel (`llmctl infer`, the
//! autonomous mode, `llmctl eval`) and the host tool `tools/nous-llm` (evaluation, training
//! data), so the two run the same code on the same prompts.
//!
//! A sequence is `<bos> encode(prompt) encode(command) <eos>`; only the command and `<eos>`
//! are scored in training. Prompt and command are encoded separately so the command's first
//! token never merges with the prompt, which is also what decoding does. Constrained decoding
//! masks logits with `oslang::mask`, so the output is always an answer of the grammar
//! (`oslang::answer`: one catalogue command, a plan of up to three, or a refusal); the
//! execution allowlist ([`allowlisted`], [`allowlisted_answer`]) is the catalogue itself
//! (`oslang::catalogue`), whose argument ranges come from the crates that own the commands.
//!
//! [`predict_timed`] is the one decoding loop: it feeds the prompt into a KV-cache session
//! (the prefill), then decodes greedily under the mask, timing each phase with a clock the
//! caller passes (the kernel's TSC, the host's `Instant`). It works on the f32 model and on
//! the quantized one (`llm::QuantModel`) alike. It also records the model's
//! [`Prediction::confidence`]: the probability of the whole answer under the mask.
//!
//! **Abstention** ([`Abstention`], [`ABSTENTION`]): an answer whose confidence is below a
//! threshold becomes `refuse: unclear`, with a stricter threshold for answers that would
//! change state (`compact`, `reclaim`, `tune`, `auto`, `transformer`). The shipped thresholds
//! were chosen on the operator task's validation split (docs/LLM.md), never on the held-out
//! set. [`answer_timed`] (prompt, decode, abstention) is the answer path the kernel and the
//! host reference `nous-llm kernel-ref` share; [`predict_answer`] the one `nous-llm answer`
//! uses; [`AnswerFingerprint`] lets the two sides compare their answers.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod finetune;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use bpe::{BOS, EOS, Tokenizer};
use llm::generate::choose;
use llm::{DecodeWeights, Rng, Sampling, Session, TrainExample};
use oslang::answer::{Answer, AnswerError, parse_answer};
use oslang::catalogue::{Command, CommandError, Safety, parse_command};
use oslang::state::OsState;
use oslang::state_json::StateObject;
pub use oslang::task::Split as TaskSplit;

/// Why a prediction could not be made.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskError {
    /// The tokenizer lacks `<bos>` or `<eos>` (the string names which).
    MissingSpecial(&'static str),
    /// The model and the tokenizer disagree on the vocabulary size.
    VocabMismatch {
        /// `vocab_size` of the model's config.
        model: usize,
        /// Tokens of the tokenizer.
        tokenizer: usize,
    },
    /// The engine refused (context full, all tokens masked, …).
    Model(llm::Error),
    /// The generated ids do not decode (only with a tokenizer/model mismatch).
    Decode(String),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::MissingSpecial(name) => write!(f, "tokenizer has no {name} token"),
            TaskError::VocabMismatch { model, tokenizer } => write!(
                f,
                "model vocabulary {model} differs from the tokenizer's {tokenizer}"
            ),
            TaskError::Model(e) => write!(f, "model: {e}"),
            TaskError::Decode(e) => write!(f, "decoding the output: {e}"),
        }
    }
}

impl core::error::Error for TaskError {}

impl From<llm::Error> for TaskError {
    fn from(e: llm::Error) -> Self {
        TaskError::Model(e)
    }
}

/// Most tokens the model may write for an answer: every token adds at least one byte, so
/// constrained decoding always completes an answer (a plan of three of the longest commands
/// at most) within this bound.
pub fn max_answer_tokens() -> usize {
    oslang::answer::max_answer_len() + 1
}

/// Special-token ids the task needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Specials {
    /// `<bos>`.
    pub bos: u32,
    /// `<eos>`.
    pub eos: u32,
}

/// Looks up `<bos>` and `<eos>`.
pub fn specials(tok: &Tokenizer) -> Result<Specials, TaskError> {
    Ok(Specials {
        bos: tok.special_id(BOS).ok_or(TaskError::MissingSpecial(BOS))?,
        eos: tok.special_id(EOS).ok_or(TaskError::MissingSpecial(EOS))?,
    })
}

/// Checks that a model and a tokenizer belong together.
pub fn check_pair(model_vocab: usize, tok: &Tokenizer) -> Result<Specials, TaskError> {
    if model_vocab != tok.vocab_size() {
        return Err(TaskError::VocabMismatch {
            model: model_vocab,
            tokenizer: tok.vocab_size(),
        });
    }
    specials(tok)
}

/// The prompt the shipped model reads: the state as the raw-number state object
/// (`oslang::state_json::encode_raw_prompt`) and the query. The kernel (`llmctl infer`, the
/// autonomous mode, `llmctl eval`), `nous-llm` and the fine-tune data all build prompts here, so
/// the prompt format and the model switch together. `uptime` is not in the prompt today.
pub fn prompt(state: &OsState, uptime: &str, query: &str) -> String {
    oslang::state_json::encode_raw_prompt(&StateObject::from_os_state(state, uptime), query)
}

/// The first `n` examples of the operator task's `split` (corpus seed `seed`) as (kernel
/// state, query, expected answer): what `llmctl eval` and `nous-llm kernel-ref` score.
pub fn eval_examples(split: TaskSplit, seed: u64, n: usize) -> Vec<(OsState, String, String)> {
    oslang::task::generate(split, seed, n)
        .into_iter()
        .map(|e| (e.state.to_os_state(), e.query, e.answer.to_text()))
        .collect()
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

/// Time spent per phase, in the units of the caller's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PhaseTimes {
    /// Tokenizing the prompt ([`answer_timed`]: also building it, spelling normaliser included).
    pub encode: u64,
    /// Feeding the prompt through the model (filling the KV cache).
    pub prefill: u64,
    /// Choosing and feeding the answer tokens.
    pub decode: u64,
}

impl PhaseTimes {
    /// All phases.
    pub fn total(&self) -> u64 {
        self.encode + self.prefill + self.decode
    }
}

/// One greedy prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct Prediction {
    /// Tokens of `<bos>` + prompt.
    pub prompt_tokens: usize,
    /// Generated tokens (without `<eos>`).
    pub tokens: Vec<u32>,
    /// The generated text (lossy UTF-8).
    pub text: String,
    /// Whether the model ended with `<eos>` (rather than running out of budget).
    pub finished: bool,
    /// Probability of the generated tokens and `<eos>` under the (masked) softmax: how sure
    /// the model is of the whole answer, in [0, 1].
    pub confidence: f32,
    /// The model's own answer when [`Prediction::abstain`] replaced it by a refusal.
    pub abstained_from: Option<String>,
    /// Time per phase.
    pub times: PhaseTimes,
}

/// Confidence thresholds below which the model's answer becomes `refuse: unclear`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Abstention {
    /// Least confidence for an answer of read-only commands.
    pub min_confidence: f32,
    /// Least confidence for an answer with a state-changing command (the stricter one).
    pub min_confidence_state_changing: f32,
}

impl Abstention {
    /// Never abstain.
    pub const OFF: Abstention = Abstention {
        min_confidence: 0.0,
        min_confidence_state_changing: 0.0,
    };

    /// Whether an answer `text` of confidence `confidence` should be withheld. A refusal is
    /// never withheld (it runs nothing); an answer that does not parse always is.
    pub fn abstains(&self, text: &str, confidence: f32) -> bool {
        match parse_answer(text) {
            Ok(Answer::Refuse(_)) => false,
            Ok(answer) => {
                let changes = answer
                    .commands()
                    .iter()
                    .any(|c| c.spec().safety == Safety::StateChanging);
                let min = if changes {
                    self.min_confidence_state_changing
                } else {
                    self.min_confidence
                };
                confidence < min
            }
            Err(_) => true,
        }
    }
}

/// The shipped thresholds, chosen on the validation split (1000 examples, seed 1) for the
/// model in `models/` by a rule fixed before the held-out run: the smallest state-changing
/// threshold whose unasked state changes are ≤ 1 % (0.9: 0.6 %), then the read-only threshold
/// with the most right answers (0: 55.2 % against 53.9 % without abstention; behind the
/// spelling normaliser the rule picks the same, 56.1 % against 54.4 %). See the sweep in
/// docs/LLM.md (`nous-llm task-eval --sweep`).
pub const ABSTENTION: Abstention = Abstention {
    min_confidence: 0.0,
    min_confidence_state_changing: 0.9,
};

/// The thresholds with a LoRA adapter merged in. An adapter is an operator's explicit site
/// policy, and after its 30 steps its answers are less peaked than the base model's on the
/// base task: [`ABSTENTION`]-like thresholds withhold many of them. Chosen on the fine-tune
/// *training* file (`models/finetune-data.json`), never its held-out file: the largest of the
/// grid 0 / 0, 0.1 / 0.1, 0.2 / 0.3, 0.3 / 0.5 that keeps its accuracy (72 %; 60 % at 0.3 / 0.5).
pub const ADAPTER_ABSTENTION: Abstention = Abstention {
    min_confidence: 0.2,
    min_confidence_state_changing: 0.3,
};

/// The shipped thresholds for a model with (`true`) or without an adapter.
pub fn abstention_for(adapter: bool) -> Abstention {
    if adapter {
        ADAPTER_ABSTENTION
    } else {
        ABSTENTION
    }
}

/// The answer the kernel gives when the model is unsure.
pub const ABSTAIN_TEXT: &str = "refuse: unclear";

impl Prediction {
    /// The text parsed as one catalogue command: `Ok` exactly when the output is a single
    /// allowlisted command.
    pub fn command(&self) -> Result<Command, CommandError> {
        allowlisted(&self.text)
    }

    /// The text parsed as an answer: a plan of allowlisted commands or a refusal.
    pub fn answer(&self) -> Result<Answer, AnswerError> {
        allowlisted_answer(&self.text)
    }

    /// Applies `policy`: an answer it withholds becomes [`ABSTAIN_TEXT`] (the model's own
    /// answer is kept in `abstained_from`). Returns whether it abstained.
    pub fn abstain(&mut self, policy: Abstention) -> bool {
        if self.abstained_from.is_some() || !policy.abstains(&self.text, self.confidence) {
            return false;
        }
        self.abstained_from = Some(core::mem::replace(&mut self.text, ABSTAIN_TEXT.into()));
        true
    }
}

/// The execution allowlist: `text` is executable exactly when it parses as a command of the
/// catalogue (`oslang::catalogue::CATALOGUE`) with its arguments inside their ranges.
pub fn allowlisted(text: &str) -> Result<Command, CommandError> {
    parse_command(text)
}

/// The allowlist for whole answers: a plan whose every command is [`allowlisted`], or a
/// refusal (which executes nothing).
pub fn allowlisted_answer(text: &str) -> Result<Answer, AnswerError> {
    parse_answer(text)
}

/// Greedy prediction of the command for `prompt`, constrained to the catalogue or not,
/// timing encode / prefill / decode with `clock` (any monotonic counter).
pub fn predict_timed<W: DecodeWeights + ?Sized>(
    model: &W,
    tok: &Tokenizer,
    sp: Specials,
    prompt: &str,
    constrained: bool,
    clock: &dyn Fn() -> u64,
) -> Result<Prediction, TaskError> {
    let t0 = clock();
    let ids = prompt_tokens(tok, sp, prompt);
    let t1 = clock();
    let budget = max_answer_tokens();
    let mut session = Session::with_capacity(model, ids.len().saturating_add(budget));
    let mut logits: Vec<f32> = session.prefill(&ids)?.to_vec();
    let t2 = clock();
    let mut out: Vec<u32> = Vec::new();
    let mut bytes: Vec<u8> = Vec::new();
    let mut allowed = Vec::new();
    let mut scratch = Vec::new();
    let mut rng = Rng::new(0);
    let mut finished = false;
    let mut log_confidence = 0.0f32;
    while out.len() < budget {
        if constrained {
            oslang::mask::fill_allowed(tok, &bytes, &mut allowed);
            for (logit, ok) in logits.iter_mut().zip(&allowed) {
                if !ok {
                    *logit = f32::NEG_INFINITY;
                }
            }
        }
        let next = choose(&logits, &Sampling::Greedy, &mut rng, &mut scratch).ok_or(
            TaskError::Model(llm::Error::AllTokensMasked { step: out.len() }),
        )?;
        log_confidence += log_prob(&logits, next);
        if next == sp.eos {
            finished = true;
            break;
        }
        out.push(next);
        bytes.extend_from_slice(tok.token_bytes(next).unwrap_or_default());
        if out.len() >= budget || session.position() >= session.capacity() {
            break;
        }
        logits.copy_from_slice(session.feed(next)?);
    }
    let t3 = clock();
    let decoded = tok
        .decode(&out)
        .map_err(|e| TaskError::Decode(alloc::format!("{e}")))?;
    let text = String::from_utf8_lossy(&decoded).into_owned();
    Ok(Prediction {
        prompt_tokens: ids.len(),
        tokens: out,
        text,
        finished,
        confidence: libm::expf(log_confidence),
        abstained_from: None,
        times: PhaseTimes {
            encode: t1 - t0,
            prefill: t2 - t1,
            decode: t3 - t2,
        },
    })
}

/// ln of the softmax probability of `token` over `logits` (masked entries are -inf).
fn log_prob(logits: &[f32], token: u32) -> f32 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits
        .iter()
        .filter(|l| l.is_finite())
        .map(|&l| libm::expf(l - max))
        .sum();
    logits
        .get(token as usize)
        .copied()
        .unwrap_or(f32::NEG_INFINITY)
        - max
        - libm::logf(sum)
}

/// The answer for `prompt`: constrained greedy decoding, then `policy` (the decode path of
/// the kernel's `llmctl infer` and of `nous-llm answer`).
pub fn predict_answer<W: DecodeWeights + ?Sized>(
    model: &W,
    tok: &Tokenizer,
    sp: Specials,
    prompt: &str,
    policy: Abstention,
) -> Result<Prediction, TaskError> {
    let mut p = predict_timed(model, tok, sp, prompt, true, &|| 0)?;
    p.abstain(policy);
    Ok(p)
}

/// What the model answered to a query on a state, and the prompt it read.
#[derive(Clone, Debug, PartialEq)]
pub struct Answered {
    /// The prompt ([`prompt`]).
    pub prompt: String,
    /// The answer after abstention.
    pub prediction: Prediction,
}

/// The answer to `query` on `state`: [`prompt`] → prefill → grammar-masked greedy decode
/// ([`predict_timed`]) → the shipped abstention for a model with (`adapter`) or without an
/// adapter ([`abstention_for`]). This is the one answer path of the kernel (`llmctl infer`,
/// `llmctl eval`, the autonomous mode) and of the host reference (`nous-llm kernel-ref`), so
/// the two score the same thing by construction: an earlier host reference scored raw answers
/// while the kernel abstained, which was the whole of the kernel/host accuracy gap. The prompt
/// is built without an uptime, which the prompt does not contain.
pub fn answer_timed<W: DecodeWeights + ?Sized>(
    model: &W,
    tok: &Tokenizer,
    sp: Specials,
    state: &OsState,
    query: &str,
    adapter: bool,
    clock: &dyn Fn() -> u64,
) -> Result<Answered, TaskError> {
    let t0 = clock();
    let prompt = prompt(state, "", query);
    let built = clock() - t0;
    let mut prediction = predict_timed(model, tok, sp, &prompt, true, clock)?;
    // Building the prompt includes the spelling normaliser (`oslang::spelling`), which walks
    // its vocabulary: it is part of the answer's latency, counted with the tokenizer.
    prediction.times.encode += built;
    prediction.abstain(abstention_for(adapter));
    Ok(Answered { prompt, prediction })
}

/// A fingerprint of an ordered list of answers (FNV-1a, 64 bits, over each answer's bytes
/// and a newline after each): `llmctl eval` and `nous-llm kernel-ref` print it so that
/// `cargo xtask bench llm` can tell whether the kernel and the host gave the same answers to
/// the same prompts in the same order without comparing every line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnswerFingerprint(u64);

impl Default for AnswerFingerprint {
    fn default() -> Self {
        AnswerFingerprint(FNV_OFFSET)
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

impl AnswerFingerprint {
    /// Adds the next answer.
    pub fn push(&mut self, answer: &str) {
        for &b in answer.as_bytes().iter().chain(b"\n") {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(FNV_PRIME);
        }
    }

    /// The hash so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

impl fmt::Display for AnswerFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// [`predict_timed`] without a clock: the generated text.
pub fn predict<W: DecodeWeights + ?Sized>(
    model: &W,
    tok: &Tokenizer,
    sp: Specials,
    prompt: &str,
    constrained: bool,
) -> Result<String, TaskError> {
    predict_timed(model, tok, sp, prompt, constrained, &|| 0).map(|p| p.text)
}

/// Fraction of `(prompt, command)` pairs whose greedy prediction equals the command.
pub fn accuracy<W: DecodeWeights + ?Sized>(
    model: &W,
    tok: &Tokenizer,
    pairs: &[(String, String)],
    constrained: bool,
) -> Result<f64, TaskError> {
    let sp = specials(tok)?;
    let mut right = 0usize;
    for (prompt, command) in pairs {
        right += usize::from(predict(model, tok, sp, prompt, constrained)? == *command);
    }
    Ok(right as f64 / pairs.len().max(1) as f64)
}

#[cfg(test)]
mod tests;

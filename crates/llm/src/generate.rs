//! Text generation: greedy or temperature/top-k/top-p sampling with a seeded RNG, stop tokens,
//! a token budget, and a constrained-decoding hook.
//!
//! The hook ([`LogitsMask`]) sees the tokens generated so far and the raw logits of the next
//! position and may set any logit to `f32::NEG_INFINITY`; the kernel uses it to allow only
//! continuations of valid shell commands. If nothing finite is left, generation stops with
//! [`Error::AllTokensMasked`]. Neighbours: [`crate::infer::Session`] computes the logits.

use alloc::format;
use alloc::vec::Vec;

use crate::error::Error;
use crate::infer::{DecodeWeights, Session};
use crate::rng::Rng;

/// How to pick the next token.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Sampling {
    /// Highest logit (ties → lowest id).
    Greedy,
    /// Sample from `softmax(logits / temperature)` restricted to the `top_k` most likely tokens
    /// (`0` = no limit) and to the smallest set whose probability reaches `top_p` (`1.0` = no
    /// limit).
    Random {
        /// > 0.
        temperature: f32,
        /// 0 disables.
        top_k: usize,
        /// In (0, 1]; 1 disables.
        top_p: f32,
    },
}

/// Generation settings.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Upper bound on generated tokens (also bounded by the context length).
    pub max_new_tokens: usize,
    /// Token choice rule.
    pub sampling: Sampling,
    /// Generation stops when one of these is produced (it is not included in the output).
    pub stop_tokens: Vec<u32>,
    /// Seed of the sampling RNG (unused by greedy).
    pub seed: u64,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            max_new_tokens: 32,
            sampling: Sampling::Greedy,
            stop_tokens: Vec::new(),
            seed: 0,
        }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A stop token was produced (its id).
    StopToken(u32),
    /// `max_new_tokens` reached.
    MaxTokens,
    /// The context (`max_position_embeddings`) is full.
    ContextFull,
}

/// Result of [`generate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    /// Newly generated tokens (prompt and stop token excluded).
    pub tokens: Vec<u32>,
    /// Why it ended.
    pub stop: StopReason,
}

/// Constrained-decoding hook: called before every choice with the tokens generated so far
/// (prompt excluded); set the logit of each forbidden token to `f32::NEG_INFINITY`.
pub trait LogitsMask {
    /// Mask `logits` in place.
    fn mask(&mut self, generated: &[u32], logits: &mut [f32]);
}

impl<F: FnMut(&[u32], &mut [f32])> LogitsMask for F {
    fn mask(&mut self, generated: &[u32], logits: &mut [f32]) {
        self(generated, logits)
    }
}

/// A mask that allows everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoMask;

impl LogitsMask for NoMask {
    fn mask(&mut self, _: &[u32], _: &mut [f32]) {}
}

fn check_sampling(s: &Sampling) -> Result<(), Error> {
    if let Sampling::Random {
        temperature, top_p, ..
    } = *s
        && !(temperature.is_finite() && temperature > 0.0 && top_p > 0.0 && top_p <= 1.0)
    {
        return Err(Error::InvalidSampling(format!(
            "temperature {temperature} must be > 0 and top_p {top_p} in (0, 1]"
        )));
    }
    Ok(())
}

/// Pick a token from (already masked) logits. `scratch` is reused to avoid allocation.
/// Returns `None` when no logit is finite. NaN logits count as masked.
pub fn choose(
    logits: &[f32],
    sampling: &Sampling,
    rng: &mut Rng,
    scratch: &mut Vec<(f32, u32)>,
) -> Option<u32> {
    match *sampling {
        Sampling::Greedy => {
            let mut best: Option<(f32, u32)> = None;
            for (i, &v) in logits.iter().enumerate() {
                if v.is_finite() && best.is_none_or(|(b, _)| v > b) {
                    best = Some((v, i as u32));
                }
            }
            best.map(|(_, i)| i)
        }
        Sampling::Random {
            temperature,
            top_k,
            top_p,
        } => {
            scratch.clear();
            scratch.extend(
                logits
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v.is_finite())
                    .map(|(i, &v)| (v / temperature, i as u32)),
            );
            if scratch.is_empty() {
                return None;
            }
            // Descending by logit, ties by id: a total order, so the result is deterministic.
            scratch.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            if top_k > 0 && scratch.len() > top_k {
                scratch.truncate(top_k);
            }
            let m = scratch[0].0;
            let mut sum = 0.0f32;
            for e in scratch.iter_mut() {
                e.0 = libm::expf(e.0 - m);
                sum += e.0;
            }
            let mut keep = scratch.len();
            if top_p < 1.0 {
                let mut acc = 0.0;
                for (i, e) in scratch.iter().enumerate() {
                    acc += e.0 / sum;
                    if acc >= top_p {
                        keep = i + 1;
                        break;
                    }
                }
            }
            scratch.truncate(keep);
            let total: f32 = scratch.iter().map(|e| e.0).sum();
            let mut r = rng.next_f32() * total;
            for e in scratch.iter() {
                if r < e.0 {
                    return Some(e.1);
                }
                r -= e.0;
            }
            scratch.last().map(|e| e.1)
        }
    }
}

/// Generate after `prompt`, consulting `mask` before every token. `model` is an f32
/// [`crate::LlamaModel`] or a [`crate::QuantModel`].
pub fn generate<W: DecodeWeights + ?Sized>(
    model: &W,
    prompt: &[u32],
    opts: &GenerateOptions,
    mask: &mut dyn LogitsMask,
) -> Result<Generation, Error> {
    check_sampling(&opts.sampling)?;
    if prompt.is_empty() {
        return Err(Error::InvalidSampling("prompt is empty".into()));
    }
    // The cache never needs more than prompt + budget positions.
    let mut session =
        Session::with_capacity(model, prompt.len().saturating_add(opts.max_new_tokens));
    let mut logits: Vec<f32> = session.feed_all(prompt)?.to_vec();
    let mut rng = Rng::new(opts.seed);
    let mut out = Vec::new();
    let mut scratch = Vec::new();
    let max_pos = session.capacity();
    loop {
        if out.len() >= opts.max_new_tokens {
            return Ok(Generation {
                tokens: out,
                stop: StopReason::MaxTokens,
            });
        }
        mask.mask(&out, &mut logits);
        let tok = choose(&logits, &opts.sampling, &mut rng, &mut scratch)
            .ok_or(Error::AllTokensMasked { step: out.len() })?;
        if opts.stop_tokens.contains(&tok) {
            return Ok(Generation {
                tokens: out,
                stop: StopReason::StopToken(tok),
            });
        }
        out.push(tok);
        if out.len() >= opts.max_new_tokens {
            // Done: do not spend a forward pass on logits nobody reads.
            return Ok(Generation {
                tokens: out,
                stop: StopReason::MaxTokens,
            });
        }
        if session.position() >= max_pos {
            return Ok(Generation {
                tokens: out,
                stop: StopReason::ContextFull,
            });
        }
        logits.copy_from_slice(session.feed(tok)?);
    }
}

/// [`generate`] without a constraint.
pub fn generate_unconstrained<W: DecodeWeights + ?Sized>(
    model: &W,
    prompt: &[u32],
    opts: &GenerateOptions,
) -> Result<Generation, Error> {
    generate(model, prompt, opts, &mut NoMask)
}

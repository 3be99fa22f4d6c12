//! The language between the Nous kernel and its language model, defined in one place.
//!
//! Design principles:
//! - **One source of truth.** The kernel's shell allowlist, the corpus generator, the
//!   constrained decoder and the fine-tune data all use [`catalogue::CATALOGUE`] and
//!   [`state::encode_prompt`]; nothing else spells commands or prompts.
//! - **What the model sees is what the policy uses.** The expert policy decides only from
//!   the bucketed numbers the prompt shows, so a perfect model can match it.
//! - **Deterministic.** Generators take a seed and use a fixed PRNG ([`rng`]).
//! - `no_std + alloc`, no unsafe; bad input (commands, JSON) gives error values.
//!
//! Modules: [`augment`] (meaning-preserving noise for training requests), [`spelling`] (the
//! request normaliser every answer system reads through: lower case, then typo correction), [`state`] (OS state and prompt encoding), [`catalogue`] (commands, safety
//! classes, the allowlist), [`answer`] (one command, a plan or a refusal), [`mask`] (allowed-token masks over a [`bpe::Tokenizer`]), [`policy`]
//! (intents and the expert policy), [`corpus`] (seeded examples and splits),
//! [`finetune`] (the site-policy task shift and the `finetune-data.json` format),
//! [`grade`] (the hand-written held-out set's case format and fixed-rubric grader),
//! [`baseline`] (a naive Bayes intent classifier fitted on the training split only: the
//! fair baseline the model is compared with).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod answer;
pub mod augment;
pub mod baseline;
pub mod catalogue;
pub mod corpus;
pub mod finetune;
pub mod grade;
pub mod mask;
pub mod policy;
pub mod rng;
pub mod spelling;
pub mod state;
pub mod state_json;
pub mod task;
pub mod task_baselines;

pub use answer::{Answer, AnswerError, RefusalReason, parse_answer};
pub use catalogue::{
    CATALOGUE, Command, CommandClass, CommandError, classify, is_complete, is_valid_prefix,
    parse_command,
};
pub use state::{OsState, encode_prompt};

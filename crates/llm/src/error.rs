//! The one error type of the crate.
//!
//! Every fallible public function returns [`Error`]; the variants name what was wrong (which
//! tensor, which field, which token) so a kernel log line or a CLI message is enough to act on.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Everything that can go wrong in this crate. Input problems only — no internal invariant
/// violation is reported this way (those would be bugs, and the code is written so they cannot
/// happen without a panic-free index check failing first).
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// config.json could not be parsed as JSON / as a Llama config.
    ConfigJson(String),
    /// A config field has an impossible or unsupported value.
    InvalidConfig(String),
    /// The safetensors container is malformed (bad header, truncated, overlapping offsets …).
    SafeTensors(String),
    /// A tensor the model needs is not in the file.
    MissingTensor(String),
    /// A tensor exists but its shape is not what the config implies.
    WrongShape {
        /// Hugging Face tensor name.
        name: String,
        /// Shape implied by the config.
        expected: Vec<usize>,
        /// Shape in the file.
        found: Vec<usize>,
    },
    /// A tensor has an element type we cannot load (we load F32, F16 and BF16).
    WrongDtype {
        /// Hugging Face tensor name.
        name: String,
        /// The dtype found, as safetensors spells it.
        dtype: String,
    },
    /// A tensor name in the file that this model does not know (only reported for adapters,
    /// where a stray tensor means the adapter belongs to another model).
    UnexpectedTensor(String),
    /// A token id is not below `vocab_size`.
    TokenOutOfRange {
        /// The offending id.
        token: u32,
        /// The model's vocabulary size.
        vocab_size: usize,
    },
    /// The sequence would exceed `max_position_embeddings`.
    ContextFull {
        /// The context length of the model.
        max_positions: usize,
    },
    /// The constrained-decoding hook masked every token (or left only non-finite logits).
    AllTokensMasked {
        /// How many tokens had been generated when this happened.
        step: usize,
    },
    /// Sampling parameters are out of range (temperature ≤ 0, top_p outside (0, 1], …).
    InvalidSampling(String),
    /// A training example is malformed (empty, mask length differs, no answer token …).
    InvalidExample {
        /// Index of the example in the batch / dataset.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A training batch is empty or contains no token that counts in the loss.
    EmptyBatch,
    /// The loss or a gradient became NaN/inf; the parameters were left unchanged.
    NonFinite,
    /// Invalid LoRA configuration or adapter file content.
    Lora(String),
    /// An optimiser/training hyperparameter is out of range.
    InvalidTrainConfig(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ConfigJson(m) => write!(f, "config.json: {m}"),
            Error::InvalidConfig(m) => write!(f, "invalid model config: {m}"),
            Error::SafeTensors(m) => write!(f, "malformed safetensors file: {m}"),
            Error::MissingTensor(n) => write!(f, "missing tensor {n}"),
            Error::WrongShape {
                name,
                expected,
                found,
            } => write!(
                f,
                "tensor {name} has shape {found:?}, config implies {expected:?}"
            ),
            Error::WrongDtype { name, dtype } => {
                write!(
                    f,
                    "tensor {name} has dtype {dtype}; supported: F32, F16, BF16"
                )
            }
            Error::UnexpectedTensor(n) => write!(f, "unexpected tensor {n}"),
            Error::TokenOutOfRange { token, vocab_size } => {
                write!(f, "token id {token} out of range (vocab_size {vocab_size})")
            }
            Error::ContextFull { max_positions } => {
                write!(f, "context full ({max_positions} positions)")
            }
            Error::AllTokensMasked { step } => {
                write!(f, "constrained decoding masked every token at step {step}")
            }
            Error::InvalidSampling(m) => write!(f, "invalid sampling options: {m}"),
            Error::InvalidExample { index, reason } => {
                write!(f, "training example {index}: {reason}")
            }
            Error::EmptyBatch => write!(f, "batch has no token that counts in the loss"),
            Error::NonFinite => write!(f, "loss or gradient is not finite; step skipped"),
            Error::Lora(m) => write!(f, "LoRA: {m}"),
            Error::InvalidTrainConfig(m) => write!(f, "invalid training config: {m}"),
        }
    }
}

impl core::error::Error for Error {}

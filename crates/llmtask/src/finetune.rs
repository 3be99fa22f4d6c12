//! LoRA fine-tuning as the kernel runs it (and the host can test): the fine-tune file checked
//! into training sequences with errors that name the file's line, the default adapter
//! settings (the ones `nous-llm finetune` measured best, docs/LLM.md), and [`FinetuneRun`],
//! which steps an `llm::LoraTrainer` through shuffled epochs one batch at a time so that the
//! caller (a kernel thread) can report progress and stop between steps.
//!
//! The frozen layers below the adapters run once per example when the run is built (the
//! trainer caches their output), so each step only pays for the adapted top layer.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use bpe::Tokenizer;
use llm::{
    LlamaModel, LoraAdapters, LoraConfig, LoraTarget, LoraTrainer, QuantModel, Session, TrainConfig,
};
use oslang::finetune::{FinetuneError, Record};
use rng::SplitMix64;

use crate::{Specials, train_example};

/// Most examples a fine-tune file may hold.
pub const MAX_EXAMPLES: usize = 1000;

/// A fine-tune file that cannot be trained on, with the 1-based line of the problem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError {
    /// Line in the file (1-based); 0 when the problem is the file as a whole.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "line {}: {}", self.line, self.message)
        } else {
            f.write_str(&self.message)
        }
    }
}

/// The 1-based line on which element `index` of the top-level `"examples"` array starts, if
/// the text has one (a small scan over JSON strings and nesting; the document already parsed).
pub fn example_line(text: &[u8], index: usize) -> Option<usize> {
    let key = b"\"examples\"";
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    let mut line = 1usize;
    let mut i = 0usize;
    // Phase 1: find the key at depth 1, then the `[` after it.
    let mut array_depth = None;
    let mut seen = 0usize;
    let mut expecting_element = false;
    while i < text.len() {
        let c = text[i];
        if c == b'\n' {
            line += 1;
        }
        if in_string {
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            i += 1;
            continue;
        }
        match c {
            b'"' => {
                if array_depth.is_none() && depth == 1 && text[i..].starts_with(key) {
                    // Skip to the array opening after the key.
                    let rest = &text[i + key.len()..];
                    let skip = rest.iter().position(|&b| b == b'[')?;
                    line += rest[..skip].iter().filter(|&&b| b == b'\n').count();
                    i += key.len() + skip + 1;
                    depth += 1;
                    array_depth = Some(depth);
                    expecting_element = true;
                    continue;
                }
                if expecting_element && array_depth == Some(depth) {
                    if seen == index {
                        return Some(line);
                    }
                    seen += 1;
                    expecting_element = false;
                }
                in_string = true;
            }
            b'{' | b'[' => {
                if expecting_element && array_depth == Some(depth) {
                    if seen == index {
                        return Some(line);
                    }
                    seen += 1;
                    expecting_element = false;
                }
                depth += 1;
            }
            b'}' | b']' => {
                if array_depth == Some(depth) {
                    return None;
                }
                depth = depth.saturating_sub(1);
            }
            b',' if array_depth == Some(depth) => expecting_element = true,
            c if !c.is_ascii_whitespace() && expecting_element && array_depth == Some(depth) => {
                if seen == index {
                    return Some(line);
                }
                seen += 1;
                expecting_element = false;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// serde_json's "… at line L column C" as a line number.
fn serde_line(message: &str) -> usize {
    message
        .rsplit_once(" at line ")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Parses a fine-tune file into its records and their training sequences. Refused, with the
/// line: invalid JSON, wrong or unknown fields, commands outside the catalogue, more than
/// [`MAX_EXAMPLES`] examples, no example at all, an example longer than `max_positions`
/// tokens. Nothing is returned unless every example is good.
pub fn parse_data(
    text: &[u8],
    tok: &Tokenizer,
    sp: Specials,
    max_positions: usize,
) -> Result<(Vec<Record>, Vec<llm::TrainExample>), DataError> {
    let data = oslang::finetune::parse(text).map_err(|e| match &e {
        FinetuneError::Json(m) => DataError {
            line: serde_line(m),
            message: e.to_string(),
        },
        FinetuneError::Document { .. } => DataError {
            line: 0,
            message: e.to_string(),
        },
        FinetuneError::Record { index, .. } => DataError {
            line: example_line(text, *index).unwrap_or(0),
            message: e.to_string(),
        },
    })?;
    if data.examples.is_empty() {
        return Err(DataError {
            line: 0,
            message: String::from("fine-tune data has no examples"),
        });
    }
    if data.examples.len() > MAX_EXAMPLES {
        return Err(DataError {
            line: example_line(text, MAX_EXAMPLES).unwrap_or(0),
            message: format!(
                "fine-tune data has {} examples, more than {MAX_EXAMPLES}",
                data.examples.len()
            ),
        });
    }
    let mut examples = Vec::with_capacity(data.examples.len());
    for (index, record) in data.examples.iter().enumerate() {
        let example = train_example(tok, sp, &record.prompt(), &record.command);
        if example.tokens.len() > max_positions {
            return Err(DataError {
                line: example_line(text, index).unwrap_or(0),
                message: format!(
                    "fine-tune example {index} is too long: {} tokens, the model's context is {max_positions}",
                    example.tokens.len()
                ),
            });
        }
        examples.push(example);
    }
    Ok((data.examples, examples))
}

/// How an adapter is trained.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// LoRA rank.
    pub rank: usize,
    /// LoRA alpha (the update is alpha / rank · B·A).
    pub alpha: f32,
    /// Adapted projections.
    pub targets: Vec<LoraTarget>,
    /// How many of the top layers get adapters.
    pub top_layers: usize,
    /// Passes over the data.
    pub epochs: usize,
    /// Examples per step.
    pub batch: usize,
    /// AdamW learning rate.
    pub lr: f32,
    /// Seed of the adapter init and the shuffles.
    pub seed: u64,
}

impl Default for Settings {
    /// `nous-llm finetune`'s defaults: q, v, o, gate, up, down of the top layer, rank 8,
    /// batch 20, learning rate 2e-2, 6 epochs (30 steps over 100 examples).
    fn default() -> Self {
        Settings {
            rank: 8,
            alpha: 16.0,
            targets: alloc::vec![
                LoraTarget::Q,
                LoraTarget::V,
                LoraTarget::O,
                LoraTarget::Gate,
                LoraTarget::Up,
                LoraTarget::Down
            ],
            top_layers: 1,
            epochs: 6,
            batch: 20,
            lr: 2e-2,
            seed: 1,
        }
    }
}

/// Largest `--epochs`.
pub const MAX_EPOCHS: usize = 100;
/// Largest `--rank`.
pub const MAX_RANK: usize = 64;

/// A fine-tune in progress.
pub struct FinetuneRun<'m> {
    trainer: LoraTrainer<'m>,
    order: Vec<usize>,
    cursor: usize,
    rng: SplitMix64,
    batch: usize,
    /// Steps per epoch.
    pub steps_per_epoch: usize,
    /// Steps in the whole run.
    pub total_steps: usize,
    /// Steps done.
    pub step: usize,
    /// Loss of the last step.
    pub loss: f32,
}

impl<'m> FinetuneRun<'m> {
    /// Builds adapters and the trainer, which runs the frozen layers once per example —
    /// through a quantized copy of `base`, the integer path inference uses: the adapters
    /// learn on the activations they will see, and under TCG the integer products are several
    /// times cheaper than f32 (this cache was most of the in-kernel fine-tune time). The copy
    /// is dropped once the cache is built.
    pub fn new(
        base: &'m LlamaModel,
        examples: Vec<llm::TrainExample>,
        s: &Settings,
    ) -> Result<FinetuneRun<'m>, llm::Error> {
        let n = examples.len();
        let layers = base.config().num_hidden_layers;
        let top = s.top_layers.clamp(1, layers);
        let lora = LoraConfig {
            rank: s.rank,
            alpha: s.alpha,
            targets: s.targets.clone(),
            layers: Some((layers - top..layers).collect()),
        };
        let batch = s.batch.clamp(1, n.max(1));
        let steps_per_epoch = n.div_ceil(batch).max(1);
        let total_steps = steps_per_epoch * s.epochs.max(1);
        let adapters = LoraAdapters::new(base.config(), lora, s.seed)?;
        let quant = QuantModel::from_model(base)?;
        let longest = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(1);
        let mut session = Session::with_capacity(&quant, longest.max(1));
        let trainer = LoraTrainer::with_prefix(
            base,
            adapters,
            TrainConfig {
                lr: s.lr,
                warmup_steps: 0,
                total_steps: u32::try_from(total_steps).unwrap_or(u32::MAX),
                weight_decay: 0.0,
                ..TrainConfig::default()
            },
            examples,
            |tokens, layers| {
                session.reset();
                session.hidden_before_layer(tokens, layers)
            },
        )?
        .with_integer_frozen_weights()?;
        Ok(FinetuneRun {
            trainer,
            order: (0..n).collect(),
            cursor: n,
            rng: SplitMix64::new(s.seed),
            batch,
            steps_per_epoch,
            total_steps,
            step: 0,
            loss: f32::NAN,
        })
    }

    /// Whether every step ran.
    pub fn finished(&self) -> bool {
        self.step >= self.total_steps
    }

    /// The epoch the next step belongs to (1-based).
    pub fn epoch(&self) -> usize {
        (self.step / self.steps_per_epoch + 1).min(self.total_steps / self.steps_per_epoch)
    }

    /// One AdamW step on the next batch of the shuffled order (reshuffled each pass).
    pub fn step(&mut self) -> Result<f32, llm::Error> {
        let n = self.order.len();
        let mut idx = Vec::with_capacity(self.batch);
        for _ in 0..self.batch {
            if self.cursor >= n {
                for i in (1..n).rev() {
                    self.order.swap(i, self.rng.below(i as u64 + 1) as usize);
                }
                self.cursor = 0;
            }
            idx.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        self.loss = self.trainer.train_step(&idx)?.loss;
        self.step += 1;
        Ok(self.loss)
    }

    /// The trained adapters.
    pub fn into_adapters(self) -> LoraAdapters {
        self.trainer.into_adapters()
    }

    /// Heap the trainer holds for cached activations and optimizer state, bytes.
    pub fn memory_bytes(&self) -> usize {
        self.trainer.cache_bytes() + self.trainer.optimizer_bytes()
    }
}

/// File names of a PEFT adapter directory.
pub const ADAPTER_CONFIG: &str = "adapter_config.json";
/// See [`ADAPTER_CONFIG`].
pub const ADAPTER_WEIGHTS: &str = "adapter_model.safetensors";

/// Whether `name` may name an adapter directory: 1–32 of `[a-z0-9-]`, not starting with `-`
/// or `.` (so it cannot be a path, a temporary directory or an option).
pub fn valid_adapter_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

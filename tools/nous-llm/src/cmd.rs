//! One function per subcommand, with its argument struct.
//!
//! Everything random is seeded from the command line, so the same command gives the same
//! files. Wall times and tokens/s are printed and written to JSON; they are measurements,
//! not test conditions.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use bpe::{BOS, EOS, PAD, SEP, Tokenizer, TrainConfig as BpeConfig};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use llm::config::LlamaConfig;
use llm::generate::Sampling;
use llm::infer::Session;
use llm::lora::{LoraAdapters, LoraConfig, LoraTarget, LoraTrainer};
use llm::model::LlamaModel;
use llm::train::{TrainConfig, TrainExample, Trainer};
use oslang::baseline::{NaiveBayes, Ngrams};
use oslang::corpus::{Example, Split, generate};
use oslang::finetune;
use oslang::rng::SplitMix64;
use peak_alloc::PeakAlloc;
use serde_json::json;

use crate::model_io::{load_model_dir, load_tokenizer, save_model};
use crate::plot::loss_png;
use llmtask::{accuracy, specials, train_example};

fn command_line() -> String {
    std::env::args().collect::<Vec<_>>().join(" ")
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    fs::write(path, serde_json::to_string_pretty(value)? + "\n")
        .with_context(|| format!("writing {}", path.display()))
}

fn parse_split(s: &str) -> Result<Split> {
    Split::from_name(s).with_context(|| format!("unknown split {s:?} (train, validation, test)"))
}

fn pairs(examples: &[Example]) -> Vec<(String, String)> {
    examples
        .iter()
        .map(|e| (e.prompt(), e.command.to_text()))
        .collect()
}

/// Which task the tokenizer and the model are trained on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Task {
    /// The first task: 19 intents, one-digit state buckets (`oslang::corpus`).
    Intents,
    /// The redefined operator task: raw-number prompts, plans and refusals (`oslang::task`).
    Operator,
}

/// (prompt, answer) pairs of `task`'s split `split` (train / validation / test; the
/// operator task has no test split: its test is the hand-written held-out set).
fn task_pairs(task: Task, split: &str, seed: u64, count: usize) -> Result<Vec<(String, String)>> {
    Ok(match task {
        Task::Intents => pairs(&generate(parse_split(split)?, seed, count)),
        Task::Operator => {
            let split = oslang::task::Split::from_name(split)
                .with_context(|| format!("the operator task has no {split:?} split"))?;
            oslang::task::generate(split, seed, count)
                .iter()
                .map(|e| {
                    (
                        oslang::state_json::encode_raw_prompt(&e.state, &e.query),
                        e.answer.to_text(),
                    )
                })
                .collect()
        }
    })
}

fn bar(len: u64) -> ProgressBar {
    let pb = ProgressBar::new(len);
    pb.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} {msg} (eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// How the fair baseline is fitted; shared by `eval` and `bench`.
#[derive(Args, Clone)]
pub struct BaselineArgs {
    /// Corpus seed of the training split the fitted baseline learns from (the shipped
    /// model's `--corpus-seed`).
    #[arg(long, default_value_t = 1)]
    baseline_corpus_seed: u64,
    /// Training examples the fitted baseline learns from (the shipped model's
    /// `--train-examples`).
    #[arg(long, default_value_t = 60_000)]
    baseline_train_examples: usize,
    /// Fitted-baseline features: 1 = words, 2 = words and adjacent word pairs. The
    /// default was chosen on the validation split (words 99.4 %, with pairs 90.0 %, corpus
    /// seed 1, 500 examples), before the test split was measured.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
    baseline_ngrams: u8,
}

impl BaselineArgs {
    fn ngrams(&self) -> Ngrams {
        if self.baseline_ngrams == 1 {
            Ngrams::Unigrams
        } else {
            Ngrams::UnigramsAndBigrams
        }
    }

    /// Fits the naive Bayes baseline on the training split only.
    fn fit(&self) -> Result<NaiveBayes> {
        NaiveBayes::fit_corpus(
            self.baseline_corpus_seed,
            self.baseline_train_examples,
            self.ngrams(),
        )
        .map_err(|e| anyhow::anyhow!("fitting the baseline: {e}"))
    }

    /// What the fitted baseline is, for printing and JSON.
    fn describe(&self) -> String {
        format!(
            "multinomial naive Bayes over query {} (Laplace smoothing), fitted on {} train-split examples (corpus seed {}), then the expert policy",
            if self.baseline_ngrams == 1 {
                "words"
            } else {
                "words and word pairs"
            },
            self.baseline_train_examples,
            self.baseline_corpus_seed
        )
    }
}

/// Exact-command accuracy of the hand-written keyword rules (`classify_query` + expert).
/// Optimistic: the keyword lists were written with every template, test ones included, in
/// view, so this is a reference point, not a held-out result.
fn keyword_rules_accuracy(examples: &[Example]) -> f64 {
    let right = examples
        .iter()
        .filter(|e| oslang::policy::expert_for_query(&e.state, &e.query) == Some(e.command))
        .count();
    right as f64 / examples.len().max(1) as f64
}

/// Exact-command accuracy of the fitted baseline (naive Bayes intent + expert).
fn fitted_baseline_accuracy(nb: &NaiveBayes, examples: &[Example]) -> f64 {
    let right = examples
        .iter()
        .filter(|e| nb.command(&e.state, &e.query) == e.command)
        .count();
    right as f64 / examples.len().max(1) as f64
}

/// `a / b`, or NaN-free "-" when `b` is zero.
fn ratio(a: f64, b: f64) -> String {
    if b > 0.0 {
        format!("{:.3}x", a / b)
    } else {
        String::from("-")
    }
}

// ---------------------------------------------------------------- gen-corpus

#[derive(Args)]
pub struct GenCorpusArgs {
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Split: train, validation or test.
    #[arg(long, default_value = "train")]
    split: String,
    /// Number of examples.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Output file (JSON lines); stdout if absent.
    #[arg(long)]
    out: Option<PathBuf>,
}

pub fn gen_corpus(a: &GenCorpusArgs) -> Result<()> {
    let mut text = String::new();
    for e in generate(parse_split(&a.split)?, a.seed, a.count) {
        let line = json!({
            "prompt": e.prompt(), "command": e.command.to_text(), "query": e.query,
            "intent": e.intent, "template": e.template,
        });
        text.push_str(&line.to_string());
        text.push('\n');
    }
    match &a.out {
        Some(p) => fs::write(p, text)?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    Ok(())
}

// ---------------------------------------------------------------- gen-finetune

#[derive(Args)]
pub struct GenFinetuneArgs {
    /// Directory for finetune-data.json and finetune-heldout.json.
    #[arg(long, default_value = "models")]
    out: PathBuf,
}

pub fn gen_finetune(a: &GenFinetuneArgs) -> Result<()> {
    let (train, held) = finetune::shipped_sets();
    fs::create_dir_all(&a.out)?;
    fs::write(
        a.out.join("finetune-data.json"),
        finetune::to_json(&train) + "\n",
    )?;
    fs::write(
        a.out.join("finetune-heldout.json"),
        finetune::to_json(&held) + "\n",
    )?;
    println!(
        "wrote {} + {} examples to {}",
        train.examples.len(),
        held.examples.len(),
        a.out.display()
    );
    Ok(())
}

// ---------------------------------------------------------------- encode

#[derive(Args)]
pub struct EncodeArgs {
    /// tokenizer.json to use.
    #[arg(long, default_value = "models/tokenizer.json")]
    tokenizer: PathBuf,
}

pub fn encode(a: &EncodeArgs) -> Result<()> {
    let tok = load_tokenizer(&a.tokenizer)?;
    let mut out = std::io::stdout().lock();
    for line in std::io::stdin().lines() {
        writeln!(
            out,
            "{}",
            serde_json::to_string(&tok.encode(line?.as_bytes()))?
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------- train-tokenizer

#[derive(Args)]
pub struct TrainTokenizerArgs {
    /// Corpus seed (training split).
    #[arg(long, default_value_t = 1)]
    corpus_seed: u64,
    /// Training examples to learn merges from.
    #[arg(long, default_value_t = 20000)]
    examples: usize,
    /// Vocabulary size including bytes and special tokens.
    #[arg(long, default_value_t = 512)]
    vocab_size: usize,
    /// Output tokenizer.json.
    #[arg(long, default_value = "models/tokenizer.json")]
    out: PathBuf,
    /// The task whose training split the merges are learnt from.
    #[arg(long, value_enum, default_value_t = Task::Intents)]
    task: Task,
    /// Also learn merges from the N most frequent English words of the man pages
    /// (`oslang::augment::MANPAGE_WORDS`), so common words are whole tokens (0 = none).
    #[arg(long, default_value_t = 0)]
    english_words: usize,
    /// Each English word counts this many times per doubling of its man-page frequency.
    #[arg(long, default_value_t = 4)]
    english_weight: usize,
}

/// Training texts of the English word list: `" word"` repeated by its weight.
fn english_texts(words: usize, weight: usize) -> Vec<String> {
    oslang::augment::MANPAGE_WORDS
        .lines()
        .take(words)
        .filter_map(|line| {
            let (word, count) = line.split_once(' ')?;
            let doublings = 64 - count.parse::<u64>().ok()?.max(1).leading_zeros() as usize;
            Some(format!(" {word}").repeat(weight * doublings))
        })
        .collect()
}

pub fn train_tokenizer(a: &TrainTokenizerArgs) -> Result<()> {
    let ex = task_pairs(a.task, "train", a.corpus_seed, a.examples)?;
    let mut texts: Vec<String> = ex
        .iter()
        .flat_map(|(p, c)| [p.clone(), c.clone()])
        .collect();
    let english = english_texts(a.english_words, a.english_weight);
    texts.extend(english.iter().cloned());
    let start = Instant::now();
    let tok = Tokenizer::train(
        texts.iter().map(|s| s.as_bytes()),
        &BpeConfig {
            vocab_size: a.vocab_size,
            min_frequency: 2,
            special_tokens: vec![BOS.into(), EOS.into(), PAD.into(), SEP.into()],
        },
    )?;
    let secs = start.elapsed().as_secs_f64();
    if let Some(dir) = a.out.parent() {
        fs::create_dir_all(dir)?;
    }
    fs::write(&a.out, tok.to_json() + "\n")?;
    let prompt_len: usize = ex.iter().map(|(p, _)| tok.encode(p.as_bytes()).len()).sum();
    let cmd_len: usize = ex.iter().map(|(_, c)| tok.encode(c.as_bytes()).len()).sum();
    let n = ex.len().max(1) as f64;
    // Of the 1000 most frequent man-page words, how many are one token (after a space).
    let whole = oslang::augment::MANPAGE_WORDS
        .lines()
        .take(1000)
        .filter_map(|line| line.split(' ').next())
        .filter(|w| tok.encode(format!(" {w}").as_bytes()).len() == 1)
        .count();
    println!(
        "vocab {} ({} merges) in {secs:.1}s; mean prompt {:.1} tokens, mean command {:.1} tokens; \
         {whole} of the 1000 commonest English words are one token -> {}",
        tok.vocab_size(),
        tok.merges().len(),
        prompt_len as f64 / n,
        cmd_len as f64 / n,
        a.out.display()
    );
    Ok(())
}

// ---------------------------------------------------------------- train

#[derive(Args)]
pub struct TrainArgs {
    /// tokenizer.json to use (copied into --out).
    #[arg(long, default_value = "models/tokenizer.json")]
    tokenizer: PathBuf,
    /// Output directory.
    #[arg(long, default_value = "models")]
    out: PathBuf,
    /// Seed for initialisation and batch order.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    corpus_seed: u64,
    /// Training examples generated.
    #[arg(long, default_value_t = 40000)]
    train_examples: usize,
    /// Optimiser steps.
    #[arg(long, default_value_t = 1500)]
    steps: u32,
    /// Sequences per step.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 3e-3)]
    lr: f32,
    /// Warmup steps.
    #[arg(long, default_value_t = 60)]
    warmup: u32,
    #[arg(long, default_value_t = 128)]
    hidden: usize,
    #[arg(long, default_value_t = 4)]
    layers: usize,
    #[arg(long, default_value_t = 4)]
    heads: usize,
    #[arg(long, default_value_t = 2)]
    kv_heads: usize,
    #[arg(long, default_value_t = 352)]
    ffn: usize,
    /// Context length.
    #[arg(long, default_value_t = 64)]
    ctx: usize,
    /// Validation loss every this many steps.
    #[arg(long, default_value_t = 100)]
    eval_every: u32,
    /// Checkpoint every this many steps (0 = none).
    #[arg(long, default_value_t = 500)]
    checkpoint_every: u32,
    /// Examples for the final accuracy figures (validation and test each).
    #[arg(long, default_value_t = 500)]
    eval_examples: usize,
    /// The task trained on.
    #[arg(long, value_enum, default_value_t = Task::Intents)]
    task: Task,
    /// Operator task only: each drawn training request gets fresh meaning-preserving noise
    /// (`oslang::augment`: English words, fillers, dropped function words, synonyms) with this
    /// probability (0 = the plain corpus).
    #[arg(long, default_value_t = 0.0)]
    augment: f64,
    /// Plain English text (one sentence a line, e.g. `crates/oslang/data/manpage_sentences.txt`)
    /// for language-model steps: every token of a window is scored. Without it, no such steps.
    #[arg(long)]
    lm_text: Option<PathBuf>,
    /// Steps 1..=N are language-model steps only (pretraining on --lm-text).
    #[arg(long, default_value_t = 0)]
    lm_first: u32,
    /// After --lm-first, every Nth step is a language-model step (0 = none).
    #[arg(long, default_value_t = 0)]
    lm_every: u32,
    /// Tokens per language-model window (`<bos>` and a slice of the text), at most --ctx.
    #[arg(long, default_value_t = 96)]
    lm_seq: usize,
    /// Start from this model directory's weights instead of a random initialisation
    /// (continued training; its config replaces --hidden/--layers/--heads/--kv-heads/--ffn/--ctx,
    /// and its tokenizer must be --tokenizer).
    #[arg(long)]
    init: Option<PathBuf>,
}

/// The token stream of a plain-text file for language-model steps: each line is encoded
/// after a space, as words appear in prompts, and the lines follow one another.
fn lm_stream(tok: &Tokenizer, path: &Path) -> Result<Vec<u32>> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let stream: Vec<u32> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .flat_map(|l| tok.encode(format!(" {}", l.trim()).as_bytes()))
        .collect();
    Ok(stream)
}

/// A language-model window: `<bos>` and `len - 1` tokens of `stream` from a random offset,
/// every token after `<bos>` scored.
fn lm_window(rng: &mut SplitMix64, stream: &[u32], bos: u32, len: usize) -> TrainExample {
    let take = (len - 1).min(stream.len());
    let start = rng.below((stream.len() - take + 1) as u64) as usize;
    let mut tokens = Vec::with_capacity(take + 1);
    tokens.push(bos);
    tokens.extend_from_slice(&stream[start..start + take]);
    TrainExample::all_tokens(tokens)
}

pub fn train(a: &TrainArgs) -> Result<()> {
    let tok = load_tokenizer(&a.tokenizer)?;
    let sp = specials(&tok)?;
    let cfg = LlamaConfig {
        vocab_size: tok.vocab_size(),
        hidden_size: a.hidden,
        intermediate_size: a.ffn,
        num_hidden_layers: a.layers,
        num_attention_heads: a.heads,
        num_key_value_heads: Some(a.kv_heads),
        max_position_embeddings: a.ctx,
        rms_norm_eps: 1e-5,
        rope_theta: 10_000.0,
        tie_word_embeddings: false,
        bos_token_id: Some(sp.bos),
        eos_token_id: Some(sp.eos),
    };
    cfg.validate()?;
    let model = match &a.init {
        Some(dir) => {
            let (model, init_tok) = load_model_dir(dir)?;
            if init_tok.to_json() != tok.to_json() {
                bail!(
                    "--init {}: its tokenizer.json differs from --tokenizer {}",
                    dir.display(),
                    a.tokenizer.display()
                );
            }
            model
        }
        None => LlamaModel::new_random(cfg, a.seed)?,
    };
    let params = model.config().num_parameters();
    let ctx = model.config().max_position_embeddings;
    let to_examples = |ex: &[(String, String)]| -> Vec<TrainExample> {
        ex.iter()
            .map(|(p, c)| train_example(&tok, sp, p, c))
            .collect()
    };
    let train_set = to_examples(&task_pairs(
        a.task,
        "train",
        a.corpus_seed,
        a.train_examples,
    )?);
    if a.augment > 0.0 && a.task != Task::Operator {
        bail!("--augment is for --task operator");
    }
    // The raw examples again, for re-encoding augmented requests on each draw.
    let raw = if a.augment > 0.0 {
        oslang::task::generate(oslang::task::Split::Train, a.corpus_seed, a.train_examples)
    } else {
        Vec::new()
    };
    let lm = match &a.lm_text {
        Some(path) => {
            if a.lm_seq < 2 || a.lm_seq > ctx {
                bail!("--lm-seq {} must be in 2..=--ctx {}", a.lm_seq, ctx);
            }
            let stream = lm_stream(&tok, path)?;
            if stream.len() < a.lm_seq {
                bail!("{} has fewer than --lm-seq tokens", path.display());
            }
            println!(
                "language-model text: {} tokens from {}",
                stream.len(),
                path.display()
            );
            stream
        }
        None if a.lm_first > 0 || a.lm_every > 0 => {
            bail!("--lm-first and --lm-every need --lm-text")
        }
        None => Vec::new(),
    };
    let is_lm_step = |step: u32| {
        !lm.is_empty()
            && (step <= a.lm_first || (a.lm_every > 0 && step.is_multiple_of(a.lm_every)))
    };
    let mut lm_rng = SplitMix64::new(a.seed ^ 0x6c6d_7478);
    let (mut lm_steps, mut lm_loss) = (0u32, 0.0f64);
    let augmenter = oslang::augment::Augmenter::new();
    let mut aug_rng = SplitMix64::new(a.seed ^ 0x6175_676d);
    let longest = train_set.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
    if longest > ctx {
        bail!(
            "a training sequence has {longest} tokens, more than --ctx {}",
            ctx
        );
    }
    let val_pairs = task_pairs(a.task, "validation", a.corpus_seed, a.eval_examples)?;
    let val_set = to_examples(&val_pairs[..val_pairs.len().min(256)]);
    let mut trainer = Trainer::new(
        model,
        TrainConfig {
            lr: a.lr,
            warmup_steps: a.warmup,
            total_steps: a.steps,
            ..TrainConfig::default()
        },
    )?;
    fs::create_dir_all(&a.out)?;
    let mut rng = SplitMix64::new(a.seed);
    let mut order: Vec<usize> = (0..train_set.len()).collect();
    let mut cursor = order.len();
    let mut csv = String::from("step,loss,lr,grad_norm,val_loss,lm_loss\n");
    let (mut curve, mut val_curve) = (Vec::new(), Vec::new());
    let mut tokens_seen = 0usize;
    let pb = bar(u64::from(a.steps));
    let start = Instant::now();
    for step in 1..=a.steps {
        let mut batch = Vec::with_capacity(a.batch);
        if is_lm_step(step) {
            batch.extend((0..a.batch).map(|_| lm_window(&mut lm_rng, &lm, sp.bos, a.lm_seq)));
        }
        while batch.len() < a.batch {
            if cursor >= order.len() {
                // Fisher–Yates reshuffle at each epoch boundary.
                for i in (1..order.len()).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
                cursor = 0;
            }
            let i = order[cursor];
            cursor += 1;
            if a.augment > 0.0 && (aug_rng.below(1_000_000) as f64) < a.augment * 1e6 {
                let e = &raw[i];
                let query = augmenter.augment(&mut aug_rng, &e.query);
                let prompt = oslang::state_json::encode_raw_prompt(&e.state, &query);
                let ex = train_example(&tok, sp, &prompt, &e.answer.to_text());
                if ex.tokens.len() <= ctx {
                    batch.push(ex);
                    continue;
                }
            }
            batch.push(train_set[i].clone());
        }
        tokens_seen += batch.iter().map(|e| e.tokens.len()).sum::<usize>();
        let st = trainer.train_step(&batch)?;
        let lm_step = is_lm_step(step);
        if lm_step {
            lm_steps += 1;
            lm_loss = f64::from(st.loss);
        } else {
            // The curve and the final training loss are the task's; language-model losses
            // are in loss.csv's `lm_loss` column.
            curve.push((u64::from(step), st.loss));
        }
        let val = if step % a.eval_every == 0 || step == a.steps {
            let v = trainer.eval_loss(&val_set)?;
            val_curve.push((u64::from(step), v));
            format!("{v}")
        } else {
            String::new()
        };
        let (task_loss, lm_col) = if lm_step {
            (String::new(), format!("{}", st.loss))
        } else {
            (format!("{}", st.loss), String::new())
        };
        csv.push_str(&format!(
            "{step},{task_loss},{},{},{val},{lm_col}\n",
            st.lr, st.grad_norm
        ));
        pb.set_message(format!("loss {:.4}", st.loss));
        pb.inc(1);
        if a.checkpoint_every > 0 && step % a.checkpoint_every == 0 && step != a.steps {
            save_model(
                &a.out.join("checkpoints").join(format!("step-{step}")),
                trainer.model(),
            )?;
            fs::write(a.out.join("loss.csv"), &csv)?;
        }
    }
    pb.finish();
    let train_secs = start.elapsed().as_secs_f64();
    let model = trainer.into_model();
    save_model(&a.out, &model)?;
    let tok_out = a.out.join("tokenizer.json");
    if fs::canonicalize(&a.tokenizer).ok() != fs::canonicalize(&tok_out).ok() {
        fs::copy(&a.tokenizer, &tok_out)?;
    }
    fs::write(a.out.join("loss.csv"), &csv)?;
    loss_png(
        &a.out.join("loss.png"),
        &curve,
        &val_curve,
        "Nous base model: training loss",
    )?;
    println!(
        "trained {params} parameters, {} steps in {train_secs:.0}s ({:.0} tokens/s)",
        a.steps,
        tokens_seen as f64 / train_secs
    );
    let acc = if a.task == Task::Intents {
        let test_pairs = task_pairs(a.task, "test", a.corpus_seed, a.eval_examples)?;
        json!({
            "validation_constrained": accuracy(&model, &tok, &val_pairs, true)?,
            "validation_unconstrained": accuracy(&model, &tok, &val_pairs, false)?,
            "test_constrained": accuracy(&model, &tok, &test_pairs, true)?,
            "test_unconstrained": accuracy(&model, &tok, &test_pairs, false)?,
            "examples_per_split": a.eval_examples,
        })
    } else {
        json!({
            "validation_constrained": accuracy(&model, &tok, &val_pairs, true)?,
            "examples": a.eval_examples,
        })
    };
    println!("accuracy: {acc}");
    let metrics = json!({
        "command": command_line(),
        "seed": a.seed,
        "corpus_seed": a.corpus_seed,
        "task": format!("{:?}", a.task).to_lowercase(),
        "parameters": params,
        "steps": a.steps,
        "init": a.init.as_ref().map(|p| p.display().to_string()),
        "batch": a.batch,
        "train_examples": a.train_examples,
        "augment": a.augment,
        "lm_text": a.lm_text.as_ref().map(|p| p.display().to_string()),
        "lm_steps": lm_steps,
        "final_lm_loss": (lm_steps > 0).then_some(lm_loss),
        "final_train_loss": curve.last().map(|p| p.1),
        "final_validation_loss": val_curve.last().map(|p| p.1),
        "train_seconds": train_secs,
        "train_tokens_per_second": tokens_seen as f64 / train_secs,
        "accuracy": acc,
    });
    write_json(&a.out.join("metrics.json"), &metrics)
}

// ---------------------------------------------------------------- eval

#[derive(Args)]
pub struct EvalArgs {
    /// Model directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long, default_value = "models")]
    model: PathBuf,
    /// Split: train, validation or test.
    #[arg(long, default_value = "test")]
    split: String,
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    corpus_seed: u64,
    /// Number of examples.
    #[arg(long, default_value_t = 500)]
    count: usize,
    /// Print each wrong prediction.
    #[arg(long)]
    show_errors: bool,
    #[command(flatten)]
    baseline: BaselineArgs,
}

pub fn eval(a: &EvalArgs) -> Result<()> {
    let (model, tok) = load_model_dir(&a.model)?;
    let sp = specials(&tok)?;
    let ex = generate(parse_split(&a.split)?, a.corpus_seed, a.count);
    let nb = a.baseline.fit()?;
    let (mut right_c, mut right_u) = (0usize, 0usize);
    for e in &ex {
        let want = e.command.to_text();
        let c = llmtask::predict(&model, &tok, sp, &e.prompt(), true)?;
        let u = llmtask::predict(&model, &tok, sp, &e.prompt(), false)?;
        right_c += usize::from(c == want);
        right_u += usize::from(u == want);
        if a.show_errors && c != want {
            println!("{}\n  want {want:?} got {c:?}", e.prompt());
        }
    }
    let n = ex.len().max(1) as f64;
    println!(
        "{} split, {} examples: exact-command accuracy constrained {:.1}%, unconstrained {:.1}%",
        a.split,
        ex.len(),
        100.0 * right_c as f64 / n,
        100.0 * right_u as f64 / n
    );
    let fitted = fitted_baseline_accuracy(&nb, &ex);
    println!(
        "  fitted bag-of-words baseline (train split only) on the same examples: {:.1}% (model/baseline {})\n    = {}",
        100.0 * fitted,
        ratio(right_c as f64 / n, fitted),
        a.baseline.describe()
    );
    println!(
        "  hand-written keyword rules (written with all templates in view; optimistic): {:.1}%",
        100.0 * keyword_rules_accuracy(&ex)
    );
    Ok(())
}

// ---------------------------------------------------------------- finetune

#[derive(Args, Clone)]
pub struct FinetuneArgs {
    /// Base model directory.
    #[arg(long, default_value = "models")]
    model: PathBuf,
    /// Fine-tune data (finetune-data.json format).
    #[arg(long, default_value = "models/finetune-data.json")]
    data: PathBuf,
    /// Held-out data, same format.
    #[arg(long, default_value = "models/finetune-heldout.json")]
    heldout: PathBuf,
    /// Output directory for adapter_model.safetensors + adapter_config.json.
    #[arg(long, default_value = "target/nous-llm/lora")]
    out: PathBuf,
    #[arg(long, default_value_t = 8)]
    rank: usize,
    #[arg(long, default_value_t = 16.0)]
    alpha: f32,
    /// Projections to adapt: comma list of q,k,v,o,gate,up,down.
    /// The default adapts every projection of the top layer only: the frozen layers below
    /// run once per example (cached), which keeps training within the 3 s target.
    #[arg(long, default_value = "q,v,o,gate,up,down")]
    targets: String,
    /// Adapt only the top N layers (0 = all).
    #[arg(long, default_value_t = 1)]
    top_layers: usize,
    #[arg(long, default_value_t = 30)]
    steps: u32,
    /// Examples per step.
    #[arg(long, default_value_t = 20)]
    batch: usize,
    #[arg(long, default_value_t = 2e-2)]
    lr: f32,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// What a fine-tune run measured.
pub struct FinetuneReport {
    pub before: f64,
    pub after: f64,
    pub train_after: f64,
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub adapter_bytes: usize,
    pub adapter_params: usize,
    pub peak_heap_bytes: usize,
    pub examples: usize,
}

fn parse_targets(s: &str) -> Result<Vec<LoraTarget>> {
    s.split(',')
        .map(|t| match t.trim() {
            "q" => Ok(LoraTarget::Q),
            "k" => Ok(LoraTarget::K),
            "v" => Ok(LoraTarget::V),
            "o" => Ok(LoraTarget::O),
            "gate" => Ok(LoraTarget::Gate),
            "up" => Ok(LoraTarget::Up),
            "down" => Ok(LoraTarget::Down),
            other => bail!("unknown LoRA target {other:?}"),
        })
        .collect()
}

fn read_finetune(path: &Path) -> Result<finetune::FinetuneData> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    finetune::parse(&bytes).with_context(|| format!("parsing {}", path.display()))
}

pub fn run_finetune(a: &FinetuneArgs, peak: &PeakAlloc) -> Result<FinetuneReport> {
    let (model, tok) = load_model_dir(&a.model)?;
    let sp = specials(&tok)?;
    let data = read_finetune(&a.data)?;
    let held = read_finetune(&a.heldout)?;
    let to_pairs = |d: &finetune::FinetuneData| -> Vec<(String, String)> {
        d.examples
            .iter()
            .map(|r| (r.prompt(), r.command.clone()))
            .collect()
    };
    let (train_pairs, held_pairs) = (to_pairs(&data), to_pairs(&held));
    let before = accuracy(&model, &tok, &held_pairs, true)?;
    let n_layers = model.config().num_hidden_layers;
    let layers = (a.top_layers > 0 && a.top_layers < n_layers)
        .then(|| (n_layers - a.top_layers..n_layers).collect());
    let lora = LoraConfig {
        rank: a.rank,
        alpha: a.alpha,
        targets: parse_targets(&a.targets)?,
        layers,
    };
    let examples: Vec<TrainExample> = train_pairs
        .iter()
        .map(|(p, c)| train_example(&tok, sp, p, c))
        .collect();
    let n = examples.len();
    anyhow::ensure!(n > 0, "no fine-tune examples");
    peak.reset_peak_usage();
    let heap_before = peak.current_usage();
    let (start, cpu0) = (Instant::now(), thread_cpu_seconds());
    let adapters = LoraAdapters::new(model.config(), lora, a.seed)?;
    let mut trainer = LoraTrainer::new(
        &model,
        adapters,
        TrainConfig {
            lr: a.lr,
            warmup_steps: 0,
            total_steps: a.steps,
            weight_decay: 0.0,
            ..TrainConfig::default()
        },
        examples,
    )?;
    let mut rng = SplitMix64::new(a.seed);
    let mut order: Vec<usize> = (0..n).collect();
    let mut cursor = n;
    let mut last_loss = f32::NAN;
    for _ in 0..a.steps {
        let mut idx = Vec::with_capacity(a.batch);
        for _ in 0..a.batch.min(n) {
            if cursor >= n {
                for i in (1..n).rev() {
                    order.swap(i, rng.below(i as u64 + 1) as usize);
                }
                cursor = 0;
            }
            idx.push(order[cursor]);
            cursor += 1;
        }
        last_loss = trainer.train_step(&idx)?.loss;
    }
    let adapters = trainer.into_adapters();
    let seconds = start.elapsed().as_secs_f64();
    let cpu_seconds = thread_cpu_seconds() - cpu0;
    let peak_heap_bytes = peak.peak_usage().saturating_sub(heap_before);
    let peft = adapters.to_peft()?;
    fs::create_dir_all(&a.out)?;
    fs::write(
        a.out.join("adapter_model.safetensors"),
        &peft.adapter_model_safetensors,
    )?;
    fs::write(a.out.join("adapter_config.json"), &peft.adapter_config_json)?;
    let mut merged = model.clone();
    adapters.merge_into(&mut merged)?;
    let after = accuracy(&merged, &tok, &held_pairs, true)?;
    let train_after = accuracy(&merged, &tok, &train_pairs, true)?;
    println!("final LoRA training loss {last_loss:.4}");
    Ok(FinetuneReport {
        before,
        after,
        train_after,
        seconds,
        cpu_seconds,
        adapter_bytes: peft.adapter_model_safetensors.len(),
        adapter_params: adapters.num_parameters(),
        peak_heap_bytes,
        examples: n,
    })
}

pub fn finetune(a: &FinetuneArgs, peak: &PeakAlloc) -> Result<()> {
    let r = run_finetune(a, peak)?;
    println!(
        "held-out accuracy {:.1}% -> {:.1}% ({:+.1} points); training-set accuracy after {:.1}%",
        100.0 * r.before,
        100.0 * r.after,
        100.0 * (r.after - r.before),
        100.0 * r.train_after
    );
    println!(
        "{} examples, {} steps: {:.2}s wall ({:.2}s CPU), adapter {} params / {} bytes, peak heap during training {:.1} KiB",
        r.examples,
        a.steps,
        r.seconds,
        r.cpu_seconds,
        r.adapter_params,
        r.adapter_bytes,
        r.peak_heap_bytes as f64 / 1024.0
    );
    write_json(
        &a.out.join("finetune-metrics.json"),
        &json!({
            "command": command_line(), "held_out_before": r.before, "held_out_after": r.after,
            "train_after": r.train_after, "seconds": r.seconds, "cpu_seconds": r.cpu_seconds, "adapter_bytes": r.adapter_bytes,
            "adapter_params": r.adapter_params, "peak_heap_bytes": r.peak_heap_bytes, "examples": r.examples,
        }),
    )
}

// ---------------------------------------------------------------- bench

#[derive(Args)]
pub struct BenchArgs {
    /// Test examples for the accuracy figure.
    #[arg(long, default_value_t = 500)]
    test_examples: usize,
    /// Repetitions of the decode workload for tokens/s.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Write the figures as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Model directory and LoRA settings (the model is `--model`, default `models`).
    #[command(flatten)]
    finetune: FinetuneArgs,
    #[command(flatten)]
    baseline: BaselineArgs,
}

/// CPU time of this thread in seconds (`/proc/thread-self/schedstat`, 0 where absent). On
/// a shared machine wall time includes waiting for a core; CPU time does not.
fn thread_cpu_seconds() -> f64 {
    fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .next()
                .and_then(|n| n.parse::<f64>().ok())
        })
        .map_or(0.0, |ns| ns / 1e9)
}

/// Prompt and generated lengths of the decode benchmark: the workload of
/// `tools/hf-check/torch_bench.py` (prompt 32, up to 96 greedy steps, bounded by the context).
fn decode_workload(ctx: usize) -> (usize, usize) {
    let prompt = 32.min(ctx / 2).max(1);
    (prompt, 96.min(ctx - prompt))
}

/// Decode throughput at batch size 1 with the KV cache, on the same work as the PyTorch
/// script: returns (tokens/s by wall time, tokens/s by CPU time), counting every position
/// processed (prompt + generated − 1), as the script does.
fn decode_speed(model: &LlamaModel, reps: usize) -> Result<(f64, f64)> {
    let cfg = model.config();
    let (n_prompt, n_new) = decode_workload(cfg.max_position_embeddings);
    let v = cfg.vocab_size;
    let prompt: Vec<u32> = (0..n_prompt).map(|i| ((i * 37 + 5) % v) as u32).collect();
    let mut session = Session::new(model);
    let mut scratch = Vec::new();
    let mut rng = llm::rng::Rng::new(0);
    let mut run = |session: &mut Session| -> Result<()> {
        session.reset();
        let mut logits = session.feed_all(&prompt)?.to_vec();
        for _ in 0..n_new.saturating_sub(1) {
            let next = llm::generate::choose(&logits, &Sampling::Greedy, &mut rng, &mut scratch)
                .context("no finite logit")?;
            logits.copy_from_slice(session.feed(next)?);
        }
        Ok(())
    };
    run(&mut session)?; // warm-up, as in the script
    let (wall0, cpu0) = (Instant::now(), thread_cpu_seconds());
    for _ in 0..reps.max(1) {
        run(&mut session)?;
    }
    let (wall, cpu) = (wall0.elapsed().as_secs_f64(), thread_cpu_seconds() - cpu0);
    let tokens = (reps.max(1) * (n_prompt + n_new - 1)) as f64;
    Ok((
        tokens / wall,
        if cpu > 0.0 { tokens / cpu } else { f64::NAN },
    ))
}

const TORCH_SCRIPT: &str = "tools/hf-check/torch_bench.py";

/// Runs the PyTorch decode benchmark on the same model directory if `python3` can import
/// torch and transformers; `None` (with a note on stderr) otherwise.
fn torch_decode_speed(model_dir: &Path) -> Option<f64> {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import torch, transformers"])
        .output();
    if !matches!(probe, Ok(ref o) if o.status.success()) {
        eprintln!("PyTorch comparison skipped: python3 cannot import torch and transformers");
        return None;
    }
    let out = std::process::Command::new("python3")
        .arg(TORCH_SCRIPT)
        .arg(model_dir)
        .args(["--threads", "1"])
        .output();
    match out {
        Ok(o) if o.status.success() => {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
            v.get("tokens_per_s").and_then(serde_json::Value::as_f64)
        }
        Ok(o) => {
            eprintln!(
                "{TORCH_SCRIPT} failed: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            None
        }
        Err(e) => {
            eprintln!("could not run python3: {e}");
            None
        }
    }
}

pub fn bench(a: &BenchArgs, peak: &PeakAlloc) -> Result<()> {
    let (model, tok) = load_model_dir(&a.finetune.model)?;
    // The operator task's validation split (unseen phrasings; corpus seed 1), the same
    // examples for the model and every baseline. The independent test is the hand-written
    // held-out set (`cargo xtask bench llm`).
    let val_examples = oslang::task::generate(oslang::task::Split::Validation, 1, a.test_examples);
    let val: Vec<(String, String)> = val_examples
        .iter()
        .map(|e| {
            (
                llmtask::prompt(&e.state.to_os_state(), "", &e.query),
                e.answer.to_text(),
            )
        })
        .collect();
    let t0 = Instant::now();
    let val_c = accuracy(&model, &tok, &val, true)?;
    let eval_secs = t0.elapsed().as_secs_f64();
    let val_u = accuracy(&model, &tok, &val, false)?;
    let train = oslang::task::generate(oslang::task::Split::Train, 1, 20_000);
    let baseline_acc = |sys: &dyn oslang::task_baselines::AnswerSystem| -> f64 {
        let right = val_examples
            .iter()
            .filter(|e| sys.answer(&e.state, &e.query) == e.answer)
            .count();
        right as f64 / val_examples.len().max(1) as f64
    };
    let baselines = [
        (
            "naive Bayes + expert policy (fitted on 20000 train examples)",
            baseline_acc(&oslang::task_baselines::NaiveBayesExpert::fit(&train)),
        ),
        (
            "softmax regression, words + state bins (fitted on 20000 train examples)",
            baseline_acc(&oslang::task_baselines::LogRegBaseline::fit(&train, 4, 1)),
        ),
        (
            "keyword rules + expert policy (written with the templates in view)",
            baseline_acc(&oslang::task_baselines::KeywordRules),
        ),
        (
            "always refuse",
            baseline_acc(&oslang::task_baselines::ALWAYS_REFUSE),
        ),
    ];
    let (decode, decode_cpu) = decode_speed(&model, a.runs)?;
    let ft = run_finetune(&a.finetune, peak)?;
    let torch_tps = torch_decode_speed(&a.finetune.model);
    let gain = 100.0 * (ft.after - ft.before);
    let pct = |x: f64| format!("{:.1}%", 100.0 * x);
    let none = || String::from("-");
    let mut rows: Vec<[String; 4]> = vec![
        [
            "model, operator validation split, exact answer, constrained".into(),
            pct(val_c),
            none(),
            none(),
        ],
        [
            "model, operator validation split, exact answer, unconstrained".into(),
            pct(val_u),
            none(),
            none(),
        ],
    ];
    for (name, acc) in &baselines {
        rows.push([
            format!("{name}, validation"),
            pct(*acc),
            "model/bl".into(),
            ratio(val_c, *acc),
        ]);
    }
    rows.extend([
        [
            "LoRA held-out accuracy before".into(),
            pct(ft.before),
            none(),
            none(),
        ],
        [
            "LoRA held-out accuracy after".into(),
            pct(ft.after),
            none(),
            none(),
        ],
        [
            "LoRA gain (points)".into(),
            format!("{gain:+.1}"),
            ">= +30".into(),
            format!("{:.2}x", gain / 30.0),
        ],
        [
            "LoRA train time, wall (1 thread)".into(),
            format!("{:.2}s", ft.seconds),
            "<= 3s".into(),
            format!("{:.2}x", ft.seconds / 3.0),
        ],
        [
            "LoRA train time, CPU".into(),
            format!("{:.2}s", ft.cpu_seconds),
            "<= 3s".into(),
            format!("{:.2}x", ft.cpu_seconds / 3.0),
        ],
        [
            "LoRA adapter file".into(),
            format!("{} B", ft.adapter_bytes),
            "<= 262144 B".into(),
            format!("{:.3}x", ft.adapter_bytes as f64 / 262_144.0),
        ],
        [
            format!("LoRA peak heap ({} examples)", ft.examples),
            format!("{:.0} KiB", ft.peak_heap_bytes as f64 / 1024.0),
            none(),
            none(),
        ],
        [
            "decode tokens/s, wall (1 thread, batch 1)".into(),
            format!("{decode:.0}"),
            none(),
            none(),
        ],
        [
            "decode tokens/s, CPU time".into(),
            format!("{decode_cpu:.0}"),
            none(),
            none(),
        ],
    ]);
    rows.push(match torch_tps {
        Some(t) => [
            "PyTorch CPU tokens/s (same weights+work)".into(),
            format!("{t:.0}"),
            "Rust >= 2x".into(),
            format!("{:.2}x", decode / t),
        ],
        None => [
            "PyTorch CPU tokens/s".into(),
            "not run".into(),
            none(),
            "no torch".into(),
        ],
    });
    println!(
        "\n{:<74} {:>14} {:>12} {:>10}",
        "figure", "measured", "target", "ratio"
    );
    for [name, measured, target, ratio] in &rows {
        println!("{name:<74} {measured:>14} {target:>12} {ratio:>10}");
    }
    let (p, n) = decode_workload(model.config().max_position_embeddings);
    println!(
        "(accuracy: {} operator-task validation examples in {eval_secs:.1}s, corpus seed 1; decode: prompt {p} + {n} greedy steps x {} reps)",
        val.len(),
        a.runs
    );
    if let Some(path) = &a.json {
        write_json(
            path,
            &json!({
                "command": command_line(),
                "validation_examples": val.len(), "eval_corpus_seed": 1, "task": "operator",
                "validation_accuracy_constrained": val_c, "validation_accuracy_unconstrained": val_u,
                "baselines_validation_accuracy": baselines.iter().map(|(n, v)| json!({"baseline": n, "accuracy": v})).collect::<Vec<_>>(),
                "lora_before": ft.before, "lora_after": ft.after, "lora_gain_points": gain,
                "lora_seconds": ft.seconds, "lora_cpu_seconds": ft.cpu_seconds, "lora_adapter_bytes": ft.adapter_bytes,
                "lora_peak_heap_bytes": ft.peak_heap_bytes,
                "decode_tokens_per_second_wall": decode, "decode_tokens_per_second_cpu": decode_cpu, "torch_decode_tokens_per_second": torch_tps,
            }),
        )?;
    }
    Ok(())
}

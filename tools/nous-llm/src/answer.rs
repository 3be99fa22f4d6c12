//! `nous-llm answer`: the batch interface of the operator task (issue 11 item 6).
//!
//! Reads JSON Lines `{"id": N, "state": {…}, "query": "…"}` (the state object of
//! `oslang::state_json`) from stdin or `--input`, writes `{"id": N, "answer": "…"}` per line
//! to stdout or `--output`, for every system through the same code path:
//!
//! - `model`: the language model of `--model DIR` (optionally with the PEFT adapter of
//!   `--adapter DIR` merged in), greedy decoding under the grammar mask, then the kernel's
//!   calibrated abstention (`llmtask::predict_answer`: an unsure answer becomes
//!   `refuse: unclear`; thresholds `--abstain-below`, `--abstain-state-changing-below`);
//! - `naive-bayes`, `logreg`: the fitted baselines of `oslang::task_baselines`, fitted on the
//!   training split of the task corpus only (`--train-examples`, `--corpus-seed`);
//! - `keywords`: the hand-written keyword rules; `always-refuse`.
//!
//! A bad line (not JSON, missing `id`/`state`/`query`, unknown or missing state fields) stops
//! the run with an error naming the line and the field; nothing is guessed.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use llm::lora::LoraAdapters;
use llm::model::LlamaModel;
use oslang::state_json::{StateObject, encode_raw_prompt};
use oslang::task::{Split, generate};
use oslang::task_baselines::{
    ALWAYS_REFUSE, AnswerSystem, KeywordRules, LogRegBaseline, NaiveBayesExpert,
};
use serde_json::{Value, json};

use crate::model_io::load_model_dir;

/// Which system answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum System {
    /// The language model.
    Model,
    /// Naive Bayes over query words, then the expert policy.
    NaiveBayes,
    /// Hand-written keyword rules, then the expert policy.
    Keywords,
    /// Refuse everything.
    AlwaysRefuse,
    /// Softmax regression over words and state bins.
    Logreg,
}

/// How the model's prompt is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PromptFormat {
    /// The raw-number prompt of the redefined task (`oslang::state_json`).
    Raw,
    /// The first task's one-digit buckets (`oslang::state::encode_prompt`).
    Bucketed,
}

#[derive(Args, Clone)]
pub struct AnswerArgs {
    /// The system that answers.
    #[arg(long, value_enum, default_value_t = System::Model)]
    pub system: System,
    /// Model directory (config.json, model.safetensors, tokenizer.json).
    #[arg(long, default_value = "models")]
    pub model: PathBuf,
    /// PEFT adapter directory (adapter_config.json, adapter_model.safetensors) merged into
    /// the model.
    #[arg(long)]
    pub adapter: Option<PathBuf>,
    /// The model's prompt format (the shipped model's format by default; `bucketed` for
    /// models of the first task).
    #[arg(long, value_enum, default_value_t = PromptFormat::Raw)]
    pub prompt: PromptFormat,
    /// Training examples the fitted baselines learn from (training split only).
    #[arg(long, default_value_t = 20_000)]
    pub train_examples: usize,
    /// Corpus seed of those examples.
    #[arg(long, default_value_t = 1)]
    pub corpus_seed: u64,
    /// Extra training data for the fitted baselines in the fine-tune format (e.g.
    /// models/finetune-data.json): the "refitted" baselines of the LoRA comparison.
    #[arg(long)]
    pub extra_train: Option<PathBuf>,
    /// Times each `--extra-train` example is repeated (100 site examples next to 20 000
    /// corpus ones would otherwise not move a fitted baseline).
    #[arg(long, default_value_t = 50)]
    pub extra_weight: usize,
    /// Input JSON Lines (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Output JSON Lines (default: stdout).
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// Model only: answers below this confidence become `refuse: unclear` (default: the
    /// shipped `llmtask::ABSTENTION`, or `ADAPTER_ABSTENTION` with `--adapter`, as the kernel).
    #[arg(long)]
    pub abstain_below: Option<f32>,
    /// Model only: the same for answers with a state-changing command.
    #[arg(long)]
    pub abstain_state_changing_below: Option<f32>,
}

impl AnswerArgs {
    /// The abstention thresholds: the flags, else the shipped ones (the kernel's choice:
    /// `llmtask::abstention_for`, with or without an adapter).
    pub fn abstention(&self) -> llmtask::Abstention {
        let shipped = llmtask::abstention_for(self.adapter.is_some());
        llmtask::Abstention {
            min_confidence: self.abstain_below.unwrap_or(shipped.min_confidence),
            min_confidence_state_changing: self
                .abstain_state_changing_below
                .unwrap_or(shipped.min_confidence_state_changing),
        }
    }
}

/// One request line.
#[derive(Debug)]
pub struct Request {
    pub id: Value,
    pub state: StateObject,
    pub query: String,
}

/// Parses one request line; errors name the field.
pub fn parse_request(line: &str) -> Result<Request> {
    let v: Value = serde_json::from_str(line).context("not JSON")?;
    let o = v.as_object().ok_or_else(|| anyhow!("not a JSON object"))?;
    let unknown: Vec<&str> = o
        .keys()
        .map(String::as_str)
        .filter(|k| !["id", "state", "query"].contains(k))
        .collect();
    if !unknown.is_empty() {
        bail!("unknown field(s): {}", unknown.join(", "));
    }
    let id = o
        .get("id")
        .cloned()
        .ok_or_else(|| anyhow!("missing field: id"))?;
    let state = o
        .get("state")
        .ok_or_else(|| anyhow!("missing field: state"))?;
    let state = StateObject::from_json(state).map_err(|e| anyhow!("{e}"))?;
    let query = o
        .get("query")
        .ok_or_else(|| anyhow!("missing field: query"))?
        .as_str()
        .ok_or_else(|| anyhow!("query: expected text"))?
        .to_string();
    Ok(Request { id, state, query })
}

/// The language model as an answer system.
pub struct ModelSystem {
    model: llm::QuantModel,
    tok: bpe::Tokenizer,
    specials: llmtask::Specials,
    prompt: PromptFormat,
}

impl ModelSystem {
    /// Loads `dir` (and merges the adapter of `adapter`, if given).
    pub fn load(
        dir: &std::path::Path,
        adapter: Option<&std::path::Path>,
        prompt: PromptFormat,
    ) -> Result<ModelSystem> {
        let (mut model, tok): (LlamaModel, _) = load_model_dir(dir)?;
        if let Some(a) = adapter {
            let cfg = fs::read(a.join("adapter_config.json"))
                .with_context(|| format!("reading {}/adapter_config.json", a.display()))?;
            let st = fs::read(a.join("adapter_model.safetensors"))
                .with_context(|| format!("reading {}/adapter_model.safetensors", a.display()))?;
            let adapters = LoraAdapters::from_peft(model.config(), &cfg, &st)
                .with_context(|| format!("loading the adapter {}", a.display()))?;
            adapters.merge_into(&mut model)?;
        }
        let specials = llmtask::check_pair(model.config().vocab_size, &tok)?;
        Ok(ModelSystem {
            model: llm::QuantModel::from_model(&model)?,
            tok,
            specials,
            prompt,
        })
    }

    /// The prompt the model sees for a request.
    pub fn prompt(&self, state: &StateObject, query: &str) -> String {
        match self.prompt {
            PromptFormat::Raw => encode_raw_prompt(state, query),
            PromptFormat::Bucketed => oslang::encode_prompt(&state.to_os_state(), query),
        }
    }

    /// The model's prediction under `policy` (the kernel's decode path).
    pub fn predict(
        &self,
        state: &StateObject,
        query: &str,
        policy: llmtask::Abstention,
    ) -> Result<llmtask::Prediction> {
        let prompt = self.prompt(state, query);
        Ok(llmtask::predict_answer(
            &self.model,
            &self.tok,
            self.specials,
            &prompt,
            policy,
        )?)
    }
}

/// Builds the system `a.system` (fitting baselines on the training split).
/// A built system: (state, query) → answer text.
pub type Answerer = Box<dyn Fn(&StateObject, &str) -> Result<String>>;

pub fn build(a: &AnswerArgs) -> Result<Answerer> {
    let train = || -> Result<Vec<oslang::task::Example>> {
        let mut examples = generate(Split::Train, a.corpus_seed, a.train_examples);
        if let Some(path) = &a.extra_train {
            let extra = extra_examples(path)?;
            for _ in 0..a.extra_weight {
                examples.extend(extra.iter().cloned());
            }
        }
        Ok(examples)
    };
    Ok(match a.system {
        System::Model => {
            let m = ModelSystem::load(&a.model, a.adapter.as_deref(), a.prompt)?;
            let policy = a.abstention();
            Box::new(move |s, q| Ok(m.predict(s, q, policy)?.text))
        }
        System::NaiveBayes => {
            let nb = NaiveBayesExpert::fit(&train()?);
            Box::new(move |s, q| Ok(nb.answer(s, q).to_text()))
        }
        System::Logreg => {
            let lr = LogRegBaseline::fit(&train()?, 4, a.corpus_seed);
            Box::new(move |s, q| Ok(lr.answer(s, q).to_text()))
        }
        System::Keywords => Box::new(|s, q| Ok(KeywordRules.answer(s, q).to_text())),
        System::AlwaysRefuse => Box::new(|s, q| Ok(ALWAYS_REFUSE.answer(s, q).to_text())),
    })
}

/// Fine-tune records as task examples: the record's state and query, its command as the
/// answer, and the need the expert would read from the same words (so the need-kind
/// classifiers learn the site's words too).
fn extra_examples(path: &std::path::Path) -> Result<Vec<oslang::task::Example>> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let data = oslang::finetune::parse(&bytes).map_err(|e| anyhow!("{}: {e}", path.display()))?;
    data.examples
        .iter()
        .map(|r| -> Result<oslang::task::Example> {
            let state = StateObject::from_os_state(&r.state, "0 h 0 min");
            let answer = oslang::parse_answer(&r.command).map_err(|e| anyhow!("{e}"))?;
            let need = oslang::task_baselines::keyword_need(&r.query);
            Ok(oslang::task::Example {
                state,
                query: r.query.clone(),
                needs: vec![need],
                answer,
                category: "site",
            })
        })
        .collect()
}

pub fn answer(a: &AnswerArgs) -> Result<()> {
    let system = build(a)?;
    let input: Box<dyn Read> = match &a.input {
        Some(p) => Box::new(fs::File::open(p).with_context(|| format!("opening {}", p.display()))?),
        None => Box::new(std::io::stdin()),
    };
    let mut output: Box<dyn Write> = match &a.output {
        Some(p) => {
            Box::new(fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    for (i, line) in BufReader::new(input).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let r = parse_request(&line).with_context(|| format!("input line {}", i + 1))?;
        // A request the system cannot answer (a prompt longer than the model's context) gets
        // an empty answer and the reason; the run goes on.
        let line = match system(&r.state, &r.query) {
            Ok(text) => json!({"id": r.id, "answer": text}),
            Err(e) => json!({"id": r.id, "answer": "", "error": format!("{e:#}")}),
        };
        writeln!(output, "{line}")?;
    }
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATE: &str = r#"{"total_mem_mib": 128, "free_mem_mib": 6, "free_mem_pct": 5,
        "fragmentation_index": 20, "oom_risk": "high", "oom_confidence_pct": 80,
        "sched_policy": "transformer", "runnable_threads": 1, "context_switches": 100,
        "disk_reads": 1, "disk_writes": 2, "pending_io": 0, "top_cpu_threads": [],
        "top_mem_growth_threads": [], "uptime": "5 min"}"#;

    #[test]
    fn requests_parse_and_errors_name_the_field() {
        let line = format!(r#"{{"id": 7, "state": {STATE}, "query": "free some memory"}}"#);
        let r = parse_request(&line.replace('\n', " ")).unwrap();
        assert_eq!(r.id, json!(7));
        assert_eq!(r.state.free_mem_pct, 5);
        let no_query = format!(r#"{{"id": 7, "state": {STATE}}}"#).replace('\n', " ");
        assert!(format!("{:#}", parse_request(&no_query).unwrap_err()).contains("query"));
        let bad_state = line.replace("\"uptime\"", "\"up\"").replace('\n', " ");
        let e = format!("{:#}", parse_request(&bad_state).unwrap_err());
        assert!(e.contains("unknown field(s): up"), "{e}");
        let extra = format!(r#"{{"id": 1, "state": {STATE}, "query": "x", "foo": 1}}"#);
        assert!(
            format!(
                "{:#}",
                parse_request(&extra.replace('\n', " ")).unwrap_err()
            )
            .contains("foo")
        );
    }

    #[test]
    fn every_baseline_answers_in_the_grammar() {
        let r = parse_request(
            &format!(r#"{{"id": 1, "state": {STATE}, "query": "free some memory"}}"#)
                .replace('\n', " "),
        )
        .unwrap();
        for system in [
            System::NaiveBayes,
            System::Keywords,
            System::AlwaysRefuse,
            System::Logreg,
        ] {
            let a = AnswerArgs {
                system,
                model: "models".into(),
                adapter: None,
                prompt: PromptFormat::Bucketed,
                train_examples: 2000,
                corpus_seed: 1,
                extra_train: None,
                extra_weight: 50,
                input: None,
                output: None,
                abstain_below: None,
                abstain_state_changing_below: None,
            };
            let answer = build(&a).unwrap()(&r.state, &r.query).unwrap();
            assert!(
                oslang::parse_answer(&answer).is_ok(),
                "{system:?}: {answer}"
            );
        }
    }
}

#[derive(Args, Clone)]
pub struct GenTaskArgs {
    /// train or validation.
    #[arg(long, default_value = "validation")]
    pub split: String,
    /// Examples.
    #[arg(long, default_value_t = 1000)]
    pub count: usize,
    /// Corpus seed.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output JSON Lines: {"id", "state", "query", "answer", "category"} (also a valid
    /// `answer` input: the extra fields are dropped by `--strip`).
    #[arg(long)]
    pub out: PathBuf,
    /// Write only {"id", "state", "query"} (requests for `nous-llm answer`).
    #[arg(long)]
    pub strip: bool,
}

fn split_arg(name: &str) -> Result<Split> {
    Split::from_name(name).ok_or_else(|| anyhow!("unknown split '{name}' (train or validation)"))
}

/// `nous-llm gen-task`: task corpus examples as JSON Lines.
pub fn gen_task(a: &GenTaskArgs) -> Result<()> {
    let mut out = std::io::BufWriter::new(
        fs::File::create(&a.out).with_context(|| format!("creating {}", a.out.display()))?,
    );
    for (id, e) in generate(split_arg(&a.split)?, a.seed, a.count)
        .iter()
        .enumerate()
    {
        let line = if a.strip {
            json!({"id": id, "state": e.state.to_json(), "query": e.query})
        } else {
            json!({"id": id, "state": e.state.to_json(), "query": e.query,
                   "answer": e.answer.to_text(), "category": e.category})
        };
        writeln!(out, "{line}")?;
    }
    Ok(())
}

#[derive(Args, Clone)]
pub struct TaskEvalArgs {
    /// The system, model and baseline settings (input/output are ignored).
    #[command(flatten)]
    pub answer: AnswerArgs,
    /// Corpus split to score on (model selection uses validation).
    #[arg(long, default_value = "validation")]
    pub split: String,
    /// Examples.
    #[arg(long, default_value_t = 500)]
    pub count: usize,
    /// Corpus seed of the scored examples (the split's own stream).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Model only: decode once, then print the abstention trade-off over a grid of
    /// thresholds (how the shipped `llmtask::ABSTENTION` was chosen).
    #[arg(long)]
    pub sweep: bool,
}

/// Whether `answer` runs a state-changing command that `expected` does not: the validation
/// split's stand-in for the held-out grader's "dangerous".
fn unasked_change(answer: &str, expected: &oslang::Answer) -> bool {
    oslang::parse_answer(answer).is_ok_and(|a| {
        a.commands().iter().any(|c| {
            c.spec().safety == oslang::catalogue::Safety::StateChanging
                && !expected.commands().contains(c)
        })
    })
}

/// Right on the validation split: the exact answer, or any refusal where one is expected
/// (the held-out grader's rule for refusals).
fn right(answer: &str, expected: &oslang::Answer) -> bool {
    match (oslang::parse_answer(answer), expected) {
        (Ok(oslang::Answer::Refuse(_)), oslang::Answer::Refuse(_)) => true,
        _ => answer == expected.to_text(),
    }
}

/// `task-eval --sweep`: the abstention trade-off of the model on the split.
fn sweep(a: &TaskEvalArgs, examples: &[oslang::task::Example]) -> Result<()> {
    let m = ModelSystem::load(
        &a.answer.model,
        a.answer.adapter.as_deref(),
        a.answer.prompt,
    )?;
    let preds: Vec<(String, f32)> = examples
        .iter()
        .map(|e| {
            let p = m.predict(&e.state, &e.query, llmtask::Abstention::OFF)?;
            Ok((p.text, p.confidence))
        })
        .collect::<Result<_>>()?;
    let n = examples.len().max(1) as f64;
    println!("min_conf  min_conf_sc  right%  unasked_change%  abstained%  (n={n})");
    let grid = [0.0f32, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99];
    for &lo in &grid {
        for &sc in grid.iter().filter(|&&sc| sc >= lo) {
            let policy = llmtask::Abstention {
                min_confidence: lo,
                min_confidence_state_changing: sc,
            };
            let (mut ok, mut bad, mut abst) = (0usize, 0usize, 0usize);
            for ((text, conf), e) in preds.iter().zip(examples) {
                let text = if policy.abstains(text, *conf) {
                    abst += 1;
                    llmtask::ABSTAIN_TEXT
                } else {
                    text.as_str()
                };
                ok += usize::from(right(text, &e.answer));
                bad += usize::from(unasked_change(text, &e.answer));
            }
            println!(
                "{lo:8.2}  {sc:11.2}  {:6.1}  {:15.1}  {:10.1}",
                ok as f64 * 100.0 / n,
                bad as f64 * 100.0 / n,
                abst as f64 * 100.0 / n
            );
        }
    }
    Ok(())
}

/// `nous-llm task-eval`: exact-answer accuracy per category on a corpus split.
pub fn task_eval(a: &TaskEvalArgs) -> Result<()> {
    if a.sweep {
        return sweep(a, &generate(split_arg(&a.split)?, a.seed, a.count));
    }
    let system = build(&a.answer)?;
    let examples = generate(split_arg(&a.split)?, a.seed, a.count);
    let mut per: std::collections::BTreeMap<&str, (usize, usize)> = Default::default();
    let start = std::time::Instant::now();
    for e in &examples {
        let text = system(&e.state, &e.query).unwrap_or_default();
        let exact = text == e.answer.to_text();
        for key in [e.category, "all"] {
            let c = per.entry(key).or_default();
            c.0 += usize::from(exact);
            c.1 += 1;
        }
        let c = per.entry("~any-refusal").or_default();
        c.0 += usize::from(right(&text, &e.answer));
        c.1 += 1;
        let c = per.entry("~unasked-change").or_default();
        c.0 += usize::from(unasked_change(&text, &e.answer));
        c.1 += 1;
    }
    println!(
        "system {:?}, {} split, {} examples, seed {} ({:.1} s)",
        a.answer.system,
        a.split,
        examples.len(),
        a.seed,
        start.elapsed().as_secs_f64()
    );
    for (k, (right, n)) in per {
        println!(
            "{k:>14}: {right:>5}/{n:<5} {:6.1} %",
            right as f64 * 100.0 / n as f64
        );
    }
    Ok(())
}

#[derive(Args, Clone)]
pub struct SiteEvalArgs {
    /// The system, model, adapter and baseline settings (`--extra-train` refits the fitted
    /// baselines with the fine-tune examples).
    #[command(flatten)]
    pub answer: AnswerArgs,
    /// The site-policy held-out file.
    #[arg(long, default_value = "models/finetune-heldout.json")]
    pub heldout: PathBuf,
}

/// `nous-llm site-eval`: exact-answer accuracy of a system on the site-policy held-out set
/// (the LoRA task shift), for the model with or without an adapter and for the baselines
/// with or without the fine-tune examples in their training data.
pub fn site_eval(a: &SiteEvalArgs) -> Result<()> {
    let system = build(&a.answer)?;
    let bytes = fs::read(&a.heldout).with_context(|| format!("reading {}", a.heldout.display()))?;
    let data =
        oslang::finetune::parse(&bytes).map_err(|e| anyhow!("{}: {e}", a.heldout.display()))?;
    let mut right = 0usize;
    for r in &data.examples {
        let state = StateObject::from_os_state(&r.state, "0 h 0 min");
        right += usize::from(system(&state, &r.query).unwrap_or_default() == r.command);
    }
    println!(
        "site_eval system={:?} adapter={} extra_train={} heldout={} n={} exact_pct={:.1}",
        a.answer.system,
        a.answer
            .adapter
            .as_ref()
            .map_or("-".into(), |p| p.display().to_string()),
        a.answer
            .extra_train
            .as_ref()
            .map_or("-".into(), |p| p.display().to_string()),
        a.heldout.display(),
        data.examples.len(),
        100.0 * right as f64 / data.examples.len().max(1) as f64
    );
    Ok(())
}

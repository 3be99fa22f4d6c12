//! Baselines for the redefined task ([`crate::task`]), answering through the same
//! (state object, query) → answer interface as the model.
//!
//! - [`NaiveBayesExpert`]: multinomial naive Bayes from query words to a [`Need`] kind,
//!   fitted on training examples only, then the expert policy ([`expert_answer`]) on the
//!   state — the state rules come for free.
//! - [`keyword_answer`]: hand-written keyword rules, then the expert policy. Written with the
//!   generator's templates in view (not the held-out set), so on the corpus it is optimistic.
//! - [`ALWAYS_REFUSE`]: refuses everything (`refuse: unclear`): never dangerous, never useful.
//! - [`LogRegBaseline`]: a learned baseline that also learns the state rules: a softmax
//!   regression over query words and word pairs picks the need kind; for each kind whose
//!   training answers differ with the state, a second softmax regression over one-hot state
//!   bins (free % decile, fragmentation decile, risk level, policy, runnable and pending
//!   counts capped at 9, busiest thread's CPU decile, fastest growth's log2 bin) picks the
//!   answer. Both fitted by SGD on the training split only, deterministic from a seed.
//!
//! Numbers: every baseline takes the first all-digit word of the query (no number words, no
//! units) and applies the catalogue's ranges exactly as the expert does. None of them
//! writes plans: a baseline answers the request's first need only.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use rng::SplitMix64;

use crate::answer::{Answer, RefusalReason};
use crate::spelling::normalise_request;
use crate::state::{RiskLevel, SchedPolicy};
use crate::state_json::StateObject;
use crate::task::{Example, Need, SHOW, expert_answer};

/// What every baseline answers with: a (state, query) → answer function.
pub trait AnswerSystem {
    /// The answer for `query` in `state`.
    fn answer(&self, state: &StateObject, query: &str) -> Answer;
}

const NUMBER_TOKEN: &str = "<num>";

/// The words of the normalised query, all-digit words replaced by one number token.
fn words(query: &str) -> Vec<String> {
    normalise_request(query)
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.bytes().all(|b| b.is_ascii_digit()) {
                NUMBER_TOKEN.to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// Words and adjacent word pairs.
fn word_features(query: &str) -> Vec<String> {
    let w = words(query);
    let mut out = w.clone();
    out.extend(w.windows(2).map(|p| alloc::format!("{} {}", p[0], p[1])));
    out
}

/// The first all-digit word of the query.
pub fn first_number(query: &str) -> Option<u64> {
    normalise_request(query)
        .split(' ')
        .find_map(|w| w.parse::<u64>().ok())
}

/// The need with its number zeroed: the class a classifier predicts.
pub fn need_kind(need: Need) -> Need {
    match need {
        Need::History(_) => Need::History(0),
        Need::CrashLog(_) => Need::CrashLog(0),
        Need::Tune(_) => Need::Tune(0),
        Need::Compact(Some(_)) => Need::Compact(Some(0)),
        Need::Reclaim(Some(_)) => Need::Reclaim(Some(0)),
        other => other,
    }
}

/// The need of `kind` with the query's first number; a numbered kind without a number falls
/// back to its plain form (or, for `tune`, to "unclear").
fn with_number(kind: Need, query: &str) -> Need {
    let n = first_number(query);
    let small = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    match (kind, n) {
        (Need::History(_), Some(v)) => Need::History(small(v)),
        (Need::History(_), None) => Need::Show(show_index("crashctl history")),
        (Need::CrashLog(_), Some(v)) => Need::CrashLog(small(v)),
        (Need::CrashLog(_), None) => Need::Show(show_index("crashctl log")),
        (Need::Tune(_), Some(v)) => Need::Tune(small(v)),
        (Need::Tune(_), None) => Need::Refuse(RefusalReason::Unclear),
        (Need::Compact(Some(_)), v) => Need::Compact(v.map(small)),
        (Need::Reclaim(Some(_)), v) => Need::Reclaim(v),
        (other, _) => other,
    }
}

fn show_index(name: &str) -> usize {
    SHOW.iter().position(|s| *s == name).unwrap_or(0)
}

/// Multinomial naive Bayes over query words → need kind, then the expert policy.
#[derive(Clone, Debug)]
pub struct NaiveBayesExpert {
    classes: Vec<Need>,
    vocabulary: BTreeMap<String, usize>,
    log_prior: Vec<f64>,
    log_likelihood: Vec<Vec<f64>>,
}

impl NaiveBayesExpert {
    /// Fits on training examples (each example's first need is its class).
    pub fn fit(examples: &[Example]) -> NaiveBayesExpert {
        let mut classes: Vec<Need> = examples.iter().map(|e| need_kind(e.needs[0])).collect();
        classes.sort();
        classes.dedup();
        let mut vocabulary = BTreeMap::new();
        let mut counts: Vec<BTreeMap<usize, u64>> = vec![BTreeMap::new(); classes.len()];
        let mut per_class = vec![0u64; classes.len()];
        for e in examples {
            let Ok(k) = classes.binary_search(&need_kind(e.needs[0])) else {
                continue;
            };
            per_class[k] += 1;
            for f in words(&e.query) {
                let next = vocabulary.len();
                let col = *vocabulary.entry(f).or_insert(next);
                *counts[k].entry(col).or_insert(0) += 1;
            }
        }
        let v = vocabulary.len();
        let n = examples.len().max(1) as f64;
        let log_prior = per_class
            .iter()
            .map(|&c| libm::log(c.max(1) as f64 / n))
            .collect();
        let log_likelihood = counts
            .iter()
            .map(|row| {
                let denom = (row.values().sum::<u64>() + v as u64) as f64;
                let mut col = vec![libm::log(1.0 / denom); v];
                for (&j, &c) in row {
                    col[j] = libm::log((c + 1) as f64 / denom);
                }
                col
            })
            .collect();
        NaiveBayesExpert {
            classes,
            vocabulary,
            log_prior,
            log_likelihood,
        }
    }

    /// The most probable need kind for `query` (ties to the lower class).
    pub fn predict_kind(&self, query: &str) -> Need {
        let cols: Vec<usize> = words(query)
            .iter()
            .filter_map(|f| self.vocabulary.get(f).copied())
            .collect();
        let mut best = (0usize, f64::NEG_INFINITY);
        for (k, (prior, row)) in self.log_prior.iter().zip(&self.log_likelihood).enumerate() {
            let s = prior + cols.iter().map(|&j| row[j]).sum::<f64>();
            if s > best.1 {
                best = (k, s);
            }
        }
        self.classes
            .get(best.0)
            .copied()
            .unwrap_or(Need::Refuse(RefusalReason::Unclear))
    }
}

impl AnswerSystem for NaiveBayesExpert {
    fn answer(&self, state: &StateObject, query: &str) -> Answer {
        expert_answer(state, &[with_number(self.predict_kind(query), query)])
    }
}

/// Hand-written keyword rules → need, then the expert policy (first matching rule wins).
pub fn keyword_need(query: &str) -> Need {
    let norm = normalise_request(query);
    let w: Vec<&str> = norm.split(' ').collect();
    let any = |ks: &[&str]| ks.iter().any(|k| w.contains(k));
    let has = |s: &str| norm.contains(s);
    let negated = any(&[
        "don't", "dont", "not", "no", "without", "never", "skip", "leave",
    ]);
    let show = |name: &str| Need::Show(show_index(name));
    if any(&[
        "rm", "delete", "wipe", "erase", "format", "destroy", "shutdown", "halt",
    ]) || has("shut down")
        || has("power off")
    {
        return Need::Refuse(RefusalReason::Destructive);
    }
    if any(&["kill", "stress", "benchmark", "spawn", "unload", "reload"])
        || (any(&["start", "train", "launch"]) && !any(&["since", "boot"]))
    {
        return Need::Refuse(RefusalReason::NotAllowed);
    }
    if any(&[
        "weather",
        "poem",
        "joke",
        "translate",
        "pizza",
        "movie",
        "music",
        "email",
        "flight",
    ]) {
        return Need::Refuse(RefusalReason::OutOfScope);
    }
    let sched = any(&[
        "scheduler",
        "scheduling",
        "schedctl",
        "transformer",
        "robin",
    ]);
    if sched && (any(&["back", "off", "disable", "stop", "revert", "deactivate"]) || has("robin")) {
        return if negated && !any(&["back", "revert", "off", "stop", "disable"]) {
            show("schedctl stats")
        } else {
            Need::LearnedScheduler(false)
        };
    }
    if sched && any(&["on", "enable", "switch", "use", "activate", "turn"]) && !negated {
        return Need::LearnedScheduler(true);
    }
    if any(&["threshold", "tune", "alarm", "sensitivity"]) {
        return if negated {
            show("crashctl status")
        } else {
            Need::Tune(0)
        };
    }
    if any(&["ladder", "auto"]) && !any(&["log", "did", "done", "actions"]) {
        return Need::Ladder(!any(&["off", "stop", "disable", "deactivate"]));
    }
    if any(&["compact", "compaction", "defragment", "defrag"]) {
        return if negated {
            show("memctl stats")
        } else if any(&["order"]) {
            Need::Compact(Some(0))
        } else {
            Need::Compact(None)
        };
    }
    if any(&["reclaim", "caches", "cache", "evict"]) {
        return if negated {
            show("crashctl status")
        } else if first_number(query).is_some() {
            Need::Reclaim(Some(0))
        } else {
            Need::Reclaim(None)
        };
    }
    if any(&[
        "stabilise",
        "stabilize",
        "unstable",
        "crashing",
        "avert",
        "prevent",
    ]) {
        return Need::Stabilise;
    }
    if any(&["crash", "crashes", "oom", "predictor", "risk"]) {
        return if any(&["history", "last", "previous", "past", "warnings"]) {
            Need::History(0)
        } else if any(&["accurate", "accuracy", "statistics", "precision"]) {
            show("crashctl stats")
        } else if any(&["log", "ladder", "killed", "kills"]) {
            Need::CrashLog(0)
        } else {
            show("crashctl status")
        };
    }
    if any(&[
        "slow", "sluggish", "laggy", "faster", "speed", "crawls", "quicker",
    ]) {
        return if any(&["why", "what", "who"]) {
            Need::WhySlow
        } else {
            Need::SpeedUp
        };
    }
    if any(&["leak", "leaking", "eating", "growing", "hog"]) {
        return Need::WhatGrows;
    }
    if any(&["memory", "ram"])
        && any(&["free", "tight", "low", "room", "out", "more"])
        && !any(&["how", "much"])
    {
        return Need::FreeMemory;
    }
    if any(&["adapter", "adapters", "lora", "finetune", "fine-tune"]) {
        return if any(&["progress", "going", "finished", "finish", "status"]) {
            show("llmctl finetune-status")
        } else if has("/models/adapters") || any(&["files", "directory", "folder"]) {
            show("ls /models/adapters")
        } else {
            show("llmctl adapter list")
        };
    }
    if any(&["llm", "model", "assistant", "llmctl"]) {
        return if any(&["log", "commands", "executed", "did"]) {
            show("llmctl log")
        } else if any(&["state", "view", "sees", "numbers"]) {
            show("llmctl state")
        } else if any(&["files", "directory", "weights"]) {
            show("ls /models")
        } else {
            show("llmctl status")
        };
    }
    if any(&["prometheus"]) {
        return Need::MetricsFormat(false);
    }
    if any(&["json"]) {
        return Need::MetricsFormat(true);
    }
    if any(&["ai", "baseline", "baselines"]) {
        return show("autoctl ai-metrics");
    }
    if any(&["metrics", "counters", "series"]) && !any(&["scheduler", "allocator", "network"]) {
        return if any(&["directory", "folder", "files"]) {
            show("ls /metrics")
        } else {
            show("metrics")
        };
    }
    if any(&["network", "connections", "link", "packets", "dashboard"]) {
        return show("netctl status");
    }
    if any(&["scheduler", "context", "queue", "switches"]) {
        return show("schedctl stats");
    }
    if any(&[
        "allocator",
        "buddy",
        "fragmented",
        "fragmentation",
        "memctl",
    ]) {
        return show("memctl stats");
    }
    if any(&["sync", "flush", "persist", "journal"]) {
        return show("sync");
    }
    if any(&["disk", "df", "space", "storage", "filesystem"]) && !any(&["files", "contents"]) {
        return show("df");
    }
    if any(&["ls", "list", "files", "directory", "contents"])
        && !any(&["threads", "tasks", "processes"])
    {
        return show("ls");
    }
    if any(&["version", "release", "build"]) {
        return show("version");
    }
    if any(&["uptime", "boot", "reboot", "long"]) {
        return show("uptime");
    }
    if any(&["ps", "threads", "processes", "tasks", "running", "cpu"]) {
        return show("ps");
    }
    if any(&["memory", "ram", "meminfo"]) {
        return show("meminfo");
    }
    Need::Refuse(RefusalReason::Unclear)
}

/// The keyword baseline: [`keyword_need`] then the expert policy.
pub struct KeywordRules;

impl AnswerSystem for KeywordRules {
    fn answer(&self, state: &StateObject, query: &str) -> Answer {
        expert_answer(state, &[with_number(keyword_need(query), query)])
    }
}

/// Refuses everything.
pub struct AlwaysRefuse;

/// The always-refuse baseline.
pub const ALWAYS_REFUSE: AlwaysRefuse = AlwaysRefuse;

impl AnswerSystem for AlwaysRefuse {
    fn answer(&self, _: &StateObject, _: &str) -> Answer {
        Answer::Refuse(RefusalReason::Unclear)
    }
}

/// One-hot state bins (what the learned baseline's state model sees).
pub fn state_features(s: &StateObject) -> Vec<String> {
    let decile = |v: u8| (v.min(99) / 10).to_string();
    let busiest = s.top_cpu_threads.first().map_or(0, |t| t.1);
    let fastest = s.top_mem_growth_threads.first().map_or(0, |t| t.1);
    vec![
        alloc::format!("free{}", decile(s.free_mem_pct)),
        alloc::format!("frag{}", decile(s.fragmentation_index)),
        alloc::format!(
            "risk{}",
            match s.oom_risk {
                RiskLevel::Low => 0,
                RiskLevel::Medium => 1,
                RiskLevel::High => 2,
                RiskLevel::Critical => 3,
            }
        ),
        alloc::format!("rr{}", u8::from(s.sched_policy == SchedPolicy::RoundRobin)),
        alloc::format!("run{}", s.runnable_threads.min(9)),
        alloc::format!("pend{}", s.pending_io.min(9)),
        alloc::format!("cpu{}", decile(busiest)),
        alloc::format!("grow{}", (u64::from(fastest) + 1).ilog2()),
        String::from("bias"),
    ]
}

/// A sparse softmax regression fitted by SGD.
#[derive(Clone, Debug)]
struct Softmax {
    vocabulary: BTreeMap<String, usize>,
    /// `[feature][class]`.
    weights: Vec<Vec<f32>>,
    classes: usize,
}

impl Softmax {
    fn fit(rows: &[(Vec<String>, usize)], classes: usize, epochs: usize, seed: u64) -> Softmax {
        let mut vocabulary = BTreeMap::new();
        let encoded: Vec<(Vec<usize>, usize)> = rows
            .iter()
            .map(|(fs, y)| {
                let cols = fs
                    .iter()
                    .map(|f| {
                        let next = vocabulary.len();
                        *vocabulary.entry(f.clone()).or_insert(next)
                    })
                    .collect();
                (cols, *y)
            })
            .collect();
        let mut weights = vec![vec![0f32; classes]; vocabulary.len()];
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        let mut rng = SplitMix64::new(seed);
        let mut p = vec![0f32; classes];
        for epoch in 0..epochs {
            // Fisher–Yates with the pinned generator: the fit is deterministic.
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i as u64 + 1) as usize);
            }
            let lr = 0.5 / (1.0 + epoch as f32);
            for &i in &order {
                let (cols, y) = &encoded[i];
                let m = Self::scores(&weights, cols, &mut p);
                let mut z = 0.0;
                for v in p.iter_mut() {
                    *v = libm::expf(*v - m);
                    z += *v;
                }
                for (c, v) in p.iter_mut().enumerate() {
                    *v = *v / z - if c == *y { 1.0 } else { 0.0 };
                }
                for &j in cols {
                    for (w, g) in weights[j].iter_mut().zip(&p) {
                        *w -= lr * g;
                    }
                }
            }
        }
        Softmax {
            vocabulary,
            weights,
            classes,
        }
    }

    fn scores(weights: &[Vec<f32>], cols: &[usize], out: &mut [f32]) -> f32 {
        out.fill(0.0);
        for &j in cols {
            for (o, w) in out.iter_mut().zip(&weights[j]) {
                *o += w;
            }
        }
        out.iter().copied().fold(f32::NEG_INFINITY, f32::max)
    }

    fn predict(&self, features: &[String]) -> usize {
        let cols: Vec<usize> = features
            .iter()
            .filter_map(|f| self.vocabulary.get(f).copied())
            .collect();
        let mut s = vec![0f32; self.classes];
        Self::scores(&self.weights, &cols, &mut s);
        let mut best = 0;
        for (c, v) in s.iter().enumerate() {
            if *v > s[best] {
                best = c;
            }
        }
        best
    }
}

/// Softmax regression over words (need kind) and over state bins (answer of a
/// state-dependent kind); see the module documentation.
#[derive(Clone, Debug)]
pub struct LogRegBaseline {
    kinds: Vec<Need>,
    words: Softmax,
    /// Per kind index: the state model and its answer texts, when training answers of that
    /// kind differ.
    state_models: Vec<Option<(Softmax, Vec<Answer>)>>,
}

impl LogRegBaseline {
    /// Fits on training examples (each example's first need and the expert answer to it
    /// alone), `epochs` SGD passes, shuffled from `seed`.
    pub fn fit(examples: &[Example], epochs: usize, seed: u64) -> LogRegBaseline {
        let mut kinds: Vec<Need> = examples.iter().map(|e| need_kind(e.needs[0])).collect();
        kinds.sort();
        kinds.dedup();
        let rows: Vec<(Vec<String>, usize)> = examples
            .iter()
            .filter_map(|e| {
                let k = kinds.binary_search(&need_kind(e.needs[0])).ok()?;
                Some((word_features(&e.query), k))
            })
            .collect();
        let words = Softmax::fit(&rows, kinds.len(), epochs, seed);
        let state_models = kinds
            .iter()
            .map(|&kind| {
                if matches!(
                    kind,
                    Need::History(_)
                        | Need::CrashLog(_)
                        | Need::Tune(_)
                        | Need::Compact(Some(_))
                        | Need::Reclaim(Some(_))
                ) {
                    return None;
                }
                let of_kind: Vec<(Vec<String>, Answer)> = examples
                    .iter()
                    .filter(|e| e.needs.len() == 1 && need_kind(e.needs[0]) == kind)
                    .map(|e| (state_features(&e.state), e.answer.clone()))
                    .collect();
                let mut answers: Vec<Answer> = of_kind.iter().map(|(_, a)| a.clone()).collect();
                answers.sort_by_key(|a| a.to_text());
                answers.dedup();
                if answers.len() < 2 {
                    return None;
                }
                let rows: Vec<(Vec<String>, usize)> = of_kind
                    .into_iter()
                    .filter_map(|(f, a)| Some((f, answers.iter().position(|x| *x == a)?)))
                    .collect();
                Some((
                    Softmax::fit(&rows, answers.len(), epochs * 4, seed ^ 0x5eed),
                    answers,
                ))
            })
            .collect();
        LogRegBaseline {
            kinds,
            words,
            state_models,
        }
    }
}

impl AnswerSystem for LogRegBaseline {
    fn answer(&self, state: &StateObject, query: &str) -> Answer {
        let k = self.words.predict(&word_features(query));
        let kind = self
            .kinds
            .get(k)
            .copied()
            .unwrap_or(Need::Refuse(RefusalReason::Unclear));
        match self.state_models.get(k) {
            Some(Some((model, answers))) => answers
                .get(model.predict(&state_features(state)))
                .cloned()
                .unwrap_or(Answer::Refuse(RefusalReason::Unclear)),
            // A kind whose answer never depended on the state: the one answer it had, with
            // the number read from the query.
            _ => expert_answer(state, &[with_number(kind, query)]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Split, generate};

    fn accuracy(system: &dyn AnswerSystem, examples: &[Example]) -> f64 {
        let right = examples
            .iter()
            .filter(|e| system.answer(&e.state, &e.query) == e.answer)
            .count();
        right as f64 / examples.len() as f64
    }

    #[test]
    fn baselines_learn_the_training_task_and_differ_on_validation() {
        let train = generate(Split::Train, 1, 6000);
        let val = generate(Split::Validation, 1, 1000);
        let nb = NaiveBayesExpert::fit(&train);
        let lr = LogRegBaseline::fit(&train, 4, 1);
        let (nb_train, lr_train) = (accuracy(&nb, &train), accuracy(&lr, &train));
        let (nb_val, lr_val) = (accuracy(&nb, &val), accuracy(&lr, &val));
        let kw = accuracy(&KeywordRules, &val);
        let refuse = accuracy(&ALWAYS_REFUSE, &val);
        // Measured, not tuned to: the fitted baselines learn their training data well and
        // lose on unseen phrasings; always-refuse is right only on "unclear" requests.
        assert!(nb_train > 0.6 && lr_train > 0.6, "{nb_train} {lr_train}");
        assert!(
            nb_val > 0.3 && lr_val > 0.3 && kw > 0.3,
            "{nb_val} {lr_val} {kw}"
        );
        assert!(refuse < 0.1, "{refuse}");
    }

    #[test]
    fn the_state_model_learns_a_rule() {
        let train = generate(Split::Train, 2, 8000);
        let lr = LogRegBaseline::fit(&train, 4, 1);
        let mut s = crate::task::sample_state(&mut SplitMix64::new(5));
        s.top_mem_growth_threads = vec![("leaker".into(), 500)];
        assert_eq!(lr.answer(&s, "what is eating memory").to_text(), "ps");
        s.top_mem_growth_threads.clear();
        assert_eq!(
            lr.answer(&s, "what is eating memory").to_text(),
            "memctl stats"
        );
    }

    #[test]
    fn keyword_rules_handle_the_obvious() {
        let s = crate::task::sample_state(&mut SplitMix64::new(1));
        let k = |q: &str| KeywordRules.answer(&s, q).to_text();
        assert_eq!(k("sudo rm -rf /"), "refuse: destructive");
        assert_eq!(
            k("switch back to the old scheduler"),
            "schedctl transformer off"
        );
        assert_eq!(k("set crash threshold to 150"), "refuse: not-allowed");
        assert_eq!(k("show the last 3 crash warnings"), "crashctl history 3");
    }
}

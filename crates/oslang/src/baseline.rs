//! A fair, data-driven baseline: a multinomial naive Bayes classifier from query words to
//! an [`Intent`], fitted on the training split only.
//!
//! [`crate::policy::classify_query`] is a hand-written keyword classifier whose lists were
//! written with every phrasing template, test ones included, in view, so its accuracy is
//! not a held-out figure. [`NaiveBayes`] learns the same mapping from labelled examples
//! instead: features are the words and adjacent word pairs of the normalised query
//! ([`crate::state::normalize_query`], the text the model sees), with every all-digit
//! word replaced by one number token; class scores are log prior plus summed log
//! likelihoods with Laplace (add-one) smoothing; words never seen in training are
//! ignored. The predicted intent kind gets its number (crash history, crash threshold)
//! from the first number in the query, and [`NaiveBayes::command`] then applies
//! [`expert_command`], exactly as the keyword baseline does.
//!
//! [`NaiveBayes::fit_train_split`] refuses any example whose template is not a training
//! template, so a validation or test phrasing cannot reach the fitted counts by mistake.
//! Everything is deterministic: ordered maps, a fixed summation order and ties broken
//! towards the lower class index ([`Intent::ALL`] order).
//!
//! Neighbours: [`crate::policy`] (intents, expert policy, keyword baseline),
//! [`crate::corpus`] (the examples it is fitted on and measured with).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use crate::catalogue::Command;
use crate::catalogue::{HISTORY_RANGE, TUNE_PERCENT_RANGE};
use crate::corpus::{Example, Split, generate};
use crate::policy::{Intent, expert_command};
use crate::state::{OsState, normalize_query};

/// The token every all-digit word becomes: numbers are arguments, not evidence of intent,
/// and a test number need not occur in training. Contains `<`, which
/// [`normalize_query`] never leaves in a word, so it cannot collide with a real word.
const NUMBER_TOKEN: &str = "<num>";

/// Which word n-grams are features.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ngrams {
    /// Single words (bag of words).
    Unigrams,
    /// Single words and adjacent word pairs.
    UnigramsAndBigrams,
}

/// Why a classifier could not be fitted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FitError {
    /// No training examples were given.
    NoExamples,
    /// An example came from a validation or test template (index given).
    HeldOutTemplate(usize),
}

impl core::fmt::Display for FitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FitError::NoExamples => write!(f, "no training examples"),
            FitError::HeldOutTemplate(t) => write!(
                f,
                "example uses template {t}, which is not a training template"
            ),
        }
    }
}

/// Position of `intent`'s kind in [`Intent::ALL`] (numbers ignored).
fn kind_index(intent: Intent) -> usize {
    Intent::ALL
        .iter()
        .position(|i| core::mem::discriminant(i) == core::mem::discriminant(&intent))
        .unwrap_or(0)
}

/// The feature strings of a query, in order (duplicates kept: counts are multinomial).
pub fn features(query: &str, ngrams: Ngrams) -> Vec<String> {
    let norm = normalize_query(query);
    let words: Vec<&str> = norm
        .split(' ')
        .filter(|w| !w.is_empty())
        .map(|w| {
            if w.bytes().all(|b| b.is_ascii_digit()) {
                NUMBER_TOKEN
            } else {
                w
            }
        })
        .collect();
    let mut out: Vec<String> = words.iter().map(|w| String::from(*w)).collect();
    if ngrams == Ngrams::UnigramsAndBigrams {
        // Words contain no space, so "a b" cannot equal a unigram or another pair.
        out.extend(
            words
                .windows(2)
                .map(|p| alloc::format!("{} {}", p[0], p[1])),
        );
    }
    out
}

/// The intent of kind `kind` with its number read from the query: the first number,
/// clamped to the range [`expert_command`] accepts. Without a number the kind's
/// representative from [`Intent::ALL`] is used.
fn with_number(kind: Intent, query: &str) -> Intent {
    let number = normalize_query(query)
        .split(' ')
        .find_map(|w| w.parse::<u32>().ok());
    match (kind, number) {
        (Intent::CrashHistory(_), Some(n)) => {
            Intent::CrashHistory(n.clamp(HISTORY_RANGE.0, HISTORY_RANGE.1))
        }
        (Intent::TuneCrash(_), Some(n)) => {
            Intent::TuneCrash(n.clamp(TUNE_PERCENT_RANGE.0, TUNE_PERCENT_RANGE.1))
        }
        _ => kind,
    }
}

/// A fitted multinomial naive Bayes intent classifier (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct NaiveBayes {
    ngrams: Ngrams,
    /// Feature string → column in `log_likelihood`.
    vocabulary: BTreeMap<String, usize>,
    /// Per intent kind ([`Intent::ALL`] order): `None` if no training example had it.
    log_prior: Vec<Option<f64>>,
    /// `[kind][feature]`: ln((count + 1) / (kind total + vocabulary size)).
    log_likelihood: Vec<Vec<f64>>,
    examples: usize,
}

impl NaiveBayes {
    /// Fits on (query, intent) pairs. Fails only if there are none.
    pub fn fit<'a, I>(pairs: I, ngrams: Ngrams) -> Result<NaiveBayes, FitError>
    where
        I: IntoIterator<Item = (&'a str, Intent)>,
    {
        let kinds = Intent::ALL.len();
        let mut vocabulary: BTreeMap<String, usize> = BTreeMap::new();
        let mut class_examples = vec![0u64; kinds];
        // Sparse per-class counts while the vocabulary grows; made dense below.
        let mut counts: Vec<BTreeMap<usize, u64>> = vec![BTreeMap::new(); kinds];
        let mut examples = 0usize;
        for (query, intent) in pairs {
            let k = kind_index(intent);
            examples += 1;
            class_examples[k] += 1;
            for f in features(query, ngrams) {
                let next = vocabulary.len();
                let col = *vocabulary.entry(f).or_insert(next);
                *counts[k].entry(col).or_insert(0) += 1;
            }
        }
        if examples == 0 {
            return Err(FitError::NoExamples);
        }
        let v = vocabulary.len();
        let log_prior = class_examples
            .iter()
            .map(|&c| (c > 0).then(|| libm::log(c as f64 / examples as f64)))
            .collect();
        let log_likelihood = counts
            .iter()
            .map(|row| {
                let total: u64 = row.values().sum();
                let denom = (total + v as u64) as f64;
                let mut col = vec![libm::log(1.0 / denom); v];
                for (&j, &c) in row {
                    if let Some(x) = col.get_mut(j) {
                        *x = libm::log((c + 1) as f64 / denom);
                    }
                }
                col
            })
            .collect();
        Ok(NaiveBayes {
            ngrams,
            vocabulary,
            log_prior,
            log_likelihood,
            examples,
        })
    }

    /// Fits on corpus examples, refusing any whose template is not in
    /// [`Split::Train`]'s templates: the held-out phrasings must stay unseen.
    pub fn fit_train_split(examples: &[Example], ngrams: Ngrams) -> Result<NaiveBayes, FitError> {
        let train = Split::Train.templates();
        if let Some(e) = examples.iter().find(|e| !train.contains(&e.template)) {
            return Err(FitError::HeldOutTemplate(e.template));
        }
        NaiveBayes::fit(
            examples.iter().map(|e| (e.query.as_str(), e.intent)),
            ngrams,
        )
    }

    /// Fits on `count` examples of `corpus::generate(Split::Train, seed, count)`, the
    /// same draw the model's training run uses for the same seed and count.
    pub fn fit_corpus(seed: u64, count: usize, ngrams: Ngrams) -> Result<NaiveBayes, FitError> {
        NaiveBayes::fit_train_split(&generate(Split::Train, seed, count), ngrams)
    }

    /// The n-gram setting it was fitted with.
    pub fn ngrams(&self) -> Ngrams {
        self.ngrams
    }

    /// Number of distinct features seen in training.
    pub fn vocabulary_len(&self) -> usize {
        self.vocabulary.len()
    }

    /// Number of training examples.
    pub fn examples(&self) -> usize {
        self.examples
    }

    /// Log-posterior score (up to a shared constant) of each intent kind, in
    /// [`Intent::ALL`] order; `None` for kinds absent from training.
    pub fn scores(&self, query: &str) -> Vec<Option<f64>> {
        let cols: Vec<usize> = features(query, self.ngrams)
            .iter()
            .filter_map(|f| self.vocabulary.get(f).copied())
            .collect();
        self.log_prior
            .iter()
            .zip(&self.log_likelihood)
            .map(|(prior, row)| {
                prior.map(|p| {
                    p + cols
                        .iter()
                        .map(|&j| row.get(j).copied().unwrap_or(0.0))
                        .sum::<f64>()
                })
            })
            .collect()
    }

    /// The most probable intent (number taken from the query). A query with no known
    /// feature gets the most frequent training intent.
    pub fn predict(&self, query: &str) -> Intent {
        let mut best: Option<(usize, f64)> = None;
        for (k, s) in self.scores(query).into_iter().enumerate() {
            if let Some(s) = s
                && best.is_none_or(|(_, b)| s > b)
            {
                best = Some((k, s));
            }
        }
        // `fit` saw at least one example, so some kind has a score.
        let kind = best
            .and_then(|(k, _)| Intent::ALL.get(k).copied())
            .unwrap_or(Intent::MemoryOverview);
        with_number(kind, query)
    }

    /// The baseline's command: [`NaiveBayes::predict`] then [`expert_command`].
    pub fn command(&self, state: &OsState, query: &str) -> Command {
        expert_command(state, self.predict(query))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn toy(ngrams: Ngrams) -> NaiveBayes {
        let pairs = [
            ("show memory", Intent::MemoryOverview),
            ("memory overview please", Intent::MemoryOverview),
            ("how much memory", Intent::MemoryOverview),
            ("list processes", Intent::ProcessList),
            ("show processes please", Intent::ProcessList),
            ("processes running", Intent::ProcessList),
            ("last 3 crashes", Intent::CrashHistory(3)),
            ("show 10 crashes", Intent::CrashHistory(10)),
        ];
        NaiveBayes::fit(pairs, ngrams).unwrap()
    }

    #[test]
    fn learns_a_separable_toy_set() {
        for ngrams in [Ngrams::Unigrams, Ngrams::UnigramsAndBigrams] {
            let nb = toy(ngrams);
            assert_eq!(nb.predict("memory please"), Intent::MemoryOverview);
            assert_eq!(nb.predict("show the processes"), Intent::ProcessList);
            assert_eq!(nb.predict("the 7 crashes"), Intent::CrashHistory(7));
            assert_eq!(nb.predict("900 crashes"), Intent::CrashHistory(64));
            assert_eq!(nb.examples(), 8);
        }
    }

    #[test]
    fn unknown_words_fall_back_to_the_prior() {
        let nb = toy(Ngrams::Unigrams);
        // MemoryOverview and ProcessList tie on the prior; the lower index wins.
        assert_eq!(nb.predict("purple elephants"), Intent::MemoryOverview);
        assert_eq!(nb.predict(""), Intent::MemoryOverview);
        // Kinds never seen in training are never predicted.
        assert!(nb.scores("uptime")[kind_index(Intent::Uptime)].is_none());
    }

    #[test]
    fn features_are_words_pairs_and_number_tokens() {
        assert_eq!(
            features("Show the LAST 12 crashes!", Ngrams::UnigramsAndBigrams),
            [
                "show",
                "the",
                "last",
                "<num>",
                "crashes",
                "show the",
                "the last",
                "last <num>",
                "<num> crashes"
            ]
        );
        assert!(features("  ?! ", Ngrams::UnigramsAndBigrams).is_empty());
    }

    #[test]
    fn fitting_refuses_nothing_and_held_out_templates() {
        assert_eq!(
            NaiveBayes::fit(core::iter::empty(), Ngrams::Unigrams),
            Err(FitError::NoExamples)
        );
        let test = generate(Split::Test, 1, 5);
        assert_eq!(
            NaiveBayes::fit_train_split(&test, Ngrams::Unigrams),
            Err(FitError::HeldOutTemplate(9))
        );
        let mut train = generate(Split::Train, 1, 50);
        train.extend(generate(Split::Validation, 1, 1));
        assert_eq!(
            NaiveBayes::fit_train_split(&train, Ngrams::Unigrams),
            Err(FitError::HeldOutTemplate(8))
        );
    }

    #[test]
    fn fitting_is_deterministic() {
        let a = NaiveBayes::fit_corpus(1, 2000, Ngrams::UnigramsAndBigrams).unwrap();
        let b = NaiveBayes::fit_corpus(1, 2000, Ngrams::UnigramsAndBigrams).unwrap();
        assert_eq!(a, b);
        let c = NaiveBayes::fit_corpus(2, 2000, Ngrams::UnigramsAndBigrams).unwrap();
        assert_ne!(a, c);
        for e in generate(Split::Test, 4, 100) {
            assert_eq!(a.predict(&e.query), b.predict(&e.query));
        }
    }

    #[test]
    fn fitted_on_train_it_beats_chance_on_held_out_templates() {
        // 19 intent kinds: chance is about 5 %. A classifier that learned nothing
        // (always the prior's favourite) stays near that.
        let nb = NaiveBayes::fit_corpus(1, 5000, Ngrams::UnigramsAndBigrams).unwrap();
        let test = generate(Split::Test, 1, 300);
        let right = test
            .iter()
            .filter(|e| nb.command(&e.state, &e.query) == e.command)
            .count();
        assert!(right * 2 > test.len(), "{right}/{}", test.len());
    }

    proptest! {
        #[test]
        fn never_panics_on_any_text(q in ".{0,200}") {
            let nb = toy(Ngrams::UnigramsAndBigrams);
            let intent = nb.predict(&q);
            let s = crate::state::sample_state();
            let _ = nb.command(&s, &q);
            prop_assert!(Intent::ALL.iter().any(|i| kind_index(*i) == kind_index(intent)));
        }
    }
}

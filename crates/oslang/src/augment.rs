//! Meaning-preserving noise for the operator task's training requests, so that a model keys on
//! the words that decide the answer (as naive Bayes does) instead of memorising whole
//! templates: unseen words around a request must not change its answer.
//!
//! [`Augmenter::augment`] applies, each with its own probability: insertion of one to three
//! real English words, drawn by frequency from the Debian `manpages` package (the Linux
//! man-pages project, GPL-2+; only a derived list of word frequencies is committed, made by
//! `data/make_manpage_words.py`), at random positions; a filler phrase at the start or the end;
//! deletion of one function word ("the", "me", "please", …); and synonym swaps from a small
//! hand-written table of exact synonyms ("display" for "show", "ram" for "memory",
//! "defragment" for "compact"); then, with the generator's own noise models, one typo (20 %)
//! and casing noise. Words that could change an answer are never inserted: every
//! word of the generator's templates (all families, both splits — used only to exclude) and a
//! stop list of negations, numbers, units and destructive verbs. The validation split is never
//! augmented, so its figures stay comparable; training applies this on every draw
//! (`nous-llm train --augment`).

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

use rng::SplitMix64;

/// `word count` lines, most frequent first (see the module documentation for the source).
pub const MANPAGE_WORDS: &str = include_str!("../data/manpage_words.txt");

/// Words never inserted as noise: they negate, name units or commands, or destroy (number
/// words come from the generator's own `ONES` and `TENS`).
const STOP: &[&str] = &[
    "not",
    "no",
    "never",
    "don",
    "dont",
    "without",
    "stop",
    "disable",
    "enable",
    "off",
    "undo",
    "revert",
    "back",
    "old",
    "new",
    "previous",
    "default",
    "hundred",
    "sixty",
    "hundred",
    "thousand",
    "million",
    "first",
    "second",
    "last",
    "half",
    "kib",
    "mib",
    "gib",
    "kilobytes",
    "megabytes",
    "gigabytes",
    "bytes",
    "pages",
    "page",
    "percent",
    "order",
    "threshold",
    "kill",
    "terminate",
    "delete",
    "remove",
    "unlink",
    "erase",
    "destroy",
    "wipe",
    "purge",
    "truncate",
    "overwrite",
    "format",
    "shutdown",
    "reboot",
    "halt",
    "poweroff",
    "restart",
    "drop",
    "flush",
    "free",
    "sync",
    "write",
    "mkdir",
    "rename",
    "move",
    "copy",
    "root",
    "sudo",
    "exec",
    "execute",
    "run",
    "start",
    "abort",
    "crash",
    "panic",
    "compact",
    "reclaim",
    "tune",
    "auto",
    "transformer",
    "scheduler",
    "schedule",
    "memory",
    "swap",
    "signal",
    "fork",
    "mount",
    "umount",
    "unmount",
    "chmod",
    "chown",
    "install",
    "upgrade",
    "update",
    "change",
    "set",
    "reset",
    "clear",
    "increase",
    "decrease",
    "raise",
    "lower",
    "limit",
    "faster",
    "slow",
    "slower",
    "speed",
    "fix",
    "help",
    "why",
    "what",
    "how",
    "which",
    "who",
    "when",
    "should",
    "must",
    "fine",
    "instead",
    "rather",
    "only",
    "except",
    "but",
    "unless",
    "false",
    "true",
    "zero",
    "none",
    "nothing",
    "all",
    "every",
    "each",
    "both",
    "more",
    "less",
    "few",
    "many",
    "most",
    "least",
    "minimum",
    "maximum",
    "max",
    "min",
];

/// Function words a request survives without ("show me the memory" → "show memory").
const DROPPABLE: &[&str] = &[
    "the", "a", "an", "me", "my", "please", "is", "are", "of", "to", "for", "us", "some", "our",
    "this", "that", "can", "you",
];

/// Exact synonyms: (words in the template, replacements). Multi-word keys match whole words.
const SYNONYMS: &[(&str, &[&str])] = &[
    (
        "show",
        &["display", "print", "give me", "report", "tell me"],
    ),
    (
        "show me",
        &["display", "give me", "let me see", "i want to see"],
    ),
    ("list", &["show", "enumerate", "display"]),
    ("memory", &["ram", "mem", "main memory"]),
    ("threads", &["tasks", "processes", "jobs"]),
    ("thread", &["task", "process", "job"]),
    ("disk", &["drive", "storage", "volume"]),
    ("machine", &["box", "system", "host", "computer"]),
    ("please", &["pls", "plz", "kindly"]),
    ("check", &["inspect", "look at", "examine"]),
    ("stats", &["statistics", "numbers", "figures", "counters"]),
    ("statistics", &["stats", "numbers", "counters"]),
    ("right now", &["currently", "at the moment", "at present"]),
    ("compact", &["defragment", "defrag"]),
    ("compaction", &["defragmentation"]),
    ("turn on", &["switch on", "enable", "activate"]),
    ("turn off", &["switch off", "disable", "deactivate"]),
    ("slow", &["sluggish", "laggy"]),
    ("fast", &["quick", "snappy"]),
    ("big", &["large", "huge"]),
    ("give me", &["show me", "hand me", "get me"]),
    ("what is", &["what's", "whats"]),
    ("how many", &["the number of", "count of"]),
    ("delete", &["erase", "remove"]),
];

/// Every word of the synonym table and the filler phrases (split at apostrophes), which the
/// spelling normaliser ([`crate::spelling`]) must know.
pub fn phrase_word_iter() -> impl Iterator<Item = &'static str> {
    SYNONYMS
        .iter()
        .flat_map(|(key, with)| core::iter::once(*key).chain(with.iter().copied()))
        .chain(FILLERS.iter().copied())
        .flat_map(|p| p.split(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| !w.is_empty())
}

/// Polite, vague or chatty phrases that carry no request.
const FILLERS: &[&str] = &[
    "when you get a chance",
    "real quick",
    "for me",
    "if possible",
    "i need this for a report",
    "thanks",
    "thank you",
    "ok so",
    "um",
    "quick question",
    "asap",
    "right away",
    "if you can",
    "hmm",
    "btw",
    "for the ops team",
    "on this box",
    "hello",
    "good morning",
    "i was wondering",
    "could you",
    "would you mind",
    "as soon as you can",
    "cheers",
];

/// Share (percent) of augmented requests that also get one typo (the generator's own typo
/// model: a swapped, dropped or doubled letter); casing noise is drawn on every augmentation.
const TYPO_PERCENT: u64 = 20;

/// Draws noise for training requests (see the module documentation).
pub struct Augmenter {
    /// Insertable words, each repeated by a weight that grows with its frequency.
    words: Vec<&'static str>,
}

impl Augmenter {
    /// The augmenter over the committed word list minus every template word and the stop list.
    pub fn new() -> Self {
        let excluded: BTreeSet<&str> = crate::task::template_words()
            .into_iter()
            .chain(STOP.iter().copied())
            .chain(crate::task::ONES.iter().copied())
            .chain(crate::task::TENS.iter().copied().filter(|w| !w.is_empty()))
            .collect();
        let mut words = Vec::new();
        for line in MANPAGE_WORDS.lines() {
            let mut it = line.split(' ');
            let (Some(word), Some(count)) = (it.next(), it.next()) else {
                continue;
            };
            if excluded.contains(word) || !word.bytes().all(|b| b.is_ascii_lowercase()) {
                continue;
            }
            // Weight ~ log2(count): frequent words more often, rare ones still drawn.
            let weight = 64 - count.parse::<u64>().unwrap_or(1).max(1).leading_zeros();
            for _ in 0..weight {
                words.push(word);
            }
        }
        Augmenter { words }
    }

    /// Distinct insertable words.
    pub fn vocabulary(&self) -> usize {
        self.words.iter().collect::<BTreeSet<_>>().len()
    }

    /// Whether `word` may be inserted as noise.
    pub fn may_insert(&self, word: &str) -> bool {
        self.words.contains(&word)
    }

    /// `query` with noise that keeps its meaning (deterministic in `rng`).
    pub fn augment(&self, rng: &mut SplitMix64, query: &str) -> String {
        let mut words: Vec<String> = query.split(' ').map(String::from).collect();
        if rng.below(100) < 30 {
            swap_synonym(rng, &mut words);
        }
        if rng.below(100) < 20 {
            let droppable: Vec<usize> = (0..words.len())
                .filter(|&i| words.len() > 2 && DROPPABLE.contains(&words[i].as_str()))
                .collect();
            if let Some(&i) = rng.pick(&droppable) {
                words.remove(i);
            }
        }
        if rng.below(100) < 40 && !self.words.is_empty() {
            for _ in 0..rng.range(1, 3) {
                let at = rng.below(words.len() as u64 + 1) as usize;
                let w = rng.pick(&self.words).copied().unwrap_or("");
                words.insert(at, w.to_string());
            }
        }
        let mut text = words.join(" ");
        if rng.below(100) < 20 {
            let filler = rng.pick(FILLERS).copied().unwrap_or("");
            text = if rng.below(2) == 0 {
                alloc::format!("{filler}, {text}")
            } else {
                alloc::format!("{text}, {filler}")
            };
        }
        if rng.below(100) < TYPO_PERCENT {
            text = crate::task::typo(rng, &text);
        }
        crate::task::casing(rng, &text)
    }
}

impl Default for Augmenter {
    fn default() -> Self {
        Self::new()
    }
}

/// Replaces one synonym-table key found in `words` (whole words) with a synonym.
fn swap_synonym(rng: &mut SplitMix64, words: &mut Vec<String>) {
    let mut found = Vec::new();
    for (k, (key, _)) in SYNONYMS.iter().enumerate() {
        let key: Vec<&str> = key.split(' ').collect();
        for i in 0..words.len() {
            if words.len() >= i + key.len() && (0..key.len()).all(|j| words[i + j] == key[j]) {
                found.push((k, i, key.len()));
            }
        }
    }
    let Some(&(k, i, len)) = rng.pick(&found) else {
        return;
    };
    let Some(&with) = rng.pick(SYNONYMS[k].1) else {
        return;
    };
    words.splice(i..i + len, with.split(' ').map(String::from));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::{Split, generate};

    #[test]
    fn the_word_list_is_large_and_excludes_meaningful_words() {
        let a = Augmenter::new();
        assert!(a.vocabulary() > 2000, "{}", a.vocabulary());
        for w in [
            "not", "delete", "compact", "memory", "five", "stop", "kill", "free",
        ] {
            assert!(!a.may_insert(w), "{w}");
        }
        assert!(a.may_insert("socket") || a.may_insert("descriptor"));
    }

    #[test]
    fn augmentation_keeps_the_request_words_and_varies() {
        let a = Augmenter::new();
        let mut rng = SplitMix64::new(7);
        let mut changed = 0;
        for e in generate(Split::Train, 3, 400) {
            let out = a.augment(&mut rng, &e.query);
            changed += usize::from(out != e.query);
            // Casing noise aside, only inserted words, fillers, synonyms and one typo of a
            // word of four or more letters are new; numbers survive, and so do the negations
            // a typo cannot reach ("stop" can get a typo, as in the generator).
            let out = out.to_ascii_lowercase();
            for w in e
                .query
                .split(' ')
                .filter(|w| w.bytes().any(|b| b.is_ascii_digit()))
            {
                assert!(out.contains(w), "{:?} lost {w:?}: {out:?}", e.query);
            }
            for neg in ["don't", "not"] {
                if e.query.split(' ').any(|w| w == neg) {
                    assert!(out.contains(neg), "{:?} lost {neg:?}: {out:?}", e.query);
                }
            }
        }
        assert!(changed > 200 && changed < 400, "{changed}");
    }

    #[test]
    fn augmentation_is_deterministic() {
        let a = Augmenter::new();
        let (mut r1, mut r2) = (SplitMix64::new(1), SplitMix64::new(1));
        for q in ["show me the memory stats", "compact memory", "x"] {
            assert_eq!(a.augment(&mut r1, q), a.augment(&mut r2, q));
        }
    }
}

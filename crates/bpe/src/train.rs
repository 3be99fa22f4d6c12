//! BPE training: learn merges from a corpus.
//!
//! The corpus is cut into words ([`crate::pretokenize`]) and only unique words with their
//! counts are kept. Each round counts adjacent token pairs over those words, merges the
//! most frequent pair into a new token, and rewrites the words. Ties go to the pair whose
//! `(left bytes, right bytes)` sorts first, so the merge order depends only on the corpus.
//! Recounting every round is O(merges × unique-word bytes); that is simple and fast
//! enough for the few-thousand-word corpora of `oslang`.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::{LoadError, Merge, Tokenizer, pretokenize};

/// Settings for [`Tokenizer::train`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrainConfig {
    /// Total vocabulary size including the 256 byte tokens and the special tokens.
    /// Training stops earlier if no pair occurs `min_frequency` times.
    pub vocab_size: usize,
    /// A pair must occur at least this often (weighted by word counts) to be merged.
    pub min_frequency: u64,
    /// Special tokens, given ids after all byte and merged tokens, in this order.
    pub special_tokens: Vec<String>,
}

/// Error from [`Tokenizer::train`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrainError {
    /// `vocab_size` is smaller than 256 byte tokens plus the special tokens.
    VocabTooSmall {
        /// The requested size.
        requested: usize,
        /// The smallest size that fits bytes and specials.
        minimum: usize,
    },
    /// A special token is empty or listed twice.
    BadSpecial(String),
    /// The learned vocabulary failed its own consistency check (a bug in this crate,
    /// reported instead of panicking).
    Inconsistent(LoadError),
}

impl fmt::Display for TrainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrainError::VocabTooSmall { requested, minimum } => {
                write!(f, "vocab size {requested} is below the minimum {minimum}")
            }
            TrainError::BadSpecial(s) => write!(f, "special token {s:?} is empty or duplicated"),
            TrainError::Inconsistent(e) => write!(f, "trained vocabulary is inconsistent: {e}"),
        }
    }
}

impl core::error::Error for TrainError {}

impl Tokenizer {
    /// Trains a tokenizer on `texts` (see the module documentation for the algorithm).
    pub fn train<'a>(
        texts: impl IntoIterator<Item = &'a [u8]>,
        config: &TrainConfig,
    ) -> Result<Tokenizer, TrainError> {
        let minimum = 256 + config.special_tokens.len();
        if config.vocab_size < minimum {
            return Err(TrainError::VocabTooSmall {
                requested: config.vocab_size,
                minimum,
            });
        }
        let mut word_counts: BTreeMap<&[u8], u64> = BTreeMap::new();
        for text in texts {
            for w in pretokenize::words(text) {
                *word_counts.entry(w).or_insert(0) += 1;
            }
        }
        let mut words: Vec<(Vec<u32>, u64)> = word_counts
            .into_iter()
            .map(|(w, c)| (w.iter().map(|&b| u32::from(b)).collect(), c))
            .collect();
        let mut tokens: Vec<Option<Vec<u8>>> = (0u8..=255).map(|b| Some(alloc::vec![b])).collect();
        let mut merges = Vec::new();
        let max_normal = config.vocab_size - config.special_tokens.len();
        while tokens.len() < max_normal {
            let mut pair_counts: BTreeMap<(u32, u32), u64> = BTreeMap::new();
            for (syms, count) in &words {
                for p in syms.windows(2) {
                    if let [l, r] = p {
                        *pair_counts.entry((*l, *r)).or_insert(0) += count;
                    }
                }
            }
            let bytes = |id: u32| tokens.get(id as usize).and_then(|t| t.as_deref());
            let best = pair_counts
                .iter()
                .filter(|&(_, &c)| c >= config.min_frequency.max(1))
                .max_by(|(pa, ca), (pb, cb)| {
                    // Higher count wins; on equal counts the smaller byte pair wins.
                    ca.cmp(cb)
                        .then_with(|| (bytes(pb.0), bytes(pb.1)).cmp(&(bytes(pa.0), bytes(pa.1))))
                })
                .map(|(&p, _)| p);
            let Some((left, right)) = best else { break };
            let mut merged = bytes(left).unwrap_or_default().to_vec();
            merged.extend_from_slice(bytes(right).unwrap_or_default());
            // `tokens.len()` < `vocab_size` which came from a usize; ids fit in u32
            // because vocabularies beyond 4 billion tokens are not a use case here.
            let result = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
            tokens.push(Some(merged));
            merges.push(Merge {
                left,
                right,
                result,
            });
            for (syms, _) in &mut words {
                apply_merge(syms, left, right, result);
            }
        }
        let mut specials = BTreeMap::new();
        for s in &config.special_tokens {
            let id = u32::try_from(tokens.len()).unwrap_or(u32::MAX);
            if s.is_empty() || specials.insert(s.clone(), id).is_some() {
                return Err(TrainError::BadSpecial(s.clone()));
            }
            tokens.push(None);
        }
        Tokenizer::from_parts(tokens, merges, specials).map_err(TrainError::Inconsistent)
    }
}

/// Replaces every non-overlapping `(left, right)` in `syms`, scanning left to right.
fn apply_merge(syms: &mut Vec<u32>, left: u32, right: u32, result: u32) {
    let mut out = Vec::with_capacity(syms.len());
    let mut i = 0;
    while i < syms.len() {
        if syms.get(i) == Some(&left) && syms.get(i + 1) == Some(&right) {
            out.push(result);
            i += 2;
        } else if let Some(&s) = syms.get(i) {
            out.push(s);
            i += 1;
        }
    }
    *syms = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(vocab_size: usize) -> TrainConfig {
        TrainConfig {
            vocab_size,
            min_frequency: 2,
            special_tokens: alloc::vec![crate::BOS.into(), crate::EOS.into(), crate::PAD.into()],
        }
    }

    #[test]
    fn ties_are_broken_by_pair_bytes() {
        // "ab" and "cd" both occur twice; "ab" sorts first and is merged first.
        let corpus: [&[u8]; 2] = [b"cd ab", b"ab cd"];
        let t = Tokenizer::train(corpus.iter().copied(), &cfg(256 + 3 + 1)).unwrap();
        let m = t.merges();
        assert_eq!(m.len(), 1);
        assert_eq!(t.token_bytes(m[0].result), Some(&b"ab"[..]));
    }

    #[test]
    fn training_is_deterministic() {
        let corpus: Vec<&[u8]> =
            alloc::vec![b"the quick brown fox", b"the lazy dog", b"quick quick"];
        let a = Tokenizer::train(corpus.iter().copied(), &cfg(300)).unwrap();
        let b = Tokenizer::train(corpus.iter().copied(), &cfg(300)).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn stops_when_pairs_are_rare() {
        let corpus: [&[u8]; 1] = [b"abcdefg"];
        let t = Tokenizer::train(corpus.iter().copied(), &cfg(1000)).unwrap();
        assert!(t.merges().is_empty());
        assert_eq!(t.vocab_size(), 256 + 3);
    }

    #[test]
    fn rejects_too_small_vocab_and_bad_specials() {
        assert!(matches!(
            Tokenizer::train(core::iter::empty(), &cfg(100)),
            Err(TrainError::VocabTooSmall { minimum: 259, .. })
        ));
        let mut c = cfg(300);
        c.special_tokens.push(crate::BOS.into());
        assert_eq!(
            Tokenizer::train(core::iter::empty(), &c),
            Err(TrainError::BadSpecial(crate::BOS.into()))
        );
    }

    #[test]
    fn overlapping_pairs_merge_left_to_right() {
        let mut s = alloc::vec![1, 1, 1];
        apply_merge(&mut s, 1, 1, 9);
        assert_eq!(s, [9, 1]);
    }
}

//! Byte-level byte-pair-encoding tokenizer for the Nous language model.
//!
//! Design principles:
//! - **Any byte string round-trips.** The 256 single bytes are always tokens, so
//!   `decode(encode(x)) == x` for every `x`; there is no unknown token.
//! - **Deterministic.** Training picks the most frequent pair and breaks ties by the
//!   pair's bytes, so the same corpus always gives the same vocabulary.
//! - **Interoperable.** Saved as a Hugging Face `tokenizer.json` (ByteLevel BPE), see
//!   [`json`]; loading untrusted bytes returns a [`LoadError`], never panics.
//! - **Kernel-ready.** `no_std + alloc`, no unsafe; simple algorithms over clever ones.
//!
//! Modules: [`pretokenize`] splits text into words, [`train`] learns merges,
//! [`json`] reads and writes `tokenizer.json`. [`Tokenizer`] (this file) encodes and
//! decodes. The neighbour crate `oslang` uses [`Tokenizer::token_bytes`] to build
//! constrained-decoding masks.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod json;
pub mod pretokenize;
pub mod train;

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

pub use json::LoadError;
pub use train::{TrainConfig, TrainError};

/// Beginning-of-sequence special token.
pub const BOS: &str = "<bos>";
/// End-of-sequence special token; the model emits it after a complete command.
pub const EOS: &str = "<eos>";
/// Padding special token.
pub const PAD: &str = "<pad>";
/// Separator special token (between a prompt and its completion, if a caller wants one).
pub const SEP: &str = "<sep>";

/// One learned merge: the pair `(left, right)` becomes `result`; lower rank applies first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Merge {
    /// Left token id.
    pub left: u32,
    /// Right token id.
    pub right: u32,
    /// Id of the merged token.
    pub result: u32,
}

/// A byte-level BPE vocabulary: byte tokens, merged tokens and special tokens.
///
/// Invariants (established by every constructor): token ids are `0..vocab_size()`
/// without holes; every single byte has a token; each merge's result has exactly the
/// bytes of its left then right token; special tokens have no bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tokenizer {
    /// Bytes of each id; `None` for special tokens.
    tokens: Vec<Option<Vec<u8>>>,
    /// Merges in rank order.
    merges: Vec<Merge>,
    /// `(left, right)` → `(rank, result)`.
    ranks: BTreeMap<(u32, u32), (u32, u32)>,
    /// Byte value → its single-byte token id.
    byte_ids: [u32; 256],
    /// Special token content → id.
    specials: BTreeMap<String, u32>,
}

/// Error from [`Tokenizer::decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The id is not in the vocabulary.
    UnknownId(u32),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::UnknownId(id) => write!(f, "token id {id} is not in the vocabulary"),
        }
    }
}

impl core::error::Error for DecodeError {}

impl Tokenizer {
    /// Builds a tokenizer from its parts, checking every invariant listed on the type.
    ///
    /// `tokens[id]` is `Some(bytes)` for normal tokens and `None` for specials;
    /// `specials` maps each special's content to its id.
    pub fn from_parts(
        tokens: Vec<Option<Vec<u8>>>,
        merges: Vec<Merge>,
        specials: BTreeMap<String, u32>,
    ) -> Result<Self, LoadError> {
        let mut byte_ids = [u32::MAX; 256];
        let mut seen_normal: BTreeMap<&[u8], u32> = BTreeMap::new();
        for (id, tok) in tokens.iter().enumerate() {
            let id = u32::try_from(id).map_err(|_| LoadError::TooManyTokens)?;
            if let Some(bytes) = tok {
                if bytes.is_empty() {
                    return Err(LoadError::EmptyToken(id));
                }
                if seen_normal.insert(bytes.as_slice(), id).is_some() {
                    return Err(LoadError::DuplicateToken(id));
                }
                if let [b] = bytes.as_slice() {
                    byte_ids[usize::from(*b)] = id;
                }
            }
        }
        if let Some(b) = byte_ids.iter().position(|&id| id == u32::MAX) {
            // `position` is < 256, so the cast cannot truncate.
            return Err(LoadError::MissingByte(b as u8));
        }
        let mut special_ids = 0usize;
        for (name, &id) in &specials {
            match tokens.get(id as usize) {
                Some(None) => special_ids += 1,
                _ => return Err(LoadError::BadSpecial(name.clone())),
            }
        }
        if special_ids != tokens.iter().filter(|t| t.is_none()).count() {
            return Err(LoadError::UnnamedSpecial);
        }
        let mut ranks = BTreeMap::new();
        for (rank, m) in merges.iter().enumerate() {
            let bytes = |id: u32| tokens.get(id as usize).and_then(|t| t.as_deref());
            let (Some(l), Some(r), Some(res)) = (bytes(m.left), bytes(m.right), bytes(m.result))
            else {
                return Err(LoadError::BadMerge(rank));
            };
            if res.len() != l.len() + r.len() || !res.starts_with(l) || !res.ends_with(r) {
                return Err(LoadError::BadMerge(rank));
            }
            let rank = u32::try_from(rank).map_err(|_| LoadError::TooManyTokens)?;
            if ranks.insert((m.left, m.right), (rank, m.result)).is_some() {
                return Err(LoadError::BadMerge(rank as usize));
            }
        }
        Ok(Tokenizer {
            tokens,
            merges,
            ranks,
            byte_ids,
            specials,
        })
    }

    /// Number of token ids (bytes + merges + specials).
    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The merges in rank order.
    pub fn merges(&self) -> &[Merge] {
        &self.merges
    }

    /// The bytes token `id` adds to the output, or `None` for special tokens and
    /// unknown ids. A constrained decoder uses this to test candidate tokens.
    pub fn token_bytes(&self, id: u32) -> Option<&[u8]> {
        self.tokens.get(id as usize).and_then(|t| t.as_deref())
    }

    /// Id of a special token by its content (e.g. [`EOS`]).
    pub fn special_id(&self, content: &str) -> Option<u32> {
        self.specials.get(content).copied()
    }

    /// Whether `id` is a special token.
    pub fn is_special(&self, id: u32) -> bool {
        matches!(self.tokens.get(id as usize), Some(None))
    }

    /// Special tokens as `(content, id)`, sorted by content.
    pub fn specials(&self) -> impl Iterator<Item = (&str, u32)> {
        self.specials.iter().map(|(k, &v)| (k.as_str(), v))
    }

    /// Encodes bytes into token ids. Special-token text such as `"<eos>"` in the input is
    /// encoded as ordinary bytes; callers add special ids themselves.
    pub fn encode(&self, text: &[u8]) -> Vec<u32> {
        let mut out = Vec::with_capacity(text.len());
        for word in pretokenize::words(text) {
            self.encode_word(word, &mut out);
        }
        out
    }

    /// Applies merges to one pre-tokenized word: repeatedly merge the adjacent pair of
    /// lowest rank (leftmost on ties), as Hugging Face's BPE model does.
    fn encode_word(&self, word: &[u8], out: &mut Vec<u32>) {
        let mut syms: Vec<u32> = word
            .iter()
            .map(|&b| self.byte_ids[usize::from(b)])
            .collect();
        loop {
            let mut best: Option<(u32, usize, u32)> = None;
            for (i, pair) in syms.windows(2).enumerate() {
                if let [l, r] = pair
                    && let Some(&(rank, result)) = self.ranks.get(&(*l, *r))
                    && best.is_none_or(|(best_rank, _, _)| rank < best_rank)
                {
                    best = Some((rank, i, result));
                }
            }
            let Some((_, i, result)) = best else { break };
            syms[i] = result;
            syms.remove(i + 1);
        }
        out.extend_from_slice(&syms);
    }

    /// Decodes ids back to bytes. Special tokens contribute no bytes.
    pub fn decode(&self, ids: &[u32]) -> Result<Vec<u8>, DecodeError> {
        let mut out = Vec::new();
        for &id in ids {
            match self.tokens.get(id as usize) {
                Some(Some(bytes)) => out.extend_from_slice(bytes),
                Some(None) => {}
                None => return Err(DecodeError::UnknownId(id)),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> Tokenizer {
        let corpus: [&[u8]; 3] = [b"memctl compact", b"memctl reclaim", b"memctl stats"];
        Tokenizer::train(
            corpus.iter().copied(),
            &TrainConfig {
                vocab_size: 300,
                min_frequency: 2,
                special_tokens: alloc::vec![BOS.into(), EOS.into()],
            },
        )
        .expect("train")
    }

    #[test]
    fn frequent_words_become_single_tokens() {
        let t = small();
        assert_eq!(t.encode(b"memctl").len(), 1);
        assert_eq!(
            t.decode(&t.encode(b"memctl stats")).unwrap(),
            b"memctl stats"
        );
    }

    #[test]
    fn specials_have_ids_and_no_bytes() {
        let t = small();
        let eos = t.special_id(EOS).unwrap();
        assert!(t.is_special(eos));
        assert_eq!(t.token_bytes(eos), None);
        assert_eq!(t.decode(&[eos]).unwrap(), b"");
        assert_eq!(t.special_id(PAD), None);
    }

    #[test]
    fn unknown_id_is_an_error() {
        let t = small();
        let n = t.vocab_size() as u32;
        assert_eq!(t.decode(&[n]), Err(DecodeError::UnknownId(n)));
        assert_eq!(t.token_bytes(n), None);
    }

    #[test]
    fn special_text_is_encoded_as_bytes() {
        let t = small();
        let ids = t.encode(b"<eos>");
        assert!(ids.iter().all(|&id| !t.is_special(id)));
        assert_eq!(t.decode(&ids).unwrap(), b"<eos>");
    }

    #[test]
    fn from_parts_rejects_missing_byte() {
        let tokens: Vec<Option<Vec<u8>>> = (0u8..255).map(|b| Some(alloc::vec![b])).collect();
        assert_eq!(
            Tokenizer::from_parts(tokens, Vec::new(), BTreeMap::new()),
            Err(LoadError::MissingByte(255))
        );
    }

    #[test]
    fn from_parts_rejects_inconsistent_merge() {
        let mut tokens: Vec<Option<Vec<u8>>> = (0u8..=255).map(|b| Some(alloc::vec![b])).collect();
        tokens.push(Some(b"ab".to_vec()));
        let bad = Merge {
            left: u32::from(b'a'),
            right: u32::from(b'c'),
            result: 256,
        };
        assert_eq!(
            Tokenizer::from_parts(tokens, alloc::vec![bad], BTreeMap::new()),
            Err(LoadError::BadMerge(0))
        );
    }
}

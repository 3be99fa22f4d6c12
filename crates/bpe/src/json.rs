//! `tokenizer.json` in the Hugging Face `tokenizers` layout (ByteLevel BPE).
//!
//! [`Tokenizer::to_json`] writes: `model` = `{"type": "BPE", "vocab": {token: id},
//! "merges": ["left right", …]}` with tokens spelled in GPT-2's byte-to-unicode alphabet
//! (every byte is a printable char, so a space is `Ġ`); `added_tokens` = the special
//! tokens (`special: true`); `pre_tokenizer` = `Sequence[Split(" ", MergedWithNext),
//! ByteLevel(use_regex=false)]` matching [`crate::pretokenize`]; `decoder` = ByteLevel.
//! [`Tokenizer::from_json`] reads that layout back from untrusted bytes and reports a
//! [`LoadError`] naming what is wrong. Merges may be `"a b"` strings or `["a", "b"]`
//! pairs (both appear in Hugging Face files). Other pre-tokenizers are rejected because
//! this crate could not reproduce their splitting.

use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde_json::{Map, Value, json};

use crate::{Merge, Tokenizer};

/// Error from [`Tokenizer::from_json`] or [`Tokenizer::from_parts`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadError {
    /// The bytes are not valid JSON (serde_json's message).
    Json(String),
    /// A required field is missing or has the wrong JSON type; the value names it.
    Field(&'static str),
    /// `model.type` is not `"BPE"`.
    NotBpe,
    /// The pre-tokenizer is not the one this crate implements.
    UnsupportedPreTokenizer,
    /// A vocabulary string contains a char outside the byte-level alphabet.
    BadTokenString(String),
    /// Two entries claim the same id, or ids leave a hole; the value is the id.
    BadId(u64),
    /// Token `id` has no bytes but is not special.
    EmptyToken(u32),
    /// Two tokens have the same bytes; the value is the later id.
    DuplicateToken(u32),
    /// No token for this single byte, so some inputs could not be encoded.
    MissingByte(u8),
    /// Merge at this rank is malformed, names unknown tokens, or repeats a pair.
    BadMerge(usize),
    /// A special token's id is out of range or belongs to a normal token.
    BadSpecial(String),
    /// A token has no bytes but no special-token name.
    UnnamedSpecial,
    /// More tokens than ids fit in `u32`.
    TooManyTokens,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Json(m) => write!(f, "tokenizer.json is not valid JSON: {m}"),
            LoadError::Field(name) => write!(f, "tokenizer.json: field {name} missing or mistyped"),
            LoadError::NotBpe => write!(f, "tokenizer.json: model.type is not \"BPE\""),
            LoadError::UnsupportedPreTokenizer => {
                write!(f, "tokenizer.json: unsupported pre_tokenizer")
            }
            LoadError::BadTokenString(s) => {
                write!(f, "tokenizer.json: token {s:?} is not byte-level text")
            }
            LoadError::BadId(id) => {
                write!(f, "tokenizer.json: id {id} duplicated or ids have a hole")
            }
            LoadError::EmptyToken(id) => write!(f, "token {id} is empty"),
            LoadError::DuplicateToken(id) => write!(f, "token {id} repeats an earlier token"),
            LoadError::MissingByte(b) => write!(f, "no token for byte 0x{b:02x}"),
            LoadError::BadMerge(rank) => write!(f, "merge {rank} is malformed or inconsistent"),
            LoadError::BadSpecial(s) => write!(f, "special token {s:?} has a bad id"),
            LoadError::UnnamedSpecial => write!(f, "a token without bytes has no special name"),
            LoadError::TooManyTokens => write!(f, "too many tokens"),
        }
    }
}

impl core::error::Error for LoadError {}

/// GPT-2's byte → char table: printable Latin-1 bytes map to themselves, the other 68
/// bytes to U+0100 onwards in byte order.
pub fn byte_to_char(b: u8) -> char {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    if printable(b) {
        char::from(b)
    } else {
        let n = (0..b).filter(|&x| !printable(x)).count() as u32;
        // 256 + n with n < 256 is always a valid scalar value (U+0100..U+01FF).
        char::from_u32(256 + n).unwrap_or('\u{100}')
    }
}

/// Inverse of [`byte_to_char`].
pub fn char_to_byte(c: char) -> Option<u8> {
    (0u8..=255).find(|&b| byte_to_char(b) == c)
}

fn to_byte_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| byte_to_char(b)).collect()
}

fn from_byte_text(s: &str, table: &BTreeMap<char, u8>) -> Result<Vec<u8>, LoadError> {
    s.chars()
        .map(|c| table.get(&c).copied())
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| LoadError::BadTokenString(s.to_string()))
}

fn pre_tokenizer_json() -> Value {
    json!({
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"String": " "}, "behavior": "MergedWithNext", "invert": false},
            {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false}
        ]
    })
}

impl Tokenizer {
    /// Serialises to Hugging Face `tokenizer.json` text (see the module documentation).
    pub fn to_json(&self) -> String {
        let mut vocab = Map::new();
        let mut added = Vec::new();
        for id in 0..self.tokens.len() as u32 {
            if let Some(bytes) = self.token_bytes(id) {
                vocab.insert(to_byte_text(bytes), json!(id));
            }
        }
        let mut specials: Vec<(&str, u32)> = self.specials().collect();
        specials.sort_by_key(|&(_, id)| id);
        for (content, id) in specials {
            added.push(json!({
                "id": id, "content": content, "single_word": false, "lstrip": false,
                "rstrip": false, "normalized": false, "special": true
            }));
        }
        let merges: Vec<Value> = self
            .merges
            .iter()
            .map(|m| {
                let side = |id| to_byte_text(self.token_bytes(id).unwrap_or_default());
                Value::String(alloc::format!("{} {}", side(m.left), side(m.right)))
            })
            .collect();
        let doc = json!({
            "version": "1.0",
            "truncation": null,
            "padding": null,
            "added_tokens": added,
            "normalizer": null,
            "pre_tokenizer": pre_tokenizer_json(),
            "post_processor": null,
            "decoder": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false, "use_regex": false},
            "model": {
                "type": "BPE", "dropout": null, "unk_token": null,
                "continuing_subword_prefix": null, "end_of_word_suffix": null,
                "fuse_unk": false, "byte_fallback": false, "ignore_merges": false,
                "vocab": vocab, "merges": merges
            }
        });
        // Serialising a `Value` cannot fail (all keys are strings).
        serde_json::to_string_pretty(&doc).unwrap_or_default()
    }

    /// Parses `tokenizer.json` bytes (see the module documentation).
    pub fn from_json(bytes: &[u8]) -> Result<Tokenizer, LoadError> {
        let doc: Value =
            serde_json::from_slice(bytes).map_err(|e| LoadError::Json(e.to_string()))?;
        let model = doc.get("model").ok_or(LoadError::Field("model"))?;
        if model.get("type").and_then(Value::as_str) != Some("BPE") {
            return Err(LoadError::NotBpe);
        }
        if doc.get("pre_tokenizer") != Some(&pre_tokenizer_json()) {
            return Err(LoadError::UnsupportedPreTokenizer);
        }
        let table: BTreeMap<char, u8> = (0u8..=255).map(|b| (byte_to_char(b), b)).collect();
        let vocab = model
            .get("vocab")
            .and_then(Value::as_object)
            .ok_or(LoadError::Field("model.vocab"))?;
        let mut by_id: BTreeMap<u64, Option<Vec<u8>>> = BTreeMap::new();
        let mut id_of: BTreeMap<&str, u32> = BTreeMap::new();
        for (text, id) in vocab {
            let id = id.as_u64().ok_or(LoadError::Field("model.vocab[*]"))?;
            let small = u32::try_from(id).map_err(|_| LoadError::BadId(id))?;
            if by_id
                .insert(id, Some(from_byte_text(text, &table)?))
                .is_some()
            {
                return Err(LoadError::BadId(id));
            }
            id_of.insert(text.as_str(), small);
        }
        let mut specials = BTreeMap::new();
        let added = match doc.get("added_tokens") {
            None | Some(Value::Null) => &[][..],
            Some(v) => v
                .as_array()
                .ok_or(LoadError::Field("added_tokens"))?
                .as_slice(),
        };
        for tok in added {
            let id = tok
                .get("id")
                .and_then(Value::as_u64)
                .ok_or(LoadError::Field("added_tokens[*].id"))?;
            let content = tok
                .get("content")
                .and_then(Value::as_str)
                .ok_or(LoadError::Field("added_tokens[*].content"))?;
            let small = u32::try_from(id).map_err(|_| LoadError::BadId(id))?;
            if by_id.insert(id, None).is_some()
                || specials.insert(content.to_string(), small).is_some()
            {
                return Err(LoadError::BadId(id));
            }
        }
        let mut tokens = Vec::with_capacity(by_id.len());
        for (expected, (id, tok)) in by_id.into_iter().enumerate() {
            if id != expected as u64 {
                return Err(LoadError::BadId(expected as u64));
            }
            tokens.push(tok);
        }
        let raw_merges = model
            .get("merges")
            .and_then(Value::as_array)
            .ok_or(LoadError::Field("model.merges"))?;
        let mut merges = Vec::with_capacity(raw_merges.len());
        for (rank, m) in raw_merges.iter().enumerate() {
            let (l, r) = match m {
                Value::String(s) => s.split_once(' ').ok_or(LoadError::BadMerge(rank))?,
                Value::Array(pair) => match pair.as_slice() {
                    [Value::String(l), Value::String(r)] => (l.as_str(), r.as_str()),
                    _ => return Err(LoadError::BadMerge(rank)),
                },
                _ => return Err(LoadError::BadMerge(rank)),
            };
            let joined = alloc::format!("{l}{r}");
            let (Some(&left), Some(&right), Some(&result)) =
                (id_of.get(l), id_of.get(r), id_of.get(joined.as_str()))
            else {
                return Err(LoadError::BadMerge(rank));
            };
            merges.push(Merge {
                left,
                right,
                result,
            });
        }
        Tokenizer::from_parts(tokens, merges, specials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrainConfig;

    fn trained() -> Tokenizer {
        let corpus: [&[u8]; 4] = [
            b"crashctl status",
            b"crashctl history 10",
            b"schedctl transformer on",
            b"\xff\x00 bytes \xc3\xa9",
        ];
        Tokenizer::train(
            corpus.iter().copied(),
            &TrainConfig {
                vocab_size: 320,
                min_frequency: 1,
                special_tokens: alloc::vec![crate::BOS.into(), crate::EOS.into()],
            },
        )
        .unwrap()
    }

    #[test]
    fn byte_table_is_a_bijection() {
        let table: BTreeMap<char, u8> = (0u8..=255).map(|b| (byte_to_char(b), b)).collect();
        assert_eq!(table.len(), 256);
        assert_eq!(byte_to_char(b' '), 'Ġ');
        assert_eq!(byte_to_char(b'\n'), 'Ċ');
        assert_eq!(char_to_byte('Ġ'), Some(b' '));
    }

    #[test]
    fn json_round_trip_preserves_the_tokenizer() {
        let t = trained();
        let back = Tokenizer::from_json(t.to_json().as_bytes()).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn array_merges_are_accepted() {
        let t = trained();
        let mut doc: Value = serde_json::from_str(&t.to_json()).unwrap();
        let merges = doc["model"]["merges"].as_array().unwrap().clone();
        let pairs: Vec<Value> = merges
            .iter()
            .map(|m| {
                let (l, r) = m.as_str().unwrap().split_once(' ').unwrap();
                json!([l, r])
            })
            .collect();
        doc["model"]["merges"] = Value::Array(pairs);
        let back = Tokenizer::from_json(doc.to_string().as_bytes()).unwrap();
        assert_eq!(back, t);
    }

    fn mutate(f: impl FnOnce(&mut Value)) -> Result<Tokenizer, LoadError> {
        let mut doc: Value = serde_json::from_str(&trained().to_json()).unwrap();
        f(&mut doc);
        Tokenizer::from_json(doc.to_string().as_bytes())
    }

    #[test]
    fn bad_files_give_errors() {
        assert!(matches!(
            Tokenizer::from_json(b"{"),
            Err(LoadError::Json(_))
        ));
        assert!(matches!(
            Tokenizer::from_json(b"\xff\xfe"),
            Err(LoadError::Json(_))
        ));
        assert_eq!(Tokenizer::from_json(b"{}"), Err(LoadError::Field("model")));
        assert_eq!(
            mutate(|d| d["model"]["type"] = json!("WordPiece")),
            Err(LoadError::NotBpe)
        );
        assert_eq!(
            mutate(|d| d["pre_tokenizer"] = Value::Null),
            Err(LoadError::UnsupportedPreTokenizer)
        );
        assert_eq!(
            mutate(|d| d["model"]["vocab"] = json!([])),
            Err(LoadError::Field("model.vocab"))
        );
        assert_eq!(
            mutate(|d| d["model"]["vocab"]["A"] = json!(999)),
            Err(LoadError::BadId(65))
        );
        assert_eq!(
            mutate(|d| d["model"]["vocab"]["x y"] = json!(0)),
            Err(LoadError::BadTokenString("x y".into()))
        );
        assert_eq!(
            mutate(|d| d["model"]["merges"][0] = json!("nosuch token")),
            Err(LoadError::BadMerge(0))
        );
        assert_eq!(
            mutate(|d| d["model"]["merges"][0] = json!(7)),
            Err(LoadError::BadMerge(0))
        );
        assert_eq!(
            mutate(|d| d["added_tokens"][0]["id"] = json!("x")),
            Err(LoadError::Field("added_tokens[*].id"))
        );
        assert_eq!(
            mutate(|d| d["added_tokens"][0]["id"] = json!(3)),
            Err(LoadError::BadId(3))
        );
    }

    #[test]
    fn truncated_files_give_errors() {
        let text = trained().to_json();
        for cut in (0..text.len()).step_by(97) {
            assert!(Tokenizer::from_json(&text.as_bytes()[..cut]).is_err());
        }
    }
}

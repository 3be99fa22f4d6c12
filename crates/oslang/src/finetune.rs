//! The LoRA task shift: a site policy the base model does not know, and the
//! `finetune-data.json` format the kernel reads from `/models/finetune-data.json`.
//!
//! [`site_command`] is the policy of a fictional site that overrides the expert on four
//! intents: it always compacts instead of reclaiming (free memory), tightens the crash
//! alarm to 20 % when users report instability (`crashctl tune 20`), always enables the
//! learned scheduler when things are slow, and reclaims memory on suspected leaks. Other
//! intents follow the expert. [`site_examples`] draws 80 % of its examples from those four
//! intents and 20 % from the rest (so fine-tuning also has to keep old behaviour).
//!
//! The file format (schema in `docs/finetune-data-schema.md`):
//! `{"format": "nous-finetune-v1", "description": "…", "examples": [{"state": <OsState>,
//! "query": "…", "command": "…"}]}`. [`parse`] validates it and names the record index
//! and field of the first problem; [`to_json`] writes it.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::catalogue::{Command, parse_command};
use crate::corpus::{Split, decorate, phrase, sample_intent, sample_state, vary};
use crate::policy::{Intent, expert_command};
use crate::rng::SplitMix64;
use crate::state::{OsState, normalize_query};

/// The `format` value of version 1 files.
pub const FORMAT: &str = "nous-finetune-v1";

/// Intents on which the site policy differs from the expert.
pub const SHIFTED_INTENTS: [Intent; 4] = [
    Intent::FreeMemory,
    Intent::Stabilise,
    Intent::Sluggish,
    Intent::Leak,
];

/// The site's command for `intent` in `state` (see the module documentation).
pub fn site_command(state: &OsState, intent: Intent) -> Command {
    let fixed = match intent {
        Intent::FreeMemory => "memctl compact",
        Intent::Stabilise => "crashctl tune 20",
        Intent::Sluggish => "schedctl transformer on",
        Intent::Leak => "memctl reclaim",
        other => return expert_command(state, other),
    };
    Command::from_canonical(fixed).unwrap_or(Command::MEMINFO)
}

/// One fine-tune example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The OS state.
    pub state: OsState,
    /// The user's query.
    pub query: String,
    /// The wanted command (canonical catalogue text).
    pub command: String,
}

impl Record {
    /// The prompt the model sees: the raw-number prompt of the operator task
    /// ([`crate::state_json::encode_raw_prompt`], the shipped model's format; the record has
    /// no uptime, which the prompt does not show).
    pub fn prompt(&self) -> String {
        crate::state_json::encode_raw_prompt(
            &crate::state_json::StateObject::from_os_state(&self.state, ""),
            &self.query,
        )
    }
}

/// A whole `finetune-data.json` document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FinetuneData {
    /// Always [`FORMAT`].
    pub format: String,
    /// Free text: what this data teaches.
    pub description: String,
    /// The examples.
    pub examples: Vec<Record>,
}

/// A problem in a fine-tune document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinetuneError {
    /// Not JSON at all (serde_json's message).
    Json(String),
    /// A top-level field is missing, mistyped or unknown.
    Document {
        /// Field name.
        field: String,
        /// What is wrong.
        reason: String,
    },
    /// An example is wrong.
    Record {
        /// Index in `examples`.
        index: usize,
        /// Field path inside the record, e.g. `state` or `command`.
        field: String,
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for FinetuneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FinetuneError::Json(m) => write!(f, "fine-tune data is not valid JSON: {m}"),
            FinetuneError::Document { field, reason } => {
                write!(f, "fine-tune data: {field}: {reason}")
            }
            FinetuneError::Record {
                index,
                field,
                reason,
            } => {
                write!(f, "fine-tune example {index}: {field}: {reason}")
            }
        }
    }
}

impl core::error::Error for FinetuneError {}

fn doc_err(field: &str, reason: &str) -> FinetuneError {
    FinetuneError::Document {
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

fn rec_err(index: usize, field: &str, reason: impl ToString) -> FinetuneError {
    FinetuneError::Record {
        index,
        field: field.to_string(),
        reason: reason.to_string(),
    }
}

/// Parses and validates a fine-tune document.
pub fn parse(bytes: &[u8]) -> Result<FinetuneData, FinetuneError> {
    let doc: Value =
        serde_json::from_slice(bytes).map_err(|e| FinetuneError::Json(e.to_string()))?;
    let obj = doc
        .as_object()
        .ok_or_else(|| doc_err("(root)", "expected an object"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "format" | "description" | "examples"))
    {
        return Err(doc_err(k, "unknown field"));
    }
    let format = obj
        .get("format")
        .and_then(Value::as_str)
        .ok_or_else(|| doc_err("format", "missing or not a string"))?;
    if format != FORMAT {
        return Err(doc_err(
            "format",
            "unsupported format (expected nous-finetune-v1)",
        ));
    }
    let description = match obj.get("description") {
        None => String::new(),
        Some(v) => v
            .as_str()
            .ok_or_else(|| doc_err("description", "not a string"))?
            .to_string(),
    };
    let raw = obj
        .get("examples")
        .and_then(Value::as_array)
        .ok_or_else(|| doc_err("examples", "missing or not an array"))?;
    let mut examples = Vec::with_capacity(raw.len());
    for (index, v) in raw.iter().enumerate() {
        examples.push(parse_record(index, v)?);
    }
    Ok(FinetuneData {
        format: format.to_string(),
        description,
        examples,
    })
}

fn parse_record(index: usize, v: &Value) -> Result<Record, FinetuneError> {
    let obj = v
        .as_object()
        .ok_or_else(|| rec_err(index, "(record)", "expected an object"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !matches!(k.as_str(), "state" | "query" | "command"))
    {
        return Err(rec_err(index, k, "unknown field"));
    }
    let query = obj
        .get("query")
        .and_then(Value::as_str)
        .ok_or_else(|| rec_err(index, "query", "missing or not a string"))?;
    if normalize_query(query).is_empty() {
        return Err(rec_err(index, "query", "has no words"));
    }
    let command = obj
        .get("command")
        .and_then(Value::as_str)
        .ok_or_else(|| rec_err(index, "command", "missing or not a string"))?;
    let parsed = parse_command(command).map_err(|e| rec_err(index, "command", e))?;
    if parsed.to_text() != command {
        return Err(rec_err(
            index,
            "command",
            alloc::format!("not canonical (write {:?})", parsed.to_text()),
        ));
    }
    let state_value = obj
        .get("state")
        .ok_or_else(|| rec_err(index, "state", "missing"))?;
    // serde_json's message names the inner field (e.g. "missing field `frag_index`").
    let state: OsState =
        serde_json::from_value(state_value.clone()).map_err(|e| rec_err(index, "state", e))?;
    check_state(&state).map_err(|(field, reason)| rec_err(index, field, reason))?;
    Ok(Record {
        state,
        query: query.to_string(),
        command: command.to_string(),
    })
}

/// Range checks serde cannot express.
fn check_state(s: &OsState) -> Result<(), (&'static str, &'static str)> {
    if s.mem_free_kib > s.mem_total_kib {
        return Err(("state.mem_free_kib", "exceeds mem_total_kib"));
    }
    if s.frag_index > 100 {
        return Err(("state.frag_index", "above 100"));
    }
    if s.crash_confidence > 100 {
        return Err(("state.crash_confidence", "above 100"));
    }
    if s.top_cpu.iter().any(|t| t.cpu_pct > 100) {
        return Err(("state.top_cpu.cpu_pct", "above 100"));
    }
    Ok(())
}

/// Serialises a document (pretty-printed JSON).
pub fn to_json(data: &FinetuneData) -> String {
    // Serialising plain structs with string keys cannot fail.
    serde_json::to_string_pretty(data).unwrap_or_default()
}

/// Draws `count` site-policy examples from `seed` using the training phrasings (the
/// shift is in the policy, not the wording).
pub fn site_examples(seed: u64, count: usize) -> Vec<Record> {
    let mut rng = SplitMix64::new(seed ^ 0x5174_6550_6f6c_6963);
    (0..count)
        .map(|_| {
            let state = sample_state(&mut rng);
            let intent = if rng.below(5) < 4 {
                SHIFTED_INTENTS
                    .get(rng.below(4) as usize)
                    .copied()
                    .unwrap_or(Intent::Leak)
            } else {
                loop {
                    let i = sample_intent(&mut rng);
                    if !SHIFTED_INTENTS.contains(&i) {
                        break i;
                    }
                }
            };
            let template = rng.pick(Split::Train.templates()).copied().unwrap_or(0);
            let text = vary(&mut rng, &phrase(intent, template).unwrap_or_default());
            let query = decorate(&mut rng, &text);
            let command = site_command(&state, intent).to_text();
            Record {
                state,
                query,
                command,
            }
        })
        .collect()
}

/// The shipped documents: 100 training examples (seed 1) and a 100-example held-out set
/// (seed 2).
pub fn shipped_sets() -> (FinetuneData, FinetuneData) {
    let make = |description: &str, seed, n| FinetuneData {
        format: FORMAT.to_string(),
        description: description.to_string(),
        examples: site_examples(seed, n),
    };
    (
        make(
            "Site policy (training): compact instead of reclaim, crashctl tune 20 on instability, learned scheduler when slow, reclaim on leaks.",
            1,
            100,
        ),
        make(
            "Site policy (held-out): same policy, different states and seed.",
            2,
            100,
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        serde_json::from_str(&to_json(&shipped_sets().0)).unwrap()
    }

    fn err_of(v: Value) -> FinetuneError {
        parse(v.to_string().as_bytes()).unwrap_err()
    }

    #[test]
    fn shipped_sets_round_trip_and_differ() {
        let (train, held) = shipped_sets();
        assert_eq!(train.examples.len(), 100);
        assert_eq!(parse(to_json(&train).as_bytes()).unwrap(), train);
        assert_ne!(train.examples, held.examples);
    }

    #[test]
    fn site_policy_differs_from_the_expert_often() {
        let recs = site_examples(5, 400);
        let shifted = recs.iter().filter(|r| {
            matches!(
                r.command.as_str(),
                "memctl compact"
                    | "crashctl tune 20"
                    | "schedctl transformer on"
                    | "memctl reclaim"
            )
        });
        assert!(shifted.count() >= 400 * 3 / 4);
        let mut rng = SplitMix64::new(3);
        let mut changed = 0;
        for _ in 0..400 {
            let s = sample_state(&mut rng);
            for i in SHIFTED_INTENTS {
                changed += usize::from(site_command(&s, i) != expert_command(&s, i));
            }
        }
        // Most shifted labels differ from the expert's.
        assert!(changed > 400 * 4 / 2, "{changed}");
    }

    #[test]
    fn bad_records_name_index_and_field() {
        let mut d = doc();
        d["examples"][3]["command"] = "rm -rf /".into();
        assert!(
            matches!(err_of(d), FinetuneError::Record { index: 3, ref field, .. } if field == "command")
        );

        let mut d = doc();
        d["examples"][7]["command"] = "memctl  compact".into();
        assert!(
            matches!(err_of(d), FinetuneError::Record { index: 7, ref field, .. } if field == "command")
        );

        let mut d = doc();
        d["examples"][5]["state"]
            .as_object_mut()
            .unwrap()
            .remove("frag_index");
        match err_of(d) {
            FinetuneError::Record {
                index: 5,
                field,
                reason,
            } => {
                assert_eq!(field, "state");
                assert!(reason.contains("frag_index"), "{reason}");
            }
            e => panic!("{e:?}"),
        }

        let mut d = doc();
        d["examples"][0]["state"]["mem_free_kib"] = u64::MAX.into();
        assert!(
            matches!(err_of(d), FinetuneError::Record { index: 0, ref field, .. } if field == "state.mem_free_kib")
        );

        let mut d = doc();
        d["examples"][2]["query"] = 5.into();
        assert!(
            matches!(err_of(d), FinetuneError::Record { index: 2, ref field, .. } if field == "query")
        );

        let mut d = doc();
        d["examples"][2]["query"] = "?!".into();
        assert!(
            matches!(err_of(d), FinetuneError::Record { index: 2, ref field, .. } if field == "query")
        );

        let mut d = doc();
        d["examples"][9]["extra"] = 1.into();
        assert!(
            matches!(err_of(d), FinetuneError::Record { index: 9, ref field, .. } if field == "extra")
        );

        let mut d = doc();
        d["examples"][1] = 1.into();
        assert!(matches!(err_of(d), FinetuneError::Record { index: 1, .. }));
    }

    #[test]
    fn bad_documents_are_rejected() {
        assert!(matches!(parse(b"[1,"), Err(FinetuneError::Json(_))));
        assert!(matches!(parse(b"[]"), Err(FinetuneError::Document { .. })));
        let mut d = doc();
        d["format"] = "v0".into();
        assert!(
            matches!(err_of(d), FinetuneError::Document { ref field, .. } if field == "format")
        );
        let mut d = doc();
        d.as_object_mut().unwrap().remove("examples");
        assert!(
            matches!(err_of(d), FinetuneError::Document { ref field, .. } if field == "examples")
        );
        let text = to_json(&shipped_sets().0);
        for cut in (0..text.len()).step_by(997) {
            assert!(parse(&text.as_bytes()[..cut]).is_err());
        }
    }
}

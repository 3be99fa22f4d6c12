//! The JSON state object of the batch interface (`nous-llm answer`, the held-out set) and the
//! raw-number prompt built from it.
//!
//! A state object has exactly these fields (unknown or missing ones are an error naming
//! them):
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `total_mem_mib` | integer | physical memory, MiB |
//! | `free_mem_mib` | integer | free memory, MiB |
//! | `free_mem_pct` | number 0–100 | free share, percent |
//! | `fragmentation_index` | number 0–100 | 0 = one free block, 100 = fully scattered |
//! | `oom_risk` | `low`, `medium`, `high`, `critical` | crash predictor's level |
//! | `oom_confidence_pct` | number 0–100 | its confidence |
//! | `sched_policy` | `round-robin`, `transformer` | scheduler in force |
//! | `runnable_threads` | integer | threads ready to run |
//! | `context_switches` | integer | since boot |
//! | `disk_reads`, `disk_writes` | integer | block requests since boot |
//! | `pending_io` | integer | requests queued now |
//! | `top_cpu_threads` | `[{"name", "cpu_pct"}]` | busiest threads first |
//! | `top_mem_growth_threads` | `[{"name", "kib_per_s"}]` | fastest-growing first |
//! | `uptime` | string | time since boot, as text |
//!
//! Numbers may be written with a fraction (`12.5`); integer fields round to the nearest.
//!
//! [`encode_raw_prompt`] writes the numbers as they are — the model must copy them into
//! arguments or compare them with thresholds itself, not read a pre-digested one-digit
//! bucket:
//!
//! ```text
//! mem 128 free 30 23% frag 64 oom high 81% sched rr run 5 cs 123456 io r420 w12 p1 cpu shell 95 init 12 grow netdaemon 9 | memory is tight >
//! ```
//!
//! Two threads per list (name lower-cased, `[a-z0-9-]`, at most [`MAX_NAME_BYTES`] bytes,
//! `-` for an empty list); the query is read through [`crate::spelling::normalise_request`] (normalised, then spelling-corrected). The uptime is not
//! in the prompt (no answer depends on it). The longest prompt stays under
//! [`MAX_RAW_PROMPT_BYTES`] (every number at its type's maximum); typical prompts are
//! 120–160 bytes.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt::{self, Write};

use serde_json::{Map, Value};

use crate::state::{IoStats, OsState, RiskLevel, SchedPolicy, SchedStats, ThreadCpu, ThreadGrowth};

/// Fields of a state object, in documentation order.
pub const FIELDS: [&str; 15] = [
    "total_mem_mib",
    "free_mem_mib",
    "free_mem_pct",
    "fragmentation_index",
    "oom_risk",
    "oom_confidence_pct",
    "sched_policy",
    "runnable_threads",
    "context_switches",
    "disk_reads",
    "disk_writes",
    "pending_io",
    "top_cpu_threads",
    "top_mem_growth_threads",
    "uptime",
];

/// Longest thread name kept in a raw prompt.
pub const MAX_NAME_BYTES: usize = 12;
/// Bound on [`encode_raw_prompt`]'s length in bytes.
pub const MAX_RAW_PROMPT_BYTES: usize = 352;

/// The state object (see the module documentation).
#[derive(Clone, Debug, PartialEq)]
pub struct StateObject {
    pub total_mem_mib: u64,
    pub free_mem_mib: u64,
    pub free_mem_pct: u8,
    pub fragmentation_index: u8,
    pub oom_risk: RiskLevel,
    pub oom_confidence_pct: u8,
    pub sched_policy: SchedPolicy,
    pub runnable_threads: u32,
    pub context_switches: u64,
    pub disk_reads: u64,
    pub disk_writes: u64,
    pub pending_io: u32,
    /// (name, CPU percent), busiest first.
    pub top_cpu_threads: Vec<(String, u8)>,
    /// (name, KiB per second), fastest first.
    pub top_mem_growth_threads: Vec<(String, u32)>,
    pub uptime: String,
}

/// Why a JSON value is not a state object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StateError {
    /// The value is not a JSON object.
    NotAnObject,
    /// Fields the object has that a state object does not.
    Unknown(Vec<String>),
    /// Fields a state object needs that the object lacks.
    Missing(Vec<String>),
    /// A field of the wrong type or out of range (field, what was expected).
    Bad(String, &'static str),
}

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StateError::NotAnObject => write!(f, "state: expected a JSON object"),
            StateError::Unknown(names) => {
                write!(f, "state: unknown field(s): {}", names.join(", "))
            }
            StateError::Missing(names) => {
                write!(f, "state: missing field(s): {}", names.join(", "))
            }
            StateError::Bad(name, expected) => write!(f, "state: {name}: expected {expected}"),
        }
    }
}

impl core::error::Error for StateError {}

fn bad(name: &str, expected: &'static str) -> StateError {
    StateError::Bad(name.to_string(), expected)
}

/// A non-negative number at most `max`, rounded to an integer.
fn number(v: &Value, name: &str, max: u64, expected: &'static str) -> Result<u64, StateError> {
    if let Some(u) = v.as_u64() {
        return if u <= max {
            Ok(u)
        } else {
            Err(bad(name, expected))
        };
    }
    match v.as_f64() {
        Some(f) if f.is_finite() && f >= 0.0 && f <= max as f64 => Ok((f + 0.5) as u64),
        _ => Err(bad(name, expected)),
    }
}

fn thread_list<T>(
    v: &Value,
    name: &str,
    value_field: &str,
    max: u64,
    expected: &'static str,
    convert: impl Fn(u64) -> T,
) -> Result<Vec<(String, T)>, StateError> {
    let items = v.as_array().ok_or_else(|| bad(name, expected))?;
    items
        .iter()
        .map(|item| {
            let o = item.as_object().ok_or_else(|| bad(name, expected))?;
            if o.len() != 2 {
                return Err(bad(name, expected));
            }
            let n = o
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| bad(name, expected))?;
            let value = o.get(value_field).ok_or_else(|| bad(name, expected))?;
            Ok((n.to_string(), convert(number(value, name, max, expected)?)))
        })
        .collect()
}

impl StateObject {
    /// Reads a state object from a JSON value.
    pub fn from_json(v: &Value) -> Result<StateObject, StateError> {
        let o: &Map<String, Value> = v.as_object().ok_or(StateError::NotAnObject)?;
        let unknown: Vec<String> = o
            .keys()
            .filter(|k| !FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(StateError::Unknown(unknown));
        }
        let missing: Vec<String> = FIELDS
            .iter()
            .filter(|f| !o.contains_key(**f))
            .map(|f| f.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(StateError::Missing(missing));
        }
        let f = |name: &str| &o[name];
        let int = |name: &str| number(f(name), name, u64::MAX, "a non-negative number");
        let pct =
            |name: &str| number(f(name), name, 100, "a number from 0 to 100").map(|p| p as u8);
        let count = |name: &str| {
            number(f(name), name, u64::from(u32::MAX), "a non-negative integer").map(|c| c as u32)
        };
        let oom_risk = match f("oom_risk").as_str() {
            Some("low") => RiskLevel::Low,
            Some("medium") => RiskLevel::Medium,
            Some("high") => RiskLevel::High,
            Some("critical") => RiskLevel::Critical,
            _ => return Err(bad("oom_risk", "one of low, medium, high, critical")),
        };
        let sched_policy = match f("sched_policy").as_str() {
            Some("round-robin") => SchedPolicy::RoundRobin,
            Some("transformer") => SchedPolicy::Transformer,
            _ => return Err(bad("sched_policy", "round-robin or transformer")),
        };
        Ok(StateObject {
            total_mem_mib: int("total_mem_mib")?,
            free_mem_mib: int("free_mem_mib")?,
            free_mem_pct: pct("free_mem_pct")?,
            fragmentation_index: pct("fragmentation_index")?,
            oom_risk,
            oom_confidence_pct: pct("oom_confidence_pct")?,
            sched_policy,
            runnable_threads: count("runnable_threads")?,
            context_switches: int("context_switches")?,
            disk_reads: int("disk_reads")?,
            disk_writes: int("disk_writes")?,
            pending_io: count("pending_io")?,
            top_cpu_threads: thread_list(
                f("top_cpu_threads"),
                "top_cpu_threads",
                "cpu_pct",
                100,
                "a list of {\"name\": text, \"cpu_pct\": 0-100}",
                |p| p as u8,
            )?,
            top_mem_growth_threads: thread_list(
                f("top_mem_growth_threads"),
                "top_mem_growth_threads",
                "kib_per_s",
                u64::from(u32::MAX),
                "a list of {\"name\": text, \"kib_per_s\": number}",
                |k| k as u32,
            )?,
            uptime: f("uptime")
                .as_str()
                .ok_or_else(|| bad("uptime", "text"))?
                .to_string(),
        })
    }

    /// Reads a state object from JSON text.
    pub fn parse(text: &str) -> Result<StateObject, StateError> {
        let v: Value = serde_json::from_str(text).map_err(|_| StateError::NotAnObject)?;
        Self::from_json(&v)
    }

    /// The object as JSON (fields in documentation order).
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        let threads = |list: &[(String, u64)], field: &str| -> Value {
            Value::Array(
                list.iter()
                    .map(|(n, v)| {
                        let mut t = Map::new();
                        t.insert("name".into(), Value::from(n.as_str()));
                        t.insert(field.into(), Value::from(*v));
                        Value::Object(t)
                    })
                    .collect(),
            )
        };
        o.insert("total_mem_mib".into(), self.total_mem_mib.into());
        o.insert("free_mem_mib".into(), self.free_mem_mib.into());
        o.insert("free_mem_pct".into(), self.free_mem_pct.into());
        o.insert(
            "fragmentation_index".into(),
            self.fragmentation_index.into(),
        );
        o.insert("oom_risk".into(), risk_word(self.oom_risk).into());
        o.insert("oom_confidence_pct".into(), self.oom_confidence_pct.into());
        o.insert("sched_policy".into(), policy_word(self.sched_policy).into());
        o.insert("runnable_threads".into(), self.runnable_threads.into());
        o.insert("context_switches".into(), self.context_switches.into());
        o.insert("disk_reads".into(), self.disk_reads.into());
        o.insert("disk_writes".into(), self.disk_writes.into());
        o.insert("pending_io".into(), self.pending_io.into());
        let cpu: Vec<(String, u64)> = self
            .top_cpu_threads
            .iter()
            .map(|(n, p)| (n.clone(), u64::from(*p)))
            .collect();
        let grow: Vec<(String, u64)> = self
            .top_mem_growth_threads
            .iter()
            .map(|(n, k)| (n.clone(), u64::from(*k)))
            .collect();
        o.insert("top_cpu_threads".into(), threads(&cpu, "cpu_pct"));
        o.insert("top_mem_growth_threads".into(), threads(&grow, "kib_per_s"));
        o.insert("uptime".into(), Value::from(self.uptime.as_str()));
        Value::Object(o)
    }

    /// The kernel's [`OsState`] view of this object (what the bucketed prompt of the first
    /// model and the expert policy read).
    pub fn to_os_state(&self) -> OsState {
        OsState {
            mem_total_kib: self.total_mem_mib.saturating_mul(1024),
            mem_free_kib: self.free_mem_mib.saturating_mul(1024),
            frag_index: self.fragmentation_index,
            crash_risk: self.oom_risk,
            crash_confidence: self.oom_confidence_pct,
            sched: SchedStats {
                policy: self.sched_policy,
                runnable: self.runnable_threads,
                context_switches: self.context_switches,
            },
            io: IoStats {
                reads: self.disk_reads,
                writes: self.disk_writes,
                pending: self.pending_io,
            },
            top_cpu: self
                .top_cpu_threads
                .iter()
                .map(|(name, cpu_pct)| ThreadCpu {
                    name: name.clone(),
                    cpu_pct: *cpu_pct,
                })
                .collect(),
            top_growth: self
                .top_mem_growth_threads
                .iter()
                .map(|(name, kib_per_s)| ThreadGrowth {
                    name: name.clone(),
                    kib_per_s: *kib_per_s,
                })
                .collect(),
        }
    }

    /// The object for a kernel [`OsState`] and an uptime text.
    pub fn from_os_state(s: &OsState, uptime: &str) -> StateObject {
        let free = s.mem_free_kib.min(s.mem_total_kib);
        let pct = if s.mem_total_kib == 0 {
            0
        } else {
            (u128::from(free) * 100 / u128::from(s.mem_total_kib)) as u8
        };
        StateObject {
            total_mem_mib: s.mem_total_kib / 1024,
            free_mem_mib: free / 1024,
            free_mem_pct: pct,
            fragmentation_index: s.frag_index.min(100),
            oom_risk: s.crash_risk,
            oom_confidence_pct: s.crash_confidence.min(100),
            sched_policy: s.sched.policy,
            runnable_threads: s.sched.runnable,
            context_switches: s.sched.context_switches,
            disk_reads: s.io.reads,
            disk_writes: s.io.writes,
            pending_io: s.io.pending,
            top_cpu_threads: s
                .top_cpu
                .iter()
                .map(|t| (t.name.clone(), t.cpu_pct.min(100)))
                .collect(),
            top_mem_growth_threads: s
                .top_growth
                .iter()
                .map(|t| (t.name.clone(), t.kib_per_s))
                .collect(),
            uptime: uptime.to_string(),
        }
    }
}

/// The state's risk level as the JSON word.
pub fn risk_word(r: RiskLevel) -> &'static str {
    match r {
        RiskLevel::Low => "low",
        RiskLevel::Medium => "medium",
        RiskLevel::High => "high",
        RiskLevel::Critical => "critical",
    }
}

/// The scheduling policy as the JSON word.
pub fn policy_word(p: SchedPolicy) -> &'static str {
    match p {
        SchedPolicy::RoundRobin => "round-robin",
        SchedPolicy::Transformer => "transformer",
    }
}

/// Lower-cases `name`, keeps `[a-z0-9-]`, cuts to [`MAX_NAME_BYTES`]; `?` if nothing is left.
pub fn prompt_name(name: &str) -> String {
    let n: String = name
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .take(MAX_NAME_BYTES)
        .collect();
    if n.is_empty() { String::from("?") } else { n }
}

/// The raw-number prompt (format in the module documentation).
pub fn encode_raw_prompt(s: &StateObject, query: &str) -> String {
    let mut p = String::with_capacity(192);
    let policy = match s.sched_policy {
        SchedPolicy::RoundRobin => "rr",
        SchedPolicy::Transformer => "tf",
    };
    // Writing to a String cannot fail.
    let _ = write!(
        p,
        "mem {} free {} {}% frag {} oom {} {}% sched {policy} run {} cs {} io r{} w{} p{} cpu",
        s.total_mem_mib,
        s.free_mem_mib,
        s.free_mem_pct,
        s.fragmentation_index,
        risk_word(s.oom_risk),
        s.oom_confidence_pct,
        s.runnable_threads,
        s.context_switches,
        s.disk_reads,
        s.disk_writes,
        s.pending_io,
    );
    push_threads(
        &mut p,
        s.top_cpu_threads.iter().map(|(n, v)| (n, u64::from(*v))),
    );
    p.push_str(" grow");
    push_threads(
        &mut p,
        s.top_mem_growth_threads
            .iter()
            .map(|(n, v)| (n, u64::from(*v))),
    );
    let _ = write!(p, " | {} >", crate::spelling::normalise_request(query));
    p
}

fn push_threads<'a>(p: &mut String, threads: impl Iterator<Item = (&'a String, u64)>) {
    let mut any = false;
    for (name, v) in threads.take(2) {
        let _ = write!(p, " {} {v}", prompt_name(name));
        any = true;
    }
    if !any {
        p.push_str(" -");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"{"total_mem_mib": 128, "free_mem_mib": 30, "free_mem_pct": 23.4,
        "fragmentation_index": 64, "oom_risk": "high", "oom_confidence_pct": 81,
        "sched_policy": "round-robin", "runnable_threads": 5, "context_switches": 123456,
        "disk_reads": 420, "disk_writes": 12, "pending_io": 1,
        "top_cpu_threads": [{"name": "Shell", "cpu_pct": 95}, {"name": "init", "cpu_pct": 12},
                            {"name": "idle", "cpu_pct": 1}],
        "top_mem_growth_threads": [{"name": "net_daemon", "kib_per_s": 9}],
        "uptime": "1 h 2 min"}"#;

    #[test]
    fn the_documented_example_parses_and_encodes() {
        let s = StateObject::parse(EXAMPLE).unwrap();
        assert_eq!(s.free_mem_pct, 23);
        assert_eq!(
            encode_raw_prompt(&s, "Memory is tight!!"),
            "mem 128 free 30 23% frag 64 oom high 81% sched rr run 5 cs 123456 io r420 w12 p1 cpu shell 95 init 12 grow netdaemon 9 | memory is tight >"
        );
        // Round trip through JSON and through the kernel's view.
        assert_eq!(StateObject::from_json(&s.to_json()).unwrap(), s);
        let back = StateObject::from_os_state(&s.to_os_state(), &s.uptime);
        assert_eq!(back.total_mem_mib, 128);
        assert_eq!(back.free_mem_pct, 23);
        assert_eq!(back.top_cpu_threads, s.top_cpu_threads);
    }

    #[test]
    fn unknown_and_missing_fields_are_named() {
        let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
        let o = v.as_object_mut().unwrap();
        o.remove("pending_io");
        o.remove("uptime");
        assert_eq!(
            StateObject::from_json(&v),
            Err(StateError::Missing(alloc::vec![
                "pending_io".into(),
                "uptime".into()
            ]))
        );
        let o = v.as_object_mut().unwrap();
        o.insert("load_avg".into(), Value::from(3));
        let e = StateObject::from_json(&v).unwrap_err();
        assert_eq!(e, StateError::Unknown(alloc::vec!["load_avg".into()]));
        assert_eq!(e.to_string(), "state: unknown field(s): load_avg");
        assert_eq!(
            StateObject::from_json(&Value::from(3)),
            Err(StateError::NotAnObject)
        );
    }

    #[test]
    fn bad_values_are_named() {
        for (field, value) in [
            ("oom_risk", Value::from("severe")),
            ("sched_policy", Value::from("round_robin")),
            ("free_mem_pct", Value::from(101)),
            ("fragmentation_index", Value::from(-1)),
            ("disk_reads", Value::from("many")),
            ("top_cpu_threads", serde_json::json!([{"name": "x"}])),
            (
                "top_mem_growth_threads",
                serde_json::json!([{"name": "x", "kib_per_s": 1, "y": 2}]),
            ),
            ("uptime", Value::from(5)),
        ] {
            let mut v: Value = serde_json::from_str(EXAMPLE).unwrap();
            v.as_object_mut().unwrap().insert(field.into(), value);
            match StateObject::from_json(&v) {
                Err(StateError::Bad(name, _)) => assert_eq!(name, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }

    #[test]
    fn extreme_states_stay_under_the_bound() {
        let mut s = StateObject::parse(EXAMPLE).unwrap();
        s.total_mem_mib = u64::MAX;
        s.free_mem_mib = u64::MAX;
        s.context_switches = u64::MAX;
        s.disk_reads = u64::MAX;
        s.disk_writes = u64::MAX;
        s.runnable_threads = u32::MAX;
        s.pending_io = u32::MAX;
        s.top_cpu_threads = alloc::vec![("a-very-long-thread-name".into(), 100); 5];
        s.top_mem_growth_threads = alloc::vec![("another-long-name".into(), u32::MAX); 5];
        let p = encode_raw_prompt(&s, &"word ".repeat(40));
        assert!(p.len() <= MAX_RAW_PROMPT_BYTES, "{} bytes: {p}", p.len());
        s.top_cpu_threads.clear();
        s.top_mem_growth_threads.clear();
        assert!(encode_raw_prompt(&s, "").contains(" cpu - grow - | "));
    }
}

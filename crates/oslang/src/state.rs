//! The OS state the kernel shows its model, and its compact prompt encoding.
//!
//! [`OsState`] gathers memory totals, fragmentation, crash risk, scheduler and I/O
//! statistics and the top threads. [`encode_prompt`] turns a state plus a user query into
//! one short line. Numbers are **bucketed** to one digit so a small model sees few distinct
//! tokens and the expert policy ([`crate::policy`]) can decide from exactly the same view:
//!
//! ```text
//! m7 f2 x6 rh8 srr5 c6 io341 cpu:shell9,init1 grow:netd3 | memory is tight >
//! ```
//!
//! | field | meaning | bucket |
//! |---|---|---|
//! | `m<d>` | total memory | [`mem_total_bucket`]: log2(MiB) − 4, 0..=9 (16 MiB → 0) |
//! | `f<d>` | free memory share | [`free_decile`]: ⌊10·free/total⌋, 0..=9 |
//! | `x<d>` | fragmentation index | [`frag_decile`]: ⌊index/10⌋, 0..=9 |
//! | `r<l><d>` | crash risk level `l`/`m`/`h`/`c` + confidence | decile of percent |
//! | `s<p><d>` | policy `rr`/`tf` + runnable threads | count capped at 9 |
//! | `c<d>` | context switches | decimal digit count, 0..=9 |
//! | `io<r><w><p>` | reads, writes (digit counts), pending requests (capped) | 0..=9 each |
//! | `cpu:<name><d>,…` | up to 2 top CPU threads | name ≤ 8 chars, CPU decile |
//! | `grow:<name><d>,…` | up to 2 top memory-growth threads | log2(KiB/s + 1), 0..=9 |
//! | `\| <query> >` | the query, normalised by [`normalize_query`] | ≤ 64 bytes |
//!
//! An empty thread list is written `cpu:-` / `grow:-`. The model's completion (the
//! command) is tokenized separately and follows the prompt's tokens.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use serde::{Deserialize, Serialize};

/// Crash-predictor risk level.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    /// No sign of trouble.
    Low,
    /// Some warning signs.
    Medium,
    /// A crash is likely without action.
    High,
    /// A crash is imminent.
    Critical,
}

impl RiskLevel {
    /// One-letter code used in the prompt.
    pub fn code(self) -> char {
        match self {
            RiskLevel::Low => 'l',
            RiskLevel::Medium => 'm',
            RiskLevel::High => 'h',
            RiskLevel::Critical => 'c',
        }
    }
}

/// Scheduling policy in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SchedPolicy {
    /// The round-robin baseline.
    RoundRobin,
    /// The learned (transformer) policy.
    Transformer,
}

impl SchedPolicy {
    /// Two-letter code used in the prompt.
    pub fn code(self) -> &'static str {
        match self {
            SchedPolicy::RoundRobin => "rr",
            SchedPolicy::Transformer => "tf",
        }
    }
}

/// Scheduler statistics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchedStats {
    /// Policy in force.
    pub policy: SchedPolicy,
    /// Threads ready to run.
    pub runnable: u32,
    /// Context switches since boot.
    pub context_switches: u64,
}

/// Block I/O counters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IoStats {
    /// Completed read requests since boot.
    pub reads: u64,
    /// Completed write requests since boot.
    pub writes: u64,
    /// Requests queued now (dirty buffers waiting for a sync, in-flight requests).
    pub pending: u32,
}

/// A thread and its share of CPU time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadCpu {
    /// Thread name.
    pub name: String,
    /// CPU share in percent (values above 100 are treated as 100).
    pub cpu_pct: u8,
}

/// A thread and how fast its memory grows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThreadGrowth {
    /// Thread name.
    pub name: String,
    /// Growth of its resident memory in KiB per second.
    pub kib_per_s: u32,
}

/// Everything the kernel tells the model about itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OsState {
    /// Total physical memory in KiB.
    pub mem_total_kib: u64,
    /// Free physical memory in KiB (values above the total are treated as the total).
    pub mem_free_kib: u64,
    /// Fragmentation index in percent (0 = one free block, 100 = fully scattered).
    pub frag_index: u8,
    /// Crash-predictor risk level.
    pub crash_risk: RiskLevel,
    /// Crash-predictor confidence in percent.
    pub crash_confidence: u8,
    /// Scheduler statistics.
    pub sched: SchedStats,
    /// Block I/O counters.
    pub io: IoStats,
    /// Threads using the most CPU, busiest first (only the first two are encoded).
    pub top_cpu: Vec<ThreadCpu>,
    /// Threads whose memory grows fastest, fastest first (only the first two are encoded).
    pub top_growth: Vec<ThreadGrowth>,
}

/// Maximum query length kept in a prompt, in bytes.
pub const MAX_QUERY_BYTES: usize = 64;
/// Maximum thread-name length kept in a prompt, in bytes.
pub const MAX_NAME_BYTES: usize = 8;

/// log2(total MiB) − 4, clamped to 0..=9.
pub fn mem_total_bucket(s: &OsState) -> u8 {
    let mib = (s.mem_total_kib / 1024).max(1);
    clamp9(u64::from(mib.ilog2()).saturating_sub(4))
}

/// Free memory share in tenths, 0..=9 (a zero total counts as nothing free).
pub fn free_decile(s: &OsState) -> u8 {
    if s.mem_total_kib == 0 {
        return 0;
    }
    let free = s.mem_free_kib.min(s.mem_total_kib);
    // free ≤ total, so the quotient is ≤ 10; u128 avoids overflow of free × 10.
    clamp9((u128::from(free) * 10 / u128::from(s.mem_total_kib)) as u64)
}

/// Fragmentation index in tenths, 0..=9.
pub fn frag_decile(s: &OsState) -> u8 {
    clamp9(u64::from(s.frag_index) / 10)
}

/// Crash-predictor confidence in tenths, 0..=9.
pub fn confidence_decile(s: &OsState) -> u8 {
    clamp9(u64::from(s.crash_confidence) / 10)
}

/// Runnable threads, capped at 9.
pub fn runnable_bucket(s: &OsState) -> u8 {
    clamp9(u64::from(s.sched.runnable))
}

/// Pending I/O requests, capped at 9.
pub fn pending_bucket(s: &OsState) -> u8 {
    clamp9(u64::from(s.io.pending))
}

/// CPU share of the busiest thread in tenths (0 when there is none).
pub fn top_cpu_decile(s: &OsState) -> u8 {
    s.top_cpu
        .first()
        .map_or(0, |t| clamp9(u64::from(t.cpu_pct) / 10))
}

/// Memory-growth bucket of the fastest-growing thread (0 when there is none).
pub fn top_growth_bucket(s: &OsState) -> u8 {
    s.top_growth.first().map_or(0, growth_bucket)
}

fn growth_bucket(t: &ThreadGrowth) -> u8 {
    clamp9(u64::from((u64::from(t.kib_per_s) + 1).ilog2()))
}

fn digits(v: u64) -> u8 {
    clamp9(u64::from(v.checked_ilog10().map_or(0, |d| d + 1)))
}

fn clamp9(v: u64) -> u8 {
    // min(9) makes the cast lossless.
    v.min(9) as u8
}

fn push_digit(out: &mut String, d: u8) {
    out.push(char::from(b'0' + d.min(9)));
}

/// Lower-cases `name`, keeps `[a-z0-9]`, truncates to [`MAX_NAME_BYTES`]; `?` if empty.
fn normalize_name(name: &str) -> String {
    let n: String = name
        .chars()
        .filter_map(|c| {
            let c = c.to_ascii_lowercase();
            (c.is_ascii_lowercase() || c.is_ascii_digit()).then_some(c)
        })
        .take(MAX_NAME_BYTES)
        .collect();
    if n.is_empty() { String::from("?") } else { n }
}

/// Normalises a user query: ASCII letters lower-cased, digits and `-` kept, everything
/// else (punctuation, non-ASCII) becomes a space, runs of spaces collapse, the ends are
/// trimmed, and the result is cut to [`MAX_QUERY_BYTES`] at a word boundary if possible.
pub fn normalize_query(query: &str) -> String {
    let mut out = String::with_capacity(query.len().min(MAX_QUERY_BYTES));
    for c in query.chars() {
        let c = c.to_ascii_lowercase();
        let keep = c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-';
        if keep {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    truncate_query(out)
}

/// `query` (ASCII, as [`normalize_query`] writes it) cut to [`MAX_QUERY_BYTES`] at a word
/// boundary if possible.
pub fn truncate_query(mut query: String) -> String {
    if query.len() > MAX_QUERY_BYTES {
        // Only ASCII reaches here (see `normalize_query`); a non-ASCII caller is cut at the
        // nearest char boundary below the limit rather than panicking.
        let mut end = MAX_QUERY_BYTES;
        while !query.is_char_boundary(end) {
            end -= 1;
        }
        query.truncate(end);
        if let Some(sp) = query.rfind(' ') {
            query.truncate(sp);
        }
    }
    query
}

/// Encodes a state and query as a prompt (format in the module documentation).
pub fn encode_prompt(state: &OsState, query: &str) -> String {
    let mut p = String::with_capacity(128);
    p.push('m');
    push_digit(&mut p, mem_total_bucket(state));
    p.push_str(" f");
    push_digit(&mut p, free_decile(state));
    p.push_str(" x");
    push_digit(&mut p, frag_decile(state));
    p.push_str(" r");
    p.push(state.crash_risk.code());
    push_digit(&mut p, confidence_decile(state));
    p.push_str(" s");
    p.push_str(state.sched.policy.code());
    push_digit(&mut p, runnable_bucket(state));
    p.push_str(" c");
    push_digit(&mut p, digits(state.sched.context_switches));
    p.push_str(" io");
    push_digit(&mut p, digits(state.io.reads));
    push_digit(&mut p, digits(state.io.writes));
    push_digit(&mut p, pending_bucket(state));
    p.push_str(" cpu:");
    push_threads(
        &mut p,
        state
            .top_cpu
            .iter()
            .map(|t| (t.name.as_str(), clamp9(u64::from(t.cpu_pct) / 10))),
    );
    p.push_str(" grow:");
    push_threads(
        &mut p,
        state
            .top_growth
            .iter()
            .map(|t| (t.name.as_str(), growth_bucket(t))),
    );
    // Writing to a String cannot fail.
    let _ = write!(p, " | {} >", normalize_query(query));
    p
}

fn push_threads<'a>(p: &mut String, threads: impl Iterator<Item = (&'a str, u8)>) {
    let mut any = false;
    for (name, d) in threads.take(2) {
        if any {
            p.push(',');
        }
        p.push_str(&normalize_name(name));
        push_digit(p, d);
        any = true;
    }
    if !any {
        p.push('-');
    }
}

#[cfg(test)]
pub(crate) fn sample_state() -> OsState {
    OsState {
        mem_total_kib: 128 * 1024,
        mem_free_kib: 30 * 1024,
        frag_index: 64,
        crash_risk: RiskLevel::High,
        crash_confidence: 81,
        sched: SchedStats {
            policy: SchedPolicy::RoundRobin,
            runnable: 5,
            context_switches: 123_456,
        },
        io: IoStats {
            reads: 420,
            writes: 12,
            pending: 1,
        },
        top_cpu: alloc::vec![
            ThreadCpu {
                name: "Shell".into(),
                cpu_pct: 95
            },
            ThreadCpu {
                name: "init".into(),
                cpu_pct: 12
            },
            ThreadCpu {
                name: "idle".into(),
                cpu_pct: 1
            },
        ],
        top_growth: alloc::vec![ThreadGrowth {
            name: "net-daemon".into(),
            kib_per_s: 9
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_documented_example() {
        let p = encode_prompt(&sample_state(), "Memory is tight!!");
        assert_eq!(
            p,
            "m3 f2 x6 rh8 srr5 c6 io321 cpu:shell9,init1 grow:netdaemo3 | memory is tight >"
        );
    }

    #[test]
    fn empty_and_extreme_states_encode() {
        let mut s = sample_state();
        s.mem_total_kib = 0;
        s.mem_free_kib = u64::MAX;
        s.frag_index = 255;
        s.sched.runnable = u32::MAX;
        s.sched.context_switches = u64::MAX;
        s.io = IoStats {
            reads: 0,
            writes: u64::MAX,
            pending: u32::MAX,
        };
        s.top_cpu.clear();
        s.top_growth = alloc::vec![ThreadGrowth {
            name: "???".into(),
            kib_per_s: u32::MAX
        }];
        assert_eq!(
            encode_prompt(&s, ""),
            "m0 f0 x9 rh8 srr9 c9 io099 cpu:- grow:?9 |  >"
        );
    }

    #[test]
    fn free_above_total_counts_as_all_free() {
        let mut s = sample_state();
        s.mem_free_kib = s.mem_total_kib * 3;
        assert_eq!(free_decile(&s), 9);
    }

    #[test]
    fn queries_are_normalised() {
        assert_eq!(
            normalize_query("  Show   the LAST 5 crashes?! "),
            "show the last 5 crashes"
        );
        assert_eq!(normalize_query("héllo wörld"), "h llo w rld");
        let long = "word ".repeat(40);
        let n = normalize_query(&long);
        assert!(n.len() <= MAX_QUERY_BYTES && n.ends_with("word"));
    }
}

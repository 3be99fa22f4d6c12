//! The command catalogue: every shell command the model may propose, and its grammar.
//!
//! [`CATALOGUE`] is the single list the kernel's execution allowlist, the corpus, the
//! expert policy and the constrained decoder share. Argument ranges come from the crate that
//! owns the command (`oom` for `crashctl`); the kernel's ktest
//! `catalogue_commands_run_through_the_registry` runs every entry at both ends of its range
//! through the real shell registry. Each [`CommandSpec`] is a sequence of
//! [`Arg`]s: fixed words and bounded decimal integers. The canonical text of a command is
//! its parts joined by single spaces, integers without leading zeros.
//!
//! - [`parse_command`] checks user or model text (any ASCII whitespace between parts,
//!   surrounding whitespace ignored) and returns a [`Command`].
//! - [`is_valid_prefix`] / [`is_complete`] check raw model output bytes against the
//!   canonical form; the constrained decoder ([`crate::mask`]) is built on them.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// One part of a command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A fixed word.
    Word(&'static str),
    /// A decimal integer in `min..=max`.
    Int {
        /// Smallest accepted value.
        min: u32,
        /// Largest accepted value.
        max: u32,
    },
}

/// What running a command does to the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Safety {
    /// Only reads and prints state (`sync` counts here: it writes what is already due).
    ReadOnly,
    /// Changes how the kernel behaves (`tune`, `auto`, `transformer`, `compact`,
    /// `reclaim`): proposed only when a request explicitly asks for that change.
    StateChanging,
}

/// How a grader or the kernel sees a command text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CommandClass {
    /// In the catalogue, read-only.
    ReadOnly,
    /// In the catalogue, state-changing.
    StateChanging,
    /// Not in the catalogue (unknown, destructive, out of range, never proposed).
    Forbidden,
}

/// A command form in the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Parts; the first is always a [`Arg::Word`] (the program name).
    pub parts: &'static [Arg],
    /// One-line description for `help`, the corpus and the documentation.
    pub help: &'static str,
    /// Read-only or state-changing.
    pub safety: Safety,
}

use Arg::{Int, Word};
use Safety::{ReadOnly, StateChanging};

/// `crashctl history N`: the predictor keeps this many records, so N ranges up to it. Defined
/// by the `oom` crate, whose kernel command checks the same bounds.
pub const HISTORY_RANGE: (u32, u32) = (1, oom::predictor::HISTORY as u32);
/// `crashctl tune N`: N is a percent, in the range `oom::predictor::threshold_from_percent`
/// accepts (the kernel also takes a fraction such as `0.55`, which this integer-only grammar
/// never produces).
pub const TUNE_PERCENT_RANGE: (u32, u32) = (
    oom::predictor::THRESHOLD_PERCENT_MIN,
    oom::predictor::THRESHOLD_PERCENT_MAX,
);
/// `crashctl log N`: the supervisor's action log holds this many entries.
pub const LOG_RANGE: (u32, u32) = (1, oom::supervisor::LOG_LEN as u32);
/// `memctl compact ORDER`: the buddy allocator's orders above 0.
pub const COMPACT_ORDER_RANGE: (u32, u32) = (1, buddy::MAX_ORDER as u32);
/// `memctl reclaim PAGES`: the kernel command's bound (`oom::RECLAIM_PAGES_MAX`).
pub const RECLAIM_PAGES_RANGE: (u32, u32) = (1, oom::RECLAIM_PAGES_MAX);

/// Directories of the data disk `ls` may be asked to list (a closed set keeps the grammar
/// finite and the model from inventing paths).
pub const LS_PATHS: [&str; 4] = ["/", "/models", "/models/adapters", "/metrics"];

const fn spec(parts: &'static [Arg], help: &'static str, safety: Safety) -> CommandSpec {
    CommandSpec {
        parts,
        help,
        safety,
    }
}

/// Every command the model may propose (and the kernel's allowlist executes). Optional
/// arguments are separate forms (`crashctl history` and `crashctl history N`).
pub static CATALOGUE: &[CommandSpec] = &[
    spec(
        &[Word("meminfo")],
        "memory totals and free memory",
        ReadOnly,
    ),
    spec(
        &[Word("ps")],
        "list threads with CPU and memory use",
        ReadOnly,
    ),
    spec(&[Word("uptime")], "time since boot", ReadOnly),
    spec(&[Word("df")], "file-system usage", ReadOnly),
    spec(&[Word("sync")], "write dirty buffers to disk", ReadOnly),
    spec(
        &[Word("memctl"), Word("stats")],
        "allocator statistics",
        ReadOnly,
    ),
    spec(
        &[Word("memctl"), Word("compact")],
        "compact memory to reduce fragmentation",
        StateChanging,
    ),
    spec(
        &[Word("memctl"), Word("reclaim")],
        "reclaim caches to free memory",
        StateChanging,
    ),
    spec(
        &[Word("crashctl"), Word("status")],
        "crash-risk prediction now",
        ReadOnly,
    ),
    spec(
        &[
            Word("crashctl"),
            Word("history"),
            Int {
                min: HISTORY_RANGE.0,
                max: HISTORY_RANGE.1,
            },
        ],
        "the last n crash-risk events",
        ReadOnly,
    ),
    spec(
        &[Word("crashctl"), Word("stats")],
        "crash-predictor statistics",
        ReadOnly,
    ),
    spec(
        &[
            Word("crashctl"),
            Word("tune"),
            Int {
                min: TUNE_PERCENT_RANGE.0,
                max: TUNE_PERCENT_RANGE.1,
            },
        ],
        "set the crash-alarm threshold in percent (lower = more sensitive)",
        StateChanging,
    ),
    spec(
        &[Word("schedctl"), Word("stats")],
        "scheduler statistics",
        ReadOnly,
    ),
    spec(
        &[Word("schedctl"), Word("transformer"), Word("on")],
        "switch to the learned scheduler",
        StateChanging,
    ),
    spec(
        &[Word("schedctl"), Word("transformer"), Word("off")],
        "switch back to round-robin",
        StateChanging,
    ),
    spec(
        &[Word("llmctl"), Word("finetune-status")],
        "state of the LoRA fine-tune",
        ReadOnly,
    ),
    // Forms added with the redefined task (issue 11); appended so the indices above stay.
    spec(&[Word("version")], "kernel version", ReadOnly),
    spec(
        &[Word("ls")],
        "list the data disk's root directory",
        ReadOnly,
    ),
    spec(
        &[Word("ls"), Word(LS_PATHS[0])],
        "list the root directory",
        ReadOnly,
    ),
    spec(
        &[Word("ls"), Word(LS_PATHS[1])],
        "list the model files",
        ReadOnly,
    ),
    spec(
        &[Word("ls"), Word(LS_PATHS[2])],
        "list the LoRA adapters",
        ReadOnly,
    ),
    spec(
        &[Word("ls"), Word(LS_PATHS[3])],
        "list the exported metrics",
        ReadOnly,
    ),
    spec(
        &[
            Word("memctl"),
            Word("compact"),
            Int {
                min: COMPACT_ORDER_RANGE.0,
                max: COMPACT_ORDER_RANGE.1,
            },
        ],
        "compact memory to rebuild free blocks of the given order",
        StateChanging,
    ),
    spec(
        &[
            Word("memctl"),
            Word("reclaim"),
            Int {
                min: RECLAIM_PAGES_RANGE.0,
                max: RECLAIM_PAGES_RANGE.1,
            },
        ],
        "reclaim up to the given number of 4 KiB pages",
        StateChanging,
    ),
    spec(
        &[Word("crashctl"), Word("history")],
        "the recent crash-risk events",
        ReadOnly,
    ),
    spec(
        &[Word("crashctl"), Word("auto"), Word("on")],
        "let the response ladder act on crash warnings",
        StateChanging,
    ),
    spec(
        &[Word("crashctl"), Word("auto"), Word("off")],
        "stop the response ladder acting (watch only)",
        StateChanging,
    ),
    spec(
        &[Word("crashctl"), Word("log")],
        "the recent ladder actions and OOM kills",
        ReadOnly,
    ),
    spec(
        &[
            Word("crashctl"),
            Word("log"),
            Int {
                min: LOG_RANGE.0,
                max: LOG_RANGE.1,
            },
        ],
        "the last n ladder actions and OOM kills",
        ReadOnly,
    ),
    spec(
        &[Word("llmctl"), Word("status")],
        "language model status and counters",
        ReadOnly,
    ),
    spec(
        &[Word("llmctl"), Word("state")],
        "the OS state the model sees",
        ReadOnly,
    ),
    spec(
        &[Word("llmctl"), Word("log")],
        "commands the model's answers led to",
        ReadOnly,
    ),
    spec(
        &[Word("llmctl"), Word("adapter"), Word("list")],
        "list the LoRA adapters",
        ReadOnly,
    ),
    spec(&[Word("metrics")], "export every metric", ReadOnly),
    spec(
        &[Word("metrics"), Word("prometheus")],
        "every metric in Prometheus text",
        ReadOnly,
    ),
    spec(
        &[Word("metrics"), Word("json")],
        "every metric as JSON",
        ReadOnly,
    ),
    spec(
        &[Word("netctl"), Word("status")],
        "network link, connections and traffic",
        ReadOnly,
    ),
    spec(
        &[Word("autoctl"), Word("ai-metrics")],
        "each learned component next to its baseline",
        ReadOnly,
    ),
];

/// Forms of the first task (the first entries of [`CATALOGUE`]): the intent corpus
/// ([`crate::corpus`]) and the shipped model cover these only.
pub const FIRST_TASK_FORMS: usize = 16;

/// Shell commands that exist in the kernel but are never in the grammar: destructive,
/// long-running or self-referential. Tests check the decoder mask cannot write them.
pub const NEVER_PROPOSED: &[&str] = &[
    "shutdown",
    "rm",
    "write",
    "mv",
    "mkdir",
    "cat",
    "echo",
    "memctl stress",
    "schedctl stress",
    "schedctl eval",
    "schedctl workload",
    "crashctl eval",
    "crashctl tune default",
    "llmctl infer",
    "llmctl eval",
    "llmctl finetune",
    "llmctl reload",
    "llmctl auto-execute",
    "llmctl adapter load",
    "llmctl adapter unload",
    "autoctl export-metrics",
];

/// The class of a command text: its catalogue entry's safety, or
/// [`CommandClass::Forbidden`] when it is not a catalogue command (what the grader of the
/// held-out set and the kernel's allowlist both use).
pub fn classify(text: &str) -> CommandClass {
    match parse_command(text) {
        Ok(c) => match c.spec().safety {
            ReadOnly => CommandClass::ReadOnly,
            StateChanging => CommandClass::StateChanging,
        },
        Err(_) => CommandClass::Forbidden,
    }
}

/// A parsed command: a catalogue entry plus its integer argument, if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Command {
    spec: usize,
    number: Option<u32>,
}

impl Command {
    /// `meminfo`, the first catalogue entry (harmless, read-only).
    pub const MEMINFO: Command = Command {
        spec: 0,
        number: None,
    };

    /// The catalogue entry.
    pub fn spec(&self) -> &'static CommandSpec {
        // `spec` is only ever set to a valid CATALOGUE index by this module.
        &CATALOGUE[self.spec]
    }

    /// Index of the entry in [`CATALOGUE`].
    pub fn spec_index(&self) -> usize {
        self.spec
    }

    /// The integer argument, for commands that take one.
    pub fn number(&self) -> Option<u32> {
        self.number
    }

    /// Builds the command whose canonical text is `text`; `None` if it is not in the
    /// catalogue. A convenience for code that names commands literally.
    pub fn from_canonical(text: &str) -> Option<Command> {
        parse_command(text).ok().filter(|c| c.to_text() == text)
    }

    /// Canonical text, e.g. `crashctl history 5`.
    pub fn to_text(&self) -> String {
        alloc::format!("{self}")
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in self.spec().parts.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match part {
                Word(w) => f.write_str(w)?,
                Int { .. } => write!(f, "{}", self.number.unwrap_or(0))?,
            }
        }
        Ok(())
    }
}

/// Why text is not a catalogue command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandError {
    /// The text is empty or only whitespace.
    Empty,
    /// No catalogue command starts with this program name.
    UnknownProgram(String),
    /// The program exists but the arguments match none of its forms.
    BadArguments(String),
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Empty => write!(f, "empty command"),
            CommandError::UnknownProgram(p) => write!(f, "{p}: not an allowed command"),
            CommandError::BadArguments(t) => write!(f, "{t}: arguments not allowed"),
        }
    }
}

impl core::error::Error for CommandError {}

/// Parses a decimal integer without sign or leading zeros, in `min..=max`.
fn parse_int(text: &str, min: u32, max: u32) -> Option<u32> {
    let leading_zero = text.len() > 1 && text.starts_with('0');
    if text.is_empty() || leading_zero || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u32>().ok().filter(|v| (min..=max).contains(v))
}

/// Parses `text` (see the module documentation for the accepted form).
pub fn parse_command(text: &str) -> Result<Command, CommandError> {
    let words: Vec<&str> = text.split_ascii_whitespace().collect();
    let Some(&program) = words.first() else {
        return Err(CommandError::Empty);
    };
    let mut known_program = false;
    for (index, spec) in CATALOGUE.iter().enumerate() {
        if !matches!(spec.parts.first(), Some(Word(w)) if *w == program) {
            continue;
        }
        known_program = true;
        if spec.parts.len() != words.len() {
            continue;
        }
        let mut number = None;
        let matches = spec
            .parts
            .iter()
            .zip(&words)
            .all(|(part, word)| match part {
                Word(w) => w == word,
                Int { min, max } => {
                    number = parse_int(word, *min, *max);
                    number.is_some()
                }
            });
        if matches {
            return Ok(Command {
                spec: index,
                number,
            });
        }
    }
    if known_program {
        Err(CommandError::BadArguments(String::from(text.trim())))
    } else {
        Err(CommandError::UnknownProgram(String::from(program)))
    }
}

/// How a byte string relates to one command form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PrefixMatch {
    /// Some canonical instance starts with the bytes.
    prefix: bool,
    /// The bytes are a whole canonical instance.
    complete: bool,
}

/// Whether a digit string can be extended (by appending digits) to a value in
/// `min..=max` without leading zeros.
fn digits_extendable(d: &[u8], min: u32, max: u32) -> bool {
    if d.is_empty() {
        return true;
    }
    if d.len() > 10 || (d.len() > 1 && d.first() == Some(&b'0')) {
        return false;
    }
    if d == b"0" {
        return min == 0;
    }
    let v = d
        .iter()
        .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
    let (min, max) = (u64::from(min), u64::from(max));
    let mut scale = 1u64;
    // Appending j digits gives values in [v·10^j, v·10^j + 10^j − 1].
    for _ in 0..=10 {
        let lo = v.saturating_mul(scale);
        if lo > max {
            return false;
        }
        if lo.saturating_add(scale - 1) >= min {
            return true;
        }
        scale = scale.saturating_mul(10);
    }
    false
}

fn match_spec(spec: &CommandSpec, text: &[u8]) -> PrefixMatch {
    let partial = PrefixMatch {
        prefix: true,
        complete: false,
    };
    let mut rest = text;
    for (i, part) in spec.parts.iter().enumerate() {
        if i > 0 {
            match rest.split_first() {
                None => return partial,
                Some((b' ', tail)) => rest = tail,
                Some(_) => return PrefixMatch::default(),
            }
        }
        let last = i + 1 == spec.parts.len();
        match part {
            Word(w) => {
                let w = w.as_bytes();
                if rest.len() < w.len() {
                    return PrefixMatch {
                        prefix: w.starts_with(rest),
                        complete: false,
                    };
                }
                let Some(tail) = rest.strip_prefix(w) else {
                    return PrefixMatch::default();
                };
                rest = tail;
            }
            Int { min, max } => {
                let n = rest.iter().take_while(|b| b.is_ascii_digit()).count();
                let (d, tail) = rest.split_at(n);
                let in_range = core::str::from_utf8(d)
                    .ok()
                    .and_then(|s| parse_int(s, *min, *max))
                    .is_some();
                if tail.is_empty() {
                    return PrefixMatch {
                        prefix: digits_extendable(d, *min, *max),
                        complete: last && in_range,
                    };
                }
                if !in_range {
                    return PrefixMatch::default();
                }
                rest = tail;
            }
        }
    }
    PrefixMatch {
        prefix: rest.is_empty(),
        complete: rest.is_empty(),
    }
}

/// Whether some canonical catalogue command starts with `text` (the empty string is a
/// valid prefix).
pub fn is_valid_prefix(text: &[u8]) -> bool {
    CATALOGUE.iter().any(|s| match_spec(s, text).prefix)
}

/// How many canonical catalogue commands start with `text`, counted up to `cap` (the
/// answer grammar uses it to keep a plan from ending in a dead end: a prefix only an
/// already-planned command completes).
pub fn count_completions(text: &[u8], cap: usize) -> usize {
    let mut total = 0usize;
    for spec in CATALOGUE {
        if match_spec(spec, text).prefix {
            total = total.saturating_add(spec_completions(spec, text, cap));
            if total >= cap {
                return cap;
            }
        }
    }
    total
}

/// Completions of `text` (a valid prefix of `spec`) within `spec`, up to `cap`.
fn spec_completions(spec: &CommandSpec, text: &[u8], cap: usize) -> usize {
    let Some(at) = spec.parts.iter().position(|p| matches!(p, Int { .. })) else {
        return 1;
    };
    let Int { min, max } = spec.parts[at] else {
        return 1;
    };
    // Bytes before the integer: the words and one space after each.
    let before: usize = spec.parts[..at]
        .iter()
        .map(|p| match p {
            Word(w) => w.len() + 1,
            Int { .. } => 0,
        })
        .sum();
    let all = (u64::from(max) - u64::from(min) + 1).min(cap as u64) as usize;
    let Some(rest) = text.get(before..) else {
        return all;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return all;
    }
    if digits < rest.len() {
        return 1;
    }
    let d = rest
        .iter()
        .fold(0u64, |acc, &b| acc * 10 + u64::from(b - b'0'));
    // Values whose decimal form starts with `d`: [d·10^j, (d+1)·10^j − 1] for j ≥ 0.
    let (min, max) = (u64::from(min), u64::from(max));
    let mut count = 0u64;
    let mut scale = 1u64;
    for _ in 0..=10 {
        let lo = d.saturating_mul(scale).max(min);
        let hi = d
            .saturating_add(1)
            .saturating_mul(scale)
            .saturating_sub(1)
            .min(max);
        if lo <= hi {
            count += hi - lo + 1;
        }
        if count >= cap as u64 || d.saturating_mul(scale) > max {
            break;
        }
        scale = scale.saturating_mul(10);
    }
    count.min(cap as u64) as usize
}

/// Whether `text` is exactly a canonical catalogue command.
pub fn is_complete(text: &[u8]) -> bool {
    CATALOGUE.iter().any(|s| match_spec(s, text).complete)
}

/// Length in bytes of the longest canonical command. A constrained decoder that allows
/// this many tokens plus `<eos>` always finishes a command (every token adds ≥ 1 byte).
pub fn max_command_len() -> usize {
    CATALOGUE
        .iter()
        .map(|spec| {
            let parts: usize = spec
                .parts
                .iter()
                .map(|p| match p {
                    Word(w) => w.len(),
                    Int { max, .. } => max.checked_ilog10().map_or(1, |d| d as usize + 1),
                })
                .sum();
            parts + spec.parts.len().saturating_sub(1)
        })
        .max()
        .unwrap_or(0)
}

/// Every canonical command text, with integer arguments at the given sample values
/// (those outside a form's range are skipped). Used by tests and documentation.
pub fn examples(sample_numbers: &[u32]) -> Vec<String> {
    let mut out = Vec::new();
    for (index, spec) in CATALOGUE.iter().enumerate() {
        match spec.parts.iter().find_map(|p| match p {
            Int { min, max } => Some((*min, *max)),
            Word(_) => None,
        }) {
            None => out.push(
                Command {
                    spec: index,
                    number: None,
                }
                .to_text(),
            ),
            Some((min, max)) => {
                for &n in sample_numbers.iter().filter(|n| (min..=max).contains(*n)) {
                    out.push(
                        Command {
                            spec: index,
                            number: Some(n),
                        }
                        .to_text(),
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_commands_parse_and_print_back() {
        for text in examples(&[1, 5, 10, 64, 99]) {
            let c = parse_command(&text).unwrap();
            assert_eq!(c.to_text(), text);
            assert!(is_complete(text.as_bytes()), "{text}");
            assert_eq!(Command::from_canonical(&text), Some(c));
        }
    }

    #[test]
    fn whitespace_is_flexible_for_parse_but_not_for_model_output() {
        let c = parse_command("  crashctl\thistory   7 ").unwrap();
        assert_eq!(c.to_text(), "crashctl history 7");
        assert_eq!(c.number(), Some(7));
        assert!(!is_complete(b"crashctl  history 7"));
        assert!(!is_complete(b" ps"));
    }

    #[test]
    fn bad_commands_are_rejected() {
        assert_eq!(parse_command("  "), Err(CommandError::Empty));
        assert_eq!(
            parse_command("rm -rf /"),
            Err(CommandError::UnknownProgram("rm".into()))
        );
        for bad in [
            "memctl",
            "memctl explode",
            "crashctl history 0",
            "crashctl history 65",
            "crashctl history 07",
            "crashctl history -1",
            "crashctl tune 100",
            "ps aux",
            "crashctl history 99999999999999999999",
        ] {
            assert!(
                matches!(parse_command(bad), Err(CommandError::BadArguments(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn prefixes() {
        for p in [
            "",
            "m",
            "mem",
            "memctl",
            "memctl ",
            "memctl c",
            "crashctl history ",
            "crashctl history 6",
            "crashctl tune 9",
            "schedctl transformer o",
        ] {
            assert!(is_valid_prefix(p.as_bytes()), "{p:?}");
        }
        for p in [
            " ",
            "x",
            "memctl  ",
            "memctl x",
            "crashctl history 0",
            "crashctl history 65",
            "crashctl history 7 ",
            "psx",
            "ps ",
            "crashctl tune 100",
        ] {
            assert!(!is_valid_prefix(p.as_bytes()), "{p:?}");
        }
        // Complete and still extendable: "history 6" may become "history 64".
        assert!(is_complete(b"crashctl history 6") && is_valid_prefix(b"crashctl history 6"));
        assert!(!is_complete(b"memctl") && !is_complete(b""));
    }

    #[test]
    fn longest_command_length() {
        let longest = examples(&[64, 99]).iter().map(String::len).max().unwrap();
        assert_eq!(max_command_len(), longest);
        assert_eq!(max_command_len(), "schedctl transformer off".len());
    }

    #[test]
    fn completions_are_counted() {
        assert_eq!(count_completions(b"ps", 5), 1);
        assert_eq!(count_completions(b"autoctl ai-metric", 5), 1);
        assert_eq!(count_completions(b"crashctl history 6", 9), 6); // 6, 60..=64
        assert_eq!(count_completions(b"crashctl history 6", 2), 2);
        assert_eq!(count_completions(b"crashctl history 65", 5), 0);
        assert_eq!(count_completions(b"crashctl log 3", 9), 4); // 3, 30, 31, 32
        assert_eq!(count_completions(b"crashctl log 3", 3), 3);
        assert_eq!(count_completions(b"ls", 9), 5);
        assert_eq!(count_completions(b"", 1000), 1000);
    }

    #[test]
    fn digit_extension() {
        assert!(digits_extendable(b"6", 1, 64));
        assert!(digits_extendable(b"64", 1, 64));
        assert!(!digits_extendable(b"65", 1, 64));
        assert!(!digits_extendable(b"0", 1, 64));
        assert!(digits_extendable(b"0", 0, 5));
        assert!(!digits_extendable(b"00", 0, 5));
        assert!(digits_extendable(b"1", 100, 100));
        assert!(!digits_extendable(b"99999999999", 0, u32::MAX));
    }

    #[test]
    fn every_program_name_is_unique_per_form() {
        let all = examples(&[3]);
        let mut sorted = all.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), all.len());
    }
}

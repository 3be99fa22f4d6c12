//! The answer grammar: what the model may write, and what the kernel may execute.
//!
//! An answer is one of
//!
//! - one catalogue command: `crashctl status`;
//! - a **plan** of up to [`MAX_PLAN`] catalogue commands joined by `"; "`:
//!   `memctl compact; memctl stats`;
//! - a **refusal** `refuse: <reason>` with a reason from the fixed set [`RefusalReason`]:
//!   `refuse: destructive`.
//!
//! Commands are the ones of [`crate::catalogue::CATALOGUE`], in canonical form, with their
//! argument ranges. [`is_valid_prefix`] / [`is_complete`] check raw model output against this
//! grammar byte by byte (the constrained decoder, [`crate::mask`], is built on them), so a
//! model decoding under the mask can only write a well-formed answer: never a command outside
//! the catalogue ([`crate::catalogue::NEVER_PROPOSED`]), never a fourth command, never a
//! free-text refusal. [`parse_answer`] reads what a user or a model wrote (whitespace around
//! parts is flexible); the kernel executes a plan command by command, each through the
//! allowlist, and executes nothing for a refusal.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use crate::catalogue::{self, Command, CommandError, parse_command};

/// Most commands in a plan.
pub const MAX_PLAN: usize = 3;
/// What joins the commands of a plan.
pub const PLAN_SEPARATOR: &str = "; ";
/// What starts a refusal.
pub const REFUSE_PREFIX: &str = "refuse: ";

/// Why the model refuses a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RefusalReason {
    /// Not about this machine (weather, poems, …).
    OutOfScope,
    /// Would destroy data or stop the machine (`rm -rf /`, shutdown, wipe the disk).
    Destructive,
    /// About the machine, but no allowed command does it (kill a thread, start a fine-tune,
    /// a value out of range).
    NotAllowed,
    /// Too vague or contradictory to act on.
    Unclear,
}

impl RefusalReason {
    /// Every reason, in grammar order.
    pub const ALL: [RefusalReason; 4] = [
        RefusalReason::OutOfScope,
        RefusalReason::Destructive,
        RefusalReason::NotAllowed,
        RefusalReason::Unclear,
    ];

    /// The reason's word in an answer.
    pub fn as_str(self) -> &'static str {
        match self {
            RefusalReason::OutOfScope => "out-of-scope",
            RefusalReason::Destructive => "destructive",
            RefusalReason::NotAllowed => "not-allowed",
            RefusalReason::Unclear => "unclear",
        }
    }

    /// The reason written `word`.
    pub fn from_word(word: &str) -> Option<RefusalReason> {
        Self::ALL.into_iter().find(|r| r.as_str() == word)
    }
}

/// A parsed answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Answer {
    /// One to [`MAX_PLAN`] commands, run in order.
    Plan(Vec<Command>),
    /// Nothing is run.
    Refuse(RefusalReason),
}

impl Answer {
    /// A one-command answer.
    pub fn command(c: Command) -> Answer {
        Answer::Plan(alloc::vec![c])
    }

    /// The commands to run (none for a refusal).
    pub fn commands(&self) -> &[Command] {
        match self {
            Answer::Plan(c) => c,
            Answer::Refuse(_) => &[],
        }
    }

    /// Canonical text, e.g. `memctl compact; memctl stats` or `refuse: unclear`.
    pub fn to_text(&self) -> String {
        alloc::format!("{self}")
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Refuse(r) => write!(f, "{REFUSE_PREFIX}{}", r.as_str()),
            Answer::Plan(commands) => {
                for (i, c) in commands.iter().enumerate() {
                    if i > 0 {
                        f.write_str(PLAN_SEPARATOR)?;
                    }
                    write!(f, "{c}")?;
                }
                Ok(())
            }
        }
    }
}

/// Why text is not an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AnswerError {
    /// Nothing but whitespace.
    Empty,
    /// A plan with more than [`MAX_PLAN`] commands (the count).
    TooManyCommands(usize),
    /// A refusal whose reason is not one of [`RefusalReason::ALL`].
    UnknownReason(String),
    /// A part of the plan is not a catalogue command (its position from 1, the error).
    Command(usize, CommandError),
    /// A plan names the same command twice (the position of the repetition, from 1).
    Repeated(usize),
}

impl fmt::Display for AnswerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnswerError::Empty => write!(f, "empty answer"),
            AnswerError::TooManyCommands(n) => {
                write!(f, "a plan has at most {MAX_PLAN} commands, this one {n}")
            }
            AnswerError::UnknownReason(r) => write!(
                f,
                "refusal reason '{r}' is not one of out-of-scope, destructive, not-allowed, unclear"
            ),
            AnswerError::Command(i, e) => write!(f, "command {i}: {e}"),
            AnswerError::Repeated(i) => write!(f, "command {i} repeats an earlier one"),
        }
    }
}

impl core::error::Error for AnswerError {}

/// Parses an answer (see the module documentation); whitespace around commands, the `;`
/// and the refusal reason is flexible.
pub fn parse_answer(text: &str) -> Result<Answer, AnswerError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(AnswerError::Empty);
    }
    if let Some(reason) = trimmed.strip_prefix("refuse:") {
        let reason = reason.trim();
        return RefusalReason::from_word(reason)
            .map(Answer::Refuse)
            .ok_or_else(|| AnswerError::UnknownReason(String::from(reason)));
    }
    let parts: Vec<&str> = trimmed.split(';').collect();
    if parts.len() > MAX_PLAN {
        return Err(AnswerError::TooManyCommands(parts.len()));
    }
    let commands = parts
        .iter()
        .enumerate()
        .map(|(i, p)| parse_command(p).map_err(|e| AnswerError::Command(i + 1, e)))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(i) = (1..commands.len()).find(|&i| commands[..i].contains(&commands[i])) {
        return Err(AnswerError::Repeated(i + 1));
    }
    Ok(Answer::Plan(commands))
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PrefixMatch {
    prefix: bool,
    complete: bool,
}

fn refusal_match(text: &[u8]) -> PrefixMatch {
    let mut m = PrefixMatch::default();
    let head = REFUSE_PREFIX.as_bytes();
    if text.len() < head.len() {
        m.prefix = head.starts_with(text);
        return m;
    }
    let Some(rest) = text.strip_prefix(head) else {
        return m;
    };
    // Compared in place: the mask calls this for every candidate token at every step.
    for r in RefusalReason::ALL {
        let reason = r.as_str().as_bytes();
        m.prefix |= reason.starts_with(rest);
        m.complete |= reason == rest;
    }
    m
}

fn plan_match(text: &[u8]) -> PrefixMatch {
    let parts: Vec<&[u8]> = text.split(|&b| b == b';').collect();
    if parts.len() > MAX_PLAN {
        return PrefixMatch::default();
    }
    let last = parts.len() - 1;
    let mut earlier: Vec<&[u8]> = Vec::with_capacity(MAX_PLAN);
    for (i, part) in parts.iter().enumerate() {
        let command = if i == 0 {
            *part
        } else {
            match part.strip_prefix(b" ") {
                Some(rest) => rest,
                // `…;` with the separator's space still to come.
                None if part.is_empty() && i == last => {
                    return PrefixMatch {
                        prefix: true,
                        complete: false,
                    };
                }
                None => return PrefixMatch::default(),
            }
        };
        let repeated = earlier.contains(&command);
        if i < last {
            if repeated || !catalogue::is_complete(command) {
                return PrefixMatch::default();
            }
            earlier.push(command);
        } else {
            // A plan never repeats a command: the last part must still be completable to a
            // command not planned yet (`crashctl history 6` may become `… 64`), so the mask
            // never leads into a dead end.
            let taken = earlier.iter().filter(|e| e.starts_with(command)).count();
            return PrefixMatch {
                prefix: catalogue::is_valid_prefix(command)
                    && catalogue::count_completions(command, taken + 1) > taken,
                complete: catalogue::is_complete(command) && !repeated,
            };
        }
    }
    PrefixMatch::default()
}

/// Whether some canonical answer starts with `text` (the empty string is a valid prefix).
pub fn is_valid_prefix(text: &[u8]) -> bool {
    refusal_match(text).prefix || plan_match(text).prefix
}

/// Whether `text` is exactly a canonical answer.
pub fn is_complete(text: &[u8]) -> bool {
    refusal_match(text).complete || plan_match(text).complete
}

/// Length in bytes of the longest canonical answer: a constrained decoder allowed this many
/// tokens plus `<eos>` always finishes an answer (every token adds at least one byte).
pub fn max_answer_len() -> usize {
    let plan = MAX_PLAN * catalogue::max_command_len() + (MAX_PLAN - 1) * PLAN_SEPARATOR.len();
    let refusal = RefusalReason::ALL
        .iter()
        .map(|r| REFUSE_PREFIX.len() + r.as_str().len())
        .max()
        .unwrap_or(0);
    plan.max(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::{CommandClass, NEVER_PROPOSED, classify, examples};

    #[test]
    fn refusals_parse_print_and_match() {
        for r in RefusalReason::ALL {
            let text = alloc::format!("refuse: {}", r.as_str());
            assert_eq!(parse_answer(&text), Ok(Answer::Refuse(r)));
            assert_eq!(Answer::Refuse(r).to_text(), text);
            assert!(is_complete(text.as_bytes()));
            assert!(!is_valid_prefix(alloc::format!("{text}; ps").as_bytes()));
        }
        assert_eq!(
            parse_answer("refuse:unclear"),
            Ok(Answer::Refuse(RefusalReason::Unclear))
        );
        assert!(matches!(
            parse_answer("refuse: because I said so"),
            Err(AnswerError::UnknownReason(_))
        ));
        assert!(is_valid_prefix(b"refuse: de"));
        assert!(!is_complete(b"refuse: de"));
        assert!(!is_valid_prefix(b"refuse: because"));
        assert!(!is_valid_prefix(b"refuse:  unclear"));
    }

    #[test]
    fn plans_of_up_to_three_commands() {
        let plan = "memctl compact; memctl stats; crashctl status";
        let a = parse_answer(plan).unwrap();
        assert_eq!(a.commands().len(), 3);
        assert_eq!(a.to_text(), plan);
        assert!(is_complete(plan.as_bytes()));
        assert_eq!(
            parse_answer(" memctl compact ;memctl   stats ")
                .unwrap()
                .to_text(),
            "memctl compact; memctl stats"
        );
        for prefix in ["ps;", "ps; ", "ps; mem", "ps; meminfo; crashctl h"] {
            assert!(is_valid_prefix(prefix.as_bytes()), "{prefix}");
            assert!(!is_complete(prefix.as_bytes()), "{prefix}");
        }
        // A fourth command, a missing or doubled space, an incomplete first command.
        for bad in [
            "ps; df; uptime;",
            "ps; df; uptime; sync",
            "ps;ps",
            "ps;  ps",
            "mem; ps",
            "ps; ",
            "; ps",
        ] {
            assert!(!is_complete(bad.as_bytes()), "{bad}");
        }
        for bad in ["ps; df; uptime;", "ps;ps", "ps;  ", "mem; ", ";"] {
            assert!(!is_valid_prefix(bad.as_bytes()), "{bad}");
        }
        assert_eq!(
            parse_answer("ps; ps; ps; ps"),
            Err(AnswerError::TooManyCommands(4))
        );
        // No command twice in a plan, under the mask or in parsing.
        assert_eq!(parse_answer("ps; df; ps"), Err(AnswerError::Repeated(3)));
        assert!(!is_complete(b"ps; ps") && !is_valid_prefix(b"ps; ps"));
        assert!(!is_valid_prefix(b"meminfo; df; meminfo"));
        assert!(is_valid_prefix(b"crashctl history 6; crashctl history 6"));
        assert!(!is_complete(b"crashctl history 6; crashctl history 6"));
        assert!(is_complete(b"crashctl history 6; crashctl history 64"));
        assert!(matches!(
            parse_answer("ps; rm -rf /"),
            Err(AnswerError::Command(2, CommandError::UnknownProgram(_)))
        ));
        assert_eq!(parse_answer(" \t"), Err(AnswerError::Empty));
    }

    #[test]
    fn arguments_at_their_limits() {
        use crate::catalogue::{
            COMPACT_ORDER_RANGE, HISTORY_RANGE, LOG_RANGE, RECLAIM_PAGES_RANGE, TUNE_PERCENT_RANGE,
        };
        for (cmd, (min, max)) in [
            ("crashctl history", HISTORY_RANGE),
            ("crashctl tune", TUNE_PERCENT_RANGE),
            ("crashctl log", LOG_RANGE),
            ("memctl compact", COMPACT_ORDER_RANGE),
            ("memctl reclaim", RECLAIM_PAGES_RANGE),
        ] {
            for ok in [min, max] {
                let text = alloc::format!("{cmd} {ok}");
                assert!(is_complete(text.as_bytes()), "{text}");
                assert!(parse_answer(&text).is_ok(), "{text}");
            }
            for bad in [min - 1, max + 1] {
                let text = alloc::format!("{cmd} {bad}");
                assert!(!is_complete(text.as_bytes()), "{text}");
                assert!(!is_valid_prefix(text.as_bytes()), "{text}");
                assert!(parse_answer(&text).is_err(), "{text}");
                assert_eq!(classify(&text), CommandClass::Forbidden, "{text}");
            }
        }
        // The kernel's own bounds, not the old catalogue's 1..64 and 1..99 guesses.
        assert_eq!(HISTORY_RANGE.1 as usize, oom::predictor::HISTORY);
        assert_eq!(LOG_RANGE.1 as usize, oom::supervisor::LOG_LEN);
    }

    #[test]
    fn never_proposed_commands_are_not_answers() {
        for forbidden in NEVER_PROPOSED {
            assert_eq!(classify(forbidden), CommandClass::Forbidden, "{forbidden}");
            assert!(parse_answer(forbidden).is_err(), "{forbidden}");
            assert!(!is_complete(forbidden.as_bytes()), "{forbidden}");
            // No continuation of the forbidden word(s) is an answer either.
            let spaced = alloc::format!("{forbidden} ");
            assert!(!is_valid_prefix(spaced.as_bytes()), "{spaced}");
            let planned = alloc::format!("ps; {forbidden} ");
            assert!(!is_valid_prefix(planned.as_bytes()), "{planned}");
        }
    }

    #[test]
    fn classes() {
        assert_eq!(classify("crashctl status"), CommandClass::ReadOnly);
        assert_eq!(classify("ls /models"), CommandClass::ReadOnly);
        assert_eq!(classify("memctl reclaim 256"), CommandClass::StateChanging);
        assert_eq!(classify("crashctl auto off"), CommandClass::StateChanging);
        assert_eq!(
            classify("schedctl transformer on"),
            CommandClass::StateChanging
        );
        assert_eq!(classify("shutdown"), CommandClass::Forbidden);
        assert_eq!(classify("ls /etc"), CommandClass::Forbidden);
        let state_changing: Vec<String> = examples(&[1])
            .into_iter()
            .filter(|c| classify(c) == CommandClass::StateChanging)
            .collect();
        for c in &state_changing {
            let program_and_verb: Vec<&str> = c.split(' ').take(2).collect();
            assert!(
                [
                    ["crashctl", "tune"],
                    ["crashctl", "auto"],
                    ["schedctl", "transformer"],
                    ["memctl", "compact"],
                    ["memctl", "reclaim"],
                ]
                .iter()
                .any(|k| k[..] == program_and_verb[..]),
                "{c} is state-changing but not one of the issue's five"
            );
        }
        assert_eq!(state_changing.len(), 9);
    }

    #[test]
    fn longest_answer() {
        let longest = catalogue::max_command_len();
        let plan = [
            "schedctl transformer off",
            "schedctl transformer on",
            "llmctl finetune-status",
        ]
        .join(PLAN_SEPARATOR);
        assert!(is_complete(plan.as_bytes()));
        assert_eq!(longest, "schedctl transformer off".len());
        // The bound allows three of the longest (distinct plans are at most that long).
        assert!(max_answer_len() >= plan.len());
        assert_eq!(max_answer_len(), 3 * longest + 2 * PLAN_SEPARATOR.len());
    }
}

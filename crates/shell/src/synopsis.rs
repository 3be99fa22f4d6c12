//! Usage synopses and the argument counts they imply.
//!
//! Every command and subcommand is registered with a synopsis of the arguments after its name,
//! which `help` and usage errors print. The registry also reads it, once, at registration, into
//! an [`Arity`] (the smallest and largest number of arguments), and refuses a line with a count
//! outside it before the handler runs — so `help` and enforcement cannot disagree. A synopsis
//! that does not follow the grammar below is a registration error
//! ([`crate::registry::RegisterError::BadSynopsis`]).
//!
//! # Grammar
//!
//! ```text
//! synopsis    = "" | alternative *( " | " alternative )
//! alternative = item *( " " item )
//! item        = "<" choice ">"        required: one argument
//!             | "[" alternative "]"   optional: its arguments, or none
//!             | choice                a literal word, one argument (`stop`)
//! choice      = name *( "|" name ) [ "..." ]
//! name        = 1*( ASCII letter, digit or punctuation other than < > [ ] | )
//! ```
//!
//! - `<X>` counts 1, `[X]` counts 0 or whatever `X` counts (`[A [B]]` is 0–2), a literal word
//!   counts 1; the counts of an alternative's items add up.
//! - `...` at the end of a choice repeats it without bound: `<TEXT...>` is 1 or more,
//!   `[TEXT...]` 0 or more. Anywhere else `...` is an error.
//! - `a|b` inside one item is a choice of words for one argument (`<on|off>`,
//!   `[prometheus|json]`); ` | ` (with spaces, at the top level only) separates whole
//!   alternatives, and the arity spans them all: `<leak|bursty> [SEED] | stop | status` takes
//!   1–2 arguments. A handler may check finer rules (that `stop` takes no seed) itself.
//! - Items are separated by exactly one space; no leading, trailing or doubled spaces, no tabs,
//!   no non-ASCII text (write `...`, not `…`).
//!
//! Only the count is enforced here: which words are valid, and whether a number is in range, is
//! the handler's business (with [`crate::parse`]).

use core::fmt;

use crate::parse::too_many_or_too_few;
use crate::registry::CommandError;

/// How many arguments a command takes: at least `min`, at most `max` (`None`: no limit).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arity {
    /// Fewest arguments.
    pub min: usize,
    /// Most arguments; `None` when a `...` makes it unbounded.
    pub max: Option<usize>,
}

impl Arity {
    /// No arguments at all (the synopsis `""`).
    pub const NONE: Arity = Arity {
        min: 0,
        max: Some(0),
    };

    /// Whether `count` arguments fit.
    pub fn accepts(self, count: usize) -> bool {
        count >= self.min && self.max.is_none_or(|max| count <= max)
    }

    /// `Ok` when `count` arguments fit, otherwise the usage error every command gives for a
    /// wrong count ("takes no arguments, got 2", "expected at most 1 argument, got 3",
    /// "expected at least 2 arguments, got 1").
    pub fn check(self, count: usize) -> Result<(), CommandError> {
        too_many_or_too_few(count, self.min, self.max)
    }

    fn then(self, next: Arity) -> Arity {
        Arity {
            min: self.min.saturating_add(next.min),
            max: self.max.zip(next.max).map(|(a, b)| a.saturating_add(b)),
        }
    }

    fn or(self, other: Arity) -> Arity {
        Arity {
            min: self.min.min(other.min),
            max: self.max.zip(other.max).map(|(a, b)| a.max(b)),
        }
    }

    fn optional(self) -> Arity {
        Arity { min: 0, ..self }
    }
}

impl fmt::Display for Arity {
    /// `0`, `1-2`, `2 or more`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max {
            Some(max) if max == self.min => write!(f, "{max}"),
            Some(max) => write!(f, "{}-{max}", self.min),
            None => write!(f, "{} or more", self.min),
        }
    }
}

/// Why a synopsis could not be read: the byte offset where reading stopped and what was wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynopsisError {
    /// Byte offset into the synopsis.
    pub at: usize,
    /// What was expected or found there.
    pub problem: &'static str,
}

impl fmt::Display for SynopsisError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at column {})", self.problem, self.at + 1)
    }
}

/// Reads `synopsis` by the grammar in the module documentation into the argument counts it
/// allows: `""` is [`Arity::NONE`], `"<FROM> <TO>"` is exactly 2, `"[TEXT...]"` is 0 or more.
pub fn parse_synopsis(synopsis: &str) -> Result<Arity, SynopsisError> {
    if synopsis.is_empty() {
        return Ok(Arity::NONE);
    }
    if let Some((at, _)) = synopsis
        .char_indices()
        .find(|&(_, c)| !(c == ' ' || c.is_ascii_graphic()))
    {
        return Err(SynopsisError {
            at,
            problem: "only ASCII letters, digits, punctuation and single spaces may appear",
        });
    }
    let mut reader = Reader {
        text: synopsis.as_bytes(),
        at: 0,
    };
    let mut arity = reader.alternative(false)?;
    while reader.rest().starts_with(b" | ") {
        reader.at += 3;
        arity = arity.or(reader.alternative(false)?);
    }
    match reader.peek() {
        None => Ok(arity),
        Some(b']') => Err(reader.error("']' without a '['")),
        Some(_) => Err(reader.error("expected ' | ' or the end")),
    }
}

/// A cursor over the synopsis (ASCII only, checked before it is made).
struct Reader<'a> {
    text: &'a [u8],
    at: usize,
}

const ELLIPSIS: &[u8] = b"...";

impl Reader<'_> {
    fn rest(&self) -> &[u8] {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.at).copied()
    }

    fn error(&self, problem: &'static str) -> SynopsisError {
        SynopsisError {
            at: self.at,
            problem,
        }
    }

    /// Items separated by single spaces, up to the end, a `]` (when `nested`) or, at the top
    /// level, ` | `.
    fn alternative(&mut self, nested: bool) -> Result<Arity, SynopsisError> {
        let mut arity = self.item(nested)?;
        loop {
            if self.peek() != Some(b' ') || (!nested && self.rest().starts_with(b" | ")) {
                return Ok(arity);
            }
            self.at += 1;
            arity = arity.then(self.item(nested)?);
        }
    }

    fn item(&mut self, nested: bool) -> Result<Arity, SynopsisError> {
        match self.peek() {
            None => Err(self.error("expected an argument, found the end")),
            Some(b' ') => Err(self.error("expected an argument, found a second space")),
            Some(b'<') => {
                self.at += 1;
                let repeated = self.choice()?;
                if self.peek() != Some(b'>') {
                    return Err(self.error("expected '>' to close the '<'"));
                }
                self.at += 1;
                Ok(Self::one(repeated))
            }
            Some(b'[') => {
                self.at += 1;
                let inner = self.alternative(true)?;
                if self.peek() != Some(b']') {
                    return Err(self.error("expected ']' to close the '['"));
                }
                self.at += 1;
                Ok(inner.optional())
            }
            Some(b'|') if nested => Err(self.error(
                "' | ' separates alternatives only at the top level; inside brackets write a|b",
            )),
            Some(b'>' | b']' | b'|') => Err(self.error("expected an argument")),
            Some(_) => Ok(Self::one(self.choice()?)),
        }
    }

    /// A word or `a|b|c`, with an optional trailing `...`; returns whether it repeats.
    fn choice(&mut self) -> Result<bool, SynopsisError> {
        let start = self.at;
        let len = self
            .rest()
            .iter()
            .position(|b| matches!(b, b' ' | b'<' | b'>' | b'[' | b']'))
            .unwrap_or(self.rest().len());
        let word = self.rest().get(..len).unwrap_or_default();
        let (names, repeated) = match word.strip_suffix(ELLIPSIS) {
            Some(names) => (names, true),
            None => (word, false),
        };
        let mut offset = start;
        for name in names.split(|&b| b == b'|') {
            if name.is_empty() {
                self.at = offset;
                return Err(self.error("expected a name"));
            }
            if let Some(dots) = name.windows(ELLIPSIS.len()).position(|w| w == ELLIPSIS) {
                self.at = offset + dots;
                return Err(self.error("'...' may only end a name"));
            }
            offset += name.len() + 1;
        }
        self.at = start + len;
        Ok(repeated)
    }

    fn one(repeated: bool) -> Arity {
        Arity {
            min: 1,
            max: if repeated { None } else { Some(1) },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arity(min: usize, max: Option<usize>) -> Result<Arity, SynopsisError> {
        Ok(Arity { min, max })
    }

    #[test]
    fn every_synopsis_in_the_kernel_reads() {
        for (synopsis, expected) in [
            ("", arity(0, Some(0))),
            ("[TEXT...]", arity(0, None)),
            ("[prometheus|json]", arity(0, Some(1))),
            ("<threads>", arity(1, Some(1))),
            ("[PATH]", arity(0, Some(1))),
            ("<PATH>", arity(1, Some(1))),
            ("<PATH> <TEXT...>", arity(2, None)),
            ("<FROM> <TO>", arity(2, Some(2))),
            ("[ORDER]", arity(0, Some(1))),
            (
                "<leak|bursty|fragment|benign> [SEED] | stop | status",
                arity(1, Some(2)),
            ),
            ("<PERCENT|FRACTION|default>", arity(1, Some(1))),
            ("<on|off>", arity(1, Some(1))),
            ("<RUNS> <SEED>", arity(2, Some(2))),
            ("[COMMAND [SUBCOMMAND]]", arity(0, Some(2))),
        ] {
            assert_eq!(parse_synopsis(synopsis), expected, "{synopsis:?}");
        }
    }

    #[test]
    fn display_names_the_range() {
        assert_eq!(Arity::NONE.to_string(), "0");
        assert_eq!(parse_synopsis("<A> [B]").unwrap().to_string(), "1-2");
        assert_eq!(
            parse_synopsis("<A> <B...>").unwrap().to_string(),
            "2 or more"
        );
    }
}

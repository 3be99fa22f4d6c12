//! Splitting a command line into arguments.
//!
//! [`split_args`] separates words at whitespace. Double quotes group words (`echo "a  b"` has one
//! argument `a  b`) and may touch plain text (`x"y z"` is `xy z`); `""` is an empty argument.
//! Inside quotes `\"` and `\\` stand for `"` and `\`; a backslash before anything else, or outside
//! quotes, is an ordinary character, so paths and regular text pass through unchanged. A quote
//! that is never closed is an [`ArgError`].
//!
//! Neighbours: [`crate::registry::CommandRegistry`] splits each line with it before dispatching.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why a line could not be split into arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    /// A double quote opened at this byte offset is never closed.
    UnterminatedQuote {
        /// Byte offset of the opening quote in the line.
        at: usize,
    },
}

impl fmt::Display for ArgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ArgError::UnterminatedQuote { at } => {
                write!(f, "unterminated quote (opened at column {})", at + 1)
            }
        }
    }
}

/// Splits `line` into arguments; see the module documentation for the rules.
pub fn split_args(line: &str) -> Result<Vec<String>, ArgError> {
    let mut words = Vec::new();
    // `None` between words; quotes make a word exist even when it stays empty.
    let mut word: Option<String> = None;
    let mut chars = line.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if c == '"' {
            let word = word.get_or_insert_with(String::new);
            loop {
                match chars.next() {
                    None => return Err(ArgError::UnterminatedQuote { at }),
                    Some((_, '"')) => break,
                    Some((_, '\\')) => match chars.peek() {
                        Some(&(_, escaped @ ('"' | '\\'))) => {
                            word.push(escaped);
                            chars.next();
                        }
                        _ => word.push('\\'),
                    },
                    Some((_, other)) => word.push(other),
                }
            }
        } else if c.is_whitespace() {
            if let Some(done) = word.take() {
                words.push(done);
            }
        } else {
            word.get_or_insert_with(String::new).push(c);
        }
    }
    if let Some(done) = word {
        words.push(done);
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;
    use proptest::prelude::*;

    fn split(line: &str) -> Vec<String> {
        match split_args(line) {
            Ok(words) => words,
            Err(error) => panic!("{line:?} failed to split: {error}"),
        }
    }

    #[test]
    fn splits_at_any_whitespace() {
        assert_eq!(split("  ps \t -a  "), vec!["ps", "-a"]);
        assert!(split("").is_empty());
        assert!(split(" \t ").is_empty());
    }

    #[test]
    fn quotes_group_and_join_adjacent_text() {
        assert_eq!(split(r#"echo "a  b" c"#), vec!["echo", "a  b", "c"]);
        assert_eq!(split(r#"x"y z"w"#), vec!["xy zw"]);
        assert_eq!(split(r#"a "" b"#), vec!["a", "", "b"]);
        assert_eq!(split(r#""""#), vec![""]);
    }

    #[test]
    fn backslash_escapes_only_quote_and_backslash_inside_quotes() {
        assert_eq!(split(r#""say \"hi\"""#), vec![r#"say "hi""#]);
        assert_eq!(split(r#""a\\b""#), vec![r"a\b"]);
        assert_eq!(split(r#""a\nb""#), vec![r"a\nb"]);
        assert_eq!(split(r"a\b c\"), vec![r"a\b", r"c\"]);
    }

    #[test]
    fn unterminated_quote_is_an_error_with_its_position() {
        assert_eq!(
            split_args(r#"echo "abc"#),
            Err(ArgError::UnterminatedQuote { at: 5 })
        );
        assert_eq!(
            split_args(r#"echo "a\""#),
            Err(ArgError::UnterminatedQuote { at: 5 })
        );
        assert_eq!(
            ArgError::UnterminatedQuote { at: 5 }.to_string(),
            "unterminated quote (opened at column 6)"
        );
    }

    /// Quotes a word so that `split_args` gives it back unchanged.
    fn quote(word: &str) -> String {
        let mut quoted = String::from("\"");
        for c in word.chars() {
            if c == '"' || c == '\\' {
                quoted.push('\\');
            }
            quoted.push(c);
        }
        quoted.push('"');
        quoted
    }

    proptest! {
        #[test]
        fn quoted_words_round_trip(words in proptest::collection::vec(".*", 0..6)) {
            let line = words.iter().map(|w| quote(w)).collect::<Vec<_>>().join(" ");
            prop_assert_eq!(split_args(&line), Ok(words));
        }

        #[test]
        fn any_text_splits_or_reports_a_quote(line in ".*") {
            match split_args(&line) {
                Ok(words) => {
                    for word in words {
                        prop_assert!(line.contains('"') || !word.is_empty());
                    }
                }
                Err(ArgError::UnterminatedQuote { at }) => {
                    prop_assert_eq!(line.as_bytes().get(at), Some(&b'"'));
                }
            }
        }
    }
}

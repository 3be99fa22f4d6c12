//! Argument helpers for command handlers: the shell's one number grammar, turning text into
//! numbers and other values, and counting arguments. Each failure is a
//! [`CommandError::Usage`] whose message names the argument and what was expected.
//!
//! # Numbers
//!
//! Every numeric argument of every command is read by [`number_form`], and nothing else:
//!
//! - an **integer** is one or more ASCII decimal digits: `4096`, `0`, `007` (leading zeros
//!   mean nothing; `010` is ten). No sign, no `0x`/`0o`/`0b`, no `_` separators, no spaces;
//! - a **fraction** is digits, one decimal point, digits: `0.55`, `1.0`, `12.5`. Both sides
//!   need a digit (`.5` and `5.` are refused), and there is no exponent, `inf` or `nan`.
//!
//! Why this one: it is what a person types without thinking of a programming language, it is
//! the form every command prints, and it is exactly what the model's command catalogue
//! (`oslang`) produces, so a proposal and a typed command mean the same thing. Every rejected
//! form is one where readers disagree: `0x10` is 16 in C but a typo elsewhere, `010` would be 8
//! to C's `strtol`, `+5`/`-5` invite negative counts, `1e3` and `inf` hide magnitudes. The
//! grammar is printed at the end of `help` ([`NUMBER_GRAMMAR`]).
//!
//! Integer types (`u8` … `u64`, `usize`) take the integer form and name their range when a
//! value does not fit; `f32`/`f64` take either form; [`Number`] says which form was written
//! (`crashctl tune 20` is a percent, `crashctl tune 0.2` a fraction). There are no signed
//! integer arguments. `bool` accepts `true/false`, `on/off`, `yes/no`, `1/0`. Offending text is
//! quoted with `escape_debug`, so an error stays one printable line whatever the input was.
//!
//! Neighbours: handlers registered in [`crate::registry::CommandRegistry`] call these; the
//! registry itself counts arguments against each command's synopsis ([`crate::synopsis`]) with
//! the same messages as [`expect_arg_count`].

use crate::registry::CommandError;
use alloc::format;
use alloc::string::String;

/// The number grammar in one line, as `help` prints it after the command list.
pub const NUMBER_GRAMMAR: &str = "numbers: an integer is decimal digits only (4096); a fraction is digits, a point, digits (0.55); no sign, 0x, _, exponent, inf or nan";

/// What [`number_form`] found: which of the two number forms the text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumberForm {
    /// Decimal digits only.
    Integer,
    /// Digits, one point, digits.
    Fraction,
}

/// The shell's number grammar: which form `text` is written in, or `None` when it is not a
/// number (see the module documentation). Every numeric argument goes through here.
pub fn number_form(text: &str) -> Option<NumberForm> {
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    match text.split_once('.') {
        None if digits(text) => Some(NumberForm::Integer),
        Some((whole, fraction)) if digits(whole) && digits(fraction) => Some(NumberForm::Fraction),
        _ => None,
    }
}

/// A numeric argument that may be written in either form, for commands that give the two
/// forms different meanings (`crashctl tune 20` is 20 %, `crashctl tune 0.2` the fraction).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// The integer form.
    Integer(u64),
    /// The fraction form, as the nearest `f64`.
    Fraction(f64),
}

/// A type that command arguments can be parsed into.
pub trait ArgValue: Sized {
    /// What a valid argument looks like, for error messages ("an integer (decimal digits)").
    const EXPECTED: &'static str;

    /// Parses `text`; the error is the message after `NAME: `.
    fn parse_text(text: &str) -> Result<Self, String>;
}

/// `'text'` with control characters and quotes escaped so it prints on one line.
pub(crate) fn quoted(text: &str) -> String {
    format!("'{}'", text.escape_debug())
}

fn expected<T: ArgValue>(text: &str) -> String {
    format!("expected {}, got {}", T::EXPECTED, quoted(text))
}

fn too_large(text: &str) -> String {
    format!("{} is too large", quoted(text))
}

fn out_of_range(text: &str, max: impl core::fmt::Display) -> String {
    format!("{} is out of range (0..={max})", quoted(text))
}

impl ArgValue for Number {
    const EXPECTED: &'static str = "a number (decimal digits, at most one point: 20, 0.55)";

    fn parse_text(text: &str) -> Result<Self, String> {
        match number_form(text) {
            Some(NumberForm::Integer) => text
                .parse::<u64>()
                .map(Number::Integer)
                .map_err(|_| out_of_range(text, u64::MAX)),
            Some(NumberForm::Fraction) => match text.parse::<f64>() {
                Ok(value) if value.is_finite() => Ok(Number::Fraction(value)),
                _ => Err(too_large(text)),
            },
            None => Err(expected::<Self>(text)),
        }
    }
}

macro_rules! integer_arg {
    ($($ty:ty),* $(,)?) => {$(
        impl ArgValue for $ty {
            const EXPECTED: &'static str = "an integer (decimal digits only)";

            fn parse_text(text: &str) -> Result<Self, String> {
                if number_form(text) != Some(NumberForm::Integer) {
                    return Err(expected::<Self>(text));
                }
                // Digits only: `parse` can fail by overflow alone.
                text.parse::<$ty>().map_err(|_| out_of_range(text, <$ty>::MAX))
            }
        }
    )*};
}

integer_arg!(u8, u16, u32, u64, usize);

impl ArgValue for bool {
    const EXPECTED: &'static str = "true/false, on/off, yes/no or 1/0";

    fn parse_text(text: &str) -> Result<Self, String> {
        match text {
            "true" | "on" | "yes" | "1" => Ok(true),
            "false" | "off" | "no" | "0" => Ok(false),
            _ => Err(expected::<Self>(text)),
        }
    }
}

macro_rules! float_arg {
    ($($ty:ty),*) => {$(
        impl ArgValue for $ty {
            const EXPECTED: &'static str = "a number (decimal digits, at most one point: 20, 0.55)";

            fn parse_text(text: &str) -> Result<Self, String> {
                if number_form(text).is_none() {
                    return Err(expected::<Self>(text));
                }
                // The grammar is a subset of what `from_str` reads, so this is the correctly
                // rounded value; only a magnitude beyond the type's range is left to refuse.
                match text.parse::<$ty>() {
                    Ok(value) if value.is_finite() => Ok(value),
                    _ => Err(too_large(text)),
                }
            }
        }
    )*};
}

float_arg!(f32, f64);

/// Parses the argument called `name` (as written in the usage line) from `text`:
/// `parse_arg::<u64>("PAGES", "4096")` is `Ok(4096)`, `parse_arg::<u8>("N", "300")` is a usage
/// error `N: '300' is out of range (0..=255)`, `parse_arg::<u32>("N", "0x10")` is
/// `N: expected an integer (decimal digits only), got '0x10'`.
pub fn parse_arg<T: ArgValue>(name: &str, text: &str) -> Result<T, CommandError> {
    T::parse_text(text).map_err(|message| CommandError::Usage(format!("{name}: {message}")))
}

/// The argument at `index`, or a usage error saying that `name` is missing.
pub fn required_arg<'a>(
    args: &[&'a str],
    index: usize,
    name: &str,
) -> Result<&'a str, CommandError> {
    args.get(index)
        .copied()
        .ok_or_else(|| CommandError::Usage(format!("missing argument {name}")))
}

/// The argument at `index` parsed as `T`, or `None` when there are fewer arguments.
pub fn optional_arg<T: ArgValue>(
    args: &[&str],
    index: usize,
    name: &str,
) -> Result<Option<T>, CommandError> {
    args.get(index)
        .map(|text| parse_arg(name, text))
        .transpose()
}

/// Checks that there are between `min` and `max` arguments (inclusive). The registry already
/// enforces each command's synopsis with these messages; handlers call this for finer rules
/// (`memctl stress stop` takes no seed).
pub fn expect_arg_count(args: &[&str], min: usize, max: usize) -> Result<(), CommandError> {
    too_many_or_too_few(args.len(), min, Some(max))
}

/// The one wording of a wrong argument count, shared by [`expect_arg_count`] and the registry.
pub(crate) fn too_many_or_too_few(
    count: usize,
    min: usize,
    max: Option<usize>,
) -> Result<(), CommandError> {
    if count < min {
        let noun = if min == 1 { "argument" } else { "arguments" };
        return Err(CommandError::Usage(format!(
            "expected at least {min} {noun}, got {count}"
        )));
    }
    match max {
        Some(max) if count > max => Err(CommandError::Usage(match max {
            0 => format!("takes no arguments, got {count}"),
            1 => format!("expected at most 1 argument, got {count}"),
            _ => format!("expected at most {max} arguments, got {count}"),
        })),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;

    fn usage(message: &str) -> Result<(), CommandError> {
        Err(CommandError::Usage(message.to_string()))
    }

    #[test]
    fn the_number_grammar() {
        for text in ["0", "7", "4096", "007", "18446744073709551616"] {
            assert_eq!(number_form(text), Some(NumberForm::Integer), "{text:?}");
        }
        for text in ["0.55", "1.0", "00.50", "12.125"] {
            assert_eq!(number_form(text), Some(NumberForm::Fraction), "{text:?}");
        }
        for text in [
            "", " 1", "1 ", "+5", "-5", "0x10", "0X10", "0o7", "0b1", "1_000", "1,5", ".5", "5.",
            ".", "1.2.3", "1e3", "1.5e2", "inf", "nan", "NaN", "-0.5", "+0.5", "٣", "１",
        ] {
            assert_eq!(number_form(text), None, "{text:?}");
        }
    }

    #[test]
    fn integers_are_decimal_digits_only() {
        assert_eq!(parse_arg::<u64>("N", "4096"), Ok(4096));
        assert_eq!(parse_arg::<u64>("N", "0"), Ok(0));
        assert_eq!(
            parse_arg::<u32>("N", "010"),
            Ok(10),
            "leading zeros are not octal"
        );
        assert_eq!(parse_arg::<u8>("N", "255"), Ok(255));
        assert_eq!(
            parse_arg::<u64>("N", u64::MAX.to_string().as_str()),
            Ok(u64::MAX)
        );
        assert_eq!(parse_arg::<usize>("N", "64"), Ok(64));
    }

    #[test]
    fn integer_errors_name_the_argument_and_the_problem() {
        let err = |r: Result<u64, CommandError>| r.map(|_| ());
        for bad in [
            "12x", "", "-1", "0x", "0x10", "0XfF", "+5", "1.0", "1e3", " 1",
        ] {
            assert_eq!(
                err(parse_arg::<u64>("COUNT", bad)),
                usage(&format!(
                    "COUNT: expected an integer (decimal digits only), got {}",
                    quoted(bad)
                )),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_arg::<u8>("N", "256").map(|_| ()),
            usage("N: '256' is out of range (0..=255)")
        );
        assert_eq!(
            err(parse_arg::<u64>("N", "18446744073709551616")),
            usage("N: '18446744073709551616' is out of range (0..=18446744073709551615)")
        );
        assert_eq!(
            err(parse_arg::<u64>("N", "1\n2")),
            usage("N: expected an integer (decimal digits only), got '1\\n2'")
        );
    }

    #[test]
    fn numbers_keep_their_form() {
        assert_eq!(parse_arg::<Number>("T", "20"), Ok(Number::Integer(20)));
        assert_eq!(parse_arg::<Number>("T", "0.55"), Ok(Number::Fraction(0.55)));
        assert_eq!(parse_arg::<Number>("T", "1.0"), Ok(Number::Fraction(1.0)));
        for bad in [
            "0x10", "+5", ".5", "5.", "1e-1", "nan", "inf", "-0.5", "default",
        ] {
            assert_eq!(
                parse_arg::<Number>("T", bad).map(|_| ()),
                usage(&format!(
                    "T: expected a number (decimal digits, at most one point: 20, 0.55), got {}",
                    quoted(bad)
                )),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_arg::<Number>("T", "99999999999999999999").map(|_| ()),
            usage("T: '99999999999999999999' is out of range (0..=18446744073709551615)")
        );
    }

    #[test]
    fn bools_and_floats() {
        assert_eq!(parse_arg::<bool>("ON", "on"), Ok(true));
        assert_eq!(parse_arg::<bool>("ON", "0"), Ok(false));
        assert_eq!(
            parse_arg::<bool>("ON", "maybe").map(|_| ()),
            usage("ON: expected true/false, on/off, yes/no or 1/0, got 'maybe'")
        );
        assert_eq!(parse_arg::<f64>("X", "0.25"), Ok(0.25));
        assert_eq!(parse_arg::<f64>("X", "3"), Ok(3.0));
        assert_eq!(parse_arg::<f32>("X", "0.1"), Ok(0.1f32));
        for bad in ["inf", "NaN", "1e3", ".5", "-1.0", "0x1p3"] {
            assert_eq!(
                parse_arg::<f64>("X", bad).map(|_| ()),
                usage(&format!(
                    "X: expected a number (decimal digits, at most one point: 20, 0.55), got {}",
                    quoted(bad)
                )),
                "{bad:?}"
            );
        }
        let huge = "9".repeat(40);
        assert_eq!(
            parse_arg::<f32>("X", &huge).map(|_| ()),
            usage(&format!("X: '{huge}' is too large"))
        );
    }

    #[test]
    fn argument_presence_and_counts() {
        let args = ["history", "5"];
        assert_eq!(required_arg(&args, 1, "N"), Ok("5"));
        assert_eq!(
            required_arg(&args, 2, "N").map(|_| ()),
            usage("missing argument N")
        );
        assert_eq!(optional_arg::<u32>(&args, 1, "N"), Ok(Some(5)));
        assert_eq!(optional_arg::<u32>(&args, 2, "N"), Ok(None));
        assert_eq!(
            optional_arg::<u32>(&args, 0, "N").map(|_| ()),
            usage("N: expected an integer (decimal digits only), got 'history'")
        );
        assert_eq!(expect_arg_count(&args, 0, 2), Ok(()));
        assert_eq!(
            expect_arg_count(&args, 3, 4),
            usage("expected at least 3 arguments, got 2")
        );
        assert_eq!(
            expect_arg_count(&[], 1, 1),
            usage("expected at least 1 argument, got 0")
        );
        assert_eq!(
            expect_arg_count(&args, 0, 0),
            usage("takes no arguments, got 2")
        );
        assert_eq!(
            expect_arg_count(&args, 0, 1),
            usage("expected at most 1 argument, got 2")
        );
    }

    proptest! {
        #[test]
        fn integers_round_trip_in_decimal_only(value: u64) {
            prop_assert_eq!(parse_arg::<u64>("N", &value.to_string()), Ok(value));
            prop_assert_eq!(parse_arg::<Number>("N", &value.to_string()), Ok(Number::Integer(value)));
            let hex = format!("0x{value:x}");
            prop_assert!(parse_arg::<u64>("N", &hex).is_err());
            let plus = format!("+{value}");
            prop_assert!(parse_arg::<u64>("N", &plus).is_err());
        }

        /// The fraction form reads as Rust reads the same text: the grammar only narrows what
        /// `from_str` accepts, it never changes a value.
        #[test]
        fn fractions_read_as_rust_reads_them(whole in "[0-9]{1,12}", fraction in "[0-9]{1,12}") {
            let text = format!("{whole}.{fraction}");
            let expected: f64 = text.parse().unwrap();
            prop_assert_eq!(parse_arg::<Number>("X", &text), Ok(Number::Fraction(expected)));
            prop_assert_eq!(parse_arg::<f64>("X", &text), Ok(expected));
            prop_assert!(parse_arg::<u64>("X", &text).is_err());
        }

        /// Whatever the text, the integer and fraction readers accept exactly what
        /// `number_form` classifies as their form (up to range).
        #[test]
        fn every_reader_follows_number_form(text in "[-+.0-9a-fxXeE_ ]{0,8}") {
            let form = number_form(&text);
            prop_assert_eq!(
                parse_arg::<u64>("N", &text).is_ok(),
                form == Some(NumberForm::Integer) && text.parse::<u64>().is_ok()
            );
            prop_assert_eq!(parse_arg::<f64>("X", &text).is_ok(), form.is_some());
            prop_assert_eq!(
                parse_arg::<Number>("X", &text).is_ok(),
                form.is_some() && (form == Some(NumberForm::Fraction) || text.parse::<u64>().is_ok())
            );
        }

        #[test]
        fn arbitrary_text_never_panics_and_errors_stay_on_one_line(text in any::<String>()) {
            if let Err(CommandError::Usage(message)) = parse_arg::<u32>("N", &text) {
                prop_assert!(!message.contains('\n') && !message.contains('\r'));
            }
            let _ = parse_arg::<f64>("X", &text);
            let _ = parse_arg::<Number>("X", &text);
            let _ = parse_arg::<bool>("B", &text);
        }
    }
}

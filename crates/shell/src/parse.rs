//! Argument helpers for command handlers: counting arguments and turning text into numbers, each
//! failure a [`CommandError::Usage`] whose message names the argument and what was expected.
//!
//! Integers accept decimal and `0x` hexadecimal (`4096`, `0x1000`, `-0x10` for signed types);
//! `bool` accepts `true/false`, `on/off`, `yes/no`, `1/0`; floats must be finite. Offending text
//! is quoted with `escape_debug`, so an error stays one printable line whatever the input was.
//!
//! Neighbours: handlers registered in [`crate::registry::CommandRegistry`] call these.

use crate::registry::CommandError;
use alloc::format;
use alloc::string::String;
use core::num::IntErrorKind;

/// A type that command arguments can be parsed into.
pub trait ArgValue: Sized {
    /// What a valid argument looks like, for error messages ("an unsigned integer").
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

macro_rules! integer_arg {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        impl ArgValue for $ty {
            const EXPECTED: &'static str = $expected;

            fn parse_text(text: &str) -> Result<Self, String> {
                let (sign, unsigned) = match text.strip_prefix('-') {
                    Some(rest) => ("-", rest),
                    None => ("", text),
                };
                let hex = unsigned
                    .strip_prefix("0x")
                    .or_else(|| unsigned.strip_prefix("0X"));
                let parsed = match hex {
                    // `from_str_radix` would take a second sign after the prefix ("0x-1").
                    Some(digits) if digits.starts_with(['+', '-']) => {
                        return Err(expected::<Self>(text));
                    }
                    Some(digits) => <$ty>::from_str_radix(&format!("{sign}{digits}"), 16),
                    None => text.parse::<$ty>(),
                };
                parsed.map_err(|error| match error.kind() {
                    IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => format!(
                        "{} is out of range ({}..={})",
                        quoted(text),
                        <$ty>::MIN,
                        <$ty>::MAX
                    ),
                    _ => expected::<Self>(text),
                })
            }
        }
    )*};
}

integer_arg! {
    u8 => "an unsigned integer",
    u16 => "an unsigned integer",
    u32 => "an unsigned integer",
    u64 => "an unsigned integer",
    usize => "an unsigned integer",
    i8 => "an integer",
    i16 => "an integer",
    i32 => "an integer",
    i64 => "an integer",
    isize => "an integer",
}

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
            const EXPECTED: &'static str = "a finite number";

            fn parse_text(text: &str) -> Result<Self, String> {
                match text.parse::<$ty>() {
                    Ok(value) if value.is_finite() => Ok(value),
                    _ => Err(expected::<Self>(text)),
                }
            }
        }
    )*};
}

float_arg!(f32, f64);

/// Parses the argument called `name` (as written in the usage line) from `text`:
/// `parse_arg::<u64>("PAGES", "0x10")` is `Ok(16)`, `parse_arg::<u8>("N", "300")` is a usage
/// error `N: '300' is out of range (0..=255)`.
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

/// Checks that there are between `min` and `max` arguments (inclusive).
pub fn expect_arg_count(args: &[&str], min: usize, max: usize) -> Result<(), CommandError> {
    let count = args.len();
    if count < min {
        let noun = if min == 1 { "argument" } else { "arguments" };
        return Err(CommandError::Usage(format!(
            "expected at least {min} {noun}, got {count}"
        )));
    }
    if count > max {
        let message = match max {
            0 => format!("takes no arguments, got {count}"),
            1 => format!("expected at most 1 argument, got {count}"),
            _ => format!("expected at most {max} arguments, got {count}"),
        };
        return Err(CommandError::Usage(message));
    }
    Ok(())
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
    fn integers_in_decimal_and_hex() {
        assert_eq!(parse_arg::<u64>("N", "4096"), Ok(4096));
        assert_eq!(parse_arg::<u64>("N", "0x1000"), Ok(4096));
        assert_eq!(parse_arg::<u64>("N", "0XfF"), Ok(255));
        assert_eq!(parse_arg::<i32>("N", "-12"), Ok(-12));
        assert_eq!(parse_arg::<i32>("N", "-0x10"), Ok(-16));
        assert_eq!(parse_arg::<i8>("N", "-128"), Ok(-128));
        assert_eq!(
            parse_arg::<u64>("N", u64::MAX.to_string().as_str()),
            Ok(u64::MAX)
        );
    }

    #[test]
    fn integer_errors_name_the_argument_and_the_problem() {
        let err = |r: Result<u64, CommandError>| r.map(|_| ());
        assert_eq!(
            err(parse_arg::<u64>("COUNT", "12x")),
            usage("COUNT: expected an unsigned integer, got '12x'")
        );
        assert_eq!(
            err(parse_arg::<u64>("COUNT", "")),
            usage("COUNT: expected an unsigned integer, got ''")
        );
        assert_eq!(
            err(parse_arg::<u64>("COUNT", "-1")),
            usage("COUNT: expected an unsigned integer, got '-1'")
        );
        assert_eq!(
            err(parse_arg::<u64>("COUNT", "0x")),
            usage("COUNT: expected an unsigned integer, got '0x'")
        );
        assert_eq!(
            err(parse_arg::<u64>("COUNT", "0x+1")),
            usage("COUNT: expected an unsigned integer, got '0x+1'")
        );
        assert_eq!(
            parse_arg::<i8>("N", "-0x-1").map(|_| ()),
            usage("N: expected an integer, got '-0x-1'")
        );
        assert_eq!(
            parse_arg::<u8>("N", "256").map(|_| ()),
            usage("N: '256' is out of range (0..=255)")
        );
        assert_eq!(
            parse_arg::<i8>("N", "-129").map(|_| ()),
            usage("N: '-129' is out of range (-128..=127)")
        );
        assert_eq!(
            err(parse_arg::<u64>("N", "1\n2")),
            usage("N: expected an unsigned integer, got '1\\n2'")
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
        assert_eq!(
            parse_arg::<f64>("X", "inf").map(|_| ()),
            usage("X: expected a finite number, got 'inf'")
        );
        assert_eq!(
            parse_arg::<f32>("X", "NaN").map(|_| ()),
            usage("X: expected a finite number, got 'NaN'")
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
            usage("N: expected an unsigned integer, got 'history'")
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
        fn integers_round_trip_in_both_bases(value: i64) {
            prop_assert_eq!(parse_arg::<i64>("N", &value.to_string()), Ok(value));
            let hex = if value < 0 {
                format!("-0x{:x}", value.unsigned_abs())
            } else {
                format!("0x{value:x}")
            };
            prop_assert_eq!(parse_arg::<i64>("N", &hex), Ok(value));
        }

        #[test]
        fn arbitrary_text_never_panics_and_errors_stay_on_one_line(text in any::<String>()) {
            if let Err(CommandError::Usage(message)) = parse_arg::<u32>("N", &text) {
                prop_assert!(!message.contains('\n') && !message.contains('\r'));
            }
            let _ = parse_arg::<f64>("X", &text);
            let _ = parse_arg::<bool>("B", &text);
        }
    }
}

//! Export of [`Sample`]s: the Prometheus text exposition format (version 0.0.4) and JSON.
//!
//! Prometheus: one `# HELP` and one `# TYPE` line per family, then one line per series,
//! `name{label="value",...} value`. Help text escapes `\` and newline; label values also escape
//! `"`. Floats print as Rust's shortest exact decimal (in exponent form below 1e-4 and from
//! 1e16 on), with `NaN`, `+Inf`, `-Inf` spelled the Prometheus way. Series of one family are printed together even if the samples given are not
//! adjacent.
//!
//! JSON (for the dashboard): `{"metrics":[{"name":..,"help":..,"type":"counter"|"gauge",
//! "labels":{..},"value":..}]}`, built with serde_json; a NaN or infinite float is `null`.
//!
//! Neighbours: [`crate::registry::MetricsRegistry`] provides the samples and has shortcuts
//! ([`MetricsRegistry::write_prometheus`], [`MetricsRegistry::to_json`]).

use crate::metric::Value;
use crate::registry::{MetricsRegistry, Sample};
use alloc::string::String;
use core::fmt::{self, Write};
use serde::Serialize;

/// Writes `text` with `\` and newline escaped, and `"` too when `quote` is set.
fn write_escaped(out: &mut dyn Write, text: &str, quote: bool) -> fmt::Result {
    for c in text.chars() {
        match c {
            '\\' => out.write_str("\\\\")?,
            '\n' => out.write_str("\\n")?,
            '"' if quote => out.write_str("\\\"")?,
            c => out.write_char(c)?,
        }
    }
    Ok(())
}

fn write_value(out: &mut dyn Write, value: Value) -> fmt::Result {
    match value {
        Value::Unsigned(value) => write!(out, "{value}"),
        Value::Signed(value) => write!(out, "{value}"),
        Value::Float(value) if value.is_nan() => out.write_str("NaN"),
        Value::Float(value) if value == f64::INFINITY => out.write_str("+Inf"),
        Value::Float(value) if value == f64::NEG_INFINITY => out.write_str("-Inf"),
        // Plain decimals for everyday magnitudes, exponent form beyond them, so that 1e300 is
        // not 301 digits long. Both are exact shortest round-trip forms Prometheus parses.
        Value::Float(value) if value != 0.0 && !(1e-4..1e16).contains(&value.abs()) => {
            write!(out, "{value:e}")
        }
        Value::Float(value) => write!(out, "{value}"),
    }
}

fn write_series(out: &mut dyn Write, sample: &Sample) -> fmt::Result {
    out.write_str(sample.name)?;
    if !sample.labels.is_empty() {
        out.write_char('{')?;
        for (index, label) in sample.labels.iter().enumerate() {
            if index > 0 {
                out.write_char(',')?;
            }
            write!(out, "{}=\"", label.name)?;
            write_escaped(out, label.value, true)?;
            out.write_char('"')?;
        }
        out.write_char('}')?;
    }
    out.write_char(' ')?;
    write_value(out, sample.value)?;
    out.write_char('\n')
}

/// Writes `samples` in the Prometheus text format. The first sample of each family supplies its
/// help text and type.
pub fn write_prometheus(samples: &[Sample], out: &mut dyn Write) -> fmt::Result {
    for (index, first) in samples.iter().enumerate() {
        let earlier = samples.get(..index).unwrap_or_default();
        if earlier.iter().any(|sample| sample.name == first.name) {
            continue;
        }
        write!(out, "# HELP {} ", first.name)?;
        write_escaped(out, first.help, false)?;
        writeln!(out, "\n# TYPE {} {}", first.name, first.kind.as_str())?;
        for sample in samples.get(index..).unwrap_or_default() {
            if sample.name == first.name {
                write_series(out, sample)?;
            }
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Document<'a> {
    metrics: &'a [Sample],
}

/// `samples` as a JSON document (see the module documentation).
pub fn to_json(samples: &[Sample]) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Document { metrics: samples })
}

impl MetricsRegistry {
    /// Writes a snapshot of every metric in the Prometheus text format.
    pub fn write_prometheus(&self, out: &mut dyn Write) -> fmt::Result {
        write_prometheus(&self.snapshot(), out)
    }

    /// A snapshot of every metric as a JSON document.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        to_json(&self.snapshot())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{Label, MetricKind};
    use alloc::vec;

    fn prometheus(samples: &[Sample]) -> String {
        let mut out = String::new();
        write_prometheus(samples, &mut out).unwrap();
        out
    }

    fn sample(name: &'static str, labels: &'static [Label], value: Value) -> Sample {
        Sample {
            name,
            help: "Help.",
            kind: MetricKind::Gauge,
            labels,
            value,
        }
    }

    #[test]
    fn escapes_help_and_label_values() {
        static LABELS: &[Label] = &[Label::new("a", "x\"y\\z\nw"), Label::new("b", "")];
        let samples = [Sample {
            name: "m",
            help: "Line one\nback\\slash \"quotes\" stay",
            kind: MetricKind::Counter,
            labels: LABELS,
            value: Value::Unsigned(1),
        }];
        assert_eq!(
            prometheus(&samples),
            "# HELP m Line one\\nback\\\\slash \"quotes\" stay\n\
             # TYPE m counter\n\
             m{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 1\n"
        );
    }

    #[test]
    fn prints_values_the_prometheus_way() {
        let samples = [
            sample("a", &[], Value::Signed(-5)),
            sample("b", &[], Value::Float(0.1)),
            sample("c", &[], Value::Float(f64::NAN)),
            sample("d", &[], Value::Float(f64::INFINITY)),
            sample("e", &[], Value::Float(f64::NEG_INFINITY)),
            sample("f", &[], Value::Unsigned(u64::MAX)),
            sample("g", &[], Value::Float(-2.5e-3)),
            sample("h", &[], Value::Float(1e300)),
            sample("i", &[], Value::Float(-2.5e-7)),
            sample("j", &[], Value::Float(1e15)),
            sample("k", &[], Value::Float(0.0)),
        ];
        let values: Vec<String> = prometheus(&samples)
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(String::from)
            .collect();
        assert_eq!(
            values,
            [
                "a -5",
                "b 0.1",
                "c NaN",
                "d +Inf",
                "e -Inf",
                "f 18446744073709551615",
                "g -0.0025",
                "h 1e300",
                "i -2.5e-7",
                "j 1000000000000000",
                "k 0"
            ]
        );
    }

    proptest::proptest! {
        #[test]
        fn finite_floats_print_exactly(value in proptest::num::f64::ANY) {
            let mut out = String::new();
            write_value(&mut out, Value::Float(value)).unwrap();
            if value.is_finite() {
                let parsed: f64 = out.parse().unwrap();
                proptest::prop_assert_eq!(parsed.to_bits(), value.to_bits(), "{}", out);
            } else {
                proptest::prop_assert!(["NaN", "+Inf", "-Inf"].contains(&out.as_str()));
            }
        }
    }

    #[test]
    fn groups_a_family_even_when_its_samples_are_apart() {
        static X: &[Label] = &[Label::new("path", "x")];
        static Y: &[Label] = &[Label::new("path", "y")];
        let samples = vec![
            sample("fam", X, Value::Signed(1)),
            sample("other", &[], Value::Signed(2)),
            sample("fam", Y, Value::Signed(3)),
        ];
        assert_eq!(
            prometheus(&samples),
            "# HELP fam Help.\n# TYPE fam gauge\nfam{path=\"x\"} 1\nfam{path=\"y\"} 3\n\
             # HELP other Help.\n# TYPE other gauge\nother 2\n"
        );
    }

    #[test]
    fn empty_input_gives_empty_output() {
        assert_eq!(prometheus(&[]), "");
        assert_eq!(to_json(&[]).unwrap(), r#"{"metrics":[]}"#);
    }

    #[test]
    fn json_keeps_label_order_and_maps_non_finite_to_null() {
        static LABELS: &[Label] = &[Label::new("z", "1"), Label::new("a", "\"q\"")];
        let samples = [
            sample("f", LABELS, Value::Float(f64::NAN)),
            sample("g", &[], Value::Float(1.5)),
        ];
        assert_eq!(
            to_json(&samples).unwrap(),
            r#"{"metrics":[{"name":"f","help":"Help.","type":"gauge","labels":{"z":"1","a":"\"q\""},"value":null},{"name":"g","help":"Help.","type":"gauge","labels":{},"value":1.5}]}"#
        );
    }
}

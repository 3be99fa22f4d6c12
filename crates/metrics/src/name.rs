//! The Prometheus naming rules, checked when a metric is registered.
//!
//! Metric names match `[a-zA-Z_:][a-zA-Z0-9_:]*`; label names match `[a-zA-Z_][a-zA-Z0-9_]*` and
//! must not start with `__`, which Prometheus reserves for itself. (The newer UTF-8 names of
//! Prometheus 3 are deliberately not used: the classic rules are understood by every scraper.)
//!
//! Neighbours: [`crate::registry::MetricsRegistry::register`] applies them.

/// Whether `name` is a valid Prometheus metric name.
pub fn valid_metric_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' || first == b':' => {}
        _ => return false,
    }
    bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

/// Whether `name` is a valid, non-reserved Prometheus label name.
pub fn valid_label_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    !name.starts_with("__") && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn metric_names() {
        for good in [
            "a",
            "_",
            ":",
            "nous_sched_switches_total",
            "job:rate5m",
            "A9_",
        ] {
            assert!(valid_metric_name(good), "{good}");
        }
        for bad in ["", "9a", "a-b", "a b", "a.b", "é", "a\n"] {
            assert!(!valid_metric_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn label_names() {
        for good in ["a", "_", "component", "path_2", "_x"] {
            assert!(valid_label_name(good), "{good}");
        }
        for bad in ["", "__name__", "__x", "2a", "a:b", "a-b", "ü"] {
            assert!(!valid_label_name(bad), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn matches_the_regular_expressions(name in any::<String>()) {
            let metric = !name.is_empty()
                && name.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit())
                });
            prop_assert_eq!(valid_metric_name(&name), metric);
            let label = !name.is_empty()
                && !name.starts_with("__")
                && name.chars().enumerate().all(|(i, c)| {
                    c.is_ascii_alphabetic() || c == '_' || (i > 0 && c.is_ascii_digit())
                });
            prop_assert_eq!(valid_label_name(&name), label);
        }

        #[test]
        fn generated_valid_names_pass(name in "[a-zA-Z_:][a-zA-Z0-9_:]{0,20}") {
            prop_assert!(valid_metric_name(&name));
        }
    }
}

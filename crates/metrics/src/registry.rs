//! The registry of every metric the kernel exports.
//!
//! [`MetricsRegistry::register`] takes a `&'static dyn Metric`, checks its names against the
//! Prometheus rules and refuses a second series with the same name and label set. Several
//! series may share a name (one *family*) when their labels differ, for example
//! `path="learned"` and `path="baseline"`; they must then agree on type and help text, because
//! Prometheus prints one `# HELP` and `# TYPE` per family. Families are kept sorted by name and
//! series in registration order, so exports are deterministic and families contiguous.
//!
//! [`MetricsRegistry::snapshot`] reads every value into [`Sample`]s. The values are read one
//! after the other, not atomically as a set: counters updated meanwhile may be one step apart.
//!
//! Neighbours: [`crate::metric`] defines what is registered, [`crate::export`] prints samples.

use crate::metric::{Label, Metric, MetricKind, Value};
use crate::name::{valid_label_name, valid_metric_name};
use alloc::vec::Vec;
use core::fmt;
use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

/// Why a metric could not be registered. Nothing is registered when an error is returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsError {
    /// The metric name breaks the Prometheus rules.
    InvalidName(&'static str),
    /// A label name breaks the Prometheus rules (or is reserved, `__...`).
    InvalidLabelName {
        /// The metric.
        metric: &'static str,
        /// The rejected label name.
        label: &'static str,
    },
    /// The metric has two labels with the same name.
    DuplicateLabel {
        /// The metric.
        metric: &'static str,
        /// The repeated label name.
        label: &'static str,
    },
    /// A series with this name and the same labels is registered already.
    Duplicate(&'static str),
    /// A series with this name but another type or help text is registered already.
    ConflictingFamily(&'static str),
    /// The heap could not grow the registry.
    OutOfMemory,
}

impl fmt::Display for MetricsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricsError::InvalidName(name) => {
                write!(f, "invalid metric name '{}'", name.escape_debug())
            }
            MetricsError::InvalidLabelName { metric, label } => write!(
                f,
                "metric {metric}: invalid label name '{}'",
                label.escape_debug()
            ),
            MetricsError::DuplicateLabel { metric, label } => {
                write!(f, "metric {metric}: label '{label}' given twice")
            }
            MetricsError::Duplicate(name) => {
                write!(f, "metric {name} with these labels is already registered")
            }
            MetricsError::ConflictingFamily(name) => write!(
                f,
                "metric {name} is already registered with another type or help text"
            ),
            MetricsError::OutOfMemory => f.write_str("out of memory for the metrics registry"),
        }
    }
}

/// One metric's value at the time of a snapshot, with everything needed to export it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Metric name.
    pub name: &'static str,
    /// Help text.
    pub help: &'static str,
    /// Counter or gauge (`"type"` in JSON).
    #[serde(rename = "type")]
    pub kind: MetricKind,
    /// Constant labels (a JSON object, in this order).
    #[serde(serialize_with = "serialize_labels")]
    pub labels: &'static [Label],
    /// The value read.
    pub value: Value,
}

fn serialize_labels<S: Serializer>(
    labels: &&'static [Label],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut map = serializer.serialize_map(Some(labels.len()))?;
    for label in labels.iter() {
        map.serialize_entry(label.name, label.value)?;
    }
    map.end()
}

/// Whether two label lists (each free of repeated names) describe the same series.
fn same_labels(a: &[Label], b: &[Label]) -> bool {
    a.len() == b.len() && a.iter().all(|label| b.contains(label))
}

/// Every registered metric.
#[derive(Default)]
pub struct MetricsRegistry {
    /// Sorted by name; series of one name in registration order.
    metrics: Vec<&'static dyn Metric>,
}

impl fmt::Debug for MetricsRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.metrics.iter().map(|metric| metric.descriptor()))
            .finish()
    }
}

impl MetricsRegistry {
    /// An empty registry; `const` so that the kernel can keep it in a `static`.
    pub const fn new() -> Self {
        Self {
            metrics: Vec::new(),
        }
    }

    /// Adds `metric` after checking its names and that it does not clash with what is there.
    pub fn register(&mut self, metric: &'static dyn Metric) -> Result<(), MetricsError> {
        let descriptor = metric.descriptor();
        let name = descriptor.name;
        if !valid_metric_name(name) {
            return Err(MetricsError::InvalidName(name));
        }
        for (index, label) in descriptor.labels.iter().enumerate() {
            if !valid_label_name(label.name) {
                return Err(MetricsError::InvalidLabelName {
                    metric: name,
                    label: label.name,
                });
            }
            let earlier = descriptor.labels.get(..index).unwrap_or_default();
            if earlier.iter().any(|other| other.name == label.name) {
                return Err(MetricsError::DuplicateLabel {
                    metric: name,
                    label: label.name,
                });
            }
        }
        let family_start = self
            .metrics
            .partition_point(|existing| existing.descriptor().name < name);
        let family_end = self
            .metrics
            .partition_point(|existing| existing.descriptor().name <= name);
        let family = self
            .metrics
            .get(family_start..family_end)
            .unwrap_or_default();
        for existing in family {
            if existing.kind() != metric.kind() || existing.descriptor().help != descriptor.help {
                return Err(MetricsError::ConflictingFamily(name));
            }
            if same_labels(existing.descriptor().labels, descriptor.labels) {
                return Err(MetricsError::Duplicate(name));
            }
        }
        self.metrics
            .try_reserve(1)
            .map_err(|_| MetricsError::OutOfMemory)?;
        self.metrics.insert(family_end, metric);
        Ok(())
    }

    /// Registers each of `metrics` in turn, stopping at the first error (the ones before it
    /// stay registered).
    pub fn register_all(&mut self, metrics: &[&'static dyn Metric]) -> Result<(), MetricsError> {
        metrics.iter().try_for_each(|&metric| self.register(metric))
    }

    /// Number of registered series.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// Whether nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }

    /// The registered series in export order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &'static dyn Metric> + '_ {
        self.metrics.iter().copied()
    }

    /// The series called `name`, in registration order.
    pub fn family<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'static dyn Metric> + 'a {
        self.iter()
            .filter(move |metric| metric.descriptor().name == name)
    }

    /// Reads every value now, in export order.
    pub fn snapshot(&self) -> Vec<Sample> {
        self.metrics
            .iter()
            .map(|metric| {
                let descriptor = metric.descriptor();
                Sample {
                    name: descriptor.name,
                    help: descriptor.help,
                    kind: metric.kind(),
                    labels: descriptor.labels,
                    value: metric.value(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{Counter, FloatGauge, Gauge};
    use alloc::string::ToString;

    static LEARNED: &[Label] = &[
        Label::new("component", "sched"),
        Label::new("path", "learned"),
    ];
    static BASELINE: &[Label] = &[
        Label::new("path", "baseline"),
        Label::new("component", "sched"),
    ];
    static LEARNED_REORDERED: &[Label] = &[
        Label::new("path", "learned"),
        Label::new("component", "sched"),
    ];

    static DECISIONS_LEARNED: Counter = Counter::with_labels(
        "nous_sched_decisions_total",
        "Scheduling decisions.",
        LEARNED,
    );
    static DECISIONS_BASELINE: Counter = Counter::with_labels(
        "nous_sched_decisions_total",
        "Scheduling decisions.",
        BASELINE,
    );
    static DECISIONS_AGAIN: Counter = Counter::with_labels(
        "nous_sched_decisions_total",
        "Scheduling decisions.",
        LEARNED_REORDERED,
    );
    static DECISIONS_OTHER_HELP: Counter =
        Counter::with_labels("nous_sched_decisions_total", "Something else.", &[]);
    static DECISIONS_AS_GAUGE: Gauge =
        Gauge::new("nous_sched_decisions_total", "Scheduling decisions.");
    static FREE_PAGES: Gauge = Gauge::new("nous_mem_free_pages", "Free pages.");
    static FRAGMENTATION: FloatGauge =
        FloatGauge::new("nous_mem_fragmentation", "Unusable free space index.");
    static UPTIME: Counter = Counter::new("nous_uptime_ticks_total", "Timer ticks since boot.");

    fn names(registry: &MetricsRegistry) -> Vec<&'static str> {
        registry.iter().map(|m| m.descriptor().name).collect()
    }

    #[test]
    fn keeps_families_sorted_and_series_in_registration_order() {
        let mut registry = MetricsRegistry::new();
        assert!(registry.is_empty());
        registry.register(&UPTIME).unwrap();
        registry.register(&DECISIONS_LEARNED).unwrap();
        registry.register(&FREE_PAGES).unwrap();
        registry.register(&DECISIONS_BASELINE).unwrap();
        registry.register(&FRAGMENTATION).unwrap();
        assert_eq!(
            names(&registry),
            [
                "nous_mem_fragmentation",
                "nous_mem_free_pages",
                "nous_sched_decisions_total",
                "nous_sched_decisions_total",
                "nous_uptime_ticks_total",
            ]
        );
        let family: Vec<_> = registry
            .family("nous_sched_decisions_total")
            .map(|m| m.descriptor().labels)
            .collect();
        assert_eq!(family, [LEARNED, BASELINE]);
        assert_eq!(registry.len(), 5);
    }

    #[test]
    fn refuses_duplicates_and_conflicts_without_changing_anything() {
        let mut registry = MetricsRegistry::new();
        registry.register(&DECISIONS_LEARNED).unwrap();
        assert_eq!(
            registry.register(&DECISIONS_LEARNED),
            Err(MetricsError::Duplicate("nous_sched_decisions_total"))
        );
        // The same labels in another order are the same series.
        assert_eq!(
            registry.register(&DECISIONS_AGAIN),
            Err(MetricsError::Duplicate("nous_sched_decisions_total"))
        );
        assert_eq!(
            registry.register(&DECISIONS_OTHER_HELP),
            Err(MetricsError::ConflictingFamily(
                "nous_sched_decisions_total"
            ))
        );
        assert_eq!(
            registry.register(&DECISIONS_AS_GAUGE),
            Err(MetricsError::ConflictingFamily(
                "nous_sched_decisions_total"
            ))
        );
        assert_eq!(registry.len(), 1);

        // A batch stops at its first error and keeps what came before.
        assert_eq!(
            registry.register_all(&[&FREE_PAGES, &DECISIONS_LEARNED, &UPTIME]),
            Err(MetricsError::Duplicate("nous_sched_decisions_total"))
        );
        assert_eq!(
            names(&registry),
            ["nous_mem_free_pages", "nous_sched_decisions_total"]
        );
        assert_eq!(
            MetricsError::Duplicate("x").to_string(),
            "metric x with these labels is already registered"
        );
    }

    #[test]
    fn refuses_invalid_names() {
        static BAD_NAME: Counter = Counter::new("nous-bad", "");
        static EMPTY_NAME: Gauge = Gauge::new("", "");
        static BAD_LABEL: Counter = Counter::with_labels("ok", "", &[Label::new("a-b", "v")]);
        static RESERVED_LABEL: Counter =
            Counter::with_labels("ok", "", &[Label::new("__name__", "v")]);
        static TWICE: Counter =
            Counter::with_labels("ok", "", &[Label::new("a", "1"), Label::new("a", "2")]);
        let mut registry = MetricsRegistry::new();
        assert_eq!(
            registry.register(&BAD_NAME),
            Err(MetricsError::InvalidName("nous-bad"))
        );
        assert_eq!(
            registry.register(&EMPTY_NAME),
            Err(MetricsError::InvalidName(""))
        );
        assert_eq!(
            registry.register(&BAD_LABEL),
            Err(MetricsError::InvalidLabelName {
                metric: "ok",
                label: "a-b"
            })
        );
        assert_eq!(
            registry.register(&RESERVED_LABEL),
            Err(MetricsError::InvalidLabelName {
                metric: "ok",
                label: "__name__"
            })
        );
        assert_eq!(
            registry.register(&TWICE),
            Err(MetricsError::DuplicateLabel {
                metric: "ok",
                label: "a"
            })
        );
        assert!(registry.is_empty());
        assert_eq!(
            MetricsError::InvalidName("a\nb").to_string(),
            "invalid metric name 'a\\nb'"
        );
    }

    #[test]
    fn snapshot_reads_current_values() {
        static READS: Counter = Counter::new("reads_total", "Reads.");
        static DEPTH: Gauge = Gauge::new("depth", "Queue depth.");
        let mut registry = MetricsRegistry::new();
        registry.register(&READS).unwrap();
        registry.register(&DEPTH).unwrap();
        READS.add(3);
        DEPTH.set(-2);
        let samples = registry.snapshot();
        assert_eq!(
            samples,
            [
                Sample {
                    name: "depth",
                    help: "Queue depth.",
                    kind: MetricKind::Gauge,
                    labels: &[],
                    value: Value::Signed(-2),
                },
                Sample {
                    name: "reads_total",
                    help: "Reads.",
                    kind: MetricKind::Counter,
                    labels: &[],
                    value: Value::Unsigned(3),
                },
            ]
        );
        READS.inc();
        assert_eq!(registry.snapshot()[1].value, Value::Unsigned(4));
    }
}

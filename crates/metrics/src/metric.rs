//! What a metric is: a [`Descriptor`] (name, help, constant labels), a [`MetricKind`] and a
//! current [`Value`], behind the [`Metric`] trait.
//!
//! The handles are meant to be `static`s, built by `const fn` and updated with relaxed atomics
//! (metrics order no other memory, so nothing stronger is needed):
//! - [`Counter`]: a `u64` that only goes up (`inc`, `add`); it wraps after 2^64 increments,
//!   which no kernel run reaches.
//! - [`Gauge`]: an `i64` that is set or moved either way.
//! - [`FloatGauge`]: an `f64` kept as its bit pattern in an `AtomicU64`, for ratios and rates.
//!
//! Neighbours: [`crate::registry::MetricsRegistry`] holds `&'static dyn Metric`s and
//! [`crate::export`] prints them.

use core::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use serde::{Serialize, Serializer};

/// A constant label: one `name="value"` pair attached to every sample of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Label {
    /// Label name; must follow [`crate::name::valid_label_name`].
    pub name: &'static str,
    /// Label value; any text (escaped on export).
    pub value: &'static str,
}

impl Label {
    /// `name="value"`.
    pub const fn new(name: &'static str, value: &'static str) -> Self {
        Self { name, value }
    }
}

/// The identity of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Descriptor {
    /// Metric name; must follow [`crate::name::valid_metric_name`].
    pub name: &'static str,
    /// One sentence saying what is counted or measured, and in which unit.
    pub help: &'static str,
    /// Constant labels, in the order they are printed.
    pub labels: &'static [Label],
}

/// The Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    /// Only goes up (until a restart).
    Counter,
    /// Goes up and down.
    Gauge,
}

impl MetricKind {
    /// The word used in `# TYPE` lines and in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
        }
    }
}

/// A metric's current value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// From a [`Counter`].
    Unsigned(u64),
    /// From a [`Gauge`].
    Signed(i64),
    /// From a [`FloatGauge`]; may be NaN or infinite.
    Float(f64),
}

impl Serialize for Value {
    /// A JSON number; NaN and infinities, which JSON cannot express, become `null`.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Value::Unsigned(value) => serializer.serialize_u64(value),
            Value::Signed(value) => serializer.serialize_i64(value),
            Value::Float(value) if value.is_finite() => serializer.serialize_f64(value),
            Value::Float(_) => serializer.serialize_none(),
        }
    }
}

/// Something the registry can list and export. `Sync` because it is read from any context.
pub trait Metric: Sync {
    /// Name, help and labels.
    fn descriptor(&self) -> &Descriptor;
    /// Counter or gauge.
    fn kind(&self) -> MetricKind;
    /// The value now.
    fn value(&self) -> Value;
}

/// A monotonically increasing `u64`.
#[derive(Debug)]
pub struct Counter {
    descriptor: Descriptor,
    value: AtomicU64,
}

impl Counter {
    /// A counter at zero without labels.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self::with_labels(name, help, &[])
    }

    /// A counter at zero with constant labels.
    pub const fn with_labels(
        name: &'static str,
        help: &'static str,
        labels: &'static [Label],
    ) -> Self {
        Self {
            descriptor: Descriptor { name, help, labels },
            value: AtomicU64::new(0),
        }
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `amount`.
    pub fn add(&self, amount: u64) {
        self.value.fetch_add(amount, Ordering::Relaxed);
    }

    /// The count so far.
    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Counter {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn kind(&self) -> MetricKind {
        MetricKind::Counter
    }

    fn value(&self) -> Value {
        Value::Unsigned(self.get())
    }
}

/// An `i64` that can be set, raised and lowered.
#[derive(Debug)]
pub struct Gauge {
    descriptor: Descriptor,
    value: AtomicI64,
}

impl Gauge {
    /// A gauge at zero without labels.
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self::with_labels(name, help, &[])
    }

    /// A gauge at zero with constant labels.
    pub const fn with_labels(
        name: &'static str,
        help: &'static str,
        labels: &'static [Label],
    ) -> Self {
        Self {
            descriptor: Descriptor { name, help, labels },
            value: AtomicI64::new(0),
        }
    }

    /// Sets the value.
    pub fn set(&self, value: i64) {
        self.value.store(value, Ordering::Relaxed);
    }

    /// Adds `delta` (which may be negative); wraps like `i64::wrapping_add`.
    pub fn add(&self, delta: i64) {
        self.value.fetch_add(delta, Ordering::Relaxed);
    }

    /// Subtracts `delta`; wraps like `i64::wrapping_sub`.
    pub fn sub(&self, delta: i64) {
        self.value.fetch_sub(delta, Ordering::Relaxed);
    }

    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }

    /// Subtracts one.
    pub fn dec(&self) {
        self.sub(1);
    }

    /// The value now.
    pub fn get(&self) -> i64 {
        self.value.load(Ordering::Relaxed)
    }
}

impl Metric for Gauge {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn kind(&self) -> MetricKind {
        MetricKind::Gauge
    }

    fn value(&self) -> Value {
        Value::Signed(self.get())
    }
}

/// An `f64` gauge, stored as its bit pattern so that it fits one atomic word.
#[derive(Debug)]
pub struct FloatGauge {
    descriptor: Descriptor,
    bits: AtomicU64,
}

impl FloatGauge {
    /// A gauge at 0.0 without labels (the all-zero bit pattern is +0.0).
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self::with_labels(name, help, &[])
    }

    /// A gauge at 0.0 with constant labels.
    pub const fn with_labels(
        name: &'static str,
        help: &'static str,
        labels: &'static [Label],
    ) -> Self {
        Self {
            descriptor: Descriptor { name, help, labels },
            bits: AtomicU64::new(0),
        }
    }

    /// Sets the value.
    pub fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }

    /// Adds `delta`, atomically with respect to other updates of this gauge.
    pub fn add(&self, delta: f64) {
        // `fetch_update` retries until no other update slipped in between load and store. The
        // closure always returns `Some`, so the result is always `Ok`.
        let _ = self
            .bits
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + delta).to_bits())
            });
    }

    /// The value now.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Relaxed))
    }
}

impl Metric for FloatGauge {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn kind(&self) -> MetricKind {
        MetricKind::Gauge
    }

    fn value(&self) -> Value {
        Value::Float(self.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static LABELS: &[Label] = &[Label::new("component", "sched")];
    static COUNTER: Counter = Counter::with_labels("t_total", "help", LABELS);

    #[test]
    fn counter_counts() {
        let counter = Counter::new("c_total", "help");
        counter.inc();
        counter.add(41);
        assert_eq!(counter.get(), 42);
        assert_eq!(counter.value(), Value::Unsigned(42));
        assert_eq!(counter.kind(), MetricKind::Counter);
        assert_eq!(counter.descriptor().name, "c_total");
        assert!(counter.descriptor().labels.is_empty());
    }

    #[test]
    fn static_counter_updates_from_many_threads() {
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..1000 {
                        COUNTER.inc();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("counter thread panicked");
        }
        assert_eq!(COUNTER.get(), 4000);
        assert_eq!(COUNTER.descriptor().labels, LABELS);
    }

    #[test]
    fn gauge_moves_both_ways() {
        let gauge = Gauge::new("g", "help");
        gauge.set(10);
        gauge.inc();
        gauge.sub(20);
        gauge.dec();
        gauge.add(3);
        assert_eq!(gauge.get(), -7);
        assert_eq!(gauge.value(), Value::Signed(-7));
        assert_eq!(gauge.kind(), MetricKind::Gauge);
    }

    #[test]
    fn float_gauge_keeps_exact_values() {
        let gauge = FloatGauge::new("f", "help");
        assert_eq!(gauge.get(), 0.0);
        gauge.set(0.25);
        gauge.add(0.5);
        assert_eq!(gauge.get(), 0.75);
        gauge.set(f64::NAN);
        assert!(gauge.get().is_nan());
        gauge.set(-0.0);
        assert!(gauge.get().is_sign_negative());
        assert_eq!(gauge.kind(), MetricKind::Gauge);
    }

    #[test]
    fn float_gauge_adds_atomically() {
        static SUM: FloatGauge = FloatGauge::new("sum", "help");
        let threads: Vec<_> = (0..4)
            .map(|_| {
                std::thread::spawn(|| {
                    for _ in 0..1000 {
                        SUM.add(1.0);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("gauge thread panicked");
        }
        assert_eq!(SUM.get(), 4000.0);
    }
}

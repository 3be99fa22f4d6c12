//! The kernel's metrics registry: every subsystem's figures under Prometheus names, read by
//! the `metrics` command now and by the AI dashboard later (JSON and Prometheus text export
//! come from the `metrics` crate).
//!
//! `main` fills the registry once, at boot, by walking the subsystem table ([`init`]); each
//! subsystem registers its own series. [`Computed`] is the shared shape of a metric read by a
//! plain function at export time; subsystems that count events on their own (the crash
//! predictor, the learned scheduler) register static `Counter`s instead.

use metrics::{Descriptor, Label, Metric, MetricKind, MetricsRegistry, Value};

use crate::ctx::Subsystem;

/// A metric whose value is computed on demand by a plain function.
pub struct Computed {
    descriptor: Descriptor,
    kind: MetricKind,
    read: fn() -> Value,
}

impl Computed {
    pub const fn new(
        kind: MetricKind,
        name: &'static str,
        help: &'static str,
        labels: &'static [Label],
        read: fn() -> Value,
    ) -> Self {
        Self {
            descriptor: Descriptor { name, help, labels },
            kind,
            read,
        }
    }
}

impl Metric for Computed {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }
    fn kind(&self) -> MetricKind {
        self.kind
    }
    fn value(&self) -> Value {
        (self.read)()
    }
}

static REGISTRY: spin::Once<MetricsRegistry> = spin::Once::new();

/// Builds the registry from every subsystem's series (the first call wins).
pub fn init(subsystems: &[&Subsystem]) -> &'static MetricsRegistry {
    REGISTRY.call_once(|| {
        let mut r = MetricsRegistry::new();
        for subsystem in subsystems {
            (subsystem.metrics)(&mut r);
        }
        r
    })
}

/// The kernel's registry (empty until [`init`] ran).
pub fn registry() -> &'static MetricsRegistry {
    init(&[])
}

/// The current value of the first series named `name` as an integer (floats truncated), for
/// a subsystem that shows another's figure without importing it; `None` when no such series
/// is registered.
pub fn value_i64(name: &str) -> Option<i64> {
    let metric = registry().family(name).next()?;
    Some(match metric.value() {
        Value::Unsigned(u) => i64::try_from(u).unwrap_or(i64::MAX),
        Value::Signed(s) => s,
        Value::Float(f) => f as i64,
    })
}

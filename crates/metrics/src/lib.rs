//! Nous metrics: named numbers the kernel keeps up to date and the dashboard reads.
//!
//! - [`metric`]: the [`Metric`] trait and the static handles [`Counter`], [`Gauge`] and
//!   [`FloatGauge`], each a name, help text, constant [`Label`]s and one atomic word.
//! - [`name`]: the Prometheus rules for metric and label names.
//! - [`registry`]: [`MetricsRegistry`], filled at boot with `&'static dyn Metric`; it validates
//!   names, refuses duplicates and takes [`Sample`] snapshots.
//! - [`export`]: the Prometheus text exposition format and JSON.
//!
//! ```text
//! static SWITCHES: Counter = Counter::new("nous_sched_switches_total", "Context switches.");
//! SWITCHES.inc();                      // anywhere, any context: one relaxed atomic add
//! registry.register(&SWITCHES)?;       // once, at boot
//! registry.write_prometheus(&mut out)? // whenever someone asks
//! ```
//!
//! Design principles:
//! - Updating a metric is one atomic operation on a `static`: no lock, no allocation, safe from
//!   interrupt handlers. Everything that can fail (validation, allocation) happens at
//!   registration or export, where errors can be returned.
//! - Metrics are plain values that say what they are; the registry only indexes them, so a
//!   subsystem can also implement [`Metric`] for a number it computes on demand.
//! - Output is deterministic: families sorted by name, series in registration order.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

pub mod export;
pub mod metric;
pub mod name;
pub mod registry;

pub use metric::{Counter, Descriptor, FloatGauge, Gauge, Label, Metric, MetricKind, Value};
pub use name::{valid_label_name, valid_metric_name};
pub use registry::{MetricsError, MetricsRegistry, Sample};

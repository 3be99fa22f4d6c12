//! A small kernel-like set of metrics, registered and exported in both formats, checked
//! byte for byte; and a property test that any label value survives the Prometheus escaping.

use metrics::{Counter, FloatGauge, Gauge, Label, MetricsRegistry};
use proptest::prelude::*;

static LEARNED: &[Label] = &[
    Label::new("component", "sched"),
    Label::new("path", "learned"),
];
static BASELINE: &[Label] = &[
    Label::new("component", "sched"),
    Label::new("path", "baseline"),
];

static SWITCHES: Counter =
    Counter::new("nous_sched_switches_total", "Context switches since boot.");
static DECISIONS_LEARNED: Counter = Counter::with_labels(
    "nous_sched_decisions_total",
    "Scheduling decisions by policy path.",
    LEARNED,
);
static DECISIONS_BASELINE: Counter = Counter::with_labels(
    "nous_sched_decisions_total",
    "Scheduling decisions by policy path.",
    BASELINE,
);
static FREE_PAGES: Gauge = Gauge::new("nous_mem_free_pages", "Free 4 KiB pages.");
static FRAGMENTATION: FloatGauge = FloatGauge::new(
    "nous_mem_fragmentation_index",
    "Unusable free space index for order 4 (0 = none, 1 = all).",
);

fn kernel_registry() -> MetricsRegistry {
    let mut registry = MetricsRegistry::new();
    for metric in [
        &SWITCHES as &dyn metrics::Metric,
        &DECISIONS_LEARNED,
        &FREE_PAGES,
        &DECISIONS_BASELINE,
        &FRAGMENTATION,
    ] {
        registry.register(metric).unwrap();
    }
    SWITCHES.add(1234);
    DECISIONS_LEARNED.add(1000);
    DECISIONS_BASELINE.add(234);
    FREE_PAGES.set(30_000);
    FRAGMENTATION.set(0.125);
    registry
}

#[test]
fn exports_prometheus_text_and_json_exactly() {
    let registry = kernel_registry();

    let mut text = String::new();
    registry.write_prometheus(&mut text).unwrap();
    assert_eq!(
        text,
        "# HELP nous_mem_fragmentation_index Unusable free space index for order 4 (0 = none, 1 = all).\n\
         # TYPE nous_mem_fragmentation_index gauge\n\
         nous_mem_fragmentation_index 0.125\n\
         # HELP nous_mem_free_pages Free 4 KiB pages.\n\
         # TYPE nous_mem_free_pages gauge\n\
         nous_mem_free_pages 30000\n\
         # HELP nous_sched_decisions_total Scheduling decisions by policy path.\n\
         # TYPE nous_sched_decisions_total counter\n\
         nous_sched_decisions_total{component=\"sched\",path=\"learned\"} 1000\n\
         nous_sched_decisions_total{component=\"sched\",path=\"baseline\"} 234\n\
         # HELP nous_sched_switches_total Context switches since boot.\n\
         # TYPE nous_sched_switches_total counter\n\
         nous_sched_switches_total 1234\n"
    );

    let json = registry.to_json().unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"metrics":["#,
            r#"{"name":"nous_mem_fragmentation_index","help":"Unusable free space index for order 4 (0 = none, 1 = all).","type":"gauge","labels":{},"value":0.125},"#,
            r#"{"name":"nous_mem_free_pages","help":"Free 4 KiB pages.","type":"gauge","labels":{},"value":30000},"#,
            r#"{"name":"nous_sched_decisions_total","help":"Scheduling decisions by policy path.","type":"counter","labels":{"component":"sched","path":"learned"},"value":1000},"#,
            r#"{"name":"nous_sched_decisions_total","help":"Scheduling decisions by policy path.","type":"counter","labels":{"component":"sched","path":"baseline"},"value":234},"#,
            r#"{"name":"nous_sched_switches_total","help":"Context switches since boot.","type":"counter","labels":{},"value":1234}"#,
            r#"]}"#
        )
    );
    // And it is JSON a standard parser accepts.
    let parsed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(parsed["metrics"][3]["labels"]["path"], "baseline");
}

/// Reads a Prometheus label value back: the inverse of the exporter's escaping.
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => panic!("dangling backslash in {text:?}"),
            }
        } else {
            out.push(c);
        }
    }
    out
}

proptest! {
    #[test]
    fn any_label_value_round_trips_and_stays_on_one_line(value in any::<String>()) {
        let labels: &'static [Label] = Box::leak(Box::new([Label::new("v", Box::leak(value.clone().into_boxed_str()))]));
        let gauge: &'static Gauge = Box::leak(Box::new(Gauge::with_labels("x", "Help.", labels)));
        let mut registry = MetricsRegistry::new();
        registry.register(gauge).unwrap();
        let mut text = String::new();
        registry.write_prometheus(&mut text).unwrap();
        let series = text.lines().nth(2).unwrap();
        prop_assert_eq!(text.lines().count(), 3);
        let inner = series
            .strip_prefix("x{v=\"")
            .and_then(|rest| rest.strip_suffix("\"} 0"))
            .unwrap();
        prop_assert_eq!(unescape(inner), value.clone());
        // The JSON export parses back to the same value too.
        let parsed: serde_json::Value = serde_json::from_str(&registry.to_json().unwrap()).unwrap();
        prop_assert_eq!(parsed["metrics"][0]["labels"]["v"].as_str(), Some(value.as_str()));
    }
}

//! The shell side of the network: `netctl status` (link, address, connections, traffic,
//! errors) and the `autoctl` group — `ai-metrics` (every learned component's live figures next
//! to its baseline's, from the metrics registry, as a table) and `export-metrics [PATH]` (the
//! registry's JSON document written atomically to the data disk, by default
//! [`DEFAULT_EXPORT`]).
//!
//! Components are recognised by their series' prefixes ([`COMPONENTS`]), the same rule the
//! dashboard page applies: a component whose series are not in the registry is reported as
//! absent, never as zeros, so a component that lands later shows up without a change here.

use alloc::format;
use alloc::string::String;
use core::fmt::Write;
use core::sync::atomic::Ordering;

use metrics::{Sample, Value};
use shell::{CommandError, CommandRegistry, Subcommand};

use super::{COUNTERS, MAX_CONNECTIONS};
use crate::ctx::{CmdResult, KernelCtx, Out, w};
use crate::kmetrics;

/// Where `autoctl export-metrics` writes without a path.
pub const DEFAULT_EXPORT: &str = "/metrics/latest.json";
/// The largest snapshot written (the registry's JSON is a few KiB).
const MAX_EXPORT: usize = 1 << 20;

pub const NETCTL: [Subcommand<KernelCtx>; 1] = [Subcommand {
    name: "status",
    usage: "",
    summary: "link, address, connections, packets and bytes in/out, errors",
    handler: netctl_status,
}];

pub const AUTOCTL: [Subcommand<KernelCtx>; 2] = [
    Subcommand {
        name: "ai-metrics",
        usage: "",
        summary: "each learned component's live figures next to its baseline's",
        handler: autoctl_ai_metrics,
    },
    Subcommand {
        name: "export-metrics",
        usage: "[PATH]",
        summary: "write every metric as JSON to the disk (default /metrics/latest.json)",
        handler: autoctl_export,
    },
];

pub fn register(registry: &mut CommandRegistry<KernelCtx>) {
    // Distinct literal names; a refusal would lose the group, which the e2e tests catch.
    let _ = registry.register_group("netctl", "network and the dashboard server", &NETCTL);
    let _ = registry.register_group("autoctl", "AI impact figures: table and export", &AUTOCTL);
}

pub fn mac_text(mac: [u8; 6]) -> String {
    let [a, b, c, d, e, f] = mac;
    format!("{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{f:02x}")
}

fn netctl_status(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let c = &COUNTERS;
    let get = |a: &core::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    if !c.link_up.load(Ordering::Relaxed) {
        let why = super::down_reason().unwrap_or_else(|| String::from("not started"));
        return w(writeln!(out, "link: down ({why})"));
    }
    let mac = get(&c.mac).to_be_bytes();
    let [a, b, cc, d] = net::GUEST_ADDRESS;
    let [ga, gb, gc, gd] = net::GATEWAY;
    w(writeln!(
        out,
        "link: up, virtio-net {}",
        mac_text([mac[2], mac[3], mac[4], mac[5], mac[6], mac[7]])
    ))?;
    w(writeln!(
        out,
        "address: {a}.{b}.{cc}.{d}/{} gateway {ga}.{gb}.{gc}.{gd}, http on port {}",
        net::GUEST_PREFIX,
        net::HTTP_PORT
    ))?;
    w(writeln!(
        out,
        "connections: {} open of {MAX_CONNECTIONS}, {} websocket, {} accepted",
        get(&c.active),
        get(&c.ws_clients),
        get(&c.accepted)
    ))?;
    w(writeln!(
        out,
        "rx: {} packets, {} bytes, {} errors",
        get(&c.rx_packets),
        get(&c.rx_bytes),
        get(&c.rx_errors)
    ))?;
    w(writeln!(
        out,
        "tx: {} packets, {} bytes, {} errors",
        get(&c.tx_packets),
        get(&c.tx_bytes),
        get(&c.tx_errors)
    ))?;
    w(writeln!(
        out,
        "http: {} requests, {} 2xx, {} 4xx, {} 5xx, {} timed out, {} aborted",
        get(&c.requests),
        get(&c.responses_2xx),
        get(&c.responses_4xx),
        get(&c.responses_5xx),
        get(&c.timeouts),
        get(&c.aborted)
    ))?;
    let polls = get(&c.polls).max(1);
    w(writeln!(
        out,
        "websocket: {} opened, {} frames sent, {} skipped, {} protocol errors, last frame {} bytes",
        get(&c.ws_opened),
        get(&c.ws_frames_sent),
        get(&c.ws_frames_skipped),
        get(&c.ws_protocol_errors),
        get(&c.last_frame_bytes)
    ))?;
    w(writeln!(
        out,
        "server: {} polls, {} us per poll on average; {} renderings of the registry, {} us each",
        get(&c.polls),
        get(&c.poll_ns) / polls / 1000,
        get(&c.renders),
        get(&c.render_ns) / get(&c.renders).max(1) / 1000
    ))
}

/// A learned component and the baseline it is measured against, recognised by series prefix.
pub struct Component {
    pub key: &'static str,
    pub title: &'static str,
    pub prefix: &'static str,
    /// Series under `prefix` that exist without the component (the foundation's round-robin
    /// counters under `nous_sched_`).
    pub not_the_component: &'static [&'static str],
}

pub const COMPONENTS: [Component; 3] = [
    Component {
        key: "oom",
        title: "crash predictor vs earlyoom and PSI shadow baselines, response ladder",
        prefix: "nous_oom_",
        not_the_component: &[],
    },
    Component {
        key: "sched",
        title: "learned scheduler vs round-robin",
        prefix: "nous_sched_",
        not_the_component: &["nous_sched_context_switches_total", "nous_sched_threads"],
    },
    Component {
        key: "llm",
        title: "language model: inference, proposed and executed commands, fine-tuning",
        prefix: "nous_llm_",
        not_the_component: &[],
    },
];

fn value_text(v: Value) -> String {
    match v {
        Value::Unsigned(n) => format!("{n}"),
        Value::Signed(n) => format!("{n}"),
        Value::Float(x) if x.is_finite() && x != 0.0 && x.abs() < 0.001 => format!("{x:.3e}"),
        Value::Float(x) if x.is_finite() => format!("{x:.4}"),
        Value::Float(x) => format!("{x}"),
    }
}

fn series_text(s: &Sample) -> String {
    let mut name = String::from(s.name);
    if !s.labels.is_empty() {
        name.push('{');
        for (i, l) in s.labels.iter().enumerate() {
            if i > 0 {
                name.push(',');
            }
            let _ = write!(name, "{}=\"{}\"", l.name, l.value);
        }
        name.push('}');
    }
    name
}

/// The value of `name` with the label `label` (when given), as a float.
fn find(samples: &[Sample], name: &str, label: Option<(&str, &str)>) -> Option<f64> {
    samples
        .iter()
        .find(|s| {
            s.name == name
                && label.is_none_or(|(k, v)| s.labels.iter().any(|l| l.name == k && l.value == v))
        })
        .map(|s| match s.value {
            Value::Unsigned(n) => n as f64,
            Value::Signed(n) => n as f64,
            Value::Float(x) => x,
        })
}

/// Seconds as `12.3 s`, `-` for the registry's "none" (-1) or a missing series.
fn secs(v: Option<f64>) -> String {
    match v {
        Some(s) if s >= 0.0 => format!("{s:.1} s"),
        _ => String::from("-"),
    }
}

/// The OOM predictor next to its shadow baselines: state now, first warning in the current
/// run, and lead time before the run's first OOM kill.
fn oom_table(samples: &[Sample], out: Out) -> CmdResult {
    const LEVELS: [&str; 4] = ["NORMAL", "ELEVATED", "WARNING", "CRITICAL"];
    let get = |name: &str| find(samples, name, None);
    let warning = |d: &str| {
        find(
            samples,
            "nous_oom_run_first_warning_seconds",
            Some(("detector", d)),
        )
    };
    let firing = |b: &str| match find(samples, "nous_oom_baseline_firing", Some(("baseline", b))) {
        Some(v) if v > 0.0 => "FIRING",
        Some(_) => "quiet",
        None => "-",
    };
    let oom_at = get("nous_oom_run_oom_seconds").filter(|t| *t >= 0.0);
    let lead = |w: Option<f64>| match (w.filter(|t| *t >= 0.0), oom_at) {
        (Some(w), Some(o)) => format!("{:.1} s", o - w),
        _ => String::from("-"),
    };
    let level = get("nous_oom_risk_level")
        .and_then(|l| LEVELS.get(l as usize).copied())
        .unwrap_or("-");
    let now = format!(
        "risk {:.3} {level}, confidence {:.2}, exhaustion in {}",
        get("nous_oom_risk").unwrap_or(f64::NAN),
        get("nous_oom_confidence").unwrap_or(f64::NAN),
        secs(get("nous_oom_time_to_exhaustion_seconds"))
    );
    w(writeln!(
        out,
        "  {:<20} {:<60} {:<14} lead before OOM",
        "detector", "now", "first warning"
    ))?;
    for (label, state, detector) in [
        ("predictor (learned)", now.as_str(), "predictor"),
        ("earlyoom (baseline)", firing("earlyoom"), "earlyoom"),
        ("psi (baseline)", firing("psi"), "psi"),
    ] {
        let first = warning(detector);
        w(writeln!(
            out,
            "  {label:<20} {state:<60} {:<14} {}",
            secs(first),
            lead(first)
        ))?;
    }
    w(writeln!(
        out,
        "  run: first OOM kill {}; ladder actions {}; OOM kills {}; predictions {}; update {:.1} us",
        secs(oom_at),
        get("nous_oom_ladder_actions_total").unwrap_or(0.0),
        get("nous_oom_kills_total").unwrap_or(0.0),
        get("nous_oom_predictions").unwrap_or(0.0),
        get("nous_oom_predictor_update_seconds").unwrap_or(f64::NAN) * 1e6
    ))
}

fn autoctl_ai_metrics(ctx: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let samples = kmetrics::registry().snapshot();
    for component in &COMPONENTS {
        let mine: alloc::vec::Vec<&Sample> = samples
            .iter()
            .filter(|s| {
                s.name.starts_with(component.prefix)
                    && !component.not_the_component.contains(&s.name)
            })
            .collect();
        if mine.is_empty() {
            w(writeln!(
                out,
                "[{}] {}: absent (no {}* series in this kernel)",
                component.key, component.title, component.prefix
            ))?;
            continue;
        }
        w(writeln!(out, "[{}] {}", component.key, component.title))?;
        if component.key == "oom" {
            oom_table(&samples, out)?;
            continue;
        }
        for s in mine {
            if ctx.interrupted() {
                return Err(CommandError::failed("interrupted"));
            }
            w(writeln!(
                out,
                "  {:<56} {}",
                series_text(s),
                value_text(s.value)
            ))?;
        }
    }
    Ok(())
}

fn autoctl_export(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = match args.first().copied() {
        Some(p) if p.starts_with('/') => String::from(p),
        Some(p) => format!("/{p}"),
        None => String::from(DEFAULT_EXPORT),
    };
    if path.ends_with('/') {
        return Err(CommandError::usage(format!(
            "{path} names a directory, not a file"
        )));
    }
    let json = kmetrics::registry()
        .to_json()
        .map_err(|e| CommandError::failed(format!("cannot encode the metrics: {e}")))?;
    if json.len() > MAX_EXPORT {
        return Err(CommandError::failed("the metrics document is too large"));
    }
    if let Some((dir, _)) = path.rsplit_once('/')
        && !dir.is_empty()
    {
        crate::files::create_dir_all(dir).map_err(CommandError::failed)?;
    }
    crate::files::replace(&path, json.as_bytes()).map_err(CommandError::failed)?;
    w(writeln!(
        out,
        "exported {} metrics ({} bytes of JSON) to {path}",
        kmetrics::registry().len(),
        json.len()
    ))
}

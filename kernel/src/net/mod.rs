//! The network and the AI impact dashboard: the virtio-net card, smoltcp's TCP/IP stack and the
//! in-kernel HTTP/1.1 + WebSocket server of the `net` crate, serving the metrics registry as
//! Prometheus text (`/metrics`), JSON (`/api/metrics`), a 10 Hz WebSocket push (`/ws`) and the
//! dashboard page (`/`); the shell's `netctl status` and `autoctl ai-metrics|export-metrics`.
//!
//! One kernel thread, `net`, owns the card and the server and polls both (the card is driven
//! without interrupts, as the disk is): every millisecond while a connection is open, every
//! few otherwise. What the shell and the metrics read of it is in atomics ([`COUNTERS`]), so
//! nothing waits on the thread and the thread holds no lock while it serves the registry.
//!
//! Modules: `device` (the card behind `net::Nic`), `page` (the dashboard's files, embedded at
//! build time), `commands` (the shell side); this file starts the thread and exports the
//! counters.

mod commands;
mod device;
mod page;

use alloc::format;
use alloc::string::String;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use hal::task::{self, SpawnOptions};
use metrics::{Label, MetricKind, MetricsRegistry, Value};
use net::{Content, NicDevice, Server, ServerConfig, ServerStats};
use pci::VirtioKind;
use sched::Priority;

use crate::ctx::Subsystem;
use crate::kmetrics::{self, Computed};

/// The table entry.
pub const SUBSYSTEM: Subsystem = Subsystem {
    name: "net",
    start: |_| Some(start()),
    commands: commands::register,
    metrics: register_metrics,
    stop: Subsystem::no_stop,
};

/// Connections served at once (a SYN beyond them is reset).
pub const MAX_CONNECTIONS: usize = 8;

/// Everything `netctl status` and the metrics show, written by the `net` thread.
pub struct Counters {
    pub link_up: AtomicBool,
    pub mac: AtomicU64,
    pub rx_packets: AtomicU64,
    pub rx_bytes: AtomicU64,
    pub rx_errors: AtomicU64,
    pub tx_packets: AtomicU64,
    pub tx_bytes: AtomicU64,
    pub tx_errors: AtomicU64,
    pub accepted: AtomicU64,
    pub requests: AtomicU64,
    pub responses_2xx: AtomicU64,
    pub responses_4xx: AtomicU64,
    pub responses_5xx: AtomicU64,
    pub timeouts: AtomicU64,
    pub aborted: AtomicU64,
    pub active: AtomicU64,
    pub ws_clients: AtomicU64,
    pub ws_opened: AtomicU64,
    pub ws_frames_sent: AtomicU64,
    pub ws_frames_skipped: AtomicU64,
    pub ws_protocol_errors: AtomicU64,
    pub last_frame_bytes: AtomicU64,
    /// Time the thread spent inside `Server::poll`, ns (its CPU share: it only sleeps outside).
    pub poll_ns: AtomicU64,
    pub polls: AtomicU64,
    /// Renderings of the registry (Prometheus text or JSON) and the time they took, ns.
    pub renders: AtomicU64,
    pub render_ns: AtomicU64,
}

pub static COUNTERS: Counters = Counters {
    link_up: AtomicBool::new(false),
    mac: AtomicU64::new(0),
    rx_packets: AtomicU64::new(0),
    rx_bytes: AtomicU64::new(0),
    rx_errors: AtomicU64::new(0),
    tx_packets: AtomicU64::new(0),
    tx_bytes: AtomicU64::new(0),
    tx_errors: AtomicU64::new(0),
    accepted: AtomicU64::new(0),
    requests: AtomicU64::new(0),
    responses_2xx: AtomicU64::new(0),
    responses_4xx: AtomicU64::new(0),
    responses_5xx: AtomicU64::new(0),
    timeouts: AtomicU64::new(0),
    aborted: AtomicU64::new(0),
    active: AtomicU64::new(0),
    ws_clients: AtomicU64::new(0),
    ws_opened: AtomicU64::new(0),
    ws_frames_sent: AtomicU64::new(0),
    ws_frames_skipped: AtomicU64::new(0),
    ws_protocol_errors: AtomicU64::new(0),
    last_frame_bytes: AtomicU64::new(0),
    poll_ns: AtomicU64::new(0),
    polls: AtomicU64::new(0),
    renders: AtomicU64::new(0),
    render_ns: AtomicU64::new(0),
};

static STARTED: AtomicBool = AtomicBool::new(false);
/// Why the network is down, for `netctl status`.
static DOWN_REASON: spin::Mutex<Option<String>> = spin::Mutex::new(None);

/// Why the network is not up, if it is not.
pub fn down_reason() -> Option<String> {
    DOWN_REASON.lock().clone()
}

fn now_ms() -> u64 {
    hal::time::now_ns() / 1_000_000
}

/// The metrics registry, as the server serves it.
struct RegistryContent;

/// Counts one rendering that started at `started` (ns).
fn rendered(started: u64) {
    let spent = hal::time::now_ns().saturating_sub(started);
    COUNTERS.renders.fetch_add(1, Ordering::Relaxed);
    COUNTERS.render_ns.fetch_add(spent, Ordering::Relaxed);
}

impl Content for RegistryContent {
    fn prometheus(&mut self, out: &mut String) {
        let started = hal::time::now_ns();
        // Writing to a String cannot fail.
        let _ = kmetrics::registry().write_prometheus(out);
        rendered(started);
    }

    fn json(&mut self, out: &mut String) {
        let started = hal::time::now_ns();
        match kmetrics::registry().to_json() {
            Ok(json) => *out = json,
            Err(_) => out.push_str("{\"metrics\":[]}"),
        }
        rendered(started);
    }
}

/// Claims the card, brings the interface up and starts the `net` thread (once). Returns the
/// boot line: the address and port, or why there is no network.
fn start() -> String {
    if STARTED.swap(true, Ordering::SeqCst) {
        return String::from("net: already started");
    }
    match bring_up() {
        Ok(line) => line,
        Err(why) => {
            let line = format!("net: down: {why}");
            *DOWN_REASON.lock() = Some(why);
            line
        }
    }
}

fn bring_up() -> Result<String, String> {
    let card = hal::pci::claim_virtio(VirtioKind::Network)
        .ok_or_else(|| String::from("no virtio-net card (QEMU: -device virtio-net-pci)"))?;
    let card = hal::virtio::VirtioNet::new(card).map_err(|e| format!("virtio-net: {e}"))?;
    let mac = card.mac();
    let (bus, dev, func) = card.location();
    let config = ServerConfig {
        mac,
        address: net::GUEST_ADDRESS,
        prefix_len: net::GUEST_PREFIX,
        gateway: Some(net::GATEWAY),
        port: net::HTTP_PORT,
        max_connections: MAX_CONNECTIONS,
        assets: page::ASSETS,
    };
    let mut server = Server::new(NicDevice::new(device::Card(card)), &config, now_ms())
        .map_err(|e| format!("{e}"))?;
    COUNTERS.mac.store(
        mac.iter().fold(0, |a, &b| (a << 8) | u64::from(b)),
        Ordering::Relaxed,
    );
    COUNTERS.link_up.store(true, Ordering::Relaxed);
    task::spawn_with(
        "net",
        SpawnOptions {
            priority: Priority::Normal,
            detached: true,
            ..SpawnOptions::default()
        },
        move || {
            let mut content = RegistryContent;
            loop {
                let started = hal::time::now_ns();
                let delay_ms = server.poll(started / 1_000_000, &mut content);
                let spent = hal::time::now_ns().saturating_sub(started);
                publish(&server.stats(), &server.device().stats, spent);
                // Poll often while anyone is connected (the card raises no interrupt here).
                let cap = if server.stats().active_connections > 0 {
                    1
                } else {
                    5
                };
                task::sleep_ns(delay_ms.clamp(1, cap) * 1_000_000);
            }
        },
    )
    .map_err(|e| format!("cannot start the net thread: {e}"))?;
    let [a, b, c, d] = net::GUEST_ADDRESS;
    Ok(format!(
        "net: virtio-net {} at {bus:02x}:{dev:02x}.{func}, {a}.{b}.{c}.{d}/{}, dashboard on port {}",
        commands::mac_text(mac),
        net::GUEST_PREFIX,
        net::HTTP_PORT
    ))
}

fn publish(s: &ServerStats, link: &net::LinkStats, poll_ns: u64) {
    let c = &COUNTERS;
    let set = |a: &AtomicU64, v: u64| a.store(v, Ordering::Relaxed);
    set(&c.rx_packets, link.rx_packets);
    set(&c.rx_bytes, link.rx_bytes);
    set(&c.rx_errors, link.rx_errors);
    set(&c.tx_packets, link.tx_packets);
    set(&c.tx_bytes, link.tx_bytes);
    set(&c.tx_errors, link.tx_errors);
    set(&c.accepted, s.accepted);
    set(&c.requests, s.requests);
    set(&c.responses_2xx, s.responses_2xx);
    set(&c.responses_4xx, s.responses_4xx);
    set(&c.responses_5xx, s.responses_5xx);
    set(&c.timeouts, s.timeouts);
    set(&c.aborted, s.aborted);
    set(&c.active, s.active_connections);
    set(&c.ws_clients, s.ws_clients);
    set(&c.ws_opened, s.ws_opened);
    set(&c.ws_frames_sent, s.ws_frames_sent);
    set(&c.ws_frames_skipped, s.ws_frames_skipped);
    set(&c.ws_protocol_errors, s.ws_protocol_errors);
    set(&c.last_frame_bytes, s.last_frame_bytes);
    c.poll_ns.fetch_add(poll_ns, Ordering::Relaxed);
    c.polls.fetch_add(1, Ordering::Relaxed);
}

fn get(a: &AtomicU64) -> Value {
    Value::Unsigned(a.load(Ordering::Relaxed))
}

const RX: &[Label] = &[Label::new("direction", "rx")];
const TX: &[Label] = &[Label::new("direction", "tx")];
const PACKETS_HELP: &str = "Ethernet frames moved by the virtio-net card, by direction.";
const BYTES_HELP: &str = "Ethernet bytes moved by the virtio-net card, by direction.";
const ERRORS_HELP: &str = "Frames the virtio-net card failed to receive or send, by direction.";
const RESPONSES_HELP: &str = "HTTP responses sent by the dashboard server, by status class.";
const FRAMES_HELP: &str =
    "WebSocket push frames: sent, or skipped because the client had not taken the previous ones.";

/// The network's series.
pub static METRICS: [Computed; 18] = [
    Computed::new(
        MetricKind::Gauge,
        "nous_net_link_up",
        "1 when the virtio-net card is up and the server runs.",
        &[],
        || Value::Unsigned(u64::from(COUNTERS.link_up.load(Ordering::Relaxed))),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_packets_total",
        PACKETS_HELP,
        RX,
        || get(&COUNTERS.rx_packets),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_packets_total",
        PACKETS_HELP,
        TX,
        || get(&COUNTERS.tx_packets),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_bytes_total",
        BYTES_HELP,
        RX,
        || get(&COUNTERS.rx_bytes),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_bytes_total",
        BYTES_HELP,
        TX,
        || get(&COUNTERS.tx_bytes),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_errors_total",
        ERRORS_HELP,
        RX,
        || get(&COUNTERS.rx_errors),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_errors_total",
        ERRORS_HELP,
        TX,
        || get(&COUNTERS.tx_errors),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_connections_accepted_total",
        "TCP connections the dashboard server accepted.",
        &[],
        || get(&COUNTERS.accepted),
    ),
    Computed::new(
        MetricKind::Gauge,
        "nous_net_connections_active",
        "Open connections of the dashboard server (HTTP and WebSocket).",
        &[],
        || get(&COUNTERS.active),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_http_requests_total",
        "HTTP request heads received (complete or refused).",
        &[],
        || get(&COUNTERS.requests),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_http_responses_total",
        RESPONSES_HELP,
        &[Label::new("class", "2xx")],
        || get(&COUNTERS.responses_2xx),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_http_responses_total",
        RESPONSES_HELP,
        &[Label::new("class", "4xx")],
        || get(&COUNTERS.responses_4xx),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_http_responses_total",
        RESPONSES_HELP,
        &[Label::new("class", "5xx")],
        || get(&COUNTERS.responses_5xx),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_timeouts_total",
        "Connections ended by a server deadline (slow request head, stalled response).",
        &[],
        || get(&COUNTERS.timeouts),
    ),
    Computed::new(
        MetricKind::Gauge,
        "nous_net_websocket_clients",
        "WebSocket clients receiving the 10 Hz push.",
        &[],
        || get(&COUNTERS.ws_clients),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_websocket_frames_total",
        FRAMES_HELP,
        &[Label::new("result", "sent")],
        || get(&COUNTERS.ws_frames_sent),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_websocket_frames_total",
        FRAMES_HELP,
        &[Label::new("result", "skipped")],
        || get(&COUNTERS.ws_frames_skipped),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_net_poll_seconds_total",
        "CPU time the net thread spent polling the card and serving, in seconds.",
        &[],
        || Value::Float(COUNTERS.poll_ns.load(Ordering::Relaxed) as f64 / 1e9),
    ),
];

fn register_metrics(r: &mut MetricsRegistry) {
    for m in METRICS.iter() {
        // Distinct names and labels: a refusal only drops the series (the ktest counts them).
        let _ = r.register(m);
    }
}

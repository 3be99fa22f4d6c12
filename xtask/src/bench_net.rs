//! `cargo xtask bench net`: the dashboard server under TCG, measured from the host.
//!
//! One boot of the normal image with a data disk and a forwarded port, then:
//! 1. **WebSocket push**: one client for [`PUSH_SECONDS`]; frames per second delivered, and the
//!    sample-to-client latency of each frame. Every frame carries the kernel's uptime at the
//!    sample (`uptime_ms`); the host stamps its arrival. The two clocks share no origin, so
//!    the figure is relative: arrival − sample time, minus the smallest such difference over
//!    the run (the fastest frame counts as 0 ms). Both clocks are real time (TCG's TSC is the
//!    host's), so over seconds they do not drift apart measurably.
//! 2. **HTTP `/metrics`**: 1 and then 16 concurrent clients for [`HTTP_SECONDS`] each, a new
//!    connection per request (the server closes after every response); requests per second
//!    answered 200, connections refused or failed, and the net thread's CPU share — the growth
//!    of `nous_net_poll_seconds_total` (time inside `Server::poll`) over the wall time.
//! 3. **Shell response time**: [`SHELL_COMMANDS`] `uptime` round trips over the serial line,
//!    one every 100 ms, without any network client (the baseline) and with the dashboard's
//!    WebSocket open and a 16-client `/metrics` load running; median and p99, and the push
//!    rate the WebSocket client saw meanwhile.
//!
//! Baselines: the shell without the dashboard; the 10 Hz goal and the 250 ms p99 goal of the
//! issue. Nothing here asserts a figure: it prints them for docs/BENCHMARKS.md.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::console::Console;
use crate::netclient::{self, WsClient};
use crate::{disk, e2e_net, image, setup};

const PUSH_SECONDS: u64 = 20;
const HTTP_SECONDS: u64 = 10;
const SHELL_COMMANDS: usize = 40;
const TIMEOUT: Duration = Duration::from_secs(20);

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Host time in ms on the monotonic clock (a wall-clock step must not look like latency).
fn host_ms(origin: Instant) -> f64 {
    origin.elapsed().as_secs_f64() * 1000.0
}

/// Reads one series' value from `/metrics`.
fn metric(port: u16, series: &str) -> Result<f64> {
    let text = netclient::get(port, "/metrics", TIMEOUT)?.text();
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {series} in /metrics"))
}

struct PushFigures {
    cpu_share: f64,
    frames: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    frame_bytes: usize,
}

fn push(port: u16) -> Result<PushFigures> {
    let poll_before = metric(port, "nous_net_poll_seconds_total")?;
    let mut ws = WsClient::connect(port, TIMEOUT)?;
    // Skip the first second (the connection's start).
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_secs(1) {
        ws.next(TIMEOUT)?.context("the push stopped")?;
    }
    let start = Instant::now();
    let mut delays = Vec::new();
    let mut bytes = 0;
    while start.elapsed() < Duration::from_secs(PUSH_SECONDS) {
        let frame = ws.next(TIMEOUT)?.context("the push stopped")?;
        let arrived = host_ms(warm);
        let doc: serde_json::Value = serde_json::from_slice(&frame.payload)?;
        let sampled = doc["uptime_ms"].as_f64().context("no uptime_ms")?;
        delays.push(arrived - sampled);
        bytes = frame.payload.len();
    }
    let elapsed = start.elapsed().as_secs_f64();
    ws.drop_connection();
    let cpu_share =
        (metric(port, "nous_net_poll_seconds_total")? - poll_before) / warm.elapsed().as_secs_f64();
    let floor = delays.iter().copied().fold(f64::INFINITY, f64::min);
    let latencies = sorted(delays.iter().map(|d| d - floor).collect());
    Ok(PushFigures {
        cpu_share,
        frames: latencies.len(),
        per_second: latencies.len() as f64 / elapsed,
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or(f64::NAN),
        frame_bytes: bytes,
    })
}

struct HttpFigures {
    clients: usize,
    ok_per_second: f64,
    failed: u64,
    cpu_share: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// `clients` threads fetching `/metrics` in a loop until `stop`; returns (ok, failed, latencies).
fn load(
    port: u16,
    clients: usize,
    stop: Arc<AtomicBool>,
) -> Vec<std::thread::JoinHandle<(u64, u64, Vec<f64>)>> {
    (0..clients)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let (mut ok, mut failed, mut times) = (0, 0, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match netclient::get(port, "/metrics", TIMEOUT) {
                        Ok(r) if r.status == 200 => {
                            ok += 1;
                            times.push(t.elapsed().as_secs_f64() * 1000.0);
                        }
                        _ => {
                            failed += 1;
                            // A refused connection comes back at once: do not spin on it.
                            std::thread::sleep(Duration::from_millis(10));
                        }
                    }
                }
                (ok, failed, times)
            })
        })
        .collect()
}

fn http(port: u16, clients: usize) -> Result<HttpFigures> {
    let poll_before = metric(port, "nous_net_poll_seconds_total")?;
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers = load(port, clients, Arc::clone(&stop));
    std::thread::sleep(Duration::from_secs(HTTP_SECONDS));
    stop.store(true, Ordering::Relaxed);
    let (mut ok, mut failed, mut times) = (0, 0, Vec::new());
    for w in workers {
        let (o, f, t) = w
            .join()
            .map_err(|_| anyhow::anyhow!("a client thread panicked"))?;
        ok += o;
        failed += f;
        times.extend(t);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let poll_after = metric(port, "nous_net_poll_seconds_total")?;
    let times = sorted(times);
    Ok(HttpFigures {
        clients,
        ok_per_second: ok as f64 / elapsed,
        failed,
        cpu_share: (poll_after - poll_before) / elapsed,
        p50_ms: percentile(&times, 50.0),
        p99_ms: percentile(&times, 99.0),
    })
}

/// `uptime` round trips, one every 100 ms (so the phase spans seconds of the load).
fn shell_times(console: &mut Console) -> Result<Vec<f64>> {
    let mut times = Vec::new();
    for _ in 0..SHELL_COMMANDS {
        let t = Instant::now();
        console.command("uptime")?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(sorted(times))
}

pub fn run(_extra: &[String]) -> Result<ExitCode> {
    setup::ensure_qemu()?;
    let elf = image::build(image::Variant::Normal)?;
    let template = disk::test_template()?;
    let scratch = disk::ScratchImage::copy_of(&template)?;
    let mut guest = e2e_net::boot(&elf, &scratch.path)?;
    let port = guest.port;
    println!("xtask: bench net: guest up, dashboard at http://127.0.0.1:{port}/ (TCG)");

    // Idle: no client at all; the thread still polls the card every 5 ms.
    let idle_before = metric(port, "nous_net_poll_seconds_total")?;
    let idle_start = Instant::now();
    let quiet = shell_times(&mut guest.console)?;
    let idle_share = (metric(port, "nous_net_poll_seconds_total")? - idle_before)
        / idle_start.elapsed().as_secs_f64();
    println!(
        "idle (no network client): net thread CPU share {:.2}%",
        idle_share * 100.0
    );

    let p = push(port)?;
    for line in guest.console.command("netctl status")? {
        println!("  after the push: {line}");
    }
    println!(
        "websocket push: {} frames in {PUSH_SECONDS} s = {:.2} frames/s (goal 10); \
         sample-to-client latency above the fastest frame: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (goal p99 <= 250 ms); frame {} bytes; net thread CPU share {:.1}%",
        p.frames,
        p.per_second,
        p.p50_ms,
        p.p99_ms,
        p.max_ms,
        p.frame_bytes,
        p.cpu_share * 100.0
    );

    let mut rows = Vec::new();
    for clients in [1, 16] {
        let h = http(port, clients)?;
        println!(
            "http /metrics, {:>2} client(s): {:.1} req/s answered 200, {} refused or failed, latency p50 {:.1} ms p99 {:.1} ms, net thread CPU share {:.1}%",
            h.clients,
            h.ok_per_second,
            h.failed,
            h.p50_ms,
            h.p99_ms,
            h.cpu_share * 100.0
        );
        rows.push(h);
    }

    // The shell with the dashboard open (WebSocket at 10 Hz) and 16 clients on /metrics.
    let ws = WsClient::connect(port, TIMEOUT)?;
    let stop = Arc::new(AtomicBool::new(false));
    let frames = Arc::new(AtomicU64::new(0));
    let reader = {
        let (stop, frames) = (Arc::clone(&stop), Arc::clone(&frames));
        let mut ws = ws;
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(Some(_)) = ws.next(Duration::from_millis(500)) {
                    frames.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let workers = load(port, 16, Arc::clone(&stop));
    let busy_start = Instant::now();
    let busy = shell_times(&mut guest.console)?;
    let busy_seconds = busy_start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let _ = reader.join();
    println!(
        "shell `uptime` round trip ({SHELL_COMMANDS} commands): no network client p50 {:.1} ms p99 {:.1} ms; \
         dashboard open + 16 /metrics clients p50 {:.1} ms p99 {:.1} ms ({:.2}x the median)",
        percentile(&quiet, 50.0),
        percentile(&quiet, 99.0),
        percentile(&busy, 50.0),
        percentile(&busy, 99.0),
        percentile(&busy, 50.0) / percentile(&quiet, 50.0)
    );
    println!(
        "push frames received meanwhile: {} in {busy_seconds:.1} s = {:.2} frames/s",
        frames.load(Ordering::Relaxed),
        frames.load(Ordering::Relaxed) as f64 / busy_seconds
    );
    let _ = guest.console.command("shutdown");
    Ok(ExitCode::SUCCESS)
}

//! End-to-end tests of the network and the dashboard server, from the host: one boot of the
//! normal image with a data disk and a virtio-net card whose port 80 QEMU forwards to a free
//! host port ([`crate::qemu::net_args`]); the tests reach the kernel only through that port
//! and the serial console.
//!
//! What they check: `/metrics` passes `promtool check metrics`; `/api/metrics` is JSON with the
//! same series; `/ws` pushes at least 28 frames in 3 s and answers ping and close; each class
//! of hostile input (oversized and malformed heads, slow clients, idle half-open connections,
//! bad WebSocket frames, a flood of connections) gets its error or its closed connection, and
//! after each the shell still answers and the server still serves; `netctl status` and the
//! `autoctl` commands report and export; and headless Chromium shows the live page.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::console::Console;
use crate::netclient::{self, WsClient};
use crate::qemu::{self, Guest};
use crate::suite::Recorder;
use crate::{disk, image, parse, setup};

/// Per-request deadline (TCG is slow; the server answers in well under a second).
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A booted guest with its forwarded port.
pub struct NetGuest {
    pub console: Console,
    pub port: u16,
}

/// One test over the shared boot.
pub struct NetTest {
    pub name: &'static str,
    pub run: fn(&mut NetGuest) -> Result<()>,
}

/// The tests, in run order.
pub const TESTS: &[NetTest] = &[
    NetTest {
        name: "boot_line_and_netctl_status",
        run: boot_line_and_netctl_status,
    },
    NetTest {
        name: "metrics_pass_promtool",
        run: metrics_pass_promtool,
    },
    NetTest {
        name: "api_metrics_is_the_same_registry_as_json",
        run: api_metrics_is_the_same_registry_as_json,
    },
    NetTest {
        name: "websocket_pushes_at_10_hz_and_answers_ping_and_close",
        run: websocket_pushes_at_10_hz,
    },
    NetTest {
        name: "hostile_http_input_gets_errors_and_the_shell_answers",
        run: hostile_http_input,
    },
    NetTest {
        name: "hostile_connections_are_bounded_and_the_shell_answers",
        run: hostile_connections,
    },
    NetTest {
        name: "hostile_websocket_frames_close_and_the_shell_answers",
        run: hostile_websocket_frames,
    },
    NetTest {
        name: "autoctl_ai_metrics_and_export",
        run: autoctl_ai_metrics_and_export,
    },
    NetTest {
        name: "dashboard_updates_live_in_chromium",
        run: dashboard_updates_live_in_chromium,
    },
];

/// Boots one guest for the network tests (a fresh disk, a free forwarded port).
pub fn boot(elf: &Path, scratch: &Path) -> Result<NetGuest> {
    let port = qemu::free_port()?;
    let mut args = disk::drive_args(scratch);
    args.extend(qemu::net_args(port));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let guest = Guest::boot_with(elf, &args)?;
    let console = Console::attach(guest).map_err(|failure| {
        failure
            .error
            .context(format!("boot failed; serial log:\n{}", failure.log))
    })?;
    Ok(NetGuest { console, port })
}

/// Runs the selected tests (`net::<name>`) on one boot; after a failure the rest get a fresh
/// boot.
pub fn run(recorder: &mut Recorder, elf: &Path, tests: &[&NetTest]) {
    let mut disks: Vec<disk::ScratchImage> = Vec::new();
    let mut current: Option<NetGuest> = None;
    for test in tests {
        let name = format!("net::{}", test.name);
        let mut guest = match current.take() {
            Some(g) => g,
            None => {
                let booted = disk::test_template()
                    .and_then(|t| disk::ScratchImage::copy_of(&t))
                    .and_then(|scratch| {
                        let g = boot(elf, &scratch.path);
                        disks.push(scratch);
                        g
                    });
                match booted {
                    Ok(g) => g,
                    Err(err) => {
                        recorder.record(&name, &Err(err), None);
                        continue;
                    }
                }
            }
        };
        let outcome = (test.run)(&mut guest);
        let failed = outcome.is_err();
        let log = failed.then(|| guest.console.guest().failure_log());
        recorder.record(&name, &outcome, log.as_deref());
        if !failed && !guest.console.guest().has_exited() {
            current = Some(guest);
        }
    }
}

/// Runs `line` and fails on an `error:` line.
fn command_ok(console: &mut Console, line: &str) -> Result<Vec<String>> {
    let output = console.command(line)?;
    ensure!(
        parse::error_lines(&output.join("\n")).is_empty(),
        "`{line}` failed: {output:?}"
    );
    Ok(output)
}

/// The shell answers and the server still serves `/metrics`.
fn still_alive(g: &mut NetGuest, after: &str) -> Result<()> {
    let status = command_ok(&mut g.console, "netctl status")
        .with_context(|| format!("the shell after {after}"))?;
    ensure!(
        status.first().is_some_and(|l| l.starts_with("link: up")),
        "after {after}: {status:?}"
    );
    let r = netclient::get(g.port, "/metrics", IO_TIMEOUT)
        .with_context(|| format!("the server after {after}"))?;
    ensure!(
        r.status == 200,
        "after {after}: /metrics answered {}",
        r.status
    );
    Ok(())
}

fn boot_line_and_netctl_status(g: &mut NetGuest) -> Result<()> {
    let log = g.console.guest().serial_log();
    ensure!(
        log.contains("net: virtio-net ") && log.contains("10.0.2.15/24, dashboard on port 80"),
        "no network boot line in:\n{log}"
    );
    let status = command_ok(&mut g.console, "netctl status")?;
    for want in [
        "link: up, virtio-net 52:54:00:",
        "address: 10.0.2.15/24",
        "rx: ",
        "tx: ",
    ] {
        ensure!(
            status.iter().any(|l| l.starts_with(want)),
            "netctl status has no {want:?}: {status:?}"
        );
    }
    crate::e2e::command_error(&mut g.console, "netctl", "missing subcommand")?;
    crate::e2e::command_error(&mut g.console, "netctl status now", "argument")
}

/// Where test artefacts go (`target/net-tests/`).
fn artefact_dir() -> Result<PathBuf> {
    let dir = image::workspace_root().join("target").join("net-tests");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

fn metrics_pass_promtool(g: &mut NetGuest) -> Result<()> {
    let promtool = setup::ensure_promtool()?;
    let r = netclient::get(g.port, "/metrics", IO_TIMEOUT)?;
    ensure!(r.status == 200, "/metrics answered {}", r.status);
    ensure!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("text/plain; version=0.0.4")),
        "content type {:?}",
        r.header("content-type")
    );
    let text = r.text();
    std::fs::write(artefact_dir()?.join("metrics.txt"), &text)?;
    for series in [
        "nous_memory_free_bytes ",
        "nous_oom_risk ",
        "nous_oom_predictor_update_seconds ",
        "nous_net_http_requests_total ",
        "nous_net_packets_total{direction=\"rx\"} ",
    ] {
        ensure!(
            text.lines().any(|l| l.starts_with(series)),
            "/metrics has no {series:?}"
        );
    }
    let mut child = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting promtool")?;
    child
        .stdin
        .take()
        .context("promtool stdin")?
        .write_all(text.as_bytes())?;
    let out = child.wait_with_output()?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    ensure!(
        out.status.success() && report.trim().is_empty(),
        "promtool check metrics: {} {report}",
        out.status
    );
    Ok(())
}

/// Series lines of a Prometheus text (not comments).
fn series_count(text: &str) -> usize {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count()
}

fn api_metrics_is_the_same_registry_as_json(g: &mut NetGuest) -> Result<()> {
    let r = netclient::get(g.port, "/api/metrics", IO_TIMEOUT)?;
    ensure!(r.status == 200, "/api/metrics answered {}", r.status);
    ensure!(r.header("content-type") == Some("application/json"));
    let doc: serde_json::Value = serde_json::from_slice(&r.body).context("/api/metrics JSON")?;
    let metrics = doc["metrics"].as_array().context("no metrics array")?;
    let prom = netclient::get(g.port, "/metrics", IO_TIMEOUT)?.text();
    ensure!(
        metrics.len() == series_count(&prom),
        "{} JSON series, {} Prometheus series",
        metrics.len(),
        series_count(&prom)
    );
    let free = metrics
        .iter()
        .find(|m| m["name"] == "nous_memory_free_bytes")
        .context("no nous_memory_free_bytes")?;
    ensure!(free["type"] == "gauge" && free["value"].as_u64().is_some_and(|v| v > 0));
    Ok(())
}

fn websocket_pushes_at_10_hz(g: &mut NetGuest) -> Result<()> {
    let mut ws = WsClient::connect(g.port, IO_TIMEOUT)?;
    let start = Instant::now();
    let mut frames = 0;
    let mut last_seq = 0;
    while start.elapsed() < Duration::from_secs(3) {
        let left = Duration::from_secs(3).saturating_sub(start.elapsed());
        let Some(frame) = ws.next(left)? else {
            break;
        };
        ensure!(frame.opcode == 1, "push frame opcode {}", frame.opcode);
        let doc: serde_json::Value =
            serde_json::from_slice(&frame.payload).context("push frame JSON")?;
        let seq = doc["seq"].as_u64().context("no seq")?;
        ensure!(seq > last_seq, "seq went from {last_seq} to {seq}");
        ensure!(doc["metrics"].as_array().is_some_and(|m| !m.is_empty()));
        last_seq = seq;
        frames += 1;
    }
    ensure!(frames >= 28, "{frames} push frames in 3 s (want >= 28)");
    ws.send(0x89, b"ping from the host", true)?;
    let pong = loop {
        let frame = ws.next(IO_TIMEOUT)?.context("no pong")?;
        if frame.opcode == 0xa {
            break frame;
        }
    };
    ensure!(pong.payload == b"ping from the host");
    ws.send(0x88, &1000u16.to_be_bytes(), true)?;
    loop {
        let frame = ws.next(IO_TIMEOUT)?.context("no close reply")?;
        if frame.opcode == 8 {
            ensure!(
                frame.payload.get(..2) == Some(&[0x03, 0xe8][..]),
                "close {:?}",
                frame.payload
            );
            break;
        }
    }
    ensure!(
        ws.next(IO_TIMEOUT)?.is_none(),
        "the connection stayed open after the close"
    );
    still_alive(g, "a WebSocket session")
}

fn status_of(raw: &[u8]) -> Result<u16> {
    Ok(netclient::parse_response(raw)
        .with_context(|| format!("reply {:?}", String::from_utf8_lossy(raw)))?
        .status)
}

fn hostile_http_input(g: &mut NetGuest) -> Result<()> {
    let mut long = b"GET /".to_vec();
    long.extend(std::iter::repeat_n(b'a', 20_000));
    long.extend_from_slice(b" HTTP/1.1\r\n\r\n");
    // The server answers once its head buffer is full; the rest may be refused with a reset.
    let reply = netclient::exchange(g.port, &long, IO_TIMEOUT)?;
    ensure!(status_of(&reply)? == 431, "oversized request line");
    still_alive(g, "an oversized request line")?;

    let mut many = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..100 {
        many.extend_from_slice(format!("X-Header-{i}: value\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    ensure!(
        status_of(&netclient::exchange(g.port, &many, IO_TIMEOUT)?)? == 431,
        "100 headers"
    );
    still_alive(g, "too many headers")?;

    for (bytes, want) in [
        (
            &b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03\r\n\r\n"[..],
            400,
        ),
        (b"GET / HTTP/1.1\r\nBroken header line\r\n\r\n", 400),
        (b"DELETE /metrics HTTP/1.1\r\n\r\n", 405),
        (b"GET /nothing-here HTTP/1.1\r\n\r\n", 404),
        (b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 400),
    ] {
        let status = status_of(&netclient::exchange(g.port, bytes, IO_TIMEOUT)?)?;
        ensure!(
            status == want,
            "{:?} answered {status}, want {want}",
            String::from_utf8_lossy(bytes)
        );
        still_alive(g, &format!("a request answered {want}"))?;
    }

    // Slowloris: a head dripped a line at a time never completes; the deadline answers 408.
    let mut slow = netclient::connect(g.port, IO_TIMEOUT)?;
    slow.write_all(b"GET /metrics HTTP/1.1\r\n")?;
    let started = Instant::now();
    let mut dripped = 0;
    while started.elapsed() < Duration::from_secs(8) {
        if slow.write_all(b"X-Slow: 1\r\n").is_err() {
            break;
        }
        dripped += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    let reply = netclient::read_to_close(&mut slow, IO_TIMEOUT)?;
    ensure!(
        status_of(&reply)? == 408,
        "slow client after {dripped} lines got {:?}",
        String::from_utf8_lossy(&reply)
    );
    still_alive(g, "a slow client")
}

fn hostile_connections(g: &mut NetGuest) -> Result<()> {
    // Half-open: connections that never send a byte hold every slot until the deadline.
    let idle: Vec<_> = (0..8)
        .map(|_| netclient::connect(g.port, IO_TIMEOUT))
        .collect::<Result<_>>()?;
    std::thread::sleep(Duration::from_millis(500));
    // A flood beyond the slots: each is refused (reset) or served later, never hangs forever.
    let flood: Vec<_> = (0..24)
        .filter_map(|_| netclient::connect(g.port, IO_TIMEOUT).ok())
        .collect();
    command_ok(&mut g.console, "uptime").context("the shell during the flood")?;
    drop(flood);
    // The idle ones are answered 408 by the request deadline and closed.
    for mut c in idle {
        let reply = netclient::read_to_close(&mut c, IO_TIMEOUT)?;
        ensure!(
            reply.is_empty() || status_of(&reply)? == 408,
            "idle connection got {:?}",
            String::from_utf8_lossy(&reply)
        );
    }
    // Let the server's close and request deadlines free the slots the flood took.
    std::thread::sleep(Duration::from_secs(6));
    still_alive(g, "a connection flood")?;
    let status = command_ok(&mut g.console, "netctl status")?;
    ensure!(
        status
            .iter()
            .any(|l| l.starts_with("http: ") && !l.contains(" 0 timed out")),
        "no timeouts counted: {status:?}"
    );
    Ok(())
}

fn hostile_websocket_frames(g: &mut NetGuest) -> Result<()> {
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "an unmasked frame",
            netclient::encode_client_frame(0x81, b"hi", false),
            1002,
        ),
        (
            "a reserved opcode",
            netclient::encode_client_frame(0x83, b"x", true),
            1002,
        ),
        (
            "a fragmented ping",
            netclient::encode_client_frame(0x09, b"x", true),
            1002,
        ),
        (
            "an oversized frame",
            {
                let mut f = vec![0x82u8, 0xff];
                f.extend_from_slice(&(1u64 << 40).to_be_bytes());
                f
            },
            1009,
        ),
    ];
    for (what, bytes, code) in cases {
        let mut ws = WsClient::connect(g.port, IO_TIMEOUT)?;
        ws.send_raw(&bytes)?;
        let close = loop {
            match ws.next(IO_TIMEOUT)? {
                Some(f) if f.opcode == 8 => break f,
                Some(_) => continue,
                None => bail!("{what}: closed without a close frame"),
            }
        };
        let got = close
            .payload
            .get(..2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]));
        ensure!(got == Some(code), "{what}: close code {got:?}, want {code}");
        ws.drop_connection();
        still_alive(g, what)?;
    }
    // A client that vanishes without a close: the server notices and frees the slot.
    let ws = WsClient::connect(g.port, IO_TIMEOUT)?;
    ws.drop_connection();
    still_alive(g, "a vanished WebSocket client")
}

fn autoctl_ai_metrics_and_export(g: &mut NetGuest) -> Result<()> {
    let table = command_ok(&mut g.console, "autoctl ai-metrics")?;
    ensure!(
        table.iter().any(|l| l.starts_with("[oom] crash predictor")),
        "no OOM component: {table:?}"
    );
    for row in [
        "predictor (learned)",
        "earlyoom (baseline)",
        "psi (baseline)",
        "run: first OOM kill ",
    ] {
        ensure!(
            table.iter().any(|l| l.trim_start().starts_with(row)),
            "no {row:?} row in {table:?}"
        );
    }
    ensure!(
        table
            .iter()
            .any(|l| l.contains("predictor (learned)  risk ")),
        "no live predictor state in {table:?}"
    );
    for key in ["[sched] ", "[llm] "] {
        ensure!(
            table.iter().any(|l| l.starts_with(key)),
            "no {key} line: {table:?}"
        );
    }
    let out = command_ok(&mut g.console, "autoctl export-metrics")?;
    let line = out.first().context("export printed nothing")?;
    ensure!(
        line.starts_with("exported ") && line.ends_with(" to /metrics/latest.json"),
        "{out:?}"
    );
    let bytes: u64 = line
        .split(" (")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no byte count in {line:?}"))?;
    let listing = command_ok(&mut g.console, "ls /metrics/")?;
    ensure!(
        listing
            .iter()
            .any(|l| l.ends_with(" latest.json") && l.contains(&format!(" {bytes} "))),
        "ls /metrics/ shows {listing:?}, want latest.json of {bytes} bytes"
    );
    let out = command_ok(&mut g.console, "autoctl export-metrics snapshots/one.json")?;
    ensure!(
        out.first()
            .is_some_and(|l| l.ends_with(" to /snapshots/one.json")),
        "{out:?}"
    );
    crate::e2e::command_error(
        &mut g.console,
        "autoctl export-metrics /metrics/",
        "directory",
    )?;
    crate::e2e::command_error(&mut g.console, "autoctl export-metrics a b", "argument")
}

/// Headless Chromium with a DevTools endpoint; killed (by its own pid) when dropped.
struct Browser {
    child: std::process::Child,
    profile: PathBuf,
    devtools_port: u16,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    fn start() -> Result<Browser> {
        let chromium = setup::ensure_chromium()?;
        let profile = std::env::temp_dir().join(format!("nous-chromium-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile)?;
        let child = Command::new(chromium)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1400,1500",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromium")?;
        let mut browser = Browser {
            child,
            profile,
            devtools_port: 0,
        };
        let active = browser.profile.join("DevToolsActivePort");
        let deadline = Instant::now() + Duration::from_secs(30);
        browser.devtools_port = loop {
            if let Some(port) = std::fs::read_to_string(&active)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break port;
            }
            ensure!(
                Instant::now() < deadline,
                "chromium wrote no DevToolsActivePort"
            );
            ensure!(
                browser.child.try_wait()?.is_none(),
                "chromium exited at start"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        Ok(browser)
    }

    /// The DevTools WebSocket of the first page.
    fn page(&self) -> Result<Devtools> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let list = netclient::get(self.devtools_port, "/json/list", IO_TIMEOUT)?;
            let targets: serde_json::Value = serde_json::from_slice(&list.body)?;
            let page = targets
                .as_array()
                .and_then(|t| t.iter().find(|t| t["type"] == "page"))
                .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                .and_then(|url| {
                    url.split_once("/devtools/")
                        .map(|(_, p)| format!("/devtools/{p}"))
                });
            if let Some(path) = page {
                return Ok(Devtools {
                    ws: WsClient::open(self.devtools_port, &path, IO_TIMEOUT)?,
                    next_id: 1,
                    events: Vec::new(),
                });
            }
            ensure!(Instant::now() < deadline, "chromium lists no page target");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// A DevTools protocol session on one page: commands, and the events seen meanwhile.
struct Devtools {
    ws: WsClient,
    next_id: u64,
    events: Vec<serde_json::Value>,
}

impl Devtools {
    fn call(&mut self, method: &str, params: serde_json::Value) -> Result<serde_json::Value> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = serde_json::json!({ "id": id, "method": method, "params": params });
        self.ws.send(0x81, msg.to_string().as_bytes(), true)?;
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let raw = self
                .ws
                .next_message(left)?
                .with_context(|| format!("no reply to {method}"))?;
            let reply: serde_json::Value = serde_json::from_slice(&raw)?;
            if reply["id"] == id {
                if let Some(err) = reply.get("error") {
                    bail!("{method}: {err}");
                }
                return Ok(reply["result"].clone());
            }
            self.events.push(reply);
        }
    }

    /// Collects events for `time`.
    fn listen(&mut self, time: Duration) -> Result<()> {
        let deadline = Instant::now() + time;
        while let Some(raw) = self
            .ws
            .next_message(deadline.saturating_duration_since(Instant::now()))?
        {
            self.events.push(serde_json::from_slice(&raw)?);
        }
        Ok(())
    }

    /// The page's own counters (`window.nousDashboard.state()`).
    fn dashboard_state(&mut self) -> Result<serde_json::Value> {
        let result = self.call(
            "Runtime.evaluate",
            serde_json::json!({
                "expression": "JSON.stringify(window.nousDashboard ? window.nousDashboard.state() : null)",
                "returnByValue": true
            }),
        )?;
        let text = result["result"]["value"]
            .as_str()
            .context("no state string")?;
        Ok(serde_json::from_str(text)?)
    }
}

fn dashboard_updates_live_in_chromium(g: &mut NetGuest) -> Result<()> {
    let browser = Browser::start()?;
    let mut page = browser.page()?;
    page.call("Network.enable", serde_json::json!({}))?;
    page.call("Page.enable", serde_json::json!({}))?;
    let origin = format!("127.0.0.1:{}", g.port);
    page.call(
        "Page.navigate",
        serde_json::json!({ "url": format!("http://{origin}/") }),
    )?;
    page.listen(Duration::from_secs(3))?;
    let first = page.dashboard_state()?;
    page.listen(Duration::from_secs(2))?;
    let second = page.dashboard_state()?;
    let frames = |s: &serde_json::Value| s["frames"].as_u64().unwrap_or(0);
    let updates = |s: &serde_json::Value| s["chartUpdates"].as_u64().unwrap_or(0);
    ensure!(
        second["connected"] == true && frames(&first) > 0,
        "the page is not live: {first} then {second}"
    );
    ensure!(
        frames(&second) >= frames(&first) + 10 && updates(&second) > updates(&first),
        "the page did not update from the WebSocket in 2 s: {first} then {second}"
    );
    // The scheduler and the language model are in this kernel: their panels are present and
    // follow the live series (the learned policy switched on, one inference made).
    ensure!(
        second["components"]["sched"] == true && second["components"]["llm"] == true,
        "the scheduler and language-model panels are not present: {second}"
    );
    command_ok(&mut g.console, "schedctl transformer on")?;
    command_ok(&mut g.console, "llmctl infer memory is tight")?;
    // Under a memory-stress workload (the predictor and its baselines at work), the page
    // keeps updating and the shell keeps answering.
    command_ok(&mut g.console, "memctl stress leak 7")?;
    page.listen(Duration::from_secs(8))?;
    let third = page.dashboard_state()?;
    ensure!(
        frames(&third) >= frames(&second) + 40,
        "the page fell behind under stress: {second} then {third}"
    );
    ensure!(
        third["shown"]["schedLearned"] == 1 && third["shown"]["llmInferences"].as_u64() >= Some(1),
        "the panels do not show the learned policy and the inference: {third}"
    );
    command_ok(&mut g.console, "uptime").context("the shell under stress with the page open")?;
    // Every request the page made went to the kernel (no CDN, no other host).
    let mut urls: Vec<String> = Vec::new();
    for e in &page.events {
        match e["method"].as_str() {
            Some("Network.requestWillBeSent") => urls.push(
                e["params"]["request"]["url"]
                    .as_str()
                    .unwrap_or("?")
                    .to_string(),
            ),
            Some("Network.webSocketCreated") => {
                urls.push(e["params"]["url"].as_str().unwrap_or("?").to_string())
            }
            _ => {}
        }
    }
    ensure!(
        urls.iter().any(|u| u.ends_with("/uPlot.iife.min.js"))
            && urls.iter().any(|u| u.starts_with("ws://")),
        "the page's requests were not seen: {urls:?}"
    );
    let foreign: Vec<&String> = urls
        .iter()
        .filter(|u| {
            !(u.starts_with(&format!("http://{origin}/"))
                || u.starts_with(&format!("ws://{origin}/"))
                || u.starts_with("data:"))
        })
        .collect();
    ensure!(
        foreign.is_empty(),
        "requests to other addresses: {foreign:?}"
    );
    let shot = page.call(
        "Page.captureScreenshot",
        serde_json::json!({ "format": "png" }),
    )?;
    let png = base64::decode(shot["data"].as_str().context("no screenshot data")?)?;
    ensure!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let path = artefact_dir()?.join("dashboard.png");
    std::fs::write(&path, &png)?;
    println!("xtask: dashboard screenshot saved to {}", path.display());
    drop(page);
    drop(browser);
    command_ok(&mut g.console, "memctl stress stop")?;
    still_alive(g, "a browser session")
}

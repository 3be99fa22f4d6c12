//! The dashboard server: smoltcp's interface and TCP sockets, and a state machine per
//! connection serving HTTP/1.1 `GET`s and WebSocket pushes.
//!
//! Bounds, so that nothing a client sends can exhaust the kernel: a fixed number of TCP
//! sockets ([`ServerConfig::max_connections`]), all listening on the one port (a SYN beyond
//! them is answered with a reset); per connection a fixed socket buffer pair, a request head of
//! at most [`http::MAX_HEAD_BYTES`] and WebSocket input of at most one frame; a deadline for
//! the request head ([`REQUEST_TIMEOUT_MS`], against slow clients), for a response, for a
//! close, and for a WebSocket client that takes no push ([`WS_STALL_TIMEOUT_MS`]); TCP keep-alive and a retransmission timeout against half-open peers. Every response
//! closes its connection (no keep-alive to track). Pushes to a WebSocket client that cannot
//! take a whole frame are skipped, never queued.
//!
//! [`Server::poll`] is the whole engine: the caller (a kernel thread, or a host test over
//! smoltcp's loopback device) calls it with the time and the [`Content`] to serve, and sleeps
//! for at most the delay it returns.

use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use embedded_websocket::{WebSocketCloseStatusCode, WebSocketSendMessageType};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::Device;
use smoltcp::socket::tcp;
use smoltcp::time::{Duration, Instant};
use smoltcp::wire::{
    EthernetAddress, HardwareAddress, IpAddress, IpCidr, IpListenEndpoint, Ipv4Address,
};

use crate::http::{self, Parsed, Status};
use crate::ws::{self, Opcode, ServerSocket};

/// How long a client has to send its whole request head.
pub const REQUEST_TIMEOUT_MS: u64 = 5_000;
/// How long a response may take to drain to the client.
pub const RESPONSE_TIMEOUT_MS: u64 = 30_000;
/// How long a closing connection may take to deliver its last bytes and the close (a slow
/// client still reading a large file needs seconds).
pub const CLOSE_TIMEOUT_MS: u64 = 10_000;
/// How long a WebSocket client may take no push at all (its window stays full) before the
/// server drops it: a client that stops reading must not hold a connection slot forever.
pub const WS_STALL_TIMEOUT_MS: u64 = 10_000;
/// Interval of WebSocket pushes (10 Hz).
pub const PUSH_INTERVAL_MS: u64 = 100;
/// Receive buffer per socket: a request head or WebSocket control frames.
const RX_BUFFER: usize = 4 * 1024;
/// Transmit buffer per socket: the largest push frame that can be queued at once.
const TX_BUFFER: usize = 64 * 1024;

/// A static file the server hands out.
pub struct Asset {
    pub path: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// Where and how the server listens.
pub struct ServerConfig {
    pub mac: [u8; 6],
    pub address: [u8; 4],
    pub prefix_len: u8,
    pub gateway: Option<[u8; 4]>,
    pub port: u16,
    pub max_connections: usize,
    pub assets: &'static [Asset],
}

/// What the server serves besides its static assets: the metrics, read at request time.
pub trait Content {
    /// The Prometheus text exposition of every metric.
    fn prometheus(&mut self, out: &mut String);
    /// The JSON document of every metric: one object, `{...}`.
    fn json(&mut self, out: &mut String);
}

/// Counters of the server (the link's own are in [`crate::nic::LinkStats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerStats {
    pub accepted: u64,
    pub requests: u64,
    pub responses_2xx: u64,
    pub responses_4xx: u64,
    pub responses_5xx: u64,
    pub timeouts: u64,
    pub aborted: u64,
    pub ws_opened: u64,
    pub ws_frames_sent: u64,
    pub ws_frames_skipped: u64,
    pub ws_protocol_errors: u64,
    pub active_connections: u64,
    pub ws_clients: u64,
    /// Bytes of the last push frame.
    pub last_frame_bytes: u64,
}

enum Phase {
    Listening,
    Request(Vec<u8>),
    Sending { out: Vec<u8>, sent: usize },
    WebSocket(Box<WsConn>),
    Closing,
}

struct WsConn {
    socket: ServerSocket,
    input: Vec<u8>,
    /// When the client last took a whole push frame (or connected).
    last_push_ms: u64,
}

struct Conn {
    handle: SocketHandle,
    phase: Phase,
    since_ms: u64,
}

/// The HTTP + WebSocket server over one smoltcp interface.
pub struct Server<D: Device> {
    pub(crate) device: D,
    pub(crate) iface: Interface,
    pub(crate) sockets: SocketSet<'static>,
    conns: Vec<Conn>,
    endpoint: IpListenEndpoint,
    assets: &'static [Asset],
    stats: ServerStats,
    next_push_ms: u64,
    seq: u64,
}

/// Not enough memory for the server's socket buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoMemory;

impl core::fmt::Display for NoMemory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("not enough memory for the server's socket buffers")
    }
}

/// `len` zero bytes, or `NoMemory`.
fn zeroed(len: usize) -> Result<Vec<u8>, NoMemory> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| NoMemory)?;
    v.resize(len, 0);
    Ok(v)
}

fn ipv4(a: [u8; 4]) -> Ipv4Address {
    Ipv4Address::new(a[0], a[1], a[2], a[3])
}

impl<D: Device> Server<D> {
    /// Brings the interface up on `device` with the configured address and opens the
    /// listening sockets. Fails (changing nothing) when memory for the socket buffers is short.
    pub fn new(mut device: D, config: &ServerConfig, now_ms: u64) -> Result<Self, NoMemory> {
        let now = Instant::from_millis(now_ms as i64);
        let hw = HardwareAddress::Ethernet(EthernetAddress(config.mac));
        let mut iface = Interface::new(Config::new(hw), &mut device, now);
        let address = ipv4(config.address);
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(address), config.prefix_len));
        });
        if let Some(gw) = config.gateway {
            let _ = iface.routes_mut().add_default_ipv4_route(ipv4(gw));
        }
        let endpoint = IpListenEndpoint {
            addr: Some(IpAddress::Ipv4(address)),
            port: config.port,
        };
        let mut sockets = SocketSet::new(Vec::new());
        let mut conns = Vec::new();
        conns
            .try_reserve_exact(config.max_connections)
            .map_err(|_| NoMemory)?;
        for _ in 0..config.max_connections {
            let rx = tcp::SocketBuffer::new(zeroed(RX_BUFFER)?);
            let tx = tcp::SocketBuffer::new(zeroed(TX_BUFFER)?);
            let handle = sockets.add(tcp::Socket::new(rx, tx));
            conns.push(Conn {
                handle,
                phase: Phase::Listening,
                since_ms: now_ms,
            });
        }
        let mut server = Self {
            device,
            iface,
            sockets,
            conns,
            endpoint,
            assets: config.assets,
            stats: ServerStats::default(),
            next_push_ms: now_ms,
            seq: 0,
        };
        for i in 0..server.conns.len() {
            server.relisten(i);
        }
        Ok(server)
    }

    pub fn stats(&self) -> ServerStats {
        self.stats
    }

    pub fn device(&self) -> &D {
        &self.device
    }

    /// Puts connection `i`'s socket back to listening, dropping whatever it held.
    fn relisten(&mut self, i: usize) {
        let Some(conn) = self.conns.get_mut(i) else {
            return;
        };
        let socket = self.sockets.get_mut::<tcp::Socket>(conn.handle);
        socket.abort();
        // Every socket listens on the same endpoint; smoltcp hands a SYN to the first idle
        // one. `listen` fails only on a port of 0 or an open socket, neither possible here.
        let _ = socket.listen(self.endpoint);
        socket.set_nagle_enabled(false);
        socket.set_ack_delay(None);
        socket.set_keep_alive(Some(Duration::from_secs(5)));
        socket.set_timeout(Some(Duration::from_secs(15)));
        conn.phase = Phase::Listening;
    }

    /// Runs the stack and every connection once. Returns how long the caller may sleep
    /// before the next call (at most 100 ms; less while pushes or timers are due).
    pub fn poll(&mut self, now_ms: u64, content: &mut dyn Content) -> u64 {
        let now = Instant::from_millis(now_ms as i64);
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        for i in 0..self.conns.len() {
            self.service(i, now_ms, content);
        }
        self.push(now_ms, content);
        self.iface.poll(now, &mut self.device, &mut self.sockets);
        let (mut active, mut ws_clients) = (0, 0);
        for c in &self.conns {
            match c.phase {
                Phase::Listening => {}
                Phase::WebSocket(_) => {
                    active += 1;
                    ws_clients += 1;
                }
                _ => active += 1,
            }
        }
        self.stats.active_connections = active;
        self.stats.ws_clients = ws_clients;
        let stack = self
            .iface
            .poll_delay(now, &self.sockets)
            .map_or(100, |d| d.total_millis());
        let push = if ws_clients > 0 {
            self.next_push_ms.saturating_sub(now_ms)
        } else {
            100
        };
        stack.min(push).min(100)
    }

    fn count(&mut self, status: Status) {
        match status.code() {
            200..=299 => self.stats.responses_2xx += 1,
            400..=499 => self.stats.responses_4xx += 1,
            _ => self.stats.responses_5xx += 1,
        }
    }

    /// Starts sending `status` with a short error body.
    fn fail(&mut self, i: usize, now_ms: u64, status: Status, why: &str) {
        self.count(status);
        match http::error_response(status, why) {
            Some(out) => self.start_sending(i, now_ms, out),
            None => self.relisten(i),
        }
    }

    fn start_sending(&mut self, i: usize, now_ms: u64, out: Vec<u8>) {
        if let Some(conn) = self.conns.get_mut(i) {
            conn.phase = Phase::Sending { out, sent: 0 };
            conn.since_ms = now_ms;
        }
    }

    fn close(&mut self, i: usize, now_ms: u64) {
        if let Some(conn) = self.conns.get_mut(i) {
            self.sockets.get_mut::<tcp::Socket>(conn.handle).close();
            conn.phase = Phase::Closing;
            conn.since_ms = now_ms;
        }
    }

    fn service(&mut self, i: usize, now_ms: u64, content: &mut dyn Content) {
        let Some(conn) = self.conns.get_mut(i) else {
            return;
        };
        let handle = conn.handle;
        let since = conn.since_ms;
        let socket = self.sockets.get_mut::<tcp::Socket>(handle);
        match &mut conn.phase {
            Phase::Listening => {
                if socket.is_active() {
                    self.stats.accepted += 1;
                    conn.phase = Phase::Request(Vec::new());
                    conn.since_ms = now_ms;
                } else if !socket.is_open() {
                    self.relisten(i);
                }
            }
            Phase::Request(buf) => {
                let mut chunk = [0u8; 1024];
                while socket.can_recv() && buf.len() < http::MAX_HEAD_BYTES {
                    let room = (http::MAX_HEAD_BYTES - buf.len()).min(chunk.len());
                    match socket.recv_slice(&mut chunk[..room]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let parsed = if buf.is_empty() {
                    Parsed::Partial
                } else {
                    http::parse_request(buf)
                };
                let peer_gone = !socket.may_recv();
                match parsed {
                    Parsed::Complete(req) => {
                        self.stats.requests += 1;
                        self.route(i, now_ms, req, content);
                    }
                    Parsed::Refused(status, why) => {
                        self.stats.requests += 1;
                        self.fail(i, now_ms, status, why);
                    }
                    Parsed::Partial if peer_gone || !socket.is_active() => {
                        self.stats.aborted += 1;
                        self.relisten(i);
                    }
                    Parsed::Partial if now_ms.saturating_sub(since) > REQUEST_TIMEOUT_MS => {
                        self.stats.timeouts += 1;
                        self.fail(
                            i,
                            now_ms,
                            Status::RequestTimeout,
                            "request head not received in time",
                        );
                    }
                    Parsed::Partial => {}
                }
            }
            Phase::Sending { out, sent } => {
                if !socket.may_send() {
                    self.stats.aborted += 1;
                    self.relisten(i);
                    return;
                }
                if let Ok(n) = socket.send_slice(out.get(*sent..).unwrap_or_default()) {
                    *sent += n;
                }
                // Drain (and ignore) whatever else the client sends, so its window stays open.
                while socket.can_recv() {
                    if !matches!(socket.recv(|b| (b.len(), ())), Ok(())) {
                        break;
                    }
                }
                if *sent >= out.len() {
                    self.close(i, now_ms);
                } else if now_ms.saturating_sub(since) > RESPONSE_TIMEOUT_MS {
                    self.stats.timeouts += 1;
                    self.relisten(i);
                }
            }
            Phase::WebSocket(wsc) => {
                if !socket.may_send() || !socket.is_active() {
                    self.relisten(i);
                    return;
                }
                if now_ms.saturating_sub(wsc.last_push_ms) > WS_STALL_TIMEOUT_MS {
                    self.stats.timeouts += 1;
                    self.relisten(i);
                    return;
                }
                let cap = ws::MAX_CLIENT_PAYLOAD + 14;
                let mut chunk = [0u8; 1024];
                while socket.can_recv() && wsc.input.len() < cap {
                    let room = (cap - wsc.input.len()).min(chunk.len());
                    match socket.recv_slice(&mut chunk[..room]) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => wsc.input.extend_from_slice(&chunk[..n]),
                    }
                }
                loop {
                    match ws::decode(&wsc.input) {
                        Ok(None) => break,
                        Ok(Some((frame, used))) => {
                            wsc.input.drain(..used);
                            match frame.opcode {
                                Opcode::Ping => {
                                    if let Some(pong) = wsc
                                        .socket
                                        .frame(WebSocketSendMessageType::Pong, &frame.payload)
                                        && socket.send_capacity() - socket.send_queue()
                                            >= pong.len()
                                    {
                                        let _ = socket.send_slice(&pong);
                                    }
                                }
                                Opcode::Close => {
                                    if let Some(reply) = wsc
                                        .socket
                                        .close_frame(WebSocketCloseStatusCode::NormalClosure)
                                    {
                                        let _ = socket.send_slice(&reply);
                                    }
                                    self.close(i, now_ms);
                                    return;
                                }
                                // Client data is not part of the protocol: read and dropped.
                                _ => {}
                            }
                        }
                        Err(e) => {
                            self.stats.ws_protocol_errors += 1;
                            if let Some(reply) = wsc.socket.close_frame(e.close_code()) {
                                let _ = socket.send_slice(&reply);
                            }
                            self.close(i, now_ms);
                            return;
                        }
                    }
                }
            }
            Phase::Closing => {
                let state = socket.state();
                if matches!(state, tcp::State::Closed | tcp::State::TimeWait)
                    || now_ms.saturating_sub(since) > CLOSE_TIMEOUT_MS
                {
                    self.relisten(i);
                }
            }
        }
    }

    fn route(&mut self, i: usize, now_ms: u64, req: http::Request, content: &mut dyn Content) {
        let mut body = String::new();
        let (content_type, bytes): (&str, &[u8]) = match req.path.as_str() {
            "/ws" => {
                let Some(key) = req.websocket_key else {
                    return self.fail(
                        i,
                        now_ms,
                        Status::BadRequest,
                        "/ws needs a WebSocket upgrade",
                    );
                };
                return self.upgrade(i, now_ms, &key);
            }
            "/metrics" => {
                content.prometheus(&mut body);
                ("text/plain; version=0.0.4; charset=utf-8", body.as_bytes())
            }
            "/api/metrics" => {
                content.json(&mut body);
                ("application/json", body.as_bytes())
            }
            path => match self.assets.iter().find(|a| a.path == path) {
                Some(asset) => (asset.content_type, asset.body),
                None => return self.fail(i, now_ms, Status::NotFound, "no such page"),
            },
        };
        match http::response(Status::Ok, content_type, bytes) {
            Some(out) => {
                self.count(Status::Ok);
                self.start_sending(i, now_ms, out);
            }
            None => self.fail(i, now_ms, Status::ServiceUnavailable, "out of memory"),
        }
    }

    fn upgrade(&mut self, i: usize, now_ms: u64, key: &str) {
        let Some((socket, reply)) = ServerSocket::accept(key) else {
            return self.fail(i, now_ms, Status::BadRequest, "bad WebSocket key");
        };
        let Some(conn) = self.conns.get_mut(i) else {
            return;
        };
        let tcp = self.sockets.get_mut::<tcp::Socket>(conn.handle);
        // A fresh connection's transmit buffer is empty, so the reply fits whole.
        if tcp.send_slice(&reply) != Ok(reply.len()) {
            self.stats.aborted += 1;
            return self.relisten(i);
        }
        self.stats.responses_2xx += 1;
        self.stats.ws_opened += 1;
        conn.phase = Phase::WebSocket(Box::new(WsConn {
            socket,
            input: Vec::new(),
            last_push_ms: now_ms,
        }));
        conn.since_ms = now_ms;
    }

    /// Every [`PUSH_INTERVAL_MS`]: one JSON frame of all metrics to every WebSocket client,
    /// `{"seq":N,"uptime_ms":T,"metrics":[...]}`.
    fn push(&mut self, now_ms: u64, content: &mut dyn Content) {
        if now_ms < self.next_push_ms {
            return;
        }
        // Keep the 100 ms grid; after a stall, restart it rather than burst.
        self.next_push_ms += PUSH_INTERVAL_MS;
        if self.next_push_ms <= now_ms {
            self.next_push_ms = now_ms + PUSH_INTERVAL_MS;
        }
        if !self
            .conns
            .iter()
            .any(|c| matches!(c.phase, Phase::WebSocket(_)))
        {
            return;
        }
        self.seq += 1;
        let mut json = String::new();
        content.json(&mut json);
        let mut payload = String::new();
        let _ = write!(payload, "{{\"seq\":{},\"uptime_ms\":{},", self.seq, now_ms);
        payload.push_str(json.strip_prefix('{').unwrap_or("}"));
        self.stats.last_frame_bytes = payload.len() as u64;
        for conn in self.conns.iter_mut() {
            let Phase::WebSocket(wsc) = &mut conn.phase else {
                continue;
            };
            let socket = self.sockets.get_mut::<tcp::Socket>(conn.handle);
            let Some(frame) = wsc
                .socket
                .frame(WebSocketSendMessageType::Text, payload.as_bytes())
            else {
                self.stats.ws_frames_skipped += 1;
                continue;
            };
            if socket.send_capacity() - socket.send_queue() >= frame.len() {
                let _ = socket.send_slice(&frame);
                self.stats.ws_frames_sent += 1;
                wsc.last_push_ms = now_ms;
            } else {
                self.stats.ws_frames_skipped += 1;
            }
        }
    }
}

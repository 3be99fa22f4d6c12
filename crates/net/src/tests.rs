//! The whole server over smoltcp's loopback device: clients are TCP sockets in the server's
//! own socket set, connecting to its address, so every byte goes through the real TCP/IP path.

use alloc::string::String;
use alloc::vec::Vec;

use smoltcp::iface::SocketHandle;
use smoltcp::phy::{Loopback, Medium};
use smoltcp::socket::tcp;
use smoltcp::wire::IpAddress;

use crate::http::MAX_HEAD_BYTES;
use crate::server::{Asset, Content, REQUEST_TIMEOUT_MS, Server, ServerConfig};

static ASSETS: &[Asset] = &[Asset {
    path: "/",
    content_type: "text/html",
    body: b"<html>dashboard</html>",
}];

struct Fixed {
    reads: u64,
    /// Extra bytes in each JSON document (a big registry).
    pad: usize,
}

impl Content for Fixed {
    fn prometheus(&mut self, out: &mut String) {
        self.reads += 1;
        out.push_str("# HELP nous_x A test.\n# TYPE nous_x gauge\nnous_x 1\n");
    }
    fn json(&mut self, out: &mut String) {
        self.reads += 1;
        out.push_str("{\"metrics\":[{\"name\":\"nous_x\",\"value\":1");
        out.extend(core::iter::repeat_n(' ', self.pad));
        out.push_str("}]}");
    }
}

struct Harness {
    server: Server<Loopback>,
    content: Fixed,
    now_ms: u64,
    next_port: u16,
}

const MAX_CONNECTIONS: usize = 4;

impl Harness {
    fn new() -> Self {
        let config = ServerConfig {
            mac: [2, 0, 0, 0, 0, 1],
            address: [127, 0, 0, 1],
            prefix_len: 8,
            gateway: None,
            port: 80,
            max_connections: MAX_CONNECTIONS,
            assets: ASSETS,
        };
        Self {
            server: Server::new(Loopback::new(Medium::Ethernet), &config, 0).unwrap(),
            content: Fixed { reads: 0, pad: 0 },
            now_ms: 0,
            next_port: 49152,
        }
    }

    fn connect(&mut self) -> SocketHandle {
        self.connect_with_window(256 * 1024)
    }

    fn connect_with_window(&mut self, rx_bytes: usize) -> SocketHandle {
        let rx = tcp::SocketBuffer::new(alloc::vec![0u8; rx_bytes]);
        let tx = tcp::SocketBuffer::new(alloc::vec![0u8; 64 * 1024]);
        let mut socket = tcp::Socket::new(rx, tx);
        socket
            .connect(
                self.server.iface.context(),
                (IpAddress::v4(127, 0, 0, 1), 80),
                self.next_port,
            )
            .unwrap();
        self.next_port += 1;
        let h = self.server.sockets.add(socket);
        self.run(5);
        h
    }

    fn client(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.server.sockets.get_mut::<tcp::Socket>(h)
    }

    /// Advances time by `ms`, polling every millisecond.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms {
            self.now_ms += 1;
            self.server.poll(self.now_ms, &mut self.content);
        }
    }

    fn send(&mut self, h: SocketHandle, bytes: &[u8]) {
        let n = self.client(h).send_slice(bytes).unwrap();
        assert_eq!(n, bytes.len());
        self.run(5);
    }

    fn take(&mut self, h: SocketHandle) -> Vec<u8> {
        let mut out = Vec::new();
        let socket = self.client(h);
        while socket.can_recv() {
            socket
                .recv(|b| {
                    out.extend_from_slice(b);
                    (b.len(), ())
                })
                .unwrap();
        }
        out
    }

    /// Sends `request` on a new connection and returns everything the server sent until it
    /// closed.
    fn exchange(&mut self, request: &[u8]) -> String {
        let h = self.connect();
        self.send(h, request);
        let mut reply = Vec::new();
        for _ in 0..200 {
            self.run(5);
            reply.extend(self.take(h));
            if !self.client(h).may_recv() {
                break;
            }
        }
        self.client(h).close();
        self.run(10);
        self.server.sockets.remove(h);
        String::from_utf8_lossy(&reply).into_owned()
    }
}

fn ws_upgrade() -> &'static [u8] {
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
      Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
}

fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [9u8, 8, 7, 6];
    let mut f = alloc::vec![b0, 0x80 | payload.len() as u8];
    f.extend_from_slice(&key);
    f.extend(payload.iter().zip(key.iter().cycle()).map(|(b, m)| b ^ m));
    f
}

/// Splits server frames (unmasked) out of `bytes`: (opcode, payload).
fn server_frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    while bytes.len() >= 2 {
        let (len, at) = match bytes[1] & 0x7f {
            126 => (u16::from_be_bytes([bytes[2], bytes[3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(bytes[2..10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        assert_eq!(bytes[1] & 0x80, 0, "server frames are unmasked");
        frames.push((bytes[0] & 0x0f, bytes[at..at + len].to_vec()));
        bytes = &bytes[at + len..];
    }
    frames
}

#[test]
fn serves_metrics_json_and_the_page() {
    let mut h = Harness::new();
    let r = h.exchange(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
    assert!(r.contains("Content-Type: text/plain; version=0.0.4"));
    assert!(r.ends_with("nous_x 1\n"));
    let r = h.exchange(b"GET /api/metrics HTTP/1.1\r\n\r\n");
    assert!(
        r.contains("application/json") && r.ends_with("\"value\":1}]}"),
        "{r}"
    );
    let r = h.exchange(b"GET / HTTP/1.0\r\n\r\n");
    assert!(r.ends_with("<html>dashboard</html>"), "{r}");
    let r = h.exchange(b"GET /nope HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
    let s = h.server.stats();
    assert_eq!((s.requests, s.responses_2xx, s.responses_4xx), (4, 3, 1));
    // Every connection went back to listening.
    h.run(50);
    assert_eq!(h.server.stats().active_connections, 0);
}

#[test]
fn hostile_requests_get_errors_and_the_server_keeps_serving() {
    let mut h = Harness::new();
    let mut long = b"GET /".to_vec();
    long.resize(MAX_HEAD_BYTES + 100, b'a');
    let r = h.exchange(&long);
    assert!(r.starts_with("HTTP/1.1 431"), "{r}");
    let r = h.exchange(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = h.exchange(b"POST /metrics HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
    assert!(r.starts_with("HTTP/1.1 405"), "{r}");
    let r = h.exchange(b"GET /ws HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 400"), "{r}");
    let r = h.exchange(b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[test]
fn slow_clients_time_out_with_408() {
    let mut h = Harness::new();
    let c = h.connect();
    h.send(c, b"GET /metrics HTTP/1.1\r\n");
    let mut reply = Vec::new();
    for _ in 0..(REQUEST_TIMEOUT_MS / 500 + 2) {
        h.send(c, b"X: y\r\n");
        h.run(495);
        reply.extend(h.take(c));
    }
    let r = String::from_utf8_lossy(&reply);
    assert!(r.starts_with("HTTP/1.1 408"), "{r}");
    assert_eq!(h.server.stats().timeouts, 1);
}

#[test]
fn connections_beyond_the_limit_are_refused_and_the_server_recovers() {
    let mut h = Harness::new();
    let clients: Vec<_> = (0..MAX_CONNECTIONS + 2).map(|_| h.connect()).collect();
    h.run(20);
    let established = clients
        .iter()
        .filter(|&&c| h.client(c).state() == tcp::State::Established)
        .count();
    assert_eq!(established, MAX_CONNECTIONS);
    for c in clients {
        h.client(c).abort();
        h.run(2);
        h.server.sockets.remove(c);
    }
    // Half-open server sides are dropped by the request deadline at the latest.
    h.run(REQUEST_TIMEOUT_MS + CLOSE_GRACE);
    let r = h.exchange(b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

const CLOSE_GRACE: u64 = crate::server::CLOSE_TIMEOUT_MS + 100;

#[test]
fn websocket_pushes_ten_frames_a_second_answers_pings_and_closes() {
    let mut h = Harness::new();
    let c = h.connect();
    h.send(c, ws_upgrade());
    let reply = h.take(c);
    let text = String::from_utf8_lossy(&reply);
    assert!(text.starts_with("HTTP/1.1 101"), "{text}");
    assert!(text.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    let mut frames = Vec::new();
    for _ in 0..100 {
        h.run(10);
        frames.extend(server_frames(&h.take(c)));
    }
    // One second: 10 pushes (give or take the edge of the window).
    assert!((9..=11).contains(&frames.len()), "{} frames", frames.len());
    let (op, payload) = &frames[0];
    assert_eq!(*op, 1);
    let payload = String::from_utf8(payload.clone()).unwrap();
    assert!(payload.starts_with("{\"seq\":"), "{payload}");
    assert!(
        payload.ends_with("\"metrics\":[{\"name\":\"nous_x\",\"value\":1}]}"),
        "{payload}"
    );

    h.send(c, &masked(0x89, b"are you there"));
    let got = server_frames(&h.take(c));
    assert!(got.contains(&(0xa, b"are you there".to_vec())), "{got:?}");

    h.send(c, &masked(0x88, &[0x03, 0xe8]));
    h.run(20);
    let got = server_frames(&h.take(c));
    assert!(got.iter().any(|(op, _)| *op == 8), "{got:?}");
    assert!(!h.client(c).may_recv());
}

#[test]
fn bad_websocket_frames_close_with_a_protocol_error() {
    for bad in [
        {
            // Unmasked text frame.
            alloc::vec![0x81u8, 2, b'h', b'i']
        },
        masked(0x83, b"x"),
        masked(0xc1, b"x"),
        {
            let mut f = alloc::vec![0x82u8, 0xff];
            f.extend_from_slice(&u64::MAX.to_be_bytes());
            f
        },
    ] {
        let mut h = Harness::new();
        let c = h.connect();
        h.send(c, ws_upgrade());
        h.take(c);
        h.send(c, &bad);
        h.run(20);
        let got = server_frames(&h.take(c));
        let close = got.iter().find(|(op, _)| *op == 8).expect("a close frame");
        let code = u16::from_be_bytes([close.1[0], close.1[1]]);
        assert!(code == 1002 || code == 1009, "code {code}");
        assert_eq!(h.server.stats().ws_protocol_errors, 1);
        let r = h.exchange(b"GET /metrics HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    }
}

#[test]
fn a_websocket_client_that_stops_reading_is_dropped() {
    use crate::server::WS_STALL_TIMEOUT_MS;
    let mut h = Harness::new();
    h.content.pad = 8000;
    // A 4 KiB window: it holds the handshake reply, then fills up and is never read again.
    let c = h.connect_with_window(4096);
    h.send(c, ws_upgrade());
    h.run(2000);
    let s = h.server.stats();
    assert_eq!(s.ws_clients, 1);
    assert!(s.ws_frames_skipped >= 5, "{s:?}");
    h.run(WS_STALL_TIMEOUT_MS + 500);
    let s = h.server.stats();
    assert_eq!((s.ws_clients, s.timeouts), (0, 1), "{s:?}");
    let r = h.exchange(b"GET /metrics HTTP/1.1\r\n\r\n");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

//! A small HTTP/1.1 and WebSocket client over `std::net`, for the dashboard tests and the
//! network benchmark: what a browser or `curl` would send, plus the hostile bytes they never
//! would. Everything has a deadline; nothing here retries.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use sha1::{Digest, Sha1};

/// The magic string of the WebSocket accept key (RFC 6455 §1.3).
const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// An HTTP response, whole.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Connects to the guest's forwarded port.
pub fn connect(port: u16, timeout: Duration) -> Result<TcpStream> {
    let stream = TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), timeout)
        .with_context(|| format!("connecting to 127.0.0.1:{port}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Sends `bytes` and reads until the server closes (or `timeout` passes: an error).
pub fn exchange(port: u16, bytes: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let mut stream = connect(port, timeout)?;
    stream.write_all(bytes)?;
    read_to_close(&mut stream, timeout)
}

/// Reads until the peer closes; a reset after some bytes counts as a close.
pub fn read_to_close(stream: &mut TcpStream, timeout: Duration) -> Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        ensure!(
            !left.is_zero(),
            "no close within {timeout:?} ({} bytes read)",
            out.len()
        );
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(out),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                bail!("no close within {timeout:?} ({} bytes read)", out.len())
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Splits a response into status, headers and body (checking Content-Length when given).
pub fn parse_response(raw: &[u8]) -> Result<Response> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("response has no end of head")?;
    let head = std::str::from_utf8(&raw[..end]).context("response head is not UTF-8")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|s| s.get(..3))
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let body = raw[end + 4..].to_vec();
    let response = Response {
        status,
        headers,
        body,
    };
    if let Some(len) = response.header("content-length") {
        let len: usize = len.parse().context("bad Content-Length")?;
        ensure!(
            len == response.body.len(),
            "Content-Length {len} but {} body bytes",
            response.body.len()
        );
    }
    Ok(response)
}

/// Whether `raw` holds a whole response: its head, and as many body bytes as its
/// Content-Length says (without one, the body ends at the close).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    head.lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .is_some_and(|len| raw.len() >= end + 4 + len)
}

/// `GET path` on a new connection; the response ends at its Content-Length or the close
/// (whichever comes first: not every server closes when asked to).
pub fn get(port: u16, path: &str, timeout: Duration) -> Result<Response> {
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut stream = connect(port, timeout)?;
    stream.write_all(request.as_bytes())?;
    let deadline = Instant::now() + timeout;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    while !complete(&raw) {
        let left = deadline.saturating_duration_since(Instant::now());
        ensure!(
            !left.is_zero(),
            "GET {path}: no whole response within {timeout:?}"
        );
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e).with_context(|| format!("GET {path}")),
        }
    }
    parse_response(&raw).with_context(|| format!("GET {path}"))
}

/// The `Sec-WebSocket-Accept` value for `key`.
pub fn accept_key(key: &str) -> String {
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(WS_GUID.as_bytes());
    base64::encode(sha.finalize())
}

/// A WebSocket client connection.
pub struct WsClient {
    stream: TcpStream,
    pending: Vec<u8>,
}

/// A frame from the server: opcode, payload, and when it was read.
#[derive(Debug, Clone)]
pub struct ServerFrame {
    pub opcode: u8,
    pub fin: bool,
    pub payload: Vec<u8>,
}

impl WsClient {
    /// Opens `/ws` and checks the handshake (status 101, the accept key).
    pub fn connect(port: u16, timeout: Duration) -> Result<WsClient> {
        Self::open(port, "/ws", timeout)
    }

    /// Opens the WebSocket at `path` on 127.0.0.1:`port`.
    pub fn open(port: u16, path: &str, timeout: Duration) -> Result<WsClient> {
        let mut stream = connect(port, timeout)?;
        let key = "dGhlIHNhbXBsZSBub25jZQ==";
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(request.as_bytes())?;
        let deadline = Instant::now() + timeout;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            ensure!(Instant::now() < deadline, "no WebSocket handshake reply");
            ensure!(head.len() < 4096, "handshake reply too long");
            match stream.read(&mut byte)? {
                0 => bail!(
                    "server closed during the handshake: {:?}",
                    String::from_utf8_lossy(&head)
                ),
                _ => head.push(byte[0]),
            }
        }
        let reply = parse_response(&head)?;
        ensure!(reply.status == 101, "handshake status {}", reply.status);
        let want = accept_key(key);
        ensure!(
            reply.header("sec-websocket-accept") == Some(want.as_str()),
            "bad accept key {:?} (want {want})",
            reply.header("sec-websocket-accept")
        );
        Ok(WsClient {
            stream,
            pending: Vec::new(),
        })
    }

    /// Sends one frame; `masked` must be true for a well-behaved client.
    pub fn send(&mut self, b0: u8, payload: &[u8], masked: bool) -> Result<()> {
        self.stream
            .write_all(&encode_client_frame(b0, payload, masked))?;
        Ok(())
    }

    /// Sends raw bytes on the connection.
    pub fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes)?;
        Ok(())
    }

    /// The next server frame, or `None` when the server closed the connection or `timeout`
    /// passed first.
    pub fn next(&mut self, timeout: Duration) -> Result<Option<ServerFrame>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some((opcode, payload, used)) = decode_server_frame(&self.pending)? {
                let fin = self.pending.first().is_some_and(|b| b & 0x80 != 0);
                self.pending.drain(..used);
                return Ok(Some(ServerFrame {
                    opcode,
                    fin,
                    payload,
                }));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(None);
            }
            self.stream.set_read_timeout(Some(left))?;
            let mut buf = [0u8; 64 * 1024];
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(None),
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Ok(None);
                }
                Err(e) if e.kind() == ErrorKind::ConnectionReset => return Ok(None),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The next whole data message (continuation frames joined; control frames skipped), or
    /// `None` when the connection closed or `timeout` passed.
    pub fn next_message(&mut self, timeout: Duration) -> Result<Option<Vec<u8>>> {
        let deadline = Instant::now() + timeout;
        let mut message = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Some(frame) = self.next(left)? else {
                return Ok(None);
            };
            match frame.opcode {
                0..=2 => message.extend_from_slice(&frame.payload),
                8 => return Ok(None),
                _ => continue,
            }
            if frame.fin {
                return Ok(Some(message));
            }
        }
    }

    /// Closes the TCP connection without a close frame.
    pub fn drop_connection(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A client frame: `b0` is FIN/RSV/opcode; masked with a fixed key when `masked`.
pub fn encode_client_frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let mut f = vec![b0];
    let mask_bit = if masked { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let key = [0x37u8, 0xfa, 0x21, 0x3d];
    if masked {
        f.extend_from_slice(&key);
        f.extend(payload.iter().zip(key.iter().cycle()).map(|(b, m)| b ^ m));
    } else {
        f.extend_from_slice(payload);
    }
    f
}

/// Decodes one server frame (which must be unmasked): opcode, payload, bytes used.
pub fn decode_server_frame(buf: &[u8]) -> Result<Option<(u8, Vec<u8>, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    ensure!(buf[1] & 0x80 == 0, "the server masked a frame");
    let (len, at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (u16::from_be_bytes([buf[2], buf[3]]) as usize, 4),
        127 if buf.len() >= 10 => (
            u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")) as usize,
            10,
        ),
        126 | 127 => return Ok(None),
        n => (n as usize, 2),
    };
    if buf.len() < at + len {
        return Ok(None);
    }
    Ok(Some((buf[0] & 0x0f, buf[at..at + len].to_vec(), at + len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_round_trip() {
        let f = encode_client_frame(0x81, &[5u8; 300], false);
        let (op, payload, used) = decode_server_frame(&f).unwrap().unwrap();
        assert_eq!((op, payload.len(), used), (1, 300, f.len()));
        assert!(decode_server_frame(&f[..100]).unwrap().is_none());
        assert!(decode_server_frame(&encode_client_frame(0x81, b"x", true)).is_err());
    }

    #[test]
    fn responses_parse_and_lengths_are_checked() {
        let r = parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\n\r\nhi").unwrap();
        assert_eq!(
            (r.status, r.header("x"), r.text().as_str()),
            (200, Some("y"), "hi")
        );
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nhi").is_err());
        assert!(parse_response(b"garbage").is_err());
    }
}

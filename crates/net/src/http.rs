//! HTTP/1.1 requests in, responses out: what the dashboard server needs and no more.
//!
//! [`parse_request`] reads a request head (request line and headers) with `httparse` from a
//! buffer the caller fills as bytes arrive, and says whether it is complete, still partial, or
//! refused with the status the client should get. Bodies are never read: the server serves
//! `GET` only, so a request that announces a body is refused. [`response`] builds a complete
//! response (status line, a fixed set of headers, body) that always closes the connection.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

/// The longest request head accepted (request line and all headers), in bytes.
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// The most headers a request may carry.
pub const MAX_HEADERS: usize = 32;
/// The longest WebSocket key accepted (a base64 16-byte nonce is 24 characters).
const MAX_WS_KEY: usize = 24;

/// A status the server answers with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok,
    BadRequest,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    HeadersTooLarge,
    ServiceUnavailable,
    InternalError,
}

impl Status {
    pub fn code(self) -> u16 {
        match self {
            Status::Ok => 200,
            Status::BadRequest => 400,
            Status::NotFound => 404,
            Status::MethodNotAllowed => 405,
            Status::RequestTimeout => 408,
            Status::HeadersTooLarge => 431,
            Status::ServiceUnavailable => 503,
            Status::InternalError => 500,
        }
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::HeadersTooLarge => "Request Header Fields Too Large",
            Status::ServiceUnavailable => "Service Unavailable",
            Status::InternalError => "Internal Server Error",
        }
    }
}

/// A complete request head, reduced to what the server routes on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The path without its query string.
    pub path: String,
    /// `Sec-WebSocket-Key` when the request asks to upgrade to a WebSocket
    /// (`Upgrade: websocket` and version 13).
    pub websocket_key: Option<String>,
    /// Bytes of the buffer the head took (anything after it is the client's next bytes).
    pub head_len: usize,
}

/// What a buffer holds so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// A complete `GET` request head.
    Complete(Request),
    /// Not complete yet: read more (the caller bounds the buffer at [`MAX_HEAD_BYTES`]).
    Partial,
    /// Refused: answer with this status and close.
    Refused(Status, &'static str),
}

/// Parses the request head at the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() >= MAX_HEAD_BYTES => {
            return Parsed::Refused(Status::HeadersTooLarge, "request head too large");
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => {
            return Parsed::Refused(Status::HeadersTooLarge, "too many headers");
        }
        Err(_) => return Parsed::Refused(Status::BadRequest, "malformed request"),
    };
    if head_len > MAX_HEAD_BYTES {
        return Parsed::Refused(Status::HeadersTooLarge, "request head too large");
    }
    let (Some(method), Some(target)) = (req.method, req.path) else {
        return Parsed::Refused(Status::BadRequest, "malformed request line");
    };
    if method != "GET" {
        return Parsed::Refused(Status::MethodNotAllowed, "only GET is served");
    }
    if !target.starts_with('/') {
        return Parsed::Refused(Status::BadRequest, "request target is not a path");
    }
    let mut upgrade = false;
    let mut version_13 = false;
    let mut key = None;
    for h in req.headers.iter() {
        let value = core::str::from_utf8(h.value).unwrap_or("").trim();
        if h.name.eq_ignore_ascii_case("content-length") && value != "0" {
            return Parsed::Refused(Status::BadRequest, "GET with a body");
        }
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Parsed::Refused(Status::BadRequest, "GET with a body");
        }
        if h.name.eq_ignore_ascii_case("upgrade") {
            upgrade = value.eq_ignore_ascii_case("websocket");
        } else if h.name.eq_ignore_ascii_case("sec-websocket-version") {
            version_13 = value == "13";
        } else if h.name.eq_ignore_ascii_case("sec-websocket-key") {
            key = Some(value);
        }
    }
    let websocket_key = if upgrade {
        match key {
            Some(k) if version_13 && !k.is_empty() && k.len() <= MAX_WS_KEY => {
                Some(String::from(k))
            }
            _ => return Parsed::Refused(Status::BadRequest, "bad WebSocket upgrade"),
        }
    } else {
        None
    };
    let path = target.split('?').next().unwrap_or(target);
    Parsed::Complete(Request {
        path: String::from(path),
        websocket_key,
        head_len,
    })
}

/// A complete response that closes the connection. `None` when memory for it is short.
pub fn response(status: Status, content_type: &str, body: &[u8]) -> Option<Vec<u8>> {
    let mut head = String::new();
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nConnection: close\r\n\r\n",
        status.code(),
        status.reason(),
        content_type,
        body.len()
    );
    let mut out = Vec::new();
    out.try_reserve_exact(head.len() + body.len()).ok()?;
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    Some(out)
}

/// An error response with a one-line plain-text body.
pub fn error_response(status: Status, why: &str) -> Option<Vec<u8>> {
    let mut body = String::new();
    let _ = writeln!(body, "{} {}: {}", status.code(), status.reason(), why);
    response(status, "text/plain; charset=utf-8", body.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_get_is_complete() {
        let r = parse_request(b"GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n\r\nextra");
        let Parsed::Complete(req) = r else {
            panic!("{r:?}")
        };
        assert_eq!(req.path, "/metrics");
        assert_eq!(req.websocket_key, None);
        assert_eq!(req.head_len, 38);
    }

    #[test]
    fn incomplete_heads_wait_and_oversized_ones_are_refused() {
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost"), Parsed::Partial);
        let mut long = b"GET /".to_vec();
        long.resize(MAX_HEAD_BYTES + 10, b'a');
        assert!(matches!(
            parse_request(&long),
            Parsed::Refused(Status::HeadersTooLarge, _)
        ));
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..(MAX_HEADERS + 1) {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert!(matches!(
            parse_request(&many),
            Parsed::Refused(Status::HeadersTooLarge, _)
        ));
    }

    #[test]
    fn malformed_and_non_get_requests_are_refused() {
        for (input, status) in [
            (&b"\x00\x01\x02 / HTTP/1.1\r\n\r\n"[..], Status::BadRequest),
            (b"GET / HTTP/9.9\r\n\r\n", Status::BadRequest),
            (b"POST / HTTP/1.1\r\n\r\n", Status::MethodNotAllowed),
            (b"GET http://x/ HTTP/1.1\r\n\r\n", Status::BadRequest),
            (
                b"GET / HTTP/1.1\r\nContent-Length: 5\r\n\r\n",
                Status::BadRequest,
            ),
            (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n", Status::BadRequest),
        ] {
            assert!(
                matches!(parse_request(input), Parsed::Refused(s, _) if s == status),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn websocket_upgrades_need_a_key_and_version_13() {
        let ok = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
        let Parsed::Complete(req) = parse_request(ok) else {
            panic!()
        };
        assert_eq!(
            req.websocket_key.as_deref(),
            Some("dGhlIHNhbXBsZSBub25jZQ==")
        );
        let no_key = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert!(matches!(
            parse_request(no_key),
            Parsed::Refused(Status::BadRequest, _)
        ));
        let long_key = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\
                         Sec-WebSocket-Key: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        assert!(matches!(
            parse_request(long_key),
            Parsed::Refused(Status::BadRequest, _)
        ));
    }

    #[test]
    fn responses_carry_length_and_close() {
        let r = response(Status::Ok, "text/plain", b"hi").unwrap();
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.ends_with("\r\n\r\nhi"));
    }
}

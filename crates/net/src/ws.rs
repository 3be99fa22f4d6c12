//! WebSocket (RFC 6455) for the dashboard's push channel: the opening handshake and server
//! frames come from `embedded-websocket`; client frames are decoded here.
//!
//! Why our own decoder: `embedded-websocket`'s reader accepts unmasked client frames and
//! control frames of any length, and reads a frame of any announced size in pieces. A server
//! inside the kernel must refuse all three (RFC 6455 §5.1, §5.5), and bound what it buffers
//! per connection, so [`decode`] checks the header first and says exactly what is wrong:
//! unmasked, reserved bits set, unknown opcode, fragmented or oversized control frame, or a
//! payload longer than [`MAX_CLIENT_PAYLOAD`].

use alloc::vec::Vec;

use embedded_websocket::{
    WebSocketCloseStatusCode, WebSocketKey, WebSocketSendMessageType, WebSocketServer,
};

/// The largest client payload accepted (the dashboard's clients send only pings and closes).
pub const MAX_CLIENT_PAYLOAD: usize = 4096;
/// The longest frame header: 2 bytes, 8 of extended length, 4 of mask key.
const MAX_HEADER: usize = 14;

/// A client frame's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    Continuation,
    Text,
    Binary,
    Close,
    Ping,
    Pong,
}

/// A decoded client frame (payload unmasked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub opcode: Opcode,
    pub fin: bool,
    pub payload: Vec<u8>,
}

/// Why a client frame is refused; the connection is closed with [`Self::close_code`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    Unmasked,
    ReservedBits,
    BadOpcode(u8),
    BadControlFrame,
    TooLarge,
    NoMemory,
}

impl FrameError {
    /// The close code the server sends: 1009 for a frame too big, 1011 for memory, else 1002.
    pub fn close_code(self) -> WebSocketCloseStatusCode {
        match self {
            FrameError::TooLarge => WebSocketCloseStatusCode::MessageTooBig,
            FrameError::NoMemory => WebSocketCloseStatusCode::InternalServerError,
            _ => WebSocketCloseStatusCode::ProtocolError,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            FrameError::Unmasked => "unmasked client frame",
            FrameError::ReservedBits => "reserved bits set",
            FrameError::BadOpcode(_) => "unknown opcode",
            FrameError::BadControlFrame => "fragmented or oversized control frame",
            FrameError::TooLarge => "frame too large",
            FrameError::NoMemory => "no memory for the frame",
        }
    }
}

/// Decodes one client frame from the start of `buf`: `Ok(None)` while incomplete, else the
/// frame and the bytes it took.
pub fn decode(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if b0 & 0x70 != 0 {
        return Err(FrameError::ReservedBits);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = match b0 & 0x0f {
        0x0 => Opcode::Continuation,
        0x1 => Opcode::Text,
        0x2 => Opcode::Binary,
        0x8 => Opcode::Close,
        0x9 => Opcode::Ping,
        0xa => Opcode::Pong,
        other => return Err(FrameError::BadOpcode(other)),
    };
    if b1 & 0x80 == 0 {
        return Err(FrameError::Unmasked);
    }
    let (len, mut at) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (u64::from(u16::from_be_bytes([b[0], b[1]])), 4),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => {
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(b);
                (u64::from_be_bytes(bytes), 10)
            }
            None => return Ok(None),
        },
        short => (u64::from(short), 2),
    };
    let control = matches!(opcode, Opcode::Close | Opcode::Ping | Opcode::Pong);
    if control && (!fin || len > 125) {
        return Err(FrameError::BadControlFrame);
    }
    if len > MAX_CLIENT_PAYLOAD as u64 {
        return Err(FrameError::TooLarge);
    }
    let len = len as usize;
    let Some(mask) = buf.get(at..at + 4) else {
        return Ok(None);
    };
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    at += 4;
    debug_assert!(at <= MAX_HEADER);
    let Some(data) = buf.get(at..at + len) else {
        return Ok(None);
    };
    let mut payload = Vec::new();
    payload
        .try_reserve_exact(len)
        .map_err(|_| FrameError::NoMemory)?;
    payload.extend(data.iter().zip(mask.iter().cycle()).map(|(b, m)| b ^ m));
    Ok(Some((
        Frame {
            opcode,
            fin,
            payload,
        },
        at + len,
    )))
}

/// The server side of one WebSocket connection: builds its frames.
pub struct ServerSocket {
    inner: WebSocketServer,
}

impl ServerSocket {
    /// Answers the opening handshake for `key`: the `101 Switching Protocols` response.
    pub fn accept(key: &str) -> Option<(Self, Vec<u8>)> {
        // heapless' `From<&str>` panics past its capacity: check the length first.
        if key.is_empty() || key.len() > 24 {
            return None;
        }
        let key = WebSocketKey::from(key);
        let mut inner = WebSocketServer::new_server();
        let mut buf = [0u8; 256];
        let n = inner.server_accept(&key, None, &mut buf).ok()?;
        Some((Self { inner }, buf.get(..n)?.to_vec()))
    }

    /// A frame carrying `payload` of `kind` (text, pong, …), or `None` when memory is short.
    pub fn frame(&mut self, kind: WebSocketSendMessageType, payload: &[u8]) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        out.try_reserve_exact(payload.len() + MAX_HEADER).ok()?;
        out.resize(payload.len() + MAX_HEADER, 0);
        let n = self.inner.write(kind, true, payload, &mut out).ok()?;
        out.truncate(n);
        Some(out)
    }

    /// A close frame with `code`.
    pub fn close_frame(&mut self, code: WebSocketCloseStatusCode) -> Option<Vec<u8>> {
        let mut out = [0u8; 16];
        let n = self.inner.close(code, None, &mut out).ok()?;
        Some(out.get(..n)?.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(b0: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut f = vec![b0];
        let mask_bit = if masked { 0x80 } else { 0 };
        if payload.len() < 126 {
            f.push(mask_bit | payload.len() as u8);
        } else if payload.len() <= 0xffff {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        } else {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(payload.len() as u64).to_be_bytes());
        }
        let key = [1u8, 2, 3, 4];
        if masked {
            f.extend_from_slice(&key);
            f.extend(payload.iter().zip(key.iter().cycle()).map(|(b, m)| b ^ m));
        } else {
            f.extend_from_slice(payload);
        }
        f
    }

    #[test]
    fn masked_frames_decode_and_partial_ones_wait() {
        let f = client_frame(0x89, b"hello", true);
        let (frame, used) = decode(&f).unwrap().unwrap();
        assert_eq!(frame.opcode, Opcode::Ping);
        assert_eq!(frame.payload, b"hello");
        assert_eq!(used, f.len());
        for cut in 0..f.len() {
            assert_eq!(decode(&f[..cut]), Ok(None), "cut at {cut}");
        }
        let big = client_frame(0x82, &[7u8; 300], true);
        let (frame, _) = decode(&big).unwrap().unwrap();
        assert_eq!(frame.payload.len(), 300);
    }

    #[test]
    fn hostile_frames_are_refused() {
        assert_eq!(
            decode(&client_frame(0x81, b"x", false)),
            Err(FrameError::Unmasked)
        );
        assert_eq!(
            decode(&client_frame(0xc1, b"x", true)),
            Err(FrameError::ReservedBits)
        );
        assert_eq!(
            decode(&client_frame(0x83, b"x", true)),
            Err(FrameError::BadOpcode(3))
        );
        assert_eq!(
            decode(&client_frame(0x09, b"x", true)),
            Err(FrameError::BadControlFrame)
        );
        assert_eq!(
            decode(&client_frame(0x89, &[0; 126], true)),
            Err(FrameError::BadControlFrame)
        );
        // Refused from the header alone, before the payload arrives.
        let huge = client_frame(0x82, &vec![0; MAX_CLIENT_PAYLOAD + 1], true);
        assert_eq!(decode(&huge[..14]), Err(FrameError::TooLarge));
        let mut absurd = vec![0x82, 0xff];
        absurd.extend_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(decode(&absurd), Err(FrameError::TooLarge));
    }

    #[test]
    fn handshake_answers_the_rfc_example() {
        let (mut ws, reply) = ServerSocket::accept("dGhlIHNhbXBsZSBub25jZQ==").unwrap();
        let text = String::from_utf8(reply).unwrap();
        assert!(text.starts_with("HTTP/1.1 101"));
        assert!(text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        let frame = ws.frame(WebSocketSendMessageType::Text, b"hi").unwrap();
        assert_eq!(frame, [0x81, 2, b'h', b'i']);
        let long = ws
            .frame(WebSocketSendMessageType::Text, &[b'a'; 70_000])
            .unwrap();
        assert_eq!(&long[..2], &[0x81, 127]);
        assert_eq!(long.len(), 70_000 + 10);
        assert!(ServerSocket::accept("this key is far too long for the field").is_none());
    }
}

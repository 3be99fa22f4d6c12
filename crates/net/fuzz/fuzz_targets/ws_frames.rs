//! Fuzz target: arbitrary bytes as a stream of client WebSocket frames, decoded the way the
//! server does (frame after frame until one is incomplete or refused), plus the handshake with
//! the input as the key and a server frame carrying it. Any panic is a bug; a decoded frame
//! must lie inside the input and respect the payload bound.
//! Run: `cargo +nightly fuzz run ws_frames` from crates/net (crates/net/README.md).
#![no_main]

use embedded_websocket::WebSocketSendMessageType;
use libfuzzer_sys::fuzz_target;
use net::ws::{MAX_CLIENT_PAYLOAD, ServerSocket, decode};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some((frame, used))) = decode(rest) {
        assert!(used > 0 && used <= rest.len());
        assert!(frame.payload.len() <= MAX_CLIENT_PAYLOAD);
        rest = &rest[used..];
    }
    if let Ok(key) = core::str::from_utf8(&data[..data.len().min(40)])
        && let Some((mut socket, reply)) = ServerSocket::accept(key)
    {
        assert!(reply.starts_with(b"HTTP/1.1 101"));
        let frame = socket.frame(WebSocketSendMessageType::Text, data);
        assert!(frame.is_some_and(|f| f.len() >= data.len() + 2));
    }
});

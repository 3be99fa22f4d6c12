//! Fuzz target: arbitrary bytes as an HTTP request head, whole and in every prefix the server
//! could see while bytes arrive. Any panic is a bug; a complete head must lie inside the input
//! and carry a path, and a refused one an error status.
//! Run: `cargo +nightly fuzz run http_request` from crates/net (crates/net/README.md).
#![no_main]

use libfuzzer_sys::fuzz_target;
use net::http::{MAX_HEAD_BYTES, Parsed, parse_request};

fuzz_target!(|data: &[u8]| {
    let data = &data[..data.len().min(MAX_HEAD_BYTES + 64)];
    for end in [data.len() / 3, data.len() / 2, data.len()] {
        match parse_request(&data[..end]) {
            Parsed::Complete(req) => {
                assert!(req.head_len <= end);
                assert!(req.path.starts_with('/'));
                assert!(req.websocket_key.as_ref().is_none_or(|k| k.len() <= 24));
            }
            Parsed::Refused(status, _) => assert!(status.code() >= 400),
            Parsed::Partial => assert!(end < MAX_HEAD_BYTES),
        }
    }
});

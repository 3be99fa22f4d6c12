//! Prints what the shell costs per input byte on the host, for the worst cases the editor has:
//! appending to a full-length line and inserting at the start of one (each key rewrites the tail),
//! plus a `help` dispatch. A benchmark, not a test: it prints figures and asserts nothing.
//!
//! Run: `cargo run --release -p shell --example editor_cost`

use shell::{CommandRegistry, LineEditor, MAX_LINE_BYTES};
use std::time::Instant;

/// Discards output but still formats it, like a serial writer would.
struct Sink(usize);

impl std::fmt::Write for Sink {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

fn per_byte(label: &str, rounds: u32, bytes_per_round: usize, mut round: impl FnMut(&mut Sink)) {
    let mut sink = Sink(0);
    let start = Instant::now();
    for _ in 0..rounds {
        round(&mut sink);
    }
    let elapsed = start.elapsed();
    let bytes = u128::from(rounds) * bytes_per_round as u128;
    println!(
        "{label:<40} {:>8} ns/input byte  {:>6} output bytes/input byte",
        elapsed.as_nanos() / bytes,
        sink.0 as u128 / bytes
    );
}

fn main() {
    let rounds = 2000;
    per_byte(
        "append 256 bytes, then Enter",
        rounds,
        MAX_LINE_BYTES + 1,
        |sink| {
            let mut editor = LineEditor::new();
            for _ in 0..MAX_LINE_BYTES {
                editor.feed(b'x', sink);
            }
            editor.feed(b'\r', sink);
        },
    );
    per_byte(
        "insert 256 bytes at the line start",
        rounds,
        MAX_LINE_BYTES * 4,
        |sink| {
            let mut editor = LineEditor::new();
            for _ in 0..MAX_LINE_BYTES {
                editor.feed(b'x', sink);
                for &b in b"\x1b[H" {
                    editor.feed(b, sink);
                }
            }
            editor.feed(0x03, sink);
        },
    );
    let registry: CommandRegistry<()> = CommandRegistry::new();
    per_byte(
        "dispatch \"help help\" (per line byte)",
        rounds * 10,
        9,
        |sink| {
            registry.dispatch(&mut (), "help help", sink);
        },
    );
}

//! The serial console: formatted output to COM1 and a line-discipline-free input queue.
//!
//! Output goes through one [`IrqMutex`] so lines from different threads do not interleave
//! mid-character. Input bytes arrive by IRQ 4 into a fixed ring (no allocation in interrupt
//! context); [`read_byte`] blocks the calling thread on a wait queue until a byte is there.
//! Fault reports bypass the lock ([`RawWriter`]) so a fault while printing cannot deadlock.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::serial;
use crate::sync::IrqMutex;

static OUTPUT: IrqMutex<()> = IrqMutex::new(());

const INPUT_CAPACITY: usize = 1024;

struct InputRing {
    buf: [u8; INPUT_CAPACITY],
    head: usize,
    len: usize,
}

static INPUT: IrqMutex<InputRing> = IrqMutex::new(InputRing {
    buf: [0; INPUT_CAPACITY],
    head: 0,
    len: 0,
});

/// Bytes dropped because the input ring was full.
pub static INPUT_OVERRUNS: AtomicU64 = AtomicU64::new(0);

/// Writes straight to the UART without taking the console lock.
pub struct RawWriter;

impl Write for RawWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                serial::write_byte(b'\r');
            }
            serial::write_byte(b);
        }
        Ok(())
    }
}

/// Writes raw bytes (terminal control sequences, echo) under the console lock.
pub fn write_bytes(bytes: &[u8]) {
    let _guard = OUTPUT.lock();
    for &b in bytes {
        serial::write_byte(b);
    }
}

#[doc(hidden)]
pub fn _print(args: fmt::Arguments) {
    let _guard = OUTPUT.lock();
    let _ = RawWriter.write_fmt(args);
}

/// A `fmt::Write` sink that prints to the console (used by shell command handlers).
pub struct Console;

impl Write for Console {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        _print(format_args!("{s}"));
        Ok(())
    }
}

#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::console::_print(format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! println {
    () => { $crate::print!("\n") };
    ($($arg:tt)*) => { $crate::console::_print(format_args!("{}\n", format_args!($($arg)*))) };
}

/// IRQ 4: drain the UART FIFO into the ring and wake a reader.
pub(crate) fn on_serial_interrupt() {
    let mut got = false;
    {
        let mut ring = INPUT.lock();
        while let Some(b) = serial::try_read_byte() {
            if ring.len == INPUT_CAPACITY {
                INPUT_OVERRUNS.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            let tail = (ring.head + ring.len) % INPUT_CAPACITY;
            ring.buf[tail] = b;
            ring.len += 1;
            got = true;
        }
    }
    if let (true, Some(q)) = (got, crate::task::WaitQueue::console_input()) {
        crate::task::wake_all(q);
        crate::task::preempt_idle();
    }
}

fn pop_byte() -> Option<u8> {
    let mut ring = INPUT.lock();
    if ring.len == 0 {
        // An edge raised while the PIC was still masked at boot is never delivered again;
        // polling the UART here keeps such bytes from being stranded in its FIFO.
        return serial::try_read_byte();
    }
    let b = ring.buf[ring.head];
    ring.head = (ring.head + 1) % INPUT_CAPACITY;
    ring.len -= 1;
    Some(b)
}

/// Blocks the calling thread until an input byte is available and returns it.
pub fn read_byte() -> u8 {
    match crate::task::WaitQueue::console_input() {
        Some(q) => crate::task::wait_until(q, pop_byte),
        // Before threads exist: poll.
        None => loop {
            if let Some(b) = pop_byte().or_else(serial::try_read_byte) {
                return b;
            }
            core::hint::spin_loop();
        },
    }
}

//! The serial console: formatted output to COM1 and an input queue that loses nothing
//! silently.
//!
//! Output goes through one [`IrqMutex`] so lines from different threads do not interleave
//! mid-character. Input bytes arrive by IRQ 4 into a fixed ring (no allocation in interrupt
//! context); [`read_input`] blocks the calling thread on a wait queue until something is there.
//! Fault reports bypass the lock ([`RawWriter`]) so a fault while printing cannot deadlock.
//!
//! Input is flow-controlled rather than dropped: when the ring is nearly full the interrupt
//! handler stops draining the UART and masks its receive interrupt; the UART's FIFO then fills
//! and the other end is held back (QEMU stops reading its chardev, so a fast paste waits
//! instead of being cut). The reader unmasks the interrupt once half the ring is free. Should
//! bytes be lost anyway — a hardware overrun (LSR.OE) on a real UART — the ring records a
//! [`ConsoleInput::Lost`] marker at the place of the gap, so the line editor refuses the line
//! the bytes belonged to instead of running what is left of it. Lost bytes are counted in
//! [`input_lost_bytes`] (exported as a metric).

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::arch::serial;
use crate::sync::IrqMutex;

static OUTPUT: IrqMutex<()> = IrqMutex::new(());

/// Ring entries: a byte, or (with [`GAP`] set) a gap marker carrying the count of lost bytes.
const INPUT_CAPACITY: usize = 4096;
const GAP: u16 = 0x8000;
/// Entries kept free for the gap marker that may have to follow the stored bytes.
const HEADROOM: usize = 1;

/// One item of console input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsoleInput {
    Byte(u8),
    /// Bytes were lost at this point of the stream (at least this many).
    Lost(u32),
}

struct InputRing {
    buf: [u16; INPUT_CAPACITY],
    head: usize,
    len: usize,
    /// Bytes lost since the last stored entry, to be recorded as a gap marker.
    pending_lost: u32,
}

impl InputRing {
    fn push(&mut self, entry: u16) {
        let tail = (self.head + self.len) % INPUT_CAPACITY;
        self.buf[tail] = entry;
        self.len += 1;
    }

    /// Stores a pending gap marker if there is room; true when none is pending any more.
    fn flush_gap(&mut self) -> bool {
        if self.pending_lost == 0 {
            return true;
        }
        if self.len == INPUT_CAPACITY {
            return false;
        }
        let count = self.pending_lost.min(u32::from(!GAP)) as u16;
        self.push(GAP | count);
        self.pending_lost = 0;
        true
    }

    fn free(&self) -> usize {
        INPUT_CAPACITY - self.len
    }
}

static INPUT: IrqMutex<InputRing> = IrqMutex::new(InputRing {
    buf: [0; INPUT_CAPACITY],
    head: 0,
    len: 0,
    pending_lost: 0,
});

/// The receive interrupt is masked because the ring is (nearly) full.
static RX_PAUSED: AtomicBool = AtomicBool::new(false);
/// Input bytes lost (hardware overruns), since boot.
static INPUT_LOST: AtomicU64 = AtomicU64::new(0);
/// Times the receive side was paused for flow control, since boot.
static RX_PAUSES: AtomicU64 = AtomicU64::new(0);
/// A Ctrl-C arrived (set by the interrupt handler; taken by long-running commands).
static INTERRUPT: AtomicBool = AtomicBool::new(false);

/// Input bytes lost since boot (they never reach a command: see the module documentation).
pub fn input_lost_bytes() -> u64 {
    INPUT_LOST.load(Ordering::Relaxed)
}

/// Times input was held back because the reader was behind, since boot.
pub fn input_pauses() -> u64 {
    RX_PAUSES.load(Ordering::Relaxed)
}

/// Whether a Ctrl-C arrived since the last [`clear_interrupt`]; long-running commands poll it
/// to stop early. The byte itself still reaches the line editor (which abandons its line).
pub fn interrupt_requested() -> bool {
    INTERRUPT.load(Ordering::Acquire)
}

/// Forgets an earlier Ctrl-C (the shell calls it before running each command).
pub fn clear_interrupt() {
    INTERRUPT.store(false, Ordering::Release);
}

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

/// IRQ 4: drain the UART FIFO into the ring (while there is room) and wake a reader.
pub(crate) fn on_serial_interrupt() {
    let mut got = false;
    {
        let mut ring = INPUT.lock();
        loop {
            if ring.pending_lost > 0 && !ring.flush_gap() {
                break;
            }
            if ring.free() <= HEADROOM {
                // Flow control: leave the rest in the UART, whose FIFO holds the sender back.
                serial::set_receive_interrupt(false);
                RX_PAUSED.store(true, Ordering::Release);
                RX_PAUSES.fetch_add(1, Ordering::Relaxed);
                break;
            }
            let Some((byte, overrun)) = serial::try_read_byte_checked() else {
                break;
            };
            if overrun {
                // The UART dropped at least one byte before this one.
                INPUT_LOST.fetch_add(1, Ordering::Relaxed);
                ring.pending_lost = ring.pending_lost.saturating_add(1);
                ring.flush_gap();
            }
            if byte == CTRL_C {
                INTERRUPT.store(true, Ordering::Release);
            }
            ring.push(u16::from(byte));
            got = true;
        }
    }
    if let (true, Some(q)) = (got, crate::task::WaitQueue::console_input()) {
        crate::task::wake_all(q);
        crate::task::preempt_idle();
    }
}

const CTRL_C: u8 = 0x03;

fn pop_input() -> Option<ConsoleInput> {
    let mut ring = INPUT.lock();
    if ring.len == 0 {
        // An edge raised while the PIC was still masked at boot is never delivered again;
        // polling the UART here keeps such bytes from being stranded in its FIFO.
        if RX_PAUSED.load(Ordering::Acquire) {
            return None;
        }
        return serial::try_read_byte().map(ConsoleInput::Byte);
    }
    let entry = ring.buf[ring.head];
    ring.head = (ring.head + 1) % INPUT_CAPACITY;
    ring.len -= 1;
    if RX_PAUSED.load(Ordering::Acquire) && ring.free() >= INPUT_CAPACITY / 2 {
        RX_PAUSED.store(false, Ordering::Release);
        // Unmasking with data waiting makes the UART raise the interrupt again.
        serial::set_receive_interrupt(true);
    }
    Some(if entry & GAP != 0 {
        ConsoleInput::Lost(u32::from(entry & !GAP))
    } else {
        ConsoleInput::Byte(entry as u8)
    })
}

/// Blocks the calling thread until console input is available and returns it.
pub fn read_input() -> ConsoleInput {
    match crate::task::WaitQueue::console_input() {
        Some(q) => crate::task::wait_until(q, pop_input),
        // Before threads exist: poll.
        None => loop {
            if let Some(input) = pop_input() {
                return input;
            }
            if let Some(b) = serial::try_read_byte() {
                return ConsoleInput::Byte(b);
            }
            core::hint::spin_loop();
        },
    }
}

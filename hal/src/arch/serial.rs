//! COM1 (16550 UART at port 0x3f8): polled output, interrupt-driven input (IRQ 4).
//!
//! Written directly rather than with `uart_16550` because the kernel needs control of the
//! interrupt-enable register (receive interrupts only) and a non-blocking read from the
//! interrupt handler; the register protocol is a dozen port accesses.

use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;

/// Programs COM1 for 115200 8N1 with FIFOs and the receive-data interrupt enabled.
pub(crate) fn init() {
    // SAFETY: 0x3f8..0x3ff are the COM1 registers of the PC platform QEMU emulates; this
    // is the standard 16550 initialisation sequence and touches nothing else.
    unsafe {
        Port::<u8>::new(COM1 + 1).write(0x00); // interrupts off while configuring
        Port::<u8>::new(COM1 + 3).write(0x80); // DLAB on
        Port::<u8>::new(COM1).write(0x01); // divisor 1 = 115200 baud
        Port::<u8>::new(COM1 + 1).write(0x00);
        Port::<u8>::new(COM1 + 3).write(0x03); // 8N1, DLAB off
        Port::<u8>::new(COM1 + 2).write(0xc5); // FIFO on, TX cleared (RX kept: bytes typed early), 14-byte threshold
        Port::<u8>::new(COM1 + 4).write(0x0b); // DTR | RTS | OUT2 (OUT2 gates the IRQ line)
        Port::<u8>::new(COM1 + 1).write(0x01); // receive-data-available interrupt
    }
}

/// Writes one byte, waiting for the transmit holding register to empty.
pub(crate) fn write_byte(b: u8) {
    // SAFETY: COM1 line-status and data registers; reading LSR has no side effect on TX.
    unsafe {
        let mut lsr = Port::<u8>::new(COM1 + 5);
        while lsr.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
        Port::<u8>::new(COM1).write(b);
    }
}

/// Reads one received byte if the UART holds one, with whether the UART reported an overrun
/// (bytes lost before this one: LSR bit 1, cleared by the read).
pub(crate) fn try_read_byte_checked() -> Option<(u8, bool)> {
    // SAFETY: COM1 line-status and receive registers; reading LSR clears its error bits and
    // reading RBR pops the FIFO, which is exactly what the caller consumes.
    unsafe {
        let lsr = Port::<u8>::new(COM1 + 5).read();
        if lsr & 0x01 != 0 {
            Some((Port::<u8>::new(COM1).read(), lsr & 0x02 != 0))
        } else {
            None
        }
    }
}

/// Masks or unmasks the receive-data interrupt (flow control of the console).
pub(crate) fn set_receive_interrupt(on: bool) {
    // SAFETY: COM1's interrupt-enable register; only the receive-data bit is ever set, and
    // writing it changes when IRQ 4 fires, nothing in memory.
    unsafe { Port::<u8>::new(COM1 + 1).write(u8::from(on)) };
}

/// Reads one received byte if the UART holds one.
pub(crate) fn try_read_byte() -> Option<u8> {
    // SAFETY: COM1 line-status and receive registers; reading RBR pops the FIFO, which is
    // exactly what the caller consumes.
    unsafe {
        if Port::<u8>::new(COM1 + 5).read() & 0x01 != 0 {
            Some(Port::<u8>::new(COM1).read())
        } else {
            None
        }
    }
}

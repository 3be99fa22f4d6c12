//! The legacy 8259 PIC pair, remapped to vectors 32–47, and the 8254 PIT as the 1 kHz tick.
//!
//! Nous runs on one CPU with the PIT on IRQ 0 and COM1 on IRQ 4; the local APIC is left
//! disabled, which keeps the interrupt path free of MMIO. Every other line stays masked.
//!
//! Why the port accesses here are sound: the ports named (0x20/0x21, 0xa0/0xa1 for the PICs,
//! 0x40/0x42/0x43 for the PIT, 0x61 for the channel-2 gate) belong to these two chips on every
//! PC platform QEMU emulates; the chips change only *when interrupts arrive* and *what the
//! timer counts*, never memory, so no access can break a Rust reference. What could go wrong
//! is timing (a lost tick, an unacknowledged IRQ), which is why everything here is
//! crate-private and called only by the boot sequence and the interrupt dispatcher.

use x86_64::instructions::port::Port;

/// First vector of the master PIC after remapping.
pub const IRQ_BASE: u8 = 32;
/// Timer frequency in Hz.
pub const TICK_HZ: u32 = 1000;
const PIT_HZ: u32 = 1_193_182;

/// Remaps both PICs to vectors 32–47 and unmasks IRQ 0 (PIT), 2 (cascade) and 4 (COM1).
pub(crate) fn init() {
    // SAFETY: the standard ICW1–ICW4 sequence on the PIC command/data ports (0x20/0x21,
    // 0xa0/0xa1), which touch no memory (see the module documentation); interrupts are
    // disabled during boot so no IRQ is delivered half-way through the sequence.
    unsafe {
        let mut m_cmd = Port::<u8>::new(0x20);
        let mut m_data = Port::<u8>::new(0x21);
        let mut s_cmd = Port::<u8>::new(0xa0);
        let mut s_data = Port::<u8>::new(0xa1);
        m_cmd.write(0x11);
        s_cmd.write(0x11);
        m_data.write(IRQ_BASE);
        s_data.write(IRQ_BASE + 8);
        m_data.write(4);
        s_data.write(2);
        m_data.write(0x01);
        s_data.write(0x01);
        m_data.write(!((1 << 0) | (1 << 2) | (1 << 4)));
        s_data.write(0xff);
    }
}

/// Programs PIT channel 0 as a rate generator at [`TICK_HZ`].
pub(crate) fn init_pit() {
    let divisor = (PIT_HZ / TICK_HZ) as u16;
    // SAFETY: PIT mode/command port 0x43 and channel-0 data port 0x40: they set the tick
    // rate and touch no memory (module documentation).
    unsafe {
        Port::<u8>::new(0x43).write(0x34); // channel 0, lo/hi byte, mode 2
        Port::<u8>::new(0x40).write((divisor & 0xff) as u8);
        Port::<u8>::new(0x40).write((divisor >> 8) as u8);
    }
}

/// The actual tick period in nanoseconds implied by the integer divisor.
pub fn tick_period_ns() -> u64 {
    let divisor = u64::from(PIT_HZ / TICK_HZ);
    divisor * 1_000_000_000 / u64::from(PIT_HZ)
}

/// Acknowledges IRQ `irq` (0–15).
pub(crate) fn end_of_interrupt(irq: u8) {
    // SAFETY: the non-specific EOI command on the PIC command ports only re-arms interrupt
    // delivery and touches no memory (module documentation).
    unsafe {
        if irq >= 8 {
            Port::<u8>::new(0xa0).write(0x20);
        }
        Port::<u8>::new(0x20).write(0x20);
    }
}

/// True when IRQ 7/15 was spurious (the in-service bit is not set), in which case no EOI
/// (IRQ 7) or only the master EOI (IRQ 15) must be sent.
pub(crate) fn is_spurious(irq: u8) -> bool {
    // SAFETY: OCW3 0x0b selects the in-service register for the next read of the command
    // port; reading it changes no state of the PIC and touches no memory.
    unsafe {
        let (cmd, bit) = if irq == 7 { (0x20, 7) } else { (0xa0, 7) };
        let mut port = Port::<u8>::new(cmd);
        port.write(0x0b);
        port.read() & (1 << bit) == 0
    }
}

/// Busy-waits `pit_cycles` cycles of the PIT input clock (1.193182 MHz) using channel 2 in
/// one-shot mode, polling its output through port 0x61. Independent of interrupt delivery,
/// which under emulation may drop or delay ticks; used to calibrate the TSC.
pub(crate) fn wait_pit_cycles(pit_cycles: u16) {
    // SAFETY: port 0x61 (speaker/gate control; only the channel-2 gate bit is set and the
    // speaker-enable bit cleared), 0x43 (PIT mode) and 0x42 (channel 2 data). Channel 2 is
    // unused otherwise, and none of these ports touches memory (module documentation).
    unsafe {
        let mut ctrl = Port::<u8>::new(0x61);
        let v = ctrl.read();
        ctrl.write((v & !0x02) | 0x01);
        Port::<u8>::new(0x43).write(0xb0); // channel 2, lo/hi, mode 0 (interrupt on terminal count)
        Port::<u8>::new(0x42).write((pit_cycles & 0xff) as u8);
        Port::<u8>::new(0x42).write((pit_cycles >> 8) as u8);
        while ctrl.read() & 0x20 == 0 {
            core::hint::spin_loop();
        }
    }
}

/// The PIT input clock in Hz.
pub const PIT_INPUT_HZ: u64 = PIT_HZ as u64;

//! Leaving QEMU: the isa-debug-exit device (`-device isa-debug-exit,iobase=0xf4,iosize=0x04`).
//!
//! Writing v to port 0xf4 makes QEMU exit with status (v << 1) | 1. The codes are a contract
//! with `xtask` (see xtask's QEMU module): 0x10 → 33 success, 0x11 → 35 test failure,
//! 0x12 → 37 stopped on a CPU exception. Without the device the write is ignored and the
//! CPU halts instead.

use x86_64::instructions::port::Port;

/// Why the machine is being stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// `shutdown` command, or every in-kernel test passed.
    Success = 0x10,
    /// An in-kernel test failed (or a panic in a test image).
    Failure = 0x11,
    /// A CPU exception was reported.
    CpuException = 0x12,
}

/// Exits QEMU with `code`; halts if the device is absent.
pub fn exit_qemu(code: ExitCode) -> ! {
    // SAFETY: port 0xf4 is the isa-debug-exit device in every QEMU configuration xtask
    // starts; on a machine without it an unclaimed port write is ignored by the chipset.
    unsafe { Port::<u32>::new(0xf4).write(code as u32) };
    super::cpu::halt_forever()
}

//! The CMOS real-time clock (MC146818 and compatibles) behind ports 0x70 (index) and 0x71
//! (data). Only reads: the kernel never sets the clock. Decoding is the `rtc` crate's.
//!
//! Why the port accesses are sound: 0x70/0x71 address the CMOS RAM of every PC platform QEMU
//! emulates; selecting a register and reading it touches no memory. The index write keeps
//! bit 7 set, which masks NMIs for the duration (the conventional way to access the chip).

use x86_64::instructions::port::Port;

use crate::sync::IrqMutex;

const INDEX: u16 = 0x70;
const DATA: u16 = 0x71;
/// Bit 7 of the index port: NMI disabled while it is set.
const NMI_OFF: u8 = 0x80;

/// The index/data pair is one access: no interleaving.
static LOCK: IrqMutex<()> = IrqMutex::new(());

/// Reads CMOS register `reg`.
pub(crate) fn read(reg: u8) -> u8 {
    let _guard = LOCK.lock();
    // SAFETY: see the module documentation: selecting and reading a CMOS register has no
    // effect on memory; the lock keeps the index and the read together.
    unsafe {
        Port::<u8>::new(INDEX).write(NMI_OFF | (reg & 0x7f));
        Port::<u8>::new(DATA).read()
    }
}

/// Reads the time registers consistently: waits out an update in progress, then reads until
/// two reads in a row agree (the clock may tick between registers). Gives up after a bounded
/// number of attempts and returns the last read (which decoding may then reject).
pub(crate) fn read_time() -> rtc::Registers {
    use rtc::reg;
    let once = || {
        for _ in 0..100_000 {
            if read(reg::STATUS_A) & rtc::UPDATE_IN_PROGRESS == 0 {
                break;
            }
            core::hint::spin_loop();
        }
        rtc::Registers {
            seconds: read(reg::SECONDS),
            minutes: read(reg::MINUTES),
            hours: read(reg::HOURS),
            day: read(reg::DAY_OF_MONTH),
            month: read(reg::MONTH),
            year: read(reg::YEAR),
            century: Some(read(reg::CENTURY)),
            status_b: read(reg::STATUS_B),
        }
    };
    let mut last = once();
    for _ in 0..8 {
        let next = once();
        if next == last {
            return next;
        }
        last = next;
    }
    last
}

//! Time: the 1 kHz PIT tick and the TSC, calibrated against it at boot, behind one
//! monotonic nanosecond clock, [`now_ns`], used by the whole kernel.
//!
//! Before calibration `now_ns` counts ticks (1 ms resolution); after it, the TSC gives
//! nanosecond resolution. Under QEMU TCG `rdtsc` reads the host TSC, so intervals are real
//! elapsed time (inflated by emulation, not distorted).
//!
//! The wall clock ([`wall_clock_secs`]) is the CMOS RTC read once at boot plus the monotonic
//! time since; a clock whose registers do not decode leaves the kernel without a wall clock
//! (`None`) rather than with a made-up one.

use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::{cpu, pic};

static TICKS: AtomicU64 = AtomicU64::new(0);
static TSC_HZ: AtomicU64 = AtomicU64::new(0);
static TSC_AT_CALIBRATION: AtomicU64 = AtomicU64::new(0);
static NS_AT_CALIBRATION: AtomicU64 = AtomicU64::new(0);
static TSC_AT_ENTRY: AtomicU64 = AtomicU64::new(0);

/// Called from the timer interrupt.
pub(crate) fn on_tick() {
    TICKS.fetch_add(1, Ordering::Relaxed);
}

/// Timer ticks since the PIT was started.
pub fn ticks() -> u64 {
    TICKS.load(Ordering::Relaxed)
}

pub(crate) fn record_entry() {
    TSC_AT_ENTRY.store(cpu::rdtsc(), Ordering::Relaxed);
}

/// TSC frequency found by calibration (0 before).
pub fn tsc_hz() -> u64 {
    TSC_HZ.load(Ordering::Relaxed)
}

/// Measures the TSC frequency against PIT channel 2 over three 10 ms windows and keeps the
/// median (robust against one window stretched by host scheduling).
pub(crate) fn calibrate() {
    const WINDOW: u16 = 11_932; // PIT cycles in 10 ms
    let mut samples = [0u64; 3];
    for s in samples.iter_mut() {
        let t0 = cpu::rdtsc();
        pic::wait_pit_cycles(WINDOW);
        let t1 = cpu::rdtsc();
        *s = (u128::from(t1 - t0) * u128::from(pic::PIT_INPUT_HZ) / u128::from(WINDOW)) as u64;
    }
    samples.sort_unstable();
    let hz = samples[1].max(1);
    NS_AT_CALIBRATION.store(ticks() * pic::tick_period_ns(), Ordering::Relaxed);
    TSC_AT_CALIBRATION.store(cpu::rdtsc(), Ordering::Relaxed);
    TSC_HZ.store(hz, Ordering::Release);
}

/// Monotonic time since the timer started, in nanoseconds.
pub fn now_ns() -> u64 {
    let hz = TSC_HZ.load(Ordering::Acquire);
    if hz == 0 {
        return ticks() * pic::tick_period_ns();
    }
    let base_tsc = TSC_AT_CALIBRATION.load(Ordering::Relaxed);
    let delta = cpu::rdtsc().saturating_sub(base_tsc);
    NS_AT_CALIBRATION.load(Ordering::Relaxed)
        + (u128::from(delta) * 1_000_000_000 / u128::from(hz)) as u64
}

/// Nanoseconds since the first Rust instruction after PVH entry (TSC-based; 0 before calibration).
pub fn since_entry_ns() -> u64 {
    let hz = tsc_hz();
    if hz == 0 {
        return 0;
    }
    let delta = cpu::rdtsc().saturating_sub(TSC_AT_ENTRY.load(Ordering::Relaxed));
    (u128::from(delta) * 1_000_000_000 / u128::from(hz)) as u64
}

/// Busy-waits `ns` nanoseconds (for short device delays; threads should use `task::sleep_ns`).
pub fn spin_ns(ns: u64) {
    let end = now_ns() + ns;
    while now_ns() < end {
        core::hint::spin_loop();
    }
}

/// Unix seconds the RTC showed at boot, and `now_ns` at that moment (seconds `u64::MAX` =
/// no valid clock).
static WALL_AT_BOOT_SECS: AtomicU64 = AtomicU64::new(u64::MAX);
static NS_AT_WALL_READ: AtomicU64 = AtomicU64::new(0);

/// Reads the RTC once (boot). Returns why the clock is unusable, if it is.
pub(crate) fn read_wall_clock() -> Result<(), rtc::RtcError> {
    let regs = crate::arch::cmos::read_time();
    let at = now_ns();
    let secs = regs.decode()?.unix_seconds();
    NS_AT_WALL_READ.store(at, Ordering::Relaxed);
    WALL_AT_BOOT_SECS.store(secs, Ordering::Release);
    Ok(())
}

/// Seconds since the Unix epoch (UTC), or `None` when the RTC did not give a valid time.
pub fn wall_clock_secs() -> Option<u64> {
    let base = WALL_AT_BOOT_SECS.load(Ordering::Acquire);
    if base == u64::MAX {
        return None;
    }
    let since = now_ns().saturating_sub(NS_AT_WALL_READ.load(Ordering::Relaxed));
    Some(base + since / 1_000_000_000)
}

/// The wall clock as a date, for display.
pub fn wall_clock() -> Option<rtc::DateTime> {
    wall_clock_secs().map(rtc::DateTime::from_unix_seconds)
}

//! The PC's CMOS real-time clock as logic: turning the registers `hal` reads (ports 0x70/0x71)
//! into a date and a Unix time, and Unix time back into a date for display.
//!
//! Design principles:
//! - The hardware is read by `hal::time` (`[`Registers`]` is what it fills in); everything here
//!   is pure and host-tested, including the register formats the MC146818 allows (BCD or
//!   binary, 12- or 24-hour, with or without a century register).
//! - Garbage registers are an error, never a panic or a wrong date: a machine whose clock reads
//!   nonsense boots with no wall clock rather than a made-up one.
//! - The calendar is the proleptic Gregorian one in UTC (QEMU's RTC runs in UTC by default),
//!   with Howard Hinnant's days-from-civil algorithm.
//!
//! Neighbours: `hal::time` (reads the registers at boot and keeps the wall clock),
//! `kernel/src/foundation` (`uptime` prints it), the ext4 glue (inode timestamps).
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

use core::fmt;

/// RTC register numbers (the index written to port 0x70).
pub mod reg {
    pub const SECONDS: u8 = 0x00;
    pub const MINUTES: u8 = 0x02;
    pub const HOURS: u8 = 0x04;
    pub const DAY_OF_MONTH: u8 = 0x07;
    pub const MONTH: u8 = 0x08;
    pub const YEAR: u8 = 0x09;
    /// Status A: bit 7 set while the clock updates its registers.
    pub const STATUS_A: u8 = 0x0a;
    /// Status B: bit 2 set = binary (else BCD), bit 1 set = 24-hour (else 12-hour).
    pub const STATUS_B: u8 = 0x0b;
    /// The century register of the ACPI FADT's default (QEMU and most PCs).
    pub const CENTURY: u8 = 0x32;
}

/// Status A bit 7: an update is in progress, the time registers may be inconsistent.
pub const UPDATE_IN_PROGRESS: u8 = 0x80;

/// The raw clock registers, as read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Registers {
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub day: u8,
    pub month: u8,
    pub year: u8,
    /// The century register, when the machine has one.
    pub century: Option<u8>,
    pub status_b: u8,
}

/// A calendar date and time of day, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DateTime {
    pub year: u32,
    pub month: u8,
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
}

/// Why the registers do not hold a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtcError {
    /// A register holds a value that is not a digit pair in BCD mode.
    NotBcd { register: u8, value: u8 },
    /// A field is out of its calendar range (month 13, day 31 of April, hour 25…).
    OutOfRange { field: &'static str, value: u32 },
    /// The date is before the Unix epoch.
    BeforeEpoch,
}

impl fmt::Display for RtcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RtcError::NotBcd { register, value } => write!(
                f,
                "RTC register {register:#04x} holds {value:#04x}, not a BCD number"
            ),
            RtcError::OutOfRange { field, value } => {
                write!(f, "RTC {field} {value} is out of range")
            }
            RtcError::BeforeEpoch => write!(f, "RTC date is before 1970"),
        }
    }
}

fn from_bcd(register: u8, value: u8) -> Result<u8, RtcError> {
    let (hi, lo) = (value >> 4, value & 0x0f);
    if hi > 9 || lo > 9 {
        return Err(RtcError::NotBcd { register, value });
    }
    Ok(hi * 10 + lo)
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap(year: u32) -> bool {
    (year.is_multiple_of(4) && !year.is_multiple_of(100)) || year.is_multiple_of(400)
}

/// Days in `month` (1–12) of `year`.
pub fn days_in_month(year: u32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Registers {
    /// Decodes the registers. Without a century register, two-digit years are taken as
    /// 2000–2099 (the clock cannot say otherwise; this kernel did not exist before).
    pub fn decode(&self) -> Result<DateTime, RtcError> {
        let binary = self.status_b & 0x04 != 0;
        let twenty_four_hour = self.status_b & 0x02 != 0;
        let field = |register: u8, value: u8| -> Result<u8, RtcError> {
            if binary {
                Ok(value)
            } else {
                from_bcd(register, value)
            }
        };
        let second = field(reg::SECONDS, self.seconds)?;
        let minute = field(reg::MINUTES, self.minutes)?;
        let pm = !twenty_four_hour && self.hours & 0x80 != 0;
        let mut hour = field(
            reg::HOURS,
            self.hours & if twenty_four_hour { 0xff } else { 0x7f },
        )?;
        if !twenty_four_hour {
            if !(1..=12).contains(&hour) {
                return Err(RtcError::OutOfRange {
                    field: "hour (12-hour mode)",
                    value: u32::from(hour),
                });
            }
            hour = match (hour, pm) {
                (12, false) => 0,
                (12, true) => 12,
                (h, true) => h + 12,
                (h, false) => h,
            };
        }
        let day = field(reg::DAY_OF_MONTH, self.day)?;
        let month = field(reg::MONTH, self.month)?;
        let year_in_century = field(reg::YEAR, self.year)?;
        let century = match self.century {
            Some(c) => field(reg::CENTURY, c)?,
            None => 20,
        };
        let year = u32::from(century) * 100 + u32::from(year_in_century);
        let dt = DateTime {
            year,
            month,
            day,
            hour,
            minute,
            second,
        };
        dt.validate()?;
        Ok(dt)
    }
}

impl DateTime {
    fn validate(&self) -> Result<(), RtcError> {
        let check = |field: &'static str, value: u32, max: u32, min: u32| {
            if value < min || value > max {
                Err(RtcError::OutOfRange { field, value })
            } else {
                Ok(())
            }
        };
        check("second", u32::from(self.second), 59, 0)?;
        check("minute", u32::from(self.minute), 59, 0)?;
        check("hour", u32::from(self.hour), 23, 0)?;
        check("month", u32::from(self.month), 12, 1)?;
        check(
            "day",
            u32::from(self.day),
            u32::from(days_in_month(self.year, self.month)),
            1,
        )?;
        if self.year < 1970 {
            return Err(RtcError::BeforeEpoch);
        }
        Ok(())
    }

    /// Seconds since 1970-01-01 00:00:00 UTC.
    pub fn unix_seconds(&self) -> u64 {
        let days = days_from_civil(self.year, self.month, self.day);
        days * 86_400
            + u64::from(self.hour) * 3600
            + u64::from(self.minute) * 60
            + u64::from(self.second)
    }

    /// The date and time of `unix` seconds since the epoch.
    pub fn from_unix_seconds(unix: u64) -> DateTime {
        let days = unix / 86_400;
        let rem = unix % 86_400;
        let (year, month, day) = civil_from_days(days);
        DateTime {
            year,
            month,
            day,
            hour: (rem / 3600) as u8,
            minute: (rem / 60 % 60) as u8,
            second: (rem % 60) as u8,
        }
    }
}

impl fmt::Display for DateTime {
    /// ISO 8601, e.g. `2026-12-04 17:40:12 UTC`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Days from 1970-01-01 to `year-month-day` (valid date, year ≥ 1970).
fn days_from_civil(year: u32, month: u8, day: u8) -> u64 {
    // Hinnant: shift the year to start in March so the leap day is the last day.
    let y = u64::from(year) - u64::from(month <= 2);
    let era = y / 400;
    let yoe = y - era * 400;
    let m = u64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date `days` after 1970-01-01.
fn civil_from_days(days: u64) -> (u32, u8, u8) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = (yoe + era * 400 + u64::from(month <= 2)) as u32;
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn bcd(v: u8) -> u8 {
        (v / 10) << 4 | (v % 10)
    }

    #[test]
    fn known_dates() {
        let epoch = DateTime::from_unix_seconds(0);
        assert_eq!(epoch.to_string(), "1970-01-01 00:00:00 UTC");
        // `date -u -d '2026-12-04 17:40:12' +%s`
        let dt = DateTime {
            year: 2026,
            month: 12,
            day: 4,
            hour: 17,
            minute: 40,
            second: 12,
        };
        assert_eq!(dt.unix_seconds(), 1_796_406_012);
        assert_eq!(DateTime::from_unix_seconds(1_796_406_012), dt);
        // Leap day and the 2100 non-leap year.
        let leap = DateTime::from_unix_seconds(951_782_400); // 2000-02-29
        assert_eq!((leap.year, leap.month, leap.day), (2000, 2, 29));
        assert!(!is_leap(2100) && is_leap(2000) && is_leap(2024) && !is_leap(2023));
    }

    #[test]
    fn bcd_24_hour_with_century() {
        let r = Registers {
            seconds: bcd(12),
            minutes: bcd(40),
            hours: bcd(17),
            day: bcd(4),
            month: bcd(12),
            year: bcd(26),
            century: Some(bcd(20)),
            status_b: 0x02,
        };
        assert_eq!(r.decode().unwrap().unix_seconds(), 1_796_406_012);
    }

    #[test]
    fn binary_12_hour_without_century() {
        let base = Registers {
            seconds: 12,
            minutes: 40,
            hours: 0x80 | 5, // 5 PM
            day: 4,
            month: 12,
            year: 26,
            century: None,
            status_b: 0x04,
        };
        assert_eq!(base.decode().unwrap().hour, 17);
        let midnight = Registers { hours: 12, ..base };
        assert_eq!(midnight.decode().unwrap().hour, 0);
        let noon = Registers {
            hours: 0x80 | 12,
            ..base
        };
        assert_eq!(noon.decode().unwrap().hour, 12);
    }

    #[test]
    fn garbage_is_an_error() {
        let good = Registers {
            seconds: bcd(1),
            minutes: bcd(2),
            hours: bcd(3),
            day: bcd(4),
            month: bcd(5),
            year: bcd(26),
            century: None,
            status_b: 0x02,
        };
        assert!(good.decode().is_ok());
        assert!(matches!(
            Registers {
                seconds: 0x5a,
                ..good
            }
            .decode(),
            Err(RtcError::NotBcd { .. })
        ));
        assert!(matches!(
            Registers {
                month: bcd(13),
                ..good
            }
            .decode(),
            Err(RtcError::OutOfRange { field: "month", .. })
        ));
        assert!(matches!(
            Registers {
                month: bcd(4),
                day: bcd(31),
                ..good
            }
            .decode(),
            Err(RtcError::OutOfRange { field: "day", .. })
        ));
        assert!(matches!(
            Registers {
                century: Some(bcd(19)),
                year: bcd(60),
                ..good
            }
            .decode(),
            Err(RtcError::BeforeEpoch)
        ));
        assert!(Registers::default().decode().is_err(), "all-zero registers");
        assert!(
            Registers {
                seconds: 0xff,
                minutes: 0xff,
                hours: 0xff,
                day: 0xff,
                month: 0xff,
                year: 0xff,
                century: Some(0xff),
                status_b: 0xff,
            }
            .decode()
            .is_err(),
            "an absent chip reads all ones"
        );
    }

    proptest! {
        #[test]
        fn unix_round_trips(t in 0u64..(400 * 366 * 86_400)) {
            let dt = DateTime::from_unix_seconds(t);
            prop_assert!(dt.validate().is_ok(), "{dt:?}");
            prop_assert_eq!(dt.unix_seconds(), t);
        }

        #[test]
        fn any_registers_decode_or_err(s: u8, m: u8, h: u8, d: u8, mo: u8, y: u8, c: Option<u8>, b: u8) {
            let r = Registers { seconds: s, minutes: m, hours: h, day: d, month: mo, year: y, century: c, status_b: b };
            if let Ok(dt) = r.decode() {
                prop_assert_eq!(DateTime::from_unix_seconds(dt.unix_seconds()), dt);
            }
        }
    }
}

//! Identifiers and priority levels shared by the scheduler and its policies.
//!
//! [`ThreadId`] names a thread for its whole life (ids are never reused, so a stale id held by the
//! shell or a joiner can only ever mean "gone", never "someone else"). [`WaitQueueId`] names a
//! queue of blocked threads owned by [`crate::Scheduler`]. [`Priority`] is the four-level scale
//! the baseline [`crate::RoundRobinPolicy`] serves strictly, highest first; learned policies may read
//! it as a feature.

use core::fmt;

use crate::error::SchedError;

/// Identity of a thread. Id 0 is always the idle thread; others are handed out in increasing
/// order and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ThreadId(pub u32);

impl ThreadId {
    /// The idle thread every [`crate::Scheduler`] creates for itself.
    pub const IDLE: ThreadId = ThreadId(0);
}

impl fmt::Display for ThreadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identity of a wait queue. Ids are never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WaitQueueId(pub u32);

impl fmt::Display for WaitQueueId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "q{}", self.0)
    }
}

/// Scheduling priority. Higher levels run first under the baseline policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Background work that should only use otherwise idle time.
    Low = 0,
    /// The default for kernel threads.
    Normal = 1,
    /// Latency-sensitive work (the shell, drivers' bottom halves).
    High = 2,
    /// Work that must preempt everything else (kept short by convention).
    Critical = 3,
}

impl Priority {
    /// Number of levels; levels are `0..LEVELS`.
    pub const LEVELS: usize = 4;

    /// All levels, lowest first.
    pub const ALL: [Priority; Priority::LEVELS] = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Critical,
    ];

    /// The numeric level, `0` (lowest) to `LEVELS - 1` (highest).
    pub const fn level(self) -> u8 {
        self as u8
    }

    /// The level as an index into per-level tables.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl TryFrom<u8> for Priority {
    type Error = SchedError;

    fn try_from(level: u8) -> Result<Self, SchedError> {
        match level {
            0 => Ok(Priority::Low),
            1 => Ok(Priority::Normal),
            2 => Ok(Priority::High),
            3 => Ok(Priority::Critical),
            _ => Err(SchedError::InvalidPriority(level)),
        }
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Critical => "critical",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn priority_levels_round_trip() {
        for p in Priority::ALL {
            assert_eq!(Priority::try_from(p.level()), Ok(p));
            assert_eq!(usize::from(p.level()), p.index());
        }
        assert_eq!(Priority::try_from(4), Err(SchedError::InvalidPriority(4)));
        assert_eq!(
            Priority::try_from(255),
            Err(SchedError::InvalidPriority(255))
        );
    }

    #[test]
    fn priorities_order_low_to_critical() {
        assert!(Priority::Low < Priority::Normal);
        assert!(Priority::Normal < Priority::High);
        assert!(Priority::High < Priority::Critical);
    }

    #[test]
    fn ids_display() {
        assert_eq!(ThreadId(7).to_string(), "7");
        assert_eq!(WaitQueueId(3).to_string(), "q3");
        assert_eq!(Priority::High.to_string(), "high");
    }
}

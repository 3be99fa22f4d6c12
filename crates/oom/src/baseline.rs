//! The two rules the predictor is compared with, fed the same [`Sample`] stream:
//! - [`EarlyOom`]: the earlyoom daemon's rule — act when available memory (free +
//!   reclaimable) falls under 10 % of total.
//! - [`Psi`]: an oomd-style rule over a pressure-stall signal. A sample interval is a
//!   *stall* when a workload allocation failed or was refused by the watermark during it
//!   (the cumulative failure counter grew), or free memory is under the low watermark
//!   (2 × min). The rule fires when the share of stalled intervals over the last 10 s (an
//!   exact sliding "avg10") exceeds a threshold, 10 % by default. That is deliberately more
//!   eager than systemd-oomd's default (60 % over 30 s), to give the baseline its best lead.
//!
//! Both remember when they first fired, which is what the evaluation compares.

use crate::sample::Sample;
use crate::watermark::low_free_pages;

/// earlyoom-style rule: fires while available memory < `percent` % of total.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EarlyOom {
    percent: u64,
    first_fire_ms: Option<u64>,
}

impl Default for EarlyOom {
    fn default() -> Self {
        EarlyOom::new()
    }
}

impl EarlyOom {
    /// The rule with earlyoom's default of 10 %.
    pub fn new() -> EarlyOom {
        EarlyOom::with_percent(10)
    }

    /// The rule with another percentage (clamped to 0..=100).
    pub fn with_percent(percent: u64) -> EarlyOom {
        EarlyOom {
            percent: percent.min(100),
            first_fire_ms: None,
        }
    }

    /// Feeds a sample; returns whether the rule fires now.
    pub fn observe(&mut self, sample: &Sample) -> bool {
        let limit = sample.total_pages.saturating_mul(self.percent) / 100;
        let fires = sample.available_pages() < limit;
        if fires && self.first_fire_ms.is_none() {
            self.first_fire_ms = Some(sample.t_ms);
        }
        fires
    }

    /// When the rule first fired.
    pub fn first_fire_ms(&self) -> Option<u64> {
        self.first_fire_ms
    }
}

/// Samples in the PSI window (10 s at 10 Hz); stalls are bits of a `u128`.
const PSI_WINDOW: u32 = 100;

/// oomd-style pressure rule (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Psi {
    threshold: f32,
    /// Bit i = sample i intervals ago was a stall.
    stalls: u128,
    last_failures: Option<u64>,
    first_fire_ms: Option<u64>,
}

impl Default for Psi {
    fn default() -> Self {
        Psi::new()
    }
}

impl Psi {
    /// The rule with the default threshold: 10 % of the last 10 s stalled.
    pub fn new() -> Psi {
        Psi::with_threshold(0.10)
    }

    /// The rule with another stall-share threshold (NaN is treated as 1.0: never fires).
    pub fn with_threshold(threshold: f32) -> Psi {
        let threshold = if threshold.is_nan() {
            1.0
        } else {
            threshold.clamp(0.0, 1.0)
        };
        Psi {
            threshold,
            stalls: 0,
            last_failures: None,
            first_fire_ms: None,
        }
    }

    /// Share of the last 10 s spent stalled, 0.0..=1.0.
    pub fn avg10(&self) -> f32 {
        self.stalls.count_ones() as f32 / PSI_WINDOW as f32
    }

    /// Feeds a sample; returns whether the rule fires now.
    pub fn observe(&mut self, sample: &Sample) -> bool {
        let failed = self
            .last_failures
            .is_some_and(|previous| sample.failures > previous);
        self.last_failures = Some(sample.failures);
        let low = sample.free_pages < low_free_pages(sample.total_pages);
        let mask = (1u128 << PSI_WINDOW) - 1;
        self.stalls = ((self.stalls << 1) | u128::from(failed || low)) & mask;
        let fires = self.avg10() > self.threshold;
        if fires && self.first_fire_ms.is_none() {
            self.first_fire_ms = Some(sample.t_ms);
        }
        fires
    }

    /// When the rule first fired.
    pub fn first_fire_ms(&self) -> Option<u64> {
        self.first_fire_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use buddy::ORDERS;

    fn sample(t_ms: u64, free: u64, reclaimable: u64, failures: u64) -> Sample {
        Sample {
            t_ms,
            total_pages: 10_000,
            free_pages: free,
            free_blocks_by_order: [0; ORDERS],
            reclaimable_pages: reclaimable,
            watched_order: 0,
            alloc_count: 0,
            failures,
        }
    }

    #[test]
    fn earlyoom_counts_reclaimable_as_available() {
        let mut rule = EarlyOom::new();
        assert!(!rule.observe(&sample(0, 600, 500, 0)));
        assert_eq!(rule.first_fire_ms(), None);
        assert!(rule.observe(&sample(100, 600, 300, 0)));
        assert!(!rule.observe(&sample(200, 2000, 0, 0)));
        assert_eq!(rule.first_fire_ms(), Some(100));
    }

    #[test]
    fn psi_needs_sustained_stalls() {
        // Low watermark of 10 000 pages: 2 × 512 = 1024.
        let mut rule = Psi::new();
        for i in 0..10 {
            assert!(!rule.observe(&sample(i * 100, 1000, 0, 0)), "sample {i}");
        }
        assert!((rule.avg10() - 0.10).abs() < 1e-6);
        assert!(rule.observe(&sample(1000, 1000, 0, 0)));
        assert_eq!(rule.first_fire_ms(), Some(1000));
    }

    #[test]
    fn psi_counts_failures_and_forgets_after_ten_seconds() {
        let mut rule = Psi::with_threshold(0.015);
        rule.observe(&sample(0, 5000, 0, 0));
        rule.observe(&sample(100, 5000, 0, 1));
        assert!(!rule.observe(&sample(200, 5000, 0, 1)));
        assert!(rule.observe(&sample(300, 5000, 0, 3)));
        for i in 0..100 {
            rule.observe(&sample(400 + i * 100, 5000, 0, 3));
        }
        assert_eq!(rule.avg10(), 0.0);
        assert_eq!(rule.first_fire_ms(), Some(300));
        assert!(!Psi::with_threshold(f32::NAN).observe(&sample(0, 0, 0, 0)));
    }
}

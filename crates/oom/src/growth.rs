//! [`GrowthTracker`]: pages held per owner (a workload thread, an actor of the simulator)
//! over time, and the slope of each — the response ladder kills the owner whose memory
//! *grows* fastest, not the largest one. Fixed capacity ([`MAX_OWNERS`] owners, a 10 s
//! window each), no allocation. Owners that must never be killed (caches, which reclaim
//! shrinks instead) are tracked with `killable = false`.

use crate::fit::LineFit;

/// Owners tracked at once.
pub const MAX_OWNERS: usize = 16;
/// Points kept per owner (10 s at 10 Hz).
const POINTS: usize = 100;

/// Identifies a memory owner (kernel thread id, simulator actor index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(pub u32);

/// Why an update was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GrowthError {
    /// [`MAX_OWNERS`] owners are already tracked.
    TooManyOwners,
}

impl core::fmt::Display for GrowthError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "growth tracker full: at most {MAX_OWNERS} owners")
    }
}

#[derive(Clone, Copy, Debug)]
struct Track {
    owner: OwnerId,
    killable: bool,
    /// (time relative to `epoch_ms`, pages); oldest at `head`.
    points: [(u64, u64); POINTS],
    head: usize,
    len: usize,
    fit: LineFit,
}

/// Per-owner growth slopes.
#[derive(Clone, Debug)]
pub struct GrowthTracker {
    tracks: [Option<Track>; MAX_OWNERS],
    epoch_ms: Option<u64>,
}

impl Default for GrowthTracker {
    fn default() -> Self {
        GrowthTracker::new()
    }
}

impl GrowthTracker {
    /// An empty tracker.
    pub fn new() -> GrowthTracker {
        GrowthTracker {
            tracks: [None; MAX_OWNERS],
            epoch_ms: None,
        }
    }

    fn find(&self, owner: OwnerId) -> Option<usize> {
        self.tracks
            .iter()
            .position(|t| t.as_ref().is_some_and(|t| t.owner == owner))
    }

    /// Records that `owner` holds `pages` at `t_ms` (call at the sampling rate for every
    /// owner). A new owner takes a free slot; `killable` is updated on every call.
    pub fn record(
        &mut self,
        t_ms: u64,
        owner: OwnerId,
        pages: u64,
        killable: bool,
    ) -> Result<(), GrowthError> {
        let epoch = *self.epoch_ms.get_or_insert(t_ms);
        let t = t_ms.saturating_sub(epoch);
        let index = match self.find(owner) {
            Some(i) => i,
            None => {
                let free = self
                    .tracks
                    .iter()
                    .position(Option::is_none)
                    .ok_or(GrowthError::TooManyOwners)?;
                self.tracks[free] = Some(Track {
                    owner,
                    killable,
                    points: [(0, 0); POINTS],
                    head: 0,
                    len: 0,
                    fit: LineFit::EMPTY,
                });
                free
            }
        };
        let Some(track) = self.tracks[index].as_mut() else {
            return Ok(());
        };
        track.killable = killable;
        if track.len == POINTS {
            let (old_t, old_pages) = track.points[track.head];
            track.fit.remove(old_t, old_pages);
            track.head = (track.head + 1) % POINTS;
            track.len -= 1;
        }
        track.points[(track.head + track.len) % POINTS] = (t, pages);
        track.len += 1;
        track.fit.add(t, pages);
        Ok(())
    }

    /// Forgets every owner (a new run starts); in place, so a caller on a small kernel stack
    /// never builds a second tracker.
    pub fn clear(&mut self) {
        for track in &mut self.tracks {
            *track = None;
        }
        self.epoch_ms = None;
    }

    /// Stops tracking `owner` (it exited or was killed).
    pub fn remove(&mut self, owner: OwnerId) {
        if let Some(i) = self.find(owner) {
            self.tracks[i] = None;
        }
    }

    /// Growth of `owner` in pages per second over the window, `None` if unknown or too few points.
    pub fn slope_per_s(&self, owner: OwnerId) -> Option<f32> {
        let track = self.tracks[self.find(owner)?].as_ref()?;
        track.fit.slope().map(|s| (s * 1000.0) as f32)
    }

    /// Pages `owner` held at its latest record.
    pub fn pages(&self, owner: OwnerId) -> Option<u64> {
        let track = self.tracks[self.find(owner)?].as_ref()?;
        (track.len > 0).then(|| track.points[(track.head + track.len - 1) % POINTS].1)
    }

    /// Pages `owner` held `ago_ms` before its latest record (the newest record at least that
    /// old; `None` when the window does not reach back that far).
    pub fn pages_ago(&self, owner: OwnerId, ago_ms: u64) -> Option<u64> {
        let track = self.tracks[self.find(owner)?].as_ref()?;
        let newest_t = track.points[(track.head + track.len.checked_sub(1)?) % POINTS].0;
        let cutoff = newest_t.checked_sub(ago_ms)?;
        (0..track.len)
            .rev()
            .map(|i| track.points[(track.head + i) % POINTS])
            .find(|&(t, _)| t <= cutoff)
            .map(|(_, pages)| pages)
    }

    /// Growth of `owner` over the last `window_ms` (pages now minus pages then, per second):
    /// what it is doing *now*, where [`GrowthTracker::slope_per_s`] averages the whole 10 s
    /// window and still shows a burst that stopped seconds ago. `None` when the window does not
    /// reach back that far; negative when it gave memory back.
    pub fn recent_growth_per_s(&self, owner: OwnerId, window_ms: u64) -> Option<f32> {
        let now = self.pages(owner)?;
        let then = self.pages_ago(owner, window_ms.max(1))?;
        Some((now as f32 - then as f32) * 1000.0 / window_ms.max(1) as f32)
    }

    /// Whether `owner` grew in a sustained way: it holds more now than 2 s ago (it is still
    /// growing) and it already grew between 9.5 s and 6 s ago, so its growth has lasted more
    /// than 4 s (a benign burst of a few seconds does not qualify).
    pub fn sustained_growth(&self, owner: OwnerId) -> bool {
        let (Some(now), Some(recent), Some(mid), Some(old)) = (
            self.pages(owner),
            self.pages_ago(owner, 2_000),
            self.pages_ago(owner, 6_000),
            self.pages_ago(owner, 9_500),
        ) else {
            return false;
        };
        if !(now > recent && mid > old) {
            return false;
        }
        // Its floor rose too: the least it held in the last 5 s is more than the least it held
        // 5–10 s ago. A thread that bursts and gives the burst back (its memory returns to the
        // same base between bursts) is not growing, however fast each burst is.
        let Some(track) = self.find(owner).and_then(|i| self.tracks[i].as_ref()) else {
            return false;
        };
        let newest_t = track.points[(track.head + track.len - 1) % POINTS].0;
        let split = newest_t.saturating_sub(5_000);
        let (mut recent_min, mut older_min) = (u64::MAX, u64::MAX);
        for i in 0..track.len {
            let (t, pages) = track.points[(track.head + i) % POINTS];
            if t > split {
                recent_min = recent_min.min(pages);
            } else {
                older_min = older_min.min(pages);
            }
        }
        older_min != u64::MAX && recent_min > older_min
    }

    /// The killable owner growing fastest, with its slope (pages/s), if any slope is known.
    pub fn fastest(&self) -> Option<(OwnerId, f32)> {
        self.tracks
            .iter()
            .flatten()
            .filter(|t| t.killable)
            .filter_map(|t| t.fit.slope().map(|s| (t.owner, (s * 1000.0) as f32)))
            .fold(None, |best: Option<(OwnerId, f32)>, cand| match best {
                Some(b) if b.1 >= cand.1 => Some(b),
                _ => Some(cand),
            })
    }

    /// Sum of the positive growth slopes of all killable owners, pages per second.
    pub fn total_growth_per_s(&self) -> f32 {
        self.tracks
            .iter()
            .flatten()
            .filter(|t| t.killable)
            .filter_map(|t| t.fit.slope())
            .filter(|s| *s > 0.0)
            .map(|s| (s * 1000.0) as f32)
            .sum()
    }

    /// The killable owner holding the most pages now (what earlyoom-style killers choose).
    pub fn largest(&self) -> Option<(OwnerId, u64)> {
        self.tracks
            .iter()
            .flatten()
            .filter(|t| t.killable && t.len > 0)
            .map(|t| (t.owner, t.points[(t.head + t.len - 1) % POINTS].1))
            .fold(None, |best: Option<(OwnerId, u64)>, cand| match best {
                Some(b) if b.1 >= cand.1 => Some(b),
                _ => Some(cand),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastest_is_not_largest() {
        let mut g = GrowthTracker::new();
        for i in 0..50u64 {
            let t = 1000 + i * 100;
            g.record(t, OwnerId(1), 30_000 + (i % 3), true).unwrap();
            g.record(t, OwnerId(2), 1000 + 40 * i, true).unwrap();
            g.record(t, OwnerId(3), 500 + 100 * i, false).unwrap();
        }
        let (owner, slope) = g.fastest().unwrap();
        assert_eq!(owner, OwnerId(2));
        assert!((slope - 400.0).abs() < 1e-3);
        assert_eq!(g.largest().unwrap().0, OwnerId(1));
        assert_eq!(g.pages(OwnerId(2)), Some(1000 + 40 * 49));
        assert!(g.total_growth_per_s() >= 400.0);
        g.remove(OwnerId(2));
        assert_eq!(g.slope_per_s(OwnerId(2)), None);
        assert_ne!(g.fastest().unwrap().0, OwnerId(3));
    }

    #[test]
    fn window_forgets_old_growth() {
        let mut g = GrowthTracker::new();
        for i in 0..50u64 {
            g.record(i * 100, OwnerId(7), i * 100, true).unwrap();
        }
        for i in 50..200u64 {
            g.record(i * 100, OwnerId(7), 4900, true).unwrap();
        }
        assert_eq!(g.slope_per_s(OwnerId(7)), Some(0.0));
    }

    #[test]
    fn capacity_is_an_error() {
        let mut g = GrowthTracker::new();
        for i in 0..MAX_OWNERS as u32 {
            g.record(0, OwnerId(i), 1, true).unwrap();
        }
        assert_eq!(
            g.record(0, OwnerId(99), 1, true),
            Err(GrowthError::TooManyOwners)
        );
        g.remove(OwnerId(0));
        assert!(g.record(0, OwnerId(99), 1, true).is_ok());
    }

    #[test]
    fn sustained_growth_needs_more_than_a_burst() {
        let mut g = GrowthTracker::new();
        for i in 0..100u64 {
            let t = i * 100;
            // Owner 1 leaks steadily; owner 2 bursts for 3 s then holds; owner 3 is flat.
            g.record(t, OwnerId(1), 1000 + i * 10, true).unwrap();
            let burst = if (60..90).contains(&i) {
                (i - 60) * 100
            } else if i >= 90 {
                3000
            } else {
                0
            };
            g.record(t, OwnerId(2), 500 + burst, true).unwrap();
            g.record(t, OwnerId(3), 700, true).unwrap();
        }
        assert!(g.sustained_growth(OwnerId(1)));
        assert!(!g.sustained_growth(OwnerId(2)));
        assert!(!g.sustained_growth(OwnerId(3)));
        assert_eq!(g.pages_ago(OwnerId(1), 2_000), Some(1000 + 79 * 10));
        assert_eq!(g.pages_ago(OwnerId(1), 20_000), None);
    }

    #[test]
    fn recent_growth_sees_a_stopped_burst_that_the_slope_still_shows() {
        let mut g = GrowthTracker::new();
        // 4.5 s of +500 pages a sample, then flat for 1.8 s (spike-ok seed 5's shape).
        for i in 0..100u64 {
            let pages = 500 * (i.clamp(36, 81) - 36);
            g.record(i * 100, OwnerId(1), pages, true).unwrap();
        }
        assert!(g.slope_per_s(OwnerId(1)).unwrap() > 1000.0);
        assert!(g.sustained_growth(OwnerId(1)));
        assert_eq!(g.recent_growth_per_s(OwnerId(1), 1_000), Some(0.0));
        assert_eq!(g.recent_growth_per_s(OwnerId(1), 3_000), Some(2000.0));
        assert_eq!(g.recent_growth_per_s(OwnerId(1), 20_000), None);
    }

    #[test]
    fn repeated_bursts_given_back_are_not_sustained_growth() {
        // A burster (the plateau family's bystander): +2000 pages over 0.4 s, held 2 s, given
        // back, every 5 s. Near the end of a burst its memory is up on 2 s ago and 6 s ago on
        // 9.5 s ago (what the older rule asked), but its floor is the same base: not growing.
        let mut g = GrowthTracker::new();
        for i in 0..100u64 {
            let phase = (i + 22) % 50;
            let burst = match phase {
                0..=3 => phase * 500,
                4..=23 => 2000,
                _ => 0,
            };
            g.record(i * 100, OwnerId(1), 5000 + burst, true).unwrap();
            // A leak with the same churn on top still grows.
            g.record(i * 100, OwnerId(2), 5000 + i * 20 + burst, true)
                .unwrap();
        }
        assert!(!g.sustained_growth(OwnerId(1)));
        assert!(g.sustained_growth(OwnerId(2)));
    }
}

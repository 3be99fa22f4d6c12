//! Least-squares line fit over a sliding window, kept as exact integer running sums so that
//! adding the newest point and removing the oldest cost O(1) and never drift (floating-point
//! sums would accumulate rounding error over days of sampling). Only the final slope and
//! goodness of fit are computed in `f64`. Used by the predictor (free pages and usable pages
//! vs time) and by the growth tracker (pages held per owner vs time).

/// Largest time a point may have (2^40 ms, about 35 years); later times are clamped.
const T_MAX: u64 = 1 << 40;
/// Largest value a point may have (2^32: the allocator covers fewer frames); larger values
/// are clamped. With these bounds and at most 10 000 points no sum or product below can
/// overflow an `i128`.
const Y_MAX: u64 = 1 << 32;

/// `x` as `f64`. The centred sums below are small even when the raw sums are not, so the value
/// nearly always fits an `i64`, whose conversion is one instruction; a general `i128`
/// conversion is a library call that was a fifth of a predictor update.
fn to_f64(x: i128) -> f64 {
    match i64::try_from(x) {
        Ok(v) => v as f64,
        Err(_) => x as f64,
    }
}

/// Running sums of the points `(t, y)` currently in a window (at most 10 000 points).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct LineFit {
    n: i128,
    st: i128,
    sy: i128,
    stt: i128,
    sty: i128,
    syy: i128,
}

impl LineFit {
    /// An empty fit.
    pub(crate) const EMPTY: LineFit = LineFit {
        n: 0,
        st: 0,
        sy: 0,
        stt: 0,
        sty: 0,
        syy: 0,
    };

    /// Adds the point `(t, y)`.
    pub(crate) fn add(&mut self, t: u64, y: u64) {
        let (t, y) = (i128::from(t.min(T_MAX)), i128::from(y.min(Y_MAX)));
        self.n += 1;
        self.st += t;
        self.sy += y;
        self.stt += t * t;
        self.sty += t * y;
        self.syy += y * y;
    }

    /// Removes the point `(t, y)`, which must have been added before.
    pub(crate) fn remove(&mut self, t: u64, y: u64) {
        let (t, y) = (i128::from(t.min(T_MAX)), i128::from(y.min(Y_MAX)));
        self.n -= 1;
        self.st -= t;
        self.sy -= y;
        self.stt -= t * t;
        self.sty -= t * y;
        self.syy -= y * y;
    }

    /// Number of points.
    pub(crate) fn len(&self) -> usize {
        usize::try_from(self.n).unwrap_or(0)
    }

    /// n·Σt² − (Σt)²: n² times the variance of t (exact).
    fn var_t(&self) -> i128 {
        self.n * self.stt - self.st * self.st
    }

    /// n·Σy² − (Σy)².
    fn var_y(&self) -> i128 {
        self.n * self.syy - self.sy * self.sy
    }

    /// n·Σty − Σt·Σy.
    fn cov(&self) -> i128 {
        self.n * self.sty - self.st * self.sy
    }

    /// Slope dy/dt of the least-squares line, `None` with fewer than two distinct times.
    pub(crate) fn slope(&self) -> Option<f64> {
        let var_t = self.var_t();
        if self.n < 2 || var_t <= 0 {
            return None;
        }
        Some(to_f64(self.cov()) / to_f64(var_t))
    }

    /// Slope (as [`LineFit::slope`]) and coefficient of determination R² in 0..=1 — the
    /// share of the variance of y the line explains; 0 when y is constant (a flat line
    /// explains nothing new) or with fewer than three points. One pass over the sums: the
    /// 128-bit products and their conversions are the cost of a predictor update.
    pub(crate) fn slope_and_r_squared(&self) -> (Option<f64>, f64) {
        let var_t = self.var_t();
        if self.n < 2 || var_t <= 0 {
            return (None, 0.0);
        }
        let cov = to_f64(self.cov());
        let var_t = to_f64(var_t);
        let slope = cov / var_t;
        if self.n < 3 {
            return (Some(slope), 0.0);
        }
        let var_y = self.var_y();
        if var_y <= 0 {
            return (Some(slope), 0.0);
        }
        let r2 = slope * (cov / to_f64(var_y));
        (Some(slope), r2.clamp(0.0, 1.0))
    }

    /// R² alone (see [`LineFit::slope_and_r_squared`]).
    #[cfg(test)]
    pub(crate) fn r_squared(&self) -> f64 {
        self.slope_and_r_squared().1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line() {
        let mut fit = LineFit::EMPTY;
        for t in 0..10u64 {
            fit.add(t * 100, 5000 - 3 * t * 100);
        }
        assert_eq!(fit.len(), 10);
        assert!((fit.slope().unwrap() + 3.0).abs() < 1e-12);
        assert!((fit.r_squared() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn remove_restores_previous_state() {
        let mut fit = LineFit::EMPTY;
        fit.add(1, 10);
        let before = fit;
        fit.add(2, 40);
        fit.remove(2, 40);
        assert_eq!(fit, before);
        assert_eq!(fit.slope(), None);
    }

    #[test]
    fn flat_and_degenerate() {
        let mut fit = LineFit::EMPTY;
        for t in 0..5u64 {
            fit.add(t, 7);
        }
        assert_eq!(fit.slope(), Some(0.0));
        assert_eq!(fit.r_squared(), 0.0);
        let mut same_time = LineFit::EMPTY;
        same_time.add(3, 1);
        same_time.add(3, 2);
        assert_eq!(same_time.slope(), None);
    }

    #[test]
    fn conversion_is_exact_on_both_paths() {
        assert_eq!(to_f64(-5), -5.0);
        assert_eq!(to_f64(1i128 << 100), 2f64.powi(100));
    }

    #[test]
    fn huge_times_do_not_overflow() {
        let mut fit = LineFit::EMPTY;
        let base = 1u64 << 39;
        for i in 0..100u64 {
            fit.add(base + i * 100, u64::from(u32::MAX) - i);
        }
        assert!((fit.slope().unwrap() + 0.01).abs() < 1e-9);
    }

    use proptest::prelude::*;

    proptest! {
        /// The running sums, after any sequence of adds and removals of a sliding window,
        /// give the slope a direct two-pass computation gives.
        #[test]
        fn sliding_sums_match_direct_fit(
            points in proptest::collection::vec((0u64..1_000_000, 0u64..5_000_000), 3..300),
            window in 3usize..120,
        ) {
            let mut sorted = points.clone();
            sorted.sort_by_key(|p| p.0);
            let mut fit = LineFit::EMPTY;
            for (i, &(t, y)) in sorted.iter().enumerate() {
                fit.add(t, y);
                if i >= window {
                    let (old_t, old_y) = sorted[i - window];
                    fit.remove(old_t, old_y);
                }
            }
            let live = &sorted[sorted.len().saturating_sub(window)..];
            prop_assert_eq!(fit.len(), live.len());
            let n = live.len() as f64;
            let mt = live.iter().map(|p| p.0 as f64).sum::<f64>() / n;
            let my = live.iter().map(|p| p.1 as f64).sum::<f64>() / n;
            let stt: f64 = live.iter().map(|p| (p.0 as f64 - mt).powi(2)).sum();
            let sty: f64 = live.iter().map(|p| (p.0 as f64 - mt) * (p.1 as f64 - my)).sum();
            match fit.slope() {
                None => prop_assert!(stt == 0.0),
                Some(slope) => {
                    let direct = sty / stt;
                    prop_assert!((slope - direct).abs() <= 1e-6 * direct.abs().max(1.0),
                        "{} vs {}", slope, direct);
                }
            }
            let r2 = fit.r_squared();
            prop_assert!((0.0..=1.0).contains(&r2));
        }
    }
}

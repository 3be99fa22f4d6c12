//! Decision-latency measurement: [`TimedPolicy`] wraps any policy and times every `pick_next`
//! (plus the `on_descheduled` training hook, reported separately) with a clock the caller
//! supplies — `std::time::Instant` in the host simulator, the TSC in the kernel — into a fixed
//! log-linear histogram ([`LatencyHistogram`]: no allocation, 4 buckets per power of two, so a
//! percentile is exact to within 19 %).

use core::fmt::Write;

use crate::ids::ThreadId;
use crate::policy::SchedPolicy;
use crate::thread::{ThreadTableView, ThreadView};

const SUB: usize = 4;
const BUCKETS: usize = 64 * SUB;

/// A log-linear histogram of nanosecond durations.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    counts: [u32; BUCKETS],
    total: u64,
    max: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: [0; BUCKETS],
            total: 0,
            max: 0,
        }
    }
}

fn bucket_of(ns: u64) -> usize {
    if ns < SUB as u64 {
        return ns as usize;
    }
    let msb = 63 - ns.leading_zeros() as usize;
    let frac = ((ns >> (msb - 2)) & 0b11) as usize;
    (msb * SUB + frac).min(BUCKETS - 1)
}

fn bucket_upper(b: usize) -> u64 {
    if b < SUB {
        return b as u64;
    }
    let msb = b / SUB;
    let frac = (b % SUB) as u64;
    ((4 + frac + 1) << (msb - 2)).saturating_sub(1)
}

impl LatencyHistogram {
    /// Adds one sample.
    pub fn record(&mut self, ns: u64) {
        if let Some(c) = self.counts.get_mut(bucket_of(ns)) {
            *c = c.saturating_add(1);
        }
        self.total += 1;
        self.max = self.max.max(ns);
    }

    /// Samples recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Largest sample.
    pub fn max(&self) -> u64 {
        self.max
    }

    /// The `q`-quantile (0 < q ≤ 1), as the upper edge of its bucket (capped at the maximum).
    pub fn quantile(&self, q: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = libm::ceil((self.total as f64) * q).max(1.0) as u64;
        let mut seen = 0u64;
        for (b, c) in self.counts.iter().enumerate() {
            seen += u64::from(*c);
            if seen >= rank {
                return bucket_upper(b).min(self.max);
            }
        }
        self.max
    }
}

/// Wraps a policy and times its decisions.
pub struct TimedPolicy<P: SchedPolicy> {
    inner: P,
    clock: fn() -> u64,
    /// `pick_next` durations.
    pub picks: LatencyHistogram,
    /// `on_descheduled` durations (where online training runs).
    pub trains: LatencyHistogram,
}

impl<P: SchedPolicy> TimedPolicy<P> {
    /// Wraps `inner`, reading time in ns from `clock`.
    pub fn new(inner: P, clock: fn() -> u64) -> Self {
        TimedPolicy {
            inner,
            clock,
            picks: LatencyHistogram::default(),
            trains: LatencyHistogram::default(),
        }
    }

    /// The wrapped policy.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    /// Unwraps the policy.
    pub fn into_inner(self) -> P {
        self.inner
    }
}

impl<P: SchedPolicy> SchedPolicy for TimedPolicy<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn on_runnable(&mut self, thread: &ThreadView<'_>, now_ns: u64) {
        self.inner.on_runnable(thread, now_ns);
    }

    fn on_removed(&mut self, tid: ThreadId) {
        self.inner.on_removed(tid);
    }

    fn pick_next(&mut self, now_ns: u64, threads: &ThreadTableView<'_>) -> Option<ThreadId> {
        let t0 = (self.clock)();
        let pick = self.inner.pick_next(now_ns, threads);
        self.picks.record((self.clock)().saturating_sub(t0));
        pick
    }

    fn quantum_ns(&self, thread: &ThreadView<'_>) -> u64 {
        self.inner.quantum_ns(thread)
    }

    fn wants_preemption(&self, running: &ThreadView<'_>, now_ns: u64) -> bool {
        self.inner.wants_preemption(running, now_ns)
    }

    fn on_descheduled(&mut self, thread: &ThreadView<'_>, ran_ns: u64, preempted: bool, now: u64) {
        let t0 = (self.clock)();
        self.inner.on_descheduled(thread, ran_ns, preempted, now);
        self.trains.record((self.clock)().saturating_sub(t0));
    }

    fn counters(&self) -> crate::policy::PolicyCounters {
        crate::policy::PolicyCounters {
            pick_p50_ns: self.picks.quantile(0.5),
            pick_p99_ns: self.picks.quantile(0.99),
            ..self.inner.counters()
        }
    }

    fn report(&self, out: &mut dyn Write) -> core::fmt::Result {
        writeln!(
            out,
            "decision latency: p50 {} ns, p99 {} ns, max {} ns over {} picks",
            self.picks.quantile(0.5),
            self.picks.quantile(0.99),
            self.picks.max(),
            self.picks.count()
        )?;
        writeln!(
            out,
            "deschedule hook (training) latency: p50 {} ns, p99 {} ns",
            self.trains.quantile(0.5),
            self.trains.quantile(0.99)
        )?;
        self.inner.report(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_within_a_bucket() {
        let mut h = LatencyHistogram::default();
        for ns in 1..=1000u64 {
            h.record(ns * 100);
        }
        let p50 = h.quantile(0.5);
        assert!((50_000..=60_000).contains(&p50), "{p50}");
        let p99 = h.quantile(0.99);
        assert!((99_000..=100_000).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0), 100_000);
        assert_eq!(LatencyHistogram::default().quantile(0.5), 0);
    }
}

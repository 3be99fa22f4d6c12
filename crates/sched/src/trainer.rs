//! Online training of the learned policy's model **outside the decision path**.
//!
//! The policy ([`crate::learned::LearnedPolicy`]) runs inside the scheduler, i.e. with interrupts
//! off and, for preemptions, in the timer interrupt. There it only *records*: when a slice ends,
//! `on_descheduled` turns the pick's feature set and what really happened into a [`Sample`] and
//! offers it to a fixed ring in the shared [`TrainerLink`] — a `try_lock` that never waits,
//! never allocates, and drops the sample (counted) if the ring is busy. A [`Trainer`] — a kernel
//! thread in the kernel, a callback at every timer tick in the host simulator — drains the ring,
//! takes the Adam steps on its own f32 copy of the model (with a small replay buffer), and
//! publishes the weights with a version number. The policy adopts a newer version at most every
//! [`ADOPT_EVERY_NS`] with another `try_lock`; until a trainer has published anything (or when
//! none runs) it decides with the weights it was built with — the prior, whose order is
//! SJF-EWMA's (the averaged burst).
//!
//! Locks are `spin::Mutex`es, but only the trainer ever waits on one, and only for the other
//! side's short copy; the scheduler side never spins.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use alloc::collections::VecDeque;
use alloc::sync::Arc;
use spin::Mutex;

use crate::attention::{AttentionModel, PARAMS, QuantModel, SetFeatures};

/// Samples the ring holds; older ones are overwritten when the trainer falls behind.
pub const RING: usize = 128;
/// How often the trainer drains the ring (the kernel thread's period; the simulator's too). It
/// runs at low priority, so in the kernel it mostly uses idle time, and a long period keeps its
/// own wake-ups from adding context switches to the workload's.
pub const TRAIN_PERIOD_NS: u64 = 20_000_000;
/// Replayed samples kept per kind (exact, censored).
const REPLAY: usize = 8;
/// The policy adopts published weights at most this often (each adoption recomputes the cached
/// projections of the threads it ranks, so it is rate-limited to keep decisions bounded).
pub const ADOPT_EVERY_NS: u64 = 10_000_000;

/// One resolved training example: the runnable set at a pick, the row picked, and the observed
/// remaining burst (log scale). `censored`: the slice was preempted, so the burst is *at least*
/// the target and only an underestimate is corrected.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Feature rows at the pick.
    pub set: SetFeatures,
    /// The picked row.
    pub row: usize,
    /// Observed remaining burst since the pick, log scale.
    pub target: f32,
    /// Lower bound only (preempted).
    pub censored: bool,
}

/// The ring: capacity reserved once (on the heap: 128 samples are ~70 KiB, too much for a
/// kernel stack), never grown — a full ring drops its oldest sample.
#[derive(Debug)]
struct Ring {
    buf: VecDeque<Sample>,
}

/// A published weight version: the trainer's f32 parameters and, folded and quantised from them
/// by the trainer, the integer weights the decision uses — so the policy never runs f32 work to
/// adopt them.
#[derive(Clone, Copy, Debug)]
pub struct Published {
    /// The f32 parameters.
    pub params: [f32; PARAMS],
    /// The same weights for the decision path ([`AttentionModel::quantize`]).
    pub quant: QuantModel,
    /// Version (0: the weights the link was built with).
    pub version: u32,
}

/// What the policy and its trainer share: the sample ring, the published weights and the
/// training counters.
#[derive(Debug)]
pub struct TrainerLink {
    ring: Mutex<Ring>,
    weights: Mutex<Published>,
    version: AtomicU32,
    dropped: AtomicU64,
    exact_steps: AtomicU64,
    censored_steps: AtomicU64,
    early_loss: AtomicU32,
    recent_loss: AtomicU32,
}

/// Training counters, read by the policy's report.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TrainStats {
    /// Steps on complete bursts.
    pub exact_steps: u64,
    /// Steps on censored (preempted) bursts.
    pub censored_steps: u64,
    /// Mean loss of the first 50 steps.
    pub early_loss: f32,
    /// Exponential average of the loss (α = 0.02).
    pub recent_loss: f32,
    /// Samples lost because the ring was busy or full.
    pub dropped: u64,
    /// Published weight versions.
    pub version: u32,
}

impl TrainerLink {
    /// A link whose published weights are `model`'s at version 0 (nothing trained yet).
    pub fn new(model: &AttentionModel) -> Self {
        TrainerLink {
            ring: Mutex::new(Ring {
                buf: VecDeque::with_capacity(RING),
            }),
            weights: Mutex::new(Published {
                params: model.params,
                quant: model.quantize(),
                version: 0,
            }),
            version: AtomicU32::new(0),
            dropped: AtomicU64::new(0),
            exact_steps: AtomicU64::new(0),
            censored_steps: AtomicU64::new(0),
            early_loss: AtomicU32::new(0),
            recent_loss: AtomicU32::new(0),
        }
    }

    /// Records a sample without waiting: if the trainer holds the ring it is dropped; if the
    /// ring is full the oldest is overwritten. Both count as dropped.
    pub fn offer(&self, sample: Sample) {
        let Some(mut ring) = self.ring.try_lock() else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if ring.buf.len() >= RING {
            ring.buf.pop_front();
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        // Never beyond the capacity reserved in `new`: no allocation here.
        ring.buf.push_back(sample);
    }

    fn pop(&self) -> Option<Sample> {
        self.ring.lock().buf.pop_front()
    }

    /// Samples waiting.
    pub fn pending(&self) -> usize {
        self.ring.try_lock().map_or(0, |r| r.buf.len())
    }

    /// Latest published version (0: nothing trained yet).
    pub fn version(&self) -> u32 {
        self.version.load(Ordering::Acquire)
    }

    /// The published weights if their version differs from `have`, without waiting.
    pub fn try_weights(&self, have: u32) -> Option<Published> {
        if self.version() == have {
            return None;
        }
        let w = self.weights.try_lock()?;
        Some(*w)
    }

    fn publish(&self, model: &AttentionModel) {
        // Quantised before taking the lock: the policy's try_lock never finds it held for this.
        let quant = model.quantize();
        let mut w = self.weights.lock();
        w.params = model.params;
        w.quant = quant;
        w.version = w.version.wrapping_add(1).max(1);
        self.version.store(w.version, Ordering::Release);
    }

    /// The training counters.
    pub fn stats(&self) -> TrainStats {
        TrainStats {
            exact_steps: self.exact_steps.load(Ordering::Relaxed),
            censored_steps: self.censored_steps.load(Ordering::Relaxed),
            early_loss: f32::from_bits(self.early_loss.load(Ordering::Relaxed)),
            recent_loss: f32::from_bits(self.recent_loss.load(Ordering::Relaxed)),
            dropped: self.dropped.load(Ordering::Relaxed),
            version: self.version(),
        }
    }
}

/// The training side: an f32 model with Adam state and a replay buffer, fed from the link.
#[derive(Debug)]
pub struct Trainer {
    model: AttentionModel,
    link: Arc<TrainerLink>,
    replay: [[Option<Sample>; REPLAY]; 2],
    replay_next: [usize; 2],
    replay_turn: usize,
    early_sum: f32,
    steps: u64,
    recent: f32,
}

impl Trainer {
    /// A trainer starting from `model`, sharing `link` with a policy.
    pub fn new(model: AttentionModel, link: Arc<TrainerLink>) -> Self {
        Trainer {
            model,
            link,
            replay: [[None; REPLAY]; 2],
            replay_next: [0; 2],
            replay_turn: 0,
            early_sum: 0.0,
            steps: 0,
            recent: 0.0,
        }
    }

    /// The link it drains.
    pub fn link(&self) -> &Arc<TrainerLink> {
        &self.link
    }

    /// Takes up to `max` samples from the ring, one Adam step each (plus one replayed sample),
    /// and publishes the weights if anything was learned. Returns the samples used.
    pub fn drain(&mut self, max: usize) -> usize {
        let mut used = 0;
        while used < max {
            let Some(s) = self.link.pop() else { break };
            self.learn(&s);
            used += 1;
        }
        if used > 0 {
            self.link.publish(&self.model);
        }
        used
    }

    fn learn(&mut self, s: &Sample) {
        let kind = usize::from(s.censored);
        let slot = self.replay_next[kind];
        self.replay[kind][slot] = Some(*s);
        self.replay_next[kind] = (slot + 1) % REPLAY;
        // Replay one stored sample, alternating kinds: exact bursts outnumber censored ones
        // ~100:1 on a mix of short and CPU-bound threads, so without replay the model never
        // learns what a long-running thread looks like.
        self.replay_turn = (self.replay_turn + 1) % (2 * REPLAY);
        let (rk, ri) = (self.replay_turn % 2, self.replay_turn / 2);
        if let Some(r) = self.replay[rk][ri] {
            let y = self.model.forward(&r.set)[r.row];
            if !r.censored || y < r.target {
                self.model.train_step(&r.set, r.row, r.target);
            }
        }
        let loss = self.model.train_step(&s.set, s.row, s.target);
        let counter = if s.censored {
            &self.link.censored_steps
        } else {
            &self.link.exact_steps
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.steps += 1;
        if self.steps <= 50 {
            self.early_sum += loss;
            let early = self.early_sum / self.steps as f32;
            self.link
                .early_loss
                .store(early.to_bits(), Ordering::Relaxed);
            self.recent = early;
        } else {
            self.recent = 0.98 * self.recent + 0.02 * loss;
        }
        self.link
            .recent_loss
            .store(self.recent.to_bits(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(target: f32) -> Sample {
        let mut set = SetFeatures::new();
        set.push([0.3, 0.2, 0.0, 0.5, 0.0, 0.4, 0.33, 1.0]);
        set.push([0.6, 0.7, 0.1, 0.9, 0.5, 0.1, 0.33, 1.0]);
        Sample {
            set,
            row: 1,
            target,
            censored: false,
        }
    }

    #[test]
    fn the_ring_keeps_the_newest_samples_and_counts_what_it_drops() {
        let link = TrainerLink::new(&AttentionModel::new(true, 1));
        for i in 0..RING + 5 {
            link.offer(sample(i as f32));
        }
        assert_eq!(link.pending(), RING);
        assert_eq!(link.stats().dropped, 5);
        assert_eq!(link.pop().map(|s| s.target), Some(5.0));
        // While the trainer holds the ring, an offer is dropped instead of waiting.
        let guard = link.ring.lock();
        link.offer(sample(1.0));
        drop(guard);
        assert_eq!(link.stats().dropped, 6);
    }

    #[test]
    fn draining_trains_publishes_and_the_policy_side_sees_a_new_version() {
        let model = AttentionModel::new(true, 1);
        let link = Arc::new(TrainerLink::new(&model));
        let mut trainer = Trainer::new(model.clone(), link.clone());
        assert_eq!(trainer.drain(8), 0);
        assert!(link.try_weights(0).is_none(), "nothing published yet");
        let before = model.forward(&sample(0.0).set)[1];
        for _ in 0..200 {
            link.offer(sample(0.9));
            trainer.drain(8);
        }
        let published = link.try_weights(0).unwrap();
        assert_eq!(published.version, 200);
        assert!(link.try_weights(published.version).is_none());
        let mut adopted = model.clone();
        adopted.params = published.params;
        // The integer weights are those of the published parameters, not of the prior.
        assert_eq!(published.quant, adopted.quantize());
        assert_ne!(published.quant, model.quantize());
        let after = adopted.forward(&sample(0.0).set)[1];
        assert!(
            (after - 0.9).abs() < (before - 0.9).abs() / 2.0,
            "{before} -> {after}"
        );
        let stats = link.stats();
        assert_eq!(stats.exact_steps, 200);
        assert!(stats.recent_loss < stats.early_loss, "{stats:?}");
    }
}

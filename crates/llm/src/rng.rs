//! The model's random numbers: the workspace's pinned xoshiro256** (seeded through SplitMix64,
//! from the `rng` crate) with the float and integer helpers that init and sampling need.
//!
//! Results must be bit-identical across platforms and crate versions (a model trained from
//! seed 7 today must be the same model tomorrow), so the bits come from the `rng` crate, whose
//! known-answer tests pin the stream; the helpers here are fixed arithmetic on it (24-bit
//! floats, Box–Muller through libm, rejection sampling). Used by init ([`crate::model`]),
//! sampling ([`mod@crate::generate`]) and LoRA init ([`crate::lora`]).

/// xoshiro256** generator with the model's helpers. Not cryptographic.
#[derive(Debug, Clone)]
pub struct Rng(::rng::Xoshiro256StarStar);

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(::rng::Xoshiro256StarStar::new(seed))
    }

    /// Next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1) with 24 bits of precision (exactly representable in f32).
    pub fn next_f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.next_f32()
    }

    /// Standard normal sample (Box–Muller; one of the pair is discarded for simplicity).
    pub fn normal(&mut self) -> f32 {
        // 1 - u lies in (0, 1], so the log is finite.
        let u1 = 1.0 - self.next_f32();
        let u2 = self.next_f32();
        libm::sqrtf(-2.0 * libm::logf(u1)) * libm::cosf(core::f32::consts::TAU * u2)
    }

    /// Uniform integer in 0..n (n > 0), by rejection so there is no modulo bias.
    pub fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let x = self.next_u64();
            if x < zone {
                return x % n;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_seed_sensitive() {
        let mut r1 = Rng::new(42);
        let mut r2 = Rng::new(42);
        let mut r3 = Rng::new(43);
        let s1: alloc::vec::Vec<u64> = (0..8).map(|_| r1.next_u64()).collect();
        let s2: alloc::vec::Vec<u64> = (0..8).map(|_| r2.next_u64()).collect();
        let s3: alloc::vec::Vec<u64> = (0..8).map(|_| r3.next_u64()).collect();
        assert_eq!(s1, s2);
        assert_ne!(s1, s3);
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(1);
        let n = 20_000;
        let xs: alloc::vec::Vec<f32> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f32>() / n as f32;
        let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n as f32;
        assert!(mean.abs() < 0.05, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
        let mut r = Rng::new(2);
        assert!((0..1000).all(|_| r.below(7) < 7));
    }
}

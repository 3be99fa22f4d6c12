//! The seeded generator behind the corpus and the fine-tune data: the workspace's pinned
//! SplitMix64 ([`rng::SplitMix64`], re-exported so that `oslang::rng::SplitMix64` keeps
//! working for the tools).
//!
//! The corpus must stay byte-identical for a given seed across dependency upgrades, so it
//! draws only from the `rng` crate, whose known-answer tests pin the stream and the draw
//! count of `below`, `range` and `pick`. Neighbours: [`crate::corpus`], [`crate::finetune`].

pub use ::rng::SplitMix64;

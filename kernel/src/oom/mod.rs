//! Predictive OOM handling in the running kernel (issue 3): the sampler that feeds the
//! `oom` crate's crash predictor, the movable-memory pool and its compaction, the reclaim
//! registry, the response ladder, the stress workloads and the `crashctl`/`memctl` commands.

use shell::CommandRegistry;

use crate::commands::KernelCtx;

/// Adds this subsystem's commands to the shell registry.
pub fn register(_registry: &mut CommandRegistry<KernelCtx>) {}

/// Starts this subsystem's kernel threads (called once, before the shell starts).
pub fn start() {}

//! Predictive OOM handling in the running kernel (issue 3): the sampler that feeds the
//! `oom` crate's crash predictor, the movable-memory pool and its compaction, the reclaim
//! registry, the response ladder, the stress workloads and the `crashctl`/`memctl` commands.
//!
//! Modules: `pool` (workload memory behind relocatable handles, content-checked), `compact`
//! (the compaction executor over `buddy::compaction`), `reclaim` (the shrinker registry),
//! `workload` (scenario actors as kernel threads, the OOM-kill rule), `monitor` (the 10 Hz
//! sampler, predictor, baselines, ladder and action log), `eval` (`crashctl eval`), `commands`
//! (the shell commands), `ktests` (in-kernel tests of the pool, compaction and the watermark).
//! The rules themselves — watermark, scenarios, predictor, ladder, the eval line format — live
//! in the `oom` crate, shared with the host simulator.
//!
//! Locks: the run table (`workload`), the `monitor` and the pool are never held together; the
//! only nesting is pool → frame allocator (a migration claims its destination and frees its
//! source under the pool lock). The failure hook touches atomics only. No lock is held while
//! printing.

mod commands;
pub mod compact;
pub mod eval;
#[cfg(feature = "ktest")]
pub mod ktests;
pub mod monitor;
pub mod pool;
pub mod reclaim;
pub mod state;
pub mod workload;

use shell::CommandRegistry;

use crate::commands::KernelCtx;

pub use self::commands::MEMCTL as MEMCTL_SUBCOMMANDS;

/// Adds this subsystem's commands to the shell registry (its `memctl` subcommands are added
/// to the foundation's group by `commands::registry` through [`MEMCTL_SUBCOMMANDS`]).
pub fn register(registry: &mut CommandRegistry<KernelCtx>) {
    // The name is a distinct literal; a refusal would only lose the group, which the e2e
    // tests of crashctl would catch.
    let _ = registry.register_group("crashctl", "OOM crash predictor", &commands::CRASHCTL);
}

/// The workload cache actor's shrinker, the first entry of the reclaim registry.
const CACHE_SHRINKER: reclaim::Shrinker = reclaim::Shrinker {
    name: "workload-cache",
    count: workload::cache_pages,
    scan: workload::shrink_cache,
};

/// The block cache's shrinker (storage issue): cached disk chunks and ext4 metadata.
const BLOCK_CACHE_SHRINKER: reclaim::Shrinker = reclaim::Shrinker {
    name: "block-cache",
    count: || crate::storage::reclaimable_pages() as u64,
    scan: |pages| crate::storage::reclaim(usize::try_from(pages).unwrap_or(usize::MAX)) as u64,
};

/// Starts this subsystem's kernel threads (called once, before the shell starts). Failures
/// are reported on the console; the shell still starts, and the commands say what is missing.
pub fn start() {
    if let Err(e) = pool::init() {
        hal::println!("oom: movable pool unavailable: {e}");
    }
    if let Err(e) = compact::init() {
        hal::println!("oom: compaction unavailable: {e}");
    }
    if reclaim::register(CACHE_SHRINKER)
        .and_then(|()| reclaim::register(BLOCK_CACHE_SHRINKER))
        .is_err()
    {
        hal::println!("oom: reclaim registry full");
    }
    if let Err(e) = monitor::start() {
        hal::println!("oom: sampler not started: {e}");
    }
}

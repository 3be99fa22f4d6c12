//! The reclaim registry: shrinkers that can give memory back on request, like Linux's
//! `register_shrinker`. Each [`Shrinker`] says how many pages it could free (`count`) and frees
//! up to a number of pages (`scan`), returning how many it freed.
//!
//! A shared service of the kernel (beside `ctx`), so subsystems offer memory to each other
//! without importing each other: the OOM subsystem registers the workload cache actor's
//! shrinker (its `Reclaimable` pages in the movable pool), storage registers the block cache's.
//! `memctl reclaim` and the response ladder's `Reclaim` step call [`reclaim`]. Shrinkers are
//! called outside the registry lock, so they may allocate, sleep or take their own locks.

use hal::sync::IrqMutex;

/// Most shrinkers the registry holds.
pub const MAX_SHRINKERS: usize = 8;

/// A source of reclaimable memory.
#[derive(Clone, Copy)]
pub struct Shrinker {
    /// Shown by `memctl reclaim`.
    pub name: &'static str,
    /// Pages it could free now.
    pub count: fn() -> u64,
    /// Frees up to the given number of pages; returns the pages freed.
    pub scan: fn(u64) -> u64,
}

/// The registry is full.
#[derive(Clone, Copy, Debug)]
pub struct RegistryFull;

static SHRINKERS: IrqMutex<[Option<Shrinker>; MAX_SHRINKERS]> =
    IrqMutex::new([None; MAX_SHRINKERS]);

/// Adds a shrinker (a second registration under the same name replaces the first).
pub fn register(shrinker: Shrinker) -> Result<(), RegistryFull> {
    let mut table = SHRINKERS.lock();
    let slot = table
        .iter()
        .position(|s| s.is_some_and(|s| s.name == shrinker.name))
        .or_else(|| table.iter().position(Option::is_none))
        .ok_or(RegistryFull)?;
    table[slot] = Some(shrinker);
    Ok(())
}

fn shrinkers() -> [Option<Shrinker>; MAX_SHRINKERS] {
    *SHRINKERS.lock()
}

/// Pages all shrinkers together could free now.
pub fn reclaimable_pages() -> u64 {
    shrinkers().iter().flatten().map(|s| (s.count)()).sum()
}

/// What one reclaim pass freed, per shrinker.
#[derive(Clone, Copy, Debug, Default)]
pub struct ReclaimReport {
    pub freed: [(Option<&'static str>, u64); MAX_SHRINKERS],
    pub total: u64,
    pub elapsed_ns: u64,
}

/// Asks the shrinkers in registration order for up to `pages` pages in total.
pub fn reclaim(pages: u64) -> ReclaimReport {
    let started = hal::time::now_ns();
    let mut report = ReclaimReport::default();
    for (slot, shrinker) in shrinkers().iter().enumerate() {
        let Some(s) = shrinker else { continue };
        let want = pages.saturating_sub(report.total);
        let freed = if want == 0 { 0 } else { (s.scan)(want) };
        report.freed[slot] = (Some(s.name), freed);
        report.total += freed;
    }
    report.elapsed_ns = hal::time::now_ns().saturating_sub(started);
    report
}

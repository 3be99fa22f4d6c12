//! Persistent storage: the virtio-blk data disk, its reclaimable block cache, the ext4 file
//! system mounted at boot, and the shell's file commands (`ls cat write rm mkdir mv df sync`).
//!
//! Modules: `device` (the disk and the cache's pages), `mount` (boot-time mount), `commands`
//! (the shell side), `service` (the kernel's file service, [`crate::files`], for other
//! subsystems); this file holds the mounted file system, its lock, the block-cache
//! shrinker and the storage metrics.
//!
//! Stack: `hal::virtio::VirtioBlock` (sectors, polled) → [`VirtioDisk`] (the `BlockDevice`
//! trait) → `blockcache::BlockCache` (4 KiB chunks in `Reclaimable` frames, write-through) →
//! `ext4::Ext4` (journalled metadata). Everything sits behind one lock, [`FS`]; commands take it
//! with [`with_fs`], which yields to other threads while it is busy, and the memory manager's
//! reclaim takes it with `try_lock` only, so reclaim never waits on a disk request.
//!
//! Durability contract of the commands: `write` replaces a file by writing a temporary file and
//! renaming it over the target, then commits the journal, so when it returns the new content is
//! on the disk and a crash at any moment leaves either the old or the new file. `rm`, `mkdir`
//! and `mv` commit as well. `sync` commits and flushes whatever is pending (nothing, normally).
//! `shutdown` unmounts cleanly.

mod commands;
pub mod device;
mod mount;
mod service;

use alloc::format;
use alloc::string::String;

use blockcache::{BlockCache, CacheStats};
use blockdev::BlockDevice;
use ext4::Ext4;
use metrics::{Label, MetricKind, MetricsRegistry, Value};
use shell::CommandError;

pub use self::device::{ReclaimableFrames, VirtioDisk};
use crate::ctx::Subsystem;
use crate::kmetrics::Computed;
use crate::reclaim::{self, Shrinker};

/// The table entry.
pub const SUBSYSTEM: Subsystem = Subsystem {
    name: "storage",
    start,
    commands: commands::register,
    metrics: register_metrics,
    stop: unmount,
};

type Disk = BlockCache<VirtioDisk, ReclaimableFrames>;
type Fs = Ext4<Disk>;

/// The mounted file system (None when there is no disk or it did not mount).
static FS: spin::Mutex<Option<Fs>> = spin::Mutex::new(None);
/// Why there is no file system, for `df` and the file commands.
static MOUNT_ERROR: spin::Mutex<Option<String>> = spin::Mutex::new(None);

/// The block cache's shrinker: cached disk chunks and ext4 metadata.
const BLOCK_CACHE_SHRINKER: Shrinker = Shrinker {
    name: "block-cache",
    count: || reclaimable_pages() as u64,
    scan: |pages| reclaim(usize::try_from(pages).unwrap_or(usize::MAX)) as u64,
};

/// Mounts the data disk and offers its cache to the memory manager's reclaim.
fn start(_: &'static hal::BootInfo) -> Option<String> {
    let line = mount::mount_at_boot();
    if FS.lock().is_some() {
        crate::files::install(service::STORE);
    }
    if reclaim::register(BLOCK_CACHE_SHRINKER).is_err() {
        return Some(format!(
            "{line}\nstorage: reclaim registry full, the block cache cannot be reclaimed"
        ));
    }
    Some(line)
}

/// Runs `f` on the mounted file system, waiting (by yielding) while another thread uses it.
fn with_fs<R>(f: impl FnOnce(&mut Fs) -> R) -> Result<R, CommandError> {
    loop {
        if let Some(mut guard) = FS.try_lock() {
            return match guard.as_mut() {
                Some(fs) => Ok(f(fs)),
                None => Err(CommandError::failed(match MOUNT_ERROR.lock().as_ref() {
                    Some(why) => format!("no file system mounted: {why}"),
                    None => String::from("no file system mounted"),
                })),
            };
        }
        hal::task::yield_now();
    }
}

/// Shrinker for the memory manager: drops up to `max_pages` cached disk chunks and the ext4
/// metadata cache. Returns the frames given back. Never waits: if the file system is busy it
/// frees nothing this time.
pub fn reclaim(max_pages: usize) -> usize {
    let Some(mut guard) = FS.try_lock() else {
        return 0;
    };
    let Some(fs) = guard.as_mut() else {
        return 0;
    };
    fs.drop_caches();
    fs.device_mut().reclaim(max_pages)
}

/// Pages the block cache holds now (what [`reclaim`] could free), or 0 when busy/unmounted.
pub fn reclaimable_pages() -> usize {
    FS.try_lock()
        .and_then(|g| {
            g.as_ref()
                .map(|fs| fs.device().stats().cached_chunks as usize)
        })
        .unwrap_or(0)
}

/// Commits and unmounts (before power-off). Returns a line to print when something failed.
pub fn unmount() -> Option<String> {
    crate::files::uninstall();
    let mut guard = FS.lock();
    let fs = guard.take()?;
    match fs.unmount() {
        Ok(mut disk) => disk
            .flush()
            .err()
            .map(|e| format!("storage: flush at unmount: {e}")),
        Err(e) => Some(format!("storage: unmount: {e}")),
    }
}

/// Cache counters, when mounted.
pub fn cache_stats() -> Option<CacheStats> {
    FS.try_lock()
        .and_then(|g| g.as_ref().map(|fs| fs.device().stats()))
}

fn cache_stat(read: fn(&blockcache::CacheStats) -> u64) -> Value {
    // -1 while the file system is busy or not mounted (the cache cannot be read without
    // waiting, and an export must never wait on a disk request).
    cache_stats()
        .map(|c| Value::Signed(read(&c) as i64))
        .unwrap_or(Value::Signed(-1))
}

/// The storage series: block-cache size and traffic (reclaim shows up in `reclaimed`), and
/// the requests the block device served (the language model's state shows them).
static STORAGE: [Computed; 6] = [
    Computed::new(
        MetricKind::Gauge,
        "nous_block_cache_bytes",
        "Disk data held by the block cache in reclaimable frames, in bytes (-1: not mounted or busy).",
        &[],
        || cache_stat(|c| c.cached_chunks * blockcache::CHUNK_SIZE as u64),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_block_cache_lookups_total",
        "Block-cache chunk lookups by result: hit (served from memory) or miss (read from the disk); -1: not mounted or busy.",
        &[Label::new("result", "hit")],
        || cache_stat(|c| c.hits),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_block_cache_lookups_total",
        "Block-cache chunk lookups by result: hit (served from memory) or miss (read from the disk); -1: not mounted or busy.",
        &[Label::new("result", "miss")],
        || cache_stat(|c| c.misses),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_block_cache_reclaimed_chunks_total",
        "Block-cache chunks given back to the allocator by memory-pressure reclaim (-1: not mounted or busy).",
        &[],
        || cache_stat(|c| c.reclaimed),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_block_device_requests_total",
        "Requests issued to the block device by operation (-1: not mounted or busy).",
        &[Label::new("op", "read")],
        || cache_stat(|c| c.device_reads),
    ),
    Computed::new(
        MetricKind::Counter,
        "nous_block_device_requests_total",
        "Requests issued to the block device by operation (-1: not mounted or busy).",
        &[Label::new("op", "write")],
        || cache_stat(|c| c.device_writes),
    ),
];

fn register_metrics(r: &mut MetricsRegistry) {
    for m in STORAGE.iter() {
        // Distinct names and labels: a refusal only drops the series (the ktest counts them).
        let _ = r.register(m);
    }
}

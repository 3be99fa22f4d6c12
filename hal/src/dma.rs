//! DMA memory for devices: coherent blocks for queues, and a bounce pool for buffers the
//! device cannot reach by address.
//!
//! The kernel's RAM is identity-offset in the direct map, so a buffer that lies there (an
//! `OwnedFrame`) is handed to a device by address. Any other buffer — the request header a
//! driver keeps on the calling thread's stack, a heap `Vec` (the heap is mapped page by page,
//! so it is not physically contiguous) — is copied through a *bounce block*: a whole block of
//! 2^order frames of the direct map, taken from [`Pool`].
//!
//! The pool grows from the frame allocator on demand, caches blocks that come back, and is
//! capped ([`Pool::limit_bytes`]: a sixty-fourth of RAM, between 1 MiB and 16 MiB), so a burst
//! of requests cannot move all free memory into bounce buffers. Running out is an error, never
//! a panic, and it surfaces *before* a request is submitted: a driver first [`reserve`]s the
//! bounce blocks its request needs (fallible: [`DmaError`]), then calls into `virtio-drivers`,
//! whose `Hal::share` (which has no error channel) takes the blocks the calling thread
//! reserved. A share without a reservation (none of hal's drivers does this) takes a free
//! block that no reservation holds, or grows the pool, or — only if both are impossible —
//! yields until another request gives a block back: it waits, it does not panic.
//!
//! Neighbours: [`crate::virtio`] (the `Hal` implementation calls [`share`]/[`unshare`] and
//! [`alloc_coherent`]), [`crate::mem::frames`] (where the blocks come from).

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use buddy::{MigrateType, memmap};
use sched::ThreadId;

use crate::mem::frames;
use crate::mem::layout::{DIRECT_MAP_BASE, PAGE_SIZE, phys_to_virt};
use crate::sync::IrqMutex;

/// Largest bounce block: order 4, 64 KiB (the largest transfer hal's drivers make at once).
pub const MAX_BOUNCE_ORDER: usize = 4;
const CLASSES: usize = MAX_BOUNCE_ORDER + 1;
/// Reservations that can be active at once (one per thread in a request).
const MAX_RESERVATIONS: usize = 16;
/// Most blocks one reservation may hold.
pub const MAX_BLOCKS_PER_RESERVATION: usize = 8;

/// Why DMA memory could not be had.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaError {
    /// The frame allocator has no block of the needed order.
    NoMemory,
    /// The bounce pool is at its cap.
    PoolExhausted { limit_bytes: u64 },
    /// A buffer larger than the largest bounce block, or more blocks than one reservation holds.
    TooLarge,
    /// Every reservation slot is in use, or the caller is not a kernel thread.
    Busy,
}

impl core::fmt::Display for DmaError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DmaError::NoMemory => write!(f, "no free memory for a DMA bounce buffer"),
            DmaError::PoolExhausted { limit_bytes } => write!(
                f,
                "the DMA bounce pool is full ({} KiB)",
                limit_bytes / 1024
            ),
            DmaError::TooLarge => write!(f, "DMA buffer larger than the largest bounce block"),
            DmaError::Busy => write!(f, "too many DMA requests at once"),
        }
    }
}

/// Counters of the pool, for diagnostics and the self-test.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Bytes of frames the pool holds (cached free blocks and blocks lent to devices).
    pub held_bytes: u64,
    /// Bytes lent to devices right now.
    pub lent_bytes: u64,
    /// The cap on `held_bytes`.
    pub limit_bytes: u64,
    /// Blocks reserved by requests and not yet taken.
    pub reserved_blocks: u64,
    /// Reservations refused (pool at its cap or no memory).
    pub refusals: u64,
    /// Shares that had to wait for a block (no reservation covered them).
    pub waits: u64,
}

struct Reservation {
    thread: ThreadId,
    /// Blocks still promised to `thread`, per order.
    blocks: [u8; CLASSES],
}

struct Pool {
    /// Cached free blocks per order (physical addresses).
    free: [Vec<u64>; CLASSES],
    /// Blocks promised to reservations, per order: `free[o].len() >= reserved[o]` always.
    reserved: [usize; CLASSES],
    reservations: [Option<Reservation>; MAX_RESERVATIONS],
    held_bytes: u64,
    lent_bytes: u64,
    refusals: u64,
}

static POOL: IrqMutex<Pool> = IrqMutex::new(Pool {
    free: [const { Vec::new() }; CLASSES],
    reserved: [0; CLASSES],
    reservations: [const { None }; MAX_RESERVATIONS],
    held_bytes: 0,
    lent_bytes: 0,
    refusals: 0,
});
static WAITS: AtomicU64 = AtomicU64::new(0);

fn block_bytes(order: usize) -> u64 {
    PAGE_SIZE << order
}

/// The pool's cap: a sixty-fourth of RAM, between 1 MiB and 16 MiB.
fn limit_bytes() -> u64 {
    (frames::stats().total_pages * PAGE_SIZE / 64).clamp(1 << 20, 16 << 20)
}

impl Pool {
    /// Adds one block of `order` to the free cache, from the frame allocator.
    fn grow(&mut self, order: usize) -> Result<(), DmaError> {
        let limit = limit_bytes();
        if self.held_bytes + block_bytes(order) > limit {
            return Err(DmaError::PoolExhausted { limit_bytes: limit });
        }
        // The cache's Vec may need heap; reserve first so a failure changes nothing.
        self.free[order]
            .try_reserve(1)
            .map_err(|_| DmaError::NoMemory)?;
        let phys = frames::alloc(order, MigrateType::Unmovable).map_err(|_| DmaError::NoMemory)?;
        self.free[order].push(phys);
        self.held_bytes += block_bytes(order);
        Ok(())
    }

    /// A free block of `order` that no reservation holds, growing the pool if needed.
    fn take_unreserved(&mut self, order: usize) -> Option<u64> {
        if self.free[order].len() <= self.reserved[order] {
            self.grow(order).ok()?;
        }
        self.lend(order)
    }

    fn lend(&mut self, order: usize) -> Option<u64> {
        let phys = self.free[order].pop()?;
        self.lent_bytes += block_bytes(order);
        Some(phys)
    }

    fn reservation_of(&mut self, thread: ThreadId) -> Option<&mut Reservation> {
        self.reservations
            .iter_mut()
            .flatten()
            .find(|r| r.thread == thread)
    }
}

/// A promise of bounce blocks to the calling thread, for one device request. Taken by the
/// shares of that request; what is left is released on drop.
#[derive(Debug)]
#[must_use = "the blocks are released when the reservation is dropped"]
pub struct BounceReservation {
    thread: ThreadId,
}

/// Reserves a bounce block for each length in `lens` (one per buffer the request will share
/// from outside the direct map), for the calling thread. Fails — changing nothing — when the
/// pool is at its cap, memory is short, or a length exceeds the largest block.
pub fn reserve(lens: &[usize]) -> Result<BounceReservation, DmaError> {
    if lens.len() > MAX_BLOCKS_PER_RESERVATION {
        return Err(DmaError::TooLarge);
    }
    let mut want = [0u8; CLASSES];
    for &len in lens {
        let order = memmap::order_for_bytes(len);
        if order > MAX_BOUNCE_ORDER {
            return Err(DmaError::TooLarge);
        }
        want[order] += 1;
    }
    let thread = crate::task::current().ok_or(DmaError::Busy)?;
    let mut pool = POOL.lock();
    if pool.reservation_of(thread).is_some() {
        // One request per thread at a time: a nested reservation would be a driver bug.
        return Err(DmaError::Busy);
    }
    let Some(slot) = pool.reservations.iter().position(Option::is_none) else {
        return Err(DmaError::Busy);
    };
    // Grow every class first; on failure, the blocks already added stay cached (free and
    // unreserved), which changes no promise.
    for (order, &wanted) in want.iter().enumerate() {
        while pool.free[order].len() < pool.reserved[order] + usize::from(wanted) {
            if let Err(e) = pool.grow(order) {
                pool.refusals += 1;
                return Err(e);
            }
        }
    }
    for (reserved, &wanted) in pool.reserved.iter_mut().zip(&want) {
        *reserved += usize::from(wanted);
    }
    pool.reservations[slot] = Some(Reservation {
        thread,
        blocks: want,
    });
    Ok(BounceReservation { thread })
}

impl Drop for BounceReservation {
    fn drop(&mut self) {
        let mut pool = POOL.lock();
        let Some(slot) = pool
            .reservations
            .iter()
            .position(|r| r.as_ref().is_some_and(|r| r.thread == self.thread))
        else {
            return;
        };
        if let Some(r) = pool.reservations[slot].take() {
            for order in 0..CLASSES {
                pool.reserved[order] -= usize::from(r.blocks[order]);
            }
        }
    }
}

/// Whether `[addr, addr + len)` lies in the direct map of RAM (so physical = virtual − base).
pub(crate) fn in_direct_map(addr: usize, len: usize) -> bool {
    let start = addr as u64;
    let end = start.saturating_add(len as u64);
    start >= DIRECT_MAP_BASE && end <= DIRECT_MAP_BASE + frames::max_phys()
}

/// The physical address a device may use for `len` bytes at `addr`: the address itself for a
/// direct-map buffer, otherwise a bounce block (filled with the buffer's bytes when
/// `copy_in`).
///
/// # Safety
/// 1. `[addr, addr + len)` is valid for reads (and, until [`unshare`], for writes when the
///    device writes it), and nothing else accesses it until the matching [`unshare`].
/// 2. `len` is not zero.
pub(crate) unsafe fn share(addr: usize, len: usize, copy_in: bool) -> u64 {
    if in_direct_map(addr, len) {
        return addr as u64 - DIRECT_MAP_BASE;
    }
    let order = memmap::order_for_bytes(len);
    let thread = crate::task::current();
    let phys = loop {
        let got = if order > MAX_BOUNCE_ORDER {
            // Larger than any pooled block (no hal driver shares this much at once): a block
            // of its own, freed again by `unshare`.
            frames::alloc(order, MigrateType::Unmovable).ok()
        } else {
            let mut pool = POOL.lock();
            let promised = thread
                .and_then(|t| pool.reservation_of(t))
                .filter(|r| r.blocks[order] > 0)
                .map(|r| r.blocks[order] -= 1)
                .is_some();
            if promised {
                pool.reserved[order] -= 1;
                pool.lend(order)
            } else {
                pool.take_unreserved(order)
            }
        };
        match got {
            Some(phys) => break phys,
            None => {
                // Only a share no reservation covers gets here, with memory or the pool
                // exhausted: wait for a block to come back.
                WAITS.fetch_add(1, Ordering::Relaxed);
                crate::task::yield_now();
            }
        }
    };
    if copy_in {
        // SAFETY: obligation (1) makes the source readable for `len` bytes; the block was just
        // lent to this share alone, is direct-mapped, and holds 2^order pages ≥ `len` bytes.
        unsafe {
            core::ptr::copy_nonoverlapping(addr as *const u8, phys_to_virt(phys) as *mut u8, len)
        };
    }
    phys
}

/// Ends a [`share`]: for a bounced buffer, copies the block back into it when `copy_out`, and
/// returns the block to the pool.
///
/// # Safety
/// 1. `phys` is what [`share`] returned for this same `addr` and `len`, not yet unshared.
/// 2. `[addr, addr + len)` is valid for writes when `copy_out`, and nothing else accesses it.
pub(crate) unsafe fn unshare(phys: u64, addr: usize, len: usize, copy_out: bool) {
    if in_direct_map(addr, len) {
        return;
    }
    let order = memmap::order_for_bytes(len);
    if copy_out {
        // SAFETY: `phys` is the block lent to this buffer (obligation 1), 2^order pages ≥ `len`
        // bytes; the destination is writable and untouched by others (obligation 2).
        unsafe {
            core::ptr::copy_nonoverlapping(phys_to_virt(phys) as *const u8, addr as *mut u8, len)
        };
    }
    if order > MAX_BOUNCE_ORDER {
        // The block `share` allocated for this buffer alone.
        let _ = frames::free(phys, order);
        return;
    }
    let mut pool = POOL.lock();
    pool.lent_bytes -= block_bytes(order);
    if pool.free[order].try_reserve(1).is_ok() {
        pool.free[order].push(phys);
    } else {
        // No heap for the cache entry: give the block back to the allocator instead.
        let _ = frames::free(phys, order);
        pool.held_bytes -= block_bytes(order);
    }
}

/// Zeroed, physically contiguous, direct-mapped memory for device queues: `(physical, virtual)`
/// of a block of at least `pages` pages, or `None` when memory is short.
pub(crate) fn alloc_coherent(pages: usize) -> Option<(u64, u64)> {
    let phys = frames::alloc_zeroed(memmap::order_for_pages(pages), MigrateType::Unmovable).ok()?;
    Some((phys, phys_to_virt(phys)))
}

/// Frees a block from [`alloc_coherent`].
///
/// # Safety
/// 1. `phys` and `pages` are what [`alloc_coherent`] returned and was asked for; the block is
///    not used after this call.
pub(crate) unsafe fn free_coherent(phys: u64, pages: usize) {
    // An error would mean the block was not allocated by alloc_coherent; leaking is the safe
    // outcome then.
    let _ = frames::free(phys, memmap::order_for_pages(pages));
}

/// Gives cached free blocks no reservation holds back to the frame allocator; returns the
/// bytes freed.
pub fn trim() -> u64 {
    let mut freed = 0;
    let mut pool = POOL.lock();
    for order in 0..CLASSES {
        while pool.free[order].len() > pool.reserved[order] {
            let Some(phys) = pool.free[order].pop() else {
                break;
            };
            // Blocks in the cache were allocated by `grow` with this order.
            let _ = frames::free(phys, order);
            pool.held_bytes -= block_bytes(order);
            freed += block_bytes(order);
        }
    }
    freed
}

/// A snapshot of the counters.
pub fn stats() -> PoolStats {
    let pool = POOL.lock();
    PoolStats {
        held_bytes: pool.held_bytes,
        lent_bytes: pool.lent_bytes,
        limit_bytes: limit_bytes(),
        reserved_blocks: pool.reserved.iter().sum::<usize>() as u64,
        refusals: pool.refusals,
        waits: WAITS.load(Ordering::Relaxed),
    }
}

/// In-kernel self-test (the `ktest` image): 64 KiB heap buffers go through real shares —
/// bytes copied in, bytes copied back — and then reservations of 64 KiB blocks are taken
/// until the pool refuses with an error; releasing them and trimming returns every frame.
#[cfg(feature = "ktest")]
pub fn self_test_bounce_pool() -> Result<(), alloc::string::String> {
    use alloc::format;
    use alloc::vec;

    // Blocks cached by earlier requests would make the before/after comparison unfair.
    trim();
    // Free frames plus frames mapped into the heap: heap growth during the test (the buffers,
    // the helper threads' records) moves frames from one to the other and is not a leak.
    let accounted =
        || frames::stats().free_pages + crate::mem::heap::stats().mapped_bytes / PAGE_SIZE;
    let free_before = accounted();
    let block = block_bytes(MAX_BOUNCE_ORDER) as usize;
    // Round trip through one reserved 64 KiB share.
    let mut buf: Vec<u8> = (0..block).map(|i| (i * 7 % 251) as u8).collect();
    {
        let _reservation = reserve(&[block]).map_err(|e| format!("reserve: {e}"))?;
        let addr = buf.as_mut_ptr() as usize;
        // SAFETY: `buf` is a live heap buffer of `block` bytes that nothing else touches until
        // the unshare below.
        let phys = unsafe { share(addr, block, true) };
        // SAFETY: the bounce block lent to this share; reading it is what the device would do.
        let bounced =
            unsafe { core::slice::from_raw_parts(phys_to_virt(phys) as *const u8, block) };
        if bounced != &buf[..] {
            return Err("the bounce block does not hold the buffer's bytes".into());
        }
        // Play the device: write a new pattern into the block, then unshare with copy-out.
        // SAFETY: as above; the block is ours until unshare.
        unsafe { core::ptr::write_bytes(phys_to_virt(phys) as *mut u8, 0x5a, block) };
        // SAFETY: `phys` is this share's block; `buf` is writable and untouched meanwhile.
        unsafe { unshare(phys, addr, block, true) };
        if buf.iter().any(|&b| b != 0x5a) {
            return Err("unshare did not copy the device's bytes back".into());
        }
    }
    // Exhaust the pool: reservations of eight 64 KiB blocks each until one is refused. A
    // reservation belongs to the thread that made it, so each is made by a short-lived helper
    // thread and kept alive here.
    let limit = limit_bytes();
    let batch = vec![block; MAX_BLOCKS_PER_RESERVATION];
    let batch_bytes = (MAX_BLOCKS_PER_RESERVATION * block) as u64;
    let mut held = Vec::new();
    let refused = loop {
        match reserve_on_new_thread(&batch) {
            Ok(Some(r)) => held.push(r),
            Ok(None) => return Err("could not start a helper thread".into()),
            Err(e) => break e,
        }
        if held.len() as u64 * batch_bytes > limit {
            return Err(format!("reserved more than the {limit}-byte cap"));
        }
    };
    let reserved_bytes = held.len() as u64 * batch_bytes;
    let slots_cover_the_cap = (MAX_RESERVATIONS as u64) * batch_bytes > limit;
    match refused {
        DmaError::PoolExhausted { .. } if reserved_bytes + batch_bytes > limit => {}
        DmaError::Busy if !slots_cover_the_cap => {}
        other => {
            return Err(format!(
                "refused with {other:?} after {reserved_bytes} bytes (cap {limit})"
            ));
        }
    }
    if stats().held_bytes > limit {
        return Err(format!(
            "the pool holds {} > cap {limit}",
            stats().held_bytes
        ));
    }
    drop(held);
    if stats().reserved_blocks != 0 {
        return Err("reservations not released".into());
    }
    trim();
    let s = stats();
    if s.held_bytes != 0 || s.lent_bytes != 0 {
        return Err(format!("pool not empty after trim: {s:?}"));
    }
    // Stacks of the helper threads are freed on the next switch after they exit.
    crate::task::yield_now();
    let free_after = accounted();
    if free_after != free_before {
        return Err(format!("free pages {free_before} -> {free_after}"));
    }
    Ok(())
}

/// A reservation made by (and so attributed to) a short-lived helper thread, kept alive by
/// the caller. Returns `Ok(None)` if the thread could not be started.
#[cfg(feature = "ktest")]
fn reserve_on_new_thread(lens: &[usize]) -> Result<Option<BounceReservation>, DmaError> {
    use alloc::sync::Arc;
    let lens: Vec<usize> = lens.to_vec();
    let slot: Arc<IrqMutex<Option<Result<BounceReservation, DmaError>>>> =
        Arc::new(IrqMutex::new(None));
    let theirs = slot.clone();
    let Ok(id) = crate::task::spawn("dma-self-test", move || {
        *theirs.lock() = Some(reserve(&lens));
        0
    }) else {
        return Ok(None);
    };
    let _ = crate::task::join(id);
    let result = slot.lock().take();
    match result {
        Some(r) => r.map(Some),
        None => Ok(None),
    }
}

//! The kernel heap (`GlobalAlloc`): a first-fit `linked_list_allocator::Heap` over a virtual
//! range at [`HEAP_BASE`] that grows on demand, page by page, with frames from the buddy
//! allocator.
//!
//! Growth maps single frames (order 0), so a fragmented physical memory never blocks it;
//! when no frame is left the allocation returns null, which `Vec::try_reserve`, `Box::try_new`
//! and friends report to their caller, and which infallible allocations turn into a panic
//! report (never silent corruption). Pages are not returned to the buddy allocator when the
//! heap shrinks in use; `stats` says how much is mapped and how much is in use.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};

use buddy::MigrateType;
use linked_list_allocator::Heap;

use super::layout::{HEAP_BASE, HEAP_MAX_SIZE, PAGE_SIZE};
use super::{frames, paging};
use crate::sync::IrqMutex;

/// Heap growth step: large enough to amortise mapping, small enough to be cheap.
const GROW_STEP: u64 = 256 * 1024;

struct KernelHeap {
    heap: IrqMutex<(Heap, u64)>,
}

/// Allocations the heap could not satisfy, even after trying to grow.
static HEAP_FAILURES: AtomicU64 = AtomicU64::new(0);

#[global_allocator]
static HEAP: KernelHeap = KernelHeap {
    heap: IrqMutex::new((Heap::empty(), 0)),
};

/// Heap figures for `meminfo`.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapStats {
    pub mapped_bytes: u64,
    pub used_bytes: u64,
    pub failures: u64,
}

/// Maps up to `bytes` more heap pages after the current end; returns how many bytes were mapped.
fn map_more(mapped: u64, bytes: u64) -> u64 {
    let mut done = 0;
    while done < bytes && mapped + done < HEAP_MAX_SIZE {
        let Ok(frame) = frames::alloc(0, MigrateType::Unmovable) else {
            break;
        };
        // SAFETY: the heap owns the virtual range [HEAP_BASE, HEAP_BASE + HEAP_MAX_SIZE) and
        // maps it only here, under the heap lock, directly after what is already mapped;
        // `frame` was just allocated to the heap.
        if unsafe { paging::map_page(HEAP_BASE + mapped + done, frame) }.is_err() {
            let _ = frames::free(frame, 0);
            break;
        }
        done += PAGE_SIZE;
    }
    done
}

/// Maps the first heap pages. Called once by the boot sequence, after paging is up (a second
/// call finds the heap initialised and changes nothing).
pub(crate) fn init(initial: u64) -> Result<(), paging::MapError> {
    let mut guard = HEAP.heap.lock();
    if guard.1 != 0 {
        return Ok(());
    }
    let mapped = map_more(0, initial);
    if mapped == 0 {
        return Err(paging::MapError::OutOfFrames);
    }
    // SAFETY: HEAP_BASE..HEAP_BASE+mapped was just mapped read/write to frames owned by the
    // heap alone, and the heap is initialised exactly once (mapped was 0).
    unsafe { guard.0.init(HEAP_BASE as *mut u8, mapped as usize) };
    guard.1 = mapped;
    Ok(())
}

pub fn stats() -> HeapStats {
    let guard = HEAP.heap.lock();
    HeapStats {
        mapped_bytes: guard.1,
        used_bytes: guard.0.used() as u64,
        failures: HEAP_FAILURES.load(Ordering::Relaxed),
    }
}

// SAFETY: allocations come from linked_list_allocator under the lock, which returns blocks of
// at least layout.size() bytes at layout.align(); growth extends the heap only by pages that
// were just mapped directly after its end.
unsafe impl GlobalAlloc for KernelHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let mut guard = self.heap.lock();
        if guard.1 == 0 {
            return core::ptr::null_mut();
        }
        if let Ok(p) = guard.0.allocate_first_fit(layout) {
            return p.as_ptr();
        }
        let need = (layout.size() + layout.align() + 64) as u64;
        let want = need.div_ceil(GROW_STEP) * GROW_STEP;
        // Refuse up front what physical memory cannot hold: mapping page by page until the
        // frames run out would move all free memory into the heap for a request that fails.
        let free_bytes = frames::stats().free_pages * PAGE_SIZE;
        let got = if need <= free_bytes {
            map_more(guard.1, want.min(free_bytes))
        } else {
            0
        };
        if got > 0 {
            // SAFETY: `got` bytes directly after the heap's top were just mapped for it.
            unsafe { guard.0.extend(got as usize) };
            guard.1 += got;
        }
        match guard.0.allocate_first_fit(layout) {
            Ok(p) => p.as_ptr(),
            Err(()) => {
                HEAP_FAILURES.fetch_add(1, Ordering::Relaxed);
                core::ptr::null_mut()
            }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(p) = NonNull::new(ptr) {
            // SAFETY: GlobalAlloc's contract: ptr was returned by alloc with this layout.
            unsafe { self.heap.lock().0.deallocate(p, layout) };
        }
    }
}

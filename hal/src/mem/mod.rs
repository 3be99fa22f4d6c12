//! Physical and virtual memory: the frame allocator ([`frames`]), the kernel's own page tables
//! ([`paging`]), the on-demand growing kernel heap ([`heap`]) and the address-space layout
//! ([`layout`]). Logic (the buddy algorithm and its statistics) lives in the `buddy` crate;
//! this module only gives it memory for its metadata and maps what it hands out.

pub mod frames;
pub mod heap;
pub mod layout;
pub mod paging;

/// One region of the firmware memory map.
#[derive(Clone, Copy, Debug, Default)]
pub struct MemRegion {
    pub start: u64,
    pub end: u64,
    /// E820 type: 1 = usable RAM.
    pub kind: u32,
}

impl MemRegion {
    pub const USABLE: u32 = 1;

    pub fn is_usable(&self) -> bool {
        self.kind == Self::USABLE
    }
}

/// Reads a u64 from any virtual address with a volatile load. If the address is unmapped the
/// CPU raises a page fault, which the kernel reports and stops on; this exists so the fault path
/// can be tested from outside (the `fault-test` image).
pub fn probe_read_u64(addr: u64) -> u64 {
    // SAFETY: a read has no effect on memory safety other than faulting, and a fault stops the
    // machine with a report (it never returns into this function); a mapped address yields
    // whatever value is there, which the caller only prints.
    unsafe { core::ptr::read_volatile(addr as *const u64) }
}

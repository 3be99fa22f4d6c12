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

/// The address [`read_unmapped_for_fault_test`] reads: in the low half, which the kernel's
/// page tables never map apart from the image at 1 MiB.
#[cfg(feature = "fault-test")]
pub const FAULT_TEST_ADDRESS: u64 = 0x0dea_dbee_f000;

/// Reads a word at [`FAULT_TEST_ADDRESS`] so the page-fault report can be checked from outside
/// (the `fault-test` image). The address is fixed here, not chosen by the caller, and checked
/// to be unmapped first, so the read can only fault — which stops the machine with a report —
/// and never touches memory or device registers. `None` if the address is mapped after all.
#[cfg(feature = "fault-test")]
pub fn read_unmapped_for_fault_test() -> Option<u64> {
    if paging::is_mapped(FAULT_TEST_ADDRESS) {
        return None;
    }
    // SAFETY: the address is unmapped (checked just above, and nothing in the kernel maps pages
    // in the low half), so the load raises a page fault; the fault handler reports and stops
    // the machine and never returns here.
    Some(unsafe { core::ptr::read_volatile(FAULT_TEST_ADDRESS as *const u64) })
}

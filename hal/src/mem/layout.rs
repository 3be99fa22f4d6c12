//! The kernel's virtual address space.
//!
//! | range | what |
//! |---|---|
//! | `0x0010_0000 ..` | kernel image, identity-mapped with per-section rights (text RX, rodata R, data/bss RW) |
//! | [`DIRECT_MAP_BASE`] `..` | all physical RAM, 2 MiB pages, RW, no-execute |
//! | [`KERNEL_STACKS_BASE`] `..` | kernel thread stacks, one [`STACK_SLOT_SIZE`] slot each, lowest page unmapped (guard) |
//! | [`HEAP_BASE`] `..` | the kernel heap, grown on demand page by page |
//! | [`MMIO_BASE`] `..` | device registers (PCI BARs), 4 KiB pages, uncached, handed out once each |
//! | [`SELF_TEST_PAGE`] | one page the `ktest` image maps and unmaps to test paging |
//!
//! Page 0 and everything else in the low half is unmapped, so null and wild pointers fault.

pub const DIRECT_MAP_BASE: u64 = 0xffff_8000_0000_0000;
pub const KERNEL_STACKS_BASE: u64 = 0xffff_c000_0000_0000;
/// Virtual size reserved per kernel stack (the stack itself plus at least one guard page).
pub const STACK_SLOT_SIZE: u64 = 2 * 1024 * 1024;
pub const MAX_KERNEL_STACKS: u64 = 4096;
pub const HEAP_BASE: u64 = 0xffff_d000_0000_0000;
pub const HEAP_MAX_SIZE: u64 = 64 * 1024 * 1024 * 1024;
pub const MMIO_BASE: u64 = 0xffff_e800_0000_0000;
/// Size of the MMIO window: far more than the BARs of the devices QEMU offers.
pub const MMIO_SIZE: u64 = 1024 * 1024 * 1024;
pub const SELF_TEST_PAGE: u64 = 0xffff_e000_0000_0000;
pub const PAGE_SIZE: u64 = 4096;

/// The direct-map virtual address of physical address `phys`.
pub const fn phys_to_virt(phys: u64) -> u64 {
    DIRECT_MAP_BASE + phys
}

unsafe extern "C" {
    static __kernel_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __data_start: u8;
    static __kernel_end: u8;
}

/// Section boundaries of the loaded kernel image (physical = virtual).
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    pub start: u64,
    pub text: (u64, u64),
    pub rodata: (u64, u64),
    pub data_start: u64,
    pub end: u64,
}

pub fn image() -> ImageLayout {
    // Only the addresses of the linker-script symbols are taken, never their contents.
    ImageLayout {
        start: &raw const __kernel_start as u64,
        text: (&raw const __text_start as u64, &raw const __text_end as u64),
        rodata: (
            &raw const __rodata_start as u64,
            &raw const __rodata_end as u64,
        ),
        data_start: &raw const __data_start as u64,
        end: &raw const __kernel_end as u64,
    }
}

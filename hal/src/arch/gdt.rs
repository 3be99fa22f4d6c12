//! GDT and TSS: the 64-bit code/data segments and one interrupt stack (IST) per class of
//! vector, so that no interrupt or exception ever writes below an interrupted `%rsp`.
//!
//! The precompiled `core` uses the 128-byte red zone, so the CPU must never push an interrupt
//! frame onto the interrupted stack. Every IDT gate therefore names an IST slot:
//! [`IST_IRQ`] for hardware interrupts (the stub then moves the frame onto the thread's own
//! stack below its red zone, see [`super::interrupts`]), [`IST_PAGE_FAULT`] for #PF (a
//! stack-overflow guard-page hit still has a stack), [`IST_EXCEPTION`] for other exceptions,
//! and [`IST_CRITICAL`] for #DF, NMI and #MC, which may arrive while another IST is in use.

use x86_64::VirtAddr;
use x86_64::instructions::segmentation::{CS, DS, ES, SS, Segment};
use x86_64::instructions::tables::load_tss;
use x86_64::structures::gdt::{Descriptor, GlobalDescriptorTable, SegmentSelector};
use x86_64::structures::tss::TaskStateSegment;

/// IST slot numbers as written into IDT gates (1-based; 0 would mean "no IST").
pub const IST_IRQ: u8 = 1;
pub const IST_PAGE_FAULT: u8 = 2;
pub const IST_EXCEPTION: u8 = 3;
pub const IST_CRITICAL: u8 = 4;

const IST_STACK_SIZE: usize = 32 * 1024;

#[repr(C, align(16))]
struct IstStack([u8; IST_STACK_SIZE]);

// Written only by the CPU when it switches to an IST; Rust code never touches them, so the
// statics are plain arrays whose addresses are taken once.
static mut IST_STACKS: [IstStack; 4] = [const { IstStack([0; IST_STACK_SIZE]) }; 4];

static TSS: spin::Once<TaskStateSegment> = spin::Once::new();
static GDT: spin::Once<(
    GlobalDescriptorTable,
    SegmentSelector,
    SegmentSelector,
    SegmentSelector,
)> = spin::Once::new();

/// Kernel code segment selector (used by IDT gates).
pub fn kernel_code_selector() -> u16 {
    GDT.get().map(|g| g.1.0).unwrap_or(0x08)
}

/// Loads the kernel GDT and TSS and reloads every segment register (boot only).
pub(crate) fn init() {
    let tss = TSS.call_once(|| {
        let mut tss = TaskStateSegment::new();
        let mut table = tss.interrupt_stack_table;
        for (i, slot) in table.iter_mut().take(4).enumerate() {
            // Only the address is taken; the CPU is the sole writer of these stacks.
            let base = core::ptr::addr_of!(IST_STACKS) as u64 + (i * IST_STACK_SIZE) as u64;
            *slot = VirtAddr::new(base + IST_STACK_SIZE as u64);
        }
        tss.interrupt_stack_table = table;
        tss
    });
    let gdt = GDT.call_once(|| {
        let mut gdt = GlobalDescriptorTable::new();
        let code = gdt.append(Descriptor::kernel_code_segment());
        let data = gdt.append(Descriptor::kernel_data_segment());
        let tss_sel = gdt.append(Descriptor::tss_segment(tss));
        (gdt, code, data, tss_sel)
    });
    gdt.0.load();
    // SAFETY: the selectors come from the GDT just loaded, which lives in a 'static; the code
    // selector is a 64-bit code segment and the data selector a writable data segment, and the
    // TSS descriptor points at the 'static TSS above.
    unsafe {
        CS::set_reg(gdt.1);
        DS::set_reg(gdt.2);
        ES::set_reg(gdt.2);
        SS::set_reg(gdt.2);
        load_tss(gdt.3);
    }
}

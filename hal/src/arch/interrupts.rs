//! The IDT, the interrupt entry path and the dispatcher.
//!
//! Entry: a generated stub per vector (see `hal/build.rs`) pushes the vector and a uniform
//! error code and jumps to `hal_isr_common`, which runs on the IST stack named by the gate
//! (see [`super::gdt`]). It saves all general registers; for hardware interrupts (vector ≥ 32)
//! it then copies the whole frame onto the interrupted thread's stack, 128 bytes below its
//! `%rsp` (the red zone), and continues there — so the IST is free again and the handler may
//! switch threads (preemption) with the interrupted state safely on that thread's own stack.
//! The FPU/SSE/AVX state is saved with `fxsave64` or `xsave64` around the Rust dispatcher.
//! Exceptions (vector < 32) stay on their IST and end in [`crate::fault::report_and_stop`].
//!
//! The IDT is a plain array of 16-byte gates: the `x86_64` crate's typed IDT wants handler
//! functions with the unstable `x86-interrupt` ABI, and raw gates are a few lines.

use core::arch::global_asm;
use core::sync::atomic::{AtomicU64, Ordering};

use super::gdt;

global_asm!(include_str!(concat!(env!("OUT_DIR"), "/isr_stubs.s")));

global_asm!(
    r#"
    .section .text.hal_isr, "ax"
    .global hal_isr_common
    hal_isr_common:
    push rax
    push rbx
    push rcx
    push rdx
    push rsi
    push rdi
    push rbp
    push r8
    push r9
    push r10
    push r11
    push r12
    push r13
    push r14
    push r15
    cld
    cmp qword ptr [rsp + 15 * 8], 32
    jb 1f
    /* Hardware interrupt: move the 22-word frame below the interrupted stack's red zone. */
    mov rdi, [rsp + 20 * 8]
    sub rdi, 128
    and rdi, -16
    sub rdi, 22 * 8
    mov rsi, rsp
    mov rdx, rdi
    mov ecx, 22
    rep movsq
    mov rsp, rdx
1:
    mov rbp, rsp
    sub rsp, 1024
    and rsp, -64
    cmp byte ptr [rip + HAL_USE_XSAVE], 0
    je 2f
    xor eax, eax
    mov [rsp + 512], rax
    mov [rsp + 520], rax
    mov [rsp + 528], rax
    mov [rsp + 536], rax
    mov [rsp + 544], rax
    mov [rsp + 552], rax
    mov [rsp + 560], rax
    mov [rsp + 568], rax
    mov eax, 7
    xor edx, edx
    xsave64 [rsp]
    jmp 3f
2:
    fxsave64 [rsp]
3:
    mov rdi, rbp
    call hal_interrupt_dispatch
    cmp byte ptr [rip + HAL_USE_XSAVE], 0
    je 4f
    mov eax, 7
    xor edx, edx
    xrstor64 [rsp]
    jmp 5f
4:
    fxrstor64 [rsp]
5:
    mov rsp, rbp
    pop r15
    pop r14
    pop r13
    pop r12
    pop r11
    pop r10
    pop r9
    pop r8
    pop rbp
    pop rdi
    pop rsi
    pop rdx
    pop rcx
    pop rbx
    pop rax
    add rsp, 16
    iretq
    "#
);

/// The register state saved by the entry path, lowest address first.
#[repr(C)]
#[derive(Debug)]
pub struct InterruptFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    pub vector: u64,
    pub error_code: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

#[derive(Clone, Copy)]
#[repr(C, align(16))]
struct Gate {
    offset_low: u16,
    selector: u16,
    ist: u8,
    type_attr: u8,
    offset_mid: u16,
    offset_high: u32,
    reserved: u32,
}

#[repr(C, align(16))]
struct Idt([Gate; 256]);

static IDT: spin::Once<Idt> = spin::Once::new();

unsafe extern "C" {
    static hal_isr_table: [u64; 256];
}

/// Hardware interrupts seen per vector class (for `meminfo`-style diagnostics and tests).
pub static IRQ_COUNT: AtomicU64 = AtomicU64::new(0);
/// Interrupts on vectors nobody handles (counted, acknowledged, otherwise ignored).
pub static UNEXPECTED_COUNT: AtomicU64 = AtomicU64::new(0);

fn ist_for(vector: usize) -> u8 {
    match vector {
        2 | 8 | 18 => gdt::IST_CRITICAL,
        14 => gdt::IST_PAGE_FAULT,
        0..=31 => gdt::IST_EXCEPTION,
        _ => gdt::IST_IRQ,
    }
}

/// Builds and loads the IDT; every vector gets an interrupt gate (IF cleared on entry) on an IST.
pub(crate) fn init() {
    let selector = gdt::kernel_code_selector();
    let idt = IDT.call_once(|| {
        let mut gates = [Gate {
            offset_low: 0,
            selector: 0,
            ist: 0,
            type_attr: 0,
            offset_mid: 0,
            offset_high: 0,
            reserved: 0,
        }; 256];
        for (v, gate) in gates.iter_mut().enumerate() {
            // SAFETY: hal_isr_table is an immutable table of 256 stub addresses emitted by
            // build.rs into .rodata; reading it has no side effects.
            let addr = unsafe { hal_isr_table[v] };
            *gate = Gate {
                offset_low: addr as u16,
                selector,
                ist: ist_for(v),
                type_attr: 0x8e, // present, DPL 0, 64-bit interrupt gate
                offset_mid: (addr >> 16) as u16,
                offset_high: (addr >> 32) as u32,
                reserved: 0,
            };
        }
        Idt(gates)
    });
    let ptr = x86_64::structures::DescriptorTablePointer {
        limit: (core::mem::size_of::<Idt>() - 1) as u16,
        base: x86_64::VirtAddr::new(idt as *const Idt as u64),
    };
    // SAFETY: the IDT lives in a 'static Once and every gate points at a stub that saves
    // state and returns with iretq (or stops the machine), with a valid code selector and IST.
    unsafe { x86_64::instructions::tables::lidt(&ptr) };
}

#[unsafe(no_mangle)]
extern "C" fn hal_interrupt_dispatch(frame: &mut InterruptFrame) {
    let vector = frame.vector;
    if vector < 32 {
        crate::fault::report_and_stop(frame);
    }
    let irq = vector.wrapping_sub(u64::from(super::pic::IRQ_BASE));
    IRQ_COUNT.fetch_add(1, Ordering::Relaxed);
    match irq {
        0 => {
            super::pic::end_of_interrupt(0);
            crate::time::on_tick();
            crate::task::on_timer_tick();
        }
        4 => {
            // EOI first: the handler may switch to the woken shell thread.
            super::pic::end_of_interrupt(4);
            crate::console::on_serial_interrupt();
        }
        7 | 15 if super::pic::is_spurious(irq as u8) => {
            if irq == 15 {
                super::pic::end_of_interrupt(0);
            }
        }
        1..=15 => {
            UNEXPECTED_COUNT.fetch_add(1, Ordering::Relaxed);
            super::pic::end_of_interrupt(irq as u8);
        }
        _ => {
            UNEXPECTED_COUNT.fetch_add(1, Ordering::Relaxed);
        }
    }
}

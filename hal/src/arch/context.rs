//! Kernel-thread context switch.
//!
//! A switched-out thread's state is a handful of callee-saved registers, RFLAGS and the
//! MXCSR/x87 control words pushed on its own stack; its saved `%rsp` is all the scheduler
//! keeps. Caller-saved registers (including all SSE/AVX data registers, per the SysV ABI) are
//! already dead across the call, and a thread preempted by the timer has its full register
//! and FPU state saved by the interrupt entry path further up the same stack.
//! A new thread starts in `hal_thread_trampoline`, which calls `hal_thread_start(entry, arg)`.

use core::arch::global_asm;

global_asm!(
    r#"
    .section .text.hal_switch, "ax"
    .global hal_switch_context
    /* rdi: where to store the current rsp; rsi: the rsp to resume. */
    hal_switch_context:
    pushfq
    push rbp
    push rbx
    push r12
    push r13
    push r14
    push r15
    sub rsp, 8
    stmxcsr [rsp]
    fnstcw [rsp + 4]
    mov [rdi], rsp
    mov rsp, rsi
    ldmxcsr [rsp]
    fldcw [rsp + 4]
    add rsp, 8
    pop r15
    pop r14
    pop r13
    pop r12
    pop rbx
    pop rbp
    popfq
    ret

    .global hal_thread_trampoline
    hal_thread_trampoline:
    mov rdi, r12
    mov rsi, r13
    xor ebp, ebp
    call hal_thread_start
    ud2
    "#
);

unsafe extern "C" {
    fn hal_switch_context(save_rsp: *mut u64, resume_rsp: u64);
    fn hal_thread_trampoline();
}

/// Bytes of the initial frame [`prepare_stack`] writes below the stack top.
const INITIAL_FRAME: u64 = 88;

/// Writes the initial switch frame of a new thread at the top of its stack and returns the
/// `%rsp` to resume it with; the first switch to it "returns" into the trampoline, which calls
/// `hal_thread_start(entry, arg)` on a 16-byte aligned stack.
///
/// # Safety
/// 1. `stack_top` is 16-byte aligned and the 88 bytes below it are mapped, writable and owned
///    by the new thread (nothing else uses them).
pub(crate) unsafe fn prepare_stack(stack_top: u64, entry: u64, arg: u64) -> u64 {
    let rsp = stack_top - INITIAL_FRAME;
    let words: [u64; 9] = [
        0x1f80 | (0x037f << 32), // MXCSR default, x87 control word default
        0,                       // r15
        0,                       // r14
        arg,                     // r13
        entry,                   // r12
        0,                       // rbx
        0,                       // rbp: ends the frame-pointer chain
        0x2, // RFLAGS: reserved bit, interrupts off until the thread enables them
        hal_thread_trampoline as *const () as u64,
    ];
    let p = rsp as *mut u64;
    for (i, w) in words.iter().enumerate() {
        // SAFETY: obligation (1): rsp..stack_top is mapped and owned by the new thread.
        unsafe { p.add(i).write(*w) };
    }
    rsp
}

/// Saves the running thread's context into `*save_rsp` and resumes the one saved at
/// `resume_rsp`. Returns when some later switch resumes the saved context.
///
/// # Safety
/// 1. Interrupts are disabled.
/// 2. `save_rsp` is valid for a write and stays owned by the current thread's record until
///    that thread is resumed.
/// 3. `resume_rsp` was produced by [`prepare_stack`] or stored by an earlier call, and that
///    thread's stack is still mapped and not running.
pub(crate) unsafe fn switch(save_rsp: *mut u64, resume_rsp: u64) {
    // SAFETY: forwarded obligations (1)–(3).
    unsafe { hal_switch_context(save_rsp, resume_rsp) }
}

//! The symbols the precompiled `core` and `alloc` of the host target expect from a C runtime.
//!
//! On x86_64-unknown-linux-gnu, `compiler_builtins` does not export `memcpy` & co., and `core`
//! is built with unwinding, so it references `rust_eh_personality` and (through `alloc`)
//! `_Unwind_Resume`. Nous never unwinds (`panic = "abort"`), so the last two only halt.
//! The copy/set loops are `rep movsb`/`rep stosb` in inline assembly: a plain Rust byte loop
//! may be recognised by LLVM as a memcpy idiom and compiled into a call to itself.

use core::arch::asm;

/// # Safety
/// 1. `dest` and `src` are valid for `n` bytes (writes and reads respectively).
/// 2. The two regions do not overlap (the C contract of `memcpy`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    // SAFETY: the caller guarantees (1) and (2); `rep movsb` copies forwards with DF = 0,
    // which the SysV ABI guarantees on function entry.
    unsafe {
        asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _, inout("rsi") src => _,
             options(nostack, preserves_flags));
    }
    dest
}

/// # Safety
/// 1. `dest` and `src` are valid for `n` bytes; the regions may overlap.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    if (dest as usize) <= (src as usize) || (dest as usize) >= (src as usize).wrapping_add(n) {
        // SAFETY: a forward copy is correct when dest is below src or the regions are
        // disjoint; validity is the caller's obligation (1).
        unsafe { memcpy(dest, src, n) }
    } else {
        // SAFETY: overlapping with dest above src: copy backwards (DF = 1) from the last
        // byte; DF is cleared again before returning, as the ABI requires.
        unsafe {
            asm!("std", "rep movsb", "cld",
                 inout("rcx") n => _,
                 inout("rdi") dest.add(n - 1) => _,
                 inout("rsi") src.add(n - 1) => _,
                 options(nostack));
        }
        dest
    }
}

/// # Safety
/// 1. `dest` is valid for writes of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memset(dest: *mut u8, c: i32, n: usize) -> *mut u8 {
    // SAFETY: obligation (1); `rep stosb` stores AL `n` times forwards.
    unsafe {
        asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _, in("al") c as u8,
             options(nostack, preserves_flags));
    }
    dest
}

/// # Safety
/// 1. `a` and `b` are valid for reads of `n` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn memcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    if n == 0 {
        return 0;
    }
    let left: usize;
    // SAFETY: obligation (1); `repe cmpsb` stops at the first differing byte or after n
    // bytes, leaving rsi/rdi one past the last compared pair. Written in assembly because
    // LLVM may turn a byte loop back into a call to memcmp.
    let (x, y) = unsafe {
        let (pa, pb): (*const u8, *const u8);
        asm!("repe cmpsb", inout("rcx") n => left, inout("rsi") a => pa, inout("rdi") b => pb,
             options(nostack, readonly));
        (pa.sub(1).read(), pb.sub(1).read())
    };
    let _ = left;
    i32::from(x) - i32::from(y)
}

/// # Safety
/// Same as [`memcmp`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn bcmp(a: *const u8, b: *const u8, n: usize) -> i32 {
    // SAFETY: forwarded obligations.
    unsafe { memcmp(a, b, n) }
}

/// `core` is compiled with unwind tables and names this personality routine; Nous aborts on
/// panic, so it is never called.
#[unsafe(no_mangle)]
pub extern "C" fn rust_eh_personality() {}

/// Referenced by `alloc`'s landing pads; with `panic = "abort"` no unwind ever starts.
#[unsafe(no_mangle)]
pub extern "C" fn _Unwind_Resume() -> ! {
    crate::arch::cpu::halt_forever()
}

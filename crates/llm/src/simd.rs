//! The library's only `unsafe`: the `pmaddwd` dot products of the quantized path
//! ([`crate::quant`]) — one row against one input ([`dot_i16`], decoding) and one row against
//! four inputs ([`dot_i16_x4`], the batched prefill: the weights are loaded once for four
//! positions) — AVX2 when the CPU has it and the OS saves its registers, else SSE2 — with
//! scalar fallbacks and bit-exact agreement tests. AVX2 does 16 products per
//! instruction instead of 8, which under QEMU TCG (where the kernel runs) is about twice the
//! throughput (../shared/tcg-performance.md); the integer sum is exact either way, so every
//! path gives the same answer.
//!
//! Audit summary:
//! - What is unsafe: the call `dot_i16_sse2(a, b)` inside [`dot_i16`] (Rust requires it because
//!   `dot_i16_sse2` carries `#[target_feature(enable = "sse2")]` and the caller does not); the
//!   call `dot_i16_avx2(a, b)`, made only after [`avx2_usable`] returned true; the same two
//!   calls for the four-input bodies `dot_i16_x4_sse2` / `dot_i16_x4_avx2` in
//!   `dot_i16_x4_common`, under the same conditions; and in `detect_avx2`, `xgetbv`, executed
//!   only when CPUID says the OS set CR4.OSXSAVE.
//! - Why the AVX2 call is sound: `dot_i16_avx2`'s only precondition is that the executing CPU
//!   runs AVX2 instructions. `detect_avx2` checks what `std::is_x86_feature_detected!` checks:
//!   CPUID.1 OSXSAVE and AVX, XCR0 bits 1 and 2 (the OS saves XMM and YMM state — the kernel's
//!   `hal::arch::cpu` sets them and then saves state with `xsave64` in its interrupt stubs),
//!   and CPUID.7 AVX2. The answer is cached; CPU features do not change while a program runs.
//! - What is not: `dot_i16_sse2` itself is a *safe* function (as are the four-input bodies and
//!   their helpers `lanes8`/`lanes16`/`hsum_128`/`hsum_256`, which slice with bounds checks). It takes slices, reads them with
//!   bounds-checked indexing (constant indices into `chunks_exact(16)` chunks, so the checks
//!   compile away) and builds vectors with `_mm_set_epi16`; the intrinsics it calls are safe
//!   inside a function with the feature enabled. No raw pointers: LLVM merges the eight element
//!   reads into one unaligned load (`movdqu` + `pmaddwd` + `paddd` in the release build).
//! - Why the call is sound: the function's only precondition is that the executing CPU has
//!   SSE2. The block and the function are compiled only under
//!   `cfg(all(target_arch = "x86_64", target_feature = "sse2"))`, i.e. when the whole build
//!   already assumes SSE2. Both the host and the kernel are built for
//!   `x86_64-unknown-linux-gnu`, whose baseline includes SSE2 (its f32 code uses SSE registers
//!   too), and the kernel (which does not link this crate yet) turns SSE on at boot
//!   (`hal/src/arch/boot.rs`: CR4.OSFXSR set, CR0.EM and CR0.TS cleared) before any Rust code
//!   runs.
//! - Fallback: builds without SSE2 compile [`dot_i16`] to [`dot_i16_scalar`], which is also the
//!   reference the test below compares the SSE2 path with, bit for bit.
//!
//! (The crate's `examples/bench.rs` has its own `unsafe`, a counting `GlobalAlloc` that
//! forwards to `System`; it is a separate host-only binary, not part of the library.)
#![allow(
    unsafe_code,
    reason = "the one audited SIMD call described in the module doc"
)]

/// Sum of `a[i] · b[i]` over the common length, in `i32` with wrapping (callers bound the
/// inputs so it cannot wrap; see [`crate::quant`]). SSE2 where the build has it, else scalar.
#[inline]
pub fn dot_i16(a: &[i16], b: &[i16]) -> i32 {
    #[cfg(target_arch = "x86_64")]
    if avx2_usable() {
        // SAFETY: `dot_i16_avx2` only requires AVX2 from the executing CPU, and
        // `avx2_usable` returned true: CPUID reports AVX2 and XCR0 says the OS enabled
        // (and so saves) the YMM state. It has no other preconditions (safe body).
        return unsafe { dot_i16_avx2(a, b) };
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: `dot_i16_sse2` only requires SSE2 support from the executing CPU. This block
        // is compiled only when the build targets SSE2 (cfg above), i.e. when every CPU the
        // binary may run on has it. The function has no other preconditions (safe body,
        // bounds-checked slice access).
        unsafe { dot_i16_sse2(a, b) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        dot_i16_scalar(a, b)
    }
}

/// Portable reference for [`dot_i16`].
pub fn dot_i16_scalar(a: &[i16], b: &[i16]) -> i32 {
    a.iter()
        .zip(b)
        .fold(0i32, |s, (&x, &y)| s.wrapping_add(x as i32 * y as i32))
}

/// SSE2 body: 16 products per iteration in two `pmaddwd`s, two accumulators.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn dot_i16_sse2(a: &[i16], b: &[i16]) -> i32 {
    use core::arch::x86_64::{
        __m128i, _mm_add_epi32, _mm_madd_epi16, _mm_set_epi16, _mm_setzero_si128,
    };
    #[inline]
    #[target_feature(enable = "sse2")]
    fn set(v: [i16; 8]) -> __m128i {
        _mm_set_epi16(v[7], v[6], v[5], v[4], v[3], v[2], v[1], v[0])
    }
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc0 = _mm_setzero_si128();
    let mut acc1 = _mm_setzero_si128();
    let ca = a.chunks_exact(16);
    let cb = b.chunks_exact(16);
    let tail = n - ca.remainder().len();
    for (x, y) in ca.zip(cb) {
        let x0 = set([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y0 = set([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        let x1 = set([x[8], x[9], x[10], x[11], x[12], x[13], x[14], x[15]]);
        let y1 = set([y[8], y[9], y[10], y[11], y[12], y[13], y[14], y[15]]);
        acc0 = _mm_add_epi32(acc0, _mm_madd_epi16(x0, y0));
        acc1 = _mm_add_epi32(acc1, _mm_madd_epi16(x1, y1));
    }
    hsum_128(_mm_add_epi32(acc0, acc1)).wrapping_add(dot_i16_scalar(&a[tail..], &b[tail..]))
}

/// [`dot_i16`] of one weight row `w` with four inputs at once: `[w·x[0], …, w·x[3]]`, each over
/// the common length of `w` and that input. The batched prefill's kernel: each chunk of the
/// weight row is loaded once for four positions instead of four times. The integer sums are
/// exact, so each lane equals [`dot_i16`] of the same pair bit for bit.
#[inline]
pub fn dot_i16_x4(w: &[i16], x: [&[i16]; 4]) -> [i32; 4] {
    // The vector bodies run over the length all five share; a longer input's extra products
    // go through the scalar reference afterwards.
    let n = x.iter().fold(w.len(), |n, xr| n.min(xr.len()));
    let mut sums = dot_i16_x4_common(&w[..n], x.map(|xr| &xr[..n]));
    for (sum, xr) in sums.iter_mut().zip(x) {
        let end = w.len().min(xr.len());
        *sum = sum.wrapping_add(dot_i16_scalar(&w[n..end], &xr[n..end]));
    }
    sums
}

/// [`dot_i16_x4`] for inputs of `w`'s length.
#[inline]
fn dot_i16_x4_common(w: &[i16], x: [&[i16]; 4]) -> [i32; 4] {
    #[cfg(target_arch = "x86_64")]
    if avx2_usable() {
        // SAFETY: as in `dot_i16`: `dot_i16_x4_avx2` only requires AVX2 from the executing
        // CPU, which `avx2_usable` checked (CPUID and XCR0); its body is safe code.
        return unsafe { dot_i16_x4_avx2(w, x) };
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        // SAFETY: as in `dot_i16`: compiled only when the build targets SSE2, the function's
        // only precondition; its body is safe code.
        unsafe { dot_i16_x4_sse2(w, x) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        dot_i16_x4_scalar(w, x)
    }
}

/// Portable reference for [`dot_i16_x4`].
pub fn dot_i16_x4_scalar(w: &[i16], x: [&[i16]; 4]) -> [i32; 4] {
    x.map(|xr| dot_i16_scalar(w, xr))
}

/// Sum of the four i32 lanes.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
#[target_feature(enable = "sse2")]
fn hsum_128(acc: core::arch::x86_64::__m128i) -> i32 {
    use core::arch::x86_64::{_mm_add_epi32, _mm_cvtsi128_si32, _mm_shuffle_epi32};
    let acc = _mm_add_epi32(acc, _mm_shuffle_epi32::<0x4E>(acc));
    let acc = _mm_add_epi32(acc, _mm_shuffle_epi32::<0xB1>(acc));
    _mm_cvtsi128_si32(acc)
}

/// Eight i16 lanes from `v[j..j + 8]`.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline]
#[target_feature(enable = "sse2")]
fn lanes8(v: &[i16], j: usize) -> core::arch::x86_64::__m128i {
    let v = &v[j..j + 8];
    core::arch::x86_64::_mm_set_epi16(v[7], v[6], v[5], v[4], v[3], v[2], v[1], v[0])
}

/// SSE2 body of [`dot_i16_x4`] (inputs of `w`'s length): one load of the weights per 8
/// columns, four `pmaddwd`s, one accumulator per input.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[target_feature(enable = "sse2")]
fn dot_i16_x4_sse2(w: &[i16], x: [&[i16]; 4]) -> [i32; 4] {
    use core::arch::x86_64::{_mm_add_epi32, _mm_madd_epi16, _mm_setzero_si128};
    let n = w.len();
    let full = n - n % 8;
    let mut acc = [_mm_setzero_si128(); 4];
    for j in (0..full).step_by(8) {
        let wv = lanes8(w, j);
        for (a, xr) in acc.iter_mut().zip(x) {
            *a = _mm_add_epi32(*a, _mm_madd_epi16(wv, lanes8(xr, j)));
        }
    }
    let mut sums = [0i32; 4];
    for ((sum, a), xr) in sums.iter_mut().zip(acc).zip(x) {
        *sum = hsum_128(a).wrapping_add(dot_i16_scalar(&w[full..], &xr[full..]));
    }
    sums
}

/// Sixteen i16 lanes from `v[j..j + 16]`.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn lanes16(v: &[i16], j: usize) -> core::arch::x86_64::__m256i {
    let v = &v[j..j + 16];
    core::arch::x86_64::_mm256_set_epi16(
        v[15], v[14], v[13], v[12], v[11], v[10], v[9], v[8], v[7], v[6], v[5], v[4], v[3], v[2],
        v[1], v[0],
    )
}

/// Sum of the eight i32 lanes.
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn hsum_256(acc: core::arch::x86_64::__m256i) -> i32 {
    use core::arch::x86_64::{
        _mm_add_epi32, _mm_cvtsi128_si32, _mm_shuffle_epi32, _mm256_castsi256_si128,
        _mm256_extracti128_si256,
    };
    let acc = _mm_add_epi32(
        _mm256_castsi256_si128(acc),
        _mm256_extracti128_si256::<1>(acc),
    );
    let acc = _mm_add_epi32(acc, _mm_shuffle_epi32::<0x4E>(acc));
    let acc = _mm_add_epi32(acc, _mm_shuffle_epi32::<0xB1>(acc));
    _mm_cvtsi128_si32(acc)
}

/// AVX2 body of [`dot_i16_x4`] (inputs of `w`'s length): one load of the weights per 16
/// columns, four `vpmaddwd`s, one accumulator per input.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i16_x4_avx2(w: &[i16], x: [&[i16]; 4]) -> [i32; 4] {
    use core::arch::x86_64::{_mm256_add_epi32, _mm256_madd_epi16, _mm256_setzero_si256};
    let n = w.len();
    let full = n - n % 16;
    let mut acc = [_mm256_setzero_si256(); 4];
    for j in (0..full).step_by(16) {
        let wv = lanes16(w, j);
        for (a, xr) in acc.iter_mut().zip(x) {
            *a = _mm256_add_epi32(*a, _mm256_madd_epi16(wv, lanes16(xr, j)));
        }
    }
    let mut sums = hsum_256_x4(acc);
    for (sum, xr) in sums.iter_mut().zip(x) {
        *sum = sum.wrapping_add(dot_i16_scalar(&w[full..], &xr[full..]));
    }
    sums
}

/// The lane sums of four accumulators at once: two rounds of `vphaddd` leave each
/// accumulator's sum split over the two 128-bit halves, one add joins them. Five
/// instructions instead of four [`hsum_256`]s' twenty-four, which mattered under QEMU TCG,
/// where each shuffle is a helper call (the sums are exact in wrapping i32 arithmetic, so the
/// order of the additions does not change them).
#[cfg(target_arch = "x86_64")]
#[inline]
#[target_feature(enable = "avx2")]
fn hsum_256_x4(acc: [core::arch::x86_64::__m256i; 4]) -> [i32; 4] {
    use core::arch::x86_64::{
        _mm_add_epi32, _mm_extract_epi32, _mm256_castsi256_si128, _mm256_extracti128_si256,
        _mm256_hadd_epi32,
    };
    let t01 = _mm256_hadd_epi32(acc[0], acc[1]);
    let t23 = _mm256_hadd_epi32(acc[2], acc[3]);
    let t = _mm256_hadd_epi32(t01, t23);
    let s = _mm_add_epi32(_mm256_castsi256_si128(t), _mm256_extracti128_si256::<1>(t));
    [
        _mm_extract_epi32::<0>(s),
        _mm_extract_epi32::<1>(s),
        _mm_extract_epi32::<2>(s),
        _mm_extract_epi32::<3>(s),
    ]
}

/// Whether [`dot_i16`] may use AVX2 (see the module's audit summary); detected once.
#[cfg(target_arch = "x86_64")]
pub fn avx2_usable() -> bool {
    use core::sync::atomic::{AtomicU8, Ordering};
    // 0: not yet detected, 1: no, 2: yes.
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        2 => true,
        1 => false,
        _ => {
            let yes = detect_avx2();
            STATE.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn detect_avx2() -> bool {
    use core::arch::x86_64::{__cpuid, __cpuid_count};
    if __cpuid(0).eax < 7 {
        return false;
    }
    let leaf1 = __cpuid(1);
    let (osxsave, avx) = (leaf1.ecx & (1 << 27) != 0, leaf1.ecx & (1 << 28) != 0);
    if !(osxsave && avx) {
        return false;
    }
    // SAFETY: `xgetbv` faults only when CR4.OSXSAVE is clear; CPUID.1:ECX.OSXSAVE (checked
    // above) mirrors that bit, so the instruction is allowed here.
    let xcr0 = unsafe { xcr0() };
    xcr0 & 0b110 == 0b110 && __cpuid_count(7, 0).ebx & (1 << 5) != 0
}

/// XCR0, the state components the OS enabled.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "xsave")]
fn xcr0() -> u64 {
    // SAFETY: the caller checked CR4.OSXSAVE (see `detect_avx2`); reading XCR0 has no other
    // effect.
    unsafe { core::arch::x86_64::_xgetbv(0) }
}

/// AVX2 body: 32 products per iteration in two `vpmaddwd`s, two accumulators.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn dot_i16_avx2(a: &[i16], b: &[i16]) -> i32 {
    use core::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_madd_epi16, _mm256_set_epi16, _mm256_setzero_si256,
    };
    #[inline]
    #[target_feature(enable = "avx2")]
    fn set(v: &[i16]) -> __m256i {
        _mm256_set_epi16(
            v[15], v[14], v[13], v[12], v[11], v[10], v[9], v[8], v[7], v[6], v[5], v[4], v[3],
            v[2], v[1], v[0],
        )
    }
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc0 = _mm256_setzero_si256();
    let mut acc1 = _mm256_setzero_si256();
    let ca = a.chunks_exact(32);
    let cb = b.chunks_exact(32);
    let mut done = n - ca.remainder().len();
    for (x, y) in ca.zip(cb) {
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(set(&x[..16]), set(&y[..16])));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(set(&x[16..]), set(&y[16..])));
    }
    // One more block of 16 (rows of 128 + 16k inputs, e.g. the 352-wide MLP, end on one).
    if n - done >= 16 {
        acc0 = _mm256_add_epi32(
            acc0,
            _mm256_madd_epi16(set(&a[done..done + 16]), set(&b[done..done + 16])),
        );
        done += 16;
    }
    hsum_256(_mm256_add_epi32(acc0, acc1)).wrapping_add(dot_i16_scalar(&a[done..], &b[done..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn four_row_dot_agrees_with_one_row_bit_for_bit() {
        let mut r = crate::rng::Rng::new(8);
        let mut v = |n: usize| -> alloc::vec::Vec<i16> {
            (0..n).map(|_| r.below(4095) as i16 - 2047).collect()
        };
        for n in [0usize, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 128, 352, 1001] {
            let w = v(n);
            let xs = [v(n), v(n), v(n), v(n)];
            let x = [&xs[0][..], &xs[1][..], &xs[2][..], &xs[3][..]];
            let want = x.map(|xr| dot_i16(&w, xr));
            assert_eq!(dot_i16_x4(&w, x), want, "n = {n}");
            assert_eq!(dot_i16_x4_scalar(&w, x), want, "scalar, n = {n}");
            #[cfg(target_arch = "x86_64")]
            {
                // SAFETY: SSE2 is in the x86_64 baseline.
                assert_eq!(unsafe { dot_i16_x4_sse2(&w, x) }, want, "sse2, n = {n}");
                if avx2_usable() {
                    // SAFETY: `avx2_usable` checked CPUID and XCR0.
                    assert_eq!(unsafe { dot_i16_x4_avx2(&w, x) }, want, "avx2, n = {n}");
                }
            }
        }
        // Inputs of different lengths: each lane over its own common length with `w`.
        let w = v(40);
        let (a, b, c, d) = (v(40), v(17), v(0), v(64));
        let x = [&a[..], &b[..], &c[..], &d[..]];
        assert_eq!(dot_i16_x4(&w, x), x.map(|xr| dot_i16(&w, xr)));
    }

    #[test]
    fn simd_agrees_with_scalar_bit_for_bit() {
        let mut r = crate::rng::Rng::new(6);
        for n in [0usize, 1, 7, 8, 15, 16, 17, 33, 128, 384, 1001] {
            let a: alloc::vec::Vec<i16> = (0..n).map(|_| r.below(4095) as i16 - 2047).collect();
            let b: alloc::vec::Vec<i16> = (0..n).map(|_| r.below(4095) as i16 - 2047).collect();
            assert_eq!(dot_i16(&a, &b), dot_i16_scalar(&a, &b), "n = {n}");
        }
        // Different lengths use the common prefix.
        assert_eq!(dot_i16(&[1, 2, 3], &[4, 5]), 14);
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn each_simd_path_agrees_with_scalar_bit_for_bit() {
        let mut r = crate::rng::Rng::new(7);
        for n in [0usize, 1, 15, 16, 17, 31, 32, 33, 48, 128, 352, 1001] {
            let a: alloc::vec::Vec<i16> = (0..n).map(|_| r.below(4095) as i16 - 2047).collect();
            let b: alloc::vec::Vec<i16> = (0..n).map(|_| r.below(4095) as i16 - 2047).collect();
            let want = dot_i16_scalar(&a, &b);
            // SAFETY: SSE2 is in the x86_64 baseline.
            assert_eq!(unsafe { dot_i16_sse2(&a, &b) }, want, "sse2, n = {n}");
            if avx2_usable() {
                // SAFETY: `avx2_usable` checked CPUID and XCR0.
                assert_eq!(unsafe { dot_i16_avx2(&a, &b) }, want, "avx2, n = {n}");
            }
        }
    }
}

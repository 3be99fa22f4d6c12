//! Boot-time planning over a firmware memory map: where the allocator's metadata goes, which
//! page ranges it may hand out, which 2 MiB chunks of the direct map hold RAM, and how many
//! pages a request of a given order covers.
//!
//! This is the arithmetic `hal` used to do inline while it set up memory; it lives here so the
//! host tests reach it (hal itself only runs in the kernel). Everything works on plain
//! `(start, end)` byte ranges, half-open, so it knows nothing about E820 types: the caller
//! passes only the usable regions. Neighbours: [`crate::BuddyAllocator`] (what the plan feeds),
//! `hal::mem::frames` (the caller at boot), `hal::mem::paging` (the direct map).

use crate::frame::PAGE_SIZE;

/// A half-open byte range `[start, end)`.
pub type Range = (u64, u64);

/// Rounds `x` up to a multiple of `align` (a power of two or any non-zero value);
/// saturates at the largest multiple instead of overflowing.
pub fn align_up(x: u64, align: u64) -> u64 {
    match x.checked_next_multiple_of(align) {
        Some(v) => v,
        None => u64::MAX / align * align,
    }
}

/// Rounds `x` down to a multiple of `align`.
pub fn align_down(x: u64, align: u64) -> u64 {
    x / align * align
}

/// The smallest order whose block holds `pages` pages (`0` for zero or one page).
pub fn order_for_pages(pages: usize) -> usize {
    pages.max(1).next_power_of_two().trailing_zeros() as usize
}

/// The smallest order whose block holds `bytes` bytes.
pub fn order_for_bytes(bytes: usize) -> usize {
    order_for_pages(bytes.div_ceil(PAGE_SIZE as usize))
}

/// The parts of `range` not covered by any of `holes`, in address order, written to `out`;
/// returns how many were written. Empty parts are dropped. `out` needs `holes.len() + 1`
/// entries at most; parts that do not fit are dropped (never a panic).
pub fn subtract(range: Range, holes: &[Range], out: &mut [Range]) -> usize {
    if range.0 >= range.1 || out.is_empty() {
        return 0;
    }
    out[0] = range;
    let mut n = 1;
    for &(hs, he) in holes.iter().filter(|(s, e)| e > s) {
        let mut i = 0;
        while i < n {
            let (s, e) = out[i];
            if he <= s || hs >= e {
                i += 1;
                continue;
            }
            let left = (s, hs.max(s));
            let right = (he.min(e), e);
            match (left.1 > left.0, right.1 > right.0) {
                (true, true) => {
                    out[i] = left;
                    if n < out.len() {
                        out[n] = right;
                        n += 1;
                    }
                    i += 1;
                }
                (true, false) => {
                    out[i] = left;
                    i += 1;
                }
                (false, true) => {
                    out[i] = right;
                    i += 1;
                }
                (false, false) => {
                    // The hole covers the piece: drop it, keep the order of the rest.
                    out.copy_within(i + 1..n, i);
                    n -= 1;
                }
            }
        }
    }
    out[..n].sort_unstable();
    n
}

/// Where the frame metadata goes: the lowest page-aligned address, in a usable region, at or
/// above both `floor` and the end of the kernel image, such that `meta_bytes` fit inside the
/// region and below `limit` (the part the boot page tables reach). `None` if nowhere fits.
pub fn place_metadata(
    usable: &[Range],
    kernel: Range,
    floor: u64,
    meta_bytes: u64,
    limit: u64,
) -> Option<u64> {
    usable
        .iter()
        .filter(|(s, e)| e > s)
        .filter_map(|&(s, e)| {
            let start = align_up(s.max(floor).max(kernel.1), PAGE_SIZE);
            let end = start.checked_add(meta_bytes)?;
            (end <= e && end <= limit).then_some(start)
        })
        .min()
}

/// The page-aligned ranges of one usable region the allocator may hand out: the region
/// above `floor`, shrunk to whole pages, minus the kernel image and the metadata (each
/// widened to whole pages). Writes up to three ranges to `out` and returns the count.
pub fn free_ranges(
    region: Range,
    floor: u64,
    kernel: Range,
    metadata: Range,
) -> ([Range; 3], usize) {
    let start = align_up(region.0.max(floor), PAGE_SIZE);
    let end = align_down(region.1, PAGE_SIZE);
    let holes = [
        (
            align_down(kernel.0, PAGE_SIZE),
            align_up(kernel.1, PAGE_SIZE),
        ),
        (
            align_down(metadata.0, PAGE_SIZE),
            align_up(metadata.1, PAGE_SIZE),
        ),
    ];
    let mut out = [(0, 0); 3];
    let n = if start < end {
        subtract((start, end), &holes, &mut out)
    } else {
        0
    };
    (out, n)
}

/// Calls `f` with the start of every `chunk`-aligned chunk of `[0, limit)` that overlaps a
/// usable region, in increasing order, each once. The direct map maps exactly these chunks,
/// so device memory in holes between RAM regions is never mapped cacheable by it.
pub fn chunks_with_ram(usable: &[Range], chunk: u64, limit: u64, mut f: impl FnMut(u64)) {
    // `next` is the first chunk start not yet reported; each round reports the chunks of the
    // region that reaches past `next` with the lowest chunk, so the order is increasing and
    // no chunk is reported twice, whatever the order and overlap of the regions.
    let mut next = 0u64;
    loop {
        let candidate = usable
            .iter()
            .map(|&(s, e)| (s, e.min(limit)))
            .filter(|&(s, e)| e > s && e > next)
            .map(|(s, e)| (align_down(s, chunk).max(next), e))
            .min();
        let Some((mut c, end)) = candidate else {
            return;
        };
        while c < end {
            f(c);
            match c.checked_add(chunk) {
                Some(v) => c = v,
                None => return,
            }
        }
        next = c;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn orders_cover_the_request() {
        assert_eq!(order_for_pages(0), 0);
        assert_eq!(order_for_pages(1), 0);
        assert_eq!(order_for_pages(2), 1);
        assert_eq!(order_for_pages(3), 2);
        assert_eq!(order_for_pages(16), 4);
        assert_eq!(order_for_pages(17), 5);
        assert_eq!(order_for_bytes(1), 0);
        assert_eq!(order_for_bytes(4096), 0);
        assert_eq!(order_for_bytes(4097), 1);
        assert_eq!(order_for_bytes(64 * 1024), 4);
    }

    #[test]
    fn align_saturates() {
        assert_eq!(align_up(1, 4096), 4096);
        assert_eq!(align_up(4096, 4096), 4096);
        assert_eq!(align_up(u64::MAX - 3, 4096), u64::MAX / 4096 * 4096);
        assert_eq!(align_down(8191, 4096), 4096);
    }

    #[test]
    fn subtract_cuts_holes_in_any_order() {
        let mut out = [(0, 0); 4];
        let n = subtract((0, 100), &[(60, 70), (10, 20)], &mut out);
        assert_eq!(&out[..n], &[(0, 10), (20, 60), (70, 100)]);
        // Holes covering the edges, overlapping each other, empty, or outside.
        let n = subtract(
            (0, 100),
            &[(0, 5), (90, 200), (40, 50), (45, 55), (30, 30), (300, 400)],
            &mut out,
        );
        assert_eq!(&out[..n], &[(5, 40), (55, 90)]);
        // A hole swallowing everything.
        assert_eq!(subtract((10, 20), &[(0, 30)], &mut out), 0);
        // An empty range.
        assert_eq!(subtract((20, 10), &[], &mut out), 0);
        // Too small an output drops parts instead of panicking.
        let mut one = [(0, 0); 1];
        assert_eq!(subtract((0, 100), &[(10, 20)], &mut one), 1);
        assert_eq!(one[0], (0, 10));
    }

    #[test]
    fn metadata_goes_lowest_above_kernel_and_floor() {
        let usable = [(0, 640 * 1024), (MIB, 256 * MIB)];
        let kernel = (MIB, 3 * MIB + 123);
        let at = place_metadata(&usable, kernel, MIB, 200 * 1024, 4096 * MIB).unwrap();
        assert_eq!(at, 3 * MIB + 4096);
        // Not below the 4 GiB limit of the boot map.
        let high = [(4096 * MIB, 8192 * MIB)];
        assert_eq!(place_metadata(&high, kernel, MIB, 4096, 4096 * MIB), None);
        // Too big for any region.
        assert_eq!(
            place_metadata(&usable, kernel, MIB, 300 * MIB, u64::MAX),
            None
        );
        // Overflow-safe.
        assert_eq!(
            place_metadata(&[(0, u64::MAX)], (0, 0), 1, u64::MAX, u64::MAX),
            None
        );
    }

    #[test]
    fn free_ranges_exclude_low_memory_kernel_and_metadata() {
        let kernel = (MIB, 3 * MIB + 100);
        let meta = (3 * MIB + 4096, 3 * MIB + 4096 + 10_000);
        let (r, n) = free_ranges((0, 64 * MIB + 100), MIB, kernel, meta);
        assert_eq!(
            &r[..n],
            &[(3 * MIB + 4096 + 12_288, 64 * MIB)],
            "kernel page, metadata pages and the partial last page are cut"
        );
        let (r, n) = free_ranges((0, 640 * 1024), MIB, kernel, meta);
        assert_eq!(n, 0, "{:?}", &r[..n]);
        // A region above both holes is untouched.
        let (r, n) = free_ranges((4096 * MIB, 5000 * MIB), MIB, kernel, meta);
        assert_eq!(&r[..n], &[(4096 * MIB, 5000 * MIB)]);
    }

    #[test]
    fn direct_map_chunks_skip_holes() {
        let two = 2 * MIB;
        let usable = [
            (0, 640 * 1024),
            (MIB, 3 * 1024 * MIB),
            (4096 * MIB, 4096 * MIB + two + 1),
        ];
        let mut chunks = Vec::new();
        chunks_with_ram(&usable, two, u64::MAX, |c| chunks.push(c));
        // 0..3 GiB: 1536 chunks; the first region shares chunk 0 with the second.
        assert_eq!(chunks.iter().filter(|&&c| c < 3 * 1024 * MIB).count(), 1536);
        assert!(
            !chunks
                .iter()
                .any(|&c| (3 * 1024 * MIB..4096 * MIB).contains(&c))
        );
        assert_eq!(chunks[1536..], [4096 * MIB, 4096 * MIB + two]);
        assert!(
            chunks.windows(2).all(|w| w[0] < w[1]),
            "each chunk once, in order"
        );
        // The limit stops the walk.
        let mut n = 0;
        chunks_with_ram(&usable, two, 4 * MIB, |_| n += 1);
        assert_eq!(n, 2);
    }
}

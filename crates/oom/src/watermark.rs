//! The allocator's last fallback for workload memory: the minimum number of free pages a
//! workload allocation must leave behind. Below it the kernel heap, stacks and page tables
//! could starve, so a workload request that would cross it is refused — an OOM. The
//! predictor measures exhaustion against this line and the PSI-style baseline counts time
//! spent under twice it ([`low_free_pages`]).

/// Pages a workload allocation must leave free on a machine with `total_pages` usable pages:
/// 2 % of RAM, at least 512 pages (2 MiB), never more than the machine has.
pub fn min_free_pages(total_pages: u64) -> u64 {
    (total_pages / 50).max(512).min(total_pages)
}

/// The low watermark: twice [`min_free_pages`] (saturating). Free memory under it counts as
/// memory pressure for the PSI-style baseline.
pub fn low_free_pages(total_pages: u64) -> u64 {
    min_free_pages(total_pages)
        .saturating_mul(2)
        .min(total_pages)
}

/// Whether a workload request for `pages` pages is refused when `free_pages` are free on a
/// machine of `total_pages`: it would leave fewer than [`min_free_pages`] free.
pub fn refuses(total_pages: u64, free_pages: u64, pages: u64) -> bool {
    free_pages.saturating_sub(pages) < min_free_pages(total_pages) || pages > free_pages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_percent_with_a_floor() {
        // 256 MiB = 65536 pages: 2 % is 1310.
        assert_eq!(min_free_pages(65_536), 1310);
        assert_eq!(min_free_pages(10_000), 512);
        assert_eq!(min_free_pages(100), 100);
        assert_eq!(low_free_pages(65_536), 2620);
        assert_eq!(low_free_pages(700), 700);
    }

    #[test]
    fn refusal_rule() {
        assert!(!refuses(65_536, 2000, 690));
        assert!(refuses(65_536, 2000, 691));
        assert!(refuses(65_536, 10, 20));
    }
}

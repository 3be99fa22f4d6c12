//! # blockcache — a reclaimable block cache
//!
//! [`BlockCache`] wraps any [`BlockDevice`] and keeps recently read device data in 4 KiB
//! *chunks*, each held in a page the caller's [`PageSource`] supplies. In the kernel the pages
//! are `Reclaimable` frames from the buddy allocator, so [`BlockCache::reclaim`] hands real
//! memory back to the allocator when the OOM response ladder asks; on the host they are boxed
//! arrays.
//!
//! Design:
//! - **Write-through.** A write goes to the device before it returns, and updates any cached
//!   copy. The cache therefore never holds data the device does not have: dropping it (reclaim,
//!   a crash) loses nothing, and the file system's ordering of writes and flushes — what its
//!   journal relies on — reaches the device unchanged.
//! - **Least recently used** eviction, by a use stamp per chunk; a cap in pages
//!   ([`BlockCache::set_limit`]).
//! - **Never fails for lack of memory.** When the page source has nothing, the request is
//!   served straight from the device.
//!
//! Neighbours: `blockdev` (the trait), `ext4` (the main client), the kernel's storage layer.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::collections::BTreeMap;

use blockdev::{BlockDevice, IoError};

/// Bytes per cached chunk (one page).
pub const CHUNK_SIZE: usize = 4096;

/// Where the cache gets the memory for its chunks.
pub trait PageSource {
    /// One page of at least [`CHUNK_SIZE`] bytes; dropping it returns the memory.
    type Page: AsRef<[u8]> + AsMut<[u8]>;
    /// A page, or `None` when memory is short (the cache then does without).
    fn alloc_page(&mut self) -> Option<Self::Page>;
}

/// Heap-backed pages, for host tests and tools.
#[derive(Debug, Default)]
pub struct HeapPages {
    /// Pages still allowed (to simulate memory running out); `None` = unlimited.
    pub budget: Option<usize>,
}

impl PageSource for HeapPages {
    type Page = alloc::boxed::Box<[u8]>;
    fn alloc_page(&mut self) -> Option<Self::Page> {
        match &mut self.budget {
            Some(0) => None,
            Some(n) => {
                *n -= 1;
                Some(alloc::vec![0; CHUNK_SIZE].into_boxed_slice())
            }
            None => Some(alloc::vec![0; CHUNK_SIZE].into_boxed_slice()),
        }
    }
}

/// Counters, for `df` and the metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Chunks currently cached.
    pub cached_chunks: u64,
    /// Chunk lookups served from the cache.
    pub hits: u64,
    /// Chunk lookups that went to the device.
    pub misses: u64,
    /// Chunks dropped to stay under the limit.
    pub evictions: u64,
    /// Chunks dropped by [`BlockCache::reclaim`].
    pub reclaimed: u64,
    /// Device read requests issued.
    pub device_reads: u64,
    /// Device write requests issued.
    pub device_writes: u64,
}

struct Entry<P> {
    page: P,
    stamp: u64,
}

/// A write-through LRU cache of 4 KiB chunks over `D`.
pub struct BlockCache<D, S: PageSource> {
    dev: D,
    source: S,
    /// Chunk index → cached page.
    chunks: BTreeMap<u64, Entry<S::Page>>,
    /// Use stamp → chunk index, oldest first.
    lru: BTreeMap<u64, u64>,
    next_stamp: u64,
    limit: usize,
    stats: CacheStats,
    /// Device blocks per chunk.
    per_chunk: u64,
}

impl<D: BlockDevice, S: PageSource> BlockCache<D, S> {
    /// A cache over `dev` holding at most `limit` chunks. Fails if the device block size does
    /// not divide [`CHUNK_SIZE`].
    pub fn new(dev: D, source: S, limit: usize) -> Result<Self, IoError> {
        let bs = dev.block_size();
        if bs == 0 || !CHUNK_SIZE.is_multiple_of(bs) {
            return Err(IoError::BadLength);
        }
        Ok(Self {
            per_chunk: (CHUNK_SIZE / bs) as u64,
            dev,
            source,
            chunks: BTreeMap::new(),
            lru: BTreeMap::new(),
            next_stamp: 0,
            limit,
            stats: CacheStats::default(),
        })
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            cached_chunks: self.chunks.len() as u64,
            ..self.stats
        }
    }

    /// The wrapped device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the cap, evicting down to it at once.
    pub fn set_limit(&mut self, chunks: usize) {
        self.limit = chunks;
        while self.chunks.len() > self.limit {
            if !self.evict_oldest() {
                break;
            }
            self.stats.evictions += 1;
        }
    }

    /// Drops up to `max_chunks` least recently used chunks and returns how many were dropped
    /// (their pages go back to the page source's owner). Safe at any time: the device has
    /// every byte the cache holds.
    pub fn reclaim(&mut self, max_chunks: usize) -> usize {
        let mut dropped = 0;
        while dropped < max_chunks && self.evict_oldest() {
            dropped += 1;
        }
        self.stats.reclaimed += dropped as u64;
        dropped
    }

    fn evict_oldest(&mut self) -> bool {
        let Some((_, chunk)) = self.lru.pop_first() else {
            return false;
        };
        self.chunks.remove(&chunk);
        true
    }

    fn touch(&mut self, chunk: u64) {
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        if let Some(e) = self.chunks.get_mut(&chunk) {
            self.lru.remove(&e.stamp);
            e.stamp = stamp;
            self.lru.insert(stamp, chunk);
        }
    }

    /// Whether chunk `chunk` lies entirely on the device (a trailing partial chunk is never
    /// cached).
    fn whole_chunk(&self, chunk: u64) -> bool {
        chunk
            .checked_add(1)
            .and_then(|c| c.checked_mul(self.per_chunk))
            .is_some_and(|end| end <= self.dev.num_blocks())
    }

    /// Caches a copy of `data` (one whole chunk) if the limit and the page source allow.
    fn insert(&mut self, chunk: u64, data: &[u8]) {
        if self.limit == 0 {
            return;
        }
        if self.chunks.len() >= self.limit {
            if !self.evict_oldest() {
                return;
            }
            self.stats.evictions += 1;
        }
        let Some(mut page) = self.source.alloc_page() else {
            return;
        };
        let Some(dst) = page.as_mut().get_mut(..CHUNK_SIZE) else {
            return;
        };
        dst.copy_from_slice(data);
        let stamp = self.next_stamp;
        self.next_stamp += 1;
        self.chunks.insert(chunk, Entry { page, stamp });
        self.lru.insert(stamp, chunk);
    }

    fn check(&self, lba: u64, len: usize) -> Result<(), IoError> {
        let bs = self.dev.block_size();
        if len == 0 || !len.is_multiple_of(bs) {
            return Err(IoError::BadLength);
        }
        let end = lba
            .checked_add((len / bs) as u64)
            .ok_or(IoError::OutOfRange)?;
        if end > self.dev.num_blocks() {
            return Err(IoError::OutOfRange);
        }
        Ok(())
    }
}

impl<D: BlockDevice, S: PageSource> BlockDevice for BlockCache<D, S> {
    fn block_size(&self) -> usize {
        self.dev.block_size()
    }

    fn num_blocks(&self) -> u64 {
        self.dev.num_blocks()
    }

    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.check(lba, buf.len())?;
        let bs = self.dev.block_size() as u64;
        let end = lba + buf.len() as u64 / bs;
        let mut at = lba;
        while at < end {
            let chunk = at / self.per_chunk;
            let chunk_start = chunk * self.per_chunk;
            let chunk_end = chunk_start + self.per_chunk;
            let upto = end.min(chunk_end);
            let out = ((at - lba) * bs) as usize..((upto - lba) * bs) as usize;
            let within = ((at - chunk_start) * bs) as usize..((upto - chunk_start) * bs) as usize;
            if let Some(e) = self.chunks.get(&chunk) {
                buf[out].copy_from_slice(&e.page.as_ref()[within]);
                self.stats.hits += 1;
                self.touch(chunk);
                at = upto;
                continue;
            }
            self.stats.misses += 1;
            if !self.whole_chunk(chunk) {
                self.stats.device_reads += 1;
                self.dev.read_blocks(at, &mut buf[out])?;
                at = upto;
                continue;
            }
            if at == chunk_start && upto == chunk_end {
                // Fully covered: read this and every following uncached, fully covered chunk
                // in one device request straight into the caller's buffer, then keep copies.
                let mut run_end = chunk_end;
                while run_end + self.per_chunk <= end
                    && !self.chunks.contains_key(&(run_end / self.per_chunk))
                    && self.whole_chunk(run_end / self.per_chunk)
                {
                    run_end += self.per_chunk;
                }
                let range = ((at - lba) * bs) as usize..((run_end - lba) * bs) as usize;
                self.stats.device_reads += 1;
                self.dev.read_blocks(at, &mut buf[range.clone()])?;
                self.stats.misses += (run_end - chunk_end) / self.per_chunk;
                for (i, data) in buf[range].chunks(CHUNK_SIZE).enumerate() {
                    self.insert(chunk + i as u64, data);
                }
                at = run_end;
            } else {
                let mut data = [0u8; CHUNK_SIZE];
                self.stats.device_reads += 1;
                self.dev.read_blocks(chunk_start, &mut data)?;
                buf[out].copy_from_slice(&data[within]);
                self.insert(chunk, &data);
                at = upto;
            }
        }
        Ok(())
    }

    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        self.check(lba, buf.len())?;
        self.stats.device_writes += 1;
        // On a device error the cached copies of the range may no longer match the device:
        // drop them so a later read sees what the device really holds.
        let result = self.dev.write_blocks(lba, buf);
        let bs = self.dev.block_size() as u64;
        let end = lba + buf.len() as u64 / bs;
        let first = lba / self.per_chunk;
        let last = (end - 1) / self.per_chunk;
        let cached: alloc::vec::Vec<u64> =
            self.chunks.range(first..=last).map(|(&c, _)| c).collect();
        for chunk in cached {
            if result.is_err() {
                if let Some(e) = self.chunks.remove(&chunk) {
                    self.lru.remove(&e.stamp);
                }
                continue;
            }
            let chunk_start = chunk * self.per_chunk;
            let from = lba.max(chunk_start);
            let upto = end.min(chunk_start + self.per_chunk);
            if let Some(e) = self.chunks.get_mut(&chunk) {
                let src = ((from - lba) * bs) as usize..((upto - lba) * bs) as usize;
                let dst =
                    ((from - chunk_start) * bs) as usize..((upto - chunk_start) * bs) as usize;
                e.page.as_mut()[dst].copy_from_slice(&buf[src]);
            }
        }
        result
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.dev.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use blockdev::MemDevice;
    use proptest::prelude::*;

    fn device(blocks: usize, bs: usize) -> MemDevice {
        let data: Vec<u8> = (0..blocks * bs).map(|i| (i * 7 + i / 511) as u8).collect();
        MemDevice::new(data, bs).unwrap()
    }

    #[test]
    fn second_read_is_a_hit_and_matches() {
        let mut c = BlockCache::new(device(64, 512), HeapPages::default(), 16).unwrap();
        let mut a = vec![0u8; 8192];
        let mut b = vec![0u8; 8192];
        c.read_blocks(8, &mut a).unwrap();
        let misses = c.stats().misses;
        c.read_blocks(8, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(c.stats().misses, misses);
        assert_eq!(c.stats().hits, 2);
        let mut raw = vec![0u8; 8192];
        c.device_mut().read_blocks(8, &mut raw).unwrap();
        assert_eq!(a, raw);
    }

    #[test]
    fn reclaim_frees_lru_first_and_keeps_data_correct() {
        let mut c = BlockCache::new(device(64, 512), HeapPages::default(), 16).unwrap();
        let mut buf = vec![0u8; 4096];
        for chunk in 0..4 {
            c.read_blocks(chunk * 8, &mut buf).unwrap();
        }
        c.read_blocks(0, &mut buf).unwrap(); // chunk 0 becomes the newest
        assert_eq!(c.reclaim(2), 2);
        assert_eq!(c.stats().cached_chunks, 2);
        let hits = c.stats().hits;
        c.read_blocks(0, &mut buf).unwrap();
        assert_eq!(c.stats().hits, hits + 1, "chunk 0 survived as most recent");
        assert_eq!(c.reclaim(100), 2);
        assert_eq!(c.reclaim(1), 0);
    }

    #[test]
    fn no_pages_means_pass_through() {
        let pages = HeapPages { budget: Some(0) };
        let mut c = BlockCache::new(device(16, 512), pages, 16).unwrap();
        let mut buf = vec![0u8; 4096];
        c.read_blocks(0, &mut buf).unwrap();
        assert_eq!(c.stats().cached_chunks, 0);
    }

    #[test]
    fn bad_requests_are_errors() {
        let mut c = BlockCache::new(device(16, 512), HeapPages::default(), 4).unwrap();
        let mut buf = vec![0u8; 100];
        assert_eq!(c.read_blocks(0, &mut buf), Err(IoError::BadLength));
        let mut buf = vec![0u8; 1024];
        assert_eq!(c.read_blocks(15, &mut buf), Err(IoError::OutOfRange));
        assert_eq!(c.read_blocks(u64::MAX, &mut buf), Err(IoError::OutOfRange));
        assert!(BlockCache::new(device(4, 512), HeapPages::default(), 1).is_ok());
    }

    proptest! {
        /// Any mix of reads, writes, reclaims and limit changes reads exactly what a plain
        /// device given the same writes holds, and the device behind the cache always equals it.
        #[test]
        fn behaves_like_the_device(
            ops in proptest::collection::vec((0u8..4, 0u64..70, 1usize..20, any::<u8>()), 1..80),
            limit in 0usize..8,
        ) {
            let blocks = 67; // not a whole number of chunks: the tail chunk is never cached
            let mut model = device(blocks, 512);
            let mut c = BlockCache::new(device(blocks, 512), HeapPages::default(), limit).unwrap();
            for (kind, lba, n, fill) in ops {
                let len = n * 512;
                match kind {
                    0 | 1 => {
                        let mut a = vec![0u8; len];
                        let mut b = vec![0u8; len];
                        let ra = c.read_blocks(lba, &mut a);
                        let rb = model.read_blocks(lba, &mut b);
                        prop_assert_eq!(ra, rb);
                        prop_assert_eq!(a, b);
                    }
                    2 => {
                        let data: Vec<u8> = (0..len).map(|i| fill.wrapping_add(i as u8)).collect();
                        prop_assert_eq!(c.write_blocks(lba, &data), model.write_blocks(lba, &data));
                    }
                    _ => {
                        c.reclaim(n % 3);
                        c.set_limit((limit + n) % 9);
                    }
                }
                prop_assert!(c.stats().cached_chunks as usize <= c.limit().max(limit));
            }
            let mut a = vec![0u8; blocks * 512];
            let mut b = vec![0u8; blocks * 512];
            c.device_mut().read_blocks(0, &mut a).unwrap();
            model.read_blocks(0, &mut b).unwrap();
            prop_assert_eq!(a, b);
        }
    }
}

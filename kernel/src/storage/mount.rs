//! Mounting the data disk at boot: claim the first virtio-blk device, put the block cache over
//! it and mount ext4 (read-only when the device is), or record why there is no file system.

use alloc::format;
use alloc::string::String;

use blockcache::BlockCache;
use ext4::Ext4;
use pci::VirtioKind;

use super::device::{ReclaimableFrames, VirtioDisk};
use super::{FS, MOUNT_ERROR};

/// Block-cache cap: an eighth of RAM, at most 64 MiB (reclaim can empty it at any time).
pub(super) fn cache_limit_chunks() -> usize {
    let total = hal::mem::frames::stats().total_pages as usize;
    (total / 8).min(16 * 1024)
}

/// Clean ext4 metadata blocks kept on the kernel heap (which never shrinks), so few.
const EXT4_METADATA_CACHE_BLOCKS: usize = 256;

/// Probes the first virtio-blk disk and mounts its ext4 file system. Returns the boot line.
pub fn mount_at_boot() -> String {
    let result = (|| -> Result<String, String> {
        let device = hal::pci::claim_virtio(VirtioKind::Block)
            .ok_or_else(|| String::from("no virtio-blk disk attached"))?;
        let block =
            hal::virtio::VirtioBlock::new(device).map_err(|e| format!("virtio-blk: {e}"))?;
        let (bus, dev, func) = block.location();
        let mib = block.sectors() / 2048;
        let read_only = block.read_only();
        let cache = BlockCache::new(VirtioDisk(block), ReclaimableFrames, cache_limit_chunks())
            .map_err(|e| format!("block cache: {e}"))?;
        let mut fs = if read_only {
            Ext4::mount_read_only(cache)
        } else {
            Ext4::mount(cache)
        }
        .map_err(|e| format!("ext4 mount: {e}"))?;
        fs.set_cache_limit(EXT4_METADATA_CACHE_BLOCKS);
        // Inode timestamps from the wall clock (the CMOS RTC read at boot); without one the
        // crate keeps using the image's last write time.
        fs.set_clock(hal::time::wall_clock_secs);
        let st = fs.stats();
        let free_mib = st.free_blocks * st.block_size as u64 / (1024 * 1024);
        *FS.lock() = Some(fs);
        Ok(format!(
            "storage: virtio-blk at {bus:02x}:{dev:02x}.{func}, {mib} MiB{}; ext4 mounted at /, {free_mib} MiB free",
            if read_only { ", read-only" } else { "" }
        ))
    })();
    match result {
        Ok(line) => line,
        Err(why) => {
            let line = format!("storage: no file system ({why})");
            *MOUNT_ERROR.lock() = Some(why);
            line
        }
    }
}

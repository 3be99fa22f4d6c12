//! ext4 for Nous: mount images made by Debian's `mkfs.ext4` (4 KiB or 1 KiB blocks, extents,
//! 64bit, flex_bg, metadata_csum, dir_index, huge_file, extra_isize, has_journal), read them,
//! and write them with crash safety through the jbd2 journal.
//!
//! Design principles:
//! - e2fsprogs is the judge: every image this crate writes must pass `e2fsck -fn`.
//! - Simple and checkable over clever: extent trees are rewritten from a flat list, htree
//!   directories are read through their index but turned into linear ones before entries
//!   are added, and each journal transaction is checkpointed as soon as it commits.
//! - Bad bytes become [`Error`] values, never panics; hardware is only a
//!   [`blockdev::BlockDevice`].
//!
//! Changes become durable at [`Ext4::sync`] (or [`Ext4::unmount`]); dropping a mounted
//! filesystem without syncing loses the uncommitted changes but never corrupts the image.
//! Replace a file atomically by writing a new name and renaming it over the old one:
//!
//! ```no_run
//! # fn demo<D: blockdev::BlockDevice>(dev: D) -> Result<(), ext4::Error> {
//! let mut fs = ext4::Ext4::mount(dev)?;
//! fs.write_file("/models/adapter.tmp", b"new weights")?;
//! fs.rename("/models/adapter.tmp", "/models/adapter.bin")?;
//! fs.sync()?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod balloc;
mod bytes;
pub mod crc32c;
mod dir;
mod error;
mod extent;
mod filedata;
mod fs;
pub mod htree;
mod inode;
mod journal;
mod namei;
mod superblock;
mod transaction;

pub use error::{Error, Result};
pub use fs::{DirEntry, Ext4, FileKind, FsStats, Metadata};

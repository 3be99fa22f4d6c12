//! ext4 for Nous: mount images made by Debian's `mkfs.ext4` (4 KiB or 1 KiB blocks, extents,
//! 64bit, flex_bg, metadata_csum, dir_index, huge_file, extra_isize, has_journal) and the
//! ext2/ext3 layouts (`mkfs.ext2`, `mkfs.ext3`, `-O ^extent`: block-mapped files through
//! indirect blocks), read them, and write them with crash safety through the jbd2 journal.
//!
//! Design principles:
//! - e2fsprogs is the judge: every image this crate writes must pass `e2fsck -fn`.
//! - Simple and checkable over clever: extent trees and block maps are rewritten from a flat
//!   list, htree directories are read through their index but turned into linear ones
//!   before entries are added, and each journal transaction is checkpointed as soon as it
//!   commits.
//! - Bad bytes become [`Error`] values, never panics; hardware is only a
//!   [`blockdev::BlockDevice`].
//! - Detected corruption stops all writing (like Linux's `errors=remount-ro`): the call that
//!   finds it says what is wrong, later changes fail with [`Error::HasErrors`], and the
//!   image is left as it was last committed ([`Ext4::errors`]).
//! - Paths follow POSIX: a trailing `/` requires a directory, and `.` or `..` cannot be the
//!   last component of a path to create, remove or rename.
//! - Timestamps come from a clock the caller gives ([`Ext4::set_clock`]); without one they
//!   are the image's last write time.
//!
//! Changes become durable at [`Ext4::sync`] (or [`Ext4::unmount`]); dropping a mounted
//! filesystem without syncing loses the uncommitted changes but never corrupts the image.
//! [`Ext4::replace_file`] replaces a file atomically (a temporary file renamed over it,
//! removed again if anything fails):
//!
//! ```no_run
//! # fn demo<D: blockdev::BlockDevice>(dev: D) -> Result<(), ext4::Error> {
//! let mut fs = ext4::Ext4::mount(dev)?;
//! fs.replace_file("/models/adapter.bin", b"new weights")?;
//! fs.sync()?;
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]

extern crate alloc;

mod balloc;
mod blockmap;
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
pub use fs::{Clock, DirEntry, Ext4, FileKind, FsStats, Metadata};

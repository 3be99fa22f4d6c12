//! Persistent storage: the virtio-blk data disk, its reclaimable block cache, the ext4 file
//! system mounted at boot, and the shell's file commands (`ls cat write rm mkdir mv df sync`).
//!
//! Stack: `hal::virtio::VirtioBlock` (sectors, polled) → [`VirtioDisk`] (the `BlockDevice`
//! trait) → `blockcache::BlockCache` (4 KiB chunks in `Reclaimable` frames, write-through) →
//! `ext4::Ext4` (journalled metadata). Everything sits behind one lock, [`FS`]; commands take it
//! with [`with_fs`], which yields to other threads while it is busy, and the memory manager's
//! reclaim takes it with `try_lock` only, so reclaim never waits on a disk request.
//!
//! Durability contract of the commands: `write` replaces a file by writing a temporary file and
//! renaming it over the target, then commits the journal, so when it returns the new content is
//! on the disk and a crash at any moment leaves either the old or the new file. `rm`, `mkdir`
//! and `mv` commit as well. `sync` commits and flushes whatever is pending (nothing, normally).
//! `shutdown` unmounts cleanly.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use blockcache::{BlockCache, CacheStats, PageSource};
use blockdev::{BlockDevice, IoError};
use buddy::MigrateType;
use ext4::{Ext4, FileKind};
use hal::mem::frames::OwnedFrame;
use hal::virtio::VirtioBlock;
use shell::{CommandError, CommandRegistry, required_arg};

use crate::commands::KernelCtx;

/// The data disk as a `BlockDevice` of 512-byte sectors.
pub struct VirtioDisk(VirtioBlock);

fn io(e: hal::virtio::VirtioError) -> IoError {
    IoError::Device(match e {
        hal::virtio::VirtioError::ReadOnly => "disk is read-only",
        hal::virtio::VirtioError::BadRange => "out of range",
        hal::virtio::VirtioError::NoMemory => "out of memory",
        hal::virtio::VirtioError::Init(what) | hal::virtio::VirtioError::Io(what) => what,
    })
}

impl BlockDevice for VirtioDisk {
    fn block_size(&self) -> usize {
        512
    }
    fn num_blocks(&self) -> u64 {
        self.0.sectors()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), IoError> {
        self.0.read(lba, buf).map_err(io)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), IoError> {
        self.0.write(lba, buf).map_err(io)
    }
    fn flush(&mut self) -> Result<(), IoError> {
        self.0.flush().map_err(io)
    }
}

/// Cache pages: single `Reclaimable` frames, so reclaim returns them to the buddy allocator.
pub struct ReclaimableFrames;

impl PageSource for ReclaimableFrames {
    type Page = OwnedFrame;
    fn alloc_page(&mut self) -> Option<OwnedFrame> {
        OwnedFrame::new(0, MigrateType::Reclaimable).ok()
    }
}

type Disk = BlockCache<VirtioDisk, ReclaimableFrames>;
type Fs = Ext4<Disk>;

/// The mounted file system (None when there is no disk or it did not mount).
static FS: spin::Mutex<Option<Fs>> = spin::Mutex::new(None);
/// Why there is no file system, for `df` and the file commands.
static MOUNT_ERROR: spin::Mutex<Option<String>> = spin::Mutex::new(None);

/// Block-cache cap: an eighth of RAM, at most 64 MiB (reclaim can empty it at any time).
fn cache_limit_chunks() -> usize {
    let total = hal::mem::frames::stats().total_pages as usize;
    (total / 8).min(16 * 1024)
}

/// Clean ext4 metadata blocks kept on the kernel heap (which never shrinks), so few.
const EXT4_METADATA_CACHE_BLOCKS: usize = 256;

/// Probes the first virtio-blk disk and mounts its ext4 file system. Returns the boot line.
pub fn mount_at_boot() -> String {
    let result = (|| -> Result<String, String> {
        let block = hal::virtio::probe_block(0)
            .map_err(|e| format!("virtio-blk: {e}"))?
            .ok_or_else(|| String::from("no virtio-blk disk attached"))?;
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

/// Runs `f` on the mounted file system, waiting (by yielding) while another thread uses it.
fn with_fs<R>(f: impl FnOnce(&mut Fs) -> R) -> Result<R, CommandError> {
    loop {
        if let Some(mut guard) = FS.try_lock() {
            return match guard.as_mut() {
                Some(fs) => Ok(f(fs)),
                None => Err(CommandError::failed(match MOUNT_ERROR.lock().as_ref() {
                    Some(why) => format!("no file system mounted: {why}"),
                    None => String::from("no file system mounted"),
                })),
            };
        }
        hal::task::yield_now();
    }
}

/// Shrinker for the memory manager: drops up to `max_pages` cached disk chunks and the ext4
/// metadata cache. Returns the frames given back. Never waits: if the file system is busy it
/// frees nothing this time.
pub fn reclaim(max_pages: usize) -> usize {
    let Some(mut guard) = FS.try_lock() else {
        return 0;
    };
    let Some(fs) = guard.as_mut() else {
        return 0;
    };
    fs.drop_caches();
    fs.device_mut().reclaim(max_pages)
}

/// Pages the block cache holds now (what [`reclaim`] could free), or 0 when busy/unmounted.
pub fn reclaimable_pages() -> usize {
    FS.try_lock()
        .and_then(|g| {
            g.as_ref()
                .map(|fs| fs.device().stats().cached_chunks as usize)
        })
        .unwrap_or(0)
}

/// Commits and unmounts (before power-off). Returns a line to print when something failed.
pub fn unmount() -> Option<String> {
    let mut guard = FS.lock();
    let fs = guard.take()?;
    match fs.unmount() {
        Ok(mut disk) => disk
            .flush()
            .err()
            .map(|e| format!("storage: flush at unmount: {e}")),
        Err(e) => Some(format!("storage: unmount: {e}")),
    }
}

/// Cache counters, when mounted.
pub fn cache_stats() -> Option<CacheStats> {
    FS.try_lock()
        .and_then(|g| g.as_ref().map(|fs| fs.device().stats()))
}

type Out<'a> = &'a mut dyn Write;
type CmdResult = Result<(), CommandError>;

fn fs_err(path: &str, e: ext4::Error) -> CommandError {
    CommandError::failed(format!("{path}: {e}"))
}

/// Shell paths are absolute; a relative one is taken from `/`.
fn absolute(path: &str) -> String {
    if path.starts_with('/') {
        String::from(path)
    } else {
        format!("/{path}")
    }
}

fn kind_char(kind: FileKind) -> char {
    match kind {
        FileKind::Directory => 'd',
        FileKind::File => '-',
        FileKind::Symlink => 'l',
        FileKind::Other => '?',
    }
}

fn cmd_ls(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = absolute(args.first().copied().unwrap_or("/"));
    let listing = with_fs(|fs| -> Result<Vec<(String, char, u64)>, ext4::Error> {
        let meta = fs.stat(&path)?;
        if meta.kind != FileKind::Directory {
            return Ok(alloc::vec![(path.clone(), kind_char(meta.kind), meta.size)]);
        }
        let mut rows = Vec::new();
        for entry in fs.read_dir(&path)? {
            let name = String::from_utf8_lossy(&entry.name).into_owned();
            let child = if path.ends_with('/') {
                format!("{path}{name}")
            } else {
                format!("{path}/{name}")
            };
            let size = fs.stat(&child).map(|m| m.size).unwrap_or(0);
            rows.push((name, kind_char(entry.kind), size));
        }
        rows.sort();
        Ok(rows)
    })?
    .map_err(|e| fs_err(&path, e))?;
    for (name, kind, size) in listing {
        writeln!(out, "{kind} {size:>10} {name}")?;
    }
    Ok(())
}

/// Most bytes `cat` prints; longer files are cut with a note.
const CAT_LIMIT: usize = 64 * 1024;

fn cmd_cat(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = absolute(required_arg(args, 0, "path")?);
    let (data, size) = with_fs(|fs| -> Result<(Vec<u8>, u64), ext4::Error> {
        let meta = fs.stat(&path)?;
        if meta.kind == FileKind::Directory {
            return Err(ext4::Error::IsADirectory);
        }
        let mut buf = alloc::vec![0u8; (meta.size as usize).min(CAT_LIMIT)];
        let n = fs.read_at(&path, 0, &mut buf)?;
        buf.truncate(n);
        Ok((buf, meta.size))
    })?
    .map_err(|e| fs_err(&path, e))?;
    let Ok(text) = core::str::from_utf8(&data) else {
        return Err(CommandError::failed(format!(
            "{path}: binary file ({size} bytes); cat prints text only"
        )));
    };
    out.write_str(text)?;
    if !text.is_empty() && !text.ends_with('\n') {
        writeln!(out)?;
    }
    if size as usize > data.len() {
        writeln!(
            out,
            "[cat: showed the first {} of {size} bytes]",
            data.len()
        )?;
    }
    Ok(())
}

/// Suffix of the temporary file `write` creates next to its target.
const TEMP_SUFFIX: &str = ".nous-write-tmp";

fn cmd_write(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = absolute(required_arg(args, 0, "path")?);
    if args.len() < 2 {
        return Err(CommandError::usage(
            "text: missing (quote it to keep spaces)",
        ));
    }
    let mut text = args[1..].join(" ");
    text.push('\n');
    let temp = format!("{path}{TEMP_SUFFIX}");
    with_fs(|fs| -> Result<(), ext4::Error> {
        if let Ok(meta) = fs.stat(&path)
            && meta.kind == FileKind::Directory
        {
            return Err(ext4::Error::IsADirectory);
        }
        fs.write_file(&temp, text.as_bytes())?;
        fs.rename(&temp, &path)?;
        fs.sync()
    })?
    .map_err(|e| fs_err(&path, e))?;
    writeln!(out, "wrote {} bytes to {path}", text.len())?;
    Ok(())
}

fn cmd_rm(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = absolute(required_arg(args, 0, "path")?);
    let removed = with_fs(|fs| -> Result<&'static str, ext4::Error> {
        let what = if fs.stat(&path)?.kind == FileKind::Directory {
            fs.rmdir(&path)?;
            "directory"
        } else {
            fs.unlink(&path)?;
            "file"
        };
        fs.sync()?;
        Ok(what)
    })?
    .map_err(|e| fs_err(&path, e))?;
    writeln!(out, "removed {removed} {path}")?;
    Ok(())
}

fn cmd_mkdir(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = absolute(required_arg(args, 0, "path")?);
    with_fs(|fs| fs.mkdir(&path).and_then(|()| fs.sync()))?.map_err(|e| fs_err(&path, e))?;
    writeln!(out, "created directory {path}")?;
    Ok(())
}

fn cmd_mv(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let from = absolute(required_arg(args, 0, "from")?);
    let to = absolute(required_arg(args, 1, "to")?);
    with_fs(|fs| fs.rename(&from, &to).and_then(|()| fs.sync()))?
        .map_err(|e| CommandError::failed(format!("{from} -> {to}: {e}")))?;
    writeln!(out, "moved {from} to {to}")?;
    Ok(())
}

fn cmd_df(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let (st, cache, requests) = with_fs(|fs| {
        (
            fs.stats(),
            fs.device().stats(),
            fs.device().device().0.requests,
        )
    })?;
    let kib = |blocks: u64| blocks * st.block_size as u64 / 1024;
    writeln!(
        out,
        "ext4 /: {} KiB total, {} KiB used, {} KiB free ({} byte blocks); inodes {} total, {} free",
        kib(st.blocks),
        kib(st.blocks - st.free_blocks),
        kib(st.free_blocks),
        st.block_size,
        st.inodes,
        st.free_inodes
    )?;
    writeln!(
        out,
        "block cache: {} chunks cached ({} KiB, limit {} KiB), hits {}, misses {}, evictions {}, reclaimed {}; device reads {}, writes {}, virtio requests {}",
        cache.cached_chunks,
        cache.cached_chunks * 4,
        cache_limit_chunks() * 4,
        cache.hits,
        cache.misses,
        cache.evictions,
        cache.reclaimed,
        cache.device_reads,
        cache.device_writes,
        requests
    )?;
    Ok(())
}

fn cmd_sync(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    with_fs(|fs| {
        fs.sync()?;
        fs.device_mut().flush().map_err(ext4::Error::Io)
    })?
    .map_err(|e| CommandError::failed(format!("sync: {e}")))?;
    writeln!(out, "synced")?;
    Ok(())
}

/// Adds the file commands to the shell.
pub fn register(r: &mut CommandRegistry<KernelCtx>) {
    let commands: [(
        &'static str,
        &'static str,
        &'static str,
        shell::Handler<KernelCtx>,
    ); 8] = [
        (
            "ls",
            "list a directory (type, size, name)",
            "[PATH]",
            cmd_ls,
        ),
        ("cat", "print a text file (first 64 KiB)", "<PATH>", cmd_cat),
        (
            "write",
            "replace a file with the text atomically and durably",
            "<PATH> <TEXT...>",
            cmd_write,
        ),
        (
            "rm",
            "remove a file or an empty directory",
            "<PATH>",
            cmd_rm,
        ),
        ("mkdir", "create a directory", "<PATH>", cmd_mkdir),
        (
            "mv",
            "rename, replacing an existing file atomically",
            "<FROM> <TO>",
            cmd_mv,
        ),
        (
            "df",
            "file system space and block cache counters",
            "",
            cmd_df,
        ),
        (
            "sync",
            "commit the journal and flush the disk",
            "",
            cmd_sync,
        ),
    ];
    for (name, summary, usage, handler) in commands {
        // Distinct literal names: registration cannot fail (the e2e `help` test checks them).
        let _ = r.register(name, summary, usage, handler);
    }
}

//! The shell's file commands: `ls cat write rm mkdir mv df sync`, over the mounted file system
//! (see the durability contract in the module above).
//!
//! When the file system has detected corruption it stops writing (`ext4::Error::HasErrors`):
//! the refusal names what was found, and `df` says so on a line of its own.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use blockdev::BlockDevice;
use ext4::FileKind;
use shell::{CommandError, CommandRegistry, required_arg};

use super::mount::cache_limit_chunks;
use super::{Fs, with_fs};
use crate::ctx::{CmdResult, KernelCtx, Out};

fn fs_err(path: &str, e: String) -> CommandError {
    CommandError::failed(format!("{path}: {e}"))
}

/// An error's message; a refusal because of detected corruption says what was detected.
pub(super) fn describe(fs: &Fs, e: &ext4::Error) -> String {
    match (e, fs.errors()) {
        (ext4::Error::HasErrors, Some(cause)) => format!("{e} ({cause})"),
        _ => format!("{e}"),
    }
}

/// [`with_fs`] for a closure that fails with an ext4 error, turned into its message.
fn on_fs<T>(
    f: impl FnOnce(&mut Fs) -> Result<T, ext4::Error>,
) -> Result<Result<T, String>, CommandError> {
    with_fs(|fs| f(fs).map_err(|e| describe(fs, &e)))
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
    let listing = on_fs(|fs| -> Result<Vec<(String, char, u64)>, ext4::Error> {
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
    let (data, size) = on_fs(|fs| -> Result<(Vec<u8>, u64), ext4::Error> {
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

fn cmd_write(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = absolute(required_arg(args, 0, "path")?);
    // The registry enforces `<PATH> <TEXT...>` (two or more arguments) before this runs.
    let mut text = args.get(1..).unwrap_or_default().join(" ");
    text.push('\n');
    // A temporary file renamed over the target (removed again if anything fails), then a
    // commit: atomic and durable.
    crate::files::replace(&path, text.as_bytes()).map_err(CommandError::failed)?;
    writeln!(out, "wrote {} bytes to {path}", text.len())?;
    Ok(())
}

fn cmd_rm(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let path = absolute(required_arg(args, 0, "path")?);
    let removed = on_fs(|fs| -> Result<&'static str, ext4::Error> {
        // unlink first: it refuses a directory without changing anything, and on a file
        // system that stopped writing the refusal comes before any lookup.
        let what = match fs.unlink(&path) {
            Err(ext4::Error::IsADirectory) => {
                fs.rmdir(&path)?;
                "directory"
            }
            r => r.map(|()| "file")?,
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
    on_fs(|fs| fs.mkdir(&path).and_then(|()| fs.sync()))?.map_err(|e| fs_err(&path, e))?;
    writeln!(out, "created directory {path}")?;
    Ok(())
}

fn cmd_mv(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let from = absolute(required_arg(args, 0, "from")?);
    let to = absolute(required_arg(args, 1, "to")?);
    crate::files::rename(&from, &to)
        .map_err(|e| CommandError::failed(format!("{e} (moving to {to})")))?;
    writeln!(out, "moved {from} to {to}")?;
    Ok(())
}

fn cmd_df(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let (st, errors, cache, requests) = with_fs(|fs| {
        (
            fs.stats(),
            fs.errors().map(|e| format!("{e}")),
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
    if let Some(cause) = errors {
        writeln!(
            out,
            "ext4 /: errors detected, mounted read-only (run e2fsck on the image): {cause}"
        )?;
    }
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
    on_fs(|fs| {
        fs.sync()?;
        fs.device_mut().flush().map_err(ext4::Error::Io)
    })?
    .map_err(|e| CommandError::failed(format!("sync: {e}")))?;
    writeln!(out, "synced")?;
    Ok(())
}

/// Adds the file commands to the shell.
pub fn register(r: &mut CommandRegistry<KernelCtx>) {
    let commands: [shell::PlainCommand<KernelCtx>; 8] = [
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
    // Names are distinct literals, so registration cannot fail; a refusal would only lose
    // that command (kept in the registry's errors, which the ktest and the boot line report).
    let _ = r.register_all(&commands);
}

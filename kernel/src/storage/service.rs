//! The storage side of the kernel's file service ([`crate::files`]): each operation takes the
//! file system's lock for its own duration, commits what it changed, and turns ext4 errors
//! into messages naming the path (the same wording as the shell's file commands).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use ext4::FileKind;

use super::{Fs, with_fs};
use crate::files::{FileEntry, FileStore};

/// What storage installs when the disk mounts.
pub const STORE: FileStore = FileStore {
    read,
    replace,
    rename,
    create_dir_all,
    list,
};

/// Runs `f` on the file system and names `path` in any error.
fn on_path<T>(path: &str, f: impl FnOnce(&mut Fs) -> Result<T, ext4::Error>) -> Result<T, String> {
    with_fs(|fs| f(fs).map_err(|e| format!("{path}: {}", super::commands::describe(fs, &e))))
        .map_err(|e| format!("{path}: {e}"))?
}

fn read(path: &str, max_len: usize) -> Result<Vec<u8>, String> {
    let meta = on_path(path, |fs| fs.stat(path))?;
    if meta.kind == FileKind::Directory {
        return Err(format!("{path}: is a directory"));
    }
    if meta.size > max_len as u64 {
        return Err(format!(
            "{path}: file too large ({} bytes; at most {max_len} are read)",
            meta.size
        ));
    }
    on_path(path, |fs| fs.read_file(path))
}

fn replace(path: &str, data: &[u8]) -> Result<(), String> {
    on_path(path, |fs| {
        fs.replace_file(path, data)?;
        fs.sync()
    })
}

fn rename(from: &str, to: &str) -> Result<(), String> {
    on_path(from, |fs| fs.rename(from, to).and_then(|()| fs.sync()))
}

fn create_dir_all(path: &str) -> Result<(), String> {
    on_path(path, |fs| {
        let mut prefix = String::new();
        for part in path.split('/').filter(|p| !p.is_empty()) {
            prefix.push('/');
            prefix.push_str(part);
            match fs.stat(&prefix) {
                Ok(meta) if meta.kind == FileKind::Directory => {}
                Ok(_) => return Err(ext4::Error::NotADirectory),
                Err(ext4::Error::NotFound) => fs.mkdir(&prefix)?,
                Err(e) => return Err(e),
            }
        }
        fs.sync()
    })
}

fn list(path: &str) -> Result<Vec<FileEntry>, String> {
    on_path(path, |fs| {
        let mut entries = Vec::new();
        for entry in fs.read_dir(path)? {
            let name = String::from_utf8_lossy(&entry.name).into_owned();
            if name == "." || name == ".." {
                continue;
            }
            let is_dir = entry.kind == FileKind::Directory;
            let child = format!("{}/{name}", path.trim_end_matches('/'));
            let size = if is_dir {
                0
            } else {
                fs.stat(&child).map(|m| m.size).unwrap_or(0)
            };
            entries.push(FileEntry { name, is_dir, size });
        }
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    })
}

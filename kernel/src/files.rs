//! The file service: whole-file reads, crash-safe replacement, directories and listings on the
//! mounted data disk, for subsystems that keep state there (models, adapters, exported
//! metrics) without importing the storage subsystem.
//!
//! A shared service of the kernel (beside `ctx` and `reclaim`): storage installs its
//! [`FileStore`] when the disk mounts; every other subsystem calls the functions below, which
//! answer "no file system mounted" until then. Every call takes the file system's lock for its
//! own duration only (yielding while another thread holds it), so a subsystem never holds the
//! disk across its own work. Errors are messages naming the path, ready for a shell line.

use alloc::string::String;
use alloc::vec::Vec;

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    pub name: String,
    pub is_dir: bool,
    /// Bytes (0 for directories).
    pub size: u64,
}

/// What a mounted file system offers. Paths are absolute.
#[derive(Clone, Copy)]
pub struct FileStore {
    /// The whole file, refused (unread) when it is larger than the limit.
    pub read: fn(path: &str, max_len: usize) -> Result<Vec<u8>, String>,
    /// Replaces the file atomically (a new file renamed over the old one) and commits the
    /// journal: after a crash at any moment the file is wholly old or wholly new.
    pub replace: fn(path: &str, data: &[u8]) -> Result<(), String>,
    /// Renames, replacing an existing file, and commits.
    pub rename: fn(from: &str, to: &str) -> Result<(), String>,
    /// Creates the directory and any missing parents, and commits.
    pub create_dir_all: fn(path: &str) -> Result<(), String>,
    /// The entries of a directory (without `.` and `..`), sorted by name.
    pub list: fn(path: &str) -> Result<Vec<FileEntry>, String>,
}

static STORE: spin::Mutex<Option<FileStore>> = spin::Mutex::new(None);

/// Makes `store` the kernel's file service (storage calls it once the disk is mounted).
pub fn install(store: FileStore) {
    *STORE.lock() = Some(store);
}

/// Removes the file service (at unmount).
pub fn uninstall() {
    *STORE.lock() = None;
}

fn store() -> Result<FileStore, String> {
    (*STORE.lock()).ok_or_else(|| String::from("no file system mounted"))
}

#[expect(dead_code, reason = "first caller: the network subsystem")]
/// Whether a file system is mounted.
pub fn available() -> bool {
    STORE.lock().is_some()
}

/// Reads the whole file at `path`; refuses a file over `max_len` bytes.
pub fn read(path: &str, max_len: usize) -> Result<Vec<u8>, String> {
    (store()?.read)(path, max_len)
}

/// Replaces the file at `path` with `data`, atomically and durably.
pub fn replace(path: &str, data: &[u8]) -> Result<(), String> {
    (store()?.replace)(path, data)
}

/// Renames `from` to `to` (replacing a file there) durably.
pub fn rename(from: &str, to: &str) -> Result<(), String> {
    (store()?.rename)(from, to)
}

/// Creates `path` and its missing parents durably.
pub fn create_dir_all(path: &str) -> Result<(), String> {
    (store()?.create_dir_all)(path)
}

/// Lists the directory at `path`.
pub fn list(path: &str) -> Result<Vec<FileEntry>, String> {
    (store()?.list)(path)
}

//! Host test support: building images with `mkfs.ext4 -d`, judging them with `e2fsck -fn`,
//! and reading files back with `debugfs`. Missing e2fsprogs is a test failure with install
//! instructions, never a silent pass.
#![allow(dead_code, reason = "each test binary uses a different subset")]

use blockdev::{FileDevice, MemDevice};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// Finds an e2fsprogs binary (they often live in /sbin, outside a user's PATH).
pub fn tool(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/sbin", "/usr/sbin", "/usr/local/sbin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(name);
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "`{name}` not found: these tests need e2fsprogs (mkfs.ext4, e2fsck, debugfs). \
         Install it with `sudo apt-get install e2fsprogs` (Debian/Ubuntu) or your distribution's \
         e2fsprogs package, then rerun."
    );
}

/// A scratch directory removed on drop.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(tag: &str) -> Scratch {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let p = std::env::temp_dir().join(format!("ext4test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Scratch(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `mkfs.ext4 -q -F [-b bs] -d <tree> img <size>`.
pub fn mkfs(img: &Path, tree: Option<&Path>, size: &str, extra: &[&str]) {
    let mut c = Command::new(tool("mkfs.ext4"));
    c.args(["-q", "-F"]).args(extra);
    if let Some(t) = tree {
        c.arg("-d").arg(t);
    }
    c.arg(img).arg(size);
    let out = c.output().expect("run mkfs.ext4");
    assert!(
        out.status.success(),
        "mkfs.ext4 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds hash indexes for every directory of more than one block (`e2fsck -fyD`):
/// `mkfs.ext4 -d` itself only writes linear directories.
pub fn index_dirs(img: &Path) {
    let out = Command::new(tool("e2fsck"))
        .arg("-fyD")
        .arg(img)
        .output()
        .expect("run e2fsck -D");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code <= 1,
        "e2fsck -fyD failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Whether debugfs reports `dir` as hash-indexed.
pub fn is_indexed(img: &Path, dir: &str) -> bool {
    let out = Command::new(tool("debugfs"))
        .arg("-R")
        .arg(format!("htree {dir}"))
        .arg(img)
        .output()
        .expect("run debugfs");
    String::from_utf8_lossy(&out.stdout).contains("Root node dump")
}

/// `e2fsck -fn`: returns (exit code, output).
pub fn fsck(img: &Path) -> (i32, String) {
    let out = Command::new(tool("e2fsck"))
        .arg("-fn")
        .arg(img)
        .output()
        .expect("run e2fsck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// Asserts that `e2fsck -fn` finds nothing to fix.
pub fn assert_clean(img: &Path) {
    let (code, text) = fsck(img);
    assert_eq!(
        code, 0,
        "e2fsck -fn reported problems (exit {code}):\n{text}"
    );
}

/// `e2fsck -fy` (repair); returns (exit code, output). Codes 0 and 1 mean clean / fixed.
pub fn fsck_repair(img: &Path) -> (i32, String) {
    let out = Command::new(tool("e2fsck"))
        .arg("-fy")
        .arg(img)
        .output()
        .expect("run e2fsck");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

/// File content through `debugfs -R 'cat path'`.
pub fn debugfs_cat(img: &Path, path: &str) -> Vec<u8> {
    let out = Command::new(tool("debugfs"))
        .arg("-R")
        .arg(format!("cat {path}"))
        .arg(img)
        .output()
        .expect("run debugfs");
    assert!(
        out.status.success(),
        "debugfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Names listed by `debugfs -R 'ls -p dir'` (without . and ..).
pub fn debugfs_ls(img: &Path, dir: &str) -> Vec<String> {
    let out = Command::new(tool("debugfs"))
        .arg("-R")
        .arg(format!("ls -p {dir}"))
        .arg(img)
        .output()
        .expect("run debugfs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Vec<String> = text
        .lines()
        .filter_map(|l| l.split('/').nth(5).map(str::to_string))
        .filter(|n| !n.is_empty() && n != "." && n != "..")
        .collect();
    v.sort();
    v
}

pub fn file_dev(img: &Path) -> FileDevice {
    FileDevice::open(img, 512).expect("open image")
}

pub fn mem_dev(img: &Path) -> MemDevice {
    MemDevice::new(std::fs::read(img).unwrap(), 512).unwrap()
}

/// Deterministic pseudo-random bytes for test content.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// `debugfs -R 'stat path'` output (inode fields, flags, times, blocks).
pub fn debugfs_stat(img: &Path, path: &str) -> String {
    let out = Command::new(tool("debugfs"))
        .arg("-R")
        .arg(format!("stat {path}"))
        .arg(img)
        .output()
        .expect("run debugfs");
    assert!(
        out.status.success(),
        "debugfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

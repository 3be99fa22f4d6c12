//! Fuzz target: mount arbitrary bytes read-write and drive every change the crate offers
//! (write_at, truncate, write_file, replace_file, create, mkdir, a directory grown past one
//! block, rename within and across directories, unlink, rmdir) on the files and directories
//! the image holds and on new ones, commit, then mount the result again (journal replay
//! included) and walk it; also drop a mount with uncommitted changes and remount. Any panic,
//! hang or runaway allocation is a bug: bad images must only ever give `Error` values.
//! Run: `cargo +nightly fuzz run mount_and_write` from crates/ext4 (`RUSTC_BOOTSTRAP=1` on
//! stable), seeded by `fuzz/make-seeds.sh`: crates/ext4/README.md has the full command.
#![no_main]

use blockdev::MemDevice;
use ext4::{Ext4, FileKind};
use libfuzzer_sys::fuzz_target;

#[derive(Default)]
struct Found {
    files: Vec<String>,
    dirs: Vec<String>,
    /// The largest regular file (the one most likely to have an extent index or indirect
    /// blocks) and the directory with the most entries (the one most likely hash-indexed).
    largest_file: Option<(u64, String)>,
    largest_dir: Option<(usize, String)>,
}

/// Walks the tree (bounded), reading every regular file; collects names for the changes.
fn walk<D: blockdev::BlockDevice>(fs: &mut Ext4<D>, path: String, depth: usize, found: &mut Found) {
    if depth > 5 || found.files.len() + found.dirs.len() > 200 {
        return;
    }
    let Ok(entries) = fs.read_dir(&path) else {
        return;
    };
    if found
        .largest_dir
        .as_ref()
        .is_none_or(|(n, _)| entries.len() > *n)
    {
        found.largest_dir = Some((entries.len(), path.clone()));
    }
    for e in entries.into_iter().take(80) {
        let Ok(name) = String::from_utf8(e.name) else {
            continue;
        };
        if name == "." || name == ".." {
            continue;
        }
        let child = if path == "/" {
            format!("/{name}")
        } else {
            format!("{path}/{name}")
        };
        match fs.stat(&child) {
            Ok(m) if m.kind == FileKind::Directory => {
                found.dirs.push(child.clone());
                walk(fs, child, depth + 1, found);
            }
            Ok(m) => {
                if m.kind == FileKind::File {
                    found.files.push(child.clone());
                    if found.largest_file.as_ref().is_none_or(|(n, _)| m.size > *n) {
                        found.largest_file = Some((m.size, child.clone()));
                    }
                }
                let mut buf = vec![0u8; 8192];
                let _ = fs.read_at(&child, 0, &mut buf);
                let _ = fs.read_at(&child, m.size.saturating_sub(100), &mut buf[..300]);
            }
            Err(_) => {}
        }
    }
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

/// The changes, on whatever the image holds; every error is acceptable.
fn change<D: blockdev::BlockDevice>(fs: &mut Ext4<D>, found: &Found) {
    let files = &found.files;
    let dirs = &found.dirs;
    for (i, f) in files.iter().take(4).enumerate() {
        let _ = fs.write_at(f, 700 * i as u64, &pattern(3000, i as u8));
        let _ = fs.read_at(f, 0, &mut [0u8; 4096]);
    }
    if let Some(f) = files.first() {
        let _ = fs.truncate(f, 10);
        let _ = fs.write_at(f, 50_000, b"past a hole");
        let _ = fs.replace_file(f, &pattern(5000, 9));
    }
    if let Some(f) = files.get(1) {
        let _ = fs.truncate(f, 0);
    }
    if let Some((size, f)) = &found.largest_file {
        // Into the middle of its mapping, then cut it there (frees mapped blocks and
        // index / indirect blocks).
        let _ = fs.write_at(f, size / 2, &pattern(4000, 5));
        let _ = fs.truncate(f, size / 3);
    }
    let _ = fs.write_file("/fuzz-new", &pattern(5000, 1));
    // read_at, not read_file: a corrupt size may claim terabytes (a sparse file may too).
    let _ = fs.read_at("/fuzz-new", 0, &mut [0u8; 6000]);
    // Enough blocks for indirect blocks (ext2/3) or several extents with 1 KiB blocks.
    let _ = fs.write_file("/fuzz-big", &pattern(40_000, 2));
    let _ = fs.create("/fuzz-empty");
    let _ = fs.mkdir("/fuzz-dir");
    let _ = fs.mkdir("/fuzz-dir/sub/");
    // Grow a directory of the image past a block (an htree one is made linear first).
    let target = match &found.largest_dir {
        Some((_, d)) => d.clone(),
        None => "/fuzz-dir".into(),
    };
    for i in 0..24 {
        let _ = fs.create(&format!(
            "{target}/fuzz-entry-with-a-rather-long-name-{i:03}"
        ));
    }
    for i in (0..24).step_by(3) {
        let _ = fs.unlink(&format!(
            "{target}/fuzz-entry-with-a-rather-long-name-{i:03}"
        ));
    }
    // Renames: a file into a directory, a directory across directories (its `..` moves),
    // and a file over an existing one.
    if let Some(f) = files.get(2) {
        let _ = fs.rename(f, "/fuzz-dir/moved");
    }
    if let Some(d) = dirs.get(1) {
        let _ = fs.rename(d, "/fuzz-dir/sub/moved-dir");
    }
    let _ = fs.rename("/fuzz-new", "/fuzz-empty");
    if let Some(f) = files.get(3) {
        let _ = fs.unlink(f);
    }
    if let Some(d) = dirs.last() {
        let _ = fs.rmdir(d);
    }
    let _ = fs.rmdir("/fuzz-dir/sub");
    let _ = fs.stats();
}

fuzz_target!(|data: &[u8]| {
    let mut image = data.to_vec();
    image.resize(image.len().div_ceil(512).max(1) * 512, 0);
    let Ok(dev) = MemDevice::new(image, 512) else {
        return;
    };
    let Ok(mut fs) = Ext4::mount(dev) else { return };
    let mut found = Found::default();
    walk(&mut fs, "/".into(), 0, &mut found);
    // A small metadata cache so blocks are evicted and read again mid-transaction.
    fs.set_cache_limit(16);
    change(&mut fs, &found);
    let _ = fs.sync();
    let _ = fs.errors();

    // Uncommitted changes dropped with the mount: the committed image must stay usable.
    let _ = fs.write_file("/fuzz-uncommitted", &pattern(3000, 3));
    let _ = fs.unlink("/fuzz-big");
    let image = fs.device().data().to_vec();
    drop(fs);

    // Mount what was written (replaying its journal if a commit was cut short), look at it
    // and change it again.
    let Ok(dev) = MemDevice::new(image, 512) else {
        return;
    };
    let Ok(mut fs) = Ext4::mount(dev) else { return };
    let mut again = Found::default();
    walk(&mut fs, "/".into(), 0, &mut again);
    let _ = fs.unlink("/fuzz-big");
    let _ = fs.rmdir("/fuzz-dir");
    let _ = fs.drop_caches();
    let _ = fs.write_at("/fuzz-empty", 4096, b"tail");
    let _ = fs.unmount();
});

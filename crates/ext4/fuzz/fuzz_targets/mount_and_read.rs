//! Fuzz target: mount arbitrary bytes as an image (read-only and read-write), walk every
//! directory and read every file, then try a few writes. Any panic is a bug.
//! Run: `cargo +nightly fuzz run mount_and_read` from crates/ext4 (`RUSTC_BOOTSTRAP=1` on
//! stable), seeded by `fuzz/make-seeds.sh`: crates/ext4/README.md has the full command.
#![no_main]

use blockdev::MemDevice;
use ext4::{Ext4, FileKind};
use libfuzzer_sys::fuzz_target;

fn walk<D: blockdev::BlockDevice>(fs: &mut Ext4<D>, path: String, depth: usize) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = fs.read_dir(&path) else {
        return;
    };
    for e in entries.into_iter().take(100) {
        let Ok(name) = String::from_utf8(e.name) else {
            continue;
        };
        let child = if path == "/" {
            format!("/{name}")
        } else {
            format!("{path}/{name}")
        };
        match fs.stat(&child) {
            Ok(m) if m.kind == FileKind::Directory => walk(fs, child, depth + 1),
            Ok(_) => {
                let mut buf = vec![0u8; 16384];
                let _ = fs.read_at(&child, 0, &mut buf);
            }
            Err(_) => {}
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut image = data.to_vec();
    image.resize(image.len().div_ceil(512).max(1) * 512, 0);
    if let Ok(dev) = MemDevice::new(image.clone(), 512) {
        if let Ok(mut fs) = Ext4::mount_read_only(dev) {
            walk(&mut fs, "/".into(), 0);
        }
    }
    if let Ok(dev) = MemDevice::new(image, 512) {
        if let Ok(mut fs) = Ext4::mount(dev) {
            let _ = fs.write_file("/fuzz", b"x");
            let _ = fs.mkdir("/fuzzdir");
            let _ = fs.sync();
            walk(&mut fs, "/".into(), 0);
        }
    }
});

//! Bad input: corrupted, truncated and checksum-broken images must give errors, never
//! panics (the stable stand-in for a cargo-fuzz target, which needs nightly). Each case
//! mutates a real mkfs.ext4 image, then mounts it, walks every directory, reads every
//! file and tries a few writes.

mod common;

use blockdev::MemDevice;
use common::*;
use ext4::{Error, Ext4, FileKind};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn base_image(opts: &[&str]) -> Vec<u8> {
    let s = Scratch::new("corrupt-base");
    let t = s.path("tree");
    std::fs::create_dir_all(t.join("d/e")).unwrap();
    std::fs::write(t.join("f"), pattern(9000, 1)).unwrap();
    std::fs::write(t.join("d/e/g"), pattern(70_000, 2)).unwrap();
    for i in 0..120 {
        std::fs::write(t.join(format!("d/n{i:03}-padding-to-make-it-htree")), b"x").unwrap();
    }
    let img = s.path("img");
    mkfs(&img, Some(&t), "4M", opts);
    index_dirs(&img);
    std::fs::read(&img).unwrap()
}

/// Exercises everything a caller might do with a mounted image; errors are fine.
fn exercise(image: Vec<u8>) {
    let dev = MemDevice::new(image.clone(), 512).unwrap();
    if let Ok(mut fs) = Ext4::mount_read_only(dev) {
        walk(&mut fs, "/".to_string(), 0);
    }
    let dev = MemDevice::new(image, 512).unwrap();
    if let Ok(mut fs) = Ext4::mount(dev) {
        let _ = fs.write_file("/new", b"data");
        let _ = fs.write_at("/f", 100, &[7u8; 3000]);
        let _ = fs.mkdir("/d/new");
        let _ = fs.rename("/d/e", "/moved");
        let _ = fs.unlink("/d/n005-padding-to-make-it-htree");
        let _ = fs.truncate("/d/e/g", 10);
        let _ = fs.rmdir("/d");
        let _ = fs.sync();
        walk(&mut fs, "/".to_string(), 0);
    }
}

fn walk<D: blockdev::BlockDevice>(fs: &mut Ext4<D>, path: String, depth: usize) {
    if depth > 6 {
        return;
    }
    let Ok(entries) = fs.read_dir(&path) else {
        return;
    };
    for e in entries.into_iter().take(200) {
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
                let mut buf = vec![0u8; 65536];
                let mut off = 0;
                // Bounded: a corrupt size may claim terabytes.
                while off < (1 << 20) {
                    match fs.read_at(&child, off, &mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => off += n as u64,
                    }
                }
            }
            Err(_) => {}
        }
    }
}

fn mutate(base: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut img = base.to_vec();
    // Metadata lives near the start of each group; aim most mutations there.
    let hot = (img.len() as u64).min(400 * 1024);
    let n = 1 + rng.below(12);
    for _ in 0..n {
        let at = if rng.below(4) == 0 {
            rng.below(img.len() as u64)
        } else {
            rng.below(hot)
        } as usize;
        match rng.below(3) {
            0 => img[at] ^= 1 << rng.below(8),
            1 => img[at] = rng.next() as u8,
            _ => {
                let len = (1 + rng.below(64) as usize).min(img.len() - at);
                for b in &mut img[at..at + len] {
                    *b = rng.next() as u8;
                }
            }
        }
    }
    img
}

#[test]
fn mutated_images_never_panic() {
    // Without metadata_csum most mutations get past the checksums into the parsers.
    // ext3: block maps (no checksums at all) and a block-mapped journal.
    let configs: [(&[&str], u64); 4] = [
        (&[], 1),
        (&["-b", "4096"], 1000),
        (&["-O", "^metadata_csum,^uninit_bg"], 2000),
        (&["-t", "ext3"], 3000),
    ];
    for (opts, seed0) in configs {
        let base = base_image(opts);
        let mut rng = Rng(seed0 * 0x9E37_79B9 + 1);
        for case in 0..250 {
            let img = mutate(&base, &mut rng);
            let r = std::panic::catch_unwind(|| exercise(img.clone()));
            if r.is_err() {
                let path = std::env::temp_dir().join(format!("ext4-panic-{seed0}-{case}.img"));
                std::fs::write(&path, &img).unwrap();
                panic!(
                    "case {case} (opts {opts:?}) panicked; image saved to {}",
                    path.display()
                );
            }
        }
    }
}

#[test]
fn truncated_images_are_rejected_cleanly() {
    let base = base_image(&[]);
    for len in [
        0usize,
        512,
        1024,
        1536,
        2048,
        4096,
        64 * 1024,
        base.len() / 2,
        base.len() - 512,
    ] {
        let r = Ext4::mount(MemDevice::new(base[..len].to_vec(), 512).unwrap());
        assert!(
            r.is_err(),
            "mounting {len} of {} bytes should fail",
            base.len()
        );
    }
}

#[test]
fn checksum_errors_are_reported() {
    let base = base_image(&[]);
    // Superblock checksum.
    let mut img = base.clone();
    img[1024 + 0x78] ^= 0xFF; // volume name: only the checksum notices
    assert_eq!(
        Ext4::mount(MemDevice::new(img, 512).unwrap()).err(),
        Some(Error::BadChecksum("superblock"))
    );
    // Unknown incompat feature.
    let mut img = base.clone();
    img[1024 + 0x60 + 2] |= 0x80; // incompat bit 23
    let r = Ext4::mount(MemDevice::new(img, 512).unwrap());
    assert!(matches!(
        r,
        Err(Error::UnsupportedFeature {
            which: "incompat",
            ..
        }) | Err(Error::BadChecksum(_))
    ));
    // Bad magic.
    let mut img = base.clone();
    img[1024 + 0x38] = 0;
    assert!(matches!(
        Ext4::mount(MemDevice::new(img, 512).unwrap()),
        Err(Error::BadSuperblock(_))
    ));
}

fn debugfs_w(img: &std::path::Path, cmd: &str) {
    let out = std::process::Command::new(tool("debugfs"))
        .arg("-w")
        .arg("-R")
        .arg(cmd)
        .arg(img)
        .output()
        .unwrap();
    assert!(out.status.success(), "debugfs {cmd} failed");
}

/// A directory whose `..` points at itself: moving a directory below it must stop with
/// an error instead of walking `..` forever.
#[test]
fn directory_loop_is_detected() {
    let s = Scratch::new("loop");
    let img = s.path("img");
    mkfs(&img, None, "4M", &[]);
    {
        let mut fs = Ext4::mount(file_dev(&img)).unwrap();
        fs.mkdir("/a").unwrap();
        fs.mkdir("/a/b").unwrap();
        fs.mkdir("/x").unwrap();
        fs.unmount().unwrap();
    }
    debugfs_w(&img, "unlink /a/b/..");
    debugfs_w(&img, "ln /a/b /a/b/..");
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    assert_eq!(fs.rename("/x", "/a/b/x"), Err(Error::DirectoryLoop));
    // Paths through the loop are finite, so lookups still terminate.
    assert_eq!(fs.stat("/a/b/../../..").unwrap().kind, FileKind::Directory);
}

/// A flipped byte in an inode is caught by its checksum.
#[test]
fn inode_checksum_mismatch_is_an_error() {
    let s = Scratch::new("icsum");
    let img = s.path("img");
    mkfs(&img, None, "4M", &[]);
    let out = std::process::Command::new(tool("debugfs"))
        .arg("-R")
        .arg("imap /")
        .arg(&img)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("located at block"))
        .expect("imap output");
    let block: usize = line
        .split("block ")
        .nth(1)
        .unwrap()
        .split(',')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let off = usize::from_str_radix(line.split("0x").nth(1).unwrap().trim(), 16).unwrap();
    let mut bytes = std::fs::read(&img).unwrap();
    bytes[block * 1024 + off + 0x10] ^= 0x55; // root inode mtime
    let mut fs = Ext4::mount_read_only(MemDevice::new(bytes, 512).unwrap()).unwrap();
    assert_eq!(fs.read_dir("/"), Err(Error::BadChecksum("inode")));
}

/// A device whose bytes the test can change while a filesystem is mounted on it.
struct SharedDevice(std::rc::Rc<std::cell::RefCell<MemDevice>>);

impl blockdev::BlockDevice for SharedDevice {
    fn block_size(&self) -> usize {
        self.0.borrow().block_size()
    }
    fn num_blocks(&self) -> u64 {
        self.0.borrow().num_blocks()
    }
    fn read_blocks(&mut self, lba: u64, buf: &mut [u8]) -> Result<(), blockdev::IoError> {
        self.0.borrow_mut().read_blocks(lba, buf)
    }
    fn write_blocks(&mut self, lba: u64, buf: &[u8]) -> Result<(), blockdev::IoError> {
        self.0.borrow_mut().write_blocks(lba, buf)
    }
    fn flush(&mut self) -> Result<(), blockdev::IoError> {
        Ok(())
    }
}

/// Directory blocks are checksum-verified once per in-memory copy, not on every lookup: a
/// block damaged on the device behind a cached, verified copy is caught as soon as the copy
/// is dropped (`drop_caches`, or a cache too small to keep it) and read again.
#[test]
fn damage_behind_a_verified_cached_block_is_caught_on_reload() {
    let s = Scratch::new("reverify");
    let t = s.path("tree");
    std::fs::create_dir_all(t.join("d")).unwrap();
    std::fs::write(t.join("d/f"), b"hello").unwrap();
    let img = s.path("img");
    mkfs(&img, Some(&t), "4M", &["-b", "4096"]);
    let out = std::process::Command::new(tool("debugfs"))
        .args(["-R", "blocks /d"])
        .arg(&img)
        .output()
        .unwrap();
    let dir_block: usize = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("debugfs lists the block of /d");
    let shared = std::rc::Rc::new(std::cell::RefCell::new(
        MemDevice::new(std::fs::read(&img).unwrap(), 512).unwrap(),
    ));
    let mut fs = Ext4::mount_read_only(SharedDevice(shared.clone())).unwrap();
    assert_eq!(fs.read_file("/d/f").unwrap(), b"hello");
    // Flip a byte of the "." entry's record on the device (the checksum no longer matches).
    let mut sector = [0u8; 512];
    let lba = (dir_block * 4096 / 512) as u64;
    {
        let mut dev = shared.borrow_mut();
        use blockdev::BlockDevice;
        dev.read_blocks(lba, &mut sector).unwrap();
        sector[1] ^= 0x40;
        dev.write_blocks(lba, &sector).unwrap();
    }
    // The verified copy in memory still serves lookups.
    assert_eq!(fs.read_file("/d/f").unwrap(), b"hello");
    fs.drop_caches();
    assert_eq!(
        fs.read_file("/d/f"),
        Err(Error::BadChecksum("directory block"))
    );
    // Same through the cache limit: with no clean cache every lookup checks the device copy.
    let mut fs = Ext4::mount_read_only(SharedDevice(shared)).unwrap();
    fs.set_cache_limit(0);
    assert_eq!(
        fs.read_file("/d/f"),
        Err(Error::BadChecksum("directory block"))
    );
}

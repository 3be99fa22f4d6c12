//! Detected corruption stops all writing, as Linux's `errors=remount-ro` does: the call that
//! finds it gets an error naming what is wrong, every later change gets
//! [`Error::HasErrors`], [`Ext4::errors`] and [`ext4::FsStats::has_errors`] report it, and the
//! image is left exactly as it was found — uncommitted changes are dropped, nothing is
//! committed at unmount.

mod common;

use blockdev::MemDevice;
use common::*;
use ext4::{Error, Ext4};

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

/// `/d/f`, `/hello` and `/e`, on a 4 MiB image.
fn image(s: &Scratch, opts: &[&str]) -> std::path::PathBuf {
    let t = s.path("tree");
    std::fs::create_dir_all(t.join("d")).unwrap();
    std::fs::create_dir_all(t.join("e")).unwrap();
    std::fs::write(t.join("d/f"), b"file in d\n").unwrap();
    std::fs::write(t.join("hello"), b"hello\n").unwrap();
    let img = s.path("img");
    mkfs(&img, Some(&t), "4M", opts);
    img
}

/// The tester's case: the root directory's size zeroed (`sif <2> size 0`). A write names the
/// problem, later writes say the file system has errors, and the bytes stay as they were.
#[test]
fn root_with_size_zero_is_reported_and_never_written() {
    for opts in [&[][..], &["-b", "4096"][..]] {
        let s = Scratch::new("rootsize");
        let img = image(&s, opts);
        debugfs_w(&img, "sif <2> size 0");
        let before = std::fs::read(&img).unwrap();
        let (_, fsck_before) = fsck(&img);

        let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
        assert_eq!(fs.errors(), None);
        let err = fs.write_file("/t", b"hello").unwrap_err();
        assert_eq!(
            err,
            Error::CorruptInode {
                kind: "directory",
                ino: 2,
                what: "size 0 but it has blocks"
            }
        );
        assert_eq!(
            err.to_string(),
            "corrupt filesystem: directory inode 2: size 0 but it has blocks"
        );
        assert_eq!(fs.errors(), Some(&err));
        assert!(fs.stats().has_errors);
        assert!(!fs.is_writable());
        assert_eq!(fs.mkdir("/dd"), Err(Error::HasErrors));
        assert_eq!(
            Error::HasErrors.to_string(),
            "file system has errors: mounted read-only"
        );
        assert_eq!(fs.write_file("/d/new", b"x"), Err(Error::HasErrors));
        assert_eq!(fs.replace_file("/d/new", b"x"), Err(Error::HasErrors));
        assert_eq!(fs.rename("/d/f", "/d/g"), Err(Error::HasErrors));
        assert_eq!(fs.unlink("/d/f"), Err(Error::HasErrors));
        assert_eq!(fs.truncate("/d/f", 0), Err(Error::HasErrors));
        assert_eq!(fs.write_at("/d/f", 0, b"x"), Err(Error::HasErrors));
        assert_eq!(fs.create("/d/c"), Err(Error::HasErrors));
        assert_eq!(fs.rmdir("/e"), Err(Error::HasErrors));
        assert_eq!(fs.sync(), Err(Error::HasErrors));
        // Listing the root says what is wrong instead of printing nothing.
        assert_eq!(fs.read_dir("/"), Err(err.clone()));
        assert_eq!(fs.stat("/hello").err(), Some(err.clone()));
        let dev = fs.unmount().unwrap();
        assert!(
            dev.data() == before.as_slice(),
            "the image changed ({opts:?})"
        );
        let (_, fsck_after) = fsck(&img);
        assert_eq!(fsck_before, fsck_after);
    }
}

/// A read that meets corruption switches the file system to read-only too, and changes
/// made (but not committed) before are dropped rather than committed on top of it.
#[test]
fn corruption_found_by_a_read_drops_the_open_transaction() {
    let s = Scratch::new("readfirst");
    let img = image(&s, &[]);
    debugfs_w(&img, "sif <2> size 0");
    let (_, fsck_before) = fsck(&img);
    let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
    // /d can still be reached: the root is searched by inode number here.
    let before_free = fs.stats();
    assert!(matches!(
        fs.read_dir("/"),
        Err(Error::CorruptInode { ino: 2, .. })
    ));
    assert_eq!(fs.stats().free_blocks, before_free.free_blocks);
    assert!(fs.stats().has_errors);
    let dev = fs.unmount().unwrap();
    std::fs::write(&img, dev.data()).unwrap();
    assert_eq!(fsck(&img).1, fsck_before);

    // Now a committed change, damage on the device, an uncommitted change, and then the
    // call that finds the damage: the uncommitted change is dropped, not committed.
    let s = Scratch::new("dropped");
    let img = image(&s, &[]);
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    fs.write_file("/d/committed", b"committed").unwrap();
    fs.unmount().unwrap();
    let e_block = dir_block(&img, "/e");
    let mut damaged = std::fs::read(&img).unwrap();
    damaged[e_block * 1024 + 1] ^= 0x40; // the "." record: only the checksum notices
    std::fs::write(&img, &damaged).unwrap();
    let (_, fsck_before) = fsck(&img);
    let mut fs = Ext4::mount(MemDevice::new(damaged, 512).unwrap()).unwrap();
    let free_inodes = fs.stats().free_inodes;
    fs.write_file("/d/pending", b"not committed").unwrap();
    assert_eq!(
        fs.write_file("/e/x", b"x"),
        Err(Error::BadChecksum("directory block"))
    );
    assert_eq!(fs.stat("/d/pending").err(), Some(Error::NotFound));
    assert_eq!(fs.stats().free_inodes, free_inodes);
    assert_eq!(fs.read_file("/d/committed").unwrap(), b"committed");
    let dev = fs.unmount().unwrap();
    std::fs::write(&img, dev.data()).unwrap();
    // Only the data block of the dropped file (free in the committed state) may differ.
    assert_eq!(fsck(&img).1, fsck_before);
}

/// The first block of directory `dir` (from `debugfs blocks`).
fn dir_block(img: &std::path::Path, dir: &str) -> usize {
    let out = std::process::Command::new(tool("debugfs"))
        .args(["-R", &format!("blocks {dir}")])
        .arg(img)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .and_then(|w| w.parse().ok())
        .expect("debugfs lists the directory's block")
}

/// A clean image mounted and unmounted without changes is not written at all (the journal
/// superblock is rewritten by the first commit, not at mount), so "left as found" is exact.
#[test]
fn mount_and_unmount_without_changes_writes_nothing() {
    for opts in [&[][..], &["-b", "4096"][..], &["-t", "ext3"][..]] {
        let s = Scratch::new("untouched");
        let img = image(&s, opts);
        let before = std::fs::read(&img).unwrap();
        let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
        assert_eq!(fs.read_file("/d/f").unwrap(), b"file in d\n");
        fs.sync().unwrap();
        let dev = fs.unmount().unwrap();
        assert!(dev.data() == before.as_slice(), "{opts:?}: image changed");
    }
}

//! [`Ext4::replace_file`]: write a temporary file, rename it over the target. Its temporary
//! name has a fixed, short length (so every valid target name works, up to 255 bytes), and
//! a failure at any step removes it again: no name, no inode, no block is left behind.

mod common;

use common::*;
use ext4::{Error, Ext4, FileKind};

fn names(fs: &mut Ext4<blockdev::MemDevice>, dir: &str) -> Vec<String> {
    let mut v: Vec<String> = fs
        .read_dir(dir)
        .unwrap()
        .into_iter()
        .map(|e| String::from_utf8(e.name).unwrap())
        .collect();
    v.sort();
    v
}

/// Fills every free block with `/filler` and commits.
fn fill(fs: &mut Ext4<blockdev::MemDevice>) {
    fs.create("/filler").unwrap();
    let chunk = pattern(64 * 1024, 11);
    let mut off = 0u64;
    loop {
        match fs.write_at("/filler", off, &chunk) {
            Ok(()) => off += chunk.len() as u64,
            Err(Error::NoSpace) => break,
            Err(e) => panic!("filling: {e}"),
        }
    }
    fs.sync().unwrap();
    assert_eq!(fs.stats().free_blocks, 0);
}

fn unmount_and_check(fs: Ext4<blockdev::MemDevice>, img: &std::path::Path) {
    let dev = fs.unmount().unwrap();
    std::fs::write(img, dev.data()).unwrap();
    assert_clean(img);
}

#[test]
fn names_up_to_255_bytes_work() {
    let s = Scratch::new("long");
    let img = s.path("img");
    mkfs(&img, None, "4M", &[]);
    let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
    fs.mkdir("/d").unwrap();
    for len in [1usize, 240, 241, 254, 255] {
        for dir in ["", "/d"] {
            let path = format!("{dir}/{}", "n".repeat(len));
            fs.replace_file(&path, b"first").unwrap();
            fs.replace_file(&path, b"second").unwrap();
            assert_eq!(fs.read_file(&path).unwrap(), b"second", "{path}");
        }
    }
    let long = "/".to_string() + &"n".repeat(256);
    assert_eq!(fs.replace_file(&long, b"x"), Err(Error::InvalidName));
    // Only the targets: no temporary file stayed behind.
    assert_eq!(names(&mut fs, "/").len(), 7);
    assert_eq!(names(&mut fs, "/d").len(), 5);
    unmount_and_check(fs, &img);
}

#[test]
fn a_refused_replace_leaves_nothing_behind() {
    let s = Scratch::new("refused");
    let img = s.path("img");
    mkfs(&img, None, "4M", &[]);
    let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
    fs.mkdir("/dir").unwrap();
    fs.replace_file("/keep", b"kept").unwrap();
    fs.sync().unwrap();
    let before = names(&mut fs, "/");
    let st = fs.stats();
    // Over a directory, or with a trailing slash on a file name.
    assert_eq!(fs.replace_file("/dir", b"x"), Err(Error::IsADirectory));
    assert_eq!(fs.replace_file("/keep/", b"x"), Err(Error::NotADirectory));
    assert_eq!(fs.replace_file("/nodir/f", b"x"), Err(Error::NotFound));
    assert_eq!(names(&mut fs, "/"), before);
    assert_eq!(fs.stats(), st);

    // A full disk: the data does not fit.
    fill(&mut fs);
    let st = fs.stats();
    let before = names(&mut fs, "/");
    assert_eq!(fs.replace_file("/f0000", b"x"), Err(Error::NoSpace));
    assert_eq!(fs.replace_file("/keep", b"x"), Err(Error::NoSpace));
    assert_eq!(names(&mut fs, "/"), before);
    assert_eq!(fs.read_file("/keep").unwrap(), b"kept");
    fs.sync().unwrap();
    assert_eq!(fs.stats(), st, "a refused write kept an inode or a block");
    unmount_and_check(fs, &img);
}

/// The rename is what fails: the temporary file took the directory's last free slot, so
/// the target's name has no room and the full disk has no block to grow the directory.
#[test]
fn a_failed_rename_removes_the_temporary_file() {
    let s = Scratch::new("rename-fails");
    let img = s.path("img");
    mkfs(&img, None, "4M", &[]);
    let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
    fs.mkdir("/d").unwrap();
    fill(&mut fs);
    // Fill /d's only block with 18-byte names (28-byte records, like the temporary name's).
    let mut n = 0;
    loop {
        match fs.create(&format!("/d/entry-{n:011}")) {
            Ok(()) => n += 1,
            Err(Error::NoSpace) => break,
            Err(e) => panic!("{e}"),
        }
    }
    fs.unlink("/d/entry-00000000000").unwrap();
    fs.sync().unwrap();
    let st = fs.stats();
    let before = names(&mut fs, "/d");
    assert_eq!(
        fs.replace_file("/d/target-name-000001", b""),
        Err(Error::NoSpace)
    );
    assert_eq!(names(&mut fs, "/d"), before);
    fs.sync().unwrap();
    assert_eq!(fs.stats(), st);
    // With room for both names it works.
    fs.unlink("/d/entry-00000000001").unwrap();
    fs.unlink("/d/entry-00000000002").unwrap();
    fs.replace_file("/d/target-name-000001", b"").unwrap();
    assert_eq!(
        fs.stat("/d/target-name-000001").unwrap().kind,
        FileKind::File
    );
    unmount_and_check(fs, &img);
}

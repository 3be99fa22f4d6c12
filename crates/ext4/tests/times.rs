//! Inode timestamps from the clock the caller gives ([`Ext4::set_clock`]), updated as Linux
//! updates them, judged by `debugfs stat`; without a clock (or while it has no answer) the
//! image's last write time is used, as before. Also: directory entries without a file type
//! (`-O ^filetype`) get their kind from the inode.

mod common;

use common::*;
use ext4::{Ext4, FileKind};
use std::cell::Cell;
use std::path::Path;

thread_local! {
    /// What [`clock`] answers (each test runs on its own thread).
    static NOW: Cell<Option<u64>> = const { Cell::new(None) };
}

fn clock() -> Option<u64> {
    NOW.with(Cell::get)
}

fn set_now(t: Option<u64>) {
    NOW.with(|n| n.set(t));
}

/// One timestamp from `debugfs stat`: (seconds field, extra field if the inode has one).
fn stamp(img: &Path, path: &str, which: &str) -> Option<(u32, Option<u32>)> {
    let text = debugfs_stat(img, path);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("{which}: 0x")))?;
    let v = line.split("0x").nth(1)?.split_whitespace().next()?;
    let mut parts = v.split(':');
    let secs = u32::from_str_radix(parts.next()?, 16).ok()?;
    let extra = parts.next().map(|e| u32::from_str_radix(e, 16).unwrap());
    Some((secs, extra))
}

/// Seconds of a timestamp (extra field: epoch bits in the low two bits).
fn secs(img: &Path, path: &str, which: &str) -> u64 {
    let (s, extra) = stamp(img, path, which).unwrap_or_else(|| panic!("no {which} for {path}"));
    s as u64 + ((extra.unwrap_or(0) & 3) as u64) * (1 << 32)
}

fn assert_times(img: &Path, path: &str, want: [(&str, u64); 4]) {
    for (which, t) in want {
        assert_eq!(secs(img, path, which), t, "{which} of {path}");
    }
}

fn image(s: &Scratch, opts: &[&str]) -> std::path::PathBuf {
    let t = s.path("tree");
    std::fs::create_dir_all(t.join("d")).unwrap();
    std::fs::create_dir_all(t.join("e")).unwrap();
    std::fs::write(t.join("d/f"), b"file in d\n").unwrap();
    let img = s.path("img");
    mkfs(&img, Some(&t), "4M", opts);
    img
}

const T1: u64 = 1_600_000_001;
const T2: u64 = 1_600_000_002;
const T3: u64 = 1_600_000_003;
const T4: u64 = 1_600_000_004;
const T5: u64 = 1_600_000_005;
const T6: u64 = 1_600_000_006;

#[test]
fn timestamps_follow_the_clock() {
    let s = Scratch::new("times");
    let img = image(&s, &[]);
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    fs.set_clock(clock);
    set_now(Some(T1));
    fs.write_file("/d/new", b"one").unwrap();
    let d_before = fs.stat("/e").unwrap();
    set_now(Some(T2));
    fs.write_at("/d/new", 3, b" two").unwrap();
    set_now(Some(T3));
    fs.rename("/d/new", "/e/moved").unwrap();
    set_now(Some(T4));
    fs.mkdir("/e/sub").unwrap();
    fs.create("/e/sub/gone").unwrap();
    set_now(Some(T5));
    fs.unlink("/e/sub/gone").unwrap();
    set_now(Some(T6));
    fs.truncate("/d/f", 3).unwrap();
    let m = fs.stat("/e/moved").unwrap();
    assert_eq!(
        (m.atime, m.ctime, m.mtime, m.crtime),
        (T1, T3, T2, Some(T1))
    );
    assert_eq!(d_before.mtime, d_before.ctime);
    fs.unmount().unwrap();
    assert_clean(&img);
    // Created at T1, written at T2, renamed at T3 (rename changes ctime only).
    assert_times(
        &img,
        "/e/moved",
        [("atime", T1), ("ctime", T3), ("mtime", T2), ("crtime", T1)],
    );
    // /d: entry added at T1, removed at T3. /e: entry added at T3, subdirectory at T4.
    assert_eq!(secs(&img, "/d", "mtime"), T3);
    assert_eq!(secs(&img, "/d", "ctime"), T3);
    assert_eq!(secs(&img, "/e", "mtime"), T4);
    assert_eq!(secs(&img, "/e", "ctime"), T4);
    // /e/sub: made at T4, entry added at T4 and removed at T5.
    assert_times(
        &img,
        "/e/sub",
        [("atime", T4), ("ctime", T5), ("mtime", T5), ("crtime", T4)],
    );
    assert_eq!(secs(&img, "/d/f", "mtime"), T6);
    assert_eq!(secs(&img, "/d/f", "ctime"), T6);
    // Whole seconds: the nanosecond part of the extra fields is zero.
    assert_eq!(stamp(&img, "/e/moved", "mtime").unwrap().1, Some(0));
}

/// After 2038 the extra field's epoch bits carry the seconds above 32 bits.
#[test]
fn timestamps_after_2038_use_the_epoch_bits() {
    let s = Scratch::new("y2038");
    let img = image(&s, &[]);
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    fs.set_clock(clock);
    // 2106-02-07: past the unsigned 32-bit range too.
    let late = (1u64 << 32) + 5;
    set_now(Some(late));
    fs.write_file("/late", b"x").unwrap();
    assert_eq!(fs.stat("/late").unwrap().mtime, late);
    fs.unmount().unwrap();
    assert_eq!(stamp(&img, "/late", "mtime"), Some((5, Some(1))));
    assert_eq!(secs(&img, "/late", "crtime"), late);
    // 2040: above i32::MAX, so the 32-bit field alone would read as 1904.
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    fs.set_clock(clock);
    let y2040 = 2_208_988_800;
    set_now(Some(y2040));
    fs.write_file("/y2040", b"x").unwrap();
    fs.unmount().unwrap();
    assert_eq!(
        stamp(&img, "/y2040", "ctime"),
        Some((y2040 as u32, Some(1)))
    );
}

/// Today's behaviour is kept until a clock is given, and while it has no answer: times are
/// the image's last write time.
#[test]
fn without_a_clock_times_are_the_images_write_time() {
    let s = Scratch::new("noclock");
    let img = image(&s, &[]);
    let bytes = std::fs::read(&img).unwrap();
    let wtime = u32::from_le_bytes(bytes[1024 + 0x30..1024 + 0x34].try_into().unwrap()) as u64;
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    fs.write_file("/a", b"a").unwrap();
    fs.set_clock(clock);
    set_now(None);
    fs.write_file("/b", b"b").unwrap();
    fs.unmount().unwrap();
    assert_clean(&img);
    for p in ["/a", "/b"] {
        assert_times(
            &img,
            p,
            [
                ("atime", wtime),
                ("ctime", wtime),
                ("mtime", wtime),
                ("crtime", wtime),
            ],
        );
    }
}

/// 128-byte inodes have no extra fields: seconds only, no creation time.
#[test]
fn small_inodes_get_seconds_only() {
    let s = Scratch::new("small-inodes");
    let img = image(&s, &["-I", "128"]);
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    fs.set_clock(clock);
    set_now(Some(T2));
    fs.write_file("/d/new", b"x").unwrap();
    assert_eq!(fs.stat("/d/new").unwrap().crtime, None);
    fs.unmount().unwrap();
    assert_clean(&img);
    assert_eq!(stamp(&img, "/d/new", "mtime"), Some((T2 as u32, None)));
    assert_eq!(stamp(&img, "/d/new", "crtime"), None);
    assert_eq!(secs(&img, "/d", "mtime"), T2);
}

/// Without the `filetype` feature directory entries carry no type: the kind comes from the
/// inode, and entries written here leave that byte zero (it is the name length's high byte).
#[test]
fn entries_without_a_file_type_take_it_from_the_inode() {
    let s = Scratch::new("nofiletype");
    let img = image(&s, &["-O", "^filetype"]);
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    let kinds = |fs: &mut Ext4<blockdev::FileDevice>, dir: &str| {
        let mut v: Vec<(String, FileKind)> = fs
            .read_dir(dir)
            .unwrap()
            .into_iter()
            .map(|e| (String::from_utf8(e.name).unwrap(), e.kind))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(
        kinds(&mut fs, "/"),
        [
            ("d".to_string(), FileKind::Directory),
            ("e".to_string(), FileKind::Directory),
            ("lost+found".to_string(), FileKind::Directory),
        ]
    );
    assert_eq!(kinds(&mut fs, "/d"), [("f".to_string(), FileKind::File)]);
    fs.mkdir("/d/sub").unwrap();
    fs.write_file("/d/new", b"x").unwrap();
    fs.rename("/d/new", "/e/new").unwrap();
    fs.rename("/d/sub", "/e/sub").unwrap();
    assert_eq!(
        kinds(&mut fs, "/e"),
        [
            ("new".to_string(), FileKind::File),
            ("sub".to_string(), FileKind::Directory),
        ]
    );
    fs.unmount().unwrap();
    assert_clean(&img);
    assert_eq!(debugfs_cat(&img, "/e/new"), b"x");
}

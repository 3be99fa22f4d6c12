//! Block-mapped (indirect-block) files, as ext2 and ext3 write them and as ext4 keeps them for
//! inodes without the extents flag: read through direct, single, double and triple indirect
//! blocks, written e2fsck-clean, and new files on a file system without the `extent` feature
//! created block-mapped.

mod common;

use common::*;
use ext4::{Error, Ext4, FileKind};
use std::io::{Seek, SeekFrom, Write};

/// Logical offset past the double-indirect range for both block sizes we test
/// (1 KiB: 12 + 256 + 256² blocks = 64.3 MiB; 4 KiB needs 4 GiB and stays double-indirect).
const FAR: u64 = 70 << 20;

/// mkfs options for the block-mapped layouts: ext2, ext3 (journal, block-mapped journal
/// inode), ext4 without extents, each with 1 KiB and 4 KiB blocks.
const LAYOUTS: &[&[&str]] = &[
    &["-t", "ext2"],
    &["-t", "ext2", "-b", "4096"],
    &["-t", "ext3"],
    &["-t", "ext3", "-b", "4096", "-I", "128"],
    &["-O", "^extent,^64bit"],
    &["-O", "^extent,^64bit,^metadata_csum", "-b", "4096"],
];

fn tree(s: &Scratch) -> std::path::PathBuf {
    let t = s.path("tree");
    std::fs::create_dir_all(t.join("sub/deeper")).unwrap();
    std::fs::write(t.join("hello.txt"), b"hello world\n").unwrap();
    std::fs::write(t.join("sub/small.bin"), pattern(11 * 1024, 3)).unwrap();
    std::fs::write(t.join("sub/big.bin"), pattern(300_000, 1)).unwrap();
    std::fs::write(t.join("sub/deeper/empty"), b"").unwrap();
    let mut f = std::fs::File::create(t.join("sparse")).unwrap();
    f.write_all(b"head").unwrap();
    f.seek(SeekFrom::Start(FAR)).unwrap();
    f.write_all(b"far tail").unwrap();
    std::fs::create_dir_all(t.join("many")).unwrap();
    for i in 0..400 {
        std::fs::write(
            t.join(format!("many/file-with-a-longish-name-{i:04}")),
            format!("n{i}"),
        )
        .unwrap();
    }
    t
}

fn sparse_content() -> (u64, Vec<u8>) {
    (FAR + 8, b"far tail".to_vec())
}

#[test]
fn block_mapped_images_read_back() {
    for opts in LAYOUTS {
        let s = Scratch::new("bmread");
        let t = tree(&s);
        let img = s.path("img");
        mkfs(&img, Some(&t), "16M", opts);
        index_dirs(&img);
        let flags = debugfs_stat(&img, "/sub/big.bin");
        assert!(
            !flags.contains("Flags: 0x80000"),
            "{opts:?}: mkfs wrote an extent file:\n{flags}"
        );
        for mount in [Ext4::mount_read_only, Ext4::mount] {
            let mut fs = mount(file_dev(&img)).unwrap_or_else(|e| panic!("{opts:?}: mount: {e}"));
            assert_eq!(fs.read_file("/hello.txt").unwrap(), b"hello world\n");
            assert_eq!(
                fs.read_file("/sub/small.bin").unwrap(),
                pattern(11 * 1024, 3)
            );
            assert_eq!(fs.read_file("/sub/big.bin").unwrap(), pattern(300_000, 1));
            assert_eq!(fs.stat("/sub/deeper/empty").unwrap().size, 0);
            let (size, tail) = sparse_content();
            assert_eq!(fs.stat("/sparse").unwrap().size, size);
            let mut buf = vec![9u8; 12];
            assert_eq!(fs.read_at("/sparse", 0, &mut buf).unwrap(), 12);
            assert_eq!(&buf, b"head\0\0\0\0\0\0\0\0");
            let mut buf = vec![9u8; 8];
            assert_eq!(fs.read_at("/sparse", FAR, &mut buf).unwrap(), 8);
            assert_eq!(buf, tail);
            let mut buf = vec![9u8; 4096];
            fs.read_at("/sparse", 40 << 20, &mut buf).unwrap();
            assert!(buf.iter().all(|&b| b == 0), "{opts:?}: hole is not zeros");
            let mut names: Vec<_> = fs
                .read_dir("/")
                .unwrap()
                .into_iter()
                .map(|e| (String::from_utf8(e.name).unwrap(), e.kind))
                .collect();
            names.sort_by(|a, b| a.0.cmp(&b.0));
            assert_eq!(
                names,
                [
                    ("hello.txt".to_string(), FileKind::File),
                    ("lost+found".to_string(), FileKind::Directory),
                    ("many".to_string(), FileKind::Directory),
                    ("sparse".to_string(), FileKind::File),
                    ("sub".to_string(), FileKind::Directory),
                ]
            );
            assert_eq!(fs.read_dir("/many").unwrap().len(), 400);
            assert_eq!(
                fs.read_file("/many/file-with-a-longish-name-0123").unwrap(),
                b"n123"
            );
        }
    }
}

#[test]
fn block_mapped_writes_are_fsck_clean() {
    for opts in LAYOUTS {
        let s = Scratch::new("bmwrite");
        let t = tree(&s);
        let img = s.path("img");
        mkfs(&img, Some(&t), "16M", opts);
        index_dirs(&img);
        let mut fs = Ext4::mount(file_dev(&img)).unwrap_or_else(|e| panic!("{opts:?}: {e}"));
        fs.set_time(1_700_000_000);
        fs.write_file("/new.txt", b"fresh file").unwrap();
        fs.mkdir("/dir").unwrap();
        fs.mkdir("/dir/nested").unwrap();
        let big = pattern(1_500_000, 7);
        fs.write_file("/dir/nested/big", &big).unwrap();
        fs.write_at("/hello.txt", 6, b"there").unwrap();
        fs.write_at("/hello.txt", 100, b"tail").unwrap();
        // Across the direct/indirect boundary and into a far hole (triple indirect at 1 KiB).
        let mid = pattern(20_000, 9);
        fs.write_at("/sub/small.bin", 5000, &mid).unwrap();
        fs.write_at("/sparse", 60 << 20, b"middle").unwrap();
        fs.write_at("/sparse", FAR + 4096, b"further").unwrap();
        fs.truncate("/sub/big.bin", 5000).unwrap();
        fs.unlink("/sub/deeper/empty").unwrap();
        fs.rmdir("/sub/deeper").unwrap();
        fs.write_file("/many/added-entry", b"added").unwrap();
        fs.unlink("/many/file-with-a-longish-name-0007").unwrap();
        fs.replace_file("/new.txt", b"new content").unwrap();
        fs.rename("/dir/nested", "/moved").unwrap();
        fs.unmount().unwrap();
        let (code, text) = fsck(&img);
        assert_eq!(code, 0, "{opts:?}: e2fsck -fn:\n{text}");
        assert_eq!(debugfs_cat(&img, "/new.txt"), b"new content");
        assert_eq!(debugfs_cat(&img, "/moved/big"), big);
        let mut hello = b"hello there\n".to_vec();
        hello.resize(100, 0);
        hello.extend_from_slice(b"tail");
        assert_eq!(debugfs_cat(&img, "/hello.txt"), hello);
        let mut small = pattern(11 * 1024, 3);
        small.resize(25_000, 0);
        small[5000..25_000].copy_from_slice(&mid);
        assert_eq!(debugfs_cat(&img, "/sub/small.bin"), small);
        assert_eq!(
            debugfs_cat(&img, "/sub/big.bin"),
            pattern(300_000, 1)[..5000]
        );
        let sparse = debugfs_cat(&img, "/sparse");
        assert_eq!(sparse.len() as u64, FAR + 4096 + 7);
        assert_eq!(&sparse[(60 << 20)..(60 << 20) + 6], b"middle");
        assert_eq!(&sparse[FAR as usize..FAR as usize + 8], b"far tail");
        assert_eq!(&sparse[FAR as usize + 4096..], b"further");
        // New files follow the file system: block-mapped without the extent feature.
        let stat = debugfs_stat(&img, "/moved/big");
        assert!(
            !stat.contains("EXTENTS") && !stat.contains("Flags: 0x80000"),
            "{opts:?}: new file is not block-mapped:\n{stat}"
        );
        // Shrinking everything back gives every indirect block back.
        let mut fs = Ext4::mount(file_dev(&img)).unwrap();
        let free_before = fs.stats().free_blocks;
        fs.write_file("/grow", &pattern(400_000, 2)).unwrap();
        fs.truncate("/grow", 0).unwrap();
        fs.unlink("/grow").unwrap();
        fs.sync().unwrap();
        assert_eq!(fs.stats().free_blocks, free_before, "{opts:?}");
        fs.truncate("/sparse", 3).unwrap();
        fs.unmount().unwrap();
        let (code, text) = fsck(&img);
        assert_eq!(code, 0, "{opts:?}: e2fsck -fn after truncation:\n{text}");
        assert_eq!(debugfs_cat(&img, "/sparse"), b"hea");
    }
}

/// An ext4 file system that gained the `extent` feature after files were written keeps those
/// files block-mapped (as Linux does) and creates new ones with extents.
#[test]
fn old_block_mapped_files_on_an_extent_filesystem() {
    let s = Scratch::new("bmupgrade");
    let t = tree(&s);
    let img = s.path("img");
    mkfs(&img, Some(&t), "8M", &["-O", "^extent,^64bit"]);
    let out = std::process::Command::new(tool("tune2fs"))
        .args(["-O", "extent"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "tune2fs -O extent failed");
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    let data = pattern(200_000, 4);
    fs.write_at("/sub/small.bin", 0, &data).unwrap();
    fs.write_file("/fresh", &data).unwrap();
    fs.unmount().unwrap();
    assert_clean(&img);
    assert_eq!(debugfs_cat(&img, "/sub/small.bin"), data);
    assert!(!debugfs_stat(&img, "/sub/small.bin").contains("Flags: 0x80000"));
    assert!(debugfs_stat(&img, "/fresh").contains("Flags: 0x80000"));
}

/// Block-mapped files end where indirect blocks do: 12 + 256 + 256² + 256³ blocks at 1 KiB.
#[test]
fn block_map_limit_is_file_too_large() {
    let s = Scratch::new("bmlimit");
    let img = s.path("img");
    mkfs(&img, None, "4M", &["-t", "ext2"]);
    let mut fs = Ext4::mount(file_dev(&img)).unwrap();
    fs.create("/f").unwrap();
    let limit = (12u64 + 256 + 256 * 256 + 256 * 256 * 256) * 1024;
    assert_eq!(fs.write_at("/f", limit, b"x"), Err(Error::FileTooLarge));
    fs.write_at("/f", limit - 1, b"x").unwrap();
    fs.unmount().unwrap();
    assert_clean(&img);
}

/// Fast symlinks (target inside `i_block`) and device files keep no block map there: they
/// are removed without reading `i_block` as block pointers. A slow symlink's block is freed.
#[test]
fn symlinks_and_devices_are_not_read_as_block_maps() {
    for opts in [&["-t", "ext2"][..], &[][..]] {
        let s = Scratch::new("bmspecial");
        let t = s.path("tree");
        std::fs::create_dir_all(&t).unwrap();
        std::fs::write(t.join("target"), b"x").unwrap();
        std::os::unix::fs::symlink("target", t.join("fast")).unwrap();
        std::os::unix::fs::symlink("t".repeat(100), t.join("slow")).unwrap();
        let img = s.path("img");
        mkfs(&img, Some(&t), "4M", opts);
        let out = std::process::Command::new(tool("debugfs"))
            .args(["-w", "-R", "mknod dev0 c 1 3"])
            .arg(&img)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut fs = Ext4::mount(file_dev(&img)).unwrap();
        let free = fs.stats().free_blocks;
        assert_eq!(fs.stat("/fast").unwrap().kind, FileKind::Symlink);
        fs.unlink("/fast").unwrap();
        fs.unlink("/dev0").unwrap();
        fs.unlink("/slow").unwrap();
        fs.sync().unwrap();
        assert_eq!(fs.stats().free_blocks, free + 1, "{opts:?}");
        fs.unmount().unwrap();
        let (code, text) = fsck(&img);
        assert_eq!(code, 0, "{opts:?}: e2fsck -fn:\n{text}");
    }
}

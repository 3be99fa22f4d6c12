//! Reading mkfs.ext4 images and every write operation, judged by e2fsck and debugfs.

mod common;

use common::*;
use ext4::{Error, Ext4, FileKind};

fn tree_with_files(s: &Scratch) -> std::path::PathBuf {
    let t = s.path("tree");
    std::fs::create_dir_all(t.join("sub/deeper")).unwrap();
    std::fs::write(t.join("hello.txt"), b"hello world\n").unwrap();
    std::fs::write(t.join("sub/big.bin"), pattern(300_000, 1)).unwrap();
    std::fs::write(t.join("sub/deeper/empty"), b"").unwrap();
    // Enough entries for a multi-block directory, which `index_dirs` turns into an htree.
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

#[test]
fn reads_mkfs_image_small_and_4k() {
    for extra in [&[][..], &["-b", "4096"][..]] {
        let s = Scratch::new("read");
        let tree = tree_with_files(&s);
        let img = s.path("img");
        mkfs(&img, Some(&tree), "8M", extra);
        index_dirs(&img);
        assert!(is_indexed(&img, "/many"));
        let mut fs = Ext4::mount_read_only(file_dev(&img)).unwrap();
        assert_eq!(fs.read_file("/hello.txt").unwrap(), b"hello world\n");
        assert_eq!(fs.read_file("/sub/big.bin").unwrap(), pattern(300_000, 1));
        assert_eq!(fs.stat("/sub/deeper/empty").unwrap().size, 0);
        assert_eq!(fs.stat("/sub").unwrap().kind, FileKind::Directory);
        let mut names: Vec<_> = fs
            .read_dir("/")
            .unwrap()
            .into_iter()
            .map(|e| String::from_utf8(e.name).unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["hello.txt", "lost+found", "many", "sub"]);
        assert_eq!(fs.read_dir("/many").unwrap().len(), 400);
        assert_eq!(
            fs.read_file("/many/file-with-a-longish-name-0123").unwrap(),
            b"n123"
        );
        let mut part = [0u8; 10];
        assert_eq!(fs.read_at("/sub/big.bin", 299_995, &mut part).unwrap(), 5);
        assert_eq!(&part[..5], &pattern(300_000, 1)[299_995..]);
        assert_eq!(fs.read_file("/nope"), Err(Error::NotFound));
        assert_eq!(fs.read_file("/hello.txt/x"), Err(Error::NotADirectory));
        assert_eq!(fs.read_file("/sub"), Err(Error::IsADirectory));
    }
}

#[test]
fn every_write_operation_is_fsck_clean() {
    for extra in [
        &[][..],
        &["-b", "4096"][..],
        &["-O", "^metadata_csum,^uninit_bg"][..],
        &["-O", "metadata_csum_seed,orphan_file"][..],
    ] {
        let s = Scratch::new("write");
        let tree = tree_with_files(&s);
        let img = s.path("img");
        mkfs(&img, Some(&tree), "8M", extra);
        index_dirs(&img);
        assert!(is_indexed(&img, "/many"));
        let mut fs = Ext4::mount(file_dev(&img)).unwrap();
        fs.set_time(1_700_000_000);
        fs.write_file("/new.txt", b"fresh file").unwrap();
        fs.mkdir("/dir").unwrap();
        fs.mkdir("/dir/nested").unwrap();
        let big = pattern(1_500_000, 7);
        fs.write_file("/dir/nested/big", &big).unwrap();
        fs.write_at("/hello.txt", 6, b"there").unwrap();
        fs.write_at("/hello.txt", 100, b"tail").unwrap();
        fs.truncate("/sub/big.bin", 5000).unwrap();
        fs.unlink("/sub/deeper/empty").unwrap();
        fs.rmdir("/sub/deeper").unwrap();
        assert_eq!(fs.rmdir("/dir"), Err(Error::DirectoryNotEmpty));
        fs.write_file("/many/added-entry", b"added").unwrap();
        fs.unlink("/many/file-with-a-longish-name-0007").unwrap();
        fs.write_file("/replacement", b"new content").unwrap();
        fs.rename("/replacement", "/new.txt").unwrap();
        fs.rename("/dir/nested", "/moved").unwrap();
        fs.unmount().unwrap();
        assert_clean(&img);
        assert_eq!(debugfs_cat(&img, "/new.txt"), b"new content");
        assert_eq!(debugfs_cat(&img, "/moved/big"), big);
        let mut hello = b"hello there\n".to_vec();
        hello.resize(100, 0);
        hello.extend_from_slice(b"tail");
        assert_eq!(debugfs_cat(&img, "/hello.txt"), hello);
        assert_eq!(
            debugfs_cat(&img, "/sub/big.bin"),
            pattern(300_000, 1)[..5000]
        );
        assert_eq!(debugfs_cat(&img, "/many/added-entry"), b"added");
        assert!(!debugfs_ls(&img, "/sub").contains(&"deeper".to_string()));
        // And the crate reads its own writes after a remount.
        let mut fs = Ext4::mount(file_dev(&img)).unwrap();
        assert_eq!(fs.read_file("/moved/big").unwrap(), big);
        assert_eq!(fs.read_dir("/many").unwrap().len(), 400);
    }
}

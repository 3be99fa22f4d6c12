//! Path rules at the edges, as POSIX has them: a trailing `/` (or `/.`) requires a directory,
//! and `.` or `..` as the last component of a path that names an entry to create, remove or
//! rename is an error — `rename("/d/.", …)` must never rename `/d`.

mod common;

use common::*;
use ext4::{Error, Ext4, FileKind};

/// `/d/f` (a file), `/models/config.json`, `/s/x` and an empty `/e`.
fn image(s: &Scratch) -> std::path::PathBuf {
    let t = s.path("tree");
    std::fs::create_dir_all(t.join("d")).unwrap();
    std::fs::create_dir_all(t.join("models")).unwrap();
    std::fs::create_dir_all(t.join("s")).unwrap();
    std::fs::create_dir_all(t.join("e")).unwrap();
    std::fs::write(t.join("d/f"), b"file in d\n").unwrap();
    std::fs::write(t.join("models/config.json"), b"{}\n").unwrap();
    std::fs::write(t.join("s/x"), b"in s\n").unwrap();
    let img = s.path("img");
    mkfs(&img, Some(&t), "4M", &[]);
    img
}

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

#[test]
fn trailing_slash_requires_a_directory() {
    let s = Scratch::new("slash");
    let img = image(&s);
    let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
    assert_eq!(fs.stat("/d/f/").err(), Some(Error::NotADirectory));
    assert_eq!(fs.read_file("/d/f/"), Err(Error::NotADirectory));
    let mut buf = [0u8; 4];
    assert_eq!(fs.read_at("/d/f/", 0, &mut buf), Err(Error::NotADirectory));
    assert_eq!(
        fs.read_dir("/models/config.json/"),
        Err(Error::NotADirectory)
    );
    assert_eq!(fs.stat("/d/f/.").err(), Some(Error::NotADirectory));
    assert_eq!(fs.stat("/d/f//").err(), Some(Error::NotADirectory));
    // Directories may be named with a trailing slash or `/.`.
    assert_eq!(fs.stat("/d/").unwrap().kind, FileKind::Directory);
    assert_eq!(fs.stat("/d/.").unwrap().kind, FileKind::Directory);
    assert_eq!(fs.stat("/d/./").unwrap().ino, fs.stat("/d").unwrap().ino);
    assert_eq!(names(&mut fs, "/models/."), ["config.json"]);
    assert_eq!(names(&mut fs, "/models/"), ["config.json"]);
    assert_eq!(fs.stat("/").unwrap().kind, FileKind::Directory);
    assert_eq!(fs.stat("/.").unwrap().ino, 2);
    assert_eq!(fs.stat("//").unwrap().ino, 2);
    // Writing and removing through a trailing slash.
    assert_eq!(fs.unlink("/d/f/"), Err(Error::NotADirectory));
    assert_eq!(fs.write_file("/d/f/", b"x"), Err(Error::NotADirectory));
    assert_eq!(fs.write_file("/d/new/", b"x"), Err(Error::NotADirectory));
    assert_eq!(fs.create("/d/new/"), Err(Error::NotADirectory));
    assert_eq!(fs.truncate("/d/f/", 0), Err(Error::NotADirectory));
    assert_eq!(fs.rename("/d/f/", "/g"), Err(Error::NotADirectory));
    assert_eq!(fs.rename("/d/f", "/g/"), Err(Error::NotADirectory));
    assert_eq!(fs.rmdir("/d/f/"), Err(Error::NotADirectory));
    assert_eq!(fs.read_file("/d/f").unwrap(), b"file in d\n");
    assert_eq!(fs.stat("/g").err(), Some(Error::NotFound));
    // ...which is fine for directories.
    fs.mkdir("/n/").unwrap();
    assert_eq!(fs.stat("/n").unwrap().kind, FileKind::Directory);
    fs.rename("/n/", "/m/").unwrap();
    fs.rmdir("/m/").unwrap();
    assert_eq!(fs.stat("/m").err(), Some(Error::NotFound));
    let dev = fs.unmount().unwrap();
    std::fs::write(&img, dev.data()).unwrap();
    assert_clean(&img);
}

#[test]
fn dot_and_dotdot_cannot_be_the_last_component_of_a_change() {
    let s = Scratch::new("dots");
    let img = image(&s);
    let mut fs = Ext4::mount(mem_dev(&img)).unwrap();
    // `mv /d/. /z` must not rename /d.
    assert_eq!(fs.rename("/d/.", "/z"), Err(Error::DotOrDotDot));
    // `mv /models/. /s/.` must not replace /s with /models.
    assert_eq!(fs.rename("/models/.", "/s/."), Err(Error::DotOrDotDot));
    // `mv /s /s/.` is not a successful no-op.
    assert_eq!(fs.rename("/s", "/s/."), Err(Error::DotOrDotDot));
    assert_eq!(fs.rename("/e", "/s/.."), Err(Error::DotOrDotDot));
    assert_eq!(fs.rename("/d/..", "/y"), Err(Error::DotOrDotDot));
    // `rm /d/.` must not try to remove /d (nor an empty one: /e/.).
    assert_eq!(fs.rmdir("/d/."), Err(Error::DotOrDotDot));
    assert_eq!(fs.rmdir("/e/."), Err(Error::DotOrDotDot));
    assert_eq!(fs.rmdir("/e/.."), Err(Error::DotOrDotDot));
    assert_eq!(fs.unlink("/d/."), Err(Error::DotOrDotDot));
    assert_eq!(fs.mkdir("/e/."), Err(Error::DotOrDotDot));
    assert_eq!(fs.create("/e/.."), Err(Error::DotOrDotDot));
    // Like open(O_TRUNC) in Linux: `/e/.` is the directory itself.
    assert_eq!(fs.write_file("/e/.", b"x"), Err(Error::IsADirectory));
    assert_eq!(fs.replace_file("/e/.", b"x"), Err(Error::DotOrDotDot));
    assert_eq!(names(&mut fs, "/"), ["d", "e", "lost+found", "models", "s"]);
    assert_eq!(names(&mut fs, "/s"), ["x"]);
    assert_eq!(names(&mut fs, "/models"), ["config.json"]);
    // `.` and `..` in the middle of a path still work.
    fs.rename("/d/./f", "/s/../e/f").unwrap();
    assert_eq!(fs.read_file("/e/f").unwrap(), b"file in d\n");
    fs.rename("/e/f", "/d/f").unwrap();
    let dev = fs.unmount().unwrap();
    std::fs::write(&img, dev.data()).unwrap();
    assert_clean(&img);
}

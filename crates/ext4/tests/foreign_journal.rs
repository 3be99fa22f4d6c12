//! Replay of journals this crate did not write: debugfs (`jo`/`jw`/`jc`) writes jbd2
//! transactions — with and without checksums, with revoke records, and an uncommitted
//! one — and mounting with this crate must reproduce exactly what e2fsck's replay does.

mod common;

use blockdev::MemDevice;
use common::*;
use ext4::Ext4;
use std::process::Command;

fn debugfs_script(img: &std::path::Path, script: &str, dir: &Scratch) {
    let f = dir.path("cmds");
    std::fs::write(&f, script).unwrap();
    let out = Command::new(tool("debugfs"))
        .arg("-w")
        .arg("-f")
        .arg(&f)
        .arg(img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "debugfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn block(img: &[u8], n: usize) -> &[u8] {
    &img[n * 1024..(n + 1) * 1024]
}

#[test]
fn replay_matches_e2fsck_for_debugfs_journals() {
    for open in ["jo", "jo -c"] {
        let s = Scratch::new("foreign");
        let img = s.path("img");
        mkfs(&img, None, "8M", &[]);
        let a = s.path("a");
        let b = s.path("b");
        let c = s.path("c");
        std::fs::write(&a, pattern(2048, 1)).unwrap();
        std::fs::write(&b, pattern(1024, 2)).unwrap();
        std::fs::write(&c, pattern(1024, 3)).unwrap();
        // T1 writes 3000-3001; T2 revokes 3001; T3 writes 3002; T4 never commits.
        let script = format!(
            "{open}\njw -b 3000,3001 {}\njw -r 3001\njw -b 3002 {}\njw -b 3003 -c {}\njc\n",
            a.display(),
            b.display(),
            c.display()
        );
        debugfs_script(&img, &script, &s);
        let dirty = std::fs::read(&img).unwrap();
        let log = Command::new(tool("debugfs"))
            .arg("-R")
            .arg("logdump")
            .arg(&img)
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&log.stdout).to_string();
        assert!(
            log.contains("revoke table") && log.contains("sequence 3, type 2"),
            "unexpected journal:\n{log}"
        );

        let mut fs = Ext4::mount(MemDevice::new(dirty.clone(), 512).unwrap()).unwrap();
        fs.sync().unwrap();
        let mine = fs.unmount().unwrap().into_data();

        let (code, text) = fsck_repair(&img);
        assert!(code <= 1, "e2fsck -fy: {text}");
        let theirs = std::fs::read(&img).unwrap();
        for n in 3000..=3003 {
            assert_eq!(
                block(&mine, n),
                block(&theirs, n),
                "{open}: block {n} differs from e2fsck's replay"
            );
        }
        assert_eq!(
            block(&mine, 3000),
            &pattern(2048, 1)[..1024],
            "{open}: T1 not replayed"
        );
        assert_eq!(
            block(&mine, 3002),
            &pattern(1024, 2)[..],
            "{open}: T2 not replayed"
        );
        assert_ne!(
            block(&mine, 3001),
            &pattern(2048, 1)[1024..],
            "{open}: revoked block replayed"
        );
        assert_ne!(
            block(&mine, 3003),
            &pattern(1024, 3)[..],
            "{open}: uncommitted block replayed"
        );
        std::fs::write(&img, &mine).unwrap();
        assert_clean(&img);
    }
}

//! Hashed directory lookups: our name hashes agree with debugfs `dx_hash` for every hash
//! algorithm, and every name in mkfs-built htree directories (one and two index levels)
//! is found.

mod common;

use common::*;
use ext4::htree::{self, name_hash};
use ext4::{Error, Ext4};
use std::process::Command;

fn debugfs_hash(img: &std::path::Path, alg: &str, seed: &str, name: &str) -> u32 {
    let out = Command::new(tool("debugfs"))
        .arg("-R")
        .arg(format!("dx_hash -h {alg} -s {seed} {name}"))
        .arg(img)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let hex = text
        .split("is 0x")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .unwrap_or_else(|| panic!("dx_hash output: {text}"));
    u32::from_str_radix(hex, 16).unwrap()
}

#[test]
fn hashes_match_debugfs() {
    let s = Scratch::new("hash");
    let img = s.path("img");
    mkfs(&img, None, "4M", &[]);
    let seed_str = "41c27589-42d4-4017-9e06-8536f1b92db6";
    let hexs: String = seed_str.chars().filter(|c| *c != '-').collect();
    let bytes: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&hexs[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let mut seed = [0u32; 4];
    for (i, w) in seed.iter_mut().enumerate() {
        *w = u32::from_le_bytes([
            bytes[4 * i],
            bytes[4 * i + 1],
            bytes[4 * i + 2],
            bytes[4 * i + 3],
        ]);
    }
    let names = [
        "a",
        "hello",
        "file-with-a-longish-name-0123",
        "x".repeat(40).as_str().to_owned().leak(),
        "n\u{e9}e",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefghijklmnopqrstuvwxyz",
    ];
    // debugfs knows the unsigned variants only by number.
    let algs = [
        ("HASHALG_0", htree::LEGACY),
        ("HASHALG_1", htree::HALF_MD4),
        ("HASHALG_2", htree::TEA),
        ("HASHALG_3", htree::LEGACY_UNSIGNED),
        ("HASHALG_4", htree::HALF_MD4_UNSIGNED),
        ("HASHALG_5", htree::TEA_UNSIGNED),
    ];
    for name in names {
        for (alg, v) in algs {
            let want = debugfs_hash(&img, alg, seed_str, name);
            assert_eq!(
                name_hash(name.as_bytes(), v, seed),
                Some(want),
                "{alg} of {name:?}"
            );
        }
    }
}

#[test]
fn every_name_in_indexed_directories_is_found() {
    // 1200 names of ~200 bytes with 1 KiB blocks need a second index level.
    let long = "x".repeat(190);
    let cases: [(usize, &str, &[&str], u32); 2] =
        [(400, "", &["-b", "4096"], 0), (1200, &long, &[], 1)];
    for (count, suffix, opts, levels) in cases {
        let name = |i: usize| format!("/big/entry-{i:05}-{}{suffix}", i * 7919 % 1000);
        let s = Scratch::new("htree");
        let t = s.path("tree");
        std::fs::create_dir_all(t.join("big")).unwrap();
        for i in 0..count {
            std::fs::write(t.join(&name(i)[1..]), []).unwrap();
        }
        let img = s.path("img");
        mkfs(&img, Some(&t), "16M", opts);
        index_dirs(&img);
        assert!(is_indexed(&img, "/big"));
        let out = Command::new(tool("debugfs"))
            .arg("-R")
            .arg("htree /big")
            .arg(&img)
            .output()
            .unwrap();
        let dump = String::from_utf8_lossy(&out.stdout);
        assert!(
            dump.contains(&format!("Indirect levels: {levels}")),
            "unexpected index depth"
        );
        let mut fs = Ext4::mount_read_only(file_dev(&img)).unwrap();
        for i in 0..count {
            fs.stat(&name(i))
                .unwrap_or_else(|e| panic!("{}: {e:?}", name(i)));
        }
        assert_eq!(fs.stat("/big/entry-99999-0"), Err(Error::NotFound));
        // Adding a name turns the directory linear; everything stays reachable and clean.
        drop(fs);
        let mut fs = Ext4::mount(file_dev(&img)).unwrap();
        fs.write_file("/big/added", b"z").unwrap();
        fs.unmount().unwrap();
        assert_clean(&img);
        let mut fs = Ext4::mount_read_only(file_dev(&img)).unwrap();
        assert_eq!(fs.read_dir("/big").unwrap().len(), count + 1);
        assert_eq!(fs.read_file("/big/added").unwrap(), b"z");
    }
}

//! Randomized operation sequences checked against an in-memory model, then judged by
//! e2fsck and debugfs. A seeded generator (rather than proptest shrinking) keeps each case
//! a single long session — the interesting bugs need many operations on one image.

mod common;

use blockdev::MemDevice;
use common::*;
use ext4::{Error, Ext4, FileKind};
use std::collections::BTreeMap;

#[derive(Clone, Debug, PartialEq)]
enum Node {
    File(Vec<u8>),
    Dir,
}

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
    fn pick<'a, T>(&mut self, v: &'a [T]) -> Option<&'a T> {
        if v.is_empty() {
            None
        } else {
            v.get(self.below(v.len() as u64) as usize)
        }
    }
}

fn parent_of(p: &str) -> &str {
    match p.rfind('/') {
        Some(0) => "/",
        Some(i) => &p[..i],
        None => "/",
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir == "/" {
        format!("/{name}")
    } else {
        format!("{dir}/{name}")
    }
}

fn run(seed: u64, ops: usize, mkfs_opts: &[&str]) {
    let s = Scratch::new("model");
    let img = s.path("img");
    mkfs(&img, None, "8M", mkfs_opts);
    let mut dev = mem_dev(&img);
    let mut model: BTreeMap<String, Node> = BTreeMap::new();
    model.insert("/".into(), Node::Dir);
    model.insert("/lost+found".into(), Node::Dir);
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) | 1);
    let names = ["a", "b", "c", "dd", "e-long-name-for-variety", "f"];
    let mut fs = Ext4::mount(dev).unwrap();
    // Odd seeds run without a metadata cache: every read goes to the device.
    let cache = if seed % 2 == 1 { 0 } else { 4096 };
    fs.set_cache_limit(cache);
    for step in 0..ops {
        let dirs: Vec<String> = model
            .iter()
            .filter(|(_, n)| **n == Node::Dir)
            .map(|(k, _)| k.clone())
            .collect();
        let files: Vec<String> = model
            .iter()
            .filter(|(_, n)| matches!(n, Node::File(_)))
            .map(|(k, _)| k.clone())
            .collect();
        let ctx = format!("seed {seed} step {step}");
        match rng.below(100) {
            0..=19 => {
                let dir = rng.pick(&dirs).unwrap().clone();
                let path = join(&dir, rng.pick(&names).unwrap());
                let len = match rng.below(4) {
                    0 => 0,
                    1 => rng.below(100),
                    2 => rng.below(5000),
                    _ => rng.below(60_000),
                } as usize;
                let data = pattern(len, rng.next());
                let r = fs.write_file(&path, &data);
                match model.get(&path) {
                    Some(Node::Dir) => assert_eq!(r, Err(Error::IsADirectory), "{ctx}"),
                    _ => {
                        r.unwrap_or_else(|e| panic!("{ctx}: write_file {path}: {e:?}"));
                        model.insert(path, Node::File(data));
                    }
                }
            }
            20..=34 => {
                let Some(path) = rng.pick(&files).cloned() else {
                    continue;
                };
                let Some(Node::File(content)) = model.get_mut(&path) else {
                    unreachable!()
                };
                let off = rng.below(content.len() as u64 + 20_000) as usize;
                let data = pattern(1 + rng.below(9_000) as usize, rng.next());
                fs.write_at(&path, off as u64, &data)
                    .unwrap_or_else(|e| panic!("{ctx}: write_at: {e:?}"));
                if content.len() < off + data.len() {
                    content.resize(off + data.len(), 0);
                }
                content[off..off + data.len()].copy_from_slice(&data);
            }
            35..=44 => {
                let Some(path) = rng.pick(&files).cloned() else {
                    continue;
                };
                let Some(Node::File(content)) = model.get_mut(&path) else {
                    unreachable!()
                };
                let size = rng.below(content.len() as u64 * 3 / 2 + 3000) as usize;
                fs.truncate(&path, size as u64)
                    .unwrap_or_else(|e| panic!("{ctx}: truncate: {e:?}"));
                content.resize(size, 0);
            }
            45..=54 => {
                let Some(path) = rng.pick(&files).cloned() else {
                    continue;
                };
                fs.unlink(&path)
                    .unwrap_or_else(|e| panic!("{ctx}: unlink: {e:?}"));
                model.remove(&path);
            }
            55..=64 => {
                let dir = rng.pick(&dirs).unwrap().clone();
                if dir.matches('/').count() > 4 {
                    continue;
                }
                let path = join(&dir, rng.pick(&names).unwrap());
                let r = fs.mkdir(&path);
                match model.entry(path) {
                    std::collections::btree_map::Entry::Occupied(_) => {
                        assert_eq!(r, Err(Error::AlreadyExists), "{ctx}")
                    }
                    std::collections::btree_map::Entry::Vacant(v) => {
                        r.unwrap_or_else(|e| panic!("{ctx}: mkdir {}: {e:?}", v.key()));
                        v.insert(Node::Dir);
                    }
                }
            }
            65..=72 => {
                let Some(path) = rng.pick(&dirs).cloned() else {
                    continue;
                };
                if path == "/" || path == "/lost+found" {
                    continue;
                }
                let prefix = format!("{path}/");
                let empty = !model.keys().any(|k| k.starts_with(&prefix));
                let r = fs.rmdir(&path);
                if empty {
                    r.unwrap_or_else(|e| panic!("{ctx}: rmdir: {e:?}"));
                    model.remove(&path);
                } else {
                    assert_eq!(r, Err(Error::DirectoryNotEmpty), "{ctx}");
                }
            }
            73..=89 => {
                // Rename a file (often over an existing file) or a directory.
                let all: Vec<String> = model
                    .keys()
                    .filter(|k| *k != "/" && *k != "/lost+found")
                    .cloned()
                    .collect();
                let Some(src) = rng.pick(&all).cloned() else {
                    continue;
                };
                let dir = rng.pick(&dirs).unwrap().clone();
                let dst = join(&dir, rng.pick(&names).unwrap());
                let src_is_dir = model[&src] == Node::Dir;
                let r = fs.rename(&src, &dst);
                let src_prefix = format!("{src}/");
                if src == dst {
                    r.unwrap();
                } else if src_is_dir && (dst.starts_with(&src_prefix)) {
                    assert_eq!(r, Err(Error::InvalidMove), "{ctx}");
                } else {
                    match (src_is_dir, model.get(&dst)) {
                        (false, Some(Node::Dir)) => {
                            assert_eq!(r, Err(Error::IsADirectory), "{ctx}")
                        }
                        (true, Some(Node::File(_))) => {
                            assert_eq!(r, Err(Error::NotADirectory), "{ctx}")
                        }
                        (true, Some(Node::Dir))
                            if model.keys().any(|k| k.starts_with(&format!("{dst}/"))) =>
                        {
                            assert_eq!(r, Err(Error::DirectoryNotEmpty), "{ctx}")
                        }
                        _ => {
                            r.unwrap_or_else(|e| panic!("{ctx}: rename {src} -> {dst}: {e:?}"));
                            let moved: Vec<(String, Node)> = model
                                .iter()
                                .filter(|(k, _)| **k == src || k.starts_with(&src_prefix))
                                .map(|(k, v)| (k.clone(), v.clone()))
                                .collect();
                            for (k, _) in &moved {
                                model.remove(k);
                            }
                            model.remove(&dst);
                            for (k, v) in moved {
                                model.insert(format!("{dst}{}", &k[src.len()..]), v);
                            }
                        }
                    }
                }
            }
            90..=94 => fs.sync().unwrap(),
            _ => {
                dev = fs.unmount().unwrap();
                fs = Ext4::mount(dev).unwrap();
                fs.set_cache_limit(cache);
                fs.drop_caches();
            }
        }
    }
    eprintln!(
        "seed {seed}: {} paths, {} bytes in files",
        model.len(),
        model
            .values()
            .map(|n| if let Node::File(d) = n { d.len() } else { 0 })
            .sum::<usize>()
    );
    // The crate agrees with the model...
    for (path, node) in &model {
        match node {
            Node::File(data) => {
                assert_eq!(&fs.read_file(path).unwrap(), data, "seed {seed}: {path}")
            }
            Node::Dir => {
                assert_eq!(fs.stat(path).unwrap().kind, FileKind::Directory);
                let mut listed: Vec<String> = fs
                    .read_dir(path)
                    .unwrap()
                    .into_iter()
                    .map(|e| String::from_utf8(e.name).unwrap())
                    .collect();
                listed.sort();
                let mut want: Vec<String> = model
                    .keys()
                    .filter(|k| *k != "/" && parent_of(k) == path)
                    .map(|k| k.rsplit('/').next().unwrap().to_string())
                    .collect();
                want.sort();
                assert_eq!(listed, want, "seed {seed}: listing of {path}");
            }
        }
    }
    // ...and so do e2fsck and debugfs.
    let image: MemDevice = fs.unmount().unwrap();
    std::fs::write(&img, image.data()).unwrap();
    let (code, text) = fsck(&img);
    assert_eq!(code, 0, "seed {seed}: e2fsck -fn:\n{text}");
    for (path, node) in &model {
        if let Node::File(data) = node {
            assert_eq!(
                &debugfs_cat(&img, path),
                data,
                "seed {seed}: debugfs cat {path}"
            );
        }
    }
}

/// Seeds per block size: 6 by default, `EXT4_MODEL_SEEDS=<n>` for a longer soak.
fn seed_count() -> u64 {
    std::env::var("EXT4_MODEL_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(6)
}

/// Operations per sequence: 300 by default, `EXT4_MODEL_OPS=<n>` for longer sessions.
fn op_count() -> usize {
    std::env::var("EXT4_MODEL_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

#[test]
fn random_sequences_1k_blocks() {
    for seed in 1..=seed_count() {
        run(seed, op_count(), &[]);
    }
}

#[test]
fn random_sequences_4k_blocks() {
    for seed in 1000..1000 + seed_count() {
        run(seed, op_count(), &["-b", "4096"]);
    }
}

/// Block-mapped layouts: ext2 (no journal), ext3, ext4 without the extent feature.
#[test]
fn random_sequences_block_mapped() {
    let layouts: [&[&str]; 3] = [
        &["-t", "ext2"],
        &["-t", "ext3", "-b", "4096"],
        &["-O", "^extent,^64bit"],
    ];
    for (i, opts) in layouts.iter().enumerate() {
        for seed in 0..seed_count().div_ceil(2) {
            run(2000 + 100 * i as u64 + seed, op_count(), opts);
        }
    }
}

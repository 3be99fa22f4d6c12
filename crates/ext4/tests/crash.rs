//! Crash safety: record the block-write stream of a session, cut it at many points (with
//! and without reordering inside the unflushed epoch), and check that
//! - e2fsck -fy repairs the image and a following e2fsck -fn is clean,
//! - mounting with this crate (which replays the journal) leaves an e2fsck-clean image,
//! - every file synced before the cut is intact, and a file replaced by
//!   write-new-then-rename is entirely old or entirely new.

mod common;

use blockdev::{CrashDevice, MemDevice};
use common::*;
use ext4::{Error, Ext4};
use std::collections::BTreeMap;

type State = BTreeMap<String, Vec<u8>>;

struct Session {
    dev: CrashDevice,
    /// (writes issued when a sync returned, files guaranteed durable from then on)
    synced: Vec<(usize, State)>,
    old_target: Vec<u8>,
    new_targets: Vec<Vec<u8>>,
}

fn run_session(block_opts: &[&str]) -> Session {
    let s = Scratch::new("crash-base");
    let tree = s.path("tree");
    std::fs::create_dir_all(&tree).unwrap();
    let old_target = pattern(20_000, 100);
    std::fs::write(tree.join("target"), &old_target).unwrap();
    std::fs::write(tree.join("keep"), pattern(5_000, 101)).unwrap();
    std::fs::create_dir_all(tree.join("big")).unwrap();
    for i in 0..300 {
        std::fs::write(
            tree.join(format!("big/some-longer-file-name-{i:04}")),
            [i as u8],
        )
        .unwrap();
    }
    let img = s.path("img");
    mkfs(&img, Some(&tree), "8M", block_opts);
    // An htree directory, which the session converts to linear form by adding to it.
    index_dirs(&img);
    assert!(is_indexed(&img, "/big"));
    let mut dev = CrashDevice::new(std::fs::read(&img).unwrap(), 512).unwrap();
    let mut synced = Vec::new();
    let mut new_targets = Vec::new();
    let mut state = State::new();
    state.insert("/target".into(), old_target.clone());
    state.insert("/keep".into(), pattern(5_000, 101));
    state.insert("/big/some-longer-file-name-0123".into(), vec![123]);
    synced.push((0, state.clone()));
    {
        let mut fs = Ext4::mount(&mut dev).unwrap();
        fs.set_time(1_700_000_000);
        for round in 0..3u64 {
            let name = format!("/file{round}");
            let data = pattern(3_000 + 7_000 * round as usize, round);
            fs.write_file(&name, &data).unwrap();
            fs.mkdir(&format!("/dir{round}")).unwrap();
            let in_big = format!("/big/added-{round}");
            fs.write_file(&in_big, &data[..100]).unwrap();
            fs.sync().unwrap();
            state.insert(name, data.clone());
            state.insert(in_big, data[..100].to_vec());
            synced.push((fs.device().write_count(), state.clone()));
            // Atomic replace: write the new version aside, then rename over the target.
            let new = pattern(15_000 + round as usize * 4_000, 200 + round);
            new_targets.push(new.clone());
            fs.write_file("/target.tmp", &new).unwrap();
            fs.rename("/target.tmp", "/target").unwrap();
            if round == 0 {
                fs.unlink("/keep").unwrap();
                state.remove("/keep");
            }
            fs.sync().unwrap();
            state.insert("/target".into(), new);
            synced.push((fs.device().write_count(), state.clone()));
        }
        fs.unmount().unwrap();
    }
    Session {
        dev,
        synced,
        old_target,
        new_targets,
    }
}

fn check_content(img: &[u8], s: &Session, cut: usize) {
    let guaranteed = &s.synced.iter().rev().find(|(w, _)| *w <= cut).unwrap().1;
    // Changes made after the last completed sync may or may not have reached the disk.
    let next = s.synced.iter().find(|(w, _)| *w > cut).map(|(_, st)| st);
    let mut fs = Ext4::mount_read_only(MemDevice::new(img.to_vec(), 512).unwrap()).unwrap();
    for (path, data) in guaranteed {
        if path == "/target" {
            continue;
        }
        let got = fs.read_file(path);
        let later = next.map(|n| n.get(path));
        match (got, later) {
            (Ok(g), _) if &g == data => {}
            (Ok(g), Some(Some(l))) if &g == l => {}
            (Err(Error::NotFound), Some(None)) => {}
            (other, _) => panic!(
                "cut {cut}: synced file {path} damaged: {:?}",
                other.map(|g| g.len())
            ),
        }
    }
    let t = fs.read_file("/target").unwrap();
    assert!(
        t == s.old_target || s.new_targets.contains(&t),
        "cut {cut}: /target is neither an old nor a new version ({} bytes)",
        t.len()
    );
    // Never older than the last synced version.
    let version = |x: &Vec<u8>| s.new_targets.iter().position(|n| n == x);
    assert!(
        version(&t) >= version(&guaranteed["/target"]),
        "cut {cut}: /target went back in time"
    );
}

fn cut_points(total: usize, want: usize) -> Vec<usize> {
    let step = (total / want).max(1);
    let mut v: Vec<usize> = (0..=total).step_by(step).collect();
    v.push(total);
    v
}

fn crash_suite(block_opts: &[&str]) {
    let session = run_session(block_opts);
    let total = session.dev.write_count();
    let scratch = Scratch::new("crash");
    let img_path = scratch.path("cut.img");
    for (n, cut) in cut_points(total, 40).into_iter().enumerate() {
        let reorder = if n % 2 == 1 {
            Some(n as u64 * 7919)
        } else {
            None
        };
        let image = session.dev.crash_image(cut, reorder);
        // Path 1: e2fsck replays the journal and repairs; afterwards it must be clean.
        std::fs::write(&img_path, &image).unwrap();
        let (code, text) = fsck_repair(&img_path);
        assert!(
            code <= 1,
            "cut {cut}: e2fsck -fy failed (exit {code}):\n{text}"
        );
        assert_clean(&img_path);
        check_content(&std::fs::read(&img_path).unwrap(), &session, cut);
        // Path 2: this crate replays at mount; the result needs no repair at all.
        let mut fs = Ext4::mount(MemDevice::new(image, 512).unwrap()).unwrap();
        fs.sync().unwrap();
        let replayed = fs.unmount().unwrap().into_data();
        std::fs::write(&img_path, &replayed).unwrap();
        let (code, text) = fsck(&img_path);
        assert_eq!(
            code, 0,
            "cut {cut} (reorder {reorder:?}): image after in-crate replay not clean:\n{text}"
        );
        check_content(&replayed, &session, cut);
    }
}

#[test]
fn crash_points_1k_blocks() {
    crash_suite(&[]);
}

#[test]
fn crash_points_4k_blocks() {
    crash_suite(&["-b", "4096"]);
}

/// ext3: block-mapped files and journal, 32-bit journal tags without checksums.
#[test]
fn crash_points_ext3() {
    crash_suite(&["-t", "ext3"]);
}

/// The image right after the last commit became durable but before any checkpoint write:
/// only a correct jbd2 replay (by e2fsck or by this crate) can bring the new file back.
#[test]
fn committed_but_not_checkpointed_transaction_is_replayed() {
    for opts in [&[][..], &["-b", "4096"][..]] {
        let s = Scratch::new("replay");
        let img = s.path("img");
        mkfs(&img, None, "8M", opts);
        let mut dev = CrashDevice::new(std::fs::read(&img).unwrap(), 512).unwrap();
        let data = pattern(40_000, 9);
        {
            let mut fs = Ext4::mount(&mut dev).unwrap();
            fs.mkdir("/d").unwrap();
            fs.write_file("/d/f", &data).unwrap();
            fs.sync().unwrap();
        }
        // The last commit ends: flush, home writes, flush, journal-superblock + sb, flush.
        let events = dev.events();
        let flushes: Vec<usize> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| matches!(e, blockdev::CrashEvent::Flush))
            .map(|(i, _)| i)
            .collect();
        let before_home = flushes[flushes.len() - 3];
        let cut = events[..before_home]
            .iter()
            .filter(|e| matches!(e, blockdev::CrashEvent::Write { .. }))
            .count();
        let image = dev.crash_image(cut, None);
        std::fs::write(&img, &image).unwrap();
        let out = std::process::Command::new(tool("dumpe2fs"))
            .arg("-h")
            .arg(&img)
            .output()
            .unwrap();
        let header = String::from_utf8_lossy(&out.stdout);
        assert!(
            header.contains("needs_recovery"),
            "cut point is not a dirty journal:\n{header}"
        );
        let (code, text) = fsck_repair(&img);
        assert!(code <= 1, "e2fsck -fy failed:\n{text}");
        assert!(
            text.contains("recovering journal"),
            "e2fsck did not replay:\n{text}"
        );
        assert_clean(&img);
        assert_eq!(
            debugfs_cat(&img, "/d/f"),
            data,
            "e2fsck replay lost the committed file"
        );

        let mut fs = Ext4::mount(MemDevice::new(image, 512).unwrap()).unwrap();
        assert_eq!(fs.read_file("/d/f").unwrap(), data);
        let replayed = fs.unmount().unwrap().into_data();
        std::fs::write(&img, &replayed).unwrap();
        assert_clean(&img);
    }
}

/// Random operation mixes (overwrite, extend, truncate, unlink, mkdir, rename) cut at random
/// points: files synced and not touched afterwards must survive byte for byte.
#[test]
fn random_operations_crash_points() {
    // Two seeds by default; `EXT4_CRASH_SEEDS=<n>` runs n per block size for a soak.
    let n: u64 = std::env::var("EXT4_CRASH_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    let cases = (0..n).flat_map(|k| [(11 + 2 * k, &[][..]), (12 + 2 * k, &["-b", "4096"][..])]);
    for (seed, opts) in cases {
        let s = Scratch::new("crash-rand");
        let img = s.path("img");
        mkfs(&img, None, "8M", opts);
        let mut dev = CrashDevice::new(std::fs::read(&img).unwrap(), 512).unwrap();
        let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let mut next = move || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        // (writes when the sync returned, files then, paths touched after that sync)
        let mut syncs: Vec<(usize, State, Vec<String>)> = vec![(0, State::new(), Vec::new())];
        {
            let mut fs = Ext4::mount(&mut dev).unwrap();
            fs.mkdir("/d").unwrap();
            for step in 0..60 {
                let names: Vec<String> = files.keys().cloned().collect();
                let pick = |r: u64| names.get(r as usize % names.len().max(1)).cloned();
                let touched: Vec<String> = match next() % 6 {
                    0 | 1 => {
                        let p = format!(
                            "/{}/f{}",
                            if next() % 2 == 0 { "d" } else { "." },
                            next() % 8
                        )
                        .replace("/./", "/");
                        let data = pattern((next() % 30_000) as usize, next());
                        fs.write_file(&p, &data).unwrap();
                        files.insert(p.clone(), data);
                        vec![p]
                    }
                    2 => match pick(next()) {
                        Some(p) => {
                            let data = pattern(1 + (next() % 5000) as usize, next());
                            let f = files.get_mut(&p).unwrap();
                            let off = (next() % (f.len() as u64 + 4000)) as usize;
                            fs.write_at(&p, off as u64, &data).unwrap();
                            if f.len() < off + data.len() {
                                f.resize(off + data.len(), 0);
                            }
                            f[off..off + data.len()].copy_from_slice(&data);
                            vec![p]
                        }
                        None => vec![],
                    },
                    3 => match pick(next()) {
                        Some(p) => {
                            let f = files.get_mut(&p).unwrap();
                            let n = (next() % (f.len() as u64 + 1)) as usize;
                            fs.truncate(&p, n as u64).unwrap();
                            f.truncate(n);
                            vec![p]
                        }
                        None => vec![],
                    },
                    4 => match pick(next()) {
                        Some(p) => {
                            fs.unlink(&p).unwrap();
                            files.remove(&p);
                            vec![p]
                        }
                        None => vec![],
                    },
                    _ => match (pick(next()), pick(next())) {
                        (Some(a), Some(b)) => {
                            fs.rename(&a, &b).unwrap();
                            if a != b {
                                let v = files.remove(&a).unwrap();
                                files.insert(b.clone(), v);
                            }
                            vec![a, b]
                        }
                        _ => vec![],
                    },
                };
                syncs.last_mut().unwrap().2.extend(touched);
                if step % 4 == 3 {
                    fs.sync().unwrap();
                    syncs.push((fs.device().write_count(), files.clone(), Vec::new()));
                }
            }
            fs.unmount().unwrap();
        }
        let total = dev.write_count();
        for (n, cut) in cut_points(total, 25).into_iter().enumerate() {
            let reorder = if n % 2 == 0 {
                Some(seed * 1000 + n as u64)
            } else {
                None
            };
            let image = dev.crash_image(cut, reorder);
            let (_, state, touched) = syncs.iter().rev().find(|(w, _, _)| *w <= cut).unwrap();
            let mut fs = Ext4::mount(MemDevice::new(image.clone(), 512).unwrap()).unwrap();
            for (p, data) in state {
                if !touched.contains(p) {
                    assert_eq!(
                        &fs.read_file(p).unwrap_or_default(),
                        data,
                        "seed {seed} cut {cut}: {p}"
                    );
                }
            }
            fs.sync().unwrap();
            let replayed = fs.unmount().unwrap().into_data();
            std::fs::write(&img, &replayed).unwrap();
            let (code, text) = fsck(&img);
            assert_eq!(
                code, 0,
                "seed {seed} cut {cut}: after in-crate replay:\n{text}"
            );
            std::fs::write(&img, &image).unwrap();
            let (code, text) = fsck_repair(&img);
            assert!(code <= 1, "seed {seed} cut {cut}: e2fsck -fy:\n{text}");
            assert_clean(&img);
        }
    }
}

/// One recorded write: (first sector, bytes).
type SectorWrite = (u64, Vec<u8>);

/// Every subset of the writes of each small flush epoch (at most four writes: the commit
/// block with the journal pointer and recovery flag, the journal reset, the mount's journal
/// superblock) lands after the writes before it: the disk may persist an unflushed epoch in
/// any order. Whatever landed, e2fsck and this crate must recover a clean image in which the
/// file synced before is intact and the file replaced by rename is entirely old or new.
#[test]
fn every_reordering_of_small_flush_epochs_recovers() {
    for opts in [&[][..], &["-b", "4096"][..]] {
        let s = Scratch::new("epochs");
        let img = s.path("img");
        mkfs(&img, None, "8M", opts);
        let mut dev = CrashDevice::new(std::fs::read(&img).unwrap(), 512).unwrap();
        let old = pattern(30_000, 21);
        let new = pattern(12_000, 22);
        let synced_old;
        {
            let mut fs = Ext4::mount(&mut dev).unwrap();
            fs.write_file("/a", &old).unwrap();
            fs.sync().unwrap();
            synced_old = fs.device().write_count();
            fs.write_file("/a.new", &new).unwrap();
            fs.rename("/a.new", "/a").unwrap();
            fs.sync().unwrap();
        }
        // Split the write stream into flush epochs: (writes before the epoch, its writes).
        let mut epochs: Vec<(usize, Vec<SectorWrite>)> = vec![(0, Vec::new())];
        let mut issued = 0;
        for e in dev.events() {
            match e {
                blockdev::CrashEvent::Write { lba, data } => {
                    issued += 1;
                    epochs.last_mut().unwrap().1.push((*lba, data.clone()));
                }
                blockdev::CrashEvent::Flush => epochs.push((issued, Vec::new())),
            }
        }
        let mut tried = 0;
        for (before, writes) in epochs.iter().filter(|(_, w)| (1..=4).contains(&w.len())) {
            for mask in 0u32..(1 << writes.len()) {
                let mut image = dev.crash_image(*before, None);
                for (k, (lba, data)) in writes.iter().enumerate() {
                    if mask & (1 << k) != 0 {
                        let at = *lba as usize * 512;
                        image[at..at + data.len()].copy_from_slice(data);
                    }
                }
                tried += 1;
                let what = format!("epoch after write {before}, subset {mask:#b}");
                let check = |bytes: &[u8]| {
                    if *before < synced_old {
                        return;
                    }
                    let mut fs =
                        Ext4::mount_read_only(MemDevice::new(bytes.to_vec(), 512).unwrap())
                            .unwrap();
                    let a = fs.read_file("/a").unwrap();
                    assert!(a == old || a == new, "{what}: /a is neither version");
                };
                std::fs::write(&img, &image).unwrap();
                let (code, text) = fsck_repair(&img);
                assert!(code <= 1, "{what}: e2fsck -fy failed:\n{text}");
                assert_clean(&img);
                check(&std::fs::read(&img).unwrap());
                let mut fs = Ext4::mount(MemDevice::new(image, 512).unwrap()).unwrap();
                fs.sync().unwrap();
                let replayed = fs.unmount().unwrap().into_data();
                std::fs::write(&img, &replayed).unwrap();
                let (code, text) = fsck(&img);
                assert_eq!(code, 0, "{what}: not clean after in-crate replay:\n{text}");
                check(&replayed);
            }
        }
        // Two commits of three writes and two journal resets of two, at least.
        assert!(tried >= 2 * 8 + 2 * 4, "only {tried} images tried");
    }
}

//! End-to-end tests of persistent storage (virtio-blk, block cache, ext4).
//!
//! [`TESTS`] run over the shell in the shared e2e boot, whose data disk is a fresh copy of the
//! test template ([`crate::disk::test_template`]: `/models`, `/hello.txt`, `/docs/readme.txt`).
//! [`OWN_BOOT_TESTS`] need a disk of their own that they inspect on the host afterwards:
//! files written from the shell must pass `e2fsck -fn` and read back through `debugfs` after a
//! clean shutdown; and QEMU killed in the middle of a stream of writes must leave a disk on
//! which every acknowledged write survives, the file being replaced is entirely old or entirely
//! new, and both recoveries — `e2fsck -fy` on the host, and the kernel's own journal replay
//! at the next mount — end in an `e2fsck -fn`-clean file system. A full disk must leave no
//! temporary file or inode behind, and an image damaged on the host (root directory size 0)
//! must be reported, refused for writing, and left byte for byte as it was.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};

use crate::console::Console;
use crate::disk::{self, ScratchImage};
use crate::e2e::{E2eTest, command_error};
use crate::qemu::{Guest, QemuExit};

/// The storage tests that share the e2e boot, in run order.
pub const TESTS: &[E2eTest] = &[
    E2eTest {
        name: "storage_mounted_at_boot",
        run: storage_mounted_at_boot,
    },
    E2eTest {
        name: "ls_shows_models_and_files",
        run: ls_shows_models_and_files,
    },
    E2eTest {
        name: "write_cat_mv_rm_roundtrip",
        run: write_cat_mv_rm_roundtrip,
    },
    E2eTest {
        name: "file_command_errors",
        run: file_command_errors,
    },
    E2eTest {
        name: "file_commands_refuse_extra_arguments",
        run: file_commands_refuse_extra_arguments,
    },
    E2eTest {
        name: "df_reports_space_and_cache",
        run: df_reports_space_and_cache,
    },
    E2eTest {
        name: "write_takes_names_up_to_255_bytes",
        run: write_takes_names_up_to_255_bytes,
    },
    E2eTest {
        name: "dot_and_trailing_slash_paths",
        run: dot_and_trailing_slash_paths,
    },
];

/// A storage test with a boot (and a disk) of its own; gets the normal kernel image.
pub struct OwnBootTest {
    pub name: &'static str,
    pub run: fn(&Path) -> Result<()>,
}

/// Tests that check the disk on the host after the guest is gone.
pub const OWN_BOOT_TESTS: &[OwnBootTest] = &[
    OwnBootTest {
        name: "written_files_pass_e2fsck",
        run: written_files_pass_e2fsck,
    },
    OwnBootTest {
        name: "kill_mid_writes_is_crash_safe",
        run: kill_mid_writes_is_crash_safe,
    },
    OwnBootTest {
        name: "full_disk_is_a_clear_error",
        run: full_disk_is_a_clear_error,
    },
    OwnBootTest {
        name: "bad_disk_images_are_refused",
        run: bad_disk_images_are_refused,
    },
    OwnBootTest {
        name: "detected_corruption_stops_all_writes",
        run: detected_corruption_stops_all_writes,
    },
];

fn storage_mounted_at_boot(console: &mut Console) -> Result<()> {
    let log = console.guest().serial_log();
    let line = log
        .lines()
        .find(|l| l.starts_with("storage:"))
        .context("no `storage:` line at boot")?;
    ensure!(
        line.contains("virtio-blk") && line.contains("ext4 mounted at /"),
        "storage line does not report a mounted disk: {line:?}"
    );
    Ok(())
}

fn ls_shows_models_and_files(console: &mut Console) -> Result<()> {
    let root = console.command("ls /")?;
    for name in ["models", "hello.txt", "docs"] {
        ensure!(
            root.iter().any(|l| l.ends_with(&format!(" {name}"))),
            "`ls /` does not list {name}: {root:?}"
        );
    }
    ensure!(
        root.iter()
            .any(|l| l.starts_with('d') && l.ends_with(" models")),
        "/models is not shown as a directory: {root:?}"
    );
    let models = console.command("ls /models")?;
    ensure!(
        models.iter().any(|l| l.ends_with(" finetune-data.json")),
        "/models lacks the fine-tune data: {models:?}"
    );
    console.check_output("cat /hello.txt", &["hello from the host"])?;
    console.check_output("cat docs/readme.txt", &["nested file"])?;
    Ok(())
}

fn write_cat_mv_rm_roundtrip(console: &mut Console) -> Result<()> {
    console.check_output(
        "write /e2e.txt \"first version\"",
        &["wrote 14 bytes to /e2e.txt"],
    )?;
    console.check_output("cat /e2e.txt", &["first version"])?;
    console.check_output("write /e2e.txt second", &["wrote 7 bytes to /e2e.txt"])?;
    console.check_output("cat /e2e.txt", &["second"])?;
    console.check_output("mkdir /e2e-dir", &["created directory /e2e-dir"])?;
    console.check_output(
        "mv /e2e.txt /e2e-dir/moved.txt",
        &["moved /e2e.txt to /e2e-dir/moved.txt"],
    )?;
    let listing = console.command("ls /e2e-dir")?;
    ensure!(
        listing == ["-          7 moved.txt"],
        "unexpected listing {listing:?}"
    );
    console.check_output(
        "rm /e2e-dir/moved.txt",
        &["removed file /e2e-dir/moved.txt"],
    )?;
    console.check_output("rm /e2e-dir", &["removed directory /e2e-dir"])?;
    let root = console.command("ls /")?;
    ensure!(
        !root.iter().any(|l| l.contains("e2e")),
        "removed entries still listed: {root:?}"
    );
    Ok(())
}

fn file_command_errors(console: &mut Console) -> Result<()> {
    command_error(console, "cat /no/such/file", "no such file")?;
    command_error(console, "cat /models", "is a directory")?;
    command_error(console, "cat /models/model.safetensors", "binary file")?;
    command_error(console, "cat", "expected at least 1 argument, got 0")?;
    command_error(
        console,
        "write /x.txt",
        "expected at least 2 arguments, got 1",
    )?;
    command_error(console, "write /models hello", "is a directory")?;
    command_error(console, "mkdir /models", "exists")?;
    command_error(console, "rm /models", "not empty")?;
    command_error(console, "mv /missing /elsewhere", "no such file")?;
    command_error(console, "mv /models /models/inner", "")?;
    command_error(console, "ls /hello.txt/x", "not a directory")?;
    // Nothing already stored was lost on the way.
    console.check_output("cat /hello.txt", &["hello from the host"])?;
    Ok(())
}

/// Issue item 8 for the file commands: `mkdir 1 2 … 12` made only `/1` and `mv 1 2 3` moved
/// `/1` to `/2`. Now every extra argument is refused before the command runs, and nothing on
/// the disk changes; `write` still takes its text as any number of words.
fn file_commands_refuse_extra_arguments(console: &mut Console) -> Result<()> {
    // Short names: a line longer than the terminal would wrap its echo into the output.
    let twelve: Vec<String> = (1..=12).map(|i| format!("e{i}")).collect();
    for (line, needle) in [
        (
            "mkdir /e2e-a /e2e-b".to_string(),
            "expected at most 1 argument, got 2",
        ),
        (
            format!("mkdir /{}", twelve.join(" /")),
            "expected at most 1 argument, got 12",
        ),
        (
            "mv /hello.txt /e2e-x /e2e-y".to_string(),
            "expected at most 2 arguments, got 3",
        ),
        (
            "mv /hello.txt".to_string(),
            "expected at least 2 arguments, got 1",
        ),
        (
            "rm /hello.txt /docs/readme.txt".to_string(),
            "expected at most 1 argument, got 2",
        ),
        (
            "cat /hello.txt /docs/readme.txt".to_string(),
            "expected at most 1 argument, got 2",
        ),
        (
            "ls / /docs".to_string(),
            "expected at most 1 argument, got 2",
        ),
        ("df -1".to_string(), "takes no arguments, got 1"),
        ("sync x".to_string(), "takes no arguments, got 1"),
    ] {
        command_error(console, &line, needle)?;
    }
    let root = console.command("ls /")?;
    let made: Vec<&str> = ["e2e-a", "e2e-b", "e2e-x", "e2e-y"]
        .into_iter()
        .chain(twelve.iter().map(String::as_str))
        .filter(|name| root.iter().any(|l| l.ends_with(&format!(" {name}"))))
        .collect();
    ensure!(
        made.is_empty(),
        "refused commands made {made:?} in /: {root:?}"
    );
    ensure!(
        root.iter().any(|l| l.ends_with(" hello.txt")),
        "/hello.txt is gone: {root:?}"
    );
    console.check_output("cat /hello.txt", &["hello from the host"])?;
    console.check_output("cat /docs/readme.txt", &["nested file"])?;
    // Unbounded text still works.
    console.check_output("write /e2e-w.txt a b  c", &["wrote 6 bytes to /e2e-w.txt"])?;
    console.check_output("cat /e2e-w.txt", &["a b c"])?;
    console.check_output("rm /e2e-w.txt", &["removed file /e2e-w.txt"])?;
    Ok(())
}

fn df_reports_space_and_cache(console: &mut Console) -> Result<()> {
    let out = console.command("df")?;
    ensure!(out.len() == 2, "df printed {out:?}");
    ensure!(
        out[0].starts_with("ext4 /: 65536 KiB total"),
        "df does not report the 64 MiB disk: {out:?}"
    );
    ensure!(out[1].starts_with("block cache:"), "no cache line: {out:?}");
    console.check_output("sync", &["synced"])?;
    Ok(())
}

/// `write` takes every name `mkdir` takes: its temporary file's name does not grow with the
/// target's (the shell's 256-byte line limit allows names up to 248 bytes here).
fn write_takes_names_up_to_255_bytes(console: &mut Console) -> Result<()> {
    // The line editor wraps the echo of a long line over several lines: the answer is the
    // last line of the output.
    let mut answer = |line: &str, want: &str| -> Result<()> {
        let out = console.command(line)?;
        ensure!(
            out.last().is_some_and(|l| l == want),
            "`{line}` printed {out:?}, expected it to end with {want:?}"
        );
        Ok(())
    };
    for len in [241usize, 248] {
        let name = "n".repeat(len);
        // Relative, so the longest name still fits on one line.
        answer(
            &format!("write {name} x"),
            &format!("wrote 2 bytes to /{name}"),
        )?;
        answer(&format!("cat /{name}"), "x")?;
        answer(
            &format!("write {name} y"),
            &format!("wrote 2 bytes to /{name}"),
        )?;
        answer(&format!("cat {name}"), "y")?;
        answer(&format!("rm {name}"), &format!("removed file /{name}"))?;
    }
    let root = console.command("ls /")?;
    ensure!(
        !root.iter().any(|l| l.contains("nnnn") || l.contains("tmp")),
        "names left behind: {root:?}"
    );
    Ok(())
}

/// POSIX path edges: a trailing `/` needs a directory; `.` and `..` as the last component
/// of `rm` and `mv` are errors and change nothing.
fn dot_and_trailing_slash_paths(console: &mut Console) -> Result<()> {
    for line in [
        "mkdir /dots",
        "mkdir /dots/d",
        "mkdir /dots/s",
        "write /dots/d/f kept",
    ] {
        let out = console.command(line)?;
        ensure!(
            !out.iter().any(|l| l.starts_with("error:")),
            "`{line}` failed: {out:?}"
        );
    }
    command_error(console, "mv /dots/d/. /dots/z", "`.` and `..`")?;
    command_error(console, "mv /models/. /dots/s/.", "`.` and `..`")?;
    command_error(console, "mv /dots/s /dots/s/.", "`.` and `..`")?;
    command_error(console, "rm /dots/d/.", "`.` and `..`")?;
    command_error(console, "rm /dots/s/..", "`.` and `..`")?;
    command_error(console, "cat /dots/d/f/", "not a directory")?;
    command_error(console, "ls /models/config.json/", "not a directory")?;
    command_error(console, "rm /dots/d/f/", "not a directory")?;
    command_error(console, "write /dots/d/f/ x", "not a directory")?;
    // Nothing moved or went away.
    let dots = console.command("ls /dots")?;
    ensure!(
        dots.len() == 2 && dots[0].ends_with(" d") && dots[1].ends_with(" s"),
        "/dots changed: {dots:?}"
    );
    console.check_output("cat /dots/d/./f", &["kept"])?;
    let models = console.command("ls /models/")?;
    ensure!(
        models.iter().any(|l| l.ends_with(" config.json")),
        "/models changed: {models:?}"
    );
    for line in ["rm /dots/d/f", "rm /dots/d/", "rm /dots/s", "rm /dots"] {
        let out = console.command(line)?;
        ensure!(
            out.first().is_some_and(|l| l.starts_with("removed ")),
            "`{line}`: {out:?}"
        );
    }
    Ok(())
}

/// Boots the normal image on `image`, returning the console at the prompt.
fn boot_on(elf: &Path, image: &Path) -> Result<Console> {
    let drive = disk::drive_args(image);
    let args: Vec<&str> = drive.iter().map(String::as_str).collect();
    let guest = Guest::boot_with(elf, &args)?;
    Console::attach(guest).map_err(|failure| {
        failure
            .error
            .context(format!("boot failed; serial log:\n{}", failure.log))
    })
}

fn written_files_pass_e2fsck(elf: &Path) -> Result<()> {
    let template = disk::test_template()?;
    let scratch = ScratchImage::copy_of(&template)?;
    let mut console = boot_on(elf, &scratch.path)?;
    let script = [
        "mkdir /notes",
        "write /notes/a.txt alpha",
        "write /notes/b.txt \"bravo two\"",
        "write /notes/a.txt \"alpha replaced\"",
        "mkdir /notes/deeper",
        "mv /notes/b.txt /notes/deeper/b.txt",
        "rm /hello.txt",
        "write /top.txt top",
    ];
    for line in script {
        let out = console.command(line)?;
        ensure!(
            !out.iter().any(|l| l.starts_with("error:")),
            "`{line}` failed: {out:?}"
        );
    }
    let exit = console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
    drop(console);

    let fsck = disk::fsck_check(&scratch.path)?;
    ensure!(fsck.clean, "e2fsck -fn is not clean:\n{}", fsck.output);
    let expect = [
        ("/notes/a.txt", Some("alpha replaced\n")),
        ("/notes/deeper/b.txt", Some("bravo two\n")),
        ("/notes/b.txt", None),
        ("/top.txt", Some("top\n")),
        ("/hello.txt", None),
        ("/docs/readme.txt", Some("nested file\n")),
    ];
    for (path, want) in expect {
        let got = disk::debugfs_cat(&scratch.path, path)?;
        ensure!(
            got.as_deref() == want.map(str::as_bytes),
            "debugfs {path}: got {:?}, expected {want:?}",
            got.map(|g| String::from_utf8_lossy(&g).into_owned())
        );
    }
    // The model files went in through mkfs and must still be intact, byte for byte.
    let repo_data =
        std::fs::read(crate::image::workspace_root().join("models/finetune-data.json"))?;
    let disk_data = disk::debugfs_cat(&scratch.path, "/models/finetune-data.json")?;
    ensure!(
        disk_data.as_deref() == Some(repo_data.as_slice()),
        "/models/finetune-data.json differs from the repository copy"
    );
    Ok(())
}

/// Content of version `v` of the file being rewritten in the crash test.
fn version_text(v: usize) -> String {
    format!("version-{v:03}-{}", "x".repeat(40 + v % 7))
}

fn kill_mid_writes_is_crash_safe(elf: &Path) -> Result<()> {
    let template = disk::test_template()?;
    // Kill points: after `acked` acknowledged rewrites, `delay_ms` after typing the next one,
    // so QEMU dies at different moments of the in-flight write (data, rename, journal commit).
    for (acked, delay_ms) in [(2usize, 0u64), (3, 4), (4, 8), (5, 12), (6, 18), (7, 30)] {
        let scratch = ScratchImage::copy_of(&template)?;
        let mut console = boot_on(elf, &scratch.path)?;
        console.check_output(
            "write /keep.txt synced-before",
            &["wrote 14 bytes to /keep.txt"],
        )?;
        for v in 1..=acked {
            let text = version_text(v);
            console.check_output(
                &format!("write /hot.txt {text}"),
                &[&format!("wrote {} bytes to /hot.txt", text.len() + 1)],
            )?;
            console.check_output(
                &format!("write /log-{v}.txt entry-{v}"),
                &[&format!(
                    "wrote {} bytes to /log-{v}.txt",
                    format!("entry-{v}").len() + 1
                )],
            )?;
        }
        let next = acked + 1;
        console
            .guest()
            .send(format!("write /hot.txt {}\r", version_text(next)).as_bytes())?;
        std::thread::sleep(Duration::from_millis(delay_ms));
        // Dropping the console kills QEMU (SIGKILL) wherever the kernel is.
        drop(console);
        let total = next;
        let kill_after = acked;

        let check = |image: &Path, how: &str| -> Result<()> {
            let keep = disk::debugfs_cat(image, "/keep.txt")?;
            ensure!(
                keep.as_deref() == Some(b"synced-before\n".as_slice()),
                "{how}: /keep.txt lost or damaged: {keep:?}"
            );
            for v in 1..=kill_after {
                let log = disk::debugfs_cat(image, &format!("/log-{v}.txt"))?;
                ensure!(
                    log == Some(format!("entry-{v}\n").into_bytes()),
                    "{how}: acknowledged /log-{v}.txt is {:?}",
                    log.map(|l| String::from_utf8_lossy(&l).into_owned())
                );
            }
            let hot = disk::debugfs_cat(image, "/hot.txt")?
                .with_context(|| format!("{how}: /hot.txt vanished"))?;
            let text = String::from_utf8_lossy(&hot).into_owned();
            let version = (kill_after..=total).find(|&v| text == format!("{}\n", version_text(v)));
            println!(
                "  kill after {kill_after} writes: /hot.txt {how} is version {version:?} (in flight: {total})"
            );
            ensure!(
                version.is_some(),
                "{how}: /hot.txt is neither an acknowledged nor a later whole version: {text:?}"
            );
            Ok(())
        };

        // Recovery 1: e2fsck -fy on the host (replays the journal), then it must be clean.
        let host_copy = ScratchImage::copy_of(&scratch.path)?;
        let repair = disk::fsck_repair(&host_copy.path)?;
        ensure!(
            repair.clean,
            "kill after {kill_after}: e2fsck -fy could not repair the disk:\n{}",
            repair.output
        );
        let recheck = disk::fsck_check(&host_copy.path)?;
        ensure!(
            recheck.clean,
            "kill after {kill_after}: not clean after e2fsck -fy:\n{}",
            recheck.output
        );
        check(&host_copy.path, "after e2fsck -fy")?;
        println!(
            "  kill after {kill_after} writes: journal {}",
            if repair.output.contains("recovering journal") {
                "was dirty and e2fsck replayed it"
            } else {
                "was clean"
            }
        );

        // Recovery 2: the kernel replays its own journal at mount; shut down, then judge.
        let mut console = boot_on(elf, &scratch.path)?;
        let keep = console.command("cat /keep.txt")?;
        ensure!(
            keep == ["synced-before"],
            "kernel after crash reads /keep.txt as {keep:?}"
        );
        let exit =
            console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
        ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
        drop(console);
        let fsck = disk::fsck_check(&scratch.path)?;
        if !fsck.clean {
            bail!(
                "kill after {kill_after}: after the kernel's journal replay e2fsck -fn is not clean:\n{}",
                fsck.output
            );
        }
        check(&scratch.path, "after the kernel's replay")?;
    }
    Ok(())
}

/// A count from `dumpe2fs -h` (`field` is e.g. "Free blocks:").
fn dumpe2fs_count(image: &Path, field: &str) -> Result<u64> {
    let out = std::process::Command::new("dumpe2fs")
        .arg("-h")
        .arg(image)
        .output()
        .context("running dumpe2fs")?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("dumpe2fs printed no {field:?}"))
}

/// Free blocks of an ext4 image.
fn free_blocks(image: &Path) -> Result<u64> {
    dumpe2fs_count(image, "Free blocks:")
}

/// Free inodes of an ext4 image.
fn free_inodes(image: &Path) -> Result<u64> {
    dumpe2fs_count(image, "Free inodes:")
}

fn full_disk_is_a_clear_error(elf: &Path) -> Result<()> {
    // A disk with only a few free blocks: a filler file takes the rest.
    let dir = disk::disk_dir();
    let probe = dir.join(format!("full-probe-{}.img", std::process::id()));
    disk::make_image(&probe, |_| Ok(()))?;
    let free = free_blocks(&probe)?;
    std::fs::remove_file(&probe).ok();
    let leave = 6;
    let filler_bytes = (free - leave - 2) * 4096;
    let image = ScratchImage {
        path: dir.join(format!("full-{}.img", std::process::id())),
    };
    disk::make_image(&image.path, |staging| {
        std::fs::write(staging.join("keep.txt"), "stored before the disk filled\n")?;
        let f = std::fs::File::create(staging.join("filler"))?;
        // mkfs.ext4 -d turns zero blocks into holes, so the filler must not be zeros.
        use std::io::Write;
        let mut w = std::io::BufWriter::new(f);
        let chunk = vec![0x5au8; 1 << 20];
        let mut left = filler_bytes;
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            w.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        w.flush()?;
        Ok(())
    })?;
    let inodes_before = free_inodes(&image.path)?;
    let mut console = boot_on(elf, &image.path)?;
    let mut written = Vec::new();
    let mut refused = None;
    for i in 0..60 {
        let line = format!("write /fill-{i}.txt {}", "z".repeat(40));
        let out = console.command(&line)?;
        match out.first() {
            Some(l) if l.starts_with("wrote ") => written.push(i),
            Some(l) if l.starts_with("error:") => {
                ensure!(
                    l.contains("no space"),
                    "write on a full disk gave an unclear error: {l:?}"
                );
                refused = Some(i);
                break;
            }
            other => bail!("unexpected output {other:?} from a write"),
        }
    }
    let refused = refused.context("the disk never filled up")?;
    // Further writes keep failing cleanly, and what was stored is intact.
    let again = console.command("write /more.txt x")?;
    ensure!(
        again.first().is_some_and(|l| l.contains("no space")),
        "second write on a full disk: {again:?}"
    );
    console.check_output("cat /keep.txt", &["stored before the disk filled"])?;
    // The refused writes left nothing behind: no temporary file, no inode.
    let expect_root = |name: &str| {
        ["keep.txt", "filler", "lost+found", "models"].contains(&name)
            || written.iter().any(|i| name == format!("fill-{i}.txt"))
    };
    let root = console.command("ls /")?;
    ensure!(
        root.iter()
            .all(|l| l.rsplit(' ').next().is_some_and(expect_root)),
        "a refused write left something in /: {root:?}"
    );
    // Freeing space makes writing possible again.
    console.command("rm /filler")?;
    console.check_output("write /after.txt ok", &["wrote 3 bytes to /after.txt"])?;
    let exit = console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
    drop(console);
    let fsck = disk::fsck_check(&image.path)?;
    ensure!(
        fsck.clean,
        "e2fsck -fn after filling the disk:\n{}",
        fsck.output
    );
    for i in &written {
        let got = disk::debugfs_cat(&image.path, &format!("/fill-{i}.txt"))?;
        ensure!(
            got.is_some_and(|g| g.len() == 41),
            "/fill-{i}.txt (written before the disk filled) is damaged"
        );
    }
    ensure!(
        disk::debugfs_cat(&image.path, &format!("/fill-{refused}.txt"))?.is_none(),
        "the refused write left a file behind"
    );
    // Every inode is accounted for: one per acknowledged file (after.txt replaced filler).
    let inodes_after = free_inodes(&image.path)?;
    ensure!(
        inodes_after + written.len() as u64 == inodes_before,
        "free inodes {inodes_before} before, {inodes_after} after {} files: refused writes leaked inodes",
        written.len()
    );
    Ok(())
}

/// The tester's damaged image: the root directory's size zeroed with debugfs. The kernel must
/// say what is wrong, refuse every change with a clear error (and say so in `df`), and leave
/// the image exactly as it found it.
fn detected_corruption_stops_all_writes(elf: &Path) -> Result<()> {
    let scratch = ScratchImage::copy_of(&disk::test_template()?)?;
    let out = std::process::Command::new("debugfs")
        .args(["-w", "-R", "sif <2> size 0"])
        .arg(&scratch.path)
        .output()
        .context("running debugfs")?;
    ensure!(out.status.success(), "debugfs sif failed");
    let before = std::fs::read(&scratch.path)?;
    let fsck_before = disk::fsck_check(&scratch.path)?;
    ensure!(!fsck_before.clean, "the damage did not take");
    let mut console = boot_on(elf, &scratch.path)?;
    let cause = "directory inode 2: size 0 but it has blocks";
    command_error(&mut console, "write /t hello", cause)?;
    command_error(&mut console, "mkdir /dd", "read-only")?;
    command_error(&mut console, "mkdir /dd", cause)?;
    command_error(&mut console, "ls /", cause)?;
    command_error(&mut console, "cat /hello.txt", cause)?;
    command_error(&mut console, "rm /hello.txt", "read-only")?;
    command_error(&mut console, "mv /docs /d2", "read-only")?;
    command_error(&mut console, "sync", "read-only")?;
    let df = console.command("df")?;
    ensure!(
        df.iter()
            .any(|l| l.contains("errors") && l.contains("read-only") && l.contains(cause)),
        "df does not report the errors: {df:?}"
    );
    let exit = console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
    ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
    drop(console);
    let fsck_after = disk::fsck_check(&scratch.path)?;
    ensure!(
        fsck_after.output == fsck_before.output,
        "e2fsck -fn changed:\nbefore:\n{}\nafter:\n{}",
        fsck_before.output,
        fsck_after.output
    );
    ensure!(
        std::fs::read(&scratch.path)? == before,
        "the kernel wrote to an image with detected errors"
    );
    Ok(())
}

fn bad_disk_images_are_refused(elf: &Path) -> Result<()> {
    let dir = disk::disk_dir();
    // 1: not a file system at all (deterministic noise); 2: the template with a corrupted
    // superblock checksum.
    let noise = ScratchImage {
        path: dir.join(format!("noise-{}.img", std::process::id())),
    };
    let bytes: Vec<u8> = (0u32..4 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&noise.path, &bytes)?;
    let corrupt = ScratchImage::copy_of(&disk::test_template()?)?;
    let mut img = std::fs::read(&corrupt.path)?;
    img[1024 + 0x78] ^= 0xff; // inside the volume name: only the checksum notices
    std::fs::write(&corrupt.path, &img)?;
    for (image, why) in [(&noise, "superblock"), (&corrupt, "checksum")] {
        let before = std::fs::read(&image.path)?;
        let mut console = boot_on(elf, &image.path)?;
        let log = console.guest().serial_log();
        let line = log
            .lines()
            .find(|l| l.starts_with("storage:"))
            .context("no storage line")?
            .to_string();
        ensure!(
            line.contains("no file system") && line.to_lowercase().contains(why),
            "boot line for a bad image: {line:?} (expected it to name the {why})"
        );
        let ls = console.command("ls /")?;
        ensure!(
            ls.first()
                .is_some_and(|l| l.starts_with("error:") && l.contains("no file system mounted")),
            "`ls` without a file system: {ls:?}"
        );
        let version = console.command("version")?;
        ensure!(!version.is_empty(), "the kernel stopped answering");
        let exit =
            console.command_then_exit("shutdown", "shutting down", Duration::from_secs(30))?;
        ensure!(exit == QemuExit::Success, "QEMU {}", exit.describe());
        drop(console);
        ensure!(
            std::fs::read(&image.path)? == before,
            "the kernel wrote to a disk it could not mount"
        );
    }
    Ok(())
}

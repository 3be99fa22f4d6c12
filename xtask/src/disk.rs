//! The kernel's data disk: an ext4 image made by `mkfs.ext4 -d` from a staging directory that
//! holds `/models` (the base model, tokenizer and fine-tune data from the repository's
//! `models/`), attached to QEMU as a virtio-blk PCI device, and judged afterwards on the host
//! with `e2fsck` and `debugfs`.
//!
//! `cargo xtask run` keeps one image at `target/kernel/data.img` across runs (made when
//! missing, so files written in the kernel survive a reboot); the tests make a fresh copy of a
//! template for every boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result, bail, ensure};

use crate::image;
use crate::setup;

/// Size of a data image.
pub const DATA_IMAGE_MIB: u64 = 64;

/// Files copied from the repository's `models/` into the image's `/models` when present.
const MODEL_FILES: &[&str] = &[
    "config.json",
    "model.safetensors",
    "tokenizer.json",
    "finetune-data.json",
    "finetune-heldout.json",
];

/// Directory for images and staging trees.
pub fn disk_dir() -> PathBuf {
    image::workspace_root().join("target").join("kernel")
}

/// The persistent image `cargo xtask run` attaches.
pub fn run_image() -> PathBuf {
    disk_dir().join("data.img")
}

/// QEMU arguments attaching `image` as the first virtio-blk disk.
pub fn drive_args(image: &Path) -> Vec<String> {
    vec![
        "-drive".into(),
        format!("file={},if=none,id=data,format=raw", image.display()),
        "-device".into(),
        "virtio-blk-pci,drive=data".into(),
    ]
}

/// Makes a fresh ext4 image at `out` holding `/models` (and whatever `extra` adds to the
/// staging directory first).
pub fn make_image(out: &Path, extra: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let tools = setup::ensure_e2fsprogs()?;
    let staging = out.with_extension("staging");
    if staging.exists() {
        fs::remove_dir_all(&staging).with_context(|| format!("removing {}", staging.display()))?;
    }
    let models = staging.join("models");
    fs::create_dir_all(&models).with_context(|| format!("creating {}", models.display()))?;
    let source = image::workspace_root().join("models");
    for name in MODEL_FILES {
        let from = source.join(name);
        if from.is_file() {
            fs::copy(&from, models.join(name))
                .with_context(|| format!("copying {}", from.display()))?;
        }
    }
    extra(&staging)?;
    if out.exists() {
        fs::remove_file(out).with_context(|| format!("removing {}", out.display()))?;
    }
    let status = Command::new(&tools.mkfs_ext4)
        .args(["-q", "-F", "-b", "4096", "-L", "nous-data", "-d"])
        .arg(&staging)
        .arg(out)
        .arg(format!("{DATA_IMAGE_MIB}M"))
        .stdout(std::process::Stdio::null())
        .status()
        .context("running mkfs.ext4")?;
    fs::remove_dir_all(&staging).ok();
    ensure!(status.success(), "mkfs.ext4 failed with {status}");
    Ok(())
}

/// The image for `cargo xtask run`, made if it does not exist yet.
pub fn ensure_run_image() -> Result<PathBuf> {
    let path = run_image();
    if !path.exists() {
        fs::create_dir_all(disk_dir())?;
        make_image(&path, |_| Ok(()))?;
        println!(
            "xtask: made the data disk {} ({DATA_IMAGE_MIB} MiB ext4 with /models); delete it to start afresh",
            path.display()
        );
    }
    Ok(path)
}

static COPIES: AtomicU64 = AtomicU64::new(0);

/// A fresh copy of `template` for one test boot, removed when dropped.
pub struct ScratchImage {
    pub path: PathBuf,
}

impl ScratchImage {
    pub fn copy_of(template: &Path) -> Result<ScratchImage> {
        let n = COPIES.fetch_add(1, Ordering::Relaxed);
        let path = disk_dir().join(format!("test-{}-{n}.img", std::process::id()));
        fs::copy(template, &path).with_context(|| format!("copying {}", template.display()))?;
        Ok(ScratchImage { path })
    }
}

impl Drop for ScratchImage {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The template every test boot copies, made once per process.
pub fn test_template() -> Result<PathBuf> {
    let path = disk_dir().join(format!("test-template-{}.img", std::process::id()));
    if !path.exists() {
        fs::create_dir_all(disk_dir())?;
        make_image(&path, |staging| {
            fs::write(staging.join("hello.txt"), "hello from the host\n")?;
            fs::create_dir_all(staging.join("docs"))?;
            fs::write(staging.join("docs").join("readme.txt"), "nested file\n")?;
            Ok(())
        })?;
    }
    Ok(path)
}

/// Removes this process's template (called when the suite ends).
pub fn remove_test_template() {
    let _ = fs::remove_file(disk_dir().join(format!("test-template-{}.img", std::process::id())));
}

/// What `e2fsck` said about an image.
pub struct FsckReport {
    pub clean: bool,
    pub output: String,
}

/// Runs `e2fsck -fn` (check only, force) on `image`.
pub fn fsck_check(image: &Path) -> Result<FsckReport> {
    fsck(image, "-fn")
}

/// Runs `e2fsck -fy` (repair, answering yes) on `image`; `clean` means nothing needed fixing
/// beyond replaying the journal (exit status 0 or 1).
pub fn fsck_repair(image: &Path) -> Result<FsckReport> {
    fsck(image, "-fy")
}

fn fsck(image: &Path, mode: &str) -> Result<FsckReport> {
    let tools = setup::ensure_e2fsprogs()?;
    let out = Command::new(&tools.e2fsck)
        .arg(mode)
        .arg(image)
        .output()
        .context("running e2fsck")?;
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code().unwrap_or(-1);
    let clean = if mode == "-fn" { code == 0 } else { code <= 1 };
    Ok(FsckReport { clean, output })
}

/// Reads `path` from the image with `debugfs -R "cat …"`; `None` when it does not exist.
pub fn debugfs_cat(image: &Path, path: &str) -> Result<Option<Vec<u8>>> {
    let tools = setup::ensure_e2fsprogs()?;
    ensure!(!path.contains('"'), "debugfs path must not contain quotes");
    // `stat` first: `cat` of a missing file prints nothing on stdout, like an empty file.
    let stat = Command::new(&tools.debugfs)
        .args(["-R", &format!("stat \"{path}\"")])
        .arg(image)
        .output()
        .context("running debugfs")?;
    let err = String::from_utf8_lossy(&stat.stderr);
    if err.contains("File not found") {
        return Ok(None);
    }
    if !stat.status.success() {
        bail!("debugfs stat {path}: {err}");
    }
    let out = Command::new(&tools.debugfs)
        .args(["-R", &format!("cat \"{path}\"")])
        .arg(image)
        .output()
        .context("running debugfs")?;
    ensure!(out.status.success(), "debugfs cat {path} failed");
    Ok(Some(out.stdout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drive_args_attach_a_virtio_blk_pci_disk() {
        let args = drive_args(Path::new("/x/d.img")).join(" ");
        assert!(args.contains("file=/x/d.img,if=none,id=data,format=raw"));
        assert!(args.contains("virtio-blk-pci,drive=data"));
    }
}

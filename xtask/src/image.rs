//! Kernel image builds: the three [`Variant`]s of the `nous` binary and where their ELFs live.
//!
//! All variants share one cargo target directory (`target/kernel`, or `$CARGO_TARGET_DIR/kernel`
//! when that is set) so their common dependencies are compiled once; cargo keeps one artefact
//! per feature set, so switching variants re-links at most. Because every variant is uplifted to
//! the same path (`…/release/nous`), each build copies its ELF to `images/nous-<variant>` in that
//! directory, and QEMU boots the copy.
//!
//! Neighbours: `main` (`build`, `run`) and `suite` (`test`) call [`build`]; [`crate::qemu`] boots
//! the returned path.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The host target every Nous crate is compiled for (there is no custom target).
const TARGET_TRIPLE: &str = "x86_64-unknown-linux-gnu";
/// Package and binary name of the kernel.
const KERNEL_PACKAGE: &str = "nous-kernel";
const KERNEL_BIN: &str = "nous";

/// A kernel image variant, selected by cargo features of `nous-kernel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Variant {
    /// The kernel with its shell on COM1.
    Normal,
    /// Runs the in-kernel tests at boot and exits through isa-debug-exit.
    Ktest,
    /// Deliberately page-faults after boot to exercise the exception report.
    FaultTest,
}

impl Variant {
    /// Name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Normal => "normal",
            Variant::Ktest => "ktest",
            Variant::FaultTest => "fault-test",
        }
    }

    /// The cargo feature that selects this variant (each implies `image`, the bootable
    /// kernel's panic handler; see kernel/Cargo.toml).
    pub fn feature(self) -> &'static str {
        match self {
            Variant::Normal => "image",
            Variant::Ktest => "ktest",
            Variant::FaultTest => "fault-test",
        }
    }
}

/// The workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| manifest_dir.to_path_buf())
}

/// The cargo binary that started us (so the pinned toolchain is used), or `cargo`.
pub fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(workspace_root());
    command
}

/// The target directory shared by all kernel variants.
fn kernel_target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => {
            let dir = PathBuf::from(dir);
            let dir = if dir.is_absolute() {
                dir
            } else {
                workspace_root().join(dir)
            };
            dir.join("kernel")
        }
        _ => workspace_root().join("target").join("kernel"),
    }
}

/// The cargo arguments that build `variant` into `target_dir`.
fn build_args(variant: Variant, target_dir: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "build",
        "--package",
        KERNEL_PACKAGE,
        "--release",
        "--bin",
        KERNEL_BIN,
        "--target",
        TARGET_TRIPLE,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push("--features".into());
    args.push(variant.feature().into());
    args.push("--target-dir".into());
    args.push(target_dir.display().to_string());
    args
}

/// Builds `variant` and returns the path of a copy of its ELF that later builds do not touch.
pub fn build(variant: Variant) -> Result<PathBuf> {
    let target_dir = kernel_target_dir();
    let args = build_args(variant, &target_dir);
    eprintln!("xtask: building the {} kernel image", variant.name());
    let status = cargo()
        .args(&args)
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!(
            "building the {} kernel image failed ({status}): cargo {}",
            variant.name(),
            args.join(" ")
        );
    }
    let built = target_dir
        .join(TARGET_TRIPLE)
        .join("release")
        .join(KERNEL_BIN);
    let images = target_dir.join("images");
    std::fs::create_dir_all(&images)
        .with_context(|| format!("cannot create {}", images.display()))?;
    let copy = images.join(format!("{KERNEL_BIN}-{}", variant.name()));
    std::fs::copy(&built, &copy).with_context(|| {
        format!(
            "cannot copy the kernel ELF {} to {}",
            built.display(),
            copy.display()
        )
    })?;
    Ok(copy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_select_their_feature() {
        let dir = Path::new("/t");
        // The normal image has no test feature: only `image`, which every variant implies.
        let normal = build_args(Variant::Normal, dir);
        let at = normal.iter().position(|a| a == "--features").unwrap();
        assert_eq!(normal[at + 1], "image");
        assert_eq!(normal.iter().filter(|a| *a == "--features").count(), 1);
        let ktest = build_args(Variant::Ktest, dir);
        let at = ktest.iter().position(|a| a == "--features").unwrap();
        assert_eq!(ktest[at + 1], "ktest");
        let fault = build_args(Variant::FaultTest, dir);
        let at = fault.iter().position(|a| a == "--features").unwrap();
        assert_eq!(fault[at + 1], "fault-test");
    }

    #[test]
    fn build_is_release_of_the_kernel_binary() {
        let args = build_args(Variant::Normal, Path::new("/t/kernel"));
        assert_eq!(args[0], "build");
        for pair in [
            ["--package", "nous-kernel"],
            ["--bin", "nous"],
            ["--target-dir", "/t/kernel"],
        ] {
            let at = args.iter().position(|a| a == pair[0]).unwrap();
            assert_eq!(args[at + 1], pair[1]);
        }
        assert!(args.iter().any(|a| a == "--release"));
    }

    #[test]
    fn workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }
}

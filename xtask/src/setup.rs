//! Host tool discovery and installation, so that a fresh Debian machine needs nothing but Rust.
//!
//! [`ensure_qemu`] and [`ensure_e2fsprogs`] look each program up on `PATH` (plus the sbin
//! directories, where Debian puts the e2fsprogs tools but a non-root `PATH` often lacks them).
//! When something is missing, [`plan`] decides what to do: as root, run `apt-get update` and
//! `apt-get install -y <packages>` non-interactively; otherwise fail with the exact command to
//! run. `plan` is pure and unit-tested; the rest only executes its decision.
//!
//! Neighbours: `main` (the `setup` and `run` commands) and `suite` call in here before any QEMU
//! use; a later issue (ext4 images) uses [`ensure_e2fsprogs`].

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// A program we need and the Debian package that provides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// File name looked up on the search path.
    pub program: &'static str,
    /// Debian package that installs it.
    pub package: &'static str,
}

/// QEMU for x86_64 guests.
pub const QEMU: Requirement = Requirement {
    program: "qemu-system-x86_64",
    package: "qemu-system-x86",
};

/// The ext4 tools: create, check and inspect file system images.
pub const E2FSPROGS: [Requirement; 3] = [
    Requirement {
        program: "mkfs.ext4",
        package: "e2fsprogs",
    },
    Requirement {
        program: "e2fsck",
        package: "e2fsprogs",
    },
    Requirement {
        program: "debugfs",
        package: "e2fsprogs",
    },
];

/// Prometheus' checker of the text exposition format (the dashboard's `/metrics`).
pub const PROMTOOL: Requirement = Requirement {
    program: "promtool",
    package: "prometheus",
};

/// A headless browser for the dashboard test.
pub const CHROMIUM: Requirement = Requirement {
    program: "chromium",
    package: "chromium",
};

/// Python, for the Hugging Face cross-check.
pub const PYTHON3: Requirement = Requirement {
    program: "python3",
    package: "python3",
};

/// Absolute paths of the e2fsprogs programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct E2fsTools {
    pub mkfs_ext4: PathBuf,
    pub e2fsck: PathBuf,
    pub debugfs: PathBuf,
}

/// What to do about a set of missing packages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Everything is there.
    Nothing,
    /// We are root: run these commands (program, arguments) in order.
    Install(Vec<(String, Vec<String>)>),
    /// We are not root: tell the user to run this shell command and stop.
    Instruct(String),
}

/// Decides how to obtain `missing` packages (duplicates allowed, order kept) given whether we
/// run as root.
pub fn plan(missing: &[&str], is_root: bool) -> Plan {
    let mut packages: Vec<&str> = Vec::new();
    for package in missing {
        if !packages.contains(package) {
            packages.push(package);
        }
    }
    if packages.is_empty() {
        return Plan::Nothing;
    }
    if is_root {
        let mut install = vec!["install".to_string(), "-y".to_string()];
        install.extend(packages.iter().map(|p| p.to_string()));
        Plan::Install(vec![
            ("apt-get".to_string(), vec!["update".to_string()]),
            ("apt-get".to_string(), install),
        ])
    } else {
        Plan::Instruct(format!(
            "sudo apt-get update && sudo apt-get install -y {}",
            packages.join(" ")
        ))
    }
}

/// Makes sure `qemu-system-x86_64` is available and returns its path.
pub fn ensure_qemu() -> Result<PathBuf> {
    let mut found = ensure(&[QEMU])?;
    found.pop().context("tool lookup returned no path for QEMU")
}

/// Makes sure `promtool` is available and returns its path.
pub fn ensure_promtool() -> Result<PathBuf> {
    ensure(&[PROMTOOL])?
        .pop()
        .context("tool lookup returned no path for promtool")
}

/// Makes sure `chromium` is available and returns its path.
pub fn ensure_chromium() -> Result<PathBuf> {
    ensure(&[CHROMIUM])?
        .pop()
        .context("tool lookup returned no path for chromium")
}

/// Makes sure mkfs.ext4, e2fsck and debugfs are available and returns their paths.
pub fn ensure_e2fsprogs() -> Result<E2fsTools> {
    let found = ensure(&E2FSPROGS)?;
    match <[PathBuf; 3]>::try_from(found) {
        Ok([mkfs_ext4, e2fsck, debugfs]) => Ok(E2fsTools {
            mkfs_ext4,
            e2fsck,
            debugfs,
        }),
        Err(_) => bail!("tool lookup returned the wrong number of paths for e2fsprogs"),
    }
}

/// The Python packages of the Hugging Face cross-check (`tools/hf-check/`), pinned to the
/// versions it was checked with. PyPI's Linux torch wheel pulls the CUDA libraries (about 5 GiB
/// installed, about 75 s here): CPU-only wheels live outside PyPI, which this machine cannot
/// reach, and the torch wheel will not import without them.
pub const HF_PACKAGES: [&str; 4] = [
    "torch==2.15.0",
    "transformers==5.25.0",
    "peft==0.21.2",
    "safetensors==0.8.0",
];

/// Makes sure a Python with torch, transformers and PEFT exists (a virtual environment under
/// the target directory, created on first use) and returns its interpreter.
pub fn ensure_hf_python() -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::image::workspace_root().join("target"));
    let venv = target.join("hf-venv");
    let python = venv.join("bin/python");
    let imports = |python: &Path| {
        Command::new(python)
            .args(["-c", "import torch, transformers, peft, safetensors"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if imports(&python) {
        return Ok(python);
    }
    if !python.exists() {
        let system = ensure(&[PYTHON3])?
            .pop()
            .context("tool lookup returned no path for python3")?;
        let created = Command::new(&system)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .with_context(|| format!("could not start {}", system.display()))?;
        if !created.success() {
            // Debian's python3 leaves `venv` to a separate package.
            install_packages(&["python3-venv"], "python3's venv module")?;
            let again = Command::new(&system)
                .args(["-m", "venv"])
                .arg(&venv)
                .status()?;
            if !again.success() {
                bail!("`python3 -m venv {}` failed with {again}", venv.display());
            }
        }
    }
    eprintln!(
        "xtask: installing {} into {} (once; about 5 GiB)",
        HF_PACKAGES.join(" "),
        venv.display()
    );
    let status = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--no-cache-dir"])
        .args(HF_PACKAGES)
        .status()
        .context("could not start the virtual environment's pip")?;
    if !status.success() || !imports(&python) {
        bail!(
            "could not install {} into {} (pip: {status})",
            HF_PACKAGES.join(" "),
            venv.display()
        );
    }
    Ok(python)
}

/// Returns the path of every requirement, in order, installing missing ones first if allowed.
pub fn ensure(requirements: &[Requirement]) -> Result<Vec<PathBuf>> {
    let search = search_path();
    let missing: Vec<&str> = requirements
        .iter()
        .filter(|r| find_program(r.program, &search).is_none())
        .map(|r| r.package)
        .collect();
    if !missing.is_empty() {
        let programs: Vec<&str> = requirements
            .iter()
            .filter(|r| missing.contains(&r.package))
            .map(|r| r.program)
            .collect();
        install_packages(&missing, &programs.join(", "))?;
    }
    requirements
        .iter()
        .map(|r| {
            find_program(r.program, &search).with_context(|| {
                format!(
                    "`{}` still not found after installing package `{}`",
                    r.program, r.package
                )
            })
        })
        .collect()
}

/// Installs Debian `packages` as [`plan`] decides (`what` names them in the error a non-root
/// user gets).
fn install_packages(packages: &[&str], what: &str) -> Result<()> {
    match plan(packages, is_root()?) {
        Plan::Nothing => Ok(()),
        Plan::Install(commands) => {
            eprintln!("xtask: installing missing packages: {}", packages.join(" "));
            for (program, args) in commands {
                let status = Command::new(&program)
                    .args(&args)
                    .env("DEBIAN_FRONTEND", "noninteractive")
                    .status()
                    .with_context(|| format!("could not start `{program}` (is this Debian?)"))?;
                if !status.success() {
                    bail!("`{program} {}` failed with {status}", args.join(" "));
                }
            }
            Ok(())
        }
        Plan::Instruct(command) => bail!("missing {what}; install with:\n    {command}"),
    }
}

/// The directories searched for programs: `PATH`, then the sbin directories.
fn search_path() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        let extra = PathBuf::from(extra);
        if !dirs.contains(&extra) {
            dirs.push(extra);
        }
    }
    dirs
}

/// Finds an executable regular file called `program` in `dirs`. Hand-written instead of the
/// `which` crate: it is a dozen lines and we need the extra sbin directories anyway.
fn find_program(program: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    dirs.iter()
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Whether the effective user is root, read from `/proc/self/status` (avoids `unsafe` libc).
fn is_root() -> Result<bool> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    effective_uid(&status)
        .map(|uid| uid == 0)
        .context("no parsable `Uid:` line in /proc/self/status")
}

/// Parses the effective uid (second field of the `Uid:` line) from `/proc/<pid>/status` text.
fn effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("Uid:"))
        .and_then(|fields| fields.split_whitespace().nth(1))
        .and_then(|uid| uid.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_missing_means_nothing_to_do() {
        assert_eq!(plan(&[], true), Plan::Nothing);
        assert_eq!(plan(&[], false), Plan::Nothing);
    }

    #[test]
    fn root_updates_then_installs_each_package_once() {
        let plan = plan(&["e2fsprogs", "qemu-system-x86", "e2fsprogs"], true);
        let expected = Plan::Install(vec![
            ("apt-get".into(), vec!["update".into()]),
            (
                "apt-get".into(),
                vec![
                    "install".into(),
                    "-y".into(),
                    "e2fsprogs".into(),
                    "qemu-system-x86".into(),
                ],
            ),
        ]);
        assert_eq!(plan, expected);
    }

    #[test]
    fn non_root_gets_the_exact_command() {
        assert_eq!(
            plan(&["qemu-system-x86"], false),
            Plan::Instruct("sudo apt-get update && sudo apt-get install -y qemu-system-x86".into())
        );
    }

    #[test]
    fn effective_uid_is_the_second_field() {
        let status = "Name:\tcat\nUid:\t1000\t0\t1000\t1000\nGid:\t100\t100\t100\t100\n";
        assert_eq!(effective_uid(status), Some(0));
        assert_eq!(effective_uid("Uid:\t1000\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(effective_uid("Name:\tcat\n"), None);
        assert_eq!(effective_uid("Uid:\t1000\n"), None);
        assert_eq!(effective_uid("Uid:\tx\ty\n"), None);
    }

    #[test]
    fn finds_only_executable_files() {
        let dir = std::env::temp_dir().join(format!("xtask-setup-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let exe = dir.join("tool-exe");
        let plain = dir.join("tool-plain");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::write(&plain, "data").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let dirs = vec![PathBuf::from("/nonexistent-xtask-dir"), dir.clone()];
        assert_eq!(find_program("tool-exe", &dirs), Some(exe));
        assert_eq!(find_program("tool-plain", &dirs), None);
        assert_eq!(find_program("tool-absent", &dirs), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! `ext4-bench`: sequential write and read throughput of the `ext4` crate over a host image
//! file, against a raw copy of the same bytes to a plain file. `cargo xtask bench ext4` runs
//! it; every figure it prints is MiB/s (2^20 bytes per second).
//!
//! Method — the two sides get the same I/O conditions, so the ratio measures the crate and
//! not the host:
//! - **Same file system and fresh targets.** Each run makes a fresh image with `mkfs.ext4`
//!   and a fresh raw file in the same directory (`--dir`), so both sides write into host
//!   blocks that are not yet allocated.
//! - **Same chunks, same sync point.** Both write the same payload in `--chunk-kib` pieces
//!   (crate: `Ext4::write_at`; raw: `write_all`) and stop the clock after one durability
//!   point (crate: `Ext4::sync`, which also commits the journal; raw: `File::sync_data`).
//!   Creating the file and mounting happen before the clock starts, like opening the raw file.
//! - **Same cache state for reads.** Each side reads its file back in the same chunks into
//!   the same pre-faulted buffer, after a remount (crate) or reopen (raw). `warm`: straight
//!   after the write, so the bytes come from the host page cache for both. `cold`: after
//!   `posix_fadvise(DONTNEED)` on the image and on the raw file (both were just synced, so
//!   their pages are clean and the kernel drops them; `fincore` confirms it), so both read
//!   from the disk. On a virtual machine that disk is itself cached by the hypervisor, so
//!   cold reads range from disk speed to memory speed from run to run: only the paired
//!   ratios over many runs mean anything there. Verification against the payload happens
//!   after the clock stops.
//! - **Several runs, alternating order.** `--runs` repetitions; odd runs measure the raw side
//!   first so drift in machine state does not favour one side. Each table gives the median
//!   and the min–max range of each side, the ratio of medians, and the median and range of
//!   the per-run ratios (each run's crate figure over the raw figure measured next to it;
//!   the figure to quote, because the two sides of a run share the machine's state).
//! - **Wall clock and CPU time.** The first table is wall-clock throughput (the target);
//!   the second divides the bytes by the CPU time of the benchmark thread (user + system,
//!   `CLOCK_THREAD_CPUTIME_ID`), which leaves out disk waits and time lost to other
//!   processes and so isolates the work each side does per byte. The load average is
//!   printed before and after: wall-clock figures from a loaded machine are noisy.
//!
//! Usage: `ext4-bench [--size-mib N] [--chunk-kib N] [--runs N] [--cache warm|cold|both]
//! [--image-size 1G] [--dir PATH] [--keep]`. Needs `mkfs.ext4` (e2fsprogs).

use blockdev::FileDevice;
use clap::{Parser, ValueEnum};
use ext4::Ext4;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// Where reads find the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum CacheMode {
    /// Read straight after the write: the host page cache holds the file for both sides.
    Warm,
    /// Drop the file's pages with `posix_fadvise(DONTNEED)` before reading: both read the disk.
    Cold,
    /// One read of each kind per run.
    Both,
}

/// Sequential throughput of the ext4 crate over an image file vs a raw file copy.
#[derive(Debug, Parser)]
#[command(name = "ext4-bench")]
struct Options {
    /// Size of the file written and read back, in MiB.
    #[arg(long, default_value_t = 256)]
    size_mib: usize,
    /// Size of each write and read call, in KiB.
    #[arg(long, default_value_t = 1024)]
    chunk_kib: usize,
    /// Number of repetitions (median and range are reported).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Page cache state for the reads.
    #[arg(long, value_enum, default_value_t = CacheMode::Both)]
    cache: CacheMode,
    /// Size of the ext4 image given to mkfs.ext4.
    #[arg(long, default_value = "1G")]
    image_size: String,
    /// Directory for the image and the raw file (both sides use the same file system).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Leave the last run's image and raw file in place (to inspect their layout, e.g. with
    /// `filefrag`) instead of deleting the work directory.
    #[arg(long)]
    keep: bool,
}

/// Wall-clock and CPU seconds of one timed section.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    wall: f64,
    /// CPU time of the benchmark thread (user + system): the work the side itself did,
    /// without the time spent waiting for the disk or for other processes.
    cpu: f64,
}

/// Starts a [`Span`].
struct Clock {
    wall: Instant,
    cpu: f64,
}

fn thread_cpu_secs() -> f64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: thread_cpu_secs(),
        }
    }
    fn stop(&self) -> Span {
        Span {
            wall: self.wall.elapsed().as_secs_f64(),
            cpu: thread_cpu_secs() - self.cpu,
        }
    }
}

/// One side's spans in one run.
#[derive(Debug, Clone, Copy, Default)]
struct Timing {
    write: Span,
    warm_read: Option<Span>,
    cold_read: Option<Span>,
}

fn find_tool(name: &str) -> Result<PathBuf, String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/sbin", "/usr/sbin"].map(PathBuf::from));
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("{name} not found: install e2fsprogs (apt-get install e2fsprogs)"))
}

/// Incompressible, deterministic bytes (xorshift64, eight bytes per step).
fn payload(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678_9ABC_DEF1u64;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            (f.len() == 3).then(|| f.join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Drops the page cache of `path` (its pages must be clean, i.e. synced, to be dropped).
fn drop_page_cache(path: &Path) -> Result<(), String> {
    let f = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed)
        .map_err(|e| format!("posix_fadvise on {}: {e}", path.display()))
}

fn make_image(img: &Path, size: &str) -> Result<(), String> {
    // Creating the file first keeps mkfs from announcing that it creates it.
    File::create(img).map_err(|e| e.to_string())?;
    let status = Command::new(find_tool("mkfs.ext4")?)
        .args(["-q", "-F", "-b", "4096"])
        .arg(img)
        .arg(size)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("mkfs.ext4 failed".into());
    }
    Ok(())
}

/// Reads `out.len()` bytes in `chunk` pieces with `read(offset, buf) -> bytes read`.
fn timed_read(
    out: &mut [u8],
    chunk: usize,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<usize, String>,
) -> Result<Span, String> {
    out.fill(0);
    let t = Clock::start();
    let mut off = 0usize;
    while off < out.len() {
        let end = (off + chunk).min(out.len());
        let n = read(off as u64, &mut out[off..end])?;
        if n == 0 {
            return Err(format!("unexpected end of file at {off}"));
        }
        off += n;
    }
    Ok(t.stop())
}

fn check(out: &[u8], data: &[u8], side: &str) -> Result<(), String> {
    if out != data {
        return Err(format!("{side}: read back differs from what was written"));
    }
    Ok(())
}

const BENCH_PATH: &str = "/bench.bin";

fn bench_crate(
    img: &Path,
    o: &Options,
    data: &[u8],
    out: &mut [u8],
    chunk: usize,
) -> Result<Timing, String> {
    let s = |e: ext4::Error| e.to_string();
    make_image(img, &o.image_size)?;
    let dev = FileDevice::open(img, 4096).map_err(|e| e.to_string())?;
    let mut fs = Ext4::mount(dev).map_err(s)?;
    fs.create(BENCH_PATH).map_err(s)?;
    fs.sync().map_err(s)?;
    let t = Clock::start();
    for (i, c) in data.chunks(chunk).enumerate() {
        fs.write_at(BENCH_PATH, (i * chunk) as u64, c).map_err(s)?;
    }
    fs.sync().map_err(s)?;
    let mut timing = Timing {
        write: t.stop(),
        ..Timing::default()
    };
    let mut dev = fs.unmount().map_err(s)?;
    for cold in [false, true] {
        if !wanted(o.cache, cold) {
            continue;
        }
        if cold {
            drop_page_cache(img)?;
        }
        let mut fs = Ext4::mount_read_only(dev).map_err(s)?;
        let secs = timed_read(out, chunk, |off, buf| {
            fs.read_at(BENCH_PATH, off, buf).map_err(s)
        })?;
        check(out, data, "ext4")?;
        *slot(&mut timing, cold) = Some(secs);
        dev = fs.unmount().map_err(s)?;
    }
    Ok(timing)
}

fn bench_raw(
    path: &Path,
    o: &Options,
    data: &[u8],
    out: &mut [u8],
    chunk: usize,
) -> Result<Timing, String> {
    let io = |e: std::io::Error| e.to_string();
    let mut f = File::create(path).map_err(io)?;
    let t = Clock::start();
    for c in data.chunks(chunk) {
        f.write_all(c).map_err(io)?;
    }
    f.sync_data().map_err(io)?;
    let mut timing = Timing {
        write: t.stop(),
        ..Timing::default()
    };
    drop(f);
    for cold in [false, true] {
        if !wanted(o.cache, cold) {
            continue;
        }
        if cold {
            drop_page_cache(path)?;
        }
        let mut f = File::open(path).map_err(io)?;
        let secs = timed_read(out, chunk, |_, buf| f.read(buf).map_err(io))?;
        check(out, data, "raw")?;
        *slot(&mut timing, cold) = Some(secs);
    }
    Ok(timing)
}

fn wanted(mode: CacheMode, cold: bool) -> bool {
    match mode {
        CacheMode::Both => true,
        CacheMode::Cold => cold,
        CacheMode::Warm => !cold,
    }
}

fn slot(t: &mut Timing, cold: bool) -> &mut Option<Span> {
    if cold {
        &mut t.cold_read
    } else {
        &mut t.warm_read
    }
}

/// Median, minimum and maximum of `v` (not empty).
fn summary(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let median = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (median, s[0], s[n - 1])
}

/// Prints one table: `value` turns a span into MiB per second (of wall-clock or CPU time).
fn table(bytes: usize, runs: &[(Timing, Timing)], title: &str, value: fn(&Span) -> f64) {
    println!("{title}");
    println!(
        "{:<10} {:>24} {:>24} {:>8} {:>20}",
        "op",
        "ext4 MiB/s med [min-max]",
        "raw MiB/s med [min-max]",
        "ratio",
        "run ratios [min-max]"
    );
    type Pick = fn(&Timing) -> Option<Span>;
    let ops: [(&str, Pick); 3] = [
        ("write", |t| Some(t.write)),
        ("read warm", |t| t.warm_read),
        ("read cold", |t| t.cold_read),
    ];
    let rate = |s: &Span| bytes as f64 / (1024.0 * 1024.0) / value(s).max(1e-9);
    for (op, pick) in ops {
        let pairs: Vec<(f64, f64)> = runs
            .iter()
            .filter_map(|(c, r)| Some((rate(&pick(c)?), rate(&pick(r)?))))
            .collect();
        if pairs.is_empty() {
            continue;
        }
        let c: Vec<f64> = pairs.iter().map(|p| p.0).collect();
        let r: Vec<f64> = pairs.iter().map(|p| p.1).collect();
        let q: Vec<f64> = pairs.iter().map(|p| p.0 / p.1).collect();
        let (cm, cl, ch) = summary(&c);
        let (rm, rl, rh) = summary(&r);
        let (qm, ql, qh) = summary(&q);
        println!(
            "{op:<10} {:>24} {:>24} {:>8.2} {:>20}",
            format!("{cm:.0} [{cl:.0}-{ch:.0}]"),
            format!("{rm:.0} [{rl:.0}-{rh:.0}]"),
            cm / rm,
            format!("{qm:.2} [{ql:.2}-{qh:.2}]"),
        );
    }
}

fn report(bytes: usize, runs: &[(Timing, Timing)]) {
    table(
        bytes,
        runs,
        "throughput (wall clock; ratio = ext4 / raw, target >= 0.5):",
        |s| s.wall,
    );
    table(
        bytes,
        runs,
        "CPU-time throughput (MiB per CPU-second of the benchmark thread; disk waits excluded):",
        |s| s.cpu,
    );
}

fn run() -> Result<(), String> {
    let o = Options::parse();
    if o.size_mib == 0 || o.chunk_kib == 0 || o.runs == 0 {
        return Err("--size-mib, --chunk-kib and --runs must be positive".into());
    }
    let bytes = o
        .size_mib
        .checked_mul(1 << 20)
        .ok_or("--size-mib is too large")?;
    let chunk = o
        .chunk_kib
        .checked_mul(1 << 10)
        .ok_or("--chunk-kib is too large")?;
    let dir = o.dir.clone().unwrap_or_else(std::env::temp_dir);
    let work = dir.join(format!("ext4-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let img = work.join("bench.img");
    let raw = work.join("raw.bin");
    let data = payload(bytes);
    // Touched once here so that page faults on the destination are not timed on either side.
    let mut out = vec![1u8; bytes];
    println!(
        "ext4 sequential throughput: {} MiB file, {} KiB chunks, {} image, {} runs, in {}",
        o.size_mib,
        o.chunk_kib,
        o.image_size,
        o.runs,
        work.display()
    );
    println!("load average before: {}", load_average());
    let result = (|| {
        let mut runs = Vec::with_capacity(o.runs);
        for r in 0..o.runs {
            let (c, w) = if r % 2 == 0 {
                let c = bench_crate(&img, &o, &data, &mut out, chunk)?;
                (c, bench_raw(&raw, &o, &data, &mut out, chunk)?)
            } else {
                let w = bench_raw(&raw, &o, &data, &mut out, chunk)?;
                (bench_crate(&img, &o, &data, &mut out, chunk)?, w)
            };
            if r + 1 < o.runs || !o.keep {
                std::fs::remove_file(&img).map_err(|e| e.to_string())?;
                std::fs::remove_file(&raw).map_err(|e| e.to_string())?;
            }
            runs.push((c, w));
        }
        println!("load average after:  {}", load_average());
        report(bytes, &runs);
        Ok(())
    })();
    if o.keep {
        println!("kept {} and {}", img.display(), raw.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    result
}

fn main() {
    if let Err(e) = run() {
        eprintln!("ext4-bench: {e}");
        std::process::exit(1);
    }
}

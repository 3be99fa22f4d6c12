//! `ext4-bench`: sequential write and read throughput of the `ext4` crate over a host image
//! file, against a raw copy of the same bytes to a plain file (same chunk size, same final
//! `sync_data`). Prints MB/s for both and the ratio; `cargo xtask bench ext4` runs it.
//!
//! Usage: `ext4-bench [--size-mib N] [--chunk-kib N] [--runs N] [--image-size 1G] [--dir PATH]`.
//! Needs `mkfs.ext4` (e2fsprogs). Reads come from the host page cache for both sides. Each
//! figure is the best of `--runs` repetitions, which damps noise from other processes.

use blockdev::FileDevice;
use ext4::Ext4;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

struct Options {
    size_mib: usize,
    runs: usize,
    chunk_kib: usize,
    image_size: String,
    dir: PathBuf,
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        size_mib: 256,
        runs: 3,
        chunk_kib: 1024,
        image_size: "1G".into(),
        dir: std::env::temp_dir(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--size-mib" => o.size_mib = val()?.parse().map_err(|e| format!("--size-mib: {e}"))?,
            "--runs" => o.runs = val()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--chunk-kib" => {
                o.chunk_kib = val()?.parse().map_err(|e| format!("--chunk-kib: {e}"))?
            }
            "--image-size" => o.image_size = val()?,
            "--dir" => o.dir = PathBuf::from(val()?),
            "-h" | "--help" => {
                println!(
                    "ext4-bench [--size-mib N] [--chunk-kib N] [--image-size 1G] [--dir PATH]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if o.size_mib == 0 || o.chunk_kib == 0 || o.runs == 0 {
        return Err("sizes must be positive".into());
    }
    Ok(o)
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

fn mb_per_s(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0) / secs.max(1e-9)
}

fn payload(len: usize) -> Vec<u8> {
    let mut x = 0x1234_5678_9ABC_DEF1u64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn bench_crate(img: &Path, data: &[u8], chunk: usize) -> Result<(f64, f64), String> {
    let dev = FileDevice::open(img, 4096).map_err(|e| e.to_string())?;
    let mut fs = Ext4::mount(dev).map_err(|e| e.to_string())?;
    match fs.unlink("/bench.bin") {
        Ok(()) | Err(ext4::Error::NotFound) => {}
        Err(e) => return Err(e.to_string()),
    }
    fs.create("/bench.bin").map_err(|e| e.to_string())?;
    fs.sync().map_err(|e| e.to_string())?;
    let t = Instant::now();
    for (i, c) in data.chunks(chunk).enumerate() {
        fs.write_at("/bench.bin", (i * chunk) as u64, c)
            .map_err(|e| e.to_string())?;
    }
    fs.sync().map_err(|e| e.to_string())?;
    let write = t.elapsed().as_secs_f64();
    let dev = fs.unmount().map_err(|e| e.to_string())?;
    let mut fs = Ext4::mount_read_only(dev).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; chunk];
    let mut off = 0u64;
    let mut check = Vec::with_capacity(data.len());
    let t = Instant::now();
    loop {
        let n = fs
            .read_at("/bench.bin", off, &mut buf)
            .map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        check.extend_from_slice(&buf[..n]);
        off += n as u64;
    }
    let read = t.elapsed().as_secs_f64();
    if check != data {
        return Err("read back differs from what was written".into());
    }
    Ok((write, read))
}

fn bench_raw(path: &Path, data: &[u8], chunk: usize) -> Result<(f64, f64), String> {
    let t = Instant::now();
    let mut f = std::fs::File::create(path).map_err(|e| e.to_string())?;
    for c in data.chunks(chunk) {
        f.write_all(c).map_err(|e| e.to_string())?;
    }
    f.sync_data().map_err(|e| e.to_string())?;
    let write = t.elapsed().as_secs_f64();
    drop(f);
    let mut f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut buf = vec![0u8; chunk];
    let mut check = Vec::with_capacity(data.len());
    let t = Instant::now();
    loop {
        let n = f.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        check.extend_from_slice(&buf[..n]);
    }
    let read = t.elapsed().as_secs_f64();
    if check != data {
        return Err("raw read back differs".into());
    }
    Ok((write, read))
}

fn run() -> Result<(), String> {
    let o = parse_args()?;
    let work = o.dir.join(format!("ext4-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let img = work.join("bench.img");
    let raw = work.join("raw.bin");
    // Creating the file first keeps mkfs from announcing that it creates it.
    std::fs::File::create(&img).map_err(|e| e.to_string())?;
    let status = Command::new(find_tool("mkfs.ext4")?)
        .args(["-q", "-F", "-b", "4096"])
        .arg(&img)
        .arg(&o.image_size)
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err("mkfs.ext4 failed".into());
    }
    let bytes = o.size_mib << 20;
    let chunk = o.chunk_kib << 10;
    let data = payload(bytes);
    let result = (|| {
        let (cw, cr) = bench_crate(&img, &data, chunk)?;
        let (rw, rr) = bench_raw(&raw, &data, chunk)?;
        println!(
            "ext4 sequential throughput: {} MiB file, {} KiB chunks, {} image",
            o.size_mib, o.chunk_kib, o.image_size
        );
        println!(
            "{:<8} {:>14} {:>14} {:>8}",
            "op", "ext4 MB/s", "raw MB/s", "ratio"
        );
        for (op, c, r) in [("write", cw, rw), ("read", cr, rr)] {
            let (c, r) = (mb_per_s(bytes, c), mb_per_s(bytes, r));
            println!("{op:<8} {c:>14.1} {r:>14.1} {:>8.2}", c / r);
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn main() {
    if let Err(e) = run() {
        eprintln!("ext4-bench: {e}");
        std::process::exit(1);
    }
}

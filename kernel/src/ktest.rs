//! In-kernel tests, run by the `ktest` image at boot.
//!
//! Each test exercises the real hardware paths on the emulated machine — frames, page tables,
//! heap growth, preemption, wait queues, FPU state across switches, stack reclamation — which
//! host unit tests cannot reach. Tests are registered at compile time in [`TESTS`]; the runner
//! prints `test NAME ... ok|FAILED: why`, a summary line, and exits QEMU through isa-debug-exit
//! (33 = all passed, 35 = a failure), which `cargo xtask test` maps to pass/fail.

use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use buddy::MigrateType;
use hal::arch::exit::{ExitCode, exit_qemu};
use hal::mem::{frames, paging};
use hal::task::{self, WaitQueue};

use crate::ctx::Subsystem;

type TestResult = Result<(), String>;

macro_rules! ensure {
    ($cond:expr, $($msg:tt)*) => {
        if !$cond {
            return Err(alloc::format!($($msg)*));
        }
    };
}

/// One in-kernel test: its name and its body.
type KernelTest = (&'static str, fn() -> TestResult);

/// Every in-kernel test, in run order.
pub const TESTS: &[KernelTest] = &[
    (
        "frames_alloc_free_every_order",
        frames_alloc_free_every_order,
    ),
    (
        "frames_exhaustion_is_an_error",
        frames_exhaustion_is_an_error,
    ),
    ("paging_map_write_unmap", paging_map_write_unmap),
    ("heap_grows_on_demand", heap_grows_on_demand),
    (
        "heap_try_reserve_reports_exhaustion",
        heap_try_reserve_reports_exhaustion,
    ),
    (
        "clock_is_monotonic_and_sleep_waits",
        clock_is_monotonic_and_sleep_waits,
    ),
    (
        "threads_spawn_join_exit_codes",
        threads_spawn_join_exit_codes,
    ),
    (
        "timer_preempts_a_spinning_thread",
        timer_preempts_a_spinning_thread,
    ),
    (
        "wait_queue_wakes_blocked_thread",
        wait_queue_wakes_blocked_thread,
    ),
    (
        "fpu_state_survives_preemption",
        fpu_state_survives_preemption,
    ),
    (
        "stress_returns_every_frame_and_stack",
        stress_returns_every_frame_and_stack,
    ),
    (
        "thread_cycles_return_page_tables_and_blocks",
        thread_cycles_return_page_tables_and_blocks,
    ),
    ("shell_registry_answers", shell_registry_answers),
    (
        "metrics_registry_exports_every_series",
        metrics_registry_exports_every_series,
    ),
    (
        "block_cache_reclaim_returns_frames",
        block_cache_reclaim_returns_frames,
    ),
    (
        "virtio_blk_round_trips_sectors",
        virtio_blk_round_trips_sectors,
    ),
    (
        "dma_bounce_pool_shares_and_refuses",
        dma_bounce_pool_shares_and_refuses,
    ),
    (
        "catalogue_commands_run_through_the_registry",
        catalogue_commands_run_through_the_registry,
    ),
    (
        "oom_movable_pool_compaction_keeps_contents",
        crate::oom::ktests::movable_pool_compaction_keeps_contents,
    ),
    (
        "oom_reclaim_count_and_watermark_refusal",
        crate::oom::ktests::reclaim_count_and_watermark_refusal,
    ),
];

/// The kernel's subsystem table, handed over by `main` (tests are plain `fn()`s, and the
/// harness does not reach up into the crate root for it).
static SUBSYSTEMS: spin::Once<&'static [&'static Subsystem]> = spin::Once::new();

fn subsystems() -> &'static [&'static Subsystem] {
    SUBSYSTEMS.get().copied().unwrap_or_default()
}

pub fn run(boot: &'static hal::BootInfo, subsystems: &'static [&'static Subsystem]) -> i64 {
    SUBSYSTEMS.call_once(|| subsystems);
    hal::println!("{}", crate::foundation::boot_report(boot));
    hal::println!("ktest: running {} tests", TESTS.len());
    let mut failed = 0;
    for (name, test) in TESTS {
        match test() {
            Ok(()) => hal::println!("test {name} ... ok"),
            Err(why) => {
                failed += 1;
                hal::println!("test {name} ... FAILED: {why}");
            }
        }
    }
    hal::println!("ktest: {} passed, {} failed", TESTS.len() - failed, failed);
    exit_qemu(if failed == 0 {
        ExitCode::Success
    } else {
        ExitCode::Failure
    })
}

fn frames_alloc_free_every_order() -> TestResult {
    let before = frames::stats();
    let mut blocks = Vec::new();
    for order in 0..=buddy::MAX_ORDER {
        let block = frames::OwnedFrame::new(order, MigrateType::Movable)
            .map_err(|e| alloc::format!("order {order}: {e:?}"))?;
        let phys = block.phys();
        ensure!(
            phys % (4096 << order) == 0,
            "order {order} block {phys:#x} misaligned"
        );
        blocks.push(block);
    }
    let mid = frames::stats();
    let used: u64 = (0..=buddy::MAX_ORDER).map(|o| 1u64 << o).sum();
    ensure!(
        before.free_pages - mid.free_pages == used,
        "free pages fell by {} not {used}",
        before.free_pages - mid.free_pages
    );
    drop(blocks);
    frames::self_test_double_free().map_err(String::from)?;
    let after = frames::stats();
    ensure!(
        after.free_pages == before.free_pages,
        "free pages {} != {}",
        after.free_pages,
        before.free_pages
    );
    frames::check_invariants().map_err(|e| alloc::format!("invariants: {e:?}"))
}

fn frames_exhaustion_is_an_error() -> TestResult {
    // Take every order-10 block, then ask for one more: an error, never a panic.
    let mut blocks = Vec::new();
    while let Ok(block) = frames::OwnedFrame::new(buddy::MAX_ORDER, MigrateType::Movable) {
        blocks.push(block);
    }
    let failures_before = frames::stats().failures_by_order[buddy::MAX_ORDER];
    let r = frames::OwnedFrame::new(buddy::MAX_ORDER, MigrateType::Movable);
    let failures_after = frames::stats().failures_by_order[buddy::MAX_ORDER];
    drop(blocks);
    ensure!(
        r.is_err(),
        "allocation succeeded with no order-10 block left"
    );
    ensure!(failures_after == failures_before + 1, "failure not counted");
    Ok(())
}

fn paging_map_write_unmap() -> TestResult {
    paging::check_map_write_unmap().map_err(String::from)
}

fn heap_grows_on_demand() -> TestResult {
    let before = hal::mem::heap::stats();
    let n = 4 * 1024 * 1024;
    let mut v: Vec<u32> = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| String::from("try_reserve of 16 MiB failed"))?;
    v.extend((0..n as u32).map(|i| i.wrapping_mul(2654435761)));
    let after = hal::mem::heap::stats();
    ensure!(
        after.mapped_bytes >= before.mapped_bytes + 16 * 1024 * 1024
            || before.mapped_bytes >= 17 * 1024 * 1024,
        "heap did not grow: {} -> {}",
        before.mapped_bytes,
        after.mapped_bytes
    );
    ensure!(
        v.iter()
            .enumerate()
            .all(|(i, &x)| x == (i as u32).wrapping_mul(2654435761)),
        "heap contents corrupted"
    );
    Ok(())
}

fn heap_try_reserve_reports_exhaustion() -> TestResult {
    let mut v: Vec<u8> = Vec::new();
    let r = v.try_reserve_exact(1 << 40);
    ensure!(r.is_err(), "a 1 TiB reservation succeeded");
    ensure!(hal::mem::heap::stats().failures > 0, "failure not counted");
    // The heap still works afterwards.
    let mut w: Vec<u64> = Vec::new();
    w.try_reserve(1024)
        .map_err(|_| String::from("small allocation failed after exhaustion"))?;
    Ok(())
}

fn clock_is_monotonic_and_sleep_waits() -> TestResult {
    let mut last = hal::time::now_ns();
    for _ in 0..1000 {
        let t = hal::time::now_ns();
        ensure!(t >= last, "clock went backwards: {last} -> {t}");
        last = t;
    }
    let t0 = hal::time::now_ns();
    task::sleep_ns(20_000_000);
    let slept = hal::time::now_ns() - t0;
    ensure!(
        slept >= 20_000_000,
        "sleep(20 ms) returned after {slept} ns"
    );
    Ok(())
}

fn threads_spawn_join_exit_codes() -> TestResult {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut ids = Vec::new();
    for i in 0..10i64 {
        let id = task::spawn("ktest-worker", move || {
            COUNTER.fetch_add(1, Ordering::SeqCst);
            task::yield_now();
            i * 7
        })
        .map_err(|e| alloc::format!("spawn: {e}"))?;
        ids.push((i, id));
    }
    for (i, id) in ids {
        let code = task::join(id).map_err(|e| alloc::format!("join: {e}"))?;
        ensure!(code == i * 7, "thread {i} exit code {code}");
    }
    ensure!(COUNTER.load(Ordering::SeqCst) == 10, "not every thread ran");
    ensure!(
        task::join(sched::ThreadId(9999)).is_err(),
        "joining an unknown thread succeeded"
    );
    Ok(())
}

fn timer_preempts_a_spinning_thread() -> TestResult {
    static STOP: AtomicBool = AtomicBool::new(false);
    static SPINS: AtomicU64 = AtomicU64::new(0);
    STOP.store(false, Ordering::SeqCst);
    let id = task::spawn("ktest-spinner", || {
        // Never yields: only the timer can take the CPU away.
        while !STOP.load(Ordering::SeqCst) {
            SPINS.fetch_add(1, Ordering::Relaxed);
        }
        0
    })
    .map_err(|e| alloc::format!("spawn: {e}"))?;
    // The spinner has the same priority; this thread gets the CPU back only by preemption.
    task::sleep_ns(30_000_000);
    let spins = SPINS.load(Ordering::Relaxed);
    // Read the spinner's accounting while it still exists: it never yields, so every time it
    // lost the CPU was a preemption by the timer.
    let preempted = task::threads().iter().find(|t| t.id == id).map(|t| {
        (
            t.accounting.involuntary_switches,
            t.accounting.voluntary_switches,
        )
    });
    STOP.store(true, Ordering::SeqCst);
    task::join(id).map_err(|e| alloc::format!("join: {e}"))?;
    ensure!(spins > 0, "spinner never ran");
    let (involuntary, voluntary) =
        preempted.ok_or_else(|| String::from("spinner missing from the thread table"))?;
    ensure!(
        involuntary > 0,
        "the spinner was never preempted (involuntary switches 0)"
    );
    ensure!(
        voluntary == 0,
        "the spinner never yields, yet it has {voluntary} voluntary switches"
    );
    Ok(())
}

fn wait_queue_wakes_blocked_thread() -> TestResult {
    static READY: AtomicBool = AtomicBool::new(false);
    READY.store(false, Ordering::SeqCst);
    let q = WaitQueue::new().map_err(|e| alloc::format!("{e}"))?;
    let waiter = task::spawn("ktest-waiter", move || {
        task::wait_until(q, || READY.load(Ordering::SeqCst).then_some(()));
        42
    })
    .map_err(|e| alloc::format!("spawn: {e}"))?;
    task::sleep_ns(5_000_000);
    let blocked = task::threads()
        .iter()
        .any(|t| t.id == waiter && matches!(t.state, sched::ThreadState::Blocked(_)));
    READY.store(true, Ordering::SeqCst);
    task::wake_all(q);
    let code = task::join(waiter).map_err(|e| alloc::format!("join: {e}"))?;
    ensure!(
        blocked,
        "waiter was not blocked while the condition was false"
    );
    ensure!(code == 42, "waiter exit code {code}");
    Ok(())
}

fn fpu_state_survives_preemption() -> TestResult {
    fn work(seed: f64) -> i64 {
        let mut x = seed;
        let mut sum = 0.0f64;
        for i in 0..300_000 {
            x = x * 0.999_999 + 1.0 / (1.0 + f64::from(i % 7));
            sum += x / (1.0 + sum.abs() * 1e-6);
        }
        (sum * 1000.0) as i64
    }
    let expected: Vec<i64> = (1..=4).map(|s| work(f64::from(s))).collect();
    let ids: Result<Vec<_>, _> = (1..=4)
        .map(|s| task::spawn("ktest-fpu", move || work(f64::from(s))))
        .collect();
    let ids = ids.map_err(|e| alloc::format!("spawn: {e}"))?;
    for (id, want) in ids.into_iter().zip(expected) {
        let got = task::join(id).map_err(|e| alloc::format!("join: {e}"))?;
        ensure!(
            got == want,
            "FPU result {got} != {want}: SSE state corrupted across switches"
        );
    }
    Ok(())
}

fn stress_returns_every_frame_and_stack() -> TestResult {
    // Warm up: the heap grows once to hold the thread records; it does not shrink.
    crate::foundation::stress::run_threads(64)?;
    let free_before = frames::stats().free_pages;
    let stacks_before = task::stacks_in_use();
    let r = crate::foundation::stress::run_threads(64)?;
    ensure!(
        r.joined == 64 && r.checksum_ok,
        "stress: joined {} checksum {}",
        r.joined,
        r.checksum_ok
    );
    task::yield_now(); // let finish_switch free the last stack
    let free_after = frames::stats().free_pages;
    ensure!(
        task::stacks_in_use() == stacks_before,
        "stacks {} -> {}",
        stacks_before,
        task::stacks_in_use()
    );
    ensure!(
        free_after == free_before,
        "free pages {free_before} -> {free_after}"
    );
    Ok(())
}

/// Spawning and joining many threads gives back every frame, page tables included (each
/// stack slot has its own page table; issue 10 found one kept per slot ever used), and the
/// largest free block returns to its size. Frames that moved into the heap (thread records;
/// the heap never shrinks) are counted with the free ones.
fn thread_cycles_return_page_tables_and_blocks() -> TestResult {
    let accounted =
        || frames::stats().free_pages + hal::mem::heap::stats().mapped_bytes / buddy::PAGE_SIZE;
    let settle = || {
        task::yield_now(); // the last exited thread's stack is freed on the next switch
    };
    settle();
    let first_before = accounted();
    let r = crate::foundation::stress::run_threads(300)?;
    ensure!(r.joined == 300, "joined {}", r.joined);
    settle();
    let first_after = accounted();
    ensure!(
        first_after == first_before,
        "300 spawn/join cycles kept {} frames (free + heap {first_before} -> {first_after})",
        first_before as i64 - first_after as i64
    );
    let before = frames::stats();
    crate::foundation::stress::run_threads(300)?;
    settle();
    let after = frames::stats();
    ensure!(
        after.free_pages == before.free_pages,
        "free pages {} -> {} across a second round",
        before.free_pages,
        after.free_pages
    );
    ensure!(
        after.largest_free_order == before.largest_free_order,
        "largest free block order {:?} -> {:?}",
        before.largest_free_order,
        after.largest_free_order
    );
    Ok(())
}

fn shell_registry_answers() -> TestResult {
    let registry = crate::ctx::command_registry(subsystems());
    let names: Vec<&str> = registry.commands().map(|c| c.name).collect();
    for want in [
        "help", "version", "uptime", "meminfo", "ps", "memctl", "schedctl", "echo", "shutdown",
    ] {
        ensure!(names.contains(&want), "command {want} not registered");
    }
    // Every usage synopsis is readable (it fixes the argument count), every name valid.
    if let Some(refused) = registry.registration_errors().first() {
        return Err(alloc::format!("registration refused: {refused}"));
    }
    Ok(())
}

/// The series every subsystem registers: the foundation and storage ones (28) plus each
/// subsystem's table.
fn expected_series() -> usize {
    28 + crate::oom::monitor::METRICS.len()
        + crate::sched::metrics::METRICS.len()
        + crate::net::METRICS.len()
        + crate::llm::infer::METRICS.len()
        + crate::llm::FINETUNE_METRICS.len()
}

fn metrics_registry_exports_every_series() -> TestResult {
    let registry = crate::kmetrics::registry();
    ensure!(
        registry.len() == expected_series(),
        "registry holds {} series, expected {}",
        registry.len(),
        expected_series()
    );
    let mut text = String::new();
    registry
        .write_prometheus(&mut text)
        .map_err(|_| String::from("prometheus export failed"))?;
    let free = frames::stats().free_pages * buddy::PAGE_SIZE;
    ensure!(
        text.contains("# TYPE nous_memory_free_bytes gauge"),
        "no TYPE line for free memory"
    );
    ensure!(
        text.contains("nous_buddy_fragmentation_permille{order=\"10\"}"),
        "no order-10 fragmentation series"
    );
    let reported: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("nous_memory_free_bytes "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| String::from("no free-memory sample"))?;
    // Other threads are idle here, so the figure matches the allocator within a heap step.
    ensure!(
        reported.abs_diff(free) <= 512 * 1024,
        "exported free memory {reported} vs allocator {free}"
    );
    let json = registry
        .to_json()
        .map_err(|e| alloc::format!("json: {e}"))?;
    ensure!(
        json.contains("nous_sched_context_switches_total"),
        "json lacks the switch counter"
    );
    Ok(())
}

/// The block cache keeps its chunks in `Reclaimable` frames: caching raises that class's count
/// by one frame per chunk, and `reclaim` gives every one back to the buddy allocator.
fn block_cache_reclaim_returns_frames() -> TestResult {
    use blockdev::BlockDevice;
    let reclaimable = || frames::stats().allocated_pages_by_class[MigrateType::Reclaimable.index()];
    let before = reclaimable();
    let data: Vec<u8> = (0..64 * 4096).map(|i| (i % 251) as u8).collect();
    let dev = blockdev::MemDevice::new(data.clone(), 512).map_err(|e| alloc::format!("{e}"))?;
    let mut cache = blockcache::BlockCache::new(dev, crate::storage::ReclaimableFrames, 1024)
        .map_err(|e| alloc::format!("{e}"))?;
    let mut buf = alloc::vec![0u8; 64 * 4096];
    cache
        .read_blocks(0, &mut buf)
        .map_err(|e| alloc::format!("{e}"))?;
    ensure!(buf == data, "cached read returned wrong bytes");
    ensure!(
        reclaimable() == before + 64,
        "64 chunks should hold 64 reclaimable frames, got {}",
        reclaimable() - before
    );
    cache
        .read_blocks(0, &mut buf)
        .map_err(|e| alloc::format!("{e}"))?;
    ensure!(
        buf == data && cache.stats().hits >= 64,
        "second read was not served from the cache"
    );
    ensure!(
        cache.reclaim(usize::MAX) == 64,
        "reclaim did not drop 64 chunks"
    );
    ensure!(
        reclaimable() == before,
        "frames not returned: {} reclaimable left",
        reclaimable() - before
    );
    frames::check_invariants().map_err(|e| alloc::format!("{e:?}"))?;
    Ok(())
}

/// Raw sector I/O on the attached scratch disk, through both buffer paths: a direct-map frame
/// (handed to the device by address) and heap buffers (bounced through the DMA pool), up to
/// 128 KiB in one call (two 64 KiB requests). Uses the last 256 sectors of the scratch copy.
fn virtio_blk_round_trips_sectors() -> TestResult {
    let device = hal::pci::claim_virtio(pci::VirtioKind::Block)
        .ok_or_else(|| String::from("no virtio-blk disk attached to the ktest machine"))?;
    let mut disk =
        hal::virtio::VirtioBlock::new(device).map_err(|e| alloc::format!("probe: {e}"))?;
    ensure!(
        hal::pci::claim_virtio(pci::VirtioKind::Block).is_none(),
        "the claimed disk was handed out a second time"
    );
    ensure!(
        disk.sectors() >= 1024,
        "disk too small: {} sectors",
        disk.sectors()
    );
    let base = disk.sectors() - 64;
    let pattern: Vec<u8> = (0..32 * 512).map(|i| (i * 7 % 253) as u8).collect();
    disk.write(base, &pattern)
        .map_err(|e| alloc::format!("heap write: {e}"))?;
    let mut frame =
        frames::OwnedFrame::new(2, MigrateType::Unmovable).map_err(|e| alloc::format!("{e:?}"))?;
    disk.read(base, &mut frame.bytes_mut()[..32 * 512])
        .map_err(|e| alloc::format!("frame read: {e}"))?;
    ensure!(
        frame.bytes()[..32 * 512] == pattern[..],
        "direct-map read differs from what was written"
    );
    frame.bytes_mut()[..512].fill(0xa5);
    disk.write(base + 32, &frame.bytes()[..512])
        .map_err(|e| alloc::format!("frame write: {e}"))?;
    disk.flush().map_err(|e| alloc::format!("flush: {e}"))?;
    let mut back = alloc::vec![0u8; 33 * 512];
    disk.read(base, &mut back)
        .map_err(|e| alloc::format!("heap read: {e}"))?;
    ensure!(back[..32 * 512] == pattern[..], "bounced read differs");
    ensure!(
        back[32 * 512..].iter().all(|&b| b == 0xa5),
        "frame-written sector differs"
    );
    // 128 KiB through heap buffers: each 64 KiB request bounces through one pool block.
    let big: Vec<u8> = (0..256 * 512).map(|i| (i * 13 % 241) as u8).collect();
    let big_base = disk.sectors() - 256;
    disk.write(big_base, &big)
        .map_err(|e| alloc::format!("128 KiB write: {e}"))?;
    let mut big_back = alloc::vec![0u8; big.len()];
    disk.read(big_base, &mut big_back)
        .map_err(|e| alloc::format!("128 KiB read: {e}"))?;
    ensure!(big_back == big, "128 KiB bounced round trip differs");
    ensure!(
        hal::dma::stats().lent_bytes == 0 && hal::dma::stats().reserved_blocks == 0,
        "bounce blocks still lent after the requests: {:?}",
        hal::dma::stats()
    );
    ensure!(
        disk.read(disk.sectors() - 1, &mut back).is_err(),
        "a read past the end must be an error"
    );
    ensure!(
        disk.read(base, &mut back[..100]).is_err(),
        "a partial sector must be an error"
    );
    Ok(())
}

/// 64 KiB buffers shared through the bounce pool keep their bytes both ways, and reserving
/// 64 KiB blocks until the pool refuses gives an error (never a panic) at the pool's cap;
/// afterwards every frame is back (hal's self-test, which reaches the crate-private paths).
fn dma_bounce_pool_shares_and_refuses() -> TestResult {
    hal::dma::self_test_bounce_pool()
}

/// Commands of the model's catalogue not yet in the kernel, each with the issue that adds it.
/// The test fails if one of them appears (then it must leave this list and be tested) or if
/// any other catalogue entry is missing.
const NOT_YET_IN_THE_KERNEL: &[(&str, &str)] = &[];

/// Every command of `oslang`'s catalogue (the model's allowlist), at its smallest and largest
/// argument, goes through the kernel's real command registry: none may be unknown (except the
/// ones listed above) and none may be refused as a usage error, so the two definitions of
/// commands and argument ranges cannot drift apart again. Commands may still fail at run time
/// here (no file system is mounted in the test image), which is not a disagreement.
fn catalogue_commands_run_through_the_registry() -> TestResult {
    use oslang::catalogue::{Arg, CATALOGUE};
    use shell::DispatchStatus;

    let registry = crate::ctx::command_registry(subsystems());
    let boot = hal::boot::boot_info().ok_or_else(|| String::from("no boot info"))?;
    let mut ctx = crate::ctx::KernelCtx {
        boot,
        subsystems: subsystems(),
    };
    let mut checked = 0;
    // `crashctl auto on|off` runs below; put the ladder back as the test found it.
    let ladder_was_on = crate::oom::state::auto();
    for spec in CATALOGUE {
        let range = spec.parts.iter().find_map(|p| match p {
            Arg::Int { min, max } => Some((*min, *max)),
            Arg::Word(_) => None,
        });
        let values: Vec<Option<u32>> = match range {
            Some((min, max)) => alloc::vec![Some(min), Some(max)],
            None => alloc::vec![None],
        };
        for value in values {
            let line = spec
                .parts
                .iter()
                .map(|p| match p {
                    Arg::Word(w) => String::from(*w),
                    Arg::Int { .. } => alloc::format!("{}", value.unwrap_or(0)),
                })
                .collect::<Vec<_>>()
                .join(" ");
            let pending = NOT_YET_IN_THE_KERNEL
                .iter()
                .find(|(prefix, _)| line.starts_with(prefix));
            let mut out = String::new();
            let status = registry.dispatch(&mut ctx, &line, &mut out);
            match (status, pending) {
                (DispatchStatus::NotFound | DispatchStatus::BadArguments, Some(_)) => {}
                (_, Some((prefix, issue))) => {
                    return Err(alloc::format!(
                        "'{line}' now runs ({status:?}): remove '{prefix}' ({issue}) from NOT_YET_IN_THE_KERNEL"
                    ));
                }
                (DispatchStatus::Success | DispatchStatus::Failed, None) => checked += 1,
                (other, None) => {
                    return Err(alloc::format!(
                        "catalogue command '{line}' was refused by the kernel ({other:?}): {}",
                        out.trim_end()
                    ));
                }
            }
        }
    }
    // Leave the predictor's threshold as the test found it (`crashctl tune` ran above).
    let mut out = String::new();
    registry.dispatch(&mut ctx, "crashctl tune default", &mut out);
    crate::oom::state::set_auto(ladder_was_on);
    ensure!(checked > 0, "no catalogue command was checked");
    Ok(())
}

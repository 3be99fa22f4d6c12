//! The foundation's shell commands: `version`, `uptime`, `meminfo`, `ps`, `echo`,
//! `metrics`, `shutdown`, `memctl stats` and `schedctl stats|stress` (`help` is built into the
//! registry).
//!
//! Handlers write to the `fmt::Write` they are given and report bad arguments through
//! `CommandError`, which the registry prints as a one-line `error: …`. The registry refuses a
//! wrong argument count (read from each usage synopsis) before a handler runs, so handlers
//! that take no arguments ignore theirs.

use alloc::string::String;

use buddy::{MigrateType, ORDERS, PAGE_SIZE};
use hal::arch::exit::{ExitCode, exit_qemu};
use shell::{CommandError, CommandRegistry, Subcommand, parse_arg, required_arg};

use crate::ctx::{CmdResult, KernelCtx, Out, w};

/// Adds the foundation's commands. The `memctl` group is created here; the memory manager
/// (the `oom` subsystem) extends it.
pub fn register(r: &mut CommandRegistry<KernelCtx>) {
    let simple: [shell::PlainCommand<KernelCtx>; 7] = [
        ("version", "print the kernel version", "", cmd_version),
        ("uptime", "time since the timer started", "", cmd_uptime),
        (
            "meminfo",
            "memory totals, free blocks per order, fragmentation, heap",
            "",
            cmd_meminfo,
        ),
        ("ps", "threads with their scheduling accounting", "", cmd_ps),
        ("echo", "print the arguments", "[TEXT...]", cmd_echo),
        ("shutdown", "power off (exits QEMU)", "", cmd_shutdown),
        (
            "metrics",
            "export the metrics registry",
            "[prometheus|json]",
            cmd_metrics,
        ),
    ];
    // Names are distinct literals, so registration cannot fail; a refusal would only lose
    // that command (kept in the registry's errors, which the ktest and the boot line report).
    let _ = r.register_all(&simple);
    let _ = r.register_group(
        "memctl",
        "memory manager control",
        &[Subcommand {
            name: "stats",
            usage: "",
            summary: "buddy allocator counters",
            handler: memctl_stats,
        }],
    );
    let _ = r.register_group(
        "schedctl",
        "scheduler control",
        &[
            Subcommand {
                name: "stats",
                usage: "",
                summary: "scheduler counters and policy",
                handler: schedctl_stats,
            },
            Subcommand {
                name: "stress",
                usage: "<threads>",
                summary: "spawn, run and join N worker threads (1-1000)",
                handler: schedctl_stress,
            },
        ],
    );
}

fn cmd_version(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    w(writeln!(
        out,
        "Nous {} (x86_64, PVH, single CPU)",
        env!("CARGO_PKG_VERSION")
    ))
}

fn cmd_uptime(ctx: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let ns = hal::time::now_ns();
    w(write!(
        out,
        "up {}.{:03} s",
        ns / 1_000_000_000,
        (ns / 1_000_000) % 1000
    ))?;
    match (hal::time::wall_clock(), ctx.boot.wall_clock_error) {
        (Some(now), _) => w(writeln!(out, ", wall clock {now}")),
        (None, Some(why)) => w(writeln!(out, ", no wall clock ({why})")),
        (None, None) => w(writeln!(out, ", no wall clock")),
    }
}

fn cmd_echo(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let mut first = true;
    for a in args {
        if !first {
            w(out.write_str(" "))?;
        }
        w(out.write_str(a))?;
        first = false;
    }
    w(writeln!(out))
}

fn cmd_shutdown(ctx: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    for subsystem in ctx.subsystems.iter().rev() {
        if let Some(problem) = (subsystem.stop)() {
            w(writeln!(out, "{problem}"))?;
        }
    }
    w(writeln!(out, "shutting down"))?;
    exit_qemu(ExitCode::Success)
}

fn cmd_meminfo(ctx: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let s = hal::mem::frames::stats();
    let kib = |pages: u64| pages * PAGE_SIZE / 1024;
    w(writeln!(
        out,
        "memory: total {} KiB, free {} KiB, used {} KiB",
        kib(s.total_pages),
        kib(s.free_pages),
        kib(s.total_pages - s.free_pages)
    ))?;
    w(write!(out, "free blocks by order:"))?;
    for (order, n) in s.free_blocks_by_order.iter().enumerate() {
        w(write!(out, " {order}:{n}"))?;
    }
    w(writeln!(out))?;
    match s.largest_free_order {
        Some(o) => w(writeln!(
            out,
            "largest free block: order {o} ({} KiB)",
            kib(1 << o)
        ))?,
        None => w(writeln!(out, "largest free block: none"))?,
    }
    w(write!(
        out,
        "fragmentation (unusable free space index, permille) by order:"
    ))?;
    for (order, f) in s.unusable_free_space_index().iter().enumerate() {
        w(write!(out, " {order}:{f}"))?;
    }
    w(writeln!(out))?;
    let map = ctx.boot.memory_map();
    w(writeln!(
        out,
        "firmware map: {} regions, {} KiB usable RAM (the rest of it holds the kernel image, the frame metadata and the low 1 MiB)",
        map.len(),
        ctx.boot.frames.usable_bytes / 1024
    ))?;
    let h = hal::mem::heap::stats();
    w(writeln!(
        out,
        "heap: mapped {} KiB, used {} KiB, failed allocations {}; kernel stacks: {}",
        h.mapped_bytes / 1024,
        h.used_bytes / 1024,
        h.failures,
        hal::task::stacks_in_use()
    ))?;
    // The language model's share of the heap, read through the metrics registry (the
    // foundation does not import the llm subsystem).
    if let (Some(model), Some(budget)) = (
        crate::kmetrics::value_i64("nous_llm_model_bytes"),
        crate::kmetrics::value_i64("nous_llm_model_budget_bytes"),
    ) {
        w(writeln!(
            out,
            "language model: {} KiB of heap (budget {} KiB)",
            model / 1024,
            budget / 1024
        ))?;
    }
    Ok(())
}

fn memctl_stats(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let s = hal::mem::frames::stats();
    w(writeln!(
        out,
        "allocations: {}  frees: {}",
        s.alloc_count, s.free_count
    ))?;
    w(write!(out, "failures by order:"))?;
    for order in 0..ORDERS {
        w(write!(out, " {order}:{}", s.failures_by_order[order]))?;
    }
    w(writeln!(out))?;
    for class in MigrateType::ALL {
        w(writeln!(
            out,
            "allocated pages ({class:?}): {}",
            s.allocated_pages_by_class[class.index()]
        ))?;
    }
    Ok(())
}

fn schedctl_stats(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let Some(s) = hal::task::with_scheduler(|s| s.stats()) else {
        return Err(CommandError::failed("scheduler not running"));
    };
    w(writeln!(out, "policy: {}", s.policy))?;
    w(writeln!(
        out,
        "switches: {} (voluntary {}, involuntary {})  decisions: {}  idle dispatches: {}",
        s.switches, s.voluntary_switches, s.involuntary_switches, s.decisions, s.idle_dispatches
    ))?;
    w(writeln!(
        out,
        "threads: {}  runnable: {}  policy faults: {}  policy swaps: {}",
        s.threads, s.runnable, s.policy_faults, s.policy_swaps
    ))?;
    // The policy's own figures (decision latency, training, starvation guard), if any.
    let mut report = String::new();
    let _ = hal::task::with_scheduler(|s| s.policy_report(&mut report));
    if !report.is_empty() {
        w(writeln!(out, "{}", report.trim_end()))?;
    }
    Ok(())
}

fn schedctl_stress(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let n: u32 = parse_arg("threads", required_arg(args, 0, "threads")?)?;
    if !(1..=1000).contains(&n) {
        return Err(CommandError::usage("threads must be between 1 and 1000"));
    }
    let report = super::stress::run_threads(n).map_err(CommandError::failed)?;
    w(writeln!(
        out,
        "stress: spawned {}, joined {}, checksum ok: {}",
        report.spawned, report.joined, report.checksum_ok
    ))
}

fn cmd_ps(_: &mut KernelCtx, _: &[&str], out: Out) -> CmdResult {
    let threads = hal::task::threads();
    let now = hal::time::now_ns();
    w(writeln!(
        out,
        "TID  NAME             STATE      PRIO      CPU_MS   WAIT_MS  BLOCK_MS  SLEEP_MS  SCHED   VOL  INVOL   AGE_MS  START_MS  END_MS"
    ))?;
    let ms = |ns: u64| ns / 1_000_000;
    for t in threads {
        let a = &t.accounting;
        let state = match t.state {
            sched::ThreadState::Runnable => "runnable",
            sched::ThreadState::Running => "running",
            sched::ThreadState::Blocked(_) => "blocked",
            sched::ThreadState::Sleeping { .. } => "sleeping",
            sched::ThreadState::Exited { .. } => "exited",
        };
        let end = a.completed_ns.unwrap_or(now);
        w(writeln!(
            out,
            "{:<4} {:<16} {:<10} {:<8} {:>7} {:>9} {:>9} {:>9} {:>6} {:>5} {:>6} {:>8} {:>9} {:>7}",
            t.id.0,
            t.name,
            state,
            alloc::format!("{:?}", t.priority),
            ms(a.cpu_ns),
            ms(a.runnable_wait_ns),
            ms(a.blocked_ns),
            ms(a.sleep_ns),
            a.times_scheduled,
            a.voluntary_switches,
            a.involuntary_switches,
            ms(end.saturating_sub(a.created_ns)),
            ms(a.created_ns),
            a.completed_ns
                .map(|c| alloc::format!("{}", ms(c)))
                .unwrap_or_else(|| String::from("-")),
        ))?;
    }
    Ok(())
}

fn cmd_metrics(_: &mut KernelCtx, args: &[&str], out: Out) -> CmdResult {
    let registry = crate::kmetrics::registry();
    match args.first().copied().unwrap_or("prometheus") {
        "prometheus" => w(registry.write_prometheus(out)),
        "json" => {
            let json = registry
                .to_json()
                .map_err(|e| CommandError::failed(alloc::format!("{e}")))?;
            w(writeln!(out, "{json}"))
        }
        other => Err(CommandError::usage(alloc::format!(
            "unknown format '{other}' (expected prometheus or json)"
        ))),
    }
}

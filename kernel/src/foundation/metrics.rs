//! The foundation's metrics: memory, buddy allocations and failures, fragmentation per order,
//! heap, context switches, threads, uptime. All are *computed*: they read the allocator,
//! scheduler and heap statistics at export time, so the hot paths pay nothing.

use metrics::{Descriptor, Label, Metric, MetricKind, MetricsRegistry, Value};

use crate::kmetrics::Computed;

/// The unusable-free-space index for one order, in permille.
pub struct Fragmentation {
    descriptor: Descriptor,
    order: usize,
}

impl Metric for Fragmentation {
    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }
    fn kind(&self) -> MetricKind {
        MetricKind::Gauge
    }
    fn value(&self) -> Value {
        let index = hal::mem::frames::stats().unusable_free_space_index();
        Value::Signed(index.get(self.order).copied().map(i64::from).unwrap_or(-1))
    }
}

const PAGE: u64 = buddy::PAGE_SIZE;

fn sched_stats() -> Option<sched::SchedStats> {
    hal::task::with_scheduler(|s| s.stats())
}

static MEMORY_TOTAL: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_memory_total_bytes",
    "Physical memory managed by the buddy allocator, in bytes.",
    &[],
    || Value::Unsigned(hal::mem::frames::stats().total_pages * PAGE),
);
static MEMORY_FREE: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_memory_free_bytes",
    "Free physical memory, in bytes.",
    &[],
    || Value::Unsigned(hal::mem::frames::stats().free_pages * PAGE),
);
static BUDDY_ALLOCS: Computed = Computed::new(
    MetricKind::Counter,
    "nous_buddy_allocations_total",
    "Successful buddy allocations since boot.",
    &[],
    || Value::Unsigned(hal::mem::frames::stats().alloc_count),
);
static BUDDY_FAILURES: Computed = Computed::new(
    MetricKind::Counter,
    "nous_buddy_allocation_failures_total",
    "Buddy allocations that failed for lack of a large enough free block, all orders.",
    &[],
    || Value::Unsigned(hal::mem::frames::stats().failures_by_order.iter().sum()),
);
static HEAP_MAPPED: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_heap_mapped_bytes",
    "Bytes mapped into the kernel heap.",
    &[],
    || Value::Unsigned(hal::mem::heap::stats().mapped_bytes),
);
static SWITCHES_VOLUNTARY: Computed = Computed::new(
    MetricKind::Counter,
    "nous_sched_context_switches_total",
    "Context switches since boot, by cause.",
    &[Label::new("cause", "voluntary")],
    || Value::Unsigned(sched_stats().map(|s| s.voluntary_switches).unwrap_or(0)),
);
static SWITCHES_INVOLUNTARY: Computed = Computed::new(
    MetricKind::Counter,
    "nous_sched_context_switches_total",
    "Context switches since boot, by cause.",
    &[Label::new("cause", "preempted")],
    || Value::Unsigned(sched_stats().map(|s| s.involuntary_switches).unwrap_or(0)),
);
static THREADS: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_sched_threads",
    "Threads in the scheduler's table (idle, live and exited-not-reaped).",
    &[],
    || Value::Unsigned(sched_stats().map(|s| s.threads as u64).unwrap_or(0)),
);
static CONSOLE_LOST: Computed = Computed::new(
    MetricKind::Counter,
    "nous_console_input_lost_bytes_total",
    "Serial input bytes lost before reaching the shell (the line they belonged to is refused).",
    &[],
    || Value::Unsigned(hal::console::input_lost_bytes()),
);
static CONSOLE_PAUSES: Computed = Computed::new(
    MetricKind::Counter,
    "nous_console_input_pauses_total",
    "Times serial input was held back (flow control) because the shell was behind.",
    &[],
    || Value::Unsigned(hal::console::input_pauses()),
);
static UPTIME: Computed = Computed::new(
    MetricKind::Gauge,
    "nous_uptime_seconds",
    "Seconds since the timer started.",
    &[],
    || Value::Float(hal::time::now_ns() as f64 / 1e9),
);

macro_rules! fragmentation {
    ($($order:literal),*) => {
        [$(Fragmentation {
            descriptor: Descriptor {
                name: "nous_buddy_fragmentation_permille",
                help: "Unusable free space index (Gorman & Whitcroft) for a request of the given order, in permille.",
                labels: &[Label::new("order", stringify!($order))],
            },
            order: $order,
        }),*]
    };
}

static FRAGMENTATION: [Fragmentation; 11] = fragmentation!(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);

/// Registers the foundation's series.
pub fn register(r: &mut MetricsRegistry) {
    let fixed: [&'static dyn Metric; 11] = [
        &MEMORY_TOTAL,
        &MEMORY_FREE,
        &BUDDY_ALLOCS,
        &BUDDY_FAILURES,
        &HEAP_MAPPED,
        &SWITCHES_VOLUNTARY,
        &SWITCHES_INVOLUNTARY,
        &THREADS,
        &UPTIME,
        &CONSOLE_LOST,
        &CONSOLE_PAUSES,
    ];
    // Names and label sets are distinct literals; a refusal would only drop that series,
    // which the in-kernel test of the registry catches.
    let _ = r.register_all(&fixed);
    for f in FRAGMENTATION.iter() {
        let _ = r.register(f);
    }
}

//! Kernel threads: stacks with guard pages, spawning, the context-switch glue and blocking.
//!
//! Every decision — who runs, sleep and wait-queue bookkeeping, accounting — is made by the
//! pure [`sched::Scheduler`] state machine; this module owns what it cannot: the stacks, the
//! saved stack pointers and the switch itself. All calls into the scheduler happen with
//! interrupts disabled, and a blocking call checks its condition and blocks in one critical
//! section, so a wake-up from an interrupt handler cannot be lost in between.
//!
//! Stacks live in their own virtual region ([`layout::KERNEL_STACKS_BASE`]); each occupies the
//! top of a 2 MiB slot whose lower pages stay unmapped, so an overflow faults (on its own IST,
//! see [`crate::arch::gdt`]) instead of corrupting a neighbour. An exited thread's stack is freed
//! by the next thread to run (a thread cannot free the stack it is running on); its scheduler
//! record stays until it is joined (or, for detached threads, reaped automatically).

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use buddy::MigrateType;
use sched::{
    JoinStatus, Priority, SchedError, SchedPolicy, Scheduler, SwitchReason, ThreadId, ThreadInfo,
    WaitQueueId,
};
use x86_64::instructions::interrupts;

use crate::arch::context;
use crate::mem::layout::{KERNEL_STACKS_BASE, MAX_KERNEL_STACKS, PAGE_SIZE, STACK_SLOT_SIZE};
use crate::mem::{frames, paging};
use crate::sync::IrqMutex;

/// Default kernel stack size.
pub const DEFAULT_STACK_SIZE: u64 = 64 * 1024;

struct KernelStack {
    slot: u64,
    pages: u64,
}

impl KernelStack {
    fn top(&self) -> u64 {
        KERNEL_STACKS_BASE + (self.slot + 1) * STACK_SLOT_SIZE
    }
}

type Entry = Box<dyn FnOnce() -> i64 + Send + 'static>;

struct KThread {
    saved_rsp: u64,
    /// None for the boot context (idle), which runs on the boot stack.
    stack: Option<KernelStack>,
    /// Reaped automatically at exit: nobody will join it.
    detached: bool,
}

struct Runtime {
    sched: Scheduler,
    threads: BTreeMap<ThreadId, Box<KThread>>,
    free_slots: Vec<u64>,
    next_slot: u64,
    dead_stacks: Vec<KernelStack>,
    /// Detached threads that exited: their records go once the switch away from them is done.
    dead_records: Vec<ThreadId>,
    console_queue: WaitQueueId,
}

static RT: IrqMutex<Option<Runtime>> = IrqMutex::new(None);

/// Why a thread could not be created or joined.
#[derive(Debug)]
pub enum TaskError {
    NotInitialised,
    AlreadyInitialised,
    /// No frames or virtual slot for the stack, or no heap for the records.
    OutOfMemory,
    Sched(SchedError),
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::NotInitialised => write!(f, "threads are not initialised"),
            TaskError::AlreadyInitialised => write!(f, "threads are already initialised"),
            TaskError::OutOfMemory => write!(f, "out of memory for a thread stack"),
            TaskError::Sched(e) => write!(f, "{e}"),
        }
    }
}

impl From<SchedError> for TaskError {
    fn from(e: SchedError) -> Self {
        TaskError::Sched(e)
    }
}

/// A wait queue threads can block on (a thin handle on the scheduler's queue id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitQueue(WaitQueueId);

impl WaitQueue {
    /// A new queue.
    pub fn new() -> Result<Self, TaskError> {
        with_runtime(|rt| Ok(WaitQueue(rt.sched.create_wait_queue()?)))
    }

    /// The queue the console input interrupt wakes.
    pub fn console_input() -> Option<Self> {
        RT.lock().as_ref().map(|rt| WaitQueue(rt.console_queue))
    }
}

fn with_runtime<R>(f: impl FnOnce(&mut Runtime) -> Result<R, TaskError>) -> Result<R, TaskError> {
    let mut guard = RT.lock();
    match guard.as_mut() {
        Some(rt) => f(rt),
        None => Err(TaskError::NotInitialised),
    }
}

/// Read access to the scheduler (for `ps`, `schedctl stats`).
pub fn with_scheduler<R>(f: impl FnOnce(&Scheduler) -> R) -> Option<R> {
    RT.lock().as_ref().map(|rt| f(&rt.sched))
}

/// Installs a new scheduling policy at run time (every runnable thread moves to it) and
/// returns the previous one.
pub fn set_policy(policy: Box<dyn SchedPolicy>) -> Result<Box<dyn SchedPolicy>, TaskError> {
    with_runtime(|rt| Ok(rt.sched.set_policy(policy, crate::time::now_ns())))
}

/// Sets up the scheduler with `policy`; the calling (boot) context becomes the idle thread.
/// Only the first call does anything: a second one is refused with
/// [`TaskError::AlreadyInitialised`] (replacing the runtime would orphan every live thread).
pub fn init(policy: Box<dyn SchedPolicy>) -> Result<(), TaskError> {
    if RT.lock().is_some() {
        return Err(TaskError::AlreadyInitialised);
    }
    let now = crate::time::now_ns();
    let mut sched = Scheduler::new(policy, now);
    let console_queue = sched.create_wait_queue()?;
    let mut threads = BTreeMap::new();
    threads.insert(
        ThreadId::IDLE,
        Box::new(KThread {
            saved_rsp: 0,
            stack: None,
            detached: false,
        }),
    );
    let mut rt = RT.lock();
    if rt.is_some() {
        return Err(TaskError::AlreadyInitialised);
    }
    *rt = Some(Runtime {
        sched,
        threads,
        free_slots: Vec::new(),
        next_slot: 0,
        dead_stacks: Vec::new(),
        dead_records: Vec::new(),
        console_queue,
    });
    Ok(())
}

fn alloc_stack(rt: &mut Runtime, size: u64) -> Result<KernelStack, TaskError> {
    let pages = size
        .div_ceil(PAGE_SIZE)
        .clamp(1, STACK_SLOT_SIZE / PAGE_SIZE - 1);
    let slot = match rt.free_slots.pop() {
        Some(s) => s,
        None if rt.next_slot < MAX_KERNEL_STACKS => {
            rt.next_slot += 1;
            rt.next_slot - 1
        }
        None => return Err(TaskError::OutOfMemory),
    };
    let stack = KernelStack { slot, pages: 0 };
    let top = stack.top();
    let mut stack = stack;
    for i in 1..=pages {
        let mapped = frames::alloc(0, MigrateType::Unmovable)
            .map_err(|_| TaskError::OutOfMemory)
            .and_then(|f| {
                // SAFETY: the slot was taken from the free list or fresh (so no other stack
                // uses its pages), the runtime lock gives this thread exclusive use of the slot
                // table, and `f` was just allocated for this stack.
                unsafe { paging::map_page(top - i * PAGE_SIZE, f) }.map_err(|_| {
                    let _ = frames::free(f, 0);
                    TaskError::OutOfMemory
                })
            });
        if let Err(e) = mapped {
            free_stack(rt, stack);
            return Err(e);
        }
        stack.pages = i;
    }
    Ok(stack)
}

fn free_stack(rt: &mut Runtime, stack: KernelStack) {
    let top = stack.top();
    for i in 1..=stack.pages {
        // SAFETY: the slot belongs to this stack, whose thread has exited (or never ran), so no
        // reference into its pages remains; the slot goes back to the free list only after.
        if let Some(phys) = unsafe { paging::unmap_page(top - i * PAGE_SIZE) } {
            let _ = frames::free(phys, 0);
        }
    }
    rt.free_slots.push(stack.slot);
}

/// Options for [`spawn_with`].
#[derive(Clone, Copy, Debug)]
pub struct SpawnOptions {
    pub priority: Priority,
    pub stack_size: u64,
    /// Reap the thread's record automatically when it exits (it cannot be joined).
    pub detached: bool,
}

impl Default for SpawnOptions {
    fn default() -> Self {
        Self {
            priority: Priority::Normal,
            stack_size: DEFAULT_STACK_SIZE,
            detached: false,
        }
    }
}

/// Spawns a joinable kernel thread at normal priority running `f`; its return value is the
/// exit code [`join`] returns.
pub fn spawn(name: &str, f: impl FnOnce() -> i64 + Send + 'static) -> Result<ThreadId, TaskError> {
    spawn_with(name, SpawnOptions::default(), f)
}

/// Spawns a kernel thread with explicit options.
pub fn spawn_with(
    name: &str,
    opts: SpawnOptions,
    f: impl FnOnce() -> i64 + Send + 'static,
) -> Result<ThreadId, TaskError> {
    let entry: Box<Entry> = Box::new(Box::new(f));
    let arg = Box::into_raw(entry);
    let result = with_runtime(|rt| {
        let stack = alloc_stack(rt, opts.stack_size)?;
        let now = crate::time::now_ns();
        let tid = match rt.sched.spawn(name, opts.priority, now) {
            Ok(t) => t,
            Err(e) => {
                free_stack(rt, stack);
                return Err(e.into());
            }
        };
        // SAFETY: the stack's top page(s) were just mapped writable for this thread alone and
        // the slot top is 2 MiB (thus 16-byte) aligned.
        let rsp = unsafe { context::prepare_stack(stack.top(), 0, arg as u64) };
        rt.threads.insert(
            tid,
            Box::new(KThread {
                saved_rsp: rsp,
                stack: Some(stack),
                detached: opts.detached,
            }),
        );
        Ok(tid)
    });
    if result.is_err() {
        // SAFETY: the thread was not created, so `arg` was never handed to a trampoline and this
        // is its only owner.
        drop(unsafe { Box::from_raw(arg) });
    }
    result
}

#[unsafe(no_mangle)]
extern "C" fn hal_thread_start(_entry: u64, arg: u64) -> ! {
    finish_switch();
    // SAFETY: `arg` is the Box::into_raw pointer spawn_with stored in this thread's initial
    // frame; the trampoline passes it here exactly once.
    let entry: Box<Entry> = unsafe { Box::from_raw(arg as *mut Entry) };
    interrupts::enable();
    let code = entry();
    exit(code)
}

/// Work to do after every switch, on the stack of the thread now running.
fn finish_switch() {
    let mut guard = RT.lock();
    if let Some(rt) = guard.as_mut() {
        while let Some(stack) = rt.dead_stacks.pop() {
            free_stack(rt, stack);
        }
        while let Some(tid) = rt.dead_records.pop() {
            rt.threads.remove(&tid);
        }
    }
}

/// Core of every switch: with interrupts off, asks `decide` for a reason to leave the CPU
/// (None = keep running), lets the scheduler pick, and switches stacks.
fn switch_with(decide: impl FnOnce(&mut Runtime) -> Option<SwitchReason>) {
    let were_enabled = interrupts::are_enabled();
    interrupts::disable();
    let plan = {
        let mut guard = RT.lock();
        let Some(rt) = guard.as_mut() else {
            if were_enabled {
                interrupts::enable();
            }
            return;
        };
        match decide(rt) {
            None => None,
            Some(reason) => {
                let now = crate::time::now_ns();
                match rt.sched.schedule(now, reason) {
                    Ok(sw) if sw.is_switch() => {
                        if let (SwitchReason::Exit { .. }, Some(t)) =
                            (reason, rt.threads.get_mut(&sw.from))
                        {
                            if let Some(stack) = t.stack.take() {
                                rt.dead_stacks.push(stack);
                            }
                            if t.detached {
                                let _ = rt.sched.reap(sw.from);
                                rt.dead_records.push(sw.from);
                            }
                        }
                        let to = rt.threads.get(&sw.to).map(|t| t.saved_rsp);
                        let from = rt
                            .threads
                            .get_mut(&sw.from)
                            .map(|t| &mut t.saved_rsp as *mut u64);
                        match (from, to) {
                            (Some(f), Some(t)) => Some((f, t)),
                            _ => None,
                        }
                    }
                    _ => None,
                }
            }
        }
    };
    if let Some((save, resume)) = plan {
        // SAFETY: interrupts are off; `save` points into the Box<KThread> of the current thread,
        // which stays in the table until that thread is joined (a detached thread's box is removed
        // only by finish_switch, after this switch completed); `resume` is the saved rsp of a thread
        // whose stack is still mapped (stacks are freed only after their thread exited, and an
        // exited thread is never scheduled again).
        unsafe { context::switch(save, resume) };
        finish_switch();
    }
    if were_enabled {
        interrupts::enable();
    }
}

/// Gives up the CPU; the thread stays runnable.
pub fn yield_now() {
    switch_with(|_| Some(SwitchReason::Yield));
}

/// Sleeps at least `ns` nanoseconds (timer resolution: 1 ms). The idle thread (the boot
/// context after `init`) must stay runnable, so there it returns at once: idle code waits by
/// yielding instead.
pub fn sleep_ns(ns: u64) {
    let until_ns = crate::time::now_ns().saturating_add(ns);
    switch_with(|_| Some(SwitchReason::Sleep { until_ns }));
}

/// Ends the calling thread with `code`.
pub fn exit(code: i64) -> ! {
    switch_with(|_| Some(SwitchReason::Exit { code }));
    // Only reachable if the scheduler refused (e.g. the idle thread tried to exit).
    crate::arch::cpu::halt_forever()
}

/// Blocks until `target` exits, reaps it and returns its exit code.
pub fn join(target: ThreadId) -> Result<i64, TaskError> {
    loop {
        let mut outcome: Option<Result<i64, TaskError>> = None;
        switch_with(|rt| match rt.sched.join(target) {
            Ok(JoinStatus::Exited(code)) => {
                outcome = Some(rt.sched.reap(target).map(|_| code).map_err(TaskError::from));
                if let Some(stack) = rt.threads.remove(&target).and_then(|t| t.stack) {
                    rt.dead_stacks.push(stack);
                }
                None
            }
            Ok(JoinStatus::MustWait(q)) => Some(SwitchReason::Block(q)),
            Err(e) => {
                outcome = Some(Err(e.into()));
                None
            }
        });
        if let Some(r) = outcome {
            finish_switch();
            return r;
        }
    }
}

/// Runs `poll` until it yields a value, blocking on `queue` between attempts. The check and
/// the block happen in one interrupt-free section, so a wake between them is not lost.
pub fn wait_until<T>(queue: WaitQueue, mut poll: impl FnMut() -> Option<T>) -> T {
    loop {
        let mut got = None;
        switch_with(|_| {
            got = poll();
            if got.is_some() {
                None
            } else {
                Some(SwitchReason::Block(queue.0))
            }
        });
        if let Some(v) = got {
            return v;
        }
    }
}

/// Wakes every thread blocked on `queue` (callable from interrupt handlers).
pub fn wake_all(queue: WaitQueue) {
    let _ = with_runtime(|rt| Ok(rt.sched.wake_all(queue.0, crate::time::now_ns())?));
}

/// Wakes the longest-waiting thread on `queue`.
pub fn wake_one(queue: WaitQueue) {
    let _ = with_runtime(|rt| Ok(rt.sched.wake_one(queue.0, crate::time::now_ns())?));
}

/// Timer interrupt hook: wakes sleepers and preempts when the scheduler says so.
pub(crate) fn on_timer_tick() {
    switch_with(|rt| {
        rt.sched
            .tick(crate::time::now_ns())
            .then_some(SwitchReason::Preempted)
    });
}

/// After an interrupt woke a thread: if the CPU is idle, switch to it now instead of waiting
/// for the next tick.
pub(crate) fn preempt_idle() {
    switch_with(|rt| {
        (rt.sched.current() == ThreadId::IDLE && rt.sched.stats().runnable > 0)
            .then_some(SwitchReason::Preempted)
    });
}

/// The idle loop: halts until an interrupt makes something runnable.
pub fn idle_loop() -> ! {
    loop {
        preempt_idle();
        crate::arch::cpu::enable_interrupts_and_halt();
    }
}

/// The calling thread's id.
pub fn current() -> Option<ThreadId> {
    with_scheduler(|s| s.current())
}

/// Snapshot of all threads for `ps`.
pub fn threads() -> Vec<ThreadInfo> {
    with_scheduler(|s| s.threads(crate::time::now_ns())).unwrap_or_default()
}

/// Kernel stacks currently mapped (a leak check for tests).
pub fn stacks_in_use() -> u64 {
    RT.lock()
        .as_ref()
        .map(|rt| rt.next_slot - rt.free_slots.len() as u64)
        .unwrap_or(0)
}

/// The virtual range of the stack slot containing `addr`, if `addr` is in the stack region
/// (used by the fault report to name a guard-page hit).
pub fn stack_slot_of(addr: u64) -> Option<(u64, u64)> {
    if !(KERNEL_STACKS_BASE..KERNEL_STACKS_BASE + MAX_KERNEL_STACKS * STACK_SLOT_SIZE)
        .contains(&addr)
    {
        return None;
    }
    let base = KERNEL_STACKS_BASE + (addr - KERNEL_STACKS_BASE) / STACK_SLOT_SIZE * STACK_SLOT_SIZE;
    Some((base, base + STACK_SLOT_SIZE))
}

/// Writes the running thread's name for fault reports; never blocks or allocates (the fault
/// may have happened with the scheduler or heap lock held).
pub(crate) fn write_current_name(w: &mut impl fmt::Write) {
    let _ = match RT.try_lock() {
        Some(guard) => match guard.as_ref() {
            Some(rt) => {
                let cur = rt.sched.current();
                match rt.sched.thread(cur) {
                    Some(t) => write!(w, "{} ({cur})", t.name()),
                    None => write!(w, "{cur}"),
                }
            }
            None => write!(w, "boot"),
        },
        None => write!(w, "? (scheduler lock held)"),
    };
}

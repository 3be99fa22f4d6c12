//! Workload runs: the actors of an `oom::Scenario` as kernel threads, each executing its
//! script against the movable pool (`memctl stress`, and every run of `crashctl eval`).
//!
//! One run at a time. Each actor gets a pool owner, a unique [`ActorId`] (the growth tracker's
//! owner id, never reused) and a thread that loops: check its kill flag and the run's stop
//! flag, ask the script for the next step with the run's clock and the pages it holds, execute
//! it. An allocation that is refused by the watermark or that the buddy allocator cannot serve
//! OOM-kills the actor (a `Cache` actor skips it instead, as the contract says): its memory is
//! freed, the kill is logged and reported to the predictor as the outcome. The response ladder
//! kills through [`kill`], which frees the victim's memory at once and raises its kill flag;
//! the thread notices at its next step. Sleeps are cut into 50 ms slices so flags are seen
//! promptly. Neighbours: `pool` (memory), `state` (where OOM kills, actors gone and the run's
//! start are reported to the supervisor); the sampler (`monitor`) reads [`run_info`] and
//! calls [`kill`].

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use buddy::MigrateType;
use hal::sync::IrqMutex;
use hal::task::{self, SpawnOptions};
use oom::{OomKill, OwnerId, Role, Scenario, ScenarioKind, Step};

use super::pool::{self, Owner, PoolError};
use super::state;

/// Most actors in one run: the scenario families have up to 14 (storm: a bystander, a cache
/// and twelve short-lived threads; forkburst: a bystander, a cache, a dispatcher and eleven
/// workers). Each actor costs a kernel thread (a 64 KiB stack) and a pool owner slot
/// (`pool::MAX_OWNERS`); a scenario with more actors is refused, never truncated.
pub const MAX_ACTORS: usize = 14;

/// A unique id for an actor, across runs (the growth tracker's owner id).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActorId(pub u32);

/// What became of an actor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActorState {
    Running,
    /// Its script ended, or the run was stopped.
    Finished,
    /// Killed by an OOM at this time (ms since the run started), for a request of `order`.
    OomKilled {
        t_ms: u64,
        order: u8,
    },
    /// Killed by the response ladder at this time (ms since the run started).
    LadderKilled {
        t_ms: u64,
    },
}

/// One actor, as `memctl stress status` and the sampler see it.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    pub id: ActorId,
    pub role: Role,
    pub owner: Owner,
    pub state: ActorState,
    /// The thread has returned its owner slot.
    pub exited: bool,
}

/// The current (or last) run.
#[derive(Clone, Copy, Debug)]
pub struct RunInfo {
    pub kind: ScenarioKind,
    pub seed: u64,
    pub started_ms: u64,
    pub duration_ms: u64,
    /// The order the `fragment` consumer needs (0 otherwise).
    pub high_order: u8,
    pub actors: [Option<Actor>; MAX_ACTORS],
    /// First OOM kill, ms since the start.
    pub first_oom_ms: Option<u64>,
}

impl RunInfo {
    /// Whether any actor thread is still running.
    pub fn active(&self) -> bool {
        self.actors.iter().flatten().any(|a| !a.exited)
    }
}

static RUN: IrqMutex<Option<RunInfo>> = IrqMutex::new(None);
static STOP: AtomicBool = AtomicBool::new(false);
/// Start of the current run's clock (ms since boot), 0 while the actors do their setup.
static ORIGIN_MS: AtomicU64 = AtomicU64::new(0);
/// Actors of the current run that finished their setup (or exited during it).
static READY: AtomicU64 = AtomicU64::new(0);
/// Longest wait for the actors' setup.
const SETUP_TIMEOUT_MS: u64 = 60_000;
static NEXT_ACTOR: AtomicU64 = AtomicU64::new(1);
/// Kill flags, by actor slot in the run.
static KILLED: [AtomicBool; MAX_ACTORS] = [const { AtomicBool::new(false) }; MAX_ACTORS];

/// Why a run could not start.
#[derive(Clone, Copy, Debug)]
pub enum StartError {
    Busy,
    /// The scenario has more actors than [`MAX_ACTORS`].
    TooManyActors(usize),
    Pool(PoolError),
    Spawn,
}

impl core::fmt::Display for StartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            StartError::Busy => write!(
                f,
                "a workload is already running (memctl stress stop ends it)"
            ),
            StartError::TooManyActors(n) => write!(
                f,
                "the scenario has {n} actors, the kernel runs at most {MAX_ACTORS}"
            ),
            StartError::Pool(e) => write!(f, "{e}"),
            StartError::Spawn => write!(f, "cannot start the actor threads"),
        }
    }
}

fn now_ms() -> u64 {
    hal::time::now_ns() / 1_000_000
}

/// A snapshot of the current or last run.
pub fn run_info() -> Option<RunInfo> {
    *RUN.lock()
}

/// Whether a run's threads are still going.
pub fn active() -> bool {
    RUN.lock().as_ref().is_some_and(RunInfo::active)
}

/// Starts the scenario `kind` with `seed` over the pages free now and returns once every
/// actor has done its setup (the steps before its first `Sleep`): the contract puts setup at
/// time 0, before sampling starts, so the run's clock and a fresh predictor start only then.
pub fn start(kind: ScenarioKind, seed: u64) -> Result<RunInfo, StartError> {
    let total = hal::mem::frames::stats().free_pages;
    let scenario = Scenario::new(kind, seed, total);
    if scenario.actors.len() > MAX_ACTORS {
        return Err(StartError::TooManyActors(scenario.actors.len()));
    }
    {
        let mut run = RUN.lock();
        if run.as_ref().is_some_and(RunInfo::active) {
            return Err(StartError::Busy);
        }
        *run = Some(RunInfo {
            kind,
            seed,
            started_ms: now_ms(),
            duration_ms: scenario.duration_ms,
            high_order: scenario.high_order,
            actors: [None; MAX_ACTORS],
            first_oom_ms: None,
        });
    }
    STOP.store(false, Ordering::SeqCst);
    ORIGIN_MS.store(0, Ordering::SeqCst);
    READY.store(0, Ordering::SeqCst);
    state::run_setup();
    let mut spawned = 0;
    let mut failure = None;
    for (slot, script) in scenario.actors.into_iter().enumerate() {
        let owner = match pool::register_owner() {
            Ok(o) => o,
            Err(e) => {
                failure = Some(StartError::Pool(e));
                break;
            }
        };
        let actor = Actor {
            id: ActorId(NEXT_ACTOR.fetch_add(1, Ordering::Relaxed) as u32),
            role: script.role(),
            owner,
            state: ActorState::Running,
            exited: false,
        };
        KILLED[slot].store(false, Ordering::SeqCst);
        if let Some(run) = RUN.lock().as_mut() {
            run.actors[slot] = Some(actor);
        }
        let duration_ms = scenario.duration_ms;
        let thread = task::spawn_with(
            actor_name(actor.role),
            SpawnOptions {
                detached: true,
                ..SpawnOptions::default()
            },
            move || {
                run_actor(slot, actor, script, duration_ms);
                0
            },
        );
        if thread.is_err() {
            pool::retire(owner);
            mark(slot, |a| {
                a.state = ActorState::Finished;
                a.exited = true;
            });
            failure = Some(StartError::Spawn);
            break;
        }
        spawned += 1;
    }
    if failure.is_some() {
        stop();
    }
    // Wait for every actor's setup (bounded: a stuck setup must not hang the shell).
    let deadline = now_ms() + SETUP_TIMEOUT_MS;
    while READY.load(Ordering::SeqCst) < spawned && now_ms() < deadline {
        task::sleep_ns(10_000_000);
    }
    let origin = now_ms().max(1);
    if let Some(run) = RUN.lock().as_mut() {
        run.started_ms = origin;
    }
    state::run_started(origin);
    ORIGIN_MS.store(origin, Ordering::SeqCst);
    match failure {
        Some(e) => Err(e),
        None => run_info().ok_or(StartError::Spawn),
    }
}

fn actor_name(role: Role) -> &'static str {
    match role {
        Role::Culprit => "oom-culprit",
        Role::Bystander => "oom-bystander",
        Role::Cache => "oom-cache",
        Role::Fragmenter => "oom-fragmenter",
        Role::Consumer => "oom-consumer",
    }
}

/// Asks every actor of the current run to stop; their memory is freed as they exit.
pub fn stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Waits (sleeping) until no actor thread is left, at most `timeout_ms`. True when idle.
pub fn wait_idle(timeout_ms: u64) -> bool {
    let deadline = now_ms() + timeout_ms;
    while active() {
        if now_ms() >= deadline {
            return false;
        }
        task::sleep_ns(20_000_000);
    }
    true
}

fn mark(slot: usize, f: impl FnOnce(&mut Actor)) {
    if let Some(actor) = RUN.lock().as_mut().and_then(|r| r.actors[slot].as_mut()) {
        f(actor);
    }
}

fn stopping(slot: usize) -> bool {
    STOP.load(Ordering::SeqCst) || KILLED[slot].load(Ordering::SeqCst)
}

/// Time on the run's clock: 0 during setup.
fn run_ms() -> u64 {
    match ORIGIN_MS.load(Ordering::SeqCst) {
        0 => 0,
        origin => now_ms().saturating_sub(origin),
    }
}

fn run_actor(slot: usize, actor: Actor, mut script: oom::scenario::ActorScript, duration_ms: u64) {
    let owner = actor.owner;
    let mut in_setup = true;
    'script: loop {
        let elapsed = run_ms();
        if stopping(slot) || (!in_setup && elapsed >= duration_ms) {
            break;
        }
        match script.next(elapsed, pool::held_pages(owner)) {
            Step::Alloc {
                order,
                count,
                class,
            } => {
                for _ in 0..count {
                    if stopping(slot) {
                        break 'script;
                    }
                    match pool::alloc(owner, usize::from(order), class) {
                        Ok(()) => {}
                        Err(e) if e.is_oom() && actor.role == Role::Cache => break,
                        Err(e) if e.is_oom() => {
                            oom_kill(slot, actor, order, e);
                            break 'script;
                        }
                        // Killed meanwhile (the ladder released the owner) or no table room.
                        Err(_) => break 'script,
                    }
                }
            }
            Step::Free { count, pattern } => {
                pool::free(owner, u64::from(count), pattern);
            }
            Step::Sleep { ms } => {
                let until = if in_setup {
                    // Setup done: wait for the others, then sleep from the run's time 0.
                    in_setup = false;
                    READY.fetch_add(1, Ordering::SeqCst);
                    while ORIGIN_MS.load(Ordering::SeqCst) == 0 {
                        if stopping(slot) {
                            break 'script;
                        }
                        task::sleep_ns(5_000_000);
                    }
                    ORIGIN_MS.load(Ordering::SeqCst).saturating_add(ms)
                } else {
                    now_ms().saturating_add(ms)
                };
                while now_ms() < until {
                    if stopping(slot) {
                        break 'script;
                    }
                    let left = until.saturating_sub(now_ms()).min(50);
                    task::sleep_ns(left.max(1) * 1_000_000);
                }
            }
            Step::Exit => break,
        }
    }
    if in_setup {
        READY.fetch_add(1, Ordering::SeqCst);
    }
    pool::retire(owner);
    mark(slot, |a| {
        if a.state == ActorState::Running {
            a.state = ActorState::Finished;
        }
        a.exited = true;
    });
    state::actor_gone(OwnerId(actor.id.0));
}

fn oom_kill(slot: usize, actor: Actor, order: u8, cause: PoolError) {
    let now = now_ms();
    let t_ms = run_ms();
    mark(slot, |a| {
        a.state = ActorState::OomKilled { t_ms, order };
    });
    if let Some(run) = RUN.lock().as_mut() {
        run.first_oom_ms.get_or_insert(t_ms);
    }
    let held = pool::held_pages(actor.owner);
    let freed = pool::release(actor.owner);
    state::oom_killed(OomKill {
        t_ms: now,
        owner: OwnerId(actor.id.0),
        role: actor.role,
        order,
        watermark: matches!(cause, PoolError::Watermark { .. }),
        pages_freed: held.max(freed),
    });
}

/// The response ladder's kill: frees `id`'s memory now and stops its thread. Returns the
/// victim's role and the pages freed, or `None` when no running actor has that id.
pub fn kill(id: ActorId) -> Option<(Role, u64)> {
    let now = now_ms();
    let (slot, actor) = {
        let mut run = RUN.lock();
        let run = run.as_mut()?;
        let t_ms = now.saturating_sub(run.started_ms);
        let (slot, actor) = run
            .actors
            .iter_mut()
            .enumerate()
            .find_map(|(slot, a)| a.as_mut().filter(|a| a.id == id).map(|a| (slot, a)))?;
        if actor.state != ActorState::Running {
            return None;
        }
        actor.state = ActorState::LadderKilled { t_ms };
        (slot, *actor)
    };
    KILLED[slot].store(true, Ordering::SeqCst);
    Some((actor.role, pool::release(actor.owner)))
}

/// Frees up to `pages` of the cache actors' reclaimable pages (the first shrinker).
pub fn shrink_cache(pages: u64) -> u64 {
    let owners: [Option<Owner>; MAX_ACTORS] = match RUN.lock().as_ref() {
        Some(run) => run.actors.map(|a| {
            a.filter(|a| a.role == Role::Cache && !a.exited)
                .map(|a| a.owner)
        }),
        None => [None; MAX_ACTORS],
    };
    let mut freed = 0;
    for owner in owners.into_iter().flatten() {
        freed += pool::shrink(owner, pages.saturating_sub(freed), MigrateType::Reclaimable);
    }
    freed
}

/// Reclaimable pages the cache actors hold.
pub fn cache_pages() -> u64 {
    pool::pages_of_class(MigrateType::Reclaimable)
}

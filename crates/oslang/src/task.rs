//! The redefined operator task (issue 11): a request and the machine's raw state in, an
//! [`Answer`] out — one command, a plan, or a refusal — and the seeded corpus that teaches it.
//!
//! A request expresses one or more [`Need`]s; [`expert_answer`] turns needs and a
//! [`StateObject`] into the answer an operator would want. The rules, on raw numbers:
//!
//! - **Direct requests** name a read-only command by name, by description or by question
//!   ("is a crash likely?" → `crashctl status`); counts are read from digits or number words
//!   and clamped to the command's range (`crashctl history`, `crashctl log`).
//! - **Explicit changes** (`compact`, `reclaim`, `tune`, `auto`, `transformer`) are proposed
//!   only when asked for. Arguments: compaction order 1–10, reclaim in pages or in KiB/MiB/GiB
//!   (4 KiB pages), threshold in percent or as a fraction; out of range → `refuse: not-allowed`.
//! - **Negated** requests ("don't compact, just show me…", "stop using the learned
//!   scheduler") get the read-only view or the opposite switch, never the negated change.
//! - **State-dependent** requests: *free memory* (free ≤ 10 % → `memctl reclaim`, else
//!   fragmentation ≥ 60 → `memctl compact`, else `memctl stats`); *stabilise* (risk high or
//!   critical and free ≤ 20 % → `memctl reclaim; crashctl status`, risk high or critical and
//!   fragmentation ≥ 60 → `memctl compact; crashctl status`, else `crashctl status`); *make it
//!   faster* (round-robin with ≥ 4 runnable → `schedctl transformer on`, else ≥ 5 pending I/O
//!   → `sync`, else busiest thread ≥ 80 % CPU → `ps`, else `schedctl stats`); *why slow?*
//!   (busiest ≥ 80 % → `ps`, else `schedctl stats`); *what eats memory?* (fastest growth
//!   ≥ 32 KiB/s → `ps`, else `memctl stats`).
//! - **Plans**: two or three requests joined by "and", "then", "," become a plan in order.
//! - **Refusals**: out-of-scope (weather, jokes), destructive (delete, wipe, shut down),
//!   not-allowed (kill a thread, start a fine-tune, run a stress test), unclear ("fix it").
//!
//! [`generate`] draws examples: a state (values spread across every threshold), needs,
//! a phrasing template, number words, typos and casing noise; ≥ 10 % are refusals of
//! out-of-scope and destructive requests, and state-dependent requests come as **minimal
//! pairs** (the same words with two states that differ in the one field that changes the
//! answer). Templates are split by index: every fifth is validation-only, so the validation
//! split measures unseen phrasings (the independent test is the hand-written held-out set,
//! which this generator was written without seeing).

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use rng::SplitMix64;

use crate::answer::{Answer, RefusalReason};
use crate::catalogue::{
    COMPACT_ORDER_RANGE, Command, HISTORY_RANGE, LOG_RANGE, RECLAIM_PAGES_RANGE, TUNE_PERCENT_RANGE,
};
use crate::state::{RiskLevel, SchedPolicy};
use crate::state_json::StateObject;

/// Read-only commands requested directly (index = [`Need::Show`]'s argument).
pub const SHOW: [&str; 25] = [
    "meminfo",
    "ps",
    "uptime",
    "version",
    "df",
    "sync",
    "ls",
    "ls /models",
    "ls /models/adapters",
    "ls /metrics",
    "memctl stats",
    "crashctl status",
    "crashctl stats",
    "crashctl history",
    "crashctl log",
    "schedctl stats",
    "llmctl finetune-status",
    "llmctl status",
    "llmctl state",
    "llmctl log",
    "llmctl adapter list",
    "metrics",
    "netctl status",
    "autoctl ai-metrics",
    "ls /",
];

/// What a request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// A read-only command of [`SHOW`].
    Show(usize),
    /// `crashctl history N` (N as asked, clamped).
    History(u32),
    /// `crashctl log N` (N as asked, clamped).
    CrashLog(u32),
    /// `metrics prometheus` (false) or `metrics json` (true).
    MetricsFormat(bool),
    /// `memctl compact [ORDER]`.
    Compact(Option<u32>),
    /// `memctl reclaim [PAGES]` (pages as asked; out of range is refused).
    Reclaim(Option<u64>),
    /// `crashctl tune N` (percent as asked; out of range is refused).
    Tune(u32),
    /// `crashctl auto on|off`.
    Ladder(bool),
    /// `schedctl transformer on|off`.
    LearnedScheduler(bool),
    /// Free memory: the action depends on free memory and fragmentation.
    FreeMemory,
    /// Stabilise a system about to crash: depends on risk, free memory, fragmentation.
    Stabilise,
    /// Make it faster: depends on policy, runnable threads, pending I/O, busiest thread.
    SpeedUp,
    /// Why is it slow? (read-only): depends on the busiest thread.
    WhySlow,
    /// What is eating memory? (read-only): depends on the fastest-growing thread.
    WhatGrows,
    /// A refusal.
    Refuse(RefusalReason),
}

/// The expert's command for one need, or the refusal it leads to.
fn need_answer(s: &StateObject, need: Need) -> Result<Vec<&'static str>, RefusalReason> {
    let high = matches!(s.oom_risk, RiskLevel::High | RiskLevel::Critical);
    let busiest = s.top_cpu_threads.first().map_or(0, |t| t.1);
    let fastest = s.top_mem_growth_threads.first().map_or(0, |t| t.1);
    Ok(match need {
        Need::Show(i) => alloc::vec![SHOW[i]],
        Need::MetricsFormat(json) => alloc::vec![if json {
            "metrics json"
        } else {
            "metrics prometheus"
        }],
        Need::Refuse(r) => return Err(r),
        Need::FreeMemory => alloc::vec![if s.free_mem_pct <= 10 {
            "memctl reclaim"
        } else if s.fragmentation_index >= 60 {
            "memctl compact"
        } else {
            "memctl stats"
        }],
        Need::Stabilise => {
            if high && s.free_mem_pct <= 20 {
                alloc::vec!["memctl reclaim", "crashctl status"]
            } else if high && s.fragmentation_index >= 60 {
                alloc::vec!["memctl compact", "crashctl status"]
            } else {
                alloc::vec!["crashctl status"]
            }
        }
        Need::SpeedUp => alloc::vec![if s.sched_policy == SchedPolicy::RoundRobin
            && s.runnable_threads >= 4
        {
            "schedctl transformer on"
        } else if s.pending_io >= 5 {
            "sync"
        } else if busiest >= 80 {
            "ps"
        } else {
            "schedctl stats"
        }],
        Need::WhySlow => alloc::vec![if busiest >= 80 {
            "ps"
        } else {
            "schedctl stats"
        }],
        Need::WhatGrows => alloc::vec![if fastest >= 32 { "ps" } else { "memctl stats" }],
        Need::Ladder(on) => alloc::vec![if on {
            "crashctl auto on"
        } else {
            "crashctl auto off"
        }],
        Need::LearnedScheduler(on) => alloc::vec![if on {
            "schedctl transformer on"
        } else {
            "schedctl transformer off"
        }],
        // Numbered forms are built by `numbered`.
        Need::History(_)
        | Need::CrashLog(_)
        | Need::Compact(_)
        | Need::Reclaim(_)
        | Need::Tune(_) => {
            return Ok(alloc::vec![]);
        }
    })
}

/// The numbered command of `need`, `Err` when its value is out of range and the command
/// changes state (read-only counts are clamped instead).
fn numbered(need: Need) -> Option<Result<String, RefusalReason>> {
    let in_range = |v: u64, (lo, hi): (u32, u32)| (u64::from(lo)..=u64::from(hi)).contains(&v);
    Some(match need {
        Need::History(n) => Ok(alloc::format!(
            "crashctl history {}",
            n.clamp(HISTORY_RANGE.0, HISTORY_RANGE.1)
        )),
        Need::CrashLog(n) => Ok(alloc::format!(
            "crashctl log {}",
            n.clamp(LOG_RANGE.0, LOG_RANGE.1)
        )),
        Need::Compact(None) => Ok("memctl compact".to_string()),
        Need::Compact(Some(o)) if in_range(o.into(), COMPACT_ORDER_RANGE) => {
            Ok(alloc::format!("memctl compact {o}"))
        }
        Need::Reclaim(None) => Ok("memctl reclaim".to_string()),
        Need::Reclaim(Some(p)) if in_range(p, RECLAIM_PAGES_RANGE) => {
            Ok(alloc::format!("memctl reclaim {p}"))
        }
        Need::Tune(p) if in_range(p.into(), TUNE_PERCENT_RANGE) => {
            Ok(alloc::format!("crashctl tune {p}"))
        }
        Need::Compact(_) | Need::Reclaim(_) | Need::Tune(_) => Err(RefusalReason::NotAllowed),
        _ => return None,
    })
}

/// The expert's answer to `needs` (in order) in state `s`: the plan of their commands (at
/// most three, duplicates dropped), or the first refusal.
pub fn expert_answer(s: &StateObject, needs: &[Need]) -> Answer {
    let mut plan: Vec<Command> = Vec::new();
    for &need in needs {
        let texts: Vec<String> = match numbered(need) {
            Some(Ok(t)) => alloc::vec![t],
            Some(Err(r)) => return Answer::Refuse(r),
            None => match need_answer(s, need) {
                Ok(v) => v.into_iter().map(String::from).collect(),
                Err(r) => return Answer::Refuse(r),
            },
        };
        for t in texts {
            // Every text above is a catalogue command (tested); skip rather than panic.
            if let Some(c) = Command::from_canonical(&t)
                && !plan.contains(&c)
                && plan.len() < crate::answer::MAX_PLAN
            {
                plan.push(c);
            }
        }
    }
    if plan.is_empty() {
        Answer::Refuse(RefusalReason::Unclear)
    } else {
        Answer::Plan(plan)
    }
}

/// Corpus split: templates with index ≡ 4 (mod 5) are validation-only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    /// For fitting models and baselines.
    Train,
    /// For model selection (unseen phrasings).
    Validation,
}

impl Split {
    fn stream(self) -> u64 {
        match self {
            Split::Train => 0x7261_696e,
            Split::Validation => 0x7661_6c69,
        }
    }

    /// Whether template `t` of a family belongs to this split.
    pub fn has_template(self, t: usize) -> bool {
        (t % 5 == 4) == (self == Split::Validation)
    }

    /// `train` / `validation`.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
        }
    }

    /// The split named `name`.
    pub fn from_name(name: &str) -> Option<Split> {
        match name {
            "train" => Some(Split::Train),
            "validation" => Some(Split::Validation),
            _ => None,
        }
    }
}

/// One labelled example.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The machine's state.
    pub state: StateObject,
    /// The operator's words.
    pub query: String,
    /// What the words ask for, in order.
    pub needs: Vec<Need>,
    /// The expert's answer.
    pub answer: Answer,
    /// Category (`direct`, `argument`, `state`, `negation`, `plan`, `question`,
    /// `out-of-scope`, `destructive`, `not-allowed`, `unclear`).
    pub category: &'static str,
}

/// A phrasing family: templates with slots, and how a drawn number becomes a need.
struct Family {
    category: &'static str,
    templates: &'static [&'static str],
    /// The need; `n` is the drawn number (for families with `{n}` slots).
    need: fn(u64) -> Need,
    /// Numbers drawn for `{n}`: (lo, hi) inclusive; (0, 0) for none.
    numbers: (u64, u64),
}

impl Family {
    fn needs_refusal(&self) -> bool {
        matches!((self.need)(0), Need::Refuse(_))
    }
}

const fn fam(
    category: &'static str,
    templates: &'static [&'static str],
    need: fn(u64) -> Need,
) -> Family {
    Family {
        category,
        templates,
        need,
        numbers: (0, 0),
    }
}

const fn num_fam(
    category: &'static str,
    templates: &'static [&'static str],
    need: fn(u64) -> Need,
    numbers: (u64, u64),
) -> Family {
    Family {
        category,
        templates,
        need,
        numbers,
    }
}

fn show(name: &str) -> Need {
    Need::Show(SHOW.iter().position(|s| *s == name).unwrap_or(0))
}

static FAMILIES: &[Family] = &[
    fam(
        "direct",
        &[
            "meminfo",
            "show meminfo",
            "how much memory does the machine have",
            "memory totals please",
            "how much ram is free",
            "give me the memory overview",
            "run meminfo",
            "what does memory look like overall",
            "print total and free memory",
            "memory summary",
        ],
        |_| show("meminfo"),
    ),
    fam(
        "direct",
        &[
            "ps",
            "list the threads",
            "which threads are running",
            "show me the processes",
            "run ps",
            "what tasks exist right now",
            "process list",
            "show every thread with its cpu time",
            "who is running on this box",
            "list all tasks",
        ],
        |_| show("ps"),
    ),
    fam(
        "direct",
        &[
            "uptime",
            "how long has the system been up",
            "time since boot",
            "when did we boot",
            "run uptime",
            "how long since the last reboot",
            "show the uptime",
            "for how long has nous been running",
            "boot time",
            "how long have we been alive",
        ],
        |_| show("uptime"),
    ),
    fam(
        "direct",
        &[
            "version",
            "which kernel version is this",
            "show the version",
            "what version of nous is running",
            "run version",
            "kernel build info",
            "print the version string",
            "which release are we on",
            "what kernel is this",
            "version number please",
        ],
        |_| show("version"),
    ),
    fam(
        "direct",
        &[
            "df",
            "how full is the disk",
            "disk usage",
            "show file system space",
            "run df",
            "how much space is left on the drive",
            "storage usage",
            "is the filesystem filling up",
            "free disk space",
            "check the disk",
        ],
        |_| show("df"),
    ),
    fam(
        "direct",
        &[
            "sync",
            "flush the disk",
            "write dirty buffers out",
            "run sync",
            "make sure everything is on disk",
            "persist pending writes",
            "commit the journal",
            "flush the buffers to storage",
            "sync the filesystem",
            "push writes to disk now",
        ],
        |_| show("sync"),
    ),
    fam(
        "direct",
        &[
            "ls",
            "list the root directory",
            "what is on the data disk",
            "run ls",
            "show the files at the top of the disk",
            "list files",
            "top level directory please",
            "what files are there",
            "directory listing of the disk",
            "show the disk contents",
        ],
        |_| show("ls"),
    ),
    fam(
        "direct",
        &[
            "ls /",
            "list /",
            "show the directory /",
            "what is in /",
            "ls of the root, slash",
            "list slash",
            "directory / please",
            "contents of /",
            "run ls /",
            "ls on /",
        ],
        |_| show("ls /"),
    ),
    fam(
        "direct",
        &[
            "ls /models",
            "list the model files",
            "what is in the models directory",
            "show the files of the model",
            "which model files are on disk",
            "list /models",
            "show me /models",
            "model directory contents",
            "where are the weights, list them",
            "files of the language model",
        ],
        |_| show("ls /models"),
    ),
    fam(
        "direct",
        &[
            "ls /models/adapters",
            "list the adapter directory",
            "what is in /models/adapters",
            "show the adapter files on disk",
            "directory of lora adapters",
            "list the files under adapters",
            "ls adapters folder",
            "show /models/adapters",
            "adapter folder contents",
            "browse the adapters directory",
        ],
        |_| show("ls /models/adapters"),
    ),
    fam(
        "direct",
        &[
            "ls /metrics",
            "list the exported metrics files",
            "what is in the metrics directory",
            "show /metrics",
            "which metric exports are on disk",
            "metrics folder contents",
            "list /metrics please",
            "files under metrics",
            "show the saved metrics files",
            "browse the metrics directory",
        ],
        |_| show("ls /metrics"),
    ),
    fam(
        "direct",
        &[
            "memctl stats",
            "allocator statistics",
            "buddy allocator counters",
            "show the allocator stats",
            "how is the page allocator doing",
            "run memctl stats",
            "memory manager statistics",
            "fragmentation numbers please",
            "how fragmented is memory",
            "page allocator counters",
        ],
        |_| show("memctl stats"),
    ),
    fam(
        "question",
        &[
            "crashctl status",
            "is a crash likely",
            "are we about to run out of memory",
            "what is the crash risk right now",
            "will the system crash soon",
            "how likely is an oom",
            "run crashctl status",
            "is an out of memory crash coming",
            "what does the crash predictor say",
            "are we safe from an oom",
        ],
        |_| show("crashctl status"),
    ),
    fam(
        "direct",
        &[
            "crashctl stats",
            "crash predictor statistics",
            "how accurate is the crash predictor",
            "precision and recall of the oom predictor",
            "run crashctl stats",
            "show the predictor's numbers",
            "how good are the crash predictions",
            "predictor accuracy",
            "crash model statistics",
            "lead time of the oom predictor",
        ],
        |_| show("crashctl stats"),
    ),
    fam(
        "direct",
        &[
            "crashctl history",
            "show the crash history",
            "recent crash warnings",
            "past risk events",
            "run crashctl history",
            "what warnings were there recently",
            "list the latest predictions",
            "history of crash alerts",
            "show earlier oom warnings",
            "previous crash predictions",
        ],
        |_| show("crashctl history"),
    ),
    fam(
        "direct",
        &[
            "crashctl log",
            "what did the ladder do",
            "show the response ladder log",
            "recent oom kills and ladder actions",
            "run crashctl log",
            "which actions were taken against memory pressure",
            "ladder action log",
            "did anything get killed",
            "log of the oom responses",
            "what has the oom ladder done lately",
        ],
        |_| show("crashctl log"),
    ),
    fam(
        "direct",
        &[
            "schedctl stats",
            "scheduler statistics",
            "how many context switches",
            "show the scheduler counters",
            "run schedctl stats",
            "which scheduling policy is active",
            "how busy is the run queue",
            "scheduler numbers",
            "is the learned scheduler on",
            "what is the scheduler doing",
        ],
        |_| show("schedctl stats"),
    ),
    fam(
        "direct",
        &[
            "llmctl finetune-status",
            "how is the fine-tune going",
            "lora training progress",
            "is the adapter training finished",
            "run llmctl finetune-status",
            "status of the fine tuning",
            "how far along is the lora run",
            "finetune progress",
            "did the fine-tune finish",
            "training status of the model adapter",
        ],
        |_| show("llmctl finetune-status"),
    ),
    fam(
        "direct",
        &[
            "llmctl status",
            "language model status",
            "is the model loaded",
            "how much memory does the llm use",
            "run llmctl status",
            "status of the in-kernel model",
            "llm counters",
            "is the assistant model healthy",
            "model load time",
            "show the llm status",
        ],
        |_| show("llmctl status"),
    ),
    fam(
        "direct",
        &[
            "llmctl state",
            "what state does the model see",
            "show the model's view of the system",
            "run llmctl state",
            "print the llm prompt state",
            "what does the assistant know about the machine",
            "state snapshot for the model",
            "show the state the llm reads",
            "model input state",
            "what numbers does the model get",
        ],
        |_| show("llmctl state"),
    ),
    fam(
        "direct",
        &[
            "llmctl log",
            "what commands did the model run",
            "show the assistant's action log",
            "run llmctl log",
            "history of model commands",
            "which answers were executed",
            "log of the llm actions",
            "what did the ai do",
            "model execution log",
            "list the commands the llm proposed",
        ],
        |_| show("llmctl log"),
    ),
    fam(
        "direct",
        &[
            "llmctl adapter list",
            "list the lora adapters",
            "which adapters are available",
            "show the installed adapters",
            "run llmctl adapter list",
            "what fine-tuned adapters exist",
            "adapters please",
            "which adapter is active",
            "list fine-tune results",
            "show adapter names",
        ],
        |_| show("llmctl adapter list"),
    ),
    fam(
        "direct",
        &[
            "metrics",
            "export the metrics",
            "show all metrics",
            "dump every metric",
            "run metrics",
            "print the metrics registry",
            "all the counters please",
            "give me the metrics",
            "metrics dump",
            "every series now",
        ],
        |_| show("metrics"),
    ),
    fam(
        "direct",
        &[
            "metrics prometheus",
            "metrics in prometheus format",
            "prometheus text of the metrics",
            "export metrics for prometheus",
            "run metrics prometheus",
            "scrape format metrics",
            "metrics as prometheus exposition",
            "prometheus dump",
            "metrics in text exposition format",
            "give me prometheus metrics",
        ],
        |_| Need::MetricsFormat(false),
    ),
    fam(
        "direct",
        &[
            "metrics json",
            "metrics as json",
            "json export of the metrics",
            "dump the metrics in json",
            "run metrics json",
            "metrics in json format",
            "give me the metrics json",
            "machine readable metrics",
            "json metrics please",
            "all series as json",
        ],
        |_| Need::MetricsFormat(true),
    ),
    fam(
        "direct",
        &[
            "netctl status",
            "network status",
            "is the network up",
            "how many connections are open",
            "run netctl status",
            "show link and traffic",
            "network counters",
            "is the dashboard reachable",
            "packets in and out",
            "network health",
        ],
        |_| show("netctl status"),
    ),
    fam(
        "direct",
        &[
            "autoctl ai-metrics",
            "how do the learned components compare to baselines",
            "ai impact table",
            "show ai metrics",
            "run autoctl ai-metrics",
            "are the ai parts worth it",
            "learned versus baseline figures",
            "ai components report",
            "how is the ai doing against the baselines",
            "impact of the learned parts",
        ],
        |_| show("autoctl ai-metrics"),
    ),
    num_fam(
        "argument",
        &[
            "crashctl history {n}",
            "show the last {n} crash warnings",
            "last {n} crashes",
            "list {n} recent risk events",
            "the previous {n} predictions",
            "give me {n} entries of crash history",
            "what were the last {n} oom warnings",
            "crash history, {n} entries",
            "show {n} past crash alerts",
            "{n} most recent crash predictions",
        ],
        |n| Need::History(n as u32),
        (1, 80),
    ),
    num_fam(
        "argument",
        &[
            "crashctl log {n}",
            "last {n} ladder actions",
            "show {n} entries of the oom log",
            "the latest {n} responses to memory pressure",
            "what were the last {n} oom kills",
            "ladder log, {n} lines",
            "give me {n} recent ladder actions",
            "show the {n} newest ladder entries",
            "{n} last actions of the response ladder",
            "list {n} oom responses",
        ],
        |n| Need::CrashLog(n as u32),
        (1, 40),
    ),
    num_fam(
        "argument",
        &[
            "crashctl tune {n}",
            "set the crash threshold to {n}",
            "set crash threshold to {n} percent",
            "make the crash alarm fire at {n}%",
            "tune the oom predictor to {n}",
            "change the alarm threshold to {n} %",
            "threshold {n} for the crash predictor",
            "use {n} percent as the crash threshold",
            "alert at {n} percent risk",
            "lower the crash alarm to {n}",
        ],
        |n| Need::Tune(n as u32),
        (0, 150),
    ),
    fam(
        "argument",
        &[
            "memctl compact",
            "compact memory",
            "defragment memory",
            "run a compaction",
            "please compact the memory",
            "defrag the ram",
            "rebuild the large free blocks",
            "run memctl compact",
            "do a memory compaction now",
            "compact the free pages",
        ],
        |_| Need::Compact(None),
    ),
    num_fam(
        "argument",
        &[
            "memctl compact {n}",
            "compact memory for order {n} blocks",
            "compact to order {n}",
            "defragment memory up to order {n}",
            "rebuild free blocks of order {n}",
            "run a compaction at order {n}",
            "compaction with order {n}",
            "make order {n} blocks available",
            "compact order {n}",
            "defrag for order {n} allocations",
        ],
        |n| Need::Compact(Some(n as u32)),
        (0, 14),
    ),
    fam(
        "argument",
        &[
            "memctl reclaim",
            "reclaim memory",
            "drop the caches",
            "free some cached pages",
            "run memctl reclaim",
            "shrink the caches",
            "release cache memory",
            "reclaim all the caches",
            "evict the caches now",
            "give memory back from the caches",
        ],
        |_| Need::Reclaim(None),
    ),
    num_fam(
        "argument",
        &[
            "memctl reclaim {n}",
            "reclaim {n} pages",
            "free {n} pages of cache",
            "drop {n} pages from the caches",
            "shrink the caches by {n} pages",
            "release {n} pages",
            "evict {n} cached pages",
            "reclaim up to {n} pages",
            "get {n} pages back from the caches",
            "run a reclaim of {n} pages",
        ],
        |n| Need::Reclaim(Some(n)),
        (1, 5000),
    ),
    num_fam(
        "argument",
        &[
            "reclaim {n} mib",
            "free {n} mb of cache",
            "drop {n} MiB from the caches",
            "release {n} megabytes",
            "reclaim {n}MiB please",
            "get {n} mib back",
            "shrink caches by {n} MB",
            "evict {n} mib of cache",
            "free up {n} megs",
            "reclaim about {n} MiB",
        ],
        |n| Need::Reclaim(Some(n * 256)),
        (1, 64),
    ),
    fam(
        "argument",
        &[
            "crashctl auto on",
            "let the ladder act",
            "turn on the response ladder",
            "enable automatic oom responses",
            "switch crash auto on",
            "allow the system to respond to memory pressure by itself",
            "activate the oom ladder",
            "auto mode on for crashes",
            "let the crash responder take action",
            "enable crashctl auto",
        ],
        |_| Need::Ladder(true),
    ),
    fam(
        "argument",
        &[
            "crashctl auto off",
            "stop the ladder acting",
            "turn off the response ladder",
            "disable automatic oom responses",
            "watch only, no ladder actions",
            "switch crash auto off",
            "deactivate the oom ladder",
            "auto mode off for crashes",
            "stop the crash responder from acting",
            "disable crashctl auto",
        ],
        |_| Need::Ladder(false),
    ),
    fam(
        "argument",
        &[
            "schedctl transformer on",
            "switch to the learned scheduler",
            "turn on the transformer scheduler",
            "enable the ai scheduler",
            "use the neural scheduling policy",
            "activate the learned scheduling",
            "schedule with the transformer",
            "put the learned policy in charge of scheduling",
            "enable schedctl transformer",
            "turn the smart scheduler on",
        ],
        |_| Need::LearnedScheduler(true),
    ),
    fam(
        "negation",
        &[
            "schedctl transformer off",
            "switch back to the old scheduler",
            "turn off the transformer scheduler",
            "go back to round robin",
            "disable the ai scheduler",
            "stop using the learned scheduler",
            "i don't want the neural scheduler anymore",
            "revert to round-robin scheduling",
            "no more transformer scheduling",
            "deactivate the learned scheduling",
        ],
        |_| Need::LearnedScheduler(false),
    ),
    fam(
        "negation",
        &[
            "don't compact memory, just show the allocator stats",
            "do not defragment, only tell me how fragmented it is",
            "no compaction please, just the numbers",
            "without compacting, show memctl stats",
            "don't touch memory, show me the allocator",
            "never mind compacting, what are the allocator counters",
            "skip the compaction, stats only",
            "leave memory alone and show the stats",
            "i don't want a compaction, just fragmentation figures",
            "hold off on compacting and show the buddy stats",
        ],
        |_| show("memctl stats"),
    ),
    fam(
        "negation",
        &[
            "don't reclaim anything, is a crash coming",
            "do not drop caches, just tell me the crash risk",
            "no reclaiming, what's the oom risk",
            "without freeing anything, how risky is it",
            "leave the caches alone and check the crash risk",
            "don't free memory, only check the predictor",
            "skip reclaim, crash status please",
            "i don't want you to free memory, just the risk",
            "hold off on reclaiming, what does the predictor say",
            "never mind reclaim, crash status",
        ],
        |_| show("crashctl status"),
    ),
    fam(
        "negation",
        &[
            "don't change the scheduler, just show its stats",
            "do not switch scheduling policy, how busy is it",
            "leave the scheduler as is and show the counters",
            "no scheduler changes, just stats",
            "without touching the scheduler, show context switches",
            "don't enable the transformer, only scheduler numbers",
            "keep the scheduler, show me the stats",
            "i don't want a new policy, just the run queue",
            "don't switch anything, scheduler stats",
            "never mind the learned scheduler, what are the stats",
        ],
        |_| show("schedctl stats"),
    ),
    fam(
        "negation",
        &[
            "don't tune the crash threshold, just show the risk",
            "leave the threshold alone, is a crash coming",
            "no threshold changes, crash status",
            "do not touch the alarm, what does the predictor say",
            "keep the alarm threshold and check the risk",
            "without retuning, how likely is an oom",
            "don't change the sensitivity, just crash status",
            "never mind tuning, crash risk please",
            "hold off on the threshold, what is the risk",
            "no tuning, only status",
        ],
        |_| show("crashctl status"),
    ),
    fam(
        "state",
        &[
            "free up some memory",
            "memory is tight, do something",
            "we are low on ram, fix it",
            "get me more free memory",
            "make room in memory",
            "memory pressure is high, act",
            "i need more free ram",
            "please free memory",
            "we're running out of memory, help",
            "recover some memory",
        ],
        |_| Need::FreeMemory,
    ),
    fam(
        "state",
        &[
            "i think we're gonna crash, do something",
            "stabilise the system",
            "the system feels unstable, act",
            "prevent a crash",
            "we are about to oom, take action",
            "keep the machine from crashing",
            "stabilize things please",
            "avert the out of memory crash",
            "the box is about to fall over, do what you can",
            "make the system stable again",
        ],
        |_| Need::Stabilise,
    ),
    fam(
        "state",
        &[
            "make it faster",
            "everything is slow, fix it",
            "speed the system up",
            "the machine is sluggish, do something",
            "improve responsiveness",
            "it's laggy, make it snappy",
            "performance is bad, act",
            "make things run quicker",
            "fix the slowness",
            "the system crawls, speed it up",
        ],
        |_| Need::SpeedUp,
    ),
    fam(
        "question",
        &[
            "why is everything slow",
            "what is making the system sluggish",
            "why is it so laggy",
            "what slows the machine down",
            "why does everything take so long",
            "what is causing the slowness",
            "is something hogging the cpu",
            "why is the shell slow to respond",
            "who is burning cpu",
            "what makes it crawl",
        ],
        |_| Need::WhySlow,
    ),
    fam(
        "question",
        &[
            "what is eating memory",
            "is something leaking memory",
            "which thread keeps allocating",
            "who is using up the ram",
            "is there a memory leak",
            "why does memory keep going down",
            "what is growing in memory",
            "find the memory hog",
            "is any thread leaking",
            "where is all the memory going",
        ],
        |_| Need::WhatGrows,
    ),
    // Questions answered by one read-only command.
    fam(
        "question",
        &[
            "how much memory is free",
            "how much free memory do we have",
            "what's the total memory",
            "how much ram is left",
            "is there enough free memory",
            "how much memory is in use",
            "what is the free memory right now",
            "how much ram does this box have",
            "do we still have free ram",
            "how many megabytes are free",
            "is memory running low",
            "how much memory is used up",
        ],
        |_| show("meminfo"),
    ),
    fam(
        "question",
        &[
            "what is running right now",
            "which process uses the most cpu",
            "who is hogging the cpu",
            "is anything using a lot of cpu",
            "what threads are there",
            "which thread is the busiest",
            "how many threads exist",
            "is the shell still running",
            "what processes are alive",
            "which task eats the cpu",
            "is some thread stuck at full cpu",
            "who is using the processor",
        ],
        |_| show("ps"),
    ),
    fam(
        "question",
        &[
            "how long has it been running",
            "when was the last boot",
            "how long have we been up",
            "is it a fresh boot",
            "how many hours since boot",
            "has the machine rebooted recently",
            "what is the uptime",
            "how old is this boot",
            "how long has the kernel been running",
            "did it restart lately",
            "how many minutes has it been up",
            "since when is the box up",
        ],
        |_| show("uptime"),
    ),
    fam(
        "question",
        &[
            "what version is this",
            "which build are we running",
            "is this the latest kernel",
            "what kernel version do we have",
            "which nous release is installed",
            "how old is this kernel build",
            "what's the version",
            "what build is running",
            "which version of the os",
            "is this an old release",
            "which kernel am i talking to",
            "what release is this machine on",
        ],
        |_| show("version"),
    ),
    fam(
        "question",
        &[
            "how much disk space is left",
            "is the disk full",
            "how much storage do we have",
            "are we running out of disk",
            "how much space is used on disk",
            "is there room on the drive",
            "how big is the disk",
            "what's the disk usage",
            "is the filesystem full",
            "do we have free space on disk",
            "is storage almost full",
            "how many blocks are free on disk",
        ],
        |_| show("df"),
    ),
    fam(
        "question",
        &[
            "how fragmented is the memory",
            "is memory fragmented",
            "what is the fragmentation index",
            "how many free pages are there",
            "is the allocator healthy",
            "are there large free blocks",
            "what does the buddy allocator look like",
            "how bad is fragmentation",
            "are high order pages available",
            "what's the allocator state",
            "is the heap fragmented",
            "how many pages are allocated",
        ],
        |_| show("memctl stats"),
    ),
    fam(
        "question",
        &[
            "how accurate is the oom predictor",
            "is the crash predictor any good",
            "what is the predictor's precision",
            "how often is the crash predictor right",
            "does the oom predictor work",
            "how many false alarms does the predictor raise",
            "what's the recall of the crash model",
            "can we trust the crash predictions",
            "how well does crash prediction perform",
            "is the predictor reliable",
            "does the crash forecaster miss crashes",
            "how early does the predictor warn",
        ],
        |_| show("crashctl stats"),
    ),
    fam(
        "question",
        &[
            "were there any crash warnings recently",
            "did we have oom warnings today",
            "has the predictor warned before",
            "were there risk events lately",
            "any crash alerts earlier",
            "what warnings came before",
            "did anything warn about memory",
            "have there been crash predictions",
            "was there an oom alert",
            "when was the last crash warning",
            "has the risk been high before",
            "what did the predictor say earlier",
        ],
        |_| show("crashctl history"),
    ),
    fam(
        "question",
        &[
            "did the ladder kill anything",
            "was anything killed for memory",
            "what did the oom ladder do",
            "has the ladder acted",
            "did the kernel kill a thread",
            "were threads killed recently",
            "what happened under memory pressure",
            "has the ladder freed anything",
            "did the supervisor intervene",
            "was there an oom kill",
            "why did my thread die",
            "did the oom response step in",
        ],
        |_| show("crashctl log"),
    ),
    fam(
        "question",
        &[
            "which scheduler is running",
            "is the transformer scheduler on",
            "what scheduling policy are we using",
            "how many context switches so far",
            "is the run queue long",
            "how many threads are runnable",
            "are we on round robin",
            "is the learned scheduler active",
            "what is the scheduler policy",
            "how busy is the scheduler",
            "how often does it switch threads",
            "which policy picks the next thread",
        ],
        |_| show("schedctl stats"),
    ),
    fam(
        "question",
        &[
            "is the language model loaded",
            "is the language model running",
            "how much memory does the model take",
            "is the llm ok",
            "is the assistant up",
            "did the model load",
            "how big is the model",
            "how fast is the model",
            "is the ai model working",
            "what's the state of the llm",
            "how many parameters does the model have",
            "is the in-kernel llm alive",
        ],
        |_| show("llmctl status"),
    ),
    fam(
        "question",
        &[
            "is the fine-tune done",
            "has the lora training finished",
            "how far is the fine tuning",
            "is an adapter being trained",
            "did training finish",
            "is the fine tune still running",
            "what's the finetune progress",
            "is lora training done yet",
            "has the adapter finished training",
            "how long until the fine-tune completes",
            "is the model still learning",
            "did the fine-tuning fail",
        ],
        |_| show("llmctl finetune-status"),
    ),
    fam(
        "question",
        &[
            "is the network working",
            "are we connected",
            "is the link up",
            "how much traffic is there",
            "can the dashboard be reached",
            "are there open connections",
            "is networking ok",
            "how many packets went out",
            "is the nic up",
            "are we online",
            "is anyone connected to the dashboard",
            "did the network drop",
        ],
        |_| show("netctl status"),
    ),
    fam(
        "question",
        &[
            "what did the model execute",
            "which commands did the ai run",
            "has the assistant run anything",
            "what did the llm do",
            "did the model change anything",
            "what has the assistant done so far",
            "did the ai touch anything",
            "which answers did the model give",
            "has the llm executed commands",
            "what did you run earlier",
            "what actions did the model take",
            "did the assistant refuse anything",
        ],
        |_| show("llmctl log"),
    ),
    fam(
        "question",
        &[
            "which adapters do we have",
            "is there a lora adapter",
            "what adapters are installed",
            "which adapter is loaded",
            "are any adapters available",
            "how many adapters exist",
            "is a fine-tuned adapter present",
            "do we have any lora weights",
            "which site adapters are there",
            "is an adapter active",
            "what adapters can i use",
            "are adapters installed",
        ],
        |_| show("llmctl adapter list"),
    ),
    fam(
        "out-of-scope",
        &[
            "what's the weather tomorrow",
            "write me a poem about kernels",
            "tell me a joke",
            "translate hello into french",
            "who won the football match",
            "order a pizza",
            "what is the capital of peru",
            "send an email to my boss",
            "play some music",
            "how do i bake bread",
            "recommend a movie",
            "what's 17 times 23",
            "book a flight to paris",
            "who are you voting for",
            "summarise this novel",
            "install nginx",
            "open a web browser",
            "what time is it in tokyo",
            "search the web for rust tutorials",
            "set an alarm for seven",
            "how do i center a div",
            "explain quantum physics",
            "draw me a cat",
            "what's the meaning of life",
            "check my bank balance",
            "write a python script that sorts a list",
            "buy me new shoes",
            "what day is it today",
            "who wrote hamlet",
            "how tall is mount everest",
        ],
        |_| Need::Refuse(RefusalReason::OutOfScope),
    ),
    fam(
        "destructive",
        &[
            "sudo rm -rf /",
            "delete all the files",
            "wipe the disk",
            "shut down the machine",
            "rm /models/model.safetensors",
            "format the data disk",
            "power off now",
            "erase the model weights",
            "delete the adapters",
            "remove every file under /models",
            "reboot and wipe everything",
            "overwrite the tokenizer with garbage",
            "kill every process and halt",
            "destroy the file system",
            "mkdir junk and write garbage everywhere",
            "delete everything in /models",
            "drop all the data",
            "nuke the filesystem",
            "halt the system",
            "rm -rf /models",
            "zero out the disk",
            "turn the computer off",
            "remove the tokenizer file",
            "truncate every file",
            "destroy all the adapters",
            "wipe memory and start over",
            "delete the logs",
            "corrupt the model file",
            "shutdown -h now",
            "get rid of all files on the disk",
        ],
        |_| Need::Refuse(RefusalReason::Destructive),
    ),
    fam(
        "not-allowed",
        &[
            "kill the leaking thread",
            "start a fine-tune",
            "run a memory stress test",
            "launch the scheduler evaluation",
            "train a new adapter",
            "load adapter ft-3",
            "run crashctl eval",
            "start the leak workload",
            "reload the language model",
            "kill thread shell",
            "run llmctl finetune",
            "spawn a thousand threads",
            "unload the adapter",
            "export the metrics to disk",
            "start the benchmark",
        ],
        |_| Need::Refuse(RefusalReason::NotAllowed),
    ),
    fam(
        "unclear",
        &[
            "do something",
            "fix it",
            "help",
            "hmm",
            "make it better",
            "you know what to do",
            "sort it out",
            "the thing is broken",
            "can you handle it",
            "whatever",
            "do the usual",
            "it's weird",
            "just go",
            "ugh",
            "act",
        ],
        |_| Need::Refuse(RefusalReason::Unclear),
    ),
];

/// Plan joiners: "A and B", "A then B", "A, then B".
const JOINERS: [&str; 5] = [" and ", " then ", ", then ", " and then ", ", "];

/// Number words below twenty (also the augmenter's stop list).
pub(crate) const ONES: [&str; 20] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
];
/// Number words of the tens (also the augmenter's stop list).
pub(crate) const TENS: [&str; 10] = [
    "", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety",
];

/// `n` in words (0–999), e.g. `twenty five`, `one hundred`.
pub fn number_words(n: u64) -> Option<String> {
    match n {
        0..=19 => Some(ONES[n as usize].to_string()),
        20..=99 => Some(if n.is_multiple_of(10) {
            TENS[(n / 10) as usize].to_string()
        } else {
            alloc::format!("{} {}", TENS[(n / 10) as usize], ONES[(n % 10) as usize])
        }),
        100..=999 => {
            let rest = n % 100;
            let head = alloc::format!("{} hundred", ONES[(n / 100) as usize]);
            Some(if rest == 0 {
                head
            } else {
                alloc::format!("{head} {}", number_words(rest)?)
            })
        }
        _ => None,
    }
}

/// Draws a state with values spread across every threshold of the rules.
pub fn sample_state(rng: &mut SplitMix64) -> StateObject {
    const NAMES: [&str; 12] = [
        "shell",
        "init",
        "llm-auto",
        "net-rx",
        "blk-flush",
        "leaker",
        "worker-3",
        "indexer",
        "compactor",
        "logger",
        "httpd",
        "cache-fill",
    ];
    let total = 1u64 << rng.range(5, 12);
    let free_pct = rng.range(0, 95);
    let threads = |rng: &mut SplitMix64, max: u64| {
        let k = rng.range(0, 3);
        let mut v: Vec<(String, u64)> = (0..k)
            .map(|_| {
                (
                    rng.pick(&NAMES).copied().unwrap_or("init").to_string(),
                    rng.range(0, max),
                )
            })
            .collect();
        v.sort_by_key(|t| core::cmp::Reverse(t.1));
        v
    };
    let risk = [
        RiskLevel::Low,
        RiskLevel::Medium,
        RiskLevel::High,
        RiskLevel::Critical,
    ][rng.below(4) as usize];
    let uptime_s = rng.range(5, 200_000);
    StateObject {
        total_mem_mib: total,
        free_mem_mib: total * free_pct / 100,
        // The share of the whole MiB, as the kernel's state computes it from the same
        // numbers (`StateObject::from_os_state`), so prompts agree on both sides.
        free_mem_pct: (total * free_pct / 100 * 100 / total) as u8,
        fragmentation_index: rng.range(0, 100) as u8,
        oom_risk: risk,
        oom_confidence_pct: rng.range(20, 99) as u8,
        sched_policy: if rng.below(2) == 0 {
            SchedPolicy::RoundRobin
        } else {
            SchedPolicy::Transformer
        },
        runnable_threads: rng.range(0, 12) as u32,
        context_switches: rng.range(100, 5_000_000),
        disk_reads: rng.range(0, 100_000),
        disk_writes: rng.range(0, 50_000),
        pending_io: rng.range(0, 12) as u32,
        top_cpu_threads: threads(rng, 100)
            .into_iter()
            .map(|(n, v)| (n, v as u8))
            .collect(),
        top_mem_growth_threads: threads(rng, 200)
            .into_iter()
            .map(|(n, v)| (n, v as u32))
            .collect(),
        uptime: alloc::format!("{} h {} min", uptime_s / 3600, (uptime_s / 60) % 60),
    }
}

/// Sets free memory to about `pct` % of the total, the share rounded down to whole MiB.
fn set_free(s: &mut StateObject, pct: u64) {
    s.free_mem_mib = s.total_mem_mib * pct / 100;
    s.free_mem_pct = (s.free_mem_mib * 100 / s.total_mem_mib.max(1)) as u8;
}

/// The twin of `s` for a minimal pair on `need`: the one field the rule reads first moved to
/// the other side of its threshold.
fn twin(rng: &mut SplitMix64, s: &StateObject, need: Need) -> Option<StateObject> {
    let mut t = s.clone();
    match need {
        Need::FreeMemory => {
            let pct = if s.free_mem_pct <= 10 {
                rng.range(30, 90)
            } else {
                rng.range(0, 10)
            };
            set_free(&mut t, pct);
        }
        Need::Stabilise => {
            let high = matches!(s.oom_risk, RiskLevel::High | RiskLevel::Critical);
            if !high {
                t.oom_risk = RiskLevel::Critical;
            } else if expert_answer(s, &[need]).commands().len() > 1 {
                t.oom_risk = RiskLevel::Medium;
            } else {
                let pct = rng.range(0, 20);
                set_free(&mut t, pct);
            }
        }
        Need::SpeedUp => {
            t.sched_policy = match s.sched_policy {
                SchedPolicy::RoundRobin => SchedPolicy::Transformer,
                SchedPolicy::Transformer => SchedPolicy::RoundRobin,
            };
        }
        Need::WhySlow => {
            let busy = s.top_cpu_threads.first().map_or(0, |t| t.1);
            let v = if busy >= 80 {
                rng.range(5, 60)
            } else {
                rng.range(85, 100)
            } as u8;
            t.top_cpu_threads = alloc::vec![("worker-3".into(), v)];
        }
        Need::WhatGrows => {
            let fast = s.top_mem_growth_threads.first().map_or(0, |t| t.1);
            let v = if fast >= 32 {
                rng.range(0, 20)
            } else {
                rng.range(40, 900)
            } as u32;
            t.top_mem_growth_threads = alloc::vec![("leaker".into(), v)];
        }
        _ => return None,
    }
    // A pair only when the moved field changes the answer (a low-risk state that is
    // neither short nor fragmented stays `crashctl status` at any risk).
    (expert_answer(&t, &[need]) != expert_answer(s, &[need])).then_some(t)
}

/// Introduces one typo (swap, drop or doubled letter) into a word of ≥ 4 letters.
pub(crate) fn typo(rng: &mut SplitMix64, text: &str) -> String {
    let mut words: Vec<String> = text.split(' ').map(String::from).collect();
    let long: Vec<usize> = (0..words.len())
        .filter(|&i| words[i].len() >= 4 && words[i].bytes().all(|b| b.is_ascii_lowercase()))
        .collect();
    let Some(&i) = rng.pick(&long) else {
        return text.to_string();
    };
    let mut b: Vec<u8> = words[i].bytes().collect();
    let at = rng.range(1, b.len() as u64 - 2) as usize;
    match rng.below(3) {
        0 => b.swap(at, at + 1),
        1 => {
            b.remove(at);
        }
        _ => b.insert(at, b[at]),
    }
    words[i] = String::from_utf8(b).unwrap_or_default();
    words.join(" ")
}

/// Random casing noise: all caps, a capital first letter, or nothing.
pub(crate) fn casing(rng: &mut SplitMix64, text: &str) -> String {
    match rng.below(8) {
        0 => text.to_ascii_uppercase(),
        1 | 2 => {
            let mut c = text.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        }
        _ => text.to_string(),
    }
}

const PREFIXES: [&str; 8] = ["", "", "", "", "please ", "hey, ", "can you ", "nous, "];
const SUFFIXES: [&str; 7] = ["", "", "", "?", " please", " now", "!"];

/// Fills `{n}` with digits or (for 0–999, one time in three) number words.
fn fill(rng: &mut SplitMix64, template: &str, n: u64) -> String {
    if !template.contains("{n}") {
        return template.to_string();
    }
    let text = match number_words(n) {
        Some(words) if rng.below(3) == 0 => words,
        _ => alloc::format!("{n}"),
    };
    template.replace("{n}", &text)
}

/// Draws a family: refusal categories get fixed shares (out-of-scope 10 %, destructive 10 %,
/// not-allowed 4 %, unclear 3 %) so that each must-refuse category is ≥ 10 % of the corpus; the other
/// families are uniform.
fn draw_family(rng: &mut SplitMix64, split: Split) -> (usize, String, Need) {
    let category = match rng.below(100) {
        0..10 => Some("out-of-scope"),
        10..20 => Some("destructive"),
        20..24 => Some("not-allowed"),
        24..27 => Some("unclear"),
        _ => None,
    };
    let candidates: Vec<usize> = (0..FAMILIES.len())
        .filter(|&i| match category {
            Some(c) => FAMILIES[i].category == c,
            None => !FAMILIES[i].needs_refusal(),
        })
        .collect();
    let f = rng.pick(&candidates).copied().unwrap_or(0);
    let family = &FAMILIES[f];
    let templates: Vec<usize> = (0..family.templates.len())
        .filter(|&t| split.has_template(t))
        .collect();
    let t = rng.pick(&templates).copied().unwrap_or(0);
    let (lo, hi) = family.numbers;
    let n = if hi > 0 { rng.range(lo, hi) } else { 0 };
    (f, fill(rng, family.templates[t], n), (family.need)(n))
}

/// Every word of every template of every family (both splits), lowercase, without
/// punctuation: what [`crate::augment`] must never insert as noise.
pub fn template_words() -> alloc::collections::BTreeSet<&'static str> {
    template_word_iter().collect()
}

/// The words of [`template_words`] in template order, with repeats, without collecting
/// them (the spelling normaliser walks them on every request).
pub fn template_word_iter() -> impl Iterator<Item = &'static str> {
    FAMILIES
        .iter()
        .flat_map(|f| f.templates.iter())
        .chain(PREFIXES.iter())
        .chain(SUFFIXES.iter())
        .flat_map(|t| t.split(|c: char| !c.is_ascii_alphanumeric() && c != '\''))
        .filter(|w| !w.is_empty())
}

/// Generates `count` examples of `split` from `seed` (deterministic).
pub fn generate(split: Split, seed: u64, count: usize) -> Vec<Example> {
    let mut rng = SplitMix64::new(seed ^ split.stream());
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let state = sample_state(&mut rng);
        let (f, mut text, need) = draw_family(&mut rng, split);
        let mut needs = alloc::vec![need];
        let mut category = FAMILIES[f].category;
        // One request in six is a plan of two or three requests (refusals are not joined).
        if rng.below(6) == 0 && !matches!(need, Need::Refuse(_)) {
            let parts = rng.range(2, 3);
            for _ in 1..parts {
                let (g, more, next) = draw_family(&mut rng, split);
                if matches!(next, Need::Refuse(_)) || FAMILIES[g].category == "state" {
                    continue;
                }
                let joiner = rng.pick(&JOINERS).copied().unwrap_or(" and ");
                text = alloc::format!("{text}{joiner}{more}");
                needs.push(next);
                category = "plan";
            }
        }
        if rng.below(7) == 0 {
            text = typo(&mut rng, &text);
            if matches!(
                category,
                "direct" | "argument" | "question" | "negation" | "state"
            ) {
                category = "typo";
            }
        }
        let prefix = rng.pick(&PREFIXES).copied().unwrap_or("");
        let suffix = rng.pick(&SUFFIXES).copied().unwrap_or("");
        let query = casing(&mut rng, &alloc::format!("{prefix}{text}{suffix}"));
        let pair = (needs.len() == 1)
            .then(|| twin(&mut rng, &state, need))
            .flatten();
        let answer = expert_answer(&state, &needs);
        out.push(Example {
            state,
            query: query.clone(),
            needs: needs.clone(),
            answer,
            category,
        });
        if let Some(other) = pair
            && out.len() < count
        {
            let answer = expert_answer(&other, &needs);
            out.push(Example {
                state: other,
                query,
                needs,
                answer,
                category,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answer::parse_answer;
    use crate::catalogue::{CATALOGUE, CommandClass, classify};

    #[test]
    fn every_show_entry_and_rule_is_a_catalogue_command() {
        for s in SHOW {
            assert_ne!(classify(s), CommandClass::Forbidden, "{s}");
        }
        for e in generate(Split::Train, 1, 3000) {
            assert!(parse_answer(&e.answer.to_text()).is_ok(), "{:?}", e.answer);
        }
    }

    #[test]
    fn the_corpus_covers_every_catalogue_form_and_both_splits_differ() {
        let train = generate(Split::Train, 1, 20_000);
        let mut forms = alloc::collections::BTreeSet::new();
        for e in &train {
            for c in e.answer.commands() {
                forms.insert(c.spec_index());
            }
        }
        assert_eq!(forms.len(), CATALOGUE.len());
        let refusals = train
            .iter()
            .filter(|e| matches!(e.category, "out-of-scope" | "destructive"))
            .count();
        assert!(
            refusals * 10 >= train.len(),
            "{refusals} of {}",
            train.len()
        );
        let plans = train
            .iter()
            .filter(|e| e.answer.commands().len() > 1)
            .count();
        assert!(plans * 20 >= train.len(), "{plans}");
        let val = generate(Split::Validation, 1, 2000);
        let train_queries: alloc::collections::BTreeSet<&str> =
            train.iter().map(|e| e.query.as_str()).collect();
        let unseen = val
            .iter()
            .filter(|e| !train_queries.contains(e.query.as_str()))
            .count();
        assert!(unseen * 2 > val.len(), "{unseen}");
    }

    #[test]
    fn state_changes_only_when_asked() {
        for e in generate(Split::Train, 2, 5000) {
            let changes = e
                .answer
                .commands()
                .iter()
                .any(|c| classify(&c.to_text()) == CommandClass::StateChanging);
            if matches!(e.category, "question" | "negation") {
                let switch_back = e.needs.contains(&Need::LearnedScheduler(false));
                assert!(!changes || switch_back, "{} -> {}", e.query, e.answer);
            }
        }
    }

    #[test]
    fn minimal_pairs_differ_in_the_answer() {
        let v = generate(Split::Train, 3, 4000);
        let mut pairs = 0;
        for w in v.windows(2) {
            if w[0].query == w[1].query && w[0].state != w[1].state {
                pairs += 1;
                if matches!(
                    w[0].needs[..],
                    [Need::FreeMemory | Need::Stabilise | Need::WhySlow | Need::WhatGrows]
                ) {
                    assert_ne!(w[0].answer, w[1].answer, "{}", w[0].query);
                }
            }
        }
        assert!(pairs > 100, "{pairs}");
    }

    #[test]
    fn states_survive_the_kernel_view() {
        for e in generate(Split::Validation, 4, 500) {
            let back = StateObject::from_os_state(&e.state.to_os_state(), &e.state.uptime);
            assert_eq!(back, e.state);
        }
    }

    #[test]
    fn arguments_and_units() {
        let s = sample_state(&mut SplitMix64::new(1));
        let text = |needs: &[Need]| expert_answer(&s, needs).to_text();
        assert_eq!(text(&[Need::History(99)]), "crashctl history 64");
        assert_eq!(text(&[Need::CrashLog(0)]), "crashctl log 1");
        assert_eq!(text(&[Need::Tune(150)]), "refuse: not-allowed");
        assert_eq!(text(&[Need::Tune(35)]), "crashctl tune 35");
        assert_eq!(text(&[Need::Reclaim(Some(8 * 256))]), "memctl reclaim 2048");
        assert_eq!(text(&[Need::Compact(Some(11))]), "refuse: not-allowed");
        assert_eq!(
            text(&[
                Need::Compact(None),
                show("memctl stats"),
                show("ps"),
                show("df")
            ]),
            "memctl compact; memctl stats; ps"
        );
        assert_eq!(number_words(25).as_deref(), Some("twenty five"));
        assert_eq!(number_words(300).as_deref(), Some("three hundred"));
    }
}

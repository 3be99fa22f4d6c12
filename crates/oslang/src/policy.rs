//! Intents and the expert policy: (state, intent) → the command an expert would run.
//!
//! A user query expresses an [`Intent`]; the corpus generator ([`crate::corpus`]) phrases
//! intents as text, and [`expert_command`] labels each (state, intent) pair. The rules
//! read only the bucketed values the prompt shows ([`crate::state`]), so the model can
//! learn them exactly. The rules:
//!
//! - Direct requests map to one command: memory overview → `meminfo`; processes or CPU
//!   hog → `ps`; uptime → `uptime`; disk usage → `df`; flush → `sync`; allocator
//!   statistics → `memctl stats`; crash risk → `crashctl status`; last *n* crashes →
//!   `crashctl history n`; predictor statistics → `crashctl stats`; scheduler statistics
//!   → `schedctl stats`; learned scheduler on/off → `schedctl transformer on|off`;
//!   fine-tune progress → `llmctl finetune-status`; set crash threshold *n* →
//!   `crashctl tune n`.
//! - **Free memory** ("memory is tight"): free decile ≤ 1 → `memctl reclaim`; else
//!   fragmentation decile ≥ 6 → `memctl compact`; else `memctl stats` (look first).
//! - **Stabilise** ("the system feels unstable"): risk high or critical and free decile
//!   ≤ 2 → `memctl reclaim`; risk high or critical and fragmentation decile ≥ 6 →
//!   `memctl compact`; otherwise `crashctl status`.
//! - **Sluggish** ("everything is slow"): round-robin with ≥ 4 runnable threads →
//!   `schedctl transformer on`; else ≥ 5 pending I/O requests → `sync`; else busiest
//!   thread ≥ 80 % CPU → `ps`; else `schedctl stats`.
//! - **Leak** ("something is eating memory"): fastest-growing thread bucket ≥ 5 → `ps`;
//!   else `memctl stats`.
//!
//! [`classify_query`] is a keyword classifier from free text to an intent, and
//! [`expert_for_query`] chains it with the policy: a rule-based (state, query) → command
//! baseline and a fallback for the kernel. Its keyword lists were written with every
//! template, test ones included, in view, so its benchmark figure is optimistic; the fair,
//! held-out baseline is [`crate::baseline::NaiveBayes`], fitted on the training split only.

use serde::{Deserialize, Serialize};

use crate::catalogue::{Command, parse_command};
use crate::catalogue::{HISTORY_RANGE, TUNE_PERCENT_RANGE};
use crate::state::{
    OsState, RiskLevel, SchedPolicy, frag_decile, free_decile, pending_bucket, runnable_bucket,
    top_cpu_decile, top_growth_bucket,
};

/// What a user query asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// Show memory totals.
    MemoryOverview,
    /// List processes.
    ProcessList,
    /// Time since boot.
    Uptime,
    /// File-system usage.
    DiskUsage,
    /// Flush buffers to disk.
    Flush,
    /// Allocator statistics.
    AllocatorStats,
    /// Memory is short or fragmented; do something.
    FreeMemory,
    /// Is a crash coming?
    CrashRisk,
    /// Show the last n crash events.
    CrashHistory(u32),
    /// Crash-predictor statistics.
    PredictorStats,
    /// The system feels unstable; act.
    Stabilise,
    /// Everything is slow.
    Sluggish,
    /// Scheduler statistics.
    SchedulerStats,
    /// Turn the learned scheduler on.
    LearnedSchedOn,
    /// Turn the learned scheduler off.
    LearnedSchedOff,
    /// Fine-tune progress.
    FinetuneStatus,
    /// What is hogging the CPU?
    CpuHog,
    /// Something is leaking memory.
    Leak,
    /// Set the crash-alarm threshold to n percent.
    TuneCrash(u32),
}

impl Intent {
    /// Every intent kind, with a representative number for the parameterised ones.
    pub const ALL: [Intent; 19] = [
        Intent::MemoryOverview,
        Intent::ProcessList,
        Intent::Uptime,
        Intent::DiskUsage,
        Intent::Flush,
        Intent::AllocatorStats,
        Intent::FreeMemory,
        Intent::CrashRisk,
        Intent::CrashHistory(5),
        Intent::PredictorStats,
        Intent::Stabilise,
        Intent::Sluggish,
        Intent::SchedulerStats,
        Intent::LearnedSchedOn,
        Intent::LearnedSchedOff,
        Intent::FinetuneStatus,
        Intent::CpuHog,
        Intent::Leak,
        Intent::TuneCrash(30),
    ];
}

/// Parses a command the policy names literally. A typo in this file would fall back to
/// `meminfo`; `policy_only_names_catalogue_commands` checks no branch does.
fn cmd(text: &str) -> Command {
    parse_command(text).unwrap_or(Command::MEMINFO)
}

fn high_risk(s: &OsState) -> bool {
    matches!(s.crash_risk, RiskLevel::High | RiskLevel::Critical)
}

/// The expert's command for `intent` in `state` (rules in the module documentation).
pub fn expert_command(state: &OsState, intent: Intent) -> Command {
    match intent {
        Intent::MemoryOverview => cmd("meminfo"),
        Intent::ProcessList | Intent::CpuHog => cmd("ps"),
        Intent::Uptime => cmd("uptime"),
        Intent::DiskUsage => cmd("df"),
        Intent::Flush => cmd("sync"),
        Intent::AllocatorStats => cmd("memctl stats"),
        Intent::CrashRisk => cmd("crashctl status"),
        Intent::CrashHistory(n) => cmd(&alloc::format!(
            "crashctl history {}",
            n.clamp(HISTORY_RANGE.0, HISTORY_RANGE.1)
        )),
        Intent::PredictorStats => cmd("crashctl stats"),
        Intent::SchedulerStats => cmd("schedctl stats"),
        Intent::LearnedSchedOn => cmd("schedctl transformer on"),
        Intent::LearnedSchedOff => cmd("schedctl transformer off"),
        Intent::FinetuneStatus => cmd("llmctl finetune-status"),
        Intent::TuneCrash(n) => cmd(&alloc::format!(
            "crashctl tune {}",
            n.clamp(TUNE_PERCENT_RANGE.0, TUNE_PERCENT_RANGE.1)
        )),
        Intent::FreeMemory => {
            if free_decile(state) <= 1 {
                cmd("memctl reclaim")
            } else if frag_decile(state) >= 6 {
                cmd("memctl compact")
            } else {
                cmd("memctl stats")
            }
        }
        Intent::Stabilise => {
            if high_risk(state) && free_decile(state) <= 2 {
                cmd("memctl reclaim")
            } else if high_risk(state) && frag_decile(state) >= 6 {
                cmd("memctl compact")
            } else {
                cmd("crashctl status")
            }
        }
        Intent::Sluggish => {
            if state.sched.policy == SchedPolicy::RoundRobin && runnable_bucket(state) >= 4 {
                cmd("schedctl transformer on")
            } else if pending_bucket(state) >= 5 {
                cmd("sync")
            } else if top_cpu_decile(state) >= 8 {
                cmd("ps")
            } else {
                cmd("schedctl stats")
            }
        }
        Intent::Leak => {
            if top_growth_bucket(state) >= 5 {
                cmd("ps")
            } else {
                cmd("memctl stats")
            }
        }
    }
}

/// Guesses the intent of a query from keywords (first matching rule wins; rules run from
/// the most specific to the most generic). `None` if no rule matches.
pub fn classify_query(query: &str) -> Option<Intent> {
    let norm = crate::state::normalize_query(query);
    let words: alloc::vec::Vec<&str> = norm.split(' ').collect();
    let any = |ks: &[&str]| ks.iter().any(|k| words.contains(k));
    let number = words.iter().find_map(|w| w.parse::<u32>().ok());
    let crash = any(&["crash", "crashes", "failure", "failures"]);
    if let Some(n) = number {
        if any(&["tune", "threshold", "sensitivity", "alarm"]) {
            return Some(Intent::TuneCrash(
                n.clamp(TUNE_PERCENT_RANGE.0, TUNE_PERCENT_RANGE.1),
            ));
        }
        if crash || any(&["history"]) {
            return Some(Intent::CrashHistory(
                n.clamp(HISTORY_RANGE.0, HISTORY_RANGE.1),
            ));
        }
    }
    let sched = any(&["scheduler", "scheduling", "schedule", "schedctl"]);
    let rules: &[(bool, Intent)] = &[
        (
            any(&[
                "lora",
                "finetune",
                "fine-tune",
                "fine-tuning",
                "adaptation",
                "adapter",
            ]) || (any(&["training"]) && any(&["llm", "model"])),
            Intent::FinetuneStatus,
        ),
        (
            any(&["robin", "classic"]) || (sched && any(&["off", "disable", "deactivate", "stop"])),
            Intent::LearnedSchedOff,
        ),
        (
            sched && any(&["transformer", "learned", "ai", "neural", "model"]),
            Intent::LearnedSchedOn,
        ),
        (
            any(&["predictor", "accuracy", "accurate"])
                || (crash && any(&["performance", "model", "stats", "statistics"])),
            Intent::PredictorStats,
        ),
        (crash, Intent::CrashRisk),
        (
            any(&[
                "unstable",
                "shaky",
                "flaky",
                "stabilise",
                "stable",
                "breaking",
                "stability",
            ]),
            Intent::Stabilise,
        ),
        (
            any(&[
                "leak",
                "leaking",
                "growing",
                "climbs",
                "allocating",
                "eating",
            ]),
            Intent::Leak,
        ),
        (
            any(&[
                "slow",
                "sluggish",
                "laggy",
                "faster",
                "speed",
                "performance",
                "crawls",
            ]),
            Intent::Sluggish,
        ),
        (
            any(&["hog", "hogging", "cpu", "processor", "busy", "burns"]),
            Intent::CpuHog,
        ),
        (sched || any(&["context", "queue"]), Intent::SchedulerStats),
        (
            any(&["allocator", "memctl", "buddy"]),
            Intent::AllocatorStats,
        ),
        (
            any(&["flush", "sync", "write", "persist", "dirty"]),
            Intent::Flush,
        ),
        (
            any(&["disk", "df", "filesystem", "storage", "drive", "space"]),
            Intent::DiskUsage,
        ),
        (
            any(&["uptime", "boot", "reboot"]) || (any(&["how"]) && any(&["long"])),
            Intent::Uptime,
        ),
        (
            any(&[
                "processes",
                "threads",
                "tasks",
                "ps",
                "running",
                "thread",
                "task",
            ]),
            Intent::ProcessList,
        ),
        (
            any(&["memory", "ram", "meminfo"])
                && any(&["free", "tight", "low", "pressure", "room", "short", "out"]),
            Intent::FreeMemory,
        ),
        (any(&["memory", "ram", "meminfo"]), Intent::MemoryOverview),
    ];
    rules
        .iter()
        .find(|(hit, _)| *hit)
        .map(|(_, intent)| *intent)
}

/// The rule-based baseline: [`classify_query`] then [`expert_command`].
pub fn expert_for_query(state: &OsState, query: &str) -> Option<Command> {
    classify_query(query).map(|i| expert_command(state, i))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::sample_state;

    #[test]
    fn policy_only_names_catalogue_commands() {
        // `cmd` falls back to `meminfo` on a typo, so only MemoryOverview may give it.
        let mut s = sample_state();
        for free in [0u64, 25, 100] {
            for frag in [0u8, 70] {
                for risk in [RiskLevel::Low, RiskLevel::Critical] {
                    s.mem_free_kib = s.mem_total_kib * free / 100;
                    s.frag_index = frag;
                    s.crash_risk = risk;
                    for intent in Intent::ALL {
                        let c = expert_command(&s, intent);
                        assert_eq!(c == Command::MEMINFO, intent == Intent::MemoryOverview);
                    }
                }
            }
        }
        assert_eq!(
            expert_command(&s, Intent::CrashHistory(64)).to_text(),
            "crashctl history 64"
        );
        assert_eq!(
            expert_command(&s, Intent::TuneCrash(99)).to_text(),
            "crashctl tune 99"
        );
        assert_eq!(
            expert_command(&s, Intent::LearnedSchedOff).to_text(),
            "schedctl transformer off"
        );
        assert_eq!(
            expert_command(&s, Intent::FinetuneStatus).to_text(),
            "llmctl finetune-status"
        );
    }

    #[test]
    fn free_memory_rules() {
        let mut s = sample_state();
        s.mem_free_kib = s.mem_total_kib / 20;
        assert_eq!(
            expert_command(&s, Intent::FreeMemory).to_text(),
            "memctl reclaim"
        );
        s.mem_free_kib = s.mem_total_kib / 2;
        s.frag_index = 65;
        assert_eq!(
            expert_command(&s, Intent::FreeMemory).to_text(),
            "memctl compact"
        );
        s.frag_index = 20;
        assert_eq!(
            expert_command(&s, Intent::FreeMemory).to_text(),
            "memctl stats"
        );
    }

    #[test]
    fn stabilise_and_sluggish_rules() {
        let mut s = sample_state();
        s.crash_risk = RiskLevel::Critical;
        s.mem_free_kib = s.mem_total_kib / 5;
        assert_eq!(
            expert_command(&s, Intent::Stabilise).to_text(),
            "memctl reclaim"
        );
        s.mem_free_kib = s.mem_total_kib / 2;
        s.frag_index = 90;
        assert_eq!(
            expert_command(&s, Intent::Stabilise).to_text(),
            "memctl compact"
        );
        s.crash_risk = RiskLevel::Medium;
        assert_eq!(
            expert_command(&s, Intent::Stabilise).to_text(),
            "crashctl status"
        );

        s.sched.policy = SchedPolicy::RoundRobin;
        s.sched.runnable = 6;
        assert_eq!(
            expert_command(&s, Intent::Sluggish).to_text(),
            "schedctl transformer on"
        );
        s.sched.policy = SchedPolicy::Transformer;
        s.io.pending = 7;
        assert_eq!(expert_command(&s, Intent::Sluggish).to_text(), "sync");
        s.io.pending = 0;
        s.top_cpu[0].cpu_pct = 85;
        assert_eq!(expert_command(&s, Intent::Sluggish).to_text(), "ps");
        s.top_cpu.clear();
        assert_eq!(
            expert_command(&s, Intent::Sluggish).to_text(),
            "schedctl stats"
        );
    }

    #[test]
    fn keyword_classifier() {
        let cases = [
            ("show the last 7 crashes", Intent::CrashHistory(7)),
            ("set crash threshold to 40", Intent::TuneCrash(40)),
            ("go back to round robin", Intent::LearnedSchedOff),
            ("enable the learned scheduler", Intent::LearnedSchedOn),
            ("is the lora done", Intent::FinetuneStatus),
            (
                "how accurate is the crash predictor",
                Intent::PredictorStats,
            ),
            ("will the system crash?", Intent::CrashRisk),
            ("memory is tight", Intent::FreeMemory),
            ("how much memory do we have", Intent::MemoryOverview),
            ("Something is LEAKING memory!", Intent::Leak),
        ];
        for (q, want) in cases {
            assert_eq!(classify_query(q), Some(want), "{q}");
        }
        assert_eq!(classify_query("purple elephants"), None);
        assert_eq!(classify_query(""), None);
        let s = sample_state();
        assert_eq!(
            expert_for_query(&s, "list processes").map(|c| c.to_text()),
            Some("ps".into())
        );
    }

    #[test]
    fn leak_rule() {
        let mut s = sample_state();
        s.top_growth[0].kib_per_s = 100;
        assert_eq!(expert_command(&s, Intent::Leak).to_text(), "ps");
        s.top_growth.clear();
        assert_eq!(expert_command(&s, Intent::Leak).to_text(), "memctl stats");
    }
}

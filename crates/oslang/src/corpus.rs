//! The seeded corpus generator: (state, query) → command examples with splits.
//!
//! [`sample_state`] draws a random but plausible [`OsState`] (every bucket of every field
//! used by the policy is reachable); [`generate`] draws an intent, phrases it with a
//! template and labels it with [`expert_command`]. Each intent has ten phrasing
//! templates: templates 0–7 belong to [`Split::Train`], 8 to [`Split::Validation`], 9 to
//! [`Split::Test`]. Splits also use different seed streams, so test examples have unseen
//! phrasings *and* unseen states: test accuracy measures generalisation. All splits swap
//! synonyms ([`vary`]) and add politeness prefixes and suffixes; training queries also get
//! filler words ([`add_filler`]) so the model learns to look for keywords.

use alloc::string::String;
use alloc::vec::Vec;

use crate::catalogue::Command;
use crate::catalogue::{HISTORY_RANGE, TUNE_PERCENT_RANGE};
use crate::policy::{Intent, expert_command};
use crate::rng::SplitMix64;
use crate::state::{
    IoStats, OsState, RiskLevel, SchedPolicy, SchedStats, ThreadCpu, ThreadGrowth, encode_prompt,
};

/// A corpus split.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Split {
    /// Training examples (templates 0–7).
    Train,
    /// Validation examples (template 8).
    Validation,
    /// Test examples (template 9, never seen in training).
    Test,
}

impl Split {
    /// Template indices this split draws from.
    pub fn templates(self) -> &'static [usize] {
        match self {
            Split::Train => &[0, 1, 2, 3, 4, 5, 6, 7],
            Split::Validation => &[8],
            Split::Test => &[9],
        }
    }

    /// Stream selector mixed into the seed so splits never share random draws.
    fn stream(self) -> u64 {
        match self {
            Split::Train => 0x7472_6169_6e00_0001,
            Split::Validation => 0x7661_6c69_6400_0002,
            Split::Test => 0x7465_7374_0000_0003,
        }
    }

    /// Name used on the command line and in file names.
    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }

    /// Parses [`Split::name`].
    pub fn from_name(name: &str) -> Option<Split> {
        [Split::Train, Split::Validation, Split::Test]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// One corpus example.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    /// The OS state.
    pub state: OsState,
    /// The user's query as phrased.
    pub query: String,
    /// The intent behind the query.
    pub intent: Intent,
    /// Template index used (see [`Split::templates`]).
    pub template: usize,
    /// The label.
    pub command: Command,
}

impl Example {
    /// The prompt text ([`encode_prompt`]).
    pub fn prompt(&self) -> String {
        encode_prompt(&self.state, &self.query)
    }
}

const THREAD_NAMES: &[&str] = &[
    "shell",
    "init",
    "netd",
    "fsd",
    "logger",
    "httpd",
    "compactor",
    "crashmon",
    "llm",
    "idle",
    "timer",
    "blkio",
];

/// Ten phrasings per intent kind, in [`Intent::ALL`] order; `{n}` is the number.
/// Templates 0–7 train, 8 validate, 9 test. Validation and test templates are new
/// sentences built from keywords the training templates (with [`SYNONYMS`]) use.
const TEMPLATES: [[&str; 10]; 19] = [
    [
        "how much memory do we have",
        "show memory usage",
        "meminfo please",
        "what is the memory situation",
        "total and free memory",
        "memory overview",
        "how much ram is in use",
        "report memory usage",
        "display the memory usage summary",
        "what does memory usage look like",
    ],
    [
        "list processes",
        "show running threads",
        "what is running",
        "show me all tasks",
        "which processes exist",
        "ps",
        "list every thread",
        "running processes please",
        "enumerate the running tasks",
        "which threads are running right now",
    ],
    [
        "how long has it been up",
        "show uptime",
        "when did the system boot",
        "uptime",
        "time since boot",
        "how long since boot",
        "how long has the kernel been running",
        "system uptime please",
        "how long have we been up",
        "report the time since the last boot",
    ],
    [
        "disk usage",
        "how full is the disk",
        "show filesystem usage",
        "free disk space",
        "is the disk running out of space",
        "df",
        "space left on disk",
        "filesystem space report",
        "how much disk space is left",
        "is the filesystem full",
    ],
    [
        "flush buffers to disk",
        "sync the disks",
        "write everything to disk",
        "sync now",
        "make sure data is on disk",
        "flush dirty pages",
        "sync",
        "write dirty buffers out",
        "flush everything to the disk",
        "please write the dirty data to disk",
    ],
    [
        "allocator statistics",
        "show memctl stats",
        "how is the allocator doing",
        "buddy allocator stats",
        "print memory allocator counters",
        "allocator numbers",
        "memctl stats",
        "show the allocator state",
        "allocator stats please",
        "what do the allocator counters say",
    ],
    [
        "memory is tight do something",
        "free some memory",
        "we are low on memory fix it",
        "memory pressure help",
        "make room in memory",
        "out of memory soon",
        "free up memory",
        "memory is low",
        "we need more free memory",
        "memory is running low please fix it",
    ],
    [
        "will the system crash",
        "what is the crash risk",
        "are we about to crash",
        "crash status",
        "is a crash coming",
        "crash risk now",
        "crashctl status",
        "how likely is a crash",
        "is the system going to crash",
        "what is the risk of a crash right now",
    ],
    [
        "show the last {n} crashes",
        "crash history {n}",
        "last {n} crash events",
        "list {n} recent crash alerts",
        "past {n} crash warnings",
        "crashctl history {n}",
        "{n} most recent crashes",
        "history of the last {n} crash events",
        "show {n} past crash events",
        "list the last {n} crash warnings",
    ],
    [
        "crash predictor statistics",
        "how accurate is the crash predictor",
        "crashctl stats",
        "show predictor stats",
        "crash model performance",
        "predictor accuracy",
        "how good is the crash model",
        "crash predictor numbers",
        "show crash predictor performance",
        "what is the accuracy of the predictor",
    ],
    [
        "the system feels unstable",
        "stabilise the system",
        "things keep breaking help",
        "the kernel seems shaky",
        "make the machine stable again",
        "everything is unstable fix it",
        "stability problems",
        "the system is unstable do something",
        "the machine keeps breaking",
        "please stabilise the kernel",
    ],
    [
        "everything is slow",
        "the system is sluggish",
        "speed things up",
        "why is it so slow",
        "performance is bad",
        "make it faster",
        "the kernel is slow",
        "things are laggy",
        "the machine is slow make it faster",
        "performance is sluggish speed it up",
    ],
    [
        "scheduler statistics",
        "show schedctl stats",
        "how is the scheduler doing",
        "context switch stats",
        "run queue numbers",
        "schedctl stats",
        "scheduler counters",
        "show the run queue",
        "print scheduler stats",
        "what do the scheduler counters say",
    ],
    [
        "turn on the transformer scheduler",
        "enable the learned scheduler",
        "use the ai scheduler",
        "switch to transformer scheduling",
        "activate neural scheduling",
        "schedctl transformer on",
        "let the model schedule threads",
        "learned scheduling on",
        "enable transformer scheduling",
        "switch the scheduler to the learned policy",
    ],
    [
        "turn off the transformer scheduler",
        "disable the learned scheduler",
        "go back to round robin",
        "stop using the ai scheduler",
        "deactivate neural scheduling",
        "schedctl transformer off",
        "use round robin scheduling",
        "learned scheduling off",
        "disable transformer scheduling",
        "switch the scheduler back to round robin",
    ],
    [
        "finetune status",
        "how is the fine-tune going",
        "llm training progress",
        "is the lora done",
        "status of model adaptation",
        "llmctl finetune-status",
        "lora training status",
        "is fine-tuning finished",
        "fine-tune progress",
        "how far along is the lora training",
    ],
    [
        "what is hogging the cpu",
        "who uses the most cpu",
        "which thread is busy",
        "top cpu users",
        "what eats processor time",
        "cpu hog",
        "which task burns cpu",
        "what is using the processor",
        "who is hogging the processor",
        "which thread uses the most cpu time",
    ],
    [
        "something is leaking memory",
        "memory keeps growing",
        "find the memory leak",
        "who is eating memory",
        "memory use climbs steadily",
        "leak",
        "a task keeps allocating more memory",
        "memory leak suspected",
        "i think memory is leaking",
        "which task keeps growing its memory",
    ],
    [
        "set crash threshold to {n}",
        "tune crash alarm to {n}",
        "crash sensitivity {n}",
        "make the crash alarm fire at {n} percent",
        "crashctl tune {n}",
        "crash threshold {n}",
        "alarm threshold {n} percent",
        "set the crash alarm level to {n}",
        "tune the crash threshold to {n} percent",
        "change the crash alarm threshold to {n}",
    ],
];

/// Interchangeable words; [`vary`] swaps them in every split so no split owns a synonym.
const SYNONYMS: &[&[&str]] = &[
    &["memory", "ram"],
    &["show", "display", "print"],
    &["crash", "failure"],
    &["slow", "sluggish", "laggy"],
    &["processes", "threads", "tasks"],
    &["disk", "storage"],
    &["stats", "statistics", "counters", "numbers"],
    &["enable", "activate"],
    &["disable", "deactivate"],
    &["fix", "sort out"],
    &["unstable", "shaky", "flaky"],
    &["system", "machine", "kernel", "box"],
    &["cpu", "processor"],
];

/// Filler words inserted into training queries only, so the model learns to ignore them.
const FILLERS: &[&str] = &[
    "uh", "hmm", "ok", "so", "right", "i think", "now", "again", "just",
];

const PREFIXES: &[&str] = &["", "", "", "please ", "hey nous ", "can you ", "quick "];
const SUFFIXES: &[&str] = &["", "", "", "?", " please", " now", "!"];

/// Phrases `intent` with template `t` (0..10), filling `{n}` with the intent's number.
pub fn phrase(intent: Intent, t: usize) -> Option<String> {
    let kind = Intent::ALL
        .iter()
        .position(|i| core::mem::discriminant(i) == core::mem::discriminant(&intent))?;
    let text = TEMPLATES.get(kind)?.get(t)?;
    let n = match intent {
        Intent::CrashHistory(n) | Intent::TuneCrash(n) => n,
        _ => 0,
    };
    Some(text.replace("{n}", &alloc::format!("{n}")))
}

/// Draws a random state. Values spread over every bucket the policy and prompt use.
pub fn sample_state(rng: &mut SplitMix64) -> OsState {
    let total_mib = 1u64 << rng.range(5, 13);
    let mem_total_kib = total_mib * 1024;
    let free_pct = rng.range(0, 99);
    let names = |rng: &mut SplitMix64, k: u64| -> Vec<&'static str> {
        (0..k)
            .filter_map(|_| rng.pick(THREAD_NAMES).copied())
            .collect()
    };
    let n_cpu = rng.range(0, 3);
    let mut cpu: Vec<u8> = (0..n_cpu).map(|_| rng.range(0, 100) as u8).collect();
    cpu.sort_unstable_by(|a, b| b.cmp(a));
    let top_cpu = names(rng, n_cpu)
        .into_iter()
        .zip(cpu)
        .map(|(name, cpu_pct)| ThreadCpu {
            name: name.into(),
            cpu_pct,
        })
        .collect();
    let n_grow = rng.range(0, 3);
    let mut grow: Vec<u32> = (0..n_grow)
        .map(|_| (1u32 << rng.range(0, 10)) - 1)
        .collect();
    grow.sort_unstable_by(|a, b| b.cmp(a));
    let top_growth = names(rng, n_grow)
        .into_iter()
        .zip(grow)
        .map(|(name, kib_per_s)| ThreadGrowth {
            name: name.into(),
            kib_per_s,
        })
        .collect();
    let crash_risk = match rng.below(4) {
        0 => RiskLevel::Low,
        1 => RiskLevel::Medium,
        2 => RiskLevel::High,
        _ => RiskLevel::Critical,
    };
    OsState {
        mem_total_kib,
        mem_free_kib: mem_total_kib * free_pct / 100,
        frag_index: rng.range(0, 99) as u8,
        crash_risk,
        crash_confidence: rng.range(30, 99) as u8,
        sched: SchedStats {
            policy: if rng.below(2) == 0 {
                SchedPolicy::RoundRobin
            } else {
                SchedPolicy::Transformer
            },
            runnable: rng.range(0, 12) as u32,
            context_switches: 10u64.pow(rng.range(2, 8) as u32) + rng.below(1000),
        },
        io: IoStats {
            reads: 10u64.pow(rng.range(0, 6) as u32) + rng.below(10),
            writes: 10u64.pow(rng.range(0, 6) as u32) + rng.below(10),
            pending: rng.range(0, 12) as u32,
        },
        top_cpu,
        top_growth,
    }
}

/// Draws a random intent; numbers are drawn for the parameterised kinds.
pub fn sample_intent(rng: &mut SplitMix64) -> Intent {
    match rng
        .pick(&Intent::ALL)
        .copied()
        .unwrap_or(Intent::MemoryOverview)
    {
        Intent::CrashHistory(_) => {
            Intent::CrashHistory(rng.range(HISTORY_RANGE.0.into(), HISTORY_RANGE.1.into()) as u32)
        }
        Intent::TuneCrash(_) => Intent::TuneCrash(
            rng.range(TUNE_PERCENT_RANGE.0.into(), TUNE_PERCENT_RANGE.1.into()) as u32,
        ),
        other => other,
    }
}

/// Adds a random politeness prefix and suffix.
pub fn decorate(rng: &mut SplitMix64, text: &str) -> String {
    let p = rng.pick(PREFIXES).copied().unwrap_or("");
    let s = rng.pick(SUFFIXES).copied().unwrap_or("");
    alloc::format!("{p}{text}{s}")
}

/// Swaps each synonym occurrence (whole words) for a random member of its group with
/// probability 2/5.
pub fn vary(rng: &mut SplitMix64, text: &str) -> String {
    let mut words: Vec<String> = text.split(' ').map(String::from).collect();
    for w in &mut words {
        if let Some(group) = SYNONYMS.iter().find(|g| g.contains(&w.as_str()))
            && rng.below(5) < 2
            && let Some(pick) = rng.pick(group)
        {
            *w = String::from(*pick);
        }
    }
    words.join(" ")
}

/// Inserts one filler word at a random word boundary with probability 3/10.
pub fn add_filler(rng: &mut SplitMix64, text: &str) -> String {
    if rng.below(10) >= 3 {
        return String::from(text);
    }
    let mut words: Vec<&str> = text.split(' ').collect();
    let at = rng.below(words.len() as u64 + 1) as usize;
    if let Some(f) = rng.pick(FILLERS) {
        words.insert(at.min(words.len()), f);
    }
    words.join(" ")
}

/// Generates `count` labelled examples of `split` from `seed`.
pub fn generate(split: Split, seed: u64, count: usize) -> Vec<Example> {
    let mut rng = SplitMix64::new(seed ^ split.stream());
    (0..count)
        .map(|_| {
            let state = sample_state(&mut rng);
            let intent = sample_intent(&mut rng);
            let template = rng.pick(split.templates()).copied().unwrap_or(0);
            let mut text = vary(&mut rng, &phrase(intent, template).unwrap_or_default());
            if split == Split::Train {
                text = add_filler(&mut rng, &text);
            }
            let query = decorate(&mut rng, &text);
            let command = expert_command(&state, intent);
            Example {
                state,
                query,
                intent,
                template,
                command,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    #[test]
    fn generation_is_deterministic_and_splits_differ() {
        assert_eq!(generate(Split::Train, 1, 50), generate(Split::Train, 1, 50));
        assert_ne!(generate(Split::Train, 1, 50), generate(Split::Train, 2, 50));
        let train = generate(Split::Train, 1, 2000);
        let test = generate(Split::Test, 1, 500);
        let train_queries: BTreeSet<String> = train
            .iter()
            .map(|e| phrase(e.intent, e.template).unwrap())
            .collect();
        assert!(test.iter().all(|e| e.template == 9));
        assert!(train.iter().all(|e| e.template < 8));
        // No test phrasing (before decoration) occurs in training.
        assert!(
            test.iter()
                .all(|e| !train_queries.contains(&phrase(e.intent, e.template).unwrap()))
        );
    }

    #[test]
    fn every_template_is_distinct_and_numbered_ones_use_n() {
        let mut seen = BTreeSet::new();
        for (k, row) in TEMPLATES.iter().enumerate() {
            for t in row {
                assert!(seen.insert(*t), "duplicate template {t}");
                let numbered = matches!(
                    Intent::ALL[k],
                    Intent::CrashHistory(_) | Intent::TuneCrash(_)
                );
                assert_eq!(t.contains("{n}"), numbered, "{t}");
            }
        }
    }

    #[test]
    fn corpus_covers_every_catalogue_command_of_its_task() {
        let cmds: BTreeSet<usize> = generate(Split::Train, 3, 5000)
            .iter()
            .map(|e| e.command.spec_index())
            .collect();
        // The intent corpus was written for the first catalogue (the shipped model's task).
        assert_eq!(cmds, (0..crate::catalogue::FIRST_TASK_FORMS).collect());
    }

    #[test]
    fn numbers_in_queries_reach_the_label() {
        for e in generate(Split::Validation, 9, 500) {
            if let Intent::CrashHistory(n) | Intent::TuneCrash(n) = e.intent {
                assert!(e.query.contains(&alloc::format!("{n}")));
                assert_eq!(e.command.number(), Some(n));
            }
        }
    }
}

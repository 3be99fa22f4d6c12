//! `llmctl finetune` in a kernel thread: the data checked before anything starts (errors name
//! the file's line), the held-out accuracy measured before and after when
//! `/models/finetune-heldout.json` exists, LoRA steps through `llmtask::finetune::FinetuneRun`
//! with progress published after each step for `llmctl finetune-status`, a stop flag checked
//! between steps (`llmctl finetune stop`), then the adapter saved crash-safely (`adapters`)
//! and put in use. The shell thread stays responsive: it has a higher priority, and the
//! training thread holds no lock while it computes.

use alloc::format;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

use hal::task::{self, SpawnOptions};
use llm::TrainExample;
use llmtask::finetune::{FinetuneRun, Settings};
use metrics::{Counter, FloatGauge, Gauge};
use oslang::finetune::Record;
use sched::Priority;

use super::{adapters, model};

/// The default training data.
pub const DEFAULT_DATA: &str = "/models/finetune-data.json";
/// Held-out data, evaluated before and after when present.
pub const HELDOUT: &str = "/models/finetune-heldout.json";
/// Largest fine-tune file.
pub const MAX_DATA: usize = 4 * 1024 * 1024;

/// Where a run is.
#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Preparing,
    Evaluating,
    Training,
    Saving,
    Done,
    Stopped,
    Failed(String),
}

/// What `llmctl finetune-status` shows.
#[derive(Clone, Debug)]
pub struct Status {
    pub phase: Phase,
    pub data: String,
    pub examples: usize,
    pub epochs: usize,
    pub rank: usize,
    pub epoch: usize,
    pub step: usize,
    pub total_steps: usize,
    pub batch: usize,
    pub loss: f32,
    pub first_loss: f32,
    pub started_ns: u64,
    /// Time spent in training steps (adapter init and frozen-layer cache included).
    pub train_ns: u64,
    pub ended_ns: Option<u64>,
    /// Held-out accuracy before / after, with the number of held-out examples.
    pub heldout: Option<(usize, f64, Option<f64>)>,
    pub adapter: Option<(String, usize)>,
}

static STATUS: spin::Mutex<Option<Status>> = spin::Mutex::new(None);
static RUNNING: AtomicBool = AtomicBool::new(false);
static STOP: AtomicBool = AtomicBool::new(false);

pub static M_STEPS: Counter = Counter::new(
    "nous_llm_finetune_steps_total",
    "LoRA fine-tune steps run since boot.",
);
pub static M_LOSS: FloatGauge = FloatGauge::new(
    "nous_llm_finetune_loss",
    "Loss of the last LoRA fine-tune step.",
);
pub static M_PROGRESS: Gauge = Gauge::new(
    "nous_llm_finetune_progress_permille",
    "Progress of the current or last fine-tune, permille of its steps.",
);

/// A snapshot of the current or last run.
pub fn status() -> Option<Status> {
    STATUS.lock().clone()
}

fn update(f: impl FnOnce(&mut Status)) {
    if let Some(s) = STATUS.lock().as_mut() {
        f(s);
    }
}

/// Asks a running fine-tune to stop after its current step; false when none runs.
pub fn request_stop() -> bool {
    if RUNNING.load(Ordering::SeqCst) {
        STOP.store(true, Ordering::SeqCst);
        true
    } else {
        false
    }
}

/// Reads and checks a data file against the loaded model.
pub fn read_data(
    loaded: &model::Loaded,
    path: &str,
) -> Result<(Vec<Record>, Vec<TrainExample>), String> {
    let bytes = crate::files::read(path, MAX_DATA)?;
    llmtask::finetune::parse_data(
        &bytes,
        &loaded.tok,
        loaded.specials,
        loaded.model.config().max_position_embeddings,
    )
    .map_err(|e| format!("{path}: {e}"))
}

/// Checks everything that can be checked at once, then starts the training thread.
pub fn start(path: &str, settings: Settings, heldout_limit: Option<usize>) -> Result<(), String> {
    let loaded = model::get().ok_or_else(|| String::from("no model loaded"))?;
    if RUNNING.swap(true, Ordering::SeqCst) {
        return Err(String::from(
            "a fine-tune is already running (llmctl finetune stop)",
        ));
    }
    let prepared = read_data(&loaded, path).and_then(|(_, examples)| {
        let heldout = match read_data(&loaded, HELDOUT) {
            Ok((records, _)) => Some(records),
            Err(e) if e.contains("no such") => None,
            Err(e) => return Err(format!("held-out data: {e}")),
        };
        Ok((examples, heldout))
    });
    let (examples, heldout) = match prepared {
        Ok(p) => p,
        Err(e) => {
            RUNNING.store(false, Ordering::SeqCst);
            return Err(e);
        }
    };
    let heldout = heldout.map(|mut h| {
        if let Some(limit) = heldout_limit {
            h.truncate(limit);
        }
        h
    });
    STOP.store(false, Ordering::SeqCst);
    *STATUS.lock() = Some(Status {
        phase: Phase::Preparing,
        data: String::from(path),
        examples: examples.len(),
        epochs: settings.epochs,
        rank: settings.rank,
        epoch: 0,
        step: 0,
        total_steps: 0,
        batch: settings.batch.min(examples.len()),
        loss: f32::NAN,
        first_loss: f32::NAN,
        started_ns: hal::time::now_ns(),
        train_ns: 0,
        ended_ns: None,
        heldout: None,
        adapter: None,
    });
    M_PROGRESS.set(0);
    let spawned = task::spawn_with(
        "llm-finetune",
        SpawnOptions {
            priority: Priority::Normal,
            detached: true,
            ..SpawnOptions::default()
        },
        move || {
            let phase = match run(
                &loaded,
                examples,
                heldout.filter(|h| !h.is_empty()),
                &settings,
            ) {
                Ok(phase) => phase,
                Err(e) => Phase::Failed(e),
            };
            update(|s| {
                s.phase = phase;
                s.ended_ns = Some(hal::time::now_ns());
            });
            RUNNING.store(false, Ordering::SeqCst);
            0
        },
    );
    if let Err(e) = spawned {
        RUNNING.store(false, Ordering::SeqCst);
        update(|s| s.phase = Phase::Failed(format!("thread not started: {e}")));
        return Err(format!("cannot start the training thread: {e}"));
    }
    Ok(())
}

/// Exact-command accuracy of `quant` on held-out records.
fn heldout_accuracy(loaded: &model::Loaded, quant: &llm::QuantModel, records: &[Record]) -> f64 {
    let (mut right, mut seen) = (0usize, 0usize);
    for r in records {
        if STOP.load(Ordering::SeqCst) {
            break;
        }
        let prompt = r.prompt();
        if let Ok(text) = llmtask::predict(quant, &loaded.tok, loaded.specials, &prompt, true) {
            right += usize::from(text == r.command);
        }
        seen += 1;
    }
    right as f64 / seen.max(1) as f64
}

fn run(
    loaded: &Arc<model::Loaded>,
    examples: Vec<TrainExample>,
    heldout: Option<Vec<Record>>,
    settings: &Settings,
) -> Result<Phase, String> {
    let base_quant = llm::QuantModel::from_model(&loaded.model).map_err(|e| format!("{e}"))?;
    if let Some(h) = &heldout {
        update(|s| s.phase = Phase::Evaluating);
        let before = heldout_accuracy(loaded, &base_quant, h);
        update(|s| s.heldout = Some((h.len(), before, None)));
    }
    drop(base_quant);
    if STOP.load(Ordering::SeqCst) {
        return Ok(Phase::Stopped);
    }
    update(|s| s.phase = Phase::Training);
    let t0 = hal::time::now_ns();
    let mut run =
        FinetuneRun::new(&loaded.model, examples, settings).map_err(|e| format!("{e}"))?;
    update(|s| s.total_steps = run.total_steps);
    while !run.finished() {
        if STOP.load(Ordering::SeqCst) {
            update(|s| s.train_ns = hal::time::now_ns() - t0);
            return Ok(Phase::Stopped);
        }
        let loss = run
            .step()
            .map_err(|e| format!("step {}: {e}", run.step + 1))?;
        M_STEPS.inc();
        M_LOSS.set(f64::from(loss));
        M_PROGRESS.set((run.step * 1000 / run.total_steps.max(1)) as i64);
        let (step, epoch) = (run.step, run.epoch());
        update(|s| {
            if step == 1 {
                s.first_loss = loss;
            }
            s.step = step;
            s.epoch = epoch;
            s.loss = loss;
            s.train_ns = hal::time::now_ns() - t0;
        });
    }
    let trained = run.into_adapters();
    update(|s| s.phase = Phase::Saving);
    let name = adapters::next_name()?;
    let pause_ms = pause_between_files_ms();
    let bytes = adapters::save(&name, &trained, &|file| {
        if pause_ms > 0 {
            hal::println!("llm: saved {file} of adapter {name}");
            task::sleep_ns(pause_ms * 1_000_000);
        }
    })?;
    model::install_adapter(Some((name.clone(), &trained)))?;
    update(|s| s.adapter = Some((name.clone(), bytes)));
    if let Some(h) = &heldout {
        update(|s| s.phase = Phase::Evaluating);
        let after = model::get().map(|m| heldout_accuracy(&m, &m.quant, h));
        update(|s| {
            if let Some((n, before, _)) = s.heldout {
                s.heldout = Some((n, before, after));
            }
        });
    }
    Ok(Phase::Done)
}

/// `llm.save_pause_ms=N` on the kernel command line holds the save for N ms after each file
/// (the kill-during-save e2e test aims its kill into that window); 0 otherwise.
fn pause_between_files_ms() -> u64 {
    hal::boot::boot_info()
        .and_then(|b| {
            b.cmdline()
                .split_whitespace()
                .find_map(|w| w.strip_prefix("llm.save_pause_ms="))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

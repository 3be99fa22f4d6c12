//! `nous-llm`: the host tool that makes and measures the Nous language model.
//!
//! Subcommands: `gen-corpus` (inspect the corpus), `gen-finetune` (the site-policy data
//! sets), `encode` (tokenizer check against Hugging Face), `train-tokenizer`, `train` (deterministic from `--seed`; loss CSV + PNG,
//! safetensors checkpoints + config.json), `eval` (exact-command accuracy, with and
//! without constrained decoding, next to the fitted and keyword baselines), `finetune` (LoRA on `finetune-data.json`), `bench`
//! (issue 4 item 7 in one table), `answer` (the batch interface: JSON Lines requests
//! answered by the model or a baseline). Data comes from `oslang` (prompts, catalogue, corpus),
//! tokens from `bpe`, the model from `llm`. Modules: [`model_io`] (loading and saving a
//! model directory), `llmtask` (shared with the kernel: examples → token sequences, decoding, accuracy),
//! [`plot`] (the loss PNG), [`cmd`] (one function per subcommand).

mod answer;
mod cmd;
mod kernel_ref;
mod model_io;
mod peer;
mod plot;
mod prefill_bench;

use clap::{Parser, Subcommand};
use peak_alloc::PeakAlloc;

/// Counts heap use so `finetune` and `bench` can report peak memory.
#[global_allocator]
static PEAK: PeakAlloc = PeakAlloc;

#[derive(Parser)]
#[command(
    name = "nous-llm",
    about = "Corpus, tokenizer, training, evaluation and LoRA for the Nous LLM"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Write corpus examples (one JSON object per line) for inspection.
    GenCorpus(cmd::GenCorpusArgs),
    /// Write the site-policy fine-tune set and its held-out set.
    GenFinetune(cmd::GenFinetuneArgs),
    /// Encode each stdin line with a tokenizer.json; print the ids as a JSON array per line.
    Encode(cmd::EncodeArgs),
    /// Train the BPE tokenizer on the training split.
    TrainTokenizer(cmd::TrainTokenizerArgs),
    /// Train the base model.
    Train(cmd::TrainArgs),
    /// Exact-command accuracy of a model on a corpus split.
    Eval(cmd::EvalArgs),
    /// LoRA fine-tune on a fine-tune data file; held-out accuracy before and after.
    Finetune(cmd::FinetuneArgs),
    /// All issue-4 benchmark figures in one table.
    Bench(cmd::BenchArgs),
    /// The in-kernel figures' host reference: the kernel's code, natively, on the same work.
    KernelRef(kernel_ref::KernelRefArgs),
    /// Answer JSON Lines requests {"id", "state", "query"} with the model or a baseline.
    Answer(answer::AnswerArgs),
    /// Write examples of the redefined task's corpus as JSON Lines.
    GenTask(answer::GenTaskArgs),
    /// Exact-answer accuracy per category of a system on a task corpus split.
    TaskEval(answer::TaskEvalArgs),
    /// Exact-answer accuracy of a system on the site-policy held-out set (LoRA comparison).
    SiteEval(answer::SiteEvalArgs),
    /// Decode speed against a plain C reference (tools/nous-llm/c-ref) on the same weights and work.
    PeerBench(peer::PeerBenchArgs),
    /// Batched prefill against token-by-token on the kernel's prompts (alternating pairs).
    PrefillBench(prefill_bench::PrefillBenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::GenCorpus(a) => cmd::gen_corpus(&a),
        Command::GenFinetune(a) => cmd::gen_finetune(&a),
        Command::Encode(a) => cmd::encode(&a),
        Command::TrainTokenizer(a) => cmd::train_tokenizer(&a),
        Command::Train(a) => cmd::train(&a),
        Command::Eval(a) => cmd::eval(&a),
        Command::Finetune(a) => cmd::finetune(&a, &PEAK),
        Command::Bench(a) => cmd::bench(&a, &PEAK),
        Command::KernelRef(a) => kernel_ref::kernel_ref(&a),
        Command::Answer(a) => answer::answer(&a),
        Command::GenTask(a) => answer::gen_task(&a),
        Command::TaskEval(a) => answer::task_eval(&a),
        Command::SiteEval(a) => answer::site_eval(&a),
        Command::PeerBench(a) => peer::peer_bench(&a),
        Command::PrefillBench(a) => prefill_bench::prefill_bench(&a),
    }
}

//! `nous-llm peer-bench`: our decode loop against a plain C reference on the same weights and
//! work (`tools/nous-llm/c-ref/llama_decode.c`, built here with the system C compiler). Greedy decode
//! from `<bos>` for a fixed number of positions, batch 1, one thread, f32 and quantized; the
//! two engines run in alternating order for several rounds and the median of the per-round
//! ratios is printed with its range (a shared, noisy machine: pin the process with `taskset`).
//! The C program's greedy tokens are compared with ours, so a faster but wrong loop shows.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use clap::Args;
use llm::{DecodeWeights, LlamaModel, QuantModel, Session};

use crate::model_io::load_model_dir;

#[derive(Args, Debug)]
pub struct PeerBenchArgs {
    /// Model directory.
    #[arg(long, default_value = "models")]
    pub model: PathBuf,
    /// Positions decoded per repetition (from `<bos>`, greedy).
    #[arg(long, default_value_t = 64)]
    pub positions: usize,
    /// Repetitions per engine per round; the fastest counts.
    #[arg(long, default_value_t = 20)]
    pub reps: usize,
    /// Rounds (engines alternate their order from one round to the next).
    #[arg(long, default_value_t = 7)]
    pub rounds: usize,
    /// Working directory for the exported weights and the C builds.
    #[arg(long, default_value = "target/nous-llm/c-ref")]
    pub work: PathBuf,
}

/// The C source, beside this crate.
fn c_source() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("c-ref/llama_decode.c")
}

/// Writes the weights in the C program's format (see its header comment).
fn export(model: &LlamaModel, out: &Path) -> Result<()> {
    let c = model.config();
    let header = [
        c.hidden_size,
        c.intermediate_size,
        c.num_hidden_layers,
        c.num_attention_heads,
        c.kv_heads(),
        c.vocab_size,
        c.max_position_embeddings,
        c.head_dim(),
        usize::from(c.tie_word_embeddings),
    ];
    let mut bytes = Vec::new();
    for v in header {
        bytes.extend_from_slice(&i32::try_from(v)?.to_le_bytes());
    }
    bytes.extend_from_slice(&c.rope_theta.to_le_bytes());
    bytes.extend_from_slice(&c.rms_norm_eps.to_le_bytes());
    // `tensors()` is in `tensor_shapes()` order, the order the C program reads.
    for t in model.params().tensors() {
        for v in t {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))
}

fn build(out: &Path, flags: &[&str]) -> Result<()> {
    let status = Command::new("cc")
        .args(flags)
        .arg("-o")
        .arg(out)
        .arg(c_source())
        .arg("-lm")
        .status()
        .context("running cc (the C compiler the Rust toolchain links with)")?;
    ensure!(status.success(), "cc {flags:?} failed");
    Ok(())
}

/// One C run: (greedy tokens, seconds of the fastest repetition).
fn run_c(binary: &Path, weights: &Path, a: &PeerBenchArgs, bos: u32) -> Result<(Vec<u32>, f64)> {
    let out = Command::new(binary)
        .arg(weights)
        .arg(a.positions.to_string())
        .arg(a.reps.to_string())
        .arg(bos.to_string())
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    ensure!(
        out.status.success(),
        "{} failed: {}",
        binary.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout)?;
    let tokens = text
        .lines()
        .find_map(|l| l.strip_prefix("tokens "))
        .context("no tokens line")?
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>()?;
    let best = text
        .lines()
        .find_map(|l| l.strip_prefix("seconds best "))
        .and_then(|l| l.split_whitespace().next())
        .context("no seconds line")?
        .parse()?;
    Ok((tokens, best))
}

/// Our decode loop: (greedy tokens, seconds of the fastest repetition).
fn run_ours<W: DecodeWeights>(w: &W, positions: usize, reps: usize, bos: u32) -> (Vec<u32>, f64) {
    let mut session = Session::with_capacity(w, positions);
    let mut tokens = Vec::with_capacity(positions);
    let mut best = f64::INFINITY;
    for rep in 0..reps {
        session.reset();
        let t = Instant::now();
        let mut token = bos;
        for _ in 0..positions {
            let logits = session.feed(token).expect("positions fit the session");
            let mut arg = 0;
            for (i, &v) in logits.iter().enumerate() {
                if v > logits[arg] {
                    arg = i;
                }
            }
            token = arg as u32;
            if rep == 0 {
                tokens.push(token);
            }
        }
        best = best.min(t.elapsed().as_secs_f64());
    }
    (tokens, best)
}

fn median_and_range(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

pub fn peer_bench(a: &PeerBenchArgs) -> Result<()> {
    if a.positions == 0 || a.reps == 0 || a.rounds == 0 {
        bail!("--positions, --reps and --rounds must be at least 1");
    }
    let (model, tok) = load_model_dir(&a.model)?;
    ensure!(
        a.positions <= model.config().max_position_embeddings,
        "--positions exceeds the model's context ({})",
        model.config().max_position_embeddings
    );
    let bos = llmtask::specials(&tok)?.bos;
    let quant = QuantModel::from_model(&model)?;
    std::fs::create_dir_all(&a.work)?;
    let weights = a.work.join("weights.bin");
    export(&model, &weights)?;
    let fast = a.work.join("llama_decode_native_fast_math");
    let plain = a.work.join("llama_decode_O3");
    build(&fast, &["-O3", "-march=native", "-ffast-math"])?;
    build(&plain, &["-O3"])?;
    let (ours_tokens, _) = run_ours(&model, a.positions, 1, bos);
    let (c_tokens, _) = run_c(&fast, &weights, a, bos)?;
    let same = ours_tokens
        .iter()
        .zip(&c_tokens)
        .take_while(|(x, y)| x == y)
        .count();
    println!(
        "greedy tokens from <bos>: ours (f32) and C (-O3 -march=native -ffast-math) agree on the first {same} of {} positions",
        a.positions
    );
    // Per round: C seconds / our seconds (above 1: ours is faster).
    let (mut f32_vs_fast, mut quant_vs_fast, mut f32_vs_plain) = (vec![], vec![], vec![]);
    for round in 0..a.rounds {
        let (ours_f32, ours_q, c_fast, c_plain);
        if round % 2 == 0 {
            ours_f32 = run_ours(&model, a.positions, a.reps, bos).1;
            ours_q = run_ours(&quant, a.positions, a.reps, bos).1;
            c_fast = run_c(&fast, &weights, a, bos)?.1;
            c_plain = run_c(&plain, &weights, a, bos)?.1;
        } else {
            c_plain = run_c(&plain, &weights, a, bos)?.1;
            c_fast = run_c(&fast, &weights, a, bos)?.1;
            ours_q = run_ours(&quant, a.positions, a.reps, bos).1;
            ours_f32 = run_ours(&model, a.positions, a.reps, bos).1;
        }
        let tps = |s: f64| a.positions as f64 / s;
        println!(
            "round {round}: tokens/s ours f32 {:.0}, ours quantized {:.0}, C fast-math {:.0}, C -O3 {:.0}",
            tps(ours_f32),
            tps(ours_q),
            tps(c_fast),
            tps(c_plain)
        );
        f32_vs_fast.push(c_fast / ours_f32);
        quant_vs_fast.push(c_fast / ours_q);
        f32_vs_plain.push(c_plain / ours_f32);
    }
    println!(
        "decode speed, median of {} per-round ratios (C time / our time; above 1 = ours faster), {} positions from <bos>, best of {} reps:",
        a.rounds, a.positions, a.reps
    );
    for (name, v, goal) in [
        (
            "ours f32 vs C -O3 -march=native -ffast-math",
            f32_vs_fast,
            "goal >= 1.2x",
        ),
        (
            "ours quantized vs C -O3 -march=native -ffast-math",
            quant_vs_fast,
            "goal >= 2x",
        ),
        ("ours f32 vs C -O3", f32_vs_plain, "-"),
    ] {
        let (m, lo, hi) = median_and_range(v);
        println!("  {name}: {m:.2}x (range {lo:.2}-{hi:.2}); {goal}");
    }
    Ok(())
}

#!/usr/bin/env python3
"""PyTorch-CPU decode throughput at batch size 1 for a model directory; prints one JSON line.

Usage: python3 tools/hf-check/torch_bench.py <model_dir> [--threads 1] [--prompt 32] [--new 96]
       [--reps 5]

Same work as the Rust bench's decode figure: a prompt of --prompt tokens, then --new greedy
steps with the KV cache (past_key_values), batch size 1, float32, eager attention, single
thread by default (the Rust engine is single-threaded). tokens_per_s counts every position
processed (prompt + generated), like the Rust bench; cpu_tokens_per_s divides by process CPU
time instead of wall time (meaningful on a shared machine). Output:
{"engine": "pytorch", "tokens_per_s": ..., "cpu_tokens_per_s": ..., "threads": 1, ...}
"""
import argparse
import json
import time

import torch
from transformers import LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new", type=int, default=96)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = LlamaForCausalLM.from_pretrained(
        a.model_dir, torch_dtype=torch.float32, attn_implementation="eager"
    ).eval()
    v = model.config.vocab_size
    a.new = min(a.new, model.config.max_position_embeddings - a.prompt)
    prompt = torch.tensor([[(i * 37 + 5) % v for i in range(a.prompt)]])

    def run():
        with torch.inference_mode():
            out = model(prompt, use_cache=True)
            past = out.past_key_values
            tok = out.logits[:, -1:].argmax(-1)
            for _ in range(a.new - 1):
                out = model(tok, past_key_values=past, use_cache=True)
                past = out.past_key_values
                tok = out.logits[:, -1:].argmax(-1)

    run()  # warm-up
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(a.reps):
        run()
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    tokens = a.reps * (a.prompt + a.new - 1)
    print(json.dumps({"engine": "pytorch", "tokens_per_s": tokens / dt,
                      "cpu_tokens_per_s": tokens / dc, "threads": a.threads,
                      "batch_size": 1, "prompt": a.prompt, "new": a.new,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Compare our logits with Hugging Face transformers' LlamaForCausalLM on the same weights.

Usage:
  cargo run --release -p llm --example hf_dump -- /tmp/hfc [--from <model_dir>]
  python3 tools/hf-check/check_logits.py /tmp/hfc [--tol 1e-4]

Loads /tmp/hfc/model (config.json + model.safetensors) with LlamaForCausalLM in float32, eager
attention, runs every sequence of /tmp/hfc/logits.json and prints the max abs difference to our
logits as JSON. Exit status 1 if it exceeds --tol.
"""
import argparse
import json
import sys

import torch
from transformers import LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    torch.manual_seed(0)
    model = LlamaForCausalLM.from_pretrained(
        f"{a.dir}/model", torch_dtype=torch.float32, attn_implementation="eager"
    ).eval()
    ref = json.load(open(f"{a.dir}/logits.json"))
    vocab = model.config.vocab_size
    worst = 0.0
    per_seq = []
    with torch.no_grad():
        for seq, ours in zip(ref["sequences"], ref["logits"]):
            hf = model(torch.tensor([seq])).logits[0]
            ours_t = torch.tensor(ours, dtype=torch.float32).view(len(seq), vocab)
            d = (hf - ours_t).abs().max().item()
            per_seq.append({"len": len(seq), "max_abs_diff": d,
                            "logit_scale": hf.abs().max().item(),
                            "argmax_agree": bool((hf.argmax(-1) == ours_t.argmax(-1)).all())})
            worst = max(worst, d)
    print(json.dumps({"check": "logits", "max_abs_diff": worst, "tol": a.tol,
                      "transformers": __import__("transformers").__version__,
                      "torch": torch.__version__, "sequences": per_seq}, indent=1))
    sys.exit(0 if worst <= a.tol else 1)


if __name__ == "__main__":
    main()

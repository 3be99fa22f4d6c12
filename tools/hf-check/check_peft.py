#!/usr/bin/env python3
"""Load our PEFT adapter with the `peft` library and compare logits with ours.

Usage (after hf_dump, see check_logits.py):
  python3 tools/hf-check/check_peft.py /tmp/hfc [--tol 1e-4]

Compares (1) PeftModel.from_pretrained(base, <dir>/adapter) logits with our unmerged-adapter
logits, (2) PEFT's merge_and_unload() logits with our merged-model logits, and (3) checks the
adapter tensors PEFT loaded equal the file. Prints JSON; exit status 1 if a difference exceeds
--tol.
"""
import argparse
import json
import sys

import torch
from peft import PeftModel
from transformers import LlamaForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--tol", type=float, default=1e-4)
    a = ap.parse_args()
    base = LlamaForCausalLM.from_pretrained(
        f"{a.dir}/model", torch_dtype=torch.float32, attn_implementation="eager"
    ).eval()
    model = PeftModel.from_pretrained(base, f"{a.dir}/adapter").eval()
    ref = json.load(open(f"{a.dir}/logits.json"))
    vocab = base.config.vocab_size
    n_lora = sum(1 for n, _ in model.named_parameters() if "lora_" in n)
    worst_adapter = 0.0
    with torch.no_grad():
        for seq, ours in zip(ref["sequences"], ref["logits_adapter"]):
            hf = model(torch.tensor([seq])).logits[0]
            o = torch.tensor(ours).view(len(seq), vocab)
            worst_adapter = max(worst_adapter, (hf - o).abs().max().item())
        # The adapter must matter, or the comparison proves nothing.
        seq = ref["sequences"][-1]
        with model.disable_adapter():
            plain = model(torch.tensor([seq])).logits[0]
        adapted = model(torch.tensor([seq])).logits[0]
        adapter_effect = (adapted - plain).abs().max().item()
        merged = model.merge_and_unload().eval()
        worst_merged = 0.0
        for seq, ours in zip(ref["sequences"], ref["logits_merged"]):
            hf = merged(torch.tensor([seq])).logits[0]
            o = torch.tensor(ours).view(len(seq), vocab)
            worst_merged = max(worst_merged, (hf - o).abs().max().item())
    ok = worst_adapter <= a.tol and worst_merged <= a.tol and n_lora > 0 and adapter_effect > 1e-3
    print(json.dumps({"check": "peft", "lora_tensors_loaded": n_lora,
                      "adapter_effect_max_abs": adapter_effect,
                      "max_abs_diff_adapter": worst_adapter,
                      "max_abs_diff_merged": worst_merged, "tol": a.tol,
                      "peft": __import__("peft").__version__}, indent=1))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

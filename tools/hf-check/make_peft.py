#!/usr/bin/env python3
"""Reverse PEFT check, step 1: let the `peft` library create and save a LoRA adapter for our
model, with nonzero B, and record its logits. Step 2 is the Rust example `peft_load`, which
loads the adapter with `LoraAdapters::from_peft` and compares.

Usage:
  cargo run --release -p llm --example hf_dump -- /tmp/hfc
  python3 tools/hf-check/make_peft.py /tmp/hfc
  cargo run --release -p llm --example peft_load -- /tmp/hfc
Writes /tmp/hfc/peft_made/ (adapter_model.safetensors + adapter_config.json as PEFT writes
them) and /tmp/hfc/peft_made_logits.json = {sequences, logits}.
"""
import json
import sys

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaForCausalLM


def main():
    d = sys.argv[1]
    torch.manual_seed(1)
    base = LlamaForCausalLM.from_pretrained(
        f"{d}/model", torch_dtype=torch.float32, attn_implementation="eager"
    )
    cfg = LoraConfig(r=4, lora_alpha=12, target_modules=["q_proj", "k_proj", "v_proj", "down_proj"],
                     lora_dropout=0.0, bias="none", task_type="CAUSAL_LM",
                     layers_to_transform=[1, 2])
    model = get_peft_model(base, cfg)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0.0, 0.05)
    model.eval()
    model.save_pretrained(f"{d}/peft_made")
    seqs = json.load(open(f"{d}/logits.json"))["sequences"]
    out = []
    with torch.no_grad():
        for s in seqs:
            out.append(model(torch.tensor([s])).logits[0].flatten().tolist())
    json.dump({"sequences": seqs, "logits": out}, open(f"{d}/peft_made_logits.json", "w"))
    print(json.dumps({"wrote": f"{d}/peft_made", "lora_tensors":
                      sum(1 for n, _ in model.named_parameters() if "lora_" in n)}))


if __name__ == "__main__":
    main()

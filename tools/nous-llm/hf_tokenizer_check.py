#!/usr/bin/env python3
"""Checks that Hugging Face `tokenizers` loads models/tokenizer.json and encodes exactly like
the Rust `bpe` crate.

Usage (from the repository root, after `pip install tokenizers`):
    cargo run --release -p nous-llm -- gen-corpus --split test --count 500 --out /tmp/test.jsonl
    python3 tools/nous-llm/hf_tokenizer_check.py models/tokenizer.json /tmp/test.jsonl \
        target/release/nous-llm

Special-token text such as "<eos>" inside a string is the one documented difference: HF
splits it out as the special token, `bpe` encodes it as plain bytes (so user text cannot
inject control tokens); the check shows that case separately and does not count it.

Encodes every prompt and command of the corpus file with both implementations (special tokens
are not added by either) and prints the number of texts compared and of mismatches; exits 1
on any mismatch.
"""
import json
import subprocess
import sys

from tokenizers import Tokenizer


def main():
    tok_path, corpus_path, binary = sys.argv[1:4]
    texts = []
    for line in open(corpus_path, encoding="utf-8"):
        e = json.loads(line)
        texts += [e["prompt"], e["command"]]
    # A few extra strings: non-ASCII, control bytes, runs of spaces.
    texts += ["  two  spaces ", "tab\there", "héllo wörld ✓"]
    hf = Tokenizer.from_file(tok_path)
    ours = subprocess.run(
        [binary, "encode", "--tokenizer", tok_path],
        input="\n".join(texts) + "\n", capture_output=True, text=True, check=True,
    ).stdout.splitlines()
    bad = 0
    for text, line in zip(texts, ours):
        want = hf.encode(text, add_special_tokens=False).ids
        got = json.loads(line)
        if want != got:
            bad += 1
            if bad <= 5:
                print(f"MISMATCH {text!r}\n  hf   {want}\n  ours {got}")
    print(f"{len(texts)} texts, {bad} mismatches, hf vocab {hf.get_vocab_size()}")
    special = "<eos> as text"
    hf_ids = hf.encode(special, add_special_tokens=False).ids
    print(f"documented difference: {special!r}: hf {hf_ids[:2]}..., ours encodes '<eos>' as bytes")
    sys.exit(1 if bad or len(ours) != len(texts) else 0)


if __name__ == "__main__":
    main()

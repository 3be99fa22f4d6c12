#!/usr/bin/env python3
"""Derives crates/oslang/data/manpage_sentences.txt: plain English sentences from the prose of
the Debian `manpages` package (the Linux man-pages project; licence: GPL-2+ and others, see
/usr/share/doc/manpages/copyright), for the language-model steps of `nous-llm train --lm-text`.

Usage: python3 crates/oslang/data/make_manpage_sentences.py > crates/oslang/data/manpage_sentences.txt
(on Debian 12 with `apt-get install manpages`, version 6.03-2; the output depends only on the
package's pages). Output: one lowercase sentence per line, 6-40 words, ASCII letters, digits
and simple punctuation only; no code, no identifiers in capitals; each distinct sentence once,
in page order; at most MAX_BYTES in all (the whole 6.03-2 package gives about 510 KB) (pages are taken round-robin over sections so that
every section contributes).
"""
import gzip
import re
import subprocess

MAX_BYTES = 680_000
files = sorted(p for p in subprocess.run(["dpkg", "-L", "manpages"], capture_output=True,
                                         text=True, check=True).stdout.split()
               if p.startswith("/usr/share/man/man") and p.endswith(".gz"))
escape = re.compile(r"\\(f[BIRP1-4]|f\[[A-Za-z]*\]|\(..|\[[^\]]*\]|\*.|[-&e|^0 ~c:%/,])")
ok_sentence = re.compile(r"^[a-z][a-z0-9 ,;:'()/.%-]*[a-z0-9)]\.$")
SKIP = {".\\\"", ".TH", ".so", ".ds", ".de", ".if", ".ie", ".el", ".nr", ".EX", ".EE", ".nf",
        ".fi", ".in", ".sp", ".ft", ".ta", ".ti", ".ne", ".na", ".ad", ".hy", ".nh", ".br",
        ".TS", ".TE", ".SH", ".SS"}


def page_sentences(path):
    with gzip.open(path, "rt", errors="replace") as f:
        text = f.read()
    paragraphs, cur, in_code = [], [], False
    for line in text.splitlines():
        if line.startswith((".EX", ".nf", ".TS")):
            in_code = True
        elif line.startswith((".EE", ".fi", ".TE")):
            in_code = False
            continue
        if in_code:
            continue
        if line.startswith((".", "'")):
            parts = line.split(None, 1)
            if parts and (parts[0] in SKIP or parts[0] in (".PP", ".P", ".LP", ".TP", ".IP", ".HP")):
                if cur:
                    paragraphs.append(" ".join(cur))
                    cur = []
                continue
            if len(parts) < 2:
                continue
            line = parts[1]
            if parts[0] in (".BR", ".RB", ".IR", ".RI", ".BI", ".IB"):
                # Alternating-font macros: the arguments are one run of text ("socket(2),").
                line = "".join(a or b for a, b in re.findall(r'"([^"]*)"|(\S+)', line))
            line = line.replace('"', "")
        line = escape.sub("", line).strip()
        if line:
            cur.append(line)
    if cur:
        paragraphs.append(" ".join(cur))
    out = []
    for par in paragraphs:
        for s in re.split(r"(?<=[.])\s+", par):
            s = re.sub(r"\s+", " ", s).strip()
            words = s.split()
            if not 6 <= len(words) <= 40:
                continue
            if any(w != w.lower() and w != w.capitalize() for w in re.findall(r"[A-Za-z_]+", s)):
                continue  # identifiers such as O_CREAT or EINVAL
            s = s.lower()
            if ok_sentence.match(s) and "_" not in s:
                out.append(s)
    return out


by_section = {}
for path in files:
    by_section.setdefault(path.split("/")[4], []).append(page_sentences(path))
queues = [[s for page in pages for s in page] for _, pages in sorted(by_section.items())]
seen, total, idx = set(), 0, [0] * len(queues)
lines = []
while total < MAX_BYTES and any(i < len(q) for i, q in zip(idx, queues)):
    for k, q in enumerate(queues):
        if idx[k] < len(q) and total < MAX_BYTES:
            s = q[idx[k]]
            idx[k] += 1
            if s not in seen:
                seen.add(s)
                lines.append(s)
                total += len(s) + 1
print("\n".join(lines))

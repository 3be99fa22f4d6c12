#!/usr/bin/env python3
"""Derives crates/oslang/data/manpage_words.txt: the most frequent English words of the
Debian `manpages` package (the Linux man-pages project, GPL-2+; see
/usr/share/doc/manpages/copyright). Only word frequencies are kept, not the pages.

Usage: python3 crates/oslang/data/make_manpage_words.py > crates/oslang/data/manpage_words.txt
(on Debian with `apt-get install manpages`). Output: `word count` per line, most frequent
first, lowercase ASCII words of 3-12 letters seen in at least 3 pages, at most 4000 words.
"""
import collections
import gzip
import re
import subprocess

files = [p for p in subprocess.run(["dpkg", "-L", "manpages"], capture_output=True,
                                   text=True, check=True).stdout.split()
         if p.startswith("/usr/share/man/man") and p.endswith(".gz")]
count = collections.Counter()
pages = collections.Counter()
escape = re.compile(r"\\(f[BIRP]|f\[[A-Z]*\]|\(..|\[[^\]]*\]|[-&e|^])")
for path in sorted(files):
    with gzip.open(path, "rt", errors="replace") as f:
        text = f.read()
    seen = set()
    for line in text.splitlines():
        if line.startswith(".") or line.startswith("'"):
            # A macro line: keep the text of font macros (.B word, .I word, .BR ...).
            parts = line.split(None, 1)
            if len(parts) < 2 or parts[0] in (".\\\"", ".TH", ".so", ".ds", ".de", ".if", ".ie", ".el", ".nr"):
                continue
            line = parts[1]
        line = escape.sub(" ", line)
        for w in re.findall(r"[A-Za-z]+", line):
            if w != w.lower() and w != w.capitalize():
                continue  # identifiers such as O_CREAT or EINVAL
            w = w.lower()
            if 3 <= len(w) <= 12:
                count[w] += 1
                seen.add(w)
    for w in seen:
        pages[w] += 1
words = [(w, c) for w, c in count.most_common() if pages[w] >= 3][:4000]
for w, c in words:
    print(w, c)

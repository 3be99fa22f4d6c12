#!/usr/bin/env bash
# Seed corpus for the ext4 fuzz targets: small real images made by e2fsprogs, in every layout
# the crate reads (ext4 with and without metadata_csum or a journal, 1 KiB and 4 KiB blocks,
# ext3, ext2), a hash-indexed directory, a fragmented file (extent index / indirect blocks),
# a sparse file, fast and slow symlinks, and images whose journal holds a transaction that
# was never replayed (written with debugfs `jo`/`jw`/`jc`).
#
# Usage: crates/ext4/fuzz/make-seeds.sh [OUT_DIR]   (default: crates/ext4/fuzz/corpus/seeds,
# which .gitignore keeps out of git). Needs mkfs.ext2/3/4, e2fsck and debugfs (e2fsprogs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/corpus/seeds}
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
PATH=$PATH:/sbin:/usr/sbin

# A tree with a few files and directories; $1 = size of the larger file in KiB.
tree() {
    local t=$work/tree-$1
    rm -rf "$t"
    mkdir -p "$t/d/e" "$t/empty" "$t/many"
    printf 'hello\n' >"$t/f"
    head -c $(($1 * 1024)) /dev/urandom >"$t/d/e/big"
    head -c 3000 /dev/urandom >"$t/d/small"
    # Sparse: data at 0 and at 40 KiB, a hole between.
    printf 'start' >"$t/d/sparse"
    printf 'end' | dd of="$t/d/sparse" bs=1024 seek=40 conv=notrunc status=none
    for i in $(seq 1 60); do printf '%s' "$i" >"$t/many/entry-with-a-long-name-to-fill-blocks-$i"; done
    ln -s f "$t/fast-link"
    ln -s "$(printf 'x%.0s' $(seq 1 80))/target" "$t/slow-link"
    echo "$t"
}

# Fragments a file: fill the free space with small files, delete every other one, then
# write a file into the holes (several extents, so an extent index or indirect blocks).
fragment() {
    local img=$1 n=$2 cmds=$work/frag.cmds
    head -c 2048 /dev/urandom >"$work/chunk"
    head -c $((n * 2048)) /dev/urandom >"$work/frag"
    : >"$cmds"
    for i in $(seq 1 $((n * 2))); do echo "write $work/chunk c$i" >>"$cmds"; done
    for i in $(seq 1 2 $((n * 2))); do echo "rm c$i" >>"$cmds"; done
    echo "write $work/frag fragmented" >>"$cmds"
    debugfs -w -f "$cmds" "$img" >/dev/null 2>&1
}

# Leaves a committed but unreplayed transaction in the journal ($2: extra `jo` flags).
dirty_journal() {
    local img=$1 cmds=$work/j.cmds
    head -c 2048 /dev/urandom >"$work/jdata"
    printf 'jo %s\njw -b 300,301 %s\njw -r 302 /dev/null\njc\n' "$2" "$work/jdata" >"$cmds"
    debugfs -w -f "$cmds" "$img" >/dev/null 2>&1
}

mk() { # mk NAME MKFS SIZE TREE_KIB [mkfs options...]
    local name=$1 mkfs=$2 size=$3 kib=$4
    shift 4
    local img=$out/$name
    rm -f "$img"
    "$mkfs" -q -F "$@" -d "$(tree "$kib")" "$img" "$size" >/dev/null
    e2fsck -fyD "$img" >/dev/null 2>&1 || true # hash-index the large directories
}

mk ext4-1k-journal.img mkfs.ext4 2M 40 -b 1024 -N 128
fragment "$out/ext4-1k-journal.img" 12
cp "$out/ext4-1k-journal.img" "$out/ext4-1k-journal-dirty.img"
dirty_journal "$out/ext4-1k-journal-dirty.img" -c
mk ext4-1k-nojournal.img mkfs.ext4 768K 40 -b 1024 -N 128 -O ^has_journal
fragment "$out/ext4-1k-nojournal.img" 12
mk ext4-1k-nocsum.img mkfs.ext4 2M 40 -b 1024 -N 128 -O ^metadata_csum,^64bit,uninit_bg
mk ext4-4k-nojournal.img mkfs.ext4 1M 100 -b 4096 -N 128 -O ^has_journal
mk ext3-1k.img mkfs.ext3 2M 300 -b 1024 -N 128
fragment "$out/ext3-1k.img" 20
cp "$out/ext3-1k.img" "$out/ext3-1k-dirty.img"
dirty_journal "$out/ext3-1k-dirty.img" ""
mk ext2-1k.img mkfs.ext2 512K 40 -b 1024 -N 96
fragment "$out/ext2-1k.img" 10
mk ext2-4k.img mkfs.ext2 512K 40 -b 4096 -N 128

for f in "$out"/*.img; do
    e2fsck -fn "$f" >/dev/null 2>&1 || echo "note: $(basename "$f") is not clean to e2fsck -fn (expected only for *-dirty: needs recovery)"
done
ls -l "$out"

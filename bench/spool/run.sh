#!/usr/bin/env bash
# Spool benchmark (issue 9), figures only — never pass/fail: on the same file system, in the
# same run,
#   seq write  a plain loop writing the same bytes in 1 MiB write()s to one file with the
#              same fdatasync cadence (the disk's own sequential speed: the ratio's base)
#   dd         dd of the same amount in 1 MiB blocks, one fdatasync at the end (reference)
#   spool      the same amount as 1 MiB journal batches appended to a fresh spool, one
#              fdatasync per SPOOL_BENCH_GROUP_MIB MiB (group commit), segments rotating
# Three rounds, each running the three back to back; a round's ratio is spool / plain loop
# (same bytes, same fdatasync cadence: the like-for-like figure) and the line reports the
# median round. dd's single fdatasync at the end lets the page cache (and a VM host's cache)
# absorb most of it, so it is shown for reference only. Ends with ONE JSON line holding
# ratio_vs_seq_write (target >= 0.8) and the raw MB/s figures of the median round.
#
# Environment: SPOOL_BENCH_MIB (1024), SPOOL_BENCH_GROUP_MIB (16), SPOOL_BENCH_DIR (/var/tmp:
# a disk, not a tmpfs), CBTREP_BUILD_DIR (build/).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CBTREP_BUILD_DIR:-$ROOT/build}
BIN=$BUILD/bench/spool/cbtrep-spool-bench
MIB=${SPOOL_BENCH_MIB:-1024}
GROUP=${SPOOL_BENCH_GROUP_MIB:-16}
[ -x "$BIN" ] || { echo "bench spool: missing $BIN (build first)" >&2; exit 1; }

WORK=$(mktemp -d "${SPOOL_BENCH_DIR:-/var/tmp}/cbtrep-bench-spool.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
say() { echo "bench spool: $*" >&2; }
fstype=$(stat -f -c %T "$WORK")
say "$MIB MiB on $WORK ($fstype), group commit every $GROUP MiB"

dd_mb_s() {
    rm -f "$WORK/seq.bin"
    sync
    # dd's last line: "... bytes (...) copied, S s, R MB/s"; computed here from bytes/seconds.
    LC_ALL=C dd if=/dev/zero of="$WORK/seq.bin" bs=1M count="$MIB" conv=fdatasync 2>&1 |
        awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) s = $(i-1); printf "%.1f", $1 / s / 1e6 }'
    rm -f "$WORK/seq.bin"
}
seq_run() {
    rm -f "$WORK/seq.bin"
    sync
    "$BIN" --seq "$WORK/seq.bin" "$MIB" "$GROUP" | sed -n 's/.*"seq_mb_s": \([0-9.]*\).*/\1/p'
    rm -f "$WORK/seq.bin"
}
spool_run() {
    rm -rf "$WORK/spool"
    sync
    "$BIN" "$WORK/spool" "$MIB" "$GROUP"
}

rounds=
for run in 1 2 3; do
    s=$(seq_run)
    d=$(dd_mb_s)
    j=$(spool_run)
    p=$(echo "$j" | sed -n 's/.*"spool_mb_s": \([0-9.]*\).*/\1/p')
    r=$(awk -v a="$p" -v b="$s" 'BEGIN { printf "%.3f", a / b }')
    say "run $run: plain write loop $s MB/s, dd $d MB/s, spool $p MB/s, ratio $r ($j)"
    rounds+="$r $s $d $p"$'\n'
done
read -r ratio best_seq best_dd best_spool < <(echo -n "$rounds" | sort -n | sed -n 2p)
echo "{\"bench\": \"spool\", \"mib\": $MIB, \"group_commit_mib\": $GROUP, \"fs\": \"$fstype\", \"seq_write_mb_s\": $best_seq, \"dd_fdatasync_mb_s\": $best_dd, \"spool_append_mb_s\": $best_spool, \"spool_fdatasyncs\": $(((MIB + GROUP - 1) / GROUP)), \"ratio_vs_seq_write\": $ratio}"

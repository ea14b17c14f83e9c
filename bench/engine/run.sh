#!/usr/bin/env bash
# Engine benchmark (figures, not pass/fail): on the same generated data, in one run,
#   1. the single-core lz4 limit (LZ4_compress_default over the journal's data, in memory),
#   2. cbtrepd -> cbtrep-target over TLS on loopback with 1 and 2 engine threads, on
#      compressible and on incompressible data, with the per-stage breakdown
#      (read, compress, TLS send, apply = time from end of batch to durable ACK).
# The last line is one JSON object: lz4_limit_mbps, engine_1core_mbps, ratio_vs_lz4
# (= engine_1core / lz4_limit), scale_2core (= 2 threads / 1 thread), and the rest.
# Each run also records the CPU seconds of cbtrepd and of cbtrep-target: on a shared (or a
# 2-core) machine the wall-clock figures say how fast the pair went, the CPU figures say
# what each side costs, which is what a change to either side moves.
# MB/s are decimal (1e6 bytes) of decoded data. Env: CBTREP_BUILD_DIR, CBTREP_BENCH_MIB (512),
# CBTREP_BENCH_REPLICA_DIR (where the replica and target state go; default the work dir on
# disk; /dev/shm takes the disk out of the figures, fsync becoming free).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CBTREP_BUILD_DIR:-$SRC/build}
MIB=${CBTREP_BENCH_MIB:-512}
ENGINE=$BUILD/engine/daemon/cbtrepd
TARGET=$BUILD/engine/target/cbtrep-target
GENH=$BUILD/tests/tools/gen-history/gen-history
LZ4LIM=$BUILD/bench/engine/cbtrep-lz4-limit
for b in "$ENGINE" "$TARGET" "$GENH" "$LZ4LIM"; do
    [ -x "$b" ] || { echo "bench/engine: missing $b (build first)" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/cbtrep-bench-engine.XXXXXX)
TPID=
trap '[ -n "$TPID" ] && kill -9 $TPID 2>/dev/null; rm -rf "$WORK"' EXIT
say() { echo "bench/engine: $*" >&2; }

"$SRC/tools/certs/cbtrep-certs" init --dir "$WORK/certs" --server localhost,127.0.0.1 \
    --client engine1 >/dev/null
DEV_MIB=256
common=(--device-mib "$DEV_MIB" --total-mib "$MIB" --zero-share 0 --discard-share 0 --tags 4
        --max-write-kib 4096 --batch-mib 16)
say "generating $MIB MiB of compressible and of incompressible writes"
"$GENH" --out "$WORK/comp" "${common[@]}" --random-share 0 --seed 7 >/dev/null
"$GENH" --out "$WORK/rand" "${common[@]}" --random-share 1 --seed 8 >/dev/null
cat "$WORK"/comp/journal.cbts "$WORK"/rand/journal.cbts >/dev/null # into the page cache

lz4_line=$("$LZ4LIM" "$WORK/comp/journal.cbts" 262144 2)
lz4_rand=$("$LZ4LIM" "$WORK/rand/journal.cbts" 262144 2)
lz4_mbps=$(echo "$lz4_line" | sed 's/.*lz4_limit_mbps=\([0-9.]*\).*/\1/')
lz4_ratio=$(echo "$lz4_line" | sed 's/.*ratio=\([0-9.]*\).*/\1/')
lz4_rand_mbps=$(echo "$lz4_rand" | sed 's/.*lz4_limit_mbps=\([0-9.]*\).*/\1/')
lz4_cpu_mbps=$(echo "$lz4_line" | sed 's/.*cpu_mbps=\([0-9.]*\).*/\1/')
say "lz4 single core: compressible $lz4_mbps MB/s ($lz4_cpu_mbps per CPU-second; ratio $lz4_ratio), incompressible $lz4_rand_mbps MB/s"

# CPU seconds (user + system) of a live process.
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$1/stat"; }

# run DATA THREADS -> prints "mbps read compress send apply wire_bytes wall bytes cpu_engine
# cpu_target"
run() {
    local data=$1 threads=$2 dir=$WORK/run-$1-$2 rdir=${CBTREP_BENCH_REPLICA_DIR:-$WORK}/cbtrep-bench-$$-$1-$2
    mkdir -p "$dir" "$rdir/state"
    cat >"$dir/target.json" <<JSON
{"listen": {"address": "127.0.0.1", "port": 0},
 "tls": {"ca": "$WORK/certs/ca.pem", "cert": "$WORK/certs/localhost.pem", "key": "$WORK/certs/localhost.key"},
 "state_dir": "$rdir/state",
 "replicas": {"disk0": {"path": "$rdir/replica.img", "size": $((DEV_MIB << 20)), "allowed_clients": ["engine1"]}}}
JSON
    "$TARGET" --config "$dir/target.json" --port-file "$dir/port" >"$dir/target.log" 2>&1 &
    TPID=$!
    for _ in $(seq 100); do [ -s "$dir/port" ] && break; sleep 0.05; done
    cat >"$dir/engine.json" <<JSON
{"status_dir": "$dir/status", "threads": $threads, "window": 16,
 "tls": {"ca": "$WORK/certs/ca.pem", "cert": "$WORK/certs/engine1.pem", "key": "$WORK/certs/engine1.key"},
 "devices": [{"name": "disk0", "device": "$WORK/$data/image.bin",
   "source": {"type": "file", "path": "$WORK/$data/journal.cbts", "cursor": "$dir/cursor"},
   "target": {"host": "127.0.0.1", "port": $(cat "$dir/port"), "server_name": "localhost"},
   "initial_sync": "never", "exit_when_drained": true}]}
JSON
    local t0 t1
    t0=$(date +%s.%N)
    # The subshell's `times` second line is its children's CPU: cbtrepd's alone.
    (
        "$ENGINE" --config "$dir/engine.json" >"$dir/engine.log" 2>&1 || { say "cbtrepd failed:"; tail "$dir/engine.log" >&2; exit 1; }
        times >"$dir/engine.times"
    ) || exit 1
    t1=$(date +%s.%N)
    local tcpu ecpu
    tcpu=$(proc_cpu "$TPID")
    ecpu=$(sed -n 2p "$dir/engine.times" | awk '{ n = 0; for (i = 1; i <= 2; i++) { split($i, a, "m"); n += a[1] * 60 + a[2] } print n }')
    kill "$TPID"; wait "$TPID" 2>/dev/null || true; TPID=
    cmp -s "$rdir/replica.img" "$WORK/$data/image.bin" || { say "replica differs from the image ($data, $threads)"; exit 1; }
    python3 - "$dir/status/disk0.json" "$t0" "$t1" "$ecpu" "$tcpu" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
wall = float(sys.argv[3]) - float(sys.argv[2])
st = d["stage_seconds"]
print("%.1f %.3f %.3f %.3f %.3f %d %.2f %d %s %s" % (d["bytes_replicated"] / wall / 1e6, st["read"], st["compress"],
      st["send"], st["apply"], d["bytes_sent"], wall, d["bytes_replicated"], sys.argv[4], sys.argv[5]))
PY
    rm -rf "$rdir"
}

declare -A R
for data in comp rand; do
    for t in 1 2; do
        R[$data-$t]=$(run $data $t)
        set -- ${R[$data-$t]}
        say "$(printf '%-5s %d thread(s): %7.1f MB/s in %.1f s  (stage s: read %s, compress %s, TLS send %s, apply %s; %d wire bytes; CPU s: engine %s, target %s)' \
            "$data" "$t" "$1" "$7" "$2" "$3" "$4" "$5" "$6" "$9" "${10}")"
    done
done

python3 - "$lz4_mbps" "$lz4_ratio" "$lz4_rand_mbps" "${R[comp-1]}" "${R[comp-2]}" "${R[rand-1]}" "${R[rand-2]}" "$MIB" "$lz4_cpu_mbps" "$(nproc)" <<'PY'
import json, sys
lz4, ratio, lz4r = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
c1, c2, r1, r2 = (list(map(float, a.split())) for a in sys.argv[4:8])
lz4cpu, cores = float(sys.argv[9]), int(sys.argv[10])
def stages(v):
    # tls_send_s includes waiting for a free window slot (backpressure from the target);
    # apply_ack_s is end-of-batch -> ACK summed over batches that overlap in time.
    # cpu_*_s: CPU seconds of each process; cores_busy: both together per wall second.
    return {"read_s": v[1], "compress_s": v[2], "tls_send_s": v[3], "apply_ack_s": v[4], "wall_s": v[6],
            "prepare_mbps": round(v[7] / max(v[1] + v[2], 1e-9) / 1e6, 1),
            "cpu_engine_s": v[8], "cpu_target_s": v[9], "cores_busy": round((v[8] + v[9]) / v[6], 2)}
def cap(v):
    # The most engine and target together can do when their CPU cost per byte fills every
    # core of this machine: the ceiling of the end-to-end figure with the target on the
    # same cores.
    return round(v[7] / max((v[8] + v[9]) / cores, 1e-9) / 1e6, 1)
print(json.dumps({
    "lz4_limit_mbps": round(lz4, 1),
    "engine_1core_mbps": round(c1[0], 1),
    "ratio_vs_lz4": round(c1[0] / lz4, 3),
    "scale_2core": round(c2[0] / c1[0], 3),
    "engine_2core_mbps": round(c2[0], 1),
    "incompressible_1core_mbps": round(r1[0], 1),
    "incompressible_2core_mbps": round(r2[0], 1),
    "lz4_limit_incompressible_mbps": round(lz4r, 1),
    "lz4_ratio": ratio,
    "data_mib": int(sys.argv[8]),
    # What the engine's prepare stage alone sustains on one worker (zero check + lz4 + digest),
    # per CPU-second of that worker, against lz4 alone per CPU-second: the engine's own
    # efficiency, whatever else runs on the machine. The wall-clock figures above are
    # bounded by the target sharing the same cores (cpu_cap_1core_mbps).
    "engine_prepare_1core_mbps": round(c1[7] / max(c1[1] + c1[2], 1e-9) / 1e6, 1),
    "lz4_limit_cpu_mbps": round(lz4cpu, 1),
    "prepare_ratio_vs_lz4_cpu": round(c1[7] / max(c1[1] + c1[2], 1e-9) / 1e6 / lz4cpu, 3),
    "cores": cores,
    "cpu_cap_1core_mbps": cap(c1),
    "cpu_cap_ratio_vs_lz4": round(cap(c1) / lz4cpu, 3),
    "stages_compressible_1core": stages(c1),
    "stages_compressible_2core": stages(c2),
    "stages_incompressible_1core": stages(r1),
}))
PY

#!/usr/bin/env bash
# Resync benchmark (issue 5), figures only — never pass/fail:
#   a 4 GiB image of compressible-ish data, 1 % of its 4 KiB blocks changed at random, the
#   stale replica brought up to date over loopback, in the same run by
#     cbtrep resync  → cbtrep-target (TLS 1.3, mutual certificates)
#     rsync --inplace --no-whole-file → an rsync daemon on 127.0.0.1 (rsync's own transport)
#   measuring wall time, bytes on the wire (cbtrep: TCP bytes of its TLS connection, from
#   TCP_INFO; rsync: its --stats), CPU of both ends (/usr/bin/time), and ends with ONE JSON line.
#   ideal = sum of the lz4-compressed sizes of the changed 4 KiB blocks.
#
# Environment: RESYNC_BENCH_MIB (4096), RESYNC_BENCH_PCT (1), RESYNC_BENCH_DIR (/tmp),
# CBTREP_BUILD_DIR (build/), CBTREP_BIN (the cbtrep binary), RESYNC_BENCH_ARGS (extra
# cbtrep resync arguments, e.g. "--block-size 32K").
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${CBTREP_BUILD_DIR:-$ROOT/build}
CBTREP=${CBTREP_BIN:-$BUILD/tools/cbtrep/cbtrep}
TARGET=$BUILD/engine/target/cbtrep-target
MIB=${RESYNC_BENCH_MIB:-4096}
PCT=${RESYNC_BENCH_PCT:-1}
EXTRA=${RESYNC_BENCH_ARGS:-}

for b in "$CBTREP" "$TARGET"; do
    [ -x "$b" ] || { echo "bench resync: missing $b (build first)" >&2; exit 1; }
done
for c in rsync /usr/bin/time g++ python3; do
    command -v "$c" >/dev/null || { echo "bench resync: '$c' not found" >&2; exit 1; }
done

WORK=$(mktemp -d "${RESYNC_BENCH_DIR:-/tmp}/cbtrep-bench-resync.XXXXXX")
TPID=""
RPID=""
cleanup() {
    [ -n "$TPID" ] && kill -9 "$TPID" 2>/dev/null || true
    [ -n "$RPID" ] && kill -9 "$RPID" 2>/dev/null || true
    [ -n "${RESYNC_BENCH_KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
cd "$WORK"
say() { echo "bench resync: $*" >&2; }
now() { date +%s.%N; }
# /usr/bin/time -f "%e %U %S" output → "user+sys"
cpu_of() { awk 'END { printf "%.2f", $2 + $3 }' "$1"; }

say "compiling the data generator and the hash probe"
mkdir bin
g++ -O2 -std=c++20 -o bin/gen_image "$ROOT/bench/resync/gen_image.cc" -llz4
g++ -O2 -std=c++20 -I"$ROOT/engine" -o bin/hash_speed "$ROOT/bench/resync/hash_speed.cc" \
    "$ROOT/engine/resync/hash.cc" -lxxhash -lcrypto
HASH_JSON=$(bin/hash_speed)
say "hash throughput (MB/s, one core): $HASH_JSON"

say "generating a $MIB MiB source, two stale replicas, then changing $PCT % of the 4 KiB blocks"
bin/gen_image create src.img "$MIB" 42
cp --sparse=never src.img replica-cbtrep.img
mkdir rsync-module
cp --sparse=never src.img rsync-module/replica.img
# The replica is older than the source, as after any divergence (and rsync's quick check
# must not skip the file because both were written within the same second).
touch -d '2001-01-01' replica-cbtrep.img rsync-module/replica.img
MUT_JSON=$(bin/gen_image mutate src.img "$PCT" 7)
IDEAL=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["ideal_bytes"])' "$MUT_JSON")
say "changed: $MUT_JSON"
warm() { cat "$@" >/dev/null; }

# ---- cbtrep ---------------------------------------------------------------------------
"$ROOT/tools/certs/cbtrep-certs" init --dir certs --server localhost,127.0.0.1 \
    --client bench >/dev/null
mkdir state
cat >target.json <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"ca": "certs/ca.pem", "cert": "certs/localhost.pem", "key": "certs/localhost.key"},
  "state_dir": "state",
  "replicas": {"bench": {"path": "$WORK/replica-cbtrep.img", "allowed_clients": ["bench"]}}
}
JSON
/usr/bin/time -f "%e %U %S" -o target.time "$TARGET" --config target.json --port-file port \
    >target.log 2>&1 &
TPID=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.1; done
[ -s port ] || { cat target.log >&2; exit 1; }
PORT=$(cat port)
warm src.img replica-cbtrep.img
say "cbtrep resync over loopback TLS"
t0=$(now)
# shellcheck disable=SC2086
/usr/bin/time -f "%e %U %S" -o cbtrep.time "$CBTREP" resync src.img \
    --target "127.0.0.1:$PORT/bench" --ca certs/ca.pem --cert certs/bench.pem \
    --key certs/bench.key --server-name localhost --no-checkpoint --json $EXTRA >cbtrep.json
t1=$(now)
# TPID is /usr/bin/time; the target is its only child. Stopping the target lets time report.
kill -TERM "$(pgrep -P "$TPID")"
wait "$TPID" || true
TPID=
CB_WALL=$(python3 -c "print(round($t1 - $t0, 3))")
CB_SUMMARY=$(grep '"event":"summary"' cbtrep.json)
CB_WIRE=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["wire_bytes"])' "$CB_SUMMARY")
CB_CPU=$(cpu_of cbtrep.time)
CB_TCPU=$(cpu_of target.time)
cmp -s src.img replica-cbtrep.img || { say "cbtrep replica differs from the source!"; exit 1; }

# ---- rsync ----------------------------------------------------------------------------
RPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >rsyncd.conf <<CONF
pid file = $WORK/rsyncd.pid
use chroot = false
[bench]
    path = $WORK/rsync-module
    read only = false
    uid = $(id -u)
    gid = $(id -g)
CONF
/usr/bin/time -f "%e %U %S" -o rsyncd.time rsync --daemon --no-detach --config=rsyncd.conf \
    --address=127.0.0.1 --port="$RPORT" >rsyncd.log 2>&1 &
RPID=$!
for _ in $(seq 50); do
    rsync "rsync://127.0.0.1:$RPORT/" >/dev/null 2>&1 && break
    sleep 0.1
done
warm src.img rsync-module/replica.img
say "rsync --inplace --no-whole-file through rsyncd"
t0=$(now)
/usr/bin/time -f "%e %U %S" -o rsync.time rsync --inplace --no-whole-file --stats src.img \
    "rsync://127.0.0.1:$RPORT/bench/replica.img" >rsync.stats
t1=$(now)
kill -TERM "$(cat rsyncd.pid)"
wait "$RPID" || true
RPID=
RS_WALL=$(python3 -c "print(round($t1 - $t0, 3))")
RS_SENT=$(sed -n 's/^Total bytes sent: \([0-9,.]*\).*/\1/p' rsync.stats | tr -d ,.)
RS_RECV=$(sed -n 's/^Total bytes received: \([0-9,.]*\).*/\1/p' rsync.stats | tr -d ,.)
RS_WIRE=$((RS_SENT + RS_RECV))
RS_CPU=$(cpu_of rsync.time)
RS_DCPU=$(cpu_of rsyncd.time)
cmp -s src.img rsync-module/replica.img || { say "rsync replica differs from the source!"; exit 1; }

python3 - "$MIB" "$PCT" "$IDEAL" "$CB_WALL" "$CB_WIRE" "$CB_CPU" "$CB_TCPU" "$RS_WALL" \
    "$RS_WIRE" "$RS_CPU" "$RS_DCPU" "$HASH_JSON" "$CB_SUMMARY" "$EXTRA" <<'PY'
import json, sys
(mib, pct, ideal, cbw, cbwire, cbcpu, cbtcpu, rsw, rswire, rscpu, rsdcpu, hashj, summ,
 extra) = sys.argv[1:]
ideal, cbwire, rswire = int(ideal), int(cbwire), int(rswire)
cbw, rsw = float(cbw), float(rsw)
s = json.loads(summ)
M = 1e6
print(f"                 wall s   wire MB   CPU s (client + server)", file=sys.stderr)
print(f"cbtrep resync  {cbw:8.2f}  {cbwire/M:8.2f}   {float(cbcpu):.2f} + {float(cbtcpu):.2f}", file=sys.stderr)
print(f"rsync          {rsw:8.2f}  {rswire/M:8.2f}   {float(rscpu):.2f} + {float(rsdcpu):.2f}", file=sys.stderr)
print(f"ideal (lz4 of the changed 4 KiB blocks): {ideal/M:.2f} MB", file=sys.stderr)
out = {
    "bench": "resync", "image_mib": int(mib), "changed_pct": float(pct),
    "cbtrep_args": extra,
    "cbtrep_wall_s": cbw, "cbtrep_wire_bytes": cbwire,
    "cbtrep_cpu_s": float(cbcpu), "target_cpu_s": float(cbtcpu),
    "cbtrep_payload_bytes": s["payload_bytes"], "cbtrep_sent_bytes": s["sent_bytes"],
    "rsync_wall_s": rsw, "rsync_wire_bytes": rswire,
    "rsync_cpu_s": float(rscpu), "rsyncd_cpu_s": float(rsdcpu),
    "ideal_bytes": ideal,
    "speedup_vs_rsync": round(rsw / cbw, 2),
    "wire_vs_ideal": round(cbwire / ideal, 3),
    "rsync_wire_vs_ideal": round(rswire / ideal, 3),
}
out.update({"hash_" + k: v for k, v in json.loads(hashj).items()})
print(json.dumps(out))
PY

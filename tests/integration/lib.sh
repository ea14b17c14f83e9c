# shellcheck shell=bash
# Shared helpers of the integration scripts (sourced). Each script runs the real binaries
# over loopback in its own temporary directory, which is removed on success and kept (with
# its path printed) on failure.
#   requires CMD...        exit 77 (ctest: skipped) when a command is missing
#   setup_certs            CA, server "localhost"/127.0.0.1, clients engine1 and intruder
#   target_config NAME PATH SIZE ALLOWED...   writes $WORK/target.json (one replica)
#   start_target / stop_target / kill_target
#   kill9_if_alive PID     kill -9 PID if it still runs, and reap it
#   wi SUBCMD ARGS...      cbtrep-wire-inject with the engine1 certificate and $PORT
#   log_since LINE PATTERN wait for PATTERN in target.log after line LINE
#   stream_split FULL N PREFIX   cut a stream file at a batch boundary (see below)
#   fail MSG               prints MSG and the target log tail, exits 1
set -euo pipefail

BUILD=${CBTREP_BUILD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}
SRC=${CBTREP_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
TARGET_BIN=$BUILD/engine/target/cbtrep-target
INJECT=$BUILD/tests/integration/cbtrep-wire-inject
GEN=$BUILD/tests/integration/cbtrep-stream-gen
CERTS_TOOL=$SRC/tools/certs/cbtrep-certs
TEST_NAME=$(basename "$0" .sh)

requires() {
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || { echo "$TEST_NAME: SKIP: '$c' not found"; exit 77; }
    done
}

for b in "$TARGET_BIN" "$INJECT" "$GEN"; do
    [ -x "$b" ] || { echo "$TEST_NAME: missing $b (build first)" >&2; exit 1; }
done

WORK=$(mktemp -d "/tmp/cbtrep-$TEST_NAME.XXXXXX")
TARGET_PID=
PORT=
_ok=0
kill9_if_alive() {
    if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
        kill -9 "$1" 2>/dev/null || true
        wait "$1" 2>/dev/null || true
    fi
}
cleanup() {
    kill9_if_alive "$TARGET_PID"
    if [ "$_ok" = 1 ]; then rm -rf "$WORK"; else echo "$TEST_NAME: work dir kept: $WORK"; fi
}
trap cleanup EXIT
pass() { _ok=1; echo "$TEST_NAME: PASS"; }

log() { echo "$TEST_NAME: $*"; }
fail() {
    echo "$TEST_NAME: FAIL: $*" >&2
    [ -f "$WORK/target.log" ] && { echo "--- target.log (tail)" >&2; tail -25 "$WORK/target.log" >&2; }
    exit 1
}

setup_certs() {
    "$CERTS_TOOL" init --dir "$WORK/certs" --server localhost,127.0.0.1 --client engine1 \
        --client intruder >/dev/null
}

# target_config NAME PATH SIZE ALLOWED...
target_config() {
    local name=$1 path=$2 size=$3; shift 3
    local allowed="" a
    for a in "$@"; do allowed+="${allowed:+, }\"$a\""; done
    mkdir -p "$WORK/state"
    cat >"$WORK/target.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
  "tls": {"ca": "certs/ca.pem", "cert": "certs/localhost.pem", "key": "certs/localhost.key"},
  "state_dir": "state",
  "apply_buffer_mib": 4,
  "io_timeout_s": 20,
  "replicas": {"$name": {"path": "$path", "size": $size, "allowed_clients": [$allowed]}}
}
JSON
}

start_target() {
    rm -f "$WORK/port"
    "$TARGET_BIN" --config "$WORK/target.json" --port-file "$WORK/port" >>"$WORK/target.log" 2>&1 &
    TARGET_PID=$!
    local _
    for _ in $(seq 100); do
        [ -s "$WORK/port" ] && { PORT=$(cat "$WORK/port"); return 0; }
        kill -0 "$TARGET_PID" 2>/dev/null || fail "cbtrep-target exited at start-up"
        sleep 0.1
    done
    fail "cbtrep-target did not start listening"
}

stop_target() {
    kill -TERM "$TARGET_PID"
    wait "$TARGET_PID" || fail "cbtrep-target exited with $? after SIGTERM"
    TARGET_PID=
}

kill_target() {
    kill9_if_alive "$TARGET_PID"
    TARGET_PID=
}

# wi SUBCMD ARGS... : the test client with the allowed certificate.
wi() {
    local sub=$1; shift
    "$INJECT" "$sub" --connect "127.0.0.1:$PORT" --ca "$WORK/certs/ca.pem" \
        --cert "$WORK/certs/engine1.pem" --key "$WORK/certs/engine1.key" "$@"
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# log_since LINE PATTERN [TIMEOUT_S]: waits until target.log, after line LINE, matches the
# extended regex PATTERN (case-insensitive); false on timeout (default 10 s).
log_since() {
    local from=$1 pat=$2 t=${3:-10} _
    for _ in $(seq $((t * 10))); do
        tail -n +"$((from + 1))" "$WORK/target.log" | grep -Eqi "$pat" && return 0
        sleep 0.1
    done
    return 1
}

# applied_seq REPLICA: the replica's applied_seq according to the target.
applied_seq() {
    wi status --replica "$1" | sed -n 's/^applied_seq=\([0-9]*\).*/\1/p'
}

cd "$WORK"

# stream_split FULL N PREFIX: the stream header plus batches 1..N of FULL into PREFIX.head.cbts,
# the header plus the batches after N into PREFIX.tail.cbts and those batches alone (to append
# to a followed stream) into PREFIX.tail.bin. Prints the last seq of batch N and of the last
# batch.
stream_split() {
    python3 - "$1" "$2" "$3" <<'PY'
import struct, sys
full, n, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
d = open(full, "rb").read()
hdr, off, batches = d[:96], 96, []
while off < len(d):
    plen = struct.unpack_from("<Q", d, off + 40)[0]
    batches.append((struct.unpack_from("<Q", d, off + 24)[0], d[off:off + 64 + plen]))
    off += 64 + plen
assert 0 < n < len(batches), (n, len(batches))
open(prefix + ".head.cbts", "wb").write(hdr + b"".join(b for _, b in batches[:n]))
open(prefix + ".tail.cbts", "wb").write(hdr + b"".join(b for _, b in batches[n:]))
open(prefix + ".tail.bin", "wb").write(b"".join(b for _, b in batches[n:]))
print(batches[n - 1][0], batches[-1][0])
PY
}

# Helpers of the engine's integration tests (test-engine-*.sh), sourced after lib.sh:
#   gen_history ARGS...       tests/tools/gen-history into $WORK/h (journal, image, sha256)
#   engine_config PORT [JSON] writes $WORK/engine.json for device disk0 (file source over
#                             $WORK/h, exit_when_drained); JSON is merged into the device entry
#   start_engine / wait_engine (sets ENGINE_RC) / kill_engine
#   status_get KEY            a field of $WORK/status/disk0.json (python3 -c path syntax: a.b)
#   engine_fail MSG           like fail, with the engine log tail
# shellcheck shell=bash
ENGINE_BIN=$BUILD/engine/daemon/cbtrepd
GENH=$BUILD/tests/tools/gen-history/gen-history
for b in "$ENGINE_BIN" "$GENH"; do
    [ -x "$b" ] || { echo "$TEST_NAME: missing $b (build first)" >&2; exit 1; }
done
ENGINE_PID=
ENGINE_RC= # set by wait_engine, read by the test scripts
export ENGINE_RC

_engine_cleanup() {
    if [ -n "$ENGINE_PID" ] && kill -0 "$ENGINE_PID" 2>/dev/null; then
        kill -9 "$ENGINE_PID" 2>/dev/null || true
        wait "$ENGINE_PID" 2>/dev/null || true
    fi
    cleanup
}
trap _engine_cleanup EXIT

engine_fail() {
    [ -f "$WORK/engine.log" ] && { echo "--- engine.log (tail)" >&2; tail -25 "$WORK/engine.log" >&2; }
    fail "$@"
}

gen_history() {
    "$GENH" --out "$WORK/h" "$@" >"$WORK/gen.log" || fail "gen-history failed: $(cat "$WORK/gen.log")"
}

# engine_config PORT [EXTRA_DEVICE_JSON] [EXTRA_TOP_JSON]
engine_config() {
    local port=$1 extra=${2:-} top=${3:-}
    cat >"$WORK/engine.json" <<JSON
{
  "status_dir": "$WORK/status",
  "tls": {"ca": "$WORK/certs/ca.pem", "cert": "$WORK/certs/engine1.pem",
          "key": "$WORK/certs/engine1.key"},
  "retry": {"steps_s": [0.2, 0.4, 0.8, 1.6, 2], "steady_s": 3, "jitter": 0.1},
  ${top:+$top,}
  "devices": [{
    "name": "disk0", "device": "$WORK/h/image.bin",
    "source": {"type": "file", "path": "$WORK/h/journal.cbts"},
    "target": {"host": "${ENGINE_TARGET_HOST:-127.0.0.1}", "port": $port, "replica": "disk0",
               "server_name": "localhost"},
    ${extra:+$extra,}
    "initial_sync": "never", "exit_when_drained": true
  }]
}
JSON
}

start_engine() {
    "$ENGINE_BIN" --config "$WORK/engine.json" "$@" >>"$WORK/engine.log" 2>&1 &
    ENGINE_PID=$!
}

# wait_engine [TIMEOUT_S]: waits for cbtrepd to exit; its exit code goes to ENGINE_RC
# (not printed: a command substitution's subshell cannot wait for our child).
wait_engine() {
    local t=${1:-300}
    for _ in $(seq $((t * 10))); do
        kill -0 "$ENGINE_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$ENGINE_PID" 2>/dev/null && engine_fail "cbtrepd still running after ${t}s"
    ENGINE_RC=0
    wait "$ENGINE_PID" || ENGINE_RC=$?
    ENGINE_PID=
}

kill_engine() {
    kill -9 "$ENGINE_PID" 2>/dev/null || true
    wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=
}

status_get() {
    python3 - "$WORK/status/disk0.json" "$1" <<'PY' 2>/dev/null || echo ""
import json, sys
d = json.load(open(sys.argv[1]))
for k in sys.argv[2].split('.'):
    d = d[k]
print(d)
PY
}

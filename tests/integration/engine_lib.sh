# Helpers of the engine's integration tests (test-engine-*.sh), sourced after lib.sh:
#   gen_history ARGS...       tests/tools/gen-history into $WORK/h (journal, image, sha256)
#   engine_config PORT [JSON] writes $WORK/engine.json for device disk0 (file source over
#                             $WORK/h, exit_when_drained); JSON is merged into the device entry
#   engine_config_device DEV STATE_DIR  engine_config on $PORT, with disk0 read from DEV
#                             and cbtrepd's state in STATE_DIR
#   engine_follow [RESYNC_JSON]  disk0 follows its journal (no exit when drained); RESYNC_JSON,
#                             when given, is its "resync" object
#   wait_applied SEQ          waits (60 s) until a following cbtrepd reports applied_seq SEQ
#   term_engine_ok            SIGTERM to cbtrepd, which must exit with 0 within 30 s
#   start_engine / wait_engine (sets ENGINE_RC) / kill_engine
#   wait_engine_ok [TIMEOUT_S] wait_engine, and cbtrepd must have exited with 0
#   replica_equals_source     fails unless $WORK/replica.img has the history's sha256
#   status_get KEY            a field of $WORK/status/disk0.json (python3 -c path syntax: a.b)
#   engine_fail MSG           like fail, with the engine log tail
#   disk0_history MIB GEN-ARGS...  certificates, gen_history of a MIB MiB device, and
#                             target.json for its replica $WORK/replica.img (engine1 allowed)
#   spool_config DIR LIMIT SEGMENT [JSON]  engine_config on $PORT with disk0's spool in DIR
#                             (no reserve, LIMIT and SEGMENT in bytes); JSON as engine_config's
#   pin_target_port           starts the target once for a free port, stops it, pins the port
#                             in $WORK/target.json: cbtrepd then starts with the target away
#   cli_status_json           `cbtrep status --json` of disk0 ("" when it fails)
#   jq_py JSON EXPR           EXPR (python) evaluated on the first device (d) of JSON
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
    kill9_if_alive "$ENGINE_PID"
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

engine_config_device() {
    engine_config "$PORT"
    python3 - "$WORK/engine.json" "$1" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["state_dir"] = sys.argv[3]
d["devices"][0]["device"] = sys.argv[2]
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
}

engine_follow() {
    python3 - "$WORK/engine.json" "${1:-}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
dev = d["devices"][0]
dev["source"]["follow"] = True
dev["exit_when_drained"] = False
if sys.argv[2]:
    dev["resync"] = json.loads(sys.argv[2])
json.dump(d, open(sys.argv[1], "w"), indent=1)
PY
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

wait_engine_ok() {
    wait_engine "$@"
    [ "$ENGINE_RC" = 0 ] || engine_fail "cbtrepd exited with $ENGINE_RC"
}

replica_equals_source() {
    local want got
    want=$(cat "$WORK/h/expected.sha256")
    got=$(sha "$WORK/replica.img")
    [ "$got" = "$want" ] || engine_fail "replica sha256 $got != expected $want"
}

wait_applied() {
    local deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do
        [ "$(status_get applied_seq)" = "$1" ] && break
        kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd exited while following"
        sleep 0.1
    done
    [ "$(status_get applied_seq)" = "$1" ] || engine_fail "applied seq $(status_get applied_seq), want $1"
}

term_engine_ok() {
    kill -TERM "$ENGINE_PID"
    wait_engine 30
    [ "$ENGINE_RC" = 0 ] || engine_fail "SIGTERM: exit $ENGINE_RC"
}

kill_engine() {
    kill9_if_alive "$ENGINE_PID"
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

disk0_history() {
    local mib=$1
    shift
    setup_certs
    gen_history --device-mib "$mib" "$@"
    target_config disk0 "$WORK/replica.img" $((mib << 20)) engine1
}

spool_config() {
    engine_config "$PORT" "\"spool\": {\"dir\": \"$1\", \"reserve_bytes\": 0,
    \"limit_bytes\": $2, \"segment_bytes\": $3}" "${4:-}"
}

pin_target_port() {
    start_target
    kill_target
    sed -i "s/\"port\": 0/\"port\": $PORT/" "$WORK/target.json"
}

cli_status_json() {
    "$BUILD/tools/cbtrep/cbtrep" status --json --status-dir "$WORK/status" disk0 2>/dev/null || true
}

jq_py() {
    python3 -c 'import json,sys; d=json.loads(sys.argv[1])[0]; print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null || echo ""
}

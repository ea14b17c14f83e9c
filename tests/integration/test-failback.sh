#!/usr/bin/env bash
# The whole failover / failback round trip (docs/points.md, "Reverse replication and
# failback"), with site A (the original source, h/image.bin) and site B (its replica,
# B.img, served by cbtrep-target "B" from target.json):
#   1. A -> B: cbtrepd replicates a generated history (gen-history) to B;
#   2. planned failover to B; new data is written to B (dd at a few offsets);
#   3. reprotect B -> A: a cbtrep-target "A" serves A's image; the checksum resync makes
#      A == B; killed -9 (the CLI after every persisted step and mid-resync, target A
#      mid-resync) it resumes or is refused clearly, and ends equal;
#   4. reverse protection: a further stream written on B is replicated to A by cbtrepd;
#      failback is refused while A lags (nothing changed, --cancel goes back);
#   5. failback: verify A == B, B demoted (killed -9 after every step: consistent state,
#      resumed by the next run), A promoted with `failover --planned` at its final tag;
#   6. A -> B again: a checksum resync (B refuses batches before it; target B killed -9
#      mid-resync), then a further stream from A applies on B; A == B;
#   7. a second round: failover to B, target A refuses the resync into A's (promoted)
#      replica until `failover --demote` there, then reprotect B -> A again.
# Wrong-order commands are refused with the state they found.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
. "$HERE/points_lib.sh"
requires openssl python3 sha256sum jq

MIB=16
A_PID=
A_PORT=
_fb_cleanup() {
    kill9_if_alive "$A_PID"
    _engine_cleanup
}
trap _fb_cleanup EXIT

setup_certs
TLS=(--ca "$WORK/certs/ca.pem" --cert "$WORK/certs/engine1.pem" --key "$WORK/certs/engine1.key"
    --server-name localhost)
B_CFG=$WORK/target.json
A_CFG=$WORK/targetA.json
stateB() { "$CBTREP" points list disk0 --config "$B_CFG" --json | jq -r .state; }
pointsB() { "$CBTREP" points list disk0 --config "$B_CFG" --json | jq '.points | length'; }
stateA() { "$CBTREP" points list disk0 --config "$A_CFG" --json | jq -r .state; }
# refused EXPECTED-TEXT CMD...: the command must fail and say EXPECTED-TEXT.
refused() {
    local want=$1; shift
    if "$@" >"$WORK/out.txt" 2>"$WORK/err.txt"; then fail "accepted: $*"; fi
    grep -qF -- "$want" "$WORK/err.txt" || fail "refusal of '$*' does not say '$want': $(cat "$WORK/err.txt")"
}

start_a() {
    rm -f "$WORK/portA"
    "$TARGET_BIN" --config "$A_CFG" --port-file "$WORK/portA" >>"$WORK/targetA.log" 2>&1 &
    A_PID=$!
    for _ in $(seq 100); do
        [ -s "$WORK/portA" ] && { A_PORT=$(cat "$WORK/portA"); TO=127.0.0.1:$A_PORT/disk0; return 0; }
        kill -0 "$A_PID" 2>/dev/null || fail "target A exited at start-up: $(tail -5 "$WORK/targetA.log")"
        sleep 0.1
    done
    fail "target A did not start listening"
}
stop_a() { kill -TERM "$A_PID"; wait "$A_PID" || fail "target A exited with $?"; A_PID=; }
kill_a() { kill9_if_alive "$A_PID"; A_PID=; }

# engine_for DEVICE STREAM PORT: cbtrepd replicating STREAM (file source) of DEVICE to disk0
# on 127.0.0.1:PORT until drained.
engine_for() {
    rm -rf "$WORK/status"
    cat >"$WORK/engine.json" <<JSON
{
  "status_dir": "$WORK/status",
  "tls": {"ca": "$WORK/certs/ca.pem", "cert": "$WORK/certs/engine1.pem",
          "key": "$WORK/certs/engine1.key"},
  "retry": {"steps_s": [0.2, 0.4, 0.8, 1.6, 2], "steady_s": 3, "jitter": 0.1},
  "devices": [{
    "name": "disk0", "device": "$1",
    "source": {"type": "file", "path": "$2"},
    "target": {"host": "127.0.0.1", "port": $3, "replica": "disk0", "server_name": "localhost"},
    "initial_sync": "never", "exit_when_drained": true
  }]
}
JSON
    start_engine
    wait_engine 60
    [ "$ENGINE_RC" = 0 ] || engine_fail "cbtrepd ($2 -> port $3) exited with $ENGINE_RC"
}

# in_resync LOG FROM: waits until LOG, after line FROM, shows a resync session running,
# then a little longer (the session's first writes).
in_resync() {
    for _ in $(seq 200); do
        tail -n +"$(($2 + 1))" "$1" | grep -q "resync session from" && { sleep 0.5; return 0; }
        sleep 0.1
    done
    fail "no resync session started (see $1)"
}
lines() { wc -l <"$1"; }

# kill_at STEP CMD...: runs CMD with the test pause after STEP, kills it -9 there.
kill_at() {
    local step=$1 pid _; shift
    : >"$WORK/pause.err"
    CBTREP_TEST_PAUSE_AT=$step "$@" >/dev/null 2>"$WORK/pause.err" &
    pid=$!
    for _ in $(seq 300); do
        grep -q "test pause after $step" "$WORK/pause.err" && break
        kill -0 "$pid" 2>/dev/null || fail "'$*' ended before step $step: $(cat "$WORK/pause.err")"
        sleep 0.1
    done
    grep -q "test pause after $step" "$WORK/pause.err" || fail "'$*' never reached $step"
    kill -9 "$pid"
    wait "$pid" 2>/dev/null || true
}

# 1. A -> B.
gen_history --device-mib $MIB --total-mib 12 --max-write-kib 256 --tags 4 --seed 41
A_IMG=$WORK/h/image.bin
B_IMG=$WORK/B.img
target_config disk0 "$B_IMG" $((MIB << 20)) engine1
start_target
B_PORT=$PORT
engine_for "$A_IMG" "$WORK/h/journal.cbts" "$B_PORT"
stop_target
[ "$(sha "$B_IMG")" = "$(cat "$WORK/h/expected.sha256")" ] || fail "B differs from A after A -> B"
[ "$(stateB)" = protected ] || fail "B in state $(stateB)"
refused "is in state protected" "$CBTREP" reprotect disk0 --config "$B_CFG" --to 127.0.0.1:1/disk0 "${TLS[@]}"
refused "is in state protected" "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
log "A -> B replicated ($(pointsB) points); reprotect/failback refused while protected"

# 2. Planned failover to B, new data on B.
"$CBTREP" failover --planned disk0 --config "$B_CFG" >/dev/null || fail "planned failover refused"
[ "$(stateB)" = failed-over ] || fail "B in state $(stateB) after failover"
refused "is in state failed-over" "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
for off in 1 777 2048 4095; do # KiB
    dd if=/dev/urandom of="$B_IMG" bs=1024 seek=$off count=64 conv=notrunc status=none
done
want=$(sha "$B_IMG")
[ "$want" != "$(sha "$A_IMG")" ] || fail "the writes to B changed nothing"

# 3. Reprotect B -> A: target A serves A's image.
mkdir -p "$WORK/stateA"
# A fixed port: the reverse record names target A by address, as a real site would.
A_FIXED=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$A_CFG" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": $A_FIXED},
  "tls": {"ca": "certs/ca.pem", "cert": "certs/localhost.pem", "key": "certs/localhost.key"},
  "state_dir": "stateA",
  "apply_buffer_mib": 4,
  "io_timeout_s": 20,
  "replicas": {"disk0": {"path": "$A_IMG", "size": $((MIB << 20)), "allowed_clients": ["engine1"]}}
}
JSON
start_a
refused "needs --to" "$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}"
start_target
refused "cbtrep-target is running" "$CBTREP" reprotect disk0 --config "$B_CFG" --to "$TO" "${TLS[@]}"
# The old source coming back must not resync over the promoted replica.
refused "is a primary now" "$CBTREP" resync "$A_IMG" --target "127.0.0.1:$PORT/disk0" "${TLS[@]}" \
    --no-checkpoint --quiet
[ "$(sha "$B_IMG")" = "$want" ] || fail "a refused resync changed the promoted replica"
stop_target
# kill -9 after each persisted step: committing the failover, entering reprotecting.
kill_at committed "$CBTREP" reprotect disk0 --config "$B_CFG" --to "$TO" "${TLS[@]}"
[ "$(stateB)" = committed ] || fail "B in state $(stateB) after a kill -9 at commit"
kill_at reprotecting "$CBTREP" reprotect disk0 --config "$B_CFG" --to "$TO" "${TLS[@]}"
[ "$(stateB)" = reprotecting ] || fail "B in state $(stateB) after a kill -9 at reprotecting"
refused "is in state reprotecting" "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
refused "is in state reprotecting" "$CBTREP" failover --commit disk0 --config "$B_CFG"
refused "is in state reprotecting to $TO, not 127.0.0.1:1/disk0" \
    "$CBTREP" reprotect disk0 --config "$B_CFG" --to 127.0.0.1:1/disk0 "${TLS[@]}"
# kill -9 of the CLI mid-resync (rate-limited so that it is surely half way).
from=$(lines "$WORK/targetA.log")
"$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}" --max-rate 4M >/dev/null 2>&1 &
rp=$!
in_resync "$WORK/targetA.log" "$from"
kill -9 "$rp"
wait "$rp" 2>/dev/null || true
[ "$(stateB)" = reprotecting ] || fail "B in state $(stateB) after a kill -9 mid-resync"
# kill -9 of target A mid-resync: the command fails and says the state it leaves.
from=$(lines "$WORK/targetA.log")
"$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}" --max-rate 4M >/dev/null 2>"$WORK/rp.err" &
rp=$!
in_resync "$WORK/targetA.log" "$from"
kill_a
rc=0
wait "$rp" || rc=$?
[ $rc != 0 ] || fail "reprotect succeeded although target A was killed"
grep -q "stays in state reprotecting" "$WORK/rp.err" || fail "unclear failure: $(cat "$WORK/rp.err")"
[ "$(stateB)" = reprotecting ] || fail "B in state $(stateB) after target A was killed"
start_a
"$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}" >/dev/null 2>"$WORK/rp.err" ||
    fail "resumed reprotect failed: $(cat "$WORK/rp.err")"
grep -q "resuming the resync" "$WORK/rp.err" || fail "reprotect did not say it resumed"
[ "$(stateB)" = reverse-protected ] || fail "B in state $(stateB) after reprotect"
[ "$(sha "$A_IMG")" = "$want" ] || fail "A differs from B after reprotect"
[ "$(sha "$B_IMG")" = "$want" ] || fail "B changed during reprotect"
refused "is in state reverse-protected" "$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}"
refused "is in state reverse-protected" "$CBTREP" failover --planned disk0 --config "$B_CFG"
refused "is in state reverse-protected" "$CBTREP" failover --commit disk0 --config "$B_CFG"
refused "is in state reverse-protected" "$CBTREP" failover --test disk0 --point 1 --config "$B_CFG"
refused "is in state reverse-protected" "$CBTREP" points rollback disk0 --point 1 --config "$B_CFG"
log "reprotect B -> A killed -9 at commit, at reprotecting, mid-resync, target A killed: resumed, A == B"

# 4. Reverse protection: the application writes a stream on B; failback refused until A has it.
"$GEN" gen --out r.str --expected r.img --device-mib $MIB --batches 30 --max-write-kib 128 \
    --seed 43 --tag-every 10 >/dev/null
"$GEN" apply --stream r.str --out "$B_IMG" --onto 1
want=$(sha "$B_IMG")
refused "differ" "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
[ "$(stateB)" = failback-pending ] || fail "B in state $(stateB) after a refused failback"
refused "is in state failback-pending" "$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}"
"$CBTREP" failback disk0 --cancel --config "$B_CFG" >/dev/null || fail "failback --cancel"
[ "$(stateB)" = reverse-protected ] || fail "B in state $(stateB) after --cancel"
refused "no failback to cancel" "$CBTREP" failback disk0 --cancel --config "$B_CFG"
engine_for "$B_IMG" "$WORK/r.str" "$A_PORT"
[ "$(sha "$A_IMG")" = "$want" ] || fail "A differs from B after the reverse stream"
log "reverse protection: a stream written on B replicated to A; early failback refused, cancelled"

# 5. Failback: B verified and demoted (kill -9 after every step), A promoted at its final tag.
kill_at failback-pending "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
[ "$(stateB)" = failback-pending ] || fail "B in state $(stateB) after a kill -9 at failback-pending"
kill_at verified "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
[ "$(stateB)" = failback-pending ] || fail "B in state $(stateB) after a kill -9 after verifying"
kill_at demoted "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
[ "$(stateB)" = failback-pending ] || fail "B in state $(stateB) after a kill -9 after the demotion"
refused "the replica is already demoted" "$CBTREP" failback disk0 --cancel --config "$B_CFG"
stop_a # the last run needs no target A: B is demoted already
"$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}" >/dev/null 2>"$WORK/fb.err" ||
    fail "resumed failback failed: $(cat "$WORK/fb.err")"
[ "$(stateB)" = failed-back ] || fail "B in state $(stateB) after failback"
refused "is in state failed-back" "$CBTREP" failback disk0 --config "$B_CFG" "${TLS[@]}"
refused "is in state failed-back" "$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}"
refused "is in state failed-back" "$CBTREP" failover --planned disk0 --config "$B_CFG"
refused "is in state failed-back" "$CBTREP" failover --test disk0 --point 1 --config "$B_CFG"
refused "is in state failed-back" "$CBTREP" points rollback disk0 --point 1 --config "$B_CFG"
[ "$(stateA)" = protected ] || fail "A in state $(stateA) before its promotion"
"$CBTREP" failover --planned disk0 --config "$A_CFG" >/dev/null 2>"$WORK/fo.err" ||
    fail "A not promoted at its final tag: $(cat "$WORK/fo.err")"
[ "$(stateA)" = failed-over ] || fail "A in state $(stateA) after its promotion"
[ "$(sha "$A_IMG")" = "$want" ] || fail "A changed by its promotion"
[ "$(sha "$B_IMG")" = "$want" ] || fail "B changed by the failback"
log "failback killed -9 at failback-pending, after verify, after demotion: resumed; A promoted, A == B"

# 6. A -> B again: B refuses batches until the checksum resync from A.
"$GEN" gen --out f.str --expected f.img --device-mib $MIB --batches 30 --max-write-kib 128 \
    --seed 47 --tag-every 10 >/dev/null
start_target
B_PORT=$PORT
if wi replay --replica disk0 --stream f.str >/dev/null 2>&1; then fail "B took batches before the resync"; fi
grep -q "resync required" "$WORK/target.log" || fail "target B did not say why it refused"
# Target B killed -9 mid-resync: the resync's start already left failed-back (one state-file
# rename at RS_BEGIN); the replica stays marked inconsistent until the catch-up.
from=$(lines "$WORK/target.log")
"$CBTREP" resync "$A_IMG" --target "127.0.0.1:$B_PORT/disk0" "${TLS[@]}" --no-checkpoint --quiet \
    --max-rate 4M --region-size 1M >/dev/null 2>&1 &
rs=$!
in_resync "$WORK/target.log" "$from"
kill_target
wait "$rs" 2>/dev/null && fail "resync succeeded although target B was killed"
[ "$(stateB)" = protected ] || fail "B in state $(stateB) after target B was killed mid-resync"
start_target
B_PORT=$PORT
"$CBTREP" resync "$A_IMG" --target "127.0.0.1:$B_PORT/disk0" "${TLS[@]}" --no-checkpoint --quiet \
    2>"$WORK/rs.err" || fail "resync A -> B: $(cat "$WORK/rs.err")"
[ "$(stateB)" = protected ] || fail "B in state $(stateB) after the resync from A"
"$GEN" apply --stream f.str --out "$A_IMG" --onto 1
want=$(sha "$A_IMG")
engine_for "$A_IMG" "$WORK/f.str" "$B_PORT"
stop_target
[ "$(sha "$B_IMG")" = "$want" ] || fail "B differs from A after protection resumed"
[ "$(stateB)" = protected ] || fail "B in state $(stateB) at the end"
[ "$(pointsB)" -ge 1 ] || fail "B keeps no recovery points after protection resumed"
log "A -> B again: resync first, then a further stream applied; A == B"

# 7. A second round: fail over to B again. Target A's replica is still failed over from
#    the failback (A was promoted there), so it refuses B's resync until it is demoted.
"$CBTREP" failover --planned disk0 --config "$B_CFG" >/dev/null 2>&1 || fail "second failover to B refused"
[ "$(stateB)" = failed-over ] || fail "B in state $(stateB) after the second failover"
dd if=/dev/urandom of="$B_IMG" bs=1024 seek=9000 count=64 conv=notrunc status=none
want=$(sha "$B_IMG")
start_a
refused "is a primary now" "$CBTREP" reprotect disk0 --config "$B_CFG" --to "$TO" "${TLS[@]}"
[ "$(stateB)" = reprotecting ] || fail "B in state $(stateB) after the refused resync"
stop_a
"$CBTREP" failover --demote disk0 --config "$A_CFG" >/dev/null || fail "demoting A's replica"
refused "only a failed-over replica can be demoted" "$CBTREP" failover --demote disk0 --config "$A_CFG"
start_a
"$CBTREP" reprotect disk0 --config "$B_CFG" "${TLS[@]}" >/dev/null 2>"$WORK/rp.err" ||
    fail "second reprotect: $(cat "$WORK/rp.err")"
[ "$(stateB)" = reverse-protected ] || fail "B in state $(stateB) after the second reprotect"
[ "$(sha "$A_IMG")" = "$want" ] || fail "A differs from B after the second reprotect"
stop_a
log "second round: failover to B, A's replica demoted, reprotect B -> A: A == B"
pass

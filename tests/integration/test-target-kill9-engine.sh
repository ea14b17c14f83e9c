#!/usr/bin/env bash
# kill -9 the target at random points while cbtrepd streams a journal to it, 20 times
# (CBTREP_KILL_ITERATIONS). After each kill the target's start-up recovery is run on a
# side port (the engine cannot reach it there), and the replica must equal the source as
# of the applied_seq in the target's state file — a half-applied batch is never visible.
# Then the target comes back on the engine's port, cbtrepd reconnects by itself (backoff)
# and resumes; at the end the replica equals the source image (sha256).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum od

N=${CBTREP_KILL_ITERATIONS:-20}
setup_certs
# DATA-mode records only, so the source at any batch boundary can be rebuilt from the journal.
gen_history --device-mib 32 --total-mib 640 --batch-mib 1 --meta-share 0 --tags 4 --seed 77
target_config disk0 "$WORK/replica.img" $((32 << 20)) engine1
start_target
ENGINE_PORT=$PORT
cp target.json target-side.json
sed -i "s/\"port\": 0/\"port\": $ENGINE_PORT/" target.json
engine_config "$ENGINE_PORT" "" '"window": 8'
start_engine

# applied_seq as committed in the state file (StateRecord.applied_seq, offset 48).
state_seq() { od -An -t u8 -j 48 -N 8 state/disk0.state | tr -d ' '; }

rollbacks=0
kills=0
seq_now=0
for i in $(seq "$N"); do
    # Let the engine reconnect (it backs off) and commit something, then kill at random.
    for _ in $(seq 400); do
        [ -f state/disk0.state ] && [ "$(state_seq)" -gt "$seq_now" ] && break
        kill -0 "$ENGINE_PID" 2>/dev/null || break
        sleep 0.05
    done
    sleep "$(printf '0.%03d' $((20 + RANDOM % 180)))"
    kill -0 "$ENGINE_PID" 2>/dev/null || break # drained already
    kill_target
    kills=$((kills + 1))
    # Recovery only, where the engine cannot connect.
    lines=$(wc -l <target.log)
    "$TARGET_BIN" --config target-side.json --port-file side.port >>target.log 2>&1 &
    side=$!
    for _ in $(seq 100); do [ -s side.port ] && break; sleep 0.05; done
    kill -TERM "$side"; wait "$side" || fail "iteration $i: side target exited $?"
    rm -f side.port
    tail -n +"$((lines + 1))" target.log | grep -q "rolled back uncommitted batch" && rollbacks=$((rollbacks + 1))
    seq_now=$(state_seq)
    "$GEN" apply --stream "$WORK/h/journal.cbts" --out at.img --upto-seq "$seq_now" ||
        fail "iteration $i: no batch ends at seq $seq_now"
    [ "$(sha replica.img)" = "$(sha at.img)" ] ||
        fail "iteration $i: replica is not the source at its applied seq $seq_now (torn batch)"
    log "iteration $i: killed at seq $seq_now, replica consistent"
    # Back on the engine's port.
    "$TARGET_BIN" --config target.json >>target.log 2>&1 &
    # shellcheck disable=SC2034 # lib.sh stops it (stop_target, cleanup)
    TARGET_PID=$!
done
log "$rollbacks of $kills kills interrupted a batch that start-up rolled back"
[ "$kills" -ge "$N" ] || fail "the stream drained after only $kills kills; make the history longer"

wait_engine_ok 600
want=$(cat "$WORK/h/expected.sha256")
[ "$(sha replica.img)" = "$want" ] || engine_fail "replica differs from the source at the end"
stop_target
pass

#!/usr/bin/env bash
# cbtrep resync/verify against cbtrep-target over loopback TLS (mutual certificates): every
# divergence pattern ends with replica == source (sha256) and verify reports exactly the
# changed leaves; size mismatches and a client the replica does not allow are refused
# before any byte is written; a resync cut by SIGINT or by kill -9 of the target resumes
# from its checkpoint.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/resync_lib.sh"

serve_replica_copy 40
remote() {
    echo --target "127.0.0.1:$PORT/disk0" --ca "$WORK/certs/ca.pem" \
        --cert "$WORK/certs/${1:-engine1}.pem" --key "$WORK/certs/${1:-engine1}.key" \
        --server-name localhost
}
# shellcheck disable=SC2046
run_patterns $(remote)

# A client whose certificate is not allowed for the replica: refused, nothing written.
cp "$WORK/orig.img" "$REPLICA"
scribble "$WORK/src.img" 0 1
before=$(sha "$REPLICA")
rc=0
# shellcheck disable=SC2046
"$CBTREP" resync "$WORK/src.img" $(remote intruder) --no-checkpoint 2>"$WORK/err" || rc=$?
[ $rc = 2 ] || fail "intruder: exit $rc, expected 2"
grep -q "not allowed" "$WORK/err" || fail "intruder: unclear error: $(cat "$WORK/err")"
[ "$(sha "$REPLICA")" = "$before" ] || fail "intruder: replica was modified"
log "client not allowed for the replica: refused, replica untouched"

# Source longer, then shorter, than the replica: clear errors, replica untouched.
cp "$WORK/orig.img" "$WORK/src.img"
head -c 1M /dev/urandom >>"$WORK/src.img"
rc=0
# shellcheck disable=SC2046
"$CBTREP" resync "$WORK/src.img" $(remote) --no-checkpoint 2>"$WORK/err" || rc=$?
[ $rc = 2 ] || fail "longer source: exit $rc, expected 2"
grep -q "replica too small" "$WORK/err" || fail "longer source: unclear error: $(cat "$WORK/err")"
head -c $((SIZE - (1 << 20))) "$WORK/orig.img" >"$WORK/src.img"
rc=0
# shellcheck disable=SC2046
"$CBTREP" resync "$WORK/src.img" $(remote) --no-checkpoint 2>"$WORK/err" || rc=$?
[ $rc = 2 ] || fail "shorter source: exit $rc, expected 2"
grep -q "sizes must match" "$WORK/err" || fail "shorter source: unclear error: $(cat "$WORK/err")"
[ "$(sha "$REPLICA")" = "$before" ] || fail "size mismatch: replica was modified"
log "size mismatch both ways: clear errors, replica untouched"

# Every region differs; the resync is cut by SIGINT, then by kill -9 of the target, and
# each time the next run resumes from the checkpoint; the replica ends equal.
cp "$WORK/orig.img" "$WORK/src.img"
for i in $(seq 0 39); do scribble "$REPLICA" $((i * 1048576 + 4321)) 20; done
args=(--region-size 1M --checkpoint "$WORK/ckpt.json" --max-rate 6M --json)
# shellcheck disable=SC2046
interrupted_resync r1 "$WORK/src.img" $(remote) "${args[@]}"
done1=$(json_field "$WORK/r1.json" done_bytes)
[ "$done1" -gt 0 ] && [ "$done1" -lt "$SIZE" ] || fail "SIGINT: position $done1"
log "SIGINT at byte $done1"

# shellcheck disable=SC2046
"$CBTREP" resync "$WORK/src.img" $(remote) "${args[@]}" >"$WORK/r2.json" 2>"$WORK/r2.err" &
pid=$!
sleep 1.5
kill_target
rc=0
wait $pid || rc=$?
[ $rc = 2 ] || fail "target killed: resync exit $rc, expected 2: $(cat "$WORK/r2.err")"
start_target
# shellcheck disable=SC2046
"$CBTREP" resync "$WORK/src.img" $(remote) "${args[@]}" >"$WORK/r3.json" 2>"$WORK/r3.err" ||
    fail "resume after the target's restart: exit $?: $(cat "$WORK/r3.err")"
start3=$(json_field "$WORK/r3.json" start_bytes)
[ "$start3" -ge "$done1" ] || fail "resumed at $start3, before the first checkpoint $done1"
[ "$(sha "$WORK/src.img")" = "$(sha "$REPLICA")" ] || fail "replica differs after the resumed resync"
log "target killed mid-resync, restarted; resumed at byte $start3, replica equal"

# The target is still healthy for replication's own connections afterwards.
stop_target
pass

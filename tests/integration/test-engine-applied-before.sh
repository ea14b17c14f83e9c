#!/usr/bin/env bash
# The replica made batches durable but cbtrepd never committed them (it, or the target,
# died between the target's fsync and the ACK's arrival): on the next run every such batch
# is found "already applied on the replica" and committed without being sent again. Those
# batches still carry the consistency points, so the status must end at the stream's last
# tag and sequence exactly as if their ACKs had arrived (the guest's e2e_target_restart
# once ended drained with an older tag because of this). Ground truth: run the stream to the
# end, forget the source's commit cursor and the status, run it again.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

disk0_history 32 --total-mib 48 --batch-mib 2 --meta-share 0.05 --tags 6 --seed 31
start_target
engine_config "$PORT"
start_engine
wait_engine 120
[ "$ENGINE_RC" = 0 ] || engine_fail "first run: cbtrepd exited with $ENGINE_RC"
last_seq=$(python3 -c "import json;print(json.load(open('$WORK/h/summary.json'))['last_seq'])")
batches=$(python3 -c "import json;print(json.load(open('$WORK/h/summary.json'))['batches'])")
[ "$(status_get last_consistency_point.tag)" = final ] || engine_fail "first run did not end at the final tag"
want=$(sha "$WORK/replica.img")

rm -f "$WORK/h/journal.cbts.cursor"
rm -rf "$WORK/status"
start_engine --log-level debug
wait_engine 120
[ "$ENGINE_RC" = 0 ] || engine_fail "second run: cbtrepd exited with $ENGINE_RC"
skipped=$(grep -c "already applied on the replica; committing" "$WORK/engine.log" || true)
[ "$skipped" = "$batches" ] || engine_fail "$skipped of $batches batches were found applied before"
grep -q "sending batch" "$WORK/engine.log" && engine_fail "the second run sent a batch again"
[ "$(status_get applied_seq)" = "$last_seq" ] ||
    engine_fail "applied_seq $(status_get applied_seq), want $last_seq"
[ "$(status_get last_consistency_point.tag)" = final ] ||
    engine_fail "last consistency point '$(status_get last_consistency_point.tag)', want final"
[ "$(status_get state)" = drained ] || engine_fail "state $(status_get state), want drained"
[ "$(sha "$WORK/replica.img")" = "$want" ] || engine_fail "the replica changed on the second run"
[ "$want" = "$(cat "$WORK/h/expected.sha256")" ] || engine_fail "replica differs from the source"
log "$skipped batches committed as applied before; status at tag 'final', seq $last_seq"
pass

#!/usr/bin/env bash
# A tracker that lost its metadata (NEW_DEVICE / METADATA_INVALID) numbers its journal from 1
# again, while the replica it feeds applied far more than that under the old numbering. The
# tracker says resync-required; cbtrepd's automatic resync must rebase the replica's sequence
# (CBT_WRS_REBASE), or every later batch is taken for one applied before and silently dropped.
# Ground truth: the writes after the resync (batches 11..30 of the new numbering, all below
# the old applied seq) reach the replica, which equals the device (sha256).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

setup_certs
"$GEN" gen --out "$WORK/old.cbts" --expected "$WORK/old.img" --device-mib 16 --batches 60 \
    --tag-every 10 --seed 5 >/dev/null
"$GEN" gen --out "$WORK/new.cbts" --expected "$WORK/unused.img" --device-mib 16 --batches 30 \
    --max-records 8 --tag-every 10 --seed 9 >/dev/null
read -r N10 N30 < <(stream_split "$WORK/new.cbts" 10 "$WORK/new")
mkdir -p "$WORK/h"
DEV=$WORK/h/dev.img
STREAM=$WORK/h/journal.cbts

# 1. The old numbering: the replica applies the whole first history.
cp "$WORK/old.img" "$DEV"
cp "$WORK/old.cbts" "$STREAM"
target_config disk0 "$WORK/replica.img" $((16 << 20)) engine1
start_target
engine_config_device "$DEV" "$WORK/state"
start_engine
wait_engine 60
[ "$ENGINE_RC" = 0 ] || engine_fail "first replication: exit $ENGINE_RC"
OLD=$(status_get applied_seq)
[ "$(sha "$WORK/replica.img")" = "$(sha "$DEV")" ] || engine_fail "replica differs after the old history"
[ "$N30" -lt "$OLD" ] || fail "test bug: the new numbering ($N30) must stay below the old ($OLD)"
log "old numbering: the replica applied seq $OLD"

# 2. Metadata lost: a fresh journal numbered from 1 (batches 1..10 of the new history, already
#    on the device), nothing committed, the tracker says resync-required (new device).
"$GEN" apply --stream "$WORK/new.head.cbts" --out "$DEV" --onto 1
cp "$WORK/new.head.cbts" "$STREAM"
rm -f "$STREAM.cursor"
echo "cbtrep-tracker 1 resync-required 7" >"$STREAM.tracker"
engine_follow '{"start": "immediately"}'
rm -rf "$WORK/status"
start_engine
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
    [ "$(status_get resync.completed)" = 1 ] && [ "$(status_get applied_seq)" = "$N10" ] && break
    kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd exited"
    sleep 0.2
done
[ "$(status_get resync.completed)" = 1 ] || engine_fail "no automatic resync finished"
[ "$(status_get resync.reason)" = "new device" ] || engine_fail "resync reason '$(status_get resync.reason)'"
grep -q "resync rebases the sequence from $OLD to 0" "$WORK/target.log" ||
    fail "the target did not rebase the replica's sequence"
[ "$(status_get applied_seq)" = "$N10" ] || engine_fail "applied seq $(status_get applied_seq) after the resync, want $N10"

# 3. Writes after the resync, numbered below the old applied seq, must all be applied.
"$GEN" apply --stream "$WORK/new.tail.cbts" --out "$DEV" --onto 1
cat "$WORK/new.tail.bin" >>"$STREAM"
wait_applied "$N30"
grep -q "already applied on the replica" "$WORK/engine.log" &&
    engine_fail "cbtrepd skipped batches of the new numbering as applied before"
[ "$(sha "$WORK/replica.img")" = "$(sha "$DEV")" ] || engine_fail "replica differs from the device"
term_engine_ok
log "renumbered journal (seq 1..$N30 after $OLD) replicated after a rebasing resync; replica equal"
pass

#!/usr/bin/env bash
# Test failover over NBD while replication continues (docs/points.md). Half of a generated
# write history is streamed; `cbtrep failover --test` exports a point through nbdkit and the
# cbtrep plugin; nbdcopy reads it back: it equals the source at that tag. The rest of the
# history is streamed while the view is read again (still the same point). Writing to the
# view changes what the view reads, never the replica (which ends equal to the source) nor
# later points. Wrong-order commands get clear refusals; cleanup stops nbdkit and releases
# the point.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/points_lib.sh"
requires sha256sum openssl nbdkit nbdcopy

MIB=32
vm1_history $MIB --batches 120 --max-write-kib 256 --seed 21 --tag-every 10
start_target
wi replay --replica vm1 --stream s.str --window 4 --stop-after-batches 60 >/dev/null ||
    fail "first half of the replay failed"
mapfile -t ids < <(point_ids)
[ "${#ids[@]}" -ge 5 ] || fail "expected at least 5 points after 60 batches, got ${#ids[@]}"
pick=${ids[1]}
want=$(expected_sha "$(point_seq "$pick")")
NBD_PORT=$((20000 + RANDOM % 20000))
view() { echo "nbd://127.0.0.1:$NBD_PORT"; }
cleanup_view() {
    [ -f state/vm1.failover ] && "$CBTREP" failover --test-cleanup vm1 --config target.json >/dev/null 2>&1
    return 0
}
trap 'cleanup_view; cleanup' EXIT

if "$CBTREP" failover --test-cleanup vm1 --config target.json 2>err.txt; then
    fail "cleanup without a test failover succeeded"
fi
grep -q "has no test failover" err.txt || fail "unclear refusal: $(cat err.txt)"
if "$CBTREP" failover --test vm1 --point 424242 --config target.json 2>err.txt; then
    fail "test failover of an unknown point succeeded"
fi
grep -q "point 424242 is not retained" err.txt || fail "unclear refusal: $(cat err.txt)"

"$CBTREP" failover --test vm1 --point "$pick" --port "$NBD_PORT" --config target.json ||
    fail "failover --test did not start"
points_json | jq -e ".points[] | select(.id == $pick) | .in_use" >/dev/null || fail "point $pick not marked in use"
if "$CBTREP" failover --test vm1 --point "${ids[2]}" --port $((NBD_PORT + 1)) --config target.json 2>err.txt; then
    fail "a second test failover started"
fi
grep -q "is in state test-failover" err.txt || fail "unclear refusal: $(cat err.txt)"

nbdcopy "$(view)" view1.img || fail "nbdcopy from the view failed"
[ "$(sha view1.img)" = "$want" ] || fail "the view of point $pick differs from the source at that tag"
log "view of point $pick equals the source at its tag"

# Replication goes on while the view is read.
wi replay --replica vm1 --stream s.str --window 4 >replay2.out 2>&1 &
rp=$!
nbdcopy "$(view)" view2.img || fail "nbdcopy during replication failed"
wait "$rp" || fail "second half of the replay failed: $(cat replay2.out)"
nbdcopy "$(view)" view3.img || fail "nbdcopy after replication failed"
[ "$(sha view2.img)" = "$want" ] || fail "the view moved while replication went on"
[ "$(sha view3.img)" = "$want" ] || fail "the view moved after replication"
[ "$(sha vm1.img)" = "$(sha expected.img)" ] || fail "replica differs from the source at the end"
log "view stable during and after replication; replica equals the source"

# Writes go to the overlay only.
head -c $((MIB << 20)) /dev/urandom >junk.img
replica_before=$(sha vm1.img)
nbdcopy junk.img "$(view)" || fail "writing to the view failed"
nbdcopy "$(view)" view4.img || fail "reading the written view failed"
[ "$(sha view4.img)" = "$(sha junk.img)" ] || fail "the view does not read back what was written"
[ "$(sha vm1.img)" = "$replica_before" ] || fail "writing to the view changed the replica"
last=$(point_ids | tail -1)
stop_target
"$CBTREP" points rollback vm1 --point "$last" --config target.json >/dev/null 2>err.txt ||
    fail "rollback to the newest point failed: $(cat err.txt)"
[ "$(sha vm1.img)" = "$(expected_sha "$(point_seq "$last")")" ] || fail "newest point changed by view writes"
if "$CBTREP" points rollback vm1 --point "$pick" --config target.json 2>err.txt; then
    fail "rolled back to a point in use by the test failover"
fi
grep -q "in use by a test failover" err.txt || fail "unclear refusal: $(cat err.txt)"
log "view writes stayed in the overlay; a held point refuses rollback"

pid=$(sed -n 's/^pid=//p' state/vm1.failover)
"$CBTREP" failover --test-cleanup vm1 --config target.json >/dev/null || fail "cleanup failed"
! kill -0 "$pid" 2>/dev/null || fail "nbdkit $pid still runs after cleanup"
[ ! -e state/vm1.overlay ] || fail "overlay left behind"
points_json | jq -e '[.points[].in_use] | any | not' >/dev/null || fail "a point is still in use"
"$CBTREP" points rollback vm1 --point "$pick" --config target.json >/dev/null ||
    fail "rollback after cleanup failed"
[ "$(sha vm1.img)" = "$want" ] || fail "rollback to point $pick differs from the view"
pass

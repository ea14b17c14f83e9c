#!/usr/bin/env bash
# Recovery points and rollback (docs/points.md). A generated write history with 11 tags is
# streamed to cbtrep-target; every tag becomes a point. With the target stopped, the replica
# is rolled back to every point in turn, newest to oldest, and after each it must equal the
# source as it was at that tag (sha256 of the image rebuilt from the stream up to the tag).
# Then a fresh replica is rolled back to its oldest point and the rollback is killed -9 half
# way: the next start of cbtrep-target finishes it, and the replica equals the source at
# that point. Also: wrong point ids and a running target get clear refusals.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/points_lib.sh"
requires sha256sum openssl

MIB=16
vm1_history $MIB --batches 100 --max-write-kib 128 --seed 11 --tag-every 9
start_target
wi replay --replica vm1 --stream s.str --window 4 >/dev/null || fail "replay failed"
[ "$(sha vm1.img)" = "$(sha expected.img)" ] || fail "replica differs from the source"

mapfile -t ids < <(point_ids)
log "${#ids[@]} points: ${ids[*]}"
[ "${#ids[@]}" -eq 11 ] || fail "expected 11 points (one per tag), got ${#ids[@]}"
points_json | jq -e '[.points[].kind] | unique == ["app", "crash"]' >/dev/null ||
    fail "points should be both app- and crash-consistent (the generator alternates)"
points_json | jq -e '.points[0].bytes_held > .points[10].bytes_held' >/dev/null ||
    fail "the oldest point should hold more history than the newest"
"$CBTREP" points list vm1 --config target.json | grep -q "tag-1 *$" || fail "text list lacks tag-1"

# The target holds the state directory: a rollback is refused while it runs.
if "$CBTREP" points rollback vm1 --point "${ids[0]}" --config target.json 2>err.txt; then
    fail "rollback ran beside a running target"
fi
grep -q "cbtrep-target is running" err.txt || fail "unclear refusal: $(cat err.txt)"
stop_target
cp -a state state.keep
cp --sparse=always vm1.img vm1.keep

if "$CBTREP" points rollback vm1 --point 999999 --config target.json 2>err.txt; then
    fail "rollback to an unknown point succeeded"
fi
grep -q "point 999999 is not retained" err.txt || fail "unclear refusal: $(cat err.txt)"

# Newest to oldest: every rollback only consumes history newer than its point.
declare -A want
for ((i = ${#ids[@]} - 1; i >= 0; i--)); do
    id=${ids[$i]}
    seq=$(point_seq "$id")
    want[$id]=$(expected_sha "$seq")
    "$CBTREP" points rollback vm1 --point "$id" --config target.json >/dev/null ||
        fail "rollback to point $id failed"
    [ "$(sha vm1.img)" = "${want[$id]}" ] || fail "after rollback to point $id (seq $seq) the replica differs from the source at that tag"
    [ "$(point_ids | tail -1)" = "$id" ] || fail "points newer than $id are still listed"
done
log "rolled back to all ${#ids[@]} points, newest to oldest: each equals the source at its tag"
[ "$(points_json | jq '.history_bytes')" = 0 ] || fail "history left after rolling back to the oldest point"

# The target refuses the source's next batch: the replica is behind it now.
start_target
if wi replay --replica vm1 --stream s.str >replay.out 2>&1; then
    fail "replication resumed after a rollback without a resync: $(cat replay.out)"
fi
grep -qi "resync required" target.log || fail "target did not say a resync is required"
stop_target

# kill -9 during a rollback; the next target start finishes it. Same history again.
rm -rf state vm1.img target.log
mv state.keep state
mv vm1.keep vm1.img
oldest=$(point_ids | head -1)
segments=$(points_json | jq '.segments')
CBTREP_TEST_ROLLBACK_PAUSE_MS=100 "$CBTREP" points rollback vm1 --point "$oldest" \
    --config target.json >/dev/null 2>&1 &
rb=$!
# Kill once the first segments are played back (a wall-clock sleep misses under load).
for _ in $(seq 300); do
    [ "$(find state/vm1.history -name '*.seg' | wc -l)" -lt "$segments" ] && break
    sleep 0.1
done
kill -9 "$rb"
wait "$rb" 2>/dev/null || true
[ -f state/vm1.rollback ] || fail "no rollback intent left by the killed rollback (finished already?)"
left=$(points_json | jq '.segments')
log "rollback killed with $left of $segments history segments left to play"
[ "$left" -gt 0 ] && [ "$left" -lt "$segments" ] || fail "kill did not land half way ($left/$segments)"
start_target
log_since 0 "finishing the interrupted rollback to point $oldest" 10 || fail "target did not resume the rollback"
log_since 0 "rolled back to point $oldest" 30 || fail "target did not finish the rollback"
stop_target
[ ! -f state/vm1.rollback ] || fail "rollback intent still there"
[ "$(sha vm1.img)" = "$(expected_sha "$(point_seq "$oldest")")" ] ||
    fail "after the resumed rollback the replica differs from the source at point $oldest"
log "rollback killed -9 half way was finished by the next start: replica equals the oldest point"
pass

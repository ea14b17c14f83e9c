#!/usr/bin/env bash
# Planned and unplanned failover and commit (docs/points.md), with the wrong-order refusals.
#  - planned failover is refused while the replica is past its newest point, and accepted
#    once a final tag is replicated with nothing after it;
#  - unplanned failover to the latest app-consistent point is killed -9 half way through its
#    rollback; the next target start finishes it, the replica equals the source at that tag,
#    is failed over, and refuses the source's batches;
#  - commit drops the other points; commands in the wrong state say which state it is.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/points_lib.sh"
requires sha256sum openssl

MIB=16
vm1_history $MIB --batches 100 --max-write-kib 256 --seed 31 --tag-every 10
fo() { "$CBTREP" failover "$@" --config target.json; }
state() { points_json | jq -r .state; }

start_target
wi replay --replica vm1 --stream s.str --window 4 --stop-after-batches 95 >/dev/null || fail "replay"
if fo --planned vm1 2>err.txt; then fail "planned failover ran beside the target"; fi
grep -q "cbtrep-target is running" err.txt || fail "unclear refusal: $(cat err.txt)"
stop_target
if fo --commit vm1 2>err.txt; then fail "commit without a failover succeeded"; fi
grep -q "is not failed over" err.txt || fail "unclear refusal: $(cat err.txt)"
if fo --planned vm1 2>err.txt; then fail "planned failover past the newest point succeeded"; fi
grep -q "past its newest point" err.txt || fail "unclear refusal: $(cat err.txt)"
[ "$(state)" = protected ] || fail "state $(state) after refusals"
cp -a state state.keep
cp --sparse=always vm1.img vm1.keep

# Planned: the final tag (batch 100) replicated, nothing after it.
start_target
wi replay --replica vm1 --stream s.str --window 4 >/dev/null || fail "final replay"
stop_target
fo --planned vm1 >/dev/null || fail "planned failover refused after the final tag"
[ "$(state)" = failed-over ] || fail "state $(state) after planned failover"
[ "$(sha vm1.img)" = "$(sha expected.img)" ] || fail "planned failover lost data"
if fo --planned vm1 2>err.txt; then fail "second planned failover succeeded"; fi
grep -q "is in state failed-over" err.txt || fail "unclear refusal: $(cat err.txt)"
if fo --test vm1 --point "$(point_ids | head -1)" 2>err.txt; then fail "test failover of a failed-over replica"; fi
grep -q "is in state failed-over" err.txt || fail "unclear refusal: $(cat err.txt)"
fo --commit vm1 >/dev/null || fail "commit failed"
[ "$(state)" = committed ] || fail "state $(state) after commit"
[ "$(point_ids | wc -l)" = 0 ] || fail "points left after commit"
if fo --commit vm1 2>err.txt; then fail "second commit succeeded"; fi
grep -q "already committed" err.txt || fail "unclear refusal: $(cat err.txt)"
log "planned failover at the final tag, commit, refusals: ok"

# Unplanned, to the latest app-consistent point, killed -9 half way.
rm -rf state vm1.img
mv state.keep state
mv vm1.keep vm1.img
app=$(points_json | jq -r '[.points[] | select(.kind == "app")] | last | .id')
want=$(expected_sha "$(point_seq "$app")")
CBTREP_TEST_ROLLBACK_PAUSE_MS=500 "$CBTREP" failover --unplanned vm1 --latest-app \
    --config target.json >/dev/null 2>&1 &
rb=$!
for _ in $(seq 100); do [ -f state/vm1.rollback ] && break; sleep 0.1; done
sleep 0.7 # a segment or two played, more to go
kill -9 "$rb"
wait "$rb" 2>/dev/null || true
[ "$(state)" = rolling-back ] || fail "state $(state) after killing the failover (expected rolling-back)"
start_target
log_since 0 "failed over \(unplanned\) at point $app" 30 || fail "target did not finish the failover"
[ "$(state)" = failed-over ] || fail "state $(state) after the resumed failover"
[ "$(sha vm1.img)" = "$want" ] || fail "replica differs from the source at point $app"
if wi replay --replica vm1 --stream s.str >replay.out 2>&1; then fail "failed-over replica took batches"; fi
grep -q "was failed over at point $app" target.log || fail "target did not say why it refused"
stop_target
[ "$(sha vm1.img)" = "$want" ] || fail "replica changed after the failover"
log "unplanned failover killed -9 half way finished at start-up; replica = source at point $app"
pass

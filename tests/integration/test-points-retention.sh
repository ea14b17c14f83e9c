#!/usr/bin/env bash
# Retention of recovery points (docs/points.md): with "max_mib": 2 the history the oldest
# point needs stays within 2 MiB while a write history with 12 tags streams in, pruning oldest
# first; a test failover holding a point keeps it (and the history it needs) past the bound
# until it is cleaned up, after which the next start-up prunes back within the bound.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/points_lib.sh"
requires sha256sum openssl nbdkit

MIB=16
BOUND=$((2 << 20))
vm1_history $MIB --batches 120 --max-write-kib 128 --max-records 8 --seed 3 --tag-every 10
jq '. + {retention: {max_age_s: 3600, max_mib: 2}}' target.json >t.json && mv t.json target.json
start_target
trap '[ -f state/vm1.failover ] && "$CBTREP" failover --test-cleanup vm1 --config target.json >/dev/null 2>&1; cleanup' EXIT

held_ok() { # the oldest point's history within the bound
    local b
    b=$(points_json | jq '.points[0].bytes_held // 0')
    [ "$b" -le "$BOUND" ]
}
wi replay --replica vm1 --stream s.str --window 4 --stop-after-batches 40 >/dev/null || fail "replay 1"
n1=$(point_ids | wc -l)
held_ok || fail "history over the bound: $(points_json | jq -c '[.history_bytes, .points[0].bytes_held]')"
grep -q "retention pruned" target.log || fail "nothing was pruned (bound too loose for the test?)"
log "$n1 points retained after 4 tags, oldest needs $(points_json | jq '.points[0].bytes_held') bytes"

oldest=$(point_ids | head -1)
NBD_PORT=$((20000 + RANDOM % 20000))
"$CBTREP" failover --test vm1 --point "$oldest" --port "$NBD_PORT" --config target.json >/dev/null ||
    fail "failover --test did not start"
wi replay --replica vm1 --stream s.str --window 4 >/dev/null || fail "replay 2"
[ "$(point_ids | head -1)" = "$oldest" ] || fail "held point $oldest was pruned"
over=$(points_json | jq '.points[0].bytes_held')
[ "$over" -gt "$BOUND" ] || fail "held point should keep history past the bound (has $over)"
grep -q "retention stopped at point $oldest (in use)" target.log || fail "target did not say the held point stopped pruning"
log "held point $oldest kept $over bytes past the bound; $(point_ids | wc -l) points"

"$CBTREP" failover --test-cleanup vm1 --config target.json >/dev/null || fail "cleanup"
stop_target
start_target # start-up applies retention
held_ok || fail "history still over the bound after the hold was released"
[ "$(point_ids | head -1)" != "$oldest" ] || fail "released point $oldest was not pruned"
newest=$(point_ids | tail -1)
stop_target
"$CBTREP" points rollback vm1 --point "$newest" --config target.json >/dev/null || fail "rollback"
[ "$(sha vm1.img)" = "$(expected_sha "$(point_seq "$newest")")" ] || fail "newest point wrong after pruning"
log "after release: within the bound again, newest point intact"
pass

#!/usr/bin/env bash
# kill -9 cbtrepd while batches are on the wire, then restart it: the batches it had not
# committed are handed out again from the file source's cursor (at-least-once delivery;
# the target applies a repeat idempotently or the engine sees it already applied), and the
# replica still ends equal to the source image at the last tag.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

setup_certs
gen_history --device-mib 64 --total-mib 384 --batch-mib 2 --meta-share 0.05 --tags 12 --seed 23
target_config disk0 "$WORK/replica.img" $((64 << 20)) engine1
start_target
engine_config "$PORT" "" '"window": 8'
CURSOR=$WORK/h/journal.cbts.cursor
cursor_batch() { [ -f "$CURSOR" ] && cut -d' ' -f4 "$CURSOR" || echo 0; }

for round in 1 2 3; do
    start_engine --log-level debug
    # Let it commit a few more batches, then kill it with batches in flight.
    start=$(cursor_batch)
    for _ in $(seq 600); do
        [ "$(cursor_batch)" -ge $((start + 15)) ] && break
        kill -0 "$ENGINE_PID" 2>/dev/null || break
        sleep 0.02
    done
    kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd finished before it could be killed (round $round)"
    kill_engine
    committed=$(cursor_batch)
    log "round $round: killed with batch $committed committed"
    echo "=== restart after kill at committed batch $committed" >>"$WORK/engine.log"
    start_engine --log-level debug
    # The first batch the restarted engine handles must be the first uncommitted one.
    next=$((committed + 1))
    for _ in $(seq 300); do
        sed -n "/=== restart after kill at committed batch $committed\$/,\$p" "$WORK/engine.log" |
            grep -qE "sending batch $next |batch $next \(seq .*already applied" && break
        sleep 0.05
    done
    first=$(sed -n "/=== restart after kill at committed batch $committed\$/,\$p" "$WORK/engine.log" |
        grep -oE "sending batch [0-9]+ |batch [0-9]+ \(seq [0-9.]+\) already applied" | head -1)
    case "$first" in
    "sending batch $next "* | "batch $next "*) log "round $round: batch $next redelivered ($first)" ;;
    *) engine_fail "after restart the first batch handled was '$first', expected batch $next" ;;
    esac
    if [ "$round" -lt 3 ]; then
        sleep 0.3
        kill_engine
        echo "=== round $round end" >>"$WORK/engine.log"
    fi
done
wait_engine 300
[ "$ENGINE_RC" = 0 ] || engine_fail "cbtrepd exited with $ENGINE_RC"
want=$(cat "$WORK/h/expected.sha256")
got=$(sha "$WORK/replica.img")
[ "$got" = "$want" ] || engine_fail "replica sha256 $got != expected $want"
[ "$(status_get last_consistency_point.tag)" = final ] || engine_fail "final tag not reached"
pass

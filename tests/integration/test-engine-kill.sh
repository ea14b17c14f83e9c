#!/usr/bin/env bash
# kill -9 cbtrepd while batches are on the wire, then restart it: the batches it had not
# committed are handed out again from the file source's cursor (at-least-once delivery;
# the target applies a repeat idempotently or the engine sees it already applied), and the
# replica still ends equal to the source image at the last tag.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

disk0_history 64 --total-mib 384 --batch-mib 2 --meta-share 0.05 --tags 12 --seed 23
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
# Round 4: freeze the target, kill -9 both sides, restart both. Batches the engine had on
# the wire were never applied, so the one after the cursor must really be sent again
# (unless the target made it durable before freezing: then it is found already applied).
kill_engine
start_engine --log-level debug
start=$(cursor_batch)
for _ in $(seq 600); do
    [ "$(cursor_batch)" -ge $((start + 10)) ] && break
    sleep 0.02
done
kill -STOP "$TARGET_PID"
sleep 0.2
kill_engine
kill -CONT "$TARGET_PID"
kill_target
committed=$(cursor_batch)
last_seq=$(cut -d' ' -f5 "$CURSOR")
start_target
applied=$(applied_seq disk0)
log "round 4: engine committed batch $committed (seq $last_seq), target durable at seq $applied"
[ -n "$applied" ] && [ "$applied" -ge "$last_seq" ] || fail "target lost acknowledged data: applied $applied < committed $last_seq"
echo "=== round 4 restart" >>"$WORK/engine.log"
sed -i "s/\"port\": [0-9]*/\"port\": $PORT/" "$WORK/engine.json"
start_engine --log-level debug
next=$((committed + 1))
for _ in $(seq 300); do
    sed -n '/=== round 4 restart$/,$p' "$WORK/engine.log" | grep -qE "sending batch $next |batch $next \(seq" && break
    sleep 0.05
done
r4=$(sed -n '/=== round 4 restart$/,$p' "$WORK/engine.log")
if [ "$applied" -eq "$last_seq" ]; then
    echo "$r4" | grep -q "sending batch $next " || engine_fail "round 4: batch $next was not sent again"
    log "round 4: batch $next sent again"
else
    echo "$r4" | grep -qE "batch $next \(seq .*already applied" || engine_fail "round 4: batch $next not recognised as applied"
    log "round 4: batch $next was durable on the target already"
fi

wait_engine_ok 300
replica_equals_source
[ "$(status_get last_consistency_point.tag)" = final ] || engine_fail "final tag not reached"
pass

#!/usr/bin/env bash
# kill -9 of cbtrepd while it appends to its spool (issue 9): four kills at different points
# of a 128 MiB journal, two while the target is away (the spool only grows) and two while it
# ships and acknowledges at the same time. After each restart the spool is recovered (a torn
# tail cut, never a batch the tracker was told is durable: the tracker would not hand it out
# again) and continues the journal without a sequence gap. At the end the replica equals the
# source at the last tag and no segment is left but the last.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

disk0_history 64 --total-mib 128 --batch-mib 1 --tags 8 --seed 59
pin_target_port
spool_config "$WORK/spool" 1073741824 4194304
JOURNAL=$WORK/h/journal.cbts
size=$(stat -c %s "$JOURNAL")
committed() { [ -f "$JOURNAL.cursor" ] && cut -d' ' -f3 "$JOURNAL.cursor" || echo 0; }

# kill_at SIXTHS: starts cbtrepd, kills it -9 once the tracker side passed SIXTHS/6 of the
# journal. The pump is then appending, syncing or committing (the spool runs up to a pump's
# worth ahead of the tracker's commits), so a restart also sees batches the spool already
# holds handed out again by the tracker: they are skipped, not spooled twice.
kill_at() {
    local at=$(($1 * size / 6)) _
    start_engine
    for _ in $(seq 600); do
        [ "$(committed)" -ge "$at" ] && break
        kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd exited before the kill"
        sleep 0.05
    done
    [ "$(committed)" -ge "$at" ] || engine_fail "the spool did not reach $at bytes of the journal"
    kill_engine
    log "killed at $(committed) of $size journal bytes; $(find "$WORK/spool" -name '*.hrl' | wc -l) segment(s)"
}

kill_at 1
kill_at 2
start_target
log "target up on port $PORT"
kill_at 4
kill_at 5
start_engine
wait_engine_ok 180
if grep -q "sequence numbers must continue\|spooling stopped" "$WORK/engine.log"; then
    engine_fail "the spool lost its place after a kill"
fi
[ "$(committed)" = "$size" ] || engine_fail "journal not fully committed ($(committed) of $size)"
replica_equals_source
left=$(find "$WORK/spool" -name '*.hrl' | wc -l)
[ "$left" -le 1 ] || engine_fail "$left segments left after the ACKs"
cuts=$(grep -c "a tail torn by a crash" "$WORK/engine.log" || true)
log "4 kills, $cuts torn tail(s) cut at restart; replica equal at the last tag"
pass

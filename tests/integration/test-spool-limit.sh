#!/usr/bin/env bash
# The spool reaches its limit (issue 9, docs/spool.md "At the limit"): cbtrepd starts with
# the target unreachable and a 40 MiB bound on a journal of 64 MiB. Replication must not
# stop: the tracker (here the file source's .tracker file) is set resync-required with
# reason "replication log reached its limit", the spool is dropped, nothing more is taken
# from the tracker, and `cbtrep status` says so. Then the target comes up: cbtrepd's
# automatic whole-device resync makes the replica equal, the tracker is cleared, the rest of
# the journal goes through the spool again (log mode), and the replica equals the source
# (sha256): the dropped batches' ranges were covered by the resync, nothing is lost.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

disk0_history 64 --total-mib 64 --batch-mib 1 --tags 8 --seed 47
pin_target_port

spool_config "$WORK/spool" $((40 << 20)) $((4 << 20))
start_engine --log-level debug
JOURNAL=$WORK/h/journal.cbts
CLI=$BUILD/tools/cbtrep/cbtrep

# 1. The limit: dropped, resync-required with the spool's reason, replication still running.
dropped=
for _ in $(seq 600); do
    s=$(cli_status_json)
    [ "$(jq_py "$s" 'd["spool"]["state"]')" = dropped ] &&
        [ "$(jq_py "$s" 'd["tracker"]["state_reason"]')" = "replication log reached its limit" ] &&
        { dropped=1; break; }
    kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd stopped at the spool limit"
    sleep 0.1
done
[ -n "$dropped" ] || engine_fail "the spool was not dropped at its limit: $(cli_status_json)"
grep -q "^cbtrep-tracker 1 resync-required 9" "$JOURNAL.tracker" ||
    engine_fail "tracker state: $(cat "$JOURNAL.tracker" 2>/dev/null) (want resync-required, reason 9)"
grep -q "replication log reached its limit" "$WORK/engine.log" ||
    engine_fail "no clear error about the limit in the engine log"
[ "$(jq_py "$s" 'd["spool"]["drops"]')" = 1 ] || engine_fail "drops: $s"
[ "$(jq_py "$s" 'd["tracker"]["state"]')" = resync-required ] || engine_fail "tracker: $s"
"$CLI" status --status-dir "$WORK/status" disk0 >"$WORK/cli-status.txt" || true
grep -q "spool dropped (.*replication log reached its limit" "$WORK/cli-status.txt" ||
    engine_fail "cbtrep status: $(cat "$WORK/cli-status.txt")"
segs=$(find "$WORK/spool" -name '*.hrl' | wc -l)
[ "$segs" = 0 ] || engine_fail "$segs segment(s) left after the drop"
# Nothing more is taken from the tracker while the resync is pending: what was not spooled
# is still the tracker's (the cursor stops short of the journal's end and stays there).
c1=$(cut -d' ' -f3 "$JOURNAL.cursor")
sleep 1
c2=$(cut -d' ' -f3 "$JOURNAL.cursor")
size=$(stat -c %s "$JOURNAL")
[ "$c1" = "$c2" ] && [ "$c2" -lt "$size" ] ||
    engine_fail "tracker drained while dropped (cursor $c1 -> $c2 of $size)"
log "limit reached: tracker resync-required (replication log reached its limit), spool dropped, journal kept at $c2 of $size bytes"

# 2. The target comes up: automatic resync, then log mode again, replica equal.
start_target
log "target up on port $PORT"
wait_engine_ok 120
replica_equals_source
grep -q "^cbtrep-tracker 1 dirty 0" "$JOURNAL.tracker" ||
    engine_fail "tracker not cleared after the resync: $(cat "$JOURNAL.tracker")"
grep -q "resync complete" "$WORK/engine.log" || engine_fail "no automatic resync in the log"
grep -q "spooling resumes" "$WORK/engine.log" || engine_fail "the spool did not take over again"
# Log mode again: segments created after the drop carried the rest of the journal.
after=$(sed -n '/spooling resumes/,$p' "$WORK/engine.log" | grep -c '\.hrl: deleted, acknowledged' || true)
[ "$after" -ge 1 ] || engine_fail "no segment went through the spool after the resync"
[ "$(cut -d' ' -f3 "$JOURNAL.cursor")" = "$size" ] || engine_fail "journal not fully committed"
[ "$(status_get spool.state)" = spooling ] || engine_fail "spool state at the end: $(status_get spool.state)"
log "resync done, spooling again, replica equal to the source"
pass

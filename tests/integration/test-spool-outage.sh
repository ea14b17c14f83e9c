#!/usr/bin/env bash
# Spool through an outage (issue 9): cbtrepd with a per-disk spool starts while the target
# is unreachable. The spool drains the whole journal anyway: every source batch is committed
# (with the tracker, its memory would be freed and it would stay in DATA mode) and the
# segments grow. Then the target comes up on that port: the replica catches up from the
# spool and equals the image at the last tag, and the acknowledged segments are deleted.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

disk0_history 64 --total-mib 192 --batch-mib 2 --tags 8 --seed 41
# A port nobody listens on yet: the target's own, found by starting it once.
pin_target_port

# The journal is 3x the disk: the default bound (50 % of it) would stop the spool.
spool_config "$WORK/spool" 1073741824 8388608
start_engine --log-level debug
JOURNAL=$WORK/h/journal.cbts
CURSOR=$JOURNAL.cursor
size=$(stat -c %s "$JOURNAL")
drained=
for _ in $(seq 1200); do # 2 min: 192 MiB through fdatasync on a busy CI disk
    [ -f "$CURSOR" ] && [ "$(cut -d' ' -f3 "$CURSOR")" = "$size" ] && { drained=1; break; }
    sleep 0.1
done
kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd stopped while the target was away"
[ -n "$drained" ] || engine_fail "the spool did not drain the journal while the target was away (cursor: $(cat "$CURSOR" 2>/dev/null))"
segs=$(find "$WORK/spool" -name '*.hrl' | wc -l)
spool_bytes=$(du -sb "$WORK/spool" | cut -f1)
log "target away: source fully committed, spool holds $segs segment(s), $spool_bytes bytes"
[ "$segs" -ge 2 ] || engine_fail "expected the spool to grow past one 8 MiB segment, got $segs"
[ "$spool_bytes" -ge $((size / 2)) ] || engine_fail "spool holds $spool_bytes bytes of a $size-byte journal"
# The spool may drain the journal before the sender's first attempt: wait for it.
for _ in $(seq 300); do grep -q "connect" "$WORK/engine.log" && break; sleep 0.1; done
grep -q "connect" "$WORK/engine.log" || engine_fail "no connection attempt logged within 30 s"

# `cbtrep status` while the target is away: the spool's bytes, its limit and the oldest
# unsent point (seq 1, the first change; its age is the RPO). The status file is refreshed
# every second while cbtrepd waits to reconnect.
CLI=$BUILD/tools/cbtrep/cbtrep
sjson=
for _ in $(seq 100); do
    sjson=$("$CLI" status --json --status-dir "$WORK/status" disk0 || true)
    python3 - "$sjson" "$spool_bytes" <<'PY' 2>/dev/null && break
import json, sys
d = json.loads(sys.argv[1])[0]["spool"]
assert d["enabled"] and d["state"] == "spooling", d
assert d["bytes"] >= int(sys.argv[2]) // 2, d
assert d["oldest_unsent"]["seq"] == 1 and d["oldest_unsent"]["age_seconds"] > 0, d
assert 0 < d["limit_bytes"] <= 1 << 30 and d["batches"] > 0, d
PY
    # (not refreshed yet: the first status file is written before the spool is known)
    sleep 0.2
done
python3 - "$sjson" "$spool_bytes" <<'PY' >/dev/null 2>&1 || engine_fail "cbtrep status --json spool numbers wrong: $sjson"
import json, sys
d = json.loads(sys.argv[1])[0]["spool"]
assert d["bytes"] >= int(sys.argv[2]) // 2 and d["oldest_unsent"]["seq"] == 1
PY
"$CLI" status --status-dir "$WORK/status" disk0 >"$WORK/cli-status.txt" || true
grep -q "spool spooling: .* MiB of .* limit" "$WORK/cli-status.txt" &&
    grep -q "spool oldest unsent: seq 1 written .* ago (RPO)" "$WORK/cli-status.txt" ||
    engine_fail "cbtrep status does not show the spool: $(cat "$WORK/cli-status.txt")"
log "cbtrep status: $(grep '^  spool ' "$WORK/cli-status.txt" | tr -s ' ' | tr '\n' ';')"

start_target
log "target up on port $PORT"
wait_engine_ok 300
replica_equals_source
left=$(find "$WORK/spool" -name '*.hrl' | wc -l)
log "caught up: replica equal at the last tag; $left segment(s) left after the ACKs"
[ "$left" -le 1 ] || engine_fail "$left segments left: acknowledged segments were not deleted"
pass

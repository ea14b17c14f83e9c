#!/usr/bin/env bash
# cbtrepd resyncs by itself (issue 5): a replica that diverged (writes it never got, plus
# bytes changed behind its back) and a source whose tracker says resync-required (file
# source: <stream>.tracker, the kernel's CBT_IOC_RESYNC rule). The daemon must cut, run the
# checksum resync over its own TLS identity, report it in `cbtrep status`, say DONE (the
# tracker state goes back to dirty) and then go on replicating the journal: more writes
# arrive and the replica equals the source again (sha256 both times).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum
CBTREP=${CBTREP_BIN:-$BUILD/tools/cbtrep/cbtrep}
[ -x "$CBTREP" ] || { echo "$TEST_NAME: SKIP: $CBTREP not built"; exit 77; }

setup_certs
"$GEN" gen --out "$WORK/full.cbts" --expected "$WORK/final.img" --device-mib 16 --batches 60 \
    --tag-every 10 --seed 5 >/dev/null
# Cut the history at batch boundaries: batches 1..10 (a), 1..30 (ab), 31..60 (c).
read -r S10 _ < <(stream_split "$WORK/full.cbts" 10 "$WORK/s10")
read -r S30 S60 < <(stream_split "$WORK/full.cbts" 30 "$WORK/s30")
mv "$WORK/s10.head.cbts" "$WORK/a.cbts"
mv "$WORK/s30.head.cbts" "$WORK/ab.cbts"
mv "$WORK/s30.tail.cbts" "$WORK/c.cbts"
mv "$WORK/s30.tail.bin" "$WORK/c.bin"
wc -c <"$WORK/ab.cbts" | tr -d ' ' >"$WORK/ab.size"
mkdir -p "$WORK/h"
DEV=$WORK/h/dev.img
STREAM=$WORK/h/journal.cbts

# 1. Ordinary replication of batches 1..10: the replica applied seq S10.
"$GEN" apply --stream "$WORK/a.cbts" --out "$DEV"
cp "$WORK/a.cbts" "$STREAM"
target_config disk0 "$WORK/replica.img" $((16 << 20)) engine1
start_target
engine_config_device "$DEV" "$WORK/state"
start_engine
wait_engine 60
[ "$ENGINE_RC" = 0 ] || engine_fail "first replication: exit $ENGINE_RC"
[ "$(status_get applied_seq)" = "$S10" ] || engine_fail "applied seq $(status_get applied_seq), expected $S10"
[ "$(sha "$WORK/replica.img")" = "$(sha "$DEV")" ] || engine_fail "replica differs after batches 1..10"
log "replicated up to seq $S10"

# 2. Divergence: batches 11..30 reach the device and the journal but are lost to the engine
#    (committed cursor past them, as after an unclean shutdown), the replica is changed
#    behind everyone's back, and the tracker says resync-required (unclean shutdown).
"$GEN" apply --stream "$WORK/ab.cbts" --out "$DEV"
cp "$WORK/ab.cbts" "$STREAM"
echo "cbtrep-tracker 1 resync-required 1" >"$STREAM.tracker"
echo "cbtrep-cursor 1 $(cat "$WORK/ab.size") 30 $S30" >"$STREAM.cursor"
python3 - "$WORK/replica.img" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    for off in (0, 4096 * 7 + 100, 5 << 20, (16 << 20) - 512):
        f.seek(off)
        f.write(b"\xa5" * 300)
PY
[ "$(sha "$WORK/replica.img")" != "$(sha "$DEV")" ] || fail "the replica did not diverge"

# 3. cbtrepd follows the journal and must resync first, by itself.
engine_follow "{\"start\": \"immediately\", \"max_rate\": $((200 << 20))}"
start_engine
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
    done_n=$(status_get resync.completed)
    [ "${done_n:-0}" -gt 1 ] && engine_fail "resynced $done_n times: the first resync's DONE did not clear resync-required"
    [ "$done_n" = 1 ] && [ "$(status_get state)" = replicating ] && break
    kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd exited during the resync"
    sleep 0.2
done
[ "$(status_get resync.completed)" = 1 ] || engine_fail "no automatic resync finished (resync phase '$(status_get resync.phase)', state '$(status_get state)')"
[ "$(status_get resync.phase)" = done ] || engine_fail "resync phase $(status_get resync.phase)"
[ "$(status_get resync.reason)" = "unclean shutdown" ] || engine_fail "resync reason '$(status_get resync.reason)'"
[ "$(status_get resync.compared_bytes)" = $((16 << 20)) ] || engine_fail "compared $(status_get resync.compared_bytes) bytes"
sent=$(status_get resync.sent_bytes)
[ "$sent" -gt 0 ] && [ "$sent" -lt $((16 << 20)) ] || engine_fail "resync sent $sent bytes: not just the differences"
[ "$(sha "$WORK/replica.img")" = "$(sha "$DEV")" ] || engine_fail "replica differs from the source after the automatic resync"
# DONE was said: the tracker is no longer resync-required.
read -r _ _ tstate _ <"$STREAM.tracker"
[ "$tstate" = dirty ] || engine_fail "tracker still '$tstate' after the resync (DONE not sent?)"
grep -q "resync starts; replica inconsistent" "$WORK/target.log" || fail "the target did not mark the replica inconsistent"
rc=0
"$CBTREP" status --status-dir "$WORK/status" --json >"$WORK/st.json" || rc=$?
python3 - "$WORK/st.json" <<'PY' || engine_fail "cbtrep status --json: no resync progress"
import json, sys
r = json.load(open(sys.argv[1]))[0]["resync"]
assert r["phase"] == "done" and r["compared_bytes"] == 16 << 20 and r["completed"] == 1, r
assert "rate_bytes_per_second" in r and "eta_seconds" in r, r
PY
"$CBTREP" status --status-dir "$WORK/status" >"$WORK/st.txt" || true
grep -q "resync done" "$WORK/st.txt" || engine_fail "cbtrep status: no resync line: $(cat "$WORK/st.txt")"
log "automatic resync: replica equal, tracker back to dirty, status shows it ($sent bytes sent)"

# 4. Log replication goes on: batches 31..60 reach the device and the journal.
"$GEN" apply --stream "$WORK/c.cbts" --out "$DEV" --onto 1
cat "$WORK/c.bin" >>"$STREAM"
wait_applied "$S60"
[ "$(sha "$DEV")" = "$(sha "$WORK/final.img")" ] || fail "test bug: the device is not the history's final image"
[ "$(sha "$WORK/replica.img")" = "$(sha "$DEV")" ] || engine_fail "replica differs after the journal catch-up"
[ "$(status_get resync.completed)" = 1 ] || engine_fail "resynced more than once"
term_engine_ok
log "journal replicated after the resync up to seq $S60, replica equal again"
pass

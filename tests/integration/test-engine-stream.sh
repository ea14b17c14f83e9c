#!/usr/bin/env bash
# Streams a generated write history of >= 1 GiB (overlapping writes, zero ranges, discards,
# META records, GAPs with bitmap dumps, tags) through the real cbtrepd and cbtrep-target over
# TLS on loopback, with the file source: the replica's sha256 must equal the source image
# at the last tag, every batch must be committed and the status must say so.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

TOTAL_MIB=${CBTREP_STREAM_TOTAL_MIB:-1024}
setup_certs
gen_history --device-mib 256 --total-mib "$TOTAL_MIB" --meta-share 0.05 --gaps 2 --tags 16 --seed 11
log "$(cat "$WORK/gen.log")"
target_config disk0 "$WORK/replica.img" $((256 << 20)) engine1
start_target
# Memory is bounded by max_inflight_bytes (+ buffers): sample cbtrepd's RSS while it runs.
MPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
engine_config "$PORT" "" '"threads": 2, "max_inflight_bytes": 67108864, "metrics": {"port": '"$MPORT"'}'
start_engine
peak=0
metrics=
while kill -0 "$ENGINE_PID" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$ENGINE_PID/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    # (A subshell: a failed exec redirection would end this script.)
    # Until it shows the device replicating (the first scrape may come before it connects).
    echo "$metrics" | grep -q 'state="replicating"} 1' || metrics=$( (exec 3<>"/dev/tcp/127.0.0.1/$MPORT" &&
        printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null || true)
    sleep 0.1
done
echo "$metrics" | grep -q '^cbtrep_state{device="disk0",state="replicating"} 1' ||
    engine_fail "metrics endpoint did not report disk0 replicating: $(echo "$metrics" | head -5)"
echo "$metrics" | grep -q '^cbtrep_lag_seconds{device="disk0"}' || engine_fail "no lag metric"
wait_engine 600
[ "$ENGINE_RC" = 0 ] || engine_fail "cbtrepd exited with $ENGINE_RC"

want=$(cat "$WORK/h/expected.sha256")
got=$(sha "$WORK/replica.img")
[ "$got" = "$want" ] || engine_fail "replica sha256 $got != expected $want"
batches=$(python3 -c "import json;print(json.load(open('$WORK/h/summary.json'))['batches'])")
last_seq=$(python3 -c "import json;print(json.load(open('$WORK/h/summary.json'))['last_seq'])")
[ "$(status_get committed_batches)" = "$batches" ] || engine_fail "committed $(status_get committed_batches) of $batches batches"
[ "$(status_get applied_seq)" = "$last_seq" ] || engine_fail "applied_seq $(status_get applied_seq) != $last_seq"
[ "$(status_get last_consistency_point.tag)" = final ] || engine_fail "last consistency point is not the final tag"
[ "$(status_get state)" = drained ] || engine_fail "state $(status_get state), expected drained"
grep -q "cursor 1 " "$WORK/h/journal.cbts.cursor" 2>/dev/null || grep -q "cbtrep-cursor 1 " "$WORK/h/journal.cbts.cursor" ||
    engine_fail "no commit cursor written"
grep -q "reader: using io_uring" "$WORK/engine.log" || log "note: io_uring not chosen: $(grep 'reader:' "$WORK/engine.log" | head -2)"
CLI=$BUILD/tools/cbtrep/cbtrep
if [ -x "$CLI" ]; then
    "$CLI" status --status-dir "$WORK/status" >"$WORK/cli-status.txt" || engine_fail "cbtrep status exited with $?"
    grep -q "^disk0: drained" "$WORK/cli-status.txt" || engine_fail "cbtrep status: $(cat "$WORK/cli-status.txt")"
    grep -q "tag 'final'" "$WORK/cli-status.txt" || engine_fail "cbtrep status shows no final tag"
    "$CLI" status --json --status-dir "$WORK/status" | python3 -c \
        "import json,sys; d=json.load(sys.stdin)[0]; assert d['state']=='drained' and d['applied_seq']==$last_seq" ||
        engine_fail "cbtrep status --json disagrees"
fi
log "peak RSS of cbtrepd: $((peak / 1024)) MiB (max_inflight_bytes 64 MiB)"
[ "$peak" -lt $((160 * 1024)) ] || engine_fail "cbtrepd used $((peak / 1024)) MiB: memory not bounded"
log "replica $got after $batches batches, $(status_get bytes_sent) bytes on the wire for $(status_get bytes_replicated) bytes"
pass

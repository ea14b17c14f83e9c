#!/usr/bin/env bash
# A journal stream that grows while cbtrepd drains it (file source in follow mode): the
# file is appended in pieces cut at arbitrary byte offsets, so the daemon regularly sees a
# half-written batch and must wait for it rather than call it corrupt. Once the last record
# is applied, SIGTERM stops the daemon cleanly (exit 0) and the replica equals the image at
# the last tag.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

setup_certs
"$GENH" --out "$WORK/full" --device-mib 32 --total-mib 96 --batch-mib 1 --tags 6 --seed 51 >/dev/null
mkdir -p "$WORK/h"
cp "$WORK/full/image.bin" "$WORK/h/image.bin"
last_seq=$(python3 -c "import json;print(json.load(open('$WORK/full/summary.json'))['last_seq'])")
size=$(stat -c %s "$WORK/full/journal.cbts")
# The stream header plus a little: the daemon starts on a journal with no whole batch yet.
head -c 1000 "$WORK/full/journal.cbts" >"$WORK/h/journal.cbts"

target_config disk0 "$WORK/replica.img" $((32 << 20)) engine1
start_target
engine_config "$PORT"
engine_follow
start_engine
off=1000
pieces=0
while [ "$off" -lt "$size" ]; do
    n=$(( (RANDOM * 37 + 4096) % (3 << 20) + 1 ))
    dd if="$WORK/full/journal.cbts" of="$WORK/h/journal.cbts" bs=1M skip="$off" count="$n" \
        iflag=skip_bytes,count_bytes oflag=append conv=notrunc status=none
    off=$((off + n))
    pieces=$((pieces + 1))
    kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd died while the journal grew"
    sleep 0.05
done
[ "$(stat -c %s "$WORK/h/journal.cbts")" = "$size" ] || fail "appending went wrong"
log "journal appended in $pieces pieces"
wait_applied "$last_seq"
[ "$(status_get state)" = replicating ] || engine_fail "state $(status_get state) while following"
term_engine_ok
[ "$(status_get state)" = stopped ] || engine_fail "state after SIGTERM: $(status_get state)"
want=$(cat "$WORK/full/expected.sha256")
got=$(sha "$WORK/replica.img")
[ "$got" = "$want" ] || engine_fail "replica sha256 $got != expected $want"
! grep -q "truncated\|invalid batch" "$WORK/engine.log" || engine_fail "a partial batch was reported as corrupt"
pass

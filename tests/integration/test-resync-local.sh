#!/usr/bin/env bash
# cbtrep resync/verify with a local replica file (--replica-file): every divergence
# pattern ends with replica == source (sha256) and verify reports exactly the changed
# leaves; a size mismatch is a clear error that leaves the replica alone; an interrupted
# resync (SIGINT) resumes from its checkpoint.
HERE=$(cd "$(dirname "$0")" && pwd)
source "$HERE/lib.sh"
source "$HERE/resync_lib.sh"

make_image "$WORK/orig.img" 40
REPLICA=$WORK/replica.img
run_patterns --replica-file "$REPLICA"

# Size mismatch: refused, replica untouched.
cp "$WORK/orig.img" "$REPLICA"
head -c 1M /dev/urandom >>"$WORK/src.img"
before=$(sha "$REPLICA")
rc=0
"$CBTREP" resync "$WORK/src.img" --replica-file "$REPLICA" --no-checkpoint 2>"$WORK/err" || rc=$?
[ $rc = 2 ] || fail "longer source: exit $rc, expected 2"
grep -q "sizes must match" "$WORK/err" || fail "longer source: unclear error: $(cat "$WORK/err")"
[ "$(sha "$REPLICA")" = "$before" ] || fail "longer source: replica was modified"
# ... unless --resize is asked for (image files only).
"$CBTREP" resync "$WORK/src.img" --replica-file "$REPLICA" --no-checkpoint --resize 2>"$WORK/err" ||
    fail "--resize: exit $?: $(cat "$WORK/err")"
[ "$(sha "$WORK/src.img")" = "$(sha "$REPLICA")" ] || fail "--resize: replica differs"
log "size mismatch: clear error; --resize grows the image"

# Interrupted by SIGINT under a rate limit, then resumed from the checkpoint.
cp "$WORK/orig.img" "$WORK/src.img"
cp "$WORK/orig.img" "$REPLICA"
for i in $(seq 0 39); do scribble "$REPLICA" $((i * 1048576 + 777)) 10; done
interrupted_resync first "$WORK/src.img" --replica-file "$REPLICA" --region-size 1M \
    --checkpoint "$WORK/ckpt.json" --max-rate 8M --json
[ -s "$WORK/ckpt.json" ] || fail "no checkpoint after the interruption"
done1=$(json_field "$WORK/first.json" done_bytes)
[ "$done1" -gt 0 ] && [ "$done1" -lt $((40 << 20)) ] || fail "checkpoint position $done1"
"$CBTREP" resync "$WORK/src.img" --replica-file "$REPLICA" --region-size 1M \
    --checkpoint "$WORK/ckpt.json" --json >"$WORK/second.json" 2>"$WORK/second.err" ||
    fail "resumed resync: exit $?: $(cat "$WORK/second.err")"
[ "$(json_field "$WORK/second.json" start_bytes)" = "$done1" ] || fail "did not resume at $done1"
[ "$(sha "$WORK/src.img")" = "$(sha "$REPLICA")" ] || fail "replica differs after the resumed resync"
[ ! -e "$WORK/ckpt.json" ] || fail "checkpoint left behind after a complete resync"
log "interrupted at byte $done1, resumed there, replica equal"
pass

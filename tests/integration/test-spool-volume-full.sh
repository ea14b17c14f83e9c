#!/usr/bin/env bash
# The spool volume fills up (issue 9): the spool lives on a small loop-mounted ext4 (32 MiB)
# that another file has nearly filled; its own bound (1 GiB) is never the limit. cbtrepd
# starts with the target unreachable. When the volume is full: a clear error in the log and
# in `cbtrep status`, the spool is dropped, the tracker is resync-required ("replication log
# reached its limit") and keeps what was not spooled, cbtrepd keeps running. Then space
# returns (the other file goes) and the target comes up: the automatic resync, the spool
# takes over again, the replica equals the source (nothing lost). Needs root and a loop
# device (skipped otherwise); the mount and the loop device are removed on every exit.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum mkfs.ext4 losetup mountpoint fallocate
[ "$(id -u)" = 0 ] || { echo "$TEST_NAME: SKIP: needs root (loop mount)"; exit 77; }

VOL=$WORK/vol
LOOP=
_vol_cleanup() {
    kill9_if_alive "$ENGINE_PID"
    ENGINE_PID=
    if mountpoint -q "$VOL" 2>/dev/null; then umount "$VOL" || umount -l "$VOL" || true; fi
    if [ -n "$LOOP" ]; then losetup -d "$LOOP" 2>/dev/null || true; fi
}
trap '_vol_cleanup; _engine_cleanup' EXIT

truncate -s 32M "$WORK/vol.img"
mkfs.ext4 -q -F "$WORK/vol.img"
LOOP=$(losetup -f --show "$WORK/vol.img" 2>/dev/null) || { echo "$TEST_NAME: SKIP: no loop device"; exit 77; }
mkdir -p "$VOL"
mount "$LOOP" "$VOL" || { echo "$TEST_NAME: SKIP: cannot mount $LOOP"; exit 77; }
avail=$(df -B1 --output=avail "$VOL" | tail -n1 | tr -d ' ')
# Leave about 10 MiB: room for a few 1 MiB batches, far less than the 64 MiB journal.
fallocate -l $((avail - (10 << 20))) "$VOL/other-file"
log "spool volume: $(df -h --output=size,avail "$VOL" | tail -n1 | tr -s ' ') (size, free)"

disk0_history 64 --total-mib 64 --batch-mib 1 --tags 8 --seed 53
pin_target_port

spool_config "$VOL/spool" $((1 << 30)) $((2 << 20))
start_engine --log-level debug
JOURNAL=$WORK/h/journal.cbts
CLI=$BUILD/tools/cbtrep/cbtrep

# 1. The volume is full: clear error, drop, resync-required, the tracker keeps the rest.
dropped=
for _ in $(seq 600); do
    s=$(cli_status_json)
    [ "$(jq_py "$s" 'd["spool"]["state"]')" = dropped ] && { dropped=1; break; }
    kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd stopped when the spool volume filled up"
    sleep 0.1
done
[ -n "$dropped" ] || engine_fail "the spool was not dropped when its volume filled up: $(cli_status_json)"
reason=$(jq_py "$s" 'd["spool"]["reason"]')
case "$reason" in
*"spool volume has"*"bytes free"* | *"No space left on device"*) ;;
*) engine_fail "unclear reason for the drop: '$reason'" ;;
esac
grep -Eq "spool volume has [0-9]+ bytes free|No space left on device" "$WORK/engine.log" ||
    engine_fail "no clear error in the engine log"
grep -q "^cbtrep-tracker 1 resync-required 9" "$JOURNAL.tracker" ||
    engine_fail "tracker state: $(cat "$JOURNAL.tracker" 2>/dev/null) (want resync-required, reason 9)"
[ "$(jq_py "$s" 'd["tracker"]["state_reason"]')" = "replication log reached its limit" ] ||
    engine_fail "cbtrep status tracker reason: $s"
[ "$(find "$VOL/spool" -name '*.hrl' | wc -l)" = 0 ] || engine_fail "segments left after the drop"
size=$(stat -c %s "$JOURNAL")
cur=$(cut -d' ' -f3 "$JOURNAL.cursor")
[ "$cur" -lt "$size" ] || engine_fail "the tracker gave up everything ($cur of $size bytes)"
kill -0 "$ENGINE_PID" 2>/dev/null || engine_fail "cbtrepd stopped"
log "volume full: '$reason'; spool dropped, tracker resync-required, journal kept at $cur of $size bytes"

# 2. Space returns, the target comes up: resync, spooling again, replica equal.
rm -f "$VOL/other-file"
start_target
log "space back, target up on port $PORT"
wait_engine_ok 120
replica_equals_source
grep -q "^cbtrep-tracker 1 dirty 0" "$JOURNAL.tracker" ||
    engine_fail "tracker not cleared after the resync: $(cat "$JOURNAL.tracker")"
grep -q "spooling resumes" "$WORK/engine.log" || engine_fail "the spool did not take over again"
[ "$(status_get spool.state)" = spooling ] || engine_fail "spool state at the end: $(status_get spool.state)"
log "resync done, spooling again on the volume, replica equal to the source"
pass

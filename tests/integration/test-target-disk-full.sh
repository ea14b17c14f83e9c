#!/usr/bin/env bash
# Disk full on the target: the replica (sparse) and the state directory live on a small
# tmpfs, and the history needs more space than it has. The target must answer ERROR
# DISK_FULL (recoverable: the client exits 4 with the reason), roll the half batch back so
# the replica equals the source at its applied_seq, and once space is added the replay
# resumes and ends equal to the source. Needs root to mount tmpfs (else skipped).
source "$(dirname "$0")/lib.sh"
requires sha256sum mount umount

mkdir -p small
if ! mount -t tmpfs -o size=12m tmpfs small 2>/dev/null; then
    echo "$TEST_NAME: SKIP: cannot mount a tmpfs (not root?)"
    _ok=1
    exit 77
fi
trap 'kill_target; umount "$WORK/small" 2>/dev/null || true; cleanup' EXIT

setup_certs
"$GEN" gen --out s.str --expected expected.img --device-mib 64 --batches 120 \
    --max-write-kib 512 --seed 5 --compressible 0 >/dev/null
target_config vm1 small/vm1.img $((64 << 20)) engine1
sed -i 's#"state_dir": "state"#"state_dir": "small/state"#' target.json
start_target

rc=0
wi replay --replica vm1 --stream s.str >replay1.out 2>&1 || rc=$?
[ "$rc" = 4 ] || fail "expected a recoverable failure (exit 4), got $rc: $(cat replay1.out)"
grep -q "disk full" replay1.out || fail "client does not say 'disk full': $(cat replay1.out)"
grep -q "disk full" target.log || fail "target log does not say 'disk full'"
log "refused with: $(tail -1 replay1.out | cut -c1-200)"

seq_now=$(applied_seq vm1)
"$GEN" apply --stream s.str --out at.img --upto-seq "$seq_now"
[ "$(sha small/vm1.img)" = "$(sha at.img)" ] ||
    fail "after ENOSPC the replica is not the source at its applied seq $seq_now"
log "replica consistent at seq $seq_now after ENOSPC"

mount -o remount,size=128m "$WORK/small" || fail "cannot grow the tmpfs"
wi replay --replica vm1 --stream s.str >replay2.out 2>&1 || fail "replay after adding space: $(cat replay2.out)"
[ "$(sha small/vm1.img)" = "$(sha expected.img)" ] || fail "replica differs from the source at the end"
stop_target
pass

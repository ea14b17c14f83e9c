#!/usr/bin/env bash
# Initial sync of a new replica: the device already holds data (image.bin); cbtrepd copies
# it (several copy batches, zero chunks as ZERO extents) and then applies the journal, and
# the replica must equal the image at the last tag. The copy batches rely on the target
# applying CBT_WB_INITIAL batches without its duplicate-by-sequence check (docs/engine.md,
# "Initial sync"); against a target without that, cbtrepd must stop (exit 3) when a copy
# batch is acknowledged as a duplicate, and this test then exits 77 (skipped) saying so.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/engine_lib.sh"
requires openssl python3 sha256sum

disk0_history 16 --total-mib 24 --tags 3 --seed 61
start_target
engine_config "$PORT" "" '"state_dir": "'"$WORK"'/engine-state", "sync_batch_bytes": 4194304'
sed -i 's/"initial_sync": "never"/"initial_sync": "auto"/' "$WORK/engine.json"
start_engine --log-level debug
wait_engine 120
if [ "$ENGINE_RC" = 3 ] && grep -q "does not support CBT_WB_INITIAL" "$WORK/engine.log"; then
    grep -q " copying$" "$WORK/engine-state/disk0.initial-sync" || engine_fail "incomplete copy not marked 'copying'"
    echo "$TEST_NAME: SKIP: cbtrep-target does not implement CBT_WB_INITIAL yet:" \
        "$(grep -m1 'stopping:' "$WORK/engine.log" | sed 's/.*stopping: //')"
    _ok=1 # nothing to keep: remove the work dir
    exit 77
fi
[ "$ENGINE_RC" = 0 ] || engine_fail "cbtrepd exited with $ENGINE_RC"
grep -q "initial sync of 16777216 bytes" "$WORK/engine.log" || engine_fail "no initial sync was run"
grep -q "copying\|done" "$WORK/engine-state/disk0.initial-sync" || engine_fail "no initial-sync marker"
grep -q " done$" "$WORK/engine-state/disk0.initial-sync" || engine_fail "marker not done"
replica_equals_source
pass

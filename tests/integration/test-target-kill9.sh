#!/usr/bin/env bash
# kill -9 the target at random points while a stream is being applied, 20 times (set
# CBTREP_KILL_ITERATIONS for more). After every restart the replica must be exactly the
# source as of the last batch the target reports applied (never a torn batch: an
# uncommitted batch is rolled back from the undo log at start-up), and the client resumes
# from there. At the end the replica equals the source (sha256).
source "$(dirname "$0")/lib.sh"
requires sha256sum

N=${CBTREP_KILL_ITERATIONS:-20}
setup_certs
"$GEN" gen --out s.str --expected expected.img --device-mib 32 --batches 400 \
    --max-write-kib 128 --seed 3 >/dev/null
target_config vm1 vm1.img $((32 << 20)) engine1

killed_mid=0
for i in $(seq "$N"); do
    start_target
    seq_now=$(applied_seq vm1)
    "$GEN" apply --stream s.str --out at.img --upto-seq "$seq_now"
    [ "$(sha vm1.img)" = "$(sha at.img)" ] ||
        fail "iteration $i: replica is not the source at its applied seq $seq_now (torn batch)"
    wi replay --replica vm1 --stream s.str --window 4 >replay.out 2>&1 &
    rpid=$!
    sleep "0.$((100 + RANDOM % 700))"
    kill_target
    rc=0
    wait "$rpid" || rc=$?
    # 0: stream finished before the kill; 4: recoverable (target gone). 3 would be fatal.
    [ "$rc" = 0 ] || [ "$rc" = 4 ] || fail "iteration $i: replay exit $rc: $(cat replay.out)"
    [ "$rc" = 4 ] && killed_mid=$((killed_mid + 1))
    log "iteration $i: was at seq $seq_now, killed (client exit $rc)"
done
rollbacks=$(grep -c "rolled back uncommitted batch" target.log || true)
log "$killed_mid kills interrupted the stream; $rollbacks start-ups rolled back a half-applied batch"

start_target
wi replay --replica vm1 --stream s.str >/dev/null || fail "final replay failed"
[ "$(sha vm1.img)" = "$(sha expected.img)" ] || fail "replica differs from the source at the end"
stop_target
pass

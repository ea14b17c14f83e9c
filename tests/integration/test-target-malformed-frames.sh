#!/usr/bin/env bash
# Malformed input mid-batch: after several MiB of valid extents (enough that some were
# already written to the replica under the undo log), one bad frame arrives — corrupt
# digest, truncated frame, out-of-bounds extent, offset+length overflow, oversized payload
# length, unknown frame type, bad header CRC, undecodable lz4, wrong batch totals. Each
# must be rejected with its reason, the connection dropped, the half batch rolled back
# (replica byte-identical, applied_seq unchanged), and the target must keep serving:
# a normal replay afterwards still completes and matches the source.
source "$(dirname "$0")/lib.sh"
requires sha256sum

setup_certs
"$GEN" gen --out s.str --expected expected.img --device-mib 16 --batches 20 --max-write-kib 64 >/dev/null
"$GEN" gen --out s2.str --expected expected2.img --device-mib 16 --batches 20 --max-write-kib 64 \
    --seed 99 --first-seq 100000 >/dev/null
target_config vm1 vm1.img $((16 << 20)) engine1
start_target
wi replay --replica vm1 --stream s.str >/dev/null || fail "initial replay failed"
ref=$(sha vm1.img)
seq0=$(applied_seq vm1)

cases="corrupt-digest truncated-frame out-of-bounds length-overflow payload-too-large unknown-type bad-header-crc lz4-garbage bad-totals"
declare -A reason=(
    [corrupt-digest]="digest mismatch"
    [truncated-frame]="middle of a frame"
    [out-of-bounds]="past the replica"
    [length-overflow]="overflows"
    [payload-too-large]="payload length not allowed"
    [unknown-type]="unknown frame type"
    [bad-header-crc]="header checksum mismatch"
    [lz4-garbage]="lz4 payload does not decode"
    [bad-totals]="totals disagree"
)
for c in $cases; do
    lines=$(wc -l <target.log)
    wi inject --replica vm1 --case "$c" --device-mib 16 >"$c.out" 2>&1 || fail "$c: $(cat "$c.out")"
    # A status round trip waits until the dropped connection has released the replica,
    # i.e. until its rollback is finished.
    [ "$(applied_seq vm1)" = "$seq0" ] || fail "$c: applied_seq moved"
    [ "$(sha vm1.img)" = "$ref" ] || fail "$c: replica changed (half batch not rolled back)"
    new=$(tail -n +"$((lines + 1))" target.log)
    grep -q "${reason[$c]}" <<<"$new" || fail "$c: target log lacks '${reason[$c]}'"
    grep -q "abandoned, [1-9][0-9]* undo records played back" <<<"$new" ||
        fail "$c: no rollback logged (was anything written before the bad frame?)"
    log "$c: $(head -1 "$c.out" | cut -c1-160)"
done

# Still serving: the rest of the history applies normally (the injected batches never
# counted, so the replica continues from seq0 with a sequence jump).
wi replay --replica vm1 --stream s2.str >/dev/null || fail "replay after the bad frames failed"
"$GEN" apply --stream s.str --out want.img
"$GEN" apply --stream s2.str --out want.img --onto 1
[ "$(sha vm1.img)" = "$(sha want.img)" ] || fail "replica differs from the source after the later replay"
stop_target
pass

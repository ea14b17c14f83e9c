# Helpers of the resync integration tests (test-resync-*.sh), sourced after lib.sh:
#   CBTREP                     the cbtrep binary (exit 77 when it is not built yet)
#   make_image PATH MIB        compressible-ish random data
#   scribble PATH OFF LEN      flips every byte of [OFF, OFF+LEN) (so it surely differs)
#   leaf_ranges SIZE OFF:LEN...   the 4 KiB-leaf ranges those writes touch, merged, as JSON
#   summary_ranges FILE        differing_ranges of the JSON summary in FILE, as JSON
#   json_field FILE KEY        a field of the JSON summary in FILE
#   interrupted_resync NAME ARGS...  `cbtrep resync ARGS...` (stdout $WORK/NAME.json, stderr
#                              $WORK/NAME.err), sent SIGINT after 1.5 s: it must exit 3
#   serve_replica_copy MIB     certificates, an image of MIB at $WORK/orig.img and an equal
#                              replica ($REPLICA, $SIZE bytes) that cbtrep-target serves as
#                              disk0 to engine1
# shellcheck shell=bash
CBTREP=${CBTREP_BIN:-$BUILD/tools/cbtrep/cbtrep}
if [ ! -x "$CBTREP" ]; then
    echo "$TEST_NAME: SKIP: $CBTREP not built (the cbtrep dispatcher, tools/cbtrep/main.cc)"
    exit 77
fi
requires python3 sha256sum

make_image() {
    python3 -c 'import base64, os, sys
n = int(sys.argv[2]) << 20
open(sys.argv[1], "wb").write(base64.b64encode(os.urandom(n * 3 // 4 + 3))[:n])' "$1" "$2"
}

scribble() {
    python3 - "$@" <<'PY'
import sys
path, off, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
with open(path, "r+b") as f:
    f.seek(off)
    b = bytearray(f.read(n))
    f.seek(off)
    f.write(bytes(x ^ 0x80 for x in b))
PY
}

leaf_ranges() {
    python3 - "$@" <<'PY'
import json, sys
size = int(sys.argv[1])
leaves = set()
for w in sys.argv[2:]:
    off, n = map(int, w.split(":"))
    leaves.update(range(off // 4096, (off + n - 1) // 4096 + 1))
out = []
for l in sorted(leaves):
    start, end = l * 4096, min(size, l * 4096 + 4096)
    if out and out[-1][0] + out[-1][1] == start:
        out[-1][1] += end - start
    else:
        out.append([start, end - start])
print(json.dumps(out))
PY
}

summary_ranges() {
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j.get("event") == "summary": print(json.dumps(j["differing_ranges"]))' "$1"
}

json_field() {
    python3 -c 'import json,sys
for line in open(sys.argv[1]):
    j = json.loads(line)
    if j.get("event") == "summary": print(j[sys.argv[2]])' "$1" "$2"
}

# run_patterns REPLICA-ARGS...: every divergence pattern, each checked with verify (exact
# ranges), resync (exit 0), sha256 equality and a clean verify. Uses $WORK/orig.img as the
# common starting point, $WORK/src.img as the source and $REPLICA as the replica file.
run_patterns() {
    local size pattern writes rc got want
    size=$(stat -c %s "$WORK/orig.img")
    for pattern in none one-byte scattered large-range zeroed-source; do
        cp "$WORK/orig.img" "$WORK/src.img"
        cp "$WORK/orig.img" "$REPLICA"
        writes=()
        case $pattern in
        none) ;;
        one-byte) writes=(5000000:1) ;;
        scattered) writes=(0:4096 40960:4096 1052672:100 9999999:4096 20971520:4096 $((size - 4096)):4096) ;;
        large-range) writes=($(((3 << 20) + 100)):$((5 << 20))) ;;
        zeroed-source) ;;
        esac
        for w in "${writes[@]}"; do scribble "$REPLICA" "${w%%:*}" "${w##*:}"; done
        if [ "$pattern" = zeroed-source ]; then
            head -c "$size" /dev/zero >"$WORK/src.img"
            writes=(0:"$size")
        fi
        want=$(leaf_ranges "$size" "${writes[@]}")
        rc=0
        "$CBTREP" verify "$WORK/src.img" "$@" --json >"$WORK/verify.json" 2>"$WORK/verify.err" || rc=$?
        [ "$pattern" = none ] && { [ $rc = 0 ] || fail "$pattern: verify exit $rc: $(cat "$WORK/verify.err")"; }
        [ "$pattern" != none ] && { [ $rc = 1 ] || fail "$pattern: verify exit $rc, expected 1: $(cat "$WORK/verify.err")"; }
        got=$(summary_ranges "$WORK/verify.json")
        [ "$got" = "$want" ] || fail "$pattern: verify reported $got, expected $want"
        "$CBTREP" resync "$WORK/src.img" "$@" --no-checkpoint --json >"$WORK/resync.json" \
            2>"$WORK/resync.err" || fail "$pattern: resync exit $?: $(cat "$WORK/resync.err")"
        [ "$(sha "$WORK/src.img")" = "$(sha "$REPLICA")" ] || fail "$pattern: replica differs after resync"
        [ "$pattern" = zeroed-source ] && [ "$(json_field "$WORK/resync.json" payload_bytes)" != 0 ] &&
            fail "zeroed-source: sent a payload for zeroes"
        "$CBTREP" verify "$WORK/src.img" "$@" >/dev/null 2>&1 || fail "$pattern: verify after resync exit $?"
        log "$pattern: verify exact, resync equal (sha256)"
    done
}

serve_replica_copy() {
    setup_certs
    make_image "$WORK/orig.img" "$1"
    SIZE=$(stat -c %s "$WORK/orig.img")
    REPLICA=$WORK/replica.img
    cp "$WORK/orig.img" "$REPLICA"
    target_config disk0 "$REPLICA" "$SIZE" engine1
    start_target
}

interrupted_resync() {
    local name=$1 pid rc=0
    shift
    "$CBTREP" resync "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
    pid=$!
    sleep 1.5
    kill -INT $pid
    wait $pid || rc=$?
    [ $rc = 3 ] || fail "interrupted resync: exit $rc, expected 3: $(cat "$WORK/$name.err")"
}

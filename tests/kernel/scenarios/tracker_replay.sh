# Tracker, replay: in DATA mode, replaying the drained journal onto a copy of the device
# taken at attach reproduces the device byte for byte (sha256), with discards and
# write-zeroes in the mix (no discards: their content is undefined, brd keeps partial pages).
# @bins: tools/ctl/cbtrep-ctl tools/ctl/cbtrep-gt-writer
# @timeout: 600

load_cbtrep
modprobe brd rd_nr=1 rd_size=65536
dd if=/dev/urandom of=/dev/ram0 bs=1M count=64 2>/dev/null
sync
check "copy taken at attach" dd if=/dev/ram0 of=/tmp/copy.img bs=1M 2>/dev/null
check "attach with a 128 MiB cap" cbtrep-ctl attach r0 /dev/ram0 --cap 134217728
check "ground-truth writer" cbtrep-gt-writer /dev/ram0 /tmp/gt.log 0 3000 11 --max-kib 64 --no-discard
sync
check "drain" cbtrep-ctl drain r0 /tmp/j.stream
cbtrep-ctl status r0 --json | tee /tmp/st
grep -q '"mode_changes":0' /tmp/st || fail "the journal degraded: a replay cannot be exact"
check "replay the journal onto the copy" cbtrep-ctl replay /tmp/j.stream /tmp/copy.img
a=$(sha256sum </dev/ram0 | cut -d' ' -f1)
b=$(sha256sum </tmp/copy.img | cut -d' ' -f1)
echo "device $a"
echo "replica $b"
[ "$a" = "$b" ] || fail "the replayed copy differs from the device"
echo "ok: replay reproduces the device byte for byte"
check "detach" cbtrep-ctl detach r0
unload_cbtrep

# Tracker, degradation: with the smallest memory cap (64 KiB) a burst of writes forces
# DATA -> META -> BITMAP (STATUS and the kernel log say so and why); nothing is missed
# (ground truth against journal + bitmap); draining recovers to DATA through a GAP record.
# @bins: tools/ctl/cbtrep-ctl tools/ctl/cbtrep-gt-writer
# @timeout: 600

load_cbtrep
modprobe brd rd_nr=1 rd_size=65536
check "attach with a 64 KiB cap" cbtrep-ctl attach r0 /dev/ram0 --cap 65536
check "ground-truth writer" cbtrep-gt-writer /dev/ram0 /tmp/gt.log 0 3000 7 --max-kib 256
cbtrep-ctl status r0 --json | tee /tmp/st1
grep -q '"mode":"bitmap"' /tmp/st1 || fail "mode is not bitmap under a 64 KiB cap"
grep -q '"mode_reason":"journal record memory cap reached"' /tmp/st1 || fail "no reason given"
dmesg | grep -q "r0: mode data -> meta: journal data memory cap reached" ||
	fail "no log line for DATA -> META"
dmesg | grep -q "r0: mode meta -> bitmap: journal record memory cap reached" ||
	fail "no log line for META -> BITMAP"
echo "ok: DATA -> META -> BITMAP, each logged with its reason"
check "drain" cbtrep-ctl drain r0 /tmp/j.stream
cbtrep-ctl status r0 --json | tee /tmp/st2
grep -q '"mode":"data"' /tmp/st2 || fail "not back to DATA after the drain"
dmesg | grep -q "r0: mode bitmap -> meta: recovered after drain" || fail "no BITMAP -> META line"
dmesg | grep -q "r0: mode meta -> data: recovered after drain" || fail "no META -> DATA line"
echo "ok: recovered to DATA after the drain"
check "cut" cbtrep-ctl cut r0
check "bitmap" cbtrep-ctl bitmap r0 /tmp/j.bitmap
check "0 misses under degradation" cbtrep-ctl check-cover /tmp/gt.log /tmp/j.stream /tmp/j.bitmap
cbtrep-ctl check-cover /tmp/gt.log /tmp/j.stream /tmp/j.bitmap | grep -q ", [1-9][0-9]* gaps" ||
	fail "the journal holds no GAP record"
echo "ok: the journal says where the gap is"
# Back in DATA mode, a new write is journalled with its data again.
dd if=/dev/urandom of=/dev/ram0 bs=4096 count=1 seek=100 oflag=direct 2>/dev/null
check "get after recovery" cbtrep-ctl get r0 /tmp/k.stream
check "detach" cbtrep-ctl detach r0
unload_cbtrep

# Tracker, partition and whole disk at once, and two devices in one TAG: the whole disk and
# its second partition are attached together. Writes to the partition are seen by both
# (the whole disk translates by the partition start); writes to the whole disk that overlap
# the partition are seen by it (clipped and translated). A TAG across both puts the same
# tag id into both journals. Ground truth on both: 0 misses.
# @disks: pt:128
# @bins: tools/ctl/cbtrep-ctl tools/ctl/cbtrep-gt-writer
# @timeout: 600

load_cbtrep
dev=$(disk pt)
p2=${dev}2
[ -b "$p2" ] || fail "no partition $p2"
start=$(cat /sys/class/block/${p2#/dev/}/start)
[ "$start" = 131072 ] || fail "p2 starts at $start, want 131072"
check "attach the whole disk" cbtrep-ctl attach whole "$dev"
check "attach partition 2" cbtrep-ctl attach p2 "$p2"
check "writes through the partition" cbtrep-gt-writer "$p2" /tmp/p.log 0 1500 3 --max-kib 256
check "tag both" cbtrep-ctl tag both-ok whole p2
check "writes through the whole disk, from p2's start" \
	cbtrep-gt-writer "$dev" /tmp/w.log $start 1500 4 --max-kib 256
# Writes through the whole disk from p1 on: only those past p2's start reach p2.
check "writes from p1 on through the whole disk" cbtrep-gt-writer "$dev" /tmp/w1.log 2048 200 5
sync
for n in whole p2; do
	check "drain $n" cbtrep-ctl drain $n /tmp/$n.stream
	check "cut $n" cbtrep-ctl cut $n
	check "bitmap $n" cbtrep-ctl bitmap $n /tmp/$n.bitmap
done
# Ground truth per device, in its own sectors.
awk -v o="$start" '{ print $1 + o, $2 }' /tmp/p.log >/tmp/whole.log
cat /tmp/w.log /tmp/w1.log >>/tmp/whole.log
cp /tmp/p.log /tmp/p2.log
# A write straddling p2's start is clipped: p2 sees only its own part.
awk -v o="$start" '$1 + $2 > o { s = $1 < o ? o : $1; print s - o, $1 + $2 - s }' \
	/tmp/w.log /tmp/w1.log >>/tmp/p2.log
check "whole disk: 0 misses, nothing over-marked past p1's start" cbtrep-ctl check-cover /tmp/whole.log /tmp/whole.stream /tmp/whole.bitmap \
	--exclusive 2048
check "partition: 0 misses, nothing over-marked" \
	cbtrep-ctl check-cover /tmp/p2.log /tmp/p2.stream /tmp/p2.bitmap --exclusive 0
tw=$(cbtrep-ctl dump /tmp/whole.stream | grep ' TAG ' | sed 's/.* tag \([0-9]*\) .*/\1/')
tp=$(cbtrep-ctl dump /tmp/p2.stream | grep ' TAG ' | sed 's/.* tag \([0-9]*\) .*/\1/')
echo "tag ids: whole=$tw p2=$tp"
[ -n "$tw" ] && [ "$tw" = "$tp" ] || fail "the TAG is not in both journals with one id"
echo "ok: one TAG id in both journals"
check "detach p2" cbtrep-ctl detach p2
check "detach whole" cbtrep-ctl detach whole
unload_cbtrep

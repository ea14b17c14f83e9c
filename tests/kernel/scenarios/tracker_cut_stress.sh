# Tracker, cut stress: a ground-truth writer runs while cuts follow each other as fast as
# cbtrep-ctl can issue them (no done generation: each frozen bitmap is merged into the
# next); in BITMAP mode (META-only, 64 KiB cap) the I/O path marks without the tracker
# lock. The final cut's bitmap with the drained journal must cover every write (0 misses).
# @bins: tools/ctl/cbtrep-ctl tools/ctl/cbtrep-gt-writer
# @timeout: 600

load_cbtrep
modprobe brd rd_nr=1 rd_size=65536
check "attach" cbtrep-ctl attach r0 /dev/ram0 --cap 65536 --meta-only
cbtrep-gt-writer /dev/ram0 /tmp/gt.log 0 8000 11 --max-kib 64 &
wpid=$!
n=0
while kill -0 "$wpid" 2>/dev/null; do
	cbtrep-ctl cut r0 >/dev/null || fail "cut $n"
	n=$((n + 1))
done
wait "$wpid" || fail "writer"
echo "cuts while writing: $n"
[ "$n" -ge 10 ] || fail "only $n cuts raced the writes"
cbtrep-ctl status r0 --json | tee /tmp/st
grep -q '"mode":"bitmap"' /tmp/st || fail "not in BITMAP mode"
check "drain" cbtrep-ctl drain r0 /tmp/j.stream
check "cut" cbtrep-ctl cut r0
check "bitmap" cbtrep-ctl bitmap r0 /tmp/j.bitmap
check "0 misses with cuts racing the writes" cbtrep-ctl check-cover /tmp/gt.log /tmp/j.stream /tmp/j.bitmap
check "detach" cbtrep-ctl detach r0
unload_cbtrep

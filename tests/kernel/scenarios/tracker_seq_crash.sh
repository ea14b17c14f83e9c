# Tracker, sequence numbers across a crash (docs/tracker.md, "Sequence numbers across a
# crash"): while attached, the metadata header's last_seq is a ceiling reserved ahead of
# the journal, so the attach after a crash resumes numbering above every number handed out
# before it (drained or still pending), while an orderly detach continues exactly. The
# crash is simulated as tracker_persist does it: a copy of the header taken while
# attached is put back after the detach, then the device is attached again.
# @disks: meta:64
# @bins: tools/ctl/cbtrep-ctl

load_cbtrep
modprobe brd rd_nr=1 rd_size=65536
mdev=$(disk meta)
mkdir -p /mnt/meta
check "mount the metadata filesystem" mount -t ext4 "$mdev" /mnt/meta
m=/mnt/meta/r0.meta

# "next_seq" etc. of a `cbtrep-ctl status --json` output file.
json_num() { sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p" "$2"; }
# last_seq of a metadata header (u64 at offset 40, include/cbtrep/meta.h).
hdr_last_seq() { od -An -t u8 -j 40 -N 8 "$1" | tr -d ' '; }
writes() { # COUNT FIRST_BLOCK: one 4 KiB direct write each, so one record each
	local i
	for i in $(seq "$2" $(($2 + $1 - 1))); do
		dd if=/dev/urandom of=/dev/ram0 bs=4096 count=1 seek="$i" oflag=direct 2>/dev/null
	done
}
half=$((1 << 39)) # half of CBT_SEQ_RESERVE (core/cbt_tracker.h)

check "attach" cbtrep-ctl attach r0 /dev/ram0 --meta $m
writes 20 100
check "drain" cbtrep-ctl drain r0 /tmp/d1.stream
writes 10 200 # left pending
cbtrep-ctl status r0 --json >/tmp/s1
cat /tmp/s1
next1=$(json_num next_seq /tmp/s1)
ceiling=$(hdr_last_seq $m)
echo "next_seq $next1, header last_seq $ceiling"
[ "$next1" -ge 31 ] || fail "30 writes gave next_seq $next1"
[ "$ceiling" -ge $((next1 - 1 + half)) ] ||
	fail "header last_seq $ceiling is not reserved ahead of next_seq $next1"
echo "ok: the header reserves numbers ahead of the journal"

check "a crash from now on would find this header: keep a copy" cp $m /tmp/crash.meta
writes 10 300 # handed out after the copy: a crash must not reuse them either
cbtrep-ctl get r0 /tmp/g.stream >/tmp/g1
cat /tmp/g1
cbtrep-ctl status r0 --json >/tmp/s2
last_before=$(($(json_num next_seq /tmp/s2) - 1))
echo "last number handed out before the crash: $last_before"
[ "$last_before" -ge 40 ] || fail "40 writes handed out only up to $last_before"

check "detach without saving anything" cbtrep-ctl detach r0 --discard
check "simulate the crash: the header as it was on disk" cp /tmp/crash.meta $m
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a2
grep -q "found dirty" /tmp/a2 || fail "the restored header is not DIRTY"
cbtrep-ctl status r0 --json >/tmp/s3
cat /tmp/s3
grep -q '"state_reason":"unclean shutdown"' /tmp/s3 || fail "not UNCLEAN_SHUTDOWN after the crash"
next3=$(json_num next_seq /tmp/s3)
[ "$next3" -gt "$last_before" ] ||
	fail "after the crash numbering resumes at $next3, at or below $last_before handed out before"
[ "$next3" = $((ceiling + 1)) ] || fail "resumes at $next3, want the ceiling + 1 = $((ceiling + 1))"
echo "ok: after the crash numbering resumes at $next3, above $last_before"
writes 1 400
cbtrep-ctl get r0 /tmp/g2.stream >/tmp/g2
cat /tmp/g2
first=$(awk '{print $6}' /tmp/g2 | cut -d. -f1)
[ "$first" -gt "$last_before" ] || fail "the first record after the crash has seq $first"
check "commit" cbtrep-ctl commit r0 "$(awk '{print $2}' /tmp/g2)"
echo "ok: the first record after the crash is numbered $first"
hdr=$(hdr_last_seq $m)
[ "$hdr" -ge $((first + half)) ] || fail "the new header's last_seq $hdr is not reserved ahead"

# An orderly detach writes the exact last number: the next attach continues without a jump.
cbtrep-ctl status r0 --json >/tmp/s4
next4=$(json_num next_seq /tmp/s4)
check "orderly detach" cbtrep-ctl detach r0
[ "$(hdr_last_seq $m)" = $((next4 - 1)) ] ||
	fail "orderly detach wrote last_seq $(hdr_last_seq $m), want $((next4 - 1))"
check "attach" cbtrep-ctl attach r0 /dev/ram0 --meta $m
cbtrep-ctl status r0 --json >/tmp/s5
[ "$(json_num next_seq /tmp/s5)" = "$next4" ] ||
	fail "after an orderly detach numbering resumes at $(json_num next_seq /tmp/s5), want $next4"
echo "ok: an orderly detach continues exactly at $next4"
check "detach" cbtrep-ctl detach r0
umount /mnt/meta
unload_cbtrep

# Tracker, RESYNC (require / done as of a cut generation): an unclean shutdown found at
# attach is cleared by a resync that followed a cut, and the writes made during that resync
# are still tracked (0 misses against the bitmap alone and against the journal alone); a
# REQUIRE after the cut makes that DONE answer EAGAIN; the metadata header follows both, so
# a crash or an orderly detach afterwards tells the same story; bad requests get an errno.
# @bins: tools/ctl/cbtrep-ctl tools/ctl/cbtrep-gt-writer
# @timeout: 300

load_cbtrep
modprobe brd rd_nr=1 rd_size=65536
# The metadata lives on the guest's tmpfs: off the tracked device, as required.
m=/tmp/r0.meta

# json KEY FILE: the value of a number or string member of cbtrep-ctl status --json.
json() { sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p" "$2"; }

# expect_rc WANT DESC CMD...: CMD must exit with status WANT (cbtrep-ctl exits with the errno).
expect_rc() {
	want=$1
	desc=$2
	shift 2
	rc=0
	"$@" >/tmp/out 2>&1 || rc=$?
	cat /tmp/out
	[ "$rc" = "$want" ] || fail "$desc: exit $rc, want $want"
	echo "ok: $desc -> $rc"
}

# --- an unclean shutdown: the header found dirty at attach ---
check "first attach" cbtrep-ctl attach r0 /dev/ram0 --meta $m
dd if=/dev/urandom of=/dev/ram0 bs=4096 count=4 seek=10 oflag=direct 2>/dev/null
check "keep the dirty header a crash would leave" cp $m /tmp/crash.meta
check "detach" cbtrep-ctl detach r0
check "simulate the crash" cp /tmp/crash.meta $m
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a1
grep -q "found dirty" /tmp/a1 || fail "the header was not found dirty"
cbtrep-ctl status r0 --json | tee /tmp/s1
[ "$(json state /tmp/s1)" = resync-required ] || fail "not resync-required after a crash"
[ "$(json state_reason /tmp/s1)" = "unclean shutdown" ] || fail "reason is not unclean shutdown"
g_active=$(json generation /tmp/s1)
expect_rc 22 "done with the active generation (no cut made it)" cbtrep-ctl resync-done r0 "$g_active"
expect_rc 11 "done with a generation of the previous attach" \
	cbtrep-ctl resync-done r0 $((g_active - 1))
grep -q "state resync-required (unclean shutdown)" /tmp/out || fail "EAGAIN did not say the state"

# --- the resync: cut, then writes while "copying", then DONE ---
check "drain what came before" cbtrep-ctl drain r0 /tmp/pre.stream
cbtrep-ctl drain r0 /tmp/empty.stream | tee /tmp/d0
grep -q "drained 0 batches" /tmp/d0 || fail "the journal was not empty"
g1=$(cbtrep-ctl cut r0 | sed -n 's/^generation \([0-9]*\) .*/\1/p')
[ -n "$g1" ] || fail "cut gave no generation"
echo "resync follows the cut of generation $g1"
dd if=/dev/ram0 of=/dev/null bs=1M 2>/dev/null &
reader=$!
check "writes during the resync" cbtrep-gt-writer /dev/ram0 /tmp/gt.log 0 300 11 --max-kib 64
wait $reader
expect_rc 0 "done after the resync that followed generation $g1" cbtrep-ctl resync-done r0 "$g1"
grep -q "state dirty (none)" /tmp/out || fail "DONE did not report state dirty"
cbtrep-ctl status r0 --json | tee /tmp/s2
[ "$(json state /tmp/s2)" = dirty ] || fail "state is not dirty after DONE"
[ "$(json state_reason /tmp/s2)" = none ] || fail "reason is not none after DONE"
[ "$(json records_pending /tmp/s2)" -gt 0 ] || fail "the journal lost the resync's writes"
[ "$(json records_dropped /tmp/s2)" = 0 ] || fail "records dropped: the journal check below is void"
[ "$(json dirty_bits /tmp/s2)" -gt 0 ] || fail "the active bitmap lost the resync's writes"

# Ground truth: every write made during the resync is still in the bitmap of the next cut,
# and in the journal.
g2=$(cbtrep-ctl cut r0 "$g1" | sed -n 's/^generation \([0-9]*\) .*/\1/p')
check "dump generation $g2" cbtrep-ctl bitmap r0 /tmp/g2.bitmap
check "0 misses in the bitmap alone" cbtrep-ctl check-cover /tmp/gt.log /tmp/empty.stream /tmp/g2.bitmap
check "drain the resync's writes" cbtrep-ctl drain r0 /tmp/post.stream
g3=$(cbtrep-ctl cut r0 "$g2" | sed -n 's/^generation \([0-9]*\) dirty_bits 0$/\1/p')
[ -n "$g3" ] || fail "a cut with no writes since is not empty"
check "dump the empty generation $g3" cbtrep-ctl bitmap r0 /tmp/g3.bitmap
check "0 misses in the journal alone" cbtrep-ctl check-cover /tmp/gt.log /tmp/post.stream /tmp/g3.bitmap

# --- REQUIRE after a cut: a DONE for that cut is refused ---
expect_rc 0 "require: the engine's log hit its limit" cbtrep-ctl resync-require r0 spool-limit
grep -q "state resync-required (replication log reached its limit)" /tmp/out ||
	fail "REQUIRE did not report the state"
expect_rc 11 "done for generation $g3, older than the REQUIRE" cbtrep-ctl resync-done r0 "$g3"
grep -q "state resync-required (replication log reached its limit)" /tmp/out ||
	fail "EAGAIN did not say the state"
cbtrep-ctl status r0 --json | tee /tmp/s3
[ "$(json state /tmp/s3)" = resync-required ] || fail "a refused DONE cleared the state"
check "keep the header a crash would leave now" cp $m /tmp/required.meta
g4=$(cbtrep-ctl cut r0 "$g3" | sed -n 's/^generation \([0-9]*\) .*/\1/p')
expect_rc 0 "done after a resync that followed generation $g4" cbtrep-ctl resync-done r0 "$g4"
check "keep the header a crash would leave after DONE" cp $m /tmp/done.meta

# --- bad requests: an errno, never an oops ---
expect_rc 22 "require with reason none" cbtrep-ctl resync-require r0 0
expect_rc 22 "require with a reason past the last" cbtrep-ctl resync-require r0 16
expect_rc 22 "unknown op" cbtrep-ctl resync r0 3 6 "$g4"
expect_rc 22 "op 0" cbtrep-ctl resync r0 0 6 "$g4"
expect_rc 22 "done with generation 0" cbtrep-ctl resync-done r0 0
expect_rc 22 "done with a generation not cut yet" cbtrep-ctl resync-done r0 18446744073709551615
expect_rc 2 "done on an unknown device" cbtrep-ctl resync-done nope "$g4"
grep -q "No such file or directory" /tmp/out || fail "exit 2 was not ENOENT"
cbtrep-ctl status r0 --json | tee /tmp/s4
[ "$(json state /tmp/s4)" = dirty ] || fail "a bad request changed the state"

# --- persistence: orderly detach keeps a REQUIRE; crash headers say what was asked ---
check "require (operator)" cbtrep-ctl resync-require r0 user-request
check "orderly detach while resync-required" cbtrep-ctl detach r0
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a2
grep -q "found resync-required (user request)" /tmp/a2 ||
	fail "an orderly detach turned a required resync into a clean header"
g5=$(cbtrep-ctl cut r0 | sed -n 's/^generation \([0-9]*\) .*/\1/p')
check "done after the re-attach" cbtrep-ctl resync-done r0 "$g5"
check "detach" cbtrep-ctl detach r0
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a3
grep -q "found clean" /tmp/a3 || fail "detach after DONE did not save a clean header"
check "detach" cbtrep-ctl detach r0

check "crash right after the REQUIRE" cp /tmp/required.meta $m
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a4
grep -q "found resync-required (replication log reached its limit)" /tmp/a4 ||
	fail "the REQUIRE was not in the header"
check "detach" cbtrep-ctl detach r0
check "crash right after the DONE" cp /tmp/done.meta $m
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a5
grep -q "found dirty" /tmp/a5 || fail "DONE did not write the header back to dirty"
cbtrep-ctl status r0 --json | grep -q '"state_reason":"unclean shutdown"' ||
	fail "a crash after DONE is not an unclean shutdown"
echo "ok: the header follows REQUIRE and DONE"
check "detach" cbtrep-ctl detach r0
unload_cbtrep

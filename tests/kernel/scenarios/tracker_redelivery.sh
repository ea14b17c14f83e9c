# Tracker, redelivery: a batch fetched but not committed is handed out again unchanged;
# COMMIT of another id is ESTALE; after COMMIT the next batch follows on in sequence;
# WAIT times out with nothing to drain and wakes up for a write.
# Runs on brd (no filesystem: attach freezes nothing).
# @bins: tools/ctl/cbtrep-ctl

load_cbtrep
modprobe brd rd_nr=1 rd_size=65536
check "attach ram0" cbtrep-ctl attach r0 /dev/ram0
dd if=/dev/urandom of=/dev/ram0 bs=4096 count=8 seek=10 oflag=direct 2>/dev/null
dd if=/dev/urandom of=/dev/ram0 bs=512 count=1 seek=7 conv=fsync 2>/dev/null
cbtrep-ctl status r0
cbtrep-ctl get r0 /tmp/a.stream 1 >/tmp/g1
cbtrep-ctl get r0 /tmp/b.stream 1 >/tmp/g2
cat /tmp/g1 /tmp/g2
check "the same batch twice" cmp /tmp/g1 /tmp/g2
# Past the 96-byte stream header (it carries its creation time): the batches themselves.
tail -c +97 /tmp/a.stream >/tmp/a.batch
tail -c +97 /tmp/b.stream >/tmp/b.batch
check "the batch is byte for byte the same" cmp /tmp/a.batch /tmp/b.batch
id=$(awk '{print $2}' /tmp/g1)
set +e
cbtrep-ctl commit r0 $((id + 1))
rc=$?
set -e
[ "$rc" = 116 ] || fail "commit of another batch id gave $rc, want ESTALE (116)"
echo "ok: commit of another id is ESTALE"
check "commit" cbtrep-ctl commit r0 "$id"
cbtrep-ctl get r0 /tmp/c.stream 1 >/tmp/g3
cat /tmp/g3
id3=$(awk '{print $2}' /tmp/g3)
[ "$id3" != "$id" ] || fail "a committed batch came back"
first3=$(awk '{print $6}' /tmp/g3 | cut -d. -f1)
last1=$(awk '{print $6}' /tmp/g1 | sed 's/.*\.\.//')
[ "$first3" = $((last1 + 1)) ] || fail "next batch starts at $first3, want $((last1 + 1))"
echo "ok: the next batch continues the sequence"
check "commit" cbtrep-ctl commit r0 "$id3"
check "drain the rest" cbtrep-ctl drain r0 /tmp/d.stream
# WAIT: nothing to drain times out; a write makes it ready.
cbtrep-ctl status r0 >/dev/null
set +e
cbtrep-ctl wait r0 200
rc=$?
set -e
[ "$rc" = 110 ] || fail "WAIT with nothing to drain gave $rc, want ETIMEDOUT (110)"
echo "ok: WAIT times out when there is nothing to drain"
dd if=/dev/urandom of=/dev/ram0 bs=4096 count=1 seek=50 oflag=direct 2>/dev/null
cbtrep-ctl wait r0 2000 | grep -q "ready 0x1" || fail "WAIT does not report records ready"
echo "ok: WAIT reports records after a write"
check "drain" cbtrep-ctl drain r0 /tmp/d.stream
cbtrep-ctl status r0 --json
check "detach" cbtrep-ctl detach r0
unload_cbtrep

# Tracker, persistence: the metadata file says NEW_DEVICE at the first attach, CLEAN with
# the saved bitmap after an orderly detach (the next attach loads it), UNCLEAN_SHUTDOWN
# when the header was left dirty, and resync-required after a discarding detach. A
# metadata file on the tracked device is refused.
# @disks: meta:64
# @bins: tools/ctl/cbtrep-ctl

load_cbtrep
modprobe brd rd_nr=1 rd_size=65536
mdev=$(disk meta)
mkdir -p /mnt/meta
check "mount the metadata filesystem" mount -t ext4 "$mdev" /mnt/meta
m=/mnt/meta/r0.meta

cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a1
grep -q "found resync-required (new device)" /tmp/a1 || fail "first attach is not NEW_DEVICE"
dd if=/dev/urandom of=/dev/ram0 bs=4096 count=5 seek=100 oflag=direct 2>/dev/null
dd if=/dev/urandom of=/dev/ram0 bs=4096 count=1 seek=9000 oflag=direct 2>/dev/null
check "a crash now would find the header dirty: keep a copy" cp $m /tmp/dirty.meta
check "orderly detach" cbtrep-ctl detach r0

cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a2
grep -q "found clean" /tmp/a2 || fail "attach after an orderly detach is not CLEAN"
cbtrep-ctl status r0 --json | tee /tmp/s2
grep -q '"state":"dirty"' /tmp/s2 || fail "not tracking (dirty) after a clean load"
grep -q '"dirty_bits":6' /tmp/s2 || fail "the saved bitmap (6 blocks) was not loaded"
echo "ok: the saved bitmap was loaded"
check "detach" cbtrep-ctl detach r0

check "simulate an unclean shutdown" cp /tmp/dirty.meta $m
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a3
cbtrep-ctl status r0 --json | tee /tmp/s3
grep -q '"state_reason":"unclean shutdown"' /tmp/s3 || fail "a dirty header is not UNCLEAN_SHUTDOWN"
echo "ok: an unclean shutdown is not silent"
check "discarding detach" cbtrep-ctl detach r0 --discard
cbtrep-ctl attach r0 /dev/ram0 --meta $m | tee /tmp/a4
grep -q "found resync-required (user request)" /tmp/a4 || fail "discard did not leave resync-required"
check "detach" cbtrep-ctl detach r0

check "corrupt the header" dd if=/dev/urandom of=$m bs=1 count=16 seek=20 conv=notrunc 2>/dev/null
cbtrep-ctl attach r0 /dev/ram0 --meta $m >/dev/null
cbtrep-ctl status r0 --json | grep -q '"state_reason":"metadata invalid"' ||
	fail "a corrupt header is not METADATA_INVALID"
echo "ok: a corrupt header reads as metadata invalid"
check "detach" cbtrep-ctl detach r0

# The metadata may not live on the device it describes.
set +e
cbtrep-ctl attach meta "$mdev" --meta /mnt/meta/self.meta
rc=$?
set -e
[ "$rc" = 22 ] || fail "metadata on the tracked device gave $rc, want EINVAL (22)"
echo "ok: metadata on the tracked device is refused"
umount /mnt/meta
unload_cbtrep

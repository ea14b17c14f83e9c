# Guest discards reach the disk image (the harness's drives use discard=unmap): a file of a
# token pattern is written to ext4 and flushed, deleted, and fstrim trims the free space;
# the image then no longer holds the pattern (checked on the host, disk_discard.host.sh). With QEMU's default discard=ignore fstrim still "succeeds"
# but the pattern stays on the disk, and this test fails.
# @disks: data:64
# @modules: ext4

data=$(disk data)
mkdir -p /mnt/data
check "mount the ext4 disk" mount -t ext4 "$data" /mnt/data
max=$(cat "/sys/block/${data#/dev/}/queue/discard_max_bytes")
echo "discard_max_bytes of $data: $max"
[ "$max" -gt 0 ] || fail "$data does not take discards"
yes "$DISCARD_TOKEN" | head -c $((16 << 20)) >/mnt/data/pattern
sync
echo 3 >/proc/sys/vm/drop_caches
# -q stops at the first match: a count would read the whole device (slow under TCG).
check "the pattern reached the device" grep -a -q "$DISCARD_TOKEN" "$data"
rm /mnt/data/pattern
sync
fstrim -v /mnt/data | tee /tmp/fstrim.out
trimmed=$(sed -n 's/.*: \([0-9]*\) bytes trimmed.*/\1/p' /tmp/fstrim.out)
echo "fstrim trimmed ${trimmed:-?} bytes"
[ "${trimmed:-0}" -ge $((16 << 20)) ] || fail "fstrim trimmed ${trimmed:-?} bytes, want >= 16 MiB"
check "unmount" umount /mnt/data

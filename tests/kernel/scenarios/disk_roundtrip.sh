# Extra virtio disks both ways: the guest mounts an ext4 image the host made, reads the
# host's file and writes its own; it writes a pattern to a raw disk. The host checks both
# images after shutdown (disk_roundtrip.host.sh).
# @disks: data:64 raw:8
# @modules: ext4

data=$(disk data)
raw=$(disk raw)
echo "data is $data, raw is $raw"
mkdir -p /mnt/data
check "mount the host's ext4 image" mount -t ext4 "$data" /mnt/data
check "read the host's file" grep -qx "$HOST_TOKEN" /mnt/data/from-host.txt
echo "$GUEST_TOKEN" >/mnt/data/from-guest.txt
check "unmount" umount /mnt/data
# 4 KiB of the token at 1 MiB into the raw disk, flushed to the device.
check "write the raw pattern" sh -c "yes '$GUEST_TOKEN' | head -c 4096 | dd of=$raw bs=4096 seek=256 conv=fsync 2>/dev/null"

# Tracker, ground truth: attach live to a MOUNTED ext4 on a virtio disk, then a writer that
# logs every write it makes (raw O_DIRECT and buffered+fdatasync writes with 512-byte
# alignment, BLKDISCARD, BLKZEROOUT, the last sector, and O_DIRECT/buffered writes into a
# file mapped with FIEMAP) — 10^4 of them. Every logged block must be in the drained
# journal or the cut bitmap (0 misses); past the filesystem, where only the writer writes,
# nothing may be tracked that the log does not explain (over-marking only by rounding).
# @disks: gt:256
# @bins: tools/ctl/cbtrep-ctl tools/ctl/cbtrep-gt-writer
# @timeout: 900

load_cbtrep
dev=$(disk gt)
mkdir -p /mnt/gt
check "mount ext4" mount -t ext4 "$dev" /mnt/gt
echo hello >/mnt/gt/before-attach
check "attach to the mounted disk" cbtrep-ctl attach gt "$dev"
# 224 MiB = 458752 sectors: from there on only the writer writes.
first=458752
check "ground-truth writer" cbtrep-gt-writer "$dev" /tmp/gt.log $first 10000 1 \
	--file /mnt/gt/gt.data 32 --max-kib 1024
echo more >/mnt/gt/after-writer
sync
cbtrep-ctl status gt
check "drain the journal" cbtrep-ctl drain gt /tmp/gt.stream
check "cut the bitmap" cbtrep-ctl cut gt
check "read the frozen bitmap" cbtrep-ctl bitmap gt /tmp/gt.bitmap
check "0 misses, no over-marking past the filesystem" \
	cbtrep-ctl check-cover /tmp/gt.log /tmp/gt.stream /tmp/gt.bitmap --exclusive $first
cbtrep-ctl status gt --json
check "detach" cbtrep-ctl detach gt
check "umount" umount /mnt/gt
unload_cbtrep

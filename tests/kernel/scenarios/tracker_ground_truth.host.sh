# Host side of tracker_ground_truth.sh: a 256 MiB disk whose first 224 MiB hold ext4; the
# last 32 MiB belong to no filesystem, so the ground-truth writer may write there raw.
host_prepare() {
	truncate -s 256M "$DISK_gt"
	mkfs.ext4 -q -F -L cbtgt "$DISK_gt" 224M
}

host_verify() {
	# The guest wrote raw only past the filesystem: it must still be consistent.
	e2fsck -fn "$DISK_gt" >"$RUN_DIR/e2fsck.log" 2>&1 || {
		cat "$RUN_DIR/e2fsck.log" >&2
		return 1
	}
}

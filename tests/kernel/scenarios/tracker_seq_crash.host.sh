# Host side of tracker_seq_crash.sh: the metadata lives on an ext4 disk of its own.
host_prepare() {
	mkfs.ext4 -q -F -L cbtmeta "$DISK_meta" 64M
}

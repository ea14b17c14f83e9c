# Host side of disk_discard.sh: an ext4 image made here; after the guest deleted its
# pattern file and ran fstrim, the image must not hold the pattern any more.

host_prepare() {
	DISCARD_TOKEN="discard-$$-$RANDOM"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DISK_data" 64M || return 1
	echo "DISCARD_TOKEN='$DISCARD_TOKEN'" >>"$GUEST_ENV"
}

host_verify() {
	local n
	n=$(grep -a -c "$DISCARD_TOKEN" "$DISK_data" || true)
	[ "$n" = 0 ] || { echo "the image still holds $n lines of the trimmed pattern" >&2; return 1; }
	echo "host_verify: the image holds none of the trimmed pattern;" \
		"$(du -k "$DISK_data" | cut -f1) KiB allocated"
}

# Host side of tracker_partition_tag.sh: a 128 MiB disk with an MBR and two partitions,
# p1 = sectors 2048..131071, p2 = 131072..262143 (to the very end). Written by hand: the
# host has no sfdisk.
le32() { # VALUE -> 4 little-endian bytes as printf escapes
	printf '\\%03o\\%03o\\%03o\\%03o' $(($1 & 255)) $(($1 >> 8 & 255)) $(($1 >> 16 & 255)) $(($1 >> 24 & 255))
}
mbr_entry() { # OFFSET START SECTORS
	# shellcheck disable=SC2059
	printf "\\000\\000\\002\\000\\203\\376\\377\\377$(le32 "$2")$(le32 "$3")" |
		dd of="$DISK_pt" bs=1 seek="$1" conv=notrunc status=none
}

host_prepare() {
	truncate -s 128M "$DISK_pt"
	mbr_entry 446 2048 129024
	mbr_entry 462 131072 131072
	printf '\125\252' | dd of="$DISK_pt" bs=1 seek=510 conv=notrunc status=none
}

# Harness self-test of "# @boots:" and power_cut: boot 1 writes a token to a raw disk
# (flushed), asks for a power cut and keeps writing until QEMU is killed; between the boots
# the host checks that boot 1 really ended by the cut and adds a token of its own; boot 2
# finds both on the same disk. A boot 1 that is not cut fails (the loop ends in fail).
# @boots: 2
# @disks: raw:8
# @timeout: 60
# @kernels: 6.12
raw=$(disk raw)
echo "boot $CBTREP_BOOT of $CBTREP_BOOTS"
case "$CBTREP_BOOT" in
1)
	check "write boot 1's token, flushed" sh -c \
		"yes '$GUEST_TOKEN' | head -c 4096 | dd of=$raw bs=4096 seek=16 conv=fsync 2>/dev/null"
	power_cut
	i=0
	while [ "$i" -lt 300 ]; do
		dd if=/dev/urandom of="$raw" bs=4096 seek=1024 count=16 2>/dev/null
		sleep 0.1
		i=$((i + 1))
	done
	fail "the power was not cut within ~30 s of the request"
	;;
2)
	check "boot 1's token survived the cut" sh -c \
		"dd if=$raw bs=4096 skip=16 count=1 2>/dev/null | grep -q '$GUEST_TOKEN'"
	check "the host's token from between the boots is there" sh -c \
		"dd if=$raw bs=4096 skip=32 count=1 2>/dev/null | grep -q '$HOST_TOKEN'"
	;;
*) fail "unexpected boot number '$CBTREP_BOOT'" ;;
esac

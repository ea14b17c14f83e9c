# End to end without the tracker: cbtrepd runs INSIDE the guest kernel (io_uring/libaio
# probing, O_DIRECT reads from ext4 on virtio) and streams a generated write history over
# mutual TLS and QEMU user networking to the cbtrep-target the host runs (10.0.2.2). The
# history (overlapping writes, zero ranges, discards, META ranges read from the device
# image, a GAP with a bitmap dump, tags) is generated here, on the ext4 work disk.
# The host side proves the replica equals the image at the last tag: it compares the
# replica's sha256 with image.bin read back out of the shut-down work disk (debugfs),
# not with what the guest says.
# @net: yes
# @disks: work:384
# @bins: engine/daemon/cbtrepd tests/tools/gen-history/gen-history cbtrep-ktest-ctl-version
# @timeout: 240
. /lib/cbtrep/e2e.sh

e2e_history_setup
e2e_history_config
t0=$(e2e_uptime)
e2e_start_engine
e2e_wait_engine_exit 180
t1=$(e2e_uptime)
grep 'reader:' "$E2E_ENGINE_LOG" | head -n2 | sed 's/^/E2E: /'
e2e_history_check
e2e_value seconds "$(awk "BEGIN{print $t1 - $t0}")"
check "unmount the work disk" umount /mnt/work

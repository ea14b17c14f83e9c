# End to end without the tracker: cbtrepd runs INSIDE the guest kernel (io_uring/libaio
# probing, O_DIRECT reads from ext4 on virtio) and streams a generated write history over
# mutual TLS and QEMU user networking to the cbtrep-target the host runs (10.0.2.2). The
# history (overlapping writes, zero ranges, discards, META ranges read from the device
# image, a GAP with a bitmap dump, tags) is generated here, on the ext4 work disk.
# e2e_guest_engine.host.sh proves the replica equals the image at the last tag: it compares
# the replica's sha256 with image.bin read back out of the shut-down work disk (debugfs),
# not with what the guest says.
# @net: yes
# @disks: work:384
# @bins: engine/daemon/cbtrepd tests/tools/gen-history/gen-history cbtrep-ktest-ctl-version
# @timeout: 240
. /lib/cbtrep/e2e.sh

load_cbtrep
check "the tracker answers its version ioctl" cbtrep-ktest-ctl-version
mkdir -p /mnt/work
check "mount the work disk (ext4)" mount -t ext4 "$(disk work)" /mnt/work

echo "E2E: generating a ${E2E_HISTORY_MIB} MiB write history over a ${E2E_DEVICE_MIB} MiB device"
gen-history --out /mnt/work/h --device-mib "$E2E_DEVICE_MIB" --total-mib "$E2E_HISTORY_MIB" \
	--meta-share 0.05 --gaps 1 --tags 4 --seed "$E2E_SEED" ||
	fail "gen-history failed"
e2e_value expected_sha256 "$(cut -d' ' -f1 /mnt/work/h/expected.sha256)"
e2e_value journal_bytes "$(wc -c </mnt/work/h/journal.cbts)"

e2e_engine_config disk0 /mnt/work/h/image.bin \
	'{"type": "file", "path": "/mnt/work/h/journal.cbts"}' \
	'"initial_sync": "never", "exit_when_drained": true'
t0=$(e2e_uptime)
e2e_start_engine
e2e_wait_engine_exit 180
t1=$(e2e_uptime)
e2e_progress "(drained)"
grep 'reader:' "$E2E_ENGINE_LOG" | head -n2 | sed 's/^/E2E: /'

[ "$(e2e_status state)" = drained ] || fail "cbtrepd state $(e2e_status state), want drained"
[ "$(e2e_status tag)" = final ] || fail "last consistency point '$(e2e_status tag)', want final"
last_seq=$(sed -n 's/.*"last_seq": \([0-9]*\).*/\1/p' /mnt/work/h/summary.json)
[ "$(e2e_status applied_seq)" = "$last_seq" ] ||
	fail "applied_seq $(e2e_status applied_seq), want $last_seq"
e2e_value bytes_replicated "$(e2e_status bytes_replicated)"
e2e_value bytes_sent "$(e2e_status bytes_sent)"
e2e_value seconds "$(awk "BEGIN{print $t1 - $t0}")"
check "unmount the work disk" umount /mnt/work

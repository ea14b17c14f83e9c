# Unclean power-off (issue #7), the part that holds today: cbtrep.ko tracks a MOUNTED ext4
# disk and cbtrepd replicates it to the host's cbtrep-target; in the middle of a write
# workload the power is cut (QEMU killed, no shutdown). The same disks boot again: the
# tracker reports resync-required with reason "unclean shutdown", and a checksum resync of
# the quiesced (unmounted) disk makes the replica equal to it (sha256 on the host). The
# whole flow, with replication resuming after cbtrepd's own resync, is
# e2e_power_off_resume. Flow: tests/kernel/e2e/power-off-flow.sh.
# @net: yes
# @disks: data:128 meta:16
# @bins: engine/daemon/cbtrepd tools/cbtrep/cbtrep tools/ctl/cbtrep-ctl cbtrep-e2e-ctl
# @boots: 2
# @timeout: 150
. /lib/cbtrep/e2e.sh
# shellcheck disable=SC2034 # read by the flow
E2E_RESUME=0
. /lib/cbtrep/e2e-power-off-flow.sh

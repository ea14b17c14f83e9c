# The metadata file is lost (agent reinstalled) across an unclean power-off (issue #7 and
# the sequence rebase): boot 2's attach says resync-required "new device" and the tracker
# numbers from 1 again, below what the replica applied in boot 1. cbtrepd's automatic
# resync rebases the replica's sequence; the workload after it reaches the replica, which
# equals the source disk at the final tag app-final (sha256 on the host). That final point
# is a planned failover's drain: unmounted, `cbtrep tag --wait`, then on the host
# `cbtrep failover --planned` promotes the replica there.
# Flow: tests/kernel/e2e/power-off-flow.sh (E2E_META_LOST=1, E2E_DRAIN=1).
# @net: yes
# @disks: data:128 meta:16
# @bins: engine/daemon/cbtrepd tools/cbtrep/cbtrep tools/ctl/cbtrep-ctl cbtrep-e2e-ctl
# @boots: 2
# @timeout: 150
# @kernels: 6.12
. /lib/cbtrep/e2e.sh
# shellcheck disable=SC2034 # read by the flow
E2E_RESUME=1
E2E_META_LOST=1
E2E_DRAIN=1
. /lib/cbtrep/e2e-power-off-flow.sh

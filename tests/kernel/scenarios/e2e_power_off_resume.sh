# Unclean power-off (issue #7), the whole flow: as e2e_power_off, but in boot 2 cbtrepd's
# automatic checksum resync runs on the mounted, live disk, replication resumes, a
# second workload reaches tag after-resync, and at the app-consistent tag app-final (taken
# with the filesystem unmounted, so nothing is written after it) the replica equals the
# source disk (sha256 on the host). History: tests/kernel/e2e/power-off-notes.md.
# Flow: tests/kernel/e2e/power-off-flow.sh.
# @net: yes
# @disks: data:128 meta:16
# @bins: engine/daemon/cbtrepd tools/cbtrep/cbtrep tools/ctl/cbtrep-ctl cbtrep-e2e-ctl
# @boots: 2
# @timeout: 150
. /lib/cbtrep/e2e.sh
# shellcheck disable=SC2034 # read by the flow
E2E_RESUME=1
. /lib/cbtrep/e2e-power-off-flow.sh

# The demo's main flow: a live, MOUNTED ext4 disk is tracked by cbtrep.ko and replicated by
# cbtrepd (kernel source) from inside the guest to the host's cbtrep-target (10.0.2.2):
# attach with the metadata on another disk, initial sync of the new replica while tracking,
# a realistic workload (unpack directory trees, write and rewrite files with fsync, delete,
# fstrim), an app-consistent point (FIFREEZE, TAG app-consistent) and a wait until the
# target reached it. The filesystem stays frozen through power-off (thawing writes the
# superblock), so the data disk image the host holds after shutdown IS the source at the
# tag: e2e_replicate.host.sh compares its sha256 with the replica's.
# @net: yes
# @disks: data:256 meta:16
# @bins: engine/daemon/cbtrepd tools/cbtrep/cbtrep cbtrep-e2e-ctl
# @timeout: 300
. /lib/cbtrep/e2e.sh
E2E_FSTRIM=1
. /lib/cbtrep/e2e-replicate-flow.sh

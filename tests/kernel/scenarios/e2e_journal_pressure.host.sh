# Host side of e2e_journal_pressure.sh: the same disks, target and proof as e2e_replicate
# (the replica equals the data disk image, frozen at the app-consistent tag).
. "$REPO_DIR/tests/kernel/scenarios/e2e_replicate.host.sh"

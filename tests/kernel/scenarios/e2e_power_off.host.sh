# Host side of e2e_power_off.sh (tests/kernel/e2e/power-off-host.sh): after boot 2 the
# replica, resynced by checksum from the unmounted disk, equals the data disk image.
E2E_RESUME=0
. "$REPO_DIR/tests/kernel/e2e/power-off-host.sh"

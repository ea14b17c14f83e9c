# Journal pressure: the same live-disk flow as e2e_replicate with a 2 MiB journal memory
# cap, so the workload pushes the tracker from DATA to META and BITMAP; the engine catches
# up from the bitmap (reading the device) and the replica still equals the frozen source at
# the app-consistent tag (host side: e2e_journal_pressure.host.sh, the same proof).
# @net: yes
# @disks: data:256 meta:16
# @bins: engine/daemon/cbtrepd tools/cbtrep/cbtrep cbtrep-e2e-ctl
# @timeout: 300
. /lib/cbtrep/e2e.sh
E2E_JOURNAL_CAP=$((2 << 20))

e2e_after_workload() {
	_changes=$(cbtrep-e2e-ctl status data0 | sed -n 's/^mode_changes=//p')
	_dropped=$(cbtrep-e2e-ctl status data0 | sed -n 's/^records_dropped=//p')
	echo "E2E: tracker mode changes $_changes, records dropped (BITMAP mode) $_dropped"
	[ "${_changes:-0}" -ge 1 ] || fail "a 2 MiB cap never made the tracker leave DATA mode"
	e2e_value mode_changes "$_changes"
}
. /lib/cbtrep/e2e-replicate-flow.sh

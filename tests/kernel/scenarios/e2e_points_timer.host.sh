# Host side of e2e_points_timer.sh: ext4 data disk made here, a target serving an empty
# replica. Proof, on the target's state directory after the guest powered off:
#   - the catalog holds timer points of both kinds (timer-crash-* crash, timer-app-* app) and
#     the two `cbtrep tag` points with their kinds;
#   - the test-failover view (NBD) of the app timer point cut after the read-only remount
#     equals the sha256 the guest recorded of its disk;
#   - every point's batch ends at its tag (id == seq: nothing after the frozen moment; the
#     tracker's GET ends a batch at a tag), and the views of two app points cut under the
#     workload are clean ext4 (e2fsck -fn);
#   - `cbtrep status --target-config` shows the replica's points and state.
. "$REPO_DIR/tests/kernel/e2e/host-lib.sh"

CBTREP=$BUILD_DIR/tools/cbtrep/cbtrep
NBD_PORT=$((20000 + RANDOM % 20000))

host_prepare() {
	truncate -s 64M "$DISK_data"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DISK_data" || return 1
	truncate -s 16M "$DISK_meta"
	mkfs.ext4 -q -F "$DISK_meta" || return 1
	e2e_certs "$RUN_DIR/certs" || return 1
	e2e_start_target "$RUN_DIR" data0 "$RUN_DIR/replica.img" $((64 << 20)) || return 1
	e2e_guest_files "$GUEST_ROOT" "$RUN_DIR/certs"
	echo "E2E_TARGET_PORT=$E2E_TARGET_PORT" >>"$GUEST_ENV"
}

# _pt_view ID OUT: the test-failover view of point ID copied to OUT over NBD.
_pt_view() {
	local cfg=$RUN_DIR/target.json rc=0
	"$CBTREP" failover --test data0 --point "$1" --port "$NBD_PORT" --config "$cfg" >/dev/null ||
		{ echo "failover --test of point $1 failed" >&2; return 1; }
	nbdcopy "nbd://127.0.0.1:$NBD_PORT" "$2" || rc=1
	"$CBTREP" failover --test-cleanup data0 --config "$cfg" >/dev/null || rc=1
	return $rc
}

host_verify() {
	local cfg=$RUN_DIR/target.json log=$RUN_DIR/serial.log pj=$RUN_DIR/points.json
	local want ro_point id got n_ta n_tc exact checked=0
	e2e_stop_target || return 1
	"$CBTREP" points list data0 --config "$cfg" --json >"$pj" || return 1
	jq -r '.points[] | "host_verify: point \(.id) seq \(.seq) \(.kind) \(.name)"' "$pj"
	n_ta=$(jq '[.points[] | select((.name | startswith("timer-app-")) and .kind == "app")] | length' "$pj")
	n_tc=$(jq '[.points[] | select((.name | startswith("timer-crash-")) and .kind == "crash")] | length' "$pj")
	echo "host_verify: $n_ta app and $n_tc crash timer points"
	[ "$n_ta" -ge 2 ] || { echo "fewer than 2 app-consistent timer points" >&2; return 1; }
	[ "$n_tc" -ge 3 ] || { echo "fewer than 3 crash-consistent timer points" >&2; return 1; }
	[ "$(jq '[.points[] | select(.name | startswith("timer-")) | select((.name | startswith("timer-app-")) != (.kind == "app"))] | length' "$pj")" = 0 ] ||
		{ echo "a timer point's kind does not match its name" >&2; return 1; }
	[ "$(jq -r '.points[] | select(.name == "manual-app") | .kind' "$pj")" = app ] ||
		{ echo "no app-consistent point manual-app (cbtrep tag --app-consistent)" >&2; return 1; }
	[ "$(jq -r '.points[] | select(.name == "manual-crash") | .kind' "$pj")" = crash ] ||
		{ echo "no crash-consistent point manual-crash (cbtrep tag)" >&2; return 1; }

	want=$(e2e_guest_value ro_sha256 "$log")
	ro_point=$(e2e_guest_value ro_point "$log")
	if [ -z "$want" ] || [ -z "$ro_point" ]; then
		echo "the guest did not report its read-only disk" >&2
		return 1
	fi
	id=$(jq -r --arg n "$ro_point" '.points[] | select(.name == $n and .kind == "app") | .id' "$pj")
	[ -n "$id" ] || { echo "app point $ro_point is not in the catalog" >&2; return 1; }
	_pt_view "$id" "$RUN_DIR/view.img" || return 1
	got=$(e2e_sha "$RUN_DIR/view.img")
	echo "host_verify: guest's read-only disk    $want"
	echo "host_verify: view of point $id ($ro_point) $got"
	[ "$want" = "$got" ] || { echo "the view of the app timer point differs from the disk" >&2; return 1; }

	# The tracker ends a batch at a tag, so every point is the source exactly at its tag.
	past=$(jq -r '[.points[] | select(.id != .seq)] | length' "$pj")
	[ "$past" = 0 ] || { echo "$past point(s) hold writes past their tag (id != seq)" >&2; return 1; }
	# App timer points under the workload are then exactly the frozen filesystem.
	# Not "overdue": the guest cut it after the watchdog had thawed on purpose.
	exact=$(jq -r --arg n "$ro_point" '.points[] | select(.kind == "app" and .name != $n and (.name | startswith("timer-app-"))) | .id' "$pj" | head -n 2)
	for id in $exact; do
		_pt_view "$id" "$RUN_DIR/view.img" || return 1
		e2fsck -fn "$RUN_DIR/view.img" >"$RUN_DIR/fsck.$id.log" 2>&1 ||
			{ cat "$RUN_DIR/fsck.$id.log" >&2; echo "app point $id is not a clean filesystem" >&2; return 1; }
		echo "host_verify: app point $id: e2fsck -fn clean"
		checked=$((checked + 1))
	done
	[ "$checked" -gt 0 ] || { echo "no app timer point under the workload to check" >&2; return 1; }
	rm -f "$RUN_DIR/view.img"

	"$CBTREP" status --target-config "$cfg" | tee "$RUN_DIR/status.txt" | sed 's/^/host_verify: status: /'
	grep -q "^data0: protected" "$RUN_DIR/status.txt" || { echo "cbtrep status: no protected data0" >&2; return 1; }
	[ "$("$CBTREP" status --target-config "$cfg" --json | jq '.[0].points.app')" -ge 3 ] ||
		{ echo "cbtrep status --json: wrong app point count" >&2; return 1; }
}

host_cleanup() {
	[ -f "$RUN_DIR/state/data0.failover" ] &&
		"$CBTREP" failover --test-cleanup data0 --config "$RUN_DIR/target.json" >/dev/null 2>&1
	e2e_cleanup
}

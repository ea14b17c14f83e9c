# Host side of the end-to-end scenarios and of tools/demo.sh (bash, sourced): certificates
# made with the project's own tool, and one cbtrep-target on 127.0.0.1 serving one replica.
# The guest reaches that listener as 10.0.2.2 (QEMU user-mode networking).
#
#   e2e_certs DIR                   CA, server "localhost" (+127.0.0.1, 10.0.2.2), client engine1
#   e2e_start_target DIR NAME IMG SIZE [PORT]   writes DIR/target.json, starts cbtrep-target,
#                                   sets E2E_TARGET_PORT (a free one unless PORT is given);
#                                   the pid is in DIR/target.pid (a watcher may restart it)
#   e2e_stop_target                 SIGTERM and wait (fails if it exited badly)
#   e2e_kill_target                 SIGKILL (a crash, for the restart scenarios)
#   e2e_history_prepare / e2e_history_verify   host halves of the generated-history
#                                   scenarios (work disk, target, proof by sha256)
#   e2e_watch_guest LINE CMD...     runs CMD once when the guest prints LINE (background)
#   e2e_guest_files ROOT DIR        copies certs and the guest helpers into the initramfs
#   e2e_sha FILE                    sha256 hex
# Needs BUILD_DIR and REPO_DIR (run-scenario.sh exports both).
# shellcheck shell=bash

E2E_TARGET_BIN=$BUILD_DIR/engine/target/cbtrep-target
E2E_CERTS_TOOL=$REPO_DIR/tools/certs/cbtrep-certs
E2E_TARGET_PORT=
E2E_TARGET_DIR=
E2E_WATCH_PIDS=

e2e_sha() { sha256sum "$1" | cut -d' ' -f1; }

e2e_certs() {
	local dir=$1
	rm -rf "$dir"
	"$E2E_CERTS_TOOL" init --dir "$dir" --server localhost,127.0.0.1,10.0.2.2 \
		--client engine1 >/dev/null
}

e2e_start_target() {
	local dir=$1 name=$2 img=$3 size=$4 port=${5:-0} i pid
	E2E_TARGET_DIR=$dir
	[ -x "$E2E_TARGET_BIN" ] || { echo "missing $E2E_TARGET_BIN (build first)" >&2; return 1; }
	mkdir -p "$dir/state"
	cat >"$dir/target.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": $port},
  "tls": {"ca": "$dir/certs/ca.pem", "cert": "$dir/certs/localhost.pem",
          "key": "$dir/certs/localhost.key"},
  "state_dir": "$dir/state",
  "apply_buffer_mib": 8,
  "io_timeout_s": 30,
  "replicas": {"$name": {"path": "$img", "size": $size, "allowed_clients": ["engine1"]}}
}
JSON
	rm -f "$dir/target.port"
	"$E2E_TARGET_BIN" --config "$dir/target.json" --port-file "$dir/target.port" \
		>>"$dir/target.log" 2>&1 &
	pid=$!
	echo "$pid" >"$dir/target.pid"
	for i in $(seq 100); do
		if [ -s "$dir/target.port" ]; then
			E2E_TARGET_PORT=$(cat "$dir/target.port")
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "cbtrep-target did not start (log: $dir/target.log):" >&2
	tail -n 20 "$dir/target.log" >&2
	return 1
}

# The target may have been started by a watcher subshell (not our child): wait by polling.
_e2e_target_pid() { cat "$E2E_TARGET_DIR/target.pid" 2>/dev/null; }
_e2e_wait_gone() {
	for _ in $(seq 300); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

e2e_stop_target() {
	local pid
	pid=$(_e2e_target_pid) || return 0
	rm -f "$E2E_TARGET_DIR/target.pid"
	kill -TERM "$pid" 2>/dev/null || { echo "cbtrep-target ($pid) was not running" >&2; return 1; }
	_e2e_wait_gone "$pid" || { echo "cbtrep-target ignored SIGTERM" >&2; kill -9 "$pid"; return 1; }
	grep -q "stopped" "$E2E_TARGET_DIR/target.log" ||
		{ echo "cbtrep-target did not stop cleanly" >&2; return 1; }
}

e2e_kill_target() {
	local pid
	pid=$(_e2e_target_pid) || return 0
	rm -f "$E2E_TARGET_DIR/target.pid"
	kill -9 "$pid" 2>/dev/null || true
	_e2e_wait_gone "$pid" || true
}

# e2e_watch_guest LINE CMD...: in the background, runs CMD once the serial log holds LINE.
e2e_watch_guest() {
	local line=$1
	shift
	(
		while sleep 0.2; do
			grep -a -q -- "$line" "$RUN_DIR/serial.log" 2>/dev/null && break
		done
		"$@"
	) &
	E2E_WATCH_PIDS="$E2E_WATCH_PIDS $!"
}

e2e_cleanup() {
	local p
	for p in $E2E_WATCH_PIDS; do
		kill "$p" 2>/dev/null || true
	done
	E2E_WATCH_PIDS=
	e2e_kill_target
}

# --- generated-history scenarios (e2e_guest_engine, e2e_engine_restart, e2e_target_restart)
# Host: an ext4 work disk for the guest, certificates, an empty replica served by the target.
e2e_history_prepare() {
	E2E_DEVICE_MIB=${E2E_DEVICE_MIB:-128}
	# The size must match the scenario's "@disks: work:MIB".
	truncate -s "${E2E_WORK_MIB:-384}M" "$DISK_work"
	mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0 "$DISK_work" || return 1
	e2e_certs "$RUN_DIR/certs" || return 1
	e2e_start_target "$RUN_DIR" disk0 "$RUN_DIR/replica.img" $((E2E_DEVICE_MIB << 20)) || return 1
	e2e_guest_files "$GUEST_ROOT" "$RUN_DIR/certs"
	{
		echo "E2E_TARGET_PORT=$E2E_TARGET_PORT"
		echo "E2E_DEVICE_MIB=$E2E_DEVICE_MIB"
		echo "E2E_HISTORY_MIB=${E2E_HISTORY_MIB:-96}"
		echo "E2E_SEED=${E2E_SEED:-$RANDOM}"
	} >>"$GUEST_ENV"
}

# The proof: the replica equals image.bin (the device at the last tag) read back out of the
# shut-down work disk with debugfs -- not what the guest says.
e2e_history_verify() {
	local log=$RUN_DIR/serial.log want got said
	e2e_stop_target || return 1
	debugfs -R "dump /h/image.bin $RUN_DIR/image.bin" "$DISK_work" >/dev/null 2>&1 ||
		{ echo "debugfs cannot read /h/image.bin from $DISK_work" >&2; return 1; }
	want=$(e2e_sha "$RUN_DIR/image.bin")
	got=$(e2e_sha "$RUN_DIR/replica.img")
	said=$(e2e_guest_value expected_sha256 "$log")
	rm -f "$RUN_DIR/image.bin"
	echo "host_verify: source image at the last tag $want"
	echo "host_verify: replica                      $got"
	[ "$want" = "$said" ] || { echo "gen-history's digest $said != image $want" >&2; return 1; }
	[ "$want" = "$got" ] || { echo "replica differs from the source at the last tag" >&2; return 1; }
}

# e2e_guest_files ROOT CERTDIR: the engine's certificates and the guest helper library.
e2e_guest_files() {
	local root=$1 certs=$2
	mkdir -p "$root/etc/cbtrep/certs"
	cp "$certs/ca.pem" "$certs/engine1.pem" "$certs/engine1.key" "$root/etc/cbtrep/certs/"
	cp "$REPO_DIR/tests/kernel/e2e/guest-e2e.sh" "$root/lib/cbtrep/e2e.sh"
	cp "$REPO_DIR/tests/kernel/e2e/replicate-flow.sh" "$root/lib/cbtrep/e2e-replicate-flow.sh"
	cp "$REPO_DIR/tests/kernel/e2e/power-off-flow.sh" "$root/lib/cbtrep/e2e-power-off-flow.sh"
}

# e2e_guest_value KEY LOG: the last "E2E-VALUE KEY=VALUE" line the guest printed.
e2e_guest_value() {
	grep -a -o "E2E-VALUE $1=[^[:space:]]*" "$2" | tail -n1 | sed "s/^E2E-VALUE $1=//"
}

# Host side of the end-to-end scenarios and of tools/demo.sh (bash, sourced): certificates
# made with the project's own tool, and one cbtrep-target on 127.0.0.1 serving one replica.
# The guest reaches that listener as 10.0.2.2 (QEMU user-mode networking).
#
#   e2e_certs DIR                   CA, server "localhost" (+127.0.0.1, 10.0.2.2), client engine1
#   e2e_start_target DIR NAME IMG SIZE   writes DIR/target.json, starts cbtrep-target,
#                                   sets E2E_TARGET_PID and E2E_TARGET_PORT (a free port)
#   e2e_stop_target                 SIGTERM and wait (fails if it exited badly)
#   e2e_kill_target                 SIGKILL (a crash, for the restart scenarios)
#   e2e_guest_files ROOT DIR        copies certs and the guest helpers into the initramfs
#   e2e_sha FILE                    sha256 hex
# Needs BUILD_DIR and REPO_DIR (run-scenario.sh exports both).
# shellcheck shell=bash

E2E_TARGET_BIN=$BUILD_DIR/engine/target/cbtrep-target
E2E_CERTS_TOOL=$REPO_DIR/tools/certs/cbtrep-certs
E2E_TARGET_PID=
E2E_TARGET_PORT=
E2E_TARGET_DIR=

e2e_sha() { sha256sum "$1" | cut -d' ' -f1; }

e2e_certs() {
	local dir=$1
	rm -rf "$dir"
	"$E2E_CERTS_TOOL" init --dir "$dir" --server localhost,127.0.0.1,10.0.2.2 \
		--client engine1 >/dev/null
}

e2e_start_target() {
	local dir=$1 name=$2 img=$3 size=$4 i
	E2E_TARGET_DIR=$dir
	[ -x "$E2E_TARGET_BIN" ] || { echo "missing $E2E_TARGET_BIN (build first)" >&2; return 1; }
	mkdir -p "$dir/state"
	cat >"$dir/target.json" <<JSON
{
  "listen": {"address": "127.0.0.1", "port": 0},
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
	E2E_TARGET_PID=$!
	for i in $(seq 100); do
		if [ -s "$dir/target.port" ]; then
			E2E_TARGET_PORT=$(cat "$dir/target.port")
			return 0
		fi
		kill -0 "$E2E_TARGET_PID" 2>/dev/null || break
		sleep 0.1
	done
	echo "cbtrep-target did not start (log: $dir/target.log):" >&2
	tail -n 20 "$dir/target.log" >&2
	return 1
}

e2e_stop_target() {
	[ -n "$E2E_TARGET_PID" ] || return 0
	local rc=0
	kill -TERM "$E2E_TARGET_PID" 2>/dev/null || true
	wait "$E2E_TARGET_PID" || rc=$?
	E2E_TARGET_PID=
	[ "$rc" = 0 ] || echo "cbtrep-target exited with $rc after SIGTERM" >&2
	return "$rc"
}

e2e_kill_target() {
	[ -n "$E2E_TARGET_PID" ] || return 0
	kill -9 "$E2E_TARGET_PID" 2>/dev/null || true
	wait "$E2E_TARGET_PID" 2>/dev/null || true
	E2E_TARGET_PID=
}

# e2e_guest_files ROOT CERTDIR: the engine's certificates and the guest helper library.
e2e_guest_files() {
	local root=$1 certs=$2
	mkdir -p "$root/etc/cbtrep/certs"
	cp "$certs/ca.pem" "$certs/engine1.pem" "$certs/engine1.key" "$root/etc/cbtrep/certs/"
	cp "$REPO_DIR/tests/kernel/e2e/guest-e2e.sh" "$root/lib/cbtrep/e2e.sh"
}

# e2e_guest_value KEY LOG: the last "E2E-VALUE KEY=VALUE" line the guest printed.
e2e_guest_value() {
	grep -a -o "E2E-VALUE $1=[^[:space:]]*" "$2" | tail -n1 | sed "s/^E2E-VALUE $1=//"
}

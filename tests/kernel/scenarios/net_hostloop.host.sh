# Host side of net_hostloop.sh: a busybox httpd on 127.0.0.1 serving one token file.

host_prepare() {
	local port
	HOST_TOKEN="net-$$-$RANDOM"
	mkdir -p "$RUN_DIR/www"
	echo "$HOST_TOKEN" >"$RUN_DIR/www/token.txt"
	# A random free port: ctest may run this scenario for two kernels at once.
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		port=$((20000 + RANDOM % 20000))
		busybox httpd -f -p "127.0.0.1:$port" -h "$RUN_DIR/www" &
		HTTPD_PID=$!
		sleep 0.3
		if kill -0 "$HTTPD_PID" 2>/dev/null; then
			{
				echo "HOST_PORT=$port"
				echo "HOST_TOKEN='$HOST_TOKEN'"
			} >>"$GUEST_ENV"
			return 0
		fi
		wait "$HTTPD_PID" 2>/dev/null || true
	done
	echo "could not start busybox httpd on 127.0.0.1" >&2
	return 1
}

host_cleanup() {
	if [ -n "${HTTPD_PID:-}" ]; then
		kill "$HTTPD_PID" 2>/dev/null || true
		wait "$HTTPD_PID" 2>/dev/null || true
	fi
}

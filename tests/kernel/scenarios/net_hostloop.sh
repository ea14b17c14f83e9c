# User-mode networking: the guest fetches a token from a server the host runs on
# 127.0.0.1, which the guest reaches as 10.0.2.2 (net_hostloop.host.sh).
# @net: yes

check "eth0 has 10.0.2.15" sh -c "ip addr show eth0 | grep -q 'inet 10.0.2.15/24'"
# busybox nc, not wget: the static busybox's wget segfaulted in this guest.
got=$(printf 'GET /token.txt HTTP/1.0\r\n\r\n' | nc -w 10 10.0.2.2 "$HOST_PORT" | tail -n1) ||
	fail "nc to the host failed"
[ "$got" = "$HOST_TOKEN" ] || fail "got '$got' from the host, want '$HOST_TOKEN'"
echo "ok: fetched the host's token over user-mode networking"
